//! tdfas used carelessly or with hostile input: outputs never replace inputs or files tdfas did
//! not write, reads stay inside the data and within budgets, bad stored thresholds are refused,
//! names cannot drive the terminal, videos are read without scratch files, and every bad
//! input is a clear error naming what is wrong.

use crate::common;
use common::{tdfas_cmd as tdfas, tiny_dataset};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use tdfas::data::{DataSource, Dataset, Split};
use tdfas::model::checkpoint::{Calibration, Progress};
use tdfas::train::checkpoint;

/// The `tdfas` command with these arguments, strings and paths alike.
macro_rules! tdfas {
    ($($arg:expr),* $(,)?) => {{
        let mut c = tdfas();
        $(c.arg($arg);)*
        c
    }};
}

/// `tdfas` with these arguments, run to its end.
macro_rules! run {
    ($($arg:expr),* $(,)?) => {
        tdfas!($($arg),*).output().unwrap()
    };
}

fn tmp(name: &str) -> PathBuf {
    common::tmp_dir("hostile", name)
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// The command failed (exit 1, or 2 for a usage error), without a panic, saying each of `parts`.
fn fails_with(o: &Output, parts: &[&str]) -> String {
    let e = err(o);
    assert!(!o.status.success(), "expected a failure, got success:\n{}\n{e}", out(o));
    assert!(!e.contains("panicked"), "{e}");
    for p in parts {
        assert!(e.contains(p), "expected {p:?} in:\n{e}");
    }
    e
}

/// The command succeeded; its output, for what it printed.
fn succeeded(o: Output) -> Output {
    assert!(o.status.success(), "{}", err(&o));
    o
}

/// `path` still holds what it held before tdfas ran.
fn untouched(path: &Path, before: impl AsRef<[u8]>) {
    assert!(file_bytes(path) == before.as_ref(), "{} was changed", path.display());
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// One JSON value per line, as `infer --json` writes them.
fn read_json_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn calibration(threshold: f64, data: &str) -> Calibration {
    Calibration {
        threshold,
        method: "dev EER".into(),
        data: data.into(),
        protocol: Some("all".into()),
        dev_eer: 0.1,
        n_live: 3,
        n_attack: 6,
    }
}

/// An untrained micro model (variant 4) with a stored threshold, written to `path`.
fn model_with(path: &Path, seed: u64, cfg: tdfas::model::Config, c: Option<Calibration>) {
    let gpu = common::gpu();
    let model = tdfas::model::fastd::FasTd::new(&gpu, cfg, seed).unwrap();
    let progress = Progress { stage: 2, step: 1, seed, stage_done: true, init: None };
    checkpoint::save_calibrated(&gpu, path, &model, None, &progress, c.as_ref()).unwrap();
}

fn model(path: &Path) {
    model_with(path, 0, common::micro_config(), Some(calibration(0.5, "data")));
}

/// `n` textured frames of `side` x `side` pixels as `NNNN.<ext>` in `dir`.
fn frames(dir: &Path, n: usize, side: u32, ext: &str, shade: u8) {
    std::fs::create_dir_all(dir).unwrap();
    for k in 0..n {
        let img = image::RgbImage::from_fn(side, side, |x, y| {
            let t = ((x * 7 + y * 13 + k as u32 * 3) % 23) as u8;
            image::Rgb([shade.wrapping_add(t * 4), 90 + t, 140 - t])
        });
        img.save(dir.join(format!("{:04}.{ext}", k + 1))).unwrap();
    }
}

/// `n` frames of one flat colour.
fn flat_frames(dir: &Path, n: usize, side: u32) {
    std::fs::create_dir_all(dir).unwrap();
    for k in 0..n {
        image::RgbImage::from_pixel(side, side, image::Rgb([128, 100, 90]))
            .save(dir.join(format!("{:04}.png", k + 1)))
            .unwrap();
    }
}

fn have_ffmpeg() -> bool {
    let ok = tdfas::data::video::ffmpeg_available();
    if !ok {
        eprintln!("ffmpeg is not installed: skipping (.ci/run installs it)");
    }
    ok
}

/// A video of `n` test-pattern frames made by ffmpeg, with extra ffmpeg arguments before the output.
fn video(path: &Path, n: usize, extra: &[&str]) {
    let o = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=10", "-frames:v"])
        .arg(n.to_string())
        .args(extra)
        .arg(path)
        .output()
        .unwrap();
    assert!(o.status.success(), "ffmpeg: {}", err(&o));
}

fn file_bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

/// `model` at `d/m.safetensors`.
fn model_in(d: &Path) -> PathBuf {
    let ckpt = d.join("m.safetensors");
    model(&ckpt);
    ckpt
}

/// Four textured 32 x 32 frames at `d/clip`.
fn clip_in(d: &Path) -> PathBuf {
    let clip = d.join("clip");
    frames(&clip, 4, 32, "png", 10);
    clip
}

#[test]
fn an_output_that_is_one_of_the_inputs_is_refused_before_any_work() {
    let d = tmp("same");
    let (ckpt, clip) = (model_in(&d), clip_in(&d));
    let before = file_bytes(&ckpt);
    let dotted = d.join(".").join("m.safetensors");
    let link = d.join("link.safetensors");
    std::os::unix::fs::symlink(&ckpt, &link).unwrap();
    // dump --out X, infer --json X, eval --json X (X the checkpoint, by other names too)
    fails_with(&run!("dump", "--checkpoint", &ckpt, "--input", &clip, "--out", &ckpt), &["--out", "inputs"]);
    fails_with(&run!("infer", "--checkpoint", &ckpt, "--json", &dotted, &clip), &["--json", "inputs"]);
    fails_with(&run!("infer", "--checkpoint", &ckpt, "--json", &link, &clip), &["--json", "inputs"]);
    let data = d.join("data");
    std::fs::create_dir_all(&data).unwrap();
    fails_with(&run!("eval", "--checkpoint", &ckpt, "--data", &data, "--json", &ckpt), &["--json", "inputs"]);
    // infer --json v.mp4 v.mp4: the video itself
    let v = d.join("v.mp4");
    std::fs::write(&v, b"a video").unwrap();
    fails_with(&run!("infer", "--checkpoint", &ckpt, "--json", &v, &v), &["--json", "inputs"]);
    untouched(&v, b"a video");
    // a report folder that holds the checkpoint would be replaced with it
    let o = run!("eval", "--checkpoint", &ckpt, "--data", &data, "--report", &d);
    fails_with(&o, &["--report", "holds the input"]);
    // a training folder that holds the starting model (--overwrite would clear it)
    let o = run!("train", "--data", &data, "--init", &ckpt, "--out", &d, "--overwrite");
    fails_with(&o, &["--out", "holds the input"]);
    untouched(&ckpt, before);
    // a starting model that is no checkpoint is named before any work
    let o = run!("train", "--data", &data, "--init", &clip.join("0001.png"), "--out", d.join("run"));
    fails_with(&o, &["0001.png", "not usable"]);
    assert!(!d.join("run").exists());
}

#[test]
fn an_existing_file_tdfas_did_not_write_is_replaced_only_with_overwrite() {
    let d = tmp("foreign");
    let (ckpt, clip) = (model_in(&d), clip_in(&d));
    let notes = d.join("notes.json");
    std::fs::write(&notes, "{\"my\": \"notes\"}").unwrap();
    let o = run!("infer", "--no-detect", "--checkpoint", &ckpt, "--json", &notes, &clip);
    fails_with(&o, &["notes.json", "not written by tdfas", "--overwrite"]);
    untouched(&notes, "{\"my\": \"notes\"}");
    succeeded(run!("infer", "--no-detect", "--overwrite", "--checkpoint", &ckpt, "--json", &notes, &clip));
    // tdfas's own output is replaced without asking
    succeeded(run!("infer", "--no-detect", "--checkpoint", &ckpt, "--json", &notes, &clip));
    // dump --out onto a file that is not a dump
    fails_with(&run!("dump", "--checkpoint", &ckpt, "--input", &clip, "--out", &notes), &["not written by tdfas"]);
    // a depth map name taken by a picture of the user's
    let depth = d.join("depth");
    std::fs::create_dir_all(&depth).unwrap();
    let theirs = depth.join("clip_clip0_d_fusion_t0.png");
    image::RgbImage::new(2, 2).save(&theirs).unwrap();
    let mine = file_bytes(&theirs);
    let o = run!("infer", "--no-detect", "--checkpoint", &ckpt, "--depth-dir", &depth, &clip);
    fails_with(&o, &["clip_clip0_d_fusion_t0.png", "not written by tdfas"]);
    untouched(&theirs, mine);
    // once tdfas wrote them, a second run replaces its own maps
    std::fs::remove_file(&theirs).unwrap();
    for _ in 0..2 {
        succeeded(run!("infer", "--no-detect", "--checkpoint", &ckpt, "--depth-dir", &depth, &clip));
    }
}

#[test]
fn a_file_named_like_an_ffmpeg_protocol_is_read_as_a_file() {
    if !have_ffmpeg() {
        return;
    }
    let d = tmp("protocol");
    let ckpt = model_in(&d);
    video(&d.join("a.mp4"), 8, &[]);
    // "concat:a.mp4" as a protocol string would read a.mp4; as a file it is not a video
    std::fs::write(d.join("concat:a.mp4"), b"not a video").unwrap();
    let json = d.join("r.json");
    let o = tdfas!("infer", "--no-detect", "--checkpoint", &ckpt, "--json", &json, "concat:a.mp4")
        .current_dir(&d)
        .output()
        .unwrap();
    fails_with(&o, &["concat:a.mp4", "ffmpeg failed"]);
    let r = read_json(&json);
    assert_eq!(r["verdict"], "error");
    assert!(r["score"].is_null(), "a.mp4 was scored in its place: {r}");
}

#[test]
fn protocol_lists_cannot_name_clips_outside_the_dataset() {
    let d = tmp("outside");
    let data = d.join("data");
    tiny_dataset(&data);
    let spec = common::micro_config().clip_spec();
    let proto = data.join("protocols").join("evil");
    std::fs::create_dir_all(&proto).unwrap();
    let outside = d.join("elsewhere");
    std::fs::create_dir_all(&outside).unwrap();
    let good = std::fs::read_to_string(data.join("protocols/all/test.txt")).unwrap();
    for (entry, expect) in [("+1,../elsewhere", "`..`"), ("+1,/etc", "absolute")] {
        std::fs::write(proto.join("test.txt"), format!("{good}{entry}\n")).unwrap();
        let e = format!("{:#}", Dataset::open(&data, Split::Test, Some("evil"), &spec).err().expect("refused"));
        let line = good.lines().count() + 1;
        assert!(e.contains(&format!("test.txt:{line}")) && e.contains(expect), "{e}");
    }
    // a link inside the folder that leads out
    let first = good.lines().next().unwrap().split(',').nth(1).unwrap().to_string();
    let link = data.join("test").join("live").join("sneaky");
    std::fs::create_dir_all(outside.join("clip")).unwrap();
    for f in std::fs::read_dir(data.join(&first)).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, outside.join("clip").join(f.file_name().unwrap())).unwrap();
    }
    std::os::unix::fs::symlink(outside.join("clip"), &link).unwrap();
    std::fs::write(proto.join("test.txt"), format!("{good}+1,test/live/sneaky\n")).unwrap();
    let e = format!("{:#}", Dataset::open(&data, Split::Test, Some("evil"), &spec).err().expect("refused"));
    assert!(e.contains("through a link") && e.contains("--allow-outside-data"), "{e}");
    // the user may allow it
    let allowed = DataSource { allow_outside: true, ..DataSource::new(&data, Some("evil")) };
    assert!(Dataset::open_source(&allowed, Split::Test, &spec).is_ok());
    // the CLI says so too, naming the file and line
    let ckpt = model_in(&d);
    std::fs::write(proto.join("test.txt"), format!("{good}+1,/etc\n")).unwrap();
    let o =
        run!("eval", "--no-detect", "--threshold", "0.5", "--protocol", "evil", "--checkpoint", &ckpt, "--data", &data);
    fails_with(&o, &["evil/test.txt:", "--allow-outside-data"]);
}

