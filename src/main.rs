//! The `tdfas` command line: one function per command. Flags that several commands share are
//! declared once (`ModelArgs`, `DataArgs`, `FaceArgs`, flattened into each command's flags);
//! config overrides live with the config (`model::config::Overrides`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use tdfas::data::face::FaceSettings;
use tdfas::data::DataSource;
use tdfas::model::checkpoint::{self, Loaded};
use tdfas::model::config::Overrides;
use tdfas::model::{Config, Stage};
use tdfas::util::outputs;
use tdfas::util::settings::Settings;
use tdfas::util::text::{shown_path, shown_text};

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
    Synth(SynthArgs),
    /// Train the model (stage 1, stage 2 or both) on a dataset.
    Train(TrainArgs),
    /// Evaluate a checkpoint: APCER, BPCER, ACER, HTER, EER, AUC with the dev-EER threshold.
    Eval(EvalArgs),
    /// Fix a checkpoint's stored threshold at an operating point on your own data's dev split
    /// (ISO/IEC 30107-3): write a copy that `infer` and `eval --threshold-from` use.
    Calibrate(CalibrateArgs),
    /// Live or attack: score videos or folders of frames (whole scenes or face crops) with a
    /// checkpoint and its stored threshold.
    Infer(InferArgs),
    /// Serve the browser page (WebGPU), its WebAssembly and a checkpoint on 127.0.0.1: camera,
    /// video file or photos scored in the browser (build the page first: tools/build_web.sh).
    Web(WebArgs),
    /// Write every intermediate (D_single, OFF, ConvGRU states, D_multi, D_fusion, logits, score) of
    /// one clip as safetensors, to cross-check a checkpoint against PyTorch (tools/compare_dump.py).
    Dump(DumpArgs),
    /// The whole job on the synthetic benchmark: render, train Model 4 and Model 1, evaluate, report.
    Demo(DemoArgs),
    /// Benchmark every kernel family at the preset's shapes, clip inference and training steps.
    Bench(BenchArgs),
    /// Per-kernel time table (share, GFLOP/s, GB/s) of one training step of each stage and one inference.
    Profile(ProfileArgs),
}

/// The model config: a preset or a TOML file.
#[derive(Args)]
struct ModelArgs {
    /// paper, cpu or tiny (default: tiny on a CPU adapter, paper on a GPU; train --resume: the
    /// run's; demo: cpu, or tiny with --quick, on a CPU adapter)
    #[arg(long)]
    preset: Option<String>,
    /// a TOML model config instead of a preset (see src/model/presets/)
    #[arg(long, conflicts_with = "preset")]
    config: Option<PathBuf>,
}

impl ModelArgs {
    /// The config file, else the preset, else `fallback`, else the adapter's default preset.
    fn config(&self, fallback: Option<&Config>, gpu: &tdfas::Gpu) -> Result<Config> {
        Config::chosen(self.config.as_deref(), self.preset.as_deref(), fallback, gpu.is_cpu())
    }
}

/// A dataset and how to read it.
#[derive(Args)]
struct DataArgs {
    #[arg(long)]
    data: PathBuf,
    /// a protocol of the dataset; eval also takes a comma-separated list, or one with numbered
    /// folds (OULU-NPU 3 and 4): several are evaluated one by one and summarised as mean ± std
    #[arg(long)]
    protocol: Option<String>,
    /// read clips that a protocol list places outside --data (absolute paths, `..`, links)
    #[arg(long)]
    allow_outside_data: bool,
}

impl DataArgs {
    fn source(&self, faces: &FaceSettings) -> DataSource<'_> {
        DataSource {
            root: &self.data,
            protocol: self.protocol.as_deref(),
            allow_outside: self.allow_outside_data,
            faces: faces.clone(),
        }
    }
}

/// Whether frames without boxes are searched for a face.
#[derive(Args)]
struct FaceArgs {
    /// the frames are face crops already: score whole frames, no face detection
    #[arg(long)]
    no_detect: bool,
}

impl FaceArgs {
    /// The command's face settings, built once and passed down.
    fn settings(&self) -> FaceSettings {
        FaceSettings::new(!self.no_detect)
    }
}

