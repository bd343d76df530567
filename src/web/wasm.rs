//! The browser build's entry points (wasm-bindgen): open the WebGPU device, load a checkpoint,
//! decode images, find faces and score clips with the same code as `tdfas infer`. The page
//! (app.js) owns the DOM, the camera and the sliding window; results cross as JSON strings.

use std::cell::RefCell;
use std::rc::Rc;

use anyhow::{bail, Context, Result};
use serde_json::json;
use wasm_bindgen::prelude::*;

use crate::data::face;
use crate::data::face::FaceSettings;
use crate::data::imageops::{Img, Rect};
use crate::data::load::FaceSource;
use crate::data::unlabelled;
use crate::gpu::Gpu;
use crate::model::checkpoint::{self, Calibration, Loaded};
use crate::model::fastd::{FasTd, HostBatch};

/// The networks of one checkpoint: the clip model and the single-frame one that scores photos.
struct Models {
    clips: FasTd,
    photos: Option<FasTd>,
    loaded: Loaded,
}

/// The device and the loaded checkpoint. The page calls one function at a time (it awaits each),
/// and wasm32 has one thread: a thread-local holds them.
struct Engine {
    gpu: Gpu,
    models: RefCell<Option<Rc<Models>>>,
}

thread_local! {
    static ENGINE: RefCell<Option<Rc<Engine>>> = const { RefCell::new(None) };
}

fn engine() -> Result<Rc<Engine>> {
    ENGINE.with(|e| e.borrow().clone()).context("the GPU is not open yet (open_gpu first)")
}

fn models() -> Result<(Rc<Engine>, Rc<Models>)> {
    let e = engine()?;
    let m = e.models.borrow().clone().context("no checkpoint loaded")?;
    Ok((e, m))
}

/// anyhow's chain of causes, one line, as a JavaScript Error.
fn js(e: anyhow::Error) -> JsError {
    JsError::new(&format!("{e:#}"))
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console)]
    fn error(s: &str);
}

/// A panic is a bug: say it on the console instead of wasm's bare "unreachable".
#[wasm_bindgen(start)]
fn start() {
    std::panic::set_hook(Box::new(|info| error(&format!("tdfas panicked: {info}"))));
}

/// Opens WebGPU's adapter and device; JSON with the adapter's name and what it can do.
#[wasm_bindgen]
pub async fn open_gpu() -> Result<String, JsError> {
    let gpu = Gpu::new_async().await.map_err(js)?;
    // the browser's conv kernel is the adapter type's default (nothing is timed there)
    crate::ops::tune(&gpu).map_err(js)?;
    let out = describe_gpu(&gpu);
    ENGINE.with(|e| *e.borrow_mut() = Some(Rc::new(Engine { gpu, models: RefCell::new(None) })));
    Ok(out.to_string())
}

fn describe_gpu(gpu: &Gpu) -> serde_json::Value {
    json!({
        "adapter": gpu.device.info().name,
        "description": gpu.describe(),
        "timestamps": gpu.device.features().contains(wgpu::Features::TIMESTAMP_QUERY),
    })
}

/// A stored threshold, with `tdfas infer`'s warning when its network was at chance on its dev
/// split (`what` names the network).
fn calibration_json(c: Option<&Calibration>, what: &str) -> serde_json::Value {
    match c {
        Some(c) => json!({
            "value": c.threshold,
            "source": c.source(),
            "at_chance": c.at_chance(what),
        }),
        None => serde_json::Value::Null,
    }
}

/// Loads a checkpoint's bytes (a `.safetensors` written by tdfas); JSON with the model's clip
/// shape and thresholds. A file that is not one gives an error that says so.
#[wasm_bindgen]
pub fn load_checkpoint(bytes: &[u8], name: &str) -> Result<String, JsError> {
    load(bytes).with_context(|| format!("{name} is not a tdfas checkpoint")).map_err(js)
}

