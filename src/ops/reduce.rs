//! Reductions over rows: sum, mean and masked mean (the score of eq. 18 needs the last one).

use anyhow::{ensure, Result};
use bytemuck::{Pod, Zeroable};

use crate::gpu::profiler::Cost;
use crate::gpu::{Arg, Gpu};
use crate::graph::{Tape, Var};
use crate::tensor::Tensor;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    rows: u32,
    len: u32,
    s: f32,
    _pad: u32,
}
crate::uniform!(Params { rows, len, s, _pad });

/// x viewed as [rows, len] -> [rows], times s.
pub fn sum_rows(gpu: &Gpu, x: &Tensor, rows: usize, s: f32) -> Result<Tensor> {
    ensure!(rows > 0 && x.numel().is_multiple_of(rows), "sum_rows: {:?} is not {rows} rows", x.shape());
    let len = x.numel() / rows;
    let out = Tensor::empty(gpu, &[rows]);
    let params = Params { rows: rows as u32, len: len as u32, s, _pad: 0 };
    gpu.dispatch(
        "reduce",
        "sum_rows",
        &params,
        &[Arg::T(x), Arg::T(x), Arg::T(&out), Arg::T(&out)],
        [rows as u32, 1, 1],
        Cost::elementwise(x.numel(), 1.0, 1.0),
    )?;
    Ok(out)
}

/// Per row: sum(x * m) / sum(m), 0 where the mask is empty. Returns (means, mask sums).
pub fn masked_mean_rows(gpu: &Gpu, x: &Tensor, m: &Tensor, rows: usize) -> Result<(Tensor, Tensor)> {
    ensure!(x.numel() == m.numel(), "masked_mean: value {:?} and mask {:?} differ", x.shape(), m.shape());
    ensure!(rows > 0 && x.numel().is_multiple_of(rows), "masked_mean: {:?} is not {rows} rows", x.shape());
    let len = x.numel() / rows;
    let out = Tensor::empty(gpu, &[rows]);
    let den = Tensor::empty(gpu, &[rows]);
    let params = Params { rows: rows as u32, len: len as u32, s: 1.0, _pad: 0 };
    gpu.dispatch(
        "reduce",
        "masked_mean_rows",
        &params,
        &[Arg::T(x), Arg::T(m), Arg::T(&out), Arg::T(&den)],
        [rows as u32, 1, 1],
        Cost::elementwise(x.numel(), 3.0, 2.0),
    )?;
    Ok((out, den))
}

/// g [rows] -> out [rows * len] (shaped like `shape`), out = s * g[row].
pub fn broadcast_rows(gpu: &Gpu, g: &Tensor, shape: &[usize], s: f32) -> Result<Tensor> {
    let rows = g.numel();
    let n: usize = shape.iter().product();
    let out = Tensor::empty(gpu, shape);
    let params = Params { rows: rows as u32, len: (n / rows) as u32, s, _pad: 0 };
    gpu.dispatch(
        "broadcast",
        "broadcast_rows",
        &params,
        &[Arg::T(g), Arg::T(g), Arg::T(g), Arg::T(&out)],
        gpu.groups_1d(n),
        Cost::elementwise(n, 1.0, 1.0),
    )?;
    Ok(out)
}

fn masked_mean_backward(gpu: &Gpu, g: &Tensor, m: &Tensor, den: &Tensor) -> Result<Tensor> {
    let rows = g.numel();
    let n = m.numel();
    let out = Tensor::empty(gpu, m.shape());
    let params = Params { rows: rows as u32, len: (n / rows) as u32, s: 1.0, _pad: 0 };
    gpu.dispatch(
        "broadcast",
        "masked_mean_backward",
        &params,
        &[Arg::T(g), Arg::T(m), Arg::T(den), Arg::T(&out)],
        gpu.groups_1d(n),
        Cost::elementwise(n, 2.0, 2.0),
    )?;
    Ok(out)
}

// ---- tape ops -------------------------------------------------------------------------------

/// Sum of all elements -> [1].
pub fn t_sum(t: &mut Tape, x: Var) -> Result<Var> {
    t_sum_rows(t, x, 1, 1.0)
}

/// Mean of all elements -> [1].
pub fn t_mean(t: &mut Tape, x: Var) -> Result<Var> {
    let n = t.value(x).numel();
    t_sum_rows(t, x, 1, 1.0 / n as f32)
}

/// s * row sums of x viewed as [rows, len] -> [rows].
pub fn t_sum_rows(t: &mut Tape, x: Var, rows: usize, s: f32) -> Result<Var> {
    let shape = t.value(x).shape().to_vec();
    let y = sum_rows(t.gpu, t.value(x), rows, s)?;
    Ok(t.record("sum_rows", &[x], y, Box::new(move |gpu, g| Ok(vec![Some(broadcast_rows(gpu, g, &shape, s)?)]))))
}

/// Masked mean per row (the mask is a constant, not differentiated).
pub fn t_masked_mean_rows(t: &mut Tape, x: Var, mask: &Tensor, rows: usize) -> Result<Var> {
    let (y, den) = masked_mean_rows(t.gpu, t.value(x), mask, rows)?;
    let m = mask.clone();
    let shape = t.value(x).shape().to_vec();
    Ok(t.record(
        "masked_mean_rows",
        &[x],
        y,
        Box::new(move |gpu, g| Ok(vec![Some(masked_mean_backward(gpu, g, &m, &den)?.reshape(&shape))])),
    ))
}