#[derive(Args)]
struct SynthArgs {
    #[arg(long)]
    out: PathBuf,
    /// small, demo (what `tdfas demo` renders on the CPU) or default
    #[arg(long, default_value = "small")]
    preset: String,
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_parser = parse_seed)]
    seed: u64,
    /// domain A's identities in train, dev and test, as TRAIN,DEV,TEST (default: the preset's)
    #[arg(long, value_parser = parse_split)]
    split: Option<[usize; 3]>,
    /// videos per class (live, print, replay) of each domain-A identity (default: the preset's)
    #[arg(long, value_parser = parse_videos)]
    videos_per_class: Option<usize>,
    /// also write a contact sheet PNG of every class (frames, depth labels, masks)
    #[arg(long)]
    preview: Option<PathBuf>,
}

/// Which stages `train` runs.
#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Stages {
    #[value(name = "1")]
    One,
    #[value(name = "2")]
    Two,
    Both,
}

#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    model: ModelArgs,
    /// ablation variant: 1, 1*, 2, 2*, 3, 3*, 4, 4*
    #[arg(long)]
    variant: Option<String>,
    #[arg(long, value_enum, default_value = "both")]
    stage: Stages,
    /// continue the run in --out from its checkpoint (more --steps train a finished run longer)
    #[arg(long, conflicts_with = "overwrite")]
    resume: bool,
    /// start a new run from this checkpoint's weights and running statistics instead of a
    /// random initialisation (fine-tuning: for example the demo's model, trained on the synthetic
    /// benchmark, on your own camera's videos); its config, a fresh optimizer. With --resume, a
    /// checkpoint in --out is continued and this only used when there is none yet
    #[arg(long, value_name = "CHECKPOINT", conflicts_with_all = ["preset", "config"])]
    init: Option<PathBuf>,
    /// replace a run already in --out (only the files training writes are removed)
    #[arg(long)]
    overwrite: bool,
    /// default 0; with --resume: the run's
    #[arg(long, allow_negative_numbers = true, value_parser = parse_seed)]
    seed: Option<u64>,
    /// override the steps of each stage
    #[arg(long, allow_negative_numbers = true, value_parser = parse_steps)]
    steps: Option<usize>,
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
    #[command(flatten)]
    faces: FaceArgs,
    /// stop after this many steps, as if killed (testing resume)
    #[arg(long, hide = true)]
    stop_after: Option<usize>,
}

#[derive(Args)]
struct EvalArgs {
    #[arg(long)]
    checkpoint: PathBuf,
    #[command(flatten)]
    data: DataArgs,
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
    #[command(flatten)]
    faces: FaceArgs,
    /// depth-grid rows per class in the report: this many worst-scored and this many typical
    #[arg(long, default_value_t = tdfas::eval::run::GRID_PER_CLASS)]
    grid: usize,
    /// replace a --json file or --report folder that tdfas did not write
    #[arg(long)]
    overwrite: bool,
}

#[derive(Args)]
struct CalibrateArgs {
    #[arg(long)]
    checkpoint: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// the lowest threshold with APCER at most this rate on dev (e.g. 0.05)
    #[arg(long, group = "rule", allow_negative_numbers = true, value_parser = parse_rate)]
    apcer: Option<f64>,
    /// the highest threshold with BPCER at most this rate on dev (e.g. 0.01)
    #[arg(long, group = "rule", allow_negative_numbers = true, value_parser = parse_rate)]
    bpcer: Option<f64>,
    /// the EER threshold of the dev split (what training stores)
    #[arg(long, group = "rule")]
    eer: bool,
    /// the calibrated copy of the checkpoint
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    faces: FaceArgs,
    /// replace an --out file that is not a tdfas checkpoint
    #[arg(long)]
    overwrite: bool,
}

#[derive(Args)]
struct WebArgs {
    #[arg(long)]
    checkpoint: PathBuf,
    /// the port on 127.0.0.1 (0: any free one; the address is printed)
    #[arg(long, default_value_t = 8032)]
    port: u16,
    /// also serve this folder's files to the page (`?frames=files` scores its images, `?video=files/NAME` a video)
    #[arg(long)]
    files: Option<PathBuf>,
}

