//! The synthetic live / print / replay benchmark (`tdfas synth`), written in the generic layout
//! with protocol files. Deterministic: the same options give the same bytes.
//!
//! Output: `root/{train,dev,test}/{live,print,replay}/<clip>/NNNN.png` (+ `_depth.png`,
//! `_mask.png`), `root/clips.csv` (clip,instrument,identity,env,domain), `root/synth.json`, and
//! `root/protocols/{all,P1,P2,cross}/{train,dev,test}.txt` (lines `+1,train/live/<clip>`):
//! - all: every in-domain clip of each split;
//! - P1: unseen lighting + background: train/dev use environments 0 and 1, test environment 2;
//! - P2: unseen instrument: train/dev see live, print1, replay1; test sees live, print2, replay2;
//! - cross: train/dev as `all`; test = clips of the test identities rendered with other mesh
//!   deformation and sensor ranges (clip names starting `x_`, in `test/`).

mod attack;
pub mod preview;
mod scene;
mod sensor;

pub use preview::preview;

use crate::data::imageops::{save, Img};
use crate::data::protocol::format_line;
use anyhow::{bail, Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use scene::{Background, Identity, Light, Object, Pose, Rendered, Surface};
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Serialize)]
pub struct SynthOptions {
    pub seed: u64,
    /// "small" or "default" (informational once the sizes below are set).
    pub preset: String,
    pub identities: usize,
    /// Identities in train, dev, test (sum = identities).
    pub split: [usize; 3],
    /// Videos per class (live, print, replay) per identity; attacks alternate instrument 1 / 2.
    pub videos_per_class: usize,
    /// Cross-set videos per class per test identity.
    pub cross_videos_per_class: usize,
    pub frames: usize,
    /// Frame size (square), pixels.
    pub size: usize,
}

