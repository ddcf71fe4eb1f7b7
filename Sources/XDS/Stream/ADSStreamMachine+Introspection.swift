extension ADSStreamMachine {
    /// The resources the client holds for `type` after its last ACK (read-only; for the client
    /// registry). The dictionary is the machine's own copy-on-write value: returning it copies nothing.
    func heldResources(_ type: ResourceType) -> [String: EncodedResource] { types[type]?.acked ?? [:] }
}
