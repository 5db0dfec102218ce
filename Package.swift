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
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CSystem"),

        // Wrappers: own the C handles, turn return codes into errors.
        .target(name: "Support", dependencies: ["CSystem", .product(name: "Crypto", package: "swift-crypto")], swiftSettings: strict),
        .target(name: "Sodium", dependencies: ["CSodium", "Support"], swiftSettings: strict),
        .target(name: "Libarchive", dependencies: ["CArchive", "Support"], swiftSettings: strict),
        .target(name: "Zstd", dependencies: ["CZstd", "Support"], swiftSettings: strict),

        // The bundle format: canonical JSON, manifest, index, minisign envelopes. No C.
        .target(name: "BundleFormat", dependencies: ["Support"], swiftSettings: strict),
        // Opening, authenticating and streaming a bundle: shared by both sides.
        .target(name: "BundleVerify", dependencies: ["BundleFormat", "Sodium", "Libarchive", "Zstd", "Support"], swiftSettings: strict),

        // OCI image-spec documents: descriptors, manifests, indexes, the layout's own files.
        .target(name: "OCI", dependencies: ["BundleFormat", "Support"], swiftSettings: strict),

        // Low side: spec -> sources -> objects -> packs -> signed archive.
        .target(name: "Fetch", dependencies: ["Support"], swiftSettings: strict),
        .target(name: "Pack", dependencies: ["BundleFormat", "BundleVerify", "Fetch", "OCI", "Sodium", "Libarchive", "Zstd", "Support", "Yams"], swiftSettings: strict),
        // Volumes on removable media: the signed label, checking volumes alone and as a set,
        // reassembly. Both sides read volumes; only the low side writes them (MediaWrite).
        .target(name: "Media", dependencies: ["BundleFormat", "BundleVerify", "Support"], swiftSettings: strict),
        .target(name: "MediaWrite", dependencies: ["Media", "BundleFormat", "BundleVerify", "Libarchive", "Support"], swiftSettings: strict),
        // High side: verify -> stage -> swap. No packing, no network.
        .target(name: "Apply", dependencies: ["BundleFormat", "BundleVerify", "Media", "Sodium", "Support"], swiftSettings: strict),
        // High side, optional: copy the active version's images to a registry. The only network
        // code `mirrorctl` links (FoundationNetworking); Apply never depends on it.
        .target(name: "Push", dependencies: ["OCI", "BundleFormat", "Support"], swiftSettings: strict),

        .target(name: "CommandSupport", dependencies: ["BundleFormat", "Support", .product(name: "ArgumentParser", package: "swift-argument-parser")], swiftSettings: strict),
        .target(name: "BundlectlCommands", dependencies: ["CommandSupport", "Pack", "BundleVerify", "Media", "MediaWrite", "Support", .product(name: "ArgumentParser", package: "swift-argument-parser")], swiftSettings: strict),
        .target(name: "MirrorctlCommands", dependencies: ["CommandSupport", "Apply", "Push", "BundleVerify", "Media", "Support", .product(name: "ArgumentParser", package: "swift-argument-parser")], swiftSettings: strict),
        .executableTarget(name: "bundlectl", dependencies: ["BundlectlCommands"], swiftSettings: strict),
        .executableTarget(name: "mirrorctl", dependencies: ["MirrorctlCommands"], swiftSettings: strict),

        // The parsers of hostile input, one entry per fuzz target; Tests/FuzzTests replays kept inputs.
        .target(name: "FuzzHarness", dependencies: ["BundleFormat", "BundleVerify", "Libarchive", "Pack", "Support", "Zstd"], swiftSettings: strict),

        .testTarget(name: "FormatTests", dependencies: ["BundleFormat", "Sodium", "Support"]),
        .testTarget(name: "WrapperTests", dependencies: ["Sodium", "Zstd", "Libarchive", "Support"]),
        .testTarget(name: "EndToEndTests", dependencies: ["BundleFormat", "Support"]),
        .testTarget(name: "FuzzTests", dependencies: ["FuzzHarness"], exclude: ["Fixtures"]),
    ]
)
