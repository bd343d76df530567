//! One op family per file: shape checks, forward dispatch, backward dispatch, and the tape
//! functions (`t_*`) that record the op with its hand-written gradient.

pub mod adadelta;
pub mod batchnorm;
pub mod concat;
pub mod conv;
pub mod cross_entropy;
pub mod depth_loss;
pub mod elementwise;
pub mod gather;
pub mod gru;
pub mod linear;
pub mod matmul;
pub mod pair_diff;
pub mod peak;
pub mod pool;
pub mod resize;
pub mod sobel;
pub mod tuning;

use anyhow::Result;

use crate::gpu::shaders::{OpKernels, Shader};
use crate::gpu::Gpu;

/// Every op family's kernels: the one list of shaders, entry points and benchmark families.
pub const ALL: &[&OpKernels] = &[
    &adadelta::KERNELS,
    &batchnorm::KERNELS,
    &concat::KERNELS,
    &conv::KERNELS,
    &cross_entropy::KERNELS,
    &depth_loss::KERNELS,
    &elementwise::KERNELS,
    &gather::KERNELS,
    &gru::KERNELS,
    &linear::KERNELS,
    &matmul::KERNELS,
    &pair_diff::KERNELS,
    &peak::KERNELS,
    &pool::KERNELS,
    &resize::KERNELS,
    &sobel::KERNELS,
];

/// Makes every op's settings for `gpu`: the conv autotune (`conv::tune`, cached on disk) and
/// BatchNorm's defaults. Call once after opening a device, before recording anything (each
/// command does, right after `Gpu::with_settings`); a convolution on an untuned device is an
/// error, so no tuning ever runs in the middle of a step.
pub fn tune(gpu: &Gpu) -> Result<()> {
    conv::tune(gpu)?;
    batchnorm::settings(gpu);
    Ok(())
}

/// Every shader of every op.
pub fn shaders() -> impl Iterator<Item = &'static Shader> {
    ALL.iter().flat_map(|k| k.shaders)
}

/// A shader by name (the file name without `.wgsl`).
pub fn shader(name: &str) -> Option<&'static Shader> {
    shaders().find(|s| s.name == name)
}
