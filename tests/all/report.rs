//! The evaluation report as a reader sees it: written from synthetic scores, then opened in
//! headless Chromium, which must load every image and show one table row per video, and sort
//! the table. Without a Chromium on PATH the browser part is skipped with a notice.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use image::{Rgb, RgbImage};
use tdfas::eval::metrics::at_threshold;
use tdfas::eval::report::{pick_grid_rows, write_report_with, GridRow, ModelReport, Provenance};
use tdfas::eval::ScoredVideo;

const MAP: usize = 8;

/// 4 live, 3 print, 3 replay videos; a live one scores low and a print high, so errors exist.
fn videos(shift: f64) -> Vec<ScoredVideo> {
    let mut v = Vec::new();
    for (i, s) in [0.9, 0.8, 0.75, 0.1].iter().enumerate() {
        v.push(ScoredVideo::new(&format!("test/live/id{i}_live"), "live", 1, s - shift));
    }
    for (i, s) in [0.2, 0.3, 0.85].iter().enumerate() {
        v.push(ScoredVideo::new(&format!("test/print/id{i}_print1"), "print1", 0, s - shift));
    }
    for (i, s) in [0.05, 0.4, 0.35].iter().enumerate() {
        v.push(ScoredVideo::new(&format!("test/replay/id{i}_replay1"), "replay1", 0, s - shift));
    }
    v
}

fn row(v: &ScoredVideo) -> GridRow {
    let live = v.is_live();
    let depth: Vec<f32> = (0..MAP * MAP).map(|i| if live { (i % MAP) as f32 / MAP as f32 } else { 0.05 }).collect();
    GridRow {
        class: if live { "live".into() } else { v.instrument.trim_end_matches(char::is_numeric).to_string() },
        rgb: RgbImage::from_fn(96, 96, |x, y| Rgb([x as u8 * 2, y as u8 * 2, if live { 200 } else { 40 }])),
        single_depth: depth.clone(),
        multi_depth: depth,
        map: MAP,
        score: v.score,
        video: v.video_id.clone(),
        instrument: v.instrument.clone(),
        label: v.label,
        threshold: None,
        error: None,
        pick: None,
    }
}

fn write_synthetic_report(dir: &Path) -> Vec<ScoredVideo> {
    let main = videos(0.0);
    let models: Vec<ModelReport> = [("Model 4 (FAS-TD)", main.clone()), ("Model 1 (single-frame)", videos(0.05))]
        .into_iter()
        .map(|(name, test)| ModelReport { name: name.into(), metrics: at_threshold(&test, 0.5).unwrap(), test })
        .collect();
    let mut grid: Vec<GridRow> = main.iter().map(row).collect();
    pick_grid_rows(&mut grid, 1);
    let provenance = Provenance {
        checkpoint: "runs/a/model.safetensors".into(),
        config: "tiny preset, variant 4".into(),
        training_data: "synthetic domain_A".into(),
        evaluation_data: "synthetic domain_B, test split".into(),
        protocol: "domain_B".into(),
        threshold_source: "dev EER of domain_A".into(),
        adapter: "llvmpipe".into(),
        ..Provenance::new()
    };
    write_report_with(dir, "Report <test> & co", &models, &grid, &provenance).unwrap();
    main
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tdfas_report_{name}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Every `src="..."` in the page.
fn sources(html: &str) -> Vec<String> {
    html.split("src=\"").skip(1).filter_map(|s| s.split('"').next()).map(str::to_string).collect()
}

#[test]
fn report_page_links_every_picture_and_lists_every_video() {
    let dir = tmp("static");
    let main = write_synthetic_report(&dir);
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    let body = html.split("<tbody>").nth(1).and_then(|b| b.split("</tbody>").next()).unwrap();
    assert_eq!(body.matches("<tr").count(), main.len());
    // the 2 misclassified videos (live 0.1, print 0.85) are flagged
    assert_eq!(body.matches("class=\"err\"").count(), 2);
    for v in &main {
        assert!(body.contains(&v.video_id), "{} not in the table", v.video_id);
    }
    let srcs = sources(&html);
    // ROC, DET, 2 score panels, the depth grid, one picture per video
    assert_eq!(srcs.len(), 5 + main.len(), "{srcs:?}");
    for s in &srcs {
        assert!(dir.join(s).is_file(), "{s} missing");
    }
    for needle in ["runs/a/model.safetensors", "dev EER of domain_A", "llvmpipe", "Report &lt;test&gt; &amp; co"] {
        assert!(html.contains(needle), "{needle} not in index.html");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(json["provenance"]["protocol"], "domain_B");
    let _ = std::fs::remove_dir_all(&dir);
}

fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TDFAS_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| ["chromium", "chromium-browser", "google-chrome"].map(|n| d.join(n)))
        .find(|p| p.is_file())
}

