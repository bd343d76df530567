//! The synthetic live / print / replay benchmark (`tdfas synth`), written in the generic layout
//! with protocol files. Deterministic: the same options give the same bytes.
//!
//! Frames are whole scenes by default (`SynthOptions::face_crop` false): a `width x height`
//! camera view with the face anywhere in it, its box 5-40% of the frame's area, so the
//! pipeline has to find the face itself. No `bbox.csv` is written; each clip folder has
//! `truth_bbox.csv` (frame,x,y,w,h: the true face box per frame, to measure detection with).
//! Depth and mask images are full frames in the frame's coordinates. With `face_crop` (presets
//! `small-crop`, `default-crop`) frames are the old square face crops (box enlarged 1.3x).
//!
//! Two disjoint domains: A and B have their own identities, people (A: the astronaut, Barack
//! Obama and 121 colour photos of people; B: Grace Hopper, Joe Biden and 120 others; each
//! also mirrored, and most identities a morph of two of them), camera field of view and sensor
//! ranges, and
//! attack instruments (see `attack::INSTRUMENTS`). Backgrounds, lights and face sizes come from
//! one distribution for every class and domain.
//!
//! Output: `root/{train,dev,test}/{live,print,replay}/<clip>/NNNN.jpg` (+ `_depth.png`,
//! `_mask.png`, `truth_bbox.csv`), `root/clips.csv` (clip,instrument,identity,domain),
//! `root/synth.json`, and `root/protocols/<name>/{train,dev,test}.txt` (lines
//! `+1,train/live/<clip>`):
//! - `domain_A`, `domain_B`: each domain's own train / dev / test clips;
//! - `all`: both domains together;
//! - `cross_AB`: train and dev from domain A, test = domain B's test clips (so the threshold
//!   fixed on A's dev split is applied to B); `cross_BA` the other way round;
//! - `P2`: domain A, unseen instrument: train/dev see live and the first print and replay
//!   instrument of A, test live and the second ones.

mod attack;
mod hands;
mod noise;
mod person;
mod photos;
mod places;
pub mod preview;
mod scene;
mod sensor;
mod still;

pub use preview::preview;

use crate::data::imageops::{save, Img, Rect};
use crate::data::protocol::format_line;
use anyhow::{bail, Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use scene::{Background, Camera, Glare, Identity, Light, Medium, Object, Pose, Rendered, Surface};
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Serialize)]
pub struct SynthOptions {
    pub seed: u64,
    /// "small", "demo", "default", or one of them with "-crop" (informational once the fields
    /// below are set).
    pub preset: String,
    /// Domain A identities.
    pub identities: usize,
    /// Domain A identities in train, dev, test (sum = identities).
    pub split: [usize; 3],
    /// Videos per class (live, print, replay) per domain-A identity; attacks alternate the
    /// domain's two print and two replay instruments.
    pub videos_per_class: usize,
    /// Domain B identities in train, dev, test (disjoint from A's).
    pub domain_b_split: [usize; 3],
    /// Videos per class per domain-B identity (0 = no domain B videos).
    pub cross_videos_per_class: usize,
    pub frames: usize,
    /// Frame size in pixels (whole scenes); with `face_crop` the crops are `width x width`.
    pub width: usize,
    pub height: usize,
    /// The old face-cropped frames instead of whole scenes.
    pub face_crop: bool,
}

impl SynthOptions {
    /// small: the CPU demo's (224 x 168 whole scenes, domain A 24 identities 12/6/6 with 2
    /// videos per class, domain B 12 identities 4/4/4 with 2 videos per class, 13 frames);
    /// demo: `tdfas demo`'s on the CPU, small with domain A 84 identities 66/9/9 with 3 videos
    /// per class and domain B 4/4/12; default: 320 x 240, A 48 identities 24/12/12 with 4
    /// videos per class, B 24 identities 8/8/8 with 2, 26 frames (2 clips of 5 x 3). `-crop`
    /// variants: face crops of 64 / 112 px.
    pub fn preset(name: &str, seed: u64) -> Result<SynthOptions> {
        let (base, face_crop) = match name.strip_suffix("-crop") {
            Some(b) => (b, true),
            None => (name, false),
        };
        let (identities, split, videos_per_class, domain_b_split, frames, (width, height), crop) = match base {
            "small" => (24, [12, 6, 6], 2, [4, 4, 4], 13, (224, 168), 64),
            // More domain-A identities than small: with 18 training identities Model 4's
            // cross-domain HTER was 18.8-20.8% (AUC 0.86-0.87), with 42 7.3% (0.978), with 66
            // 7.3% (0.965) and the best in-domain result; 90 were no better on fixed test videos
            // over two seeds. 72 cross-domain test videos instead of 24: one video moved HTER by
            // 6 points (docs/EXPERIMENTS.md, "What was tried").
            "demo" => (84, [66, 9, 9], 3, [4, 4, 12], 13, (224, 168), 64),
            "default" => (48, [24, 12, 12], 4, [8, 8, 8], 26, (320, 240), 112),
            _ => bail!("unknown synth preset {name:?} (expected small, demo or default, each maybe with -crop)"),
        };
        Ok(SynthOptions {
            seed,
            preset: name.to_string(),
            identities,
            split,
            videos_per_class,
            domain_b_split,
            cross_videos_per_class: 2,
            frames,
            width: if face_crop { crop } else { width },
            height: if face_crop { crop } else { height },
            face_crop,
        })
    }

