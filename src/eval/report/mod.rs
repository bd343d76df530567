//! Reports: the paper's results table, ROC / DET / histogram SVGs, the depth-map figure (PNG),
//! and a directory with a JSON of every number and an index.html tying them together.

pub(crate) mod font;
mod grid;
mod plots;
mod svg;

pub use grid::{viridis, write_depth_grid, GridRow};
pub use plots::{probit, write_det, write_histogram, write_roc};

use super::metrics::{roc, Metrics, RocPoint, Summary};
use super::ScoredVideo;
use anyhow::{Context, Result};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;

fn pct(x: f64) -> String {
    format!("{:.2}", 100.0 * x)
}

/// Markdown table as the paper prints it: Model | APCER | BPCER | ACER (%), plus HTER, EER (%)
/// and AUC.
pub fn paper_table(rows: &[(String, Metrics)]) -> String {
    let mut s = String::from("| Model | APCER (%) | BPCER (%) | ACER (%) | HTER (%) | EER (%) | AUC |\n");
    s.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
    for (name, m) in rows {
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {} | {} | {} | {:.4} |",
            pct(m.apcer),
            pct(m.bpcer),
            pct(m.acer),
            pct(m.hter),
            pct(m.eer),
            m.auc
        );
    }
    s
}

/// The same table as mean ± std over sub-protocols (OULU-NPU protocols 3 and 4).
pub fn paper_table_mean_std(rows: &[(String, Summary)]) -> String {
    let ms = |(m, s): (f64, f64)| format!("{:.2} ± {:.2}", 100.0 * m, 100.0 * s);
    let mut s = String::from("| Model | APCER (%) | BPCER (%) | ACER (%) | HTER (%) | EER (%) | AUC |\n");
    s.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
    for (name, m) in rows {
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {} | {} | {} | {:.4} ± {:.4} |",
            ms(m.apcer),
            ms(m.bpcer),
            ms(m.acer),
            ms(m.hter),
            ms(m.eer),
            m.auc.0,
            m.auc.1
        );
    }
    s
}

/// One model's results on the test set (metrics usually from `metrics::evaluate`).
pub struct ModelReport {
    pub name: String,
    pub metrics: Metrics,
    /// Per-video test scores the metrics were computed from.
    pub test: Vec<ScoredVideo>,
}

#[derive(Serialize)]
struct ModelJson<'a> {
    name: &'a str,
    metrics: &'a Metrics,
    roc: &'a [RocPoint],
    histogram: String,
    videos: &'a [ScoredVideo],
}

#[derive(Serialize)]
struct ReportJson<'a> {
    title: &'a str,
    table_markdown: String,
    models: Vec<ModelJson<'a>>,
    depth_grid: Option<&'static str>,
}

/// File-name-safe version of a model name.
fn slug(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect()
}

/// Writes into `dir`: metrics.json, table.md, roc.svg, det.svg, hist_<i>_<model>.svg,
/// depth_grid.png (when `grid` is not empty) and index.html.
pub fn write_report(dir: &Path, title: &str, models: &[ModelReport], grid: &[GridRow]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut curves: Vec<(String, Vec<RocPoint>)> = Vec::new();
    let mut hists = Vec::new();
    for (i, m) in models.iter().enumerate() {
        let pts = roc(&m.test).with_context(|| format!("report: model '{}'", m.name))?;
        curves.push((m.name.clone(), pts));
        let hist = format!("hist_{i}_{}.svg", slug(&m.name));
        write_histogram(&dir.join(&hist), &m.test, m.metrics.threshold)?;
        hists.push(hist);
    }
    if !models.is_empty() {
        write_roc(&dir.join("roc.svg"), &curves)?;
        write_det(&dir.join("det.svg"), &curves)?;
    }
    let grid_file = if grid.is_empty() {
        None
    } else {
        write_depth_grid(&dir.join("depth_grid.png"), grid)?;
        Some("depth_grid.png")
    };
    let rows: Vec<(String, Metrics)> = models.iter().map(|m| (m.name.clone(), m.metrics.clone())).collect();
    let table = paper_table(&rows);
    let json = ReportJson {
        title,
        table_markdown: table.clone(),
        models: models
            .iter()
            .zip(&curves)
            .zip(&hists)
            .map(|((m, (_, pts)), h)| ModelJson {
                name: &m.name,
                metrics: &m.metrics,
                roc: pts,
                histogram: h.clone(),
                videos: &m.test,
            })
            .collect(),
        depth_grid: grid_file,
    };
    write(dir, "metrics.json", &serde_json::to_string_pretty(&json)?)?;
    write(dir, "table.md", &table)?;
    write(dir, "index.html", &index_html(title, &rows, &hists, !models.is_empty(), grid_file))
}

