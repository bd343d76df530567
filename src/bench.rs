//! Benchmarks (issue 10): every kernel family at a preset's real shapes (GFLOP/s for compute-bound
//! kernels, GB/s for memory-bound ones), clip inference latency at batch 1, one training step of
//! each stage; and `profile`, the profiler's per-kernel table of whole steps.
//!
//! Kernel times come from the profiler's GPU timestamps when the adapter has TIMESTAMP_QUERY, else
//! from wall time over repeated submits after a warm-up. Work (flops, bytes) is what each op
//! declares in its dispatch `Cost`, so the bench and the profiler agree on it.

use std::time::Instant;

use anyhow::Result;
use serde::Serialize;

use crate::gpu::profiler::Profiler;
use crate::gpu::Gpu;
use crate::model::fastd::{FasTd, HostBatch};
use crate::model::Config;
use crate::ops::{adadelta, batchnorm, conv, depth_loss, gru, linear, pool, resize, sobel};
use crate::tensor::Tensor;
use crate::train::adadelta::Adadelta;
use crate::train::trainer::train_step;

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

/// The adapter's measured peaks (ops::peak): the FMA probe's GFLOP/s, the copy probe's GB/s.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Peaks {
    pub gflops: f64,
    pub gbps: f64,
}

impl Peaks {
    /// A row's share of the peak that bounds it.
    fn share(&self, r: &Row) -> Option<f64> {
        match r.bound {
            Bound::Compute => r.gflops.map(|g| g / self.gflops),
            Bound::Memory => r.gbps.map(|g| g / self.gbps),
            Bound::Latency => None,
        }
    }
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

/// Peak memory of clip inference and one training step of each stage. Buffers are taken from the
/// pool when ops are recorded, so this runs the workloads dry (`Gpu::dry_run`): exact, and quick
/// even where the kernels would take minutes. Each starts from a trimmed pool.
pub fn peak_memory(gpu: &Gpu, cfg: &Config) -> Result<Vec<MemoryRow>> {
    gpu.flush()?;
    let rows = gpu.dry_run(|| {
        let (b1, b2, clip) = batches(cfg);
        let mut model = FasTd::new(gpu, cfg.clone(), 0)?;
        let mut rows = vec![];
        let mut measure = |name: &str, run: &mut dyn FnMut() -> Result<()>| {
            gpu.pool.trim();
            gpu.pool.reset_peaks();
            let r = run();
            let (peak, in_use) = gpu.pool.peaks();
            let skipped = r.err().map(|e| format!("{e:#}"));
            rows.push(MemoryRow { name: name.into(), peak_bytes: peak, peak_in_use_bytes: in_use, skipped });
        };
        measure("inference (clip, batch 1)", &mut || model.score(gpu, &clip).map(drop));
        for stage in [1u8, 2] {
            let optim = optimizer(gpu, &mut model, stage)?;
            let batch = if stage == 1 { &b1 } else { &b2 };
            let m = &model;
            measure(&format!("train_step stage {stage}"), &mut || {
                train_step(gpu, m, &optim, batch, stage, false).map(drop)
            });
        }
        Ok(rows)
    });
    gpu.pool.trim();
    rows
}

/// Every kernel family the bench covers (the smoke tests check the table names each): each op's
/// (its `KERNELS`), then the whole model's.
pub fn families() -> Vec<&'static str> {
    let ops = crate::ops::ALL.iter().flat_map(|k| k.bench.iter().copied());
    ops.chain(["inference", "train_step"]).collect()
}

/// One call of a benchmark (records its dispatches), and what builds it from fresh inputs.
type Call = Box<dyn FnMut(&Gpu) -> Result<()>>;
type MakeCall = Box<dyn Fn(&Gpu) -> Result<Call>>;

/// One kernel benchmark: input shapes (checked against the adapter before anything is allocated)
/// and a function that records the dispatches of one call on inputs it builds once.
struct KernelBench {
    name: String,
    family: &'static str,
    bound: Bound,
    /// (what, shape) of every tensor the call reads or writes
    tensors: Vec<(String, Vec<usize>)>,
    /// builds the inputs, returns the call
    make: MakeCall,
}

fn shape_str(s: &[usize]) -> String {
    format!("[{}]", s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(","))
}

/// Deterministic values in [-0.5, 0.5): cheap enough for the paper's largest tensors.
fn fill(n: usize, seed: usize) -> Vec<f32> {
    (0..n).map(|i| (((i + seed * 7919).wrapping_mul(2654435761) >> 7) % 1000) as f32 / 1000.0 - 0.5).collect()
}

