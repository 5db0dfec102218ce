#!/usr/bin/env python3
"""An independent change report, for ChangesReportTests: what two trees of feed files change,
record by record, computed with Python's json and yaml modules (no code shared with the tools).

Usage: changes_oracle.py OLD_ROOT|- NEW_ROOT REPORT.json
  OLD_ROOT, NEW_ROOT  folders laid out as a mirror tree (advisories/<source>/...); "-" for none:
                      then the report must be a first version's (initial, NEW_ROOT's files
                      counted, no record listed)
  REPORT.json         a report the tools wrote (CHANGES.json, or a --json output holding
                      "changeReport"); compared with this computation
Prints "ok" and exits 0 when they agree; else prints each difference and exits 1.

The rules it implements are the README's ("What changed: CHANGES.json and mirrorctl diff"):
only files whose bytes differ are read; under advisories/, *.json with a string id and modified
is an OSV record, *.yaml/*.yml the same in YAML (no tag resolution: times stay text), a JSON
object whose `vulnerabilities` are all objects with a string cveID is a KEV catalog; a changed
path is read as records only when both sides are the same kind; anything else is a file.
"""
import hashlib
import json
import os
import sys

import yaml

LIMITS = {".json": 64 << 20, ".yaml": 4 << 20, ".yml": 4 << 20}


def files(root):
    out = {}
    if root == "-":
        return out
    for dirpath, _, names in os.walk(root, followlinks=True):
        for n in names:
            full = os.path.join(dirpath, n)
            rel = os.path.relpath(full, root)
            with open(full, "rb") as f:
                out[rel] = f.read()
    return out


def cves_of(ident, aliases):
    return sorted({a for a in [ident] + aliases if isinstance(a, str) and a.startswith("CVE-")})


def parse(path, data):
    """("osv", record) | ("kev", entries) | None"""
    ext = os.path.splitext(path)[1]
    if not path.startswith("advisories/") or ext not in LIMITS or len(data) > LIMITS[ext]:
        return None
    try:
        if ext == ".json":
            doc = json.loads(data.decode("utf-8"))
        else:
            doc = yaml.load(data.decode("utf-8"), Loader=yaml.CBaseLoader)
    except Exception:
        return None
    if not isinstance(doc, dict):
        return None
    if isinstance(doc.get("id"), str) and doc["id"] and isinstance(doc.get("modified"), str):
        aliases = doc.get("aliases") if isinstance(doc.get("aliases"), list) else []
        w = doc.get("withdrawn")
        return ("osv", {"id": doc["id"], "modified": doc["modified"], "withdrawn": w if isinstance(w, str) else None,
                        "cves": cves_of(doc["id"], [a for a in aliases if isinstance(a, str)])})
    v = doc.get("vulnerabilities")
    if "id" not in doc and "modified" not in doc and isinstance(v, list) \
            and all(isinstance(e, dict) and isinstance(e.get("cveID"), str) and e["cveID"] for e in v):
        return ("kev", v)
    return None


