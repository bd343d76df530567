//! Elementwise ops: add, sub, mul, scale, axpy, ReLU, sigmoid, tanh, with their gradients.

use anyhow::{ensure, Result};
use bytemuck::{Pod, Zeroable};

use crate::gpu::profiler::Cost;
use crate::gpu::shaders::{OpKernels, Shader};
use crate::gpu::{Arg, Gpu};
use crate::graph::{Tape, Var};
use crate::tensor::Tensor;

/// This op's kernels and benchmark families (`ops::ALL` lists every op's).
pub const KERNELS: OpKernels = OpKernels { shaders: &[ELEMENTWISE, ELEMENTWISE_VEC4, GRAD_SUM], bench: &[] };
/// The tape's gradient sums (dispatched by `graph::tape`, a layer below the ops; declared here
/// so that every list derived from `ops::ALL` has it).
const GRAD_SUM: Shader = crate::shader!("grad_sum", ["sum4"]);
const ELEMENTWISE: Shader = crate::shader!(
    "elementwise" from "elementwise" with "alias T = f32;",
    [
        "add",
        "sub",
        "mul",
        "scale",
        "axpy",
        "relu",
        "relu_backward",
        "relu_revive_backward",
        "sigmoid",
        "sigmoid_backward",
        "tanh_forward",
        "tanh_backward"
    ]
);
/// The binary and scaled kernels over vec4s (CPU adapters, n a multiple of 4: see the file).
const ELEMENTWISE_VEC4: Shader = crate::shader!("elementwise_vec4" from "elementwise" with "alias T = vec4<f32>;", ["add", "sub", "mul", "scale", "axpy"]);

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    s: f32,
    _pad: [u32; 2],
}
crate::uniform!(Params { n, s, _pad });

/// Runs entry `entry` of elementwise.wgsl: out = f(a, b, s); `b` is None for the unary entry
/// points (they do not use its binding).
fn run(gpu: &Gpu, entry: &str, a: &Tensor, b: Option<&Tensor>, s: f32, flops: f64) -> Result<Tensor> {
    if let Some(b) = b {
        ensure!(a.numel() == b.numel(), "{entry}: sizes differ, {:?} vs {:?}", a.shape(), b.shape());
    }
    let out = Tensor::empty(gpu, a.shape());
    let n = a.numel();
    let args = [Arg::of(a), b.map_or(Arg::Unused, Arg::of), Arg::of(&out)];
    // CPU adapters: whole vec4s (ELEMENTWISE_VEC4) when they fit one binding (and buffer).
    let vec4 = matches!(entry, "add" | "sub" | "mul" | "scale" | "axpy");
    let whole = [Some(a), b, Some(&out)].iter().flatten().all(|t| t.is_contiguous_buffer())
        && a.byte_len() <= gpu.max_binding();
    if vec4 && gpu.is_cpu() && n > 0 && n.is_multiple_of(4) && whole {
        let p = Params { n: (n / 4) as u32, s, _pad: [0; 2] };
        gpu.dispatch(&ELEMENTWISE_VEC4, entry, &p, &args, gpu.groups_1d(n / 4), Cost::elementwise(n, flops, 3.0))?;
        return Ok(out);
    }
    gpu.dispatch_flat(
        &ELEMENTWISE,
        entry,
        n,
        |n| Params { n: n as u32, s, _pad: [0; 2] },
        &args,
        Cost::elementwise(n, flops, 3.0),
    )?;
    Ok(out)
}

pub fn add(gpu: &Gpu, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    run(gpu, "add", a, Some(b), 0.0, 1.0)
}
pub fn sub(gpu: &Gpu, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    run(gpu, "sub", a, Some(b), 0.0, 1.0)
}
pub fn mul(gpu: &Gpu, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    run(gpu, "mul", a, Some(b), 0.0, 1.0)
}
pub fn scale(gpu: &Gpu, a: &Tensor, s: f32) -> Result<Tensor> {
    run(gpu, "scale", a, None, s, 1.0)
}
/// s * a + b
pub fn axpy(gpu: &Gpu, s: f32, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    run(gpu, "axpy", a, Some(b), s, 2.0)
}
pub fn relu(gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
    run(gpu, "relu", x, None, 0.0, 1.0)
}
/// gradient of ReLU given its input x and the upstream gradient gy
pub fn relu_backward(gpu: &Gpu, x: &Tensor, gy: &Tensor) -> Result<Tensor> {
    run(gpu, "relu_backward", x, Some(gy), 0.0, 1.0)
}
/// ReLU's gradient, except that where x <= 0 a negative upstream gradient (one that would raise
/// x) passes: a dead output can come back (`stage1.revive`)
pub fn relu_revive_backward(gpu: &Gpu, x: &Tensor, gy: &Tensor) -> Result<Tensor> {
    run(gpu, "relu_revive_backward", x, Some(gy), 0.0, 2.0)
}
pub fn sigmoid(gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
    run(gpu, "sigmoid", x, None, 0.0, 4.0)
}
/// gradient of sigmoid given its output y
pub fn sigmoid_backward(gpu: &Gpu, y: &Tensor, gy: &Tensor) -> Result<Tensor> {
    run(gpu, "sigmoid_backward", y, Some(gy), 0.0, 3.0)
}
pub fn tanh(gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
    run(gpu, "tanh_forward", x, None, 0.0, 5.0)
}
/// gradient of tanh given its output y
pub fn tanh_backward(gpu: &Gpu, y: &Tensor, gy: &Tensor) -> Result<Tensor> {
    run(gpu, "tanh_backward", y, Some(gy), 0.0, 3.0)
}

