import BundleFormat
import Registry
import Support
import Yams
import SystemIO

/// A bundle spec, as the operator writes it in YAML. See manifests/example.yaml.
public struct BundleSpec: Sendable {
    public struct Source: Sendable {
        public enum Origin: Sendable, Equatable {
            /// A folder or one file, absolute (resolved against the spec's folder).
            case path(String)
            case url(String)
            /// Image tarballs (`docker save` or OCI layout archives), absolute.
            case archives([String])
        }
        public var name: String
        public var kind: SourceKind
        public var origin: Origin
        public var sha256: SHA256Digest?
        /// Images and artifacts to pull, as written (kind images; checked when the spec is read).
        public var refs: [String] = []
        /// `platforms:`: the platforms an index is reduced to; nil keeps every one.
        public var platforms: [String]? = nil
        /// As written in the spec, for the manifest and messages.
        public var originText: String
        public var line: Int
        /// The file or download is a tar (plain, gzip, zstd) or zip whose files are the source's.
        public var unpack = false
    }

    public var name: String
    public var version: String
    public var sequence: Int64?
    public var expires: Int64?
    /// The spec line `expires` is on, for a message about it found later (0: not given).
    public var expiresLine = 0
    public var sources: [Source]
    public var file: String

    static let topFields = ["name", "version", "sequence", "expires", "sources"]
    static let sourceFields = ["name", "kind", "path", "url", "sha256", "archives", "refs", "platforms", "unpack"]

    /// Reads and checks a spec file. Every mistake is reported with its line.
    public static func load(_ file: String) throws -> BundleSpec {
        guard let info = try FS.info(file) else { throw ToolError.usage("spec '\(file)' does not exist") }
        guard info.kind == .regular else { throw ToolError.usage("spec '\(file)' is not a regular file") }
        let bytes = try FS.readFile(file, limit: 4 << 20)
        guard let text = String(validating: bytes, as: UTF8.self) else { throw ToolError.usage("spec '\(file)' is not UTF-8 text") }
        let base = FS.parent(of: FS.absolute(file))
        return try parse(text, file: file, baseDirectory: base)
    }

    public static func parse(_ text: String, file: String, baseDirectory: String) throws -> BundleSpec {
        try SpecParser(file: file, baseDirectory: baseDirectory).parse(text)
    }
}

/// Reads a spec's YAML node by node, so every mistake names its line.
private struct SpecParser {
    typealias Source = BundleSpec.Source
    let file: String
    let baseDirectory: String

    func fail(_ node: Node?, _ message: String) -> ToolError {
        ToolError.usage("\(file)\(node?.mark.map { ":\($0.line)" } ?? ""): \(message)")
    }

    func parse(_ text: String) throws -> BundleSpec {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw YAMLProblem(error, text: text).failure(file: file)
        }
        guard let root, let top = root.mapping else { throw fail(root, "the spec must be a mapping with name, version, sequence and sources") }
        let fields = try mappingFields(top, allowed: BundleSpec.topFields, context: "the spec")

