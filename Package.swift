// swift-tools-version:6.0
import PackageDescription

/// Interop-heavy targets (GLib, curl, raw syscalls) compile in Swift 5 mode: their C pointers
/// are confined to a few files behind locks/threads that the compiler cannot see through.
let interop: [SwiftSetting] = [.swiftLanguageMode(.v5)]

let package = Package(
    name: "bitsd",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "bitsd", targets: ["bitsd"]),
        .executable(name: "bitsctl", targets: ["bitsctl"]),
        .library(name: "BitsClient", targets: ["BitsClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // C interop: GLib/GIO (D-Bus), libcurl, libcrypto (file digests), SQLite (the queue), and
        // raw Linux syscalls.
        .systemLibrary(name: "CGLib", path: "Sources/CGLib", pkgConfig: "gio-2.0",
                       providers: [.apt(["libglib2.0-dev"])]),
        .systemLibrary(name: "CCurl", path: "Sources/CCurl", pkgConfig: "libcurl",
                       providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CCrypto", path: "Sources/CCrypto", pkgConfig: "libcrypto",
                       providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        .target(name: "CSystem", path: "Sources/CSystem"),
        // The only Swift door to raw Linux calls: typed `SystemError`s, owned `FileDescriptor`s.
        .target(name: "BitsSystem", dependencies: ["CSystem"], path: "Sources/BitsSystem", swiftSettings: interop),

        // The contract: the interface XML in dbus/ turned into Swift at build time (the contract
        // table for BitsCore, the XML texts the daemon serves for BitsBus).
        .executableTarget(name: "bits-interface-codegen", path: "Sources/bits-interface-codegen"),
        .plugin(name: "InterfaceCodegen", capability: .buildTool(), dependencies: ["bits-interface-codegen"],
                path: "Plugins/InterfaceCodegen"),

        // Pure logic: model, state machine, validation, limits, scheduler, error catalog, contract.
        .target(name: "BitsCore", path: "Sources/BitsCore", plugins: ["InterfaceCodegen"]),
        // Durable queue: every job, file, setting and secret in SQLite (its C API, WAL, migrations).
        .target(name: "BitsStore", dependencies: ["BitsCore", "BitsSystem", "CSQLite"], path: "Sources/BitsStore"),
        // Transfer engine: libcurl multi on its own thread.
        .target(name: "BitsTransfer", dependencies: ["BitsCore", "CCurl", "CCrypto", "BitsSystem"],
                path: "Sources/BitsTransfer", swiftSettings: interop),
        // Queue manager: jobs, scheduling, owner-credential file work; no D-Bus.
        .target(name: "BitsService",
                dependencies: ["BitsCore", "BitsTransfer", "BitsStore", "BitsSystem",
                               .product(name: "Logging", package: "swift-log")],
                path: "Sources/BitsService"),
        // The only Swift door to GLib/GIO: Variant <-> GVariant, the GLib loop thread, the bus
        // connection (calls, signals, exported objects, introspection data), GIO's network
        // monitor, file monitor and proxy resolver. Shared by the daemon and the client.
        .target(name: "BitsDBus", dependencies: ["CGLib", "BitsSystem"], path: "Sources/BitsDBus", swiftSettings: interop),
        // The daemon's D-Bus face: Manager/Job/File objects, caller identity, polkit, signals.
        .target(name: "BitsBus",
                dependencies: ["BitsCore", "BitsService", "BitsDBus", "BitsSystem",
                               .product(name: "Logging", package: "swift-log")],
                path: "Sources/BitsBus", swiftSettings: interop, plugins: ["InterfaceCodegen"]),
        .executableTarget(name: "bitsd",
                          dependencies: ["BitsBus", "BitsDBus", "BitsService", "BitsStore", "BitsCore", "BitsSystem",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser"),
                                         .product(name: "Logging", package: "swift-log")],
                          path: "Sources/bitsd", swiftSettings: interop),
        // Client library for apps: async/await calls, job handles, updates from signals.
        .target(name: "BitsClient", dependencies: ["BitsCore", "BitsDBus", "BitsSystem"],
                path: "Sources/BitsClient", swiftSettings: interop),
        // The command-line client (bitsadmin / Start-BitsTransfer for Linux).
        .executableTarget(name: "bitsctl",
                          dependencies: ["BitsClient", "BitsCore", "BitsSystem",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          path: "Sources/bitsctl"),
        // A small app using BitsClient (shown in docs/clients.md, run by the tests).
        .executableTarget(name: "bits-example-download", dependencies: ["BitsClient"],
                          path: "examples/swift-download"),

        .testTarget(name: "BitsCoreTests", dependencies: ["BitsCore"], path: "Tests/BitsCoreTests"),
        .testTarget(name: "BitsSystemTests", dependencies: ["BitsSystem"], path: "Tests/BitsSystemTests"),
        .testTarget(name: "BitsStoreTests", dependencies: ["BitsStore", "BitsCore"], path: "Tests/BitsStoreTests",
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "BitsTransferTests", dependencies: ["BitsTransfer", "BitsCore", "BitsSystem"], path: "Tests/BitsTransferTests", swiftSettings: interop),
        // The queue manager against fakes (store, engine, owner files, clock): no bus, no root.
        .testTarget(name: "BitsServiceTests",
                    dependencies: ["BitsService", "BitsStore", "BitsTransfer", "BitsCore", "BitsSystem",
                                   .product(name: "Logging", package: "swift-log")],
                    path: "Tests/BitsServiceTests"),
        .testTarget(name: "BitsBusTests", dependencies: ["BitsBus", "BitsDBus", "BitsCore"], path: "Tests/BitsBusTests",
                    swiftSettings: interop),
        .testTarget(name: "BitsClientTests", dependencies: ["BitsClient", "bitsctl"], path: "Tests/BitsClientTests"),
        .testTarget(name: "BitsIntegrationTests", dependencies: ["BitsCore"],
                    path: "Tests/BitsIntegrationTests", swiftSettings: interop),
    ]
)
