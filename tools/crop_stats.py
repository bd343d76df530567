#!/usr/bin/env python3
"""Which simple image statistics of the face crop tell live from attack, in the synthetic
benchmark and in a real set? A shortcut finder for the renderer: a statistic that separates the
benchmark's classes (AUC far from 0.5) but not real ones is a cue the model can learn from the
renderer and that fails on real cameras; a statistic whose real values lie outside the
benchmark's range is a camera the benchmark does not simulate.

    python3 tools/crop_stats.py runs/demo/data assets/real_images [--json out.json]
        [--scores run.json ...]

`--scores` takes what `tools/real_check.py --json` wrote for the same REAL folder and prints,
per model, the rank correlation (Spearman) of its score with each statistic within live items,
within attacks and over all: what the score follows besides the class. A model whose score
follows sharpness or face size within each class ranks cameras, not presentations.

SYNTH is a rendered benchmark (its train split's first frames are read), REAL holds live/ and
attack/ (photos, or videos whose first frame is read). Faces are found by MediaPipe's face
detector (the same one for both sets, not tdfas's), cropped at 1.3x its box and resized to
64 x 64 (the CPU preset's input) with area averaging. Needs numpy, opencv-python and mediapipe
(0.10.x).
"""
import argparse
import json
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np

from real_check import auc

VIDEO = {".webm", ".mp4", ".mov", ".avi", ".mkv"}
SIDE = 64


def first_frame(path):
    if path.suffix.lower() in VIDEO:
        cap = cv2.VideoCapture(str(path))
        ok, frame = cap.read()
        cap.release()
        return frame if ok else None
    return cv2.imread(str(path))


def face_crop(detector, img):
    """The 1.3x square around the most confident face, SIDE x SIDE, and its side in pixels."""
    found = detector.process(cv2.cvtColor(img, cv2.COLOR_BGR2RGB)).detections
    if not found:
        return None
    b = max(found, key=lambda d: d.score[0]).location_data.relative_bounding_box
    h, w = img.shape[:2]
    cx, cy = (b.xmin + b.width / 2) * w, (b.ymin + b.height / 2) * h
    side = int(max(b.width * w, b.height * h) * 1.3)
    if side < 24:
        return None
    x0, y0 = int(cx - side / 2), int(cy - side / 2)
    pad = cv2.copyMakeBorder(img, max(0, -y0), max(0, y0 + side - h), max(0, -x0), max(0, x0 + side - w),
                             cv2.BORDER_REPLICATE)
    crop = pad[max(0, y0):max(0, y0) + side, max(0, x0):max(0, x0) + side]
    return cv2.resize(crop, (SIDE, SIDE), interpolation=cv2.INTER_AREA), side


def statistics(crop, side):
    g = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY).astype(np.float32)
    sat = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV)[..., 1].astype(np.float32)
    lap = cv2.Laplacian(g, cv2.CV_32F)
    fine = g - cv2.GaussianBlur(g, (0, 0), 1.0)
    return {
        "log face side (px)": np.log(side),
        "luma mean": g.mean(),
        "luma std (contrast)": g.std(),
        "log Laplacian variance (sharpness)": np.log(lap.var() + 1e-3),
        "log fine-detail MAD (noise)": np.log(np.median(np.abs(fine)) + 1e-3),
        "saturation mean": sat.mean(),
        "saturation std": sat.std(),
        "share of pixels < 20 (blacks)": (g < 20).mean(),
        "share of pixels > 240 (highlights)": (g > 240).mean(),
    }


def measure(detector, items):
    """(live, statistics, path) of every item with a face."""
    rows = []
    for path, live in items:
        img = first_frame(path)
        found = None if img is None else face_crop(detector, img)
        if found is not None:
            rows.append((live, statistics(*found), path))
    return rows


