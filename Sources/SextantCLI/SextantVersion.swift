/// What `sextant --version` prints: the release and how this binary was built.
enum SextantVersion {
    static let release = "0.1.0"

    #if DEBUG
    static let configuration = "debug"
    #else
    static let configuration = "release"
    #endif

    #if arch(x86_64)
    static let architecture = "x86_64"
    #elseif arch(arm64)
    static let architecture = "arm64"
    #else
    static let architecture = "unknown-arch"
    #endif

    #if compiler(>=6.3)
    static let compiler = "Swift 6.3+"
    #elseif compiler(>=6.2)
    static let compiler = "Swift 6.2"
    #elseif compiler(>=6.1)
    static let compiler = "Swift 6.1"
    #else
    static let compiler = "Swift 6.0"
    #endif

    static var description: String { "sextant \(release) (\(configuration) build, \(compiler), \(architecture))" }
}
