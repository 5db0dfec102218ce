// swift-tools-version: 6.2
import PackageDescription

// Layers, bottom to top: C modules -> one Swift wrapper per C library -> the format (pure Swift)
// -> reading/verifying a bundle -> low side (Fetch, Registry, Collect, Build) | high side (Apply) -> commands
// -> thin executables. The high side (`mirrorctl`) never depends on Fetch, Registry, Collect or Build: read its target list.
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
        // Errors, digests, formats for people: pure Swift, no libc.
        .target(name: "Support", dependencies: [.product(name: "Crypto", package: "swift-crypto")], path: "Sources/Core/Support", swiftSettings: strict),
        // Every libc call that is not a C library's: owned descriptors, locks, positional and
        // direct I/O, file-system calls, threads, the terminal, the process. Nothing else imports Glibc.
        .target(name: "SystemIO", dependencies: ["CSystem", "Support"], path: "Sources/Wrappers/SystemIO", swiftSettings: strict),
        .target(name: "Sodium", dependencies: ["CSodium", "Support"], path: "Sources/Wrappers/Sodium", swiftSettings: strict),
        .target(name: "Libarchive", dependencies: ["SystemIO", "CArchive", "Support"], path: "Sources/Wrappers/Libarchive", swiftSettings: strict),
        .target(name: "Zstd", dependencies: ["SystemIO", "CZstd", "Support"], path: "Sources/Wrappers/Zstd", swiftSettings: strict),

        // The bundle format: canonical JSON, manifest, index, minisign envelopes. No C.
        .target(name: "BundleFormat", dependencies: ["Support"], path: "Sources/Core/BundleFormat", swiftSettings: strict),
        // Opening, authenticating and streaming a bundle: shared by both sides.
        .target(name: "BundleVerify", dependencies: ["SystemIO", "BundleFormat", "Sodium", "Libarchive", "Zstd", "Support"], path: "Sources/Reading/BundleVerify", swiftSettings: strict),

        // What one tree, image list or trust policy changes against another: apply's report and
        // `bundlectl diff`; and record by record (OSV advisories, KEV entries) for CHANGES.json,
        // `mirrorctl diff` and `bundlectl inspect --base`. Pure, so both tools share it without either
        // side's code. Yams reads the OSV records published as YAML (PyPA), as Collect reads specs.
        .target(name: "Changes", dependencies: ["BundleFormat", "Support", .product(name: "Yams", package: "Yams")], path: "Sources/Core/Changes", swiftSettings: strict),

        // OCI image-spec documents: descriptors, manifests, indexes, the layout's own files.
        .target(name: "OCI", dependencies: ["BundleFormat", "Support"], path: "Sources/Core/OCI", swiftSettings: strict),

        // The registry HTTP conversation's rules and words, shared by pull (low side) and push
        // (high side): origins, where a redirect or Location may go, who may get HTTP basic, the
        // token protocol's request and answer, transient failures and TLS errors in words.
        // Foundation only: the URLSession plumbing stays in Registry and in Push.
        .target(name: "RegistryHTTP", dependencies: ["SystemIO", "OCI", "Support"], path: "Sources/Reading/RegistryHTTP", swiftSettings: strict),

        // Low side: spec -> sources -> objects -> packs -> signed archive.
        .target(name: "Fetch", dependencies: ["SystemIO", "Support"], path: "Sources/LowSide/Fetch", swiftSettings: strict),
        // Pulling images and OCI artifacts by reference over the distribution API, into a
        // content-addressed cache (FoundationNetworking). Low side only: `mirrorctl` never links it.
        .target(name: "Registry", dependencies: ["SystemIO", "OCI", "RegistryHTTP", "Support"], path: "Sources/LowSide/Registry", swiftSettings: strict),
        // The spec and its sources: files, URLs (through Fetch), image tarballs and pulled images (through Registry), as files to carry.
        .target(name: "Collect", dependencies: ["SystemIO", "BundleFormat", "Fetch", "Registry", "OCI", "Libarchive", "Support", "Yams"], path: "Sources/LowSide/Collect", swiftSettings: strict),
        // Making minisign signatures: bundles, co-signatures, trust files, volume labels.
        .target(name: "Signing", dependencies: ["BundleVerify", "BundleFormat", "Sodium", "Support"], path: "Sources/LowSide/Signing", swiftSettings: strict),
        // Building a bundle from collected files, in phases (hash, plan the delta, lay out and
        // write packs, assemble and sign, archive); co-signing; key and trust policy files.
        .target(name: "Build", dependencies: ["SystemIO", "Collect", "Registry", "Signing", "BundleFormat", "BundleVerify", "Sodium", "Libarchive", "Zstd", "Support"], path: "Sources/LowSide/Build", swiftSettings: strict),
        // Volumes on removable media: the signed label, checking volumes alone and as a set,
        // reassembly. Both sides read volumes; only the low side writes them (MediaWrite).
        .target(name: "Media", dependencies: ["SystemIO", "BundleFormat", "BundleVerify", "Support"], path: "Sources/Reading/Media", swiftSettings: strict),
        .target(name: "MediaWrite", dependencies: ["SystemIO", "Media", "Signing", "BundleFormat", "BundleVerify", "Libarchive", "Support"], path: "Sources/LowSide/MediaWrite", swiftSettings: strict),
        // High side: verify -> stage -> swap. No packing, no network.
        .target(name: "Apply", dependencies: ["SystemIO", "BundleFormat", "BundleVerify", "Changes", "Media", "Sodium", "Support"], path: "Sources/HighSide/Apply", swiftSettings: strict),
        // High side, optional: copy the active version's images to a registry. The only network
        // code `mirrorctl` links (FoundationNetworking); Apply never depends on it.
        .target(name: "Push", dependencies: ["SystemIO", "OCI", "RegistryHTTP", "BundleFormat", "Support"], path: "Sources/HighSide/Push", swiftSettings: strict),

        .target(name: "CommandSupport", dependencies: ["SystemIO", "BundleFormat", "Changes", "Support", .product(name: "ArgumentParser", package: "swift-argument-parser")], path: "Sources/Commands/CommandSupport", swiftSettings: strict),
        .target(name: "BundlectlCommands", dependencies: ["SystemIO", "CommandSupport", "Collect", "Registry", "Build", "BundleVerify", "Changes", "Media", "MediaWrite", "Support", .product(name: "ArgumentParser", package: "swift-argument-parser")], path: "Sources/Commands/BundlectlCommands", swiftSettings: strict),
        .target(name: "MirrorctlCommands", dependencies: ["SystemIO", "CommandSupport", "Apply", "Push", "BundleVerify", "Changes", "Media", "Support", .product(name: "ArgumentParser", package: "swift-argument-parser")], path: "Sources/Commands/MirrorctlCommands", swiftSettings: strict),
        .executableTarget(name: "bundlectl", dependencies: ["BundlectlCommands"], path: "Sources/Executables/bundlectl", swiftSettings: strict),
        .executableTarget(name: "mirrorctl", dependencies: ["MirrorctlCommands"], path: "Sources/Executables/mirrorctl", swiftSettings: strict),

        // The parsers of hostile input, one entry per fuzz target; Tests/FuzzTests replays kept inputs.
        .target(name: "FuzzHarness", dependencies: ["SystemIO", "BundleFormat", "BundleVerify", "Changes", "Libarchive", "Collect", "Support", "Zstd"], path: "Sources/Fuzz/FuzzHarness", swiftSettings: strict),

        .testTarget(name: "FormatTests", dependencies: ["BundleFormat", "Changes", "Sodium", "Support"]),
        .testTarget(name: "ReadingTests", dependencies: ["BundleVerify", "Signing", "BundleFormat", "Sodium", "Zstd", "Support"]),
        .testTarget(name: "WrapperTests", dependencies: ["Sodium", "Zstd", "Libarchive", "SystemIO", "Support"]),
        .testTarget(name: "OCITests", dependencies: ["OCI", "BundleFormat", "Support"]),
        // The high side's pure parts (admission, change summary, pruning, names) and the journal, without binaries.
        .testTarget(name: "HighSideTests", dependencies: ["Apply", "Push", "RegistryHTTP", "SystemIO", "BundleFormat", "Support"], swiftSettings: strict),
        .testTarget(name: "EndToEndTests", dependencies: ["BundleFormat", "Support"]),
        // The low side's pure parts, in process: pack layout, delta plan, spec, co-signing.
        .testTarget(name: "LowSideTests", dependencies: ["Collect", "Registry", "OCI", "SystemIO", "Build", "BundleFormat", "BundleVerify", "Libarchive", "Support"], path: "Tests/LowSideTests", swiftSettings: strict),
        .testTarget(name: "MediaTests", dependencies: ["Media", "MediaWrite", "BundleFormat", "BundleVerify", "Sodium", "Support"]),
        .testTarget(name: "FuzzTests", dependencies: ["FuzzHarness"], exclude: ["Fixtures"]),
    ]
)