fn input(gpu: &Gpu, shape: &[usize], seed: usize) -> Result<Tensor> {
    Tensor::upload(gpu, &fill(shape.iter().product(), seed), shape)
}

/// The model's preset or config file for the bench (`--quick`: tiny).
pub fn bench_config(opts: &BenchOptions) -> Result<Config> {
    match (&opts.config, opts.quick) {
        (Some(path), false) => Config::from_file(path),
        _ => Config::preset(if opts.quick { "tiny" } else { &opts.preset }),
    }
}

/// A distinct conv shape of the model and the layers that use it.
#[derive(Clone, Debug, PartialEq)]
struct ConvShape {
    layers: Vec<String>,
    n: usize,
    cin: usize,
    cout: usize,
    k: usize,
    h: usize,
    /// the backward-input pass runs only where the input needs a gradient
    needs_gx: bool,
    /// the weight gradient runs only for trained layers (every conv is trained in one stage)
    needs_gw: bool,
}

/// Every conv of variant 4 with its batch: stage 1 trains the single-frame part on `batch1`
/// frames; stage 2 trains OFF, GRU on `batch2` clips of Nf frames (MODEL.md).
fn conv_shapes(cfg: &Config) -> Vec<ConvShape> {
    let (h, s, b) = (cfg.image_size, cfg.map_size(), cfg.block);
    let n1 = cfg.stage1.batch;
    let (clips, nf) = (cfg.stage2.batch, cfg.frames);
    let mut v: Vec<(String, usize, usize, usize, usize, usize, bool)> = vec![];
    v.push(("single.conv0".into(), n1, 3, cfg.stem, 3, h, false));
    let mut c_in = cfg.stem;
    for blk in 1..=3 {
        let hb = h >> (blk - 1);
        v.push((format!("single.block{blk}.conv1"), n1, c_in, b[0], 3, hb, true));
        v.push((format!("single.block{blk}.conv2"), n1, b[0], b[1], 3, hb, true));
        v.push((format!("single.block{blk}.conv3"), n1, b[1], b[2], 3, hb, true));
        c_in = b[2];
    }
    v.push(("single.head.conv1".into(), n1, 3 * b[2], cfg.head[0], 3, s, true));
    v.push(("single.head.conv2".into(), n1, cfg.head[0], cfg.head[1], 3, s, true));
    v.push(("single.head.out".into(), n1, cfg.head[1], 1, 3, s, true));
    for l in 1..=3 {
        let hl = h >> (l - 1);
        v.push((format!("off{l}.reduce"), clips * nf, b[2], cfg.off_reduce, 1, hl, false));
        let cin = 6 * cfg.off_reduce + if l > 1 { cfg.off_out } else { 0 };
        v.push((format!("off{l}.fuse"), clips * (nf - 1), cin, cfg.off_out, 3, hl, true));
    }
    v.push(("gru1.{reset,update,cand}".into(), clips, cfg.gru_hidden + cfg.off_out, cfg.gru_hidden, 3, s, true));
    v.push(("gru2.{reset,update,cand}".into(), clips, 1 + cfg.gru_hidden, 1, 3, s, true));
    let mut out: Vec<ConvShape> = vec![];
    for (layer, n, cin, cout, k, hh, needs_gx) in v {
        if let Some(c) = out.iter_mut().find(|c| (c.n, c.cin, c.cout, c.k, c.h) == (n, cin, cout, k, hh)) {
            c.layers.push(layer);
            c.needs_gx |= needs_gx;
        } else {
            out.push(ConvShape { layers: vec![layer], n, cin, cout, k, h: hh, needs_gx, needs_gw: true });
        }
    }
    out
}

/// The peak probes (ops::peak) at this adapter type's sizes.
fn peak_benches() -> Vec<KernelBench> {
    let fma = KernelBench {
        name: "peak_fma (multiply-adds in registers)".into(),
        family: "peak_fma",
        bound: Bound::Compute,
        tensors: vec![],
        make: Box::new(|gpu| {
            let (groups, iters, _) = crate::ops::peak::sizes(gpu);
            Ok(Box::new(move |gpu: &Gpu| crate::ops::peak::fma(gpu, groups, iters).map(drop)))
        }),
    };
    let copy = KernelBench {
        name: "peak_copy (streaming copy)".into(),
        family: "peak_copy",
        bound: Bound::Memory,
        tensors: vec![],
        make: Box::new(|gpu| {
            let src = input(gpu, &[crate::ops::peak::sizes(gpu).2], 1)?;
            Ok(Box::new(move |gpu: &Gpu| crate::ops::peak::copy(gpu, &src).map(drop)))
        }),
    };
    vec![fma, copy]
}

