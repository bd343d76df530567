//! Which conv kernels this adapter runs, made by a small autotune when a device is opened
//! (`ops::tune`, before anything is recorded) and kept in the tuning table (`ops::tuning`) so it
//! measures once per adapter, driver and shader version. Two families: the forward /
//! input-gradient convolution (rows with subgroup-shared weights, else register-blocked, for CPU
//! adapters; shared-memory tiles or the larger double-buffered GEMM tiles for GPUs) and the weight
//! gradient (rows; a shared-memory reduction; a split GEMM). Every candidate must agree with the
//! reference kernel before its time counts, and replaces the adapter type's default only when
//! clearly faster (`tuning::SWITCH_MARGIN`). The 8 x 8-per-thread GEMM kernels come in several
//! tiles (`GEMM8_TILES`: `gemm8` is 128 x 128, `gemm8-128x64`, `gemm8-64x128`, `gemm8-64x64` the
//! others), each a candidate of its own. A cached choice other than the default is timed against
//! the default again whenever a device is tuned (`tuning::still_chosen`), so a choice made under
//! load is not kept. `TDFAS_CONV=blocked|tiled|rows|gemm|gemm8|gemm8-128x64|..` and
//! `TDFAS_WGRAD=reduce|rows|gemm|gemm8|gemm8-128x64|..` (every name of `ConvKernel::ALL`,
//! `WgradKernel::ALL`) override the choice.

use anyhow::Result;

#[cfg(not(target_arch = "wasm32"))]
use super::shader_sources;
use super::{ConvKernel, WgradKernel};
use crate::gpu::Gpu;
#[cfg(not(target_arch = "wasm32"))]
use crate::ops::tuning::{cache_key, read_cache, still_chosen, write_cache, SWITCH_MARGIN};
use crate::ops::tuning::{choose_over, overridden};

/// This adapter's cached conv entry as a table (`tdfas info`).
pub fn table(gpu: &Gpu) -> Option<String> {
    crate::ops::tuning::table(gpu, &crate::ops::tuning::cache_key(gpu, &super::shader_sources()))
}

/// The conv kernels for `gpu` (forward / input gradient, weight gradient): the overrides
/// (`TDFAS_CONV`, `TDFAS_WGRAD`), else the cached choice, else the autotune's (then cached). Run
/// by `conv::tune` when a device is opened.
/// The third value: whether inference uses the float16-tile kernel, the fourth: the
/// cooperative-matrix variant inference uses, if one (neither with an override).
pub fn tune(gpu: &Gpu) -> Result<(ConvKernel, WgradKernel, bool, Option<ConvKernel>)> {
    let names: Vec<&str> = ConvKernel::ALL.iter().map(|k| k.name()).collect();
    let s = gpu.settings();
    let forced = overridden("TDFAS_CONV", s.conv.as_deref(), &names, ConvKernel::parse)?;
    let names: Vec<&str> = WgradKernel::ALL.iter().map(|k| k.name()).collect();
    let forced_wgrad = overridden("TDFAS_WGRAD", s.wgrad.as_deref(), &names, WgradKernel::parse)?;
    // an overridden forward kernel brings its own weight gradient unless that is overridden too,
    // with nothing measured (as before the weight gradient was tuned)
    if let Some(k) = forced {
        return Ok((k, forced_wgrad.unwrap_or(default_wgrad(k, &WgradKernel::ALL.map(|w| (w, 0.0)))), false, None));
    }
    // The browser cannot block on the GPU to time candidates: the adapter type's defaults.
    #[cfg(target_arch = "wasm32")]
    let (kernel, wgrad, half, coop) = {
        let k = default_kernel(gpu.is_cpu(), &[]);
        (k, default_wgrad(k, &[]), false, None)
    };
    #[cfg(not(target_arch = "wasm32"))]
    let (kernel, wgrad, half, coop) = tuned(gpu, forced_wgrad.is_some())?;
    Ok((kernel, forced_wgrad.unwrap_or(wgrad), half, coop))
}

