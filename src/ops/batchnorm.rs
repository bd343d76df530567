//! BatchNorm2d (PyTorch semantics, MODEL.md) and its fusion with ReLU, with hand-written backward.
//! Training normalises with the batch mean and biased variance and updates the running statistics
//! in place on the GPU (unbiased variance, `r = (1 - m) r + m batch`); eval uses the running stats.

use std::cell::{Cell, RefCell};
use std::ops::Range;
use std::rc::Rc;

use anyhow::{ensure, Result};
use bytemuck::{Pod, Zeroable};

use crate::gpu::profiler::Cost;
use crate::gpu::shaders::{OpKernels, Shader};
use crate::gpu::{Arg, Gpu};
use crate::graph::tape::Recompute;
use crate::graph::{Tape, Var};
use crate::tensor::Tensor;

/// This op's kernels and benchmark families (`ops::ALL` lists every op's).
pub const KERNELS: OpKernels = OpKernels {
    shaders: &[
        BATCHNORM_STATS,
        BATCHNORM_FORWARD,
        BATCHNORM_BACKWARD_REDUCE,
        BATCHNORM_BACKWARD,
        BATCHNORM_VEC4,
        BATCHNORM_FOLD,
    ],
    bench: &["batchnorm_forward", "batchnorm_backward"],
};
const BATCHNORM_STATS: Shader = crate::shader!("batchnorm_stats", ["main", "partial", "combine", "eval"]);
const BATCHNORM_FORWARD: Shader = crate::shader!("batchnorm_forward", ["main"]);
const BATCHNORM_BACKWARD_REDUCE: Shader = crate::shader!("batchnorm_backward_reduce", ["main", "partial", "combine"]);
const BATCHNORM_BACKWARD: Shader = crate::shader!("batchnorm_backward", ["main"]);
const BATCHNORM_VEC4: Shader = crate::shader!(
    "batchnorm_vec4",
    ["stats4", "train4", "apply4", "eval4", "reduce4", "train_backward4", "backward4"]
);

const BATCHNORM_FOLD: Shader = crate::shader!("batchnorm_fold", ["fold"]);

/// A binding the dispatched entry point does not use.
const U: Arg<'static> = Arg::Unused;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    c: u32,
    hw: u32,
    training: u32,
    relu: u32,
    eps: f32,
    momentum: f32,
    /// values per chunk of a split reduction (0: one workgroup per channel)
    chunk: u32,
    /// a batch chunk's first partial, and the partials per channel (0: as `chunk` implies)
    base: u32,
    total: u32,
    /// the batch the statistics span when a dispatch covers a chunk of it (0: `n`)
    stat_n: u32,
    /// vec4s per thread of batchnorm_vec4.wgsl's elementwise passes
    per: u32,
}
crate::uniform!(Params { n, c, hw, training, relu, eps, momentum, chunk, base, total, stat_n, per });

fn params(x: &Tensor, training: bool, relu: bool, eps: f32, momentum: f32) -> Params {
    let [n, c, h, w] = x.nchw();
    Params {
        n: n as u32,
        c: c as u32,
        hw: (h * w) as u32,
        training: training as u32,
        relu: relu as u32,
        eps,
        momentum,
        chunk: 0,
        base: 0,
        total: 0,
        stat_n: 0,
        per: 0,
    }
}

/// A device's BatchNorm settings (tests and benchmarks change them).
pub struct BatchNormSettings {
    /// Reductions over more values per channel than this split into chunks of this many (more
    /// workgroups than channels on a big GPU; see batchnorm_stats.wgsl).
    pub chunk: Cell<usize>,
    /// On a CPU adapter, the vec4 kernels (batchnorm_vec4.wgsl) where HW allows; false forces
    /// the general ones.
    pub vec4: Cell<bool>,
}

