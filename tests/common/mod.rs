//! Shared test helpers: one GPU per test, uploads from f64, comparisons against references.
#![allow(dead_code)]

use tdfas::reference::{assert_close, max_rel_error, to_f32};
use tdfas::{Gpu, Tensor};

/// A GPU with its ops tuned (`tdfas::ops::tune`), as every command opens one.
pub fn gpu() -> Gpu {
    let g = Gpu::new().expect("a GPU adapter (install mesa-vulkan-drivers for lavapipe)");
    tdfas::ops::tune(&g).expect("tuning the conv kernels");
    g
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

/// A PyTorch golden fixture (tests/fixtures/<name>.safetensors, format in tests/fixtures/README.md):
/// tensors by name as f64. The one loader every test uses.
pub struct Golden {
    pub name: String,
    pub tensors: std::collections::HashMap<String, (Vec<usize>, Vec<f64>)>,
    pub metadata: std::collections::HashMap<String, String>,
}

impl Golden {
    pub fn load(name: &str) -> Golden {
        let path = format!("{}/tests/fixtures/{name}.safetensors", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
        let tensors = st
            .tensors()
            .into_iter()
            .map(|(n, v)| {
                assert_eq!(v.dtype(), safetensors::Dtype::F32, "{path}: {n} is not F32");
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
    /// Uploads tensor `name` (a scalar `[]` becomes [1]).
    pub fn upload(&self, gpu: &Gpu, name: &str) -> Tensor {
        let shape = self.shape(name);
        up(gpu, self.get(name), if shape.is_empty() { &[1] } else { shape })
    }
    /// Compares `t` with tensor `name` (shape, then values within the tolerance for reductions of
    /// length `k`), and prints the worst error relative to the golden's largest magnitude.
    pub fn check(&self, gpu: &Gpu, what: &str, t: &Tensor, name: &str, k: usize) {
        let shape = self.shape(name);
        if !shape.is_empty() {
            assert_eq!(t.shape(), shape, "{what}: shape");
        }
        let got = t.download(gpu).unwrap();
        eprintln!("golden {what}: max error {:.2e} (relative to max |value|)", max_rel_error(&got, self.get(name)));
        if let Err(e) = assert_close(what, &got, self.get(name), k) {
            panic!("{e}");
        }
    }
}

/// The smallest config with the full structure (variant 4); tests set the steps they need.
pub fn micro_config() -> tdfas::model::Config {
    let mut c = tdfas::model::Config::preset("tiny").unwrap();
    c.image_size = 16;
    c.frames = 3;
    c.interval = 1;
    c.stem = 4;
    c.block = [4, 6, 4];
    c.head = [4, 4];
    c.off_reduce = 2;
    c.off_out = 3;
    c.gru_hidden = 2;
    c.fc_hidden = 4;
    c.stage1.batch = 3;
    c.stage2.batch = 2;
    c
}

/// A fresh, empty temporary folder `tdfas-<prefix>-<name>-<pid>`.
pub fn tmp_dir(prefix: &str, name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("tdfas-{prefix}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Three identities, one video per class, 4 frames of 32 x 32 face crops (no domain B).
pub fn tiny_dataset(dir: &std::path::Path) {
    let mut o = tdfas::data::synth::SynthOptions::preset("small", 3).unwrap();
    o.identities = 3;
    o.split = [1, 1, 1];
    o.videos_per_class = 1;
    o.cross_videos_per_class = 0;
    o.frames = 4;
    (o.face_crop, o.width) = (true, 32);
    tdfas::data::synth::generate(dir, &o, false).unwrap();
}

/// The `tdfas` binary with no standard input.
pub fn tdfas_cmd() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_tdfas"));
    c.stdin(std::process::Stdio::null());
    c
}

/// A CelebA-Spoof tree as its documentation lays it out: `Data/{train,test}/<subject>/{live,spoof}/`
/// images with `<image>_BB.txt` (224 x 224 coordinates) and `metas/intra_test/*_label.json`
/// (44 attributes; 40 = spoof type, 43 = label).
pub fn celeba_spoof_tree(root: &std::path::Path) {
    let attrs = |spoof: u64, label: u64| {
        let mut a = vec![serde_json::json!(0); 44];
        a[40] = serde_json::json!(spoof);
        a[43] = serde_json::json!(label);
        serde_json::Value::Array(a)
    };
    let mut train = serde_json::Map::new();
    let mut test = serde_json::Map::new();
    // subjects 10 (a multiple of ten: dev), 11 and 12 train; 5001 test
    for (split, subject) in [("train", 10), ("train", 11), ("train", 12), ("test", 5001)] {
        let labels = if split == "train" { &mut train } else { &mut test };
        for (class, name, spoof, label) in
            [("live", "000001", 0, 0), ("spoof", "494405", 8, 1), ("spoof", "494406", 2, 1)]
        {
            let dir = root.join("Data").join(split).join(subject.to_string()).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            let img = dir.join(format!("{name}.png"));
            image::RgbImage::from_fn(448, 336, |x, y| image::Rgb([(x % 251) as u8, (y % 241) as u8, 120]))
                .save(&img)
                .unwrap();
            // face box at (56, 28) 112 x 168 in 224 x 224 coordinates
            std::fs::write(dir.join(format!("{name}_BB.txt")), "56 28 112 168 0.99\n").unwrap();
            let rel = format!("Data/{split}/{subject}/{class}/{name}.png");
            labels.insert(rel, attrs(spoof, label));
        }
    }
    let metas = root.join("metas").join("intra_test");
    std::fs::create_dir_all(&metas).unwrap();
    std::fs::write(metas.join("train_label.json"), serde_json::Value::Object(train).to_string()).unwrap();
    std::fs::write(metas.join("test_label.json"), serde_json::Value::Object(test).to_string()).unwrap();
}
