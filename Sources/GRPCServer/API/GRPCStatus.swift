/// A gRPC status: the `grpc-status` code and the `grpc-message` text sent in trailers.
public struct GRPCStatus: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Int, Sendable {
        case ok = 0, cancelled = 1, unknown = 2, invalidArgument = 3, deadlineExceeded = 4, notFound = 5,
            alreadyExists = 6, permissionDenied = 7, resourceExhausted = 8, failedPrecondition = 9, aborted = 10,
            outOfRange = 11, unimplemented = 12, internalError = 13, unavailable = 14, dataLoss = 15,
            unauthenticated = 16
    }

    public var code: Code
    public var message: String

    public init(code: Code, message: String = "") {
        self.code = code
        self.message = message
    }

    public static let ok = GRPCStatus(code: .ok)

    public var description: String { message.isEmpty ? "\(code)" : "\(code): \(message)" }

    /// The `grpc-status` and (when non-empty) `grpc-message` header pairs.
    var trailerFields: [(name: String, value: String)] {
        var fields = [(name: "grpc-status", value: String(code.rawValue))]
        if !message.isEmpty { fields.append((name: "grpc-message", value: GRPCStatus.percentEncode(message))) }
        return fields
    }

    /// gRPC's percent-encoding for `grpc-message`: bytes outside 0x20...0x7E, and '%' itself, become `%XX`.
    static func percentEncode(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if byte >= 0x20 && byte <= 0x7E && byte != UInt8(ascii: "%") {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The inverse of ``percentEncode(_:)``; malformed escapes are kept literally.
    static func percentDecode(_ text: String) -> String {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        var i = 0
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            default: return nil
            }
        }
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count, let hi = nibble(bytes[i + 1]), let lo = nibble(bytes[i + 2]) {
                out.append(hi << 4 | lo)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