/// The cached choice for this adapter where it still holds (`reprobe`), else the autotune's (then
/// cached).
#[cfg(not(target_arch = "wasm32"))]
fn tuned(gpu: &Gpu, wgrad_forced: bool) -> Result<(ConvKernel, WgradKernel, bool, Option<ConvKernel>)> {
    let key = cache_key(gpu, &shader_sources());
    let mut cache = read_cache(gpu.settings());
    let cached = cache.get(&key).and_then(|v| {
        let k = ConvKernel::parse(v.get("kernel")?.as_str()?)?;
        // absent or null: no cooperative-matrix kernel
        let coop = match v.get("coop") {
            None | Some(serde_json::Value::Null) => None,
            Some(c) => Some(ConvKernel::parse_coop(c.as_str()?)?),
        };
        Some((k, WgradKernel::parse(v.get("wgrad")?.as_str()?)?, v.get("half")?.as_bool()?, coop))
    });
    if let Some(c) = cached {
        // a choice other than the defaults is timed against them again (cheap): a choice made
        // under load, or no longer right, is not kept forever
        match reprobe(gpu, &cache[&key], c, wgrad_forced)? {
            None => return Ok(c),
            Some(why) => eprintln!(
                "the cached conv kernel choice for {} no longer holds ({why}): tuning again",
                gpu.device.info().name
            ),
        }
    }
    // Slow on some adapters (about a minute on a software GL driver): say what is happening.
    eprintln!("tuning the conv kernels for {} (once per adapter and driver)", gpu.device.info().name);
    // nothing recorded, no dry run, no profiler here (`conv::tune` refuses those): the measurement
    // is the only work on the device
    let c = super::autotune(gpu)?;
    let times = passed(&c.forward);
    let kernel = choose(gpu.is_cpu(), &times);
    let wtimes = passed(&c.wgrad);
    let wgrad = choose_over(default_wgrad(kernel, &wtimes), &wtimes);
    let half_ms = c.half.as_ref().and_then(|h| h.ms.as_ref().ok()).copied();
    let inference = choose_inference(&times, kernel, half_ms, &passed(&c.coop));
    let half = inference == ConvKernel::Gemm8F16;
    let coop = matches!(inference, ConvKernel::Coop { .. }).then_some(inference);
    // each excluded candidate is said once: here, then it is in the cache
    for (name, why) in c.forward.iter().filter_map(|c| Some((c.kernel.name(), c.ms.as_ref().err()?))) {
        eprintln!("  conv kernel {name} excluded: {why}");
    }
    for (name, why) in c.wgrad.iter().filter_map(|c| Some((c.kernel.name(), c.ms.as_ref().err()?))) {
        eprintln!("  weight-gradient kernel {name} excluded: {why}");
    }
    if let Some(Err(why)) = c.half.as_ref().map(|h| &h.ms) {
        eprintln!("  float16-tile inference kernel excluded: {why}");
    }
    for (name, why) in c.coop.iter().filter_map(|c| Some((c.kernel.name(), c.ms.as_ref().err()?))) {
        eprintln!("  cooperative-matrix inference kernel {name} excluded: {why}");
    }
    let said = |t: &[(&str, f64)]| t.iter().map(|(k, t)| format!("{k} {t:.2} ms")).collect::<Vec<_>>().join(", ");
    eprintln!(
        "  forward {}: {} kernel; weight gradient {}: {} kernel; float16 tiles for inference: {}; cooperative matrices: {}",
        said(&times.iter().map(|(k, t)| (k.name(), *t)).collect::<Vec<_>>()),
        kernel.name(),
        said(&wtimes.iter().map(|(k, t)| (k.name(), *t)).collect::<Vec<_>>()),
        wgrad.name(),
        if half { "yes" } else { "no" },
        coop.map_or("no".to_string(), |k| k.name().to_string())
    );
    let ms = |t: Vec<(&str, f64)>| -> serde_json::Map<String, serde_json::Value> {
        t.into_iter().map(|(k, t)| (k.to_string(), serde_json::json!((t * 1e3).round() / 1e3))).collect()
    };
    let checks = |t: Vec<(&str, String)>| -> serde_json::Map<String, serde_json::Value> {
        t.into_iter().map(|(k, c)| (k.to_string(), serde_json::json!(c))).collect()
    };
    let check_of = |r: &std::result::Result<f64, String>| r.as_ref().map_or_else(|e| e.clone(), |_| "ok".into());
    cache.insert(
        key,
        serde_json::json!({
            "kernel": kernel.name(),
            "ms": ms(times.iter().map(|(k, t)| (k.name(), *t)).collect()),
            "checks": checks(c.forward.iter().map(|c| (c.kernel.name(), check_of(&c.ms))).collect()),
            "wgrad": wgrad.name(),
            "wgrad_ms": ms(wtimes.iter().map(|(k, t)| (k.name(), *t)).collect()),
            "wgrad_checks": checks(c.wgrad.iter().map(|c| (c.kernel.name(), check_of(&c.ms))).collect()),
            "half": half,
            "half_ms": ms(passed(c.half.as_slice()).iter().map(|(k, t)| (k.name(), *t)).collect()),
            "half_checks": checks(c.half.iter().map(|c| (c.kernel.name(), check_of(&c.ms))).collect()),
            "coop": coop.map(|k| k.name()),
            "coop_ms": ms(passed(&c.coop).iter().map(|(k, t)| (k.name(), *t)).collect()),
            "coop_checks": checks(c.coop.iter().map(|c| (c.kernel.name(), check_of(&c.ms))).collect()),
        }),
    );
    // A cache that cannot be written only means tuning again next time; said, not hidden.
    match write_cache(gpu.settings(), &cache) {
        Ok(path) => eprintln!("  cached in {}", path.display()),
        Err(e) => eprintln!("  not cached ({e:#}): tuned again next time"),
    }
    Ok((kernel, wgrad, half, coop))
}

