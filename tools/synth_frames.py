#!/usr/bin/env python3
"""The first frame of six videos per class and domain of a rendered benchmark, one row each
(live A, live B, print A, print B, replay A, replay B): the README's docs/synth_frames.jpg.

    tdfas synth --preset small --out DATA && python3 tools/synth_frames.py DATA docs/synth_frames.jpg
"""
import sys
from pathlib import Path
from PIL import Image

TILE = (224, 168)


def main():
    root, out = Path(sys.argv[1]), sys.argv[2]
    sheet = Image.new("RGB", (6 * TILE[0], 6 * TILE[1]))
    for row, (cls, dom) in enumerate([(c, d) for c in ("live", "print", "replay") for d in "AB"]):
        videos = sorted(p for split in ("test", "dev", "train") for p in (root / split / cls).glob(f"{dom}_*"))
        if len(videos) < 6:
            sys.exit(f"{root}: {len(videos)} {cls} videos of domain {dom}, six wanted")
        for col, v in enumerate(videos[:6]):
            frame = Image.open(v / "0000.jpg").convert("RGB").resize(TILE, Image.BILINEAR)
            sheet.paste(frame, (col * TILE[0], row * TILE[1]))
    sheet.save(out, quality=85)


if __name__ == "__main__":
    main()
