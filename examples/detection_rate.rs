//! Face detection rate and time per frame on a dataset whose clip folders hold `truth_bbox.csv`
//! (the synthetic benchmark writes one): a frame counts as found when the detector's box
//! overlaps the true box with IoU >= 0.4. Also prints the mean ratio of the true box's longer side to
//! the detector box's side and how far the true centre lies below the detector box's centre, from which `face::DETECTOR_SCALE` / `_SHIFT_UP` are set.
//!
//! `cargo run --release --example detection_rate -- DATASET [max frames per clip]`

use std::path::Path;
use std::time::Instant;

use tdfas::data::face;
use tdfas::data::imageops::{load, Rect};

fn iou(a: &Rect, b: &Rect) -> f32 {
    let (x0, y0) = (a.x.max(b.x), a.y.max(b.y));
    let (x1, y1) = ((a.x + a.w).min(b.x + b.w), (a.y + a.h).min(b.y + b.h));
    let inter = (x1 - x0).max(0.0) * (y1 - y0).max(0.0);
    inter / (a.w * a.h + b.w * b.h - inter)
}

/// class, found, IoU, ms, detected/true size, centre dy / true h, frame w, h
type Row = (String, bool, f32, f64, f32, f32, usize, usize);

fn mean(v: &[&&Row], f: impl Fn(&Row) -> f64) -> f64 {
    v.iter().map(|r| f(r)).sum::<f64>() / v.len().max(1) as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let root = Path::new(args.get(1).expect("usage: detection_rate DATASET [frames per clip]"));
    let per_clip: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2);
    let mut rows: Vec<Row> = vec![];
    let mut clips: Vec<(String, bool)> = vec![]; // class, a face found in some frame
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let truth = dir.join("truth_bbox.csv");
        if !truth.is_file() {
            if let Ok(rd) = std::fs::read_dir(&dir) {
                stack.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
            }
            continue;
        }
        let class = dir.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap();
        let text = std::fs::read_to_string(&truth).unwrap();
        let before = rows.len();
        for line in text.lines().filter(|l| l.starts_with(|c: char| c.is_ascii_digit())).take(per_clip) {
            let v: Vec<f32> = line.split(',').map(|x| x.trim().parse().unwrap()).collect();
            let t = Rect { x: v[1], y: v[2], w: v[3], h: v[4] };
            let frame =
                ["png", "jpg"].iter().map(|e| dir.join(format!("{:04}.{e}", v[0] as u32))).find(|p| p.is_file());
            let Some(frame) = frame else { continue };
            let img = load(&frame, false).unwrap();
            let start = Instant::now();
            let d = face::detect(&img);
            let ms = start.elapsed().as_secs_f64() * 1e3;
            let (found, i, ratio, dy) = match d {
                Some(r) => {
                    (iou(&r, &t) >= 0.4, iou(&r, &t), t.w.max(t.h) / r.w, ((t.y + t.h / 2.0) - (r.y + r.h / 2.0)) / r.h)
                }
                None => (false, 0.0, f32::NAN, f32::NAN),
            };
            rows.push((class.clone(), found, i, ms, ratio, dy, img.w, img.h));
        }
        clips.push((class.clone(), rows[before..].iter().any(|r| r.1)));
    }
    let mut classes: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    classes.sort();
    classes.dedup();
    for c in classes.iter().map(Some).chain([None]) {
        let sel: Vec<_> = rows.iter().filter(|r| c.is_none_or(|c| &r.0 == c)).collect();
        let n = sel.len() as f64;
        let found: Vec<_> = sel.iter().filter(|r| r.1).collect();
        let cl: Vec<_> = clips.iter().filter(|r| c.is_none_or(|c| &r.0 == c)).collect();
        println!(
            "{:<8} clips with a face {:>5.1}% of {}; frames {:>5}  found {:>5.1}%  mean IoU (found) {:.3}  true side/box {:.3}  true centre below box by /box h {:+.3}  {:.1} ms/frame ({}x{})",
            c.map(|s| s.as_str()).unwrap_or("all"),
            100.0 * cl.iter().filter(|r| r.1).count() as f64 / cl.len().max(1) as f64,
            cl.len(),
            sel.len(),
            100.0 * found.len() as f64 / n.max(1.0),
            mean(&found, |r| r.2 as f64),
            mean(&found, |r| r.4 as f64),
            mean(&found, |r| r.5 as f64),
            sel.iter().map(|r| r.3).sum::<f64>() / n.max(1.0),
            sel.first().map(|r| r.6).unwrap_or(0),
            sel.first().map(|r| r.7).unwrap_or(0),
        );
    }
}