    /// Size of the written frames.
    pub fn frame_size(&self) -> (usize, usize) {
        if self.face_crop {
            (self.width, self.width)
        } else {
            (self.width, self.height)
        }
    }

    /// The number of videos a render of these options makes (3 classes per identity).
    pub fn planned_videos(&self) -> u128 {
        let per_domain =
            |split: [usize; 3], per: usize| split.iter().map(|&n| n as u128).sum::<u128>() * 3 * per as u128;
        per_domain(self.split, self.videos_per_class) + per_domain(self.domain_b_split, self.cross_videos_per_class)
    }

    /// Fails on options that cannot be rendered, or would fill a disk: checked before any folder
    /// is touched.
    pub fn check(&self) -> Result<()> {
        let (w, h) = self.frame_size();
        let videos = self.planned_videos();
        if videos > MAX_VIDEOS {
            // about 10 KB a 224 x 168 frame with its depth and mask (the demo's benchmark)
            let gb = videos as f64 * self.frames as f64 * (w * h) as f64 * 10e3 / (224.0 * 168.0) / 1e9;
            bail!(
                "synth: {videos} videos planned (identities x 3 classes x videos per class), more than the \
                 {MAX_VIDEOS} one render makes (that many would take about {gb:.3e} GB): lower --split or \
                 --videos-per-class"
            );
        }
        if self.split.iter().map(|&n| n as u128).sum::<u128>() != self.identities as u128
            || self.frames == 0
            || w < 8
            || h < 8
            || !w.is_multiple_of(2)
            || !h.is_multiple_of(2)
        {
            bail!("synth options {self:?}: split must sum to identities, frames > 0, width and height even and >= 8");
        }
        Ok(())
    }
}

/// The most videos one render makes: 200,000 videos of 13 frames at 224 x 168 are about 26 GB
/// (the demo's benchmark has 876).
pub const MAX_VIDEOS: u128 = 200_000;

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
const DOMAINS: [&str; 2] = ["A", "B"];

/// One video to render.
struct VideoSpec {
    split: usize,
    domain: usize,
    /// Global identity number (domain B's follow domain A's).
    identity: usize,
    class: usize,
    instrument: String,
    k: usize,
}

impl VideoSpec {
    fn clip(&self) -> String {
        format!("{}_id{:03}_{}_v{}", DOMAINS[self.domain], self.identity, self.instrument, self.k)
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
    opts.check()?;
    let start = std::time::Instant::now();
    let videos = plan(opts);
    let bar =
        if progress { indicatif::ProgressBar::new(videos.len() as u64) } else { indicatif::ProgressBar::hidden() };
    bar.set_style(indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} videos {elapsed} eta {eta}").unwrap());
    // Videos are independent (each has its own seeded streams), so workers can take them in
    // any order and the bytes stay the same.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(videos.len().max(1));
    std::thread::scope(|s| -> Result<()> {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(v) = videos.get(i) else { return Ok(()) };
                        write_video(out, opts, v)?;
                        bar.inc(1);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| anyhow::anyhow!("a synth worker panicked"))??;
        }
        Ok(())
    })?;
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

/// Renders video `v` and writes its frames, labels and true face boxes.
fn write_video(out: &Path, opts: &SynthOptions, v: &VideoSpec) -> Result<()> {
    let dir = out.join(v.rel());
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let frames = render_video(opts, v).with_context(|| format!("rendering {}", v.rel()))?;
    let mut boxes = String::from("frame,x,y,w,h\n");
    for (t, f) in frames.iter().enumerate() {
        write_frame(&dir, t, f)?;
        let b = f.bbox;
        boxes += &format!("{t},{:.1},{:.1},{:.1},{:.1}\n", b.x, b.y, b.w, b.h);
    }
    let p = dir.join("truth_bbox.csv");
    std::fs::write(&p, boxes).with_context(|| format!("cannot write {}", p.display()))
}

