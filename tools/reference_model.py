#!/usr/bin/env python3
"""A reference scorer trained on real faces, to measure against: Silent-Face-Anti-Spoofing's two
MiniFASNet models (minivision-ai, Apache-2.0; 1.8 MB each, 80 x 80 crops at 2.7x and 4x the face
box, RetinaFace detector), used as its own `test.py` uses them.

    git clone https://github.com/minivision-ai/Silent-Face-Anti-Spoofing SFAS
    pip install torch numpy "opencv-python-headless<5"
    python3 tools/reference_model.py --sfas SFAS synth runs/demo/data      # the benchmark through real eyes
    python3 tools/real_check.py --root REAL --reference SFAS CKPT...       # beside tdfas's models

`synth DATA` scores one frame of every rendered dev and test video (and of every first training
video of an identity) with the detector's box replaced by the renderer's true face box, and
prints per domain the AUC of live against attacks and the share of each class that the reference
calls live: what a model of real cameras thinks of the renderer's people and attack media. A
renderer change that makes real-camera cues tell its classes apart raises this AUC; it costs
seconds, where training the demo costs minutes.

`score_files` is what tools/real_check.py calls: a photo is scored once, a video (through ffmpeg)
on eight frames spread over it, averaged; a verdict is live when the summed softmax's argmax is
the live class, as the reference's own demo decides.
"""
import argparse
import csv
import json
import math
import os
import subprocess
import sys
import tempfile

# the real check's AUC and photo extensions (what tdfas reads); this folder is on sys.path
from real_check import PHOTO, auc


class Reference:
    def __init__(self, sfas):
        import cv2
        import numpy as np
        import torch
        import torch.nn.functional as F

        if not os.path.isfile(os.path.join(sfas, "src", "model_lib", "MiniFASNet.py")):
            sys.exit(f"{sfas}: not a checkout of minivision-ai/Silent-Face-Anti-Spoofing (no src/model_lib/MiniFASNet.py)")
        sys.path.insert(0, sfas)
        from src.generate_patches import CropImage
        from src.model_lib.MiniFASNet import MiniFASNetV1SE, MiniFASNetV2
        from src.utility import get_kernel

        self.cv2, self.np, self.torch, self.F = cv2, np, torch, F
        torch.set_num_threads(1)
        models = os.path.join(sfas, "resources", "anti_spoof_models")
        self.models = []
        for cls, name, scale in [(MiniFASNetV2, "2.7_80x80_MiniFASNetV2.pth", 2.7),
                                 (MiniFASNetV1SE, "4_0_0_80x80_MiniFASNetV1SE.pth", 4.0)]:
            m = cls(conv6_kernel=get_kernel(80, 80))
            state = torch.load(os.path.join(models, name), map_location="cpu")
            m.load_state_dict({k.removeprefix("module."): v for k, v in state.items()})
            m.eval()
            self.models.append((m, scale))
        det = os.path.join(sfas, "resources", "detection_model")
        if not hasattr(cv2.dnn, "readNetFromCaffe"):
            sys.exit("the reference's detector needs OpenCV 4 (pip install \"opencv-python-headless<5\")")
        self.detector = cv2.dnn.readNetFromCaffe(os.path.join(det, "deploy.prototxt"),
                                                 os.path.join(det, "Widerface-RetinaFace.caffemodel"))
        self.crop = CropImage()

    def face_box(self, img):
        """RetinaFace's most confident box [x, y, w, h] at confidence >= 0.6, else None."""
        cv2, np = self.cv2, self.np
        h, w = img.shape[:2]
        r = w / h
        small = cv2.resize(img, (int(192 * math.sqrt(r)), int(192 / math.sqrt(r)))) if w * h >= 192 * 192 else img
        self.detector.setInput(cv2.dnn.blobFromImage(small, 1, mean=(104, 117, 123)), "data")
        out = self.detector.forward("detection_out").reshape(-1, 7)
        i = int(np.argmax(out[:, 2]))
        if out[i, 2] < 0.6:
            return None
        x0, y0, x1, y1 = out[i, 3] * w, out[i, 4] * h, out[i, 5] * w, out[i, 6] * h
        return [int(x0), int(y0), int(x1 - x0 + 1), int(y1 - y0 + 1)]

    def probabilities(self, img, box):
        """The two models' softmax (fake print, live, fake screen) summed, over 2."""
        p = self.np.zeros(3)
        with self.torch.no_grad():
            for m, scale in self.models:
                c = self.crop.crop(img, box, scale, 80, 80, True)
                x = self.torch.from_numpy(c.transpose(2, 0, 1).astype(self.np.float32))[None]
                p += self.F.softmax(m(x), dim=1).numpy()[0]
        return p / 2

    def score_image(self, img, box=None):
        box = box or self.face_box(img)
        return None if box is None else self.probabilities(img, box)

    def frames(self, path, n=8):
        """n frames spread over a video, decoded by ffmpeg (which applies rotation metadata)."""
        cv2 = self.cv2
        with tempfile.TemporaryDirectory(prefix="tdfas_ref_") as w:
            try:
                probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                                        path], capture_output=True, text=True)
            except FileNotFoundError:
                print(f"warning: {path}: videos need ffmpeg's ffprobe, not found: left out", file=sys.stderr)
                return []
            try:
                dur = float(probe.stdout.strip())
            except ValueError:
                return []
            out = []
            for k in range(n):
                f = os.path.join(w, f"{k}.png")
                subprocess.run(["ffmpeg", "-v", "error", "-ss", f"{dur * (k + 0.5) / n:.3f}", "-i", path,
                                "-frames:v", "1", f], capture_output=True)
                img = cv2.imread(f)
                if img is not None:
                    out.append(img)
            return out


