//! tdfas: a from-scratch wgpu engine for multi-frame face anti-spoofing (FAS-TD, Wang et al. 2018).
//!
//! Layers, bottom up: `gpu` (device, pipelines, buffer pool, recorder, profiler), `tensor`,
//! `ops` (one WGSL op family per file, forward and hand-written backward), `graph` (tape and
//! parameter store), `reference` (f64 CPU versions of every op, for tests).

pub mod bench;
pub mod data;
pub mod demo;
pub mod dump;
pub mod eval;
pub mod gpu;
pub mod graph;
pub mod infer;
pub mod model;
pub mod ops;
pub mod reference;
pub mod tensor;
pub mod train;

pub use gpu::Gpu;
pub use graph::{ParamStore, Tape, Var};
pub use tensor::Tensor;