/// The videos: per domain and identity, per class `videos_per_class` (domain B:
/// `cross_videos_per_class`) videos, attacks alternating the domain's two instruments.
fn plan(opts: &SynthOptions) -> Vec<VideoSpec> {
    let mut v = Vec::new();
    let mut first = 0;
    for (domain, (split, per)) in
        [(opts.split, opts.videos_per_class), (opts.domain_b_split, opts.cross_videos_per_class)]
            .into_iter()
            .enumerate()
    {
        for (s, &n) in split.iter().enumerate() {
            for identity in first..first + n {
                for class in 0..3 {
                    for k in 0..per {
                        let (prints, replays) = attack::INSTRUMENTS[domain];
                        let which = (k + identity) % 2;
                        let instrument = match class {
                            0 => "live",
                            1 => prints[which],
                            _ => replays[which],
                        };
                        v.push(VideoSpec { split: s, domain, identity, class, instrument: instrument.into(), k });
                    }
                }
            }
            first += n;
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

/// The people of domain `d`: A the astronaut and Barack Obama, B Grace Hopper and Joe Biden,
/// then the sheet's colour people, even ones to A and odd ones to B (`photos`); no person is in both.
pub fn domain_people(domain: usize) -> Vec<usize> {
    let d = domain.min(1);
    let mut people = [[0, 2], [1, 3]][d].to_vec();
    people.extend((photos::PORTRAITS + d..photos::FACES).step_by(2));
    people
}

/// How each domain varies its face photos: identity i is the domain's person i (cycling), its
/// mirror image every other pair of identities, with different warp, tone and hue ranges per
/// domain. Three in four identities mix another of the domain's people into theirs (maybe
/// mirrored), so a face is no one photo's; the mix is drawn from `rng`.
fn photo_style(domain: usize, identity: usize, rng: &mut ChaCha8Rng) -> scene::PhotoStyle {
    let people = domain_people(domain);
    let photo = people[identity % people.len()] + photos::FACES * ((identity / 2) % 2);
    let blend = rng.random_bool(0.75).then(|| {
        // another person of the domain, or the same one mirrored, never the photo itself
        let mut other = photo;
        while other == photo {
            other = people[rng.random_range(0..people.len())] + photos::FACES * rng.random_range(0..2);
        }
        (other, rng.random_range(0.2..0.8))
    });
    if domain == 0 {
        scene::PhotoStyle { photo, warp: 0.02, tone: (0.75, 1.55), hue: 0.12, blend }
    } else {
        scene::PhotoStyle { photo, warp: 0.03, tone: (0.6, 1.6), hue: 0.18, blend }
    }
}

/// Horizontal field of view range of each domain's cameras (radians).
const FOV: [(f32, f32); 2] = [(0.87, 1.08), (1.05, 1.3)];

/// Where the face should be in the frame: centre (u, v) and box height, in pixels; the box's
/// area is 5-40% of the frame (uniform in linear size), the box inside the frame with a margin.
struct Target {
    u: f32,
    v: f32,
    h: f32,
}

/// Width / height of the frontal face box of the canonical mesh.
fn face_aspect() -> f32 {
    let v = &crate::data::mesh::canonical().verts;
    let (x0, x1) = v.iter().fold((f32::MAX, f32::MIN), |a, p| (a.0.min(p[0]), a.1.max(p[0])));
    let (y0, y1) = v.iter().fold((f32::MAX, f32::MIN), |a, p| (a.0.min(p[1]), a.1.max(p[1])));
    (x1 - x0) / (y1 - y0)
}

impl Target {
    fn random(rng: &mut ChaCha8Rng, cam: &Camera, area: (f32, f32)) -> Target {
        let (w, h) = (cam.w as f32, cam.h as f32);
        let side = rng.random_range(area.0.sqrt()..area.1.sqrt()) * (w * h).sqrt();
        Target::with_height(rng, cam, side / face_aspect().sqrt())
    }

    /// A face box `bh` high (at most 0.9 of the frame) at a random place.
    fn with_height(rng: &mut ChaCha8Rng, cam: &Camera, bh: f32) -> Target {
        let (w, h) = (cam.w as f32, cam.h as f32);
        let bh = bh.min(0.9 * h);
        let bw = bh * face_aspect();
        let pick = |rng: &mut ChaCha8Rng, extent: f32, b: f32| {
            let m = 0.06 * extent + b / 2.0;
            if m < extent - m {
                rng.random_range(m..extent - m)
            } else {
                extent / 2.0
            }
        };
        Target { u: pick(rng, w, bw), v: pick(rng, h, bh), h: bh }
    }
}

/// A camera of `aspect` (width / height) whose frame makes a face `face_h` pixels high cover a
/// random fraction `area` of it (sides capped at 640), and where that face goes.
fn camera_for(rng: &mut ChaCha8Rng, aspect: f32, face_h: f32, area: (f32, f32), fov: f32) -> (Camera, Target) {
    let a = rng.random_range(area.0.sqrt()..area.1.sqrt()).powi(2);
    let frame_area = face_h * face_h * face_aspect() / a;
    let h = (frame_area / aspect).sqrt();
    // Too large: shrink the frame and the face together.
    let k = (640.0 / h.max(h * aspect)).min(1.0);
    let (w, h) = ((h * aspect * k).max(16.0), (h * k).max(16.0));
    let cam = Camera::new(w as usize, h as usize, fov);
    let t = Target::with_height(rng, &cam, face_h * k);
    (cam, t)
}

/// Face sizes as fractions of the frame area.
const FACE_AREA: (f32, f32) = (0.05, 0.4);

/// The frame camera, the scene light and background: either one fixed whole-scene view, or
/// (face_crop) a face-cropped square view per frame.
struct View {
    cam: Camera,
    light: Light,
    bg: Background,
    bg_img: Img,
    crop: Option<usize>,
}

impl View {
    fn shoot(&self, obj: &Object, rng: &mut ChaCha8Rng) -> Rendered {
        match self.crop {
            None => scene::render(obj, &self.light, &self.bg_img, &self.cam),
            Some(n) => {
                let jitter =
                    [rng.random_range(-0.02..0.02), rng.random_range(-0.02..0.02), rng.random_range(-0.03..0.03)];
                let cam = scene::crop_camera(obj, n, jitter);
                scene::render(obj, &self.light, &self.bg.image(&cam, &self.light), &cam)
            }
        }
    }
}

/// Renders one video (after the sensor).
fn render_video(opts: &SynthOptions, v: &VideoSpec) -> Result<Vec<Rendered>> {
    let style = photo_style(v.domain, v.identity, &mut stream(opts.seed, &[6, v.identity as u64]));
    let base = scene::identity(&mut stream(opts.seed, &[1, v.identity as u64]), &style);
    let mut rng = stream(opts.seed, &[2, v.identity as u64, v.class as u64, v.k as u64]);
    let light = Light::random(&mut rng);
    let bg = Background::random(&mut rng);
    let sensor = sensor::Sensor::random(&mut rng, v.domain);
    let fov = rng.random_range(FOV[v.domain].0..FOV[v.domain].1);
    // In face-crop mode this camera only places the subject (the crops follow the face).
    let (w, h) = if opts.face_crop { (224, 168) } else { (opts.width, opts.height) };
    let cam = Camera::new(w, h, fov);
    let bg_img = if opts.face_crop { Img::new(1, 1, 3) } else { bg.image(&cam, &light) };
    let view = View { cam, light, bg, bg_img, crop: opts.face_crop.then_some(opts.width) };
    let target = Target::random(&mut rng, &cam, FACE_AREA);
    let frames = match v.class {
        0 if !opts.face_crop && rng.random_bool(still::STILL_LIVE) => {
            still::still_frames(&base, &view.light, (w, h), (target.u, target.v, target.h), opts.frames, &mut rng)
        }
        0 => live_frames(&base, &view, &target, opts.frames, &mut rng),
        1 => print_frames(&base, &v.instrument, &view, &target, opts.frames, &mut rng)?,
        _ => replay_frames(&base, &v.instrument, &view, &target, opts.frames, &mut rng)?,
    };
    // The recording camera meters on the face (settled on the first frame): without it a live
    // face lit once is darker than a print or a screen lit twice or glowing, and brightness
    // alone would tell the class.
    let gain = frames.first().map_or(1.0, |f| face_metered_gain(f, &mut rng, FACE_LEVEL, (0.25, 6.0)));
    let hand_rate = if v.class == 0 { hands::HAND_ON_LIVE } else { hands::HAND_ON_ATTACK };
    let hand = rng.random_bool(hand_rate).then(|| hands::Hand::random(&mut rng, v.class != 0));
    frames
        .into_iter()
        .map(|mut f| {
            if let Some(hand) = &hand {
                hand.paint(&mut f, &view.light);
            }
            f.rgb = exposed(f.rgb, gain);
            (f.jpeg, f.rgb) = sensor.apply(&f.rgb, &mut rng)?;
            Ok(f)
        })
        .collect()
}

/// The face's centre (x, y of its box; z of the nose tip) and height in head coordinates.
fn face_frame(id: &Identity) -> ([f32; 3], f32) {
    let v = &id.verts;
    let (x0, x1) = v.iter().fold((f32::MAX, f32::MIN), |a, p| (a.0.min(p[0]), a.1.max(p[0])));
    let (y0, y1) = v.iter().fold((f32::MAX, f32::MIN), |a, p| (a.0.min(p[1]), a.1.max(p[1])));
    let z = v[crate::data::mesh::NOSE_TIP][2];
    ([(x0 + x1) / 2.0, (y0 + y1) / 2.0, z], y1 - y0)
}

/// Head motion: yaw within about +-22 degrees (the face detector wants frontal faces).
const HEAD_MOTION: [f32; 6] = [0.25, 0.15, 0.1, 0.03, 0.02, 0.04];

/// How much of the head's rotation and translation the body follows.
const BODY_FOLLOWS: (f32, f32) = (0.3, 0.7);

/// Poses of a person moving about `t0` (translations scale with the distance): (head, body).
fn face_poses(rng: &mut ChaCha8Rng, t0: [f32; 3], frames: usize) -> Vec<(Pose, Pose)> {
    let k = t0[2] / 0.45;
    let (r, m) = BODY_FOLLOWS;
    scene::trajectory(rng, HEAD_MOTION, frames, 0.0)
        .iter()
        .map(|(a, t)| {
            let head = Pose::new(*a, [t0[0] + t[0] * k, t0[1] + t[1] * k, t0[2] + t[2] * k]);
            let body = Pose::new(a.map(|v| v * r), [t0[0] + m * t[0] * k, t0[1] + m * t[1] * k, t0[2] + m * t[2] * k]);
            (head, body)
        })
        .collect()
}

/// A face of the identity (with its own expression) posed so its box lands on `target` in `cam`.
fn posed_face(
    base: &Identity,
    cam: &Camera,
    target: &Target,
    rng: &mut ChaCha8Rng,
    frames: usize,
) -> (Identity, Vec<(Pose, Pose)>) {
    let id = base.with_verts(scene::expression(&base.verts, rng));
    let (c, fh) = face_frame(&id);
    let d = cam.f * fh / target.h;
    let t0 = cam.place(c, target.u, target.v, d);
    let poses = face_poses(rng, t0, frames);
    (id, poses)
}

fn live_frames(base: &Identity, view: &View, target: &Target, frames: usize, rng: &mut ChaCha8Rng) -> Vec<Rendered> {
    let (id, poses) = posed_face(base, &view.cam, target, rng, frames);
    poses.into_iter().map(|(pose, body)| view.shoot(&Object::Face { id: &id, pose, body }, rng)).collect()
}

/// A photo of the person in a scene: the picture, its face mask and face box (0..1). Its face
/// is 2.5-3.5 times the size the camera will see (a print is sharper than the camera's view of
/// it, and its halftone dots, a few texels apart, are then about a camera pixel apart).
fn scene_picture(base: &Identity, target: &Target, rng: &mut ChaCha8Rng) -> (Img, Img, [f32; 4]) {
    let aspect = if rng.random_bool(0.6) { 0.75 } else { 4.0 / 3.0 };
    let face_h = target.h * rng.random_range(2.5..3.5);
    let fov = rng.random_range(0.7..1.0);
    let (pcam, ptarget) = camera_for(rng, aspect, face_h, (0.12, 0.45), fov);
    let plight = Light::random(rng);
    let pbg = Background::random(rng);
    let (pid, poses) = posed_face(base, &pcam, &ptarget, rng, 1);
    let (pose, body) = poses[0];
    let photo = scene::render(&Object::Face { id: &pid, pose, body }, &plight, &pbg.image(&pcam, &plight), &pcam);
    let (mask, fuv) = (mask_img(&photo), face_uv(&photo));
    (photo.rgb, mask, fuv)
}

/// The person's own photo (the identity's texture: the whole picture with its background),
/// its face mask (the mesh drawn in texture space) and face box (0..1).
fn source_picture(base: &Identity) -> (Img, Img, [f32; 4]) {
    let (w, h) = (base.tex.w, base.tex.h);
    let mut r = crate::data::raster::Raster::new(w, h, 1, true);
    let px: Vec<[f32; 3]> = base.uv.iter().map(|t| [t[0] * w as f32, t[1] * h as f32, 0.0]).collect();
    for t in &crate::data::mesh::canonical().tris {
        let [a, b, c] = t.map(|i| i as usize);
        r.tri([px[a], px[b], px[c]], [&[0.0], &[0.0], &[0.0]], 1);
    }
    let mask = Img { w, h, c: 1, data: r.tag.iter().map(|&t| f32::from(t)).collect() };
    let mut fuv = [f32::MAX, f32::MAX, f32::MIN, f32::MIN];
    for t in &base.uv {
        (fuv[0], fuv[1], fuv[2], fuv[3]) = (fuv[0].min(t[0]), fuv[1].min(t[1]), fuv[2].max(t[0]), fuv[3].max(t[1]));
    }
    (base.tex.clone(), mask, fuv.map(|v| v.clamp(0.0, 1.0)))
}

/// Face levels the recording camera's auto-exposure aims at, for every class (phone and webcam
/// cameras meter on the face they find).
const FACE_LEVEL: (f32, f32) = (80.0, 170.0);

/// The gain that brings the face's mean level in `r` to a level drawn from `target`, within
/// `limits` (1 when no face is in view).
fn face_metered_gain(r: &Rendered, rng: &mut ChaCha8Rng, target: (f32, f32), limits: (f32, f32)) -> f32 {
    metered_gain(&r.rgb, &r.mask, rng, target, limits)
}

/// `face_metered_gain` of an image and its face mask.
fn metered_gain(rgb: &Img, mask: &[f32], rng: &mut ChaCha8Rng, target: (f32, f32), limits: (f32, f32)) -> f32 {
    let (mut n, mut sum) = (0.0f32, 0.0f32);
    for (i, &m) in mask.iter().enumerate() {
        if m >= 0.5 {
            n += 1.0;
            sum += (rgb.data[i * 3] + rgb.data[i * 3 + 1] + rgb.data[i * 3 + 2]) / 3.0;
        }
    }
    let target = rng.random_range(target.0..target.1);
    if n < 1.0 {
        1.0
    } else {
        (target * n / sum.max(1.0)).clamp(limits.0, limits.1)
    }
}

fn exposed(mut img: Img, gain: f32) -> Img {
    img.data.iter_mut().for_each(|v| *v = (*v * gain).min(255.0));
    img
}

fn mask_img(r: &Rendered) -> Img {
    Img { w: r.rgb.w, h: r.rgb.h, c: 1, data: r.mask.clone() }
}

/// The face box of a rendered frame as texture coordinates (0..1).
fn face_uv(r: &Rendered) -> [f32; 4] {
    let (w, h) = (r.rgb.w as f32, r.rgb.h as f32);
    let b = r.bbox;
    [b.x / w, b.y / h, (b.x + b.w) / w, (b.y + b.h) / h]
}

/// A glare source mirrored towards the camera from a random point of a sheet placed at `t0`.
fn glare(rng: &mut ChaCha8Rng, t0: [f32; 3], size: f32, strength: f32, sharpness: f32) -> Glare {
    let p = [t0[0] + rng.random_range(-0.5..0.5) * size, t0[1] + rng.random_range(-0.5..0.5) * size, t0[2]];
    let v = crate::data::mesh::normalize([-p[0], -p[1], -p[2]]);
    // Reflect the view direction about the sheet's rest normal (0, 0, -1).
    let n = [0.0, 0.0, -1.0];
    let k = 2.0 * crate::data::mesh::dot(n, v);
    Glare {
        dir: crate::data::mesh::normalize([k * n[0] - v[0], k * n[1] - v[1], k * n[2] - v[2]]),
        strength,
        sharpness,
    }
}

/// Sheet motion in the hand (smaller rotations, tremor).
const HAND_MOTION: [f32; 6] = [0.15, 0.12, 0.08, 0.02, 0.02, 0.03];

fn sheet_poses(rng: &mut ChaCha8Rng, t0: [f32; 3], amp: [f32; 6], frames: usize, tremor: f32) -> Vec<Pose> {
    let k = t0[2] / 0.45;
    scene::trajectory(rng, amp, frames, tremor)
        .iter()
        .map(|(a, t)| Pose::new(*a, [t0[0] + t[0] * k, t0[1] + t[1] * k, t0[2] + t[2] * k]))
        .collect()
}

/// A sheet of `tex_w x tex_h` metres of content plus `margin` (fraction) around it; returns the
/// surface and the rest translation that puts the face (`fuv` in the content) on `target`.
fn place_sheet(
    cam: &Camera,
    target: &Target,
    tex_w: f32,
    tex_h: f32,
    margin: f32,
    bend: f32,
    fuv: [f32; 4],
) -> (Surface, [f32; 3]) {
    let k = 1.0 / (1.0 - 2.0 * margin);
    let surface = Surface::new(tex_w * k, tex_h * k, bend, [margin, margin, 1.0 - margin, 1.0 - margin]);
    let (su, sv) = surface.tex_to_surface((fuv[0] + fuv[2]) / 2.0, (fuv[1] + fuv[3]) / 2.0);
    let c = surface.point(su, sv);
    let d = cam.f * (fuv[3] - fuv[1]) * tex_h / target.h;
    let t0 = cam.place(c, target.u, target.v, d);
    (surface, t0)
}

/// Share of prints (not the cut-outs) that are small: the picture cut to the head and shoulders.
const SMALL_PRINT: f64 = 0.4;

/// A small print's picture: `picture` (with its face `mask` and face box `fuv`, 0..1) cut to
/// 1.3-2 face widths around the face, from above the hair to the shoulders, as ID photos and
/// the small prints of real hand-held attacks are (NUAA's). The sheet's edge, its margin and the
/// hands holding it then lie inside the face crop, as they do in real print attacks; a whole
/// picture puts them outside it.
fn cut_to_head(picture: Img, mask: Img, fuv: [f32; 4], rng: &mut ChaCha8Rng) -> (Img, Img, [f32; 4]) {
    let (w, h) = (picture.w as f32, picture.h as f32);
    let (fw, fh) = ((fuv[2] - fuv[0]) * w, (fuv[3] - fuv[1]) * h);
    let width = fw * rng.random_range(1.3..2.0);
    let cx = (fuv[0] + fuv[2]) / 2.0 * w + fw * rng.random_range(-0.1..0.1);
    let top = fuv[1] * h - fh * rng.random_range(0.4..0.8);
    let bottom = fuv[3] * h + fh * rng.random_range(0.3..1.0);
    let wanted = Rect { x: cx - width / 2.0, y: top, w: width, h: bottom - top };
    let Some(r) = wanted.pixels_inside(picture.w, picture.h) else {
        return (picture, mask, fuv);
    };
    let fuv = [
        ((fuv[0] * w - r.x) / r.w).clamp(0.0, 1.0),
        ((fuv[1] * h - r.y) / r.h).clamp(0.0, 1.0),
        ((fuv[2] * w - r.x) / r.w).clamp(0.0, 1.0),
        ((fuv[3] * h - r.y) / r.h).clamp(0.0, 1.0),
    ];
    (picture.window(r), mask.window(r), fuv)
}

fn print_frames(
    base: &Identity,
    instrument: &str,
    view: &View,
    target: &Target,
    frames: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<Rendered>> {
    let pr = attack::printer(instrument, rng)?;
    // The picture: half the time the person's own photo (with its background), else a photo of
    // the person in a scene from the same generator as the live videos. The source photo is
    // also live (a quarter of live videos are stills of it, `still.rs`), so "a natural
    // photograph" tells neither class.
    let (picture, mask, fuv) =
        if rng.random_bool(0.5) { source_picture(base) } else { scene_picture(base, target, rng) };
    // The sheet's width as if it held the whole picture (the face's size on paper follows it).
    let mut tex_w = rng.random_range(0.1..0.3);
    let (picture, mask, fuv) = if !pr.cutout && rng.random_bool(SMALL_PRINT) {
        let full_w = picture.w as f32;
        let cut = cut_to_head(picture, mask, fuv, rng);
        tex_w *= cut.0.w as f32 / full_w;
        cut
    } else {
        (picture, mask, fuv)
    };
    let (pw, ph) = (picture.w, picture.h);
    let gain = metered_gain(&picture, &mask.data, rng, (120.0, 170.0), (0.5, 4.0));
    let tex = attack::print(&exposed(picture, gain), &pr, rng);
    let tex_h = tex_w * ph as f32 / pw as f32;
    let (surface, t0) = place_sheet(&view.cam, target, tex_w, tex_h, pr.margin, pr.bend, fuv);
    let cutout = pr.cutout.then(|| {
        let (cx, cy) = ((fuv[0] + fuv[2]) / 2.0, (fuv[1] + fuv[3]) / 2.0);
        let r = rng.random_range(0.6..0.8);
        [cx, cy - 0.05 * (fuv[3] - fuv[1]), r * (fuv[2] - fuv[0]), r * 1.1 * (fuv[3] - fuv[1])]
    });
    let medium = Medium::Print { cutout, margin_colour: pr.paper };
    let gl = glare(rng, t0, tex_w, pr.gloss, pr.sharpness);
    let poses = sheet_poses(rng, t0, HAND_MOTION, frames, 0.05);
    Ok(poses
        .into_iter()
        .map(|pose| {
            let obj = Object::Sheet {
                surface: &surface,
                pose,
                tex: &tex,
                mask: &mask,
                face_uv: fuv,
                medium: &medium,
                glare: gl,
            };
            view.shoot(&obj, rng)
        })
        .collect())
}

fn replay_frames(
    base: &Identity,
    instrument: &str,
    view: &View,
    target: &Target,
    frames: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<Rendered>> {
    let disp = attack::display(instrument, rng)?;
    // The recorded video: a live scene from the same generators at the screen's aspect.
    let (cw, ch) =
        if disp.aspect >= 1.0 { (192, (192.0 / disp.aspect) as usize) } else { ((192.0 * disp.aspect) as usize, 192) };
    let ccam = Camera::new(cw, ch, rng.random_range(0.87..1.2));
    let clight = Light::random(rng);
    let cbg = Background::random(rng).image(&ccam, &clight);
    let ctarget = Target::random(rng, &ccam, FACE_AREA);
    let (cid, cposes) = posed_face(base, &ccam, &ctarget, rng, frames);
    let contents: Vec<Rendered> = cposes
        .iter()
        .map(|&(pose, body)| scene::render(&Object::Face { id: &cid, pose, body }, &clight, &cbg, &ccam))
        .collect();
    let tex_w = rng.random_range(0.12..0.5);
    let tex_h = tex_w * ch as f32 / cw as f32;
    let cam = &view.cam;
    let (surface, t0, amp) = if disp.fill {
        // The screen fills the view (overscan 1.15): no bezel and no scene around it.
        let d = cam.f * (tex_w / (1.15 * cam.w as f32)).min(tex_h / (1.15 * cam.h as f32));
        let s = Surface::new(tex_w, tex_h, 0.0, [0.0, 0.0, 1.0, 1.0]);
        (s, cam.place([0.0; 3], cam.cx, cam.cy, d), [0.03, 0.02, 0.01, 0.003, 0.003, 0.005])
    } else {
        let (s, t0) = place_sheet(cam, target, tex_w, tex_h, disp.bezel, 0.0, face_uv(&contents[0]));
        (s, t0, [0.12, 0.1, 0.05, 0.015, 0.015, 0.02])
    };
    // Screen pixels: `pitch` camera pixels each at the rest distance.
    let across = cam.f * tex_w / t0[2] / disp.pitch;
    let pixels = [across.max(8.0), (across * tex_h / tex_w).max(8.0)];
    let medium = Medium::Screen {
        pixels,
        layout: disp.layout,
        contrast: disp.contrast,
        gamma: disp.gamma,
        gain: disp.gain * auto_brightness(&view.light),
        cast: disp.cast,
        black: disp.black,
        bezel: disp.bezel_colour,
    };
    let gl = glare(rng, t0, tex_w, disp.gloss, disp.sharpness);
    let poses = sheet_poses(rng, t0, amp, frames, 0.02);
    Ok(poses
        .into_iter()
        .zip(&contents)
        .map(|(pose, content)| {
            let mask = mask_img(content);
            let obj = Object::Sheet {
                surface: &surface,
                pose,
                tex: &content.rgb,
                mask: &mask,
                face_uv: face_uv(content),
                medium: &medium,
                glare: gl,
            };
            view.shoot(&obj, rng)
        })
        .collect())
}

/// A screen's auto-brightness: it follows the room's light (the level a lit surface reaches,
/// relative to a mid-lit room), as phone and tablet screens do with their light sensors. Without
/// it the camera, metering on a screen of fixed brightness, would render bright rooms around
/// replays where it renders dim ones around live faces. A mid-lit room sets the screen a little
/// above full gain (level / 0.55: with 0.72 replays' rooms were still a third brighter than live
/// ones, `background_statistics_do_not_tell_the_class`).
fn auto_brightness(light: &Light) -> f32 {
    let level = (light.colour[0] + light.colour[1] + light.colour[2]) / 3.0 * light.level();
    (level / 0.55).clamp(0.65, 2.1)
}

fn write_frame(dir: &Path, t: usize, f: &Rendered) -> Result<()> {
    let (w, h) = (f.rgb.w, f.rgb.h);
    // The camera's own JPEG file: no second compression.
    let p = dir.join(format!("{t:04}.jpg"));
    std::fs::write(&p, &f.jpeg).with_context(|| format!("cannot write {}", p.display()))?;
    let depth = Img { w, h, c: 1, data: f.depth.iter().map(|d| d * 255.0).collect() };
    save(&depth, &dir.join(format!("{t:04}_depth.png")))?;
    let mask = Img { w, h, c: 1, data: f.mask.iter().map(|&m| if m >= 0.5 { 255.0 } else { 0.0 }).collect() };
    save(&mask, &dir.join(format!("{t:04}_mask.png")))
}

/// The file a finished `tdfas synth` writes last.
pub const FINISHED_MARK: &str = "synth.json";

/// What `generate` writes at the top of its folder (a later render clears these, and nothing else).
pub const WRITES: [&str; 6] = ["train", "dev", "test", "protocols", "clips.csv", FINISHED_MARK];

/// Whether `root` was started by `tdfas synth` (its ownership marker says so) but not finished.
pub fn is_unfinished(root: &Path) -> bool {
    let marker = std::fs::read_to_string(root.join(crate::util::outputs::OWNED_MARKER)).unwrap_or_default();
    marker.contains("tdfas synth") && !root.join(FINISHED_MARK).is_file()
}

fn write_lists(out: &Path, opts: &SynthOptions, videos: &[VideoSpec]) -> Result<()> {
    let write = |path: PathBuf, text: String| -> Result<()> {
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).with_context(|| format!("cannot create {}", p.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
    };
    let mut csv = String::from("clip,instrument,identity,domain\n");
    for v in videos {
        csv += &format!("{},{},{},{}\n", v.rel(), v.instrument, v.identity, DOMAINS[v.domain]);
    }
    write(out.join("clips.csv"), csv)?;
    type Keep = fn(&VideoSpec, usize) -> bool;
    let protocols: [(&str, Keep); 6] = [
        ("all", |_, _| true),
        ("domain_A", |v, _| v.domain == 0),
        ("domain_B", |v, _| v.domain == 1),
        ("cross_AB", |v, s| v.domain == usize::from(s == 2)),
        ("cross_BA", |v, s| v.domain == usize::from(s != 2)),
        ("P2", |v, s| {
            let (p, r) = attack::INSTRUMENTS[0];
            let first = v.instrument == p[0] || v.instrument == r[0];
            v.domain == 0 && (v.class == 0 || first == (s != 2))
        }),
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
    // written last: its presence marks a finished set (see `is_unfinished`)
    write(out.join(FINISHED_MARK), serde_json::to_string_pretty(opts)?)
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