/// The times stored under `field` of a cache entry, for the kernels `parse` reads; else (an older
/// entry without them) every kernel in `available` with no time, so that the defaults come out as
/// where they ran.
#[cfg(not(target_arch = "wasm32"))]
fn cached_times<K: Copy>(
    entry: &serde_json::Value,
    field: &str,
    parse: impl Fn(&str) -> Option<K>,
    available: impl Iterator<Item = K>,
) -> Vec<(K, f64)> {
    match entry.get(field).and_then(|m| m.as_object()) {
        Some(m) => m.iter().filter_map(|(k, t)| Some((parse(k)?, t.as_f64()?))).collect(),
        None => available.map(|k| (k, 0.0)).collect(),
    }
}

/// Re-probes a cached choice (`entry`, read as `c`) where it is not the default: the forward
/// kernel against the adapter type's default, the weight gradient against its default with that
/// forward kernel, a float16-tile or cooperative-matrix inference kernel against the forward
/// kernel, each pair timed in `REPROBE_ROUNDS` interleaved rounds (nothing runs where every
/// choice is the default, or a choice is not used). None: the choice stands ([`still_chosen`]);
/// else why not.
#[cfg(not(target_arch = "wasm32"))]
fn reprobe(
    gpu: &Gpu,
    entry: &serde_json::Value,
    (kernel, wgrad, half, coop): (ConvKernel, WgradKernel, bool, Option<ConvKernel>),
    wgrad_forced: bool,
) -> Result<Option<String>> {
    use super::Probe::{Forward, Wgrad};
    let times = cached_times(entry, "ms", ConvKernel::parse, ConvKernel::ALL.into_iter().filter(|k| k.available(gpu)));
    let wtimes =
        cached_times(entry, "wgrad_ms", WgradKernel::parse, WgradKernel::ALL.into_iter().filter(|k| k.available(gpu)));
    // (family, cached choice, its default)
    let mut pairs = vec![
        ("forward", Forward(kernel), Forward(default_kernel(gpu.is_cpu(), &times))),
        ("weight-gradient", Wgrad(wgrad), Wgrad(default_wgrad(kernel, &wtimes))),
    ];
    // the inference kernel as `conv::tune` takes it (TDFAS_COOP=0, TDFAS_F16=0 keep them off)
    let s = gpu.settings();
    if let Some(inference) = coop.filter(|_| s.coop).or((half && s.f16).then_some(ConvKernel::Gemm8F16)) {
        pairs.push(("inference", Forward(inference), Forward(kernel)));
    }
    // a choice not used (TDFAS_WGRAD overrides it) or the default itself: nothing to time
    pairs.retain(|p| p.1 != p.2 && !(wgrad_forced && matches!(p.1, Wgrad(_))));
    if pairs.is_empty() {
        return Ok(None);
    }
    let mut probes: Vec<super::Probe> = vec![];
    for &(_, a, b) in &pairs {
        for p in [a, b] {
            if !probes.contains(&p) {
                probes.push(p);
            }
        }
    }
    let measured = super::time_probes(gpu, &probes, super::REPROBE_ROUNDS)?;
    let ran: Vec<(super::Probe, f64)> =
        probes.iter().zip(&measured).filter_map(|(p, t)| Some((*p, *t.as_ref().ok()?))).collect();
    let said = |p: super::Probe| match measured[probes.iter().position(|&q| q == p).expect("probed")].as_ref() {
        Ok(t) => format!("{} {t:.2} ms", p.name()),
        Err(e) => format!("{} {e}", p.name()),
    };
    Ok(pairs.into_iter().find(|&(_, cached, default)| !still_chosen(cached, default, &ran)).map(
        |(family, cached, default)| {
            format!("{family} {} against the default {}, not {SWITCH_MARGIN}x faster now", said(cached), said(default))
        },
    ))
}

