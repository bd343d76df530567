//! Reports: the paper's results table, ROC / DET / histogram SVGs, the depth-map figure (PNG),
//! and a directory with a JSON of every number and an index.html tying them together.

mod grid;
mod plots;
mod svg;

pub use grid::{
    distinct_decimals, figure_rows, pick_grid_rows, viridis, write_depth_grid, write_depth_png, GridRow, Pick,
};
pub use plots::{is_error, probit, write_det, write_histogram, write_roc, write_score_panels};

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

/// Where a report's numbers come from, printed at its top and stored in metrics.json. Free
/// text; an empty field is shown as "not recorded".
#[derive(Clone, Debug, Default, Serialize)]
pub struct Provenance {
    /// checkpoint file(s) evaluated
    pub checkpoint: String,
    /// the model's configuration (preset, variant, sizes)
    pub config: String,
    /// what the checkpoint was trained on (dataset root, protocol)
    pub training_data: String,
    /// dataset root and split evaluated
    pub evaluation_data: String,
    pub protocol: String,
    /// how the threshold was fixed, e.g. "dev EER of runs/a, protocol all" or "--threshold"
    pub threshold_source: String,
    /// GPU adapter the scores were computed on
    pub adapter: String,
    pub version: String,
    /// UTC, ISO 8601
    pub date: String,
}

impl Provenance {
    /// Version and date filled in, everything else not recorded.
    pub fn new() -> Provenance {
        Provenance {
            version: format!("tdfas {}", env!("CARGO_PKG_VERSION")),
            date: crate::util::time::utc_now(),
            ..Provenance::default()
        }
    }

    /// (label, value) pairs in display order.
    fn fields(&self) -> [(&'static str, &str); 9] {
        [
            ("checkpoint", &self.checkpoint),
            ("model config", &self.config),
            ("training data", &self.training_data),
            ("evaluation data", &self.evaluation_data),
            ("protocol", &self.protocol),
            ("threshold source", &self.threshold_source),
            ("adapter", &self.adapter),
            ("version", &self.version),
            ("date", &self.date),
        ]
    }
}

fn or_unrecorded(s: &str) -> &str {
    if s.trim().is_empty() {
        "not recorded"
    } else {
        s
    }
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
    provenance: &'a Provenance,
    table_markdown: String,
    models: Vec<ModelJson<'a>>,
    depth_grid: Option<&'static str>,
}

/// File-name-safe version of a model name.
fn slug(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect()
}

/// Index of the model whose test scores the grid rows are (the most rows whose video has
/// exactly that score), None when no row matches.
fn grid_model(models: &[ModelReport], grid: &[GridRow]) -> Option<usize> {
    let matches = |m: &ModelReport| {
        let scores: std::collections::HashMap<&str, f64> =
            m.test.iter().map(|v| (v.video_id.as_str(), v.score)).collect();
        grid.iter().filter(|r| scores.get(r.video.as_str()) == Some(&r.score)).count()
    };
    let (i, n) = models.iter().enumerate().map(|(i, m)| (i, matches(m))).max_by_key(|&(i, n)| (n, usize::MAX - i))?;
    (n > 0).then_some(i)
}

/// Writes into `dir`: metrics.json, table.md, roc.svg, det.svg, hist_<i>_<model>.svg (per-class
/// score panels), depth_grid.png (when `grid` is not empty), videos/*.png (one picture per grid
/// row, linked from the per-video table) and index.html. Provenance: version and date only; see
/// `write_report_with`.
pub fn write_report(dir: &Path, title: &str, models: &[ModelReport], grid: &[GridRow]) -> Result<()> {
    write_report_with(dir, title, models, grid, &Provenance::new())
}

/// `write_report` with the report's provenance printed at its top and stored in metrics.json.
/// The depth figure shows the rows of `grid` that `pick_grid_rows` picked (all rows when none
/// is picked); rows without a threshold take that of the model whose test scores they carry.
///
/// The report is written into a temporary sibling folder and moved into place whole: a killed
/// run never leaves one model's page beside another model's plots.
pub fn write_report_with(
    dir: &Path,
    title: &str,
    models: &[ModelReport],
    grid: &[GridRow],
    provenance: &Provenance,
) -> Result<()> {
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "report".into());
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    crate::util::fs::clean_stale_tmp(parent, &[&name, &format!("{name}.old")], false);
    crate::util::fs::write_dir_atomic(dir, |tmp| {
        write_report_files(tmp, title, models, grid, provenance)?;
        write(tmp, crate::util::outputs::OWNED_MARKER, "written by tdfas eval; tdfas may replace this folder\n")
    })
}

