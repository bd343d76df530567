//! Face anti-spoofing metrics (ISO/IEC 30107-3 and OULU-NPU / SiW practice).
//!
//! - APCER(instrument): share of that instrument's attacks accepted as live (`score >= thr`);
//!   APCER = the highest over instruments (OULU-NPU protocol scripts).
//! - BPCER: share of live presentations rejected (`score < thr`).
//! - ACER = (APCER + BPCER) / 2.
//! - HTER = (FAR + FRR) / 2 with FAR over all attacks pooled and FRR = BPCER.
//! - ROC: one point per distinct score (ties form one step), thresholds descending, starting at
//!   (0, 0) with threshold +inf: scikit-learn's `roc_curve(drop_intermediate=False)`.
//! - AUC: trapezoids under that ROC (ties count one half).
//! - EER: linear interpolation where FNR - FPR crosses zero on the ROC; see [`eer_from_roc`].
//!   Matches tools/make_metric_goldens.py.
//! - Protocol practice: the threshold is the dev set's EER threshold, applied to test.

use super::{ScoredVideo, LIVE};
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One ROC point: `fpr` = attacks accepted as live, `tpr` = live accepted, at `score >= threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RocPoint {
    pub fpr: f64,
    pub tpr: f64,
    /// +inf for the first point (nothing accepted); serialised as null by serde_json.
    pub threshold: f64,
}

/// All numbers for one model on one test set. Rates are fractions (0..1), not percent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Decision threshold used for APCER / BPCER / ACER / HTER.
    pub threshold: f64,
    pub apcer_per_instrument: BTreeMap<String, f64>,
    /// Highest APCER over instruments.
    pub apcer: f64,
    pub bpcer: f64,
    pub acer: f64,
    pub hter: f64,
    /// EER of these videos themselves (threshold-free).
    pub eer: f64,
    pub eer_threshold: f64,
    pub auc: f64,
    pub n_live: usize,
    pub n_attack: usize,
    /// ISO/IEC 30107-3 operating points of these videos: BPCER where APCER is at most 1%, 5%, 10%.
    #[serde(default)]
    pub operating_points: Vec<OperatingPoint>,
}

/// The APCER levels at which `eval` reports BPCER (ISO/IEC 30107-3's BPCER20, BPCER100, ...).
pub const APCER_LEVELS: [f64; 3] = [0.01, 0.05, 0.10];

/// BPCER at the lowest threshold whose APCER is at most `apcer_max` (APCER over all attacks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatingPoint {
    pub apcer_max: f64,
    pub threshold: f64,
    pub apcer: f64,
    pub bpcer: f64,
}

/// The lowest threshold accepting at most `apcer_max` of the attacks (fewest live rejected among
/// those): just above the (k+1)-th highest attack score, k = floor(apcer_max x attacks).
pub fn threshold_at_apcer(videos: &[ScoredVideo], apcer_max: f64) -> Result<f64> {
    check(videos, "threshold_at_apcer")?;
    if !(0.0..=1.0).contains(&apcer_max) {
        bail!("APCER {apcer_max} is not a rate in 0..1");
    }
    let mut attacks: Vec<f64> = videos.iter().filter(|v| !v.is_live()).map(|v| v.score).collect();
    attacks.sort_by(|a, b| b.partial_cmp(a).unwrap());
    // k accepted attacks allowed (a small tolerance keeps 0.05 x 20 at 1, not 0.999..)
    let k = (apcer_max * attacks.len() as f64 + 1e-9).floor() as usize;
    Ok(match attacks.get(k) {
        Some(&a) => a.next_up(),
        None => lowest(videos),
    })
}

/// The highest threshold rejecting at most `bpcer_max` of the live videos: the (k+1)-th lowest
/// live score, k = floor(bpcer_max x live videos).
pub fn threshold_at_bpcer(videos: &[ScoredVideo], bpcer_max: f64) -> Result<f64> {
    check(videos, "threshold_at_bpcer")?;
    if !(0.0..=1.0).contains(&bpcer_max) {
        bail!("BPCER {bpcer_max} is not a rate in 0..1");
    }
    let mut live: Vec<f64> = videos.iter().filter(|v| v.is_live()).map(|v| v.score).collect();
    live.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let k = (bpcer_max * live.len() as f64 + 1e-9).floor() as usize;
    Ok(match live.get(k) {
        Some(&l) => l,
        None => live[live.len() - 1].next_up(),
    })
}

fn lowest(videos: &[ScoredVideo]) -> f64 {
    videos.iter().map(|v| v.score).fold(f64::INFINITY, f64::min)
}

/// APCER and BPCER of `videos` at `thr` (APCER over all attacks).
fn rates_at(videos: &[ScoredVideo], thr: f64) -> (f64, f64) {
    let live = videos.iter().filter(|v| v.is_live()).count().max(1) as f64;
    let attacks = videos.iter().filter(|v| !v.is_live()).count().max(1) as f64;
    let accepted = videos.iter().filter(|v| !v.is_live() && v.score >= thr).count() as f64;
    let rejected = videos.iter().filter(|v| v.is_live() && v.score < thr).count() as f64;
    (accepted / attacks, rejected / live)
}

/// BPCER at each of `APCER_LEVELS`.
pub fn operating_points(videos: &[ScoredVideo]) -> Result<Vec<OperatingPoint>> {
    APCER_LEVELS
        .iter()
        .map(|&level| {
            let threshold = threshold_at_apcer(videos, level)?;
            let (apcer, bpcer) = rates_at(videos, threshold);
            Ok(OperatingPoint { apcer_max: level, threshold, apcer, bpcer })
        })
        .collect()
}

impl Metrics {
    /// Instruments by APCER, the worst first (ties by name).
    pub fn instruments_worst_first(&self) -> Vec<(&str, f64)> {
        let mut v: Vec<(&str, f64)> = self.apcer_per_instrument.iter().map(|(k, a)| (k.as_str(), *a)).collect();
        v.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap().then(a.0.cmp(b.0)));
        v
    }

    /// Two lines under the paper's table: BPCER at the APCER levels, APCER per instrument.
    pub fn operating_lines(&self) -> String {
        let points: Vec<String> = self
            .operating_points
            .iter()
            .map(|p| format!("{:.2}% at APCER <= {:.0}%", 100.0 * p.bpcer, 100.0 * p.apcer_max))
            .collect();
        let per: Vec<String> =
            self.instruments_worst_first().iter().map(|(k, a)| format!("{k} {:.2}%", 100.0 * a)).collect();
        format!("  BPCER: {}\n  APCER per instrument (worst first): {}", points.join(", "), per.join(", "))
    }
}

/// Checks scores are finite, attacks are not named "live", and both classes are present.
/// Returns (n_live, n_attack).
fn check(videos: &[ScoredVideo], what: &str) -> Result<(usize, usize)> {
    let mut n_live = 0;
    for (i, v) in videos.iter().enumerate() {
        if !v.score.is_finite() {
            bail!("{what}: video {i} ('{}') has non-finite score {}", v.video_id, v.score);
        }
        if v.is_live() {
            n_live += 1;
        } else if v.instrument == LIVE {
            bail!(
                "{what}: video {i} ('{}') is an attack (label {}) but its instrument is '{LIVE}'",
                v.video_id,
                v.label
            );
        }
    }
    let n_attack = videos.len() - n_live;
    if n_live == 0 || n_attack == 0 {
        bail!("{what}: need live and attack videos, got {n_live} live and {n_attack} attack");
    }
    Ok((n_live, n_attack))
}

/// ROC curve, thresholds descending; see the module comment for the convention.
pub fn roc(videos: &[ScoredVideo]) -> Result<Vec<RocPoint>> {
    let (n_live, n_attack) = check(videos, "roc")?;
    let mut order: Vec<&ScoredVideo> = videos.iter().collect();
    order.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut points = vec![RocPoint { fpr: 0.0, tpr: 0.0, threshold: f64::INFINITY }];
    let (mut tp, mut fp) = (0usize, 0usize);
    for (i, v) in order.iter().enumerate() {
        if v.is_live() {
            tp += 1;
        } else {
            fp += 1;
        }
        // Emit a point only after the last sample of a run of equal scores.
        let last_of_tie = order.get(i + 1).is_none_or(|next| next.score != v.score);
        if last_of_tie {
            points.push(RocPoint {
                fpr: fp as f64 / n_attack as f64,
                tpr: tp as f64 / n_live as f64,
                threshold: v.score,
            });
        }
    }
    Ok(points)
}

/// EER and its threshold from a ROC built by [`roc`].
///
/// d = FNR - FPR falls strictly from +1 (first point) to -1 (last point). Take the first
/// point i with d <= 0 and interpolate linearly between points i-1 and i where d = 0:
/// `t = d[i-1] / (d[i-1] - d[i])`, `eer = fpr[i-1] + t (fpr[i] - fpr[i-1])`. The threshold is
/// interpolated with the same t (or is threshold[i] when threshold[i-1] is +inf).
pub fn eer_from_roc(points: &[RocPoint]) -> Result<(f64, f64)> {
    let d = |p: &RocPoint| (1.0 - p.tpr) - p.fpr;
    let Some(i) = points.iter().position(|p| d(p) <= 0.0) else {
        bail!("eer: ROC of {} points never reaches FNR <= FPR", points.len());
    };
    if i == 0 {
        bail!("eer: ROC does not start at (0, 0)");
    }
    let (a, b) = (&points[i - 1], &points[i]);
    let t = d(a) / (d(a) - d(b));
    let eer = a.fpr + t * (b.fpr - a.fpr);
    let thr = if a.threshold.is_infinite() { b.threshold } else { a.threshold + t * (b.threshold - a.threshold) };
    Ok((eer, thr))
}

/// Equal error rate and the threshold where it happens.
pub fn eer(videos: &[ScoredVideo]) -> Result<(f64, f64)> {
    eer_from_roc(&roc(videos)?)
}

/// Trapezoidal area under a ROC.
pub fn auc_from_roc(points: &[RocPoint]) -> f64 {
    points.windows(2).map(|w| (w[1].fpr - w[0].fpr) * (w[1].tpr + w[0].tpr) / 2.0).sum()
}

/// Area under the ROC.
pub fn auc(videos: &[ScoredVideo]) -> Result<f64> {
    Ok(auc_from_roc(&roc(videos)?))
}

/// All metrics at a fixed threshold (attacks with `score >= thr` are accepted as live).
pub fn at_threshold(videos: &[ScoredVideo], thr: f64) -> Result<Metrics> {
    let (n_live, n_attack) = check(videos, "at_threshold")?;
    if thr.is_nan() {
        bail!("at_threshold: threshold is NaN");
    }
    // instrument -> (accepted, total)
    let mut per: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut rejected_live = 0usize;
    let mut accepted_attacks = 0usize;
    for v in videos {
        let accepted = v.score >= thr;
        if v.is_live() {
            rejected_live += usize::from(!accepted);
        } else {
            let e = per.entry(v.instrument.clone()).or_default();
            e.0 += usize::from(accepted);
            e.1 += 1;
            accepted_attacks += usize::from(accepted);
        }
    }
    let apcer_per_instrument: BTreeMap<String, f64> =
        per.into_iter().map(|(k, (a, n))| (k, a as f64 / n as f64)).collect();
    let apcer = apcer_per_instrument.values().cloned().fold(0.0, f64::max);
    let bpcer = rejected_live as f64 / n_live as f64;
    let far = accepted_attacks as f64 / n_attack as f64;
    let points = roc(videos)?;
    let (eer, eer_threshold) = eer_from_roc(&points)?;
    Ok(Metrics {
        threshold: thr,
        apcer_per_instrument,
        apcer,
        bpcer,
        acer: (apcer + bpcer) / 2.0,
        hter: (far + bpcer) / 2.0,
        eer,
        eer_threshold,
        auc: auc_from_roc(&points),
        n_live,
        n_attack,
        operating_points: operating_points(videos)?,
    })
}

/// Protocol practice: threshold = EER threshold on dev, metrics on test at that threshold.
pub fn evaluate(dev: &[ScoredVideo], test: &[ScoredVideo]) -> Result<Metrics> {
    let thr = dev_threshold(dev).map_err(|e| e.context("evaluate: dev set"))?;
    at_threshold(test, thr).map_err(|e| e.context("evaluate: test set"))
}

/// The operating threshold fixed on dev: where FAR and FRR are closest (the EER point, fewest
/// errors among ties). Often a whole interval of thresholds qualifies (always when dev is
/// separable); its middle is taken rather than an end, so the threshold does not sit on the
/// edge of one class's scores (the `eer_threshold` of sklearn-style interpolation does).
pub fn dev_threshold(videos: &[ScoredVideo]) -> Result<f64> {
    check(videos, "dev_threshold")?;
    let mut scores: Vec<f64> = videos.iter().map(|v| v.score).collect();
    scores.sort_by(|a, b| a.partial_cmp(b).unwrap());
    scores.dedup();
    // candidates: below everything, between consecutive scores, above everything
    let mut cands = vec![scores[0] - 1e-6];
    cands.extend(scores.windows(2).map(|w| (w[0] + w[1]) / 2.0));
    cands.push(scores[scores.len() - 1] + 1e-6);
    let (n_live, n_attack) =
        (videos.iter().filter(|v| v.is_live()).count(), videos.iter().filter(|v| !v.is_live()).count());
    let rates = |thr: f64| {
        let frr = videos.iter().filter(|v| v.is_live() && v.score < thr).count() as f64 / n_live as f64;
        let far = videos.iter().filter(|v| !v.is_live() && v.score >= thr).count() as f64 / n_attack as f64;
        ((far - frr).abs(), far + frr)
    };
    let best = cands.iter().map(|&t| rates(t)).fold((f64::INFINITY, f64::INFINITY), |a, b| if b < a { b } else { a });
    let ties: Vec<f64> = cands.iter().copied().filter(|&t| rates(t) == best).collect();
    Ok((ties[0] + ties[ties.len() - 1]) / 2.0)
}

#[cfg(test)]
mod dev_threshold_tests {
    use super::*;

    #[test]
    fn operating_points_match_thresholds_counted_by_hand() {
        let v = |s: f64, live: bool, inst: &str| ScoredVideo::new(&format!("{inst}{s}"), inst, live as u32, s);
        // 20 attacks at 0.05, 0.10, .., 1.00; 10 live at 0.42, 0.52, .., 1.32
        let mut videos: Vec<ScoredVideo> =
            (1..=20).map(|i| v(i as f64 * 0.05, false, if i % 2 == 0 { "print" } else { "replay" })).collect();
        videos.extend((0..10).map(|i| v(0.42 + i as f64 * 0.1, true, "live")));
        // APCER <= 5%: one attack (the 1.00) may pass, so the threshold is just above 0.95;
        // live below it: 0.42 .. 0.92 = 6 of 10
        let t = threshold_at_apcer(&videos, 0.05).unwrap();
        assert!(t > 0.95 && t < 0.95 + 1e-12, "{t}");
        let m = at_threshold(&videos, 0.5).unwrap();
        let p5 = &m.operating_points[1];
        assert_eq!((p5.apcer, p5.bpcer), (0.05, 0.6));
        // APCER <= 1%: no attack passes: above 1.00; live below: 0.42 .. 0.92 = 6
        assert_eq!(m.operating_points[0].bpcer, 0.6);
        assert_eq!(m.operating_points[0].apcer, 0.0);
        // APCER <= 10%: two pass (1.00, 0.95): just above 0.90; live below: 0.42 .. 0.82 = 5
        assert_eq!((m.operating_points[2].apcer, m.operating_points[2].bpcer), (0.1, 0.5));
        // BPCER <= 20%: two live may be rejected: the threshold is the third lowest live score
        assert!((threshold_at_bpcer(&videos, 0.2).unwrap() - 0.62).abs() < 1e-12);
        // worst instrument first: at 0.5, prints 0.5..1.0 (6 of 10) vs replays 0.55..0.95 (5 of 10)
        assert_eq!(m.instruments_worst_first()[0].0, "print");
    }

    #[test]
    fn separable_dev_puts_the_threshold_mid_gap() {
        let v = |s: f64, live: bool| {
            ScoredVideo::new(&format!("{s}"), if live { "live" } else { "print1" }, live as u32, s)
        };
        let dev = [v(0.1, false), v(0.2, false), v(0.3, false), v(0.7, true), v(0.8, true), v(0.9, true)];
        assert!((dev_threshold(&dev).unwrap() - 0.5).abs() < 1e-9);
        // overlapping: one attack at 0.75 -> FAR = FRR = 1/3 between 0.7 and 0.75 (one error each side)
        let dev = [v(0.1, false), v(0.2, false), v(0.75, false), v(0.7, true), v(0.8, true), v(0.9, true)];
        let t = dev_threshold(&dev).unwrap();
        assert!(t > 0.2 && t <= 0.8, "{t}");
        let m = at_threshold(&dev, t).unwrap();
        assert!((m.apcer - m.bpcer).abs() < 1e-9, "{m:?}");
    }
}

/// Mean and sample standard deviation (n - 1), e.g. over OULU-NPU sub-protocols.
/// One value gives std 0 (not NaN); no values is an error.
pub fn mean_std(values: &[f64]) -> Result<(f64, f64)> {
    if values.is_empty() {
        bail!("mean_std: no values");
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        bail!("mean_std: value {i} is {}", values[i]);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() == 1 {
        return Ok((mean, 0.0));
    }
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0);
    Ok((mean, var.sqrt()))
}

/// Mean and std of the headline numbers over sub-protocols (OULU-NPU protocols 3 and 4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: usize,
    pub apcer: (f64, f64),
    pub bpcer: (f64, f64),
    pub acer: (f64, f64),
    pub hter: (f64, f64),
    pub eer: (f64, f64),
    pub auc: (f64, f64),
}

pub fn summarize(runs: &[Metrics]) -> Result<Summary> {
    let ms = |f: fn(&Metrics) -> f64| mean_std(&runs.iter().map(f).collect::<Vec<_>>());
    Ok(Summary {
        n: runs.len(),
        apcer: ms(|m| m.apcer)?,
        bpcer: ms(|m| m.bpcer)?,
        acer: ms(|m| m.acer)?,
        hter: ms(|m| m.hter)?,
        eer: ms(|m| m.eer)?,
        auc: ms(|m| m.auc)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn v(id: &str, inst: &str, score: f64) -> ScoredVideo {
        ScoredVideo::new(id, inst, u32::from(inst == LIVE), score)
    }

    /// 4 live, 3 print, 2 replay.
    fn hand_set() -> Vec<ScoredVideo> {
        vec![
            v("l1", "live", 0.9),
            v("l2", "live", 0.8),
            v("l3", "live", 0.3),
            v("l4", "live", 0.7),
            v("p1", "print", 0.2),
            v("p2", "print", 0.6),
            v("p3", "print", 0.1),
            v("r1", "replay", 0.55),
            v("r2", "replay", 0.4),
        ]
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn hand_computed_at_threshold() {
        let m = at_threshold(&hand_set(), 0.5).unwrap();
        // BPCER: live below 0.5 = {0.3} -> 1/4.
        // APCER print: {0.6} >= 0.5 of 3 -> 1/3; replay: {0.55} of 2 -> 1/2; max = 1/2.
        // ACER = (1/2 + 1/4) / 2 = 3/8. FAR = 2/5 pooled; HTER = (2/5 + 1/4) / 2 = 13/40.
        assert!(close(m.bpcer, 0.25));
        assert!(close(m.apcer_per_instrument["print"], 1.0 / 3.0));
        assert!(close(m.apcer_per_instrument["replay"], 0.5));
        assert!(close(m.apcer, 0.5));
        assert!(close(m.acer, 0.375));
        assert!(close(m.hter, 0.325));
        assert_eq!((m.n_live, m.n_attack), (4, 5));
        assert_eq!(m.apcer_per_instrument.len(), 2);
    }

    #[test]
    fn score_equal_to_threshold_is_accepted() {
        let m = at_threshold(&hand_set(), 0.6).unwrap();
        // print 0.6 >= 0.6 accepted -> 1/3; replay 0.55 rejected -> 0; APCER = 1/3.
        // live 0.3 rejected -> BPCER 1/4; ACER = (1/3 + 1/4) / 2 = 7/24.
        // FAR = 1/5; HTER = (1/5 + 1/4) / 2 = 9/40.
        assert!(close(m.apcer_per_instrument["replay"], 0.0));
        assert!(close(m.apcer, 1.0 / 3.0));
        assert!(close(m.acer, 7.0 / 24.0));
        assert!(close(m.hter, 9.0 / 40.0));
    }

    #[test]
    fn dev_threshold_applied_to_test() {
        // Dev ROC: thr 0.9 (fpr 0, tpr 1/3), 0.7 (0, 2/3), 0.6 (1/3, 2/3): FNR = FPR = 1/3
        // exactly at 0.6, so the dev EER threshold is 0.6.
        let dev = vec![
            v("d1", "live", 0.9),
            v("d2", "live", 0.7),
            v("d3", "live", 0.5),
            v("d4", "print", 0.6),
            v("d5", "print", 0.4),
            v("d6", "replay", 0.2),
        ];
        let (e, t) = eer(&dev).unwrap();
        assert!(close(e, 1.0 / 3.0) && close(t, 0.6), "{e} {t}");
        let test = vec![
            v("t1", "live", 0.65),
            v("t2", "live", 0.55),
            v("t3", "live", 0.95),
            v("t4", "print", 0.62),
            v("t5", "print", 0.3),
            v("t6", "replay", 0.59),
        ];
        let m = evaluate(&dev, &test).unwrap();
        // FAR = FRR = 1/3 only for thresholds in (0.5, 0.6]: the operating threshold is the
        // middle of that interval, 0.55 (dev_threshold), not its edge 0.6.
        // At 0.55 on test: BPCER = 0 (0.55 is accepted); APCER print 1/2 (0.62), replay 1 (0.59).
        // ACER = (1 + 0) / 2 = 1/2; FAR = 2/3, HTER = 1/3.
        assert!(close(m.threshold, 0.55), "{}", m.threshold);
        assert!(close(m.bpcer, 0.0));
        assert!(close(m.apcer, 1.0));
        assert!(close(m.acer, 0.5));
        assert!(close(m.hter, 1.0 / 3.0));
        // The test set's own EER threshold differs from the dev one that was applied.
        assert!((m.eer_threshold - m.threshold).abs() > 1e-3, "{}", m.eer_threshold);
    }

    #[test]
    fn sklearn_goldens_roc_auc_eer() {
        let text = include_str!("../../tests/fixtures/metrics_golden.json");
        let root: Value = serde_json::from_str(text).unwrap();
        let cases = root["cases"].as_array().unwrap();
        assert!(cases.len() >= 5);
        for c in cases {
            let name = c["name"].as_str().unwrap();
            let f = |k: &str| -> Vec<f64> {
                c[k].as_array().unwrap().iter().map(|x| x.as_f64().unwrap_or(f64::INFINITY)).collect()
            };
            let labels = c["labels"].as_array().unwrap();
            let scores = f("scores");
            let videos: Vec<ScoredVideo> = labels
                .iter()
                .zip(&scores)
                .enumerate()
                .map(|(i, (l, &s))| {
                    let inst = if l.as_u64() == Some(1) { LIVE } else { "attack" };
                    v(&format!("{name}{i}"), inst, s)
                })
                .collect();
            let pts = roc(&videos).unwrap();
            let (fpr, tpr, thr) = (f("fpr"), f("tpr"), f("thresholds"));
            assert_eq!(pts.len(), fpr.len(), "{name}: ROC length");
            for (i, p) in pts.iter().enumerate() {
                assert!(close(p.fpr, fpr[i]) && close(p.tpr, tpr[i]), "{name} point {i}: {p:?}");
                assert!(p.threshold == thr[i], "{name} threshold {i}: {} vs {}", p.threshold, thr[i]);
            }
            let a = auc(&videos).unwrap();
            assert!(close(a, c["auc"].as_f64().unwrap()), "{name}: auc {a}");
            let (e, t) = eer(&videos).unwrap();
            assert!(close(e, c["eer"].as_f64().unwrap()), "{name}: eer {e}");
            assert!(close(t, c["eer_threshold"].as_f64().unwrap()), "{name}: eer thr {t}");
        }
    }

    #[test]
    fn ties_do_not_depend_on_input_order() {
        let mut a = hand_set();
        a.push(v("l5", "live", 0.6)); // ties with print 0.6
        let mut b = a.clone();
        b.reverse();
        assert_eq!(roc(&a).unwrap(), roc(&b).unwrap());
        assert_eq!(eer(&a).unwrap(), eer(&b).unwrap());
    }

    #[test]
    fn mean_std_sample() {
        // mean 2.5; squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5; var = 5/3.
        let (m, s) = mean_std(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert!(close(m, 2.5) && close(s, (5.0f64 / 3.0).sqrt()));
        assert_eq!(mean_std(&[0.7]).unwrap(), (0.7, 0.0));
        assert!(mean_std(&[]).is_err());
        assert!(mean_std(&[1.0, f64::NAN]).is_err());
    }

    #[test]
    fn summarize_over_runs() {
        let set = hand_set();
        let runs = [at_threshold(&set, 0.5).unwrap(), at_threshold(&set, 0.6).unwrap()];
        let s = summarize(&runs).unwrap();
        // ACER 3/8 and 7/24: mean 1/3, std = |3/8 - 7/24| / sqrt(2) = (1/12) / sqrt(2).
        assert!(close(s.acer.0, 1.0 / 3.0));
        assert!(close(s.acer.1, 1.0 / 12.0 / 2f64.sqrt()));
    }

    #[test]
    fn empty_class_is_an_error_not_nan() {
        let only_live = vec![v("a", "live", 0.4), v("b", "live", 0.6)];
        let only_attacks = vec![v("a", "print", 0.4)];
        for set in [&only_live, &only_attacks, &Vec::new()] {
            assert!(roc(set).is_err());
            assert!(eer(set).is_err());
            assert!(auc(set).is_err());
            assert!(at_threshold(set, 0.5).is_err());
        }
        let e = evaluate(&only_live, &hand_set()).unwrap_err();
        assert!(format!("{e:#}").contains("dev"), "{e:#}");
        let mut nan = hand_set();
        nan[0].score = f64::NAN;
        assert!(at_threshold(&nan, 0.5).is_err());
        assert!(at_threshold(&hand_set(), f64::NAN).is_err());
    }
}
