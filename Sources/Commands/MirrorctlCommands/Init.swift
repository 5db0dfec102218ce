import Apply
import ArgumentParser
import CommandSupport
import Support

extension Mirrorctl {
    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a mirror and pin the keys it trusts.")

        @OptionGroup var options: MirrorOption
        @Option(name: .customLong("trust"), help: "A public key whose bundles this mirror accepts (repeatable).")
        var trust: [String] = []
        @Option(help: "How many of the trusted keys must sign.")
        var threshold: Int = 1
        @Option(name: .customLong("media-key"), help: "A public key whose volume labels are accepted (the media officer's, `bundlectl media write --key`; repeatable). Labels only let volumes be copied in; bundles are judged by their own signatures.")
        var mediaKey: [String] = []
        @OptionGroup var settings: SettingsOptions

        func validate() throws {
            if trust.isEmpty { throw ValidationError("give at least one --trust public key") }
        }

        func run() async throws {
            let keys = try loadPublicKeys(trust)
            let mediaKeys = try loadPublicKeys(mediaKey)
            let mirror = try OfflineMirror.initialize(at: options.mirror, keys: keys, threshold: threshold, mediaKeys: mediaKeys,
                                                      settings: settings.change())
            var s = Summary()
            s.add("mirror", "\(options.mirror) (id \(mirror.config.id))")
            s.add("trusts", keys.map(\.idText).joined(separator: ", ") + " (threshold \(threshold))")
            if !mediaKeys.isEmpty { s.add("media keys", mediaKeys.map(\.idText).joined(separator: ", ") + " (volume labels only)") }
            if mirror.config.maxAge != nil || mirror.config.hooks.postApply != nil {
                for (label, value) in Config.summary(mirror.config).rows { s.add(label, value) }
            }
            s.print()
        }
    }
}