/// Runs chromium headless with `args`, killed after `limit`; its stdout.
fn chromium(bin: &Path, args: &[&str], limit: Duration) -> String {
    let mut child = Command::new(bin)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=10000"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting chromium");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("waiting for chromium").is_some() {
            break;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("chromium ran past {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().expect("chromium output");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// After load: how many images, how many failed, table rows, and whether a click on the score
/// header sorts the table by score.
const CHECK_JS: &str = r#"<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (i) { return !i.complete || i.naturalWidth === 0; });
  var table = document.querySelector('table.videos');
  var rows = table.tBodies[0].rows.length;
  var col = Array.prototype.findIndex.call(table.tHead.rows[0].cells, function (c) { return c.textContent === 'score'; });
  table.tHead.rows[0].cells[col].click();
  var s = Array.prototype.map.call(table.tBodies[0].rows, function (r) { return parseFloat(r.cells[col].textContent); });
  var sorted = s.every(function (x, k) { return k === 0 || s[k - 1] <= x; });
  var pre = document.createElement('pre');
  pre.id = 'check';
  pre.textContent = 'images=' + imgs.length + ' broken=' + broken.length + ' rows=' + rows + ' sorted=' + sorted +
    ' missing=' + broken.map(function (i) { return i.getAttribute('src'); }).join(',');
  document.body.appendChild(pre);
});
</script>
"#;

#[test]
fn report_renders_in_headless_chromium() {
    let Some(bin) = find_chromium() else {
        eprintln!("NOTICE: no chromium on PATH (apt-get install -y chromium); browser check of the report skipped");
        return;
    };
    let dir = tmp("browser");
    let main = write_synthetic_report(&dir);
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    // a copy with the check appended, next to the original so relative links resolve alike
    let check = dir.join("check.html");
    std::fs::write(&check, html.replace("</body>", &format!("{CHECK_JS}</body>"))).unwrap();
    let url = format!("file://{}", check.display());
    let dom = chromium(&bin, &["--dump-dom", &url], Duration::from_secs(120));
    let result = dom
        .split("<pre id=\"check\">")
        .nth(1)
        .and_then(|s| s.split("</pre>").next())
        .unwrap_or_else(|| panic!("no check result in the DOM:\n{}", &dom[..dom.len().min(2000)]));
    let n_images = 5 + main.len();
    assert_eq!(result, format!("images={n_images} broken=0 rows={} sorted=true missing=", main.len()), "browser check");
    // a screenshot to look at: kept where TDFAS_REPORT_SHOT says, else in the temp dir
    let shot = std::env::var_os("TDFAS_REPORT_SHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("tdfas_report_screenshot.png"));
    let arg = format!("--screenshot={}", shot.display());
    let index = format!("file://{}", dir.join("index.html").display());
    chromium(&bin, &[&arg, "--window-size=1100,4200", &index], Duration::from_secs(120));
    let png = image::open(&shot).expect("reading the screenshot").to_rgb8();
    assert_eq!(png.dimensions(), (1100, 4200));
    eprintln!("screenshot: {}", shot.display());
    let _ = std::fs::remove_dir_all(&dir);
}
