//! The two-stage trainer (MODEL.md "Training"): stage 1 trains the single-frame part on batches
//! of frames; stage 2 freezes it (BatchNorm statistics included) and trains OFF + ConvGRU + head
//! on batches of clips. One submit per step; only the losses are read back.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::adadelta::Adadelta;
use super::checkpoint;
use super::outdir;
use crate::data::{Clip, DataSource, Dataset, Split};
use crate::gpu::Gpu;
use crate::graph::Tape;
use crate::model::checkpoint::Loaded;
use crate::model::checkpoint::{Progress, CHECKSUM_KEY};
use crate::model::fastd::{FasTd, HostBatch};
use crate::model::Config;
pub use crate::model::Stage;

pub struct TrainOptions {
    pub data: PathBuf,
    pub out: PathBuf,
    pub config: Config,
    /// stages to run, in order
    pub stages: Vec<Stage>,
    pub resume: bool,
    pub seed: u64,
    pub protocol: Option<String>,
    pub checkpoint_every: usize,
    pub progress: bool,
    pub detect_anomaly: bool,
    pub augment: bool,
    /// stop (as if killed) after this many steps in this process: for tests of resuming
    pub stop_after: Option<usize>,
    /// replace a run already in `out` (only the files training writes are removed)
    pub overwrite: bool,
    /// read clips that a protocol list places outside `data`
    pub allow_outside_data: bool,
    /// how faces are found in frames without boxes
    pub faces: crate::data::face::FaceSettings,
    /// a new run starts from this checkpoint's parameters (its path, for messages, and its
    /// contents) instead of a random initialisation: fine-tuning
    pub init: Option<(PathBuf, Loaded)>,
}

impl TrainOptions {
    /// The training data: its folder, protocol, and whether clips may lie outside it.
    pub fn source(&self) -> DataSource<'_> {
        DataSource {
            root: &self.data,
            protocol: self.protocol.as_deref(),
            allow_outside: self.allow_outside_data,
            faces: self.faces.clone(),
        }
    }
}