/// A video is read through an FFmpeg pipe: nothing is written to the temp folder, and every output equals that of
/// the same frames decoded to a folder of PNGs (as `infer` read videos before): the face box, the
/// clips of a short video (overlapping, spread over it), and clips with no face of their own,
/// which take the box found in other frames of the video.
#[test]
fn a_video_is_scored_through_a_pipe_exactly_as_its_frames_in_a_folder() {
    if !have_ffmpeg() {
        return;
    }
    let d = tmp("pipe");
    // the temp folder is a file: anything written there fails
    let tmpdir = d.join("tmp");
    std::fs::write(&tmpdir, b"not a folder").unwrap();
    let ckpt = model_in(&d);
    // a face photo on a test pattern: in every frame, only in frames 14-40, and a short video
    let face = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/hopper.jpg");
    let mut videos = Vec::new();
    for (name, n, enable) in
        [("whole.mp4", 45, ""), ("middle.mp4", 60, ":enable='between(n,14,40)'"), ("short.mp4", 8, "")]
    {
        let v = d.join(name);
        let o = Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=15", "-loop", "1"])
            .arg("-i")
            .arg(&face)
            .arg("-filter_complex")
            .arg(format!("[1]scale=120:-1[f];[0][f]overlay=100:40{enable}"))
            .args(["-frames:v", &n.to_string(), "-pix_fmt", "yuv420p"])
            .arg(&v)
            .output()
            .unwrap();
        assert!(o.status.success(), "ffmpeg: {}", err(&o));
        videos.push(v);
    }
    let scores = |inputs: &[PathBuf], json: &Path| -> Vec<serde_json::Value> {
        succeeded(
            tdfas!("infer", "--checkpoint", &ckpt, "--json", json)
                .args(inputs)
                .env("TMPDIR", &tmpdir)
                .output()
                .unwrap(),
        );
        read_json_lines(json)
    };
    let piped = scores(&videos, &d.join("piped.json"));
    let folders: Vec<PathBuf> = videos.iter().map(|v| d.join(v.file_stem().unwrap())).collect();
    for (v, f) in videos.iter().zip(&folders) {
        tdfas::data::video::decode(v, f).unwrap();
    }
    let decoded = scores(&folders, &d.join("decoded.json"));
    for (mut p, mut f) in piped.into_iter().zip(decoded) {
        assert!(p["score"].is_number(), "{p}");
        p["input"] = serde_json::Value::Null;
        f["input"] = serde_json::Value::Null;
        assert_eq!(p, f, "a video scores as its frames in a folder");
    }
    // what the comparison covered: a short video's four spread clips, and faceless clips scored
    let piped = scores(&videos[1..], &d.join("piped.json"));
    assert!(piped[0]["face"]["frames_without_face"].as_u64().unwrap() >= 3, "{}", piped[0]);
    assert_eq!(piped[0]["face"]["clips_without_face"], 0, "{}", piped[0]);
    assert_eq!(piped[1]["clip_scores"].as_array().unwrap().len(), tdfas::data::MIN_CLIPS_PER_VIDEO, "{}", piped[1]);
}

