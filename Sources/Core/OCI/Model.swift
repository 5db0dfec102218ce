import Foundation
import Support

/// The OCI image-spec and Docker media types this toolchain reads and writes.
public enum MediaType {
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"
    public static let ociLayer = "application/vnd.oci.image.layer.v1.tar"
    public static let dockerList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"

    public static func isIndex(_ t: String?) -> Bool { t == ociIndex || t == dockerList }
    public static func isManifest(_ t: String?) -> Bool { t == ociManifest || t == dockerManifest }
}

/// The annotation skopeo, podman and crane use to name an image in a layout's index.json.
public let refNameAnnotation = "org.opencontainers.image.ref.name"

/// A content descriptor: what a manifest or an index points to.
public struct Descriptor: Codable, Equatable, Sendable {
    public struct Platform: Codable, Equatable, Sendable {
        public var architecture: String
        public var os: String
        public var variant: String?
        public var text: String { "\(os)/\(architecture)" + (variant.map { "/\($0)" } ?? "") }
    }
    public var mediaType: String?
    public var digest: String
    public var size: Int64
    public var annotations: [String: String]?
    public var platform: Platform?

    public init(mediaType: String?, digest: String, size: Int64, annotations: [String: String]? = nil, platform: Platform? = nil) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.annotations = annotations
        self.platform = platform
    }

    /// The SHA-256 this descriptor names; other algorithms are refused with what names them.
    public func sha256(in what: String) throws -> SHA256Digest {
        guard digest.hasPrefix("sha256:"), let d = SHA256Digest(hex: String(digest.dropFirst(7))) else {
            throw ToolError.refused("\(what) names blob \"\(digest)\"; only sha256 digests in lower-case hex are supported")
        }
        guard size >= 0 else { throw ToolError.refused("\(what) gives blob \(digest) a negative size") }
        return d
    }
}

/// An image index (OCI) or manifest list (Docker); both have this shape.
public struct ImageIndex: Codable, Sendable {
    public var schemaVersion: Int?
    public var mediaType: String?
    public var manifests: [Descriptor]
}

/// An image manifest (OCI or Docker schema 2).
public struct ImageManifest: Codable, Sendable {
    public var schemaVersion: Int?
    public var mediaType: String?
    public var config: Descriptor
    public var layers: [Descriptor]
}

/// The parts of an image configuration this toolchain looks at.
public struct ImageConfig: Codable, Sendable {
    public struct RootFS: Codable, Sendable {
        public var type: String?
        public var diff_ids: [String]?
    }
    public var architecture: String?
    public var os: String?
    public var variant: String?
    public var rootfs: RootFS?
    public var platformText: String? {
        guard let architecture, let os else { return nil }
        return Descriptor.Platform(architecture: architecture, os: os, variant: variant).text
    }
}

/// One entry of a `docker save` archive's manifest.json.
public struct DockerArchiveEntry: Codable, Sendable {
    public var Config: String
    public var RepoTags: [String]?
    public var Layers: [String]
}

public enum OCIJSON {
    /// Decodes a document from an image archive, naming it in the error. These documents are
    /// someone else's JSON (floats, unknown fields, any key order), so Foundation's decoder reads
    /// them; the blobs themselves are kept byte for byte, never re-encoded.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8], what: String) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch let DecodingError.keyNotFound(key, _) {
            throw ToolError.refused("\(what) is not a valid \(T.self): it has no \"\(key.stringValue)\"")
        } catch let DecodingError.typeMismatch(_, ctx) {
            throw ToolError.refused("\(what) is not a valid \(T.self): wrong type at \(ctx.codingPath.map(\.stringValue).joined(separator: "."))")
        } catch {
            throw ToolError.refused("\(what) is not valid JSON")
        }
    }
}

/// Image references as people write them.
public enum Reference {
    /// Docker's "familiar" form: `docker.io/library/alpine:3` is `alpine:3` and
    /// `docker.io/example/app:1.0` is `example/app:1.0`, as `docker images` shows them, so an
    /// image keeps one name whichever tool saved it.
    public static func familiar(_ ref: String) -> String {
        var r = ref
        for prefix in ["docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/"] where r.hasPrefix(prefix) {
            r = String(r.dropFirst(prefix.count))
            break
        }
        return r
    }

    /// A name without the registry it was pulled from: Docker's rule, the first component names
    /// a registry when it has a '.' or a ':' or is "localhost" and more components follow.
    /// `ghcr.io/aquasecurity/trivy-db` is `aquasecurity/trivy-db`, as the enclave registry holds it.
    public static func withoutRegistry(_ name: String) -> String {
        guard let slash = name.firstIndex(of: "/") else { return name }
        let first = name[..<slash]
        guard first.contains(".") || first.contains(":") || first == "localhost" else { return name }
        return String(name[name.index(after: slash)...])
    }

    /// Splits `name:tag` at the last colon after the last slash (a registry port is not a tag).
    public static func split(_ ref: String) -> (name: String, tag: String?) {
        let lastSlash = ref.lastIndex(of: "/") ?? ref.startIndex
        if let colon = ref[lastSlash...].lastIndex(of: ":") {
            return (String(ref[..<colon]), String(ref[ref.index(after: colon)...]))
        }
        return (ref, nil)
    }

    /// A name and tag in the grammar of the distribution spec, so the layout and a registry
    /// accept it: lower-case path components, a tag of at most 128 word characters.
    public static func problem(_ ref: String) -> String? {
        let (name, tag) = split(ref)
        guard let tag, !tag.isEmpty, tag.count <= 128 else { return "has no tag" }
        let tagOK = tag.utf8.enumerated().allSatisfy { i, c in
            isAlnum(c) || c == UInt8(ascii: "_") || (i > 0 && (c == UInt8(ascii: ".") || c == UInt8(ascii: "-")))
        }
        guard tagOK else { return "has a tag with characters a registry refuses" }
        guard !name.isEmpty, name.count <= 255 else { return "has no name" }
        for component in name.split(separator: "/", omittingEmptySubsequences: false) {
            let u = Array(component.utf8)
            guard let first = u.first, let last = u.last, isAlnum(first), isAlnum(last) else {
                return "has an empty or badly formed path component"
            }
            guard u.allSatisfy({ isAlnum($0) && !($0 >= 65 && $0 <= 90) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ":") }) else {
                return "has upper-case or other characters a registry refuses in its name"
            }
        }
        return nil
    }

    private static func isAlnum(_ c: UInt8) -> Bool { (c >= 48 && c <= 57) || (c >= 97 && c <= 122) || (c >= 65 && c <= 90) }
}
