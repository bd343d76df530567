//! Reading checkpoints: safetensors with MODEL.md's parameter names and PyTorch layouts (f32),
//! the config, training progress and stored thresholds in the metadata, and a checksum over all
//! of it. Loading a model for inference, evaluation or dumps needs only this; writing
//! checkpoints (with the optimizer state) is training's (`train::checkpoint`).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use safetensors::tensor::Dtype;

use crate::gpu::Gpu;
use crate::model::fastd::FasTd;
use crate::model::Config;

/// Where training stands, stored in the metadata.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Progress {
    /// 1 or 2: the stage being trained; `step` steps of it are done
    pub stage: u8,
    pub step: usize,
    pub seed: u64,
    /// stage finished (the next resume starts the next stage)
    pub stage_done: bool,
    /// The checkpoint the run started from (`train --init`: its path and checksum); None for a
    /// random start. Kept through resumes, so a fine-tuned model says what it was tuned from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<String>,
}

/// The operating threshold stored with a model: fixed at the EER of the training side's dev
/// split (the protocol of the field), so `infer` can give a verdict and `eval --threshold-from`
/// can run the cross-dataset protocol.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Calibration {
    /// accept as live when score >= threshold
    pub threshold: f64,
    /// how it was fixed, e.g. "dev EER"
    pub method: String,
    /// the dataset root and protocol it was fixed on
    pub data: String,
    pub protocol: Option<String>,
    /// the dev split's EER at that threshold and its size (videos)
    pub dev_eer: f64,
    pub n_live: usize,
    pub n_attack: usize,
}

impl Calibration {
    /// Where it came from: "dev EER of runs/demo/data, protocol all".
    pub fn source(&self) -> String {
        let p = self.protocol.as_deref().map(|p| format!(", protocol {p}")).unwrap_or_default();
        format!("{} of {}{p}", self.method, self.data)
    }

    /// With the value: "0.1360 (dev EER of runs/demo/data, protocol all)".
    pub fn describe(&self) -> String {
        format!("{:.4} ({})", self.threshold, self.source())
    }

    /// The network told live from attack no better than chance on the dev split this threshold
    /// was fixed on (EER 50% or worse). A depth network that never left its all-zero start (a
    /// known end of stage 1 at some seeds: every depth map 0) scores every video 0, and its EER
    /// threshold 0 then calls every face live.
    pub fn is_chance(&self) -> bool {
        self.dev_eer >= 0.5
    }

    /// The warning for a chance-level calibration, naming the network (`what`).
    pub fn chance_warning(&self, what: &str) -> String {
        let all_live = if self.threshold <= 0.0 { "; at threshold 0 it calls every face live" } else { "" };
        format!(
            "{what} tells live from attack no better than chance on its dev split (EER {:.1}% at threshold {}){all_live}: its verdicts mean nothing",
            100.0 * self.dev_eer,
            self.describe()
        )
    }

    /// `chance_warning` when the calibration is at chance (`is_chance`), else None: what every
    /// verdict against this threshold carries.
    pub fn at_chance(&self, what: &str) -> Option<String> {
        self.is_chance().then(|| self.chance_warning(what))
    }
}

/// How warnings name the network that scores photos: the single-frame part of a multi-frame
/// model, or a single-frame model itself.
pub fn photo_network(config: &Config) -> &'static str {
    if config.variant().single_only {
        "its network"
    } else {
        "its single-frame network (photos)"
    }
}

/// Metadata key of the calibration (JSON).
pub const CALIBRATION_KEY: &str = "calibration";
/// Metadata key of the single-frame network's own calibration in a multi-frame checkpoint (what
/// photos are scored against).
pub const SINGLE_CALIBRATION_KEY: &str = "calibration_single_frame";

/// Metadata key of the tensors' checksum: a flipped bit in the data is reported, not loaded.
pub const CHECKSUM_KEY: &str = "fnv1a64";

/// FNV-1a (64 bit) over the metadata (but the checksum itself) and every tensor's name, shape
/// and bytes, in name order, as hex.
pub fn checksum<'a>(
    tensors: impl Iterator<Item = (&'a str, &'a [usize], &'a [u8])>,
    meta: &HashMap<String, String>,
) -> String {
    let mut sorted: Vec<_> = tensors.collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut h = crate::util::hash::Fnv1a::default();
    let mut eat = |bytes: &[u8]| h.eat(bytes);
    let entries: BTreeMap<_, _> = meta.iter().filter(|(k, _)| *k != CHECKSUM_KEY).collect();
    for (k, v) in entries {
        eat(k.as_bytes());
        eat(&[0]);
        eat(v.as_bytes());
        eat(&[0]);
    }
    for (name, shape, bytes) in sorted {
        eat(name.as_bytes());
        for d in shape {
            eat(&(*d as u64).to_le_bytes());
        }
        eat(bytes);
    }
    format!("{:016x}", h.finish())
}