        let (name, nameNode) = try required("name", in: fields, context: "the spec", at: root)
        guard LogicalPath.isPlainName(name) else { throw fail(nameNode, "name \"\(name)\" may use only letters, digits, '.', '-' and '_'") }
        let (version, _) = try required("version", in: fields, context: "the spec", at: root)
        var sequence: Int64?
        if let (s, n) = try scalar("sequence", in: fields, context: "the spec") {
            guard let v = Int64(s), v >= 0 else { throw fail(n, "sequence must be a whole number, 0 or more (found \"\(s)\")") }
            guard v <= Manifest.maxSequence else { throw fail(n, "sequence must be at most \(Manifest.maxSequence) (found \(s))") }
            sequence = v
        }
        var expires: Int64?
        if let (s, n) = try scalar("expires", in: fields, context: "the spec") {
            guard let t = Timestamp.parse(s) else { throw fail(n, "expires must be a UTC time like 2026-09-01T00:00:00Z (found \"\(s)\")") }
            expires = t
        }
        let sources = try self.sources(fields["sources"], root: root)
        var spec = BundleSpec(name: name, version: version, sequence: sequence, expires: expires, sources: sources, file: file)
        if let (_, n) = try scalar("expires", in: fields, context: "the spec") { spec.expiresLine = (n.mark?.line ?? 0) }
        return spec
    }

    func sources(_ node: Node?, root: Node) throws -> [Source] {
        guard let sourcesNode = node else { throw fail(root, "the spec has no \"sources\"") }
        guard let list = sourcesNode.sequence else { throw fail(sourcesNode, "sources must be a list") }
        guard !list.isEmpty else { throw fail(sourcesNode, "sources is empty: a bundle needs at least one source") }
        var sources: [Source] = []
        var names: Set<String> = []
        for item in list { sources.append(try source(item, names: &names)) }
        return sources
    }

    /// One source: its name and kind, then what the kind takes.
    func source(_ item: Node, names: inout Set<String>) throws -> Source {
        guard let m = item.mapping else { throw fail(item, "each source must be a mapping with name, kind and path or url") }
        let label = (m["name"]?.string).map { "source '\($0)'" } ?? "a source"
        let f = try mappingFields(m, allowed: BundleSpec.sourceFields, context: label)
        let (sname, snode) = try required("name", in: f, context: label, at: item)
        guard LogicalPath.isPlainName(sname) else { throw fail(snode, "source name \"\(sname)\" may use only letters, digits, '.', '-' and '_'") }
        guard names.insert(sname).inserted else { throw fail(snode, "source name \"\(sname)\" is used twice") }
        let (kindText, knode) = try required("kind", in: f, context: label, at: item)
        guard let kind = SourceKind(rawValue: kindText) else {
            throw fail(knode, "source '\(sname)' has kind \"\(kindText)\"; expected advisories, policies or images")
        }
        if kind == .images { return try imageSource(item, f, name: sname) }
        for key in ["archives", "refs", "platforms"] {
            if let a = f[key] { throw fail(a, "source '\(sname)': \"\(key)\" is for kind images") }
        }
        return try fileSource(item, f, name: sname, kind: kind, label: label)
    }

    /// A source of kind images: image tarballs, references to pull, or both.
    func imageSource(_ item: Node, _ f: [String: Node], name sname: String) throws -> Source {
        if let u = f["unpack"] { throw fail(u, "source '\(sname)': \"unpack\" is for a file or URL source of kind advisories or policies; image archives are read as they are") }
        guard f["archives"] != nil || f["refs"] != nil else {
            throw fail(item, "source '\(sname)' of kind images needs \"archives\" (a list of image tarballs) or \"refs\" (a list of image references)")
        }
        guard f["path"] == nil, f["url"] == nil, f["sha256"] == nil else {
            throw fail(item, "source '\(sname)' of kind images takes \"archives\", \"refs\" and \"platforms\" only, not path, url or sha256")
        }
        let archives = try list(f["archives"], "archives", source: sname, of: "files", each: "archive", is: "a file path")
        let refs = try list(f["refs"], "refs", source: sname, of: "image references", each: "ref", is: "an image reference")
        for (text, node) in refs {
            do { _ = try ImageReference.parse(text) } catch { throw fail(node, "source '\(sname)': image reference \"\(text)\" \(error.reason)") }
        }
        var platforms: [String]?
        if let p = f["platforms"] {
            guard !refs.isEmpty else { throw fail(p, "source '\(sname)': \"platforms\" chooses among what \"refs\" pulls; there are no refs") }
            platforms = try list(p, "platforms", source: sname, of: "platforms", each: "platform", is: "a platform like linux/amd64").map { text, node in
                guard SpecParser.isPlatform(text) else { throw fail(node, "source '\(sname)': platform \"\(text)\" is not OS/ARCH or OS/ARCH/VARIANT (linux/amd64, linux/arm/v7)") }
                return text
            }
        }
        var origin = Source(name: sname, kind: .images, origin: .archives(archives.map { absolute($0.0) }), sha256: nil,
                            originText: (refs + archives).map(\.0).joined(separator: ", "), line: item.mark?.line ?? 0)
        origin.refs = refs.map(\.0)
        origin.platforms = platforms
        return origin
    }

    /// A non-empty list of plain values, each with its node for messages; none when the key is absent.
    func list(_ node: Node?, _ key: String, source: String, of plural: String, each item: String, is what: String) throws -> [(String, Node)] {
        guard let node else { return [] }
        guard let items = node.sequence, !items.isEmpty else { throw fail(node, "source '\(source)': \(key) must be a non-empty list of \(plural)") }
        return try items.map { a in
            guard let v = a.scalar?.string, !v.isEmpty else { throw fail(a, "source '\(source)': each \(item) must be \(what)") }
            if let problem = OutsideText.problem(v) { throw fail(a, "source '\(source)': \(key) \(problem)") }
            return (v, a)
        }
    }

    /// "os/arch" or "os/arch/variant", lower-case letters, digits, '_' and '.'.
    static func isPlatform(_ text: String) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        return (2...3).contains(parts.count) && parts.allSatisfy { p in
            !p.isEmpty && p.count <= 64 && p.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 || $0 == 46 }
        }
    }

    /// A source read from a path or a URL, optionally pinned by its SHA-256.
    func fileSource(_ item: Node, _ f: [String: Node], name sname: String, kind: SourceKind, label: String) throws -> Source {
        let path = try scalar("path", in: f, context: label)
        let url = try scalar("url", in: f, context: label)
        let origin: Source.Origin
        let originText: String
        switch (path, url) {
        case let ((p, _)?, nil):
            origin = .path(absolute(p))
            originText = p
        case let (nil, (u, unode)?):
            guard u.hasPrefix("https://") || u.hasPrefix("http://") else {
                throw fail(unode, "source '\(sname)': url must start with https:// or http://")
            }
            origin = .url(u)
            originText = u
        case (nil, nil): throw fail(item, "source '\(sname)' needs a path or a url")
        default: throw fail(item, "source '\(sname)' has both a path and a url; give one")
        }
        var pin: SHA256Digest?
        if let (h, hnode) = try scalar("sha256", in: f, context: label) {
            guard let d = SHA256Digest(hex: h.lowercased()) else { throw fail(hnode, "source '\(sname)': sha256 must be 64 hex digits") }
            pin = d
        }
        var unpack = false
        if let (u, unode) = try scalar("unpack", in: f, context: label) {
            guard u == "true" || u == "false" else { throw fail(unode, "source '\(sname)': unpack must be true or false (found \"\(u)\")") }
            unpack = u == "true"
        }
        return Source(name: sname, kind: kind, origin: origin, sha256: pin, originText: originText, line: item.mark?.line ?? 0, unpack: unpack)
    }

    /// A path as written, resolved against the spec's folder.
    func absolute(_ p: String) -> String { p.hasPrefix("/") ? p : baseDirectory + "/" + p }

    func scalar(_ key: String, in f: [String: Node], context: String) throws -> (String, Node)? {
        guard let n = f[key] else { return nil }
        guard let s = n.scalar else { throw fail(n, "\"\(key)\" in \(context) must be a single value") }
        // What the spec says ends up in a signed manifest that people read on the high side.
        if let problem = OutsideText.problem(s.string) { throw fail(n, "\"\(key)\" in \(context) \(problem)") }
        return (s.string, n)
    }

    func required(_ key: String, in f: [String: Node], context: String, at node: Node?) throws -> (String, Node) {
        guard let v = try scalar(key, in: f, context: context) else { throw fail(node, "\(context) has no \"\(key)\"") }
        return v
    }

    func mappingFields(_ m: Node.Mapping, allowed: [String], context: String) throws -> [String: Node] {
        var out: [String: Node] = [:]
        for (k, v) in m {
            guard let key = k.string else { throw fail(k, "\(context) has a key that is not text") }
            guard allowed.contains(key) else {
                throw fail(k, "\(context) has an unknown field \"\(key)\" (expected \(allowed.joined(separator: ", ")))")
            }
            guard out.updateValue(v, forKey: key) == nil else { throw fail(k, "\(context) has \"\(key)\" twice") }
        }
        return out
    }
}

