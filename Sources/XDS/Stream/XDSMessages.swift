/// A discovery request from either protocol, decoded into plain values.
///
/// SotW requests fill `resourceNames` and `versionInfo` (the version the client last accepted);
/// delta requests fill `subscribe`, `unsubscribe` and (on the first request of a type)
/// `initialVersions`. Everything else is shared.
public struct XDSRequest: Sendable, Equatable {
    public struct ErrorDetail: Sendable, Equatable {
        public var code: Int32
        public var message: String
        public init(code: Int32, message: String) { self.code = code; self.message = message }
    }

    public var type: ResourceType
    public var responseNonce: String
    public var errorDetail: ErrorDetail?
    public var resourceNames: [String]
    public var subscribe: [String]
    public var unsubscribe: [String]
    public var initialVersions: [String: String]
    public var versionInfo: String

    public init(
        type: ResourceType, responseNonce: String = "", errorDetail: ErrorDetail? = nil,
        resourceNames: [String] = [], subscribe: [String] = [], unsubscribe: [String] = [],
        initialVersions: [String: String] = [:], versionInfo: String = ""
    ) {
        self.versionInfo = versionInfo
        self.type = type
        self.responseNonce = responseNonce
        self.errorDetail = errorDetail
        self.resourceNames = resourceNames
        self.subscribe = subscribe
        self.unsubscribe = unsubscribe
        self.initialVersions = initialVersions
    }
}

/// A response the stream must send: SotW uses `versionInfo` as `version_info`; delta uses it as
/// `system_version_info` and also sends `removed`.
public struct XDSResponse: Sendable, Equatable {
    public let type: ResourceType
    public let nonce: String
    public let versionInfo: String
    public let resources: [EncodedResource]
    public let removed: [String]

    public var resourceNames: [String] { resources.map(\.name) }
}

/// A rejected response, as the client reported it (invariant 5).
public struct NackRecord: Sendable, Equatable {
    public let type: ResourceType
    public let versionInfo: String
    public let nonce: String
    public let resourceNames: [String]
    public let errorCode: Int32
    public let errorMessage: String
}

public enum ADSAction: Sendable, Equatable {
    case send(XDSResponse)
    case nack(NackRecord)
}
