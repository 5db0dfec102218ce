import BundleFormat
import Support
import SystemIO

/// The keys a mirror accepts volume labels from besides its bundle signers: the media officer's
/// (`mirrorctl init --media-key`, `mirrorctl media-key add|remove`), kept in mirror.json.
///
/// A label only lets a volume's bytes be copied into `incoming/`; the bundle they make is judged
/// by its own signatures against the trust policy, where a media key never counts. So a media key
/// may also be a bundle signer, and adding or removing one needs no signed bundle, only the admin.
enum MediaKeys {
    /// Refuses media keys that would make a label's signer ambiguous: one key given twice, one
    /// public key under two ids, or an id the trust policy already uses for another key (a
    /// signature names its key by id). The same key as one of the policy's is fine.
    static func check(_ media: [PublicKey], policy: [PublicKey]) throws {
        var seen: [PublicKey] = []
        for k in media {
            if seen.contains(k) { throw ToolError.usage("media key \(k.idText) is given twice") }
            seen.append(k)
        }
        if let (a, b) = TrustPolicy.sharedPublicKey(media) {
            throw ToolError.usage("media key ids \(a.idText) and \(b.idText) are one public key: two files holding one key are one key; give it once")
        }
        for m in media {
            if let p = policy.first(where: { $0.keyId == m.keyId && $0.key != m.key }) {
                throw ToolError.usage("media key \(m.idText) has the key id of another key of the trust policy (\(p.idText)); a key id must name one key: make the media key anew with `bundlectl keygen`")
            }
            if let p = policy.first(where: { $0.key == m.key && $0.keyId != m.keyId }) {
                throw ToolError.usage("media key \(m.idText) is the trust policy's key \(p.idText) under another id: two files holding one key are one key; give it as \(p.idText)")
            }
        }
    }

    /// "A, B" or "none", for messages.
    static func list(_ keys: [PublicKey]) -> String { keys.isEmpty ? "none" : keys.map(\.idText).joined(separator: ", ") }
}

/// What `mirrorctl media-key add|remove` did.
public struct MediaKeyChange {
    public var key: PublicKey
    /// The media keys after the change.
    public var mediaKeys: [PublicKey]
    /// The key also signs bundles (it is in the trust policy).
    public var alsoBundleSigner: Bool
}

extension OfflineMirror {
    /// Trusts `key`'s volume labels from now on; journaled.
    public func addMediaKey(_ key: PublicKey) throws -> MediaKeyChange {
        try changeMediaKeys(action: "add") { config in
            if config.mediaKeys.contains(key) { throw ToolError.usage("media key \(key.idText) is already trusted by this mirror") }
            try MediaKeys.check(config.mediaKeys + [key], policy: config.keys)
            return (config.mediaKeys + [key], key)
        }
    }

    /// Stops trusting the labels of the media key with this id (as `status` shows it); journaled.
    public func removeMediaKey(id: String) throws -> MediaKeyChange {
        try changeMediaKeys(action: "remove") { config in
            guard let key = config.mediaKeys.first(where: { $0.idText.caseInsensitiveCompare(id) == .orderedSame }) else {
                throw ToolError.usage("this mirror has no media key \(id) (media keys: \(MediaKeys.list(config.mediaKeys)))")
            }
            return (config.mediaKeys.filter { $0 != key }, key)
        }
    }

    /// Under the lock, after recovery (so a rotation under way is settled and mirror.json is the
    /// one in force): rewrites mirror.json with the media keys `change` returns, then journals it.
    private func changeMediaKeys(action: String, _ change: (MirrorConfig) throws -> ([PublicKey], PublicKey)) throws -> MediaKeyChange {
        let lock = try MirrorLock(paths)
        defer { _ = lock }
        _ = try recovery.run()
        var config = try Adoption.readConfig(paths)
        let (keys, key) = try change(config)
        config.mediaKeys = keys
        try FS.writeAtomically(paths.config, config.json.canonicalBytes)
        try journal.append("media-key", [
            "action": .string(action),
            "key": .string(key.idText),
            "mediaKeys": .array(keys.map { .string($0.idText) }),
        ])
        return MediaKeyChange(key: key, mediaKeys: keys, alsoBundleSigner: config.keys.contains(key))
    }
}
