//! Reliability: a training run killed with SIGKILL resumes to the same model;
//! corrupt checkpoints, bad data, non-finite losses and work beyond the adapter's limits give
//! one clear error each, never a panic.

mod common;
use common::{gpu, tdfas_cmd as tdfas, tiny_dataset};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use safetensors::tensor::{Dtype, TensorView};
use tdfas::data::{ClipSpec, Dataset, Split};
use tdfas::model::checkpoint::Progress;
use tdfas::model::fastd::{FasTd, HostBatch};
use tdfas::model::{Config, Stage};
use tdfas::train::adadelta::Adadelta;
use tdfas::train::checkpoint;
use tdfas::train::trainer::{train, train_step, TrainOptions};

/// The micro config with the step counts these tests train.
fn micro() -> Config {
    let mut c = common::micro_config();
    c.stage1.steps = 6;
    c.stage2.steps = 4;
    c
}

fn tmp(name: &str) -> PathBuf {
    common::tmp_dir("rel", name)
}

fn train_cmd(data: &Path, out: &Path, config: &Path, resume: bool) -> Command {
    let mut c = tdfas();
    c.args(["train", "--seed", "5", "--checkpoint-every", "1", "--data"]).arg(data).arg("--out").arg(out);
    c.arg("--config").arg(config).stdout(Stdio::null()).stderr(Stdio::piped());
    if resume {
        c.arg("--resume");
    }
    c
}

/// Every `*.safetensors` file in `out` parses (old or new, never torn); temp files are hidden
/// names that do not end in `.safetensors`, so no reader takes them for a checkpoint.
fn check_checkpoints(out: &Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(out).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with(".safetensors") {
            assert!(!name.starts_with('.'), "{name}: a temp file looks like a checkpoint");
            tdfas::model::checkpoint::read(&p).unwrap_or_else(|e| panic!("torn checkpoint after a kill: {e:#}"));
            n += 1;
        }
    }
    n
}

/// The tensors' bytes (the data section) and the parsed metadata: the file bytes themselves
/// differ only by the metadata's HashMap order between processes.
fn model_content(path: &Path) -> (Vec<u8>, std::collections::BTreeMap<String, String>) {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    (bytes[8 + n..].to_vec(), meta.metadata().clone().unwrap_or_default().into_iter().collect())
}

