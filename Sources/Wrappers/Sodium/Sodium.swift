internal import CSodium
import Support

/// libsodium, initialised once before first use.
public enum Sodium {
    /// `sodium_init` is safe to call repeatedly; a negative result means no usable RNG.
    private static let ready: Bool = sodium_init() >= 0

    static func ensureReady() throws {
        guard ready else { throw ToolError.environment("libsodium could not initialise (no usable random source)") }
    }

    /// Cryptographically secure random bytes. The corresponding C function is `randombytes_buf`.
    public static func randomBytes(_ count: Int) throws -> [UInt8] {
        try ensureReady()
        var out = [UInt8](repeating: 0, count: count)
        if count > 0 { out.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, count) } }
        return out
    }

    /// Overwrites secret bytes in a way the compiler may not remove. The C function is `sodium_memzero`.
    public static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { if let p = $0.baseAddress { sodium_memzero(p, $0.count) } }
    }
}

/// Ed25519 signatures (RFC 8032), as minisign uses them.
public enum Ed25519 {
    public static let publicKeyBytes = Int(crypto_sign_PUBLICKEYBYTES)
    public static let secretKeyBytes = Int(crypto_sign_SECRETKEYBYTES)
    public static let signatureBytes = Int(crypto_sign_BYTES)
    public static let seedBytes = Int(crypto_sign_SEEDBYTES)

    /// A new key pair from the system RNG. The C function is `crypto_sign_keypair`.
    public static func generate() throws -> (publicKey: [UInt8], secretKey: [UInt8]) {
        try Sodium.ensureReady()
        var pk = [UInt8](repeating: 0, count: publicKeyBytes)
        var sk = [UInt8](repeating: 0, count: secretKeyBytes)
        guard crypto_sign_keypair(&pk, &sk) == 0 else { throw ToolError.environment("Ed25519 key generation failed") }
        return (pk, sk)
    }

    /// The key pair for a 32-byte seed (RFC 8032 test vectors give seeds). `crypto_sign_seed_keypair`.
    public static func keyPair(seed: [UInt8]) throws -> (publicKey: [UInt8], secretKey: [UInt8]) {
        try Sodium.ensureReady()
        guard seed.count == seedBytes else { throw ToolError.usage("an Ed25519 seed is \(seedBytes) bytes") }
        var pk = [UInt8](repeating: 0, count: publicKeyBytes)
        var sk = [UInt8](repeating: 0, count: secretKeyBytes)
        guard crypto_sign_seed_keypair(&pk, &sk, seed) == 0 else { throw ToolError.environment("Ed25519 key derivation failed") }
        return (pk, sk)
    }

    /// Detached signature. The corresponding C function is `crypto_sign_detached`.
    public static func sign(_ message: [UInt8], secretKey: [UInt8]) throws -> [UInt8] {
        try Sodium.ensureReady()
        guard secretKey.count == secretKeyBytes else { throw ToolError.usage("an Ed25519 secret key is \(secretKeyBytes) bytes") }
        var sig = [UInt8](repeating: 0, count: signatureBytes)
        guard crypto_sign_detached(&sig, nil, message, UInt64(message.count), secretKey) == 0 else {
            throw ToolError.environment("Ed25519 signing failed")
        }
        return sig
    }

    /// True only for a valid signature. The corresponding C function is `crypto_sign_verify_detached`.
    public static func verify(_ signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
        guard (try? Sodium.ensureReady()) != nil,
              signature.count == signatureBytes, publicKey.count == publicKeyBytes else { return false }
        return crypto_sign_verify_detached(signature, message, UInt64(message.count), publicKey) == 0
    }

    /// The public key inside a 64-byte libsodium secret key (seed followed by public key).
    public static func publicKey(ofSecretKey sk: [UInt8]) throws -> [UInt8] {
        guard sk.count == secretKeyBytes else { throw ToolError.usage("an Ed25519 secret key is \(secretKeyBytes) bytes") }
        var pk = [UInt8](repeating: 0, count: publicKeyBytes)
        guard crypto_sign_ed25519_sk_to_pk(&pk, sk) == 0 else { throw ToolError.refused("malformed Ed25519 secret key") }
        return pk
    }

    /// Recomputes the public key from the seed half, to catch a secret key whose halves disagree.
    public static func isConsistent(secretKey sk: [UInt8]) -> Bool {
        guard sk.count == secretKeyBytes, let derived = try? keyPair(seed: Array(sk[0..<seedBytes])) else { return false }
        return derived.secretKey == sk
    }
}

/// BLAKE2b (libsodium's generichash), which minisign uses for prehashing and key checksums.
public struct Blake2b {
    // The state is 64-byte aligned and opaque to Swift; allocate it by hand.
    private let state: UnsafeMutableRawPointer
    private let outputLength: Int

    public init(outputLength: Int = 64) throws {
        try Sodium.ensureReady()
        self.outputLength = outputLength
        state = UnsafeMutableRawPointer.allocate(byteCount: crypto_generichash_statebytes(), alignment: 64)
        guard crypto_generichash_init(OpaquePointer(state), nil, 0, outputLength) == 0 else {
            state.deallocate()
            throw ToolError.usage("BLAKE2b output length \(outputLength) is not supported")
        }
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        _ = crypto_generichash_update(OpaquePointer(state), bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(bytes.count))
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Ends the hash and frees the state. The corresponding C function is `crypto_generichash_final`.
    public consuming func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: outputLength)
        _ = crypto_generichash_final(OpaquePointer(state), &out, outputLength)
        state.deallocate()
        return out
    }

    public static func hash(_ bytes: [UInt8], outputLength: Int = 64) throws -> [UInt8] {
        var h = try Blake2b(outputLength: outputLength)
        h.update(bytes)
        return h.finalize()
    }
}

/// scrypt, as minisign uses it to encrypt secret keys. `crypto_pwhash_scryptsalsa208sha256`.
public enum Scrypt {
    public static let saltBytes = Int(crypto_pwhash_scryptsalsa208sha256_SALTBYTES)
    /// minisign's own defaults, so a key we write costs an attacker what minisign's does.
    public static let opsLimitSensitive = UInt64(crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_SENSITIVE)
    public static let memLimitSensitive = UInt64(crypto_pwhash_scryptsalsa208sha256_MEMLIMIT_SENSITIVE)

    public static func derive(password: [UInt8], salt: [UInt8], opsLimit: UInt64, memLimit: UInt64, length: Int) throws -> [UInt8] {
        try Sodium.ensureReady()
        guard salt.count == saltBytes else { throw ToolError.refused("scrypt salt must be \(saltBytes) bytes") }
        // A hostile key file could ask for absurd work; refuse more than 4x minisign's defaults.
        guard opsLimit <= opsLimitSensitive * 4, memLimit <= memLimitSensitive * 4 else {
            throw ToolError.refused("the key file asks for scrypt limits far above minisign's (ops \(opsLimit), memory \(memLimit))")
        }
        var out = [UInt8](repeating: 0, count: length)
        // A trailing NUL keeps the buffer non-empty so its base address exists even for "".
        let terminated = password + [0]
        let r = terminated.withUnsafeBufferPointer { pw in
            pw.withMemoryRebound(to: CChar.self) { pwc in
                crypto_pwhash_scryptsalsa208sha256(&out, UInt64(length), pwc.baseAddress!, UInt64(password.count), salt, opsLimit, Int(memLimit))
            }
        }
        guard r == 0 else { throw ToolError.environment("scrypt key derivation failed (out of memory?)") }
        return out
    }
}
