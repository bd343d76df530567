#!/usr/bin/env python3
"""Download the real-image check set listed in tools/real_set.csv (photos and videos of live faces
and attacks from public GitHub repositories, each pinned to a commit and checked by SHA-256).

    python3 tools/real_set.py OUT                # OUT/live, OUT/attack, then:
    python3 tools/real_check.py --root OUT --by-source runs/demo/model4/model.safetensors

The files are not in this repository: most of their repositories give no licence to copy them
(the `licence` column says which do). Each comes from
`https://raw.githubusercontent.com/REPO/COMMIT/PATH`; `--base` points elsewhere (a mirror, or a
`file://` folder laid out as REPO/COMMIT/PATH). An existing OUT is refused; the set is written into
OUT.partial and renamed when done, so an interrupted run leaves no half set. A file that cannot be
fetched, or whose SHA-256 differs from the list's, is left out with a warning, counted, and named
in OUT/MISSING.txt.
"""
import argparse
import csv
import hashlib
import os
import shutil
import sys
import urllib.parse
import urllib.request

COLUMNS = ["file", "class", "repo", "commit", "path", "licence", "kind", "sha256"]


def read_manifest(path):
    """The list's rows, each checked: a clear error naming the file and the row otherwise."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != COLUMNS:
            sys.exit(f"{path}: the header must be {','.join(COLUMNS)}, found {reader.fieldnames}")
        rows = list(reader)
    seen = set()
    for n, r in enumerate(rows, start=2):
        cls, name = r["file"].split("/", 1) if "/" in r["file"] else ("", r["file"])
        if cls not in ("live", "attack") or cls != r["class"] or "/" in name or name.startswith("."):
            sys.exit(f"{path}: line {n}: file {r['file']!r} must be live/NAME or attack/NAME, as its class")
        if len(r["commit"]) != 40 or len(r["sha256"]) != 64:
            sys.exit(f"{path}: line {n}: a full 40-digit commit and a 64-digit sha256 are required")
        if r["file"] in seen:
            sys.exit(f"{path}: line {n}: {r['file']} is listed twice")
        seen.add(r["file"])
    return rows


def fetch(url, timeout):
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="folder to create (must not exist)")
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--manifest", default=os.path.join(here, "real_set.csv"))
    ap.add_argument("--base", default="https://raw.githubusercontent.com")
    ap.add_argument("--timeout", type=float, default=60.0)
    a = ap.parse_args()

    rows = read_manifest(a.manifest)
    out = a.out.rstrip("/")
    if os.path.lexists(out):
        sys.exit(f"{out} exists: give a new folder (nothing was changed)")
    part = out + ".partial"
    if os.path.lexists(part):
        sys.exit(f"{part} exists (an earlier run stopped): remove it, it holds only this script's files")
    os.makedirs(os.path.join(part, "live"))
    os.makedirs(os.path.join(part, "attack"))
    missing = []
    try:
        for i, r in enumerate(rows, start=1):
            url = "/".join([a.base.rstrip("/"), r["repo"], r["commit"], urllib.parse.quote(r["path"])])
            try:
                data = fetch(url, a.timeout)
            except Exception as e:  # a network error, a gone repository: left out, counted
                missing.append(f"{r['file']}\t{url}\t{e}")
                print(f"warning: {r['file']}: {url}: {e}", file=sys.stderr)
                continue
            if hashlib.sha256(data).hexdigest() != r["sha256"]:
                missing.append(f"{r['file']}\t{url}\tSHA-256 differs from the list's")
                print(f"warning: {r['file']}: {url}: SHA-256 differs from the list's: left out", file=sys.stderr)
                continue
            with open(os.path.join(part, r["file"]), "wb") as f:
                f.write(data)
            if i % 25 == 0 or i == len(rows):
                print(f"{i}/{len(rows)} files", file=sys.stderr)
        with open(os.path.join(part, "MISSING.txt"), "w") as f:
            f.write("".join(m + "\n" for m in missing))
        os.rename(part, out)
    except BaseException:
        shutil.rmtree(part, ignore_errors=True)
        raise
    got = len(rows) - len(missing)
    print(f"{out}: {got} of {len(rows)} files" + (f"; {len(missing)} left out (warnings above, {out}/MISSING.txt)" if missing else ""))


if __name__ == "__main__":
    main()
