import ArgumentParser
import Build
import CommandSupport
import Support

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
}
