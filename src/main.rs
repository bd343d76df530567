//! The `tdfas` command line.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use tdfas::model::Config;
use tdfas::util::outputs;
use tdfas::util::text::shown_text;

#[derive(Parser)]
#[command(name = "tdfas", version, about = "Multi-frame face anti-spoofing (FAS-TD) on any GPU, with wgpu")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the adapter, backend, driver, features and limits tdfas will use.
    Info,
    /// Render the synthetic live/print/replay benchmark.
    Synth {
        #[arg(long)]
        out: PathBuf,
        /// small (the CPU demo's) or default
        #[arg(long, default_value = "small")]
        preset: String,
        #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_parser = parse_seed)]
        seed: u64,
        /// also write a contact sheet PNG of every class (frames, depth labels, masks)
        #[arg(long)]
        preview: Option<PathBuf>,
    },
    /// Train the model (stage 1, stage 2 or both) on a dataset.
    Train {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// paper or tiny (default: tiny on a CPU adapter, paper on a GPU; with --resume: the run's)
        #[arg(long)]
        preset: Option<String>,
        /// a TOML config file instead of a preset
        #[arg(long, conflicts_with = "preset")]
        config: Option<PathBuf>,
        /// ablation variant: 1, 1*, 2, 2*, 3, 3*, 4, 4*
        #[arg(long)]
        variant: Option<String>,
        /// 1, 2 or both
        #[arg(long, default_value = "both")]
        stage: String,
        /// continue the run in --out from its checkpoint (more --steps train a finished run longer)
        #[arg(long, conflicts_with = "overwrite")]
        resume: bool,
        /// replace a run already in --out (only the files training writes are removed)
        #[arg(long)]
        overwrite: bool,
        /// default 0; with --resume: the run's
        #[arg(long, allow_negative_numbers = true, value_parser = parse_seed)]
        seed: Option<u64>,
        #[arg(long)]
        protocol: Option<String>,
        /// override the steps of each stage
        #[arg(long, allow_negative_numbers = true, value_parser = parse_steps)]
        steps: Option<usize>,
        /// read clips that a protocol list places outside --data (absolute paths, `..`, links)
        #[arg(long)]
        allow_outside_data: bool,
        #[arg(long)]
        lr1: Option<f64>,
        #[arg(long)]
        lr2: Option<f64>,
        #[arg(long)]
        batch1: Option<usize>,
        #[arg(long)]
        batch2: Option<usize>,
        #[arg(long, default_value_t = 50)]
        checkpoint_every: usize,
        /// read back every op's output and name the first that is not finite (slow)
        #[arg(long)]
        detect_anomaly: bool,
        /// training augmentation: random crop scale and flip (labels flipped with the frames),
        /// photometric changes; seeded per step, so resuming gives the same batches
        #[arg(long)]
        augment: bool,
        /// the frames are face crops already: no face detection
        #[arg(long)]
        no_detect: bool,
        /// stop after this many steps, as if killed (testing resume)
        #[arg(long, hide = true)]
        stop_after: Option<usize>,
    },
    /// Evaluate a checkpoint: APCER, BPCER, ACER, HTER, EER, AUC with the dev-EER threshold.
    Eval {
        #[arg(long)]
        checkpoint: PathBuf,
        #[arg(long)]
        data: PathBuf,
        /// a protocol, a comma-separated list, or one with numbered folds (OULU-NPU 3 and 4):
        /// several are evaluated one by one and summarised as mean ± std
        #[arg(long)]
        protocol: Option<String>,
        #[arg(long)]
        json: Option<PathBuf>,
        #[arg(long)]
        report: Option<PathBuf>,
        /// a fixed threshold (0..1) instead of the dev split's EER threshold
        #[arg(long, conflicts_with = "threshold_from", allow_negative_numbers = true)]
        threshold: Option<f64>,
        /// the cross-dataset protocol: the threshold stored in this checkpoint (fixed on its
        /// training data's dev split) instead of this dataset's dev split
        #[arg(long)]
        threshold_from: Option<PathBuf>,
        /// the frames are face crops already: no face detection
        #[arg(long)]
        no_detect: bool,
        /// depth-grid rows per class in the report: this many worst-scored and this many typical
        #[arg(long, default_value_t = tdfas::eval::run::GRID_PER_CLASS)]
        grid: usize,
        /// read clips that a protocol list places outside --data (absolute paths, `..`, links)
        #[arg(long)]
        allow_outside_data: bool,
        /// replace a --json file or --report folder that tdfas did not write
        #[arg(long)]
        overwrite: bool,
    },
    /// Fix a checkpoint's stored threshold at an operating point on your own data's dev split
    /// (ISO/IEC 30107-3): write a copy that `infer` and `eval --threshold-from` use.
    Calibrate {
        #[arg(long)]
        checkpoint: PathBuf,
        /// the dataset whose dev split fixes the threshold
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        protocol: Option<String>,
        /// the lowest threshold with APCER at most this rate on dev (e.g. 0.05)
        #[arg(long, group = "rule")]
        apcer: Option<f64>,
        /// the highest threshold with BPCER at most this rate on dev (e.g. 0.01)
        #[arg(long, group = "rule")]
        bpcer: Option<f64>,
        /// the EER threshold of the dev split (what training stores)
        #[arg(long, group = "rule")]
        eer: bool,
        /// the calibrated copy of the checkpoint
        #[arg(long)]
        out: PathBuf,
        /// the frames are face crops already: no face detection
        #[arg(long)]
        no_detect: bool,
        /// read clips that a protocol list places outside --data (absolute paths, `..`, links)
        #[arg(long)]
        allow_outside_data: bool,
        /// replace an --out file that is not a tdfas checkpoint
        #[arg(long)]
        overwrite: bool,
    },
    /// Live or attack: score videos or folders of frames (whole scenes or face crops) with a
    /// checkpoint and its stored threshold.
    Infer {
        #[arg(long)]
        checkpoint: PathBuf,
        /// accept as live when score >= this, 0..1 (default: the threshold stored in the checkpoint)
        #[arg(long, allow_negative_numbers = true)]
        threshold: Option<f64>,
        /// write one JSON object per input (JSON lines) here
        #[arg(long)]
        json: Option<PathBuf>,
        /// the inputs are face crops already: score whole frames, no face detection
        #[arg(long)]
        no_detect: bool,
        /// write the depth maps the score uses (D_fusion; D_single for Model 1) as PNG here
        #[arg(long)]
        depth_dir: Option<PathBuf>,
        /// replace a --json file or depth maps that tdfas did not write
        #[arg(long)]
        overwrite: bool,
        /// read the inputs as streams through FFmpeg (files, FIFOs; `-` is standard input and
        /// always a stream): each clip is scored as it arrives, one line per clip, a summary at
        /// the end or on Ctrl-C; memory holds one clip's frames
        #[arg(long)]
        stream: bool,
        /// also score a V4L2 camera as a stream (default /dev/video0)
        #[arg(long, num_args = 0..=1, default_missing_value = "/dev/video0")]
        camera: Option<PathBuf>,
        #[arg(required_unless_present = "camera")]
        inputs: Vec<PathBuf>,
    },
    /// Serve the browser page (WebGPU), its WebAssembly and a checkpoint on 127.0.0.1: camera,
    /// video file or photos scored in the browser (build the page first: tools/build_web.sh).
    Web {
        #[arg(long)]
        checkpoint: PathBuf,
        /// the port on 127.0.0.1 (0: any free one; the address is printed)
        #[arg(long, default_value_t = 8032)]
        port: u16,
        /// also serve this folder's files to the page (`?frames=files` scores its images, `?video=files/NAME` a video)
        #[arg(long)]
        files: Option<PathBuf>,
    },
    /// Write every intermediate (D_single, OFF, ConvGRU states, D_multi, D_fusion, logits, score) of
    /// one clip as safetensors, to cross-check a checkpoint against PyTorch (tools/compare_dump.py).
    Dump {
        #[arg(long)]
        checkpoint: PathBuf,
        /// a folder of frames (NNNN.png|jpg) or a video; its first clip is used. The face is found
        /// and cropped as `infer` does; with --no-detect the frames are taken as face crops
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// the frames are face crops already: no face detection
        #[arg(long)]
        no_detect: bool,
        /// replace an --out file that tdfas did not write
        #[arg(long)]
        overwrite: bool,
    },
    /// The whole job on the synthetic benchmark: render, train Model 4 and Model 1, evaluate, report.
    Demo {
        #[arg(long, default_value = "runs/demo")]
        out: PathBuf,
        #[arg(long)]
        preset: Option<String>,
        /// a TOML model config instead of a preset (see src/model/presets/)
        #[arg(long, conflicts_with = "preset")]
        config: Option<PathBuf>,
        /// a short setting (CI smoke test)
        #[arg(long)]
        quick: bool,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Benchmark every kernel family at the preset's shapes, clip inference and training steps.
    Bench {
        /// paper or tiny (default: tiny on a CPU adapter, paper on a GPU)
        #[arg(long)]
        preset: Option<String>,
        /// a TOML model config instead of a preset (see src/model/presets/)
        #[arg(long, conflicts_with = "preset")]
        config: Option<PathBuf>,
        /// write every number as JSON here
        #[arg(long)]
        json: Option<PathBuf>,
        /// replace a --json file that tdfas did not write
        #[arg(long)]
        overwrite: bool,
        /// tiny shapes, one repetition (CI smoke test)
        #[arg(long)]
        quick: bool,
        /// only the benchmarks whose name contains this
        #[arg(long)]
        filter: Option<String>,
    },
    /// Per-kernel time table (share, GFLOP/s, GB/s) of one training step of each stage and one inference.
    Profile {
        /// paper or tiny (default: tiny on a CPU adapter, paper on a GPU)
        #[arg(long)]
        preset: Option<String>,
        /// a TOML model config instead of a preset (see src/model/presets/)
        #[arg(long, conflicts_with = "preset")]
        config: Option<PathBuf>,
    },
}

