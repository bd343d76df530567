//! Depth losses of MODEL.md, each reduced to a scalar [1] by one fused kernel:
//! L_abs = mean((D^ - D)^2), L_con = sum_i mean((K_i*D^ - K_i*D)^2) (8 contrastive kernels, zero
//! padding 1). With a mask each mean becomes sum(mask * v) / sum(mask) over the whole batch (the
//! convolutions see the unmasked maps); an all-zero mask gives 0 (tests/fixtures/README.md).

use anyhow::{ensure, Result};
use bytemuck::{Pod, Zeroable};

use crate::gpu::profiler::Cost;
use crate::gpu::shaders::{OpKernels, Shader};
use crate::gpu::{Arg, Gpu};
use crate::graph::{Tape, Var};
use crate::tensor::Tensor;

/// This op's kernels and benchmark families (`ops::ALL` lists every op's).
pub const KERNELS: OpKernels =
    OpKernels { shaders: &[DEPTH_LOSS, DEPTH_LOSS_BACKWARD], bench: &["depth_loss", "depth_loss_backward"] };
const DEPTH_LOSS: Shader = crate::shader!("depth_loss", ["abs_loss", "con_loss"]);
const DEPTH_LOSS_BACKWARD: Shader = crate::shader!("depth_loss_backward", ["abs_backward", "con_backward"]);

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    h: u32,
    w: u32,
    use_mask: u32,
}
crate::uniform!(Params { n, h, w, use_mask });

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DepthLoss {
    Abs,
    Con,
}

impl DepthLoss {
    fn entries(self) -> (&'static str, &'static str, f64) {
        match self {
            DepthLoss::Abs => ("abs_loss", "abs_backward", 3.0),
            DepthLoss::Con => ("con_loss", "con_backward", 30.0),
        }
    }
}

fn check(what: &str, pred: &Tensor, target: &Tensor, mask: Option<&Tensor>) -> Result<Params> {
    ensure!(pred.shape().len() == 4, "{what}: pred must be NCHW, got {:?}", pred.shape());
    ensure!(target.shape() == pred.shape(), "{what}: target {:?} != pred {:?}", target.shape(), pred.shape());
    if let Some(m) = mask {
        ensure!(m.shape() == pred.shape(), "{what}: mask {:?} != pred {:?}", m.shape(), pred.shape());
    }
    let [_, _, h, w] = pred.nchw();
    Ok(Params { n: pred.numel() as u32, h: h as u32, w: w as u32, use_mask: mask.is_some() as u32 })
}

/// The loss [1] and the mask sum [1] (the backward's denominator).
pub fn depth_loss(
    gpu: &Gpu,
    kind: DepthLoss,
    pred: &Tensor,
    target: &Tensor,
    mask: Option<&Tensor>,
) -> Result<(Tensor, Tensor)> {
    let (entry, _, flops) = kind.entries();
    let params = check(entry, pred, target, mask)?;
    let (loss, den) = (Tensor::empty(gpu, &[1]), Tensor::empty(gpu, &[1]));
    let n = pred.numel();
    gpu.dispatch(
        &DEPTH_LOSS,
        entry,
        &params,
        &[Arg::of(pred), Arg::of(target), Arg::of(mask.unwrap_or(pred)), Arg::of(&loss), Arg::of(&den)],
        [1, 1, 1],
        Cost::elementwise(n, flops, 3.0),
    )?;
    Ok((loss, den))
}

/// d loss / d pred given the upstream gradient g [1] and the forward's den [1].
pub fn depth_loss_backward(
    gpu: &Gpu,
    kind: DepthLoss,
    pred: &Tensor,
    target: &Tensor,
    mask: Option<&Tensor>,
    g: &Tensor,
    den: &Tensor,
) -> Result<Tensor> {
    let (_, entry, flops) = kind.entries();
    let params = check(entry, pred, target, mask)?;
    let n = pred.numel();
    let gpred = Tensor::empty(gpu, pred.shape());
    gpu.dispatch(
        &DEPTH_LOSS_BACKWARD,
        entry,
        &params,
        &[Arg::of(pred), Arg::of(target), Arg::of(mask.unwrap_or(pred)), Arg::of(g), Arg::of(den), Arg::of(&gpred)],
        gpu.groups_1d(n),
        Cost::elementwise(n, flops, 4.0),
    )?;
    Ok(gpred)
}

fn t_depth_loss(t: &mut Tape, kind: DepthLoss, pred: Var, target: &Tensor, mask: Option<&Tensor>) -> Result<Var> {
    let p = t.value(&pred).clone();
    let (loss, den) = depth_loss(t.gpu, kind, &p, target, mask)?;
    let (target, mask) = (target.clone(), mask.cloned());
    let name = if kind == DepthLoss::Abs { "abs_loss" } else { "contrastive_loss" };
    Ok(t.record(name, [&pred], loss, move |gpu, g| {
        Ok([Some(depth_loss_backward(gpu, kind, &p, &target, mask.as_ref(), g, &den)?)])
    }))
}

/// L_abs = mean((pred - target)^2) -> [1] (masked mean when a mask is given).
pub fn t_abs_loss(t: &mut Tape, pred: Var, target: &Tensor, mask: Option<&Tensor>) -> Result<Var> {
    t_depth_loss(t, DepthLoss::Abs, pred, target, mask)
}

/// L_con = sum_i mean((K_i*pred - K_i*target)^2) -> [1] (masked means when a mask is given).
pub fn t_contrastive_loss(t: &mut Tape, pred: Var, target: &Tensor, mask: Option<&Tensor>) -> Result<Var> {
    t_depth_loss(t, DepthLoss::Con, pred, target, mask)
}