/// The adapter's peaks from the two probe rows, when both ran.
fn peaks_of(rows: &[Row]) -> Option<Peaks> {
    let rate = |family: &str| rows.iter().find(|r| r.family == family && r.skipped.is_none());
    Some(Peaks { gflops: rate("peak_fma")?.gflops?, gbps: rate("peak_copy")?.gbps? })
}

/// Measures the adapter's peaks (the probes' rows).
pub fn measure_peaks(gpu: &Gpu, quick: bool) -> Result<Option<Peaks>> {
    let rows: Vec<Row> = peak_benches().iter().map(|kb| run_kernel(gpu, kb, quick)).collect::<Result<_>>()?;
    Ok(peaks_of(&rows))
}

fn conv_benches(cfg: &Config) -> Vec<KernelBench> {
    let mut v = vec![];
    for c in conv_shapes(cfg) {
        let (n, ci, co, k, h) = (c.n, c.cin, c.cout, c.k, c.h);
        let (xs, ws, ys) = (vec![n, ci, h, h], vec![co, ci, k, k], vec![n, co, h, h]);
        let layers = c.layers.join(" ");
        let tensors = |a: &str, b: &str, c: &str| {
            vec![(a.to_string(), xs.clone()), (b.to_string(), ws.clone()), (c.to_string(), ys.clone())]
        };
        // The kernel the autotune picked, then the other one at the same shape: the evidence for
        // its choice.
        for (family, other) in [("conv2d_forward", false), ("conv2d_forward_other", true)] {
            let (xs1, ws1) = (xs.clone(), ws.clone());
            v.push(KernelBench {
                name: format!("{family} {layers}"),
                family,
                bound: Bound::Compute,
                tensors: tensors("x", "w", "y"),
                make: Box::new(move |gpu| {
                    let (x, w) = (input(gpu, &xs1, 1)?, input(gpu, &ws1, 2)?);
                    // on a GPU the tiles against the GEMM kernel, else the first other kernel
                    use conv::ConvKernel::{Gemm, Tiled};
                    let tuned = conv::settings(gpu)?.kernel.get();
                    let kernel = match tuned {
                        _ if gpu.is_cpu() => conv::ConvKernel::ALL.into_iter().find(|&k| k != tuned),
                        Tiled => Some(Gemm),
                        _ => Some(Tiled),
                    };
                    Ok(Box::new(move |gpu: &Gpu| match (other, kernel) {
                        (true, Some(k)) => conv::conv2d_with(gpu, k, &x, &w, None).map(drop),
                        _ => conv::conv2d(gpu, &x, &w, None).map(drop),
                    }))
                }),
            });
        }
        if c.needs_gx {
            let (ys1, ws1) = (ys.clone(), ws.clone());
            v.push(KernelBench {
                name: format!("conv2d_backward_input {layers}"),
                family: "conv2d_backward_input",
                bound: Bound::Compute,
                tensors: tensors("gx", "w", "gy"),
                make: Box::new(move |gpu| {
                    let (gy, w) = (input(gpu, &ys1, 3)?, input(gpu, &ws1, 2)?);
                    Ok(Box::new(move |gpu: &Gpu| conv::conv2d_backward_input(gpu, &gy, &w).map(drop)))
                }),
            });
        }
        if c.needs_gw {
            let (xs1, ys1) = (xs.clone(), ys.clone());
            v.push(KernelBench {
                name: format!("conv2d_backward_weight {layers}"),
                family: "conv2d_backward_weight",
                bound: Bound::Compute,
                tensors: tensors("x", "gw", "gy"),
                make: Box::new(move |gpu| {
                    let (x, gy) = (input(gpu, &xs1, 1)?, input(gpu, &ys1, 3)?);
                    Ok(Box::new(move |gpu: &Gpu| conv::conv2d_backward_weight(gpu, &x, &gy, k).map(drop)))
                }),
            });
        }
    }
    v
}

