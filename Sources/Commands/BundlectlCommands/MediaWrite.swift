import ArgumentParser
import Build
import BundleFormat
import CommandSupport
import Media
import MediaWrite
import Support

extension Bundlectl {
    struct MediaWriteCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "write",
            abstract: "Split a bundle into volume files (or ISO images) that fit a medium, each with a signed label.",
            discussion: """
                No file written, label included, is larger than --volume-size. Each volume ends with a 4 KiB label, \
                signed with --key, naming the bundle, its byte range and that range's SHA-256, so it can be checked \
                alone (`bundlectl media verify`) and reassembled in any order (`mirrorctl apply VOLUMES... --mirror DIR`).
                Sizes: \(VolumeSize.named.map { "\($0.name) = \($0.what)" }.joined(separator: "; ")).
                """)

        @Argument(help: "The bundle file.")
        var bundle: String
        @Option(help: "The folder to write the volumes to (a mounted stick, or a staging folder for a disc burner). It must exist unless --create is given.")
        var to: String
        @Flag(help: "Make the --to folder if it is missing (for a staging folder; a stick's mount point always exists).")
        var create = false
        @Option(help: "The largest file to write: bytes, 700M, 4G, 4.7GB, or fat32, cd, dvd, dvd-dl, bd25, bd50.")
        var volumeSize: String
        @Flag(help: "Write each volume as an ISO 9660 image (with a README.txt), ready for a burner or dd.")
        var iso = false
        /// Signs the volume labels.
        @OptionGroup var signing: SigningKeyOptions
        @Flag(help: "Print one JSON object instead of the transfer log.")
        var json = false

        func run() async throws {
            let size = try VolumeSize.parse(volumeSize)
            let key = try signing.load()
            let writer = VolumeWriter(bundle: bundle, destination: to, size: size, iso: iso,
                                      signer: LabelSigner(secretKey: key.secretKey, keyId: key.keyId))
            writer.createDestination = create
            let r = try writer.write()
            if json {
                print(report(r, size: size, signer: key.idText).canonicalString)
            } else {
                summary(r, size: size, signer: key.idText).print()
            }
        }

        /// The transfer log: what was written where, with the figures to check it by.
        private func summary(_ r: MediaWriteReport, size: VolumeSize, signer: String) -> Summary {
            let b = r.bundle
            var s = Summary()
            s.add("bundle", "\(b.name) \(r.manifest.version) (sequence \(b.sequence))  \(bundle)")
            s.add("size", "\(Format.grouped(b.size)) bytes")
            s.add("manifest", "sha256:\(b.manifest.hex)")
            s.add("volumes", "\(r.volumes.count) \(iso ? "ISO image(s)" : "volume file(s)"), each at most \(Format.grouped(r.fileLimit)) bytes")
            s.add("  size", "--volume-size \(size.description)" + (size.fileLimit(iso: iso) < size.bytes ? ", less 4 MiB for the file system a disc burner adds" : ""))
            s.add("set", r.set.hex)
            for v in r.volumes {
                if let image = v.imageSHA256, let inner = v.volumeFile {
                    s.add("volume \(v.label.number)/\(v.label.count)", "\(v.path)  \(Format.grouped(v.size)) bytes  sha256:\(image.hex)")
                    s.add("  holds", "\(inner.name)  \(Format.grouped(inner.size)) bytes  payload \(v.label.payload.hex)")
                } else {
                    s.add("volume \(v.label.number)/\(v.label.count)", "\(v.path)  \(Format.grouped(v.size)) bytes  payload \(v.label.payload.hex)")
                }
            }
            s.add("payload", "SHA-256 of its 1 MiB pieces' SHA-256s: head -c -4096 VOLUME | split -b 1M --filter=sha256sum | cut -c1-64 | sha256sum")
            s.add("labels", "signed by key \(signer)")
            let percent = Double(r.overhead) / Double(b.size) * 100
            s.add("overhead", "\(Format.grouped(r.overhead)) bytes (\(percentText(percent)) of the bundle)\(iso ? ": labels and ISO 9660 structure" : ": labels")")
            s.add("time", "\(Format.duration(r.seconds)), \(String(format1: Double(b.size) / 1e6 / max(r.seconds, 0.001))) MB/s")
            s.add("check", "bundlectl media verify \(to) --trust PUBLIC_KEY")
            return s
        }

        /// The same as one JSON object (`--json`).
        private func report(_ r: MediaWriteReport, size: VolumeSize, signer: String) -> JSON {
            let volumes: [JSON] = r.volumes.map { v in
                var o: [String: JSON] = ["number": .int(Int64(v.label.number)), "path": .string(v.path), "size": .int(v.size),
                                         "offset": .int(v.label.offset), "length": .int(v.label.length), "payload": .string(v.label.payload.hex)]
                if let image = v.imageSHA256, let inner = v.volumeFile {
                    o["imageSha256"] = .string(image.hex)
                    o["volumeFile"] = .object(["name": .string(inner.name), "size": .int(inner.size)])
                }
                return .object(o)
            }
            guard case .object(var bundle) = r.bundle.reportJSON else { return .null }
            bundle["path"] = .string(self.bundle)
            bundle["version"] = .string(r.manifest.version)
            return .object([
                "bundle": .object(bundle), "set": .string(r.set.hex), "count": .int(Int64(r.volumes.count)),
                "iso": .bool(iso), "volumeSize": .int(size.bytes), "fileLimit": .int(r.fileLimit), "volumes": .array(volumes),
                "labelsSignedBy": .string(signer), "overhead": .int(r.overhead), "milliseconds": Fields.milliseconds(r.seconds),
            ])
        }
    }
}

/// 0.0012% rather than 0.0%: overheads are small.
func percentText(_ p: Double) -> String {
    if p >= 0.1 { return String(format1: p) + "%" }
    let scaled = Int64((p * 10000).rounded())
    let frac = String(scaled % 10000)
    return "0." + String(repeating: "0", count: 4 - frac.count) + frac + "%"
}