#[test]
fn names_and_metadata_cannot_send_escape_sequences_to_the_terminal() {
    let d = tmp("escape");
    let ckpt = d.join("m.safetensors");
    model_with(&ckpt, 0, common::micro_config(), Some(calibration(0.5, "data\u{1b}]0;pwned\u{7}\u{1b}[2J")));
    let clip = d.join("clip\u{1b}[31mred");
    frames(&clip, 4, 32, "png", 10);
    let o = succeeded(run!("infer", "--no-detect", "--checkpoint", &ckpt, &clip));
    for text in [out(&o), err(&o)] {
        assert!(!text.contains('\u{1b}') && !text.contains('\u{7}'), "raw control characters printed: {text:?}");
    }
    assert!(out(&o).contains("clip\\u{1b}[31mred"), "{}", out(&o));
    // in errors too
    let missing = d.join("gone\u{1b}[2J");
    let e = fails_with(&run!("infer", "--checkpoint", &ckpt, &missing), &["gone\\u{1b}[2J"]);
    assert!(!e.contains('\u{1b}'), "{e:?}");
}

#[test]
fn stored_thresholds_outside_the_score_range_are_refused_at_load() {
    let d = tmp("thresholds");
    for bad in [-0.5, 1.5, 1e308] {
        let ckpt = d.join("bad.safetensors");
        model_with(&ckpt, 0, common::micro_config(), Some(calibration(bad, "data")));
        let e = format!("{:#}", tdfas::model::checkpoint::read(&ckpt).err().expect("refused"));
        assert!(e.contains("bad.safetensors") && e.contains("range 0..1"), "{e}");
    }
    // and a threshold of the user's
    let (ckpt, clip) = (model_in(&d), clip_in(&d));
    let o = run!("infer", "--threshold", "-1", "--checkpoint", &ckpt, &clip);
    fails_with(&o, &["--threshold -1", "range 0..1"]);
}

