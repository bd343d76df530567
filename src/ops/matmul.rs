//! Matrix multiply with optional transposes, the building block of the linear layer.

use anyhow::{ensure, Result};
use bytemuck::{Pod, Zeroable};

use crate::gpu::profiler::Cost;
use crate::gpu::shaders::{OpKernels, Shader};
use crate::gpu::{Arg, Gpu};
use crate::graph::{Tape, Var};
use crate::tensor::Tensor;

/// This op's kernels and benchmark families (`ops::ALL` lists every op's).
pub const KERNELS: OpKernels = OpKernels { shaders: &[MATMUL], bench: &[] };
const MATMUL: Shader = crate::shader!("matmul", ["matmul"]);

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    m: u32,
    n: u32,
    k: u32,
    ta: u32,
    tb: u32,
    _pad: [u32; 3],
}
crate::uniform!(Params { m, n, k, ta, tb, _pad });

/// op(A) @ op(B) where op transposes when `ta` / `tb`. A, B are 2-D row-major.
pub fn matmul(gpu: &Gpu, a: &Tensor, b: &Tensor, ta: bool, tb: bool) -> Result<Tensor> {
    ensure!(a.shape().len() == 2 && b.shape().len() == 2, "matmul: 2-D operands, got {:?} {:?}", a.shape(), b.shape());
    let (m, k) = if ta { (a.dim(1), a.dim(0)) } else { (a.dim(0), a.dim(1)) };
    let (k2, n) = if tb { (b.dim(1), b.dim(0)) } else { (b.dim(0), b.dim(1)) };
    ensure!(
        k == k2,
        "matmul: inner sizes differ, {:?}{} x {:?}{}",
        a.shape(),
        if ta { "^T" } else { "" },
        b.shape(),
        if tb { "^T" } else { "" }
    );
    let c = Tensor::empty(gpu, &[m, n]);
    let params = Params { m: m as u32, n: n as u32, k: k as u32, ta: ta as u32, tb: tb as u32, _pad: [0; 3] };
    gpu.dispatch(
        &MATMUL,
        "matmul",
        &params,
        &[Arg::of(a), Arg::of(b), Arg::of(&c)],
        [(n as u32).div_ceil(16), (m as u32).div_ceil(16), 1],
        Cost::new(2.0 * (m * n * k) as f64, 4.0 * (m * k + k * n + m * n) as f64),
    )?;
    Ok(c)
}

/// C = A @ B on the tape; dA = dC @ B^T, dB = A^T @ dC.
pub fn t_matmul(t: &mut Tape, a: Var, b: Var) -> Result<Var> {
    let (av, bv) = (t.value(&a).clone(), t.value(&b).clone());
    let y = matmul(t.gpu, &av, &bv, false, false)?;
    Ok(t.record("matmul", [&a, &b], y, move |gpu, g| {
        Ok([Some(matmul(gpu, g, &bv, false, true)?), Some(matmul(gpu, &av, g, true, false)?)])
    }))
}
