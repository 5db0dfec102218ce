import BundleFormat
import BundleVerify
@testable import Media
@testable import MediaWrite
import Support
import Testing

@Suite("VolumeLabel: encoding, parsing and the signature check")
struct VolumeLabelTests {
    let key: TestKey
    let label: VolumeLabel
    let bytes: [UInt8]

    init() throws {
        key = try TestKey(seed: 3)
        label = try threeVolumePlan().labels(payloads: (1...3).map { digest("p\($0)") })[1]
        bytes = try key.signer.encode(label)
    }

    /// The label's text lines (magic, JSON, four signature lines), for editing.
    var lines: [String] {
        String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    /// Lines joined back and padded to a label's size.
    func padded(_ lines: [String]) -> [UInt8] {
        let text = Array(lines.joined(separator: "\n").utf8)
        return text + [UInt8](repeating: 0, count: max(0, VolumeLabel.size - text.count))
    }

    func refusal(_ bytes: [UInt8]) -> String? {
        do {
            _ = try VolumeLabel.decode(bytes, what: "'v'")
            return nil
        } catch let e as ToolError {
            #expect(e.status == .refused)
            return e.message
        } catch {
            return "\(error)"
        }
    }

    @Test("encode then decode gives the same label, and its signature holds for the signing key")
    func roundTrip() throws {
        #expect(bytes.count == VolumeLabel.size)
        #expect(lines[0] == VolumeLabel.magic && lines[1] == String(decoding: label.json.canonicalBytes, as: UTF8.self))
        let signed = try VolumeLabel.decode(bytes, what: "'v'")
        #expect(signed.label == label)
        #expect(signed.signature.trustedComment == label.trustedComment)
        #expect(try signed.verify(trust: [key.publicKey], what: "'v'") == key.publicKey)
        let other = try TestKey(seed: 4)
        #expect(try signed.verify(trust: [other.publicKey, key.publicKey], what: "'v'") == key.publicKey)
    }

    @Test("a label signed by an untrusted key, or altered after signing, is refused by name")
    func signature() throws {
        let other = try TestKey(seed: 4)
        let signed = try VolumeLabel.decode(bytes, what: "'v'")
        let untrusted = #expect(throws: ToolError.self) { try signed.verify(trust: [other.publicKey], what: "'v'") }
        #expect(untrusted?.message.contains("is not trusted (trusted: \(other.publicKey.idText))") == true)
        var altered = signed
        altered.label.offset += 4096
        let broken = #expect(throws: ToolError.self) { try altered.verify(trust: [key.publicKey], what: "'v'") }
        #expect(broken?.message == "'v': the label's signature does not verify (label altered or damaged)")
    }

    @Test("hostile label bytes are refused with the reason", arguments: [
        "short", "magic", "after padding", "not UTF-8", "extra line", "not canonical", "unknown field",
        "number 0", "number past count", "range outside", "file with slash", "name not plain", "trusted comment",
    ])
    func hostile(_ kind: String) throws {
        var l = lines
        func json(_ from: String, _ to: String) {
            #expect(l[1].contains(from), "fixture has no \(from)")
            l[1] = l[1].replacingOccurrences(of: from, with: to)
        }
        var input: [UInt8]? = nil
        let expected: String
        switch kind {
        case "short": input = Array(bytes.dropLast()); expected = "a volume label is 4096 bytes, not 4095"
        case "magic": l[0] = "airgap-volume/2"; expected = "does not end with a volume label"
        case "after padding": input = bytes; input![4095] = 1; expected = "the volume label has data after its padding"
        case "not UTF-8": input = bytes; input![VolumeLabel.magic.utf8.count + 3] = 0xFF; expected = "the volume label is not UTF-8 text"
        case "extra line": l.insert("x", at: 2); expected = "does not have its seven lines"
        case "not canonical": json(",", ", "); expected = "canonical"
        case "unknown field": json("\"format\"", "\"extra\":1,\"format\""); expected = "unknown field \"extra\""
        case "number 0": json("\"number\":2", "\"number\":0"); expected = "number"
        case "number past count": json("\"number\":2", "\"number\":4"); expected = "volume number 4 is not between 1 and 3"
        case "range outside": json("\"offset\":1044480", "\"offset\":2000000"); expected = "lies outside the"
        case "file with slash": json("\"file\":\"feeds-7.bundle\"", "\"file\":\"../feeds-7.bundle\""); expected = "\"file\" is not a plain file name"
        case "name not plain": json("\"name\":\"feeds\"", "\"name\":\"../feeds\""); expected = "\"name\" is not a plain bundle name"
        default:
            l[4] = "trusted comment: airgap volume 1 of 3 of feeds-7.bundle"
            expected = "the label's trusted comment does not match the label"
        }
        let message = refusal(input ?? padded(l))
        #expect(message?.contains(expected) == true, "\(kind): \(message ?? "accepted")")
    }

    @Test("a label too long for 4 KiB is a usage error naming the bundle file")
    func tooLong() throws {
        var long = label
        long.bundle.file = String(repeating: "f", count: 2000)
        let error = #expect(throws: ToolError.self) { try key.signer.encode(long) }
        #expect(error?.status == .usage)
        #expect(error?.message.contains("at most 4096 fit (shorten the bundle's file name)") == true)
    }
}