fn main() {
    tdfas::util::scratch::clean_on_signals();
    if let Err(e) = run(Cli::parse()) {
        // names and metadata in messages come from outside: escape what a terminal would act on
        eprintln!("error: {}", shown_text(&format!("{e:#}")));
        tdfas::util::scratch::remove_all();
        std::process::exit(1);
    }
    tdfas::util::scratch::remove_all();
}

/// `--seed`: a whole number 0 ..= 2^64 - 1 (a negative one is parsed to say so).
fn parse_seed(s: &str) -> Result<u64, String> {
    s.parse::<u64>().map_err(|_| format!("{s:?} is not a seed: use a whole number from 0 to {}", u64::MAX))
}

/// `--steps`: a whole number (0 parses, and training says why it is refused).
fn parse_steps(s: &str) -> Result<usize, String> {
    s.parse::<usize>().map_err(|_| format!("{s:?} is not a step count: use a whole number of at least 1"))
}

/// A user's threshold: finite and inside the score's range.
fn check_threshold(t: f64) -> Result<f64> {
    tdfas::train::checkpoint::check_threshold(t).map_err(|e| anyhow::anyhow!("--threshold {t}: {e}"))?;
    Ok(t)
}

/// Checks an output file before any work: writable, not one of the command's inputs, and not a
/// file tdfas did not write (unless `overwrite`).
fn check_output_file(
    flag: &str,
    out: &Path,
    inputs: &[&Path],
    ours: impl Fn(&Path) -> bool,
    overwrite: bool,
) -> Result<()> {
    outputs::refuse_inputs(flag, out, inputs, false)?;
    outputs::refuse_foreign(flag, out, ours, overwrite)?;
    tdfas::train::checkpoint::check_writable(out)
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Info => info(),
        Command::Synth { out, preset, seed, preview } => {
            if let Some(p) = &preview {
                outputs::refuse_foreign("--preview", p, outputs::png_by_tdfas, false)?;
                tdfas::train::checkpoint::check_writable(p)?;
            }
            let opts = tdfas::data::synth::SynthOptions::preset(&preset, seed)?;
            // clears only an earlier `tdfas synth` output: stale clips would stay in the dataset
            tdfas::train::outdir::fresh_owned_dir(&out, "tdfas synth", &["synth.json"])?;
            let s = tdfas::data::synth::generate(&out, &opts, true)?;
            println!(
                "{} videos, {} frames, {:.1} MB in {:.1} s ({:.2} ms/frame) -> {}",
                s.videos,
                s.frames,
                s.bytes as f64 / 1e6,
                s.seconds,
                s.ms_per_frame,
                out.display()
            );
            if let Some(p) = preview {
                tdfas::data::synth::preview(&out, &p)?;
                println!("preview: {}", p.display());
            }
            Ok(())
        }
        Command::Train {
            data,
            out,
            preset,
            config,
            variant,
            stage,
            resume,
            overwrite,
            seed,
            protocol,
            steps,
            lr1,
            lr2,
            batch1,
            batch2,
            checkpoint_every,
            detect_anomaly,
            augment,
            no_detect,
            stop_after,
            allow_outside_data,
        } => {
            // the output folder is checked before the data is read or a GPU opened
            if let Ok(m) = std::fs::metadata(&out) {
                if !m.is_dir() {
                    bail!("--out {}: {} is there; training needs a folder", out.display(), tdfas::util::fs::kind(&m));
                }
            }
            let mut inputs: Vec<&Path> = vec![&data];
            inputs.extend(config.as_deref());
            outputs::refuse_inputs("--out", &out, &inputs, true)?;
            tdfas::data::face::set_detection(!no_detect);
            let gpu = tdfas::Gpu::new()?;
            // A resumed run starts from its own config and seed; flags given are checked against them.
            let ckpt = tdfas::train::trainer::checkpoint_path(&out);
            let resumed = if resume && ckpt.exists() { Some(tdfas::train::checkpoint::read(&ckpt)?) } else { None };
            let mut cfg = match (config, preset, &resumed) {
                (Some(path), _, _) => Config::from_file(&path)?,
                (None, Some(p), _) => Config::preset(&p)?,
                (None, None, Some(l)) => l.config.clone(),
                (None, None, None) => Config::preset(if gpu.is_cpu() { "tiny" } else { "paper" })?,
            };
            let seed = seed.or(resumed.and_then(|l| l.progress).map(|p| p.seed)).unwrap_or(0);
            if let Some(v) = variant {
                cfg.variant = v;
            }
            if let Some(s) = steps {
                cfg.stage1.steps = s;
                cfg.stage2.steps = s;
            }
            if let Some(x) = lr1 {
                cfg.stage1.lr = x;
            }
            if let Some(x) = lr2 {
                cfg.stage2.lr = x;
            }
            if let Some(x) = batch1 {
                cfg.stage1.batch = x;
            }
            if let Some(x) = batch2 {
                cfg.stage2.batch = x;
            }
            cfg.validate()?;
            let stages = match stage.as_str() {
                "1" => vec![1],
                "2" => vec![2],
                "both" => vec![1, 2],
                other => bail!("--stage {other:?}: use 1, 2 or both"),
            };
            eprintln!("adapter: {}", gpu.describe());
            let summary = tdfas::train::trainer::train(
                &gpu,
                &tdfas::train::trainer::TrainOptions {
                    data,
                    out: out.clone(),
                    config: cfg,
                    stages,
                    resume,
                    seed,
                    protocol,
                    checkpoint_every,
                    progress: true,
                    detect_anomaly,
                    augment,
                    stop_after,
                    overwrite,
                    allow_outside_data,
                },
            )?;
            for (stage, first, last) in &summary.stages {
                let fmt =
                    |l: &Vec<(&str, f32)>| l.iter().map(|(n, v)| format!("{n} {v:.4}")).collect::<Vec<_>>().join(", ");
                println!("stage {stage}: first step {}; last step {}", fmt(first), fmt(last));
            }
            match &summary.calibration {
                Some(c) => println!("threshold: {}", c.describe()),
                None => println!("threshold: none stored (no usable dev split); infer needs --threshold"),
            }
            tdfas::data::face::warn_full_frame_clips();
            println!("model: {}", out.join("model.safetensors").display());
            Ok(())
        }
        Command::Eval {
            checkpoint,
            data,
            protocol,
            json,
            report,
            threshold,
            threshold_from,
            no_detect,
            grid,
            allow_outside_data,
            overwrite,
        } => {
            // every output is checked before the evaluation, not after it
            let mut inputs: Vec<&Path> = vec![&checkpoint, &data];
            inputs.extend(threshold_from.as_deref());
            if let Some(j) = &json {
                check_output_file("--json", j, &inputs, tdfas::eval::run::is_eval_json, overwrite)?;
            }
            if let Some(dir) = &report {
                outputs::refuse_inputs("--report", dir, &inputs, true)?;
                tdfas::eval::report::check_report_dir(dir, overwrite)?;
            }
            let threshold = threshold.map(check_threshold).transpose()?;
            tdfas::data::face::set_detection(!no_detect);
            let gpu = tdfas::Gpu::new()?;
            let (model, loaded) = tdfas::train::checkpoint::load_model(&gpu, &checkpoint)?;
            let fixed = match (threshold, threshold_from) {
                (Some(t), _) => Some(tdfas::eval::run::FixedThreshold { value: t, source: "--threshold".into() }),
                (None, Some(from)) => {
                    let other = tdfas::train::checkpoint::read(&from)?;
                    let c = other.calibration.as_ref().ok_or_else(|| {
                        anyhow::anyhow!(
                            "{}: no threshold stored (trained before tdfas stored one?); use --threshold",
                            from.display()
                        )
                    })?;
                    let mut source = format!("{}, stored in {}", c.source(), from.display());
                    // a threshold is a point on one model's score scale: another model's is a guess
                    if let Some(why) = tdfas::train::checkpoint::other_model(&loaded, &other) {
                        eprintln!(
                            "warning: --threshold-from {} holds {why}: its threshold was fixed on other scores \
                             than those of --checkpoint {}",
                            tdfas::util::text::shown_path(&from),
                            tdfas::util::text::shown_path(&checkpoint)
                        );
                        source.push_str(&format!(" ({why})"));
                    }
                    Some(tdfas::eval::run::FixedThreshold { value: c.threshold, source })
                }
                (None, None) => None,
            };
            let name = format!("Model {}", model.cfg.variant);
            let ev = tdfas::eval::run::evaluate_protocol_with(
                &gpu,
                &model,
                &name,
                &tdfas::data::DataSource {
                    root: &data,
                    protocol: protocol.as_deref(),
                    allow_outside: allow_outside_data,
                },
                fixed.as_ref(),
                grid,
                true,
            )?;
            println!("{}", shown_text(&ev.header(&checkpoint, &data, protocol.as_deref())));
            println!("{}", shown_text(&ev.table()));
            tdfas::data::face::warn_full_frame_clips();
            if let Some(j) = json {
                tdfas::util::fs::write_atomic(&j, ev.json()?.as_bytes())?;
                println!("metrics: {}", tdfas::util::text::shown_path(&j));
            }
            if let Some(dir) = report {
                let provenance = tdfas::eval::report::Provenance {
                    evaluation_data: format!("{} (test split)", data.display()),
                    protocol: protocol.clone().unwrap_or_else(|| "(none)".into()),
                    threshold_source: ev.threshold_source.clone(),
                    adapter: gpu.describe(),
                    ..loaded.provenance(&checkpoint)
                };
                let title = format!("{name} on {}", data.display());
                tdfas::eval::report::write_report_with(&dir, &title, &ev.runs, &ev.grid, &provenance)?;
                println!("report: {}/index.html", tdfas::util::text::shown_path(&dir));
            }
            Ok(())
        }
        Command::Infer { checkpoint, threshold, json, no_detect, depth_dir, overwrite, stream, camera, inputs } => {
            // output paths are checked before any input is read
            let mut all_inputs: Vec<&Path> = vec![&checkpoint];
            all_inputs.extend(inputs.iter().map(PathBuf::as_path));
            if let Some(d) = &depth_dir {
                if d.exists() && !d.is_dir() {
                    bail!("--depth-dir {}: a file is there, not a folder", d.display());
                }
                outputs::refuse_inputs("--depth-dir", d, &all_inputs, false)?;
            }
            if let Some(j) = &json {
                check_output_file("--json", j, &all_inputs, tdfas::infer::is_infer_json, overwrite)?;
            }
            let threshold = threshold.map(check_threshold).transpose()?;
            tdfas::data::face::set_detection(!no_detect);
            let gpu = tdfas::Gpu::new()?;
            let (model, loaded) = tdfas::train::checkpoint::load_model(&gpu, &checkpoint)?;
            let thr = match (threshold, &loaded.calibration) {
                (Some(t), _) => Some(tdfas::infer::Threshold { value: t, source: "--threshold".into() }),
                (None, Some(c)) => Some(tdfas::infer::Threshold { value: c.threshold, source: c.source() }),
                (None, None) => {
                    eprintln!(
                        "warning: {} stores no threshold (trained before tdfas stored one): scores without a verdict; pass --threshold",
                        tdfas::util::text::shown_path(&checkpoint)
                    );
                    None
                }
            };
            // photos: the single-frame network, against its own threshold
            let single = model.cfg.variant().single_only;
            let photo_model =
                if single { None } else { Some(tdfas::train::trainer::single_frame_model(&gpu, &model)?) };
            let photo_threshold = match (threshold, loaded.single_frame_calibration()) {
                (Some(t), _) => Some(tdfas::infer::Threshold { value: t, source: "--threshold".into() }),
                (None, Some(c)) => Some(tdfas::infer::Threshold { value: c.threshold, source: c.source() }),
                (None, None) => None,
            };
            let scorers = tdfas::infer::Scorers {
                clips: &model,
                clip_threshold: thr,
                photos: photo_model.as_ref().unwrap_or(&model),
                photo_threshold,
            };
            let depth = depth_dir.as_deref().map(|dir| tdfas::infer::DepthOutput { dir, overwrite });
            // streams: `-`, FIFOs, a camera, and every input with --stream
            use tdfas::data::stream::{is_fifo, Source};
            let is_stream = |p: &PathBuf| stream || p.as_os_str() == "-" || is_fifo(p);
            let (streamed, files): (Vec<PathBuf>, Vec<PathBuf>) = inputs.into_iter().partition(is_stream);
            let mut sources: Vec<Source> = streamed
                .into_iter()
                .map(|p| if p.as_os_str() == "-" { Source::Stdin } else { Source::File(p) })
                .collect();
            sources.extend(camera.map(Source::Camera));
            let mut results = tdfas::infer::infer(&gpu, &scorers, &files, depth);
            let mut lines = String::new();
            if !sources.is_empty() {
                tdfas::util::scratch::stop_gracefully();
            }
            for source in &sources {
                let mut each = |c: &tdfas::infer::StreamClip| -> Result<()> {
                    println!("{}", c.line());
                    lines.push_str(&serde_json::to_string(c)?);
                    lines.push('\n');
                    Ok(())
                };
                let stop = &tdfas::util::scratch::STOP;
                let r =
                    tdfas::infer::score_stream(&gpu, &model, scorers.clip_threshold.clone(), source, stop, &mut each);
                results.push(r);
            }
            for r in &results {
                println!("{}", r.line());
                for w in &r.warnings {
                    eprintln!("warning: {}: {}", tdfas::util::text::shown_path(&r.input), shown_text(w));
                }
                if let Some(e) = &r.error {
                    eprintln!("error: {}", shown_text(e));
                }
                lines.push_str(&serde_json::to_string(r)?);
                lines.push('\n');
            }
            if let Some(j) = json {
                tdfas::util::fs::write_atomic(&j, lines.as_bytes())?;
            }
            let failed = results.iter().filter(|r| r.error.is_some()).count();
            if failed > 0 {
                bail!("{failed} of {} input(s) could not be scored (see above)", results.len());
            }
            Ok(())
        }
        Command::Web { checkpoint, port, files } => {
            let site = tdfas::web::server::Site::new(&checkpoint, files.as_deref())?;
            tdfas::web::server::serve(site, port)
        }
        Command::Dump { checkpoint, input, out, no_detect, overwrite } => {
            check_output_file(
                "--out",
                &out,
                &[&checkpoint, &input],
                |p| outputs::safetensors_format(p, "tdfas-dump"),
                overwrite,
            )?;
            tdfas::data::face::set_detection(!no_detect);
            let gpu = tdfas::Gpu::new()?;
            let (model, _) = tdfas::train::checkpoint::load_model(&gpu, &checkpoint)?;
            let work = tdfas::util::scratch::ScratchDir::new("dump")?;
            let clips = tdfas::infer::input_clips(&model.cfg, &input, work.path())?;
            let batch = tdfas::model::fastd::HostBatch::from_clips(&model.cfg, &clips[..1])?;
            let dump = tdfas::dump::dump_clip(&gpu, &model, &batch)?;
            tdfas::dump::save(&out, &model, &dump, &format!("{} on {}", checkpoint.display(), input.display()))?;
            for (name, shape, _) in &dump.tensors {
                println!("{name:<14} {shape:?}");
            }
            println!("score {:.6}", dump.get("eval.score").unwrap().2[0]);
            println!(
                "dump: {} (compare: python tools/compare_dump.py --checkpoint {} --dump {})",
                tdfas::util::text::shown_path(&out),
                tdfas::util::text::shown_path(&checkpoint),
                tdfas::util::text::shown_path(&out)
            );
            Ok(())
        }
        Command::Calibrate {
            checkpoint,
            data,
            protocol,
            apcer,
            bpcer,
            eer,
            out,
            no_detect,
            allow_outside_data,
            overwrite,
        } => {
            check_output_file(
                "--out",
                &out,
                &[&checkpoint, &data],
                tdfas::train::checkpoint::is_checkpoint,
                overwrite,
            )?;
            let rule = match (apcer, bpcer, eer) {
                (Some(x), _, _) => tdfas::train::trainer::Operating::Apcer(x),
                (_, Some(x), _) => tdfas::train::trainer::Operating::Bpcer(x),
                (_, _, true) => tdfas::train::trainer::Operating::Eer,
                _ => bail!("say where to put the threshold: --apcer RATE, --bpcer RATE or --eer"),
            };
            tdfas::data::face::set_detection(!no_detect);
            let gpu = tdfas::Gpu::new()?;
            let (model, _) = tdfas::train::checkpoint::load_model(&gpu, &checkpoint)?;
            let source = tdfas::data::DataSource {
                root: &data,
                protocol: protocol.as_deref(),
                allow_outside: allow_outside_data,
            };
            let c = tdfas::train::trainer::calibrate_at(&gpu, &model, &source, rule, true)?;
            tdfas::train::checkpoint::write_recalibrated(&checkpoint, &c, &out)?;
            println!("threshold {}", shown_text(&c.describe()));
            println!("dev split: {} live / {} attack videos", c.n_live, c.n_attack);
            println!("model: {}", tdfas::util::text::shown_path(&out));
            Ok(())
        }
        Command::Bench { preset, config, json, overwrite, quick, filter } => {
            if let Some(j) = &json {
                let inputs: Vec<&Path> = config.iter().map(PathBuf::as_path).collect();
                check_output_file("--json", j, &inputs, tdfas::bench::is_bench_json, overwrite)?;
            }
            let gpu = tdfas::Gpu::new()?;
            if let (true, Some(p)) = (quick, &preset) {
                if p != "tiny" {
                    eprintln!("warning: --quick benchmarks the tiny preset's shapes; --preset {p} is ignored");
                }
            }
            let preset = preset.unwrap_or_else(|| if gpu.is_cpu() { "tiny" } else { "paper" }.into());
            let opts = tdfas::bench::BenchOptions { preset, config, quick, filter };
            let report = tdfas::bench::run(&gpu, &opts, true)?;
            println!("{}", report.table());
            if let Some(path) = json {
                tdfas::util::fs::write_atomic(&path, report.json()?.as_bytes())?;
                println!("json: {}", path.display());
            }
            Ok(())
        }
        Command::Profile { preset, config } => {
            let gpu = tdfas::Gpu::new()?;
            let cfg = match config {
                Some(path) => Config::from_file(&path)?,
                None => Config::preset(preset.as_deref().unwrap_or(if gpu.is_cpu() { "tiny" } else { "paper" }))?,
            };
            println!("{}", tdfas::bench::profile(&gpu, &cfg)?.table());
            Ok(())
        }
        Command::Demo { out, preset, config, quick, seed } => {
            let gpu = tdfas::Gpu::new()?;
            let r =
                tdfas::demo::run(&gpu, &tdfas::demo::DemoOptions { out, preset, config, quick, seed, progress: true })?;
            println!("\n{}", r.table);
            println!("report: {}/index.html (ROC, DET, score histograms, depth-map grid)", r.report_dir.display());
            println!("total time {:.1} s", r.seconds);
            Ok(())
        }
    }
}

