//! The page in headless Chromium (WebGPU through SwiftShader on machines without a GPU), served
//! by `tdfas web`: its scores against `tdfas infer --json` on the same frames, photo and video,
//! the fake camera, and a clear message for each bad input. Screenshots land in
//! `target/web-check/`. Needs Chromium, Node (tools/web_check.mjs drives the browser) and the
//! page's WebAssembly built into tdfas (tools/build_web.sh before the build); where one is missing
//! the tests are skipped with a notice, unless TDFAS_REQUIRE_BROWSER=1 (.ci/run) makes it a failure.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

/// One browser at a time: SwiftShader runs the shaders on the CPU.
static BROWSER: Mutex<()> = Mutex::new(());

const WEBGPU: [&str; 4] = [
    "--enable-unsafe-webgpu",
    "--enable-features=Vulkan",
    "--use-angle=swiftshader",
    "--use-webgpu-adapter=swiftshader",
];

fn tdfas() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tdfas"))
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// Why the browser tests cannot run here, if they cannot.
fn missing() -> Option<String> {
    if !chromium().is_file() {
        return Some(format!("no Chromium at {} (apt-get install chromium)", chromium().display()));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some("no node (tools/web_check.mjs drives the browser)".into());
    }
    let probe = tdfas().args(["web", "--checkpoint", "/nonexistent"]).output().unwrap();
    if String::from_utf8_lossy(&probe.stderr).contains("without the page's WebAssembly") {
        return Some("tdfas was built without the page (run tools/build_web.sh, then build again)".into());
    }
    None
}

/// True when the tests should run; a notice (or, with TDFAS_REQUIRE_BROWSER=1, a failure) otherwise.
fn ready() -> bool {
    match missing() {
        None => true,
        Some(why) if std::env::var("TDFAS_REQUIRE_BROWSER").is_ok_and(|v| v == "1") => {
            panic!("TDFAS_REQUIRE_BROWSER=1 but {why}")
        }
        Some(why) => {
            eprintln!("SKIPPED: the browser tests of the page: {why}");
            false
        }
    }
}

fn work() -> PathBuf {
    std::env::temp_dir().join(format!("tdfas-web-{}", std::process::id()))
}

/// Frame files named NNNN.jpg (the synthetic set's) of a clip folder, in order.
fn frame_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            n.len() == 8 && n.ends_with(".jpg") && n[..4].bytes().all(|b| b.is_ascii_digit())
        })
        .collect();
    v.sort();
    v
}

/// What the tests score: an untrained tiny model with a stored threshold (the scores need not
/// mean anything to be compared) and two whole-scene synthetic clips (live, print), their frames
/// alone in folders as a phone's frames would be.
struct Fixtures {
    checkpoint: PathBuf,
    /// `checkpoint`'s network with a stored calibration at chance (dev EER 50%, threshold 0)
    at_chance: PathBuf,
    threshold: f64,
    live: PathBuf,
    print: PathBuf,
}

fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let dir = work();
        let _ = std::fs::remove_dir_all(&dir);
        let mut o = tdfas::data::synth::SynthOptions::preset("small", 5).unwrap();
        (o.identities, o.split, o.videos_per_class) = (3, [1, 1, 1], 1);
        (o.domain_b_split, o.cross_videos_per_class) = ([0, 0, 0], 0);
        tdfas::data::synth::generate(&dir.join("data"), &o, false).unwrap();
        let copy = |class: &str| {
            let src = std::fs::read_dir(dir.join("data/test").join(class)).unwrap().next().unwrap().unwrap().path();
            let out = dir.join(class);
            std::fs::create_dir_all(&out).unwrap();
            for f in frame_files(&src) {
                std::fs::copy(&f, out.join(f.file_name().unwrap())).unwrap();
            }
            out
        };
        let (live, print) = (copy("live"), copy("print"));
        let gpu = tdfas::Gpu::new().unwrap();
        tdfas::ops::tune(&gpu).unwrap();
        let cfg = tdfas::model::Config::preset("tiny").unwrap();
        let mut model = tdfas::model::fastd::FasTd::new(&gpu, cfg, 3).unwrap();
        // He-uniform weights (the init's bounds times sqrt(6)) keep the activations' scale
        // through the layers, so an untrained model's score still depends on its input
        let names: Vec<String> = model.params.names().map(String::from).collect();
        for name in names.iter().filter(|n| n.ends_with("weight") && !n.contains(".bn.")) {
            let w: Vec<f32> = model.params.get(name).unwrap().download(&gpu).unwrap();
            let scaled: Vec<f32> = w.iter().map(|x| x * 6f32.sqrt()).collect();
            model.params.set(&gpu, name, &scaled).unwrap();
        }
        let threshold = 0.5;
        let c = tdfas::model::checkpoint::Calibration {
            threshold,
            method: "test".into(),
            data: "tests/all/web.rs".into(),
            protocol: None,
            dev_eer: 0.0,
            n_live: 1,
            n_attack: 1,
        };
        let checkpoint = dir.join("model.safetensors");
        let progress = tdfas::model::checkpoint::Progress { stage: 2, step: 0, seed: 3, stage_done: true, init: None };
        tdfas::train::checkpoint::save_calibrated(&gpu, &checkpoint, &model, None, &progress, Some(&c)).unwrap();
        // the same network as if it had told its dev split's live from attack at chance
        let at_chance = dir.join("chance.safetensors");
        let chance = tdfas::model::checkpoint::Calibration { threshold: 0.0, dev_eer: 0.5, ..c };
        tdfas::train::checkpoint::save_calibrated(&gpu, &at_chance, &model, None, &progress, Some(&chance)).unwrap();
        Fixtures { checkpoint, at_chance, threshold, live, print }
    })
}