/// Fails, before any work, when `dir` cannot take a report: a file is there, or a folder that
/// tdfas did not write (unless `overwrite`).
pub fn check_report_dir(dir: &Path, overwrite: bool) -> Result<()> {
    let Ok(m) = std::fs::metadata(dir) else { return Ok(()) };
    if !m.is_dir() {
        anyhow::bail!("--report {}: {} is there, not a folder", dir.display(), crate::util::fs::kind(&m));
    }
    let empty = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?.next().is_none();
    let owned = dir.join(crate::util::outputs::OWNED_MARKER).is_file()
        || (dir.join("index.html").is_file() && dir.join("metrics.json").is_file());
    if !empty && !owned && !overwrite {
        anyhow::bail!(
            "--report {} is a folder that tdfas did not write: not replacing it (choose another path, or pass --overwrite)",
            dir.display()
        );
    }
    Ok(())
}

fn write_report_files(
    dir: &Path,
    title: &str,
    models: &[ModelReport],
    grid: &[GridRow],
    provenance: &Provenance,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let source = or_unrecorded(&provenance.threshold_source);
    let mut curves: Vec<(String, Vec<RocPoint>)> = Vec::new();
    let mut hists = Vec::new();
    for (i, m) in models.iter().enumerate() {
        let pts = roc(&m.test).with_context(|| format!("report: model '{}'", m.name))?;
        curves.push((m.name.clone(), pts));
        let hist = format!("hist_{i}_{}.svg", slug(&m.name));
        write_score_panels(&dir.join(&hist), &m.test, m.metrics.threshold, source)?;
        hists.push(hist);
    }
    if !models.is_empty() {
        write_roc(&dir.join("roc.svg"), &curves)?;
        write_det(&dir.join("det.svg"), &curves)?;
    }
    let owner = grid_model(models, grid);
    let threshold_of = |r: &GridRow| r.threshold.or_else(|| owner.map(|i| models[i].metrics.threshold));
    let resolved = |r: &GridRow| {
        let mut r = r.clone();
        if let Some(t) = threshold_of(&r) {
            if r.threshold.is_none() || r.error.is_none() {
                r.set_threshold(t);
            }
        }
        r
    };
    let grid_file = if grid.is_empty() {
        None
    } else {
        let picked = figure_rows(grid);
        let rows: Vec<GridRow> = if picked.is_empty() {
            grid.iter().map(resolved).collect()
        } else {
            picked.into_iter().map(resolved).collect()
        };
        write_depth_grid(&dir.join("depth_grid.png"), &rows)?;
        Some("depth_grid.png")
    };
    // one picture per video for the table
    let mut pictures = std::collections::HashMap::new();
    if !grid.is_empty() {
        let vdir = dir.join("videos");
        std::fs::create_dir_all(&vdir).with_context(|| format!("creating {}", vdir.display()))?;
        for (i, r) in grid.iter().enumerate() {
            let name = format!("videos/{i:04}_{}.png", slug(&r.video));
            write_depth_grid(&dir.join(&name), &[resolved(r)])?;
            pictures.insert(r.video.clone(), name);
        }
    }
    let rows: Vec<(String, Metrics)> = models.iter().map(|m| (m.name.clone(), m.metrics.clone())).collect();
    let table = paper_table(&rows);
    let json = ReportJson {
        title,
        provenance,
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
    let page = Page { title, provenance, models, hists: &hists, grid: grid_file, owner, pictures: &pictures };
    write(dir, "index.html", &page.html())
}

fn write(dir: &Path, name: &str, text: &str) -> Result<()> {
    let p = dir.join(name);
    std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))
}

struct Page<'a> {
    title: &'a str,
    provenance: &'a Provenance,
    models: &'a [ModelReport],
    hists: &'a [String],
    grid: Option<&'a str>,
    /// the model the grid rows (and so the table's pictures) belong to
    owner: Option<usize>,
    /// video -> its picture, relative to the report
    pictures: &'a std::collections::HashMap<String, String>,
}