/// One step's losses, read back after the step's single submit.
pub type StepLosses = Vec<(&'static str, f32)>;

/// One training step of `stage` on `batch`: forward, backward, Adadelta, one submit.
pub fn train_step(
    gpu: &Gpu,
    model: &FasTd,
    optim: &Adadelta,
    batch: &HostBatch,
    stage: Stage,
    detect_anomaly: bool,
) -> Result<StepLosses> {
    let mut t = Tape::new(gpu);
    t.detect_anomaly = detect_anomaly;
    let (losses, vars) = match stage {
        Stage::Single => {
            let (d, vars) = model.forward_single(&mut t, batch, true)?;
            (model.loss_single(&mut t, d, batch)?, vars)
        }
        Stage::Multi => {
            let (out, vars) = model.forward(&mut t, batch, true)?;
            (model.loss_multi(&mut t, &out, batch)?, vars)
        }
    };
    if let Some(op) = t.anomaly() {
        bail!("--detect-anomaly: {op}");
    }
    let parts: Vec<(&'static str, crate::tensor::Tensor)> =
        losses.parts.iter().map(|(n, v)| (*n, t.value(v).clone())).collect();
    let grads = t.backward(&losses.total)?;
    optim.step(gpu, &Adadelta::collect(&grads, &vars))?;
    gpu.flush()?;
    parts.iter().map(|(n, v)| Ok((*n, v.download(gpu)?[0]))).collect()
}

/// Samples batches deterministically: step s takes positions s*batch .. of a stream of shuffled
/// epochs, so a resumed run sees exactly the batches the uninterrupted run would have.
pub fn batch_indices(n: usize, batch: usize, seed: u64, stage: Stage, step: usize) -> Vec<usize> {
    let mut perms: HashMap<usize, Vec<usize>> = HashMap::new();
    (step * batch..(step + 1) * batch)
        .map(|pos| {
            let epoch = pos / n;
            let perm = perms.entry(epoch).or_insert_with(|| {
                let mut p: Vec<usize> = (0..n).collect();
                p.shuffle(&mut ChaCha8Rng::seed_from_u64(
                    seed ^ ((stage.number() as u64) << 56) ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                ));
                p
            });
            perm[pos % n]
        })
        .collect()
}

/// A batch with training augmentation: each clip read afresh with its own random crop scale,
/// flip and photometric changes, seeded by (seed, stage, step, position) so a resumed run sees
/// exactly the batches the uninterrupted run would have.
fn augmented_batch(
    data: &Dataset,
    cfg: &Config,
    stage: Stage,
    idx: &[usize],
    seed: u64,
    step: usize,
) -> Result<HostBatch> {
    let rng_for = |k: usize| {
        ChaCha8Rng::seed_from_u64(
            seed ^ 0xA5A5_0000_0000_0000 ^ ((stage.number() as u64) << 48) ^ ((step as u64) << 8) ^ k as u64,
        )
    };
    if stage == Stage::Single {
        let mut clips: Vec<Clip> = idx
            .iter()
            .enumerate()
            .map(|(k, &i)| data.load_frame(i / cfg.frames, i % cfg.frames, Some(&mut rng_for(k))))
            .collect::<Result<_>>()?;
        if let Some(share) = cfg.stage1.cutmix {
            // its own stream, after every frame's: the frames are what they were without it
            crate::data::cutmix::cutmix(&mut clips, share, cfg.image_size, cfg.map_size(), &mut rng_for(usize::MAX));
        }
        // each loaded clip is the one frame drawn
        let picks: Vec<(&Clip, usize)> = clips.iter().map(|c| (c, 0)).collect();
        Ok(HostBatch::single_frames(cfg, &picks))
    } else {
        let clips: Vec<Clip> =
            idx.iter().enumerate().map(|(k, &i)| data.load(i, Some(&mut rng_for(k)))).collect::<Result<_>>()?;
        HostBatch::from_clips(cfg, &clips)
    }
}

/// Clips of a split, loaded once and kept in memory (the benchmark sizes tdfas targets fit).
pub struct ClipCache {
    pub dataset: Dataset,
    clips: Vec<Option<Clip>>,
}

impl ClipCache {
    pub fn open(source: &DataSource, split: Split, cfg: &Config) -> Result<ClipCache> {
        let root = source.root;
        let dataset = Dataset::open_source(source, split, &cfg.clip_spec())?;
        for w in dataset.skipped() {
            eprintln!("warning: {w}");
        }
        if dataset.is_empty() {
            bail!("{}: the {:?} split has no usable clips", root.display(), split);
        }
        let clips = (0..dataset.len()).map(|_| None).collect();
        Ok(ClipCache { dataset, clips })
    }
    pub fn len(&self) -> usize {
        self.clips.len()
    }
    pub fn is_empty(&self) -> bool {
        self.clips.is_empty()
    }
    pub fn get(&mut self, i: usize) -> Result<&Clip> {
        if self.clips[i].is_none() {
            self.clips[i] = Some(self.dataset.load(i, None)?);
        }
        Ok(self.clips[i].as_ref().unwrap())
    }
}

/// A run's folder and the files training writes there (`RUN_FILES`).
pub struct RunDir {
    pub dir: PathBuf,
}

impl RunDir {
    /// The latest state, optimizer included (what `--resume` continues from).
    pub fn checkpoint(&self) -> PathBuf {
        checkpoint_path(&self.dir)
    }

    /// The single-frame network alone, as a Model 1 checkpoint.
    pub fn stage1(&self) -> PathBuf {
        self.dir.join("stage1.safetensors")
    }

    /// The trained model with its thresholds.
    pub fn model(&self) -> PathBuf {
        self.dir.join("model.safetensors")
    }

    pub fn log(&self) -> PathBuf {
        self.dir.join("log.jsonl")
    }

    /// The model and progress to start from: the checkpoint when resuming, else a new model
    /// (refusing to mix with an earlier run's files, or removing them with `--overwrite`).
    fn start(&self, gpu: &Gpu, opts: &TrainOptions) -> Result<(FasTd, Progress, Option<Loaded>)> {
        let ckpt = self.checkpoint();
        if opts.resume && ckpt.exists() {
            let (mut model, loaded) = crate::model::checkpoint::load_model(gpu, &ckpt)?;
            let mut progress = loaded
                .progress
                .clone()
                .with_context(|| format!("{}: no training progress in the metadata", ckpt.display()))?;
            eprintln!("resuming from {} (stage {}, step {})", ckpt.display(), progress.stage, progress.step);
            resume_changes(opts, &ckpt, &mut model.cfg, &mut progress)?;
            return Ok((model, progress, Some(loaded)));
        }
        let existing: Vec<&str> = RUN_FILES[..3].iter().copied().filter(|f| self.dir.join(f).exists()).collect();
        if !existing.is_empty() && opts.resume {
            bail!(
                "{} holds {} but no {} to resume from: --overwrite starts over, or choose another --out",
                self.dir.display(),
                existing.join(", "),
                ckpt.display()
            );
        }
        if !existing.is_empty() && !opts.overwrite {
            let what = if existing.contains(&"model.safetensors") { "a finished run" } else { "an unfinished run" };
            bail!(
                "{} already holds {what} ({}): --resume continues it, --overwrite replaces it, or choose another --out",
                self.dir.display(),
                existing.join(", ")
            );
        }
        if opts.resume {
            eprintln!("no checkpoint at {}: starting a new run", ckpt.display());
        }
        // A new run: the files of an earlier one (kept with --overwrite) would mix with its own.
        for f in RUN_FILES {
            let p = self.dir.join(f);
            if p.exists() {
                std::fs::remove_file(&p).with_context(|| format!("removing {} (--overwrite)", p.display()))?;
            }
        }
        if opts.stages[0] == Stage::Multi && !opts.config.variant().single_only && opts.init.is_none() {
            bail!(
                "--stage 2 trains on top of a stage-1 network, and {} has none: train --stage 1 first \
                 (then --stage 2 --resume in the same --out), or use --stage both",
                self.dir.display()
            );
        }
        let mut model = FasTd::new(gpu, opts.config.clone(), opts.seed)?;
        if let Some((path, loaded)) = &opts.init {
            crate::model::checkpoint::apply(gpu, &mut model, loaded).with_context(|| {
                format!("--init {}: its parameters do not fit the model trained here", path.display())
            })?;
            eprintln!("starting from the parameters of {}", path.display());
        }
        let init = opts.init.as_ref().map(|(path, loaded)| {
            format!("{} ({CHECKSUM_KEY} {})", path.display(), loaded.checksum.as_deref().unwrap_or("none"))
        });
        let progress = Progress { stage: opts.stages[0].number(), step: 0, seed: opts.seed, stage_done: false, init };
        Ok((model, progress, None))
    }
}

/// The last checkpoint this run wrote, named whenever training stops.
#[derive(Clone, Copy)]
struct LastGood {
    step: usize,
    written: bool,
}

impl LastGood {
    /// Why training stopped at `step` (1-based) of `stage`, and what is left to resume from.
    fn stopped(&self, ckpt: &Path, stage: Stage, step: usize, why: &str) -> String {
        let left = if self.written {
            format!(
                "the last good checkpoint {} (step {}) is intact; --resume continues from it",
                ckpt.display(),
                self.step
            )
        } else {
            "no checkpoint was written yet".to_string()
        };
        format!("stage {}, step {step}: {why}training stopped; {left}", stage.number())
    }
}

/// What a stage's batches draw from: frames in stage 1, clips in stage 2.
fn batch_items(stage: Stage, cfg: &Config, clips: usize) -> usize {
    match stage {
        Stage::Single => clips * cfg.frames,
        Stage::Multi => clips,
    }
}

/// Batches of the training clips read once and kept (stage 1 takes single frames of them). Step
/// s takes the items `batch_indices` gives, so a resumed run sees exactly the batches of an
/// uninterrupted one.
struct Batches<'a> {
    stage: Stage,
    cfg: &'a Config,
    clips: &'a mut ClipCache,
    seed: u64,
}

/// Batches with augmentation: each clip (stage 1: each frame) read afresh with its own random
/// crop, flip and photometric changes. A batch is a function of its step alone, so another
/// thread can read the next one while this one trains.
struct Fresh<'a> {
    stage: Stage,
    cfg: &'a Config,
    dataset: &'a Dataset,
    items: usize,
    seed: u64,
}

