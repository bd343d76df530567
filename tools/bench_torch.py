"""PyTorch baseline for `tdfas bench`: the same model (tools/torch_reference.py) and shapes.

Per-kernel conv timings (forward, backward-input, backward-weight) at every distinct conv shape of
the model, clip inference at batch 1 and one training step of each stage, with the same row names
as `tdfas bench --json`, so tools/compare_bench.py can put them side by side.

fp32 with TF32 off, with TF32 on, and autocast float16 (`amp16`: the conv rows on float16 tensors,
the model under torch.autocast) are reported separately on CUDA (on the CPU only fp32);
cudnn.benchmark is on; every timing follows a warm-up.

    python3 tools/bench_torch.py --preset tiny --json torch.json
    python3 tools/bench_torch.py --preset paper --json torch_h100.json      # on a GPU
"""

import argparse
import contextlib
import datetime
import json
import os
import sys
import time
import tomllib

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference as ref  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_config(preset, path=None):
    """A preset by name, or a TOML model config file (tdfas bench --config)."""
    path = path or os.path.join(ROOT, "src", "model", "presets", f"{preset}.toml")
    with open(path, "rb") as f:
        return ref.Config.from_dict(tomllib.load(f))


def conv_shapes(cfg):
    """The distinct convs of variant 4, as src/bench/kernels.rs lists them (same layer names, same order)."""
    h, s, b = cfg.image_size, cfg.map_size, cfg.block
    n1 = cfg.stage1["batch"]
    clips, nf = cfg.stage2["batch"], cfg.frames
    v = [("single.conv0", n1, 3, cfg.stem, 3, h, False)]
    c_in = cfg.stem
    for blk in (1, 2, 3):
        hb = h >> (blk - 1)
        v.append((f"single.block{blk}.conv1", n1, c_in, b[0], 3, hb, True))
        v.append((f"single.block{blk}.conv2", n1, b[0], b[1], 3, hb, True))
        v.append((f"single.block{blk}.conv3", n1, b[1], b[2], 3, hb, True))
        c_in = b[2]
    v.append(("single.head.conv1", n1, 3 * b[2], cfg.head[0], 3, s, True))
    v.append(("single.head.conv2", n1, cfg.head[0], cfg.head[1], 3, s, True))
    v.append(("single.head.out", n1, cfg.head[1], 1, 3, s, True))
    for lvl in (1, 2, 3):
        hl = h >> (lvl - 1)
        v.append((f"off{lvl}.reduce", clips * nf, b[2], cfg.off_reduce, 1, hl, False))
        cin = 6 * cfg.off_reduce + (cfg.off_out if lvl > 1 else 0)
        v.append((f"off{lvl}.fuse", clips * (nf - 1), cin, cfg.off_out, 3, hl, True))
    v.append(("gru1.{reset,update,cand}", clips, cfg.gru_hidden + cfg.off_out, cfg.gru_hidden, 3, s, True))
    v.append(("gru2.{reset,update,cand}", clips, 1 + cfg.gru_hidden, 1, 3, s, True))
    out = []
    for layer, n, cin, cout, k, hh, needs_gx in v:
        for c in out:
            if (c["n"], c["cin"], c["cout"], c["k"], c["h"]) == (n, cin, cout, k, hh):
                c["layers"].append(layer)
                c["needs_gx"] |= needs_gx
                break
        else:
            out.append(dict(layers=[layer], n=n, cin=cin, cout=cout, k=k, h=hh, needs_gx=needs_gx))
    return out


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def time_fn(fn, dev, quick, budget=0.5):
    """ms per call: warm-up (cudnn.benchmark picks its algorithm there), then the median of 5
    batches of repetitions (the median keeps a busy shared machine's hiccups out)."""
    warm = 1 if quick else 3
    t0 = time.perf_counter()
    for _ in range(warm):
        fn()
    sync(dev)
    per = (time.perf_counter() - t0) / warm
    if quick:
        return per * 1e3, 1
    batches = 5
    reps = max(1, min(20, int(budget / batches / max(per, 1e-6))))
    times = []
    for _ in range(batches):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        sync(dev)
        times.append((time.perf_counter() - t0) * 1e3 / reps)
    return sorted(times)[batches // 2], reps * batches


def row(name, family, shape, ms, reps, flop=0.0):
    return {
        "name": name,
        "family": family,
        "shape": shape,
        "ms": ms,
        "reps": reps,
        "flop": flop,
        "gflops": flop / (ms / 1e3) / 1e9 if flop and ms > 0 else None,
    }


def conv_rows(cfg, dev, quick, amp=False):
    rows = []
    dt = torch.float16 if amp else torch.float32
    for c in conv_shapes(cfg):
        n, ci, co, k, h = c["n"], c["cin"], c["cout"], c["k"], c["h"]
        layers = " ".join(c["layers"])
        x = torch.randn(n, ci, h, h, device=dev, dtype=dt)
        w = torch.randn(co, ci, k, k, device=dev, dtype=dt)
        gy = torch.randn(n, co, h, h, device=dev, dtype=dt)
        flop = 2.0 * n * co * ci * k * k * h * h
        pad = k // 2
        shape = f"x [{n},{ci},{h},{h}], w [{co},{ci},{k},{k}]"
        passes = [("conv2d_forward", lambda: F.conv2d(x, w, padding=pad))]
        if c["needs_gx"]:
            passes.append(("conv2d_backward_input", lambda: torch.nn.grad.conv2d_input(x.shape, w, gy, padding=pad)))
        passes.append(("conv2d_backward_weight", lambda: torch.nn.grad.conv2d_weight(x, w.shape, gy, padding=pad)))
        for family, fn in passes:
            with torch.no_grad():
                ms, reps = time_fn(fn, dev, quick)
            rows.append(row(f"{family} {layers}", family, shape, ms, reps, flop))
            print(f"  {rows[-1]['name']:<58} {ms:10.3f} ms {rows[-1]['gflops']:10.2f} GFLOP/s", file=sys.stderr)
    return rows


def batch(cfg, dev, clips, frames):
    h, s = cfg.image_size, cfg.map_size
    g = torch.Generator().manual_seed(0)
    x = (torch.randint(0, 256, (clips, frames, 3, h, h), generator=g).float() - 127.5) / 128
    depth = torch.rand(clips, frames, s, s, generator=g)
    mask = torch.ones(clips, frames, s, s)
    labels = torch.tensor([i % 2 for i in range(clips)])
    return x.to(dev), depth.to(dev), mask.to(dev), labels.to(dev)


def peak_memory(fn, dev):
    """Peak bytes allocated by one call of fn (torch.cuda.max_memory_allocated; the model's
    parameters and optimizer state count, as in tdfas' pool high-water). None on a CPU."""
    if dev.type != "cuda":
        return None
    sync(dev)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(dev)
    fn()
    sync(dev)
    return torch.cuda.max_memory_allocated(dev)


def end_to_end_rows(cfg, dev, quick, memory=False, amp=False):
    def cast():
        return torch.autocast("cuda", dtype=torch.float16) if amp else contextlib.nullcontext()

    torch.manual_seed(0)
    model = ref.FasTd(cfg).to(dev)
    h, nf = cfg.image_size, cfg.frames
    rows = []

    clip, _, cmask, _ = batch(cfg, dev, 1, nf)
    model.set_stage(0)

    def infer():
        with torch.no_grad(), cast():
            o = model.multi_forward(clip)
            return model.score(o, cmask).cpu()

    ms, reps = time_fn(infer, dev, quick, budget=2.0)
    rows.append(row("inference (clip, batch 1, model.score)", "inference", f"1 clip of {nf} x 3x{h}x{h}", ms, reps))
    if memory:
        rows[-1]["peak_bytes"] = peak_memory(infer, dev)

    n1 = cfg.stage1["batch"]
    f1, d1, _, _ = batch(cfg, dev, n1, 1)
    f1, d1 = f1[:, 0], d1[:, :1]
    model.set_stage(1)
    opt1 = ref.adadelta(model.stage1_params(), cfg, 1)

    def step1():
        opt1.zero_grad(set_to_none=True)
        with cast():
            loss = model.stage1(f1, d1)["l_single"]
        loss.backward()
        opt1.step()
        return loss.item()

    ms, reps = time_fn(step1, dev, quick, budget=2.0)
    rows.append(row("train_step stage 1", "train_step", f"{n1} frames of 3x{h}x{h}", ms, reps))
    if memory:
        rows[-1]["peak_bytes"] = peak_memory(step1, dev)

    b = cfg.stage2["batch"]
    clips, depth, mask, labels = batch(cfg, dev, b, nf)
    model.set_stage(2)
    opt2 = ref.adadelta(model.stage2_params(), cfg, 2)

    def step2():
        opt2.zero_grad(set_to_none=True)
        with cast():
            loss = model.stage2(clips, depth, mask, labels)["l_multi"]
        loss.backward()
        opt2.step()
        return loss.item()

    ms, reps = time_fn(step2, dev, quick, budget=2.0)
    rows.append(row("train_step stage 2", "train_step", f"{b} clips of {nf} x 3x{h}x{h}", ms, reps))
    if memory:
        rows[-1]["peak_bytes"] = peak_memory(step2, dev)
    for r in rows:
        mem = ""
        if "peak_bytes" in r:
            p = r["peak_bytes"]
            mem = f"  peak {p / 2**20:.1f} MiB" if p is not None else "  peak n/a (torch.cuda.max_memory_allocated needs CUDA)"
        print(f"  {r['name']:<58} {r['ms']:10.3f} ms{mem}", file=sys.stderr)
    return rows


def set_tf32(on):
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="tiny", choices=["tiny", "paper"])
    ap.add_argument("--config", help="a TOML model config instead of the preset (as tdfas bench --config)")
    ap.add_argument("--json", help="write every number here")
    ap.add_argument("--quick", action="store_true", help="one repetition (smoke test)")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--memory", action="store_true",
                    help="also the peak memory of inference and each training step (CUDA: torch.cuda.max_memory_allocated)")
    ap.add_argument("--e2e-only", action="store_true", help="only inference and the training steps (no conv rows)")
    ap.add_argument("--threads", type=int, help="CPU threads (default: torch's); 1 avoids barrier stalls on a busy machine")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    cuda = torch.cuda.is_available() and args.device != "cpu"
    if args.device == "cuda" and not cuda:
        sys.exit("--device cuda: no CUDA device is available")
    dev = torch.device("cuda" if cuda else "cpu")
    torch.backends.cudnn.benchmark = True
    name = torch.cuda.get_device_name(0) if cuda else f"CPU ({torch.get_num_threads()} threads)"
    cfg = load_config(args.preset, args.config)
    if args.config:
        with open(args.config, "rb") as f:
            args.preset = tomllib.load(f).get("name", os.path.basename(args.config))

    modes = {}
    for mode in ["fp32", "tf32", "amp16"] if cuda else ["fp32"]:
        if cuda:
            set_tf32(mode == "tf32")
        amp = mode == "amp16"
        print(f"{name}, preset {args.preset}, {mode}:", file=sys.stderr)
        convs = [] if args.e2e_only else conv_rows(cfg, dev, args.quick, amp)
        modes[mode] = convs + end_to_end_rows(cfg, dev, args.quick, args.memory, amp)

    report = {
        "adapter": name,
        "torch": torch.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "preset": args.preset,
        "cudnn_benchmark": True,
        "modes": modes,
    }
    print(f"\n{name}, torch {torch.__version__}, preset {args.preset}")
    print(f"{'benchmark':<58} " + " ".join(f"{m + ' ms':>12}" for m in modes))
    for i, r in enumerate(modes["fp32"]):
        print(f"{r['name']:<58} " + " ".join(f"{modes[m][i]['ms']:12.3f}" for m in modes))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
        print(f"json: {args.json}")


if __name__ == "__main__":
    main()
