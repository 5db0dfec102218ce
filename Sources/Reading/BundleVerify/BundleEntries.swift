extension BundleReader {
    /// The entries this bundle must hold, in the order the reader requires them: MANIFEST and
    /// every signature of it, TRUST and its signatures when it carries a policy, the index, then
    /// the manifest's packs, and nothing after. A tool that rewrites a bundle (the co-signer)
    /// walks this list instead of keeping its own.
    public var entryNames: [String] {
        ["MANIFEST"] + signatures.map(\.entry) + (trustUpdate.map { ["TRUST"] + $0.signatures.map(\.entry) } ?? [])
            + [manifest.index.path] + manifest.packs.map(\.path)
    }
}
