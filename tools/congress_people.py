#!/usr/bin/env python3
"""Make the synthetic benchmark's many-people sheet from official U.S. Congress portraits
(public domain; the grayscale 200 x 250 copies of the Reform-to/congress-photos repository,
`img/200x250/`): for each chosen portrait, MediaPipe FaceMesh's 468 landmarks and a colour
version, all tiled into one JPEG with one landmark CSV.

    python3 -m venv V && V/bin/pip install mediapipe==0.10.21 pillow
    V/bin/python tools/congress_people.py PORTRAITS_DIR assets

writes assets/people_sheet.jpg (COLS x ROWS tiles of 200 x 250, portrait k at column k % COLS,
row k // COLS) and assets/people_landmarks.csv (a comment line, then per portrait a line
`# k FILE` and its 468 lines x,y,z with x and y normalised to its tile).

Why colour: the portraits are grey, every real camera is not. Skin takes a skin chroma drawn
from the range of the colour portraits in assets/ (measured on their faces, widened), scaled
down in shadows and highlights as real skin's is; hair, clothes and the studio backdrop take
their own random tints (MediaPipe's selfie segmentation separates person from backdrop). The
grey level of every pixel is kept: the photo's own shading, texture and sharpness are the
camera's, untouched.
"""
import glob
import os
import sys

import mediapipe as mp
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

TILE = (200, 250)
COLS = 12
COUNT = 168
# every portrait is taken in sorted order of the files, every STEP-th one with a face found
STEP = 4


def landmarks(fm, rgb):
    res = fm.process(rgb)
    if not res.multi_face_landmarks:
        return None
    return np.array([[p.x, p.y, p.z] for p in res.multi_face_landmarks[0].landmark])


def hull_mask(lm, size, grow, blur=3):
    """A soft mask of the landmarks' convex hull, grown by `grow` of its size around its centre."""
    w, h = size
    pts = lm[:, :2] * [w, h]
    c = pts.mean(0)
    pts = c + (pts - c) * (1 + grow)
    # convex hull (monotone chain)
    p = sorted(map(tuple, pts))

    def half(points):
        out = []
        for q in points:
            while len(out) >= 2 and (out[-1][0] - out[-2][0]) * (q[1] - out[-2][1]) - (out[-1][1] - out[-2][1]) * (
                q[0] - out[-2][0]
            ) <= 0:
                out.pop()
            out.append(q)
        return out

    hull = half(p)[:-1] + half(p[::-1])[:-1]
    m = Image.new("L", size, 0)
    ImageDraw.Draw(m).polygon(hull, fill=255)
    return np.asarray(m.filter(ImageFilter.GaussianBlur(blur)), dtype=np.float32) / 255


def donor_skin_chroma(assets):
    """Mean (Cb, Cr) - 128 of the face (inner hull) of each colour portrait in assets/."""
    out = []
    for name in ["astronaut", "hopper", "obama", "biden"]:
        img = Image.open(f"{assets}/{name}.jpg").convert("RGB")
        rows = [r for r in open(f"{assets}/{name}_landmarks.csv") if not r.startswith("#")]
        lm = np.array([[float(v) for v in r.split(",")] for r in rows])
        m = hull_mask(lm, img.size, -0.3) > 0.5
        ycc = np.asarray(img.convert("YCbCr"), dtype=np.float32)
        out.append((ycc[..., 1][m].mean() - 128, ycc[..., 2][m].mean() - 128))
    return np.array(out)