/// A checkpoint read and validated: tensors by name, config, progress.
pub struct Loaded {
    pub config: Config,
    pub progress: Option<Progress>,
    pub calibration: Option<Calibration>,
    /// the single-frame network's own threshold (multi-frame checkpoints)
    pub calibration_single: Option<Calibration>,
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    /// The stored checksum (checked on reading), which names these exact contents.
    pub checksum: Option<String>,
}

impl Loaded {
    /// The threshold of the single-frame network: its own in a multi-frame checkpoint, the
    /// checkpoint's in a Model 1 checkpoint.
    pub fn single_frame_calibration(&self) -> Option<&Calibration> {
        if self.config.variant().single_only {
            self.calibration.as_ref()
        } else {
            self.calibration_single.as_ref()
        }
    }
}

/// Writes to `out` a copy of the checkpoint `path` whose stored threshold is `calibration`, and
/// its single-frame network's (photos) `single` where given (tensors, config and progress
/// unchanged; the checksum recomputed).
pub fn write_recalibrated(
    path: &Path,
    calibration: &Calibration,
    single: Option<&Calibration>,
    out: &Path,
) -> Result<()> {
    for c in std::iter::once(calibration).chain(single) {
        check_threshold(c.threshold).with_context(|| format!("threshold {}", c.threshold))?;
    }
    let bytes = crate::util::fs::read_regular(path, "checkpoint", MAX_CHECKPOINT_BYTES)?;
    parse(&bytes).with_context(|| format!("checkpoint {} is not usable", path.display()))?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let mut metadata = meta.metadata().clone().unwrap_or_default();
    metadata.insert(CALIBRATION_KEY.to_string(), serde_json::to_string(calibration)?);
    if let Some(s) = single {
        metadata.insert(SINGLE_CALIBRATION_KEY.to_string(), serde_json::to_string(s)?);
    }
    let views = st.tensors();
    let sum = checksum(views.iter().map(|(n, v)| (n.as_str(), v.shape(), v.data())), &metadata);
    metadata.insert(CHECKSUM_KEY.to_string(), sum);
    let data = safetensors::serialize(views, Some(metadata)).map_err(|e| anyhow!("serialising checkpoint: {e}"))?;
    crate::util::fs::write_atomic(out, &data)
}

/// Whether `path` is a tdfas checkpoint (by its metadata's format).
pub fn is_checkpoint(path: &Path) -> bool {
    crate::util::outputs::safetensors_format(path, "tdfas-checkpoint")
}

/// Largest checkpoint read: the paper model with its optimizer state is about 100 MB.
pub const MAX_CHECKPOINT_BYTES: u64 = 4 << 30;

/// A threshold is a point on the score's scale: `score = beta * p_live + (1 - beta) * depth`
/// with `p_live` and the depth labels in 0..1. One outside 0..1 (or not finite) makes every
/// input live or every input an attack.
pub fn check_threshold(t: f64) -> Result<()> {
    if !t.is_finite() {
        bail!("not a finite number");
    }
    if !(0.0..=1.0).contains(&t) {
        bail!("outside the score's range 0..1 (every input would be {})", if t < 0.0 { "live" } else { "an attack" });
    }
    Ok(())
}

/// Why the model of `other` is not the model of `this` (another preset, variant or weights),
/// or None when they are the same model.
pub fn other_model(this: &Loaded, other: &Loaded) -> Option<String> {
    if this.config.to_json() != other.config.to_json() {
        let (a, b) = (&this.config, &other.config);
        return Some(format!(
            "another model ({} preset, variant {}, {} px; the evaluated one: {} preset, variant {}, {} px)",
            b.name, b.variant, b.image_size, a.name, a.variant, a.image_size
        ));
    }
    let weights = |l: &Loaded| -> Vec<(String, Vec<f32>)> {
        l.tensors.iter().filter(|(n, _)| !n.starts_with("optim.")).map(|(n, (_, v))| (n.clone(), v.clone())).collect()
    };
    if weights(this) != weights(other) {
        return Some("another model (other weights)".into());
    }
    None
}

/// Reads and checks a checkpoint file; every problem is reported with the file's name.
pub fn read(path: &Path) -> Result<Loaded> {
    let bytes = crate::util::fs::read_regular(path, "checkpoint", MAX_CHECKPOINT_BYTES)?;
    parse(&bytes).with_context(|| format!("checkpoint {} is not usable", path.display()))
}

