//! The paper's figure 7 as a PNG: rows of RGB frame | single-frame depth | multi-frame depth,
//! each titled with class, video, score, threshold and whether the video is misclassified.
//! Per class the worst-scored videos come first, then typical ones (`pick_grid_rows`).
//! Depth maps (S x S, values expected in [0, 1], clamped) are upscaled nearest-neighbour to the
//! RGB size and coloured with viridis.

use crate::util::font::{draw_text, text_width, GLYPH_H};
use anyhow::{bail, Context, Result};
use image::{Rgb, RgbImage};
use std::path::Path;

/// One video's frame and depth maps: a row of the depth figure when picked, and the picture
/// behind its line of the report's per-video table.
#[derive(Clone)]
pub struct GridRow {
    /// "live" or the attack type (instrument without its trailing number)
    pub class: String,
    pub rgb: RgbImage,
    /// `map * map` values, row-major.
    pub single_depth: Vec<f32>,
    /// `map * map` values, row-major.
    pub multi_depth: Vec<f32>,
    pub map: usize,
    /// the video's score (mean over its clips)
    pub score: f64,
    pub video: String,
    pub instrument: String,
    /// 1 = live, 0 = attack
    pub label: u32,
    /// decision threshold; None until the report knows it (see `set_threshold`)
    pub threshold: Option<f64>,
    /// misclassified at `threshold`
    pub error: Option<bool>,
    /// why the row is in the depth figure; None: only in the per-video table
    pub pick: Option<Pick>,
}

/// Why a video is in the depth figure; the number is its rank (0 = worst / nearest the median).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pick {
    Worst(usize),
    Typical(usize),
}

impl GridRow {
    pub fn is_live(&self) -> bool {
        self.label == 1
    }

    /// Fixes the threshold and the error flag (live rejected: score < t; attack accepted: >= t).
    pub fn set_threshold(&mut self, t: f64) {
        self.threshold = Some(t);
        self.error = Some(if self.is_live() { self.score < t } else { self.score >= t });
    }
}

/// Marks per class the `n` worst-scored rows (live: lowest score, attacks: highest) and `n`
/// typical ones (nearest the class median among the rest), clearing every other pick.
pub fn pick_grid_rows(rows: &mut [GridRow], n: usize) {
    let mut classes: Vec<String> = rows.iter().map(|r| r.class.clone()).collect();
    classes.sort();
    classes.dedup();
    for r in rows.iter_mut() {
        r.pick = None;
    }
    for class in classes {
        let mut idx: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].class == class).collect();
        // worst first: live ascending, attacks descending; NaN scores sort last
        let badness = |r: &GridRow| {
            let s = if r.is_live() { r.score } else { -r.score };
            if s.is_nan() {
                f64::INFINITY
            } else {
                s
            }
        };
        idx.sort_by(|&a, &b| badness(&rows[a]).total_cmp(&badness(&rows[b])).then(rows[a].video.cmp(&rows[b].video)));
        let median = rows[idx[idx.len() / 2]].score;
        for (rank, &i) in idx.iter().take(n).enumerate() {
            rows[i].pick = Some(Pick::Worst(rank));
        }
        let mut rest: Vec<usize> = idx.iter().skip(n).copied().collect();
        rest.sort_by(|&a, &b| (rows[a].score - median).abs().total_cmp(&(rows[b].score - median).abs()));
        for (rank, &i) in rest.iter().take(n).enumerate() {
            rows[i].pick = Some(Pick::Typical(rank));
        }
    }
}

/// The picked rows in figure order: live first, then attack classes by name; per class the
/// worst (worst first), then the typical ones.
pub fn figure_rows(rows: &[GridRow]) -> Vec<&GridRow> {
    let mut picked: Vec<&GridRow> = rows.iter().filter(|r| r.pick.is_some()).collect();
    picked.sort_by(|a, b| (!a.is_live(), &a.class, a.pick).cmp(&(!b.is_live(), &b.class, b.pick)));
    picked
}

/// viridis sampled at 8 even stops (matplotlib / viridisLite), interpolated linearly.
const VIRIDIS: [[u8; 3]; 8] = [
    [0x44, 0x01, 0x54],
    [0x46, 0x32, 0x7e],
    [0x36, 0x5c, 0x8d],
    [0x27, 0x7f, 0x8e],
    [0x1f, 0xa1, 0x87],
    [0x4a, 0xc1, 0x6d],
    [0xa0, 0xda, 0x39],
    [0xfd, 0xe7, 0x25],
];

pub fn viridis(v: f32) -> Rgb<u8> {
    let v = if v.is_finite() { v.clamp(0.0, 1.0) } else { 0.0 };
    let x = v * (VIRIDIS.len() - 1) as f32;
    let i = (x.floor() as usize).min(VIRIDIS.len() - 2);
    let t = x - i as f32;
    let mix = |c: usize| (VIRIDIS[i][c] as f32 * (1.0 - t) + VIRIDIS[i + 1][c] as f32 * t).round() as u8;
    Rgb([mix(0), mix(1), mix(2)])
}