/// This device's BatchNorm settings: constant defaults (no device work), made by `ops::tune` or at
/// first use.
pub fn settings(gpu: &Gpu) -> Rc<BatchNormSettings> {
    let made = gpu.op_settings(|_| Ok(BatchNormSettings { chunk: Cell::new(16384), vec4: Cell::new(true) }));
    made.expect("BatchNorm settings need no device work")
}

/// Storage buffers batchnorm_vec4.wgsl declares (tests/all/limits.rs checks the count).
///
/// Training passes over at most this many values per channel run statistics and normalisation
/// (and the backward's reduction and input gradient) in one workgroup per channel, one dispatch
/// instead of two (train4, train_backward4); larger channels keep the wide elementwise grids.
pub const FUSE_MAX_PER_CHANNEL: usize = 1 << 14;

fn fused(x: &Tensor) -> bool {
    let [n, _, h, w] = x.nchw();
    n * h * w <= FUSE_MAX_PER_CHANNEL
}

pub const VEC4_BUFFERS: u32 = 11;

/// The vec4 kernels serve CPU adapters when HW is a multiple of 4 and the tensors fit one binding
/// (no split: two cores need no more workgroups than channels).
fn vec4_path(gpu: &Gpu, x: &Tensor) -> bool {
    // not NCHW: the general path reports the error
    let &[_, _, h, w] = x.shape() else { return false };
    // The file declares 11 buffers, over WebGPU's default 8 per stage, though each entry point
    // binds at most 8: the gate stays because dropping it would change which kernels (and
    // roundings) run under TDFAS_LIMITS=default.
    settings(gpu).vec4.get()
        && gpu.is_cpu()
        && gpu.device.limits().max_storage_buffers_per_shader_stage >= VEC4_BUFFERS
        && (h * w) % 4 == 0
        && x.byte_len() <= gpu.max_binding()
        && x.is_contiguous_buffer()
}

/// vec4s per thread of the elementwise vec4 passes (a divisor of HW / 4), and the grid.
fn vec4_grid(gpu: &Gpu, x: &Tensor) -> (u32, [u32; 3]) {
    let [_, _, h, w] = x.nchw();
    let per = if (h * w / 4) % 4 == 0 { 4 } else { 1 };
    (per as u32, gpu.groups_1d(x.numel() / 4 / per))
}

/// (batch range, values per partial, partials it writes)
type BatchPart = (Range<usize>, usize, usize);

/// A batch larger than one binding: (batch ranges, values per partial, the partials each range
/// writes); every partial lies inside one range, and the per-channel combine spans them all.
fn batch_split(gpu: &Gpu, what: &str, x: &Tensor, others: &[&Tensor]) -> Result<Option<Vec<BatchPart>>> {
    let [n, _, h, w] = x.nchw();
    let hw = h * w;
    let tensors: Vec<&Tensor> = std::iter::once(x).chain(others.iter().copied()).collect();
    let ranges = gpu.split_items(what, n, &tensors)?;
    if ranges.len() == 1 {
        return Ok(None);
    }
    Ok(Some(
        ranges
            .into_iter()
            .map(|r| {
                let count = r.len() * hw;
                let chunk = split(gpu, count).map_or(count, |(chunk, _)| chunk);
                (r, chunk, count.div_ceil(chunk))
            })
            .collect(),
    ))
}

/// Chunks of a split per-channel reduction over `count` values: None (one workgroup per channel)
/// unless `count` exceeds the device's `BatchNormSettings::chunk`.
fn split(gpu: &Gpu, count: usize) -> Option<(usize, usize)> {
    // at most the adapter's workgroups per grid dimension
    let max_groups = gpu.device.limits().max_compute_workgroups_per_dimension.max(1) as usize;
    let chunk = settings(gpu).chunk.get().max(1).max(count.div_ceil(max_groups));
    (count > chunk).then(|| (chunk, count.div_ceil(chunk)))
}

