//! The OFF block's temporal difference of the frame pairs of clips: y[pair t] = frame t + 1 -
//! frame t, straight from the frames in one dispatch (shaders/pair_diff.wgsl).

use anyhow::{ensure, Result};
use bytemuck::{Pod, Zeroable};

use crate::gpu::profiler::Cost;
use crate::gpu::shaders::{OpKernels, Shader};
use crate::gpu::{Arg, Gpu};
use crate::graph::{Tape, Var};
use crate::ops::concat::bindable;
use crate::ops::elementwise;
use crate::ops::gather::{gather_batch, scatter_batch};
use crate::tensor::Tensor;

/// This op's kernels and benchmark families (`ops::ALL` lists every op's).
pub const KERNELS: OpKernels = OpKernels { shaders: &[PAIR_DIFF], bench: &[] };
const PAIR_DIFF: Shader = crate::shader!("pair_diff", ["forward", "backward"]);

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    block: u32,
    nf: u32,
    _p0: u32,
}
crate::uniform!(Params { n, block, nf, _p0 });

/// The vec4 kernel takes frames of whole vec4s, each tensor in one binding.
fn kernel_fits(gpu: &Gpu, a: &Tensor, b: &Tensor, block: usize) -> bool {
    block.is_multiple_of(4) && bindable(gpu, a) && bindable(gpu, b)
}

/// x [clips * nf, ...] (clip-major frames) -> y [clips * (nf - 1), ...], y[pair t of a clip] =
/// frame t + 1 - frame t. One dispatch where frames are whole vec4s, else two gathers and a
/// subtraction.
pub fn pair_diff(gpu: &Gpu, x: &Tensor, clips: usize, nf: usize) -> Result<Tensor> {
    let s = x.shape();
    ensure!(
        nf >= 2 && !s.is_empty() && s[0] == clips * nf,
        "pair_diff: input {s:?} is not {clips} clips of {nf} >= 2 frames"
    );
    let block: usize = s[1..].iter().product();
    let mut shape = s.to_vec();
    shape[0] = clips * (nf - 1);
    let y = Tensor::empty(gpu, &shape);
    if !kernel_fits(gpu, x, &y, block) {
        let a = gather_batch(gpu, x, clips, nf, 1, nf - 1)?;
        let b = gather_batch(gpu, x, clips, nf, 0, nf - 1)?;
        return elementwise::sub(gpu, &a, &b);
    }
    let n = y.numel() / 4;
    let p = Params { n: n as u32, block: (block / 4) as u32, nf: nf as u32, _p0: 0 };
    let cost = Cost::elementwise(y.numel(), 1.0, 3.0);
    gpu.dispatch(&PAIR_DIFF, "forward", &p, &[Arg::of(x), Arg::of(&y)], gpu.groups_1d(n), cost)?;
    Ok(y)
}

/// Gradient of `pair_diff`: gx [x_shape], frame t gets gy[pair t - 1] - gy[pair t] (within its
/// clip).
pub fn pair_diff_backward(gpu: &Gpu, gy: &Tensor, x_shape: &[usize], nf: usize) -> Result<Tensor> {
    let clips = x_shape[0] / nf;
    let block: usize = x_shape[1..].iter().product();
    let gx = Tensor::empty(gpu, x_shape);
    if !kernel_fits(gpu, gy, &gx, block) {
        let up = scatter_batch(gpu, gy, x_shape, clips, nf, 1)?;
        let down = scatter_batch(gpu, gy, x_shape, clips, nf, 0)?;
        return elementwise::sub(gpu, &up, &down);
    }
    let n = gx.numel() / 4;
    let p = Params { n: n as u32, block: (block / 4) as u32, nf: nf as u32, _p0: 0 };
    let cost = Cost::elementwise(gx.numel(), 1.0, 3.0);
    gpu.dispatch(&PAIR_DIFF, "backward", &p, &[Arg::of(gy), Arg::of(&gx)], gpu.groups_1d(n), cost)?;
    Ok(gx)
}

/// `pair_diff` on the tape.
pub fn t_pair_diff(t: &mut Tape, x: Var, clips: usize, nf: usize) -> Result<Var> {
    let x_shape = t.value(&x).shape().to_vec();
    let y = pair_diff(t.gpu, t.value(&x), clips, nf)?;
    Ok(t.record("pair_diff", [&x], y, move |gpu, g| Ok([Some(pair_diff_backward(gpu, g, &x_shape, nf)?)])))
}
