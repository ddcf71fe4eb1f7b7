import EnvoyAPI
import SwiftProtobuf

/// Decodes discovery requests with the generated types and maps them onto `XDSRequest`.
enum RequestDecoder {
    struct Decoded {
        let request: XDSRequest?  // nil for a type URL Sextant does not serve
        let typeURL: String
        let node: Envoy_Config_Core_V3_Node?
    }

    static func stateOfTheWorld(_ bytes: [UInt8]) throws -> Decoded {
        let message = try Envoy_Service_Discovery_V3_DiscoveryRequest(serializedBytes: bytes)
        let request = ResourceType(typeURL: message.typeURL).map { type in
            XDSRequest(
                type: type, responseNonce: message.responseNonce, errorDetail: errorDetail(message.hasErrorDetail, message.errorDetail),
                resourceNames: message.resourceNames, versionInfo: message.versionInfo)
        }
        return Decoded(request: request, typeURL: message.typeURL, node: message.hasNode ? message.node : nil)
    }

    static func delta(_ bytes: [UInt8]) throws -> Decoded {
        let message = try Envoy_Service_Discovery_V3_DeltaDiscoveryRequest(serializedBytes: bytes)
        let request = ResourceType(typeURL: message.typeURL).map { type in
            XDSRequest(
                type: type, responseNonce: message.responseNonce, errorDetail: errorDetail(message.hasErrorDetail, message.errorDetail),
                subscribe: message.resourceNamesSubscribe, unsubscribe: message.resourceNamesUnsubscribe,
                initialVersions: message.initialResourceVersions)
        }
        return Decoded(request: request, typeURL: message.typeURL, node: message.hasNode ? message.node : nil)
    }

    private static func errorDetail(_ present: Bool, _ status: Google_Rpc_Status) -> XDSRequest.ErrorDetail? {
        present ? XDSRequest.ErrorDetail(code: status.code, message: status.message) : nil
    }
}
