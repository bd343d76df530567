//! The integration tests, one binary (one link, one device shared by every test): a module per
//! area, named by what it checks. Two stay binaries of their own: tests/tuning.rs sets
//! process-wide environment variables, and tests/reliability.rs times a training run to kill it
//! mid-way, which other areas' tests running beside it would skew.

#[path = "../common/mod.rs"]
mod common;

mod bench;
mod cli;
mod dump;
mod engine;
mod fuzz_parsers;
mod hostile_use;
mod kernel_interface;
mod layering;
mod limits;
mod model;
mod ops_cnn;
mod ops_conv;
mod ops_temporal_and_losses;
mod optim;
mod outputs_and_inputs;
mod picture_inputs;
mod real_set;
mod report;
mod shaders;
mod training;
mod verdict;
mod web;
