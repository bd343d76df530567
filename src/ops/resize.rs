//! Bilinear resize of NCHW maps, align_corners=False, half-pixel centres, no antialias (PyTorch
//! `F.interpolate(mode="bilinear")`), down or up. The backward is a gather: each input pixel sums
//! its contributions, so no atomics are needed.

use anyhow::{ensure, Result};
use bytemuck::{Pod, Zeroable};

use crate::gpu::profiler::Cost;
use crate::gpu::shaders::{OpKernels, Shader};
use crate::gpu::{Arg, Gpu};
use crate::graph::{Tape, Var};
use crate::tensor::Tensor;

/// This op's kernels and benchmark families (`ops::ALL` lists every op's).
pub const KERNELS: OpKernels =
    OpKernels { shaders: &[RESIZE_FORWARD, RESIZE_BACKWARD], bench: &["resize_forward", "resize_backward"] };
const RESIZE_FORWARD: Shader = crate::shader!("resize_forward", ["main"]);
const RESIZE_BACKWARD: Shader = crate::shader!("resize_backward", ["main", "down_even"]);

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    planes: u32,
    ih: u32,
    iw: u32,
    oh: u32,
    ow: u32,
    _pad: [u32; 3],
}
crate::uniform!(Params { planes, ih, iw, oh, ow, _pad });

fn params(x_shape: &[usize], oh: usize, ow: usize) -> Result<Params> {
    ensure!(
        x_shape.len() == 4 && x_shape[2] > 0 && x_shape[3] > 0 && oh > 0 && ow > 0,
        "resize_bilinear: input must be non-empty NCHW and the output size positive, got {x_shape:?} -> {oh}x{ow}"
    );
    Ok(Params {
        planes: (x_shape[0] * x_shape[1]) as u32,
        ih: x_shape[2] as u32,
        iw: x_shape[3] as u32,
        oh: oh as u32,
        ow: ow as u32,
        _pad: [0; 3],
    })
}

pub fn resize_bilinear(gpu: &Gpu, x: &Tensor, oh: usize, ow: usize) -> Result<Tensor> {
    let p = params(x.shape(), oh, ow)?;
    let (n, c) = (x.dim(0), x.dim(1));
    let y = Tensor::empty(gpu, &[n, c, oh, ow]);
    // Larger than one binding: batch chunks (each output alone: bit-identical).
    for r in gpu.split_items("resize_bilinear", n, &[x, &y])? {
        let (xc, yc) = (x.items(r.clone()), y.items(r.clone()));
        gpu.dispatch(
            &RESIZE_FORWARD,
            "main",
            &Params { planes: (r.len() * c) as u32, ..p },
            &[Arg::of(&xc), Arg::of(&yc)],
            gpu.groups_1d(yc.numel()),
            // 4 taps per output; traffic is x read once plus y written once
            Cost::new(12.0 * yc.numel() as f64, 4.0 * (xc.numel() + yc.numel()) as f64),
        )?;
    }
    Ok(y)
}

/// gx [x_shape] of y = resize_bilinear(x, oh, ow), given gy [N, C, oh, ow].
pub fn resize_bilinear_backward(gpu: &Gpu, x_shape: &[usize], gy: &Tensor) -> Result<Tensor> {
    ensure!(gy.shape().len() == 4, "resize_bilinear backward: gradient must be NCHW, got {:?}", gy.shape());
    let (oh, ow) = (gy.dim(2), gy.dim(3));
    let p = params(x_shape, oh, ow)?;
    ensure!(
        gy.shape()[..2] == x_shape[..2],
        "resize_bilinear backward: gradient {:?} does not match input {x_shape:?}",
        gy.shape()
    );
    let gx = Tensor::empty(gpu, x_shape);
    // Each input pixel visits about (2 * out / in + 3) output rows and columns.
    let taps = (2.0 * oh as f64 / x_shape[2] as f64 + 3.0) * (2.0 * ow as f64 / x_shape[3] as f64 + 3.0);
    let c = x_shape[1];
    for r in gpu.split_items("resize_bilinear backward", x_shape[0], &[gy, &gx])? {
        let (gyc, gxc) = (gy.items(r.clone()), gx.items(r.clone()));
        // even integer downsampling factors: at most one output per input pixel and axis
        let even = |i: usize, o: usize| i.is_multiple_of(o) && (i / o).is_multiple_of(2);
        let entry = if even(x_shape[2], oh) && even(x_shape[3], ow) { "down_even" } else { "main" };
        gpu.dispatch(
            &RESIZE_BACKWARD,
            entry,
            &Params { planes: (r.len() * c) as u32, ..p },
            &[Arg::of(&gyc), Arg::of(&gxc)],
            gpu.groups_1d(gxc.numel()),
            // traffic: gy read once (the overlapping taps hit the cache) plus gx written once;
            // down_even evaluates no weights (2 multiplies a pixel)
            Cost::new(
                if entry == "main" { 10.0 * taps } else { 2.0 } * gxc.numel() as f64,
                4.0 * (gyc.numel() + gxc.numel()) as f64,
            ),
        )?;
    }
    Ok(gx)
}

pub fn t_resize(t: &mut Tape, x: Var, oh: usize, ow: usize) -> Result<Var> {
    let x_shape = t.value(&x).shape().to_vec();
    let y = resize_bilinear(t.gpu, t.value(&x), oh, ow)?;
    Ok(t.record("resize", [&x], y, move |gpu, g| Ok([Some(resize_bilinear_backward(gpu, &x_shape, g)?)])))
}
