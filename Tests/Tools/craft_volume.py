#!/usr/bin/env python3
"""Writes one volume whose signed label declares a bundle of SIZE bytes, for
Tests/EndToEndTests/BoundsAttackTests.swift.

    craft_volume.py OUT_DIR SECRET_KEY SIZE

The volume file is sparse (SIZE zero bytes, then the 4096-byte label), so it costs no disk; the
label is what `bundlectl media write` would sign, made consistent (set digest, file length) and
signed by stock minisign with SECRET_KEY (an unencrypted key that the mirror trusts), as one
key's holder could. Prints the volume's path.
"""
import hashlib
import json
import os
import subprocess
import sys

out, key, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
name, sequence, file = "feeds", 9, "feeds-9.bundle"
manifest = hashlib.sha256(b"a manifest never sent").hexdigest()
payload = hashlib.sha256(b"a payload never sent").hexdigest()
text = "airgap-volume-set/1\n%s\n%s\n%d\n%d\n%s\n%d\n%d\n%s\n" % (file, name, sequence, size, manifest, 1, size, payload)
label = {
    "format": "airgap-volume/1",
    "bundle": {"file": file, "name": name, "sequence": sequence, "size": size, "manifest": manifest},
    "set": hashlib.sha256(text.encode()).hexdigest(),
    "number": 1, "count": 1, "offset": 0, "length": size, "payload": payload,
}
message = (json.dumps(label, sort_keys=True, separators=(",", ":")) + "\n").encode()
os.makedirs(out, exist_ok=True)
msg_path = os.path.join(out, "label.json")
with open(msg_path, "wb") as f:
    f.write(message)
comment = "airgap volume 1 of 1 of %s: %s sequence %d, manifest sha256:%s" % (file, name, sequence, manifest)
subprocess.run(["minisign", "-S", "-s", key, "-m", msg_path, "-x", msg_path + ".sig", "-t", comment,
                "-c", "signature of an airgap volume label"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True)
block = b"airgap-volume/1\n" + message + open(msg_path + ".sig", "rb").read()
os.remove(msg_path)
os.remove(msg_path + ".sig")
assert len(block) <= 4096
volume = os.path.join(out, "feeds-9.01of01.vol")
with open(volume, "wb") as f:
    f.truncate(size)
    f.seek(size)
    f.write(block + b"\0" * (4096 - len(block)))
print(volume)