/// A libyaml error as one position and one sentence, "spec.yaml:4:1: a tab is not allowed for
/// indentation in YAML; use spaces", where Yams' own text gives its kind, two positions and the
/// offending line with a caret under it.
struct YAMLProblem {
    /// 1-based, as libyaml counts (columns in Unicode scalars); nil when it names none.
    var line: Int?
    var column: Int?
    var sentence: String

    init(_ error: Error, text: String) {
        switch error as? YamlError {
        case .scanner(let context, let problem, let mark, _)?, .parser(let context, let problem, let mark, _)?,
             .composer(let context, let problem, let mark, _)?:
            (line, column) = (mark.line, mark.column)
            if problem.contains("tab character") || YAMLProblem.scalar(in: text, at: mark) == "\t" {
                sentence = "a tab is not allowed for indentation in YAML; use spaces"
            } else if problem.hasPrefix("Maximum nesting level") {
                sentence = "not valid YAML: nested too deeply"
            } else {
                // libyaml's context reads "while scanning a quoted scalar": where that began, by line only.
                let began = context.map { $0.mark.line == mark.line ? " \($0.text)" : " \($0.text) that starts on line \($0.mark.line)" } ?? ""
                sentence = "not valid YAML: " + problem + began
            }
        case .reader(let problem, let offset?, _, _)?:
            let before = text.prefix(offset)
            line = before.count { $0.isNewline } + 1
            column = before.reversed().prefix { !$0.isNewline }.reduce(0) { $0 + $1.unicodeScalars.count } + 1
            sentence = "not valid YAML: " + problem
        default:
            sentence = "not valid YAML: " + String(describing: error).replacingNewlines
        }
    }

    /// The character libyaml points at, if the mark is inside the text.
    private static func scalar(in text: String, at mark: Mark) -> Unicode.Scalar? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard mark.line >= 1, mark.line <= lines.count, mark.column >= 1 else { return nil }
        return lines[mark.line - 1].unicodeScalars.dropFirst(mark.column - 1).first
    }

    func failure(file: String) -> ToolError {
        let position = line.map { ":\($0)" + (column.map { ":\($0)" } ?? "") } ?? ""
        // Cut: a message made of libyaml's words and at most one line's position stays short.
        return ToolError.usage("\(file)\(position): \(ToolError.shown(sentence, limit: 300))")
    }
}

extension String {
    var replacingNewlines: String {
        split(whereSeparator: \.isNewline).map { String($0).trimmingSpaces }.joined(separator: " ")
    }
}