#[derive(Args)]
struct InferArgs {
    #[arg(long)]
    checkpoint: PathBuf,
    /// accept as live when score >= this, 0..1 (default: the threshold stored in the checkpoint)
    #[arg(long, allow_negative_numbers = true)]
    threshold: Option<f64>,
    /// write one JSON object per input (JSON lines) here
    #[arg(long)]
    json: Option<PathBuf>,
    #[command(flatten)]
    faces: FaceArgs,
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
}

#[derive(Args)]
struct DumpArgs {
    #[arg(long)]
    checkpoint: PathBuf,
    /// a folder of frames (NNNN.png|jpg) or a video; its first clip is used. The face is found
    /// and cropped as `infer` does; with --no-detect the frames are taken as face crops
    #[arg(long)]
    input: PathBuf,
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    faces: FaceArgs,
    /// replace an --out file that tdfas did not write
    #[arg(long)]
    overwrite: bool,
}

#[derive(Args)]
struct DemoArgs {
    #[arg(long, default_value = "runs/demo")]
    out: PathBuf,
    #[command(flatten)]
    model: ModelArgs,
    /// a short setting (CI smoke test)
    #[arg(long)]
    quick: bool,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Args)]
struct BenchArgs {
    #[command(flatten)]
    model: ModelArgs,
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
}

#[derive(Args)]
struct ProfileArgs {
    #[command(flatten)]
    model: ModelArgs,
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

/// Runs a command with the device and kernel settings of this environment, read and checked
/// once here and passed down.
fn run(cli: Cli) -> Result<()> {
    let s = &Settings::from_env()?;
    match cli.command {
        Command::Info => info(s),
        Command::Synth(a) => synth(a),
        Command::Train(a) => train(a, s),
        Command::Eval(a) => eval(a, s),
        Command::Calibrate(a) => calibrate(a, s),
        Command::Infer(a) => infer(a, s),
        Command::Web(a) => web(a),
        Command::Dump(a) => dump(a, s),
        Command::Demo(a) => demo(a, s),
        Command::Bench(a) => bench(a, s),
        Command::Profile(a) => profile(a, s),
    }
}

/// The command's GPU: opened with `settings`, its ops tuned (`ops::tune`) before anything is
/// recorded.
fn open_gpu(settings: &Settings) -> Result<tdfas::Gpu> {
    let gpu = tdfas::Gpu::with_settings(settings.clone())?;
    tdfas::ops::tune(&gpu)?;
    Ok(gpu)
}

/// `open_gpu`, and the model of `checkpoint` on it.
fn open_model(settings: &Settings, checkpoint: &Path) -> Result<(tdfas::Gpu, tdfas::model::fastd::FasTd, Loaded)> {
    let gpu = open_gpu(settings)?;
    let (model, loaded) = checkpoint::load_model(&gpu, checkpoint)?;
    Ok((gpu, model, loaded))
}

/// `--apcer`, `--bpcer`: an error rate from 0 to 1 (checked before any scoring).
fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("{s:?} is not an error rate: use a number from 0 to 1 (0.05 is 5%)")),
    }
}

/// `--seed`: a whole number 0 ..= 2^64 - 1 (a negative one is parsed to say so).
fn parse_seed(s: &str) -> Result<u64, String> {
    s.parse::<u64>().map_err(|_| format!("{s:?} is not a seed: use a whole number from 0 to {}", u64::MAX))
}

/// `--split`: three whole numbers, at least one training identity.
fn parse_split(s: &str) -> Result<[usize; 3], String> {
    let bad = || format!("{s:?} is not a split: use TRAIN,DEV,TEST identities, e.g. 66,9,9, with TRAIN at least 1");
    let n: Vec<usize> = s.split(',').map(|x| x.trim().parse::<usize>()).collect::<Result<_, _>>().map_err(|_| bad())?;
    match n[..] {
        [train, dev, test] if train >= 1 => Ok([train, dev, test]),
        _ => Err(bad()),
    }
}

/// `--videos-per-class`: a whole number of at least 1.
fn parse_videos(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("{s:?} is not a number of videos: use a whole number of at least 1")),
    }
}

/// `--steps`: a whole number (0 parses, and training says why it is refused).
fn parse_steps(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) => Ok(n),
        Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => {
            Err(format!("{s} steps is more than tdfas counts (at most {})", usize::MAX))
        }
        Err(_) => Err(format!("{s:?} is not a step count: use a whole number of at least 1")),
    }
}