#[test]
fn a_threshold_from_another_model_is_said() {
    let d = tmp("otherthr");
    let data = d.join("data");
    tiny_dataset(&data);
    let (a, b, c) = (d.join("a.safetensors"), d.join("b.safetensors"), d.join("c.safetensors"));
    model(&a);
    model_with(&b, 7, common::micro_config(), Some(calibration(0.3, "other")));
    let mut cfg = common::micro_config();
    cfg.variant = "1".into();
    model_with(&c, 0, cfg, Some(calibration(0.3, "other")));
    let eval = |from: &Path| {
        run!("eval", "--no-detect", "--protocol", "all", "--checkpoint", &a, "--data", &data, "--threshold-from", from)
    };
    let o = succeeded(eval(&b));
    assert!(err(&o).contains("warning: --threshold-from") && err(&o).contains("other weights"), "{}", err(&o));
    assert!(err(&o).contains("b.safetensors") && err(&o).contains("a.safetensors"), "{}", err(&o));
    assert!(out(&o).contains("other weights"), "the table's threshold source says it: {}", out(&o));
    let o = eval(&c);
    assert!(err(&o).contains("variant 1") && err(&o).contains("another model"), "{}", err(&o));
    // its own threshold: no warning
    let o = eval(&a);
    assert!(o.status.success() && !err(&o).contains("warning: --threshold-from"), "{}", err(&o));
}

#[test]
fn two_files_for_one_frame_number_are_refused() {
    let d = tmp("dupes");
    let ckpt = model_in(&d);
    let clip = d.join("mixed");
    frames(&clip, 8, 32, "jpg", 10);
    frames(&clip, 8, 32, "png", 200);
    let o = run!("infer", "--no-detect", "--checkpoint", &ckpt, &clip);
    fails_with(&o, &["two files for frame", ".jpg", ".png", "mixed"]);
}

#[test]
fn inputs_too_small_or_flat_to_hold_a_face_get_no_silent_verdict() {
    let d = tmp("tiny");
    let ckpt = model_in(&d);
    let json = d.join("r.json");
    for side in [1, 8] {
        let clip = d.join(format!("solid{side}"));
        flat_frames(&clip, 8, side);
        succeeded(run!("infer", "--checkpoint", &ckpt, "--json", &json, &clip));
        let r = read_json(&json);
        assert_eq!(r["verdict"], "no face", "{r}");
        assert!(r["warnings"][0].as_str().unwrap().contains("too small to hold a face"), "{r}");
    }
    // a flat colour scored as a face crop is scored, with a warning
    let clip = d.join("flat32");
    flat_frames(&clip, 8, 32);
    succeeded(run!("infer", "--no-detect", "--checkpoint", &ckpt, "--json", &json, &clip));
    let r = read_json(&json);
    assert!(r["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("one flat colour")), "{r}");
}

/// One model row for a report.
fn report_model(score: f64) -> tdfas::eval::report::ModelReport {
    let videos = vec![
        tdfas::eval::ScoredVideo::new("live", "live", 1, score),
        tdfas::eval::ScoredVideo::new("print", "print", 0, 0.1),
    ];
    let metrics = tdfas::eval::metrics::at_threshold(&videos, 0.5).unwrap();
    tdfas::eval::report::ModelReport { name: format!("model {score}"), metrics, test: videos }
}

#[test]
fn a_report_is_replaced_whole_or_not_at_all() {
    let d = tmp("report");
    let dir = d.join("report");
    tdfas::eval::report::write_report(&dir, "TITLE-ONE", &[report_model(0.9)], &[]).unwrap();
    std::fs::write(dir.join("extra-from-first.svg"), b"old").unwrap();
    // a killed earlier write left its temporary folder
    let dead = d.join(".report.tmp999999999");
    std::fs::create_dir_all(&dead).unwrap();
    tdfas::eval::report::write_report(&dir, "TITLE-TWO", &[report_model(0.8)], &[]).unwrap();
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(html.contains("TITLE-TWO") && !html.contains("TITLE-ONE"));
    assert!(!dir.join("extra-from-first.svg").exists(), "files of the old report stay beside the new one");
    assert!(!dead.exists(), "the killed write's temporary folder is removed");
    // a write that fails leaves the old report as it was, and no temporary folder
    let bad = tdfas::eval::report::ModelReport { test: vec![], ..report_model(0.7) };
    assert!(tdfas::eval::report::write_report(&dir, "TITLE-THREE", &[bad], &[]).is_err());
    assert!(std::fs::read_to_string(dir.join("index.html")).unwrap().contains("TITLE-TWO"));
    let names: Vec<String> =
        std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    assert_eq!(names, vec!["report".to_string()], "{names:?}");
    // a folder of the user's is not replaced without --overwrite, and a file is not a folder
    let theirs = d.join("theirs");
    std::fs::create_dir_all(&theirs).unwrap();
    std::fs::write(theirs.join("thesis.tex"), b"x").unwrap();
    assert!(tdfas::eval::report::check_report_dir(&theirs, false).is_err());
    assert!(tdfas::eval::report::check_report_dir(&theirs, true).is_ok());
    assert!(tdfas::eval::report::check_report_dir(&theirs.join("thesis.tex"), true).is_err());
}

/// Runs `f` with a 256 KiB tmpfs mounted at a fresh folder (root only); None where mounting is
/// not allowed.
fn with_full_disk(name: &str, f: impl FnOnce(&Path)) -> Option<()> {
    let mnt = tmp(name).join("small");
    std::fs::create_dir_all(&mnt).unwrap();
    let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"]).arg(&mnt).output().ok()?;
    if !mounted.status.success() {
        eprintln!("cannot mount a small tmpfs here (not root?): the full-disk check is skipped");
        return None;
    }
    // fill it
    let _ = std::fs::write(mnt.join("filler"), vec![0u8; 1 << 20]);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mnt)));
    let _ = Command::new("umount").arg(&mnt).status();
    if let Err(p) = r {
        std::panic::resume_unwind(p);
    }
    Some(())
}