/// A memory-bound benchmark on one activation shape whose call is `f(gpu, inputs)`.
fn mem_bench(
    name: &str,
    family: &'static str,
    shapes: Vec<(&str, Vec<usize>)>,
    f: impl Fn(&Gpu, &[Tensor]) -> Result<()> + Clone + 'static,
) -> KernelBench {
    let tensors: Vec<(String, Vec<usize>)> = shapes.iter().map(|(w, s)| (w.to_string(), s.clone())).collect();
    let inputs = tensors.clone();
    KernelBench {
        name: name.to_string(),
        family,
        bound: Bound::Memory,
        tensors,
        make: Box::new(move |gpu| {
            let ts: Vec<Tensor> =
                inputs.iter().enumerate().map(|(i, (_, s))| input(gpu, s, i + 1)).collect::<Result<_>>()?;
            let f = f.clone();
            Ok(Box::new(move |gpu: &Gpu| f(gpu, &ts)))
        }),
    }
}

/// The other kernel families, each at the largest shape the model gives it.
fn other_benches(cfg: &Config, params: usize) -> Vec<KernelBench> {
    let (h, s, b) = (cfg.image_size, cfg.map_size(), cfg.block);
    let n1 = cfg.stage1.batch;
    let (clips, nf) = (cfg.stage2.batch, cfg.frames);
    // the largest BatchNorm input: block 1's conv2 output
    let bn = vec![n1, b[1], h, h];
    let c = vec![b[1]];
    let pool_in = vec![n1, b[2], h, h];
    let pool_out = vec![n1, b[2], h / 2, h / 2];
    let rs_in = vec![n1, b[2], h / 2, h / 2];
    let rs_out = vec![n1, b[2], s, s];
    let sob = vec![clips * nf, cfg.off_reduce, h, h];
    let g = vec![clips, cfg.gru_hidden, s, s];
    let d = vec![n1, 1, s, s];
    let fc_in = (nf - 1) * s * s;
    let mut v = vec![
        mem_bench(
            "batchnorm_forward (train, fused ReLU)",
            "batchnorm_forward",
            vec![
                ("x", bn.clone()),
                ("gamma", c.clone()),
                ("beta", c.clone()),
                ("rmean", c.clone()),
                ("rvar", c.clone()),
            ],
            |gpu, t| {
                batchnorm::batchnorm_forward(gpu, &t[0], &t[1], &t[2], &t[3], &t[4], true, 1e-5, 0.1, true).map(drop)
            },
        ),
        mem_bench(
            "batchnorm_backward (train, fused ReLU)",
            "batchnorm_backward",
            vec![("x", bn.clone()), ("y", bn.clone()), ("gy", bn.clone()), ("stats", vec![2, b[1]]), ("gamma", c)],
            |gpu, t| batchnorm::batchnorm_backward(gpu, &t[0], &t[1], &t[2], &t[3], &t[4], true, true).map(drop),
        ),
        mem_bench("maxpool_forward", "maxpool_forward", vec![("x", pool_in.clone())], |gpu, t| {
            pool::maxpool2(gpu, &t[0]).map(drop)
        }),
        maxpool_backward(pool_in.clone(), pool_out),
        mem_bench("resize_forward (x1 to S)", "resize_forward", vec![("x", rs_in.clone())], move |gpu, t| {
            resize::resize_bilinear(gpu, &t[0], s, s).map(drop)
        }),
        mem_bench("resize_backward (x1 to S)", "resize_backward", vec![("gy", rs_out), ("gx", rs_in.clone())], {
            move |gpu, t| resize::resize_bilinear_backward(gpu, t[1].shape(), &t[0]).map(drop)
        }),
        mem_bench("sobel_forward (x and y)", "sobel_forward", vec![("x", sob.clone())], |gpu, t| {
            sobel::sobel(gpu, &t[0], sobel::SobelDir::X)?;
            sobel::sobel(gpu, &t[0], sobel::SobelDir::Y).map(drop)
        }),
        mem_bench("sobel_backward (x and y)", "sobel_backward", vec![("gy", sob)], |gpu, t| {
            sobel::sobel_backward(gpu, &t[0], sobel::SobelDir::X)?;
            sobel::sobel_backward(gpu, &t[0], sobel::SobelDir::Y).map(drop)
        }),
        mem_bench(
            "gru_gates (gru1)",
            "gru_gates",
            vec![("pre_r", g.clone()), ("pre_u", g.clone()), ("h_prev", g.clone())],
            |gpu, t| gru::gru_gates(gpu, &t[0], &t[1], &t[2]).map(drop),
        ),
        mem_bench(
            "gru_update (gru1)",
            "gru_update",
            vec![("u", g.clone()), ("h_prev", g.clone()), ("pre_c", g.clone())],
            |gpu, t| gru::gru_update(gpu, &t[0], &t[1], &t[2]).map(drop),
        ),
        mem_bench(
            "gru_backward (gru1: update, rh, u)",
            "gru_backward",
            vec![("u", g.clone()), ("h_prev", g.clone()), ("pre_c", g.clone()), ("g", g)],
            |gpu, t| {
                gru::gru_update_backward(gpu, &t[0], &t[1], &t[2], &t[3])?;
                gru::gru_rh_backward(gpu, &t[0], &t[1], &t[3])?;
                gru::gru_u_backward(gpu, &t[0], &t[3]).map(drop)
            },
        ),
        mem_bench("depth_loss (abs + contrastive)", "depth_loss", vec![("pred", d.clone()), ("target", d.clone())], {
            |gpu, t| {
                depth_loss::depth_loss(gpu, depth_loss::DepthLoss::Abs, &t[0], &t[1], None)?;
                depth_loss::depth_loss(gpu, depth_loss::DepthLoss::Con, &t[0], &t[1], None).map(drop)
            }
        }),
        mem_bench(
            "depth_loss_backward (abs + contrastive)",
            "depth_loss_backward",
            vec![("pred", d.clone()), ("target", d), ("g", vec![1]), ("den", vec![1])],
            |gpu, t| {
                depth_loss::depth_loss_backward(gpu, depth_loss::DepthLoss::Abs, &t[0], &t[1], None, &t[2], &t[3])?;
                depth_loss::depth_loss_backward(gpu, depth_loss::DepthLoss::Con, &t[0], &t[1], None, &t[2], &t[3])
                    .map(drop)
            },
        ),
        mem_bench("adadelta (stage-1 parameters)", "adadelta", vec![("p", vec![params]); 4], |gpu, t| {
            adadelta::adadelta_step(gpu, &t[0], &t[1], &t[2], &t[3], 1.0, 0.95, 1e-8)
        }),
    ];
    let mut lin = mem_bench(
        "linear (head.fc1)",
        "linear",
        vec![("x", vec![clips, fc_in]), ("w", vec![cfg.fc_hidden, fc_in]), ("b", vec![cfg.fc_hidden])],
        |gpu, t| linear::linear(gpu, &t[0], &t[1], &t[2]).map(drop),
    );
    lin.bound = Bound::Compute;
    v.push(lin);
    v
}

