//! Training: a tiny batch is overfitted in both stages; a run stopped mid-way and resumed ends
//! with exactly the parameters of an uninterrupted run; checkpoints load and reject corruption.

use crate::common;
use common::{gpu, micro_config as micro, tiny_dataset};
use tdfas::data::{Dataset, Split};
use tdfas::model::fastd::{FasTd, HostBatch};
use tdfas::model::{Config, Stage};
use tdfas::train::adadelta::Adadelta;
use tdfas::train::checkpoint;
use tdfas::train::trainer::{train, train_step, TrainOptions};

fn clip_batch(cfg: &Config, clips: usize, seed: u64) -> HostBatch {
    let (nf, h, s) = (cfg.frames, cfg.image_size, cfg.map_size());
    let frames = tdfas::reference::random(clips * nf * 3 * h * h, seed).iter().map(|&v| v as f32).collect();
    let mut depth = vec![0f32; clips * nf * s * s];
    for (i, d) in depth.iter_mut().enumerate() {
        let clip = i / (nf * s * s);
        let p = i % (s * s);
        if clip % 2 == 0 {
            *d = 0.3 + 0.5 * ((p % s) as f32 / s as f32); // live: a depth ramp
        }
    }
    let labels = (0..clips).map(|c| if c % 2 == 0 { 1.0 } else { 0.0 }).collect();
    HostBatch { clips, frames, depth, mask: vec![1.0; clips * nf * s * s], labels }
}

#[test]
fn a_tiny_batch_is_overfitted_in_both_stages() {
    let g = gpu();
    let mut cfg = micro();
    cfg.stage1.lr = 1.0;
    cfg.stage2.lr = 0.5;
    cfg.variant = "4*".into(); // stage 2 loss = L_depth alone, so "near-zero depth loss" is the target
    let mut model = FasTd::new(&g, cfg.clone(), 1).unwrap();
    let batch = clip_batch(&cfg, 2, 7);
    model.set_stage(Stage::Single);
    let opt = Adadelta::new(&g, &mut model.params, 1.0, 0.95, 1e-6).unwrap();
    let mut l1 = Vec::new();
    for _ in 0..60 {
        l1.push(train_step(&g, &model, &opt, &batch, Stage::Single, false).unwrap().last().unwrap().1);
    }
    model.set_stage(Stage::Multi);
    let opt = Adadelta::new(&g, &mut model.params, 0.5, 0.95, 1e-6).unwrap();
    let mut l2 = Vec::new();
    for _ in 0..80 {
        let losses = train_step(&g, &model, &opt, &batch, Stage::Multi, false).unwrap();
        l2.push(losses.iter().find(|l| l.0 == "l_depth").unwrap().1);
    }
    println!("stage 1 {:.4} -> {:.4}; stage 2 depth {:.4} -> {:.4}", l1[0], l1[59], l2[0], l2[79]);
    assert!(l1[59] < 0.1 * l1[0] && l1[59] < 0.01, "stage 1 did not overfit: {l1:?}");
    assert!(l2[79] < 0.2 * l2[0] && l2[79] < 0.01, "stage 2 did not overfit: {l2:?}");
}

/// A stage-1 network whose depth maps are 0 everywhere (the last conv's bias far below zero:
/// the all-zero start some seeds stay at) gets no gradient through ReLU and never moves; with
/// `stage1.revive` the gradient that would raise its outputs passes, and it learns.
#[test]
fn stage_1_leaves_the_all_zero_start_only_with_revive() {
    let g = gpu();
    let run = |revive: bool| {
        let mut cfg = micro();
        cfg.stage1.revive = revive;
        let mut model = FasTd::new(&g, cfg.clone(), 1).unwrap();
        model.params.set(&g, "single.head.out.bias", &[-5.0]).unwrap();
        model.set_stage(Stage::Single);
        let batch = clip_batch(&cfg, 2, 7);
        let before = model.params.get("single.head.out.weight").unwrap().download(&g).unwrap();
        let opt = Adadelta::new(&g, &mut model.params, 1.0, 0.95, 1e-6).unwrap();
        let losses: Vec<f32> = (0..60)
            .map(|_| train_step(&g, &model, &opt, &batch, Stage::Single, false).unwrap().last().unwrap().1)
            .collect();
        let after = model.params.get("single.head.out.weight").unwrap().download(&g).unwrap();
        (losses, before == after)
    };
    let (dead, unchanged) = run(false);
    assert!(unchanged && dead.iter().all(|&l| l == dead[0]), "without revive the start moved: {dead:?}");
    let (revived, unchanged) = run(true);
    assert!(!unchanged, "with revive the last conv did not move");
    let late = revived[50..].iter().fold(f32::INFINITY, |a, &b| a.min(b));
    assert!(late < 0.3 * revived[0], "with revive stage 1 did not learn: {revived:?}");
}

