//! Contact sheet of a benchmark: for live, print and replay (first clip of the test split, else
//! train or dev), the first frames in rows, each as frame | depth | mask, classes side by side.

use crate::data::generic::{frame_files, sorted_dirs};
use crate::data::imageops::{crop_resize, load, Img, Rect};
use crate::eval::report::font::{draw_text, text_width, GLYPH_H};
use anyhow::{bail, Context, Result};
use std::path::Path;

const ROWS: usize = 4;
const GAP: usize = 2;
/// Two title lines above the tiles: the class, then frame | depth | mask under it.
const HEADER: usize = 2 * GLYPH_H as usize + 3 * 4;

pub fn preview(root: &Path, out_png: &Path) -> Result<()> {
    let mut columns: Vec<Vec<[Img; 3]>> = Vec::new();
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
        let mut rows = Vec::new();
        for p in frames.values().take(ROWS) {
            let stem = p.file_stem().unwrap().to_string_lossy().to_string();
            let side = |suffix: &str| -> Result<Img> {
                let q = clip.join(format!("{stem}_{suffix}.png"));
                let mut g = if q.is_file() { load(&q, true)? } else { Img::new(1, 1, 1) };
                g.c = 1;
                Ok(g)
            };
            rows.push([load(p, false)?, side("depth")?, side("mask")?]);
        }
        columns.push(rows);
        classes.push(class);
    }
    if columns.is_empty() {
        bail!("{}: no live/print/replay clips to preview", root.display());
    }
    let tile = columns[0][0][0].w.max(16);
    let ncols = columns.len() * 3;
    let (w, h) = (ncols * (tile + GAP) + GAP, HEADER + ROWS * (tile + GAP) + GAP);
    let mut sheet = Img::new(w, h, 3);
    sheet.data.iter_mut().for_each(|v| *v = 255.0);
    for (c, rows) in columns.iter().enumerate() {
        for (r, tiles) in rows.iter().enumerate() {
            for (k, img) in tiles.iter().enumerate() {
                let t = crop_resize(img, Rect::full(img.w, img.h), tile);
                let (x0, y0) = (GAP + (c * 3 + k) * (tile + GAP), HEADER + GAP + r * (tile + GAP));
                for y in 0..tile {
                    for x in 0..tile {
                        for ch in 0..3 {
                            let v = t.at(x, y, if t.c == 1 { 0 } else { ch });
                            sheet.set(x0 + x, y0 + y, ch, v);
                        }
                    }
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
    img.save(out_png).with_context(|| format!("cannot write image {}", out_png.display()))
}
