//! Benchmarks: every kernel family at a preset's real shapes (GFLOP/s for compute-bound
//! kernels, GB/s for memory-bound ones), clip inference latency at batch 1, one training step of
//! each stage; and `profile`, the profiler's per-kernel table of whole steps.
//!
//! Kernel times come from the profiler's GPU timestamps when the adapter has TIMESTAMP_QUERY, else
//! from wall time over repeated submits after a warm-up. Work (flops, bytes) is what each op
//! declares in its dispatch `Cost`, so the bench and the profiler agree on it.
//!
//! One file per part: kernels.rs (the op benchmarks), model.rs (inference, training steps, their
//! peak memory, `profile`), peak.rs (the adapter's measured peaks), timing.rs (timing a call into
//! a row), table.rs (the printed tables).

mod kernels;
mod model;
mod peak;
mod table;
mod timing;

use anyhow::Result;
use serde::Serialize;

use crate::gpu::Gpu;
use crate::model::Config;
use kernels::{conv_benches, other_benches, run_kernel};
use model::{end_to_end, stage1_params};
use peak::{peak_benches, peaks_of};
use table::{format_memory, format_row};
use timing::timestamps;

pub use model::{peak_memory, profile, synthetic_batch, Profiles};
pub use peak::{measure_peaks, Peaks};

pub struct BenchOptions {
    /// paper or tiny
    pub preset: String,
    /// a TOML model config instead of the preset (e.g. a 64 x 64 one); overrides `preset`
    pub config: Option<std::path::PathBuf>,
    /// tiny shapes and one repetition (CI smoke test); overrides `preset` and `config`
    pub quick: bool,
    /// run only the benchmarks whose name contains this
    pub filter: Option<String>,
}

/// What limits a kernel: its arithmetic (GFLOP/s is the number to read) or its memory traffic (GB/s).
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Bound {
    Compute,
    Memory,
    /// end-to-end: inference, training steps (ms is the number to read)
    Latency,
}

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// unique name, e.g. "conv2d_forward single.block1.conv2"
    pub name: String,
    /// kernel family: conv2d_forward, conv2d_backward_input, conv2d_backward_weight, batchnorm, ...
    pub family: String,
    /// input shapes in words
    pub shape: String,
    pub bound: Bound,
    /// time of one call (all its dispatches), ms
    pub ms: Option<f64>,
    pub gflops: Option<f64>,
    pub gbps: Option<f64>,
    /// work of one call as declared by the ops
    pub flop: f64,
    pub bytes: f64,
    pub reps: usize,
    /// why it did not run (a tensor over the adapter's binding limit)
    pub skipped: Option<String>,
    /// share of the adapter's measured peak: GFLOP/s of the FMA probe for compute-bound kernels,
    /// GB/s of the copy probe for memory-bound ones (when the probes ran)
    pub peak_share: Option<f64>,
}

/// Whether `path` holds `bench --json` output.
pub fn is_bench_json(path: &std::path::Path) -> bool {
    crate::util::outputs::json_with_keys(path, &["adapter", "preset", "timing", "rows"])
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub adapter: String,
    pub date: String,
    pub preset: String,
    /// "GPU timestamps" or "wall time"
    pub timing: String,
    pub max_binding_mib: f64,
    /// "adapter" or "default" (TDFAS_LIMITS)
    pub limits: String,
    pub rows: Vec<Row>,
    /// peak GPU memory of clip inference and of each training step
    pub memory: Vec<MemoryRow>,
    /// the adapter's measured peaks (absent when a filter left the probes out)
    pub peaks: Option<Peaks>,
}

/// Peak GPU memory of one workload: what the buffer pool held from the driver at most (the
/// parameters, optimizer state and every live tensor, rounded up to the pool's size classes),
/// and the most bytes live tensors used. Uniform and staging buffers (a few MiB) are not counted.
#[derive(Clone, Debug, Serialize)]
pub struct MemoryRow {
    pub name: String,
    pub peak_bytes: u64,
    pub peak_in_use_bytes: u64,
    /// why it was not measured
    pub skipped: Option<String>,
}

/// Every kernel family the bench covers (the smoke tests check the table names each): each op's
/// (its `KERNELS`), then the whole model's.
pub fn families() -> Vec<&'static str> {
    let ops = crate::ops::ALL.iter().flat_map(|k| k.bench.iter().copied());
    ops.chain(["inference", "train_step"]).collect()
}

/// The model's preset or config file for the bench (`--quick`: tiny).
pub fn bench_config(opts: &BenchOptions) -> Result<Config> {
    match (&opts.config, opts.quick) {
        (Some(path), false) => Config::from_file(path),
        _ => Config::preset(if opts.quick { "tiny" } else { &opts.preset }),
    }
}

/// Runs every benchmark of the preset, printing each row as it completes when `progress`.
pub fn run(gpu: &Gpu, opts: &BenchOptions, progress: bool) -> Result<Report> {
    let cfg = bench_config(opts)?;
    // the peak probes first: every later row is given as a share of them
    let mut benches = peak_benches();
    benches.extend(conv_benches(&cfg));
    benches.extend(other_benches(&cfg, stage1_params(gpu, &cfg)?));
    let wanted = |name: &str| opts.filter.as_deref().is_none_or(|f| name.contains(f));
    let e2e = ["inference", "train_step", "memory"];
    if !benches.iter().any(|kb| wanted(&kb.name)) && !e2e.iter().any(|n| wanted(n)) {
        let mut names: Vec<&str> = benches.iter().map(|kb| kb.name.split_whitespace().next().unwrap_or("")).collect();
        names.sort_unstable();
        names.dedup();
        anyhow::bail!(
            "--filter {:?} matches no benchmark; names contain: {}, inference, train_step, memory",
            opts.filter.as_deref().unwrap_or(""),
            names.join(", ")
        );
    }
    let mut rows: Vec<Row> = vec![];
    for kb in benches.iter().filter(|kb| wanted(&kb.name)) {
        let mut r = run_kernel(gpu, kb, opts.quick)?;
        r.peak_share = peaks_of(&rows).and_then(|p| p.share(&r));
        if progress {
            eprintln!("{}", format_row(&r));
        }
        rows.push(r);
    }
    let memory = if wanted("memory") || wanted("inference") || wanted("train_step") {
        let m = peak_memory(gpu, &cfg)?;
        if progress {
            for r in &m {
                eprintln!("{}", format_memory(r));
            }
        }
        m
    } else {
        vec![]
    };
    if wanted("inference") || wanted("train_step") {
        for r in end_to_end(gpu, &cfg, opts.quick, &wanted)? {
            if progress {
                eprintln!("{}", format_row(&r));
            }
            rows.push(r);
        }
    }
    let peaks = peaks_of(&rows);
    Ok(Report {
        peaks,
        adapter: gpu.describe(),
        date: crate::util::time::today(),
        preset: cfg.name.clone(),
        timing: if timestamps(gpu) { "GPU timestamps" } else { "wall time over repeated submits" }.into(),
        max_binding_mib: gpu.max_binding() as f64 / 1048576.0,
        limits: gpu.device.limits_source().to_string(),
        rows,
        memory,
    })
}