#[test]
fn a_full_disk_is_an_error_naming_the_file() {
    let d = tmp("full");
    let (ckpt, clip) = (model_in(&d), clip_in(&d));
    with_full_disk("fulldisk", |mnt| {
        let depth = mnt.join("depth");
        let o = run!("infer", "--no-detect", "--checkpoint", &ckpt, "--depth-dir", &depth, &clip);
        let e = fails_with(&o, &["clip_clip0_d_fusion_t0.png"]);
        assert!(e.contains("No space left on device") || e.contains("space"), "{e}");
        let zero_byte =
            std::fs::read_dir(&depth).map(|r| r.flatten().filter(|e| e.metadata().unwrap().len() == 0).count());
        assert_eq!(zero_byte.unwrap_or(0), 0, "zero-byte depth maps left behind");
        // synth into a full disk names the file it could not write
        let e =
            fails_with(&run!("synth", "--preset", "small", "--out", mnt.join("data")), &["No space left on device"]);
        assert!(e.contains(&mnt.display().to_string()), "the path is not named: {e}");
    });
}

#[test]
fn the_tuning_cache_follows_the_xdg_rules_and_says_when_nothing_was_cached() {
    let d = tmp("xdg");
    let default_cache = d.join(".cache/tdfas/tuning.json").display().to_string();
    // an empty XDG_CACHE_HOME counts as unset: ~/.cache, not the current folder
    let o = succeeded(
        tdfas!("info").env("XDG_CACHE_HOME", "").env("HOME", &d).env_remove("TDFAS_TUNING_CACHE").output().unwrap(),
    );
    assert!(out(&o).contains(&default_cache), "{}", out(&o));
    let rel = tdfas!("info").current_dir(&d).env("XDG_CACHE_HOME", "relative").env("HOME", &d).output().unwrap();
    assert!(out(&rel).contains(&default_cache), "{}", out(&rel));
    // a cache that cannot be written is said to be not cached
    let o = succeeded(
        tdfas!("bench", "--quick", "--filter", "conv2d_forward")
            .env("TDFAS_TUNING_CACHE", "/dev/null/tuning.json")
            .env_remove("TDFAS_CONV")
            .output()
            .unwrap(),
    );
    assert!(err(&o).contains("not cached") && !err(&o).contains("cached in"), "{}", err(&o));
}

#[test]
fn score_and_threshold_are_printed_with_the_digits_that_tell_them_apart() {
    let r = tdfas::infer::InputScore {
        input: "v".into(),
        verdict: tdfas::infer::Verdict::Attack,
        score: Some(0.496_21),
        threshold: Some(tdfas::infer::Threshold { value: 0.496_24, source: "x".into(), at_chance: None }),
        clip_scores: vec![],
        network: tdfas::infer::MULTI_FRAME,
        clip_frames: vec![],
        frames_total: 0,
        frames_unused: 0,
        face: Default::default(),
        warnings: vec![],
        error: None,
    };
    let line = r.line();
    assert!(line.contains("score 0.49621") && line.contains("threshold 0.49624"), "{line}");
    let at = tdfas::infer::InputScore {
        score: Some(0.5),
        threshold: Some(tdfas::infer::Threshold { value: 0.5, source: "x".into(), at_chance: None }),
        ..r
    };
    assert!(at.line().contains("at the threshold"), "{}", at.line());
}

#[test]
fn a_timestamp_gap_decodes_to_the_frames_in_the_file() {
    if !have_ffmpeg() {
        return;
    }
    let d = tmp("gap");
    let v = d.join("gap.mkv");
    // ten frames, the last five an hour later
    video(&v, 10, &["-vf", "setpts=PTS+if(gte(N\\,5)\\,3600/TB\\,0)", "-fps_mode", "passthrough"]);
    let frames = d.join("frames");
    tdfas::data::video::decode(&v, &frames).unwrap();
    let n = std::fs::read_dir(&frames).unwrap().count();
    assert_eq!(n, 10, "one PNG per stored frame, not one per tick of the gap");
}

/// Runs `cmd` and fails if it is still running after `secs` seconds (it would block forever).
fn output_within(cmd: &mut Command, secs: u64) -> Output {
    let mut child = cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            panic!("still running after {secs} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn fifos_and_devices_are_refused_not_read_forever() {
    let d = tmp("devices");
    let (ckpt, clip) = (model_in(&d), clip_in(&d));
    // a checkpoint that is /dev/zero
    let o = output_within(&mut tdfas!("infer", "--checkpoint", "/dev/zero", &clip), 60);
    fails_with(&o, &["/dev/zero", "character device"]);
    // a frame that is a FIFO
    std::fs::remove_file(clip.join("0002.png")).unwrap();
    assert!(Command::new("mkfifo").arg(clip.join("0002.png")).status().unwrap().success());
    let o = output_within(&mut tdfas!("infer", "--no-detect", "--checkpoint", &ckpt, &clip), 60);
    fails_with(&o, &["0002.png", "FIFO"]);
    // a "video" that is /dev/zero is named for what it is, not "not found" (a FIFO is read as
    // a stream: tests/all/verdict.rs)
    let zero = d.join("zero.mp4");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let o = output_within(&mut tdfas!("infer", "--checkpoint", &ckpt, &zero), 60);
    let e = fails_with(&o, &["zero.mp4", "character device"]);
    assert!(!e.contains("not found"), "{e}");
    // a tuning cache that is a FIFO or /dev/zero is no cache, not a read that never ends
    let fifo = d.join("cache.fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    for cache in [fifo.as_path(), Path::new("/dev/zero")] {
        let o = output_within(tdfas!("info").env("TDFAS_TUNING_CACHE", cache), 60);
        assert!(o.status.success(), "{}", err(&o));
    }
}

#[test]
fn a_config_too_large_for_memory_is_refused_with_what_fits() {
    let mut c = tdfas::model::Config::preset("tiny").unwrap();
    c.image_size = 4096;
    c.stage1.batch = 1_000_000;
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("GiB") && e.contains("fit"), "{e}");
    let mut c = tdfas::model::Config::preset("paper").unwrap();
    c.stage2.batch = 8;
    assert!(c.validate().is_ok(), "the paper preset with a larger batch still fits");
}

