//! Linear layer y = x W^T + b (x [N, in], W [out, in], b [out]): matmul plus a bias kernel.

use anyhow::{ensure, Result};
use bytemuck::{Pod, Zeroable};

use crate::gpu::profiler::Cost;
use crate::gpu::shaders::{OpKernels, Shader};
use crate::gpu::{Arg, Gpu};
use crate::graph::{Tape, Var};
use crate::ops::matmul::matmul;
use crate::tensor::Tensor;

/// This op's kernels and benchmark families (`ops::ALL` lists every op's).
pub const KERNELS: OpKernels = OpKernels { shaders: &[LINEAR], bench: &["linear"] };
const LINEAR: Shader = crate::shader!("linear", ["add_bias", "col_sum"]);

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    _pad: [u32; 2],
}
crate::uniform!(Params { rows, cols, _pad });

pub fn linear(gpu: &Gpu, x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    ensure!(
        x.shape().len() == 2 && w.shape().len() == 2,
        "linear: x {:?} and W {:?} must be 2-D",
        x.shape(),
        w.shape()
    );
    ensure!(
        x.dim(1) == w.dim(1),
        "linear: x {:?} has {} inputs, W {:?} expects {}",
        x.shape(),
        x.dim(1),
        w.shape(),
        w.dim(1)
    );
    ensure!(b.shape() == [w.dim(0)], "linear: bias {:?} != [{}]", b.shape(), w.dim(0));
    let xw = matmul(gpu, x, w, false, true)?;
    let (rows, cols) = (xw.dim(0), xw.dim(1));
    let y = Tensor::empty(gpu, xw.shape());
    let params = Params { rows: rows as u32, cols: cols as u32, _pad: [0; 2] };
    gpu.dispatch(
        &LINEAR,
        "add_bias",
        &params,
        &[Arg::of(&xw), Arg::of(b), Arg::of(&y)],
        gpu.groups_1d(rows * cols),
        Cost::elementwise(rows * cols, 1.0, 3.0),
    )?;
    Ok(y)
}

/// Sum over the rows of g [rows, cols] -> [cols] (the bias gradient).
pub fn col_sum(gpu: &Gpu, g: &Tensor) -> Result<Tensor> {
    ensure!(g.shape().len() == 2, "col_sum: expected 2-D, got {:?}", g.shape());
    let (rows, cols) = (g.dim(0), g.dim(1));
    let out = Tensor::empty(gpu, &[cols]);
    let params = Params { rows: rows as u32, cols: cols as u32, _pad: [0; 2] };
    gpu.dispatch(
        &LINEAR,
        "col_sum",
        &params,
        &[Arg::of(g), Arg::Unused, Arg::of(&out)],
        gpu.groups_1d(cols),
        Cost::elementwise(rows * cols, 1.0, 1.0),
    )?;
    Ok(out)
}

/// y = x W^T + b; gx = gy W, gW = gy^T x, gb = column sums of gy.
pub fn t_linear(t: &mut Tape, x: Var, w: Var, b: Var) -> Result<Var> {
    let (xv, wv) = (t.value(&x).clone(), t.value(&w).clone());
    let y = linear(t.gpu, &xv, &wv, t.value(&b))?;
    Ok(t.record("linear", [&x, &w, &b], y, move |gpu, g| {
        Ok([Some(matmul(gpu, g, &wv, false, false)?), Some(matmul(gpu, g, &xv, true, false)?), Some(col_sum(gpu, g)?)])
    }))
}