#[test]
fn sigkilled_training_resumes_to_the_same_model() {
    let dir = tmp("kill");
    let data = dir.join("data");
    tiny_dataset(&data);
    let config = dir.join("micro.toml");
    let mut cfg = micro();
    (cfg.stage1.steps, cfg.stage2.steps) = (16, 10); // long enough for kills to land mid-run
    std::fs::write(&config, toml::to_string(&cfg).unwrap()).unwrap();

    let started = Instant::now();
    let st = train_cmd(&data, &dir.join("straight"), &config, false).output().unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let full = started.elapsed();

    let out = dir.join("killed");
    let mut kills = 0;
    // deterministic pseudo-random kill points, as fractions of an uninterrupted run
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for attempt in 0..8 {
        if kills == 3 {
            break;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let frac = 0.15 + 0.3 * (x % 1000) as f64 / 1000.0;
        let mut child = train_cmd(&data, &out, &config, attempt > 0).spawn().unwrap();
        std::thread::sleep(full.mul_f64(frac));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
        if out.exists() {
            check_checkpoints(&out);
        }
        if out.join("model.safetensors").exists() {
            break;
        }
    }
    let fin = train_cmd(&data, &out, &config, true).output().unwrap();
    assert!(fin.status.success(), "{}", String::from_utf8_lossy(&fin.stderr));
    assert!(check_checkpoints(&out) >= 2);
    println!("kills survived: {kills} (uninterrupted run {:.1} s)", full.as_secs_f64());
    assert!(kills >= 1, "no kill landed while training ran");
    let (a, b) =
        (model_content(&dir.join("straight/model.safetensors")), model_content(&out.join("model.safetensors")));
    assert!(a.0 == b.0, "the resumed model's tensors differ from the uninterrupted run's");
    assert_eq!(a.1, b.1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A valid checkpoint of the micro model, its tensors and metadata (for rebuilding variants).
struct Valid {
    bytes: Vec<u8>,
    tensors: Vec<(String, Vec<usize>, Vec<u8>)>,
    meta: std::collections::HashMap<String, String>,
}

fn valid(path: &Path) -> Valid {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let tensors = st.tensors().into_iter().map(|(n, v)| (n, v.shape().to_vec(), v.data().to_vec())).collect();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut meta = meta.metadata().clone().unwrap();
    meta.remove(tdfas::model::checkpoint::CHECKSUM_KEY); // rebuilt files test the checks behind the checksum
    Valid { bytes: bytes.clone(), tensors, meta }
}

fn rebuild(
    tensors: &[(String, Vec<usize>, Vec<u8>)],
    dtype: impl Fn(&str) -> Dtype,
    meta: &std::collections::HashMap<String, String>,
) -> Vec<u8> {
    let views: Vec<(String, TensorView)> =
        tensors.iter().map(|(n, s, b)| (n.clone(), TensorView::new(dtype(n), s.clone(), b).unwrap())).collect();
    safetensors::serialize(views, Some(meta.clone())).unwrap()
}

#[test]
fn corrupt_checkpoints_give_one_clear_error_each() {
    let g = gpu();
    let dir = tmp("corrupt");
    let model = FasTd::new(&g, micro(), 3).unwrap();
    let good = dir.join("good.safetensors");
    checkpoint::save(&g, &good, &model, None, &Progress { stage: 1, step: 0, seed: 0, stage_done: false, init: None })
        .unwrap();
    let v = valid(&good);
    let hlen = u64::from_le_bytes(v.bytes[..8].try_into().unwrap()) as usize;
    let f32s = |n: usize, x: f32| x.to_le_bytes().repeat(n);

    // (name, bytes, words the error must hold)
    let mut cases: Vec<(String, Vec<u8>, &str)> = Vec::new();
    for len in [0, 5, 8, 9, hlen / 2, 8 + hlen, v.bytes.len() / 2, v.bytes.len() - 1] {
        cases.push((format!("truncated{len}"), v.bytes[..len].to_vec(), ""));
    }
    let mut b = v.bytes.clone();
    b[..8].copy_from_slice(&(v.bytes.len() as u64 + 100).to_le_bytes());
    cases.push(("header_len".into(), b, "exceeds the file size"));
    for (what, pos) in [("header_brace", 8), ("header_mid", 8 + hlen / 2), ("header_end", 8 + hlen - 2)] {
        let mut b = v.bytes.clone();
        b[pos] ^= 0x5a;
        cases.push((format!("flip_{what}"), b, ""));
    }
    for pos in [8 + hlen / 3, 8 + 2 * hlen / 3] {
        let mut b = v.bytes.clone();
        b[pos] ^= 0x01; // may keep the JSON valid (a digit, a letter): the checksum sees it
        cases.push((format!("flip_header_bit{pos}"), b, ""));
    }
    for pos in [8 + hlen, 8 + hlen + 7, v.bytes.len() - 1] {
        let mut b = v.bytes.clone();
        b[pos] ^= 0x01; // a one-bit flip still gives a finite float: only the checksum sees it
        cases.push((format!("flip_data{pos}"), b, "checksum"));
    }
    let mut missing = v.tensors.clone();
    missing.retain(|t| t.0 != "head.fc1.weight" && !t.0.starts_with("off1.reduce"));
    cases.push(("missing".into(), rebuild(&missing, |_| Dtype::F32, &v.meta), "missing tensor"));
    let mut extra = v.tensors.clone();
    extra.push(("bogus.weight".into(), vec![2], f32s(2, 1.0)));
    cases.push(("extra".into(), rebuild(&extra, |_| Dtype::F32, &v.meta), "unexpected tensor bogus.weight"));
    let mut shaped = v.tensors.clone();
    let t = shaped.iter_mut().find(|t| t.1.len() == 4).unwrap();
    t.1 = vec![t.1.iter().product()]; // same values, flattened
    cases.push(("shape".into(), rebuild(&shaped, |_| Dtype::F32, &v.meta), "has shape"));
    let mut resized = v.tensors.clone();
    let t = resized.iter_mut().find(|t| t.1.iter().product::<usize>() > 1).unwrap(); // a [1] tensor would stay valid
    t.1 = vec![1];
    t.2 = f32s(1, 0.5);
    cases.push(("numel".into(), rebuild(&resized, |_| Dtype::F32, &v.meta), "has shape"));
    let first = v.tensors[0].0.clone();
    let mut half = v.tensors.clone();
    half[0].2 = vec![0; half[0].2.len() / 2];
    cases.push(("f16".into(), rebuild(&half, |n| if n == first { Dtype::F16 } else { Dtype::F32 }, &v.meta), "F16"));
    cases.push((
        "i32".into(),
        rebuild(&v.tensors, |n| if n == first { Dtype::I32 } else { Dtype::F32 }, &v.meta),
        "I32",
    ));
    for (what, x) in [("nan", f32::NAN), ("inf", f32::INFINITY)] {
        let mut t = v.tensors.clone();
        t[1].2[..4].copy_from_slice(&x.to_le_bytes());
        cases.push((what.into(), rebuild(&t, |_| Dtype::F32, &v.meta), "non-finite"));
    }
    let mut m = v.meta.clone();
    let mut cfg = micro();
    cfg.image_size = 30;
    m.insert("config".into(), serde_json::to_string(&cfg).unwrap());
    cases.push(("bad_config".into(), rebuild(&v.tensors, |_| Dtype::F32, &m), "multiple of 8"));
    m.insert("config".into(), "{\"name\": 3".into());
    cases.push(("config_json".into(), rebuild(&v.tensors, |_| Dtype::F32, &m), "config"));
    m.remove("config");
    cases.push(("no_config".into(), rebuild(&v.tensors, |_| Dtype::F32, &m), "no model config"));
    let mut m = v.meta.clone();
    m.insert("progress".into(), "[1,2".into());
    cases.push(("progress".into(), rebuild(&v.tensors, |_| Dtype::F32, &m), "progress"));

    for (name, bytes, words) in &cases {
        let path = dir.join(format!("{name}.safetensors"));
        std::fs::write(&path, bytes).unwrap();
        let e = match tdfas::model::checkpoint::load_model(&g, &path) {
            Ok(_) => panic!("{name}: a corrupt checkpoint loaded"),
            Err(e) => format!("{e:#}"),
        };
        assert!(e.contains(&path.display().to_string()), "{name}: the error does not name the file: {e}");
        assert!(e.contains(words), "{name}: expected {words:?} in: {e}");
    }
    // the CLI: exit code 1 and one message naming the file (a few kinds; each start costs time)
    for name in ["truncated9", "flip_header_mid", "i32", "missing", "bad_config"] {
        let path = dir.join(format!("{name}.safetensors"));
        let mut cmd = tdfas();
        if name == "missing" {
            cmd.args(["eval", "--data"]).arg(&dir);
        } else {
            cmd.arg("infer").arg(&dir);
        }
        let o = cmd.arg("--checkpoint").arg(&path).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name}: {err}");
        assert!(err.starts_with("error:") && err.contains(&path.display().to_string()), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
    println!("corrupt checkpoint files tried: {}", cases.len());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A PNG whose header claims `w x h` pixels, followed by a tiny (wrong) data chunk.
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut c = !0u32;
        for &b in bytes {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 == 1 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            }
        }
        !c
    }
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        let body = [kind, data].concat();
        c.extend(&body);
        c.extend(crc32(&body).to_be_bytes());
        c
    };
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]); // 8-bit RGB
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0, 0, 0, 0, 1]));
    png.extend(chunk(b"IEND", &[]));
    png
}