#[test]
fn an_input_name_that_is_not_utf8_is_one_bad_input_not_the_end_of_the_run() {
    use std::os::unix::ffi::OsStrExt;
    let d = tmp("utf8");
    let ckpt = model_in(&d);
    let bad = d.join(std::ffi::OsStr::from_bytes(b"bad\xff"));
    frames(&bad, 4, 32, "png", 10);
    let good = d.join("good");
    frames(&good, 4, 32, "png", 60);
    let json = d.join("r.json");
    succeeded(run!("infer", "--no-detect", "--checkpoint", &ckpt, "--json", &json, &bad, &good));
    let lines = read_json_lines(&json);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["input"].as_str().unwrap(), format!("{}", bad.to_string_lossy()));
    assert!(lines[1]["score"].is_number());
}

#[test]
fn negative_numbers_parse_and_get_their_range() {
    fails_with(&run!("train", "--data", "x", "--out", "y", "--steps", "-1"), &["--steps", "at least 1"]);
    fails_with(&run!("synth", "--out", "y", "--seed", "-1"), &["--seed", "from 0 to"]);
    for split in ["0,1,1", "5,1", "5,1,x", "5,1,-1"] {
        fails_with(&run!("synth", "--out", "y", "--split", split), &["--split", "TRAIN,DEV,TEST"]);
    }
    fails_with(&run!("synth", "--out", "y", "--videos-per-class", "0"), &["--videos-per-class", "at least 1"]);
    // a count that would fill any disk is refused before any folder is made or memory taken
    let d = tmp("counts");
    std::fs::create_dir_all(&d).unwrap();
    for (flag, value) in [("--videos-per-class", "100000000000"), ("--split", "99999999999999,0,0")] {
        let o = tdfas!("synth", "--out", "y", flag, value).current_dir(&d).output().unwrap();
        fails_with(&o, &["videos planned", "more than the 200000 one render makes", "GB"]);
        assert!(!d.join("y").exists(), "{flag} {value}: the folder was made");
    }
    let o = run!("eval", "--checkpoint", "x", "--data", "y", "--threshold", "-1");
    fails_with(&o, &["--threshold -1", "range 0..1"]);
    let o = run!("train", "--data", "x", "--out", "y", "--steps", "99999999999999999999");
    fails_with(&o, &["--steps", "more than tdfas counts"]);
    // flags --quick would not use are refused, not ignored
    fails_with(&run!("bench", "--quick", "--preset", "nope"), &["--quick", "--preset nope"]);
    fails_with(&run!("bench", "--quick", "--config", "mine.toml"), &["--quick", "--config mine.toml"]);
}

#[test]
fn output_paths_that_are_files_are_refused_before_the_work() {
    let d = tmp("outfile");
    let file = d.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let data = d.join("data");
    tiny_dataset(&data);
    let o = run!("train", "--data", &data, "--out", &file);
    fails_with(&o, &["--out", "a regular file", "needs a folder"]);
    let ckpt = model_in(&d);
    let start = Instant::now();
    let o = run!("eval", "--checkpoint", &ckpt, "--data", &data, "--report", &file);
    fails_with(&o, &["--report", "not a folder"]);
    assert!(!err(&o).contains("File exists"));
    eprintln!("refused in {:.1} s", start.elapsed().as_secs_f64());
}

#[test]
fn an_unfinished_synthetic_set_is_refused() {
    let d = tmp("unfinished");
    // as a killed synth leaves it: the marker of tdfas synth, clips, but not its last file
    let data = d.join("killed");
    tiny_dataset(&data);
    std::fs::write(data.join(tdfas::util::outputs::OWNED_MARKER), "written by tdfas synth\n").unwrap();
    let spec = common::micro_config().clip_spec();
    assert!(Dataset::open(&data, Split::Train, None, &spec).is_ok(), "a finished set opens");
    std::fs::remove_file(data.join(tdfas::data::synth::FINISHED_MARK)).unwrap();
    let e = format!("{:#}", Dataset::open(&data, Split::Train, None, &spec).err().expect("refused"));
    assert!(e.contains("unfinished synthetic set") && e.contains("tdfas synth"), "{e}");
}

#[test]
fn dump_can_take_face_crops_without_detection() {
    let d = tmp("dump");
    let (ckpt, clip) = (model_in(&d), clip_in(&d));
    let help = out(&run!("dump", "--help"));
    assert!(help.contains("--no-detect") && help.contains("face crops"), "{help}");
    let dump = d.join("d.safetensors");
    succeeded(run!("dump", "--no-detect", "--checkpoint", &ckpt, "--input", &clip, "--out", &dump));
    assert!(tdfas::util::outputs::safetensors_format(&dump, "tdfas-dump"));
}

