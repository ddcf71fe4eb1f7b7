// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Sextant",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sextant", targets: ["sextant"]),
        .executable(name: "sextant-bench", targets: ["sextant-bench"]),
    ],
    dependencies: [
        // exact: the committed generated code must match the runtime (see Makefile `protos`).
        .package(url: "https://github.com/apple/swift-protobuf.git", exact: "1.39.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    ],
    targets: [
        // C shims: module maps and static inline wrappers only, no logic.
        .systemLibrary(
            name: "CNGHTTP2", pkgConfig: "libnghttp2",
            providers: [.apt(["libnghttp2-dev"]), .brew(["nghttp2"])]),
        .systemLibrary(
            name: "COpenSSL", pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"]), .brew(["openssl"])]),
        .systemLibrary(
            name: "CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),
        .target(name: "CLinuxShims"),

        .target(name: "SystemIO", dependencies: ["CLinuxShims"]),
        .target(name: "HTTPSClient", dependencies: ["COpenSSL"]),
        .target(
            name: "GRPCServer",
            dependencies: [
                "SystemIO", "CNGHTTP2", "COpenSSL", "CZlib",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "EnvoyAPI",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .target(
            name: "XDS",
            dependencies: [
                "EnvoyAPI", "GRPCServer", "SystemIO",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "Catalog",
            dependencies: [
                "HTTPSClient",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "Templates",
            dependencies: [
                "Catalog", "EnvoyAPI", .product(name: "Yams", package: "Yams"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]),
        .target(
            name: "ControlPlane",
            dependencies: [
                "XDS", "Catalog", "Templates", "GRPCServer", "SystemIO",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "SextantCLI",
            dependencies: [
                "ControlPlane", "Templates", "Catalog", "XDS", "GRPCServer", "HTTPSClient", "SystemIO",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(name: "sextant", dependencies: ["SextantCLI"]),
        .executableTarget(
            name: "sextant-bench",
            dependencies: [
                "ControlPlane", "Catalog", "Templates", "XDS", "EnvoyAPI", "SystemIO",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/SextantBench"),

        .testTarget(name: "SystemIOTests", dependencies: ["SystemIO"]),
        .testTarget(name: "GRPCServerTests", dependencies: ["GRPCServer", "SystemIO", "CNGHTTP2"]),
        .testTarget(name: "XDSTests", dependencies: ["XDS", "EnvoyAPI"]),
        .testTarget(name: "HTTPSClientTests", dependencies: ["HTTPSClient"]),
        .testTarget(name: "CatalogTests", dependencies: ["Catalog"]),
        .testTarget(
            name: "TemplatesTests",
            dependencies: ["Templates", "Catalog", "EnvoyAPI", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["Fixtures"]),
        .testTarget(name: "ControlPlaneTests", dependencies: ["ControlPlane", "XDS", "Catalog", "Templates"]),
        .testTarget(name: "SextantCLITests", dependencies: ["SextantCLI", "Templates", "Catalog", "EnvoyAPI"]),
    ]
)