/// Sorts the per-video table by the clicked column (numbers by their data-v value); a second
/// click reverses the order.
const SORT_JS: &str = r#"<script>
document.querySelectorAll('table.videos th').forEach(function (th, col) {
  th.addEventListener('click', function () {
    var body = th.closest('table').tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var dir = th.dataset.dir === 'asc' ? -1 : 1;
    th.dataset.dir = dir === 1 ? 'asc' : 'desc';
    var key = function (r) { var c = r.cells[col]; return c.dataset.v !== undefined ? c.dataset.v : c.textContent; };
    rows.sort(function (a, b) {
      var x = key(a), y = key(b), nx = parseFloat(x), ny = parseFloat(y);
      if (!isNaN(nx) && !isNaN(ny)) return dir * (nx - ny);
      return dir * x.localeCompare(y);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
</script>
"#;

impl Page<'_> {
    fn html(&self) -> String {
        let e = svg::escape;
        let mut s = format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title>\n<style>body{{font-family:sans-serif;margin:2em}}\
             table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}\
             td:first-child{{text-align:left}}img{{max-width:100%}}table.prov td{{text-align:left}}\
             table.videos th{{cursor:pointer;background:#f0f0f0;text-align:left}}table.videos td{{text-align:left}}\
             tr.err td{{background:#fde8e8}}table.videos img{{height:40px;max-width:none}}\
             img.grid{{width:624px;image-rendering:pixelated}}</style></head><body>\n<h1>{t}</h1>\n",
            t = e(self.title)
        );
        s.push_str("<h2>Provenance</h2>\n<table class=\"prov\">\n");
        for (k, v) in self.provenance.fields() {
            let _ = writeln!(s, "<tr><th>{k}</th><td>{}</td></tr>", e(or_unrecorded(v)));
        }
        s.push_str("</table>\n");
        self.results(&mut s);
        if !self.models.is_empty() {
            s.push_str("<h2>ROC and DET</h2>\n<img src=\"roc.svg\" alt=\"ROC\"> <img src=\"det.svg\" alt=\"DET\">\n");
            s.push_str(
                "<h2>Score distributions</h2>\n<p>One panel per class on a shared score axis; each tick under a panel \
                 is a video, red when misclassified; the shaded side of the dashed threshold is that class's error side.</p>\n",
            );
            for (h, m) in self.hists.iter().zip(self.models) {
                let _ = writeln!(
                    s,
                    "<figure><img src=\"{h}\" alt=\"score panels\"><figcaption>{}</figcaption></figure>",
                    e(&m.name)
                );
            }
        }
        if let Some(g) = self.grid {
            let whose = self.owner.map(|i| format!(" of {}", e(&self.models[i].name))).unwrap_or_default();
            let _ = writeln!(
                s,
                "<h2>Depth maps{whose}</h2>\n<p>Per class the worst-scored videos (live: lowest score, attacks: highest), \
                 then typical ones (nearest the class median); misclassified videos are framed in red. \
                 Depth is D_single and, for multi-frame models, D_fusion (the map the score uses).</p>\n\
                 <img class=\"grid\" src=\"{g}\" alt=\"depth maps\">"
            );
        }
        self.video_table(&mut s);
        s.push_str("<p>All numbers: <a href=\"metrics.json\">metrics.json</a></p>\n");
        s.push_str(SORT_JS);
        s.push_str("</body></html>\n");
        s
    }

    fn results(&self, s: &mut String) {
        let e = svg::escape;
        let _ = writeln!(
            s,
            "<h2>Results (test set)</h2>\n<p>Threshold: {}.</p>\n<table>\n<tr><th>Model</th><th>APCER (%)</th><th>BPCER (%)</th><th>ACER (%)</th><th>HTER (%)</th><th>EER (%)</th><th>AUC</th><th>threshold</th><th>live / attack</th></tr>",
            e(or_unrecorded(&self.provenance.threshold_source))
        );
        for m in self.models {
            let m2 = &m.metrics;
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{} / {}</td></tr>",
                e(&m.name),
                pct(m2.apcer),
                pct(m2.bpcer),
                pct(m2.acer),
                pct(m2.hter),
                pct(m2.eer),
                m2.auc,
                m2.threshold,
                m2.n_live,
                m2.n_attack
            );
        }
        s.push_str("</table>\n<p>APCER per instrument (the worst first):</p>\n<ul>\n");
        for m in self.models {
            let per: Vec<String> =
                m.metrics.instruments_worst_first().iter().map(|(k, v)| format!("{} {}%", e(k), pct(*v))).collect();
            let _ = writeln!(s, "<li>{}: {}</li>", e(&m.name), per.join(", "));
        }
        s.push_str("</ul>\n<p>Operating points (ISO/IEC 30107-3): BPCER at the lowest threshold with APCER at most 1%, 5%, 10%:</p>\n<ul>\n");
        for m in self.models {
            let points: Vec<String> = m
                .metrics
                .operating_points
                .iter()
                .map(|p| {
                    format!(
                        "{}% at APCER &le; {:.0}% (threshold {:.4})",
                        pct(p.bpcer),
                        100.0 * p.apcer_max,
                        p.threshold
                    )
                })
                .collect();
            let _ = writeln!(s, "<li>{}: {}</li>", e(&m.name), points.join(", "));
        }
        s.push_str("</ul>\n");
    }

    /// One row per test video of the grid's model (or the first model), sortable by any column;
    /// other models' scores of the same video in extra columns.
    fn video_table(&self, s: &mut String) {
        let e = svg::escape;
        let Some(main) = self.owner.or(if self.models.is_empty() { None } else { Some(0) }) else {
            return;
        };
        let m = &self.models[main];
        let others: Vec<(&ModelReport, std::collections::HashMap<&str, f64>)> = self
            .models
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != main)
            .map(|(_, o)| (o, o.test.iter().map(|v| (v.video_id.as_str(), v.score)).collect()))
            .collect();
        let t = m.metrics.threshold;
        let n_err = m.test.iter().filter(|v| is_error(v, t)).count();
        // enough decimals to tell neighbouring scores (and the threshold) apart
        let mut xs: Vec<f64> = m.test.iter().map(|v| v.score).chain([t]).collect();
        xs.sort_by(f64::total_cmp);
        let d = xs.windows(2).map(|w| distinct_decimals(w[0], w[1])).max().unwrap_or(4);
        let _ = writeln!(
            s,
            "<h2>Videos: {}</h2>\n<p>{} test videos, {n_err} misclassified at threshold {t:.d$}. Click a column to sort; \
             click a picture for the video's frame and depth maps.</p>\n<table class=\"videos\">\n<thead><tr><th>video</th>\
             <th>picture</th><th>class</th><th>instrument</th><th>score</th><th>verdict</th><th>error</th>",
            e(&m.name),
            m.test.len()
        );
        for (o, _) in &others {
            let _ = write!(s, "<th>score, {}</th>", e(&o.name));
        }
        s.push_str("</tr></thead>\n<tbody>\n");
        for v in &m.test {
            let err = is_error(v, t);
            let class = if v.is_live() { "live" } else { "attack" };
            let verdict = if v.score >= t { "live" } else { "attack" };
            let picture = match self.pictures.get(&v.video_id) {
                Some(p) => format!("<a href=\"{p}\"><img src=\"{p}\" alt=\"{}\"></a>", e(&v.video_id)),
                None => String::new(),
            };
            let _ = write!(
                s,
                "<tr{}><td>{}</td><td data-v=\"{}\">{picture}</td><td>{class}</td><td>{}</td><td data-v=\"{:.9}\">{:.d$}</td>\
                 <td>{verdict}</td><td data-v=\"{}\">{}</td>",
                if err { " class=\"err\"" } else { "" },
                e(&v.video_id),
                e(&v.video_id),
                e(&v.instrument),
                v.score,
                v.score,
                u8::from(err),
                if err { "ERROR" } else { "" }
            );
            for (_, scores) in &others {
                match scores.get(v.video_id.as_str()) {
                    Some(x) => {
                        let _ = write!(s, "<td data-v=\"{x:.9}\">{x:.d$}</td>");
                    }
                    None => s.push_str("<td></td>"),
                }
            }
            s.push_str("</tr>\n");
        }
        s.push_str("</tbody></table>\n");
    }
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
        let html = Page {
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
}