fn load(bytes: &[u8]) -> Result<String> {
    let e = engine()?;
    let loaded = checkpoint::parse(bytes)?;
    let mut clips = FasTd::new(&e.gpu, loaded.config.clone(), 0)?;
    checkpoint::apply(&e.gpu, &mut clips, &loaded)?;
    // photos: the single-frame part as a variant-1 model, as `tdfas infer` scores them
    let photos = if clips.cfg.variant().single_only {
        None
    } else {
        let mut cfg = clips.cfg.clone();
        cfg.variant = "1".into();
        let mut m1 = FasTd::new(&e.gpu, cfg, 0)?;
        let names: Vec<String> = m1.params.names().map(String::from).collect();
        for n in names {
            m1.params.set(&e.gpu, &n, &loaded.tensors[&n].1)?;
        }
        Some(m1)
    };
    let cfg = &clips.cfg;
    let out = json!({
        "variant": cfg.variant,
        "frames": cfg.frames,
        "interval": cfg.interval,
        "image_size": cfg.image_size,
        "map_size": cfg.map_size(),
        "threshold": calibration_json(loaded.calibration.as_ref(), "its network"),
        "photo_threshold": calibration_json(loaded.single_frame_calibration(), checkpoint::photo_network(cfg)),
        "conv_kernel": crate::ops::conv::settings(&e.gpu)?.kernel.get().name(),
    });
    *e.models.borrow_mut() = Some(Rc::new(Models { clips, photos, loaded }));
    Ok(out.to_string())
}

/// An image decoded as RGBA bytes (the page draws it and hands its pixels back to `score_clip`).
#[wasm_bindgen]
pub struct Picture {
    pub width: u32,
    pub height: u32,
    rgba: Vec<u8>,
}

#[wasm_bindgen]
impl Picture {
    pub fn rgba(&self) -> Vec<u8> {
        self.rgba.clone()
    }
}

/// Decodes a PNG, JPEG, WebP or BMP file with the decoder `tdfas infer` uses (EXIF orientation applied), so
/// the page scores the same pixels as the command line.
#[wasm_bindgen]
pub fn decode_image(bytes: &[u8], name: &str) -> Result<Picture, JsError> {
    let img = crate::data::imageops::decode(bytes, name).map_err(js)?;
    let rgba = img.data.chunks(3).flat_map(|p| [p[0] as u8, p[1] as u8, p[2] as u8, 255]).collect();
    Ok(Picture { width: img.w as u32, height: img.h as u32, rgba })
}

/// RGBA bytes as the 0..255 RGB image the data pipeline reads.
fn to_img(rgba: &[u8], w: usize, h: usize) -> Result<Img> {
    if w == 0 || h == 0 || rgba.len() != w * h * 4 {
        bail!("a frame of {w}x{h} pixels needs {} RGBA bytes, got {}", w * h * 4, rgba.len());
    }
    let data = rgba.chunks(4).flat_map(|p| [p[0] as f32, p[1] as f32, p[2] as f32]).collect();
    Ok(Img { w, h, c: 3, data })
}

/// The face in one RGBA frame, as [x, y, w, h] in its pixels (calibrated as `tdfas infer`'s
/// boxes are); empty when none is found or the frame is too small to search.
#[wasm_bindgen]
pub fn detect_face(rgba: &[u8], width: u32, height: u32) -> Result<Vec<f32>, JsError> {
    let img = to_img(rgba, width as usize, height as usize).map_err(js)?;
    let found = if img.w.min(img.h) < face::MIN_SIDE { None } else { face::detect(&img) };
    Ok(found.map_or_else(Vec::new, |r| vec![r.x, r.y, r.w, r.h]))
}

/// The clips `tdfas infer` takes from a run of `n` frames, as (first frame, step) pairs
/// flattened: as its `run_clips` (clip_starts, else one clip of consecutive frames).
#[wasm_bindgen]
pub fn clip_plan(n: u32) -> Result<Vec<u32>, JsError> {
    let (_, m) = models().map_err(js)?;
    let spec = m.clips.cfg.clip_spec();
    let starts = crate::data::clip_starts(n as usize, &spec);
    let plan: Vec<(usize, usize)> = if !starts.is_empty() {
        starts.into_iter().map(|s| (s, spec.interval)).collect()
    } else if n as usize >= spec.frames {
        vec![(0, 1)]
    } else {
        vec![]
    };
    Ok(plan.into_iter().flat_map(|(s, k)| [s as u32, k as u32]).collect())
}

/// Scores one clip: `frames` RGBA frames of `width` x `height` one after another, `boxes` four
/// values per frame (NaN where the detector found none). `photo`: one photo given Nf times,
/// scored by the single-frame network. JSON: the score, p_live, the clip's face box and source,
/// the last D_fusion map, the share of the face crop that is picture (`crop_in_picture`) and
/// `tdfas infer`'s warning when that is small, or `no_face` with the reason.
#[wasm_bindgen]
pub async fn score_clip(
    frames: Vec<u8>,
    width: u32,
    height: u32,
    boxes: Vec<f32>,
    photo: bool,
) -> Result<String, JsError> {
    score(frames, width as usize, height as usize, boxes, photo).await.map_err(js)
}

