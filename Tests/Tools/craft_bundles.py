#!/usr/bin/env python3
"""Makes hostile and broken variants of a valid bundle, for Tests/EndToEndTests/HostileTests.swift.

    craft_bundles.py BUNDLE SECRET_KEY OUT_DIR ABS_TARGET

BUNDLE is a valid plain-tar bundle with at least two packs; SECRET_KEY the unencrypted minisign
key that signed it (stock `minisign -S` re-signs every crafted MANIFEST, so each case gets past
the signature check and reaches the code it aims at); ABS_TARGET an absolute path that must never
be written. Writes OUT_DIR/<case>.bundle for every case and OUT_DIR/cases.txt listing them.

The tar writer is our own few lines on purpose: tarfile refuses to write most of what an attacker
would (NUL in names, devices named like packs, entries with wrong sizes).
"""
import hashlib
import json
import os
import subprocess
import sys

BLOCK = 512


def octal(value, width):
    return (b"%0*o" % (width - 1, value)) + b"\0"


def header(name, size=0, kind=b"0", mode=0o644, link=b"", major=0, minor=0):
    """A ustar header; names over 100 bytes must come through a pax record or a GNU long name."""
    h = bytearray(BLOCK)
    h[0:len(name[:100])] = name[:100]
    h[100:108] = octal(mode, 8)
    h[108:116] = octal(0, 8)
    h[116:124] = octal(0, 8)
    h[124:136] = octal(size, 12)
    h[136:148] = octal(1722470400, 12)
    h[148:156] = b" " * 8
    h[156:157] = kind
    h[157:157 + len(link[:100])] = link[:100]
    h[257:263] = b"ustar\0"
    h[263:265] = b"00"
    h[329:337] = octal(major, 8)
    h[337:345] = octal(minor, 8)
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def padded(data):
    return data + b"\0" * (-len(data) % BLOCK)


def pax_record(key, value):
    body = b" " + key + b"=" + value + b"\n"
    n = len(body) + 1
    while len(str(n).encode()) + len(body) != n:
        n = len(str(n).encode()) + len(body)
    return str(n).encode() + body


def entry(name, data=b"", kind=b"0", link=b"", major=0, minor=0, pax=None, size=None):
    """One archive entry. A name that ustar cannot hold (long, or with a NUL) goes into a pax
    `path` record, as libarchive and GNU tar write it."""
    records = dict(pax or {})
    short = name
    if len(name) > 100 or b"\0" in name:
        records[b"path"] = name
        short = b"pax-long-name"
    out = b""
    if records:
        body = b"".join(pax_record(k, v) for k, v in records.items())
        out += header(b"PaxHeader/entry", len(body), b"x") + padded(body)
    declared = len(data) if size is None else size
    return out + header(short, declared, kind, link=link, major=major, minor=minor) + padded(data)


def gnu_long_name(name, data):
    """A GNU tar long name: an 'L' entry whose data is the real name, then the entry itself."""
    return entry(b"././@LongLink", name + b"\0", b"L") + entry(name[:99], data)


def archive(*entries):
    return b"".join(entries) + b"\0" * (2 * BLOCK)


def read_tar(path):
    """The entries of a plain ustar bundle as written by bundlectl: [(name, bytes)]."""
    data = open(path, "rb").read()
    out, pos = [], 0
    while pos + BLOCK <= len(data):
        h = data[pos:pos + BLOCK]
        if h == b"\0" * BLOCK:
            break
        name = h[0:100].split(b"\0")[0]
        size = int(h[124:136].split(b"\0")[0].strip() or b"0", 8)
        out.append((name, data[pos + BLOCK:pos + BLOCK + size]))
        pos += BLOCK + size + (-size % BLOCK)
    return out