/// The inference conv: the chosen kernel, unless the float16-tile kernel (`half`, its probe
/// time if it passed its check) or a cooperative-matrix variant (`coop`, those that passed) is
/// faster by [`SWITCH_MARGIN`]; then the fastest of them.
pub fn choose_inference(
    times: &[(ConvKernel, f64)],
    chosen: ConvKernel,
    half: Option<f64>,
    coop: &[(ConvKernel, f64)],
) -> ConvKernel {
    let mut all: Vec<(ConvKernel, f64)> = times.iter().filter(|t| t.0 == chosen).copied().collect();
    all.extend(half.map(|h| (ConvKernel::Gemm8F16, h)));
    all.extend_from_slice(coop);
    choose_over(chosen, &all)
}

/// The candidates that ran and passed their check, with their times.
pub fn passed<K: Copy>(c: &[super::Candidate<K>]) -> Vec<(K, f64)> {
    c.iter().filter_map(|c| Some((c.kernel, *c.ms.as_ref().ok()?))).collect()
}

/// The adapter type's default: on a CPU adapter the row kernel where it ran (it needs subgroups),
/// else the register-blocked one; tiles on a GPU.
pub fn default_kernel(is_cpu: bool, times: &[(ConvKernel, f64)]) -> ConvKernel {
    match is_cpu {
        true if times.iter().any(|t| t.0 == ConvKernel::Rows) => ConvKernel::Rows,
        true => ConvKernel::RegisterBlocked,
        false => ConvKernel::Tiled,
    }
}

/// The weight gradient's default: the row kernel with the row forward kernel (where it ran), else
/// the reduction.
pub fn default_wgrad(forward: ConvKernel, times: &[(WgradKernel, f64)]) -> WgradKernel {
    match forward {
        ConvKernel::Rows if times.iter().any(|t| t.0 == WgradKernel::Rows) => WgradKernel::Rows,
        _ => WgradKernel::Reduce,
    }
}

