import ArgumentParser

extension Bundlectl {
    struct Trust: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make, sign and check a new trust policy, to rotate keys on mirrors without a connection.",
            discussion: "A mirror adopts a policy carried by a bundle (`build --trust-policy`) only when it is signed by the threshold of the mirror's current policy and by the threshold of its own keys, and is newer. Keys it leaves out are revoked.",
            subcommands: [Create.self, SignPolicy.self, VerifyPolicy.self])
    }
}