fn spec() -> ClipSpec {
    micro().clip_spec()
}

fn first_clip_dir(data: &Path) -> PathBuf {
    data.join("train/live").read_dir().unwrap().map(|e| e.unwrap().path()).min().unwrap()
}

/// Loads every clip of the train split; the first error, if any.
fn load_all(data: &Path) -> Result<Dataset, String> {
    let ds = Dataset::open(data, Split::Train, None, &spec()).map_err(|e| format!("{e:#}"))?;
    for i in 0..ds.len() {
        ds.load(i, None).map_err(|e| format!("{e:#}"))?;
    }
    Ok(ds)
}

#[test]
fn bad_data_gives_clear_errors_or_skips() {
    let dir = tmp("data");
    let pristine = dir.join("pristine");
    tiny_dataset(&pristine);
    let fresh = |name: &str| {
        let d = dir.join(name);
        let status = Command::new("cp").arg("-r").arg(&pristine).arg(&d).status().unwrap();
        assert!(status.success());
        (d.clone(), first_clip_dir(&d))
    };
    // each broken frame file: the error names it
    let huge = png_claiming(100_000, 100_000);
    let small_png = {
        let mut b = Vec::new();
        let img = image::RgbImage::new(20, 24);
        img.write_to(&mut std::io::Cursor::new(&mut b), image::ImageFormat::Png).unwrap();
        b
    };
    let frame_cases: Vec<(&str, Option<Vec<u8>>, &str)> = vec![
        ("empty", Some(vec![]), "cannot"),
        ("truncated", None, "cannot read image"),
        ("huge", Some(huge.clone()), "cannot read image"),
        ("mixed", Some(small_png), "mixed frame sizes"),
        ("folder", None, "cannot"),
    ];
    for (name, bytes, words) in frame_cases {
        let (d, clip) = fresh(name);
        let frame = clip.join("0001.jpg");
        match (name, bytes) {
            ("truncated", _) => {
                let b = std::fs::read(&frame).unwrap();
                std::fs::write(&frame, &b[..b.len() / 2]).unwrap();
            }
            ("folder", _) => {
                std::fs::remove_file(&frame).unwrap();
                std::fs::create_dir(&frame).unwrap();
            }
            (_, Some(b)) => std::fs::write(&frame, b).unwrap(),
            _ => unreachable!(),
        }
        let e = load_all(&d).err().unwrap_or_else(|| panic!("{name}: a broken frame loaded"));
        assert!(e.contains(&frame.display().to_string()) && e.contains(words), "{name}: {e}");
    }
    // a huge header is refused before its pixels are allocated
    let p = dir.join("huge.png");
    std::fs::write(&p, &huge).unwrap();
    let t = Instant::now();
    let e = format!("{:#}", tdfas::data::imageops::load(&p, false).unwrap_err());
    assert!(e.contains("limit") || e.contains("Limit"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(2));

    // malformed bbox.csv: the video is skipped with a warning naming the file and line
    for (name, line) in [
        ("bbox_fields", "1,2,3"),
        ("bbox_nan", "1,NaN,0,10,10"),
        ("bbox_neg", "1,0,0,-5,10"),
        ("bbox_huge", "1,0,0,1e30,10"),
        ("bbox_frame", "1.5,0,0,10,10"),
    ] {
        let (d, clip) = fresh(name);
        std::fs::write(clip.join("bbox.csv"), format!("frame,x,y,w,h\n0,1,1,10,10\n{line}\n")).unwrap();
        let ds = Dataset::open(&d, Split::Train, None, &spec()).unwrap();
        let w = ds.skipped().join("\n");
        assert!(w.contains(&format!("{}:3", clip.join("bbox.csv").display())), "{name}: {w}");
        assert!(!ds.is_empty(), "{name}: the other videos are kept");
    }
    // a large but finite box loads quickly (label resampling is capped)
    let (d, clip) = fresh("bbox_big");
    std::fs::write(clip.join("bbox.csv"), "0,0,0,900000,900000\n1,0,0,900000,900000\n").unwrap();
    let t = Instant::now();
    load_all(&d).unwrap();
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());

    // malformed protocol lines: file and line; a missing clip folder: skipped with a warning
    let (d, _) = fresh("protocol");
    let proto = d.join("protocols/all/train.txt");
    let good = std::fs::read_to_string(&proto).unwrap();
    for bad in ["+2,train/live/x", "train/live/x", "+1,", "+1,a,b"] {
        std::fs::write(&proto, format!("{good}{bad}\n")).unwrap();
        let e = format!("{:#}", Dataset::open(&d, Split::Train, Some("all"), &spec()).err().unwrap());
        let line = good.lines().count() + 1;
        assert!(e.contains(&format!("{}:{line}", proto.display())), "{bad}: {e}");
    }
    std::fs::write(&proto, format!("{good}+1,train/live/not_there\n")).unwrap();
    let ds = Dataset::open(&d, Split::Train, Some("all"), &spec()).unwrap();
    assert!(ds.skipped().iter().any(|w| w.contains("not_there") && w.contains("skipped")), "{:?}", ds.skipped());
    let _ = std::fs::remove_dir_all(&dir);
}

