//! Training: the optimizer, checkpoints and the two-stage trainer.

pub mod adadelta;