/// A user's threshold: finite and inside the score's range.
fn check_threshold(t: f64) -> Result<f64> {
    checkpoint::check_threshold(t).map_err(|e| anyhow::anyhow!("--threshold {t}: {e}"))?;
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
    // inside an input folder only tdfas's own files are replaced, --overwrite or not: the others
    // are the data (a frame of a clip, a split of a dataset)
    if let Some(dir) = outputs::inside_input(out, inputs) {
        if out.exists() && !ours(out) {
            bail!(
                "{flag} {}: it lies inside the input {} and tdfas did not write it: not replacing it, even with \
                 --overwrite (choose another path)",
                shown_path(out),
                shown_path(dir)
            );
        }
    }
    outputs::refuse_foreign(flag, out, ours, overwrite)?;
    tdfas::train::checkpoint::check_writable(out)
}

/// A stored calibration as the threshold a verdict is given against; `what` names its network
/// in the warning the threshold carries when that network was at chance on its dev split.
fn stored(c: &checkpoint::Calibration, what: &str) -> tdfas::infer::Threshold {
    tdfas::infer::Threshold { value: c.threshold, source: c.source(), at_chance: c.at_chance(what) }
}

fn synth(a: SynthArgs) -> Result<()> {
    if let Some(p) = &a.preview {
        outputs::refuse_foreign("--preview", p, outputs::png_by_tdfas, false)?;
        tdfas::train::checkpoint::check_writable(p)?;
    }
    let mut opts = tdfas::data::synth::SynthOptions::preset(&a.preset, a.seed)?;
    if let Some(split) = a.split {
        (opts.split, opts.identities) = (split, split.iter().fold(0usize, |a, &n| a.saturating_add(n)));
    }
    if let Some(n) = a.videos_per_class {
        opts.videos_per_class = n;
    }
    opts.check()?;
    // clears only an earlier `tdfas synth` output: stale clips would stay in the dataset
    tdfas::train::outdir::fresh_owned_dir(&a.out, "tdfas synth", &tdfas::data::synth::WRITES)?;
    let s = tdfas::data::synth::generate(&a.out, &opts, true)?;
    println!(
        "{} videos, {} frames, {:.1} MB in {:.1} s ({:.2} ms/frame) -> {}",
        s.videos,
        s.frames,
        s.bytes as f64 / 1e6,
        s.seconds,
        s.ms_per_frame,
        a.out.display()
    );
    if let Some(p) = a.preview {
        tdfas::data::synth::preview(&a.out, &p)?;
        println!("preview: {}", p.display());
    }
    Ok(())
}

fn train(a: TrainArgs, settings: &Settings) -> Result<()> {
    let out = &a.out;
    // the output folder is checked before the data is read or a GPU opened
    if let Ok(m) = std::fs::metadata(out) {
        if !m.is_dir() {
            bail!("--out {}: {} is there; training needs a folder", out.display(), tdfas::util::fs::kind(&m));
        }
    }
    let mut inputs: Vec<&Path> = vec![&a.data.data];
    inputs.extend(a.model.config.as_deref());
    inputs.extend(a.init.as_deref());
    outputs::refuse_inputs("--out", out, &inputs, true)?;
    // a run's files (and --overwrite's removal of them) do not belong among the data's
    if outputs::inside_input(out, &[&a.data.data]).is_some() {
        bail!(
            "--out {} lies inside the dataset {}: a run is written beside the data, not into it",
            shown_path(out),
            shown_path(&a.data.data)
        );
    }
    // the starting weights are read (and checked) before a GPU is opened
    let init = a.init.as_deref().map(checkpoint::read).transpose()?;
    let faces = a.faces.settings();
    let gpu = open_gpu(settings)?;
    // A resumed run starts from its own config and seed; flags given are checked against them.
    let ckpt = tdfas::train::trainer::checkpoint_path(out);
    let resumed = if a.resume && ckpt.exists() { Some(checkpoint::read(&ckpt)?) } else { None };
    let overrides =
        Overrides { variant: a.variant, steps: a.steps, lr1: a.lr1, lr2: a.lr2, batch1: a.batch1, batch2: a.batch2 };
    let base = resumed.as_ref().or(init.as_ref()).map(|l| &l.config);
    let cfg = a.model.config(base, &gpu)?.overridden(&overrides)?;
    let seed = a.seed.or(resumed.and_then(|l| l.progress).map(|p| p.seed)).unwrap_or(0);
    let stages = match a.stage {
        Stages::One => vec![Stage::Single],
        Stages::Two => vec![Stage::Multi],
        Stages::Both => vec![Stage::Single, Stage::Multi],
    };
    eprintln!("adapter: {}", gpu.describe());
    let summary = tdfas::train::trainer::train(
        &gpu,
        &tdfas::train::trainer::TrainOptions {
            data: a.data.data,
            out: out.clone(),
            config: cfg,
            stages,
            resume: a.resume,
            seed,
            protocol: a.data.protocol,
            checkpoint_every: a.checkpoint_every,
            progress: true,
            detect_anomaly: a.detect_anomaly,
            augment: a.augment,
            stop_after: a.stop_after,
            overwrite: a.overwrite,
            allow_outside_data: a.data.allow_outside_data,
            faces: faces.clone(),
            init: a.init.clone().zip(init),
        },
    )?;
    for (stage, first, last) in &summary.stages {
        let fmt = |l: &Vec<(&str, f32)>| l.iter().map(|(n, v)| format!("{n} {v:.4}")).collect::<Vec<_>>().join(", ");
        println!("stage {stage}: first step {}; last step {}", fmt(first), fmt(last));
    }
    match &summary.calibration {
        Some(c) => println!("threshold: {}", c.describe()),
        None => println!("threshold: none stored (no usable dev split); infer needs --threshold"),
    }
    faces.warn_full_frame_clips();
    println!("model: {}", out.join("model.safetensors").display());
    Ok(())
}

