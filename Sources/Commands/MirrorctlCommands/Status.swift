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
            let st = try OfflineMirror(options.mirror).status()
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
            let (from, to) = try OfflineMirror(options.mirror).rollback()
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
            let mirror = try OfflineMirror(options.mirror)
            let (info, problems) = try mirror.verify()
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
            let head = try mirror.journalHead()
            s.add("journal", "hash chain intact: \(head.count) entries, last sha256:\(head.sha256)")
            s.print()
        }
    }

    struct Log: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the mirror's journal of applies, rollbacks, refusals and recoveries.",
            discussion: "Entries are shown as far as the hash chain holds; a broken chain ends the list with an error naming the line.")

        @OptionGroup var options: MirrorOption
        @Flag(help: "Print one JSON object per line.")
        var json = false

        func run() async throws {
            let (entries, problem) = try OfflineMirror(options.mirror).journalEntries()
            for e in entries {
                if json {
                    print(JSON.object(e).canonicalString)
                    continue
                }
                // Fields come from bundles (names, reasons quoting entry names): one line each, always.
                func text(_ v: JSON?) -> String {
                    switch v {
                    case .string(let v)?: return ToolError.shown(v, limit: .max)
                    case .int(let v)?: return String(v)
                    case .bool(let v)?: return String(v)
                    case .array(let a)?: return a.map { text($0) }.joined(separator: ",")
                    case .object(let o)?: return "v\(text(o["version"])) \(text(o["threshold"])) of [\(text(o["keys"]))]"
                    default: return "-"
                    }
                }
                func s(_ k: String) -> String { text(e[k]) }
                let who = e["signer"] == nil ? "" : " (\(s("manifest")) signed by \(e["signers"] == nil ? s("signer") : s("signers")))"
                switch s("event") {
                case "init": print("\(s("time"))  init      mirror \(s("mirror")) trusts [\(s("trust"))], threshold \(s("threshold"))")
                case "apply":
                    let expired = e["expiredAt"].map { $0 == .null ? "" : " (expired at \(s("expiredAt")), applied with --allow-expired)" } ?? ""
                    let signers = e["signers"] == nil ? s("signer") : s("signers")
                    print("\(s("time"))  apply     \(s("name")) \(s("version")) seq \(s("sequence")) as \(s("versionId")) signed by \(signers) \(s("manifest"))\(expired)")
                case "trust": print("\(s("time"))  trust     \(s("from")) -> \(s("to")), approved by \(s("approvedBy")), revoked [\(s("revoked"))] from \(s("bundle"))")
                case "rollback": print("\(s("time"))  rollback  \(s("from")) -> \(s("to"))\(who)")
                case "refuse" where e["command"] != nil: print("\(s("time"))  refuse    \(s("command")): \(s("reason"))")
                case "refuse": print("\(s("time"))  refuse    \(s("bundle"))\(who): \(s("reason"))")
                case "fail": print("\(s("time"))  fail      \(e["command"] == nil ? s("bundle") : s("command"))\(who): \(s("reason"))")
                case "recover":
                    let moved = e["versionId"] == nil ? "" : "current is \(s("versionId"))\(who), not journaled before an interruption; "
                    let removed: String
                    if case .array(let names)? = e["removed"], !names.isEmpty {
                        removed = "removed " + names.map { if case .string(let n) = $0 { return ToolError.shown(n) } else { return "?" } }.joined(separator: ", ")
                    } else {
                        removed = "nothing to remove"
                    }
                    print("\(s("time"))  recover   \(moved)\(removed)")
                default: print("\(s("time"))  \(s("event"))")
                }
            }
            if let problem { throw ToolError.refused(problem) }
        }
    }
}
