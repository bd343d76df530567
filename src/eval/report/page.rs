//! The report's index.html: report.html with its `{{name}}` placeholders filled from the parts
//! below (rows of tables and lists, and the sections a report may lack), all in `Page::html`.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::svg::escape as e;
use super::tables::pct;
use super::{distinct_decimals, is_error, or_unrecorded, ModelReport, Provenance};

/// The page with the style and the script that sorts the per-video table by the clicked column
/// (numbers by their data-v value; a second click reverses the order).
const TEMPLATE: &str = include_str!("report.html");

/// `template` with every `{{name}}` replaced by its value, in one pass (a value is never read as a
/// template). A name without a value, or a value without a place, is a bug in this file that
/// every page shows, so every test that writes a page catches it.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut used = vec![false; values.len()];
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find("{{") {
        let end = i + rest[i..].find("}}").expect("report.html: a {{ without }}");
        let name = &rest[i + 2..end];
        let k = values.iter().position(|(n, _)| *n == name);
        let k = k.unwrap_or_else(|| panic!("report.html: no value for {{{{{name}}}}}"));
        used[k] = true;
        out.push_str(&rest[..i]);
        out.push_str(values[k].1);
        rest = &rest[end + 2..];
    }
    if let Some(k) = used.iter().position(|u| !u) {
        panic!("report.html has no {{{{{}}}}}", values[k].0);
    }
    out + rest
}

/// What index.html shows.
pub(super) struct Page<'a> {
    pub title: &'a str,
    pub provenance: &'a Provenance,
    pub models: &'a [ModelReport],
    pub hists: &'a [String],
    pub grid: Option<&'a str>,
    /// the model the grid rows (and so the table's pictures) belong to
    pub owner: Option<usize>,
    /// video -> its picture, relative to the report
    pub pictures: &'a HashMap<String, String>,
}

impl Page<'_> {
    pub fn html(&self) -> String {
        fill(
            TEMPLATE,
            &[
                ("title", &e(self.title)),
                ("provenance", &self.provenance_rows()),
                ("threshold_source", &e(or_unrecorded(&self.provenance.threshold_source))),
                ("results", &self.result_rows()),
                ("instruments", &self.instruments()),
                ("operating_points", &self.operating_points()),
                ("plots", &self.plots()),
                ("depth_maps", &self.depth_maps()),
                ("videos", &self.video_table()),
            ],
        )
    }

    fn provenance_rows(&self) -> String {
        let mut s = String::new();
        for (k, v) in self.provenance.fields() {
            let _ = writeln!(s, "<tr><th>{k}</th><td>{}</td></tr>", e(or_unrecorded(v)));
        }
        s
    }

    fn result_rows(&self) -> String {
        let mut s = String::new();
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
        s
    }

    /// APCER per instrument of each model, the worst first.
    fn instruments(&self) -> String {
        let mut s = String::new();
        for m in self.models {
            let per: Vec<String> =
                m.metrics.instruments_worst_first().iter().map(|(k, v)| format!("{} {}%", e(k), pct(*v))).collect();
            let _ = writeln!(s, "<li>{}: {}</li>", e(&m.name), per.join(", "));
        }
        s
    }

    fn operating_points(&self) -> String {
        let mut s = String::new();
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
        s
    }

    /// ROC, DET and each model's score panels (none without models).
    fn plots(&self) -> String {
        if self.models.is_empty() {
            return String::new();
        }
        let mut s =
            String::from("<h2>ROC and DET</h2>\n<img src=\"roc.svg\" alt=\"ROC\"> <img src=\"det.svg\" alt=\"DET\">\n");
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
        s
    }

    /// The depth-map figure (none without grid rows).
    fn depth_maps(&self) -> String {
        let Some(g) = self.grid else { return String::new() };
        let whose = self.owner.map(|i| format!(" of {}", e(&self.models[i].name))).unwrap_or_default();
        format!(
            "<h2>Depth maps{whose}</h2>\n<p>Per class the worst-scored videos (live: lowest score, attacks: highest), \
             then typical ones (nearest the class median); misclassified videos are framed in red. \
             Depth is D_single and, for multi-frame models, D_fusion (the map the score uses).</p>\n\
             <img class=\"grid\" src=\"{g}\" alt=\"depth maps\">\n"
        )
    }

    /// One row per test video of the grid's model (or the first model), sortable by any column;
    /// other models' scores of the same video in extra columns. None without models.
    fn video_table(&self) -> String {
        let mut s = String::new();
        let Some(main) = self.owner.or(if self.models.is_empty() { None } else { Some(0) }) else {
            return s;
        };
        let m = &self.models[main];
        let others: Vec<(&ModelReport, HashMap<&str, f64>)> = self
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
        s
    }
}

#[cfg(test)]
mod tests {
    use super::fill;

    #[test]
    fn fill_reads_no_value_as_a_template() {
        assert_eq!(fill("<{{a}}|{{b}}|{{a}}>", &[("a", "{{b}}"), ("b", "x")]), "<{{b}}|x|{{b}}>");
    }

    #[test]
    #[should_panic(expected = "report.html has no {{c}}")]
    fn fill_refuses_a_value_without_a_place() {
        fill("{{a}}", &[("a", ""), ("c", "")]);
    }
}
