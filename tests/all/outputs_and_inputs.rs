//! Reliability of outputs and inputs: nothing lost (tdfas deletes only what it wrote, one
//! training run per folder, no temporary files left behind) and nothing silently wrong (resume
//! flags, untrainable settings, one-class data, unreadable data named with the step).

use crate::common;
use common::{tdfas_cmd as tdfas, tiny_dataset};
use std::path::{Path, PathBuf};
use std::process::Output;

use tdfas::model::Config;
use tdfas::train::checkpoint;
use tdfas::train::outdir;

/// The micro config with two steps per stage.
fn micro() -> Config {
    let mut c = common::micro_config();
    c.stage1.steps = 2;
    c.stage2.steps = 2;
    c
}

fn tmp(name: &str) -> PathBuf {
    common::tmp_dir("rel2", name)
}

/// `tdfas train` on `data` into `out` with the micro config and seed 5, plus `extra` flags.
fn train(data: &Path, out: &Path, config: &Path, extra: &[&str]) -> Output {
    let mut c = tdfas();
    c.args(["train", "--checkpoint-every", "1", "--data"]).arg(data).arg("--out").arg(out);
    if !extra.iter().any(|a| *a == "--resume" || *a == "--preset") {
        c.arg("--config").arg(config).args(["--seed", "5"]);
    }
    c.args(extra).output().unwrap()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn fails_with(o: &Output, parts: &[&str]) -> String {
    let e = err(o);
    assert_eq!(o.status.code(), Some(if e.contains("Usage:") { 2 } else { 1 }), "{e}");
    assert!(!e.contains("panicked"), "{e}");
    for p in parts {
        assert!(e.contains(p), "expected {p:?} in:\n{e}");
    }
    e
}

fn setup(name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = tmp(name);
    let data = dir.join("data");
    tiny_dataset(&data);
    let config = dir.join("micro.toml");
    std::fs::write(&config, toml::to_string(&micro()).unwrap()).unwrap();
    (dir, data, config)
}

/// A folder tdfas did not write is never deleted; one it wrote is cleared.
#[test]
fn demo_and_synth_delete_only_folders_tdfas_wrote() {
    let dir = tmp("owned");
    let kept = dir.join("data").join("my_photos.txt");
    std::fs::create_dir_all(kept.parent().unwrap()).unwrap();
    std::fs::write(&kept, "mine").unwrap();
    let o = tdfas().args(["demo", "--quick", "--out"]).arg(&dir).output().unwrap();
    fails_with(&o, &[&dir.join("data").display().to_string(), "not written by tdfas", "not deleting"]);
    assert!(kept.exists());

    let o = tdfas().args(["synth", "--out"]).arg(dir.join("data")).output().unwrap();
    fails_with(&o, &["not written by tdfas"]);
    assert!(kept.exists());

    // a split and videos of the user's own: domain A's 3 identities x 3 classes x 2 videos,
    // and small's domain B (12 identities x 3 classes x 2 videos)
    let own = dir.join("own");
    let mut synth = tdfas();
    synth.args(["synth", "--preset", "small-crop", "--split", "1,0,2", "--videos-per-class", "2", "--out"]).arg(&own);
    let o = synth.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("90 videos"), "{}", String::from_utf8_lossy(&o.stdout));
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(own.join("synth.json")).unwrap()).unwrap();
    assert_eq!((meta["identities"].as_u64(), meta["videos_per_class"].as_u64()), (Some(3), Some(2)));
    assert_eq!(meta["split"], serde_json::json!([1, 0, 2]));

    // marked: cleared, so no stale clip of an earlier render stays in the dataset
    let owned = dir.join("owned");
    outdir::fresh_owned_dir(&owned, "tdfas test", &["train"]).unwrap();
    std::fs::create_dir_all(owned.join("train/live/stale")).unwrap();
    outdir::fresh_owned_dir(&owned, "tdfas test", &["train"]).unwrap();
    assert!(!owned.join("train").exists() && owned.join(outdir::MARKER).exists());
    // an empty folder is taken over; a file in its place is refused
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    outdir::fresh_owned_dir(&dir.join("empty"), "tdfas test", &["train"]).unwrap();
    let e = format!("{:#}", outdir::fresh_owned_dir(&kept, "tdfas test", &["train"]).unwrap_err());
    assert!(e.contains("not a folder"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// One training run per folder, no silent overwrite, resume flags applied or
/// refused, untrainable settings refused, one-class data warned about, no temp files left.
#[test]
fn training_folders_runs_and_resume_flags() {
    let (dir, data, config) = setup("train");
    let out = dir.join("run");
    std::fs::create_dir_all(&out).unwrap();
    // a temp file of a killed write (pid far above pid_max) and a file of the user's
    let stale = out.join(".checkpoint.safetensors.tmp999999999");
    std::fs::write(&stale, vec![0u8; 1000]).unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();

    // another run holds the folder: refused at once, naming its pid
    {
        let _held = outdir::lock(&out).unwrap();
        let o = train(&data, &out, &config, &[]);
        fails_with(&o, &["in use by another training run", &format!("pid {}", std::process::id())]);
    }
    let o = train(&data, &out, &config, &[]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(!stale.exists(), "stale temp file kept");
    // a run that fails before writing anything leaves no folder of its own behind
    let not_data = dir.join("not_a_dataset");
    std::fs::create_dir_all(&not_data).unwrap();
    let failed = dir.join("failed_run");
    fails_with(&train(&not_data, &failed, &config, &[]), &["unknown dataset layout"]);
    assert!(!failed.exists(), "a folder holding only the lock file was left");
    let (model, _) = model_bytes(&out);

    // into a finished run: refused without --resume, replaced with --overwrite (user files kept)
    fails_with(&train(&data, &out, &config, &[]), &["already holds a finished run", "--overwrite"]);
    let o = train(&data, &out, &config, &["--overwrite"]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(out.join("notes.txt").exists());
    assert_eq!(model_bytes(&out).0, model, "same seed, same model");
    let lines = std::fs::read_to_string(out.join("log.jsonl")).unwrap().lines().count();
    assert_eq!(lines, 4, "the log of the replaced run was kept");

    // --resume: what cannot change is refused naming the flag; nothing is trained
    fails_with(&train(&data, &out, &config, &["--resume", "--seed", "7"]), &["--seed 7", "seed 5"]);
    fails_with(&train(&data, &out, &config, &["--resume", "--lr1", "0.5"]), &["--lr1", "stage1.lr"]);
    fails_with(&train(&data, &out, &config, &["--resume", "--preset", "tiny"]), &["--config/--preset"]);
    fails_with(&train(&data, &out, &config, &["--resume", "--steps", "1"]), &["--steps 1", "step 2 already"]);
    // ... more steps continue the finished run, to exactly the model of a longer run
    let o = train(&data, &out, &config, &["--resume", "--steps", "4"]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(err(&o).contains("stage 2: 2 -> 4 steps"), "{}", err(&o));
    let mut longer = micro();
    longer.stage2.steps = 4;
    let config4 = dir.join("micro4.toml");
    std::fs::write(&config4, toml::to_string(&longer).unwrap()).unwrap();
    let straight = dir.join("straight");
    let o = train(&data, &straight, &config4, &[]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(model_bytes(&out), model_bytes(&straight), "extended run differs from a longer run");
    let o = train(&data, &out, &config, &["--resume"]);
    assert!(o.status.success() && err(&o).contains("nothing to train"), "{}", err(&o));

    // a kill after logging a step but before its checkpoint: the resumed run logs it once
    let killed = dir.join("killed");
    let o = train(&data, &killed, &config, &["--stop-after", "2"]);
    assert!(!o.status.success() && err(&o).contains("--stop-after"), "{}", err(&o));
    let log = killed.join("log.jsonl");
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str("{\"stage\":2,\"step\":1,\"losses\":{}}\n{\"stage\":2,\"st");
    std::fs::write(&log, text).unwrap();
    let o = train(&data, &killed, &config, &["--resume"]);
    assert!(o.status.success(), "{}", err(&o));
    let steps: Vec<(u64, u64)> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| (v["stage"].as_u64().unwrap(), v["step"].as_u64().unwrap()))
        .collect();
    assert_eq!(steps, [(1, 1), (1, 2), (2, 1), (2, 2)]);
    assert_eq!(model_bytes(&killed).0, model, "the resumed run differs from the straight one");

    // settings that would write an untrained model
    let fresh = dir.join("fresh");
    fails_with(&train(&data, &fresh, &config, &["--steps", "0"]), &["0 steps"]);
    fails_with(&train(&data, &fresh, &config, &["--stage", "2"]), &["--stage 2", "--stage 1 first"]);
    fails_with(&train(&data, &fresh, &config, &["--variant", "1", "--stage", "2"]), &["variant 1", "--stage 1"]);
    fails_with(&train(&data, &fresh, &config, &["--preset", "tiny", "--config", "x.toml"]), &["--config"]);
    fails_with(&train(&data, &fresh, &config, &["--resume", "--overwrite"]), &["--overwrite"]);
    assert!(!fresh.join("model.safetensors").exists());

    // a train split without attack clips: a warning
    for class in ["print", "replay"] {
        std::fs::remove_dir_all(data.join("train").join(class)).unwrap();
    }
    // ... and a face box outside its frame: a warning, not a silent whole-frame crop
    let clip = std::fs::read_dir(data.join("train/live")).unwrap().next().unwrap().unwrap().path();
    let boxes: String = (0..6).map(|i| format!("{i},500,500,10,10\n")).collect();
    std::fs::write(clip.join("bbox.csv"), format!("frame,x,y,w,h\n{boxes}")).unwrap();
    let o = train(&data, &dir.join("live_only"), &config, &["--steps", "1"]);
    let e = err(&o);
    assert!(o.status.success(), "{e}");
    assert!(e.contains("warning") && e.contains("no attack clip"), "{e}");
    assert!(e.contains("lies outside the 32x32 frame"), "{e}");
    for e in std::fs::read_dir(&out).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().to_string();
        assert!(!name.contains(".tmp"), "temp file {name} left");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn model_bytes(out: &Path) -> (Vec<u8>, String) {
    let bytes = std::fs::read(out.join("model.safetensors")).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let loaded = tdfas::model::checkpoint::read(&out.join("model.safetensors")).unwrap();
    (bytes[8 + n..].to_vec(), format!("{:?} {:?}", loaded.config, loaded.progress))
}

/// A failed write removes its temporary file.
#[test]
fn a_failed_atomic_write_leaves_no_temp_file() {
    let dir = tmp("atomic");
    // renaming onto a non-empty folder fails after the temp file is written
    let target = dir.join("model.safetensors");
    std::fs::create_dir_all(target.join("x")).unwrap();
    assert!(tdfas::util::fs::write_atomic(&target, b"data").is_err());
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 1, "{left:?}");
    // a stale temp file of a dead process is removed by the next write to the same name
    let stale = dir.join(".dump.safetensors.tmp999999999");
    std::fs::write(&stale, b"partial").unwrap();
    let live = dir.join(format!(".dump.safetensors.tmp{}", std::process::id()));
    std::fs::write(&live, b"ours").unwrap();
    if Path::new("/proc/self").exists() {
        assert_eq!(tdfas::util::fs::clean_stale_tmp(&dir, &["dump.safetensors"], false), 1);
        assert!(!stale.exists() && live.exists());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// An unreadable frame met during training stops it naming the step and the file.
#[test]
fn an_unreadable_frame_during_training_names_the_step() {
    let (dir, data, config) = setup("unreadable");
    let clip = std::fs::read_dir(data.join("train/live")).unwrap().next().unwrap().unwrap().path();
    let frame = clip.join("0001.jpg");
    assert!(frame.exists());
    std::fs::write(&frame, b"not an image").unwrap();
    let o = train(&data, &dir.join("run"), &config, &[]);
    let e = fails_with(&o, &["stage 1, step", "training stopped", "0001.jpg"]);
    println!("{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Bench settings that would be ignored or print an empty table.
#[test]
fn bench_filter_matching_nothing_is_an_error() {
    let o = tdfas().args(["bench", "--quick", "--preset", "paper"]).output().unwrap();
    fails_with(&o, &["--quick benchmarks the tiny preset", "--preset paper"]);
    let o = tdfas().args(["bench", "--quick", "--filter", "no_such_kernel"]).output().unwrap();
    fails_with(&o, &["matches no benchmark", "conv"]);
    let o = tdfas().args(["demo", "--quick", "--preset", "tiny", "--config", "x.toml"]).output().unwrap();
    fails_with(&o, &["--config"]);
}

/// The decoded-frame cache is keyed by the video's content and the dataset root.
#[test]
fn the_frame_cache_is_keyed_by_content_and_root() {
    let dir = tmp("cache");
    let (a, b) = (dir.join("a"), dir.join("b"));
    for root in [&a, &b] {
        std::fs::create_dir_all(root).unwrap();
        std::fs::write(root.join("1_1_01_1.avi"), b"video one").unwrap();
    }
    let key = |root: &Path| tdfas::data::video::cache_dir(root, &root.join("1_1_01_1.avi"));
    let first = key(&a);
    assert_eq!(first, key(&a), "the key must be stable");
    assert!(first.starts_with(a.join(".tdfas_frames")), "{}", first.display());
    // the same name in another dataset, and a replaced video of the same size
    assert_ne!(first.file_name(), key(&b).file_name());
    // a partial decode of a killed run is removed; one of a live process is not
    let name = first.file_name().unwrap().to_str().unwrap().to_string();
    let dead = first.with_file_name(format!(".{name}.tmp999999999"));
    let live = first.with_file_name(format!(".{name}.tmp1")); // pid 1 runs as long as the machine
    for d in [&dead, &live] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::write(d.join("0001.png"), b"partial").unwrap();
    }
    let clip = tdfas::data::ClipIndex {
        video: Some(a.join("1_1_01_1.avi")),
        frame_paths: vec![first.join("0001.png")],
        ..Default::default()
    };
    // the bytes are no video: decoding fails (with or without ffmpeg), after the clean-up
    assert!(tdfas::data::video::ensure_frames(&clip).is_err());
    // (whether a pid runs is told from /proc; elsewhere nothing is removed)
    assert!(!Path::new("/proc/self").exists() || !dead.exists());
    assert!(live.exists());
    std::fs::write(a.join("1_1_01_1.avi"), b"video two").unwrap();
    assert_ne!(first, key(&a), "a replaced video reuses the old frames");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Errors ffmpeg reports while decoding a damaged video partly are
/// a warning naming the video, not dropped.
#[cfg(unix)]
#[test]
fn ffmpeg_errors_on_a_partly_decoded_video_are_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tmp("ffmpeg");
    // four 16 x 16 frames as FFmpeg pipes them (PPM)
    let ppm = dir.join("frames.ppm");
    let frame: Vec<u8> = b"P6\n16 16\n255\n".iter().copied().chain([90u8, 120, 150].repeat(16 * 16)).collect();
    std::fs::write(&ppm, frame.repeat(4)).unwrap();
    // a stand-in ffmpeg: counts the frames (`-f null -`) or pipes them, reports decoding errors,
    // exits 0 as ffmpeg does
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("ffmpeg");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ \"$1\" = -version ] && exit 0\nfor a; do last=\"$a\"; done\n\
             echo '[h264 @ 0x1] Invalid NAL unit size' >&2\necho '[h264 @ 0x1] error while decoding MB 3 4' >&2\n\
             if [ \"$last\" = - ]; then printf 'frame=4\\nprogress=end\\n'; else cat {}; fi\nexit 0\n",
            ppm.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let gpu = common::gpu();
    let model = tdfas::model::fastd::FasTd::new(&gpu, micro(), 0).unwrap();
    let ckpt = dir.join("m.safetensors");
    let progress = tdfas::model::checkpoint::Progress { stage: 2, step: 2, seed: 0, stage_done: true, init: None };
    checkpoint::save(&gpu, &ckpt, &model, None, &progress).unwrap();
    let video = dir.join("cut.mp4");
    std::fs::write(&video, b"truncated").unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let o = tdfas()
        .args(["dump", "--checkpoint"])
        .arg(&ckpt)
        .arg("--input")
        .arg(&video)
        .arg("--out")
        .arg(dir.join("d.safetensors"))
        .env("PATH", path)
        .output()
        .unwrap();
    let e = err(&o);
    assert!(o.status.success(), "{e}");
    assert!(e.contains("warning: ffmpeg reported 2 error line(s) decoding") && e.contains("cut.mp4"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Depth labels and masks of another size than their frames are scaled to the frame
/// (same aspect ratio) or rejected naming the file, never sampled in the wrong coordinates.
#[test]
fn labels_of_another_size_are_scaled_or_rejected() {
    use tdfas::data::{ClipSpec, Dataset, Split};
    let dir = tmp("labels");
    let data = dir.join("data");
    tiny_dataset(&data);
    let spec = ClipSpec {
        frames: 3,
        interval: 1,
        size: 32,
        map: 8,
        crop: 1.3,
        close_cut: 0.0,
        zoom: 0.0,
        local_contrast: false,
    };
    let live = |data: &Path| {
        let ds = Dataset::open(data, Split::Train, None, &spec).unwrap();
        let i = (0..ds.len()).find(|&i| ds.index(i).label == 1).unwrap();
        (ds.index(i).depth_paths.clone(), ds.load(i, None))
    };
    let (paths, before) = live(&data);
    let before = before.unwrap();
    assert!(before.depth.iter().any(|&d| d > 0.2), "no face depth in the live clip");
    // the same labels at half size (32 px frames, 16 px labels), as some datasets ship them
    for p in paths.iter().flatten() {
        let img = image::open(p).unwrap().to_luma8();
        image::imageops::resize(&img, 16, 16, image::imageops::FilterType::Triangle).save(p).unwrap();
    }
    let after = live(&data).1.unwrap();
    // (sampled in the frame's coordinates, a 16 px label would give zeros beyond its middle)
    let mean =
        before.depth.iter().zip(&after.depth).map(|(a, b)| (a - b).abs()).sum::<f32>() / after.depth.len() as f32;
    assert!(mean < 0.1, "scaled labels differ by {mean} on average"); // 0.31 unscaled, 0.04 scaled
                                                                      // another aspect ratio: an error naming the file
    let p = paths[0].as_ref().unwrap();
    image::GrayImage::new(32, 8).save(p).unwrap();
    let e = format!("{:#}", live(&data).1.unwrap_err());
    assert!(e.contains(&p.display().to_string()) && e.contains("32x8") && e.contains("frame 32x32"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// bbox.csv lines are a header (first line only), comments, or valid boxes.
#[test]
fn bbox_csv_damage_is_named() {
    use tdfas::data::generic::parse_bbox;
    let ok = parse_bbox("# made by hand\nframe,x,y,w,h\n0,1,2,30,40\n# more\n1,1,2,30,40\n", "b.csv").unwrap();
    assert_eq!(ok.len(), 2);
    for (text, want) in [
        ("frame,x,y,w,h\n0,1,2,30,40\nabc,1,2,30,40\n", "b.csv:3"),
        ("0,1,2,30,40\nx1,1,2,30,40\n", "b.csv:2"),
        ("0,1,2,0.001,40\n", "at least 2 pixels"),
        ("0,1,2,1e6,40\n", "not a usable coordinate"),
        ("4294967296,1,2,30,40\n", "too large (at most 4294967295)"),
        ("-1,1,2,30,40\n", "not a whole number"),
    ] {
        let e = format!("{:#}", parse_bbox(text, "b.csv").unwrap_err());
        assert!(e.contains(want), "{text:?}: {e}");
    }
}

/// The header is read first: an image over the pixel budget is refused before its pixels are
/// decoded (decoding a 818 KB PNG of 16384 x 16384 takes 4.8 GB and 48 s; refusing it, 82 MB
/// and 0.14 s).
#[test]
fn an_image_over_the_pixel_budget_is_refused_from_its_header() {
    let dir = tmp("pixels");
    let p = dir.join("0001.png");
    image::GrayImage::new(7000, 6000).save(&p).unwrap();
    let bytes = std::fs::metadata(&p).unwrap().len();
    assert!(bytes < 1 << 20, "{bytes}");
    let started = std::time::Instant::now();
    let e = format!("{:#}", tdfas::data::imageops::load(&p, false).unwrap_err());
    assert!(e.contains(&p.display().to_string()) && e.contains("7000x6000 pixels is more than"), "{e}");
    assert!(started.elapsed().as_secs_f64() < 0.5, "decoded before refusing: {:?}", started.elapsed());
    // within the budget it loads
    image::GrayImage::new(640, 480).save(&p).unwrap();
    assert_eq!(tdfas::data::imageops::load(&p, false).unwrap().w, 640);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The autotune says what it does and stores its times; a backend this platform
/// lacks is named as such; the slow GL fallback says how to get the fast path.
#[test]
fn adapter_and_autotune_messages() {
    let dir = tmp("tune");
    let cache = dir.join("tuning.json");
    let o = tdfas().arg("info").env("TDFAS_TUNING_CACHE", &cache).env_remove("TDFAS_CONV").output().unwrap();
    let (e, out) = (err(&o), String::from_utf8_lossy(&o.stdout).to_string());
    assert!(o.status.success(), "{e}");
    assert!(e.contains("tuning the conv kernel") && e.contains(" ms"), "{e}");
    let saved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    let entry = saved.as_object().unwrap().values().next().unwrap();
    assert!(entry["ms"]["blocked"].as_f64().is_some() && entry["kernel"].is_string(), "{entry}");
    // an entry of the old format (the name alone, maybe chosen by noise) is tuned anew
    let key = saved.as_object().unwrap().keys().next().unwrap().clone();
    std::fs::write(&cache, format!("{{{}: \"tiled\"}}", serde_json::to_string(&key).unwrap())).unwrap();
    let o = tdfas().arg("info").env("TDFAS_TUNING_CACHE", &cache).env_remove("TDFAS_CONV").output().unwrap();
    assert!(err(&o).contains("tuning the conv kernel"), "{}", err(&o));
    let saved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    assert!(saved[key.as_str()]["ms"].is_object(), "{saved}");
    // cached: no second tuning
    let o = tdfas().arg("info").env("TDFAS_TUNING_CACHE", &cache).env_remove("TDFAS_CONV").output().unwrap();
    assert!(!err(&o).contains("tuning the conv kernel"), "{}", err(&o));
    let gl = out.lines().any(|l| l.starts_with("backend") && l.contains("Gl"));
    assert_eq!(e.contains("through the GL backend") && e.contains("mesa-vulkan-drivers"), gl, "{out}\n{e}");
    if cfg!(target_os = "linux") {
        for b in ["metal", "dx12"] {
            let o = tdfas().arg("info").env("TDFAS_BACKEND", b).output().unwrap();
            fails_with(&o, &["not available on this platform", "available: vulkan"]);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A clip folder whose name is not UTF-8 is read, not reported missing and dropped.
#[cfg(target_os = "linux")]
#[test]
fn a_non_utf8_clip_folder_is_read() {
    use std::os::unix::ffi::OsStrExt;
    use tdfas::data::{Dataset, Split};
    let dir = tmp("utf8");
    let data = dir.join("data");
    tiny_dataset(&data);
    let spec = micro().clip_spec();
    let before = Dataset::open(&data, Split::Train, None, &spec).unwrap();
    let live = data.join("train/live");
    let clip = std::fs::read_dir(&live).unwrap().next().unwrap().unwrap().path();
    // the copy gives as many clips as the video it copies
    let name = clip.file_name().unwrap().to_string_lossy().into_owned();
    let copied = (0..before.len()).filter(|&i| before.index(i).video_id.ends_with(&name)).count();
    assert!(copied >= 1);
    let odd = live.join(std::ffi::OsStr::from_bytes(b"caf\xe9_clip"));
    std::fs::create_dir(&odd).unwrap();
    for e in std::fs::read_dir(&clip).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, odd.join(p.file_name().unwrap())).unwrap();
    }
    let ds = Dataset::open(&data, Split::Train, None, &spec).unwrap();
    assert!(ds.skipped().iter().all(|w| !w.contains("missing")), "{:?}", ds.skipped());
    assert_eq!(ds.len(), before.len() + copied);
    let i = (0..ds.len()).find(|&i| ds.index(i).video_id.contains("caf")).unwrap();
    ds.load(i, None).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
