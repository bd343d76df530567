//! Timing one call: GPU timestamps where the adapter has them, else wall time; the work is what
//! the profiler saw the ops declare.

use std::time::Instant;

use anyhow::Result;

use super::{Bound, Row};
use crate::gpu::profiler::Profiler;
use crate::gpu::Gpu;

pub(super) fn timestamps(gpu: &Gpu) -> bool {
    gpu.device.features().contains(wgpu::Features::TIMESTAMP_QUERY)
}

pub(super) fn start_profiler(gpu: &Gpu) {
    gpu.start_profiler(Profiler { gpu_timestamps: timestamps(gpu), ..Default::default() });
}

pub(super) fn stop_profiler(gpu: &Gpu) -> Profiler {
    gpu.take_profiler().unwrap_or_default()
}

/// Times `call` (recording + one flush each): warm-up, then the declared work and, with
/// timestamps, the GPU time from the profiler; else wall time over repeated submits.
/// Returns (ms per call, flop per call, bytes per call, reps).
pub(super) fn time_call(
    gpu: &Gpu,
    quick: bool,
    call: &mut dyn FnMut(&Gpu) -> Result<()>,
) -> Result<(f64, f64, f64, usize)> {
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
    let (flop, bytes) = work(&prof, reps);
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

/// The work the ops declared to the profiler, per call of `reps`: (flop, bytes).
pub(super) fn work(prof: &Profiler, reps: usize) -> (f64, f64) {
    let flop: f64 = prof.kernels.values().map(|k| k.flops).sum();
    let bytes: f64 = prof.kernels.values().map(|k| k.bytes).sum();
    (flop / reps as f64, bytes / reps as f64)
}

pub(super) fn row(name: &str, family: &str, shape: String, bound: Bound) -> Row {
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
pub(super) fn fit_or_skip(r: Row, result: Result<(f64, f64, f64, usize)>) -> Result<Row> {
    match result {
        Ok(t) => Ok(timed(r, t)),
        Err(e) if format!("{e:#}").contains("binds at most") => {
            Ok(Row { skipped: Some(format!("skipped: {e:#}")), ..r })
        }
        Err(e) => Err(e.context(format!("benchmark {}", r.name))),
    }
}