/// Checks that x is NCHW and every per-channel tensor has C elements.
fn check_shapes(what: &str, x: &Tensor, per_channel: &[(&str, &Tensor)]) -> Result<usize> {
    ensure!(x.shape().len() == 4, "{what}: input must be NCHW, got shape {:?}", x.shape());
    let c = x.dim(1);
    for (name, t) in per_channel {
        ensure!(
            t.numel() == c,
            "{what}: {name} has shape {:?}, expected {c} values for input {:?}",
            t.shape(),
            x.shape()
        );
    }
    Ok(c)
}

/// Per-channel statistics [2, C] = (mean, 1 / sqrt(var + eps)). Training: batch statistics, and
/// `running_mean` / `running_var` are updated in place. Eval: taken from the running statistics.
pub fn batchnorm_stats(
    gpu: &Gpu,
    x: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    training: bool,
    eps: f32,
    momentum: f32,
) -> Result<Tensor> {
    let c = check_shapes("batchnorm", x, &[("running_mean", running_mean), ("running_var", running_var)])?;
    let [n, _, h, w] = x.nchw();
    ensure!(
        !training || n * h * w > 1,
        "batchnorm: training needs more than 1 value per channel, input is {:?}",
        x.shape()
    );
    let stats = Tensor::empty(gpu, &[2, c]);
    let mut p = params(x, training, false, eps, momentum);
    if training && vec4_path(gpu, x) {
        let (rm, rv) = (Arg::of(running_mean), Arg::of(running_var));
        let args = [Arg::of(x), U, U, Arg::of(&stats), U, U, rm, rv];
        let cost = Cost::elementwise(x.numel(), 4.0, 2.0);
        gpu.dispatch(&BATCHNORM_VEC4, "stats4", &p, &args, [c as u32, 1, 1], cost)?;
        return Ok(stats);
    }
    if let (true, Some(parts)) = (training, batch_split(gpu, "batchnorm", x, &[])?) {
        // Per batch chunk, partial (count, mean, M2) of its values; then one Chan merge per channel
        // over the whole batch, as the unsplit `partial` + `combine` (equal to rounding).
        let total: usize = parts.iter().map(|p| p.2).sum();
        let partials = Tensor::empty(gpu, &[c, total, 3]);
        let mut base = 0;
        for (r, chunk, chunks) in parts {
            let xc = x.items(r.clone());
            let pc = Params { n: r.len() as u32, chunk: chunk as u32, base, total: total as u32, ..p };
            let cost = Cost::elementwise(xc.numel(), 4.0, 2.0);
            gpu.dispatch(
                &BATCHNORM_STATS,
                "partial",
                &pc,
                &[Arg::of(&xc), U, U, U, Arg::of(&partials)],
                [c as u32, chunks as u32, 1],
                cost,
            )?;
            base += chunks as u32;
        }
        let pc = Params { chunk: 1, total: total as u32, ..p };
        let cost = Cost::new(6.0 * partials.numel() as f64, 4.0 * (partials.numel() + 6 * c) as f64);
        gpu.dispatch(
            &BATCHNORM_STATS,
            "combine",
            &pc,
            &[U, Arg::of(&stats), Arg::of(running_mean), Arg::of(running_var), Arg::of(&partials)],
            gpu.groups_1d(c),
            cost,
        )?;
        return Ok(stats);
    }
    if let (true, Some((chunk, chunks))) = (training, split(gpu, n * h * w)) {
        p.chunk = chunk as u32;
        let partials = Tensor::empty(gpu, &[c, chunks, 3]);
        let groups = [c as u32, chunks as u32, 1];
        gpu.dispatch(
            &BATCHNORM_STATS,
            "partial",
            &p,
            &[Arg::of(x), U, U, U, Arg::of(&partials)],
            groups,
            Cost::elementwise(x.numel(), 4.0, 2.0),
        )?;
        let cost = Cost::new(6.0 * partials.numel() as f64, 4.0 * (partials.numel() + 6 * c) as f64);
        gpu.dispatch(
            &BATCHNORM_STATS,
            "combine",
            &p,
            &[U, Arg::of(&stats), Arg::of(running_mean), Arg::of(running_var), Arg::of(&partials)],
            gpu.groups_1d(c),
            cost,
        )?;
        return Ok(stats);
    }
    // eval needs no reduction: one thread per channel instead of a workgroup per channel
    let (entry, groups) = if training { ("main", [c as u32, 1, 1]) } else { ("eval", gpu.groups_1d(c)) };
    // eval reads no x (nor a batch larger than one binding)
    let xb = if training { Arg::of(x) } else { U };
    gpu.dispatch(
        &BATCHNORM_STATS,
        entry,
        &p,
        &[xb, Arg::of(&stats), Arg::of(running_mean), Arg::of(running_var)],
        groups,
        // training reads x twice (mean, then variance); eval only copies the running statistics
        if training { Cost::elementwise(x.numel(), 4.0, 2.0) } else { Cost::new(2.0 * c as f64, 16.0 * c as f64) },
    )?;
    Ok(stats)
}

