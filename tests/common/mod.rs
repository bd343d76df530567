//! Shared test helpers: one GPU per test, uploads from f64, comparisons against references.
#![allow(dead_code)]

use tdfas::reference::{assert_close, to_f32};
use tdfas::{Gpu, Tensor};

pub fn gpu() -> Gpu {
    Gpu::new().expect("a GPU adapter (install mesa-vulkan-drivers for lavapipe)")
}

pub fn up(gpu: &Gpu, x: &[f64], shape: &[usize]) -> Tensor {
    Tensor::upload(gpu, &to_f32(x), shape).unwrap()
}

pub fn check(gpu: &Gpu, what: &str, t: &Tensor, reference: &[f64], k: usize) {
    let got = t.download(gpu).unwrap();
    if let Err(e) = assert_close(what, &got, reference, k) {
        panic!("{e}");
    }
}
