import BundleFormat
import Support

/// The judgement of a set as one JSON value, for `--json` reports.
extension VolumeSet {
    /// `complete`, the set (`bundle`, `set`, `count`; null when no set was recognised), the intact
    /// `volumes`, every finding (`kind`, `number`, `source`, `message`: the line the text report
    /// prints), identical `copies`, and the keys that signed the labels.
    public var json: JSON {
        .object([
            "complete": .bool(isComplete),
            "bundle": key.map { $0.bundle.reportJSON } ?? .null,
            "set": key.map { .string($0.set.hex) } ?? .null,
            "count": key.map { .int(Int64($0.count)) } ?? .null,
            "volumes": .array(volumes.sorted { $0.key < $1.key }.map { VolumeSet.json($0.value) }),
            "findings": .array(findings.map(findingJSON)),
            "copies": .array(copies.map { c in
                .object(["number": .int(Int64(c.copy.label!.number)), "source": .string(c.copy.source), "of": .string(c.of.source)])
            }),
            "signers": .array(Set(volumes.values.compactMap { $0.signer?.idText }).sorted().map { .string($0) }),
            "untrustedSigners": .array(untrustedSigners.map { .string($0) }),
        ])
    }

    static func json(_ c: VolumeCheck) -> JSON {
        .object([
            "number": c.label.map { .int(Int64($0.number)) } ?? .null,
            "source": .string(c.source),
            "size": .int(c.size),
            "payload": c.payloadDigest.map { .string($0.hex) } ?? .null,
            "signer": c.signer.map { .string($0.idText) } ?? .null,
        ])
    }

    func findingJSON(_ f: Finding) -> JSON {
        func one(_ kind: String, _ number: Int?, _ source: String?) -> JSON {
            .object(["kind": .string(kind), "number": number.map { .int(Int64($0)) } ?? .null,
                     "source": source.map { .string($0) } ?? .null, "message": .string(describe(f))])
        }
        switch f {
        case .damaged(let c, let n): return one("damaged", c.label?.number ?? n, c.source)
        case .missing(let n, _): return one("missing", n, nil)
        case .duplicate(let c, _): return one("duplicate", c.label?.number, c.source)
        case .foreign(let c, let k): return one(k.bundle == key?.bundle ? "other-split" : "foreign", c.label?.number, c.source)
        case .inconsistent(let c, _): return one("inconsistent", c.label?.number, c.source)
        case .ambiguous: return one("ambiguous", nil, nil)
        case .untrusted(let checks):
            guard case .object(var o) = one("untrusted", nil, nil) else { return .null }
            o["volumes"] = .array(checks.map(VolumeSet.json))
            o["signers"] = .array(Set(checks.compactMap(\.untrustedBy)).sorted().map { .string($0) })
            return .object(o)
        }
    }
}

extension VolumeFiles.Ignored {
    public var json: JSON { .object(["path": .string(path), "reason": .string(reason)]) }
}