impl SynthOptions {
    /// small: the CPU demo's (64 px, 24 identities 12/6/6, 2 videos per class, 13 frames);
    /// default: 112 px, 48 identities 24/12/12, 4 videos per class, 26 frames (2 clips of 5 x 3).
    pub fn preset(name: &str, seed: u64) -> Result<SynthOptions> {
        let (identities, split, videos_per_class, frames, size) = match name {
            "small" => (24, [12, 6, 6], 2, 13, 64),
            "default" => (48, [24, 12, 12], 4, 26, 112),
            other => bail!("unknown synth preset {other:?} (expected small or default)"),
        };
        Ok(SynthOptions {
            seed,
            preset: name.to_string(),
            identities,
            split,
            videos_per_class,
            cross_videos_per_class: 1,
            frames,
            size,
        })
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct SynthSummary {
    pub root: PathBuf,
    pub videos: usize,
    pub frames: usize,
    pub bytes: u64,
    pub seconds: f64,
    pub ms_per_frame: f64,
}

const CLASSES: [&str; 3] = ["live", "print", "replay"];
const SPLITS: [&str; 3] = ["train", "dev", "test"];

/// One video to render.
struct VideoSpec {
    split: usize,
    identity: usize,
    class: usize,
    instrument: String,
    k: usize,
    env: usize,
    cross: bool,
}

impl VideoSpec {
    fn clip(&self) -> String {
        let x = if self.cross { "x_" } else { "" };
        format!("{x}id{:03}_{}_v{}_e{}", self.identity, self.instrument, self.k, self.env)
    }
    fn rel(&self) -> String {
        format!("{}/{}/{}", SPLITS[self.split], CLASSES[self.class], self.clip())
    }
    fn label(&self) -> u32 {
        u32::from(self.class == 0)
    }
}

/// Renders the benchmark into `out`.
pub fn generate(out: &Path, opts: &SynthOptions, progress: bool) -> Result<SynthSummary> {
    if opts.split.iter().sum::<usize>() != opts.identities
        || opts.frames == 0
        || opts.size < 8
        || !opts.size.is_multiple_of(2)
    {
        bail!("synth options {opts:?}: split must sum to identities, frames > 0, size even and >= 8");
    }
    let start = std::time::Instant::now();
    let videos = plan(opts);
    let bar =
        if progress { indicatif::ProgressBar::new(videos.len() as u64) } else { indicatif::ProgressBar::hidden() };
    bar.set_style(indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} videos {elapsed} eta {eta}").unwrap());
    for v in &videos {
        let dir = out.join(v.rel());
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let frames = render_video(opts, v)?;
        for (t, f) in frames.iter().enumerate() {
            write_frame(&dir, t, f, opts.size)?;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    write_lists(out, opts, &videos)?;
    let seconds = start.elapsed().as_secs_f64();
    let nframes = videos.len() * opts.frames;
    Ok(SynthSummary {
        root: out.to_path_buf(),
        videos: videos.len(),
        frames: nframes,
        bytes: dir_bytes(out)?,
        seconds,
        ms_per_frame: seconds * 1000.0 / nframes.max(1) as f64,
    })
}

/// The videos: per identity and class, `videos_per_class` videos cycling through environments
/// and instruments; then the cross-set videos of the test identities.
fn plan(opts: &SynthOptions) -> Vec<VideoSpec> {
    let mut v = Vec::new();
    let split_of = |i: usize| {
        if i < opts.split[0] {
            0
        } else if i < opts.split[0] + opts.split[1] {
            1
        } else {
            2
        }
    };
    for cross in [false, true] {
        for i in 0..opts.identities {
            if cross && split_of(i) != 2 {
                continue;
            }
            let per = if cross { opts.cross_videos_per_class } else { opts.videos_per_class };
            for (class, name) in CLASSES.iter().enumerate() {
                for k in 0..per {
                    let instrument = if class == 0 { "live".to_string() } else { format!("{name}{}", k % 2 + 1) };
                    let env = (i + k + class) % 3;
                    v.push(VideoSpec { split: split_of(i), identity: i, class, instrument, k, env, cross });
                }
            }
        }
    }
    v
}

/// A seeded stream for one purpose (so each video renders independently of the others).
fn stream(seed: u64, parts: &[u64]) -> ChaCha8Rng {
    let mut h = seed ^ 0x9E37_79B9_7F4A_7C15;
    for &p in parts {
        h = (h ^ p).wrapping_mul(0x1000_0000_01B3).rotate_left(29) ^ 0xD6E8_FEB8_6659_FD93;
    }
    ChaCha8Rng::seed_from_u64(h)
}

/// The scene lighting of an environment (0: upper left, neutral; 1: upper right, cool;
/// 2: frontal from below, warm), jittered.
fn env_light(env: usize, rng: &mut ChaCha8Rng) -> Light {
    let (az, el, col): (f32, f32, [f32; 3]) = match env {
        0 => (-0.8, 0.5, [1.0, 1.0, 1.0]),
        1 => (0.8, 0.5, [0.9, 0.96, 1.1]),
        _ => (0.0, -0.3, [1.1, 1.0, 0.8]),
    };
    let az = az + rng.random_range(-0.25..0.25);
    let el = el + rng.random_range(-0.15..0.15);
    // Towards the light: x right, y down (so elevation up = -y), z towards the camera = -z.
    let dir = [az.sin() * el.cos(), -el.sin(), -az.cos() * el.cos()];
    let k = rng.random_range(0.85..1.15);
    Light { dir, colour: col.map(|c| c * k), ambient: rng.random_range(0.25..0.45) }
}

fn studio_light(rng: &mut ChaCha8Rng) -> Light {
    let az: f32 = rng.random_range(-0.4..0.4);
    Light { dir: crate::data::mesh::normalize([az.sin(), -0.4, -1.0]), colour: [1.0; 3], ambient: 0.45 }
}

fn jitter(rng: &mut ChaCha8Rng) -> scene::Jitter {
    [rng.random_range(-0.02..0.02), rng.random_range(-0.02..0.02), rng.random_range(-0.03..0.03)]
}

/// Renders one video (after the sensor).
fn render_video(opts: &SynthOptions, v: &VideoSpec) -> Result<Vec<Rendered>> {
    let cross = u64::from(v.cross);
    let id = scene::identity(&mut stream(opts.seed, &[1, v.identity as u64, cross]), v.cross);
    let mut rng = stream(opts.seed, &[2, v.identity as u64, v.class as u64, v.k as u64, cross]);
    let light = env_light(v.env, &mut rng);
    let bg = Background::random(&mut rng, v.env as u8);
    let sensor = sensor::Sensor::random(&mut rng, v.cross);
    let n = opts.size;
    let frames = match v.class {
        0 => live_frames(&id, &light, &bg, n, opts.frames, &mut rng),
        1 => print_frames(&id, &v.instrument, &light, &bg, n, opts.frames, &mut rng),
        _ => replay_frames(&id, &v.instrument, &light, &bg, n, opts.frames, &mut rng),
    };
    frames
        .into_iter()
        .map(|mut f| {
            f.rgb = sensor.apply(&f.rgb, &mut rng)?;
            Ok(f)
        })
        .collect()
}

fn live_frames(
    id: &Identity,
    light: &Light,
    bg: &Background,
    n: usize,
    frames: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<Rendered> {
    let dist = rng.random_range(0.3..0.6);
    let traj = scene::trajectory(rng, [0.35, 0.18, 0.12, 0.03, 0.02, 0.04], frames, 0.0);
    traj.iter()
        .map(|(a, t)| {
            let pose = Pose::new(*a, [t[0], t[1], dist + t[2]]);
            scene::render(&Object::Face { id, pose }, light, bg, n, jitter(rng))
        })
        .collect()
}

/// The face box inside a 1.3x face-cropped texture.
const FACE_UV: [f32; 4] = [0.5 - 0.5 / 1.3, 0.5 - 0.5 / 1.3, 0.5 + 0.5 / 1.3, 0.5 + 0.5 / 1.3];

fn mask_img(r: &Rendered, n: usize) -> Img {
    Img { w: n, h: n, c: 1, data: r.mask.clone() }
}

fn print_frames(
    id: &Identity,
    instrument: &str,
    light: &Light,
    bg: &Background,
    n: usize,
    frames: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<Rendered> {
    let t = 2 * n;
    let mut studio_bg = Background::random(rng, 3);
    studio_bg.colours[0] = [rng.random_range(170.0..235.0); 3];
    let pose = Pose::new([rng.random_range(-0.1..0.1), rng.random_range(-0.05..0.05), 0.0], [0.0, 0.0, 0.5]);
    let photo = scene::render(&Object::Face { id, pose }, &studio_light(rng), &studio_bg, t, [0.0; 3]);
    let tex = attack::print(&photo.rgb, &attack::printer(instrument), rng);
    let mask = mask_img(&photo, t);
    let side = 0.21 * rng.random_range(0.85..1.1);
    let bend = if rng.random_bool(0.5) { 0.0 } else { rng.random_range(0.12..0.35) };
    let surface = Surface::new(side * 1.25, side * 1.25, bend, [0.1, 0.1, 0.9, 0.9]);
    let dist = rng.random_range(0.3..0.5);
    let traj = scene::trajectory(rng, [0.15, 0.12, 0.08, 0.02, 0.02, 0.03], frames, 0.05);
    traj.iter()
        .map(|(a, tr)| {
            let pose = Pose::new(*a, [tr[0], tr[1], dist + tr[2]]);
            let obj = Object::Sheet {
                surface: &surface,
                pose,
                tex: &tex,
                mask: &mask,
                face_uv: FACE_UV,
                emissive: false,
                gloss: 0.12,
            };
            scene::render(&obj, light, bg, n, jitter(rng))
        })
        .collect()
}

fn replay_frames(
    id: &Identity,
    instrument: &str,
    light: &Light,
    bg: &Background,
    n: usize,
    frames: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<Rendered> {
    let t = n * 3 / 2;
    let content_light = studio_light(rng);
    let kind = rng.random_range(0..3u8);
    let content_bg = Background::random(rng, kind);
    let content_dist = rng.random_range(0.35..0.6);
    let content_traj = scene::trajectory(rng, [0.3, 0.15, 0.1, 0.02, 0.02, 0.03], frames, 0.0);
    let disp = attack::display(instrument);
    let side = 0.2 * rng.random_range(0.8..1.1);
    let surface = Surface::new(side * 1.15, side * 1.15, 0.0, [0.065, 0.065, 0.935, 0.935]);
    let dist = rng.random_range(0.3..0.5);
    let traj = scene::trajectory(rng, [0.12, 0.1, 0.05, 0.015, 0.015, 0.02], frames, 0.02);
    traj.iter()
        .zip(&content_traj)
        .map(|((a, tr), (ca, ct))| {
            let cpose = Pose::new(*ca, [ct[0], ct[1], content_dist + ct[2]]);
            let content = scene::render(&Object::Face { id, pose: cpose }, &content_light, &content_bg, t, jitter(rng));
            let tex = attack::screen(&content.rgb, &disp);
            let mask = mask_img(&content, t);
            let pose = Pose::new(*a, [tr[0], tr[1], dist + tr[2]]);
            let obj = Object::Sheet {
                surface: &surface,
                pose,
                tex: &tex,
                mask: &mask,
                face_uv: FACE_UV,
                emissive: true,
                gloss: disp.gloss,
            };
            scene::render(&obj, light, bg, n, jitter(rng))
        })
        .collect()
}

fn write_frame(dir: &Path, t: usize, f: &Rendered, n: usize) -> Result<()> {
    save(&f.rgb, &dir.join(format!("{t:04}.png")))?;
    let depth = Img { w: n, h: n, c: 1, data: f.depth.iter().map(|d| d * 255.0).collect() };
    save(&depth, &dir.join(format!("{t:04}_depth.png")))?;
    let mask = Img { w: n, h: n, c: 1, data: f.mask.iter().map(|&m| if m >= 0.5 { 255.0 } else { 0.0 }).collect() };
    save(&mask, &dir.join(format!("{t:04}_mask.png")))
}

fn write_lists(out: &Path, opts: &SynthOptions, videos: &[VideoSpec]) -> Result<()> {
    let write = |path: PathBuf, text: String| -> Result<()> {
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).with_context(|| format!("cannot create {}", p.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
    };
    let mut csv = String::from("clip,instrument,identity,env,domain\n");
    for v in videos {
        csv += &format!(
            "{},{},{},{},{}\n",
            v.rel(),
            v.instrument,
            v.identity,
            v.env,
            if v.cross { "cross" } else { "main" }
        );
    }
    write(out.join("clips.csv"), csv)?;
    write(out.join("synth.json"), serde_json::to_string_pretty(opts)?)?;
    type Keep = fn(&VideoSpec, usize) -> bool;
    let protocols: [(&str, Keep); 4] = [
        ("all", |v, _| !v.cross),
        ("P1", |v, s| !v.cross && if s == 2 { v.env == 2 } else { v.env != 2 }),
        ("P2", |v, s| !v.cross && (v.class == 0 || v.instrument.ends_with(if s == 2 { '2' } else { '1' }))),
        ("cross", |v, s| if s == 2 { v.cross } else { !v.cross }),
    ];
    for (name, keep) in protocols {
        for (s, split) in SPLITS.iter().enumerate() {
            let lines: String = videos
                .iter()
                .filter(|v| v.split == s && keep(v, s))
                .map(|v| format_line(v.label(), &v.rel()) + "\n")
                .collect();
            write(out.join("protocols").join(name).join(format!("{split}.txt")), lines)?;
        }
    }
    Ok(())
}

fn dir_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let e = e?;
        let md = e.metadata()?;
        total += if md.is_dir() { dir_bytes(&e.path())? } else { md.len() };
    }
    Ok(total)
}

#[cfg(test)]
mod tests;
