//! `tdfas dump`: every intermediate the model exposes, for one checkpoint and one clip, written
//! as safetensors with the names the PyTorch goldens use, so a user can cross-check their own
//! weights on their own data with `tools/compare_dump.py`.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{anyhow, Result};
use safetensors::tensor::{Dtype, TensorView};

use crate::gpu::Gpu;
use crate::graph::{Tape, Var};
use crate::model::fastd::{FasTd, HostBatch};
use crate::ops::cross_entropy::softmax;
use crate::util::fs::write_atomic;

/// Named tensors of one dump, in [B, T, C, S, S] layout for per-step outputs (B = 1).
pub struct Dump {
    pub tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
}

impl Dump {
    pub fn get(&self, name: &str) -> Option<&(String, Vec<usize>, Vec<f32>)> {
        self.tensors.iter().find(|(n, _, _)| n == name)
    }
}

/// Runs the eval-mode forward of `model` on one clip (frames [Nf, 3, H, W] normalised, mask all
/// ones) and collects the inputs, D_single, the OFF outputs, the ConvGRU states, D_multi,
/// D_fusion, the logits, p_live and the score of eq. 18.
pub fn dump_clip(gpu: &Gpu, model: &FasTd, batch: &HostBatch) -> Result<Dump> {
    let cfg = &model.cfg;
    anyhow::ensure!(batch.clips == 1, "dump takes one clip, got {}", batch.clips);
    let (nf, h, s) = (cfg.frames, cfg.image_size, cfg.map_size());
    let mut tensors = vec![
        ("input.clips".to_string(), vec![1, nf, 3, h, h], batch.frames.clone()),
        ("input.mask".to_string(), vec![1, nf, s, s], batch.mask.clone()),
    ];
    let mut t = Tape::new(gpu);
    t.grad_enabled = false;
    let (out, _) = model.forward(&mut t, batch, false)?;
    let get = |v: &Var| t.value(v).download(gpu);
    tensors.push(("out.d_single".into(), vec![1, nf, 1, s, s], get(&out.d_single)?));
    for (l, o) in out.off.iter().enumerate() {
        // OFF outputs are [B * (Nf-1), C, S, S], clip-major: with B = 1 that is [1, T, C, S, S]
        let shape = t.value(o).shape().to_vec();
        tensors.push((format!("out.o{}", l + 1), [&[1][..], &shape].concat(), get(o)?));
    }
    // Per-step outputs [1, C, S, S] of one clip, stacked over the steps: [1, T, C, S, S]
    for (name, vars) in [("out.gru1", &out.gru1), ("out.d_multi", &out.d_multi), ("out.d_fusion", &out.d_fusion)] {
        if vars.is_empty() {
            continue;
        }
        let shape = t.value(&vars[0]).shape().to_vec();
        let data = vars.iter().map(get).collect::<Result<Vec<_>>>()?.concat();
        tensors.push((name.to_string(), [&[1, vars.len()][..], &shape[1..]].concat(), data));
    }
    if let Some(l) = &out.logits {
        tensors.push(("out.logits".into(), vec![1, 2], get(l)?));
        let p = softmax(gpu, t.value(l))?.download(gpu)?;
        tensors.push(("out.p_live".into(), vec![1], vec![p[1]]));
    }
    // The score through `FasTd::score`, the path `tdfas eval` and `infer` take (a second eval-mode
    // forward of one clip), so the dump checks that path too rather than recomputing eq. 18 here.
    let scored = model.score(gpu, batch)?;
    tensors.push(("eval.score".into(), vec![1], vec![scored.scores[0] as f32]));
    Ok(Dump { tensors })
}

/// Writes a dump as safetensors (atomically) with the model config in the metadata.
pub fn save(path: &Path, model: &FasTd, dump: &Dump, source: &str) -> Result<()> {
    let bytes: Vec<Vec<u8>> = dump.tensors.iter().map(|(_, _, d)| bytemuck::cast_slice(d).to_vec()).collect();
    let views: Vec<(String, TensorView)> = dump
        .tensors
        .iter()
        .zip(&bytes)
        .map(|((n, s, _), b)| Ok((n.clone(), TensorView::new(Dtype::F32, s.clone(), b)?)))
        .collect::<Result<_>>()?;
    let mut meta = HashMap::new();
    meta.insert("config".to_string(), model.cfg.to_json());
    meta.insert("format".to_string(), "tdfas-dump-1".to_string());
    meta.insert("source".to_string(), source.to_string());
    let data = safetensors::serialize(views, Some(meta)).map_err(|e| anyhow!("serialising the dump: {e}"))?;
    // temp files of killed dumps would stay forever
    if let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) {
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        crate::util::fs::clean_stale_tmp(dir, &[name], false);
    }
    write_atomic(path, &data)
}
