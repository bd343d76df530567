//! Writing checkpoints: the model's parameters, the config, stored thresholds, and the optimizer
//! state and progress so `--resume` continues exactly (reading them: `model::checkpoint`).
//! Written atomically (temporary file, fsync, rename): a file on disk is always whole.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use safetensors::tensor::{Dtype, TensorView};

use crate::gpu::Gpu;
use crate::model::checkpoint::{
    checksum, Calibration, Loaded, Progress, CALIBRATION_KEY, CHECKSUM_KEY, SINGLE_CALIBRATION_KEY,
};
use crate::model::fastd::FasTd;
use crate::train::adadelta::Adadelta;
use crate::train::average::{WeightAverage, AVERAGE_COUNT, AVERAGE_PREFIX};

pub const OPTIM_V: &str = "optim.square_avg.";
pub const OPTIM_U: &str = "optim.acc_delta.";

/// Writes `path` atomically: the model's parameters (and running stats), optimizer state if given.
pub fn save(gpu: &Gpu, path: &Path, model: &FasTd, optim: Option<&Adadelta>, progress: &Progress) -> Result<()> {
    save_calibrated(gpu, path, model, optim, progress, None)
}

/// `save` with a calibration in the metadata.
pub fn save_calibrated(
    gpu: &Gpu,
    path: &Path,
    model: &FasTd,
    optim: Option<&Adadelta>,
    progress: &Progress,
    calibration: Option<&Calibration>,
) -> Result<()> {
    save_with_calibrations(gpu, path, model, optim, progress, calibration, None)
}

/// `save_calibrated` with the single-frame network's own calibration too.
pub fn save_with_calibrations(
    gpu: &Gpu,
    path: &Path,
    model: &FasTd,
    optim: Option<&Adadelta>,
    progress: &Progress,
    calibration: Option<&Calibration>,
    single_frame: Option<&Calibration>,
) -> Result<()> {
    let mut data: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for p in &model.params.params {
        let values = p.value.download(gpu)?;
        // Never replace a good checkpoint with one that cannot be loaded back.
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            bail!(
                "parameter {} holds a non-finite value ({}) at element {i}; not writing {}",
                p.name,
                values[i],
                path.display()
            );
        }
        data.push((p.name.clone(), p.value.shape().to_vec(), bytemuck::cast_slice(&values).to_vec()));
    }
    if let Some(o) = optim {
        let v = o.v.download(gpu)?;
        let u = o.u.download(gpu)?;
        for (name, offset, n) in &o.layout.slots {
            let shape = model.params.get(name)?.shape().to_vec();
            data.push((
                format!("{OPTIM_V}{name}"),
                shape.clone(),
                bytemuck::cast_slice(&v[*offset..offset + n]).to_vec(),
            ));
            data.push((format!("{OPTIM_U}{name}"), shape, bytemuck::cast_slice(&u[*offset..offset + n]).to_vec()));
        }
        if let Some(a) = o.average.as_ref().filter(|a| a.count > 0) {
            for (name, mean) in &a.mean {
                let shape = model.params.get(name)?.shape().to_vec();
                data.push((format!("{AVERAGE_PREFIX}{name}"), shape, bytemuck::cast_slice(mean).to_vec()));
            }
            // the count as f32 is exact far beyond any run's number of averaged steps (2^24)
            data.push((AVERAGE_COUNT.into(), vec![1], bytemuck::cast_slice(&[a.count as f32]).to_vec()));
        }
    }
    let views: Vec<(String, TensorView)> = data
        .iter()
        .map(|(n, s, b)| Ok((n.clone(), TensorView::new(Dtype::F32, s.clone(), b)?)))
        .collect::<Result<_>>()?;
    let mut meta = HashMap::new();
    meta.insert("config".to_string(), model.cfg.to_json());
    meta.insert("progress".to_string(), serde_json::to_string(progress)?);
    meta.insert("format".to_string(), "tdfas-checkpoint-1".to_string());
    if let Some(c) = calibration {
        meta.insert(CALIBRATION_KEY.to_string(), serde_json::to_string(c)?);
    }
    if let Some(c) = single_frame {
        meta.insert(SINGLE_CALIBRATION_KEY.to_string(), serde_json::to_string(c)?);
    }
    let sum = checksum(data.iter().map(|(n, s, b)| (n.as_str(), s.as_slice(), b.as_slice())), &meta);
    meta.insert(CHECKSUM_KEY.to_string(), sum);
    let bytes = safetensors::serialize(views, Some(meta)).map_err(|e| anyhow!("serialising checkpoint: {e}"))?;
    crate::util::fs::write_atomic(path, &bytes)
}