fn write(dir: &Path, name: &str, text: &str) -> Result<()> {
    let p = dir.join(name);
    std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))
}

fn index_html(title: &str, rows: &[(String, Metrics)], hists: &[String], curves: bool, grid: Option<&str>) -> String {
    let e = svg::escape;
    let mut s = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title>\n<style>body{{font-family:sans-serif;margin:2em}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}\
         td:first-child{{text-align:left}}img{{max-width:100%}}</style></head><body>\n<h1>{t}</h1>\n",
        t = e(title)
    );
    s.push_str("<h2>Results (test set, threshold = dev EER threshold)</h2>\n<table>\n<tr><th>Model</th><th>APCER (%)</th><th>BPCER (%)</th><th>ACER (%)</th><th>HTER (%)</th><th>EER (%)</th><th>AUC</th><th>threshold</th><th>live / attack</th></tr>\n");
    for (name, m) in rows {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{} / {}</td></tr>",
            e(name),
            pct(m.apcer),
            pct(m.bpcer),
            pct(m.acer),
            pct(m.hter),
            pct(m.eer),
            m.auc,
            m.threshold,
            m.n_live,
            m.n_attack
        );
    }
    s.push_str("</table>\n<p>APCER per instrument:</p>\n<ul>\n");
    for (name, m) in rows {
        let per: Vec<String> = m.apcer_per_instrument.iter().map(|(k, v)| format!("{} {}%", e(k), pct(*v))).collect();
        let _ = writeln!(s, "<li>{}: {}</li>", e(name), per.join(", "));
    }
    s.push_str("</ul>\n");
    if curves {
        s.push_str("<h2>ROC and DET</h2>\n<img src=\"roc.svg\" alt=\"ROC\"> <img src=\"det.svg\" alt=\"DET\">\n");
    }
    if !hists.is_empty() {
        s.push_str("<h2>Score distributions</h2>\n");
        for (h, (name, _)) in hists.iter().zip(rows) {
            let _ =
                writeln!(s, "<figure><img src=\"{h}\" alt=\"histogram\"><figcaption>{}</figcaption></figure>", e(name));
        }
    }
    if let Some(g) = grid {
        let _ = writeln!(s, "<h2>Depth maps</h2>\n<img src=\"{g}\" alt=\"depth maps\">");
    }
    s.push_str("<p>All numbers: <a href=\"metrics.json\">metrics.json</a></p>\n</body></html>\n");
    s
}

#[cfg(test)]
mod tests {
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
        let line = 7 + 6; // scale 1 text (titles do not fit 64 px at scale 2)
        let live_y = line + 2 * 6 + line + 24;
        let print_y = live_y + 48 + 6 + line;
        let cx = 2 * 6 + 64 + 32;
        let (live, print) = (img.get_pixel(cx, live_y), img.get_pixel(cx, print_y));
        assert!(live[1] > 150 && print[1] < 80, "live {live:?} print {print:?}");
        // Bad depth length is an error, not a panic.
        let mut bad = grid_rows(8);
        bad[1].multi_depth.pop();
        assert!(write_depth_grid(&path, &bad).is_err());
        assert!(write_depth_grid(&path, &[]).is_err());
        let _ = std::fs::remove_dir_all(&dir);
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
    }
}