/// `eval --threshold-from`: the threshold stored in another checkpoint, with a warning when it
/// holds another model than the one evaluated.
fn threshold_from(from: &Path, checkpoint: &Path, loaded: &Loaded) -> Result<tdfas::eval::run::FixedThreshold> {
    let other = checkpoint::read(from)?;
    let c = other.calibration.as_ref().ok_or_else(|| {
        anyhow::anyhow!("{}: no threshold stored (trained before tdfas stored one?); use --threshold", from.display())
    })?;
    let mut source = format!("{}, stored in {}", c.source(), from.display());
    if let Some(w) = c.at_chance("its network") {
        eprintln!("warning: --threshold-from {}: {w}", shown_path(from));
    }
    // a threshold is a point on one model's score scale: another model's is a guess
    if let Some(why) = checkpoint::other_model(loaded, &other) {
        eprintln!(
            "warning: --threshold-from {} holds {why}: its threshold was fixed on other scores \
             than those of --checkpoint {}",
            shown_path(from),
            shown_path(checkpoint)
        );
        source.push_str(&format!(" ({why})"));
    }
    Ok(tdfas::eval::run::FixedThreshold { value: c.threshold, source })
}

fn eval(a: EvalArgs, settings: &Settings) -> Result<()> {
    // every output is checked before the evaluation, not after it
    let mut inputs: Vec<&Path> = vec![&a.checkpoint, &a.data.data];
    inputs.extend(a.threshold_from.as_deref());
    if let Some(j) = &a.json {
        check_output_file("--json", j, &inputs, tdfas::eval::run::is_eval_json, a.overwrite)?;
    }
    if let Some(dir) = &a.report {
        outputs::refuse_inputs("--report", dir, &inputs, true)?;
        // inside the data folder only a report of tdfas's is replaced, --overwrite or not
        match outputs::inside_input(dir, &inputs) {
            Some(input) => tdfas::eval::report::check_report_dir(dir, false).with_context(|| {
                format!(
                    "it lies inside the input {}, where --overwrite replaces only a report of tdfas's",
                    shown_path(input)
                )
            })?,
            None => tdfas::eval::report::check_report_dir(dir, a.overwrite)?,
        }
    }
    let threshold = a.threshold.map(check_threshold).transpose()?;
    let faces = a.faces.settings();
    let (gpu, model, loaded) = open_model(settings, &a.checkpoint)?;
    let fixed = match (threshold, &a.threshold_from) {
        (Some(t), _) => Some(tdfas::eval::run::FixedThreshold { value: t, source: "--threshold".into() }),
        (None, Some(from)) => Some(threshold_from(from, &a.checkpoint, &loaded)?),
        (None, None) => None,
    };
    let name = format!("Model {}", model.cfg.variant);
    let (data, protocol) = (&a.data.data, a.data.protocol.as_deref());
    let ev = tdfas::eval::run::evaluate_protocol_with(
        &gpu,
        &model,
        &name,
        &a.data.source(&faces),
        fixed.as_ref(),
        a.grid,
        true,
    )?;
    println!("{}", shown_text(&ev.header(&a.checkpoint, data, protocol)));
    println!("{}", shown_text(&ev.table()));
    faces.warn_full_frame_clips();
    if let Some(j) = a.json {
        tdfas::util::fs::write_atomic(&j, ev.json()?.as_bytes())?;
        println!("metrics: {}", shown_path(&j));
    }
    if let Some(dir) = a.report {
        let provenance = tdfas::eval::report::Provenance {
            evaluation_data: format!("{} (test split)", data.display()),
            protocol: protocol.unwrap_or("(none)").into(),
            threshold_source: ev.threshold_source.clone(),
            adapter: gpu.describe(),
            ..tdfas::train::checkpoint::provenance(&loaded, &a.checkpoint)
        };
        let title = format!("{name} on {}", data.display());
        tdfas::eval::report::write_report_with(&dir, &title, &ev.runs, &ev.grid, &provenance)?;
        println!("report: {}/index.html", shown_path(&dir));
    }
    Ok(())
}

