//! One op family per file: shape checks, forward dispatch, backward dispatch, and the tape
//! functions (`t_*`) that record the op with its hand-written gradient.

pub mod adadelta;
pub mod conv;
pub mod elementwise;
pub mod matmul;
pub mod reduce;
pub mod batchnorm;
pub mod concat;
pub mod pool;
pub mod resize;
pub mod cross_entropy;
pub mod depth_loss;
pub mod gru;
pub mod linear;
pub mod sobel;
