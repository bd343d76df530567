//! Max pooling 2x2, stride 2 (floor for odd sizes). The gradient goes to the first maximum of each
//! window in row-major order; the forward saves that window position (u32) for the backward.

use anyhow::{ensure, Result};
use bytemuck::{Pod, Zeroable};

use crate::gpu::profiler::Cost;
use crate::gpu::shaders::{OpKernels, Shader};
use crate::gpu::{Arg, Gpu};
use crate::graph::{Tape, Var};
use crate::tensor::Tensor;

/// This op's kernels and benchmark families (`ops::ALL` lists every op's).
pub const KERNELS: OpKernels = OpKernels {
    shaders: &[MAXPOOL_FORWARD, MAXPOOL_BACKWARD, MAXPOOL_VEC4, MAXPOOL_VEC4_BACKWARD],
    bench: &["maxpool_forward", "maxpool_backward"],
};
const MAXPOOL_FORWARD: Shader = crate::shader!("maxpool_forward", ["main"]);
const MAXPOOL_BACKWARD: Shader = crate::shader!("maxpool_backward", ["main"]);
const MAXPOOL_VEC4: Shader = crate::shader!("maxpool_vec4", ["forward4"]);
const MAXPOOL_VEC4_BACKWARD: Shader = crate::shader!("maxpool_vec4_backward", ["backward4"]);

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    planes: u32,
    h: u32,
    w: u32,
    oh: u32,
    ow: u32,
    _pad: [u32; 3],
}
crate::uniform!(Params { planes, h, w, oh, ow, _pad });

fn params(x_shape: &[usize]) -> Result<Params> {
    ensure!(
        x_shape.len() == 4 && x_shape[2] >= 2 && x_shape[3] >= 2,
        "maxpool2: input must be NCHW with H, W >= 2, got {x_shape:?}"
    );
    let (n, c, h, w) = (x_shape[0], x_shape[1], x_shape[2], x_shape[3]);
    Ok(Params {
        planes: (n * c) as u32,
        h: h as u32,
        w: w as u32,
        oh: (h / 2) as u32,
        ow: (w / 2) as u32,
        _pad: [0; 3],
    })
}

/// Uniform of maxpool_vec4*.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params4 {
    planes: u32,
    h: u32,
    w4: u32,
    oh: u32,
}
crate::uniform!(Params4 { planes, h, w4, oh });

/// The vec4 kernels (two windows a thread) on CPU adapters when W is a multiple of 4.
fn vec4_params(gpu: &Gpu, p: &Params, planes: usize) -> Option<Params4> {
    (gpu.is_cpu() && p.w.is_multiple_of(4)).then_some(Params4 { planes: planes as u32, h: p.h, w4: p.w / 4, oh: p.oh })
}

/// Returns (y [N, C, H/2, W/2], idx): idx holds, per output, the window position dy * 2 + dx of
/// the max as a u32 in an f32-sized tensor (only for `maxpool2_backward`).
pub fn maxpool2(gpu: &Gpu, x: &Tensor) -> Result<(Tensor, Tensor)> {
    let p = params(x.shape())?;
    let [n, c, _, _] = x.nchw();
    let out_shape = [n, c, p.oh as usize, p.ow as usize];
    let y = Tensor::empty(gpu, &out_shape);
    let idx = Tensor::empty(gpu, &out_shape);
    // Larger than one binding: batch chunks (each output alone: bit-identical).
    for r in gpu.split_items("maxpool2", n, &[x, &y, &idx])? {
        let (xc, yc, ic) = (x.items(r.clone()), y.items(r.clone()), idx.items(r.clone()));
        let pc = Params { planes: (r.len() * c) as u32, ..p };
        let args = [Arg::of(&xc), Arg::of(&yc), Arg::of(&ic)];
        let cost = Cost::elementwise(yc.numel(), 3.0, 6.0);
        if let Some(p4) = vec4_params(gpu, &pc, r.len() * c) {
            gpu.dispatch(&MAXPOOL_VEC4, "forward4", &p4, &args, gpu.groups_1d(yc.numel() / 2), cost)?;
            continue;
        }
        gpu.dispatch(
            &MAXPOOL_FORWARD,
            "main",
            &pc,
            &[Arg::of(&xc), Arg::of(&yc), Arg::of(&ic)],
            gpu.groups_1d(yc.numel()),
            Cost::elementwise(yc.numel(), 3.0, 6.0),
        )?;
    }
    Ok((y, idx))
}

/// gx [x_shape] from gy and the forward's idx; non-maxima and dropped odd rows/columns get 0.
pub fn maxpool2_backward(gpu: &Gpu, x_shape: &[usize], gy: &Tensor, idx: &Tensor) -> Result<Tensor> {
    let p = params(x_shape)?;
    let out_shape = [x_shape[0], x_shape[1], p.oh as usize, p.ow as usize];
    ensure!(
        gy.shape() == out_shape && idx.shape() == out_shape,
        "maxpool2 backward: gradient {:?} / indices {:?} do not match the output {out_shape:?}",
        gy.shape(),
        idx.shape()
    );
    let gx = Tensor::empty(gpu, x_shape);
    let c = x_shape[1];
    for r in gpu.split_items("maxpool2 backward", x_shape[0], &[gy, idx, &gx])? {
        let (gyc, ic, gxc) = (gy.items(r.clone()), idx.items(r.clone()), gx.items(r.clone()));
        let pc = Params { planes: (r.len() * c) as u32, ..p };
        if let Some(p4) = vec4_params(gpu, &pc, r.len() * c) {
            // one thread per 4 columns of a row pair, ceil(h / 2) pairs
            let threads = r.len() * c * (pc.h as usize).div_ceil(2) * (pc.w as usize / 4);
            let args = [Arg::of(&gyc), Arg::of(&ic), Arg::of(&gxc)];
            let cost = Cost::elementwise(gxc.numel(), 1.0, 1.5);
            gpu.dispatch(&MAXPOOL_VEC4_BACKWARD, "backward4", &p4, &args, gpu.groups_1d(threads), cost)?;
            continue;
        }
        gpu.dispatch(
            &MAXPOOL_BACKWARD,
            "main",
            &pc,
            &[Arg::of(&gyc), Arg::of(&ic), Arg::of(&gxc)],
            gpu.groups_1d(gxc.numel()),
            Cost::elementwise(gxc.numel(), 1.0, 1.5),
        )?;
    }
    Ok(gx)
}

pub fn t_maxpool2(t: &mut Tape, x: Var) -> Result<Var> {
    let x_shape = t.value(&x).shape().to_vec();
    let (y, idx) = maxpool2(t.gpu, t.value(&x))?;
    Ok(t.record("maxpool2", [&x], y, move |gpu, g| Ok([Some(maxpool2_backward(gpu, &x_shape, g, &idx)?)])))
}
