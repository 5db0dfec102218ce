import Apply
import ArgumentParser
import BundleFormat
import CommandSupport
import Support

extension Mirrorctl {
    struct Log: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the mirror's journal of applies, rollbacks, refusals and recoveries.",
            discussion: "Entries are shown as far as the hash chain holds; a broken chain ends the list with an error naming the line.")

        @OptionGroup var options: MirrorOption
        @Flag(help: "Print one JSON object per line.")
        var json = false

        func run() async throws {
            let problem = try OfflineMirror(options.mirror).journalEntries { e in
                if json { printJSON(.object(e)) } else { print(Log.line(e)) }
            }
            if let problem { throw ToolError.refused(problem) }
        }

        /// Fields come from bundles (names, reasons quoting entry names): one line each, always.
        private static func text(_ v: JSON?) -> String {
            switch v {
            case .string(let v)?: return ToolError.shown(v, limit: .max)
            case .int(let v)?: return String(v)
            case .bool(let v)?: return String(v)
            case .array(let a)?: return a.map { text($0) }.joined(separator: ",")
            case .object(let o)?: return "v\(text(o["version"])) \(text(o["threshold"])) of [\(text(o["keys"]))]"
            default: return "-"
            }
        }

        /// One journal entry as a line of text.
        static func line(_ e: [String: JSON]) -> String {
            func s(_ k: String) -> String { text(e[k]) }
            let who = e["signer"] == nil ? "" : " (\(s("manifest")) signed by \(e["signers"] == nil ? s("signer") : s("signers")))"
            switch s("event") {
            case "init": return "\(s("time"))  init      mirror \(s("mirror")) trusts [\(s("trust"))], threshold \(s("threshold"))\(e["mediaKeys"] == nil ? "" : ", media keys [\(s("mediaKeys"))]")"
            case "media-key": return "\(s("time"))  media-key \(s("action")) \(s("key")): media keys now [\(s("mediaKeys"))]"
            case "apply":
                let expired = e["expiredAt"].map { $0 == .null ? "" : " (expired at \(s("expiredAt")), applied with --allow-expired)" } ?? ""
                let signers = e["signers"] == nil ? s("signer") : s("signers")
                return "\(s("time"))  apply     \(s("name")) \(s("version")) seq \(s("sequence")) as \(s("versionId")) signed by \(signers) \(s("manifest"))\(expired)"
            case "trust": return "\(s("time"))  trust     \(s("from")) -> \(s("to")), approved by \(s("approvedBy")), revoked [\(s("revoked"))] from \(s("bundle"))"
            case "rollback", "switch":
                let allowed = e["allowedRevoked"].map { " with --allow-revoked (revoked [\(text($0))])" } ?? ""
                return "\(s("time"))  \(s("event") == "switch" ? "switch   " : "rollback ") \(s("from")) -> \(s("to"))\(who)\(allowed)"
            case "repair":
                return "\(s("time"))  repair    \(s("versionId")) from \(s("bundle")) (\(s("manifest"))): was [\(s("problems"))]"
            case "refuse" where e["command"] != nil: return "\(s("time"))  refuse    \(s("command")): \(s("reason"))"
            case "refuse": return "\(s("time"))  refuse    \(s("bundle"))\(who): \(s("reason"))"
            case "fail": return "\(s("time"))  fail      \(e["command"] == nil ? s("bundle") : s("command"))\(who): \(s("reason"))"
            case "recover":
                let moved = e["versionId"] == nil ? "" : "current is \(s("versionId"))\(who), not journaled before an interruption; "
                let note = e["versionId"] == nil && e["note"] != nil ? "; \(s("note"))" : ""
                return "\(s("time"))  recover   \(moved)\(removed(e["removed"]))\(note)"
            default: return "\(s("time"))  \(s("event"))"
            }
        }

        private static func removed(_ v: JSON?) -> String {
            guard case .array(let names)? = v, !names.isEmpty else { return "nothing to remove" }
            return "removed " + names.map { if case .string(let n) = $0 { return ToolError.shown(n) } else { return "?" } }.joined(separator: ", ")
        }
    }
}
