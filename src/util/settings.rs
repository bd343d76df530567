//! Every `TDFAS_*` environment variable tdfas reads, in one table: its name, what it sets, and
//! its value in this process (`tdfas info` prints them); a test keeps this table complete.
//!
//! The device and kernel variables are read once, into `Settings`, at the start of a command
//! (`Settings::from_env`, checked there) and passed down: `Gpu::with_settings` keeps them, the
//! device and the ops read them from it. Nothing under gpu/ or ops/ reads the environment.

use std::path::PathBuf;

use anyhow::{bail, Result};

/// One environment variable.
pub struct EnvVar {
    pub name: &'static str,
    pub meaning: &'static str,
}

pub const ENV_VARS: [EnvVar; 13] = [
    EnvVar { name: "TDFAS_BACKEND", meaning: "GPU backend: vulkan, gl, metal or dx12 (default: any native one)" },
    EnvVar { name: "TDFAS_ADAPTER", meaning: "use the adapter whose name contains this (case-insensitive)" },
    EnvVar { name: "TDFAS_LIMITS", meaning: "adapter (default) or default: WebGPU's default limits" },
    EnvVar { name: "TDFAS_MAX_BINDING", meaning: "lower the per-binding byte cap (forces split work)" },
    EnvVar { name: "TDFAS_MAX_BUFFER", meaning: "lower the per-buffer byte cap (forces tensors over several buffers)" },
    EnvVar { name: "TDFAS_PAGE", meaning: "bytes above which tensors are stored in several buffers (default 48 MiB)" },
    EnvVar {
        name: "TDFAS_CONV",
        meaning: "force the conv kernel: blocked, tiled, rows, gemm, gemm8, gemm8-128x64, gemm8-64x128 or gemm8-64x64 \
                  (default: autotuned)",
    },
    EnvVar {
        name: "TDFAS_WGRAD",
        meaning: "force the conv weight-gradient kernel: reduce, rows, gemm, gemm8, gemm8-128x64, gemm8-64x128 or \
                  gemm8-64x64",
    },
    EnvVar { name: "TDFAS_TUNING_CACHE", meaning: "the autotune cache file (default ~/.cache/tdfas/tuning.json)" },
    EnvVar { name: "TDFAS_F16", meaning: "0: no float16-tile inference kernel" },
    EnvVar {
        name: "TDFAS_COOP",
        meaning:
            "0: no cooperative-matrix (tensor-core) inference kernel, and wgpu's experimental feature not requested",
    },
    EnvVar { name: "TDFAS_FUSE", meaning: "0: no fused inference kernels" },
    EnvVar {
        name: "TDFAS_KEEP_PNG",
        meaning: "(a unit test of the report) also write its sample depth map to this PNG",
    },
];

/// The device and kernel settings of one command: what the `TDFAS_*` variables of gpu/ and ops/
/// say, read and checked once. `Default` is the unset environment (the browser's settings).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `TDFAS_BACKEND`: the backend's name as given (the device checks it against the platform's).
    pub backend: Option<String>,
    /// `TDFAS_ADAPTER`: the adapter whose name contains this, lower-cased.
    pub adapter: Option<String>,
    /// `TDFAS_LIMITS`: `adapter` or `default` (WebGPU's default limits), as given.
    pub limits: Option<String>,
    /// `TDFAS_MAX_BINDING`: a lower per-binding byte cap (forces split work).
    pub max_binding: Option<u64>,
    /// `TDFAS_MAX_BUFFER`: a lower per-buffer byte cap (forces tensors over several buffers).
    pub max_buffer: Option<u64>,
    /// `TDFAS_PAGE`: bytes above which tensors are stored in several buffers (None: the default).
    pub page: Option<u64>,
    /// `TDFAS_CONV`: the forced conv kernel's name (the autotune checks it).
    pub conv: Option<String>,
    /// `TDFAS_WGRAD`: the forced weight-gradient kernel's name (the autotune checks it).
    pub wgrad: Option<String>,
    /// `TDFAS_TUNING_CACHE`: the autotune cache file (None: the user's cache folder).
    pub tuning_cache: Option<PathBuf>,
    /// `TDFAS_F16` not `0`: the float16-tile inference kernel may be used.
    pub f16: bool,
    /// `TDFAS_COOP` not `0`: the cooperative-matrix inference kernel may be used, and wgpu's
    /// experimental feature is requested.
    pub coop: bool,
    /// `TDFAS_FUSE` not `0`: fused inference kernels.
    pub fuse: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            backend: None,
            adapter: None,
            limits: None,
            max_binding: None,
            max_buffer: None,
            page: None,
            conv: None,
            wgrad: None,
            tuning_cache: None,
            f16: true,
            coop: true,
            fuse: true,
        }
    }
}