/// `synth` (and the demo's benchmark folder) clear only a folder tdfas marked and that holds
/// nothing but what a render writes: a user's `synth.json` is no proof of ownership, and a copy
/// of a rendered set to which the user added files is not cleared either.
#[test]
fn synth_clears_only_its_own_output_never_a_folder_holding_the_users_files() {
    let dir = tmp("synth_owned");
    let synth = |out: &Path| run!("synth", "--out", out, "--split", "1,0,0", "--videos-per-class", "1");
    // a project folder that happens to hold a file named synth.json
    let project = dir.join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join("synth.json"), "{\"my\": \"settings\"}").unwrap();
    std::fs::write(project.join("thesis.tex"), "my thesis").unwrap();
    fails_with(&synth(&project), &["project", "not written by tdfas", "not deleting"]);
    assert_eq!(std::fs::read_to_string(project.join("thesis.tex")).unwrap(), "my thesis");
    assert!(project.join("synth.json").is_file());
    // a rendered set (marked), with the user's notes added beside it
    let set = dir.join("set");
    succeeded(synth(&set));
    let preview = set.join("preview.png");
    succeeded(run!(
        "synth",
        "--out",
        dir.join("other"),
        "--split",
        "1,0,0",
        "--videos-per-class",
        "1",
        "--preview",
        &preview
    ));
    std::fs::write(set.join("notes.txt"), "which seed was this?").unwrap();
    fails_with(&synth(&set), &["notes.txt", "does not write", "not clearing"]);
    assert!(set.join("notes.txt").is_file() && set.join("train").is_dir());
    // without them it is cleared and rendered again; tdfas's own preview stays
    std::fs::remove_file(set.join("notes.txt")).unwrap();
    std::fs::create_dir_all(set.join("test/live/stale_clip")).unwrap();
    succeeded(synth(&set));
    assert!(!set.join("test/live/stale_clip").exists() && set.join("synth.json").is_file() && preview.is_file());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Box, label and frame files planted in a dataset as links out of it, or named with `..`, are
/// not read, nor is their content printed; in the generic layout and in CelebA-Spoof's. Label
/// files that list an image twice with different labels, or boxes far off the picture, are
/// skipped with a warning rather than used.
#[test]
fn files_of_a_dataset_that_lead_out_of_it_are_not_read() {
    let d = tmp("fence");
    let secret = d.join("secret.txt");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(&secret, "root:x:0:0:secret-line\nsecond-secret-line\n").unwrap();
    let spec = common::micro_config().clip_spec();
    let shows_no_secret = |text: &str| assert!(!text.contains("secret-line"), "{text}");

    // generic layout: a bbox.csv that is a link out of the clip's folder
    let data = d.join("data");
    tiny_dataset(&data);
    let list = std::fs::read_to_string(data.join("protocols/all/test.txt")).unwrap();
    let clip = data.join(list.lines().next().unwrap().split(',').nth(1).unwrap());
    std::os::unix::fs::symlink(&secret, clip.join("bbox.csv")).unwrap();
    let set = Dataset::open(&data, Split::Test, None, &spec).unwrap();
    let warned = set.skipped().join("\n");
    assert!(warned.contains("bbox.csv") && warned.contains("lies outside the dataset folder"), "{warned}");
    shows_no_secret(&warned);
    std::fs::remove_file(clip.join("bbox.csv")).unwrap();
    // a frame linked out of a clip folder that is itself inside
    let frame = tdfas::data::generic::frame_files(&clip).unwrap().into_values().next().unwrap();
    let moved = d.join("frame.jpg");
    std::fs::rename(&frame, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &frame).unwrap();
    let e = format!("{:#}", Dataset::open(&data, Split::Test, None, &spec).err().expect("refused"));
    assert!(e.contains("lies outside the dataset folder") && e.contains("--allow-outside-data"), "{e}");
    let allowed = DataSource { allow_outside: true, ..DataSource::new(&data, None) };
    assert!(Dataset::open_source(&allowed, Split::Test, &spec).is_ok());
    // a protocol named as a path
    let e = format!("{:#}", Dataset::open(&data, Split::Test, Some("../protocols/all"), &spec).err().expect("refused"));
    assert!(e.contains("one plain name"), "{e}");

    // CelebA-Spoof: a box file linked out, a label key with `..`, an image listed twice with
    // different labels, a box far off the picture
    let cs = d.join("celeba");
    common::celeba_spoof_tree(&cs);
    let test_dir = cs.join("Data/test/5001");
    std::fs::remove_file(test_dir.join("live/000001_BB.txt")).unwrap();
    std::os::unix::fs::symlink(&secret, test_dir.join("live/000001_BB.txt")).unwrap();
    std::fs::write(test_dir.join("spoof/494406_BB.txt"), "-1e20 -1e20 3e20 3e20 0.9\n").unwrap();
    std::fs::create_dir_all(d.join("elsewhere/x/10")).unwrap();
    std::fs::copy(test_dir.join("spoof/494405.png"), d.join("elsewhere/x/10/outside.png")).unwrap();
    let labels_path = cs.join("metas/intra_test/test_label.json");
    let labels = std::fs::read_to_string(&labels_path).unwrap();
    let attrs = |spoof: u32, label: u32| {
        let mut a = vec!["0".to_string(); 44];
        (a[40], a[43]) = (spoof.to_string(), label.to_string());
        format!("[{}]", a.join(","))
    };
    let extra = format!(
        r#""Data/test/5001/../../../../elsewhere/x/10/outside.png": {}, "Data/test/5001/spoof/494405.png": {}, "#,
        attrs(0, 0),
        attrs(0, 0)
    );
    std::fs::write(&labels_path, labels.replacen('{', &format!("{{{extra}"), 1)).unwrap();
    let set = Dataset::open(&cs, Split::Test, Some("intra_test"), &spec).unwrap();
    let warned = set.skipped().join("\n");
    for says in ["lies outside the dataset folder", "is not a path inside", "listed 2 times", "is not a face box"] {
        assert!(warned.contains(says), "expected {says:?} in:\n{warned}");
    }
    shows_no_secret(&warned);
    assert_eq!(set.len(), 0, "every test image of the tree was planted on");
    let _ = std::fs::remove_dir_all(&d);
}

