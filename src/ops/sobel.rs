//! Depthwise 3x3 Sobel filters (OFF block): per channel, zero padding 1, cross-correlation.

use anyhow::{ensure, Result};
use bytemuck::{Pod, Zeroable};

use crate::gpu::profiler::Cost;
use crate::gpu::shaders::{OpKernels, Shader};
use crate::gpu::{Arg, Gpu};
use crate::graph::{Tape, Var};
use crate::tensor::Tensor;

/// This op's kernels and benchmark families (`ops::ALL` lists every op's).
pub const KERNELS: OpKernels = OpKernels { shaders: &[SOBEL], bench: &["sobel_forward", "sobel_backward"] };
const SOBEL: Shader = crate::shader!("sobel", ["sobel"]);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SobelDir {
    X,
    Y,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    h: u32,
    w: u32,
    dir: u32,
    s: f32,
    _pad: [u32; 3],
}
crate::uniform!(Params { n, h, w, dir, s, _pad });

/// s * sobel(x); s = -1 gives the backward (the flipped filters are the negated filters).
fn run(gpu: &Gpu, x: &Tensor, dir: SobelDir, s: f32) -> Result<Tensor> {
    ensure!(x.shape().len() == 4, "sobel: expected an NCHW tensor, got {:?}", x.shape());
    let [batch, _, h, w] = x.nchw();
    let y = Tensor::empty(gpu, x.shape());
    let dir = match dir {
        SobelDir::X => 0,
        SobelDir::Y => 1,
    };
    // Larger than one binding: batch chunks (each output alone: bit-identical).
    for r in gpu.split_items("sobel", batch, &[x, &y])? {
        let (xc, yc) = (x.items(r.clone()), y.items(r));
        let n = xc.numel();
        let params = Params { n: n as u32, h: h as u32, w: w as u32, dir, s, _pad: [0; 3] };
        gpu.dispatch(
            &SOBEL,
            "sobel",
            &params,
            &[Arg::T(&xc), Arg::T(&yc)],
            gpu.groups_1d(n),
            // 6 non-zero taps (multiply-add) and the scale; x read once and y written once (the
            // neighbour loads hit the cache), the convention of every op's Cost
            Cost::elementwise(n, 13.0, 2.0),
        )?;
    }
    Ok(y)
}

pub fn sobel(gpu: &Gpu, x: &Tensor, dir: SobelDir) -> Result<Tensor> {
    run(gpu, x, dir, 1.0)
}

/// Gradient w.r.t. x given the upstream gradient gy.
pub fn sobel_backward(gpu: &Gpu, gy: &Tensor, dir: SobelDir) -> Result<Tensor> {
    run(gpu, gy, dir, -1.0)
}

pub fn t_sobel(t: &mut Tape, x: Var, dir: SobelDir) -> Result<Var> {
    let y = sobel(t.gpu, t.value(x), dir)?;
    Ok(t.record("sobel", [x], y, move |gpu, g| Ok([Some(sobel_backward(gpu, g, dir)?)])))
}
