//! `tdfas demo`: the whole job on the built-in synthetic benchmark. Render (or reuse) the data,
//! train the full model (both stages), take its stage-1 network as the single-frame baseline
//! (Model 1: the same network the paper's Model 1 is), evaluate both and write the report.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};

use crate::data::synth::{self, SynthOptions};
use crate::eval::report::{self, ModelReport};
use crate::eval::run::evaluate_model;
use crate::gpu::Gpu;
use crate::model::fastd::FasTd;
use crate::model::Config;
use crate::train::checkpoint;
use crate::train::trainer::{train, TrainOptions};

pub struct DemoOptions {
    pub out: PathBuf,
    /// model preset; None = `tiny` on a CPU adapter, `paper` on a real GPU
    pub preset: Option<String>,
    /// a TOML model config instead of a preset
    pub config: Option<PathBuf>,
    /// a short setting for CI: a smaller benchmark and a few steps
    pub quick: bool,
    pub seed: u64,
    pub progress: bool,
}

pub struct DemoResult {
    pub table: String,
    pub report_dir: PathBuf,
    pub models: Vec<ModelReport>,
    pub seconds: f64,
}

/// Renders the benchmark into `dir` unless a complete one with the same options is there.
pub fn ensure_benchmark(dir: &Path, opts: &SynthOptions, progress: bool) -> Result<()> {
    let marker = dir.join(".complete.json");
    let wanted = serde_json::to_string(opts)?;
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str()) {
        eprintln!("reusing the synthetic benchmark in {}", dir.display());
        return Ok(());
    }
    // Only a folder tdfas wrote is cleared; one holding the user's files is refused.
    crate::train::outdir::fresh_owned_dir(dir, "tdfas demo", &[".complete.json"])?;
    eprintln!("rendering the synthetic benchmark into {}", dir.display());
    let s = synth::generate(dir, opts, progress)?;
    eprintln!(
        "  {} videos, {} frames, {:.1} MB in {:.1} s ({:.1} ms/frame)",
        s.videos,
        s.frames,
        s.bytes as f64 / 1e6,
        s.seconds,
        s.ms_per_frame
    );
    std::fs::write(&marker, wanted)?;
    Ok(())
}

pub fn run(gpu: &Gpu, opts: &DemoOptions) -> Result<DemoResult> {
    let started = Instant::now();
    let preset = opts.preset.clone().unwrap_or_else(|| if gpu.is_cpu() { "tiny".into() } else { "paper".into() });
    let mut cfg = match &opts.config {
        Some(path) => Config::from_file(path)?,
        None => Config::preset(&preset)?,
    };
    eprintln!(
        "adapter: {}\npreset: {preset} ({}x{} input, {} frames per clip)",
        gpu.describe(),
        cfg.image_size,
        cfg.image_size,
        cfg.frames
    );
    let mut synth_opts = SynthOptions::preset(if preset == "paper" { "default" } else { "small" }, opts.seed)?;
    if preset != "paper" {
        // 12 training identities overfit: twice the small preset's identities for the demo
        synth_opts.identities = 48;
        synth_opts.split = [24, 12, 12];
    }
    if opts.quick {
        synth_opts.identities = 6;
        synth_opts.split = [2, 2, 2];
        synth_opts.videos_per_class = 1;
        synth_opts.cross_videos_per_class = 0;
        cfg.stage1.steps = 4;
        cfg.stage2.steps = 3;
    }
    let data = opts.out.join("data");
    ensure_benchmark(&data, &synth_opts, opts.progress)?;

    let run_dir = opts.out.join("model4");
    train(
        gpu,
        &TrainOptions {
            data: data.clone(),
            out: run_dir.clone(),
            config: cfg.clone(),
            stages: vec![1, 2],
            resume: false,
            seed: opts.seed,
            protocol: Some("all".into()),
            checkpoint_every: 50,
            progress: opts.progress,
            detect_anomaly: false,
            augment: false,
            stop_after: None,
            // replaces only the files of an earlier run, never others kept in the folder
            overwrite: true,
        },
    )?;
    let (model4, _) = checkpoint::load_model(gpu, &run_dir.join("model.safetensors"))?;
    let model1 = single_frame_baseline(gpu, &run_dir.join("stage1.safetensors"))?;

    eprintln!("evaluating on the test split (threshold fixed at the dev EER)");
    let (r1, _) = evaluate_model(gpu, &model1, "Model 1 (single-frame)", &data, Some("all"), opts.progress)?;
    let (r4, grid) = evaluate_model(gpu, &model4, "Model 4 (FAS-TD)", &data, Some("all"), opts.progress)?;
    let models = vec![r1, r4];
    let report_dir = opts.out.join("report");
    report::write_report(&report_dir, &format!("tdfas demo ({preset} preset, synthetic benchmark)"), &models, &grid)?;
    let rows: Vec<(String, _)> = models.iter().map(|m| (m.name.clone(), m.metrics.clone())).collect();
    Ok(DemoResult { table: report::paper_table(&rows), report_dir, models, seconds: started.elapsed().as_secs_f64() })
}

/// Model 1: the single-frame network of a stage-1 checkpoint, scored on D_single alone.
pub fn single_frame_baseline(gpu: &Gpu, stage1: &Path) -> Result<FasTd> {
    let loaded = checkpoint::read(stage1)?;
    let mut cfg = loaded.config.clone();
    cfg.variant = "1".into();
    let mut model = FasTd::new(gpu, cfg, 0)?;
    let names: Vec<String> = model.params.names().map(String::from).collect();
    for name in names {
        let (_, values) =
            loaded.tensors.get(&name).with_context(|| format!("{}: no tensor {name}", stage1.display()))?;
        model.params.set(gpu, &name, values)?;
    }
    Ok(model)
}