/// The adapter type's default ([`default_kernel`]) unless another kernel is faster by
/// [`SWITCH_MARGIN`]; a default that failed to run gives way to what ran.
pub fn choose(is_cpu: bool, times: &[(ConvKernel, f64)]) -> ConvKernel {
    choose_over(default_kernel(is_cpu, times), times)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::conv;
    use crate::ops::tuning::{interleaved_times, still_chosen};
    use ConvKernel::{RegisterBlocked as B, Rows as R, Tiled as T};

    #[test]
    fn the_default_stays_unless_clearly_slower() {
        assert_eq!(choose(true, &[(B, 10.0), (T, 9.0)]), B, "within the margin");
        assert_eq!(choose(true, &[(B, 10.0), (T, 7.0)]), T, "clearly faster");
        assert_eq!(choose(false, &[(B, 9.0), (T, 10.0)]), T);
        assert_eq!(choose(false, &[(B, 5.0), (T, 10.0)]), B);
        assert_eq!(choose(false, &[(B, 5.0)]), B, "the default did not run");
        assert_eq!(choose(true, &[]), B);
        // the row kernel is the CPU default where it ran; the GPU keeps its tiles
        assert_eq!(choose(true, &[(B, 9.0), (T, 12.0), (R, 10.0)]), R, "within the margin");
        assert_eq!(choose(true, &[(B, 5.0), (T, 12.0), (R, 10.0)]), B, "clearly faster");
        assert_eq!(choose(false, &[(B, 9.0), (T, 10.0), (R, 9.0)]), T);
        // the GEMM kernel replaces the tiles on a GPU only when clearly faster
        assert_eq!(choose(false, &[(T, 10.0), (ConvKernel::Gemm, 8.0)]), T);
        assert_eq!(choose(false, &[(T, 10.0), (ConvKernel::Gemm, 5.0)]), ConvKernel::Gemm);
    }

    #[test]
    fn gemm8_tile_variants_are_candidates_with_names_of_their_own() {
        use WgradKernel::Reduce;
        // every tile of GEMM8_TILES is a candidate of both families, after the default gemm8
        for (bm, bn) in conv::GEMM8_TILES {
            let (f, w) = (ConvKernel::Gemm8Tile { bm, bn }, WgradKernel::Gemm8Tile { bm, bn });
            assert!(ConvKernel::ALL.contains(&f) && WgradKernel::ALL.contains(&w), "{bm}x{bn}");
            assert_eq!(f.name(), format!("gemm8-{bm}x{bn}"));
            assert_eq!(w.name(), f.name());
            assert!(conv::gemm8_constants(bm, bn).is_ok());
        }
        assert!(conv::GEMM8_TILES.len() >= 2 && !conv::GEMM8_TILES.contains(&(128, 128)), "the default is gemm8");
        // names are unique and read back (TDFAS_CONV, TDFAS_WGRAD, the cache); padding is trimmed
        let names: std::collections::BTreeSet<&str> = ConvKernel::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), ConvKernel::ALL.len());
        let wnames: std::collections::BTreeSet<&str> = WgradKernel::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(wnames.len(), WgradKernel::ALL.len());
        for k in ConvKernel::ALL {
            assert_eq!(ConvKernel::parse(k.name()), Some(k));
        }
        for k in WgradKernel::ALL {
            assert_eq!(WgradKernel::parse(k.name()), Some(k));
        }
        assert_eq!(ConvKernel::parse(" gemm8-64x128 "), Some(ConvKernel::Gemm8Tile { bm: 64, bn: 128 }));
        assert_eq!(ConvKernel::parse("gemm8-32x64"), None);
        assert_eq!(WgradKernel::parse("gemm8-128x128"), None, "the default tile is `gemm8`");
        // chosen only when faster than the default by the margin: lavapipe keeps rows, a GPU its
        // tiles, the weight gradient its reduction
        let t = ConvKernel::Gemm8Tile { bm: 64, bn: 64 };
        assert_eq!(choose(true, &[(B, 10.7), (R, 1.5), (T, 27.7), (t, 1.2)]), R, "within the margin");
        assert_eq!(choose(false, &[(T, 10.0), (ConvKernel::Gemm8, 9.0), (t, 8.0)]), T, "within the margin");
        assert_eq!(choose(false, &[(T, 10.0), (ConvKernel::Gemm8, 6.0), (t, 5.0)]), t, "the fastest");
        let w = WgradKernel::Gemm8Tile { bm: 128, bn: 64 };
        assert_eq!(choose_over(Reduce, &[(Reduce, 10.0), (WgradKernel::Gemm8, 9.0), (w, 8.0)]), Reduce);
        assert_eq!(choose_over(Reduce, &[(Reduce, 10.0), (WgradKernel::Gemm8, 5.0), (w, 4.0)]), w);
        // a cached tile is re-timed against the default and kept only while still clearly faster
        assert!(still_chosen(t, T, &[(t, 5.0), (T, 10.0)]));
        assert!(!still_chosen(t, T, &[(t, 9.0), (T, 10.0)]));
        // the inference-only kernels stay out of the training candidates
        assert!(ConvKernel::ALL.iter().all(|k| !matches!(k, ConvKernel::Coop { .. } | ConvKernel::Gemm8F16)));
    }

    #[test]
    fn cooperative_matrix_variants_are_offered_only_with_the_feature_and_shape() {
        use wgpu::CooperativeScalarType::{F16, F32};
        use wgpu::Features as F;
        let conf = |m, n, k, ab, cr| wgpu::CooperativeMatrixProperties {
            m_size: m,
            n_size: n,
            k_size: k,
            ab_type: ab,
            cr_type: cr,
            saturating_accumulation: false,
        };
        // NVIDIA's Vulkan driver: 16 x 16 x 16 float16 into float32, among others
        let nvidia = [conf(16, 16, 16, F16, F16), conf(16, 16, 16, F16, F32), conf(16, 8, 16, F16, F32)];
        let all = F::EXPERIMENTAL_COOPERATIVE_MATRIX | F::SHADER_F16 | F::SUBGROUP;
        let got = conv::coop_candidates(all, &nvidia);
        assert_eq!(got, conv::COOP_TILES.to_vec());
        assert!(got.len() >= 2, "several tile variants");
        // every variant has its own name, read back from the cache
        for k in &got {
            assert_eq!(ConvKernel::parse_coop(k.name()), Some(*k));
        }
        assert!(conv::COOP_TILES.iter().map(|k| k.name()).collect::<std::collections::BTreeSet<_>>().len() == 3);
        // without any of the features, or without the 16 x 16 x 16 f16 -> f32 configuration: none
        for missing in [F::EXPERIMENTAL_COOPERATIVE_MATRIX, F::SHADER_F16, F::SUBGROUP] {
            assert!(conv::coop_candidates(all - missing, &nvidia).is_empty(), "{missing:?}");
        }
        assert!(conv::coop_candidates(all, &[]).is_empty());
        assert!(conv::coop_candidates(all, &[conf(8, 8, 8, F32, F32)]).is_empty(), "Apple's 8 x 8 f32");
        assert!(conv::coop_candidates(all, &[conf(16, 16, 16, F16, F16)]).is_empty(), "f16 sums only");
        // never a training kernel (ALL is what the forward / input-gradient family tunes)
        assert!(ConvKernel::ALL.iter().all(|k| !matches!(k, ConvKernel::Coop { .. })));
        assert!(got.iter().all(|k| ConvKernel::parse(k.name()).is_none()), "not a TDFAS_CONV choice");
    }

    #[test]
    fn inference_switches_only_when_clearly_faster() {
        let c = ConvKernel::Coop { wm: 2, wn: 2 };
        let d = ConvKernel::Coop { wm: 4, wn: 1 };
        let times = [(T, 10.0), (B, 30.0)];
        assert_eq!(choose_inference(&times, T, None, &[]), T);
        assert_eq!(choose_inference(&times, T, Some(9.0), &[(c, 8.5)]), T, "within the margin");
        assert_eq!(choose_inference(&times, T, Some(5.0), &[]), ConvKernel::Gemm8F16);
        assert_eq!(choose_inference(&times, T, Some(5.0), &[(c, 3.0), (d, 4.0)]), c, "the fastest");
        assert_eq!(choose_inference(&times, T, None, &[(d, 2.0)]), d);
        // a variant that failed its check is not among the times, so never chosen
        assert_eq!(choose_inference(&times, T, None, &[]), T);
    }

    #[test]
    fn interleaved_rounds_survive_a_slow_period_on_one_candidate() {
        // lavapipe's forward candidates: blocked, rows (the default), tiled; rows's first 3 runs
        // land in a busy period, 15x slower (22.5 ms: the defect's 22.4 ms), which back-to-back
        // best-of-3 timing would have taken as its time
        let kernels = [B, R, T];
        let quiet = [10.7, 1.5, 27.7];
        let mut calls = vec![];
        let mut runs = [0; 3];
        let rounds = conv::TIMING_ROUNDS;
        assert!(rounds > 3, "more rounds than a busy period spoils");
        let got = interleaved_times(3, rounds, |i| {
            calls.push(i);
            runs[i] += 1;
            Ok(quiet[i] * if i == 1 && runs[i] <= 3 { 15.0 } else { 1.0 })
        });
        assert_eq!(got, vec![Ok(10.7), Ok(1.5), Ok(27.7)]);
        let times: Vec<(ConvKernel, f64)> = kernels.iter().zip(&got).map(|(k, t)| (*k, *t.as_ref().unwrap())).collect();
        assert_eq!(choose(true, &times), R, "{times:?}");
        // each round runs each candidate once, starting one later each round
        assert_eq!(calls.len(), 3 * rounds);
        for (r, round) in calls.chunks(3).enumerate() {
            assert_eq!(round, [r % 3, (r + 1) % 3, (r + 2) % 3], "{calls:?}");
        }

        // a busy period over consecutive runs (the 4th to the 9th, whatever they are) slows
        // every candidate it covers, and each still has a quiet round
        let mut call = 0;
        let got = interleaved_times(3, rounds, |i| {
            call += 1;
            Ok(quiet[i] * if (4..=9).contains(&call) { 15.0 } else { 1.0 })
        });
        assert_eq!(got, vec![Ok(10.7), Ok(1.5), Ok(27.7)]);
        // jitter within a round does not reorder candidates that differ by more than it
        let got = interleaved_times(3, rounds, |i| Ok(quiet[i] * (1.0 + 0.1 * ((i * 7 + 3) % 5) as f64)));
        let times: Vec<(ConvKernel, f64)> = kernels.iter().zip(&got).map(|(k, t)| (*k, *t.as_ref().unwrap())).collect();
        assert_eq!(choose(true, &times), R, "{times:?}");
    }

    #[test]
    fn a_cached_choice_stands_only_while_still_clearly_faster() {
        use WgradKernel::{Gemm, Reduce};
        // the default itself always stands (and is not re-probed)
        assert!(still_chosen(R, R, &[]));
        assert!(still_chosen(R, R, &[(R, 9.0), (B, 1.0)]));
        // blocked cached on a CPU adapter where rows is the default
        assert!(still_chosen(B, R, &[(B, 1.0), (R, 2.0)]), "still 2x faster");
        assert!(!still_chosen(B, R, &[(B, 1.0), (R, 1.2)]), "within the margin now");
        assert!(!still_chosen(B, R, &[(B, 10.7), (R, 1.5)]), "chosen under load: 7x slower");
        assert!(!still_chosen(B, R, &[(R, 1.5)]), "the cached kernel failed to run");
        assert!(still_chosen(B, R, &[(B, 10.7)]), "the default failed to run");
        assert!(!still_chosen(B, R, &[]), "neither ran");
        // other kernels' times play no part
        assert!(still_chosen(B, R, &[(T, 0.1), (B, 1.0), (R, 2.0)]));
        // the same rule for the weight gradient and the inference kernels
        assert!(!still_chosen(Gemm, Reduce, &[(Gemm, 8.0), (Reduce, 10.0)]));
        assert!(still_chosen(Gemm, Reduce, &[(Gemm, 2.0), (Reduce, 10.0)]));
        let c = ConvKernel::Coop { wm: 2, wn: 2 };
        assert!(!still_chosen(c, T, &[(c, 9.0), (T, 10.0)]));
    }

    #[test]
    fn the_weight_gradient_defaults_to_todays_kernel() {
        use WgradKernel::{Gemm, Reduce, Rows};
        let ran = [(Reduce, 10.0), (Rows, 4.0), (Gemm, 9.0)];
        assert_eq!(default_wgrad(R, &ran), Rows, "with the row forward kernel");
        assert_eq!(default_wgrad(R, &ran[..1]), Reduce, "the row kernel did not run or pass");
        assert_eq!(default_wgrad(T, &ran), Reduce);
        assert_eq!(choose_over(default_wgrad(T, &ran), &ran[..1]), Reduce);
        assert_eq!(choose_over(Reduce, &[(Reduce, 10.0), (Gemm, 8.0)]), Reduce, "within the margin");
        assert_eq!(choose_over(Reduce, &[(Reduce, 10.0), (Gemm, 2.0)]), Gemm);
        // a candidate that failed its check is not among the times, so never chosen
        assert_eq!(choose_over(Reduce, &[(Reduce, 10.0)]), Reduce);
    }
}
