//! Per-adapter kernel choices made by a small autotune at the op's first use on a device, cached
//! on disk so it runs once per adapter, driver and shader version. Today one op has variants: the
//! forward / input-gradient convolution (rows with subgroup-shared weights, else register-blocked,
//! for CPU adapters; shared-memory tiles for GPUs), and the weight gradient follows it.
//! `TDFAS_CONV=blocked|tiled|rows` overrides the choice; `TDFAS_TUNING_CACHE` moves the cache file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;

use crate::gpu::Gpu;
use crate::ops::conv::{self, ConvKernel};

/// `$TDFAS_TUNING_CACHE` (when not empty), else `$XDG_CACHE_HOME/tdfas/tuning.json`, else
/// `~/.cache/tdfas/tuning.json` (XDG: an empty or relative `XDG_CACHE_HOME` is unset).
pub fn cache_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TDFAS_TUNING_CACHE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    Some(crate::util::fs::cache_home()?.join("tdfas").join("tuning.json"))
}

/// What the cache is valid for: the adapter, its driver, and the conv shaders' text.
fn cache_key(gpu: &Gpu) -> String {
    let i = &gpu.device.info;
    format!(
        "{} | {:?} | {} {} | shaders {:016x}",
        i.name,
        i.backend,
        i.driver,
        i.driver_info,
        fnv1a64(conv::shader_sources().as_bytes())
    )
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// Cache entries: the kernel's name, with the measured times since issue 20
/// (`{"kernel": "blocked", "ms": {"blocked": 1.2, "tiled": 1.9}}`); older entries, the name alone,
/// are tuned again.
fn read_cache() -> BTreeMap<String, serde_json::Value> {
    cache_path()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default()
}

/// The conv kernel for `gpu`: the override, else the cached choice, else a measurement (then
/// cached). Run by `conv::settings` at the first convolution on a device.
pub fn tune(gpu: &Gpu) -> Result<ConvKernel> {
    if let Ok(v) = std::env::var("TDFAS_CONV") {
        let names: Vec<&str> = ConvKernel::ALL.iter().map(|k| k.name()).collect();
        let k = ConvKernel::parse(&v)
            .ok_or_else(|| anyhow::anyhow!("TDFAS_CONV={v:?} is not one of {}", names.join(", ")))?;
        return Ok(k);
    }
    let key = cache_key(gpu);
    let mut cache = read_cache();
    // An entry of the name alone predates the margin (it may hold a choice made by noise): tune anew.
    let cached = cache.get(&key).and_then(|v| v.get("kernel")?.as_str()).and_then(ConvKernel::parse);
    if let Some(k) = cached {
        return Ok(k);
    }
    // Slow on some adapters (about a minute on a software GL driver): say what is happening.
    eprintln!("tuning the conv kernel for {} (once per adapter and driver)", gpu.device.info.name);
    // The first conv may come in the middle of recording a step: run what is recorded so far
    // (measuring flushes anyway), then measure for real even in a dry run, and unprofiled.
    gpu.flush()?;
    let dry_run = gpu.dry_run.replace(false);
    let profiler = gpu.profiler.borrow_mut().take();
    let measured = conv::autotune(gpu);
    *gpu.profiler.borrow_mut() = profiler;
    gpu.dry_run.set(dry_run);
    let (_, times) = measured?;
    let best = choose(gpu.is_cpu(), &times);
    let ms: serde_json::Map<String, serde_json::Value> =
        times.iter().map(|(k, t)| (k.name().to_string(), serde_json::json!((t * 1e3).round() / 1e3))).collect();
    eprintln!(
        "  {}: {} kernel",
        times.iter().map(|(k, t)| format!("{} {t:.2} ms", k.name())).collect::<Vec<_>>().join(", "),
        best.name()
    );
    cache.insert(key, serde_json::json!({"kernel": best.name(), "ms": ms}));
    // A cache that cannot be written only means tuning again next time; said, not hidden.
    match write_cache(&cache) {
        Ok(path) => eprintln!("  cached in {}", path.display()),
        Err(e) => eprintln!("  not cached ({e:#}): tuned again next time"),
    }
    Ok(best)
}

/// Writes the cache to a file of this thread's own, then renames it (tests open GPUs in
/// parallel); returns where.
fn write_cache(cache: &BTreeMap<String, serde_json::Value>) -> Result<PathBuf> {
    let path =
        cache_path().ok_or_else(|| anyhow::anyhow!("no cache folder (neither XDG_CACHE_HOME nor HOME is set)"))?;
    let text = serde_json::to_string_pretty(cache)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
    }
    let tmp = path.with_extension(format!("tmp{}-{:?}", std::process::id(), std::thread::current().id()));
    let written = std::fs::write(&tmp, text)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", tmp.display()))
        .and_then(|()| std::fs::rename(&tmp, &path).map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display())));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map(|()| path)
}

/// How much faster (time ratio) the other kernel must be to replace the adapter type's default.
/// Without a margin, two kernels within noise of each other flip with machine load, and the
/// conv kernel changes the rounding, so trained weights would differ between runs.
pub const SWITCH_MARGIN: f64 = 1.3;

/// The adapter type's default: on a CPU adapter the row kernel where it ran (it needs subgroups),
/// else the register-blocked one; tiles on a GPU.
pub fn default_kernel(is_cpu: bool, times: &[(ConvKernel, f64)]) -> ConvKernel {
    match is_cpu {
        true if times.iter().any(|t| t.0 == ConvKernel::Rows) => ConvKernel::Rows,
        true => ConvKernel::RegisterBlocked,
        false => ConvKernel::Tiled,
    }
}

/// The adapter type's default ([`default_kernel`]) unless another kernel is faster by
/// [`SWITCH_MARGIN`]; a default that failed to run gives way to what ran.
pub fn choose(is_cpu: bool, times: &[(ConvKernel, f64)]) -> ConvKernel {
    let default = default_kernel(is_cpu, times);
    let fastest = times.iter().min_by(|a, b| a.1.total_cmp(&b.1));
    match (times.iter().find(|t| t.0 == default), fastest) {
        (Some(&(_, d)), Some(&(k, t))) if d > t * SWITCH_MARGIN => k,
        (Some(_), _) => default,
        (None, Some(&(k, _))) => k,
        (None, None) => default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
    }
}
