//! ROC, DET and score-histogram figures as SVG.

use super::svg::{Axis, Plot, PALETTE};
use crate::eval::metrics::{auc_from_roc, RocPoint};
use crate::eval::{ScoredVideo, LIVE};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::Path;

fn color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// ROC: x = APCER over all attacks (FPR), y = 1 - BPCER (TPR); one curve per model.
pub fn write_roc(path: &Path, curves: &[(String, Vec<RocPoint>)]) -> Result<()> {
    if curves.is_empty() {
        bail!("write_roc {}: no curves", path.display());
    }
    let mut p = Plot::new(
        "ROC",
        Axis::linear(0.0, 1.0, "FPR (attacks accepted as live)", 5, 1),
        Axis::linear(0.0, 1.0, "TPR (live accepted) = 1 - BPCER", 5, 1),
    );
    p.line(&[(0.0, 0.0), (1.0, 1.0)], "#999999", 1.0, true);
    for (i, (name, pts)) in curves.iter().enumerate() {
        let xy: Vec<(f64, f64)> = pts.iter().map(|q| (q.fpr, q.tpr)).collect();
        p.line(&xy, color(i), 2.0, false);
        p.legend_entry(&format!("{name} (AUC {:.4})", auc_from_roc(pts)), color(i));
    }
    p.write(path)
}

