#!/usr/bin/env python3
"""Score models on real photos and videos: AUC, BPCER and APCER at each model's stored threshold.

    python3 tools/real_check.py runs/demo/model4/stage1.safetensors runs/demo/model4/model.safetensors
    python3 tools/real_check.py --root MY_FOLDER --tdfas target/release/tdfas --json out.json CKPT...

ROOT (default assets/real_images/) holds live/ and attack/, each with photos (.jpg, .jpeg, .png),
videos (anything else tdfas reads) or folders of frames. A photo is given to `tdfas infer` as
it is (`--photos photo`, the default): tdfas scores it with the checkpoint's single-frame
network against that network's own stored threshold, as a user's `tdfas infer selfie.jpg`
does. `--photos clip` makes each photo a folder repeating it `--repeat` times instead, a static
clip for the multi-frame model (which then sees no motion at all: a still live face looks like
a still print there). Inputs where no face is found are listed and left out of the metrics.
Each AUC comes with a 95% bootstrap interval that resamples whole sources (rounds that draw no
same-source live/attack pair are left out of the within-source one): two configurations whose
intervals overlap widely are not told apart by this set. `--from-json` reports a previous run's
JSON again (with the intervals) without scoring.
Standard library only (`--reference` needs what tools/reference_model.py needs: torch, OpenCV 4).
"""
import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PHOTO = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}  # what tdfas reads (src/data/imageops.rs)


def inputs(root, work, repeat, photos, sources=None):
    """(label, name, path tdfas reads) for every item under root/live and root/attack (of the
    given sources only, when `sources` is a set)."""
    out = []
    for label in ("live", "attack"):
        for p in sorted((root / label).iterdir()):
            if p.name.startswith(".") or p.suffix.lower() in {".md", ".txt"}:
                continue
            if sources is not None and source(f"{label}/{p.name}") not in sources:
                continue
            if p.is_file() and p.suffix.lower() in PHOTO and photos == "clip":
                clip = work / label / p.stem
                clip.mkdir(parents=True)
                for i in range(repeat):
                    shutil.copy(p, clip / f"{i:04d}{p.suffix.lower()}")
                out.append((label, f"{label}/{p.name}", clip))
            else:
                out.append((label, f"{label}/{p.name}", p))
    return out


def auc(live, attack):
    """Probability that a live item scores above an attack item (ties count half)."""
    if not live or not attack:
        return float("nan")
    wins = sum((l > a) + 0.5 * (l == a) for l in live for a in attack)
    return wins / (len(live) * len(attack))


CLOSE_CUT = 0.6  # a face crop less than this share picture: the photo was cut close around the face


def picture_share(path, row):
    """The share of the face crop that is picture, as `tdfas infer` reports it
    (`face.crop_in_picture`, the crop tdfas scored); None for anything but a photo with a face.
    Under CLOSE_CUT the photo was cut close around the face (as many real sets' photos are) and
    the crop reaches past its edges (infer warns)."""
    if Path(path).suffix.lower() not in PHOTO:
        return None
    return (row.get("face") or {}).get("crop_in_picture")


def score(tdfas, ckpt, items, work):
    out = work / (Path(ckpt).parent.name + "_" + Path(ckpt).stem + ".jsonl")
    cmd = [tdfas, "infer", "--checkpoint", str(ckpt), "--json", str(out)] + [str(p) for _, _, p in items]
    # tdfas exits 1 when an input has no face; the JSON still holds every input
    run = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if not out.is_file():
        # nothing scored: the checkpoint (or tdfas) is unusable; say what tdfas said
        said = run.stderr.strip().splitlines()
        sys.exit(f"{ckpt}: tdfas infer scored nothing (exit {run.returncode}): {said[-1] if said else 'no message'}")
    rows = {}
    for line in out.read_text().splitlines():
        r = json.loads(line)
        rows[str(Path(r["input"]))] = r
    per = []
    for label, name, p in items:
        r = rows.get(str(p), {})
        threshold = (r.get("threshold") or {}).get("value")
        per.append({"label": label, "item": name, "score": r.get("score"), "verdict": r.get("verdict", "error"),
                    "threshold": threshold, "picture_share": picture_share(p, r)})
    return summarise(str(ckpt), per)