const PAD: u32 = 6;
const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
const BLACK: Rgb<u8> = Rgb([0, 0, 0]);
const RED: Rgb<u8> = Rgb([200, 0, 0]);
const GREEN: Rgb<u8> = Rgb([0, 120, 0]);

/// The two title lines of a row: what it is, then how it scored against the threshold.
fn row_titles(r: &GridRow, max_chars: usize) -> (String, String, Rgb<u8>) {
    let pick = match r.pick {
        Some(Pick::Worst(k)) => format!(" WORST {}", k + 1),
        Some(Pick::Typical(_)) => " TYPICAL".to_string(),
        None => String::new(),
    };
    let head = format!("{}{pick}: ", r.class);
    // keep the end of long video names: it is the part that differs
    let room = max_chars.saturating_sub(head.chars().count()).max(4);
    let n = r.video.chars().count();
    let video: String = if n > room {
        format!("..{}", r.video.chars().skip(n + 2 - room).collect::<String>())
    } else {
        r.video.clone()
    };
    let (verdict, colour) = match (r.error, r.is_live()) {
        (Some(true), true) => ("ERROR: REJECTED", RED),
        (Some(true), false) => ("ERROR: ACCEPTED", RED),
        (Some(false), _) => ("CORRECT", GREEN),
        (None, _) => ("", BLACK),
    };
    // the comparison, and enough decimals that a score near the threshold prints unlike it
    let d = r.threshold.map_or(4, |t| distinct_decimals(r.score, t));
    let thr = r.threshold.map(|t| format!(" {} THR {t:.d$}", if r.score < t { "<" } else { ">=" })).unwrap_or_default();
    (format!("{head}{video}"), format!("SCORE {:.d$}{thr}  {verdict}", r.score), colour)
}

/// The fewest decimals (4 to 8) at which `a` and `b` print differently; 8 when they never do.
pub fn distinct_decimals(a: f64, b: f64) -> usize {
    (4..=8).find(|&d| format!("{a:.d$}") != format!("{b:.d$}")).unwrap_or(8)
}

/// A 2-px frame just outside the block at (x, y, w, h).
fn frame(img: &mut RgbImage, x: u32, y: u32, w: u32, h: u32, c: Rgb<u8>) {
    let (x0, y0) = (x.saturating_sub(2), y.saturating_sub(2));
    let (x1, y1) = ((x + w + 1).min(img.width() - 1), (y + h + 1).min(img.height() - 1));
    for xx in x0..=x1 {
        for d in 0..2 {
            img.put_pixel(xx, y0 + d, c);
            img.put_pixel(xx, y1 - d, c);
        }
    }
    for yy in y0..=y1 {
        for d in 0..2 {
            img.put_pixel(x0 + d, yy, c);
            img.put_pixel(x1 - d, yy, c);
        }
    }
}

/// Paints a `map x map` depth map into a `w x h` block at (x0, y0), nearest-neighbour.
fn blit_depth(img: &mut RgbImage, x0: u32, y0: u32, w: u32, h: u32, depth: &[f32], map: usize) {
    for y in 0..h {
        let sy = (y as usize * map / h as usize).min(map - 1);
        for x in 0..w {
            let sx = (x as usize * map / w as usize).min(map - 1);
            img.put_pixel(x0 + x, y0 + y, viridis(depth[sy * map + sx]));
        }
    }
}

fn check_rows(rows: &[&GridRow], path: &Path) -> Result<(u32, u32)> {
    let Some(first) = rows.first() else {
        bail!("write_depth_grid {}: no rows", path.display());
    };
    let (w, h) = first.rgb.dimensions();
    if w == 0 || h == 0 {
        bail!("write_depth_grid {}: row 0 has an empty RGB image", path.display());
    }
    for (i, r) in rows.iter().enumerate() {
        if r.rgb.dimensions() != (w, h) {
            bail!(
                "write_depth_grid {}: row {i} RGB is {:?}, row 0 is {:?}",
                path.display(),
                r.rgb.dimensions(),
                (w, h)
            );
        }
        let n = r.map * r.map;
        if r.map == 0 || r.single_depth.len() != n || r.multi_depth.len() != n {
            bail!(
                "write_depth_grid {}: row {i} ('{}'): map {} needs {n} values, got single {} / multi {}",
                path.display(),
                r.class,
                r.map,
                r.single_depth.len(),
                r.multi_depth.len()
            );
        }
    }
    Ok((w, h))
}

