/// Parses a whole HTTP/1.1 response read until the server closed the connection: the status
/// line, headers (names lowercased; a repeated header keeps the last value) and a body that is
/// chunked (`Transfer-Encoding: chunked`), `Content-Length` long, or everything after the head.
enum HTTPResponseParser {
    static func parse(_ bytes: [UInt8]) throws(HTTPSError) -> HTTPSResponse {
        guard let end = headEnd(bytes) else { throw .malformed("no end of headers in \(bytes.count) bytes") }
        let lines = String(decoding: bytes[..<end], as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusParts = lines.first?.split(separator: " ", maxSplits: 2) ?? []
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
            throw .malformed("status line '\(lines.first ?? "")'")
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { throw .malformed("header line '\(line)'") }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingSpaces
        }
        let rest = Array(bytes[(end + 4)...])
        if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            return HTTPSResponse(status: status, headers: headers, body: try dechunk(rest))
        }
        if let text = headers["content-length"] {
            guard let length = Int(text), length >= 0, length <= rest.count else {
                throw .malformed("Content-Length \(text) with \(rest.count) bytes of body")
            }
            return HTTPSResponse(status: status, headers: headers, body: Array(rest[..<length]))
        }
        return HTTPSResponse(status: status, headers: headers, body: rest)
    }

    /// The index of the `\r\n\r\n` that ends the head.
    private static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4) where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
            return i
        }
        return nil
    }

    /// `size[;extensions]\r\ndata\r\n` ... `0\r\n[trailers]\r\n`.
    static func dechunk(_ bytes: [UInt8]) throws(HTTPSError) -> [UInt8] {
        var body: [UInt8] = []
        var i = 0
        while true {
            guard let lineEnd = (i..<max(i, bytes.count - 1)).first(where: { bytes[$0] == 13 && bytes[$0 + 1] == 10 }) else {
                throw .malformed("chunk size line missing")
            }
            let sizeText = String(decoding: bytes[i..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingSpaces, radix: 16), size >= 0 else { throw .malformed("chunk size '\(sizeText)'") }
            i = lineEnd + 2
            if size == 0 { return body }
            guard i + size + 2 <= bytes.count else { throw .malformed("chunk of \(size) bytes cut short") }
            body += bytes[i..<(i + size)]
            i += size + 2
        }
    }
}

extension StringProtocol {
    fileprivate var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
