import BundleFormat
import BundleVerify
import Collect
import Registry
import Support
import SystemIO

/// How hard to compress.
public enum CompressionChoice: Sendable, Equatable {
    /// Small files (advisory records, policies) get zstd -19 in solid packs, where ratio is cheap
    /// and matters; large files get -3 with all cores, where throughput matters.
    case auto
    case level(Int32)
}

/// How the bundle file itself is written.
public enum ContainerChoice: String, Sendable, Equatable, CaseIterable {
    /// A zstd-compressed tar below 8 MiB, where tar framing would weigh; a plain tar above.
    case auto
    case tar
    case tarZstd = "tar.zst"
}

/// What a delta is built against.
public enum BaseChoice: Sendable, Equatable {
    /// A previous full bundle (its bytes allow patches).
    case bundle(String)
    /// A mirror's receipt (names and digests only: files are carried whole or reused by digest).
    case receipt(String)
}

public struct BuildOptions {
    public var spec: BundleSpec
    public var base: BaseChoice?
    /// Keys besides the building key that may have signed a `.bundle` base (`--base-trust`):
    /// another officer's, or the key before a rotation.
    public var baseTrust: [PublicKey] = []
    public var container: ContainerChoice = .auto
    /// A new trust policy to carry (TRUST), with its signatures.
    public var trustPolicy: String?
    public var key: SigningKey
    public var output: String
    public var sequence: Int64?
    public var compression: CompressionChoice
    /// The bundle's creation time: SOURCE_DATE_EPOCH when set, so rebuilds give the same bytes.
    public var created: Int64
    /// Replace `output` if it exists (`--force`). Off, an existing bundle is never overwritten:
    /// last month's bundle is what next month's `--base` needs.
    public var replaceOutput = false
    /// How images named by `refs:` are pulled (cache, plain-HTTP registries).
    public var pull: PullOptions?

    public init(spec: BundleSpec, key: SigningKey, output: String, sequence: Int64?, compression: CompressionChoice, created: Int64,
                base: BaseChoice? = nil) {
        self.spec = spec
        self.base = base
        self.key = key
        self.output = output
        self.sequence = sequence
        self.compression = compression
        self.created = created
    }
}

public struct BuildReport {
    public var manifest: Manifest
    public var manifestDigest: SHA256Digest
    public var bundleSize: Int64
    public var bundleDigest: SHA256Digest
    public var objects: Int
    public var patches: Int
    public var reused: Int
    public var unchanged: Int
    public var removed: Int
    public var inputBytes: Int64
    public var storedBytes: Int64
    public var seconds: Double
    /// What pulling `refs:` downloaded and found in the cache; nil when the spec has no refs.
    public var pulled: PullCounts?
}

/// Builds a bundle, phase by phase: collect, hash, plan the delta, lay out packs, write packs,
/// assemble and sign, archive.
///
/// Everything streams through 1 MiB buffers, and the archive is written to a temporary name
/// and renamed into place, so a failed build never leaves a half-written bundle at `output`.
public struct Packer {
    let options: BuildOptions

    public init(_ options: BuildOptions) { self.options = options }

    public func build() async throws -> BuildReport {
        let started = Clock.now()
        let sequence = try checkedSequence()
        try checkExpiry()
        let scratch = try makeScratch()
        defer { try? FS.removeTree(scratch) }

        var collected = try await Collector(spec: options.spec, scratch: scratch, pull: options.pull).collect()
        let inputs = try InputHasher.hash(taking: &collected.files)
        let plan = try planDelta(inputs, sequence: sequence, scratch: scratch)
        let layout = PackLayout(PackLayout.distinct(inputs) { plan.sources[$0] == .whole })
        let patched = PackWriter.numberingPatches(plan, after: layout)
        // The index depends on the layout, not on the packs' bytes: compressed beside them.
        let level = BundleAssembler.indexLevel(options.compression)
        let index = Background("compressing the index") { Result { try BundleAssembler.compressIndex(inputs, plan: patched, layout: layout, level: level) } }
        let packs = try PackWriter(scratch: scratch, compression: options.compression).write(layout, files: inputs.files, plan: patched)
        let head = try BundleAssembler(options: options, sequence: sequence)
            .assemble(inputs, plan: patched, layout: layout, packs: packs, index: try index.value().get(), images: collected.images)
        let (bundleDigest, bundleSize) = try BundleArchiver(container: options.container, mtime: options.created, replace: options.replaceOutput)
            .write(head, packs: packs, scratchFile: "\(scratch)/bundle", output: options.output)

        return BuildReport(manifest: head.manifest, manifestDigest: Manifest.digest(of: head.manifestBytes), bundleSize: bundleSize,
                           bundleDigest: bundleDigest, objects: layout.objects.count, patches: patched.patches.count,
                           reused: patched.reused, unchanged: patched.unchanged, removed: patched.removed.count,
                           inputBytes: inputs.totalSize, storedBytes: head.indexRef.size + packs.size, seconds: Clock.now() - started,
                           pulled: collected.pulled)
    }

    private func checkedSequence() throws -> Int64 {
        guard let sequence = options.sequence ?? options.spec.sequence else {
            throw ToolError.usage("no sequence: set \"sequence\" in \(options.spec.file) or pass --sequence")
        }
        return sequence
    }

    /// A bundle that expires when it is made would be refused by every mirror on arrival.
    /// It is compared with the creation time (SOURCE_DATE_EPOCH when set), not the clock, so
    /// a reproducible build of an old spec can still be rebuilt byte for byte.
    private func checkExpiry() throws {
        guard let expires = options.spec.expires, expires <= options.created else { return }
        let at = options.spec.expiresLine > 0 ? "\(options.spec.file):\(options.spec.expiresLine)" : options.spec.file
        throw ToolError.usage("\(at): \"expires\" (\(Timestamp.format(expires))) is not after the bundle's creation time (\(Timestamp.format(options.created))); every mirror would refuse it as expired")
    }

    /// Checks the output can be written, and makes a scratch folder beside it.
    private func makeScratch() throws -> String {
        let outDir = FS.parent(of: FS.absolute(options.output))
        guard let d = try FS.info(outDir), d.kind == .directory else {
            throw ToolError.usage("output folder '\(outDir)' does not exist")
        }
        if let existing = try FS.info(options.output) {
            if existing.kind == .directory { throw ToolError.usage("output '\(options.output)' is a folder") }
            if !options.replaceOutput { throw BundleArchiver.exists(options.output) }
        }
        let scratch = "\(FS.absolute(options.output)).tmp-\(CurrentProcess.id)"
        try? FS.removeTree(scratch)
        try FS.makeDirectory(scratch, mode: 0o700)
        return scratch
    }

    /// A full bundle's plan, or a delta's against the base the options name.
    private func planDelta(_ inputs: HashedInputs, sequence: Int64, scratch: String) throws -> DeltaPlan {
        guard let choice = options.base else { return .full(files: inputs.files.count) }
        let base = try DeltaPlanner.loadBase(choice, for: inputs, name: options.spec.name, sequence: sequence,
                                             trust: [options.key.publicKey] + options.baseTrust, scratch: scratch)
        return try DeltaPlanner.plan(inputs, against: base) { try Patcher.make($0, digest: $1, baseFile: $2, scratch: scratch) }
    }
}
