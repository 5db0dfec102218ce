import Foundation
import Support

/// minisign's file formats (https://jedisct1.github.io/minisign/), parsed and written in plain
/// Swift. The cryptography that uses them lives with libsodium, in BundleVerify and Pack.
public enum Minisign {
    public static let publicKeyComment = "untrusted comment: "
    public static let trustedCommentPrefix = "trusted comment: "

    /// minisign prints a key id as the 8 bytes read as a little-endian number, in hex.
    public static func keyIdText(_ id: [UInt8]) -> String {
        id.reversed().map { b in
            let s = String(b, radix: 16, uppercase: true)
            return s.count == 1 ? "0" + s : s
        }.joined()
    }

    static func lines(_ text: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { l in
            l.hasSuffix("\r") ? String(l.dropLast()) : String(l)
        }
    }

    static func base64(_ s: String, count: Int, what: String) throws -> [UInt8] {
        guard let d = Data(base64Encoded: s.trimmingSpaces), d.count == count else {
            throw ToolError.refused("\(what) is not a minisign \(what.contains("key") ? "key" : "signature") (bad base64 line)")
        }
        return Array(d)
    }
}

/// A minisign public key: "Ed", an 8-byte key id, 32 bytes of Ed25519 key.
public struct PublicKey: Equatable, Hashable, Sendable {
    public let keyId: [UInt8]
    public let key: [UInt8]

    public init(keyId: [UInt8], key: [UInt8]) {
        self.keyId = keyId
        self.key = key
    }

    public var idText: String { Minisign.keyIdText(keyId) }

    /// The base64 line minisign prints and `minisign -P` takes.
    public var base64: String { Data(Array("Ed".utf8) + keyId + key).base64EncodedString() }

    public var fileText: String { "untrusted comment: minisign public key \(idText)\n\(base64)\n" }

    /// Parses a public key file's text, or a bare base64 key.
    public init(text: String, what: String) throws {
        let lines = Minisign.lines(text).filter { !$0.trimmingSpaces.isEmpty }
        let line: String
        if lines.count == 1 {
            line = lines[0]
        } else if lines.count == 2, lines[0].hasPrefix(Minisign.publicKeyComment) {
            line = lines[1]
        } else {
            throw ToolError.usage("\(what) is not a minisign public key (expected a comment line and a base64 line)")
        }
        let raw: [UInt8]
        do { raw = try Minisign.base64(line, count: 42, what: what) } catch {
            if (try? Minisign.base64(line, count: 158, what: what)) != nil {
                throw ToolError.usage("\(what) is a secret key; give the public key (.pub) made with it, and keep the secret key with its officer")
            }
            throw ToolError.usage("\(what) is not a minisign public key")
        }
        guard raw[0] == UInt8(ascii: "E"), raw[1] == UInt8(ascii: "d") else { throw ToolError.usage("\(what) is not an Ed25519 minisign key") }
        keyId = Array(raw[2..<10])
        key = Array(raw[10..<42])
    }
}

/// A minisign secret key file's fields, still encrypted if it was.
public struct SecretKeyFile: Sendable {
    public static let kdfScrypt: [UInt8] = Array("Sc".utf8)
    public static let kdfNone: [UInt8] = [0, 0]

    public var kdf: [UInt8]
    public var salt: [UInt8]
    public var opsLimit: UInt64
    public var memLimit: UInt64
    /// key id (8) + secret key (64) + checksum (32); XORed with the scrypt stream when encrypted.
    public var keynum: [UInt8]
    public var comment: String

    public var isEncrypted: Bool { kdf == SecretKeyFile.kdfScrypt }

    public init(kdf: [UInt8], salt: [UInt8], opsLimit: UInt64, memLimit: UInt64, keynum: [UInt8], comment: String) {
        self.kdf = kdf
        self.salt = salt
        self.opsLimit = opsLimit
        self.memLimit = memLimit
        self.keynum = keynum
        self.comment = comment
    }