async fn score(frames: Vec<u8>, w: usize, h: usize, boxes: Vec<f32>, photo: bool) -> Result<String> {
    let (e, m) = models()?;
    let model = match (&m.photos, photo) {
        (Some(p), true) => p,
        _ => &m.clips,
    };
    let cfg = &model.cfg;
    let per = w * h * 4;
    if per == 0 || frames.len() != cfg.frames * per || boxes.len() != cfg.frames * 4 {
        bail!(
            "a clip is {} frames of {w}x{h} RGBA with 4 box values each; got {} bytes and {} box values",
            cfg.frames,
            frames.len(),
            boxes.len()
        );
    }
    let images: Vec<Img> = frames.chunks(per).map(|f| to_img(f, w, h)).collect::<Result<_>>()?;
    let detections: Vec<Option<Rect>> = boxes
        .chunks(4)
        .map(|b| b.iter().all(|v| v.is_finite()).then(|| Rect { x: b[0], y: b[1], w: b[2], h: b[3] }))
        .collect();
    let clip = if photo {
        // as `tdfas infer` scores a photo: the clip's frames are views of it
        unlabelled::photo_from_image(&cfg.clip_spec(), &FaceSettings::default(), &images[0], detections[0], cfg.frames)
    } else {
        unlabelled::from_images(&cfg.clip_spec(), &FaceSettings::default(), &images, &detections, None)?
    };
    let source = clip.face;
    // as `tdfas infer`: a clip without a face is not scored (a verdict would be about nothing)
    let face_box = match source {
        FaceSource::Detector { box_, .. } => Some(box_),
        FaceSource::SmallFrames { side, .. } if side >= face::MIN_FACE as usize => None,
        FaceSource::SmallFrames { side, .. } => return Ok(
            json!({ "no_face": format!("the frames are {side} pixels on their short side, too small to hold a face") })
                .to_string(),
        ),
        _ => {
            let n = if photo { "the photo".to_string() } else { format!("any of the clip's {} frames", cfg.frames) };
            return Ok(json!({ "no_face": format!("no face found in {n}") }).to_string());
        }
    };
    let batch = HostBatch::unlabelled(cfg, &clip)?;
    let scored = model.score_async(&e.gpu, &batch).await?;
    let maps = if cfg.variant().single_only { &scored.d_single[0] } else { &scored.d_fusion[0] };
    let threshold = if photo {
        calibration_json(m.loaded.single_frame_calibration(), checkpoint::photo_network(&m.clips.cfg))
    } else {
        calibration_json(m.loaded.calibration.as_ref(), "its network")
    };
    Ok(json!({
        "score": scored.scores[0],
        "p_live": scored.p_live[0],
        "network": if photo { "single-frame" } else { "multi-frame" },
        "threshold": threshold,
        "face_box": face_box.map(|b| [b.x, b.y, b.w, b.h]),
        "face_source": if face_box.is_some() { "detector" } else { "frames taken as face crops (too small to search)" },
        "crop_in_picture": clip.crop_in_picture,
        "warning": unlabelled::close_cut_warning_for(clip.crop_in_picture),
        "depth": maps.last(),
        "map_size": cfg.map_size(),
    })
    .to_string())
}

/// The kernels' reference checks (`kernel_checks`) on this browser's GPU: JSON with every
/// comparison's name, outcome and worst error, and the counts.
#[wasm_bindgen]
pub async fn kernel_tests() -> Result<String, JsError> {
    let e = engine().map_err(js)?;
    let tests = crate::web::kernel_checks::run(&e.gpu).await;
    let failed = tests.iter().filter(|t| !t.ok).count();
    Ok(json!({ "passed": tests.len() - failed, "failed": failed, "tests": tests }).to_string())
}

/// The bench view's rows (`bench_rows`) on this browser's GPU, with the loaded model's clip: JSON.
#[wasm_bindgen]
pub async fn bench() -> Result<String, JsError> {
    let e = engine().map_err(js)?;
    let models = e.models.borrow().clone();
    let rows = crate::web::bench_rows::run(&e.gpu, models.as_deref().map(|m| &m.clips)).await.map_err(js)?;
    Ok(json!({ "timer": "wall clock to an awaited readback (timestamp queries: not read in the browser)", "rows": rows }).to_string())
}