/// `tdfas web` on a free port; killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(checkpoint: &Path, files: Option<&Path>) -> Server {
        let mut cmd = tdfas();
        cmd.args(["web", "--port", "0", "--checkpoint"]).arg(checkpoint);
        if let Some(f) = files {
            cmd.arg("--files").arg(f);
        }
        let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.split_whitespace().find(|w| w.starts_with("http://127.0.0.1:")).map(String::from);
        let url = url.unwrap_or_else(|| panic!("tdfas web printed no address: {line:?}"));
        Server { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens `url` in headless Chromium until the page is done; its state, result and message.
/// The screenshot goes to target/web-check/`shot`.png.
fn browse(url: &str, shot: &str, flags: &[&str]) -> Value {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/web-check");
    std::fs::create_dir_all(&dir).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/web_check.mjs");
    let out = Command::new("node")
        .arg(script)
        .arg(url)
        .arg(dir.join(format!("{shot}.png")))
        .arg("240")
        .args(flags)
        .env("CHROMIUM", chromium())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let v: Value = serde_json::from_str(line).unwrap_or_else(|_| {
        panic!("{url}: no answer from the browser: {stdout}\n{}", String::from_utf8_lossy(&out.stderr))
    });
    eprintln!("{shot}: {}", serde_json::to_string(&v["result"]).unwrap());
    v
}

fn infer(checkpoint: &Path, input: &Path, conv_kernel: &str) -> Value {
    let json = input.with_extension("infer.json");
    let out = tdfas()
        .args(["infer", "--overwrite", "--checkpoint"])
        .arg(checkpoint)
        .arg("--json")
        .arg(&json)
        .arg(input)
        // the page's conv kernel (the browser does not autotune): the same sums in the same order
        .env("TDFAS_CONV", conv_kernel)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(std::fs::read_to_string(&json).unwrap().lines().next().unwrap()).unwrap()
}

/// Intersection over union of two [x, y, w, h] boxes.
fn iou(a: &[f64], b: &[f64]) -> f64 {
    let w = (a[0] + a[2]).min(b[0] + b[2]) - a[0].max(b[0]);
    let h = (a[1] + a[3]).min(b[1] + b[3]) - a[1].max(b[1]);
    let i = w.max(0.0) * h.max(0.0);
    i / (a[2] * a[3] + b[2] * b[3] - i)
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn page_scores_frames_and_photos_as_infer_does() {
    if !ready() {
        return;
    }
    let fx = fixtures();
    let mut scores = Vec::new();
    for (name, dir) in [("live", &fx.live), ("print", &fx.print)] {
        let server = Server::start(&fx.checkpoint, Some(dir));
        let page = browse(&format!("{}?frames=files", server.url), &format!("frames-{name}"), &WEBGPU);
        assert_eq!(page["state"], "done", "{page}");
        let r = &page["result"];
        let native = infer(&fx.checkpoint, dir, r["conv_kernel"].as_str().unwrap());
        let (got, want) = (f(&r["score"]), f(&native["score"]));
        eprintln!("{name}: page {got:.6}, infer {want:.6}, difference {:.2e}", (got - want).abs());
        assert!((got - want).abs() <= 1e-4, "{name}: the page scored {got}, tdfas infer {want}");
        let (pc, nc) = (r["clip_scores"].as_array().unwrap(), native["clip_scores"].as_array().unwrap());
        assert_eq!(pc.len(), nc.len(), "clips: {r} vs {native}");
        for (a, b) in pc.iter().zip(nc) {
            assert!((f(a) - f(b)).abs() <= 1e-4, "clip scores {pc:?} vs {nc:?}");
        }
        // the same face: the page's last clip box over infer's median of the clips' boxes
        let b = |v: &Value| -> Vec<f64> {
            v.as_array().unwrap_or_else(|| panic!("no face box: {v}")).iter().map(f).collect()
        };
        let iou = iou(&b(&r["face_box"]), &b(&native["face"]["face_box"]));
        assert!(iou > 0.5, "face boxes {} and {} (IoU {iou:.2})", r["face_box"], native["face"]["face_box"]);
        assert_eq!(f(&r["threshold"]["value"]), fx.threshold);
        // the run's least crop share, as infer reports it (whole scenes: no warning)
        let (share, native_share) = (f(&r["crop_in_picture"]), f(&native["face"]["crop_in_picture"]));
        assert!((share - native_share).abs() <= 1e-6, "crop share: page {share}, infer {native_share}");
        assert!(r["warning"].is_null(), "{r}");
        scores.push(got);
    }
    // the comparison tells inputs apart: the two clips score differently
    assert!((scores[0] - scores[1]).abs() > 1e-3, "live and print both scored {scores:?}");
    // frames with a picture of another name beside them: the frames are the video, as infer
    // scores such a folder, and the picture is named in a warning
    let mix = work().join("mix");
    std::fs::create_dir_all(&mix).unwrap();
    for f in frame_files(&fx.live) {
        std::fs::copy(&f, mix.join(f.file_name().unwrap())).unwrap();
    }
    std::fs::copy(&frame_files(&fx.print)[0], mix.join("cover.jpg")).unwrap();
    let server = Server::start(&fx.checkpoint, Some(&mix));
    let page = browse(&format!("{}?frames=files", server.url), "frames-mix", &WEBGPU);
    assert_eq!(page["state"], "done", "{page}");
    let r = &page["result"];
    assert!(
        (f(&r["score"]) - scores[0]).abs() <= 1e-4,
        "the page scored {}, the frames alone {}",
        r["score"],
        scores[0]
    );
    let warning = r["warning"].as_str().unwrap_or_default();
    assert!(warning.contains("not named as frames") && warning.contains("cover.jpg"), "{r}");

    // a photo: the single-frame network, against its own threshold
    let photo_dir = work().join("photo");
    std::fs::create_dir_all(&photo_dir).unwrap();
    // a name a browser has to escape in the URL (space, '#')
    let photo = photo_dir.join("selfie #1.jpg");
    std::fs::copy(&frame_files(&fx.live)[0], &photo).unwrap();
    // WebP and BMP, which infer reads too (a print's first frame, the live clip's last)
    let webp = photo_dir.join("print.webp");
    let frame = |path: &Path| tdfas::data::imageops::load(path, false).unwrap();
    tdfas::data::imageops::save(&frame(&frame_files(&fx.print)[0]), &webp).unwrap();
    let bmp = photo_dir.join("room.bmp");
    tdfas::data::imageops::save(&frame(frame_files(&fx.live).last().unwrap()), &bmp).unwrap();
    // a real photo cut to the face (its box marked by hand, as in tests/all/verdict.rs), as many
    // real sets' photos are: the crop reaches far past the picture, and the page warns as infer
    // does
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real/live_sideways.jpg");
    let img = tdfas::data::imageops::load(&real, false).unwrap();
    let marked = tdfas::data::imageops::Rect { x: 115.0, y: 160.0, w: 175.0, h: 200.0 };
    let close = photo_dir.join("zz_close.png");
    tdfas::data::imageops::save(&img.window(marked), &close).unwrap();
    let server = Server::start(&fx.checkpoint, Some(&photo_dir));
    let page = browse(&format!("{}?frames=files", server.url), "photo", &WEBGPU);
    assert_eq!(page["state"], "done", "{page}");
    let kernel = page["result"]["conv_kernel"].as_str().unwrap();
    // the page scores photos in name order, zz_close.png last (whose warning the screenshot
    // shows)
    let photos = page["result"]["photos"].as_array().unwrap();
    assert_eq!(photos.len(), 4, "{}", page["result"]);
    for (r, path) in photos.iter().zip([&webp, &bmp, &photo, &close]) {
        let native = infer(&fx.checkpoint, path, kernel);
        assert_eq!(native["network"], "single-frame");
        assert_eq!(r["network"], "single-frame");
        let (got, want) = (f(&r["score"]), f(&native["score"]));
        eprintln!("{}: page {got:.6}, infer {want:.6}, difference {:.2e}", path.display(), (got - want).abs());
        assert!((got - want).abs() <= 1e-4, "{}: the page scored {got}, tdfas infer {want}", path.display());
        let (share, native_share) = (f(&r["crop_in_picture"]), f(&native["face"]["crop_in_picture"]));
        assert!((share - native_share).abs() <= 1e-6, "crop share: page {share}, infer {native_share}");
        let warned = native["warnings"].to_string().contains("cut close around the face");
        assert_eq!(warned, path == &close, "{native}");
        assert_eq!(r["warning"].as_str().is_some_and(|w| w.contains("cut close around the face")), warned, "{r}");
    }
}

fn ffmpeg_y4m(frames: &Path, out: &Path) -> bool {
    let ok = Command::new("ffmpeg")
        .args(["-y", "-loglevel", "error", "-framerate", "30", "-i"])
        .arg(frames.join("%04d.jpg"))
        .args(["-pix_fmt", "yuv420p"])
        .arg(out)
        .status();
    ok.is_ok_and(|s| s.success())
}

#[test]
fn fake_camera_and_video_file_find_the_face_and_score_as_infer_does() {
    if !ready() {
        return;
    }
    let fx = fixtures();
    let y4m = work().join("live.y4m");
    if !ffmpeg_y4m(&fx.live, &y4m) {
        assert!(std::env::var("TDFAS_REQUIRE_BROWSER").is_err(), "ffmpeg could not write {}", y4m.display());
        eprintln!("SKIPPED: the fake camera test: no ffmpeg to write its y4m");
        return;
    }
    let server = Server::start(&fx.checkpoint, None);
    let capture = format!("--use-file-for-fake-video-capture={}", y4m.display());
    let mut flags = WEBGPU.to_vec();
    flags.extend(["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", &capture]);
    let page = browse(&format!("{}?camera=1&clips=8", server.url), "camera", &flags);
    assert_eq!(page["state"], "done", "{page}");
    let r = &page["result"];
    assert!(r["face_box"].is_array(), "no face found in the camera's frames: {r}");
    let native = infer(&fx.checkpoint, &y4m, r["conv_kernel"].as_str().unwrap());
    let (got, want) = (f(&r["score"]), f(&native["score"]));
    eprintln!("camera: page {got:.4} over {} clips, infer on the video {want:.4}", r["clip_scores"]);
    assert!((got - want).abs() <= 0.05, "the camera scored {got}, tdfas infer on its video {want}");
    if (want - fx.threshold).abs() > 0.05 {
        assert_eq!(got >= fx.threshold, want >= fx.threshold, "verdicts differ: {got} vs {want}");
    }

    // a video file (WebM: every Chromium plays it; the clip six times) through the same window, to its end
    let videos = work().join("video");
    std::fs::create_dir_all(&videos).unwrap();
    let webm = videos.join("live.webm");
    let made = Command::new("ffmpeg")
        .args(["-y", "-loglevel", "error", "-stream_loop", "5", "-i"])
        .arg(&y4m)
        .args(["-c:v", "libvpx", "-b:v", "2M"])
        .arg(&webm)
        .status()
        .unwrap();
    assert!(made.success(), "ffmpeg could not write {}", webm.display());
    let server = Server::start(&fx.checkpoint, Some(&videos));
    let page = browse(&format!("{}?video=files/live.webm", server.url), "video", &WEBGPU);
    assert_eq!(page["state"], "done", "{page}");
    let r = &page["result"];
    assert!(r["face_box"].is_array(), "no face found in the video: {r}");
    let native = infer(&fx.checkpoint, &webm, r["conv_kernel"].as_str().unwrap());
    let (got, want) = (f(&r["score"]), f(&native["score"]));
    eprintln!("video: page {got:.4} over {} clips, infer on the video {want:.4}", r["clip_scores"]);
    assert!((got - want).abs() <= 0.05, "the video scored {got}, tdfas infer {want}");
}

#[test]
fn bad_inputs_give_a_clear_message_on_the_page() {
    if !ready() {
        return;
    }
    let fx = fixtures();
    let dir = work().join("bad");
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("notes.safetensors");
    std::fs::write(&junk, "these are my notes, not a model\n").unwrap();
    // the server refuses a wrong checkpoint before serving anything
    let out = tdfas().args(["web", "--port", "0", "--checkpoint"]).arg(&junk).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("is not a tdfas checkpoint"), "{err}");
    // frames without a face: a grey gradient
    let frames = dir.join("frames");
    std::fs::create_dir_all(&frames).unwrap();
    for k in 0..8 {
        let img = image::RgbImage::from_fn(224, 168, |x, y| image::Rgb([(x / 2) as u8, (y + k) as u8, 120]));
        img.save(frames.join(format!("{k:04}.jpg"))).unwrap();
    }
    let server = Server::start(&fx.checkpoint, Some(&dir));
    let server_frames = Server::start(&fx.checkpoint, Some(&frames));
    // a face scored against the threshold of a network at chance: a verdict, and infer's warning
    let server_chance = Server::start(&fx.at_chance, Some(&fx.live));
    let with = |extra: &[&'static str]| -> Vec<&'static str> { WEBGPU.iter().chain(extra).copied().collect() };
    let cases: [(&str, String, Vec<&str>, &str, &str); 5] = [
        ("no-webgpu", server.url.clone(), vec!["--disable-blink-features=WebGPU"], "error", "has no WebGPU"),
        (
            "wrong-checkpoint",
            format!("{}?checkpoint=files/notes.safetensors", server.url),
            with(&[]),
            "error",
            "notes.safetensors is not a tdfas checkpoint",
        ),
        (
            "camera-refused",
            format!("{}?camera=1", server.url),
            with(&["--use-fake-device-for-media-stream", "--deny-permission-prompts"]),
            "error",
            "camera was refused",
        ),
        ("no-face", format!("{}?frames=files", server_frames.url), with(&[]), "done", "no face found"),
        (
            "at-chance",
            format!("{}?frames=files", server_chance.url),
            with(&[]),
            "done",
            "its network tells live from attack no better than chance on its dev split (EER 50.0%",
        ),
    ];
    for (shot, url, flags, state, says) in cases {
        let page = browse(&url, shot, &flags);
        assert_eq!(page["state"], state, "{shot}: {page}");
        let message = page["message"].as_str().unwrap();
        assert!(message.contains(says), "{shot}: the page says {message:?}, not {says:?}");
    }
}

/// The checks the page runs, natively: they pass here too, and their count is the page's.
fn native_kernel_checks() -> Vec<tdfas::web::kernel_checks::Outcome> {
    let gpu = tdfas::Gpu::new().unwrap();
    tdfas::ops::tune(&gpu).unwrap();
    tdfas::gpu::block_on(tdfas::web::kernel_checks::run(&gpu))
}

#[test]
fn kernel_checks_pass_natively() {
    let out = native_kernel_checks();
    let failed: Vec<_> = out.iter().filter(|o| !o.ok).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert!(out.len() >= 40, "only {} checks", out.len());
}

#[test]
fn kernel_checks_pass_in_the_page() {
    if !ready() {
        return;
    }
    let fx = fixtures();
    let server = Server::start(&fx.checkpoint, None);
    let page = browse(&format!("{}?test=kernels", server.url), "kernels", &WEBGPU);
    assert_eq!(page["state"], "done", "{page}");
    let r = &page["result"];
    let failed: Vec<&Value> = r["tests"].as_array().unwrap().iter().filter(|t| t["ok"] != true).collect();
    assert!(failed.is_empty(), "failed in the page: {failed:#?}");
    assert_eq!(r["passed"].as_u64().unwrap() as usize, native_kernel_checks().len(), "{r}");
    assert!(page["message"].as_str().unwrap().contains("0 failed"), "{}", page["message"]);
}

#[test]
fn bench_view_times_every_row() {
    if !ready() {
        return;
    }
    let fx = fixtures();
    let server = Server::start(&fx.checkpoint, None);
    let page = browse(&format!("{}?bench=1", server.url), "bench", &WEBGPU);
    assert_eq!(page["state"], "done", "{page}");
    let rows = page["result"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 8, "{rows:?}");
    assert!(rows.iter().all(|r| f(&r["ms"]) > 0.0 && f(&r["ms"]).is_finite()), "{rows:?}");
    assert!(rows.last().unwrap()["name"].as_str().unwrap().starts_with("clip inference"), "{rows:?}");
}

/// The bench view's rows natively (lavapipe here): the numbers the page's are compared with.
#[test]
fn bench_rows_run_natively() {
    let gpu = tdfas::Gpu::new().unwrap();
    tdfas::ops::tune(&gpu).unwrap();
    let rows = tdfas::gpu::block_on(tdfas::web::bench_rows::run(&gpu, None)).unwrap();
    for r in &rows {
        eprintln!("native bench: {} {:.2} ms {:?} GFLOP/s", r.name, r.ms, r.gflops);
    }
    assert_eq!(rows.len(), 7);
    assert!(rows.iter().all(|r| r.ms > 0.0 && r.ms.is_finite()), "{rows:?}");
}

/// One raw HTTP GET of `path` with `host` as the Host header: the status code and the body.
fn raw_get(url: &str, path: &str, host: &str) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP answer");
    let status = String::from_utf8_lossy(&answer[..split]).split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, answer[split + 4..].to_vec())
}