def canonical(value):
    """The project's canonical JSON: sorted keys, no spaces, minimal escapes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def zstd(data, *options):
    return subprocess.run(["zstd", "-q", "-c", *options], input=data, stdout=subprocess.PIPE, check=True).stdout


class Crafter:
    def __init__(self, bundle, key, out):
        self.key, self.out, self.cases = key, out, []
        parts = dict(read_tar(bundle))
        self.manifest = json.loads(parts[b"MANIFEST"])
        self.manifest_bytes = parts[b"MANIFEST"]
        self.sig = parts[b"MANIFEST.sig"]
        self.index_z = parts[b"INDEX.zst"]
        self.index = json.loads(zstd(self.index_z, "-d"))
        self.packs = [(p["path"].encode(), parts[p["path"].encode()]) for p in self.manifest["packs"]]
        assert len(self.packs) >= 2, "the base bundle needs two packs, to cut and insert between them"

    def sign(self, manifest_bytes):
        """Signs MANIFEST bytes with stock minisign, as `bundlectl build` would."""
        path = os.path.join(self.out, "MANIFEST.tmp")
        with open(path, "wb") as f:
            f.write(manifest_bytes)
        subprocess.run(["minisign", "-S", "-s", self.key, "-m", path, "-x", path + ".sig", "-t", "crafted by HostileTests"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True)
        sig = open(path + ".sig", "rb").read()
        os.remove(path)
        os.remove(path + ".sig")
        return sig

    def head(self, manifest=None, raw=None):
        """MANIFEST and MANIFEST.sig entries for a changed manifest (a dict, or raw bytes)."""
        data = raw if raw is not None else canonical(manifest)
        return entry(b"MANIFEST", data) + entry(b"MANIFEST.sig", self.sign(data))

    def valid_head(self):
        return entry(b"MANIFEST", self.manifest_bytes) + entry(b"MANIFEST.sig", self.sig)

    def pack_entries(self, packs=None):
        return b"".join(entry(n, d) for n, d in (packs or self.packs))

    def with_index(self, plain, declared=None, compressed=None):
        """A manifest and INDEX.zst entry for new index bytes (compressed unless given)."""
        z = compressed if compressed is not None else zstd(plain, "-19")
        m = json.loads(json.dumps(self.manifest))
        m["index"] = {"path": "INDEX.zst", "sha256": hashlib.sha256(z).hexdigest(), "size": len(z),
                      "uncompressed": len(plain) if declared is None else declared}
        return m, entry(b"INDEX.zst", z)

    def index_case(self, name, index=None, raw=None, declared=None, manifest_edit=None):
        plain = raw if raw is not None else canonical(index)
        m, idx = self.with_index(plain, declared)
        if manifest_edit:
            manifest_edit(m)
        self.write(name, archive(self.head(m), idx, self.pack_entries()))

    def manifest_case(self, name, edit=None, raw=None, tail=None):
        m = json.loads(json.dumps(self.manifest))
        if edit:
            edit(m)
        rest = tail if tail is not None else entry(b"INDEX.zst", self.index_z) + self.pack_entries()
        self.write(name, archive(self.head(m, raw), rest))

    def pack_case(self, name, number, data, uncompressed=None):
        """Replaces one pack's bytes, renaming it after its new digest and re-signing."""
        m = json.loads(json.dumps(self.manifest))
        digest = hashlib.sha256(data).hexdigest()
        ref = m["packs"][number]
        ref.update({"path": "packs/%s.zst" % digest, "sha256": digest, "size": len(data)})
        if uncompressed is not None:
            ref["uncompressed"] = uncompressed
        packs = list(self.packs)
        packs[number] = (ref["path"].encode(), data)
        self.write(name, archive(self.head(m), entry(b"INDEX.zst", self.index_z), self.pack_entries(packs)))

    def write(self, name, data):
        with open(os.path.join(self.out, name + ".bundle"), "wb") as f:
            f.write(data)
        self.cases.append(name)