/// Inverse standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9).
pub fn probit(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] =
        [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

const DET_MIN: f64 = 0.001;
const DET_MAX: f64 = 0.95;

fn det_axis(label: &str) -> Axis {
    let ticks = [0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 40.0, 60.0, 80.0, 95.0]
        .iter()
        .map(|&pct| (probit(pct / 100.0), format!("{pct}")))
        .collect();
    Axis { min: probit(DET_MIN), max: probit(DET_MAX), label: label.to_string(), ticks }
}

/// DET: x = APCER (FPR), y = BPCER (FNR), both on a normal-deviate scale, in percent.
/// Rates of 0 or 1 are drawn at the frame edge (0.1 % / 95 %).
pub fn write_det(path: &Path, curves: &[(String, Vec<RocPoint>)]) -> Result<()> {
    if curves.is_empty() {
        bail!("write_det {}: no curves", path.display());
    }
    let mut p = Plot::new("DET", det_axis("APCER / FPR (%)"), det_axis("BPCER / FNR (%)"));
    let d = |r: f64| probit(r.clamp(DET_MIN, DET_MAX));
    p.line(&[(d(0.0), d(0.0)), (d(1.0), d(1.0))], "#999999", 1.0, true); // FPR = FNR (EER line)
    for (i, (name, pts)) in curves.iter().enumerate() {
        let xy: Vec<(f64, f64)> = pts.iter().map(|q| (d(q.fpr), d(1.0 - q.tpr))).collect();
        p.line(&xy, color(i), 2.0, false);
        p.legend_entry(name, color(i));
    }
    p.write(path)
}

/// Score histograms: one outline per class (live and each attack instrument), counts per bin,
/// with the decision threshold as a vertical line.
pub fn write_histogram(path: &Path, videos: &[ScoredVideo], threshold: f64) -> Result<()> {
    if videos.is_empty() {
        bail!("write_histogram {}: no videos", path.display());
    }
    if let Some(v) = videos.iter().find(|v| !v.score.is_finite()) {
        bail!("write_histogram {}: video '{}' has score {}", path.display(), v.video_id, v.score);
    }
    const BINS: usize = 20;
    let lo = videos.iter().map(|v| v.score).fold(f64::INFINITY, f64::min).min(threshold);
    let hi = videos.iter().map(|v| v.score).fold(f64::NEG_INFINITY, f64::max).max(threshold);
    let (lo, hi) = if hi - lo < 1e-9 { (lo - 0.5, hi + 0.5) } else { (lo, hi) };
    let width = (hi - lo) / BINS as f64;
    // class -> counts; live first so it keeps the first colour.
    let mut classes: BTreeMap<(bool, String), Vec<usize>> = BTreeMap::new();
    for v in videos {
        let key = if v.is_live() { (false, LIVE.to_string()) } else { (true, v.instrument.clone()) };
        let bin = (((v.score - lo) / width) as usize).min(BINS - 1);
        classes.entry(key).or_insert_with(|| vec![0; BINS])[bin] += 1;
    }
    let ymax = classes.values().flat_map(|c| c.iter()).copied().max().unwrap_or(1).max(1);
    // Five integer tick steps with head room above the tallest bar for the legend.
    let step = ((ymax as f64 * 1.4) / 5.0).ceil().max(1.0);
    let ytop = 5.0 * step;
    let mut p = Plot::new(
        "Score distribution",
        Axis::linear(lo, hi, "score (higher = more live)", 5, 2),
        Axis::linear(0.0, ytop, "videos", 5, 0),
    );
    p.legend_top_left = true;
    for (i, ((_, name), counts)) in classes.iter().enumerate() {
        // Step outline: up and across each bin, closed at y = 0.
        let mut pts = vec![(lo, 0.0)];
        for (b, &c) in counts.iter().enumerate() {
            let x0 = lo + b as f64 * width;
            pts.push((x0, c as f64));
            pts.push((x0 + width, c as f64));
        }
        pts.push((hi, 0.0));
        p.area(&pts, color(i), 0.25);
        p.legend_entry(&format!("{name} ({})", counts.iter().sum::<usize>()), color(i));
    }
    p.vline(threshold, "black", &format!("threshold {threshold:.3}"));
    p.write(path)
}

/// Errors of one class at a threshold: live rejected (score < t), attacks accepted (score >= t).
pub fn is_error(v: &ScoredVideo, threshold: f64) -> bool {
    if v.is_live() {
        v.score < threshold
    } else {
        v.score >= threshold
    }
}

/// Per-class score panels, one under the other on a shared x axis (small multiples, so no class
/// hides another): bars with the class's own count scale, every video as a tick under its panel
/// (red when misclassified), the error side of the threshold shaded, the threshold and its
/// source marked, and each panel titled with its error count.
pub fn write_score_panels(path: &Path, videos: &[ScoredVideo], threshold: f64, source: &str) -> Result<()> {
    use super::svg::escape;
    use std::fmt::Write as _;
    if videos.is_empty() {
        bail!("write_score_panels {}: no videos", path.display());
    }
    if let Some(v) = videos.iter().find(|v| !v.score.is_finite()) {
        bail!("write_score_panels {}: video '{}' has score {}", path.display(), v.video_id, v.score);
    }
    if !threshold.is_finite() {
        bail!("write_score_panels {}: threshold {threshold}", path.display());
    }
    const BINS: usize = 30;
    const W: f64 = 720.0;
    const LEFT: f64 = 60.0;
    const RIGHT: f64 = 45.0; // room for the last tick label
    const PANEL: f64 = 150.0; // per class: title, bars, rug
    const BARS: f64 = 100.0;
    const TOP: f64 = 64.0;
    let lo = videos.iter().map(|v| v.score).fold(f64::INFINITY, f64::min).min(threshold);
    let hi = videos.iter().map(|v| v.score).fold(f64::NEG_INFINITY, f64::max).max(threshold);
    let (lo, hi) = if hi - lo < 1e-9 { (lo - 0.5, hi + 0.5) } else { (lo, hi) };
    let pad = 0.02 * (hi - lo);
    let (lo, hi) = (lo - pad, hi + pad);
    let bw = (hi - lo) / BINS as f64;
    let px = |x: f64| LEFT + (x - lo) / (hi - lo) * (W - LEFT - RIGHT);
    // live first, then the attack instruments by name
    let mut classes: BTreeMap<(bool, String), Vec<&ScoredVideo>> = BTreeMap::new();
    for v in videos {
        let key = if v.is_live() { (false, LIVE.to_string()) } else { (true, v.instrument.clone()) };
        classes.entry(key).or_default().push(v);
    }
    let height = TOP + classes.len() as f64 * PANEL + 50.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{height}\" viewBox=\"0 0 {W} {height}\" font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    let errors_total = videos.iter().filter(|v| is_error(v, threshold)).count();
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"22\" font-size=\"16\" font-weight=\"bold\" text-anchor=\"middle\">Scores per class: {errors_total} of {} videos misclassified</text>",
        W / 2.0,
        videos.len()
    );
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"42\" font-size=\"12\" text-anchor=\"middle\">threshold {threshold:.4} ({}); live accepted when score &#8805; threshold</text>",
        W / 2.0,
        escape(source)
    );
    let tx = px(threshold);
    for (i, ((attack, name), vs)) in classes.iter().enumerate() {
        let top = TOP + i as f64 * PANEL;
        let (y_title, y_base) = (top + 12.0, top + 18.0 + BARS);
        let errs = vs.iter().filter(|v| is_error(v, threshold)).count();
        let what = if *attack { "accepted as live" } else { "rejected" };
        let colour = color(i);
        let _ = writeln!(
            s,
            "<text x=\"{LEFT}\" y=\"{y_title}\" font-size=\"13\" font-weight=\"bold\" fill=\"{colour}\">{} ({} videos): <tspan fill=\"{}\">{errs} {what} ({:.1} %)</tspan></text>",
            escape(name),
            vs.len(),
            if errs > 0 { "#c00000" } else { "#006000" },
            100.0 * errs as f64 / vs.len() as f64
        );
        // the error side of the threshold for this class
        let (ex0, ex1) = if *attack { (tx, px(hi)) } else { (px(lo), tx) };
        let _ = writeln!(
            s,
            "<rect x=\"{ex0:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{BARS}\" fill=\"#ff0000\" fill-opacity=\"0.07\"/>",
            y_base - BARS,
            ex1 - ex0
        );
        let mut counts = [0usize; BINS];
        for v in vs {
            counts[(((v.score - lo) / bw) as usize).min(BINS - 1)] += 1;
        }
        let ymax = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
        for (b, &c) in counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let h = c as f64 / ymax * (BARS - 14.0);
            let (x0, x1) = (px(lo + b as f64 * bw), px(lo + (b + 1) as f64 * bw));
            let _ = writeln!(
                s,
                "<rect x=\"{:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{h:.2}\" fill=\"{colour}\" fill-opacity=\"0.6\" stroke=\"{colour}\"/>",
                x0 + 0.5,
                y_base - h,
                (x1 - x0 - 1.0).max(0.5)
            );
        }
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{:.2}\" font-size=\"10\" text-anchor=\"end\">{}</text>",
            LEFT - 6.0,
            y_base - BARS + 20.0,
            ymax as usize
        );
        let _ =
            writeln!(s, "<text x=\"{}\" y=\"{y_base:.2}\" font-size=\"10\" text-anchor=\"end\">0</text>", LEFT - 6.0);
        let _ = writeln!(
            s,
            "<line x1=\"{LEFT}\" y1=\"{y_base:.2}\" x2=\"{:.2}\" y2=\"{y_base:.2}\" stroke=\"black\"/>",
            W - RIGHT
        );
        // every video as a tick, so a single one is never lost in a bin
        for v in vs {
            let c = if is_error(v, threshold) { "#c00000" } else { "#555555" };
            let x = px(v.score);
            let _ = writeln!(
                s,
                "<line x1=\"{x:.2}\" y1=\"{:.2}\" x2=\"{x:.2}\" y2=\"{:.2}\" stroke=\"{c}\" stroke-width=\"1.5\"><title>{} {:.4}</title></line>",
                y_base + 3.0,
                y_base + 13.0,
                escape(&v.video_id),
                v.score
            );
        }
        let _ = writeln!(
            s,
            "<line x1=\"{tx:.2}\" y1=\"{:.2}\" x2=\"{tx:.2}\" y2=\"{:.2}\" stroke=\"black\" stroke-width=\"2\" stroke-dasharray=\"4,3\"/>",
            y_base - BARS,
            y_base + 15.0
        );
    }
    let y_axis = TOP + classes.len() as f64 * PANEL;
    // enough decimals that neighbouring ticks differ (scores may crowd into a narrow range)
    let decimals = (1.0 - ((hi - lo) / 5.0).log10().floor()).clamp(2.0, 8.0) as usize;
    for k in 0..=5 {
        let v = lo + (hi - lo) * k as f64 / 5.0;
        let _ = writeln!(
            s,
            "<text x=\"{:.2}\" y=\"{:.2}\" font-size=\"12\" text-anchor=\"middle\">{v:.decimals$}</text>",
            px(v),
            y_axis
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{:.2}\" y=\"{:.2}\" font-size=\"13\" text-anchor=\"middle\">video score (higher = more live); dashed: threshold; red ticks: misclassified videos</text>",
        (LEFT + W - RIGHT) / 2.0,
        y_axis + 24.0
    );
    s.push_str("</svg>\n");
    std::fs::write(path, s).with_context(|| format!("writing {}", path.display()))
}