/// y = (x - mean) * invstd * gamma + beta (then ReLU when `relu`), with stats from `batchnorm_stats`.
pub fn batchnorm_apply(
    gpu: &Gpu,
    x: &Tensor,
    stats: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    relu: bool,
) -> Result<Tensor> {
    let c = check_shapes("batchnorm", x, &[("weight", gamma), ("bias", beta)])?;
    ensure!(stats.numel() == 2 * c, "batchnorm: stats {:?} do not match {c} channels", stats.shape());
    let y = Tensor::empty(gpu, x.shape());
    if vec4_path(gpu, x) {
        let (per, groups) = vec4_grid(gpu, x);
        let p = Params { per, ..params(x, false, relu, 0.0, 0.0) };
        let [xa, sa, ga, ba, ya] = [x, stats, gamma, beta, &y].map(Arg::of);
        let args = [xa, U, U, sa, ga, ba, U, U, U, U, ya];
        gpu.dispatch(&BATCHNORM_VEC4, "apply4", &p, &args, groups, Cost::elementwise(x.numel(), 4.0, 2.0))?;
        return Ok(y);
    }
    // Larger than one binding: batch chunks (each value alone: bit-identical).
    for r in gpu.split_items("batchnorm", x.dim(0), &[x, &y])? {
        let (xc, yc) = (x.items(r.clone()), y.items(r));
        gpu.dispatch(
            &BATCHNORM_FORWARD,
            "main",
            &params(&xc, false, relu, 0.0, 0.0),
            &[Arg::of(&xc), Arg::of(stats), Arg::of(gamma), Arg::of(beta), Arg::of(&yc)],
            gpu.groups_1d(xc.numel()),
            Cost::elementwise(xc.numel(), 4.0, 2.0),
        )?;
    }
    Ok(y)
}

