//! Contact sheet of a benchmark: for live, print and replay (first clip of the test split, else
//! train or dev), the first frames in rows, each as frame | depth | mask, classes side by side.
//! Tiles keep the frames' aspect; the true face box (`truth_bbox.csv`) is drawn on the frame.

use crate::data::generic::{frame_files, read_bbox, sorted_dirs};
use crate::data::imageops::{load, Img, Rect};
use crate::util::font::{draw_text, text_width, GLYPH_H};
use anyhow::{bail, Context, Result};
use std::path::Path;

const ROWS: usize = 4;
const GAP: usize = 2;
/// Two title lines above the tiles: the class, then frame | depth | mask under it.
const HEADER: usize = 2 * GLYPH_H as usize + 3 * 4;

pub fn preview(root: &Path, out_png: &Path) -> Result<()> {
    let mut columns: Vec<Vec<([Img; 3], Option<Rect>)>> = Vec::new();
    let mut classes = Vec::new();
    for class in ["live", "print", "replay"] {
        let Some(clip) = ["test", "train", "dev"]
            .iter()
            .filter_map(|s| sorted_dirs(&root.join(s).join(class)).ok()?.into_iter().next())
            .next()
        else {
            continue;
        };
        let frames = frame_files(&clip)?;
        let boxes = read_bbox(&clip.join("truth_bbox.csv"))?;
        let mut rows = Vec::new();
        for (n, p) in frames.iter().take(ROWS) {
            let stem = p.file_stem().unwrap().to_string_lossy().to_string();
            let side = |suffix: &str| -> Result<Img> {
                let q = clip.join(format!("{stem}_{suffix}.png"));
                let mut g = if q.is_file() { load(&q, true)? } else { Img::new(1, 1, 1) };
                g.c = 1;
                Ok(g)
            };
            rows.push(([load(p, false)?, side("depth")?, side("mask")?], boxes.get(n).copied()));
        }
        columns.push(rows);
        classes.push(class);
    }
    if columns.is_empty() {
        bail!("{}: no live/print/replay clips to preview", root.display());
    }
    let first = &columns[0][0].0[0];
    let (tile, tile_h) = (first.w.max(16), first.h.max(16));
    let ncols = columns.len() * 3;
    let (w, h) = (ncols * (tile + GAP) + GAP, HEADER + ROWS * (tile_h + GAP) + GAP);
    let mut sheet = Img::new(w, h, 3);
    sheet.data.iter_mut().for_each(|v| *v = 255.0);
    for (c, rows) in columns.iter().enumerate() {
        for (r, (tiles, bbox)) in rows.iter().enumerate() {
            for (k, img) in tiles.iter().enumerate() {
                let (x0, y0) = (GAP + (c * 3 + k) * (tile + GAP), HEADER + GAP + r * (tile_h + GAP));
                let (sx, sy) = (img.w as f32 / tile as f32, img.h as f32 / tile_h as f32);
                for y in 0..tile_h {
                    for x in 0..tile {
                        let (fx, fy) = ((x as f32 + 0.5) * sx, (y as f32 + 0.5) * sy);
                        for ch in 0..3 {
                            let v = img.bilinear(fx, fy, if img.c == 1 { 0 } else { ch });
                            sheet.set(x0 + x, y0 + y, ch, v);
                        }
                    }
                }
                if let (0, Some(b)) = (k, bbox) {
                    draw_box(&mut sheet, *b, (x0, y0), (sx, sy), (tile, tile_h));
                }
            }
        }
    }
    let data: Vec<u8> = sheet.data.iter().map(|v| v.round().clamp(0.0, 255.0) as u8).collect();
    let mut img = image::RgbImage::from_raw(w as u32, h as u32, data).context("preview buffer size")?;
    let black = image::Rgb([0, 0, 0]);
    let group = 3 * (tile + GAP) as u32;
    for (c, class) in classes.iter().enumerate() {
        let title = class.to_uppercase();
        let x0 = GAP as u32 + c as u32 * group;
        draw_text(&mut img, x0 + (group - text_width(&title, 1)) / 2, 3, &title, 1, black);
        // a rule under the class name, spanning its three tiles
        for x in x0..x0 + group - GAP as u32 {
            img.put_pixel(x, 5 + GLYPH_H, black);
        }
        for (k, what) in ["FRAME", "DEPTH", "MASK"].iter().enumerate() {
            let x = x0 + k as u32 * (tile + GAP) as u32 + (tile as u32).saturating_sub(text_width(what, 1)) / 2;
            draw_text(&mut img, x, 9 + GLYPH_H, what, 1, black);
        }
    }
    crate::util::png::write_rgb8(out_png, img.width(), img.height(), img.as_raw())
}

/// A red rectangle outline of frame box `b` on the tile at `origin` (scale = frame px per tile px).
fn draw_box(sheet: &mut Img, b: Rect, origin: (usize, usize), scale: (f32, f32), tile: (usize, usize)) {
    let to = |v: f32, s: f32, n: usize| ((v / s).round().max(0.0) as usize).min(n - 1);
    let (x0, x1) = (to(b.x, scale.0, tile.0), to(b.x + b.w, scale.0, tile.0));
    let (y0, y1) = (to(b.y, scale.1, tile.1), to(b.y + b.h, scale.1, tile.1));
    let mut put = |x: usize, y: usize| {
        for (ch, v) in [255.0, 0.0, 0.0].into_iter().enumerate() {
            sheet.set(origin.0 + x, origin.1 + y, ch, v);
        }
    };
    for x in x0..=x1 {
        put(x, y0);
        put(x, y1);
    }
    for y in y0..=y1 {
        put(x0, y);
        put(x1, y);
    }
}
