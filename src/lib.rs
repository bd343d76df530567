//! tdfas: a from-scratch wgpu engine for multi-frame face anti-spoofing (FAS-TD, Wang et al. 2018).
//!
//! # Layers
//!
//! Bottom up; a module uses only modules on its own line or the lines above (tests/all/layering.rs
//! checks every `crate::` path under src/ against this list):
//!
//! ```text
//! util                       helpers with no crate dependency (atomic writes, output checks, scratch
//!                            folders, escaped text, PNG writing, progress bar, font, FNV hashing,
//!                            UTC dates, the TDFAS_* settings)
//! reference                  f64 CPU versions of every op, forward and backward (for tests)
//! gpu                        the runtime (device, pipelines and kernel interfaces, buffer pool,
//!                            recorder, profiler) and what it binds: buffer ranges, no shapes
//! tensor                     the runtime's value: a shape over a buffer range
//! graph                      the tape (records, reverse walk) and the parameter store
//! ops                        one op family per file: forward and backward dispatch, tape functions
//! data                       datasets, protocols, clip sampling, augmentation, synthetic data, and
//!                            unlabelled frames (what infer and dump read)
//! model                      config presets, the FAS-TD network, the clip score (eq. 18), reading
//!                            checkpoints and their calibrations
//! eval                       metrics, per-video scores, scoring a split, reports
//! train                      two-stage trainer, Adadelta, writing checkpoints, output folders
//! bench, demo, dump, infer   the commands (main.rs parses the command line)
//! web                        `tdfas web`'s server and the browser build's entry points
//! ```
//!
//! The browser build (`wasm32`, tools/build_web.sh) leaves out what needs files, processes,
//! threads or a terminal: the commands, training, the synthetic benchmark, evaluation runs,
//! progress bars and scratch folders.
//!
//! No exceptions. A command reads its `TDFAS_*` settings once (`util::settings::Settings`), opens
//! the device with them (`Gpu::with_settings`) and tunes the ops (`ops::tune`: the conv kernel
//! choice, BatchNorm's chunking, kept in the device's typed `Gpu::op_settings` slots) before
//! anything is recorded; no op reads the environment or tunes in the middle of a step.

#[cfg(not(target_arch = "wasm32"))]
pub mod bench;
pub mod data;
#[cfg(not(target_arch = "wasm32"))]
pub mod demo;
#[cfg(not(target_arch = "wasm32"))]
pub mod dump;
pub mod eval;
pub mod gpu;
pub mod graph;
#[cfg(not(target_arch = "wasm32"))]
pub mod infer;
pub mod model;
pub mod ops;
pub mod reference;
pub mod tensor;
pub mod train;
pub mod util;
pub mod web;

pub use gpu::Gpu;
pub use graph::{ParamStore, Tape, Var};
pub use tensor::Tensor;
