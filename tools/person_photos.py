#!/usr/bin/env python3
"""Make the synthetic benchmark's person photos and background photos (assets/README.md says
where the originals come from): head-and-shoulders crops of the four portraits as JPEG, with
the face landmarks re-normalised to the crop, and the background photographs resized.

    pip install pillow
    python3 tools/person_photos.py DOWNLOADS assets

DOWNLOADS holds the unpacked packages: skimage/data/, matplotlib/mpl-data/sample_data/ and
face_recognition-1.3.0/tests/test_images/. The landmark CSVs in assets/ (MediaPipe FaceMesh)
give x, y normalised to the window named on their first line; they are rewritten normalised
to the new crop.
"""
import sys

from PIL import Image

# name: (source, its landmarks' window (x0, y0, side) in the source or None = the whole
# image, the crop (x0, y0, x1, y1), the longest side written)
PEOPLE = {
    "astronaut": ("skimage/data/astronaut.png", None, (0, 0, 512, 512), 512),
    "hopper": ("matplotlib/mpl-data/sample_data/grace_hopper.jpg", None, (0, 0, 512, 600), 600),
    "obama": ("face_recognition-1.3.0/tests/test_images/obama.jpg", (258, 39, 468), (40, 0, 870, 830), 480),
    "biden": ("face_recognition-1.3.0/tests/test_images/biden.jpg", (299, 123, 544), (0, 0, 970, 1100), 520),
}

BACKGROUNDS = {
    "bg_rocket": "skimage/data/rocket.jpg",
    "bg_camera": "skimage/data/camera.png",
    "bg_coffee": "skimage/data/coffee.png",
    "bg_chelsea": "skimage/data/chelsea.png",
    "bg_brick": "skimage/data/brick.png",
    "bg_grass": "skimage/data/grass.png",
}


def person(root, assets, name, src, window, crop, longest):
    img = Image.open(f"{root}/{src}").convert("RGB")
    w, h = img.size
    csv = f"{assets}/{name}_landmarks.csv"
    rows = [l for l in open(csv) if not l.startswith("#") and l.strip()]
    x0, y0, x1, y1 = crop
    out = img.crop(crop)
    k = longest / max(out.size)
    out = out.resize((round(out.width * k), round(out.height * k)), Image.LANCZOS)
    out.save(f"{assets}/{name}.jpg", quality=90)
    with open(csv, "w") as f:
        f.write(f"# x,y,z: MediaPipe FaceMesh on {src.split('/')[-1]} ({w}x{h}), x and y normalised to the "
                f"window ({x0}, {y0})-({x1}, {y1}) that {name}.jpg ({out.width}x{out.height}) is\n")
        for r in rows:
            x, y, z = (float(v) for v in r.split(","))
            px, py = (window[0] + x * window[2], window[1] + y * window[2]) if window else (x * w, y * h)
            f.write(f"{(px - x0) / (x1 - x0):.6f},{(py - y0) / (y1 - y0):.6f},{z:.6f}\n")
    print(name, out.size)


def main(root, assets):
    for name, args in PEOPLE.items():
        person(root, assets, name, *args)
    for name, src in BACKGROUNDS.items():
        img = Image.open(f"{root}/{src}").convert("RGB")
        k = 320 / max(img.size)
        img.resize((round(img.width * k), round(img.height * k)), Image.LANCZOS).save(f"{assets}/{name}.jpg", quality=85)


if __name__ == "__main__":
    main(*sys.argv[1:3])
