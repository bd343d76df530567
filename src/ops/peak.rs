//! Peak probes: a register-only multiply-add kernel and a streaming copy, whose GFLOP/s and GB/s
//! are the adapter's measured peaks that `tdfas bench` and `tdfas profile` compare kernels with.

use anyhow::{ensure, Result};
use bytemuck::{Pod, Zeroable};

use crate::gpu::profiler::Cost;
use crate::gpu::shaders::{OpKernels, Shader};
use crate::gpu::{Arg, Gpu};
use crate::tensor::Tensor;

/// This op's kernels and benchmark families (`ops::ALL` lists every op's).
pub const KERNELS: OpKernels = OpKernels { shaders: &[PEAK], bench: &["peak_fma", "peak_copy"] };
const PEAK: Shader = crate::shader!("peak", ["fma_peak", "copy_peak"]);

/// Uniform of peak.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    iters: u32,
    n4: u32,
    a: f32,
    b: f32,
}
crate::uniform!(Params { iters, n4, a, b });

/// Flop per thread and loop iteration of `fma_peak` (8 vec4 FMAs).
const FLOP_PER_ITER: f64 = 64.0;

/// The multiply-add probe: `groups` workgroups of 256 threads, `iters` iterations each; returns
/// its output (one vec4 per thread, values near 1).
pub fn fma(gpu: &Gpu, groups: usize, iters: usize) -> Result<Tensor> {
    let threads = groups * 256;
    let out = Tensor::empty(gpu, &[threads, 4]);
    let params = Params { iters: iters as u32, n4: threads as u32, a: 0.999, b: 0.001 };
    let cost = Cost::new(FLOP_PER_ITER * (threads * iters) as f64, 16.0 * threads as f64);
    let args = [Arg::Unused, Arg::of(&out)];
    gpu.dispatch(&PEAK, "fma_peak", &params, &args, [groups as u32, 1, 1], cost)?;
    Ok(out)
}

/// The bandwidth probe: a copy of `src` (a multiple of 4 floats, bound whole).
pub fn copy(gpu: &Gpu, src: &Tensor) -> Result<Tensor> {
    let n = src.numel();
    ensure!(n.is_multiple_of(4), "peak copy: {n} floats is not a whole number of vec4s");
    let dst = Tensor::empty(gpu, src.shape());
    let params = Params { iters: 0, n4: (n / 4) as u32, a: 0.0, b: 0.0 };
    let cost = Cost::new(0.0, 8.0 * n as f64);
    gpu.dispatch(&PEAK, "copy_peak", &params, &[Arg::of(src), Arg::of(&dst)], gpu.groups_1d(n / 4), cost)?;
    Ok(dst)
}

/// The probes' sizes on this adapter: (workgroups, iterations) of the FMA probe, floats copied.
/// About 69 GFLOP and 2 x 48 MiB (beyond a large GPU's L2) on a GPU, about 1000x less arithmetic
/// and 2 x 16 MiB on a CPU adapter.
pub fn sizes(gpu: &Gpu) -> (usize, usize, usize) {
    if gpu.is_cpu() {
        (16, 256, 4 << 20)
    } else {
        (2048, 2048, 12 << 20)
    }
}