#[test]
fn the_server_answers_only_this_machine_and_only_files_of_its_folder() {
    if !ready() {
        return;
    }
    let fx = fixtures();
    let dir = work().join("served");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("photo.jpg"), b"a photo").unwrap();
    std::fs::write(dir.join("my photo #2.jpg"), b"another photo").unwrap();
    let secret = work().join("secret.txt");
    std::fs::write(&secret, b"not for the page").unwrap();
    let link = dir.join("link.jpg");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    let server = Server::start(&fx.checkpoint, Some(&dir));
    let here = server.url.trim_start_matches("http://").trim_end_matches('/').to_string();
    let port = here.rsplit_once(':').unwrap().1;
    assert_eq!(raw_get(&server.url, "/files/photo.jpg", &here), (200, b"a photo".to_vec()));
    assert_eq!(raw_get(&server.url, "/files/photo.jpg", &format!("localhost:{port}")).0, 200);
    // names as browsers escape them
    assert_eq!(raw_get(&server.url, "/files/my%20photo%20%232.jpg", &here), (200, b"another photo".to_vec()));
    assert_eq!(raw_get(&server.url, "/files/..%2Fsecret.txt", &here).0, 404);
    // a link out of the folder is neither listed nor served
    assert_eq!(raw_get(&server.url, "/files/link.jpg", &here).0, 404);
    let (_, site) = raw_get(&server.url, "/site.json", &here);
    let listed = String::from_utf8_lossy(&site).to_string();
    assert!(listed.contains("photo.jpg") && !listed.contains("link.jpg"), "{listed}");
    // a client that asks for the wasm again and again and never reads does not stall the others
    let mut stalled = std::net::TcpStream::connect(&here).unwrap();
    for _ in 0..20 {
        use std::io::Write;
        write!(stalled, "GET /tdfas_web_bg.wasm HTTP/1.1\r\nHost: {here}\r\n\r\n").unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (tx, rx) = std::sync::mpsc::channel();
    let (url, host) = (server.url.clone(), here.clone());
    std::thread::spawn(move || tx.send(raw_get(&url, "/site.json", &host).0));
    let status = rx.recv_timeout(std::time::Duration::from_secs(20));
    assert_eq!(status, Ok(200), "another client was not answered while one stalled");
    drop(stalled);
    // another site's name re-pointed at 127.0.0.1 (DNS rebinding) gets neither model nor files
    for path in ["/checkpoint.safetensors", "/files/photo.jpg", "/site.json", "/"] {
        let (status, body) = raw_get(&server.url, path, &format!("attacker.example:{port}"));
        assert_eq!(status, 421, "{path}");
        assert!(!body.windows(7).any(|w| w == b"a photo"), "{path}");
    }
}
