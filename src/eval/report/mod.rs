//! Reports: the paper's results table, ROC / DET / histogram SVGs, the depth-map figure (PNG),
//! and a directory with a JSON of every number and an index.html tying them together (page.rs,
//! from the template report.html).

mod grid;
mod page;
mod plots;
mod svg;
mod tables;
#[cfg(test)]
mod tests;

pub use grid::{
    distinct_decimals, figure_rows, pick_grid_rows, viridis, write_depth_grid, write_depth_png, GridRow, Pick,
};
pub use plots::{is_error, probit, write_det, write_histogram, write_roc, write_score_panels};
pub use tables::{paper_table, paper_table_mean_std};

use super::metrics::{roc, Metrics, RocPoint};
use super::ScoredVideo;
use anyhow::{Context, Result};
use serde::Serialize;
use std::path::Path;

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
    pub(super) fn fields(&self) -> [(&'static str, &str); 9] {
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

pub(super) fn or_unrecorded(s: &str) -> &str {
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

/// Whether `name` is one of the entries a report folder holds (see `write_report`; `cross` is
/// the demo's cross-domain report inside its report).
fn report_entry(name: &str) -> bool {
    const FIXED: [&str; 8] =
        ["index.html", "metrics.json", "table.md", "roc.svg", "det.svg", "depth_grid.png", "videos", "cross"];
    name == crate::util::outputs::OWNED_MARKER
        || FIXED.contains(&name)
        || (name.starts_with("hist_") && name.ends_with(".svg"))
}

/// Fails, before any work, when `dir` cannot take a report: a file is there, or a folder that
/// is not a tdfas report (no marker, or files of the user's beside the report's, which replacing
/// the folder would delete), unless `overwrite`.
pub fn check_report_dir(dir: &Path, overwrite: bool) -> Result<()> {
    let Ok(m) = std::fs::symlink_metadata(dir) else { return Ok(()) };
    if !m.is_dir() {
        anyhow::bail!("--report {}: {} is there, not a folder", dir.display(), crate::util::fs::kind(&m));
    }
    let (mut foreign, mut empty) = (Vec::new(), true);
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let name = entry.with_context(|| format!("reading {}", dir.display()))?.file_name();
        let name = name.to_string_lossy();
        empty = false;
        if !report_entry(&name) {
            foreign.push(crate::util::text::shown(&name));
        }
    }
    let owned = crate::util::outputs::is_owned(dir);
    if overwrite || empty {
        return Ok(());
    }
    if !owned {
        anyhow::bail!(
            "--report {} is a folder that tdfas did not write: not replacing it (choose another path, or pass --overwrite)",
            dir.display()
        );
    }
    if !foreign.is_empty() {
        foreign.sort();
        anyhow::bail!(
            "--report {} holds {} besides a report ({}{}): replacing the folder would delete them; choose another \
             path, move them away, or pass --overwrite",
            dir.display(),
            if foreign.len() == 1 { "an entry".to_string() } else { format!("{} entries", foreign.len()) },
            foreign.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
            if foreign.len() > 5 { ", ..." } else { "" }
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
            // a file name stays under the file system's 255 bytes whatever the clip's name
            let name = format!("videos/{i:04}_{}.png", slug(&r.video).chars().take(120).collect::<String>());
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
    let page = page::Page { title, provenance, models, hists: &hists, grid: grid_file, owner, pictures: &pictures };
    write(dir, "index.html", &page.html())
}

fn write(dir: &Path, name: &str, text: &str) -> Result<()> {
    let p = dir.join(name);
    std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))
}
