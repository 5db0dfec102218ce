import BundleFormat
import Sodium
import Support
import SystemIO

/// A decrypted signing key, held only as long as a build or sign needs it.
public struct SigningKey {
    public var keyId: [UInt8]
    public var secretKey: [UInt8]
    public var publicKey: PublicKey
    public var idText: String { publicKey.idText }
}

/// minisign-compatible key files: generation, encryption with scrypt, loading.
public enum KeyFiles {
    /// Makes a new key pair. With a password the secret key is encrypted exactly as minisign
    /// does it (scrypt, minisign's own cost limits, BLAKE2b checksum); without one it is stored
    /// in the clear, as `minisign -W` does.
    public static func generate(password: [UInt8]?) throws -> (secret: SecretKeyFile, public: PublicKey) {
        var (pk, sk) = try Ed25519.generate()
        defer { Sodium.wipe(&sk) }
        let keyId = try Sodium.randomBytes(8)
        let checksum = try Blake2b.hash(Array("Ed".utf8) + keyId + sk, outputLength: 32)
        var keynum = keyId + sk + checksum
        defer { Sodium.wipe(&keynum) }
        let file: SecretKeyFile
        if let password {
            let salt = try Sodium.randomBytes(Scrypt.saltBytes)
            var stream = try Scrypt.derive(password: password, salt: salt, opsLimit: Scrypt.opsLimitSensitive,
                                           memLimit: Scrypt.memLimitSensitive, length: keynum.count)
            defer { Sodium.wipe(&stream) }
            let sealed = zip(keynum, stream).map { $0 ^ $1 }
            file = SecretKeyFile(kdf: SecretKeyFile.kdfScrypt, salt: salt, opsLimit: Scrypt.opsLimitSensitive,
                                 memLimit: Scrypt.memLimitSensitive, keynum: sealed, comment: "minisign encrypted secret key")
        } else {
            file = SecretKeyFile(kdf: SecretKeyFile.kdfNone, salt: [UInt8](repeating: 0, count: Scrypt.saltBytes),
                                 opsLimit: 0, memLimit: 0, keynum: keynum, comment: "minisign secret key (unencrypted)")
        }
        return (file, PublicKey(keyId: keyId, key: pk))
    }

    /// Writes a key pair: the secret key created with mode 600 and synced, the public key
    /// atomically. With `replacing`, existing files at both paths are removed first.
    public static func save(_ secret: SecretKeyFile, to secretPath: String, _ pub: PublicKey, to publicPath: String, replacing: Bool) throws {
        if replacing { try FS.remove(secretPath); try FS.remove(publicPath) }
        let fd = try FileDescriptor.create(secretPath, mode: 0o600)
        try fd.write(Array(secret.fileText.utf8))
        try fd.sync()
        try fd.close()
        try FS.writeAtomically(publicPath, Array(pub.fileText.utf8))
    }

    /// Reads a password file: its first line, without the line ending.
    public static func readPassword(_ path: String) throws -> [UInt8] {
        guard let info = try FS.info(path), info.kind == .regular else { throw ToolError.usage("password file '\(path)' does not exist") }
        var bytes = try FS.readFile(path, limit: 4096)
        if let nl = bytes.firstIndex(of: 10) { bytes.removeSubrange(nl...) }
        if bytes.last == 13 { bytes.removeLast() }
        guard !bytes.isEmpty else { throw ToolError.usage("password file '\(path)' is empty") }
        return bytes
    }

    /// Loads and, if needed, decrypts a secret key; a wrong password is reported as such.
    public static func load(_ path: String, passwordFile: String?) throws -> SigningKey {
        guard let info = try FS.info(path), info.kind == .regular else { throw ToolError.usage("secret key '\(path)' does not exist") }
        let bytes = try FS.readFile(path, limit: 4096)
        let file = try SecretKeyFile(text: String(decoding: bytes, as: UTF8.self), what: "secret key '\(path)'")
        var keynum = file.keynum
        if file.isEncrypted {
            guard let passwordFile else {
                throw ToolError.usage("secret key '\(path)' is encrypted: give its password with --password-file")
            }
            var password = try readPassword(passwordFile)
            defer { Sodium.wipe(&password) }
            var stream = try Scrypt.derive(password: password, salt: file.salt, opsLimit: file.opsLimit, memLimit: file.memLimit, length: keynum.count)
            defer { Sodium.wipe(&stream) }
            keynum = zip(keynum, stream).map { $0 ^ $1 }
        }
        let keyId = Array(keynum[0..<8])
        let sk = Array(keynum[8..<72])
        let checksum = Array(keynum[72..<104])
        let expected = try Blake2b.hash(Array("Ed".utf8) + keyId + sk, outputLength: 32)
        if file.isEncrypted {
            guard checksum == expected else { throw ToolError.refused("wrong password for secret key '\(path)'") }
        } else if checksum != [UInt8](repeating: 0, count: 32) && checksum != expected {
            // minisign -W writes a zero checksum; any other value must be right.
            throw ToolError.refused("secret key '\(path)' is damaged (checksum mismatch)")
        }
        guard Ed25519.isConsistent(secretKey: sk) else { throw ToolError.refused("secret key '\(path)' is damaged (its halves disagree)") }
        let pk = try Ed25519.publicKey(ofSecretKey: sk)
        return SigningKey(keyId: keyId, secretKey: sk, publicKey: PublicKey(keyId: keyId, key: pk))
    }
}
