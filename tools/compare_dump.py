"""Cross-check a tdfas checkpoint on your own clip against the independent PyTorch model.

    cargo run --release -- dump --checkpoint runs/demo/model4/model.safetensors \
        --input my_clip_frames/ --out dump.safetensors
    python tools/compare_dump.py --checkpoint runs/demo/model4/model.safetensors --dump dump.safetensors

The dump holds the input clip tdfas read (normalised frames, all-ones mask) and every
intermediate it computed in evaluation mode. This script loads the same weights into
tools/torch_reference.py (float64), runs the same clip, and prints the worst error of each tensor
relative to the largest magnitude of PyTorch's. It exits 1 when one is above --tol.
"""

import argparse
import json
import sys
from pathlib import Path

import torch
from safetensors import safe_open

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torch_reference import Config, FasTd, load_params  # noqa: E402


def read(path):
    with safe_open(path, framework="pt") as f:
        meta = f.metadata() or {}
        return meta, {k: f.get_tensor(k) for k in f.keys()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True, help="tdfas checkpoint (safetensors)")
    ap.add_argument("--dump", required=True, help="output of `tdfas dump`")
    ap.add_argument("--tol", type=float, default=1e-3, help="worst relative error allowed")
    args = ap.parse_args()

    meta, weights = read(args.checkpoint)
    if "config" not in meta:
        sys.exit(f"{args.checkpoint}: no 'config' in the metadata (not a tdfas checkpoint?)")
    cfg = Config.from_dict(json.loads(meta["config"]))
    model = FasTd(cfg).to(torch.float64)
    # optimizer state travels in the same file; the model wants only its own tensors
    load_params(model, {k: v for k, v in weights.items() if not k.startswith("optim.")}, args.checkpoint)
    model.eval()

    _, dump = read(args.dump)
    clips = dump["input.clips"].to(torch.float64)
    mask = dump["input.mask"].to(torch.float64)
    with torch.no_grad():
        out = model.multi_forward(clips)
        out["score"] = model.score(out, mask)
        if "logits" in out:
            out["p_live"] = torch.softmax(out["logits"], dim=1)[:, 1]

    worst = 0.0
    print(f"{'tensor':<14} {'shape':<24} {'max |torch|':>12} {'rel err':>10}")
    for name, got in dump.items():
        if name.startswith("input."):
            continue
        key = name.split(".", 1)[1]
        key = "score" if name == "eval.score" else key
        if key not in out:
            print(f"{name:<14} not produced by the PyTorch model of variant {cfg.variant}")
            worst = float("inf")
            continue
        want = out[key]
        if tuple(want.shape) != tuple(got.shape):
            print(f"{name:<14} shape {tuple(got.shape)} but PyTorch has {tuple(want.shape)}")
            worst = float("inf")
            continue
        scale = max(want.abs().max().item(), 1e-6)
        err = (got.to(torch.float64) - want).abs().max().item() / scale
        worst = max(worst, err)
        print(f"{name:<14} {str(tuple(got.shape)):<24} {scale:>12.4g} {err:>10.2e}")
    print(f"worst relative error {worst:.2e} (tolerance {args.tol:g})")
    sys.exit(0 if worst <= args.tol else 1)


if __name__ == "__main__":
    main()