def score_reference(sfas, items):
    """The items through tools/reference_model.py's scorer (a model trained on real faces; its
    verdict is its own argmax). Photos in a `--photos clip` folder are scored as the photo."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from reference_model import score_files

    got = score_files(sfas, [str(p if p.is_file() else sorted(p.iterdir())[0]) for _, _, p in items])
    per = []
    for (label, name, p), r in zip(items, got):
        per.append({"label": label, "item": name, "score": None if r is None else r[0],
                    "verdict": "error" if r is None else r[1], "threshold": None})
    return summarise("reference: MiniFASNet (Silent-Face-Anti-Spoofing)", per)


def summarise(name, per):
    """AUC, BPCER and APCER (at each item's verdict) of one model's scored items."""
    live = [x["score"] for x in per if x["label"] == "live" and x["score"] is not None]
    attack = [x["score"] for x in per if x["label"] == "attack" and x["score"] is not None]
    return {
        "checkpoint": name,
        "live": len(live),
        "attack": len(attack),
        "no_face": [x["item"] for x in per if x["score"] is None],
        "auc": auc(live, attack),
        **source_metrics(per),
        **error_rates(per),
        "framing": framing(per),
        "items": per,
    }


def error_rates(per):
    """BPCER (live items whose verdict is not live) and APCER (attacks called live) over the
    scored items."""
    live = [x for x in per if x["label"] == "live" and x["score"] is not None]
    attack = [x for x in per if x["label"] == "attack" and x["score"] is not None]
    return {
        "bpcer": sum(x["verdict"] != "live" for x in live) / len(live) if live else float("nan"),
        "apcer": sum(x["verdict"] == "live" for x in attack) / len(attack) if attack else float("nan"),
    }


def framing(per):
    """AUC, within-source AUC, BPCER and APCER of the photos cut close around the face (the crop
    mostly past the picture) and of the other photos, apart: a model can be at chance on one
    kind and not the other. Empty without picture shares (the reference)."""
    out = {}
    for kind, keep in (("close_cut", lambda v: v < CLOSE_CUT), ("framed", lambda v: v >= CLOSE_CUT)):
        sel = [x for x in per if x["score"] is not None and x.get("picture_share") is not None and keep(x["picture_share"])]
        live = [x for x in sel if x["label"] == "live"]
        attack = [x for x in sel if x["label"] == "attack"]
        if not live or not attack:
            continue
        out[kind] = {
            "live": len(live),
            "attack": len(attack),
            "auc": auc([x["score"] for x in live], [x["score"] for x in attack]),
            "auc_within_source": within_source_auc(sel),
            **error_rates(sel),
        }
    return out


def source(item):
    """The source of an item: its file name up to the first '_'."""
    return item.split("/", 1)[1].split("_")[0]


def within_source_auc(per):
    """AUC over pairs of a live and an attack item of the same source only, so a model that ranks
    one camera's items above another's gains nothing from it."""
    wins = pairs = 0
    for src in {source(x["item"]) for x in per}:
        of = lambda label: [x["score"] for x in per if x["label"] == label and x["score"] is not None and source(x["item"]) == src]
        live, attack = of("live"), of("attack")
        wins += sum((l > a) + 0.5 * (l == a) for l in live for a in attack)
        pairs += len(live) * len(attack)
    return wins / pairs if pairs else float("nan")


def interval(per, stat, rounds=1000, seed=0):
    """95% bootstrap interval of stat(items), resampling whole sources with replacement: items of
    one source share a camera and a collection, so they are not independent draws and an item
    bootstrap would understate how much a different set could move the number."""
    groups = {}
    for x in per:
        if x["score"] is not None:
            groups.setdefault(source(x["item"]), []).append(x)
    names = sorted(groups)
    rng = random.Random(seed)
    vals = []
    for _ in range(rounds):
        sample = []
        for k, name in enumerate(rng.choice(names) for _ in names):
            # a source drawn twice is two sources (within-source pairs stay within one draw)
            sample += [dict(x, item=f"{x['label']}/{name}#{k}_{x['item']}") for x in groups[name]]
        v = stat(sample)
        if v == v:
            vals.append(v)
    vals.sort()
    if not vals:
        return float("nan"), float("nan")
    return vals[int(0.025 * len(vals))], vals[min(len(vals) - 1, int(0.975 * len(vals)))]


def source_metrics(per):
    """The within-source AUC and both AUCs' intervals over sources."""
    return {
        "auc_within_source": within_source_auc(per),
        "auc_interval": interval(per, auc_of),
        "auc_within_source_interval": interval(per, within_source_auc),
    }


def auc_of(per):
    of = lambda label: [x["score"] for x in per if x["label"] == label and x["score"] is not None]
    return auc(of("live"), of("attack"))


def by_source(results):
    """Median score per (class, source) and model: where a model's scores follow the camera or
    the collection rather than the class, the medians of one source's live and attack items sit
    together."""
    groups = {}
    for i, r in enumerate(results):
        for x in r["items"]:
            if x["score"] is not None:
                groups.setdefault((x["label"], source(x["item"])), [[] for _ in results])[i].append(x["score"])
    print(f"{'class':<7} {'source':<12} {'n':>3}  " + "  ".join(f"{Path(r['checkpoint']).parent.name[:14]:>14}" for r in results))
    for (label, src), per in sorted(groups.items()):
        med = [sorted(v)[len(v) // 2] if v else float("nan") for v in per]
        print(f"{label:<7} {src:<12} {len(per[0]):>3}  " + "  ".join(f"{m:>14.3f}" for m in med))
    for r in results:
        lo, hi = r["auc_within_source_interval"]
        print(f"{r['checkpoint']}: within-source AUC {r['auc_within_source']:.3f} (95% interval over sources {lo:.3f}-{hi:.3f})")


def plot(results, path):
    """Every item's score per source, live (green) left of attacks (red) in each source's column,
    one panel per model: where a source's live and attack points sit together and sources sit
    at different heights, the model ranks cameras rather than presentations. With each item's
    threshold known (runs since it is kept) the y axis is score minus threshold, so the line at 0
    is the decision for photos (single-frame threshold) and videos (the whole model's) alike."""
    from PIL import Image, ImageDraw  # only for the picture

    sources = sorted({source(x["item"]) for r in results for x in r["items"]})
    col, left, top, panel_h, bottom = 44, 60, 42, 260, 84
    width = left + col * len(sources) + 20
    img = Image.new("RGB", (width, top + len(results) * (panel_h + bottom)), "white")
    d = ImageDraw.Draw(img)
    for k, r in enumerate(results):
        y0 = top + k * (panel_h + bottom)
        scored = [x for x in r["items"] if x["score"] is not None]
        margin = all(x.get("threshold") is not None for x in scored)
        lo, hi = (-0.6, 0.6) if margin else (0.0, 1.0)
        to_y = lambda v: y0 + panel_h * (1 - (min(max(v, lo), hi) - lo) / (hi - lo))
        d.rectangle([left, y0, width - 20, y0 + panel_h], outline="black")
        for v in ([lo, lo / 2, 0.0, hi / 2, hi] if margin else [0.0, 0.25, 0.5, 0.75, 1.0]):
            d.line([left - 4, to_y(v), left, to_y(v)], fill="black")
            d.text((4, to_y(v) - 6), f"{v:+.2f}" if margin else f"{v:.2f}", fill="black")
        if margin:
            d.line([left, to_y(0.0), width - 20, to_y(0.0)], fill=(90, 90, 90))
        for i, src in enumerate(sources):
            cx = left + col * i + col // 2
            d.line([left + col * (i + 1), y0, left + col * (i + 1), y0 + panel_h], fill=(225, 225, 225))
            d.text((cx - col // 2 + 2, y0 + panel_h + 4 + 12 * (i % 2)), src[:7], fill="black")
            for label, dx, colour in (("live", -8, (0, 150, 60)), ("attack", 8, (210, 40, 40))):
                pts = [x for x in scored if x["label"] == label and source(x["item"]) == src]
                for j, x in enumerate(pts):
                    v = x["score"] - x["threshold"] if margin else x["score"]
                    jx = cx + dx + ((j * 7) % 9) - 4  # a fixed spread, so points do not hide each other
                    d.ellipse([jx - 2, to_y(v) - 2, jx + 2, to_y(v) + 2], fill=colour)
        lo_i, hi_i = r["auc_interval"]
        # two lines, so a narrow panel (few sources) still shows every number
        d.text((left, y0 - 32), f"{'/'.join(Path(r['checkpoint']).parts[-3:])}", fill="black")
        d.text((left, y0 - 18), f"AUC {r['auc']:.3f} ({lo_i:.2f}-{hi_i:.2f}), within-source {r['auc_within_source']:.3f}, "
                                f"BPCER {100 * r['bpcer']:.1f}%, APCER {100 * r['apcer']:.1f}%", fill="black")
        d.text((left, y0 + panel_h + 30), ("y: score - threshold" if margin else "y: score")
               + "   green live, red attack", fill=(90, 90, 90))
    tmp = Path(path).with_name(Path(path).name + ".tmp")
    img.save(tmp, format="PNG")
    tmp.replace(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="*")
    ap.add_argument("--root", default="assets/real_images")
    ap.add_argument("--tdfas", default="target/release/tdfas")
    ap.add_argument("--photos", choices=["photo", "clip"], default="photo")
    ap.add_argument("--repeat", type=int, default=8)
    ap.add_argument("--json")
    ap.add_argument("--from-json", help="report the results a previous run wrote with --json (no scoring; CHECKPOINTS ignored)")
    ap.add_argument("--by-source", action="store_true",
                    help="also the median score per class and source (the file name up to its first '_') "
                         "and the within-source AUC (live and attack items of one source paired only)")
    ap.add_argument("--sources", help="score only the items of these comma-separated sources (a held-out part, "
                                      "e.g. the test sources of tools/photos_to_dataset.py)")
    ap.add_argument("--plot", help="write a PNG of every item's score per source and class, one panel per model (needs Pillow)")
    ap.add_argument("--reference", metavar="SFAS",
                    help="also score the reference model trained on real faces (tools/reference_model.py; "
                         "SFAS is a checkout of minivision-ai/Silent-Face-Anti-Spoofing; needs torch and OpenCV 4)")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing --json or --plot file")
    a = ap.parse_args()
    if not a.checkpoints and not a.reference and not a.from_json:
        ap.error("give a checkpoint, --reference or --from-json")
    for out in (a.json, a.plot):
        if out and Path(out).exists() and not a.overwrite:
            ap.error(f"{out} exists: not replaced without --overwrite")
    if a.from_json:
        results = json.loads(Path(a.from_json).read_text())
        for r in results:
            r.update(source_metrics(r["items"]), framing=framing(r["items"]))
    else:
        with tempfile.TemporaryDirectory(prefix="tdfas_real_") as w:
            work = Path(w)
            sources = set(a.sources.split(",")) if a.sources else None
            items = inputs(Path(a.root), work, a.repeat, a.photos, sources)
            if not items:
                ap.error(f"no item of the sources {a.sources} under {a.root}")
            results = [score(a.tdfas, c, items, work) for c in a.checkpoints]
            if a.reference:
                results.append(score_reference(a.reference, items))
    # the JSON first: a reader that stops early (`| head`) must not lose the run
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))
    print(f"{'checkpoint':<48} {'live':>4} {'attack':>6} {'no face':>7} {'AUC':>6} {'95% (sources)':>13} {'BPCER %':>8} {'APCER %':>8}")
    for r in results:
        lo, hi = r["auc_interval"]
        print(f"{r['checkpoint']:<48} {r['live']:>4} {r['attack']:>6} {len(r['no_face']):>7} {r['auc']:>6.3f} "
              f"{f'{lo:.3f}-{hi:.3f}':>13} {100 * r['bpcer']:>8.1f} {100 * r['apcer']:>8.1f}")
    for r in results:
        for kind, m in r.get("framing", {}).items():
            what = f"photos cut close (crop < {CLOSE_CUT:.0%} picture)" if kind == "close_cut" else "other photos"
            print(f"  {what}: {m['live']} live, {m['attack']} attacks: AUC {m['auc']:.3f}, within-source "
                  f"{m['auc_within_source']:.3f}, BPCER {100 * m['bpcer']:.1f}%, APCER {100 * m['apcer']:.1f}%")
    for r in results:
        for x in r["items"]:
            s = "no face" if x["score"] is None else f"{x['score']:.4f}"
            print(f"  {Path(r['checkpoint']).name:<20} {x['item']:<40} {s:>8} {x['verdict']}")
    if a.by_source:
        by_source(results)
    if a.plot:
        plot(results, a.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
