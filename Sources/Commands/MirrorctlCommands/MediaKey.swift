import Apply
import ArgumentParser
import BundleFormat
import CommandSupport
import Support
import SystemIO

extension Mirrorctl {
    /// `mirrorctl media-key add|remove`: the keys whose volume labels the mirror accepts.
    struct MediaKeyGroup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "media-key",
            abstract: "Add or remove a media key: a key whose volume labels the mirror accepts (journaled).",
            discussion: """
                `bundlectl media write --key` signs the volume labels, usually with the media officer's key. A label \
                signed by a media key or a bundle signer lets a volume be copied in; the bundle itself must still meet \
                the trust policy's threshold, where a media key never counts. `mirrorctl status` lists the media keys.
                """,
            subcommands: [Add.self, Remove.self])

        struct Add: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Accept the volume labels signed by a public key.")

            @Argument(help: "The media officer's public key file (KEY.pub).")
            var key: String
            @OptionGroup var options: MirrorOption

            func run() async throws {
                let key = try loadPublicKeys([key])[0]
                let change = try OfflineMirror(options.mirror).addMediaKey(key)
                MediaKeyGroup.report(change, "added", options.mirror)
            }
        }

        struct Remove: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Stop accepting the volume labels of a media key.")

            @Argument(help: "The media key's id, as `mirrorctl status` shows it (or its .pub file).")
            var key: String
            @OptionGroup var options: MirrorOption

            func run() async throws {
                // A key file names its key; anything else is the id.
                let id = try FS.info(key)?.kind == .regular ? try loadPublicKeys([key])[0].idText : key
                let change = try OfflineMirror(options.mirror).removeMediaKey(id: id)
                MediaKeyGroup.report(change, "removed", options.mirror)
            }
        }

        static func report(_ change: MediaKeyChange, _ done: String, _ mirror: String) {
            var s = Summary()
            s.add(done, "media key \(change.key.idText)" + (change.alsoBundleSigner ? " (also a bundle signer of the trust policy)" : ""))
            s.add("media keys", change.mediaKeys.isEmpty ? "none" : change.mediaKeys.map(\.idText).joined(separator: ", "))
            s.add("mirror", mirror)
            s.print()
        }
    }
}