def ranks(v):
    """Ranks 0..n-1, ties given their mean rank."""
    v = np.asarray(v, dtype=np.float64)
    order = np.argsort(v, kind="mergesort")
    r = np.empty(len(v))
    r[order] = np.arange(len(v))
    for x in np.unique(v):
        tied = v == x
        r[tied] = r[tied].mean()
    return r


def spearman(a, b):
    """Rank correlation; nan where either side is constant or has fewer than 3 values."""
    if len(a) < 3:
        return float("nan")
    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def score_correlations(rows, real_root, run_json):
    """Per model in a real_check JSON: {class: {statistic: Spearman of score with it}}."""
    out = {}
    for run in json.loads(Path(run_json).read_text()):
        by_item = {it["item"]: it["score"] for it in run["items"] if it["score"] is not None}
        per = {}
        for cls in ("live", "attack", "all"):
            sel = []
            for live, stats, path in rows:
                item = str(path.relative_to(real_root))
                if item in by_item and cls in ("all", "live" if live else "attack"):
                    sel.append((by_item[item], stats))
            per[cls] = {"n": len(sel)}
            for k in (sel[0][1] if sel else {}):
                per[cls][k] = spearman([s for s, _ in sel], [st[k] for _, st in sel])
        out[run["checkpoint"]] = per
    return out


def summary(rows):
    live = [s for l, s, _ in rows if l]
    attack = [s for l, s, _ in rows if not l]
    out = {"live": len(live), "attack": len(attack), "stats": {}}
    for k in (live + attack)[0]:
        out["stats"][k] = {
            "auc_live_above_attack": auc([s[k] for s in live], [s[k] for s in attack]),
            "median_live": float(np.median([s[k] for s in live])),
            "median_attack": float(np.median([s[k] for s in attack])),
            "p5_p95": [float(np.percentile([s[k] for s in live + attack], q)) for q in (5, 95)],
        }
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("synth", type=Path)
    ap.add_argument("real", type=Path)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--scores", type=Path, nargs="*", default=[],
                    help="real_check.py --json results on REAL: what each model's score follows")
    a = ap.parse_args()
    synth = [(p, p.parent.parent.name == "live") for p in sorted(a.synth.glob("train/*/*/0000.jpg"))]
    real = [(p, p.parent.name == "live") for p in sorted(a.real.glob("*/*")) if p.parent.name in ("live", "attack")]
    with mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.4) as det:
        real_rows = measure(det, real)
        res = {"synthetic": summary(measure(det, synth)), "real": summary(real_rows)}
    s, r = res["synthetic"], res["real"]
    print(f"faces: synthetic {s['live']} live / {s['attack']} attack, real {r['live']} live / {r['attack']} attack")
    print(f"{'statistic':38s} {'AUC synth':>9s} {'AUC real':>9s}   synth 5-95%        real 5-95%")
    for k in s["stats"]:
        a_s, a_r = s["stats"][k], r["stats"][k]
        print(f"{k:38s} {a_s['auc_live_above_attack']:9.3f} {a_r['auc_live_above_attack']:9.3f}   "
              f"{a_s['p5_p95'][0]:7.2f}..{a_s['p5_p95'][1]:<7.2f}  {a_r['p5_p95'][0]:7.2f}..{a_r['p5_p95'][1]:<7.2f}")
    res["score_correlations"] = {}
    for run_json in a.scores:
        corr = score_correlations(real_rows, a.real, run_json)
        res["score_correlations"].update(corr)
        for ckpt, per in corr.items():
            print(f"\n{ckpt}: Spearman correlation of the score with each statistic (real items)")
            print(f"{'statistic':38s} " + " ".join(f"{c + ' (' + str(per[c]['n']) + ')':>13s}" for c in per))
            for k in s["stats"]:
                print(f"{k:38s} " + " ".join(f"{per[c].get(k, float('nan')):13.2f}" for c in per))
    if a.json:
        tmp = a.json.with_suffix(".tmp")
        tmp.write_text(json.dumps(res, indent=1))
        tmp.replace(a.json)


if __name__ == "__main__":
    main()