impl Fresh<'_> {
    fn at(&self, step: usize) -> Result<HostBatch> {
        let idx = batch_indices(self.items, self.stage.settings(self.cfg).batch, self.seed, self.stage, step);
        augmented_batch(self.dataset, self.cfg, self.stage, &idx, self.seed, step)
    }
}

impl Batches<'_> {
    fn at(&mut self, step: usize) -> Result<HostBatch> {
        let cfg = self.cfg;
        let items = batch_items(self.stage, cfg, self.clips.len());
        let idx = batch_indices(items, self.stage.settings(cfg).batch, self.seed, self.stage, step);
        match self.stage {
            Stage::Single => {
                // item i is frame i % Nf of clip i / Nf
                for &i in &idx {
                    self.clips.get(i / cfg.frames)?;
                }
                let picks: Vec<(&Clip, usize)> =
                    idx.iter().map(|&i| (self.clips.clips[i / cfg.frames].as_ref().unwrap(), i % cfg.frames)).collect();
                Ok(HostBatch::single_frames(cfg, &picks))
            }
            Stage::Multi => {
                for &i in &idx {
                    self.clips.get(i)?;
                }
                let clips: Vec<Clip> = idx.iter().map(|&i| self.clips.clips[i].clone().unwrap()).collect();
                HostBatch::from_clips(cfg, &clips)
            }
        }
    }
}

#[derive(Debug)]
pub struct TrainSummary {
    pub checkpoint: PathBuf,
    /// the final model's dev-EER threshold (None when the dev split could not give one)
    pub calibration: Option<crate::model::checkpoint::Calibration>,
    /// (stage, first-logged losses, last losses)
    pub stages: Vec<(Stage, StepLosses, StepLosses)>,
    /// what the run warned of while training (also printed when it happened)
    pub warnings: Vec<String>,
}

pub fn checkpoint_path(out: &Path) -> PathBuf {
    out.join("checkpoint.safetensors")
}