/// maxpool backward with the real argmax indices of a forward (built once), so the scatter
/// pattern is the model's.
fn maxpool_backward(x: Vec<usize>, y: Vec<usize>) -> KernelBench {
    let tensors = vec![("gy".to_string(), y.clone()), ("idx".to_string(), y.clone()), ("gx".to_string(), x.clone())];
    KernelBench {
        name: "maxpool_backward".into(),
        family: "maxpool_backward",
        bound: Bound::Memory,
        tensors,
        make: Box::new(move |gpu| {
            let (xt, gy) = (input(gpu, &x, 1)?, input(gpu, &y, 2)?);
            let (_, idx) = pool::maxpool2(gpu, &xt)?;
            Ok(Box::new(move |gpu: &Gpu| pool::maxpool2_backward(gpu, xt.shape(), &gy, &idx).map(drop)))
        }),
    }
}

/// Why a benchmark cannot run on this adapter (one batch item over its binding limit; tensors
/// larger than a buffer span several), if it cannot.
fn over_limit(gpu: &Gpu, tensors: &[(String, Vec<usize>)]) -> Option<String> {
    tensors.iter().find_map(|(what, s)| {
        let bytes = 4 * s.iter().skip(1).product::<usize>() as u64;
        gpu.check_item_size(&format!("{what} {}", shape_str(s)), bytes).err().map(|e| format!("skipped: {e}"))
    })
}

fn timestamps(gpu: &Gpu) -> bool {
    gpu.device.features.contains(wgpu::Features::TIMESTAMP_QUERY)
}

fn start_profiler(gpu: &Gpu) {
    gpu.start_profiler(Profiler { gpu_timestamps: timestamps(gpu), ..Default::default() });
}

fn stop_profiler(gpu: &Gpu) -> Profiler {
    gpu.take_profiler().unwrap_or_default()
}

