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
pub mod pool;
pub mod resize;
pub mod sobel;
pub mod tuning;
