//! Softmax and softmax cross-entropy (binary head): logits [N, K], K >= 2, labels [N] as f32 class
//! indices; the loss is the mean over the batch.

use anyhow::{ensure, Result};
use bytemuck::{Pod, Zeroable};

use crate::gpu::profiler::Cost;
use crate::gpu::shaders::{OpKernels, Shader};
use crate::gpu::{Arg, Gpu};
use crate::graph::{Tape, Var};
use crate::tensor::Tensor;

/// This op's kernels and benchmark families (`ops::ALL` lists every op's).
pub const KERNELS: OpKernels = OpKernels { shaders: &[CROSS_ENTROPY], bench: &[] };
const CROSS_ENTROPY: Shader = crate::shader!("cross_entropy", ["softmax", "ce_loss", "ce_backward"]);

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    k: u32,
    _pad: [u32; 2],
}
crate::uniform!(Params { n, k, _pad });

fn params(what: &str, logits: &Tensor) -> Result<Params> {
    ensure!(logits.shape().len() == 2, "{what}: logits must be [N, K], got {:?}", logits.shape());
    ensure!(
        logits.dim(0) > 0 && logits.dim(1) >= 2,
        "{what}: need N >= 1 rows and K >= 2 classes, got {:?}",
        logits.shape()
    );
    Ok(Params { n: logits.dim(0) as u32, k: logits.dim(1) as u32, _pad: [0; 2] })
}

fn check_labels(what: &str, logits: &Tensor, labels: &Tensor) -> Result<()> {
    ensure!(labels.numel() == logits.dim(0), "{what}: {} labels for {} rows", labels.numel(), logits.dim(0));
    Ok(())
}

/// Row-wise softmax of logits [N, K].
pub fn softmax(gpu: &Gpu, logits: &Tensor) -> Result<Tensor> {
    let p = params("softmax", logits)?;
    let out = Tensor::empty(gpu, logits.shape());
    gpu.dispatch(
        &CROSS_ENTROPY,
        "softmax",
        &p,
        &[Arg::of(logits), Arg::Unused, Arg::Unused, Arg::of(&out)],
        gpu.groups_1d(logits.dim(0)),
        Cost::elementwise(logits.numel(), 5.0, 2.0),
    )?;
    Ok(out)
}

/// mean_r -log softmax(logits_r)[label_r] -> [1].
pub fn softmax_cross_entropy(gpu: &Gpu, logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let p = params("cross_entropy", logits)?;
    check_labels("cross_entropy", logits, labels)?;
    let out = Tensor::empty(gpu, &[1]);
    gpu.dispatch(
        &CROSS_ENTROPY,
        "ce_loss",
        &p,
        &[Arg::of(logits), Arg::of(labels), Arg::Unused, Arg::of(&out)],
        [1, 1, 1],
        Cost::elementwise(logits.numel(), 5.0, 1.0),
    )?;
    Ok(out)
}

/// d loss / d logits = g (softmax - onehot) / N, g the upstream gradient [1].
pub fn softmax_cross_entropy_backward(gpu: &Gpu, logits: &Tensor, labels: &Tensor, g: &Tensor) -> Result<Tensor> {
    let p = params("cross_entropy backward", logits)?;
    check_labels("cross_entropy backward", logits, labels)?;
    let out = Tensor::empty(gpu, logits.shape());
    gpu.dispatch(
        &CROSS_ENTROPY,
        "ce_backward",
        &p,
        &[Arg::of(logits), Arg::of(labels), Arg::of(g), Arg::of(&out)],
        gpu.groups_1d(logits.numel()),
        Cost::elementwise(logits.numel(), 5.0 * logits.dim(1) as f64, 2.0),
    )?;
    Ok(out)
}

pub fn t_softmax_cross_entropy(t: &mut Tape, logits: Var, labels: &Tensor) -> Result<Var> {
    let lv = t.value(&logits).clone();
    let loss = softmax_cross_entropy(t.gpu, &lv, labels)?;
    let labels = labels.clone();
    Ok(t.record("softmax_cross_entropy", [&logits], loss, move |gpu, g| {
        Ok([Some(softmax_cross_entropy_backward(gpu, &lv, &labels, g)?)])
    }))
}
