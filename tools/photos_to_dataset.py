#!/usr/bin/env python3
"""Turn a folder of labelled photos (`SRC/live/`, `SRC/attack/`, as tools/real_check.py reads)
into the generic dataset layout `tdfas train` reads, split by source, so a model can be
fine-tuned on some cameras and tested on others:

    python3 tools/photos_to_dataset.py SRC OUT --test-sources nuaa,jom [--dev-every 4]
    tdfas train --data OUT --init runs/demo/model4/model.safetensors --stage 1 --steps 400 \
        --augment --out runs/finetune
    python3 tools/real_check.py --root SRC --sources nuaa,jom runs/finetune/model.safetensors

An item's source is the text of its file name before the first `_` (items of one source share a
camera). Items of `--test-sources` go to `test/`; of the others every `--dev-every`-th (in name
order, per class) goes to `dev/` (the split the stored threshold is fixed on) and the rest to
`train/`. Each photo becomes a clip folder `OUT/SPLIT/CLASS/NAME/` holding the photo as frames
0000..FRAMES-1 (hard links where the file system allows, copies otherwise): a clip needs
(frames - 1) x interval + 1 frames, 7 for the cpu preset. Videos are skipped and counted (extract
their frames into a clip folder yourself). OUT must not exist: nothing is overwritten; a failure
removes what was written.
"""
import argparse
import os
import shutil
import sys
from pathlib import Path

PHOTO = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}  # what tdfas reads (src/data/imageops.rs)


def source_of(name):
    return name.split("_")[0]


def place(photo, clip_dir, frames):
    clip_dir.mkdir(parents=True)
    ext = photo.suffix.lower().replace(".jpeg", ".jpg")
    for k in range(frames):
        dst = clip_dir / f"{k:04d}{ext}"
        try:
            os.link(photo, dst)
        except OSError:
            shutil.copyfile(photo, dst)


def plan(src, test_sources, dev_every):
    """[(photo, split, class)] and the names of the videos and other files skipped."""
    out, skipped = [], []
    for cls in ("live", "attack"):
        d = src / cls
        if not d.is_dir():
            sys.exit(f"{d}: no such folder (SRC needs live/ and attack/)")
        kept = 0
        for p in sorted(d.iterdir()):
            if not p.is_file() or p.suffix.lower() not in PHOTO:
                skipped.append(str(p))
                continue
            if source_of(p.name) in test_sources:
                out.append((p, "test", cls))
            else:
                out.append((p, "dev" if kept % dev_every == dev_every - 1 else "train", cls))
                kept += 1
    return out, skipped


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--test-sources", default="", help="comma-separated sources whose items form the test split")
    ap.add_argument("--dev-every", type=int, default=4, help="every N-th other item goes to dev (default 4)")
    ap.add_argument("--frames", type=int, default=7, help="frames per clip folder (default 7)")
    a = ap.parse_args()
    if a.dev_every < 2 or a.frames < 1:
        sys.exit("--dev-every must be at least 2 and --frames at least 1")
    if a.out.exists():
        sys.exit(f"{a.out} exists: not writing into it (choose a new folder)")
    test_sources = {s for s in a.test_sources.split(",") if s}
    items, skipped = plan(a.src, test_sources, a.dev_every)
    found = {source_of(p.name) for p, _, _ in items}
    if test_sources - found:
        sys.exit(f"--test-sources {','.join(sorted(test_sources - found))}: no photo of that source in {a.src}")
    tmp = a.out.with_name(a.out.name + ".partial")
    if tmp.exists():
        sys.exit(f"{tmp} exists (an interrupted run?): remove it first")
    try:
        for p, split, cls in items:
            clip = tmp / split / cls / p.stem
            if clip.exists():  # jom_11.jpg beside jom_11.png
                clip = clip.with_name(p.stem + "_" + p.suffix.lower().lstrip("."))
            place(p, clip, a.frames)
        tmp.rename(a.out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    counts = {}
    for _, split, cls in items:
        counts[(split, cls)] = counts.get((split, cls), 0) + 1
    for split in ("train", "dev", "test"):
        print(f"{split:5s}: {counts.get((split, 'live'), 0):4d} live, {counts.get((split, 'attack'), 0):4d} attack")
    if skipped:
        print(f"warning: {len(skipped)} files skipped (not a photo): {', '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''}")
    print(f"-> {a.out}")


if __name__ == "__main__":
    main()