def smooth(a, r):
    return np.asarray(Image.fromarray((a * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(r)), np.float32) / 255


def colourise(grey, lm, person, donors, rng):
    h, w = grey.shape
    y = grey.astype(np.float32)
    face = hull_mask(lm, (w, h), 0.06, blur=6)
    pts = lm[:, :2] * [w, h]
    (fx0, fy0), (fx1, fy1) = pts.min(0), pts.max(0)
    fw, fh = fx1 - fx0, fy1 - fy0
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx = (fx0 + fx1) / 2
    # neck: below the chin, a little narrower than the jaw; ears: beside the face between the
    # eyes and the mouth; both only where the segmentation says person
    neck = ((np.abs(xx - cx) < 0.36 * fw) & (yy > fy1 - 0.15 * fh) & (yy < fy1 + 0.22 * fh)).astype(np.float32)
    ears = ((np.abs(xx - cx) < 0.62 * fw) & (yy > fy0 + 0.3 * fh) & (yy < fy0 + 0.75 * fh)).astype(np.float32)
    # nothing of the backdrop beside the head turns skin-coloured
    skin = np.maximum(face, smooth(np.maximum(neck, ears), 6)) * np.clip(1.5 * person, 0, 1)
    # hair above the eyebrows, clothes below the neck: the rest of the person
    upper = smooth((yy < fy0 + 0.35 * fh).astype(np.float32), 8)
    rest = person * (1 - skin)
    hair, clothes = rest * upper, rest * (1 - upper)
    back = 1 - np.maximum(person, skin)

    # skin hue and saturation within the colour portraits' range (their angle in the CbCr plane
    # and their distance from grey), a little wider
    ang = np.arctan2(donors[:, 1], donors[:, 0])
    sat = np.hypot(donors[:, 0], donors[:, 1])
    a = rng.uniform(ang.min() - 0.05, ang.max() + 0.05)
    r = rng.uniform(0.8 * sat.min(), 0.8 * sat.max())
    cb, cr = r * np.cos(a), r * np.sin(a)
    # chroma fades in deep shadow and in highlights (skin is most coloured in its mid tones)
    t = y / 255
    mid = np.clip(4 * t * (1 - t) * 1.3, 0, 1)

    def tint(sat):
        ang = rng.uniform(0, 2 * np.pi)
        return sat * np.cos(ang), sat * np.sin(ang)

    # hair: half skin (a bald crown or skin through thin hair), half a brown, grey or auburn
    hair_c = [(-6, 8), (-10, 12), (-2, 3), (-12, 16)][rng.integers(4)]
    hair_c = (0.5 * (cb + hair_c[0]), 0.5 * (cr + hair_c[1]))
    clothes_c = tint(rng.uniform(0, 14))
    # studio backdrops: blue-grey most often, else any muted colour
    back_c = (rng.uniform(6, 22), rng.uniform(-10, 0)) if rng.random() < 0.6 else tint(rng.uniform(0, 16))
    cb_map = skin * cb * mid + hair * hair_c[0] * mid + clothes * clothes_c[0] * mid + back * back_c[0] * mid
    cr_map = skin * cr * mid + hair * hair_c[1] * mid + clothes * clothes_c[1] * mid + back * back_c[1] * mid
    ch = np.stack([y, 128 + cb_map, 128 + cr_map], -1).clip(0, 255).astype(np.uint8)
    return Image.fromarray(ch, "YCbCr").convert("RGB")


def main(src, assets):
    files = sorted(glob.glob(f"{src}/*.jpg"))
    donors = donor_skin_chroma(assets)
    print("skin chroma (Cb, Cr) of the colour portraits:", np.round(donors, 1).tolist())
    rng = np.random.default_rng(7)
    rows = (COUNT + COLS - 1) // COLS
    sheet = Image.new("RGB", (COLS * TILE[0], rows * TILE[1]))
    csv = [f"# x,y,z: MediaPipe FaceMesh on each portrait (grayscale {TILE[0]}x{TILE[1]}), x and y normalised to its tile\n"]
    seg_model = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
    k = 0
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=False) as fm:
        for f in files[::STEP]:
            if k == COUNT:
                break
            grey = Image.open(f).convert("L")
            if grey.size != TILE:
                continue
            rgb = np.asarray(grey.convert("RGB"))
            lm = landmarks(fm, rgb)
            if lm is None or lm[:, :2].min() < 0.02 or lm[:, :2].max() > 0.98:
                print(f"{f}: no whole face found, skipped")
                continue
            person = seg_model.process(rgb).segmentation_mask.astype(np.float32)
            img = colourise(np.asarray(grey), lm, smooth(np.clip(person, 0, 1), 1.5), donors, rng)
            sheet.paste(img, ((k % COLS) * TILE[0], (k // COLS) * TILE[1]))
            csv.append(f"# {k} {os.path.basename(f)}\n")
            csv.extend(f"{x:.4f},{y:.4f},{z:.4f}\n" for x, y, z in lm)
            k += 1
    if k < COUNT:
        sys.exit(f"only {k} portraits with a face in {src}")
    sheet.save(f"{assets}/people_sheet.jpg", quality=90)
    with open(f"{assets}/people_landmarks.csv", "w") as out:
        out.writelines(csv)
    print(f"{k} portraits -> {assets}/people_sheet.jpg, {assets}/people_landmarks.csv")


if __name__ == "__main__":
    main(*sys.argv[1:3])