/// The files a training run writes in its folder (what `--overwrite` removes).
pub const RUN_FILES: [&str; 4] = ["checkpoint.safetensors", "stage1.safetensors", "model.safetensors", "log.jsonl"];

/// Runs the stages, writing checkpoints and a JSON-lines log under `opts.out`.
pub fn train(gpu: &Gpu, opts: &TrainOptions) -> Result<TrainSummary> {
    if opts.resume && opts.overwrite {
        bail!("--resume continues the run in {}, --overwrite replaces it: give one of them", opts.out.display());
    }
    if opts.stages.is_empty() {
        bail!("no stage to train");
    }
    let created = !opts.out.exists();
    std::fs::create_dir_all(&opts.out).with_context(|| format!("creating {}", opts.out.display()))?;
    let result = train_in_folder(gpu, opts);
    if result.is_err() && created {
        // a run that failed before writing anything leaves no folder behind (only its lock file)
        let lock = opts.out.join(outdir::LOCK_FILE);
        let names: Vec<_> =
            std::fs::read_dir(&opts.out).into_iter().flatten().flatten().map(|e| e.file_name()).collect();
        if names.iter().all(|n| n == outdir::LOCK_FILE) {
            let _ = std::fs::remove_file(&lock);
            let _ = std::fs::remove_dir(&opts.out);
        }
    }
    result
}

/// `train` in its (existing) output folder.
fn train_in_folder(gpu: &Gpu, opts: &TrainOptions) -> Result<TrainSummary> {
    let stages = &opts.stages;
    // One run per folder: two at once would overwrite each other's checkpoints and log.
    let _lock = outdir::lock(&opts.out)?;
    crate::util::fs::clean_stale_tmp(&opts.out, &RUN_FILES, true);
    let run = RunDir { dir: opts.out.clone() };
    let ckpt = run.checkpoint();
    let (mut model, mut progress, loaded) = run.start(gpu, opts)?;
    let cfg = model.cfg.clone();
    if cfg.variant().single_only && !stages.contains(&Stage::Single) {
        bail!("variant {} is the single-frame model (no stage 2): train it with --stage 1", cfg.variant);
    }
    for &stage in stages {
        if stage.settings(&cfg).steps == 0 && !(stage == Stage::Multi && cfg.variant().single_only) {
            let n = stage.number();
            bail!("stage {n} has 0 steps (--steps, or stage{n}.steps in the config): nothing would be trained");
        }
    }
    let mut train_set = ClipCache::open(&opts.source(), Split::Train, &cfg)?;
    if train_set.dataset.layout == crate::data::Layout::CelebaSpoof && stages.contains(&Stage::Multi) {
        bail!(
            "{} is CelebA-Spoof: photos, no motion for the multi-frame part; train the single-frame network with --stage 1",
            opts.data.display()
        );
    }
    let live = (0..train_set.len()).filter(|&i| train_set.dataset.index(i).label == 1).count();
    if live == 0 || live == train_set.len() {
        eprintln!(
            "warning: the train split of {} has {} clips and no {} clip: the depth supervision and the \
             live/attack head see one class only, so the model cannot learn to tell them apart",
            opts.data.display(),
            train_set.len(),
            if live == 0 { "live" } else { "attack" }
        );
    }
    if loaded.is_some() {
        trim_log(&run.log(), &progress)?;
    }
    let log =
        std::fs::OpenOptions::new().create(true).append(true).open(run.log()).context("opening the training log")?;
    let mut summary = TrainSummary { checkpoint: ckpt.clone(), calibration: None, stages: vec![], warnings: vec![] };
    let mut steps =
        Steps { gpu, opts, cfg: &cfg, ckpt: &ckpt, loaded: loaded.as_ref(), log, done: 0, warnings: vec![] };
    for &stage in stages {
        let n = stage.number();
        if n < progress.stage || (n == progress.stage && progress.stage_done) {
            // Finished before the resume. A kill between stage 1's last checkpoint and its
            // stage1.safetensors loses that file; the single-frame part is frozen from then
            // on, so the current parameters give it back exactly.
            if stage == Stage::Single && !run.stage1().exists() {
                save_model1(gpu, &run.stage1(), &model, &progress, opts)?;
            }
            continue;
        }
        if stage == Stage::Multi && cfg.variant().single_only {
            continue;
        }
        let (first, last) = steps.stage(stage, &mut model, &mut progress, &mut train_set)?;
        if stage == Stage::Single {
            save_model1(gpu, &run.stage1(), &model, &progress, opts)?;
        }
        summary.stages.push((stage, first, last));
        summary.warnings.append(&mut steps.warnings);
        // The next stage starts at its step 0 with a fresh optimizer.
        if let Some(&next) = stages.iter().find(|&&s| s > stage) {
            progress = Progress { stage: next.number(), step: 0, stage_done: false, ..progress.clone() };
            checkpoint::save(gpu, &ckpt, &model, None, &progress)?;
        }
    }
    if !stages.contains(&Stage::Multi) && !model.cfg.variant().single_only {
        // Stage 1 alone: the multi-frame part is untrained, so the model users score with is the
        // single-frame network (what stage1.safetensors holds); checkpoint.safetensors keeps the
        // whole model for `--stage 2 --resume`.
        let stage1 = std::fs::read(run.stage1()).with_context(|| format!("reading {}", run.stage1().display()))?;
        crate::util::fs::write_atomic(&run.model(), &stage1)?;
        eprintln!(
            "stage 1 only: {} is the single-frame network (Model 1); --stage 2 --resume trains the multi-frame part",
            run.model().display()
        );
        summary.calibration = crate::model::checkpoint::parse(&stage1)?.calibration;
        return Ok(summary);
    }
    let calibration = calibrate(gpu, &model, opts);
    // photos are scored by the single-frame part against its own threshold (stage1.safetensors'):
    // the single-frame part is frozen in stage 2, so that threshold still holds
    let single = if model.cfg.variant().single_only || !run.stage1().is_file() {
        None
    } else {
        crate::model::checkpoint::read(&run.stage1())?.calibration
    };
    checkpoint::save_with_calibrations(
        gpu,
        &run.model(),
        &model,
        None,
        &progress,
        calibration.as_ref(),
        single.as_ref(),
    )?;
    summary.calibration = calibration;
    Ok(summary)
}