fn web(a: WebArgs) -> Result<()> {
    let site = tdfas::web::server::Site::new(&a.checkpoint, a.files.as_deref())?;
    tdfas::web::server::serve(site, a.port)
}

fn infer(a: InferArgs, settings: &Settings) -> Result<()> {
    // output paths are checked before any input is read
    let mut all_inputs: Vec<&Path> = vec![&a.checkpoint];
    all_inputs.extend(a.inputs.iter().map(PathBuf::as_path));
    if let Some(d) = &a.depth_dir {
        if d.exists() && !d.is_dir() {
            bail!("--depth-dir {}: a file is there, not a folder", d.display());
        }
        outputs::refuse_inputs("--depth-dir", d, &all_inputs, false)?;
    }
    if let Some(j) = &a.json {
        check_output_file("--json", j, &all_inputs, tdfas::infer::is_infer_json, a.overwrite)?;
    }
    if a.inputs.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        bail!("`-` (standard input) is given more than once: it can be read once");
    }
    let threshold = a.threshold.map(check_threshold).transpose()?;
    let faces = a.faces.settings();
    let (gpu, model, loaded) = open_model(settings, &a.checkpoint)?;
    let given = threshold.map(|t| tdfas::infer::Threshold { value: t, source: "--threshold".into(), at_chance: None });
    let clip_threshold = given.clone().or_else(|| loaded.calibration.as_ref().map(|c| stored(c, "its network")));
    let photos_are = checkpoint::photo_network(&model.cfg);
    let photo_threshold = given.or_else(|| loaded.single_frame_calibration().map(|c| stored(c, photos_are)));
    // a stored threshold of a network that separated nothing on its dev split: said once here,
    // and in the JSON's `threshold.at_chance` of every verdict it gives (a single-frame model's
    // photo threshold is its clip threshold)
    let photos_own = if model.cfg.variant().single_only { None } else { photo_threshold.as_ref() };
    for t in [clip_threshold.as_ref(), photos_own].into_iter().flatten() {
        if let Some(w) = &t.at_chance {
            eprintln!("warning: {}: {w}", shown_path(&a.checkpoint));
        }
    }
    if clip_threshold.is_none() {
        eprintln!(
            "warning: {} stores no threshold (trained before tdfas stored one): scores without a verdict; pass --threshold",
            shown_path(&a.checkpoint)
        );
    }
    // photos: the single-frame network, against its own threshold
    let photo_model = if model.cfg.variant().single_only { None } else { Some(model.single_frame(&gpu)?) };
    let scorers = tdfas::infer::Scorers {
        faces: &faces,
        clips: &model,
        clip_threshold,
        photos: photo_model.as_ref().unwrap_or(&model),
        photo_threshold,
    };
    let depth = a.depth_dir.as_deref().map(|dir| tdfas::infer::DepthOutput { dir, overwrite: a.overwrite });
    // streams: `-`, FIFOs, a camera, and every input with --stream
    use tdfas::data::stream::{is_fifo, Source};
    let is_stream = |p: &PathBuf| a.stream || p.as_os_str() == "-" || is_fifo(p);
    let (streamed, files): (Vec<PathBuf>, Vec<PathBuf>) = a.inputs.iter().cloned().partition(is_stream);
    let mut sources: Vec<Source> =
        streamed.into_iter().map(|p| if p.as_os_str() == "-" { Source::Stdin } else { Source::File(p) }).collect();
    sources.extend(a.camera.map(Source::Camera));
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
        let threshold = scorers.clip_threshold.clone();
        results.push(tdfas::infer::score_stream(&gpu, &model, &faces, threshold, source, stop, &mut each));
    }
    for r in &results {
        println!("{}", r.line());
        for w in &r.warnings {
            eprintln!("warning: {}: {}", shown_path(&r.input), shown_text(w));
        }
        if let Some(e) = &r.error {
            eprintln!("error: {}", shown_text(e));
        }
        lines.push_str(&serde_json::to_string(r)?);
        lines.push('\n');
    }
    if let Some(j) = a.json {
        tdfas::util::fs::write_atomic(&j, lines.as_bytes())?;
    }
    let failed = results.iter().filter(|r| r.error.is_some()).count();
    if failed > 0 {
        bail!("{failed} of {} input(s) could not be scored (see above)", results.len());
    }
    Ok(())
}

