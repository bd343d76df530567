#!/usr/bin/env python3
"""Make the synthetic benchmark's many-people sheet from colour photographs of real people:
for each chosen photo a 200 x 250 head-and-shoulders tile framed as the face boxes of real
cameras frame a person, MediaPipe FaceMesh's 468 landmarks on that tile, all tiled into one
JPEG with one landmark CSV (the format src/data/synth/photos.rs reads).

    python3 -m venv V && V/bin/pip install mediapipe==0.10.21 pillow
    V/bin/python tools/colour_people.py assets SOURCE=DIR [SOURCE=DIR ...]

SOURCE names a set of photos (its files are listed in the CSV as SOURCE/FILE); assets/README.md
gives each set's repository, commit and licence. The sets are taken in turn (one photo of each,
then the next of each), so both domains (even and odd tiles) and the first identities of each
get people of every set. Skipped, with the reason printed: photos in grey, without one whole
face, turned far from the camera (`MAX_TURN`), or whose framing would reach far past the
picture (a tile may extend a picture by repeating its edge rows, as the renderer does below it).

Nothing is painted (the sheet before it held grey Congress portraits with painted colour): the
photo's own colour, light, backdrop and camera are kept. The sheet is compiled into the binary:
set `SHEET_PEOPLE` in src/data/synth/photos.rs to the count this prints (the loader checks it).
"""
import os
import sys

import mediapipe as mp
import numpy as np
from PIL import Image

TILE = (200, 250)
COLS = 12
# the face's landmark width over the tile's width, and the landmarks' top over the tile's height
# (the Congress tiles: 0.54 and 0.27; a little looser shows more hair and shoulders)
FACE_W = 0.48
FACE_TOP = 0.27
# how much of a tile's side may lie past the picture (filled by repeating its edge)
MAX_PAD = 0.22
# the nose tip's largest offset from the face's middle, in face widths (`turned`): the 95th
# percentile of the Congress portraits the sheet held before
MAX_TURN = 0.18


def landmarks(fm, img):
    res = fm.process(np.asarray(img.convert("RGB")))
    if not res.multi_face_landmarks:
        return None
    return np.array([[p.x, p.y, p.z] for p in res.multi_face_landmarks[0].landmark])


def is_grey(img):
    ycc = np.asarray(img.convert("YCbCr").resize((64, 64)), dtype=np.float32)
    return np.abs(ycc[..., 1:] - 128).mean() < 2.0


def turned(lm):
    """The nose tip's offset from the middle of the face's landmark box, in face widths."""
    x0, x1 = lm[:, 0].min(), lm[:, 0].max()
    return abs(lm[1, 0] - (x0 + x1) / 2) / (x1 - x0)


def padded_crop(img, box):
    """`box` (x0, y0, x1, y1) of `img`, edge pixels repeated where it reaches past the picture."""
    a = np.asarray(img.convert("RGB"))
    h, w = a.shape[:2]
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    ys = np.clip(np.arange(y0, y1), 0, h - 1)
    xs = np.clip(np.arange(x0, x1), 0, w - 1)
    return Image.fromarray(a[ys][:, xs])


def tile_of(fm, img):
    """The photo's tile and its landmarks, or the reason it has none."""
    if is_grey(img):
        return None, "grey"
    small = img.copy()
    small.thumbnail((800, 800))
    lm = landmarks(fm, small)
    if lm is None:
        return None, "no face found"
    turn = turned(lm)
    if turn > MAX_TURN:
        return None, f"turned (nose {turn:.2f} face widths off centre)"
    w, h = img.size
    fx0, fx1 = lm[:, 0].min() * w, lm[:, 0].max() * w
    fy0 = lm[:, 1].min() * h
    tw = (fx1 - fx0) / FACE_W
    th = tw * TILE[1] / TILE[0]
    cx = (fx0 + fx1) / 2
    box = (cx - tw / 2, fy0 - FACE_TOP * th, cx + tw / 2, fy0 - FACE_TOP * th + th)
    past = max(-box[0], box[2] - w, 0) / tw, max(-box[1], 0) / th
    if max(past) > MAX_PAD:
        return None, f"framing reaches {max(past):.2f} of the tile past the picture"
    if tw < 0.8 * TILE[0]:
        return None, f"face too small ({fx1 - fx0:.0f} px wide)"
    tile = padded_crop(img, box).resize(TILE, Image.LANCZOS)
    lm = landmarks(fm, tile)
    if lm is None or lm[:, :2].min() < 0.02 or lm[:, :2].max() > 0.98:
        return None, "no whole face in the tile"
    return (tile, lm), None


def main(assets, sets):
    sources = []
    for s in sets:
        name, folder = s.split("=", 1)
        files = sorted(f for f in os.listdir(folder) if f.lower().endswith((".jpg", ".jpeg", ".png")))
        sources.append((name, folder, files))
    order = []
    for i in range(max(len(f) for _, _, f in sources)):
        order.extend((n, d, f[i]) for n, d, f in sources if i < len(f))
    tiles, csv = [], []
    kept = {n: 0 for n, _, _ in sources}
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=False) as fm:
        for name, folder, f in order:
            got, why = tile_of(fm, Image.open(os.path.join(folder, f)))
            if got is None:
                print(f"{name}/{f}: skipped: {why}")
                continue
            tile, lm = got
            csv.append(f"# {len(tiles)} {name}/{f}\n")
            csv.extend(f"{x:.4f},{y:.4f},{z:.4f}\n" for x, y, z in lm)
            tiles.append(tile)
            kept[name] += 1
    rows = (len(tiles) + COLS - 1) // COLS
    sheet = Image.new("RGB", (COLS * TILE[0], rows * TILE[1]))
    for k, t in enumerate(tiles):
        sheet.paste(t, ((k % COLS) * TILE[0], (k // COLS) * TILE[1]))
    head = f"# x,y,z: MediaPipe FaceMesh on each colour photo's {TILE[0]}x{TILE[1]} tile, x and y normalised to it\n"
    sheet.save(f"{assets}/people_sheet.jpg", quality=88)
    with open(f"{assets}/people_landmarks.csv", "w") as out:
        out.writelines([head] + csv)
    print(f"{len(tiles)} people ({kept}) -> {assets}/people_sheet.jpg, {assets}/people_landmarks.csv")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