/// What every stage of a run shares: the run's options, config and checkpoint, the checkpoint
/// resumed from, the log, and the steps this process trained (for `--stop-after`).
struct Steps<'a> {
    gpu: &'a Gpu,
    opts: &'a TrainOptions,
    cfg: &'a Config,
    ckpt: &'a Path,
    loaded: Option<&'a Loaded>,
    log: std::fs::File,
    done: usize,
    warnings: Vec<String>,
}

/// Stage 1's all-zero start (docs/MODEL.md, `revive`), seen from the losses: while D_single is 0
/// everywhere, l_abs is the mean square of the batch's labels. Counts the steps in a row whose
/// l_abs is within 1% of that (a network next to the start, a few cells above 0, learns as
/// slowly; on the demo's benchmark one that learns strayed to 0.52-1.70 times it at seed 0),
/// batches without a depth label above 0 neither counting nor breaking the run, and warns once
/// when a quarter of the stage (at most 100 steps) has passed there.
struct ZeroStart {
    limit: usize,
    run: usize,
    warned: bool,
}

impl ZeroStart {
    fn new(steps: usize) -> Self {
        ZeroStart { limit: (steps / 4).clamp(1, 100), run: 0, warned: false }
    }

    /// The warning, the first time the run of steps at the start reaches the limit at `step`
    /// (1-based).
    fn step(&mut self, batch: &HostBatch, losses: &StepLosses, step: usize) -> Option<String> {
        let zero =
            batch.depth.iter().map(|&d| f64::from(d) * f64::from(d)).sum::<f64>() / batch.depth.len().max(1) as f64;
        let l_abs = losses.iter().find(|(n, _)| *n == "l_abs")?.1 as f64;
        if zero > 0.0 {
            self.run = if (l_abs - zero).abs() <= 0.01 * zero { self.run + 1 } else { 0 };
        }
        if self.run < self.limit || self.warned {
            return None;
        }
        self.warned = true;
        Some(format!(
            "stage 1: D_single has been (next to) 0 everywhere for {} steps in a row (to step {step}): the \
             all-zero start, where little or no gradient reaches the network; it may leave late or never. Try \
             another --seed, or `revive = true` under [stage1] (docs/MODEL.md, Training)",
            self.run
        ))
    }
}