/// Times `call` (recording + one flush each): warm-up, then the declared work and, with
/// timestamps, the GPU time from the profiler; else wall time over repeated submits.
/// Returns (ms per call, flop per call, bytes per call, reps).
fn time_call(gpu: &Gpu, quick: bool, call: &mut dyn FnMut(&Gpu) -> Result<()>) -> Result<(f64, f64, f64, usize)> {
    let t0 = Instant::now();
    call(gpu)?;
    gpu.flush()?;
    gpu.wait()?;
    let warm = t0.elapsed().as_secs_f64();
    // about half a second of repetitions, at least 3 (1 when quick)
    let reps = if quick { 1 } else { ((0.5 / warm.max(1e-6)) as usize).clamp(3, 50) };
    start_profiler(gpu);
    let profiled = (|| {
        for _ in 0..reps {
            call(gpu)?;
            gpu.flush()?;
        }
        gpu.wait()
    })();
    let prof = stop_profiler(gpu);
    profiled?;
    let flop = prof.kernels.values().map(|k| k.flops).sum::<f64>() / reps as f64;
    let bytes = prof.kernels.values().map(|k| k.bytes).sum::<f64>() / reps as f64;
    let ms = if prof.gpu_timestamps {
        prof.total_ms() / reps as f64
    } else {
        let t0 = Instant::now();
        for _ in 0..reps {
            call(gpu)?;
            gpu.flush()?;
        }
        gpu.wait()?;
        t0.elapsed().as_secs_f64() * 1e3 / reps as f64
    };
    Ok((ms, flop, bytes, reps))
}

fn row(name: &str, family: &str, shape: String, bound: Bound) -> Row {
    Row {
        name: name.to_string(),
        family: family.to_string(),
        shape,
        bound,
        ms: None,
        gflops: None,
        gbps: None,
        flop: 0.0,
        bytes: 0.0,
        reps: 0,
        skipped: None,
        peak_share: None,
    }
}

fn timed(mut r: Row, (ms, flop, bytes, reps): (f64, f64, f64, usize)) -> Row {
    let secs = (ms / 1e3).max(1e-12);
    r.ms = Some(ms);
    r.flop = flop;
    r.bytes = bytes;
    r.reps = reps;
    r.gflops = (flop > 0.0).then(|| flop / secs / 1e9);
    r.gbps = (bytes > 0.0).then(|| bytes / secs / 1e9);
    r
}

/// Errors that mean "does not fit this adapter" become a skipped row; others propagate.
fn fit_or_skip(r: Row, result: Result<(f64, f64, f64, usize)>) -> Result<Row> {
    match result {
        Ok(t) => Ok(timed(r, t)),
        Err(e) if format!("{e:#}").contains("binds at most") => {
            Ok(Row { skipped: Some(format!("skipped: {e:#}")), ..r })
        }
        Err(e) => Err(e.context(format!("benchmark {}", r.name))),
    }
}

fn run_kernel(gpu: &Gpu, kb: &KernelBench, quick: bool) -> Result<Row> {
    let shape = kb.tensors.iter().map(|(w, s)| format!("{w} {}", shape_str(s))).collect::<Vec<_>>().join(", ");
    let r = row(&kb.name, kb.family, shape, kb.bound);
    if let Some(why) = over_limit(gpu, &kb.tensors) {
        return Ok(Row { skipped: Some(why), ..r });
    }
    let result = (kb.make)(gpu).and_then(|mut call| time_call(gpu, quick, &mut *call));
    fit_or_skip(r, result)
}

/// A synthetic batch: `clips` clips of `frames` frames (stage 1: frames = 1 per item).
pub fn synthetic_batch(cfg: &Config, clips: usize, frames: usize) -> HostBatch {
    let (h, s) = (cfg.image_size, cfg.map_size());
    let n = clips * frames;
    HostBatch {
        clips,
        frames: fill(n * 3 * h * h, 11),
        depth: fill(n * s * s, 12).iter().map(|v| v + 0.5).collect(),
        mask: vec![1.0; n * s * s],
        labels: (0..clips).map(|i| (i % 2) as f32).collect(),
    }
}

/// (stage-1 batch, stage-2 batch, one clip) of the preset.
fn batches(cfg: &Config) -> (HostBatch, HostBatch, HostBatch) {
    (
        synthetic_batch(cfg, cfg.stage1.batch, 1),
        synthetic_batch(cfg, cfg.stage2.batch, cfg.frames),
        synthetic_batch(cfg, 1, cfg.frames),
    )
}

fn optimizer(gpu: &Gpu, model: &mut FasTd, stage: u8) -> Result<Adadelta> {
    model.set_stage(stage);
    let c = model.cfg.clone();
    let lr = if stage == 1 { c.stage1.lr } else { c.stage2.lr };
    Adadelta::new(gpu, &mut model.params, lr as f32, c.adadelta_rho as f32, c.adadelta_eps as f32)
}