def score_files(sfas, paths):
    """[(live score, verdict) or None (no face, unreadable)], one per path, for photos and videos."""
    ref = Reference(sfas)
    res = []
    for p in paths:
        if os.path.splitext(p)[1].lower() in PHOTO:
            imgs = [ref.cv2.imread(p)]
        else:
            imgs = ref.frames(p)
        probs = [ref.score_image(i) for i in imgs if i is not None]
        probs = [q for q in probs if q is not None]
        if not probs:
            res.append(None)
            continue
        mean = sum(probs) / len(probs)
        res.append((float(mean[1]), "live" if int(mean.argmax()) == 1 else "attack"))
    return res


def synth(sfas, data, frame):
    """Reference scores of one frame per rendered video, at the renderer's true face box."""
    ref = Reference(sfas)
    rows = []
    with open(os.path.join(data, "clips.csv"), newline="") as f:
        for c in csv.DictReader(f):
            split, label, name = c["clip"].split("/")
            if split == "train" and not name.endswith("_v0"):
                continue
            d = os.path.join(data, c["clip"])
            img = ref.cv2.imread(os.path.join(d, f"{frame:04d}.jpg"))
            with open(os.path.join(d, "truth_bbox.csv"), newline="") as b:
                boxes = list(csv.DictReader(b))
            if img is None or frame >= len(boxes):
                continue
            r = boxes[frame]
            box = [int(float(r[k])) for k in ("x", "y", "w", "h")]
            p = ref.score_image(img, box)
            rows.append({"clip": c["clip"], "domain": c["domain"], "label": label, "instrument": c["instrument"],
                         "live_score": float(p[1])})
    return rows


def report(rows):
    for dom in sorted({r["domain"] for r in rows}):
        live = [r["live_score"] for r in rows if r["domain"] == dom and r["label"] == "live"]
        att = [r["live_score"] for r in rows if r["domain"] == dom and r["label"] != "live"]
        print(f"domain {dom}: AUC live vs attack {auc(live, att):.3f} ({len(live)} live, {len(att)} attack videos)")
        for inst in sorted({r["instrument"] for r in rows if r["domain"] == dom}):
            v = sorted(r["live_score"] for r in rows if r["domain"] == dom and r["instrument"] == inst)
            called = sum(x > 0.5 for x in v) / len(v)
            print(f"  {inst:<16} {len(v):>4} videos, median live score {v[len(v) // 2]:.3f}, called live {100 * called:5.1f}%")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sfas", required=True, help="a checkout of minivision-ai/Silent-Face-Anti-Spoofing")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("synth", help="score a rendered benchmark (tdfas synth / demo's runs/demo/data)")
    s.add_argument("data")
    s.add_argument("--frame", type=int, default=3)
    s.add_argument("--json", help="write every video's score here")
    s.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    f = sub.add_parser("files", help="score photos and videos, one JSON line each")
    f.add_argument("paths", nargs="+")
    a = ap.parse_args()
    if a.cmd == "synth":
        if a.json and os.path.exists(a.json) and not a.overwrite:
            ap.error(f"{a.json} exists: not replaced without --overwrite")
        rows = synth(a.sfas, a.data, a.frame)
        if a.json:
            tmp = a.json + ".tmp"
            with open(tmp, "w") as out:
                json.dump(rows, out, indent=0)
            os.replace(tmp, a.json)
        report(rows)
    else:
        for p, r in zip(a.paths, score_files(a.sfas, a.paths)):
            print(json.dumps({"input": p, "score": None if r is None else r[0], "verdict": None if r is None else r[1]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