impl Steps<'_> {
    /// Trains `stage` from where `progress` stands to its last step. Each step: a batch, one
    /// training step (forward, backward, Adadelta), the NaN guard, a log line, weight averaging
    /// over the stage's end, and a checkpoint every `checkpoint_every` steps and at the end.
    /// Returns the first and last losses.
    fn stage(
        &mut self,
        stage: Stage,
        model: &mut FasTd,
        progress: &mut Progress,
        train_set: &mut ClipCache,
    ) -> Result<(StepLosses, StepLosses)> {
        let (gpu, opts, cfg, ckpt, n) = (self.gpu, self.opts, self.cfg, self.ckpt, stage.number());
        let start_step = if n == progress.stage { progress.step } else { 0 };
        let stage_cfg = stage.settings(cfg);
        model.set_stage(stage);
        let mut optim = Adadelta::new(
            gpu,
            &mut model.params,
            stage_cfg.lr as f32,
            cfg.adadelta_rho as f32,
            cfg.adadelta_eps as f32,
        )?;
        optim.weight_decay = stage_cfg.weight_decay.unwrap_or(0.0) as f32;
        if let (Some(l), true) = (self.loaded, n == progress.stage && start_step > 0) {
            checkpoint::apply_optimizer(gpu, &mut optim, l)?;
        }
        let seed = progress.seed;
        let (mut kept, fresh) = if opts.augment {
            let items = batch_items(stage, cfg, train_set.len());
            (None, Some(Fresh { stage, cfg, dataset: &train_set.dataset, items, seed }))
        } else {
            (Some(Batches { stage, cfg, clips: train_set, seed }), None)
        };
        let bar = crate::util::progress::progress_bar(opts.progress, stage_cfg.steps as u64, &format!("stage {n}"));
        bar.set_position(start_step as u64);
        let mut first: Option<StepLosses> = None;
        let mut last: StepLosses = vec![];
        let mut last_good = LastGood { step: start_step, written: ckpt.exists() };
        let started = Instant::now();
        let mut zero_start = (stage == Stage::Single && !stage_cfg.revive).then(|| ZeroStart::new(stage_cfg.steps));
        std::thread::scope(|scope| -> Result<()> {
            // Augmented batches: the next one is read on another thread while this one trains (the
            // same batches; the decoding, cropping and augmenting overlap the GPU's work).
            let fresh = fresh.as_ref();
            let mut pending: Option<std::thread::ScopedJoinHandle<'_, Result<HostBatch>>> = None;
            for step in start_step..stage_cfg.steps {
                let batch = match (fresh, kept.as_mut()) {
                    (Some(fresh), _) => {
                        let batch = match pending.take() {
                            Some(h) => h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("the batch reader panicked"))),
                            None => fresh.at(step),
                        };
                        // (wasm32 has no threads: there each batch is read in turn)
                        if step + 1 < stage_cfg.steps && cfg!(not(target_arch = "wasm32")) {
                            pending = Some(scope.spawn(move || fresh.at(step + 1)));
                        }
                        batch
                    }
                    (None, Some(kept)) => kept.at(step),
                    (None, None) => unreachable!("a stage has kept or fresh batches"),
                };
                // An unreadable frame deep in the data stops the run as the NaN guard does: the step
                // and the checkpoint to resume from named (a skipped clip would change the batches).
                let batch = batch.map_err(|e| e.context(last_good.stopped(ckpt, stage, step + 1, "")))?;
                optim.lr = stage_cfg.lr_at(step) as f32;
                let losses = train_step(gpu, model, &optim, &batch, stage, opts.detect_anomaly)?;
                if let Some((name, v)) = losses.iter().find(|(_, v)| !v.is_finite()) {
                    let why = format!("{name} is {v}; ");
                    bail!(
                        "{}. Try a lower learning rate, or --detect-anomaly to find the op",
                        last_good.stopped(ckpt, stage, step + 1, &why)
                    );
                }
                if let Some(w) = zero_start.as_mut().and_then(|z| z.step(&batch, &losses, step + 1)) {
                    bar.suspend(|| eprintln!("warning: {w}"));
                    self.warnings.push(w);
                }
                let line = serde_json::json!({"stage": n, "step": step + 1, "seconds": started.elapsed().as_secs_f64(), "lr": optim.lr,
        "losses": losses.iter().map(|(n, v)| (n.to_string(), serde_json::json!(*v as f64))).collect::<serde_json::Map<String, serde_json::Value>>()});
                writeln!(self.log, "{line}").context("writing the training log")?;
                if stage_cfg.averages_after(step) {
                    optim.average.get_or_insert_with(Default::default).add_model(gpu, model)?;
                    if step + 1 == stage_cfg.steps {
                        // the stage ends with the averaged weights, in its last checkpoint too
                        optim.average.as_ref().expect("just added").apply(gpu, model)?;
                    }
                }
                let total = losses.last().map(|l| l.1).unwrap_or(0.0);
                bar.set_message(format!("loss {total:.4}"));
                bar.inc(1);
                first.get_or_insert_with(|| losses.clone());
                last = losses;
                *progress =
                    Progress { stage: n, step: step + 1, stage_done: step + 1 == stage_cfg.steps, ..progress.clone() };
                self.done += 1;
                let stop = opts.stop_after == Some(self.done);
                if (step + 1) % opts.checkpoint_every.max(1) == 0 || progress.stage_done || stop {
                    checkpoint::save(gpu, ckpt, model, Some(&optim), progress)
                        .with_context(|| last_good.stopped(ckpt, stage, step + 1, ""))?;
                    last_good = LastGood { step: step + 1, written: true };
                }
                if stop {
                    bar.abandon();
                    bail!("stopped after {} steps (--stop-after)", self.done);
                }
            }
            Ok(())
        })?;
        if start_step >= stage_cfg.steps && !progress.stage_done {
            progress.stage_done = true;
        }
        bar.finish();
        Ok((first.unwrap_or_default(), last))
    }
}

