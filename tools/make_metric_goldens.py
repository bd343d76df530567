#!/usr/bin/env python3
"""Golden ROC / AUC / EER values for src/eval/metrics.rs, computed with scikit-learn.

Writes tests/fixtures/metrics_golden.json. Run from the repo root:
    python3 tools/make_metric_goldens.py

Conventions (the Rust side must match them):
- label 1 = live (positive class), higher score = more live; a sample is accepted as live
  when score >= threshold (scikit-learn's roc_curve uses the same rule).
- ROC: roc_curve(..., drop_intermediate=False): one point per distinct score, thresholds
  descending, plus a first point (fpr 0, tpr 0) at threshold +inf (stored as null in JSON).
- AUC: trapezoidal area under that ROC (equals roc_auc_score, ties counted as one half).
- EER: walk the ROC in order; d = fnr - fpr falls strictly from +1 to -1. Take the first point
  i with d[i] <= 0 and interpolate linearly between points i-1 and i where d = 0:
      t = d[i-1] / (d[i-1] - d[i]),  eer = fpr[i-1] + t * (fpr[i] - fpr[i-1])
  (= fnr at the same place). The EER threshold is interpolated with the same t between
  thresholds[i-1] and thresholds[i]; when thresholds[i-1] is +inf it is thresholds[i].
  Where fpr is strictly increasing this equals the common scipy recipe
  brentq(lambda x: 1 - x - interp1d(fpr, tpr)(x), 0, 1), which is checked below.
"""
import json
import os

import numpy as np
from sklearn.metrics import auc, roc_auc_score, roc_curve


def eer_from_roc(fpr, tpr, thr):
    fnr = 1.0 - tpr
    d = fnr - fpr
    i = int(np.argmax(d <= 0))  # first crossing; d[-1] = -1 so one exists
    assert i >= 1
    t = d[i - 1] / (d[i - 1] - d[i])
    eer = fpr[i - 1] + t * (fpr[i] - fpr[i - 1])
    if np.isinf(thr[i - 1]):
        th = thr[i]
    else:
        th = thr[i - 1] + t * (thr[i] - thr[i - 1])
    return float(eer), float(th)


def check_against_brentq(fpr, tpr, eer):
    """Cross-check with the widely used scipy recipe when it is well defined."""
    try:
        from scipy.interpolate import interp1d
        from scipy.optimize import brentq
    except ImportError:
        return
    if np.all(np.diff(fpr) > 0):
        ref = brentq(lambda x: 1.0 - x - interp1d(fpr, tpr)(x), 0.0, 1.0)
        assert abs(ref - eer) < 1e-9, (ref, eer)


def case(name, labels, scores):
    labels = np.asarray(labels, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    fpr, tpr, thr = roc_curve(labels, scores, pos_label=1, drop_intermediate=False)
    a = auc(fpr, tpr)
    assert abs(a - roc_auc_score(labels, scores)) < 1e-12
    eer, eer_thr = eer_from_roc(fpr, tpr, thr)
    check_against_brentq(fpr, tpr, eer)
    return {
        "name": name,
        "labels": labels.tolist(),
        "scores": scores.tolist(),
        "fpr": fpr.tolist(),
        "tpr": tpr.tolist(),
        "thresholds": [None if np.isinf(x) else float(x) for x in thr],
        "auc": float(a),
        "eer": eer,
        "eer_threshold": eer_thr,
    }


def main():
    rng = np.random.default_rng(20180611)
    cases = []
    # Tiny case with a tie across classes (0.6 is both live and attack).
    cases.append(case("tiny_tie", [1, 1, 1, 0, 0, 0, 0], [0.9, 0.6, 0.3, 0.6, 0.4, 0.2, 0.1]))
    # Continuous scores, overlapping Gaussians, unbalanced classes.
    n_live, n_att = 40, 70
    s = np.concatenate([rng.normal(0.65, 0.15, n_live), rng.normal(0.40, 0.15, n_att)])
    y = np.concatenate([np.ones(n_live), np.zeros(n_att)])
    perm = rng.permutation(len(s))
    cases.append(case("gauss_continuous", y[perm], s[perm]))
    # Quantised scores: many ties inside and across classes.
    q = np.round(rng.uniform(0, 1, 60) * 10) / 10
    yq = (rng.uniform(0, 1, 60) < q * 0.8 + 0.1).astype(np.int64)
    cases.append(case("quantised_ties", yq, q))
    # Perfectly separated: auc 1, eer 0.
    cases.append(case("separable", [1, 1, 1, 0, 0], [0.8, 0.9, 0.7, 0.2, 0.1]))
    # Inverted: every attack scores above every live sample: auc 0, eer 1.
    cases.append(case("inverted", [1, 1, 0, 0, 0], [0.1, 0.2, 0.7, 0.8, 0.9]))
    # All scores equal: a single ROC segment from (0,0) to (1,1), auc 0.5, eer 0.5.
    cases.append(case("all_equal", [1, 0, 1, 0, 0], [0.5] * 5))

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = os.path.join(root, "tests", "fixtures", "metrics_golden.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"generator": "tools/make_metric_goldens.py", "cases": cases}, f, indent=1)
        f.write("\n")
    for c in cases:
        print(f"{c['name']:18s} n={len(c['labels']):3d} roc_pts={len(c['fpr']):3d} "
              f"auc={c['auc']:.6f} eer={c['eer']:.6f} thr={c['eer_threshold']:.6f}")
    print("wrote", out)


if __name__ == "__main__":
    main()
