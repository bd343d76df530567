//! The whole model's benchmarks: clip inference and one training step of each stage (wall time),
//! their peak memory (dry runs), and `profile`'s per-kernel profiles of the same steps.

use std::time::Instant;

use anyhow::Result;

use super::kernels::fill;
use super::peak::{measure_peaks, Peaks};
use super::timing::{fit_or_skip, row, start_profiler, stop_profiler, work};
use super::{Bound, MemoryRow, Row};
use crate::gpu::profiler::Profiler;
use crate::gpu::Gpu;
use crate::model::fastd::{FasTd, HostBatch};
use crate::model::{Config, Stage};
use crate::train::adadelta::Adadelta;
use crate::train::trainer::train_step;

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
        for stage in [Stage::Single, Stage::Multi] {
            let optim = optimizer(gpu, &mut model, stage)?;
            let batch = if stage == Stage::Single { &b1 } else { &b2 };
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

fn optimizer(gpu: &Gpu, model: &mut FasTd, stage: Stage) -> Result<Adadelta> {
    model.set_stage(stage);
    let c = model.cfg.clone();
    let lr = stage.settings(&c).lr;
    Adadelta::new(gpu, &mut model.params, lr as f32, c.adadelta_rho as f32, c.adadelta_eps as f32)
}

thread_local! {
    /// Set while the end-to-end rows of the paper preset run (one call each on a CPU adapter).
    static SLOW: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Inference and training-step rows (wall time per call; flop from the ops' declared costs).
pub(super) fn end_to_end(gpu: &Gpu, cfg: &Config, quick: bool, wanted: &dyn Fn(&str) -> bool) -> Result<Vec<Row>> {
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
    for stage in [Stage::Single, Stage::Multi] {
        let (batch, shape) = if stage == Stage::Single {
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
        let (flop, bytes) = work(&prof, 1);
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
    let (flop, bytes) = work(&prof, 1);
    let reps = if quick { 1 } else { ((2.0 / warm.max(1e-6)) as usize).clamp(3, 20) };
    let t0 = Instant::now();
    for _ in 0..reps {
        call(gpu)?;
    }
    gpu.wait()?;
    Ok((t0.elapsed().as_secs_f64() * 1e3 / reps as f64, flop, bytes, reps))
}

/// Number of stage-1 trainable values (the Adadelta arena of stage 1).
pub(super) fn stage1_params(gpu: &Gpu, cfg: &Config) -> Result<usize> {
    let mut model = FasTd::new(gpu, cfg.clone(), 0)?;
    model.set_stage(Stage::Single);
    Ok(model.params.trainable().map(|p| p.value.numel()).sum())
}

/// Per-kernel profiles of one stage-1 step, one stage-2 step and one clip inference.
pub struct Profiles {
    pub adapter: String,
    pub preset: String,
    pub phases: Vec<(String, Profiler)>,
    /// the adapter's measured peaks (ops::peak), for each kernel's share
    pub peaks: Option<Peaks>,
}

/// Runs each phase once to warm up (pipelines, pooled buffers), then once with the profiler on.
pub fn profile(gpu: &Gpu, cfg: &Config) -> Result<Profiles> {
    let peaks = measure_peaks(gpu, false)?;
    let (b1, b2, clip) = batches(cfg);
    let mut model = FasTd::new(gpu, cfg.clone(), 0)?;
    let mut phases = vec![];
    for stage in [Stage::Single, Stage::Multi] {
        let optim = optimizer(gpu, &mut model, stage)?;
        let batch = if stage == Stage::Single { &b1 } else { &b2 };
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
