//! Training augmentation, on the fly and seeded by the loader's rng: crop jitter (scale and
//! translation of the face crop, which the depth and mask labels follow because they are cut
//! with the same rectangle), exposure and tone curve (another camera's metering and gamma, so
//! the face's brightness tells nothing), colour jitter (brightness, contrast, saturation, hue), resolution
//! (down and up again: a small or distant face), blur, noise and JPEG compression. One draw of the parameters per clip, so every frame of a clip
//! gets the same transform (temporal consistency); only the noise pattern differs per frame.
//! The horizontal flip (frames, depth and mask together) is drawn in `load::load_clip`.

use super::imageops::{crop_resize, gaussian_blur, jpeg_roundtrip, Img, Rect};
use anyhow::{Context, Result};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// One clip's augmentation.
#[derive(Clone, Debug, PartialEq)]
pub struct Augment {
    /// Crop side multiplier (about its centre) and centre shift as fractions of the side.
    pub scale: f32,
    pub shift: [f32; 2],
    /// Exposure gain and tone-curve exponent (`255 (gain v / 255)^gamma`), before the colour
    /// jitter.
    pub exposure: f32,
    pub gamma: f32,
    /// Added to every channel (levels of 255).
    pub brightness: f32,
    /// Contrast around the crop's mean, saturation around its grey, hue rotation (radians).
    pub contrast: f32,
    pub saturation: f32,
    pub hue: f32,
    /// Side of the lower resolution the crop passes through, as a fraction (1 = none): faces
    /// far from the camera reach the model upsampled from few pixels.
    pub resample: f32,
    /// Gaussian blur sigma in crop pixels (0 = none).
    pub blur: f32,
    /// Gaussian noise std in levels (0 = none).
    pub noise: f32,
    /// JPEG quality (None = no compression).
    pub jpeg: Option<u8>,
    /// The frame cut close around the face before the crop, as the photos of many real sets are
    /// (None = the whole frame): the crop then reaches past the picture's edges and is sampled
    /// as inference samples such a photo.
    pub close_cut: Option<CloseCut>,
}

/// A picture cut close around the face: its size in face-box widths, height over width, and
/// its centre's offset from the face box's centre in face-box widths.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CloseCut {
    pub width: f32,
    pub aspect: f32,
    pub shift: [f32; 2],
}

impl CloseCut {
    /// The cut around face box `face`, in frame pixels.
    pub fn rect(&self, face: Rect) -> Rect {
        let w = self.width * face.w;
        let h = w * self.aspect;
        let cx = face.x + face.w / 2.0 + self.shift[0] * face.w;
        let cy = face.y + face.h / 2.0 + self.shift[1] * face.w;
        Rect { x: cx - w / 2.0, y: cy - h / 2.0, w, h }
    }
}

impl Augment {
    /// Draws one clip's parameters; `close_cut` is the share of clips cut close around the face.
    pub fn random(rng: &mut ChaCha8Rng, close_cut: f64) -> Augment {
        Augment {
            scale: rng.random_range(0.9..1.12),
            shift: [rng.random_range(-0.06..0.06), rng.random_range(-0.06..0.06)],
            // log-uniform: as likely half as bright as 1.8 times
            exposure: rng.random_range(0.55f32.ln()..1.8f32.ln()).exp(),
            gamma: rng.random_range(0.7..1.4),
            brightness: rng.random_range(-20.0..20.0),
            contrast: rng.random_range(0.75..1.3),
            saturation: rng.random_range(0.6..1.4),
            hue: rng.random_range(-0.08..0.08),
            resample: if rng.random_bool(0.35) { rng.random_range(0.35..0.8) } else { 1.0 },
            blur: if rng.random_bool(0.3) { rng.random_range(0.3..1.2) } else { 0.0 },
            noise: if rng.random_bool(0.5) { rng.random_range(1.0..6.0) } else { 0.0 },
            jpeg: rng.random_bool(0.4).then(|| rng.random_range(40..90)),
            // drawn last: without it every other draw stays as it was
            close_cut: {
                (close_cut > 0.0 && rng.random_bool(close_cut.min(1.0))).then(|| CloseCut {
                    // as the close face photos of real sets are cut (against the detector's
                    // box: 0.55-1.15 box widths wide, 0.9-1.8 times as tall, the face low in it)
                    width: rng.random_range(0.55..1.2),
                    aspect: rng.random_range(0.95..1.8),
                    shift: [rng.random_range(-0.15..0.1), rng.random_range(-0.3..0.0)],
                })
            },
        }
    }

