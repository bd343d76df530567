//! The report's unit tests: tables, plots, the depth figure and the page.

use super::*;
use crate::eval::metrics::{at_threshold, evaluate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Live scores around 0.7, print around 0.35, replay around 0.5.
fn synthetic(seed: u64, n: usize) -> Vec<ScoredVideo> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::new();
    for (inst, centre) in [("live", 0.7), ("print", 0.35), ("replay", 0.5)] {
        for i in 0..n {
            let s = centre + 0.3 * (rng.random::<f64>() - 0.5);
            out.push(ScoredVideo::new(&format!("{inst}{i}"), inst, u32::from(inst == "live"), s));
        }
    }
    out
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("tdfas_eval_{name}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn grid_rows(map: usize) -> Vec<GridRow> {
    ["live", "print", "replay"]
        .iter()
        .enumerate()
        .map(|(k, class)| {
            let rgb = RgbImage::from_fn(64, 48, |x, y| image::Rgb([(x * 4) as u8, (y * 5) as u8, 60 * k as u8]));
            // Live: a centred bump; attacks: flat (near-zero) depth.
            let depth: Vec<f32> = (0..map * map)
                .map(|i| {
                    let (y, x) = ((i / map) as f32, (i % map) as f32);
                    let c = (map as f32 - 1.0) / 2.0;
                    let r2 = ((x - c).powi(2) + (y - c).powi(2)) / (c * c);
                    if k == 0 {
                        (1.0 - r2).max(0.0)
                    } else {
                        0.05 * k as f32
                    }
                })
                .collect();
            GridRow {
                class: class.to_string(),
                rgb,
                single_depth: depth.clone(),
                multi_depth: depth,
                map,
                score: 0.9 - 0.3 * k as f64,
                video: format!("{class}_video"),
                instrument: class.to_string(),
                label: u32::from(k == 0),
                threshold: None,
                error: None,
                pick: None,
            }
        })
        .collect()
}

use image::RgbImage;

#[test]
fn paper_table_has_percentages() {
    let m = at_threshold(&synthetic(1, 10), 0.55).unwrap();
    let t = paper_table(&[("Model 4".to_string(), m.clone())]);
    assert!(t.starts_with("| Model | APCER (%) | BPCER (%) | ACER (%)"));
    let row = t.lines().nth(2).unwrap();
    assert!(row.contains(&format!("| {:.2} |", 100.0 * m.acer)), "{row}");
    assert_eq!(row.matches('|').count(), 8);
}

#[test]
fn report_writes_every_file() {
    let dir = tmp("report");
    let dev = synthetic(2, 30);
    let models: Vec<ModelReport> = [("FAS-TD", 3u64), ("single-frame", 4)]
        .iter()
        .map(|&(name, seed)| {
            let test = synthetic(seed, 25);
            ModelReport { name: name.to_string(), metrics: evaluate(&dev, &test).unwrap(), test }
        })
        .collect();
    write_report(&dir, "Synthetic P1", &models, &grid_rows(8)).unwrap();
    for f in [
        "metrics.json",
        "table.md",
        "roc.svg",
        "det.svg",
        "hist_0_fas_td.svg",
        "hist_1_single_frame.svg",
        "depth_grid.png",
        "index.html",
    ] {
        let len = std::fs::metadata(dir.join(f)).map(|m| m.len()).unwrap_or(0);
        assert!(len > 100, "{f}: {len} bytes");
    }
    let roc_svg = std::fs::read_to_string(dir.join("roc.svg")).unwrap();
    assert!(roc_svg.contains("<polyline") && roc_svg.contains("FAS-TD (AUC"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metrics.json")).unwrap()).unwrap();
    let acer = json["models"][0]["metrics"]["acer"].as_f64().unwrap();
    assert!((acer - models[0].metrics.acer).abs() < 1e-12);
    assert!(json["models"][0]["roc"][0]["threshold"].is_null()); // +inf
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(html.contains("roc.svg") && html.contains("depth_grid.png") && html.contains("FAS-TD"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn depth_grid_layout_and_colours() {
    let dir = tmp("grid");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("grid.png");
    let rows = grid_rows(8);
    write_depth_grid(&path, &rows).unwrap();
    let img = image::open(&path).unwrap().to_rgb8();
    // Three 64-px columns with 6-px gaps.
    assert_eq!(img.width(), 3 * 64 + 4 * 6);
    // Centre of the live row's single-frame depth cell is the bump's peak region: bright
    // viridis (yellow-green), the print row's is dark (purple).
    let line = 7 + 6; // scale 1 header (titles do not fit 64 px at scale 2)
    let titles = 2 * (7 + 4); // two small title lines per row
    let live_top = line + 2 * 6 + titles;
    let print_top = live_top + 48 + 2 * 6 + titles;
    let cx = 2 * 6 + 64 + 32;
    let (live, print) = (img.get_pixel(cx, live_top + 24), img.get_pixel(cx, print_top + 24));
    assert!(live[1] > 150 && print[1] < 80, "live {live:?} print {print:?}");
    // Bad depth length is an error, not a panic.
    let mut bad = grid_rows(8);
    bad[1].multi_depth.pop();
    assert!(write_depth_grid(&path, &bad).is_err());
    assert!(write_depth_grid(&path, &[]).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

fn row(video: &str, live: bool, score: f64) -> GridRow {
    let mut r = grid_rows(4).remove(if live { 0 } else { 1 });
    r.video = video.to_string();
    r.score = score;
    r
}

#[test]
fn picks_worst_and_typical_per_class() {
    let live = [0.9, 0.8, 0.02, 0.01, 0.5, 0.6, 0.7];
    let print = [0.05, 0.1, 0.8, 0.2, 0.15];
    let mut rows: Vec<GridRow> = live.iter().enumerate().map(|(i, &s)| row(&format!("l{i}"), true, s)).collect();
    rows.extend(print.iter().enumerate().map(|(i, &s)| row(&format!("p{i}"), false, s)));
    pick_grid_rows(&mut rows, 2);
    let picked = |p: Pick| rows.iter().filter(|r| r.pick == Some(p)).map(|r| r.video.as_str()).collect::<Vec<_>>();
    // live: lowest scores are worst; median 0.6 is typical, then 0.5 or 0.7 (tie, either)
    assert_eq!(picked(Pick::Worst(0)), ["l3", "p2"]);
    assert_eq!(picked(Pick::Worst(1)), ["l2", "p3"]);
    assert_eq!(picked(Pick::Typical(0)), ["l5", "p4"]);
    assert_eq!(rows.iter().filter(|r| r.pick.is_some()).count(), 8);
    // figure order: live first, worst before typical
    let order: Vec<&str> = figure_rows(&rows).iter().map(|r| r.video.as_str()).collect();
    assert_eq!(&order[..3], ["l3", "l2", "l5"]);
    assert_eq!(order[4], "p2");
    // a class smaller than 2n: every video picked once
    let mut two = vec![row("a", true, 0.3), row("b", true, 0.4)];
    pick_grid_rows(&mut two, 2);
    assert_eq!((two[0].pick, two[1].pick), (Some(Pick::Worst(0)), Some(Pick::Worst(1))));
}

#[test]
fn threshold_sets_error_flag() {
    let mut l = row("l", true, 0.3);
    l.set_threshold(0.5);
    let mut a = row("a", false, 0.5);
    a.set_threshold(0.5);
    let mut ok = row("ok", false, 0.49);
    ok.set_threshold(0.5);
    assert_eq!((l.error, a.error, ok.error), (Some(true), Some(true), Some(false)));
}

#[test]
fn error_rows_are_framed_in_red() {
    let dir = tmp("frame");
    std::fs::create_dir_all(&dir).unwrap();
    let (mut bad, mut good) = (row("bad", true, 0.1), row("good", true, 0.9));
    bad.set_threshold(0.5);
    good.set_threshold(0.5);
    let path = dir.join("g.png");
    let red = |p: &image::Rgb<u8>| p[0] > 150 && p[1] < 50;
    let top = 7 + 6 + 2 * 6 + 2 * (7 + 4); // header, gap, two title lines
    write_depth_grid(&path, &[bad]).unwrap();
    let img = image::open(&path).unwrap().to_rgb8();
    assert!(red(img.get_pixel(5, top + 10)), "{:?}", img.get_pixel(5, top + 10));
    write_depth_grid(&path, &[good]).unwrap();
    let img = image::open(&path).unwrap().to_rgb8();
    assert!(!red(img.get_pixel(5, top + 10)));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn score_panels_count_errors_per_class() {
    let dir = tmp("panels");
    std::fs::create_dir_all(&dir).unwrap();
    // two live videos in the lowest bin, under the replay ones: each class has its own panel
    let videos = vec![
        ScoredVideo::new("l0", "live", 1, 0.01),
        ScoredVideo::new("l1", "live", 1, 0.02),
        ScoredVideo::new("l2", "live", 1, 0.8),
        ScoredVideo::new("r0", "replay", 0, 0.015),
        ScoredVideo::new("r1", "replay", 0, 0.6),
        ScoredVideo::new("p0", "print", 0, 0.1),
    ];
    let path = dir.join("p.svg");
    write_score_panels(&path, &videos, 0.5, "dev EER of A").unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.contains("live (3 videos): <tspan fill=\"#c00000\">2 rejected"), "{svg}");
    assert!(svg.contains("replay (2 videos): <tspan fill=\"#c00000\">1 accepted as live"));
    assert!(svg.contains("print (1 videos): <tspan fill=\"#006000\">0 accepted"));
    assert!(svg.contains("3 of 6 videos misclassified") && svg.contains("dev EER of A"));
    // one tick per video, red for the three errors
    assert_eq!(svg.matches("<title>").count(), 6);
    assert_eq!(svg.matches("stroke=\"#c00000\" stroke-width=\"1.5\"").count(), 3);
    assert!(write_score_panels(&path, &videos, f64::NAN, "x").is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn depth_png_uses_the_shared_scale() {
    let dir = tmp("depthpng");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("d.png");
    // left half 0, right half 1 (and out-of-range values clamp onto the same scale)
    let map: Vec<f32> = (0..16 * 16).map(|i| if i % 16 < 8 { -0.5 } else { 1.5 }).collect();
    // a smooth bump to look at (TDFAS_KEEP_PNG=file keeps it)
    if let Some(keep) = std::env::var_os("TDFAS_KEEP_PNG") {
        let bump: Vec<f32> = grid_rows(16)[0].multi_depth.clone();
        write_depth_png(std::path::Path::new(&keep), &bump, 16, "face.mp4 clip0 d_fusion t0").unwrap();
    }
    write_depth_png(&path, &map, 16, "clip0 d_fusion t0").unwrap();
    let img = image::open(&path).unwrap().to_rgb8();
    assert_eq!(img.width(), 16 * 12 + 2 * 6);
    let y = 6 + 13 + 96;
    assert_eq!(*img.get_pixel(6 + 20, y), viridis(0.0));
    assert_eq!(*img.get_pixel(6 + 180, y), viridis(1.0));
    // the colour bar runs from viridis(0) to viridis(1)
    let bar_y = 6 + 13 + 192 + 6 + 5;
    assert_eq!(*img.get_pixel(6, bar_y), viridis(0.0));
    assert_eq!(*img.get_pixel(6 + 191, bar_y), viridis(1.0));
    assert!(write_depth_png(&path, &map[1..], 16, "x").is_err());
    assert!(write_depth_png(&path, &[], 0, "x").is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn decimals_tell_close_scores_apart() {
    assert_eq!(distinct_decimals(0.1, 0.5), 4);
    assert_eq!(distinct_decimals(0.497412, 0.497431), 5);
    assert_eq!(distinct_decimals(0.5, 0.5), 8);
}

#[test]
fn provenance_says_what_was_not_recorded() {
    let p = Provenance { checkpoint: "runs/a/model.safetensors".into(), ..Provenance::new() };
    assert!(p.version.starts_with("tdfas ") && p.date.ends_with('Z'));
    let html = page::Page {
        title: "t",
        provenance: &p,
        models: &[],
        hists: &[],
        grid: None,
        owner: None,
        pictures: &Default::default(),
    }
    .html();
    assert!(html.contains("<th>evaluation data</th><td>not recorded</td>"), "{html}");
}

#[test]
fn probit_matches_known_quantiles() {
    assert!(probit(0.5).abs() < 1e-9);
    assert!((probit(0.975) - 1.959963985).abs() < 1e-6);
    assert!((probit(0.001) + 3.090232306).abs() < 1e-6);
}

#[test]
fn plot_writers_reject_empty_input() {
    let p = std::env::temp_dir().join("tdfas_eval_never.svg");
    assert!(write_roc(&p, &[]).is_err());
    assert!(write_det(&p, &[]).is_err());
    assert!(write_histogram(&p, &[], 0.5).is_err());
    assert!(write_score_panels(&p, &[], 0.5, "").is_err());
}