/// Forward pass: returns (y, stats) where stats are what the backward needs.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_forward(
    gpu: &Gpu,
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    training: bool,
    eps: f32,
    momentum: f32,
    relu: bool,
) -> Result<(Tensor, Tensor)> {
    if training && vec4_path(gpu, x) && fused(x) {
        let c = check_shapes("batchnorm", x, &[("weight", gamma), ("bias", beta)])?;
        check_shapes("batchnorm", x, &[("running_mean", running_mean), ("running_var", running_var)])?;
        let [n, _, h, w] = x.nchw();
        ensure!(n * h * w > 1, "batchnorm: training needs more than 1 value per channel, input is {:?}", x.shape());
        let (stats, y) = (Tensor::empty(gpu, &[2, c]), Tensor::empty(gpu, x.shape()));
        let p = params(x, true, relu, eps, momentum);
        let [xa, sa, ga, ba, rm, rv, ya] = [x, &stats, gamma, beta, running_mean, running_var, &y].map(Arg::of);
        let args = [xa, U, U, sa, ga, ba, rm, rv, U, U, ya];
        let cost = Cost::elementwise(x.numel(), 8.0, 3.0);
        gpu.dispatch(&BATCHNORM_VEC4, "train4", &p, &args, [c as u32, 1, 1], cost)?;
        return Ok((y, stats));
    }
    if !training && vec4_path(gpu, x) {
        // Eval on a CPU adapter: statistics and normalisation in one dispatch.
        let c = check_shapes("batchnorm", x, &[("weight", gamma), ("bias", beta)])?;
        check_shapes("batchnorm", x, &[("running_mean", running_mean), ("running_var", running_var)])?;
        let (stats, y) = (Tensor::empty(gpu, &[2, c]), Tensor::empty(gpu, x.shape()));
        let (per, groups) = vec4_grid(gpu, x);
        let p = Params { per, ..params(x, false, relu, eps, momentum) };
        let [xa, sa, ga, ba, rm, rv, ya] = [x, &stats, gamma, beta, running_mean, running_var, &y].map(Arg::of);
        let args = [xa, U, U, sa, ga, ba, rm, rv, U, U, ya];
        gpu.dispatch(&BATCHNORM_VEC4, "eval4", &p, &args, groups, Cost::elementwise(x.numel(), 4.0, 2.0))?;
        return Ok((y, stats));
    }
    let stats = batchnorm_stats(gpu, x, running_mean, running_var, training, eps, momentum)?;
    let y = batchnorm_apply(gpu, x, &stats, gamma, beta, relu)?;
    Ok((y, stats))
}

/// Training-mode forward (batch statistics, running stats updated in place).
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_train(
    gpu: &Gpu,
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    eps: f32,
    momentum: f32,
) -> Result<Tensor> {
    Ok(batchnorm_forward(gpu, x, gamma, beta, running_mean, running_var, true, eps, momentum, false)?.0)
}

/// Eval-mode forward (running statistics, left unchanged).
pub fn batchnorm_eval(
    gpu: &Gpu,
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    eps: f32,
) -> Result<Tensor> {
    Ok(batchnorm_forward(gpu, x, gamma, beta, running_mean, running_var, false, eps, 0.0, false)?.0)
}

