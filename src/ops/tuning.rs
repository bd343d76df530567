//! The tuning table: per-adapter kernel choices cached on disk (one entry per adapter, driver and
//! shader text), and the rules every choice follows: candidates timed in interleaved rounds
//! (`interleaved_times`), the default replaced only when clearly faster (`SWITCH_MARGIN`,
//! `choose_over`), a cached choice kept only while it still holds (`still_chosen`). It knows no
//! op: the ops that have variants (today the convolution, `ops::conv::choice`) build on it.
//! `TDFAS_TUNING_CACHE` moves the cache file (read into the device's `Settings`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;

use crate::gpu::{Gpu, Settings};

/// `$TDFAS_TUNING_CACHE` (when not empty), else `$XDG_CACHE_HOME/tdfas/tuning.json`, else
/// `~/.cache/tdfas/tuning.json` (XDG: an empty or relative `XDG_CACHE_HOME` is unset).
pub fn cache_path(settings: &Settings) -> Option<PathBuf> {
    if let Some(p) = &settings.tuning_cache {
        return Some(p.clone());
    }
    Some(crate::util::fs::cache_home()?.join("tdfas").join("tuning.json"))
}

/// What a cache entry is valid for: the adapter, its driver, and the text of the kernels tuned
/// (`shaders`).
pub fn cache_key(gpu: &Gpu, shaders: &str) -> String {
    let i = &gpu.device.info();
    format!(
        "{} | {:?} | {} {} | shaders {:016x}",
        i.name,
        i.backend,
        i.driver,
        i.driver_info,
        crate::util::hash::fnv1a64(shaders.as_bytes())
    )
}