fn lib_train(data: &Path, out: &Path, cfg: Config, detect_anomaly: bool) -> anyhow::Result<()> {
    train(
        &gpu(),
        &TrainOptions {
            data: data.to_path_buf(),
            out: out.to_path_buf(),
            config: cfg,
            stages: vec![Stage::Single],
            resume: false,
            seed: 1,
            protocol: None,
            checkpoint_every: 1,
            progress: false,
            detect_anomaly,
            augment: false,
            stop_after: None,
            overwrite: false,
            allow_outside_data: false,
            faces: Default::default(),
            init: None,
        },
    )
    .map(|_| ())
}

#[test]
fn a_nan_loss_stops_training_and_keeps_the_last_good_checkpoint() {
    let dir = tmp("nan");
    let data = dir.join("data");
    tiny_dataset(&data);
    let mut cfg = micro();
    cfg.stage1.lr = 1e30;
    cfg.stage1.steps = 8;
    let out = dir.join("out");
    let e = format!("{:#}", lib_train(&data, &out, cfg.clone(), false).unwrap_err());
    println!("{e}");
    assert!(e.contains("step ") && e.contains("training stopped"), "{e}");
    let ckpt = out.join("checkpoint.safetensors");
    if ckpt.exists() {
        assert!(e.contains(&format!("last good checkpoint {}", ckpt.display())), "{e}");
        let (_, loaded) = tdfas::model::checkpoint::load_model(&gpu(), &ckpt).unwrap();
        let step = loaded.progress.unwrap().step;
        assert!(e.contains(&format!("step {step})")), "{e}");
    } else {
        assert!(e.contains("no checkpoint was written yet"), "{e}");
    }

    // --detect-anomaly names the first op that produced a non-finite value
    let g = gpu();
    let mut model = FasTd::new(&g, micro(), 1).unwrap();
    model.set_stage(Stage::Single);
    let opt = Adadelta::new(&g, &mut model.params, 1.0, 0.95, 1e-6).unwrap();
    let (h, s) = (16, 2);
    let mut frames = vec![0.1f32; 3 * 3 * h * h];
    frames[5] = f32::NAN;
    let batch =
        HostBatch { clips: 1, frames, depth: vec![0.5; 3 * s * s], mask: vec![1.0; 3 * s * s], labels: vec![1.0] };
    let e = format!("{:#}", train_step(&g, &model, &opt, &batch, Stage::Single, true).unwrap_err());
    assert!(e.contains("--detect-anomaly: op `") && e.contains("NaN"), "{e}");
    // without the flag the NaN can vanish (a ReLU's max(NaN, 0) gives 0 on some GPUs): no error
    train_step(&g, &model, &opt, &batch, Stage::Single, false).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn work_beyond_the_adapters_limits_is_a_clear_error() {
    let g = gpu();
    // Work larger than one binding is split and a tensor larger than one buffer spans several;
    // one frame's activation larger than one binding is the error. The buffer limit is capped at
    // 2 MiB here (as TDFAS_MAX_BUFFER does) so that a wide stem's first activation (4096 x 16 x 16
    // floats, 4 MiB a frame) exceeds it at a small size.
    g.test_set_buffer_cap(Some(2 << 20));
    let mut cfg = micro();
    cfg.stem = 4096;
    let mut model = FasTd::new(&g, cfg.clone(), 1).unwrap();
    model.set_stage(Stage::Single);
    let opt = Adadelta::new(&g, &mut model.params, 1.0, 0.95, 1e-6).unwrap();
    let (h, s) = (cfg.image_size, cfg.map_size());
    let batch = HostBatch {
        clips: 1,
        frames: vec![0.0; 3 * 3 * h * h],
        depth: vec![0.0; 3 * s * s],
        mask: vec![1.0; 3 * s * s],
        labels: vec![0.0],
    };
    let e = format!("{:#}", train_step(&g, &model, &opt, &batch, Stage::Single, false).unwrap_err());
    assert!(e.contains("binds at most") && e.contains("MiB"), "{e}");
    g.test_set_buffer_cap(None);
    // the GPU stays usable afterwards, and a checkpoint of a model still saves and loads
    let dir = tmp("limits");
    let small = FasTd::new(&g, micro(), 2).unwrap();
    let p = dir.join("m.safetensors");
    checkpoint::save(&g, &p, &small, None, &Progress { stage: 1, step: 0, seed: 0, stage_done: false, init: None })
        .unwrap();
    tdfas::model::checkpoint::load_model(&g, &p).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