def main():
    bundle, key, out, abs_target = sys.argv[1:5]
    os.makedirs(out, exist_ok=True)
    c = Crafter(bundle, key, out)
    evil = b"pwned\n"
    absolute = abs_target.encode()
    head, index = c.valid_head(), entry(b"INDEX.zst", c.index_z)
    (p0, d0), (p1, d1) = c.packs[0], c.packs[1]
    packs = c.pack_entries()

    # Archive entries: names, kinds and order. The signed parts are all valid.
    c.write("entry-dotdot-first", archive(entry(b"../x", evil), head, index, packs))
    c.write("entry-dotdot-after-signature", archive(head, entry(b"../x", evil), index, packs))
    c.write("entry-dotdot-between-packs", archive(head, index, entry(p0, d0), entry(b"../x", evil), entry(p1, d1)))
    c.write("entry-dotdot-last", archive(head, index, packs, entry(b"../x", evil)))
    c.write("entry-dotdot-deep-last", archive(head, index, packs, entry(b"advisories/feed/../../../x", evil)))
    c.write("entry-absolute-first", archive(entry(absolute, evil), head, index, packs))
    c.write("entry-absolute-last", archive(head, index, packs, entry(absolute, evil)))
    c.write("entry-absolute-as-pack", archive(head, index, entry(absolute, d0), entry(p1, d1)))
    c.write("entry-nul-name-last", archive(head, index, packs, entry(b"x\0/../../x", evil)))
    c.write("entry-nul-name-first", archive(entry(b"\0MANIFEST", evil), head, index, packs))
    c.write("entry-nul-after-pack-name", archive(head, index, entry(p0 + b"\0../x", d0), entry(p1, d1)))
    c.write("entry-newline-name", archive(head, index, packs, entry(b"x\nmirrorctl: applied feeds 2", evil)))
    c.write("entry-long-name-pax", archive(head, index, packs, entry(b"a/" * 3000 + b"x", evil)))
    c.write("entry-long-name-gnu", archive(head, index, packs, gnu_long_name(b"b/" * 40000 + b"x", evil)))
    c.write("entry-long-name-as-manifest", archive(entry(b"M" * 70000, c.manifest_bytes), entry(b"MANIFEST.sig", c.sig), index, packs))
    c.write("symlink-as-manifest", archive(entry(b"MANIFEST", kind=b"2", link=b"/etc/passwd"), entry(b"MANIFEST.sig", c.sig), index, packs))
    c.write("symlink-as-pack", archive(head, index, entry(p0, kind=b"2", link=b"/etc/passwd"), entry(p1, d1)))
    c.write("symlink-last", archive(head, index, packs, entry(b"advisories/feed/link", kind=b"2", link=b"/etc")))
    c.write("symlink-dotdot-last", archive(head, index, packs, entry(b"x", kind=b"2", link=b"../../../..")))
    c.write("hardlink-as-index", archive(head, entry(b"INDEX.zst", kind=b"1", link=b"MANIFEST"), packs))
    c.write("hardlink-as-pack", archive(head, index, entry(p0, kind=b"1", link=b"/etc/passwd"), entry(p1, d1)))
    c.write("hardlink-with-data-as-pack", archive(head, index, entry(p0, d0, kind=b"1", link=b"MANIFEST"), entry(p1, d1)))
    c.write("hardlink-last", archive(head, index, packs, entry(b"../x", kind=b"1", link=b"MANIFEST")))
    c.write("chardev-as-index", archive(head, entry(b"INDEX.zst", kind=b"3", major=1, minor=3), packs))
    c.write("blockdev-as-pack", archive(head, index, entry(p0, kind=b"4", major=7, minor=0), entry(p1, d1)))
    c.write("fifo-as-pack", archive(head, index, entry(p0, kind=b"6"), entry(p1, d1)))
    c.write("fifo-last", archive(head, index, packs, entry(b"fifo", kind=b"6")))
    c.write("directory-before-packs", archive(head, index, entry(b"packs/", kind=b"5"), packs))
    c.write("duplicate-manifest", archive(head, entry(b"MANIFEST", c.manifest_bytes), index, packs))
    c.write("duplicate-index", archive(head, index, index, packs))
    c.write("duplicate-pack-next", archive(head, index, entry(p0, d0), entry(p0, d0), entry(p1, d1)))
    c.write("duplicate-pack-last", archive(head, index, packs, entry(p0, d0)))
    c.write("packs-swapped", archive(head, index, entry(p1, d1), entry(p0, d0)))
    c.write("unlisted-pack-name", archive(head, index, packs, entry(b"packs/" + b"0" * 64 + b".zst", d0)))
    c.write("pax-size-disagrees", archive(head, index, entry(p0, d0, pax={b"size": b"1"}), entry(p1, d1)))
    c.write("entry-size-too-small", archive(head, index, entry(p0, d0, size=len(d0) - 1), entry(p1, d1)))

    # The manifest: signed by the trusted key, but wrong.
    m = c.manifest
    c.manifest_case("manifest-unknown-format", lambda m: m.update(format="airgap-bundle/2"))
    c.manifest_case("manifest-no-format", lambda m: m.pop("format"))
    c.manifest_case("manifest-invalid-json", raw=canonical(m)[:-1])
    c.manifest_case("manifest-not-json", raw=b"MANIFEST\n")
    c.manifest_case("manifest-empty", raw=b"")
    c.manifest_case("manifest-not-canonical", raw=json.dumps(m, indent=1, sort_keys=True).encode())
    c.manifest_case("manifest-duplicate-key", raw=canonical(m)[:-1] + b',"version":"3"}')
    c.manifest_case("manifest-float", raw=canonical(m).replace(b'"sequence":2', b'"sequence":2.0'))
    c.manifest_case("manifest-array", raw=canonical([m]))
    c.manifest_case("manifest-sequence-string", lambda m: m.update(sequence="2"))
    c.manifest_case("manifest-sequence-negative", lambda m: m.update(sequence=-1))
    # Fits an Int64, so JSON reads it; accepted, it would lock the channel for good (issue 12, item 10).
    c.manifest_case("manifest-sequence-max-int64", lambda m: m.update(sequence=2**63 - 1))
    c.manifest_case("manifest-sequence-2-53", lambda m: m.update(sequence=2**53))
    c.manifest_case("manifest-sequence-huge", raw=canonical(m).replace(b'"sequence":2', b'"sequence":99999999999999999999'))
    c.manifest_case("manifest-packs-object", lambda m: m.update(packs={"0": m["packs"][0]}))
    c.manifest_case("manifest-tree-array", lambda m: m.update(tree=[m["tree"]]))
    c.manifest_case("manifest-expires-number", lambda m: m.update(expires=0))
    c.manifest_case("manifest-created-garbage", lambda m: m.update(created="yesterday"))
    c.manifest_case("manifest-unknown-field", lambda m: m.update(hooks={"post": "rm -rf /"}))
    # Text a terminal would obey: escape sequences, C1 controls, bidirectional overrides.
    c.manifest_case("manifest-version-escape", lambda m: m.update(version="2026-12\x1b]0;owned\x07\x1b[2J"))
    c.manifest_case("manifest-version-csi-c1", lambda m: m.update(version="\u009b2J2026-12"))
    c.manifest_case("manifest-version-osc-c1", lambda m: m.update(version="\u009d0;owned\u009c2026-12"))
    c.manifest_case("manifest-version-bidi", lambda m: m.update(version="2026-12\u202e21-6202"))
    c.manifest_case("manifest-version-isolate", lambda m: m.update(version="\u20662026-12"))
    c.manifest_case("manifest-version-line-separator", lambda m: m.update(version="2026-12\u2028applied"))
    c.manifest_case("manifest-origin-escape", lambda m: m["sources"][0].update(origin="https://feeds.example\x1b[2J"))
    c.manifest_case("manifest-name-dotdot", lambda m: m.update(name="../x"))
    c.manifest_case("manifest-nul-in-name", lambda m: m.update(name="feeds\0x"))
    c.manifest_case("manifest-pack-twice", lambda m: m["packs"].insert(1, m["packs"][0]))
    c.manifest_case("manifest-pack-path-dotdot", lambda m: m["packs"][0].update(path="../x"))
    c.manifest_case("manifest-pack-path-absolute", lambda m: m["packs"][0].update(path=abs_target))
    c.manifest_case("manifest-index-path-dotdot", lambda m: m["index"].update(path="../INDEX.zst"))
    c.manifest_case("manifest-pack-missing", lambda m: m["packs"].pop())
    c.manifest_case("manifest-extra-pack", lambda m: m["packs"].append(
        {"path": "packs/" + "1" * 64 + ".zst", "sha256": "1" * 64, "size": 10, "uncompressed": 10}))
    c.manifest_case("manifest-huge-tree-size", lambda m: m["tree"].update(size=1 << 50))
    c.manifest_case("manifest-too-huge-tree-size", lambda m: m["tree"].update(size=1 << 62))
    c.manifest_case("manifest-huge-tree-files", lambda m: m["tree"].update(files=1 << 40))
    c.manifest_case("manifest-huge-pack-size", lambda m: m["packs"][1].update(size=1 << 50))
    c.manifest_case("manifest-huge-pack-uncompressed", lambda m: m["packs"][1].update(uncompressed=1 << 50))
    c.manifest_case("manifest-huge-index-size", lambda m: m["index"].update(size=1 << 40))
    c.manifest_case("manifest-huge-index-uncompressed", lambda m: m["index"].update(uncompressed=(4 << 30) - 1))
    c.manifest_case("manifest-negative-pack-size", lambda m: m["packs"][0].update(size=-1))
    c.manifest_case("manifest-delta-without-base", lambda m: m.update(base={
        "name": "feeds", "sequence": 1, "manifest": "0" * 64, "tree": "0" * 64, "mirror": None}))

    # The index: hashed and signed through the manifest, but wrong.
    ix = c.index
    files = ix["files"]
    def edited(**changes):
        return dict(ix, **changes)
    c.index_case("index-path-twice", edited(files=files[:2] + [files[1]] + files[2:]))
    c.index_case("index-path-dotdot", edited(files=[["advisories/feed/../../../x", 420, 0]] + files[1:]))
    c.index_case("index-path-dotdot-sorted", edited(files=[["advisories/..", 420, 0]] + files[1:]))
    c.index_case("index-path-absolute", edited(files=[[abs_target, 420, 0]] + files[1:]))
    c.index_case("index-path-outside-kinds", edited(files=files[:-1] + [["zzz/x", 493, files[-1][2]]]))
    c.index_case("index-path-top-level-file", edited(files=[["advisories", 420, 0]] + files[1:]))
    c.index_case("index-path-nul", edited(files=[["advisories/feed/\0x", 420, 0]] + files[1:]))
    c.index_case("index-path-c1", edited(files=[["advisories/feed/\u009bx", 420, 0]] + files[1:]))
    c.index_case("index-path-bidi", edited(files=[["advisories/feed/\u202ex", 420, 0]] + files[1:]))
    c.index_case("index-path-paragraph-separator", edited(files=[["advisories/feed/\u2029x", 420, 0]] + files[1:]))
    c.index_case("index-path-newline", edited(files=[["advisories/feed/\nx", 420, 0]] + files[1:]))
    c.index_case("index-path-empty-component", edited(files=[["advisories//x", 420, 0]] + files[1:]))
    c.index_case("index-path-too-long", edited(files=[["advisories/" + "a/" * 2100 + "x", 420, 0]] + files[1:]))
    c.index_case("index-path-long-component", edited(files=[["advisories/" + "a" * 300, 420, 0]] + files[1:]))
    c.index_case("index-file-and-folder", edited(files=[["advisories/feed", 420, files[0][2]]] + files[1:]))
    c.index_case("index-unsorted", edited(files=list(reversed(files))))
    c.index_case("index-mode-setuid", edited(files=[[files[0][0], 0o4755, files[0][2]]] + files[1:]))
    c.index_case("index-mode-string", edited(files=[[files[0][0], "420", files[0][2]]] + files[1:]))
    c.index_case("index-object-out-of-range", edited(files=[[files[0][0], 420, 9999]] + files[1:]))
    c.index_case("index-object-negative", edited(files=[[files[0][0], 420, -1]] + files[1:]))
    c.index_case("index-file-as-object", edited(files=[{"path": files[0][0]}] + files[1:]))
    c.index_case("index-digest-reference-in-full-bundle", edited(files=[[files[0][0], 420, "0" * 64]] + files[1:]))
    c.index_case("index-objects-missing", {"files": files})
    c.index_case("index-unknown-field", edited(patches=[]))
    c.index_case("index-pack-out-of-range", edited(objects=[[5, s] for _, s in ix["objects"]]))
    c.index_case("index-negative-object-size", edited(objects=[[0, -1]] + ix["objects"][1:]))
    c.index_case("index-objects-out-of-pack-order", edited(objects=list(reversed(ix["objects"]))))
    # Sizes so large that adding them up overflows 64 bits, with a manifest that agrees.
    big = 1 << 62
    c.index_case("index-huge-object-sizes", edited(objects=ix["objects"][:-1] + [[1, big], [1, big]],
                                                   files=files + [["advisories/feed/zz", 420, len(ix["objects"])]]))
    c.index_case("index-many-huge-files", edited(objects=ix["objects"][:-1] + [[1, 1 << 50]],
                                                 files=files + [["advisories/feed/z%05d" % i, 420, len(ix["objects"]) - 1] for i in range(9000)]),
                 manifest_edit=lambda m: m["packs"][1].update(uncompressed=1 << 50))
    # Consistent in itself, but the files' bytes no longer add up to the signed tree digest.
    c.index_case("index-swapped-objects", edited(files=[files[0], [files[1][0], 420, files[2][2]], [files[2][0], 420, files[1][2]]] + files[3:]))
    c.index_case("index-invalid-json", raw=canonical(ix)[:-1])
    c.index_case("index-not-canonical", raw=json.dumps(ix, indent=1).encode())
    c.index_case("index-too-deep", raw=b"[" * 100000 + b"]" * 100000)
    c.index_case("index-declared-too-small", ix, declared=10)
    c.index_case("index-declared-too-large", ix, declared=len(canonical(ix)) + 1000)

    # Decompression bombs: tiny stored bytes that expand far past what the manifest declares.
    c.pack_case("bomb-pack", 0, zstd(b"\0" * (64 << 20), "-19"))
    c.pack_case("bomb-pack-large-object", 1, zstd(b"\0" * (64 << 20), "-19"))
    plain_index = canonical(ix)
    m2, idx2 = c.with_index(plain_index, compressed=zstd(plain_index + b" " * (64 << 20), "-19"))
    c.write("bomb-index", archive(c.head(m2), idx2, packs))
    c.pack_case("bomb-window", 1, zstd(b"\0" * (8 << 20) + b"end", "--long=31", "-19"))
    c.pack_case("pack-not-zstd", 0, b"this is not zstd at all" * 4)
    c.pack_case("pack-truncated-frame", 0, d0[:-5])
    c.pack_case("pack-expands-short", 0, zstd(zstd(d0, "-d")[:-10], "-19"))
    c.pack_case("pack-two-frames", 0, d0 + d0)

    with open(os.path.join(out, "cases.txt"), "w") as f:
        f.write("\n".join(c.cases) + "\n")


if __name__ == "__main__":
    main()
