//! One op family per file: shape checks, forward dispatch, backward dispatch, and the tape
//! functions (`t_*`) that record the op with its hand-written gradient.

pub mod adadelta;
pub mod batchnorm;
pub mod concat;
pub mod conv;
pub mod cross_entropy;
pub mod depth_loss;
pub mod elementwise;
pub mod gru;
pub mod linear;
pub mod matmul;
pub mod peak;
pub mod pool;
pub mod resize;
pub mod sobel;
pub mod tuning;

use crate::gpu::shaders::{OpKernels, Shader};

/// Every op family's kernels: the one list of shaders, entry points and benchmark families.
pub const ALL: &[&OpKernels] = &[
    &adadelta::KERNELS,
    &batchnorm::KERNELS,
    &concat::KERNELS,
    &conv::KERNELS,
    &cross_entropy::KERNELS,
    &depth_loss::KERNELS,
    &elementwise::KERNELS,
    &gru::KERNELS,
    &linear::KERNELS,
    &matmul::KERNELS,
    &peak::KERNELS,
    &pool::KERNELS,
    &resize::KERNELS,
    &sobel::KERNELS,
];

/// Every shader of every op.
pub fn shaders() -> impl Iterator<Item = &'static Shader> {
    ALL.iter().flat_map(|k| k.shaders)
}

/// A shader by name (the file name without `.wgsl`).
pub fn shader(name: &str) -> Option<&'static Shader> {
    shaders().find(|s| s.name == name)
}
