import ArgumentParser
import BundleFormat
import CommandSupport
import Pack
import Support
import SystemIO
#if canImport(Glibc)
import Glibc
#endif

/// SOURCE_DATE_EPOCH when set (reproducible runs), else now.
func signingTime() throws -> Int64 {
    guard let s = getenv("SOURCE_DATE_EPOCH") else { return Timestamp.now() }
    guard let v = Int64(String(cString: s)), v >= 0 else { throw ToolError.usage("SOURCE_DATE_EPOCH must be a whole number of seconds") }
    return v
}

/// `--key` and `--password-file`, for every command that signs.
struct SigningKeyOptions: ParsableArguments {
    @Option(help: "Secret key that signs (minisign format).")
    var key: String
    @Option(help: "File whose first line is the secret key's password.")
    var passwordFile: String?

    func load() throws -> SigningKey { try KeyFiles.load(key, passwordFile: passwordFile) }
}

extension Bundlectl {
    struct Sign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add one more signature to a bundle, without rebuilding it (co-signing).",
            discussion: "Every part of the bundle is checked against its signed digest while it is copied; the bundle is replaced only when all is well. Check what you sign first: `bundlectl verify --trust OPERATOR.pub`.")

        @Argument(help: "The bundle file; it is replaced by the co-signed copy.")
        var bundle: String
        @OptionGroup var signing: SigningKeyOptions

        func run() async throws {
            let key = try signing.load()
            let r = try Cosigner.sign(bundle, key: key, timestamp: try signingTime())
            var s = Summary()
            s.add("signed", "\(bundle): \(r.manifest.name) \(r.manifest.version) (sequence \(r.manifest.sequence))")
            s.add("manifest", "sha256:\(r.manifestDigest.hex)")
            s.add("added", "MANIFEST.sig.\(key.idText) by key \(key.idText)")
            s.add("signers", r.signers.joined(separator: ", ") + " (\(r.signers.count) in all)")
            s.add("file", "\(Format.grouped(r.bundleSize)) bytes, sha256 \(r.bundleDigest.hex)")
            s.print()
        }
    }

    struct Trust: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make and sign a new trust policy, to rotate keys on mirrors without a connection.",
            discussion: "A mirror adopts a policy carried by a bundle (`build --trust-policy`) only when it is signed by the threshold of the mirror's current policy and by the threshold of its own keys, and is newer. Keys it leaves out are revoked.",
            subcommands: [Create.self, SignPolicy.self])

        struct Create: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Write a new trust policy file (unsigned).")
            @Option(name: .customLong("trust"), help: "A public key of the new policy (repeatable).")
            var trust: [String] = []
            @Option(help: "How many of the keys must sign a bundle.")
            var threshold: Int
            @Option(help: "The policy's version: higher than the mirror's current one (init pins 1).")
            var version: Int64
            @Option(help: "Where to write the policy.")
            var output: String

            func run() async throws {
                let p = try TrustFiles.create(keys: try loadPublicKeys(trust), threshold: threshold, version: version, created: try signingTime(), output: output)
                var s = Summary()
                s.add("policy", "\(output): \(p.summary)")
                s.add("next", "each officer of the current policy and of the new one runs `bundlectl trust sign \(output) --key KEY`")
                s.print()
            }
        }

        struct SignPolicy: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "sign", abstract: "Sign a trust policy file; writes FILE.sig.<KEYID> beside it.")
            @Argument(help: "The policy file.")
            var policy: String
            @OptionGroup var signing: SigningKeyOptions

            func run() async throws {
                let key = try signing.load()
                let (p, out) = try TrustFiles.sign(policy, key: key, timestamp: try signingTime())
                var s = Summary()
                s.add("signed", "\(policy): \(p.summary)")
                s.add("signature", "\(out) (check with: minisign -Vm \(policy) -x \(out) -p KEY.pub)")
                s.print()
            }
        }
    }
}