/// Backward: (gx, dgamma, dbeta) given the forward's x, output y (for the fused ReLU's mask), stats
/// and the upstream gradient gy. In eval mode the statistics are constants.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_backward(
    gpu: &Gpu,
    x: &Tensor,
    y: &Tensor,
    gy: &Tensor,
    stats: &Tensor,
    gamma: &Tensor,
    training: bool,
    relu: bool,
) -> Result<(Tensor, Tensor, Tensor)> {
    let c = check_shapes("batchnorm backward", x, &[("weight", gamma)])?;
    ensure!(
        gy.shape() == x.shape() && y.shape() == x.shape(),
        "batchnorm backward: gradient {:?} / output {:?} do not match input {:?}",
        gy.shape(),
        y.shape(),
        x.shape()
    );
    ensure!(stats.numel() == 2 * c, "batchnorm backward: stats {:?} do not match {c} channels", stats.shape());
    let mut p = params(x, training, relu, 0.0, 0.0);
    // Without ReLU the mask input is unused: bind x in its read-only slot.
    let mask = if relu { y } else { x };
    let dgamma = Tensor::empty(gpu, gamma.shape());
    let dbeta = Tensor::empty(gpu, gamma.shape());
    let [n, _, h, w] = x.nchw();
    let reduce_cost = Cost::elementwise(x.numel(), 5.0, 3.0);
    if vec4_path(gpu, x) && gy.is_contiguous_buffer() && mask.is_contiguous_buffer() {
        let gx = Tensor::empty(gpu, x.shape());
        let [xa, ga, ma, sa, dg, db] = [x, gy, mask, stats, &dgamma, &dbeta].map(Arg::of);
        if training && fused(x) {
            let args = [xa, ga, ma, sa, Arg::of(gamma), U, U, U, dg, db, Arg::of(&gx)];
            let cost = Cost::elementwise(x.numel(), 13.0, 7.0);
            gpu.dispatch(&BATCHNORM_VEC4, "train_backward4", &p, &args, [c as u32, 1, 1], cost)?;
            return Ok((gx, dgamma, dbeta));
        }
        let args = [xa, ga, ma, sa, U, U, U, U, dg, db];
        gpu.dispatch(&BATCHNORM_VEC4, "reduce4", &p, &args, [c as u32, 1, 1], reduce_cost)?;
        let (per, groups) = vec4_grid(gpu, x);
        let pv = Params { per, ..p };
        let args = [xa, ga, ma, sa, Arg::of(gamma), U, U, U, dg, db, Arg::of(&gx)];
        gpu.dispatch(&BATCHNORM_VEC4, "backward4", &pv, &args, groups, Cost::elementwise(x.numel(), 8.0, 4.0))?;
        return Ok((gx, dgamma, dbeta));
    }
    let parts = batch_split(gpu, "batchnorm backward", x, &[gy, mask])?;
    if let Some(parts) = &parts {
        // Per batch chunk, partial sums of its values; then each channel's sum over all of them.
        let total: usize = parts.iter().map(|p| p.2).sum();
        let partials = Tensor::empty(gpu, &[c, total, 2]);
        let mut base = 0;
        for (r, chunk, chunks) in parts {
            let (xc, gc, mc) = (x.items(r.clone()), gy.items(r.clone()), mask.items(r.clone()));
            let pc = Params { n: r.len() as u32, chunk: *chunk as u32, base, total: total as u32, ..p };
            let cost = Cost::elementwise(xc.numel(), 5.0, 3.0);
            let groups = [c as u32, *chunks as u32, 1];
            gpu.dispatch(
                &BATCHNORM_BACKWARD_REDUCE,
                "partial",
                &pc,
                &[Arg::of(&xc), Arg::of(&gc), Arg::of(&mc), Arg::of(stats), U, U, Arg::of(&partials)],
                groups,
                cost,
            )?;
            base += *chunks as u32;
        }
        let pc = Params { chunk: 1, total: total as u32, ..p };
        let cost = Cost::new(2.0 * partials.numel() as f64, 4.0 * (partials.numel() + 2 * c) as f64);
        let a = [U, U, U, U, Arg::of(&dgamma), Arg::of(&dbeta), Arg::of(&partials)];
        gpu.dispatch(&BATCHNORM_BACKWARD_REDUCE, "combine", &pc, &a, gpu.groups_1d(c), cost)?;
    } else if let Some((chunk, chunks)) = split(gpu, n * h * w) {
        p.chunk = chunk as u32;
        let partials = Tensor::empty(gpu, &[c, chunks, 2]);
        let groups = [c as u32, chunks as u32, 1];
        gpu.dispatch(
            &BATCHNORM_BACKWARD_REDUCE,
            "partial",
            &p,
            &[Arg::of(x), Arg::of(gy), Arg::of(mask), Arg::of(stats), U, U, Arg::of(&partials)],
            groups,
            reduce_cost,
        )?;
        let cost = Cost::new(2.0 * partials.numel() as f64, 4.0 * (partials.numel() + 2 * c) as f64);
        let a = [U, U, U, U, Arg::of(&dgamma), Arg::of(&dbeta), Arg::of(&partials)];
        gpu.dispatch(&BATCHNORM_BACKWARD_REDUCE, "combine", &p, &a, gpu.groups_1d(c), cost)?;
    } else {
        let a = [x, gy, mask, stats, &dgamma, &dbeta].map(Arg::of);
        gpu.dispatch(&BATCHNORM_BACKWARD_REDUCE, "main", &p, &a, [c as u32, 1, 1], reduce_cost)?;
    }
    let gx = Tensor::empty(gpu, x.shape());
    // The input gradient per batch chunk (each value alone), with the whole batch's count.
    let ranges: Vec<Range<usize>> = match &parts {
        Some(parts) => parts.iter().map(|p| p.0.clone()).collect(),
        None => std::iter::once(0..n).collect(),
    };
    for r in ranges {
        let (xc, gc, mc, gxc) = (x.items(r.clone()), gy.items(r.clone()), mask.items(r.clone()), gx.items(r.clone()));
        let pc = Params { n: r.len() as u32, stat_n: if parts.is_some() { n as u32 } else { 0 }, ..p };
        gpu.dispatch(
            &BATCHNORM_BACKWARD,
            "main",
            &pc,
            &[
                Arg::of(&xc),
                Arg::of(&gc),
                Arg::of(&mc),
                Arg::of(stats),
                Arg::of(gamma),
                Arg::of(&dgamma),
                Arg::of(&dbeta),
                Arg::of(&gxc),
            ],
            gpu.groups_1d(xc.numel()),
            Cost::elementwise(xc.numel(), 8.0, 4.0),
        )?;
    }
    Ok((gx, dgamma, dbeta))
}