/// Cache entries: per family the chosen kernel, every candidate's measured time and its check
/// (`{"kernel": "rows", "ms": {"blocked": 1.2, ..}, "checks": {"blocked": "ok", "gemm": "..."},
/// "wgrad": "rows", "wgrad_ms": {..}, "wgrad_checks": {..}}`); older entries are tuned again.
/// A cache that is not a regular file (a FIFO would block, `/dev/zero` never end) or is larger
/// than any real one (`MAX_CACHE_BYTES`) is no cache: every family is tuned again.
pub fn read_cache(settings: &Settings) -> BTreeMap<String, serde_json::Value> {
    cache_path(settings)
        .and_then(|p| crate::util::fs::read_regular(&p, "tuning cache", MAX_CACHE_BYTES).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Largest tuning cache read: one entry per device and shader version is a few KB.
const MAX_CACHE_BYTES: u64 = 16 << 20;

/// An override, the value `value` of the variable `var`, parsed by `parse`.
pub fn overridden<K>(
    var: &str,
    value: Option<&str>,
    names: &[&str],
    parse: impl Fn(&str) -> Option<K>,
) -> Result<Option<K>> {
    match value {
        Some(v) => Ok(Some(parse(v).ok_or_else(|| anyhow::anyhow!("{var}={v:?} is not one of {}", names.join(", ")))?)),
        None => Ok(None),
    }
}

/// Whether a cached choice `cached` still stands against the `default` it replaced, re-timed now
/// (`times`: those that ran): the rule of the choice itself ([`choose_over`]), so it stands where
/// it is faster by [`SWITCH_MARGIN`] or where the default failed to run, and not where it failed.
/// A choice that is the default always stands.
pub fn still_chosen<K: Copy + PartialEq>(cached: K, default: K, times: &[(K, f64)]) -> bool {
    let pair: Vec<(K, f64)> = times.iter().filter(|t| t.0 == cached || t.0 == default).copied().collect();
    cached == default || choose_over(default, &pair) == cached
}

/// Times `n` candidates in `rounds` interleaved rounds: round r runs each candidate once with
/// `time(i)` (its time in ms), starting at candidate r mod n, so that no candidate always runs
/// first or right after the same one. A candidate's time is its fastest round: load only ever
/// adds time, so the minimum is the least disturbed run, and a busy period spoils a candidate
/// only if it covers all its rounds (then it covers the others' as well, rounds being
/// interleaved). A median of the best rounds would need several quiet rounds per candidate where
/// one is enough. A candidate whose run fails is not run again: its error, "failed: ..".
pub fn interleaved_times(
    n: usize,
    rounds: usize,
    mut time: impl FnMut(usize) -> Result<f64>,
) -> Vec<std::result::Result<f64, String>> {
    let mut best: Vec<std::result::Result<f64, String>> = vec![Ok(f64::INFINITY); n];
    for r in 0..rounds {
        for i in (0..n).map(|j| (j + r) % n) {
            if let Ok(b) = best[i] {
                best[i] = time(i).map(|t| b.min(t)).map_err(|e| format!("failed: {e:#}"));
            }
        }
    }
    best
}

/// Writes the cache whole (`util::fs::write_atomic`: tests open GPUs in parallel); returns where.
#[cfg(not(target_arch = "wasm32"))]
pub fn write_cache(settings: &Settings, cache: &BTreeMap<String, serde_json::Value>) -> Result<PathBuf> {
    let path = cache_path(settings)
        .ok_or_else(|| anyhow::anyhow!("no cache folder (neither XDG_CACHE_HOME nor HOME is set)"))?;
    crate::util::fs::write_atomic(&path, serde_json::to_string_pretty(cache)?.as_bytes())?;
    Ok(path)
}

/// The cached autotune entry `key` as a table (`tdfas info`): per family every candidate's
/// time and check, and the choice.
pub fn table(gpu: &Gpu, key: &str) -> Option<String> {
    let entry = read_cache(gpu.settings()).remove(key)?;
    let mut out = String::from("family          kernel        ms        check\n");
    let families = [
        ("forward/input", "", "kernel"),
        ("weight grad", "wgrad_", "wgrad"),
        ("inference f16", "half_", "half"),
        ("inference coop", "coop_", "coop"),
    ];
    for (family, prefix, chosen) in families {
        let checks = entry.get(format!("{prefix}checks"))?.as_object()?;
        for (name, check) in checks {
            let ms = entry[format!("{prefix}ms")].get(name).and_then(|v| v.as_f64());
            let is_chosen = entry[chosen].as_str() == Some(name) || entry[chosen].as_bool() == Some(true);
            let mark = if is_chosen { " (chosen)" } else { "" };
            out += &format!(
                "{family:<15} {name:<13} {:<9} {}{mark}\n",
                ms.map_or("-".into(), |m| format!("{m:.3}")),
                check.as_str().unwrap_or("?")
            );
        }
    }
    Some(out)
}

/// How much faster (time ratio) another kernel must be to replace the adapter type's default.
/// Without a margin, two kernels within noise of each other flip with machine load, and the
/// conv kernel changes the rounding, so trained weights would differ between runs.
pub const SWITCH_MARGIN: f64 = 1.3;

/// `default` unless another kernel is faster by [`SWITCH_MARGIN`]; a default that failed to run
/// (or its check) gives way to the fastest that passed.
pub fn choose_over<K: Copy + PartialEq>(default: K, times: &[(K, f64)]) -> K {
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

    #[test]
    fn a_candidate_that_fails_to_run_is_not_run_again() {
        let mut runs = [0; 2];
        let got = interleaved_times(2, 5, |i| {
            runs[i] += 1;
            match (i, runs[i]) {
                (1, 2) => Err(anyhow::anyhow!("device lost")),
                _ => Ok(2.0 + i as f64),
            }
        });
        assert_eq!(got[0], Ok(2.0));
        assert_eq!(got[1], Err("failed: device lost".to_string()));
        assert_eq!(runs, [5, 2]);
        assert!(interleaved_times(0, 5, |_| Ok(1.0)).is_empty());
    }
}
