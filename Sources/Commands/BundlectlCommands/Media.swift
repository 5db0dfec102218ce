import ArgumentParser

extension Bundlectl {
    /// `bundlectl media ...`: bundles on USB sticks and discs, as self-checking volumes.
    struct MediaGroup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "media",
            abstract: "Write a bundle to removable media as signed, self-checking volumes, and check them.",
            subcommands: [MediaWriteCommand.self, MediaVerifyCommand.self])
    }
}
