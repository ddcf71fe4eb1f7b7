import Catalog
import Foundation

/// The last-known-good body written by hand: the JSON `JSONDecoder` reads back as
/// `StoredCatalog` (`{"services":{NAME:[{"address",…,"zone"}]},"source":{…}}`, keys sorted).
///
/// `JSONEncoder` built the whole catalog as a tree of boxed values on every accepted change
/// (profiled: 8% of a catalog change); this appends bytes to one buffer.
extension StoredCatalog {
    static func json(_ catalog: Catalog, source: CatalogSourceIdentity?) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(catalog.services.count * 256)
        out.append(contentsOf: #"{"services":{"#.utf8)
        for (index, name) in catalog.services.keys.sorted().enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            string(name, into: &out)
            out.append(contentsOf: ":[".utf8)
            for (i, instance) in catalog.services[name]!.instances.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: #"{"address":"#.utf8)
                string(instance.address, into: &out)
                out.append(contentsOf: #","health":"#.utf8)
                string(instance.health.rawValue, into: &out)
                out.append(contentsOf: #","id":"#.utf8)
                string(instance.id, into: &out)
                out.append(contentsOf: #","port":\#(instance.port)"#.utf8)
                if let region = instance.region {
                    out.append(contentsOf: #","region":"#.utf8)
                    string(region, into: &out)
                }
                out.append(contentsOf: #","weight":\#(instance.weight)"#.utf8)
                if let zone = instance.zone {
                    out.append(contentsOf: #","zone":"#.utf8)
                    string(zone, into: &out)
                }
                out.append(UInt8(ascii: "}"))
            }
            out.append(UInt8(ascii: "]"))
        }
        out.append(UInt8(ascii: "}"))
        if let source {
            // A handful of fields, written once per change: JSONEncoder's cost does not matter here.
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            out.append(contentsOf: #","source":"#.utf8)
            let encoded: [UInt8] = (try? encoder.encode(source)).map { [UInt8]($0) } ?? Array("null".utf8)
            out.append(contentsOf: encoded)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// A JSON string: quotes, backslashes and control characters escaped; UTF-8 as it is.
    private static func string(_ text: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
            case UInt8(ascii: "\n"): out.append(contentsOf: #"\n"#.utf8)
            case UInt8(ascii: "\r"): out.append(contentsOf: #"\r"#.utf8)
            case UInt8(ascii: "\t"): out.append(contentsOf: #"\t"#.utf8)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
