//! Fused ConvGRU gate kernels (the convolutions around them are conv2d's):
//! gates: u = sigmoid(pre_u), rh = sigmoid(pre_r) * h_prev;  update: h = (1 - u) h_prev + u tanh(pre_c).
//! Backward kernels recompute the sigmoids / tanh from the pre-activations instead of saving them.

use anyhow::{ensure, Result};
use bytemuck::{Pod, Zeroable};

use crate::gpu::profiler::Cost;
use crate::gpu::shaders::{OpKernels, Shader};
use crate::gpu::{Arg, Gpu};
use crate::graph::{Tape, Var};
use crate::tensor::Tensor;

/// This op's kernels and benchmark families (`ops::ALL` lists every op's).
pub const KERNELS: OpKernels = OpKernels {
    shaders: &[GRU_GATES, GRU_GATES_BACKWARD, GRU_UPDATE, GRU_UPDATE_BACKWARD],
    bench: &["gru_gates", "gru_update", "gru_backward"],
};
const GRU_GATES: Shader = crate::shader!("gru_gates", ["gates"]);
const GRU_GATES_BACKWARD: Shader = crate::shader!("gru_gates_backward", ["rh_backward", "u_backward"]);
const GRU_UPDATE: Shader = crate::shader!("gru_update", ["update"]);
const GRU_UPDATE_BACKWARD: Shader = crate::shader!("gru_update_backward", ["update_backward"]);

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    _pad: [u32; 3],
}
crate::uniform!(Params { n, _pad });

fn params(n: usize) -> Params {
    Params { n: n as u32, _pad: [0; 3] }
}

fn same_shapes(what: &str, ts: &[&Tensor]) -> Result<()> {
    for t in &ts[1..] {
        ensure!(t.shape() == ts[0].shape(), "{what}: shapes differ, {:?} vs {:?}", ts[0].shape(), t.shape());
    }
    Ok(())
}

/// (u, rh) = (sigmoid(pre_u), sigmoid(pre_r) * h_prev) in one kernel.
pub fn gru_gates(gpu: &Gpu, pre_r: &Tensor, pre_u: &Tensor, h_prev: &Tensor) -> Result<(Tensor, Tensor)> {
    same_shapes("gru_gates (pre_r, pre_u, h_prev)", &[pre_r, pre_u, h_prev])?;
    let n = pre_r.numel();
    let (u, rh) = (Tensor::empty(gpu, pre_r.shape()), Tensor::empty(gpu, pre_r.shape()));
    gpu.dispatch_flat(
        &GRU_GATES,
        "gates",
        n,
        params,
        &[pre_r, pre_u, h_prev, &u, &rh].map(Arg::of),
        Cost::elementwise(n, 10.0, 5.0),
    )?;
    Ok((u, rh))
}

/// (g_pre_r, g_h_prev) from g_rh.
pub fn gru_rh_backward(gpu: &Gpu, pre_r: &Tensor, h_prev: &Tensor, g_rh: &Tensor) -> Result<(Tensor, Tensor)> {
    same_shapes("gru_rh_backward", &[pre_r, h_prev, g_rh])?;
    let n = pre_r.numel();
    let (g_pre, g_h) = (Tensor::empty(gpu, pre_r.shape()), Tensor::empty(gpu, pre_r.shape()));
    gpu.dispatch_flat(
        &GRU_GATES_BACKWARD,
        "rh_backward",
        n,
        params,
        &[pre_r, h_prev, g_rh, &g_pre, &g_h].map(Arg::of),
        Cost::elementwise(n, 8.0, 5.0),
    )?;
    Ok((g_pre, g_h))
}

/// g_pre_u from g_u.
pub fn gru_u_backward(gpu: &Gpu, pre_u: &Tensor, g_u: &Tensor) -> Result<Tensor> {
    same_shapes("gru_u_backward", &[pre_u, g_u])?;
    let n = pre_u.numel();
    let g_pre = Tensor::empty(gpu, pre_u.shape());
    gpu.dispatch_flat(
        &GRU_GATES_BACKWARD,
        "u_backward",
        n,
        params,
        &[Arg::of(pre_u), Arg::Unused, Arg::of(g_u), Arg::of(&g_pre)],
        Cost::elementwise(n, 6.0, 3.0),
    )?;
    Ok(g_pre)
}

/// h = (1 - u) * h_prev + u * tanh(pre_c) in one kernel.
pub fn gru_update(gpu: &Gpu, u: &Tensor, h_prev: &Tensor, pre_c: &Tensor) -> Result<Tensor> {
    same_shapes("gru_update (u, h_prev, pre_c)", &[u, h_prev, pre_c])?;
    let n = u.numel();
    let h = Tensor::empty(gpu, u.shape());
    let args = [u, h_prev, pre_c, &h].map(Arg::of);
    gpu.dispatch_flat(&GRU_UPDATE, "update", n, params, &args, Cost::elementwise(n, 10.0, 4.0))?;
    Ok(h)
}

/// (g_u, g_h_prev, g_pre_c) from g_h.
pub fn gru_update_backward(gpu: &Gpu, u: &Tensor, h_prev: &Tensor, pre_c: &Tensor, g: &Tensor) -> Result<[Tensor; 3]> {
    same_shapes("gru_update_backward", &[u, h_prev, pre_c, g])?;
    let n = u.numel();
    let out = [0, 1, 2].map(|_| Tensor::empty(gpu, u.shape()));
    gpu.dispatch_flat(
        &GRU_UPDATE_BACKWARD,
        "update_backward",
        n,
        params,
        &[u, h_prev, pre_c, g, &out[0], &out[1], &out[2]].map(Arg::of),
        Cost::elementwise(n, 12.0, 7.0),
    )?;
    Ok(out)
}

// ---- tape ops -------------------------------------------------------------------------------

/// Returns (u, rh). One forward kernel; u and rh depend on disjoint inputs, so each is recorded
/// as its own tape node (u <- pre_u; rh <- pre_r, h_prev) with its own backward kernel.
pub fn t_gru_gates(t: &mut Tape, pre_r: Var, pre_u: Var, h_prev: Var) -> Result<(Var, Var)> {
    let (pr, pu, hp) = (t.value(&pre_r).clone(), t.value(&pre_u).clone(), t.value(&h_prev).clone());
    let (u, rh) = gru_gates(t.gpu, &pr, &pu, &hp)?;
    let vu = t.record("gru_gate_u", [&pre_u], u, move |gpu, g| Ok([Some(gru_u_backward(gpu, &pu, g)?)]));
    let vrh = t.record("gru_gate_rh", [&pre_r, &h_prev], rh, move |gpu, g| {
        let (g_pre, g_h) = gru_rh_backward(gpu, &pr, &hp, g)?;
        Ok([Some(g_pre), Some(g_h)])
    });
    Ok((vu, vrh))
}

/// h = (1 - u) * h_prev + u * tanh(pre_c); gradients to u, h_prev and pre_c.
pub fn t_gru_update(t: &mut Tape, u: Var, h_prev: Var, pre_c: Var) -> Result<Var> {
    let (uv, hp, pc) = (t.value(&u).clone(), t.value(&h_prev).clone(), t.value(&pre_c).clone());
    let h = gru_update(t.gpu, &uv, &hp, &pc)?;
    Ok(t.record("gru_update", [&u, &h_prev, &pre_c], h, move |gpu, g| {
        let [gu, gh, gc] = gru_update_backward(gpu, &uv, &hp, &pc, g)?;
        Ok([Some(gu), Some(gh), Some(gc)])
    }))
}