/// Parses checkpoint bytes (the fuzzed entry point): never panics, never allocates from an
/// untrusted length (safetensors checks the header length against the buffer first).
pub fn parse(bytes: &[u8]) -> Result<Loaded> {
    if bytes.len() < 8 {
        bail!("file is {} bytes, too short for a safetensors header", bytes.len());
    }
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap());
    if header_len > (bytes.len() as u64).saturating_sub(8) {
        bail!("header length {header_len} exceeds the file size {} (truncated or corrupt file)", bytes.len());
    }
    let (_, meta) =
        safetensors::SafeTensors::read_metadata(bytes).map_err(|e| anyhow!("corrupt safetensors header: {e}"))?;
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| anyhow!("corrupt safetensors data: {e}"))?;
    let metadata = meta.metadata().clone().unwrap_or_default();
    let config_json =
        metadata.get("config").ok_or_else(|| anyhow!("no model config in the metadata (not a tdfas checkpoint?)"))?;
    let config = Config::from_json(config_json).context("the config in the metadata")?;
    let progress = match metadata.get("progress") {
        Some(p) => {
            let progress: Progress = serde_json::from_str(p).map_err(|e| anyhow!("progress metadata: {e}"))?;
            // a stage the trainer does not have would resume as "finished"
            if !(1..=2).contains(&progress.stage) {
                bail!("progress metadata: stage {} (training has stages 1 and 2)", progress.stage);
            }
            Some(progress)
        }
        None => None,
    };
    let calibration = read_calibration(&metadata, CALIBRATION_KEY)?;
    let calibration_single = read_calibration(&metadata, SINGLE_CALIBRATION_KEY)?;
    let views = st.tensors();
    if let Some(want) = metadata.get(CHECKSUM_KEY) {
        let got = checksum(views.iter().map(|(n, v)| (n.as_str(), v.shape(), v.data())), &metadata);
        if &got != want {
            bail!("checksum mismatch (stored {want}, data gives {got}): the file is corrupt");
        }
    }
    let mut tensors = BTreeMap::new();
    for (name, view) in views {
        if view.dtype() != Dtype::F32 {
            bail!("tensor {name} has dtype {:?}; tdfas checkpoints are F32", view.dtype());
        }
        let values: Vec<f32> =
            view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            bail!("tensor {name} holds a non-finite value ({}) at element {i}", values[i]);
        }
        tensors.insert(name, (view.shape().to_vec(), values));
    }
    let checksum = metadata.get(CHECKSUM_KEY).cloned();
    Ok(Loaded { config, progress, calibration, calibration_single, tensors, checksum })
}

/// A calibration in the metadata under `key`, checked: a threshold inside the score's range,
/// its strings escaped for printing.
fn read_calibration(metadata: &HashMap<String, String>, key: &str) -> Result<Option<Calibration>> {
    let Some(c) = metadata.get(key) else { return Ok(None) };
    let c: Calibration = serde_json::from_str(c).map_err(|e| anyhow!("{key} metadata: {e}"))?;
    check_threshold(c.threshold).with_context(|| format!("{key} metadata: threshold {}", c.threshold))?;
    // strings from a file are shown, never obeyed, by a terminal
    let shown = crate::util::text::shown;
    Ok(Some(Calibration {
        method: shown(&c.method),
        data: shown(&c.data),
        protocol: c.protocol.as_deref().map(shown),
        ..c
    }))
}

/// Loads parameters into a model built from the checkpoint's config, checking that the names,
/// shapes and dtypes match exactly; lists every mismatch at once.
pub fn load_model(gpu: &Gpu, path: &Path) -> Result<(FasTd, Loaded)> {
    let loaded = read(path)?;
    let mut model = FasTd::new(gpu, loaded.config.clone(), 0)?;
    apply(gpu, &mut model, &loaded).with_context(|| format!("checkpoint {}", path.display()))?;
    Ok((model, loaded))
}

pub fn apply(gpu: &Gpu, model: &mut FasTd, loaded: &Loaded) -> Result<()> {
    let mut problems = Vec::new();
    for p in &model.params.params {
        match loaded.tensors.get(&p.name) {
            None => problems.push(format!("missing tensor {} {:?}", p.name, p.value.shape())),
            Some((shape, _)) if shape.as_slice() != p.value.shape() => {
                problems.push(format!("tensor {} has shape {:?}, the model needs {:?}", p.name, shape, p.value.shape()))
            }
            Some(_) => {}
        }
    }
    for name in loaded.tensors.keys() {
        if !name.starts_with("optim.") && !model.params.contains(name) {
            problems.push(format!("unexpected tensor {name} (not a parameter of variant {})", model.cfg.variant));
        }
    }
    if !problems.is_empty() {
        bail!("{} problem(s): {}", problems.len(), problems.join("; "));
    }
    let names: Vec<String> = model.params.names().map(String::from).collect();
    for name in names {
        model.params.set(gpu, &name, &loaded.tensors[&name].1)?;
    }
    Ok(())
}
