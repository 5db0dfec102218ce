import ArgumentParser
import Build
import CommandSupport

extension Bundlectl.Trust {
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
