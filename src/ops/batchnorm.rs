//! BatchNorm2d (PyTorch semantics, MODEL.md) and its fusion with ReLU, with hand-written backward.
//! Training normalises with the batch mean and biased variance and updates the running statistics
//! in place on the GPU (unbiased variance, `r = (1 - m) r + m batch`); eval uses the running stats.

use anyhow::{ensure, Result};
use bytemuck::{Pod, Zeroable};

use crate::gpu::profiler::Cost;
use crate::gpu::{Arg, Gpu};
use crate::graph::{Tape, Var};
use crate::tensor::Tensor;

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
}

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
    }
}

/// Chunks of a split per-channel reduction over `count` values: None (one workgroup per channel)
/// unless `count` exceeds the adapter's `bn_chunk`.
fn split(gpu: &Gpu, count: usize) -> Option<(usize, usize)> {
    // at most the adapter's workgroups per grid dimension
    let max_groups = gpu.limits.max_compute_workgroups_per_dimension.max(1) as usize;
    let chunk = gpu.bn_chunk.get().max(1).max(count.div_ceil(max_groups));
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
    let args = |partials| [Arg::T(x), Arg::T(&stats), Arg::T(running_mean), Arg::T(running_var), Arg::T(partials)];
    if let (true, Some((chunk, chunks))) = (training, split(gpu, n * h * w)) {
        p.chunk = chunk as u32;
        let partials = Tensor::empty(gpu, &[c, chunks, 3]);
        let groups = [c as u32, chunks as u32, 1];
        gpu.dispatch(
            "batchnorm_stats",
            "partial",
            &p,
            &args(&partials),
            groups,
            Cost::elementwise(x.numel(), 4.0, 2.0),
        )?;
        let cost = Cost::new(6.0 * partials.numel() as f64, 4.0 * (partials.numel() + 6 * c) as f64);
        gpu.dispatch("batchnorm_stats", "combine", &p, &args(&partials), gpu.groups_1d(c), cost)?;
        return Ok(stats);
    }
    // eval needs no reduction: one thread per channel instead of a workgroup per channel
    let (entry, groups) = if training { ("main", [c as u32, 1, 1]) } else { ("eval", gpu.groups_1d(c)) };
    let unused = Tensor::empty(gpu, &[1]); // the partials slot of the split entry points
    gpu.dispatch(
        "batchnorm_stats",
        entry,
        &p,
        &args(&unused),
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
    gpu.dispatch(
        "batchnorm_forward",
        "main",
        &params(x, false, relu, 0.0, 0.0),
        &[Arg::T(x), Arg::T(stats), Arg::T(gamma), Arg::T(beta), Arg::T(&y)],
        gpu.groups_1d(x.numel()),
        Cost::elementwise(x.numel(), 4.0, 2.0),
    )?;
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
    let args = |partials| {
        [Arg::T(x), Arg::T(gy), Arg::T(mask), Arg::T(stats), Arg::T(&dgamma), Arg::T(&dbeta), Arg::T(partials)]
    };
    let [n, _, h, w] = x.nchw();
    let reduce_cost = Cost::elementwise(x.numel(), 5.0, 3.0);
    if let Some((chunk, chunks)) = split(gpu, n * h * w) {
        p.chunk = chunk as u32;
        let partials = Tensor::empty(gpu, &[c, chunks, 2]);
        let groups = [c as u32, chunks as u32, 1];
        gpu.dispatch("batchnorm_backward_reduce", "partial", &p, &args(&partials), groups, reduce_cost)?;
        let cost = Cost::new(2.0 * partials.numel() as f64, 4.0 * (partials.numel() + 2 * c) as f64);
        gpu.dispatch("batchnorm_backward_reduce", "combine", &p, &args(&partials), gpu.groups_1d(c), cost)?;
    } else {
        let unused = Tensor::empty(gpu, &[1]);
        gpu.dispatch("batchnorm_backward_reduce", "main", &p, &args(&unused), [c as u32, 1, 1], reduce_cost)?;
    }
    let gx = Tensor::empty(gpu, x.shape());
    gpu.dispatch(
        "batchnorm_backward",
        "main",
        &p,
        &[
            Arg::T(x),
            Arg::T(gy),
            Arg::T(mask),
            Arg::T(stats),
            Arg::T(gamma),
            Arg::T(&dgamma),
            Arg::T(&dbeta),
            Arg::T(&gx),
        ],
        gpu.groups_1d(x.numel()),
        Cost::elementwise(x.numel(), 8.0, 4.0),
    )?;
    Ok((gx, dgamma, dbeta))
}

// ---- tape ops -------------------------------------------------------------------------------

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
    let (xv, gv) = (t.value(x).clone(), t.value(gamma).clone());
    let (y, stats) =
        batchnorm_forward(t.gpu, &xv, &gv, t.value(beta), running_mean, running_var, training, eps, momentum, relu)?;
    let yv = y.clone();
    Ok(t.record(
        name,
        &[x, gamma, beta],
        y,
        Box::new(move |gpu, g| {
            let (gx, dgamma, dbeta) = batchnorm_backward(gpu, &xv, &yv, g, &stats, &gv, training, relu)?;
            Ok(vec![Some(gx), Some(dgamma), Some(dbeta)])
        }),
    ))
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
