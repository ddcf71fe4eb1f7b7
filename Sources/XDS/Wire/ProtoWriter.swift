/// A minimal protobuf wire-format writer for the two response envelopes we assemble by hand.
///
/// Responses are built from resources already serialized as `Any` bytes: copying those bytes
/// into a length-delimited field is all the per-stream work there is (invariant 3). Only
/// length-delimited fields (wire type 2) are needed: strings, bytes and sub-messages.
struct ProtoWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    mutating func string(_ field: Int, _ value: String) {
        guard !value.isEmpty else { return }  // proto3: default values are not written
        bytes(field, Array(value.utf8))
    }

    mutating func bytes(_ field: Int, _ value: [UInt8]) {
        tag(field)
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    /// A repeated string field keeps empty elements: each element is written.
    mutating func repeatedStringElement(_ field: Int, _ value: String) {
        bytes(field, Array(value.utf8))
    }

    private mutating func tag(_ field: Int) { varint(UInt64(field) << 3 | 2) }

    private mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    static func varintSize(_ value: Int) -> Int {
        var v = UInt64(value), size = 1
        while v >= 0x80 { v >>= 7; size += 1 }
        return size
    }
}