fn dump(a: DumpArgs, settings: &Settings) -> Result<()> {
    let ours = |p: &Path| outputs::safetensors_format(p, "tdfas-dump");
    check_output_file("--out", &a.out, &[&a.checkpoint, &a.input], ours, a.overwrite)?;
    let faces = a.faces.settings();
    let (gpu, model, _) = open_model(settings, &a.checkpoint)?;
    let clip = tdfas::infer::first_clip(&model.cfg, &faces, &a.input)?;
    let batch = tdfas::model::fastd::HostBatch::unlabelled(&model.cfg, &clip)?;
    let dump = tdfas::dump::dump_clip(&gpu, &model, &batch)?;
    tdfas::dump::save(&a.out, &model, &dump, &format!("{} on {}", a.checkpoint.display(), a.input.display()))?;
    for (name, shape, _) in &dump.tensors {
        println!("{name:<14} {shape:?}");
    }
    println!("score {:.6}", dump.get("eval.score").unwrap().2[0]);
    println!(
        "dump: {} (compare: python tools/compare_dump.py --checkpoint {} --dump {})",
        shown_path(&a.out),
        shown_path(&a.checkpoint),
        shown_path(&a.out)
    );
    Ok(())
}

fn calibrate(a: CalibrateArgs, settings: &Settings) -> Result<()> {
    check_output_file("--out", &a.out, &[&a.checkpoint, &a.data.data], checkpoint::is_checkpoint, a.overwrite)?;
    use tdfas::train::trainer::Operating;
    let rule = match (a.apcer, a.bpcer, a.eer) {
        (Some(x), _, _) => Operating::Apcer(x),
        (_, Some(x), _) => Operating::Bpcer(x),
        (_, _, true) => Operating::Eer,
        _ => bail!("say where to put the threshold: --apcer RATE, --bpcer RATE or --eer"),
    };
    let faces = a.faces.settings();
    let (gpu, model, _) = open_model(settings, &a.checkpoint)?;
    let source = a.data.source(&faces);
    let (c, at) = tdfas::train::trainer::calibrate_at(&gpu, &model, &source, rule, true)?;
    // a multi-frame model scores photos with its single-frame network, against a threshold of
    // its own: set at the same operating point on the same dev split
    let single = match model.cfg.variant().single_only {
        true => None,
        false => Some(tdfas::train::trainer::calibrate_at(&gpu, &model.single_frame(&gpu)?, &source, rule, true)?),
    };
    checkpoint::write_recalibrated(&a.checkpoint, &c, single.as_ref().map(|s| &s.0), &a.out)?;
    let rates = |m: &tdfas::eval::metrics::Metrics| {
        format!("dev APCER {:.2}% (worst instrument), BPCER {:.2}%", 100.0 * m.apcer, 100.0 * m.bpcer)
    };
    println!("threshold {}; at it {}", shown_text(&c.describe()), rates(&at));
    if let Some((s, at)) = &single {
        println!(
            "{}: threshold {}; at it {}",
            checkpoint::photo_network(&model.cfg),
            shown_text(&s.describe()),
            rates(at)
        );
    }
    println!("dev split: {} live / {} attack videos", c.n_live, c.n_attack);
    println!("model: {}", shown_path(&a.out));
    Ok(())
}