/// On resume: drops the log lines of steps after the checkpoint (a killed run logged them, and
/// the resumed run logs them again), so each step appears once.
fn trim_log(path: &Path, progress: &Progress) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else { return Ok(()) };
    let keep = |line: &str| {
        let v: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(_) => return false, // a line torn by the kill
        };
        let (stage, step) = (v["stage"].as_u64().unwrap_or(0), v["step"].as_u64().unwrap_or(0));
        (stage, step) <= (progress.stage as u64, progress.step as u64)
    };
    let kept: Vec<&str> = text.lines().filter(|l| keep(l)).collect();
    if kept.len() != text.lines().count() {
        let mut out = kept.join("\n");
        if !out.is_empty() {
            out.push('\n');
        }
        crate::util::fs::write_atomic(path, out.as_bytes())?;
    }
    Ok(())
}

/// What a resumed run may change: the step counts (more steps continue a finished stage).
/// Anything else given that differs from the run's checkpoint is refused, naming the flag.
fn resume_changes(opts: &TrainOptions, ckpt: &Path, cfg: &mut Config, progress: &mut Progress) -> Result<()> {
    let start_over = "drop the flag, or start over with --overwrite";
    if opts.seed != progress.seed {
        bail!(
            "--seed {}: the run in {} was started with seed {}, and a resumed run keeps it; {start_over}",
            opts.seed,
            opts.out.display(),
            progress.seed
        );
    }
    let mut wanted = opts.config.clone();
    (wanted.stage1.steps, wanted.stage2.steps) = (cfg.stage1.steps, cfg.stage2.steps);
    let diffs = config_diffs(
        &serde_json::to_value(&*cfg).context("config")?,
        &serde_json::to_value(&wanted).context("config")?,
        "",
    );
    if let Some((key, had, given)) = diffs.first() {
        let flag = match key.as_str() {
            "stage1.lr" => "--lr1",
            "stage2.lr" => "--lr2",
            "stage1.batch" => "--batch1",
            "stage2.batch" => "--batch2",
            "variant" => "--variant",
            _ => "--config/--preset",
        };
        bail!(
            "{flag}: the run in {} has {key} = {had}, a resumed run cannot change it (given {given}{}); {start_over}",
            opts.out.display(),
            if diffs.len() > 1 { format!(", and {} more setting(s)", diffs.len() - 1) } else { String::new() }
        );
    }
    for s in [Stage::Single, Stage::Multi] {
        let (stage, want) = (s.number(), s.settings(&opts.config).steps);
        let have = match s {
            Stage::Single => &mut cfg.stage1.steps,
            Stage::Multi => &mut cfg.stage2.steps,
        };
        if *have == want {
            continue;
        }
        if stage < progress.stage {
            eprintln!("note: stage 1 is finished ({have} steps); the new step count applies to stage 2");
            continue;
        }
        if stage == progress.stage && want < progress.step {
            bail!(
                "--steps {want}: the run in {} is at stage {stage}, step {} already ({})",
                opts.out.display(),
                progress.step,
                ckpt.display()
            );
        }
        eprintln!("stage {stage}: {have} -> {want} steps");
        *have = want;
        if stage == progress.stage && progress.stage_done && want > progress.step {
            progress.stage_done = false;
        }
    }
    if progress.stage == 1 && !progress.stage_done && !opts.stages.contains(&Stage::Single) {
        bail!(
            "--stage 2: stage 1 of the run in {} is unfinished (step {} of {}); resume it with --stage 1 or --stage both",
            opts.out.display(),
            progress.step,
            cfg.stage1.steps
        );
    }
    let last = opts.stages.iter().max().map_or(1, |s| s.number());
    if progress.stage >= last && progress.stage_done {
        eprintln!(
            "the run in {} is finished (stage {}, {} steps): nothing to train; a larger --steps trains longer",
            opts.out.display(),
            progress.stage,
            progress.step
        );
    }
    Ok(())
}

/// The settings where two configs (as JSON) differ: (dotted key, first value, second value).
fn config_diffs(a: &serde_json::Value, b: &serde_json::Value, prefix: &str) -> Vec<(String, String, String)> {
    match (a, b) {
        (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            let null = serde_json::Value::Null;
            keys.into_iter()
                .flat_map(|k| {
                    let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    config_diffs(x.get(k).unwrap_or(&null), y.get(k).unwrap_or(&null), &key)
                })
                .collect()
        }
        _ if a != b => vec![(prefix.to_string(), a.to_string(), b.to_string())],
        _ => vec![],
    }
}

/// `stage1.safetensors`: the single-frame network alone as a Model 1 checkpoint (variant 1, no
/// untrained stage-2 tensors), with its own dev threshold, so `eval` and `infer` run it as the
/// single-frame baseline.
fn save_model1(gpu: &Gpu, path: &Path, model: &FasTd, progress: &Progress, opts: &TrainOptions) -> Result<()> {
    let model1 = model.single_frame(gpu)?;
    let calibration = calibrate(gpu, &model1, opts);
    checkpoint::save_calibrated(gpu, path, &model1, None, progress, calibration.as_ref())
}

