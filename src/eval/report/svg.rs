//! A minimal hand-written SVG line/bar plot: frame, grid, ticks, axis labels, title, legend.
//! Axes are linear in the coordinates given; callers that want another scale (DET's normal
//! deviate) transform their data and place tick labels at transformed positions.

use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::Path;

pub const PALETTE: [&str; 8] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

const W: f64 = 640.0;
const H: f64 = 480.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;

pub struct Axis {
    pub min: f64,
    pub max: f64,
    pub label: String,
    /// (position in axis coordinates, text)
    pub ticks: Vec<(f64, String)>,
}

impl Axis {
    /// `n + 1` evenly spaced ticks labelled with `decimals` decimals.
    pub fn linear(min: f64, max: f64, label: &str, n: usize, decimals: usize) -> Axis {
        let ticks = (0..=n)
            .map(|i| {
                let v = min + (max - min) * i as f64 / n as f64;
                (v, format!("{v:.decimals$}"))
            })
            .collect();
        Axis { min, max, label: label.to_string(), ticks }
    }
}

pub struct Plot {
    title: String,
    x: Axis,
    y: Axis,
    body: String,
    legend: Vec<(String, String)>,
    /// Legend in the top-left corner instead of the bottom-right one.
    pub legend_top_left: bool,
}

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

impl Plot {
    pub fn new(title: &str, x: Axis, y: Axis) -> Plot {
        Plot { title: title.to_string(), x, y, body: String::new(), legend: Vec::new(), legend_top_left: false }
    }

    fn px(&self, x: f64) -> f64 {
        let t = (x - self.x.min) / (self.x.max - self.x.min);
        LEFT + t.clamp(0.0, 1.0) * (W - LEFT - RIGHT)
    }

    fn py(&self, y: f64) -> f64 {
        let t = (y - self.y.min) / (self.y.max - self.y.min);
        H - BOTTOM - t.clamp(0.0, 1.0) * (H - TOP - BOTTOM)
    }

    /// A line through `pts` (axis coordinates, clamped to the frame).
    pub fn line(&mut self, pts: &[(f64, f64)], color: &str, width: f64, dashed: bool) {
        let coords: Vec<String> = pts.iter().map(|&(x, y)| format!("{:.2},{:.2}", self.px(x), self.py(y))).collect();
        let dash = if dashed { r#" stroke-dasharray="6,4""# } else { "" };
        let _ = writeln!(
            self.body,
            r#"<polyline fill="none" stroke="{color}" stroke-width="{width}"{dash} points="{}"/>"#,
            coords.join(" ")
        );
    }

    /// A filled polygon (e.g. a histogram outline down to y = 0).
    pub fn area(&mut self, pts: &[(f64, f64)], color: &str, opacity: f64) {
        let coords: Vec<String> = pts.iter().map(|&(x, y)| format!("{:.2},{:.2}", self.px(x), self.py(y))).collect();
        let _ = writeln!(
            self.body,
            r#"<polygon fill="{color}" fill-opacity="{opacity}" stroke="{color}" stroke-width="1.5" points="{}"/>"#,
            coords.join(" ")
        );
    }

    /// A vertical line at x with a text label near the top.
    pub fn vline(&mut self, x: f64, color: &str, label: &str) {
        let (px, y0, y1) = (self.px(x), self.py(self.y.min), self.py(self.y.max));
        let _ = writeln!(
            self.body,
            r#"<line x1="{px:.2}" y1="{y0:.2}" x2="{px:.2}" y2="{y1:.2}" stroke="{color}" stroke-width="2" stroke-dasharray="4,3"/>"#
        );
        let _ = writeln!(
            self.body,
            r#"<text x="{:.2}" y="{:.2}" font-size="12" fill="{color}">{}</text>"#,
            px + 4.0,
            y1 + 14.0,
            escape(label)
        );
    }

    pub fn legend_entry(&mut self, text: &str, color: &str) {
        self.legend.push((text.to_string(), color.to_string()));
    }

    pub fn to_svg(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif">"#
        );
        let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let (x0, x1, y0, y1) = (LEFT, W - RIGHT, H - BOTTOM, TOP);
        // Grid and ticks.
        for (v, t) in &self.x.ticks {
            let px = self.px(*v);
            let _ = writeln!(s, r##"<line x1="{px:.2}" y1="{y0}" x2="{px:.2}" y2="{y1}" stroke="#e0e0e0"/>"##);
            let _ = writeln!(s, r#"<line x1="{px:.2}" y1="{y0}" x2="{px:.2}" y2="{}" stroke="black"/>"#, y0 + 5.0);
            let _ = writeln!(
                s,
                r#"<text x="{px:.2}" y="{}" font-size="12" text-anchor="middle">{}</text>"#,
                y0 + 19.0,
                escape(t)
            );
        }
        for (v, t) in &self.y.ticks {
            let py = self.py(*v);
            let _ = writeln!(s, r##"<line x1="{x0}" y1="{py:.2}" x2="{x1}" y2="{py:.2}" stroke="#e0e0e0"/>"##);
            let _ = writeln!(s, r#"<line x1="{}" y1="{py:.2}" x2="{x0}" y2="{py:.2}" stroke="black"/>"#, x0 - 5.0);
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{:.2}" font-size="12" text-anchor="end">{}</text>"#,
                x0 - 8.0,
                py + 4.0,
                escape(t)
            );
        }
        s.push_str(&self.body);
        let _ = writeln!(
            s,
            r#"<rect x="{x0}" y="{y1}" width="{}" height="{}" fill="none" stroke="black"/>"#,
            x1 - x0,
            y0 - y1
        );
        // Axis labels and title.
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" font-size="14" text-anchor="middle">{}</text>"#,
            (x0 + x1) / 2.0,
            H - 15.0,
            escape(&self.x.label)
        );
        let (lx, ly) = (18.0, (y0 + y1) / 2.0);
        let _ = writeln!(
            s,
            r#"<text x="{lx}" y="{ly}" font-size="14" text-anchor="middle" transform="rotate(-90 {lx} {ly})">{}</text>"#,
            escape(&self.y.label)
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="25" font-size="16" font-weight="bold" text-anchor="middle">{}</text>"#,
            W / 2.0,
            escape(&self.title)
        );
        s.push_str(&self.legend_svg());
        s.push_str("</svg>\n");
        s
    }

    /// Legend box in the lower-right (or top-left) corner of the frame.
    fn legend_svg(&self) -> String {
        if self.legend.is_empty() {
            return String::new();
        }
        let longest = self.legend.iter().map(|(t, _)| t.chars().count()).max().unwrap_or(0);
        let (w, h) = (40.0 + 7.0 * longest as f64, 8.0 + 18.0 * self.legend.len() as f64);
        let (x, y) = if self.legend_top_left {
            (LEFT + 10.0, TOP + 10.0)
        } else {
            (W - RIGHT - w - 10.0, H - BOTTOM - h - 10.0)
        };
        let mut s = format!(
            r##"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="white" fill-opacity="0.9" stroke="#888"/>"##
        );
        s.push('\n');
        for (i, (text, color)) in self.legend.iter().enumerate() {
            let ty = y + 18.0 * (i as f64 + 1.0);
            let _ = writeln!(
                s,
                r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{color}" stroke-width="3"/>"#,
                x + 6.0,
                ty - 4.0,
                x + 26.0,
                ty - 4.0
            );
            let _ = writeln!(s, r#"<text x="{:.1}" y="{ty:.1}" font-size="12">{}</text>"#, x + 32.0, escape(text));
        }
        s
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.to_svg()).with_context(|| format!("writing {}", path.display()))
    }
}
