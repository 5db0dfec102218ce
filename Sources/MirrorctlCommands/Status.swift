import Apply
import ArgumentParser
import BundleFormat
import CommandSupport
import Support

extension Mirrorctl {
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the active version, the retained ones and the trusted keys.")

        @OptionGroup var options: MirrorOption
        @Flag(help: "Print one JSON object instead of text.")
        var json = false

        func run() async throws {
            let st = try Mirror(options.mirror).status()
            if json {
                func v(_ i: VersionInfo) -> JSON {
                    .object(["id": .string(i.id), "name": .string(i.name), "version": .string(i.version), "sequence": .int(i.sequence),
                             "manifest": .string(i.manifestDigest), "signer": .string(i.signer), "appliedAt": .string(i.appliedAt),
                             "files": .int(i.files), "size": .int(i.size), "current": .bool(i.isCurrent)])
                }
                let out = JSON.object([
                    "mirror": .string(st.mirrorID),
                    "channel": st.channel.map { .string($0) } ?? .null,
                    "highestSequence": st.highestSequence.map { .int($0) } ?? .null,
                    "current": st.current.map(v) ?? .null,
                    "versions": .array(st.versions.map(v)),
                    "trust": .object(["keys": .array(st.trusted.map { .string($0) }), "threshold": .int(Int64(st.threshold)), "version": .int(st.policyVersion)]),
                ])
                print(out.canonicalString)
                return
            }
            var s = Summary()
            s.add("mirror", "\(options.mirror) (id \(st.mirrorID))")
            if let c = st.current {
                s.add("current", "\(c.name) \(c.version) (sequence \(c.sequence)), version \(c.id)")
                s.add("manifest", c.manifestDigest)
                s.add("signed by", c.signer)
                s.add("applied", c.appliedAt)
                s.add("tree", "\(c.files) files, \(Format.grouped(c.size)) bytes")
            } else {
                s.add("current", "none (no bundle applied yet)")
            }
            for v in st.versions {
                s.add("retained", "\(v.id)  \(v.version)  sequence \(v.sequence)\(v.isCurrent ? "  (current)" : "")")
            }
            s.add("highest seq", st.highestSequence.map { "\($0) (bundles must be newer)" } ?? "none")
            s.add("trusts", st.trusted.joined(separator: ", ") + " (\(st.threshold) of \(st.trusted.count) must sign; policy version \(st.policyVersion))")
            s.print()
        }
    }

    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make the previous retained version current again.")

        @OptionGroup var options: MirrorOption

        func run() async throws {
            let (from, to) = try Mirror(options.mirror).rollback()
            var s = Summary()
            s.add("rolled back", "from \(from.version) (sequence \(from.sequence)) to \(to.version) (sequence \(to.sequence))")
            s.add("current", "\(options.mirror)/current -> versions/\(to.id)/tree")
            s.add("note", "newer bundles stay refused below sequence \(from.sequence + 1); the replay guard is not rolled back")
            s.print()
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-hash the active tree against its signed manifest and name any file that differs.")

        @OptionGroup var options: MirrorOption

        func run() async throws {
            let (info, problems) = try Mirror(options.mirror).verify()
            for p in problems { print("  \(p)") }
            guard let info else {
                if !problems.isEmpty { throw ToolError.refused("the mirror's journal does not verify") }
                print("no current version to verify")
                return
            }
            guard problems.isEmpty else {
                throw ToolError.refused("version \(info.id) differs from its signed manifest in \(problems.count) place(s)")
            }
            var s = Summary()
            s.add("verified", "\(info.name) \(info.version) (sequence \(info.sequence)): \(info.files) files match the signed manifest")
            s.add("manifest", info.manifestDigest)
            s.add("signed by", info.signer)
            s.add("journal", "hash chain intact")
            s.print()
        }
    }

    struct Log: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the mirror's journal of applies, rollbacks and refusals.")

        @OptionGroup var options: MirrorOption
        @Flag(help: "Print one JSON object per line.")
        var json = false

        func run() async throws {
            for e in try Mirror(options.mirror).journalEntries() {
                if json {
                    print(JSON.object(e).canonicalString)
                    continue
                }
                func text(_ v: JSON?) -> String {
                    switch v {
                    case .string(let v)?: return v
                    case .int(let v)?: return String(v)
                    case .bool(let v)?: return String(v)
                    case .array(let a)?: return a.map { text($0) }.joined(separator: ",")
                    case .object(let o)?: return "v\(text(o["version"])) \(text(o["threshold"])) of [\(text(o["keys"]))]"
                    default: return "-"
                    }
                }
                func s(_ k: String) -> String { text(e[k]) }
                switch s("event") {
                case "apply":
                    let signers = e["signers"] == nil ? s("signer") : s("signers")
                    print("\(s("time"))  apply     \(s("name")) \(s("version")) seq \(s("sequence")) signed by \(signers) \(s("manifest"))\(s("expired") == "true" ? " (EXPIRED, allowed)" : "")")
                case "trust": print("\(s("time"))  trust     \(s("from")) -> \(s("to")), approved by \(s("approvedBy")), revoked [\(s("revoked"))] from \(s("bundle"))")
                case "init": print("\(s("time"))  init      mirror \(s("mirror")) trusts [\(s("trust"))], threshold \(s("threshold"))")
                case "rollback": print("\(s("time"))  rollback  \(s("from")) -> \(s("to"))")
                case "refuse": print("\(s("time"))  refuse    \(s("bundle")): \(s("reason"))")
                default: print("\(s("time"))  \(s("event"))")
                }
            }
        }
    }
}