thread_local! {
    /// Set while the end-to-end rows of the paper preset run (one call each on a CPU adapter).
    static SLOW: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Inference and training-step rows (wall time per call; flop from the ops' declared costs).
fn end_to_end(gpu: &Gpu, cfg: &Config, quick: bool, wanted: &dyn Fn(&str) -> bool) -> Result<Vec<Row>> {
    SLOW.with(|s| s.set(cfg.name == "paper"));
    let rows = end_to_end_rows(gpu, cfg, quick, wanted);
    SLOW.with(|s| s.set(false));
    rows
}

/// The rows `wanted` names (minutes each for the paper preset on a CPU).
fn end_to_end_rows(gpu: &Gpu, cfg: &Config, quick: bool, wanted: &dyn Fn(&str) -> bool) -> Result<Vec<Row>> {
    let (b1, b2, clip) = batches(cfg);
    let mut model = FasTd::new(gpu, cfg.clone(), 0)?;
    let (h, nf) = (cfg.image_size, cfg.frames);
    let mut rows = vec![];
    let r = row(
        "inference (clip, batch 1, model.score)",
        "inference",
        format!("1 clip of {nf} x 3x{h}x{h}"),
        Bound::Latency,
    );
    if wanted(&r.name) {
        rows.push(fit_or_skip(r, time_wall(gpu, quick, &mut |gpu| model.score(gpu, &clip).map(drop)))?);
    }
    for stage in [1u8, 2] {
        let (batch, shape) = if stage == 1 {
            (&b1, format!("{} frames of 3x{h}x{h}", cfg.stage1.batch))
        } else {
            (&b2, format!("{} clips of {nf} x 3x{h}x{h}", cfg.stage2.batch))
        };
        let r = row(&format!("train_step stage {stage}"), "train_step", shape, Bound::Latency);
        if !wanted(&r.name) {
            continue;
        }
        let optim = match optimizer(gpu, &mut model, stage) {
            Ok(o) => o,
            Err(e) => {
                rows.push(fit_or_skip(r, Err(e))?);
                continue;
            }
        };
        let m = &model;
        rows.push(fit_or_skip(
            r,
            time_wall(gpu, quick, &mut |gpu| train_step(gpu, m, &optim, batch, stage, false).map(drop)),
        )?);
    }
    Ok(rows)
}

/// Wall time of a call that synchronises itself (reads back), after a warm-up; the flop and
/// bytes come from one profiled call.
fn time_wall(gpu: &Gpu, quick: bool, call: &mut dyn FnMut(&Gpu) -> Result<()>) -> Result<(f64, f64, f64, usize)> {
    if gpu.is_cpu() && !quick && SLOW.with(|s| s.get()) {
        // the paper preset on a CPU adapter: minutes per call, so one call, profiled (its wall
        // time includes building the pipelines, seconds against minutes)
        start_profiler(gpu);
        let t0 = Instant::now();
        let r = call(gpu).and_then(|_| gpu.wait());
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        let prof = stop_profiler(gpu);
        r?;
        let flop = prof.kernels.values().map(|k| k.flops).sum::<f64>();
        let bytes = prof.kernels.values().map(|k| k.bytes).sum::<f64>();
        return Ok((ms, flop, bytes, 1));
    }
    let t0 = Instant::now();
    call(gpu)?;
    gpu.wait()?;
    let warm = t0.elapsed().as_secs_f64();
    start_profiler(gpu);
    let profiled = call(gpu).and_then(|_| gpu.wait());
    let prof = stop_profiler(gpu);
    profiled?;
    let flop = prof.kernels.values().map(|k| k.flops).sum::<f64>();
    let bytes = prof.kernels.values().map(|k| k.bytes).sum::<f64>();
    let reps = if quick { 1 } else { ((2.0 / warm.max(1e-6)) as usize).clamp(3, 20) };
    let t0 = Instant::now();
    for _ in 0..reps {
        call(gpu)?;
    }
    gpu.wait()?;
    Ok((t0.elapsed().as_secs_f64() * 1e3 / reps as f64, flop, bytes, reps))
}

/// Number of stage-1 trainable values (the Adadelta arena of stage 1).
fn stage1_params(gpu: &Gpu, cfg: &Config) -> Result<usize> {
    let mut model = FasTd::new(gpu, cfg.clone(), 0)?;
    model.set_stage(1);
    Ok(model.params.trainable().map(|p| p.value.numel()).sum())
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
        limits: gpu.device.limits_source.to_string(),
        rows,
        memory,
    })
}

