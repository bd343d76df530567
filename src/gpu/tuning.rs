//! Per-adapter kernel choices made by a small autotune, cached on disk so it runs once per
//! adapter, driver and shader version. Today one op has variants: the forward / input-gradient
//! convolution (register-blocked for CPU adapters, shared-memory tiles for GPUs).
//! `TDFAS_CONV=blocked|tiled` overrides the choice; `TDFAS_TUNING_CACHE` moves the cache file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;

use super::Gpu;
use crate::ops::conv::{self, ConvKernel};

/// `$TDFAS_TUNING_CACHE`, else `$XDG_CACHE_HOME/tdfas/tuning.json`, else `~/.cache/tdfas/tuning.json`.
pub fn cache_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TDFAS_TUNING_CACHE") {
        return Some(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("tdfas").join("tuning.json"))
}

/// What the cache is valid for: the adapter, its driver, and the conv shaders' text.
fn cache_key(gpu: &Gpu) -> String {
    let i = &gpu.info;
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

fn read_cache() -> BTreeMap<String, String> {
    cache_path()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default()
}

/// Sets `gpu.conv_kernel`: the override, else the cached choice, else a measurement (then cached).
pub fn tune(gpu: &Gpu) -> Result<()> {
    if let Ok(v) = std::env::var("TDFAS_CONV") {
        let k =
            ConvKernel::parse(&v).ok_or_else(|| anyhow::anyhow!("TDFAS_CONV={v:?} is not one of blocked, tiled"))?;
        gpu.conv_kernel.set(k);
        return Ok(());
    }
    let key = cache_key(gpu);
    let mut cache = read_cache();
    if let Some(k) = cache.get(&key).and_then(|v| ConvKernel::parse(v)) {
        gpu.conv_kernel.set(k);
        return Ok(());
    }
    let (best, _) = conv::autotune(gpu)?;
    gpu.conv_kernel.set(best);
    cache.insert(key, best.name().to_string());
    if let (Some(path), Ok(text)) = (cache_path(), serde_json::to_string_pretty(&cache)) {
        // A cache that cannot be written only means tuning again next time.
        // Written to a file of this thread's own, then renamed: tests open GPUs in parallel.
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let tmp = path.with_extension(format!("tmp{}-{:?}", std::process::id(), std::thread::current().id()));
        if std::fs::write(&tmp, text).is_ok() && std::fs::rename(&tmp, &path).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
    Ok(())
}
