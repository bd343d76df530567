//! Training: the optimizer, checkpoints and the two-stage trainer.

pub mod adadelta;
pub mod average;
pub mod checkpoint;
pub mod outdir;
#[cfg(not(target_arch = "wasm32"))]
pub mod trainer;
