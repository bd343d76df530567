//! The conv autotune: it measures both kernels, caches its choice per adapter, reads the cache
//! back, and `TDFAS_CONV` overrides it (one test: it sets process-wide environment variables).

use tdfas::ops::conv::{autotune, ConvKernel};
use tdfas::Gpu;

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
    let text = std::fs::read_to_string(&cache).expect("the first GPU of an adapter writes the cache");
    let entries: std::collections::BTreeMap<String, String> = serde_json::from_str(&text).unwrap();
    let (key, choice) = entries.iter().next().unwrap();
    assert!(key.contains(&g.info.name), "{key}");
    assert_eq!(ConvKernel::parse(choice), Some(g.conv_kernel.get()));

    // both kernels run and are timed; the choice is the faster
    let (best, times) = autotune(&g).unwrap();
    assert_eq!(times.len(), 2, "{times:?}");
    let fastest = times.iter().min_by(|a, b| a.1.total_cmp(&b.1)).unwrap().0;
    assert_eq!(best, fastest);
    println!("autotune on {}: {times:?}", g.info.name);

    // the cache is read back: flip the stored choice and a new GPU follows it
    let other = if g.conv_kernel.get() == ConvKernel::Tiled { ConvKernel::RegisterBlocked } else { ConvKernel::Tiled };
    let flipped: std::collections::BTreeMap<&String, &str> = entries.keys().map(|k| (k, other.name())).collect();
    std::fs::write(&cache, serde_json::to_string(&flipped).unwrap()).unwrap();
    assert_eq!(Gpu::new().unwrap().conv_kernel.get(), other);

    // the override wins, and a bad one is an error naming the variable
    unsafe { std::env::set_var("TDFAS_CONV", g.conv_kernel.get().name()) };
    assert_eq!(Gpu::new().unwrap().conv_kernel.get(), g.conv_kernel.get());
    unsafe { std::env::set_var("TDFAS_CONV", "fastest-please") };
    let err = Gpu::new().err().unwrap().to_string();
    assert!(err.contains("TDFAS_CONV") && err.contains("blocked, tiled"), "{err}");
    unsafe { std::env::remove_var("TDFAS_CONV") };
    let _ = std::fs::remove_dir_all(&dir);
}
