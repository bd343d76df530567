//! Depthwise 3x3 Sobel filters (OFF block): per channel, zero padding 1, cross-correlation.

use anyhow::{ensure, Result};
use bytemuck::{Pod, Zeroable};

use crate::gpu::profiler::Cost;
use crate::gpu::shaders::{OpKernels, Shader};
use crate::gpu::{Arg, Gpu};
use crate::graph::{Tape, Var};
use crate::tensor::Tensor;

/// This op's kernels and benchmark families (`ops::ALL` lists every op's).
pub const KERNELS: OpKernels = OpKernels { shaders: &[SOBEL, SOBEL_XY], bench: &["sobel_forward", "sobel_backward"] };
const SOBEL: Shader = crate::shader!("sobel", ["sobel"]);
const SOBEL_XY: Shader = crate::shader!("sobel_xy", ["forward", "backward"]);

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
            &[Arg::of(&xc), Arg::of(&yc)],
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
    let y = sobel(t.gpu, t.value(&x), dir)?;
    Ok(t.record("sobel", [&x], y, move |gpu, g| Ok([Some(sobel_backward(gpu, g, dir)?)])))
}

// ---- both filters in one dispatch (sobel_xy.wgsl) -----------------------------------------------

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct XyParams {
    n: u32,
    h: u32,
    w4: u32,
    c: u32,
}
crate::uniform!(XyParams { n, h, w4, c });

/// One sobel_xy.wgsl entry over batch chunks: `x` [N, C, H, W] side and `y` [N, 2C, H, W] side.
fn run_xy(gpu: &Gpu, entry: &str, src: &Tensor, dst: &Tensor, [batch, c, h, w]: [usize; 4]) -> Result<()> {
    for r in gpu.split_items("sobel_xy", batch, &[src, dst])? {
        let (sc, dc) = (src.items(r.clone()), dst.items(r.clone()));
        let n = r.len() * c * h * w / 4;
        let params = XyParams { n: n as u32, h: h as u32, w4: (w / 4) as u32, c: c as u32 };
        // per pixel: 6 taps (multiply-add) of each filter; x read once, both outputs written once
        let cost = Cost::elementwise(4 * n, 26.0, 3.0);
        gpu.dispatch(&SOBEL_XY, entry, &params, &[Arg::of(&sc), Arg::of(&dc)], gpu.groups_1d(n), cost)?;
    }
    Ok(())
}

/// sobel_xy.wgsl takes whole rows of vec4s and one output item (2C maps) in one binding.
fn xy_kernel_fits(gpu: &Gpu, c: usize, h: usize, w: usize) -> bool {
    w.is_multiple_of(4) && (8 * c * h * w) as u64 <= gpu.max_binding()
}

/// Both filters: [N, C, H, W] -> [N, 2C, H, W], per item sobel_x of the C channels, then
/// sobel_y (the OFF block's Sobel maps, concatenated as its concat reads them). One dispatch
/// (4 pixels a thread) when W is a multiple of 4 (and an item fits a binding), else the two
/// filters and a concat.
pub fn sobel_xy(gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
    ensure!(x.shape().len() == 4, "sobel_xy: expected an NCHW tensor, got {:?}", x.shape());
    let [batch, c, h, w] = x.nchw();
    if !xy_kernel_fits(gpu, c, h, w) {
        let (sx, sy) = (sobel(gpu, x, SobelDir::X)?, sobel(gpu, x, SobelDir::Y)?);
        return crate::ops::concat::concat_channels(gpu, &[&sx, &sy]);
    }
    let y = Tensor::empty(gpu, &[batch, 2 * c, h, w]);
    run_xy(gpu, "forward", x, &y, [batch, c, h, w])?;
    Ok(y)
}

/// Gradient of `sobel_xy` w.r.t. x ([N, C, H, W]) given gy [N, 2C, H, W].
pub fn sobel_xy_backward(gpu: &Gpu, gy: &Tensor) -> Result<Tensor> {
    ensure!(gy.shape().len() == 4, "sobel_xy_backward: expected an NCHW tensor, got {:?}", gy.shape());
    let [batch, c2, h, w] = gy.nchw();
    let c = c2 / 2;
    if !xy_kernel_fits(gpu, c, h, w) {
        let gx = sobel_backward(gpu, &crate::ops::concat::slice_channels(gpu, gy, 0, c)?, SobelDir::X)?;
        let gyy = sobel_backward(gpu, &crate::ops::concat::slice_channels(gpu, gy, c, c)?, SobelDir::Y)?;
        return crate::ops::elementwise::add(gpu, &gx, &gyy);
    }
    let gx = Tensor::empty(gpu, &[batch, c, h, w]);
    run_xy(gpu, "backward", gy, &gx, [batch, c, h, w])?;
    Ok(gx)
}

pub fn t_sobel_xy(t: &mut Tape, x: Var) -> Result<Var> {
    let y = sobel_xy(t.gpu, t.value(&x))?;
    Ok(t.record("sobel_xy", [&x], y, move |gpu, g| Ok([Some(sobel_xy_backward(gpu, g)?)])))
}
