//! `tdfas demo`: the whole job on the built-in synthetic benchmark. Render (or reuse) the data,
//! train the full model (both stages), take its stage-1 network as the single-frame baseline
//! (Model 1: the same network the paper's Model 1 is), evaluate both and write the report.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};

use crate::data::synth::{self, SynthOptions};
use crate::data::DataSource;
use crate::eval::report::{self, ModelReport};
use crate::eval::run::{evaluate_model, evaluate_model_with, FixedThreshold, GRID_PER_CLASS};
use crate::gpu::Gpu;
use crate::model::{Config, Stage};
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
    /// trained on domain A, tested on domain B (empty without domains)
    pub cross_models: Vec<ModelReport>,
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
    let writes: Vec<&str> = synth::WRITES.iter().copied().chain([".complete.json"]).collect();
    crate::train::outdir::fresh_owned_dir(dir, "tdfas demo", &writes)?;
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
    // On a CPU adapter: `cpu` (64 px) for the demo, `tiny` (32 px) for its quick smoke setting.
    let preset = opts.preset.clone().unwrap_or_else(|| match (gpu.is_cpu(), opts.quick) {
        (true, true) => "tiny".into(),
        (true, false) => "cpu".into(),
        (false, _) => "paper".into(),
    });
    let mut cfg = match &opts.config {
        Some(path) => Config::from_file(path)?,
        None => Config::preset(&preset)?,
    };
    eprintln!(
        "adapter: {}\npreset: {} ({}x{} input, {} frames per clip)",
        gpu.describe(),
        match &opts.config {
            Some(path) => format!("{} (config {})", cfg.name, path.display()),
            None => preset.clone(),
        },
        cfg.image_size,
        cfg.image_size,
        cfg.frames
    );
    let mut synth_opts = SynthOptions::preset(if preset == "paper" { "default" } else { "demo" }, opts.seed)?;
    if opts.quick {
        synth_opts.identities = 6;
        synth_opts.split = [2, 2, 2];
        synth_opts.videos_per_class = 1;
        // a small domain B test split, so the cross-domain table is exercised too
        synth_opts.domain_b_split = [0, 0, 2];
        synth_opts.cross_videos_per_class = 1;
        cfg.stage1.steps = 4;
        cfg.stage2.steps = 3;
    }
    let data = opts.out.join("data");
    ensure_benchmark(&data, &synth_opts, opts.progress)?;
    // Train on domain A; test in-domain on A and cross-domain on B with A's dev threshold (the
    // paper's table 6 in miniature). A benchmark without domains trains and tests on "all".
    let cross = data.join("protocols").join(DOMAIN_A).is_dir() && data.join("protocols").join(DOMAIN_B).is_dir();
    let train_protocol = if cross { DOMAIN_A } else { "all" };

    // the synthetic frames carry no boxes: faces are found by the detector, as on real video
    let faces = crate::data::face::FaceSettings::new(true);
    let source = |protocol| DataSource { faces: faces.clone(), ..DataSource::new(&data, Some(protocol)) };
    let run_dir = opts.out.join("model4");
    let summary = train(
        gpu,
        &TrainOptions {
            data: data.clone(),
            out: run_dir.clone(),
            config: cfg.clone(),
            stages: vec![Stage::Single, Stage::Multi],
            resume: false,
            seed: opts.seed,
            protocol: Some(train_protocol.into()),
            checkpoint_every: 50,
            progress: opts.progress,
            detect_anomaly: false,
            augment: true,
            stop_after: None,
            // replaces only the files of an earlier run, never others kept in the folder
            overwrite: true,
            allow_outside_data: false,
            faces: faces.clone(),
            init: None,
        },
    )?;
    let (model4, loaded4) = crate::model::checkpoint::load_model(gpu, &run_dir.join("model.safetensors"))?;
    // stage1.safetensors is the single-frame network as a Model 1 checkpoint with its own threshold
    let (model1, loaded1) = crate::model::checkpoint::load_model(gpu, &run_dir.join("stage1.safetensors"))?;

    eprintln!("evaluating on the test split of {train_protocol} (threshold fixed at its dev EER)");
    let in_domain = source(train_protocol);
    let (r1, _) = evaluate_model(gpu, &model1, "Model 1 (single-frame)", &in_domain, opts.progress)?;
    let (r4, grid) = evaluate_model(gpu, &model4, "Model 4 (FAS-TD)", &in_domain, opts.progress)?;
    let models = vec![r1, r4];
    let report_dir = opts.out.join("report");
    let base = report::Provenance {
        checkpoint: format!(
            "Model 4: {}; Model 1: {}",
            run_dir.join("model.safetensors").display(),
            run_dir.join("stage1.safetensors").display()
        ),
        adapter: gpu.describe(),
        ..checkpoint::provenance(&loaded4, &run_dir.join("model.safetensors"))
    };
    let prov = report::Provenance {
        evaluation_data: format!("{} (test split)", data.display()),
        protocol: train_protocol.into(),
        threshold_source: format!("each model's EER threshold on the dev split of {train_protocol}"),
        ..base.clone()
    };
    let title = format!("tdfas demo ({preset} preset, synthetic benchmark)");
    report::write_report_with(&report_dir, &title, &models, &grid, &prov)?;
    let rows: Vec<(String, _)> = models.iter().map(|m| (m.name.clone(), m.metrics.clone())).collect();
    let mut table = format!("In-domain: train, dev and test of {train_protocol}\n{}", report::paper_table(&rows));
    let mut cross_models = vec![];
    if cross {
        eprintln!("evaluating cross-domain on {DOMAIN_B}'s test split (threshold fixed on {DOMAIN_A}'s dev split)");
        let fixed = |c: Option<&crate::model::checkpoint::Calibration>| -> Result<FixedThreshold> {
            let c = c.context("the model stores no threshold (the dev split of domain A gave none)")?;
            Ok(FixedThreshold { value: c.threshold, source: c.source() })
        };
        let t1 = fixed(loaded1.calibration.as_ref())?;
        let t4 = fixed(summary.calibration.as_ref())?;
        let (c1, _) = evaluate_model_with(
            gpu,
            &model1,
            "Model 1 (single-frame)",
            &source(DOMAIN_B),
            Some(&t1),
            GRID_PER_CLASS,
            opts.progress,
        )?;
        let (c4, cgrid) = evaluate_model_with(
            gpu,
            &model4,
            "Model 4 (FAS-TD)",
            &source(DOMAIN_B),
            Some(&t4),
            GRID_PER_CLASS,
            opts.progress,
        )?;
        cross_models = vec![c1, c4];
        let prov = report::Provenance {
            evaluation_data: format!("{} (test split)", data.display()),
            protocol: DOMAIN_B.into(),
            threshold_source: format!("Model 4: {}; Model 1: {}", t4.source, t1.source),
            ..base.clone()
        };
        report::write_report_with(
            &report_dir.join("cross"),
            &format!("tdfas demo cross-domain ({DOMAIN_A} -> {DOMAIN_B}, threshold from {DOMAIN_A}'s dev split)"),
            &cross_models,
            &cgrid,
            &prov,
        )?;
        let rows: Vec<(String, _)> = cross_models.iter().map(|m| (m.name.clone(), m.metrics.clone())).collect();
        table.push_str(&format!(
            "\nCross-domain: trained on {DOMAIN_A}, tested on {DOMAIN_B} at {DOMAIN_A}'s dev-EER threshold \
             (HTER is the paper's cross-dataset metric)\n{}",
            report::paper_table(&rows)
        ));
    }
    faces.warn_full_frame_clips();
    Ok(DemoResult { table, report_dir, models, cross_models, seconds: started.elapsed().as_secs_f64() })
}

/// The benchmark's two disjoint domains (identities, photos, cameras, attack media).
pub const DOMAIN_A: &str = "domain_A";
pub const DOMAIN_B: &str = "domain_B";