/// What replaces an existing output is only what tdfas wrote: a report folder of the user's, or
/// a tdfas report the user added files to, is not replaced without --overwrite; a JSON file of
/// the user's sharing two keys with tdfas's is not taken for one; inside an input folder
/// --overwrite replaces nothing of the data. A clip name as long as a file name may be still
/// gets its report.
#[test]
fn outputs_replace_only_what_tdfas_wrote_even_inside_the_data() {
    let d = tmp("replace");
    let data = d.join("data");
    tiny_dataset(&data);
    let ckpt = model_in(&d);
    let eval_into = |report: &Path, extra: &[&str]| {
        tdfas!("eval", "--no-detect", "--threshold", "0.5", "--checkpoint", &ckpt, "--data", &data, "--report", report)
            .args(extra)
            .output()
            .unwrap()
    };
    // a site of the user's that happens to hold an index.html and a metrics.json
    let site = d.join("site");
    std::fs::create_dir_all(site.join("papers")).unwrap();
    std::fs::write(site.join("index.html"), "<h1>mine</h1>").unwrap();
    std::fs::write(site.join("metrics.json"), "{}").unwrap();
    std::fs::write(site.join("papers/thesis.tex"), "my thesis").unwrap();
    fails_with(&eval_into(&site, &[]), &["did not write", "not replacing"]);
    assert_eq!(std::fs::read_to_string(site.join("papers/thesis.tex")).unwrap(), "my thesis");
    // a tdfas report with the user's notes added
    let report = d.join("report");
    succeeded(eval_into(&report, &[]));
    std::fs::write(report.join("mynotes.txt"), "run 3 looked odd").unwrap();
    fails_with(&eval_into(&report, &[]), &["mynotes.txt", "besides a report"]);
    assert!(report.join("mynotes.txt").is_file());
    // a labelling of the user's with `input` and `verdict` keys
    let labels = d.join("labels.jsonl");
    let mine = "{\"input\":\"clip1\",\"verdict\":\"live\",\"annotator\":\"alice\"}\n";
    std::fs::write(&labels, mine).unwrap();
    let list = std::fs::read_to_string(data.join("protocols/all/test.txt")).unwrap();
    let clip = data.join(list.lines().next().unwrap().split(',').nth(1).unwrap());
    let o = run!("infer", "--no-detect", "--threshold", "0.5", "--checkpoint", &ckpt, "--json", &labels, &clip);
    fails_with(&o, &["was not written by tdfas"]);
    assert_eq!(std::fs::read_to_string(&labels).unwrap(), mine);
    // inside an input folder --overwrite hands nothing of the data over
    let split = data.join("test");
    fails_with(&eval_into(&split, &["--overwrite"]), &["lies inside the input", "report of tdfas's"]);
    assert!(clip.is_dir());
    let frame = tdfas::data::generic::frame_files(&clip).unwrap().into_values().next().unwrap();
    let before = std::fs::read(&frame).unwrap();
    let o = run!("dump", "--no-detect", "--checkpoint", &ckpt, "--input", &clip, "--out", &frame, "--overwrite");
    fails_with(&o, &["lies inside the input", "even with --overwrite"]);
    assert_eq!(std::fs::read(&frame).unwrap(), before);
    // a clip named as long as a file name may be
    let long = clip.with_file_name("x".repeat(250));
    std::fs::rename(&clip, &long).unwrap();
    let o = tdfas!("eval", "--no-detect", "--threshold", "0.5", "--checkpoint", &ckpt, "--data", &data)
        .arg("--report")
        .arg(d.join("long"))
        .output()
        .unwrap();
    succeeded(o);
    assert!(d.join("long/index.html").is_file());
    let _ = std::fs::remove_dir_all(&d);
}

/// A checkpoint whose (checksummed) progress names a stage training does not have is refused at
/// load, not resumed as finished.
#[test]
fn a_checkpoint_at_a_stage_training_does_not_have_is_refused() {
    let d = tmp("stage");
    std::fs::create_dir_all(&d).unwrap();
    let gpu = common::gpu();
    let model = tdfas::model::fastd::FasTd::new(&gpu, common::micro_config(), 0).unwrap();
    for stage in [0, 7] {
        let path = d.join(format!("stage{stage}.safetensors"));
        let progress = Progress { stage, step: 1, seed: 0, stage_done: true, init: None };
        checkpoint::save(&gpu, &path, &model, None, &progress).unwrap();
        let e = format!("{:#}", tdfas::model::checkpoint::read(&path).err().expect("refused"));
        assert!(e.contains(&format!("stage {stage}")) && e.contains("stages 1 and 2"), "{e}");
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// Standard input named twice is refused before anything is read (the second read found it
/// empty), and a stream from a file or camera that is not there says so.
#[test]
fn streams_that_cannot_be_read_say_why() {
    let d = tmp("streams");
    let ckpt = model_in(&d);
    fails_with(&run!("infer", "--checkpoint", &ckpt, "-", "-"), &["standard input", "more than once"]);
    let o = run!("infer", "--checkpoint", &ckpt, "--stream", d.join("nonexistent.mp4"));
    let e = fails_with(&o, &["nonexistent.mp4", "not found"]);
    assert!(!e.contains("could not decode"), "{e}");
    let o = run!("infer", "--checkpoint", &ckpt, "--camera", d.join("video9"));
    fails_with(&o, &["video9", "not found"]);
}

/// A training run is not written into its dataset (`--overwrite` there would remove files of
/// the data's that share a run file's name).
#[test]
fn a_run_is_not_written_into_its_dataset() {
    let d = tmp("run_in_data");
    let data = d.join("data");
    tiny_dataset(&data);
    let o = run!("train", "--data", &data, "--out", data.join("test/run"), "--steps", "1");
    fails_with(&o, &["lies inside the dataset", "beside the data"]);
    assert!(!data.join("test/run").exists());
}
