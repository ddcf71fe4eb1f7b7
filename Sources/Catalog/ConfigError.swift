/// A problem in a configuration file, with the position it was found at.
///
/// Every error that Sextant reports about `Config/catalog.yaml`, `Config/defaults.yaml` or
/// `Config/services/*.yaml` is one of these, so `validate` can print them all in one format:
/// `file:line:col: field: message`. `line` and `column` start at 1; 0 means the problem
/// concerns the whole file (it could not be read, or it is empty).
public struct ConfigError: Error, Sendable, Equatable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    /// The path of the offending field, e.g. `services.payments.instances[1].port`; empty for the document.
    public var field: String
    public var message: String

    public init(file: String, line: Int, column: Int, field: String, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.field = field
        self.message = message
    }

    public var description: String {
        let position = line > 0 ? "\(file):\(line):\(column)" : file
        return field.isEmpty ? "\(position): \(message)" : "\(position): \(field): \(message)"
    }
}

/// One or more configuration errors, in file order. Thrown when a file cannot be used at all.
public struct ConfigErrors: Error, Sendable, Equatable, CustomStringConvertible {
    public var errors: [ConfigError]

    public init(_ errors: [ConfigError]) {
        self.errors = errors
    }

    public var description: String { errors.map(\.description).joined(separator: "\n") }
}
