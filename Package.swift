// swift-tools-version: 6.2
import PackageDescription

// Layers, bottom to top: C modules -> one Swift wrapper per C library -> the format (pure Swift)
// -> reading/verifying a bundle -> low side (Pack, Fetch) | high side (Apply) -> commands -> thin
// executables. The high side (`mirrorctl`) never depends on Pack or Fetch: read its target list.
// Its only network code is Push (registry upload), kept out of Apply.

let strict: [SwiftSetting] = [.treatAllWarnings(as: .error)]

let package = Package(
    name: "airgap-bundles",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "bundlectl", targets: ["bundlectl"]),
        .executable(name: "mirrorctl", targets: ["mirrorctl"]),
        // For the libFuzzer targets in fuzz/, a package of its own (libFuzzer brings `main`).
        .library(name: "FuzzHarness", targets: ["FuzzHarness"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // C libraries, found with pkg-config; module map and a one-line header each.
        .systemLibrary(name: "CSodium", path: "Sources/C/CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
        .systemLibrary(name: "CArchive", path: "Sources/C/CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CZstd", path: "Sources/C/CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CSystem", path: "Sources/C/CSystem"),

        // Wrappers: own the C handles, turn return codes into errors.
        .target(name: "Support", dependencies: ["CSystem", .product(name: "Crypto", package: "swift-crypto")], path: "Sources/Core/Support", swiftSettings: strict),
        .target(name: "Sodium", dependencies: ["CSodium", "Support"], path: "Sources/Wrappers/Sodium", swiftSettings: strict),
        .target(name: "Libarchive", dependencies: ["CArchive", "Support"], path: "Sources/Wrappers/Libarchive", swiftSettings: strict),
        .target(name: "Zstd", dependencies: ["CZstd", "Support"], path: "Sources/Wrappers/Zstd", swiftSettings: strict),

        // The bundle format: canonical JSON, manifest, index, minisign envelopes. No C.
        .target(name: "BundleFormat", dependencies: ["Support"], path: "Sources/Core/BundleFormat", swiftSettings: strict),
        // Opening, authenticating and streaming a bundle: shared by both sides.
        .target(name: "BundleVerify", dependencies: ["BundleFormat", "Sodium", "Libarchive", "Zstd", "Support"], path: "Sources/Reading/BundleVerify", swiftSettings: strict),

        // OCI image-spec documents: descriptors, manifests, indexes, the layout's own files.
        .target(name: "OCI", dependencies: ["BundleFormat", "Support"], path: "Sources/Core/OCI", swiftSettings: strict),

        // Low side: spec -> sources -> objects -> packs -> signed archive.
        .target(name: "Fetch", dependencies: ["Support"], path: "Sources/LowSide/Fetch", swiftSettings: strict),
        .target(name: "Pack", dependencies: ["BundleFormat", "BundleVerify", "Fetch", "OCI", "Sodium", "Libarchive", "Zstd", "Support", "Yams"], path: "Sources/LowSide/Pack", swiftSettings: strict),
        // Volumes on removable media: the signed label, checking volumes alone and as a set,
        // reassembly. Both sides read volumes; only the low side writes them (MediaWrite).
        .target(name: "Media", dependencies: ["BundleFormat", "BundleVerify", "Support"], path: "Sources/Reading/Media", swiftSettings: strict),
        .target(name: "MediaWrite", dependencies: ["Media", "BundleFormat", "BundleVerify", "Libarchive", "Support"], path: "Sources/LowSide/MediaWrite", swiftSettings: strict),
        // High side: verify -> stage -> swap. No packing, no network.
        .target(name: "Apply", dependencies: ["BundleFormat", "BundleVerify", "Media", "Sodium", "Support"], path: "Sources/HighSide/Apply", swiftSettings: strict),
        // High side, optional: copy the active version's images to a registry. The only network
        // code `mirrorctl` links (FoundationNetworking); Apply never depends on it.
        .target(name: "Push", dependencies: ["OCI", "BundleFormat", "Support"], path: "Sources/HighSide/Push", swiftSettings: strict),

        .target(name: "CommandSupport", dependencies: ["BundleFormat", "Support", .product(name: "ArgumentParser", package: "swift-argument-parser")], path: "Sources/Commands/CommandSupport", swiftSettings: strict),
        .target(name: "BundlectlCommands", dependencies: ["CommandSupport", "Pack", "BundleVerify", "Media", "MediaWrite", "Support", .product(name: "ArgumentParser", package: "swift-argument-parser")], path: "Sources/Commands/BundlectlCommands", swiftSettings: strict),
        .target(name: "MirrorctlCommands", dependencies: ["CommandSupport", "Apply", "Push", "BundleVerify", "Media", "Support", .product(name: "ArgumentParser", package: "swift-argument-parser")], path: "Sources/Commands/MirrorctlCommands", swiftSettings: strict),
        .executableTarget(name: "bundlectl", dependencies: ["BundlectlCommands"], path: "Sources/Executables/bundlectl", swiftSettings: strict),
        .executableTarget(name: "mirrorctl", dependencies: ["MirrorctlCommands"], path: "Sources/Executables/mirrorctl", swiftSettings: strict),

        // The parsers of hostile input, one entry per fuzz target; Tests/FuzzTests replays kept inputs.
        .target(name: "FuzzHarness", dependencies: ["BundleFormat", "BundleVerify", "Libarchive", "Pack", "Support", "Zstd"], path: "Sources/Fuzz/FuzzHarness", swiftSettings: strict),

        .testTarget(name: "FormatTests", dependencies: ["BundleFormat", "Sodium", "Support"]),
        .testTarget(name: "ReadingTests", dependencies: ["BundleVerify", "BundleFormat", "Sodium", "Zstd", "Support"]),
        .testTarget(name: "WrapperTests", dependencies: ["Sodium", "Zstd", "Libarchive", "Support"]),
        .testTarget(name: "EndToEndTests", dependencies: ["BundleFormat", "Support"]),
        .testTarget(name: "FuzzTests", dependencies: ["FuzzHarness"], exclude: ["Fixtures"]),
    ]
)