impl Settings {
    /// The settings this process's environment gives; an unusable value is an error naming its
    /// variable.
    pub fn from_env() -> Result<Self> {
        Self::from_vars(|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()))
    }

    /// The settings the variables `var` gives (`var(name)`: the value, None when unset).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let cap = |name: &str| -> Result<Option<u64>> {
            match var(name) {
                None => Ok(None),
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) if n >= 256 && n % 4 == 0 => Ok(Some(n)),
                    _ => bail!("{name}={v:?} must be a byte count, a multiple of 4 and at least 256"),
                },
            }
        };
        // on unless set to 0 (or another way of saying off); anything else unclear is an error
        let on = |name: &str| -> Result<bool> {
            match var(name).map(|v| v.trim().to_ascii_lowercase()) {
                None => Ok(true),
                Some(v) if ["1", "on", "true", "yes"].contains(&v.as_str()) => Ok(true),
                Some(v) if ["0", "off", "false", "no"].contains(&v.as_str()) => Ok(false),
                Some(v) => bail!("{name}={v:?}: use 0 (off) or 1 (on)"),
            }
        };
        Ok(Self {
            backend: var("TDFAS_BACKEND"),
            adapter: var("TDFAS_ADAPTER").map(|s| s.to_lowercase()),
            limits: var("TDFAS_LIMITS"),
            max_binding: cap("TDFAS_MAX_BINDING")?,
            max_buffer: cap("TDFAS_MAX_BUFFER")?,
            page: cap("TDFAS_PAGE")?,
            conv: var("TDFAS_CONV"),
            wgrad: var("TDFAS_WGRAD"),
            tuning_cache: var("TDFAS_TUNING_CACHE").filter(|p| !p.is_empty()).map(PathBuf::from),
            f16: on("TDFAS_F16")?,
            coop: on("TDFAS_COOP")?,
            fuse: on("TDFAS_FUSE")?,
        })
    }
}

/// Each variable with its value here (None when unset; a value that is not UTF-8 is shown lossily).
pub fn env_values() -> Vec<(&'static EnvVar, Option<String>)> {
    ENV_VARS.iter().map(|v| (v, std::env::var_os(v.name).map(|s| s.to_string_lossy().into_owned()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_read_each_variable_and_refuse_bad_values() {
        let none = Settings::from_vars(|_| None).unwrap();
        assert_eq!(none, Settings::default());
        let vars = [
            ("TDFAS_ADAPTER", "LLVMpipe"),
            ("TDFAS_MAX_BINDING", " 4096"),
            ("TDFAS_PAGE", "1048576"),
            ("TDFAS_CONV", "rows"),
            ("TDFAS_TUNING_CACHE", ""),
            ("TDFAS_F16", "0"),
            ("TDFAS_COOP", " 0 "),
            ("TDFAS_FUSE", "1"),
        ];
        let s = Settings::from_vars(|n| vars.iter().find(|v| v.0 == n).map(|v| v.1.to_string())).unwrap();
        assert_eq!(s.adapter.as_deref(), Some("llvmpipe"));
        assert_eq!((s.max_binding, s.max_buffer, s.page), (Some(4096), None, Some(1 << 20)));
        assert_eq!(s.conv.as_deref(), Some("rows"));
        assert_eq!(s.tuning_cache, None, "empty: the default cache");
        assert_eq!((s.f16, s.coop, s.fuse), (false, false, true));
        for bad in ["100", "4097", "lots"] {
            let e = Settings::from_vars(|n| (n == "TDFAS_MAX_BUFFER").then(|| bad.to_string())).unwrap_err();
            assert!(e.to_string().contains("TDFAS_MAX_BUFFER"), "{e}");
        }
        // off said in words is off, not on; a value that says neither is an error
        for off in ["false", "off", "No"] {
            assert!(!Settings::from_vars(|n| (n == "TDFAS_F16").then(|| off.to_string())).unwrap().f16, "{off}");
        }
        assert!(Settings::from_vars(|n| (n == "TDFAS_FUSE").then(|| "true".to_string())).unwrap().fuse);
        let e = Settings::from_vars(|n| (n == "TDFAS_FUSE").then(|| "maybe".to_string())).unwrap_err();
        assert!(e.to_string().contains("TDFAS_FUSE") && e.to_string().contains("0 (off) or 1 (on)"), "{e}");
    }

    /// Every `"TDFAS_..."` name in the sources is in the table, and every name in the table is read.
    #[test]
    fn the_table_lists_every_variable_read() {
        fn sources(dir: &std::path::Path, out: &mut String) {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    sources(&p, out);
                } else if p.ends_with("util/settings.rs") {
                    // what `Settings` reads: not the table itself, nor these tests
                    let text = std::fs::read_to_string(&p).unwrap();
                    let code = &text[..text.find("#[cfg(test)]").unwrap()];
                    let table = code.find("pub const ENV_VARS").unwrap();
                    let end = table + code[table..].find("\n];").unwrap();
                    out.push_str(&code[..table]);
                    out.push_str(&code[end..]);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    out.push_str(&std::fs::read_to_string(&p).unwrap());
                }
            }
        }
        let mut text = String::new();
        sources(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut text);
        let mut read: Vec<String> = text
            .split("\"TDFAS_")
            .skip(1)
            .map(|rest| {
                format!(
                    "TDFAS_{}",
                    rest.split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')).next().unwrap()
                )
            })
            .collect();
        read.sort();
        read.dedup();
        let mut listed: Vec<String> = ENV_VARS.iter().map(|v| v.name.to_string()).collect();
        listed.sort();
        assert_eq!(read, listed, "variables read in src/ and listed in util/settings.rs differ");
    }
}
