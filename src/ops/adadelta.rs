//! Adadelta, one dispatch updating every trainable parameter of a packed arena.

use anyhow::{ensure, Result};
use bytemuck::{Pod, Zeroable};

use crate::gpu::profiler::Cost;
use crate::gpu::shaders::{OpKernels, Shader};
use crate::gpu::{Arg, Gpu};
use crate::tensor::Tensor;

/// This op's kernels and benchmark families (`ops::ALL` lists every op's).
pub const KERNELS: OpKernels = OpKernels { shaders: &[ADADELTA], bench: &["adadelta"] };
const ADADELTA: Shader = crate::shader!("adadelta", ["adadelta"]);

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    lr: f32,
    rho: f32,
    eps: f32,
    weight_decay: f32,
    _pad: [u32; 3],
}
crate::uniform!(Params { n, lr, rho, eps, weight_decay, _pad });

/// In place: p, v (square_avg), u (acc_delta) updated from g, with `weight_decay` times p added
/// to the gradient first (PyTorch's coupled L2 term; 0 = none). All four have the same length.
#[allow(clippy::too_many_arguments)]
pub fn adadelta_step(
    gpu: &Gpu,
    p: &Tensor,
    g: &Tensor,
    v: &Tensor,
    u: &Tensor,
    lr: f32,
    rho: f32,
    eps: f32,
    weight_decay: f32,
) -> Result<()> {
    let n = p.numel();
    ensure!(g.numel() == n && v.numel() == n && u.numel() == n, "adadelta: parameter, gradient and state sizes differ");
    gpu.dispatch_flat(
        &ADADELTA,
        "adadelta",
        n,
        |n| Params { n: n as u32, lr, rho, eps, weight_decay, _pad: [0; 3] },
        &[p, g, v, u].map(Arg::of),
        Cost::elementwise(n, 14.0, 7.0),
    )
}
