//! The conv autotune: it runs at a device's first convolution, measures both kernels, caches its
//! choice per adapter, reads the cache back, and `TDFAS_CONV` overrides it (one test: it sets
//! process-wide environment variables).

use tdfas::ops::conv::{self, autotune, ConvKernel};
use tdfas::Gpu;

/// The kernel a new device's first convolution uses.
fn tuned(g: &Gpu) -> anyhow::Result<ConvKernel> {
    Ok(conv::settings(g)?.kernel.get())
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
    let text = std::fs::read_to_string(&cache).expect("the first conv on an adapter writes the cache");
    let entries: std::collections::BTreeMap<String, serde_json::Value> = serde_json::from_str(&text).unwrap();
    let (key, entry) = entries.iter().next().unwrap();
    assert!(key.contains(&g.device.info.name), "{key}");
    assert_eq!(ConvKernel::parse(entry["kernel"].as_str().unwrap()), Some(kernel));
    // the measured times are stored with the choice
    let ms = |k: ConvKernel| entry["ms"][k.name()].as_f64();
    let stored: Vec<(ConvKernel, f64)> = ConvKernel::ALL.iter().filter_map(|&k| Some((k, ms(k)?))).collect();
    if !stored.is_empty() {
        assert_eq!(tdfas::ops::tuning::choose(g.is_cpu(), &stored), kernel, "{entry}");
    }

    // every kernel the adapter can run is run and timed (a real, positive time each), and the
    // choice follows the rule: the adapter type's default, unless another kernel is faster by
    // the margin
    let (_, times) = autotune(&g).unwrap();
    println!("autotune on {}: {times:?}", g.device.info.name);
    let kernels: Vec<ConvKernel> = times.iter().map(|t| t.0).collect();
    let available: Vec<ConvKernel> = ConvKernel::ALL.into_iter().filter(|k| k.available(&g)).collect();
    assert_eq!(kernels, available, "{times:?}");
    assert!(times.iter().all(|t| t.1.is_finite() && t.1 > 0.0), "{times:?}");
    let ms = |k: ConvKernel| times.iter().find(|t| t.0 == k).unwrap().1;
    let default = tdfas::ops::tuning::default_kernel(g.is_cpu(), &times);
    let chosen = tdfas::ops::tuning::choose(g.is_cpu(), &times);
    if chosen != default {
        assert!(ms(default) > ms(chosen) * tdfas::ops::tuning::SWITCH_MARGIN, "{chosen:?} chosen: {times:?}");
    } else {
        for other in kernels.iter().filter(|&&k| k != default) {
            assert!(ms(default) <= ms(*other) * tdfas::ops::tuning::SWITCH_MARGIN, "the default kept: {times:?}");
        }
    }

    // the cache is read back: flip the stored choice and a new GPU follows it
    let other = if kernel == ConvKernel::Tiled { ConvKernel::RegisterBlocked } else { ConvKernel::Tiled };
    let flipped: std::collections::BTreeMap<&String, serde_json::Value> =
        entries.keys().map(|k| (k, serde_json::json!({ "kernel": other.name() }))).collect();
    std::fs::write(&cache, serde_json::to_string(&flipped).unwrap()).unwrap();
    assert_eq!(tuned(&Gpu::new().unwrap()).unwrap(), other);

    // the override wins, and a bad one is an error naming the variable
    unsafe { std::env::set_var("TDFAS_CONV", kernel.name()) };
    assert_eq!(tuned(&Gpu::new().unwrap()).unwrap(), kernel);
    unsafe { std::env::set_var("TDFAS_CONV", "fastest-please") };
    let err = tuned(&Gpu::new().unwrap()).err().unwrap().to_string();
    assert!(err.contains("TDFAS_CONV") && err.contains("blocked, tiled, rows"), "{err}");
    unsafe { std::env::remove_var("TDFAS_CONV") };
    let _ = std::fs::remove_dir_all(&dir);
}