fn format_memory(r: &MemoryRow) -> String {
    let name = format!("peak memory {}", r.name);
    match &r.skipped {
        Some(why) => format!("{name:<58} skipped: {why}"),
        None => format!(
            "{name:<58} {:>8.1} MiB pool high-water ({:.1} MiB in live tensors)",
            r.peak_bytes as f64 / 1048576.0,
            r.peak_in_use_bytes as f64 / 1048576.0
        ),
    }
}

fn format_row(r: &Row) -> String {
    let num = |x: Option<f64>| x.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into());
    match &r.skipped {
        Some(why) => format!("{:<58} {why}", r.name),
        None => {
            let (rate, unit) = match r.bound {
                Bound::Compute | Bound::Latency => (num(r.gflops), "GFLOP/s"),
                Bound::Memory => (num(r.gbps), "GB/s"),
            };
            let share = r.peak_share.map_or("-".into(), |s| format!("{:.1}%", 100.0 * s));
            format!("{:<58} {:>11.3} {:>10} {:<8} {:>6} {}", r.name, r.ms.unwrap_or(0.0), rate, unit, share, r.shape)
        }
    }
}

impl Report {
    /// The printed table: adapter, date, then one row per benchmark.
    pub fn table(&self) -> String {
        let mut out = format!(
            "tdfas bench, preset {}, {}\nadapter {}\ntiming: {} (max storage binding {:.0} MiB, {} limits)\n",
            self.preset, self.date, self.adapter, self.timing, self.max_binding_mib, self.limits
        );
        if let Some(p) = self.peaks {
            out += &format!(
                "measured peaks: {:.1} GFLOP/s (FMA probe), {:.1} GB/s (copy probe); \"peak\" is each row's share\n",
                p.gflops, p.gbps
            );
        }
        out += &format!("{:<58} {:>11} {:>10} {:<8} {:>6} {}\n", "benchmark", "ms", "rate", "unit", "peak", "shapes");
        for r in &self.rows {
            out += &format_row(r);
            out.push('\n');
        }
        for r in &self.memory {
            out += &format_memory(r);
            out.push('\n');
        }
        out
    }

    pub fn json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }
}

/// Per-kernel profiles of one stage-1 step, one stage-2 step and one clip inference.
pub struct Profiles {
    pub adapter: String,
    pub preset: String,
    pub phases: Vec<(String, Profiler)>,
    /// the adapter's measured peaks (ops::peak), for each kernel's share
    pub peaks: Option<Peaks>,
}

impl Profiles {
    pub fn table(&self) -> String {
        let mut out = format!(
            "tdfas profile, preset {}, {}\nadapter {}\n",
            self.preset,
            crate::util::time::today(),
            self.adapter
        );
        if let Some(p) = self.peaks {
            out += &format!("measured peaks: {:.1} GFLOP/s (FMA probe), {:.1} GB/s (copy probe)\n", p.gflops, p.gbps);
        }
        for (name, p) in &self.phases {
            out += &format!("\n== {name} ==\n{}", p.table_with_peaks(self.peaks.map(|p| (p.gflops, p.gbps))));
        }
        out
    }
}

/// Runs each phase once to warm up (pipelines, pooled buffers), then once with the profiler on.
pub fn profile(gpu: &Gpu, cfg: &Config) -> Result<Profiles> {
    let peaks = measure_peaks(gpu, false)?;
    let (b1, b2, clip) = batches(cfg);
    let mut model = FasTd::new(gpu, cfg.clone(), 0)?;
    let mut phases = vec![];
    for stage in [1u8, 2] {
        let optim = optimizer(gpu, &mut model, stage)?;
        let batch = if stage == 1 { &b1 } else { &b2 };
        train_step(gpu, &model, &optim, batch, stage, false)?;
        start_profiler(gpu);
        let r = train_step(gpu, &model, &optim, batch, stage, false);
        let p = stop_profiler(gpu);
        r?;
        phases.push((format!("training step, stage {stage}"), p));
    }
    model.score(gpu, &clip)?;
    start_profiler(gpu);
    let r = model.score(gpu, &clip);
    let p = stop_profiler(gpu);
    r?;
    phases.push(("clip inference (batch 1)".to_string(), p));
    Ok(Profiles { adapter: gpu.describe(), preset: cfg.name.clone(), phases, peaks })
}