/// Fails now, naming the file, when `path` could not be written later: its folder is created
/// if missing and a temporary file is made and removed there.
pub fn check_writable(path: &Path) -> Result<()> {
    if path.is_dir() {
        bail!("{} is a folder, not a file to write", path.display());
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot write {}: creating {}", path.display(), dir.display()))?;
    let probe = dir.join(format!(".tdfas-write-check.{}", std::process::id()));
    std::fs::File::create(&probe).with_context(|| format!("cannot write {} (folder not writable)", path.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Restores the optimizer state saved with a checkpoint into a fresh Adadelta.
pub fn apply_optimizer(gpu: &Gpu, optim: &mut Adadelta, loaded: &Loaded) -> Result<()> {
    let mut v = vec![0f32; optim.layout.len];
    let mut u = vec![0f32; optim.layout.len];
    for (name, offset, n) in &optim.layout.slots {
        for (prefix, dst) in [(OPTIM_V, &mut v), (OPTIM_U, &mut u)] {
            let (_, values) = loaded
                .tensors
                .get(&format!("{prefix}{name}"))
                .ok_or_else(|| anyhow!("optimizer state {prefix}{name} missing"))?;
            if values.len() != *n {
                bail!("optimizer state {prefix}{name} has {} values, the parameter {n}", values.len());
            }
            dst[*offset..offset + n].copy_from_slice(values);
        }
    }
    gpu.upload_into(&optim.v, &v);
    gpu.upload_into(&optim.u, &u);
    optim.average = match loaded.tensors.get(AVERAGE_COUNT) {
        None => None,
        Some((_, count)) => {
            let mut mean = BTreeMap::new();
            for (name, (_, values)) in loaded.tensors.range(AVERAGE_PREFIX.to_string()..) {
                let Some(param) = name.strip_prefix(AVERAGE_PREFIX) else { break };
                mean.insert(param.to_string(), values.clone());
            }
            Some(WeightAverage { count: count.first().copied().unwrap_or(0.0) as usize, mean })
        }
    };
    Ok(())
}

/// What a checkpoint says about itself for a report: its file, config, training progress and
/// the data its threshold was fixed on (the training dataset's dev split); version and date.
/// The caller adds the evaluation data, protocol, threshold source and adapter.
pub fn provenance(loaded: &Loaded, path: &Path) -> crate::eval::report::Provenance {
    let c = &loaded.config;
    let trained = loaded
        .progress
        .as_ref()
        .map(|p| {
            // (the starting checkpoint's name comes from the file: shown, never obeyed, by a terminal)
            let init = p.init.as_deref().map(|i| format!(", fine-tuned from {}", crate::util::text::shown(i)));
            format!(
                ", stage {} {} after {} steps, seed {}{}",
                p.stage,
                if p.stage_done { "done" } else { "stopped" },
                p.step,
                p.seed,
                init.unwrap_or_default()
            )
        })
        .unwrap_or_default();
    crate::eval::report::Provenance {
        checkpoint: path.display().to_string(),
        config: format!(
            "{} preset, variant {}, {} px, {} frames every {}{trained}",
            c.name, c.variant, c.image_size, c.frames, c.interval
        ),
        training_data: match &loaded.calibration {
            Some(cal) => format!(
                "{}{} (dev split: {} live / {} attack videos, EER {:.2} %)",
                cal.data,
                cal.protocol.as_deref().map(|p| format!(", protocol {p}")).unwrap_or_default(),
                cal.n_live,
                cal.n_attack,
                100.0 * cal.dev_eer
            ),
            None => String::new(),
        },
        ..crate::eval::report::Provenance::new()
    }
}

#[cfg(test)]
mod provenance_tests {
    use super::*;
    use crate::model::Config;

    #[test]
    fn provenance_from_a_checkpoint() {
        let loaded = Loaded {
            config: Config::preset("tiny").unwrap(),
            progress: None,
            calibration_single: None,
            calibration: Some(Calibration {
                threshold: 0.4,
                method: "dev EER".into(),
                data: "runs/a/data".into(),
                protocol: Some("domain_A".into()),
                dev_eer: 0.05,
                n_live: 3,
                n_attack: 6,
            }),
            tensors: Default::default(),
            checksum: None,
        };
        let p = provenance(&loaded, Path::new("runs/a/model.safetensors"));
        assert_eq!(p.checkpoint, "runs/a/model.safetensors");
        assert!(p.config.starts_with("tiny preset, variant"), "{}", p.config);
        assert_eq!(p.training_data, "runs/a/data, protocol domain_A (dev split: 3 live / 6 attack videos, EER 5.00 %)");
        assert!(p.version.starts_with("tdfas ") && p.date.ends_with('Z'));
    }
}