/// The dev-EER threshold of `model` on the training data's dev split; a warning and None when
/// the dev split cannot give one (missing, or one class only).
fn calibrate(gpu: &Gpu, model: &FasTd, opts: &TrainOptions) -> Option<crate::model::checkpoint::Calibration> {
    match dev_calibration(gpu, model, &opts.source()) {
        Ok(c) => {
            if opts.progress {
                eprintln!("variant {}: threshold {}", model.cfg.variant, c.describe());
            }
            if c.is_chance() {
                let what = format!("the trained variant-{} network", model.cfg.variant);
                eprintln!("warning: {}; train longer (--steps) or with another --seed", c.chance_warning(&what));
            }
            Some(c)
        }
        Err(e) => {
            eprintln!(
                "warning: no threshold stored with the variant-{} model ({e:#}); pass --threshold to infer",
                model.cfg.variant
            );
            None
        }
    }
}

/// Scores the dev split and fixes the threshold at its EER (`metrics::dev_threshold`).
pub fn dev_calibration(gpu: &Gpu, model: &FasTd, source: &DataSource) -> Result<crate::model::checkpoint::Calibration> {
    Ok(calibrate_at(gpu, model, source, Operating::Eer, false)?.0)
}

/// Where `calibrate` puts a threshold on the dev split's scores.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Operating {
    /// the lowest threshold with APCER at most this rate
    Apcer(f64),
    /// the highest threshold with BPCER at most this rate
    Bpcer(f64),
    /// the EER threshold (what training stores)
    Eer,
}

/// Scores the dev split of `source` and fixes a threshold there by `rule`; the calibration and
/// the dev split's metrics at it.
pub fn calibrate_at(
    gpu: &Gpu,
    model: &FasTd,
    source: &DataSource,
    rule: Operating,
    progress: bool,
) -> Result<(crate::model::checkpoint::Calibration, crate::eval::metrics::Metrics)> {
    let dev =
        crate::eval::run::score_split(gpu, model, source, Split::Dev, 0, progress).context("scoring the dev split")?;
    let in_dev = || format!("the dev split of {}", source.root.display());
    let videos = crate::eval::per_video(&dev.clips).with_context(in_dev)?;
    use crate::eval::metrics;
    let (threshold, method) = match rule {
        Operating::Apcer(x) => {
            (metrics::threshold_at_apcer(&videos, x), format!("dev APCER <= {}% over all attacks", 100.0 * x))
        }
        Operating::Bpcer(x) => (metrics::threshold_at_bpcer(&videos, x), format!("dev BPCER <= {}%", 100.0 * x)),
        Operating::Eer => (metrics::dev_threshold(&videos), "dev EER".to_string()),
    };
    // scores may reach a little past 1 (the depth maps end in a ReLU): keep the threshold a rate
    let threshold = threshold.with_context(in_dev)?.clamp(0.0, 1.0);
    let m = metrics::at_threshold(&videos, threshold).with_context(in_dev)?;
    let calibration = crate::model::checkpoint::Calibration {
        threshold,
        method,
        data: source.root.display().to_string(),
        protocol: source.protocol.map(String::from),
        dev_eer: m.eer,
        n_live: m.n_live,
        n_attack: m.n_attack,
    };
    Ok((calibration, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_are_numbered_as_checkpoints_number_them() {
        assert_eq!((Stage::Single.number(), Stage::Multi.number()), (1, 2));
        assert_eq!((Stage::Single.to_string(), Stage::Multi.to_string()), ("1".to_string(), "2".to_string()));
        assert!(Stage::Single < Stage::Multi, "stage 1 runs first");
        let cfg = Config::preset("tiny").unwrap();
        assert_eq!(Stage::Single.settings(&cfg).batch, cfg.stage1.batch);
        assert_eq!(Stage::Multi.settings(&cfg).lr, cfg.stage2.lr);
    }

    #[test]
    fn a_stop_names_the_step_and_the_checkpoint_left() {
        let ckpt = Path::new("runs/a/checkpoint.safetensors");
        let written = LastGood { step: 50, written: true }.stopped(ckpt, Stage::Multi, 57, "l_binary is NaN; ");
        assert_eq!(
            written,
            "stage 2, step 57: l_binary is NaN; training stopped; the last good checkpoint \
             runs/a/checkpoint.safetensors (step 50) is intact; --resume continues from it"
        );
        let none = LastGood { step: 0, written: false }.stopped(ckpt, Stage::Single, 3, "");
        assert_eq!(none, "stage 1, step 3: training stopped; no checkpoint was written yet");
    }
}
