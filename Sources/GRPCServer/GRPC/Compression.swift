import CZlib

/// gRPC message compression (`grpc-encoding`). Only `gzip` and `identity` are understood.
enum MessageEncoding: Equatable {
    case identity, gzip

    /// nil for an encoding we do not implement (answered with UNIMPLEMENTED).
    init?(header: String?) {
        switch header?.lowercased() {
        case nil, "identity": self = .identity
        case "gzip": self = .gzip
        default: return nil
        }
    }
}

enum Gzip {
    enum Failure: Error, Equatable {
        case tooLarge(limit: Int)
        case corrupt(String)
    }

    /// Inflates a gzip member, failing as soon as the output would exceed `limit` bytes.
    static func inflate(_ input: [UInt8], limit: Int) throws(Failure) -> [UInt8] {
        var stream = z_stream()
        // windowBits 16 + 15: gzip wrapper, 32 KiB window.
        guard czlib_inflate_init2(&stream, 31) == Z_OK else { throw .corrupt("inflateInit2 failed") }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        var result: Int32 = Z_OK
        var copy = input
        // OWNERSHIP: `copy` and `chunk` are our arrays; zlib keeps pointers into them only while
        // `stream` is in use inside these closures, and inflateEnd runs before they die.
        let failure: Failure? = copy.withUnsafeMutableBufferPointer { inBuf in
            stream.next_in = inBuf.baseAddress
            stream.avail_in = uInt(inBuf.count)
            while result != Z_STREAM_END {
                let produced: Int = chunk.withUnsafeMutableBufferPointer { outBuf in
                    stream.next_out = outBuf.baseAddress
                    stream.avail_out = uInt(outBuf.count)
                    result = CZlib.inflate(&stream, Z_NO_FLUSH)
                    return outBuf.count - Int(stream.avail_out)
                }
                if result != Z_OK && result != Z_STREAM_END {
                    return .corrupt(result == Z_BUF_ERROR ? "truncated gzip data" : "inflate error \(result)")
                }
                if output.count + produced > limit { return .tooLarge(limit: limit) }
                output.append(contentsOf: chunk.prefix(produced))
                if result == Z_OK && produced == 0 && stream.avail_in == 0 { return .corrupt("truncated gzip data") }
            }
            return nil
        }
        if let failure { throw failure }
        return output
    }

    /// Deflates into a gzip member (used by tests and clients).
    static func deflate(_ input: [UInt8]) -> [UInt8] {
        var stream = z_stream()
        guard czlib_deflate_init2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) == Z_OK else { return [] }
        defer { deflateEnd(&stream) }
        var copy = input
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))) + 32)
        // OWNERSHIP: both arrays outlive the closures; zlib's pointers are not used after deflateEnd.
        let written: Int = copy.withUnsafeMutableBufferPointer { inBuf in
            output.withUnsafeMutableBufferPointer { outBuf in
                stream.next_in = inBuf.baseAddress
                stream.avail_in = uInt(inBuf.count)
                stream.next_out = outBuf.baseAddress
                stream.avail_out = uInt(outBuf.count)
                _ = CZlib.deflate(&stream, Z_FINISH)
                return outBuf.count - Int(stream.avail_out)
            }
        }
        return Array(output.prefix(written))
    }
}
