#!/usr/bin/env python3
"""Make a synthetic-benchmark face photo from a portrait: MediaPipe FaceMesh's 468 landmarks
(static image mode, no refinement; landmark i is vertex i of assets/canonical-face-model.obj),
a square crop around them (1.6x their extent, centred on them, inside the image) resized to
256 x 256, and the landmarks' x, y normalised to that crop (z as MediaPipe gives it).

    pip install mediapipe==0.10.21 pillow
    python3 tools/face_photo_landmarks.py PORTRAIT.jpg assets/NAME_face.png assets/NAME_landmarks.csv

The source line written into the CSV says which window of which image the crop is.
"""
import sys

import mediapipe as mp
import numpy as np
from PIL import Image


def main(src, out_png, out_csv, side=256, margin=1.6):
    img = Image.open(src).convert("RGB")
    w, h = img.size
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=False) as fm:
        res = fm.process(np.asarray(img))
    if not res.multi_face_landmarks:
        sys.exit(f"{src}: no face found")
    lm = np.array([[p.x * w, p.y * h, p.z] for p in res.multi_face_landmarks[0].landmark])
    lo, hi = lm[:, :2].min(0), lm[:, :2].max(0)
    size = min(margin * (hi - lo).max(), w, h)
    cx, cy = (lo + hi) / 2
    x0 = int(round(min(max(cx - size / 2, 0), w - size)))
    y0 = int(round(min(max(cy - size / 2, 0), h - size)))
    size = int(round(size))
    img.crop((x0, y0, x0 + size, y0 + size)).resize((side, side), Image.LANCZOS).save(out_png)
    with open(out_csv, "w") as f:
        f.write(f"# x,y,z: MediaPipe FaceMesh on {src.split('/')[-1]} ({w}x{h}), x and y normalised to the "
                f"{size}x{size} window at ({x0}, {y0}) that {out_png.split('/')[-1]} is\n")
        for x, y, z in lm:
            f.write(f"{(x - x0) / size:.6f},{(y - y0) / size:.6f},{z:.6f}\n")
    print(f"{src}: window {size} px at ({x0}, {y0}) of {w}x{h}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