// ---- tape ops -------------------------------------------------------------------------------

pub fn t_add(t: &mut Tape, a: Var, b: Var) -> Result<Var> {
    let y = add(t.gpu, t.value(&a), t.value(&b))?;
    Ok(t.record("add", [&a, &b], y, |_, g| Ok([Some(g.clone()), Some(g.clone())])))
}

pub fn t_sub(t: &mut Tape, a: Var, b: Var) -> Result<Var> {
    let y = sub(t.gpu, t.value(&a), t.value(&b))?;
    Ok(t.record("sub", [&a, &b], y, |gpu, g| Ok([Some(g.clone()), Some(scale(gpu, g, -1.0)?)])))
}

pub fn t_mul(t: &mut Tape, a: Var, b: Var) -> Result<Var> {
    let (av, bv) = (t.value(&a).clone(), t.value(&b).clone());
    let y = mul(t.gpu, &av, &bv)?;
    Ok(t.record("mul", [&a, &b], y, move |gpu, g| Ok([Some(mul(gpu, g, &bv)?), Some(mul(gpu, g, &av)?)])))
}

pub fn t_scale(t: &mut Tape, a: Var, s: f32) -> Result<Var> {
    let y = scale(t.gpu, t.value(&a), s)?;
    Ok(t.record("scale", [&a], y, move |gpu, g| Ok([Some(scale(gpu, g, s)?)])))
}

/// s * a + b
pub fn t_axpy(t: &mut Tape, s: f32, a: Var, b: Var) -> Result<Var> {
    let y = axpy(t.gpu, s, t.value(&a), t.value(&b))?;
    Ok(t.record("axpy", [&a, &b], y, move |gpu, g| Ok([Some(scale(gpu, g, s)?), Some(g.clone())])))
}

pub fn t_relu(t: &mut Tape, x: Var) -> Result<Var> {
    let xv = t.value(&x).clone();
    let y = relu(t.gpu, &xv)?;
    Ok(t.record("relu", [&x], y, move |gpu, g| Ok([Some(relu_backward(gpu, &xv, g)?)])))
}

/// ReLU whose backward is `relu_revive_backward`.
pub fn t_relu_revive(t: &mut Tape, x: Var) -> Result<Var> {
    let xv = t.value(&x).clone();
    let y = relu(t.gpu, &xv)?;
    Ok(t.record("relu_revive", [&x], y, move |gpu, g| Ok([Some(relu_revive_backward(gpu, &xv, g)?)])))
}

pub fn t_sigmoid(t: &mut Tape, x: Var) -> Result<Var> {
    let y = sigmoid(t.gpu, t.value(&x))?;
    let yv = y.clone();
    Ok(t.record("sigmoid", [&x], y, move |gpu, g| Ok([Some(sigmoid_backward(gpu, &yv, g)?)])))
}

pub fn t_tanh(t: &mut Tape, x: Var) -> Result<Var> {
    let y = tanh(t.gpu, t.value(&x))?;
    let yv = y.clone();
    Ok(t.record("tanh", [&x], y, move |gpu, g| Ok([Some(tanh_backward(gpu, &yv, g)?)])))
}

/// Same data, new shape (free: a view).
pub fn t_reshape(t: &mut Tape, x: Var, shape: &[usize]) -> Result<Var> {
    let xv = t.value(&x).clone();
    ensure!(shape.iter().product::<usize>() == xv.numel(), "reshape {:?} -> {:?}: sizes differ", xv.shape(), shape);
    let in_shape = xv.shape().to_vec();
    Ok(t.record("reshape", [&x], xv.reshape(shape), move |_, g| Ok([Some(g.reshape(&in_shape))])))
}