    /// The crop rectangle, scaled about its centre and shifted.
    pub fn crop(&self, r: Rect) -> Rect {
        let (w, h) = (r.w * self.scale, r.h * self.scale);
        let cx = r.x + r.w / 2.0 + self.shift[0] * w;
        let cy = r.y + r.h / 2.0 + self.shift[1] * h;
        Rect { x: cx - w / 2.0, y: cy - h / 2.0, w, h }
    }

    /// Colour jitter, blur, noise and compression of one RGB crop (0..255). `rng` draws the
    /// noise pattern only.
    pub fn photometric(&self, img: &Img, rng: &mut ChaCha8Rng) -> Result<Img> {
        let mut out = img.clone();
        let n = (img.w * img.h).max(1) as f32;
        if self.exposure != 1.0 || self.gamma != 1.0 {
            for v in out.data.iter_mut() {
                *v = 255.0 * (*v * self.exposure / 255.0).clamp(0.0, 1.0).powf(self.gamma);
            }
        }
        let mean = out.data.iter().sum::<f32>() / (n * 3.0);
        for px in out.data.chunks_mut(3) {
            let c = jitter_colour([px[0], px[1], px[2]], self.hue, self.saturation);
            for (v, c) in px.iter_mut().zip(c) {
                *v = ((c - mean) * self.contrast + mean + self.brightness).clamp(0.0, 255.0);
            }
        }
        // (crops are square; a non-square image keeps its resolution)
        if self.resample < 1.0 && img.w == img.h {
            let (w, h) = (img.w, img.h);
            let side = ((w as f32 * self.resample).round() as usize).max(4);
            let small = crop_resize(&out, Rect::full(w, h), side);
            out = crop_resize(&small, Rect::full(side, side), w);
        }
        let mut out = gaussian_blur(&out, self.blur);
        if self.noise > 0.0 {
            for v in out.data.iter_mut() {
                *v = (*v + self.noise * normal(rng)).clamp(0.0, 255.0);
            }
        }
        match self.jpeg {
            Some(q) => jpeg_roundtrip(&out, q).context("augmentation"),
            None => Ok(out),
        }
    }
}

/// Hue rotation about the grey axis and saturation scaling around the pixel's grey.
pub fn jitter_colour(c: [f32; 3], hue: f32, saturation: f32) -> [f32; 3] {
    let g = (c[0] + c[1] + c[2]) / 3.0;
    let d = [c[0] - g, c[1] - g, c[2] - g];
    let (s, co) = hue.sin_cos();
    let k = 1.0 / 3f32.sqrt();
    let cross = [k * (d[2] - d[1]), k * (d[0] - d[2]), k * (d[1] - d[0])];
    [0, 1, 2].map(|i| g + saturation * (d[i] * co + cross[i] * s))
}