def compute(old_root, new_root):
    old, new = files(old_root), files(new_root)
    other = {"added": [], "changed": [], "removed": []}
    before, after = [], []  # (path, kind, value, sha256)
    for p in sorted(set(old) | set(new)):
        if p.startswith("images/"):
            continue
        o, n = old.get(p), new.get(p)
        if o == n:
            continue
        po = parse(p, o) if o is not None else None
        pn = parse(p, n) if n is not None else None
        if o is None:
            (after.append((p, *pn, hashlib.sha256(n).digest())) if pn else other["added"].append(p))
        elif n is None:
            (before.append((p, *po, hashlib.sha256(o).digest())) if po else other["removed"].append(p))
        elif po and pn and po[0] == pn[0]:
            before.append((p, *po, hashlib.sha256(o).digest()))
            after.append((p, *pn, hashlib.sha256(n).digest()))
        else:
            other["changed"].append(p)

    def advisories(side):
        out = {}
        for p, kind, rec, digest in sorted(side):
            if kind == "osv" and rec["id"] not in out:
                out[rec["id"]] = (p, rec, digest)
        return out

    a, b = advisories(before), advisories(after)
    r = {"added": [], "modified": [], "withdrawn": [], "removed": []}
    for i, (p, rec, d) in b.items():
        if i not in a:
            r["withdrawn" if rec["withdrawn"] else "added"].append([i, p, rec["modified"], None, rec["cves"]])
            continue
        op, orec, od = a[i]
        if od == d:
            continue
        cves = sorted(set(rec["cves"]) | set(orec["cves"]))
        kind = "withdrawn" if rec["withdrawn"] and not orec["withdrawn"] else "modified"
        r[kind].append([i, p, rec["modified"], orec["modified"], cves])
    for i, (p, rec, d) in a.items():
        if i not in b:
            r["removed"].append([i, p, rec["modified"], None, rec["cves"]])

    def catalog(side):
        out = {}
        for p, kind, entries, _ in sorted(side):
            if kind == "kev":
                for e in entries:
                    out.setdefault(e["cveID"], e)
        return out

    ka, kb = catalog(before), catalog(after)
    kev = {"added": sorted(set(kb) - set(ka)), "removed": sorted(set(ka) - set(kb)),
           "ransomwareChanged": sorted([c, ka[c].get("knownRansomwareCampaignUse"), kb[c].get("knownRansomwareCampaignUse")]
                                       for c in set(ka) & set(kb)
                                       if ka[c].get("knownRansomwareCampaignUse") != kb[c].get("knownRansomwareCampaignUse"))}
    cves = set()
    for lst in r.values():
        for x in lst:
            cves |= set(x[4])
    cves |= set(kev["added"]) | set(kev["removed"]) | {x[0] for x in kev["ransomwareChanged"]}
    for k in r:
        r[k].sort()
    return {"advisories": r, "exploited": kev, "cves": sorted(cves), "otherFiles": other}


def project(report):
    """The tools' report, in the shape `compute` returns."""
    adv = {k: sorted([x["id"], x["path"], x["modified"], x["previous"], x["cves"]] for x in report["advisories"][k])
           for k in ("added", "modified", "withdrawn", "removed")}
    x = report["exploited"]
    kev = {"added": sorted(e["cve"] for e in x["added"]), "removed": sorted(e["cve"] for e in x["removed"]),
           "ransomwareChanged": sorted([e["cve"], e["from"], e["to"]] for e in x["ransomwareChanged"])}
    return {"advisories": adv, "exploited": kev, "cves": sorted(report["cves"]), "otherFiles": report["otherFiles"]}


def counts_hold(report):
    c, problems = report["counts"], []
    for k in ("added", "modified", "withdrawn", "removed"):
        if c["advisories"][k] != len(report["advisories"][k]):
            problems.append(f"counts.advisories.{k} is {c['advisories'][k]}, the list has {len(report['advisories'][k])}")
    for k in ("added", "removed", "ransomwareChanged"):
        if c["exploited"][k] != len(report["exploited"][k]):
            problems.append(f"counts.exploited.{k} disagrees with its list")
    if c["cves"] != len(report["cves"]):
        problems.append("counts.cves disagrees with the list")
    return problems


def initial_problems(new_root, report):
    """A first version's report: every file counted as added, nothing listed."""
    problems = []
    n = len(files(new_root))
    if report.get("initial") is not True:
        problems.append(f"initial is {report.get('initial')!r}, not true")
    if report["counts"]["files"] != {"added": n, "changed": 0, "removed": 0}:
        problems.append(f"counts.files is {report['counts']['files']}, the tree has {n} files")
    listed = [k for k in ("advisories", "exploited") for v in report[k].values() if v] + \
        [k for k in ("cves", "duplicates") if report[k]] + [k for k in report["otherFiles"] if report["otherFiles"][k]]
    if listed:
        problems.append(f"a first version lists {listed}")
    return problems + counts_hold(report)


def main():
    old_root, new_root, report_path = sys.argv[1:4]
    with open(report_path) as f:
        report = json.load(f)
    report = report.get("changeReport", report)
    if old_root == "-":
        problems = initial_problems(new_root, report)
        print("\n".join(problems) if problems else "ok")
        sys.exit(1 if problems else 0)
    if report.get("initial") is not False:
        print(f"initial is {report.get('initial')!r} in a report against an older version")
        sys.exit(1)
    want, got = compute(old_root, new_root), project(report)
    problems = counts_hold(report)
    for section in want:
        if want[section] != got[section]:
            problems.append(f"{section}: expected {json.dumps(want[section])[:2000]}\n   reported {json.dumps(got[section])[:2000]}")
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
