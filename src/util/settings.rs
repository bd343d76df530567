//! Every `TDFAS_*` environment variable tdfas reads, in one table: its name, what it sets, and
//! its value in this process (`tdfas info` prints them). The device and kernel variables are
//! read where they take effect (gpu, ops); a test keeps this table complete.

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
        meaning: "force the conv kernel: blocked, tiled, rows, gemm or gemm8 (default: autotuned)",
    },
    EnvVar { name: "TDFAS_WGRAD", meaning: "force the conv weight-gradient kernel: reduce, rows, gemm or gemm8" },
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

/// Each variable with its value here (None when unset; a value that is not UTF-8 is shown lossily).
pub fn env_values() -> Vec<(&'static EnvVar, Option<String>)> {
    ENV_VARS.iter().map(|v| (v, std::env::var_os(v.name).map(|s| s.to_string_lossy().into_owned()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `"TDFAS_..."` name in the sources is in the table, and every name in the table is read.
    #[test]
    fn the_table_lists_every_variable_read() {
        fn sources(dir: &std::path::Path, out: &mut String) {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    sources(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("util/settings.rs") {
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