// ---- tape ops -------------------------------------------------------------------------------

/// BatchNorm+ReLU outputs up to this size are kept for the backward (the ReLU mask, the next
/// conv's weight gradient); larger ones are recomputed (memory: the paper preset's activations).
pub const KEEP_OUTPUT_BYTES: u64 = 4 << 20;

#[allow(clippy::too_many_arguments)]
fn record(
    t: &mut Tape,
    name: &'static str,
    x: Var,
    gamma: Var,
    beta: Var,
    running_mean: &Tensor,
    running_var: &Tensor,
    training: bool,
    eps: f32,
    momentum: f32,
    relu: bool,
) -> Result<Var> {
    let (xv, gv, bv) = (t.value(&x).clone(), t.value(&gamma).clone(), t.value(&beta).clone());
    let (y, stats) = batchnorm_forward(t.gpu, &xv, &gv, &bv, running_mean, running_var, training, eps, momentum, relu)?;
    if relu && y.byte_len() <= KEEP_OUTPUT_BYTES {
        // small outputs are kept: a recompute costs a dispatch (~0.05 ms on a CPU adapter) and
        // saves memory that does not matter at these sizes
        let yv = y.clone();
        return Ok(t.record(name, [&x, &gamma, &beta], y, move |gpu, g| {
            let (gx, dgamma, dbeta) = batchnorm_backward(gpu, &xv, &yv, g, &stats, &gv, training, relu)?;
            Ok([Some(gx), Some(dgamma), Some(dbeta)])
        }));
    }
    // The output is not kept for the backward: it is recomputed from the input and statistics
    // this backward keeps anyway (one elementwise pass, the same kernel: bit-identical), here for
    // the ReLU mask and in the next conv's weight gradient. Parameters change only after the
    // backward (the optimizer step), so the recomputed output is the forward's.
    // A consumer's backward (the next conv's weight gradient) runs before this op's: the output
    // it recomputes is kept until this backward takes it for the ReLU mask, one recompute
    // instead of two (the value lives from one backward to the next, usually adjacent).
    let memo: Rc<RefCell<Option<Tensor>>> = Rc::new(RefCell::new(None));
    let recompute: Recompute = {
        let (xv, stats, gv, memo) = (xv.clone(), stats.clone(), gv.clone(), memo.clone());
        Rc::new(move |gpu: &Gpu| {
            if let Some(y) = memo.borrow().as_ref() {
                return Ok(y.clone());
            }
            let y = batchnorm_apply(gpu, &xv, &stats, &gv, &bv, relu)?;
            if relu {
                *memo.borrow_mut() = Some(y.clone());
            }
            Ok(y)
        })
    };
    let again = recompute.clone();
    let out = t.record(name, [&x, &gamma, &beta], y, move |gpu, g| {
        // without ReLU the mask is x itself: nothing to recompute
        let yv = if relu {
            let kept = memo.borrow_mut().take();
            let y = match kept {
                Some(y) => y,
                None => again(gpu)?,
            };
            memo.borrow_mut().take(); // `again` keeps what it computes: not needed after this
            y
        } else {
            xv.clone()
        };
        let (gx, dgamma, dbeta) = batchnorm_backward(gpu, &xv, &yv, g, &stats, &gv, training, relu)?;
        Ok([Some(gx), Some(dgamma), Some(dbeta)])
    });
    t.set_recompute(&out, recompute);
    Ok(out)
}