fn bench(a: BenchArgs, settings: &Settings) -> Result<()> {
    if let Some(j) = &a.json {
        let inputs: Vec<&Path> = a.model.config.iter().map(PathBuf::as_path).collect();
        check_output_file("--json", j, &inputs, tdfas::bench::is_bench_json, a.overwrite)?;
    }
    let gpu = open_gpu(settings)?;
    // --quick is the tiny preset's shapes: another model asked for beside it would not be benchmarked
    if let (true, Some(p)) = (a.quick, &a.model.preset) {
        if p != "tiny" {
            bail!(
                "--quick benchmarks the tiny preset's shapes: drop --preset {} or --quick",
                tdfas::util::text::shown(p)
            );
        }
    }
    if let (true, Some(c)) = (a.quick, &a.model.config) {
        bail!("--quick benchmarks the tiny preset's shapes: drop --config {} or --quick", shown_path(c));
    }
    let preset = a.model.preset.unwrap_or_else(|| Config::default_preset(gpu.is_cpu()).into());
    let opts = tdfas::bench::BenchOptions { preset, config: a.model.config, quick: a.quick, filter: a.filter };
    let report = tdfas::bench::run(&gpu, &opts, true)?;
    println!("{}", report.table());
    if let Some(path) = a.json {
        tdfas::util::fs::write_atomic(&path, report.json()?.as_bytes())?;
        println!("json: {}", path.display());
    }
    Ok(())
}

fn profile(a: ProfileArgs, settings: &Settings) -> Result<()> {
    let gpu = open_gpu(settings)?;
    let cfg = a.model.config(None, &gpu)?;
    println!("{}", tdfas::bench::profile(&gpu, &cfg)?.table());
    Ok(())
}

fn demo(a: DemoArgs, settings: &Settings) -> Result<()> {
    let gpu = open_gpu(settings)?;
    let opts = tdfas::demo::DemoOptions {
        out: a.out,
        preset: a.model.preset,
        config: a.model.config,
        quick: a.quick,
        seed: a.seed,
        progress: true,
    };
    let r = tdfas::demo::run(&gpu, &opts)?;
    println!("\n{}", r.table);
    println!("report: {}/index.html (ROC, DET, score histograms, depth-map grid)", r.report_dir.display());
    println!("total time {:.1} s", r.seconds);
    Ok(())
}

fn info(settings: &Settings) -> Result<()> {
    let gpu = open_gpu(settings)?;
    let i = &gpu.device.info();
    println!("adapter   {}", i.name);
    println!("backend   {:?}", i.backend);
    println!("type      {:?}", i.device_type);
    println!("driver    {} {}", i.driver, i.driver_info);
    println!("features  {:?}", gpu.device.features());
    let l = &gpu.device.limits();
    let source = match gpu.device.limits_source() {
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
    let cache = tdfas::ops::tuning::cache_path(settings).map_or("not cached".into(), |p| p.display().to_string());
    let conv = tdfas::ops::conv::settings(&gpu)?;
    println!(
        "conv      {} kernel, weight gradient {} (autotuned, TDFAS_CONV=blocked|tiled|rows|gemm|gemm8|gemm8-128x64|.. \
         and TDFAS_WGRAD=reduce|rows|gemm|gemm8|gemm8-128x64|.. override; cache {cache})",
        conv.kernel.get().name(),
        conv.wgrad.get().name()
    );
    // every candidate's probe time and check against the reference kernel
    if let Some(table) = tdfas::ops::conv::choice::table(&gpu) {
        print!("{table}");
    }
    println!("environment");
    for (v, value) in tdfas::util::settings::env_values() {
        let value = value.as_deref().map_or("(unset)".to_string(), shown_text);
        println!("  {:<18} {value:<10} {}", v.name, v.meaning);
    }
    Ok(())
}
