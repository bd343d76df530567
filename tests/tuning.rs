//! The conv autotune: it runs when called (`ops::tune`, right after a device is opened), checks and measures every kernel
//! of both families, caches its choice per adapter, reads the cache back (re-timing a choice other
//! than the default, tuned again where it no longer holds), and `TDFAS_CONV` /
//! `TDFAS_WGRAD` override it (one test: it sets
//! process-wide environment variables).

use tdfas::ops::conv::choice::{self, passed};
use tdfas::ops::conv::{self, autotune, ConvKernel, WgradKernel};
use tdfas::ops::tuning;
use tdfas::Gpu;

/// The kernel a new device's convolutions use once tuned.
fn tuned(g: &Gpu) -> anyhow::Result<ConvKernel> {
    Ok(conv::tune(g)?.kernel.get())
}

#[test]
fn autotune_measures_caches_and_can_be_overridden() {
    let dir = std::env::temp_dir().join(format!("tdfas-tuning-{}", std::process::id()));
    let cache = dir.join("tuning.json");
    // SAFETY: this test binary has this one test, so no other thread reads the environment.
    unsafe {
        std::env::set_var("TDFAS_TUNING_CACHE", &cache);
        std::env::remove_var("TDFAS_CONV");
    }
    let g = Gpu::new().unwrap();
    assert!(!cache.exists(), "opening a device tunes nothing");
    let kernel = tuned(&g).unwrap();
    let text = std::fs::read_to_string(&cache).expect("tuning on an adapter writes the cache");
    let entries: std::collections::BTreeMap<String, serde_json::Value> = serde_json::from_str(&text).unwrap();
    let (key, entry) = entries.iter().next().unwrap();
    assert!(key.contains(&g.device.info().name), "{key}");
    assert_eq!(ConvKernel::parse(entry["kernel"].as_str().unwrap()), Some(kernel));
    // the measured times are stored with the choice
    let ms = |k: ConvKernel| entry["ms"][k.name()].as_f64();
    let stored: Vec<(ConvKernel, f64)> = ConvKernel::ALL.iter().filter_map(|&k| Some((k, ms(k)?))).collect();
    if !stored.is_empty() {
        assert_eq!(choice::choose(g.is_cpu(), &stored), kernel, "{entry}");
    }

    // every kernel the adapter can run is run, checked against the reference kernel and timed (a
    // real, positive time each: all pass here), and the choice follows the rule: the adapter
    // type's default, unless another kernel is faster by the margin
    let c = autotune(&g).unwrap();
    println!("autotune on {}: {c:?}", g.device.info().name);
    let kernels: Vec<ConvKernel> = c.forward.iter().map(|t| t.kernel).collect();
    let available: Vec<ConvKernel> = ConvKernel::ALL.into_iter().filter(|k| k.available(&g)).collect();
    assert_eq!(kernels, available, "{c:?}");
    let wkernels: Vec<WgradKernel> = c.wgrad.iter().map(|t| t.kernel).collect();
    let wavailable: Vec<WgradKernel> = WgradKernel::ALL.into_iter().filter(|k| k.available(&g)).collect();
    assert_eq!(wkernels, wavailable, "{c:?}");
    let times = passed(&c.forward);
    let wtimes = passed(&c.wgrad);
    assert_eq!(times.len(), kernels.len(), "every forward candidate passes its check: {c:?}");
    assert_eq!(wtimes.len(), wkernels.len(), "every weight-gradient candidate passes its check: {c:?}");
    assert!(times.iter().all(|t| t.1.is_finite() && t.1 > 0.0), "{times:?}");
    assert!(wtimes.iter().all(|t| t.1.is_finite() && t.1 > 0.0), "{wtimes:?}");
    let ms = |k: ConvKernel| times.iter().find(|t| t.0 == k).unwrap().1;
    let default = choice::default_kernel(g.is_cpu(), &times);
    let chosen = choice::choose(g.is_cpu(), &times);
    if chosen != default {
        assert!(ms(default) > ms(chosen) * tuning::SWITCH_MARGIN, "{chosen:?} chosen: {times:?}");
    } else {
        for other in kernels.iter().filter(|&&k| k != default) {
            assert!(ms(default) <= ms(*other) * tuning::SWITCH_MARGIN, "the default kept: {times:?}");
        }
    }
    // on a CPU adapter today's kernels stay: the GEMM kernels (every gemm8 tile too) are GPU variants
    if g.is_cpu() {
        assert!(!matches!(chosen, ConvKernel::Gemm | ConvKernel::Gemm8 | ConvKernel::Gemm8Tile { .. }), "{times:?}");
        let wchosen = tuning::choose_over(choice::default_wgrad(chosen, &wtimes), &wtimes);
        let gemm = matches!(wchosen, WgradKernel::Gemm | WgradKernel::Gemm8 | WgradKernel::Gemm8Tile { .. });
        assert!(!gemm, "{wtimes:?}");
    }
    // the float16-tile kernel is checked where the adapter has it, and not used on a CPU adapter
    assert_eq!(c.half.is_some(), ConvKernel::Gemm8F16.available(&g), "{c:?}");
    if let (Some(Ok(h)), true) = (c.half.as_ref().map(|h| &h.ms), g.is_cpu()) {
        let inference = choice::choose_inference(&times, chosen, Some(*h), &[]);
        assert_ne!(inference, ConvKernel::Gemm8F16, "{times:?}, float16 tiles {h} ms");
    }
    // the cooperative-matrix variants are checked where the adapter offers them (lavapipe does
    // not), at the float16 tolerance, and inference takes one only when it is clearly faster
    let offered = conv::coop_candidates(g.device.features(), g.device.cooperative_matrices());
    assert_eq!(c.coop.iter().map(|t| t.kernel).collect::<Vec<_>>(), offered, "{c:?}");
    let used = conv::settings(&g).unwrap().coop_inference.get();
    assert!(used.is_none_or(|k| passed(&c.coop).iter().any(|t| t.0 == k)), "{used:?}: {c:?}");
    // the table `tdfas info` prints lists every candidate with its check
    let table = choice::table(&g).unwrap();
    assert!(table.contains("gemm") && table.contains("ok") && table.contains("(chosen)"), "{table}");

    // the cache is read back: a stored choice of the adapter type's defaults (with an older
    // entry's fields only) is taken as it is, nothing timed or written again
    let forward = choice::default_kernel(g.is_cpu(), &times);
    let wdefault = choice::default_wgrad(forward, &wtimes);
    let write = |entry: serde_json::Value| -> String {
        let all: std::collections::BTreeMap<&String, serde_json::Value> =
            entries.keys().map(|k| (k, entry.clone())).collect();
        let text = serde_json::to_string(&all).unwrap();
        std::fs::write(&cache, &text).unwrap();
        text
    };
    let text = write(serde_json::json!({ "kernel": forward.name(), "wgrad": wdefault.name(), "half": false }));
    let s = conv::tune(&Gpu::new().unwrap()).unwrap();
    assert_eq!((s.kernel.get(), s.wgrad.get(), s.half_inference.get()), (forward, wdefault, false));
    assert_eq!(std::fs::read_to_string(&cache).unwrap(), text, "read back, not tuned again");

    // a stored choice other than the default is timed against the default again when a device is
    // tuned: kept (the cache as it was) where it is still clearly faster, else tuned again (the
    // fresh choice cached with its times); which, depends on the adapter (lavapipe: tuned again)
    let retuned_or_kept = |kept: bool, text: &str, what: &str| {
        let now = std::fs::read_to_string(&cache).unwrap();
        if kept {
            assert_eq!(now, text, "{what} kept");
            return None;
        }
        let fresh: std::collections::BTreeMap<String, serde_json::Value> = serde_json::from_str(&now).unwrap();
        let entry = fresh[key].clone();
        assert!(entry["ms"].as_object().is_some_and(|m| !m.is_empty()), "{what} tuned again: {entry}");
        Some(entry)
    };
    let other = if forward == ConvKernel::Tiled { ConvKernel::RegisterBlocked } else { ConvKernel::Tiled };
    let wother = choice::default_wgrad(other, &wtimes);
    let text = write(serde_json::json!({ "kernel": other.name(), "wgrad": wother.name(), "half": false }));
    let got = tuned(&Gpu::new().unwrap()).unwrap();
    if let Some(entry) = retuned_or_kept(got == other, &text, "the forward kernel") {
        assert_eq!(ConvKernel::parse(entry["kernel"].as_str().unwrap()), Some(got), "{entry}");
    }
    // the same for the weight gradient (with the default forward kernel)
    let wother = if wdefault == WgradKernel::Reduce { WgradKernel::Gemm } else { WgradKernel::Reduce };
    let text = write(serde_json::json!({ "kernel": forward.name(), "wgrad": wother.name(), "half": false }));
    let got = conv::tune(&Gpu::new().unwrap()).unwrap().wgrad.get();
    if let Some(entry) = retuned_or_kept(got == wother, &text, "the weight-gradient kernel") {
        assert_eq!(WgradKernel::parse(entry["wgrad"].as_str().unwrap()), Some(got), "{entry}");
    }
    // a choice an override replaces is not timed again
    let text = write(serde_json::json!({ "kernel": forward.name(), "wgrad": wother.name(), "half": false }));
    unsafe { std::env::set_var("TDFAS_WGRAD", wdefault.name()) };
    assert_eq!(conv::tune(&Gpu::new().unwrap()).unwrap().wgrad.get(), wdefault);
    assert_eq!(std::fs::read_to_string(&cache).unwrap(), text, "the overridden choice is not re-probed");
    unsafe { std::env::remove_var("TDFAS_WGRAD") };

    // the override wins, and a bad one is an error naming the variable
    unsafe { std::env::set_var("TDFAS_CONV", kernel.name()) };
    assert_eq!(tuned(&Gpu::new().unwrap()).unwrap(), kernel);
    unsafe { std::env::set_var("TDFAS_CONV", "fastest-please") };
    let err = tuned(&Gpu::new().unwrap()).err().unwrap().to_string();
    assert!(err.contains("TDFAS_CONV") && err.contains("blocked, tiled, rows, gemm, gemm8"), "{err}");
    unsafe {
        std::env::set_var("TDFAS_CONV", "tiled");
        std::env::set_var("TDFAS_WGRAD", "gemm");
    }
    let s = conv::tune(&Gpu::new().unwrap()).unwrap();
    assert_eq!((s.kernel.get(), s.wgrad.get()), (ConvKernel::Tiled, WgradKernel::Gemm));
    unsafe {
        std::env::remove_var("TDFAS_CONV");
        std::env::remove_var("TDFAS_WGRAD");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
