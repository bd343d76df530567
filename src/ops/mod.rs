//! One op family per file: shape checks, forward dispatch, backward dispatch, and the tape
//! functions (`t_*`) that record the op with its hand-written gradient.

pub mod adadelta;
pub mod conv;
pub mod elementwise;
pub mod matmul;
pub mod reduce;
pub mod sobel;
pub mod gru;
pub mod depth_loss;
pub mod linear;
pub mod cross_entropy;
