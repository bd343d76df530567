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

/// A PyTorch golden fixture (tests/fixtures/<name>.safetensors): tensors by name as f64.
pub struct Golden {
    pub name: String,
    pub tensors: std::collections::HashMap<String, (Vec<usize>, Vec<f64>)>,
    pub metadata: std::collections::HashMap<String, String>,
}

impl Golden {
    pub fn load(name: &str) -> Golden {
        let path = format!("{}/tests/fixtures/{name}.safetensors", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let tensors = st
            .tensors()
            .into_iter()
            .map(|(n, v)| {
                let data: Vec<f64> =
                    v.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64).collect();
                (n, (v.shape().to_vec(), data))
            })
            .collect();
        let metadata = meta.metadata().clone().unwrap_or_default();
        Golden { name: name.to_string(), tensors, metadata }
    }
    pub fn get(&self, name: &str) -> &[f64] {
        &self.tensors.get(name).unwrap_or_else(|| panic!("{}: no tensor {name}", self.name)).1
    }
    pub fn shape(&self, name: &str) -> &[usize] {
        &self.tensors.get(name).unwrap_or_else(|| panic!("{}: no tensor {name}", self.name)).0
    }
    pub fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }
}