/// A run that stays at the all-zero start is told so while it trains (once, with what to try);
/// with `revive` it leaves the start and nothing is said.
#[test]
fn training_at_the_all_zero_start_is_warned_of() {
    let g = gpu();
    let tmp = common::tmp_dir("zero-start", "run");
    let data = tmp.join("data");
    tiny_dataset(&data);
    let mut cfg = micro();
    cfg.stage1.steps = 12;
    let mut model = FasTd::new(&g, cfg.clone(), 1).unwrap();
    model.params.set(&g, "single.head.out.bias", &[-5.0]).unwrap();
    let dead = tmp.join("dead.safetensors");
    let progress = tdfas::model::checkpoint::Progress { stage: 1, step: 0, seed: 1, stage_done: false, init: None };
    checkpoint::save(&g, &dead, &model, None, &progress).unwrap();
    let stage1 = vec![Stage::Single];
    let s = run_stages(cfg.clone(), stage1.clone(), Some(&dead), &data, &tmp.join("a"), false, None, false).unwrap();
    // a quarter of the 12 steps at the start (batches without a live frame do not count): once
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    assert!(
        s.warnings[0].contains("(next to) 0 everywhere for 3 steps in a row (to step ")
            && s.warnings[0].contains("revive = true"),
        "{}",
        s.warnings[0]
    );
    cfg.stage1.revive = true;
    let s = run_stages(cfg, stage1, Some(&dead), &data, &tmp.join("b"), false, None, false).unwrap();
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    // a network that is not at the start is not warned of
    let mut fine = micro();
    fine.stage1.steps = 12;
    let s = run_stages(fine, vec![Stage::Single], None, &data, &tmp.join("c"), false, None, false).unwrap();
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let _ = std::fs::remove_dir_all(&tmp);
}

fn run(data: &std::path::Path, out: &std::path::Path, resume: bool, stop_after: Option<usize>) -> anyhow::Result<()> {
    let mut cfg = micro();
    cfg.stage1.steps = 4;
    cfg.stage2.steps = 3;
    run_with(cfg, data, out, resume, stop_after)
}

fn run_with(
    cfg: Config,
    data: &std::path::Path,
    out: &std::path::Path,
    resume: bool,
    stop_after: Option<usize>,
) -> anyhow::Result<()> {
    run_stages(cfg, vec![Stage::Single, Stage::Multi], None, data, out, resume, stop_after, false).map(|_| ())
}

/// A training run of `stages` with the test settings (seed 5, a checkpoint every step), the
/// augmentation on or off; its summary.
#[allow(clippy::too_many_arguments)]
fn run_stages(
    cfg: Config,
    stages: Vec<Stage>,
    init: Option<&std::path::Path>,
    data: &std::path::Path,
    out: &std::path::Path,
    resume: bool,
    stop_after: Option<usize>,
    augment: bool,
) -> anyhow::Result<tdfas::train::trainer::TrainSummary> {
    let init = init.map(|p| (p.to_path_buf(), tdfas::model::checkpoint::read(p).unwrap()));
    train(
        &gpu(),
        &TrainOptions {
            data: data.to_path_buf(),
            out: out.to_path_buf(),
            config: cfg,
            stages,
            resume,
            seed: 5,
            protocol: None,
            checkpoint_every: 1,
            progress: false,
            detect_anomaly: false,
            augment,
            stop_after,
            overwrite: false,
            allow_outside_data: false,
            faces: Default::default(),
            init,
        },
    )
}

