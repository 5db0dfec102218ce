import BundleFormat
import Support

/// The files that make a folder an OCI image layout, generated the same way from the same
/// images so that rebuilding a bundle gives the same bytes.
public enum LayoutFiles {
    public static let ociLayout = Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8)

    /// One image named in the layout: its top descriptor (manifest or index) and its name.
    public struct Entry: Sendable {
        public var ref: String?
        public var descriptor: Descriptor
        public init(ref: String?, descriptor: Descriptor) {
            self.ref = ref
            self.descriptor = descriptor
        }
    }

    /// index.json: named images sorted by name, then unnamed ones by digest. Keys are written in
    /// sorted order (our canonical JSON), which any JSON reader accepts.
    public static func index(_ entries: [Entry]) -> [UInt8] {
        let sorted = entries.sorted {
            switch ($0.ref, $1.ref) {
            case let (a?, b?): return a != b ? LogicalPath.bytewiseLess(a, b) : $0.descriptor.digest < $1.descriptor.digest
            case (.some, nil): return true
            case (nil, .some): return false
            case (nil, nil): return $0.descriptor.digest < $1.descriptor.digest
            }
        }
        let manifests: [JSON] = sorted.map { e in
            var m: [String: JSON] = [
                "digest": .string(e.descriptor.digest),
                "size": .int(e.descriptor.size),
            ]
            if let t = e.descriptor.mediaType { m["mediaType"] = .string(t) }
            var annotations = e.descriptor.annotations ?? [:]
            annotations[refNameAnnotation] = e.ref
            if !annotations.isEmpty { m["annotations"] = .object(annotations.mapValues { .string($0) }) }
            if let p = e.descriptor.platform {
                var pm: [String: JSON] = ["architecture": .string(p.architecture), "os": .string(p.os)]
                if let v = p.variant { pm["variant"] = .string(v) }
                m["platform"] = .object(pm)
            }
            return .object(m)
        }
        return JSON.object(["schemaVersion": .int(2), "mediaType": .string(MediaType.ociIndex), "manifests": .array(manifests)]).canonicalBytes
    }

    /// An OCI manifest for an image from a `docker save` archive, which has none of its own.
    /// The config and layers are kept byte for byte, so the config digest stays the image ID.
    public static func manifest(config: Descriptor, layers: [Descriptor]) -> [UInt8] {
        func d(_ x: Descriptor) -> JSON {
            .object(["mediaType": .string(x.mediaType ?? ""), "digest": .string(x.digest), "size": .int(x.size)])
        }
        return JSON.object([
            "schemaVersion": .int(2),
            "mediaType": .string(MediaType.ociManifest),
            "config": d(config),
            "layers": .array(layers.map(d)),
        ]).canonicalBytes
    }

    /// The layer media type for bytes that start with `head`: compressed layers keep their
    /// compression, and say so.
    public static func layerMediaType(head: [UInt8]) -> String {
        switch Compression.detect(head) {
        case .gzip: return MediaType.ociLayer + "+gzip"
        case .zstd: return MediaType.ociLayer + "+zstd"
        default: return MediaType.ociLayer
        }
    }
}