fn normal(rng: &mut ChaCha8Rng) -> f32 {
    let u1: f32 = rng.random_range(1e-7..1.0);
    let u2: f32 = rng.random_range(0.0..1.0);
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::imageops::save;
    use crate::data::{load::load_clip, ClipIndex, ClipSpec};
    use rand::SeedableRng;

    /// Parameters that leave the crop and the image alone.
    fn identity() -> Augment {
        Augment {
            scale: 1.0,
            shift: [0.0; 2],
            exposure: 1.0,
            gamma: 1.0,
            brightness: 0.0,
            contrast: 1.0,
            saturation: 1.0,
            hue: 0.0,
            resample: 1.0,
            close_cut: None,
            blur: 0.0,
            noise: 0.0,
            jpeg: None,
        }
    }

    fn test_img() -> Img {
        let mut img = Img::new(16, 16, 3);
        for (i, v) in img.data.iter_mut().enumerate() {
            *v = ((i * 37) % 256) as f32;
        }
        img
    }

    #[test]
    fn same_seed_same_augmentation_other_seed_differs() {
        let run = |seed: u64| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let a = Augment::random(&mut rng, 0.0);
            let img = a.photometric(&test_img(), &mut rng).unwrap();
            (a, img.data)
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3).1, run(4).1);
        // Identity parameters leave the crop and the image alone.
        let id = identity();
        let r = Rect { x: 3.0, y: 4.0, w: 10.0, h: 12.0 };
        assert_eq!(id.crop(r), r);
        let out = id.photometric(&test_img(), &mut ChaCha8Rng::seed_from_u64(0)).unwrap();
        assert!(out.data.iter().zip(&test_img().data).all(|(a, b)| (a - b).abs() < 1e-3));
        // Saturation 0 makes grey; a shift moves the crop by a fraction of its side.
        let g = jitter_colour([200.0, 100.0, 30.0], 0.4, 0.0);
        assert!((g[0] - g[1]).abs() < 1e-3 && (g[1] - g[2]).abs() < 1e-3);
        let moved = Augment { shift: [0.1, -0.1], scale: 2.0, ..id }.crop(r);
        assert!((moved.x + moved.w / 2.0 - (8.0 + 2.0)).abs() < 1e-4 && (moved.w - 20.0).abs() < 1e-4);
    }

    #[test]
    fn exposure_and_gamma_change_the_level_not_the_order() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let img = test_img();
        let mean = |i: &Img| i.data.iter().sum::<f32>() / i.data.len() as f32;
        let brighter = Augment { exposure: 1.5, ..identity() }.photometric(&img, &mut rng).unwrap();
        let darker = Augment { gamma: 1.5, ..identity() }.photometric(&img, &mut rng).unwrap();
        assert!(mean(&brighter) > 1.2 * mean(&img) && mean(&darker) < 0.85 * mean(&img));
        // v = 100: 255 (1.5 * 100 / 255) = 150; 255 (100 / 255)^1.5 = 62.6
        let i = img.data.iter().position(|&v| v == 100.0).unwrap();
        assert!((brighter.data[i] - 150.0).abs() < 1e-3 && (darker.data[i] - 62.62).abs() < 0.05);
        // monotonic: darker inputs stay darker
        for out in [&brighter, &darker] {
            let mut pairs: Vec<(f32, f32)> = img.data.iter().copied().zip(out.data.iter().copied()).collect();
            pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
            assert!(pairs.windows(2).all(|w| w[1].1 >= w[0].1 - 1e-3));
        }
    }

    #[test]
    fn resample_removes_detail_and_keeps_the_size() {
        // a 1-pixel checkerboard: passing through half the resolution averages it towards grey
        let mut img = Img::new(16, 16, 3);
        for (i, v) in img.data.iter_mut().enumerate() {
            let p = i / 3;
            *v = if (p % 16 + p / 16) % 2 == 0 { 255.0 } else { 0.0 };
        }
        let id = identity();
        let detail = |img: &Img| {
            img.data.chunks(3).zip(img.data.chunks(3).skip(1)).map(|(a, b)| (a[0] - b[0]).abs()).sum::<f32>()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let same = id.photometric(&img, &mut rng).unwrap();
        let low = Augment { resample: 0.45, ..id }.photometric(&img, &mut rng).unwrap();
        assert_eq!((low.w, low.h, low.c), (16, 16, 3));
        assert!(detail(&low) < 0.5 * detail(&same), "{} vs {}", detail(&low), detail(&same));
    }

    /// Centroid (fractions of the side) of a side x side map: of the pixels above the midpoint
    /// of its range (`threshold`), or weighted by the values (area-averaged labels: sub-cell
    /// exact).
    fn centroid(map: &[f32], side: usize, threshold: bool) -> [f32; 2] {
        let lo = map.iter().cloned().fold(f32::MAX, f32::min);
        let hi = map.iter().cloned().fold(f32::MIN, f32::max);
        let (mut n, mut x, mut y) = (0.0, 0.0, 0.0);
        for (i, &v) in map.iter().enumerate() {
            let w = if threshold { f32::from(u8::from(v > (lo + hi) / 2.0)) } else { v };
            n += w;
            x += w * ((i % side) as f32 + 0.5);
            y += w * ((i / side) as f32 + 0.5);
        }
        [x / n / side as f32, y / n / side as f32]
    }

    #[test]
    fn augmented_frames_and_labels_move_and_flip_together() {
        // A 48 x 48 frame, dark, with a bright off-centre square; depth and mask mark the same
        // square. Under any augmentation the square in the loaded frames and in the labels must
        // sit at the same place (crop jitter and flip applied to both).
        let dir = std::env::temp_dir().join(format!("tdfas_augment_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (mut frame, mut label) = (Img::new(48, 48, 3), Img::new(48, 48, 1));
        frame.data.iter_mut().for_each(|v| *v = 30.0);
        for y in 8..22 {
            for x in 10..24 {
                (0..3).for_each(|c| frame.set(x, y, c, 220.0));
                label.set(x, y, 0, 255.0);
            }
        }
        let mut c = ClipIndex { video_id: "v".into(), instrument: "live".into(), label: 1, ..Default::default() };
        for k in 0..2 {
            let (f, d, m) =
                (dir.join(format!("{k}.png")), dir.join(format!("{k}_d.png")), dir.join(format!("{k}_m.png")));
            save(&frame, &f).unwrap();
            save(&label, &d).unwrap();
            save(&label, &m).unwrap();
            c.frame_paths.push(f);
            c.depth_paths.push(Some(d));
            c.mask_paths.push(Some(m));
            c.anchors.push(None);
        }
        let spec = ClipSpec {
            frames: 2,
            interval: 1,
            size: 32,
            map: 8,
            crop: 1.3,
            close_cut: 0.0,
            zoom: 0.0,
            local_contrast: false,
        };
        let plain = load_clip(&c, &spec, &Default::default(), None).unwrap();
        let luma = |clip: &crate::data::Clip, k: usize| -> Vec<f32> {
            let n = 32 * 32;
            (0..n).map(|p| (0..3).map(|ch| clip.frames[k * 3 * n + ch * n + p]).sum::<f32>() / 3.0).collect()
        };
        let base = centroid(&luma(&plain, 0), 32, true);
        let (mut flipped, mut moved) = (false, false);
        for seed in 0..24 {
            let clip = load_clip(&c, &spec, &Default::default(), Some(&mut ChaCha8Rng::seed_from_u64(seed))).unwrap();
            for k in 0..2 {
                let f = centroid(&luma(&clip, k), 32, true);
                let d = centroid(&clip.depth[k * 64..(k + 1) * 64], 8, false);
                let m = centroid(&clip.mask[k * 64..(k + 1) * 64], 8, true);
                assert!(
                    (f[0] - d[0]).abs() < 0.025 && (f[1] - d[1]).abs() < 0.025,
                    "seed {seed}: frame {f:?} depth {d:?}"
                );
                // The mask is thresholded per cell: within one cell.
                assert!(
                    (f[0] - m[0]).abs() < 0.13 && (f[1] - m[1]).abs() < 0.13,
                    "seed {seed}: frame {f:?} mask {m:?}"
                );
            }
            let f = centroid(&luma(&clip, 0), 32, true);
            flipped |= (f[0] - base[0]).abs() > 0.3;
            moved |= (f[0] - base[0]).abs() > 0.02 && (f[0] - base[0]).abs() < 0.2 || (f[1] - base[1]).abs() > 0.02;
            // Both frames of a clip get the same crop and colour transform.
            let (a, b) = (luma(&clip, 0), luma(&clip, 1));
            let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32;
            assert!(diff < 0.06, "seed {seed}: frames of one clip differ by {diff}");
        }
        assert!(flipped && moved, "flip seen {flipped}, crop jitter seen {moved}");
        std::fs::remove_dir_all(dir).ok();
    }

    /// A training frame cut close around the face (`close_cut`) reaches the network exactly as a
    /// photo that is that cut reaches it at inference: the same place, the same pixels (edges
    /// replicated past the picture), and no face depth outside the picture.
    #[test]
    fn a_close_cut_frame_is_cropped_as_inference_crops_such_a_photo() {
        use crate::data::depth_label::FaceAnchor;
        use crate::data::load::{blank_outside, crop_rect, place_and_crop};
        let mut frame = Img::new(120, 90, 3);
        for (i, v) in frame.data.iter_mut().enumerate() {
            *v = ((i * 37) % 251) as f32;
        }
        let face = Rect { x: 50.0, y: 30.0, w: 24.0, h: 28.0 };
        let cut = CloseCut { width: 0.9, aspect: 1.2, shift: [0.05, 0.1] }.rect(face).pixels_inside(120, 90).unwrap();
        // training: the crop around the face box in the whole frame, placed in the cut
        let rect = crop_rect(Some(FaceAnchor::Box(face)), 120, 90, 1.8);
        let (placed, train) = place_and_crop(&frame, rect, Some(cut), None, 32);
        // inference: the cut saved as a photo, the same face box in its pixels
        let photo = frame.window(cut);
        assert_eq!((photo.w, photo.h), (cut.w as usize, cut.h as usize));
        let face_in_photo = Rect { x: face.x - cut.x, y: face.y - cut.y, ..face };
        let r = crop_rect(Some(FaceAnchor::Box(face_in_photo)), photo.w, photo.h, 1.8).moved_inside(photo.w, photo.h);
        assert_eq!(train.data, crop_resize(&photo, r, 32).data);
        let near = |a: f32, b: f32| (a - b).abs() < 1e-4;
        assert!(near(placed.x - cut.x, r.x) && near(placed.y - cut.y, r.y) && placed.w == r.w, "{placed:?} {r:?}");
        // a model that zooms into close photos (`ClipSpec::zoom`) is shown the cut as inference
        // zooms into that photo
        let m = crate::data::load::ZOOM_RANGE.0 * face.w.max(face.h);
        let (zoomed, ztrain) = place_and_crop(&frame, rect, Some(cut), Some(m), 32);
        let zr = r.shrunk_to_fit(photo.w, photo.h, m).moved_inside(photo.w, photo.h);
        assert_eq!(ztrain.data, crop_resize(&photo, zr, 32).data);
        assert!(
            zoomed.w < placed.w && near(zoomed.x - cut.x, zr.x) && near(zoomed.y - cut.y, zr.y),
            "{zoomed:?} {zr:?}"
        );
        // the crop reaches past the picture on every side (what a close real photo gives)...
        assert!(placed.x < cut.x && placed.y < cut.y);
        assert!(placed.x + placed.w > cut.x + cut.w && placed.y + placed.h > cut.y + cut.h);
        // ...and without the cut stays in the frame's pixels
        let (whole, _) = place_and_crop(&frame, rect, None, None, 32);
        assert!(whole.x >= 0.0 && whole.y >= 0.0 && whole.x + whole.w <= 120.0 && whole.y + whole.h <= 90.0);
        // labels: the cells of the picture kept, the rest no face
        let (mut depth, mut mask) = (vec![1.0; 64], vec![0.5; 64]);
        blank_outside(cut, placed, 8, &mut depth, &mut mask);
        assert_eq!((depth[0], mask[0], depth[63], mask[63]), (0.0, 0.0, 0.0, 0.0), "corners outside");
        assert_eq!((depth[27], mask[27], depth[36], mask[36]), (1.0, 0.5, 1.0, 0.5), "centre inside");
        let kept = depth.iter().filter(|&&d| d == 1.0).count() as f32;
        let share = cut.w * cut.h / (placed.w * placed.h);
        assert!((kept / 64.0 - share).abs() < 0.15, "kept {kept} of 64, the picture's share {share}");
    }
}