    public init(text: String, what: String) throws {
        let lines = Minisign.lines(text)
        // The two files of a pair are easy to swap on a command line: say which one this is.
        if (try? PublicKey(text: text, what: what)) != nil {
            throw ToolError.usage("\(what) is a public key; signing needs the secret key made with it (`bundlectl keygen --secret-key`)")
        }
        guard lines.count >= 2, lines[0].hasPrefix(Minisign.publicKeyComment) else {
            throw ToolError.usage("\(what) is not a minisign secret key (expected a comment line and a base64 line)")
        }
        let raw: [UInt8]
        do { raw = try Minisign.base64(lines[1], count: 158, what: what) } catch { throw ToolError.usage("\(what) is not a minisign secret key") }
        guard raw[0..<2] == [UInt8(ascii: "E"), UInt8(ascii: "d")], raw[4..<6] == [UInt8(ascii: "B"), UInt8(ascii: "2")] else {
            throw ToolError.usage("\(what) is not an Ed25519 minisign secret key")
        }
        kdf = Array(raw[2..<4])
        guard kdf == SecretKeyFile.kdfScrypt || kdf == SecretKeyFile.kdfNone else {
            throw ToolError.usage("\(what) uses an unknown key derivation function")
        }
        salt = Array(raw[6..<38])
        opsLimit = raw[38..<46].reversed().reduce(0) { $0 << 8 | UInt64($1) }
        memLimit = raw[46..<54].reversed().reduce(0) { $0 << 8 | UInt64($1) }
        keynum = Array(raw[54..<158])
        comment = String(lines[0].dropFirst(Minisign.publicKeyComment.count))
    }

    public var fileText: String {
        func le(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        let raw = Array("Ed".utf8) + kdf + Array("B2".utf8) + salt + le(opsLimit) + le(memLimit) + keynum
        return "untrusted comment: \(comment)\n\(Data(raw).base64EncodedString())\n"
    }
}

/// A minisign signature file: the signature of the (BLAKE2b-512 prehashed) message, a trusted
/// comment, and a global signature over both, all by one key.
public struct SignatureFile: Equatable, Sendable {
    /// "ED": prehashed, as minisign writes by default since 0.8.
    public var algorithm: [UInt8]
    public var keyId: [UInt8]
    public var signature: [UInt8]
    public var untrustedComment: String
    public var trustedComment: String
    public var globalSignature: [UInt8]

    public init(keyId: [UInt8], signature: [UInt8], untrustedComment: String, trustedComment: String, globalSignature: [UInt8]) {
        self.algorithm = Array("ED".utf8)
        self.keyId = keyId
        self.signature = signature
        self.untrustedComment = untrustedComment
        self.trustedComment = trustedComment
        self.globalSignature = globalSignature
    }

    public var keyIdText: String { Minisign.keyIdText(keyId) }

    public var fileText: String {
        "untrusted comment: \(untrustedComment)\n"
            + Data(algorithm + keyId + signature).base64EncodedString() + "\n"
            + "trusted comment: \(trustedComment)\n"
            + Data(globalSignature).base64EncodedString() + "\n"
    }

    public init(text: String, what: String) throws {
        let lines = Minisign.lines(text)
        guard lines.count >= 4, lines[0].hasPrefix(Minisign.publicKeyComment), lines[2].hasPrefix(Minisign.trustedCommentPrefix) else {
            throw ToolError.refused("\(what) is not a minisign signature file")
        }
        let raw = try Minisign.base64(lines[1], count: 74, what: what)
        algorithm = Array(raw[0..<2])
        guard algorithm == Array("ED".utf8) else {
            throw ToolError.refused("\(what) is not a prehashed (ED) minisign signature")
        }
        keyId = Array(raw[2..<10])
        signature = Array(raw[10..<74])
        untrustedComment = String(lines[0].dropFirst(Minisign.publicKeyComment.count))
        trustedComment = String(lines[2].dropFirst(Minisign.trustedCommentPrefix.count))
        globalSignature = try Minisign.base64(lines[3], count: 64, what: what)
        guard lines.dropFirst(4).allSatisfy({ $0.isEmpty }) else { throw ToolError.refused("\(what) has data after the signature") }
    }
}
