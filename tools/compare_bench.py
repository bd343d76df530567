"""Side by side: `tdfas bench --json OURS` against `tools/bench_torch.py --json THEIRS`.

Prints, per benchmark present in both, our ms, PyTorch's ms in each of its modes (fp32, tf32), and
the ratio ours / PyTorch (above 1: tdfas is slower by that factor).

    python3 tools/compare_bench.py ours.json torch.json [--markdown]
"""

import argparse
import json
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ours")
    ap.add_argument("torch")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = ap.parse_args()
    with open(args.ours) as f:
        ours = json.load(f)
    with open(args.torch) as f:
        theirs = json.load(f)
    if ours["preset"] != theirs["preset"]:
        sys.exit(f"presets differ: {args.ours} is {ours['preset']}, {args.torch} is {theirs['preset']}")
    modes = list(theirs["modes"])
    by_name = {m: {r["name"]: r for r in theirs["modes"][m]} for m in modes}

    head = ["benchmark", "tdfas ms"] + [f"torch {m} ms" for m in modes] + [f"ratio vs {m}" for m in modes]
    rows = []
    for r in ours["rows"]:
        if r.get("ms") is None or not any(r["name"] in by_name[m] for m in modes):
            continue
        cells = [r["name"], f"{r['ms']:.3f}"]
        ratios = []
        for m in modes:
            t = by_name[m].get(r["name"])
            cells.append(f"{t['ms']:.3f}" if t else "-")
            ratios.append(f"{r['ms'] / t['ms']:.2f}" if t and t["ms"] > 0 else "-")
        rows.append(cells + ratios)
    skipped = [r["name"] for r in ours["rows"] if r.get("skipped")]

    print(f"tdfas: {ours['adapter']} ({ours['date']}, {ours['timing']})")
    print(f"torch: {theirs['adapter']} (torch {theirs['torch']}, {theirs['date']}), preset {ours['preset']}")
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for c in rows:
            print("| " + " | ".join(c) + " |")
    else:
        widths = [max(len(str(x[i])) for x in [head] + rows) for i in range(len(head))]
        for c in [head] + rows:
            print("  ".join(str(x).ljust(w) if i == 0 else str(x).rjust(w) for i, (x, w) in enumerate(zip(c, widths))))
    if skipped:
        print(f"\n{len(skipped)} tdfas benchmarks were skipped (adapter limits): " + "; ".join(skipped))


if __name__ == "__main__":
    main()