/// BatchNorm2d on the tape; inputs x [N, C, H, W], gamma [C], beta [C]. The running statistics are
/// not tape values: training updates them in place.
#[allow(clippy::too_many_arguments)]
pub fn t_batchnorm(
    t: &mut Tape,
    x: Var,
    gamma: Var,
    beta: Var,
    running_mean: &Tensor,
    running_var: &Tensor,
    training: bool,
    eps: f32,
    momentum: f32,
) -> Result<Var> {
    record(t, "batchnorm", x, gamma, beta, running_mean, running_var, training, eps, momentum, false)
}

/// BatchNorm2d followed by ReLU in one pass (ReLU'(0) = 0 on the BatchNorm output).
#[allow(clippy::too_many_arguments)]
pub fn t_batchnorm_relu(
    t: &mut Tape,
    x: Var,
    gamma: Var,
    beta: Var,
    running_mean: &Tensor,
    running_var: &Tensor,
    training: bool,
    eps: f32,
    momentum: f32,
) -> Result<Var> {
    record(t, "batchnorm_relu", x, gamma, beta, running_mean, running_var, training, eps, momentum, true)
}

/// Uniform of batchnorm_fold.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct FoldParams {
    cout: u32,
    per: u32,
    eps: f32,
    _pad: u32,
}
crate::uniform!(FoldParams { cout, per, eps, _pad });

/// Eval-mode BatchNorm folded into the preceding bias-free conv's weight `w` [Co, Ci, k, k]
/// (inference only): returns (w * s, beta - running_mean * s), s = gamma / sqrt(running_var + eps),
/// so that conv(x, w * s) + that bias equals the BatchNorm of conv(x, w) up to rounding.
pub fn fold_into_conv(
    gpu: &Gpu,
    w: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    eps: f32,
) -> Result<(Tensor, Tensor)> {
    let co = w.shape().first().copied().unwrap_or(0);
    ensure!(co > 0 && w.numel() > 0, "batchnorm fold: empty conv weight {:?}", w.shape());
    for (what, t) in [("gamma", gamma), ("beta", beta), ("running_mean", running_mean), ("running_var", running_var)] {
        ensure!(
            t.shape() == [co],
            "batchnorm fold: {what} must be [{co}] for weight {:?}, got {:?}",
            w.shape(),
            t.shape()
        );
    }
    let per = w.numel() / co;
    let (w_out, b_out) = (Tensor::empty(gpu, w.shape()), Tensor::empty(gpu, &[co]));
    let params = FoldParams { cout: co as u32, per: per as u32, eps, _pad: 0 };
    let args = [gamma, beta, running_mean, running_var].map(Arg::of);
    gpu.dispatch(
        &BATCHNORM_FOLD,
        "fold",
        &params,
        &[Arg::of(w), args[0], args[1], args[2], args[3], Arg::of(&w_out), Arg::of(&b_out)],
        gpu.groups_1d(w.numel()),
        Cost::elementwise(w.numel(), 1.0, 2.0),
    )?;
    Ok((w_out, b_out))
}