/// Draws every row given, in order; misclassified rows are framed in red.
pub fn write_depth_grid(path: &Path, rows: &[GridRow]) -> Result<()> {
    let rows: Vec<&GridRow> = rows.iter().collect();
    write_depth_grid_refs(path, &rows)
}

pub(super) fn write_depth_grid_refs(path: &Path, rows: &[&GridRow]) -> Result<()> {
    let (cw, ch) = check_rows(rows, path)?;
    // Large text when the column titles fit the cells, otherwise small, otherwise short titles.
    let long = ["RGB", "SINGLE-FRAME DEPTH", "MULTI-FRAME DEPTH"];
    let fits = |scale| text_width(long[1], scale) + PAD <= cw;
    let scale = if fits(2) { 2 } else { 1 };
    let titles = if fits(1) { long } else { ["RGB", "SINGLE-FRAME", "MULTI-FRAME"] };
    let line = GLYPH_H * scale + PAD;
    let width = 3 * cw + 4 * PAD;
    let bar_h = 12;
    let small = GLYPH_H + 4; // row titles are always small: two lines of up to ~50 characters
    let height = line + 2 * PAD + rows.len() as u32 * (2 * small + ch + 2 * PAD) + bar_h + line + PAD;
    let mut img = RgbImage::from_pixel(width, height, WHITE);
    for (c, t) in titles.iter().enumerate() {
        draw_text(&mut img, PAD + c as u32 * (cw + PAD), PAD, t, scale, BLACK);
    }
    let mut y = line + 2 * PAD; // header, then a gap before the first row label
    let max_chars = ((width - 2 * PAD) / text_width("X", 1).max(1)) as usize;
    for r in rows {
        let (first, second, colour) = row_titles(r, max_chars);
        draw_text(&mut img, PAD, y, &first, 1, BLACK);
        draw_text(&mut img, PAD, y + small, &second, 1, colour);
        y += 2 * small;
        image::imageops::replace(&mut img, &r.rgb, PAD as i64, y as i64);
        blit_depth(&mut img, 2 * PAD + cw, y, cw, ch, &r.single_depth, r.map);
        blit_depth(&mut img, 3 * PAD + 2 * cw, y, cw, ch, &r.multi_depth, r.map);
        if r.error == Some(true) {
            frame(&mut img, PAD, y, 3 * cw + 2 * PAD, ch, RED);
        }
        y += ch + 2 * PAD;
    }
    // Colour bar for depth 0 .. 1 under the depth columns.
    let (bx, bw) = (2 * PAD + cw, 2 * cw + PAD);
    for x in 0..bw {
        let c = viridis(x as f32 / (bw - 1).max(1) as f32);
        for dy in 0..bar_h {
            img.put_pixel(bx + x, y + dy, c);
        }
    }
    y += bar_h + 2;
    draw_text(&mut img, bx, y, "DEPTH 0", scale, BLACK);
    draw_text(&mut img, (bx + bw).saturating_sub(text_width("1", scale)), y, "1", scale, BLACK);
    img.save(path).with_context(|| format!("writing {}", path.display()))
}

/// One depth map as a PNG on the fixed 0 .. 1 viridis scale every report and depth file shares
/// (so maps from different clips and files compare by colour), upscaled nearest-neighbour to at
/// least 192 px, with `title` above and a labelled colour bar below. For `infer --depth-dir`.
pub fn write_depth_png(path: &Path, depth: &[f32], map: usize, title: &str) -> Result<()> {
    if map == 0 || depth.len() != map * map {
        bail!("write_depth_png {}: map {map} needs {} values, got {}", path.display(), map * map, depth.len());
    }
    let side = (map as u32).max(1) * (192 / map as u32).max(1);
    let line = GLYPH_H + PAD;
    let bar_h = 12;
    let width = side + 2 * PAD;
    let height = PAD + line + side + PAD + bar_h + 2 + line;
    let mut img = RgbImage::from_pixel(width, height, WHITE);
    // keep the end of a long title: the clip, map and time step
    let max_chars = (side / text_width("X", 1)) as usize;
    let n = title.chars().count();
    let shown: String = if n > max_chars { title.chars().skip(n - max_chars).collect() } else { title.to_string() };
    draw_text(&mut img, PAD, PAD, &shown, 1, BLACK);
    let y = PAD + line;
    blit_depth(&mut img, PAD, y, side, side, depth, map);
    let by = y + side + PAD;
    for x in 0..side {
        let c = viridis(x as f32 / (side - 1).max(1) as f32);
        for dy in 0..bar_h {
            img.put_pixel(PAD + x, by + dy, c);
        }
    }
    draw_text(&mut img, PAD, by + bar_h + 2, "DEPTH 0", 1, BLACK);
    draw_text(&mut img, PAD + side - text_width("1", 1), by + bar_h + 2, "1", 1, BLACK);
    crate::util::png::write_rgb8(path, width, height, img.as_raw())
}