/// The final model of the resumed run in `resumed`, checked tensor by tensor against that of
/// the uninterrupted run in `straight` (which it returns).
fn same_model(straight: &std::path::Path, resumed: &std::path::Path) -> tdfas::model::checkpoint::Loaded {
    let a = tdfas::model::checkpoint::read(&straight.join("model.safetensors")).unwrap();
    let b = tdfas::model::checkpoint::read(&resumed.join("model.safetensors")).unwrap();
    assert_eq!(a.tensors.len(), b.tensors.len());
    for (name, (_, va)) in &a.tensors {
        assert_eq!(va, &b.tensors[name].1, "{name} differs after resuming");
    }
    a
}

/// Fine-tuning (`train --init`): a stage-2 run started from a trained model keeps that model's
/// single-frame part exactly (stage 2 freezes it) and trains the rest from the model's values,
/// where the same run without `--init` is refused (no stage-1 network to build on); stopped and
/// resumed it ends as the uninterrupted run; a model of other widths is refused naming the
/// starting file.
#[test]
fn a_run_started_from_a_checkpoint_fine_tunes_its_parameters() {
    let tmp = std::env::temp_dir().join(format!("tdfas-init-{}", std::process::id()));
    let data = tmp.join("data");
    tiny_dataset(&data);
    run(&data, &tmp.join("base"), false, None).unwrap();
    let base_path = tmp.join("base").join("model.safetensors");
    let mut cfg = micro();
    cfg.stage2.steps = 3;
    let stage2 = vec![Stage::Multi];
    let e = run_stages(cfg.clone(), stage2.clone(), None, &data, &tmp.join("none"), false, None, false).unwrap_err();
    assert!(format!("{e:#}").contains("train --stage 1 first"), "{e:#}");
    run_stages(cfg.clone(), stage2.clone(), Some(&base_path), &data, &tmp.join("tuned"), false, None, false).unwrap();
    let base = tdfas::model::checkpoint::read(&base_path).unwrap();
    let tuned = tdfas::model::checkpoint::read(&tmp.join("tuned").join("model.safetensors")).unwrap();
    let mut changed = 0;
    for (name, (_, v)) in &base.tensors {
        if name.starts_with("single.") {
            assert_eq!(v, &tuned.tensors[name].1, "{name}: the frozen part changed");
        } else if v != &tuned.tensors[name].1 {
            changed += 1;
            // started from the base model's values: a few steps move them a little
            let far = v.iter().zip(&tuned.tensors[name].1).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(far < 0.5, "{name} moved by {far}: not started from the checkpoint?");
        }
    }
    assert!(changed > 0, "stage 2 trained nothing");
    // stopped and resumed (--init --resume), it ends exactly as the uninterrupted run
    let out = tmp.join("stopped");
    assert!(run_stages(cfg.clone(), stage2.clone(), Some(&base_path), &data, &out, false, Some(2), false).is_err());
    run_stages(cfg.clone(), stage2.clone(), Some(&base_path), &data, &out, true, None, false).unwrap();
    same_model(&tmp.join("tuned"), &out);
    let mut wider = micro();
    wider.stem += 2;
    let e = run_stages(wider, stage2, Some(&base_path), &data, &tmp.join("wider"), false, None, false).unwrap_err();
    let e = format!("{e:#}");
    assert!(e.contains("--init") && e.contains(&base_path.display().to_string()) && e.contains("shape"), "{e}");
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn a_stopped_and_resumed_run_ends_with_the_same_parameters() {
    let tmp = std::env::temp_dir().join(format!("tdfas-resume-{}", std::process::id()));
    let data = tmp.join("data");
    tiny_dataset(&data);
    run(&data, &tmp.join("straight"), false, None).unwrap();
    // stop after 3 steps (stage 1), then after 2 more (crossing into stage 2), then finish
    let out = tmp.join("resumed");
    assert!(run(&data, &out, false, Some(3)).is_err());
    assert!(run(&data, &out, true, Some(2)).is_err());
    run(&data, &out, true, None).unwrap();
    same_model(&tmp.join("straight"), &out);
    let _ = std::fs::remove_dir_all(&tmp);
}

/// With augmentation each step's batch is read on another thread while the step before trains:
/// two uninterrupted runs and a run stopped (with a batch being read) and resumed end with the
/// same parameters, in both stages.
#[test]
fn augmented_batches_read_ahead_give_the_same_run_every_time() {
    let tmp = std::env::temp_dir().join(format!("tdfas-readahead-{}", std::process::id()));
    let data = tmp.join("data");
    tiny_dataset(&data);
    let mut cfg = micro();
    cfg.stage1.steps = 5;
    cfg.stage2.steps = 3;
    let both = || vec![Stage::Single, Stage::Multi];
    let go = |out: &str, resume: bool, stop: Option<usize>| {
        run_stages(cfg.clone(), both(), None, &data, &tmp.join(out), resume, stop, true)
    };
    go("first", false, None).unwrap();
    go("second", false, None).unwrap();
    same_model(&tmp.join("first"), &tmp.join("second"));
    assert!(go("resumed", false, Some(2)).is_err());
    assert!(go("resumed", true, Some(4)).is_err());
    go("resumed", true, None).unwrap();
    same_model(&tmp.join("first"), &tmp.join("resumed"));
    // and augmentation does change the run (the test compares something that moves)
    run_stages(cfg.clone(), both(), None, &data, &tmp.join("plain"), false, None, false).unwrap();
    let (a, b) = (
        tdfas::model::checkpoint::read(&tmp.join("first").join("model.safetensors")).unwrap(),
        tdfas::model::checkpoint::read(&tmp.join("plain").join("model.safetensors")).unwrap(),
    );
    assert!(a.tensors.iter().any(|(name, (_, v))| v != &b.tensors[name].1), "augmented and plain runs agree");
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Weight averaging and the cosine rate: a run stopped inside stage 1's averaging window (its
/// mean and count in the checkpoint) and resumed ends exactly as the uninterrupted one, and the
/// averaged model is not the last step's.
#[test]
fn a_resumed_run_averages_weights_exactly_as_an_uninterrupted_one() {
    let tmp = std::env::temp_dir().join(format!("tdfas-average-{}", std::process::id()));
    let data = tmp.join("data");
    tiny_dataset(&data);
    let mut cfg = micro();
    (cfg.stage1.steps, cfg.stage2.steps) = (24, 12);
    (cfg.stage1.average_from, cfg.stage1.lr_end) = (Some(0.25), Some(0.2));
    (cfg.stage2.average_from, cfg.stage2.lr_end) = (Some(0.0), Some(0.1));
    run_with(cfg.clone(), &data, &tmp.join("straight"), false, None).unwrap();
    let out = tmp.join("resumed");
    assert!(run_with(cfg.clone(), &data, &out, false, Some(15)).is_err());
    // stopped at stage 1, step 15: one weight set (step 10) in the mean so far
    let mid = tdfas::model::checkpoint::read(&out.join("checkpoint.safetensors")).unwrap();
    assert_eq!(mid.tensors["optim.average_count"].1, vec![1.0]);
    assert!(mid.tensors.contains_key("optim.average.single.conv0.weight"), "{:?}", mid.tensors.keys());
    assert!(run_with(cfg.clone(), &data, &out, true, Some(12)).is_err());
    run_with(cfg.clone(), &data, &out, true, None).unwrap();
    let a = same_model(&tmp.join("straight"), &out);
    // without averaging (same rates) the run ends elsewhere
    let (mut plain, plain_out) = (cfg.clone(), tmp.join("plain"));
    (plain.stage1.average_from, plain.stage2.average_from) = (None, None);
    run_with(plain, &data, &plain_out, false, None).unwrap();
    let c = tdfas::model::checkpoint::read(&plain_out.join("model.safetensors")).unwrap();
    assert_ne!(a.tensors["single.conv0.weight"].1, c.tensors["single.conv0.weight"].1);
    let _ = std::fs::remove_dir_all(&tmp);
}

/// `stage1.weight_decay` reaches the optimizer: the same stage-1 run with a decay that outweighs
/// the gradients ends with every single-frame conv weight smaller (L2 norm) than without it.
#[test]
fn stage_1_weight_decay_shrinks_the_weights() {
    let tmp = std::env::temp_dir().join(format!("tdfas-decay-{}", std::process::id()));
    let data = tmp.join("data");
    tiny_dataset(&data);
    let mut cfg = micro();
    cfg.stage1.steps = 6;
    let single = |cfg: Config, out: &str| {
        run_stages(cfg, vec![Stage::Single], None, &data, &tmp.join(out), false, None, false).unwrap();
        tdfas::model::checkpoint::read(&tmp.join(out).join("model.safetensors")).unwrap()
    };
    let plain = single(cfg.clone(), "plain");
    cfg.stage1.weight_decay = Some(1.0);
    let decayed = single(cfg, "decayed");
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let mut convs = 0;
    for (name, (_, v)) in &plain.tensors {
        if name.starts_with("single.") && name.ends_with(".weight") && !name.ends_with(".bn.weight") {
            convs += 1;
            let (a, b) = (norm(v), norm(&decayed.tensors[name].1));
            assert!(b < a, "{name}: |w| {b} with weight decay, {a} without");
        }
    }
    assert!(convs > 0, "no conv weight found among {:?}", plain.tensors.keys());
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn checkpoints_round_trip_and_report_mismatches() {
    let g = gpu();
    let tmp = std::env::temp_dir().join(format!("tdfas-ckpt-{}", std::process::id()));
    let model = FasTd::new(&g, micro(), 3).unwrap();
    let path = tmp.join("m.safetensors");
    let progress = tdfas::model::checkpoint::Progress { stage: 1, step: 0, seed: 0, stage_done: false, init: None };
    checkpoint::save(&g, &path, &model, None, &progress).unwrap();
    let (back, loaded) = tdfas::model::checkpoint::load_model(&g, &path).unwrap();
    assert_eq!(back.cfg, model.cfg);
    assert_eq!(loaded.progress, Some(progress.clone()));
    for p in &model.params.params {
        assert_eq!(p.value.download(&g).unwrap(), back.params.get(&p.name).unwrap().download(&g).unwrap());
    }
    // a checkpoint of another variant lacks tensors: the error lists them and names the file
    let mut cfg = micro();
    cfg.variant = "1".into();
    let single = FasTd::new(&g, cfg, 3).unwrap();
    let p1 = tmp.join("single.safetensors");
    checkpoint::save(&g, &p1, &single, None, &progress).unwrap();
    let mut loaded = tdfas::model::checkpoint::read(&p1).unwrap();
    loaded.config = micro();
    let mut m4 = FasTd::new(&g, micro(), 0).unwrap();
    let e = format!("{:#}", tdfas::model::checkpoint::apply(&g, &mut m4, &loaded).unwrap_err());
    assert!(e.contains("missing tensor off1.reduce.weight"), "{e}");
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn celeba_spoof_reads_labels_spoof_types_boxes_and_its_dev_split() {
    let root = common::tmp_dir("training", "celeba_spoof");
    common::celeba_spoof_tree(&root);
    let spec = tdfas::data::ClipSpec {
        frames: 3,
        interval: 1,
        size: 32,
        map: 4,
        crop: 1.3,
        close_cut: 0.0,
        zoom: 0.0,
        local_contrast: false,
    };
    let train = Dataset::open(&root, Split::Train, None, &spec).unwrap();
    assert_eq!(train.layout, tdfas::data::Layout::CelebaSpoof);
    assert_eq!(train.len(), 6, "subjects 11 and 12, three images each");
    let dev = Dataset::open(&root, Split::Dev, Some("intra_test"), &spec).unwrap();
    assert_eq!(dev.len(), 3, "subject 10");
    assert!((0..dev.len()).all(|i| dev.index(i).video_id.starts_with("Data/train/10/")));
    let test = Dataset::open(&root, Split::Test, None, &spec).unwrap();
    assert_eq!(test.len(), 3);
    let by_name =
        |d: &Dataset, n: &str| (0..d.len()).map(|i| d.index(i).clone()).find(|c| c.video_id.ends_with(n)).unwrap();
    let live = by_name(&test, "000001.png");
    assert_eq!((live.label, live.instrument.as_str()), (1, "live"));
    let pad = by_name(&test, "494405.png");
    assert_eq!((pad.label, pad.instrument.as_str()), (0, "pad"));
    assert_eq!(by_name(&test, "494406.png").instrument, "poster");
    // the box scaled from 224 x 224 to the 448 x 336 image
    let anchor = live.anchors[0].expect("a box from _BB.txt").face_box();
    assert_eq!((anchor.x, anchor.y, anchor.w, anchor.h), (112.0, 42.0, 224.0, 252.0));
    assert_eq!(live.frame_paths.len(), 3, "one image as a clip of Nf copies");
    let clip = test.load(0, None).unwrap();
    assert_eq!(clip.frames.len(), 3 * 3 * 32 * 32);
    // other protocols and broken label rows are said, not guessed
    assert!(Dataset::open(&root, Split::Test, Some("cross"), &spec).is_err());
    std::fs::write(root.join("metas/intra_test/test_label.json"), r#"{"Data/test/5001/live/000001.png": [1, 2]}"#)
        .unwrap();
    let broken = Dataset::open(&root, Split::Test, None, &spec).unwrap();
    assert!(broken.is_empty() && broken.skipped()[0].contains("44 attributes"), "{:?}", broken.skipped());
}

/// CelebA-Spoof trains the single-frame network (`train --stage 1`) and evaluates single-frame
/// models; the multi-frame stage and multi-frame evaluation are refused with the reason.
#[test]
fn celeba_spoof_trains_and_evaluates_the_single_frame_network() {
    let root = common::tmp_dir("training", "celeba_cli");
    let data = root.join("celeba");
    common::celeba_spoof_tree(&data);
    let mut cfg = common::micro_config();
    cfg.stage1.steps = 2;
    let config = root.join("micro.toml");
    std::fs::write(&config, toml::to_string(&cfg).unwrap()).unwrap();
    let tdfas = || std::process::Command::new(env!("CARGO_BIN_EXE_tdfas"));
    let out = root.join("run");
    let train = |flags: &[&str]| {
        let (data, out, config) = (data.as_os_str(), out.as_os_str(), config.as_os_str());
        tdfas()
            .arg("train")
            .args(flags)
            .arg("--data")
            .arg(data)
            .arg("--out")
            .arg(out)
            .arg("--config")
            .arg(config)
            .output()
            .unwrap()
    };
    let o = train(&["--stage", "both"]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && e.contains("CelebA-Spoof") && e.contains("--stage 1"), "{e}");
    let o = train(&["--stage", "1", "--overwrite"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = tdfas()
        .args(["eval", "--checkpoint"])
        .arg(out.join("stage1.safetensors"))
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && table.contains("Model 1"), "{table}{}", String::from_utf8_lossy(&o.stderr));
    // stage 1 alone: the model to score with is the single-frame network (no untrained
    // multi-frame part scoring videos), the same file as stage1.safetensors
    assert_eq!(
        std::fs::read(out.join("model.safetensors")).unwrap(),
        std::fs::read(out.join("stage1.safetensors")).unwrap()
    );
    let loaded = tdfas::model::checkpoint::read(&out.join("model.safetensors")).unwrap();
    assert!(loaded.config.variant().single_only, "variant {}", loaded.config.variant);
    // the whole model stays in checkpoint.safetensors for --stage 2 --resume
    let ckpt = tdfas::model::checkpoint::read(&out.join("checkpoint.safetensors")).unwrap();
    assert!(!ckpt.config.variant().single_only);
}

/// `tools/photos_to_dataset.py`: labelled photos become a generic dataset split by source (the
/// test sources' photos only in `test/`, every other item of the rest in `dev/`, each photo a clip
/// of identical frames, videos skipped and counted), an existing output is refused untouched, and
/// `tdfas train --init` fine-tunes on what it wrote.
#[test]
fn labelled_photos_become_a_dataset_split_by_source_that_training_reads() {
    let tmp = common::tmp_dir("training", "photos");
    let src = tmp.join("photos");
    for (cls, names) in
        [("live", ["camA_1.png", "camA_2.png", "camB_1.png"]), ("attack", ["camA_3.png", "camA_4.png", "camB_2.png"])]
    {
        std::fs::create_dir_all(src.join(cls)).unwrap();
        for (k, name) in names.iter().enumerate() {
            let shade = if cls == "live" { 60 } else { 160 } + 20 * k as u8;
            image::RgbImage::from_fn(48, 48, |x, y| image::Rgb([shade, (x * 5 + y * 3) as u8, 90]))
                .save(src.join(cls).join(name))
                .unwrap();
        }
    }
    std::fs::write(src.join("live").join("camA_video.mp4"), b"not a photo").unwrap();
    let tool = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/photos_to_dataset.py");
    let ds = tmp.join("ds");
    let py = |extra: &[&str]| {
        std::process::Command::new("python3")
            .arg(&tool)
            .arg(&src)
            .arg(&ds)
            .args(["--test-sources", "camB", "--dev-every", "2"])
            .args(extra)
            .output()
            .expect("python3 runs tools/photos_to_dataset.py")
    };
    let o = py(&[]);
    let said = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success(), "{said}{}", String::from_utf8_lossy(&o.stderr));
    assert!(said.contains("1 files skipped"), "{said}");
    let clips = |split: &str, cls: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(ds.join(split).join(cls))
            .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    assert_eq!(clips("test", "live"), ["camB_1"]);
    assert_eq!(clips("test", "attack"), ["camB_2"]);
    assert_eq!(
        (clips("train", "live"), clips("dev", "live")),
        (vec!["camA_1".to_string()], vec!["camA_2".to_string()])
    );
    assert_eq!(
        (clips("train", "attack"), clips("dev", "attack")),
        (vec!["camA_3".to_string()], vec!["camA_4".to_string()])
    );
    let photo = std::fs::read(src.join("live/camA_1.png")).unwrap();
    for k in 0..7 {
        assert_eq!(std::fs::read(ds.join(format!("train/live/camA_1/{k:04}.png"))).unwrap(), photo, "frame {k}");
    }
    // a second run into the same folder is refused and changes nothing
    let marker = ds.join("train/live/camA_1/0000.png");
    let o = py(&[]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("exists"));
    assert_eq!(std::fs::read(&marker).unwrap(), photo);
    // a model trained elsewhere, fine-tuned on these photos (faces not searched: synthetic frames)
    let base = tmp.join("base");
    let data = tmp.join("data");
    tiny_dataset(&data);
    run(&data, &base, false, None).unwrap();
    let o = common::tdfas_cmd()
        .args(["train", "--no-detect", "--stage", "1", "--steps", "2", "--data"])
        .arg(&ds)
        .arg("--init")
        .arg(base.join("model.safetensors"))
        .arg("--out")
        .arg(tmp.join("tuned"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // the fine-tuned model names what it was tuned from, by path and checksum
    let base_model = tdfas::model::checkpoint::read(&base.join("model.safetensors")).unwrap();
    let tuned = tdfas::model::checkpoint::read(&tmp.join("tuned/model.safetensors")).unwrap();
    let init = tuned.progress.and_then(|p| p.init).expect("the starting checkpoint is recorded");
    assert!(init.contains("base/model.safetensors"), "{init}");
    assert!(init.contains(base_model.checksum.as_deref().unwrap()), "{init}");
    let _ = std::fs::remove_dir_all(&tmp);
}