fn info() -> Result<()> {
    let gpu = tdfas::Gpu::new()?;
    let i = &gpu.device.info;
    println!("adapter   {}", i.name);
    println!("backend   {:?}", i.backend);
    println!("type      {:?}", i.device_type);
    println!("driver    {} {}", i.driver, i.driver_info);
    println!("features  {:?}", gpu.device.features);
    let l = &gpu.device.limits;
    let source = match gpu.device.limits_source {
        "default" => "WebGPU's defaults (TDFAS_LIMITS=default)",
        _ => "the adapter's own (TDFAS_LIMITS=default requests WebGPU's defaults)",
    };
    println!("limits    {source}; work larger than one binding is split");
    println!(
        "          max storage binding {} MiB, max buffer {} MiB, workgroup storage {} KiB,",
        l.max_storage_buffer_binding_size >> 20,
        l.max_buffer_size >> 20,
        l.max_compute_workgroup_storage_size >> 10
    );
    println!(
        "          invocations/workgroup {}, workgroups/dim {}, storage buffers/stage {}, storage offset align {}",
        l.max_compute_invocations_per_workgroup,
        l.max_compute_workgroups_per_dimension,
        l.max_storage_buffers_per_shader_stage,
        l.min_storage_buffer_offset_alignment
    );
    let cache = tdfas::ops::tuning::cache_path().map_or("not cached".into(), |p| p.display().to_string());
    let conv = tdfas::ops::conv::settings(&gpu)?;
    println!(
        "conv      {} kernel, weight gradient {} (autotuned, TDFAS_CONV=blocked|tiled|rows|gemm|gemm8 and \
         TDFAS_WGRAD=reduce|rows|gemm|gemm8 override; cache {cache})",
        conv.kernel.get().name(),
        conv.wgrad.get().name()
    );
    // every candidate's probe time and check against the reference kernel
    if let Some(table) = tdfas::ops::tuning::table(&gpu) {
        print!("{table}");
    }
    Ok(())
}
