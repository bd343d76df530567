//! The printed tables of `tdfas bench` and `tdfas profile`, and the JSON of the bench.

use anyhow::Result;

use super::model::Profiles;
use super::{Bound, MemoryRow, Report, Row};

pub(super) fn format_memory(r: &MemoryRow) -> String {
    let name = format!("peak memory {}", r.name);
    match &r.skipped {
        Some(why) => format!("{name:<58} skipped: {why}"),
        None => format!(
            "{name:<58} {:>8.1} MiB pool high-water ({:.1} MiB in live tensors)",
            r.peak_bytes as f64 / 1048576.0,
            r.peak_in_use_bytes as f64 / 1048576.0
        ),
    }
}

pub(super) fn format_row(r: &Row) -> String {
    let num = |x: Option<f64>| x.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into());
    match &r.skipped {
        Some(why) => format!("{:<58} {why}", r.name),
        None => {
            let (rate, unit) = match r.bound {
                Bound::Compute | Bound::Latency => (num(r.gflops), "GFLOP/s"),
                Bound::Memory => (num(r.gbps), "GB/s"),
            };
            let share = r.peak_share.map_or("-".into(), |s| format!("{:.1}%", 100.0 * s));
            format!("{:<58} {:>11.3} {:>10} {:<8} {:>6} {}", r.name, r.ms.unwrap_or(0.0), rate, unit, share, r.shape)
        }
    }
}

impl Report {
    /// The printed table: adapter, date, then one row per benchmark.
    pub fn table(&self) -> String {
        let mut out = format!(
            "tdfas bench, preset {}, {}\nadapter {}\ntiming: {} (max storage binding {:.0} MiB, {} limits)\n",
            self.preset, self.date, self.adapter, self.timing, self.max_binding_mib, self.limits
        );
        if let Some(p) = self.peaks {
            out += &format!(
                "measured peaks: {:.1} GFLOP/s (FMA probe), {:.1} GB/s (copy probe); \"peak\" is each row's share\n",
                p.gflops, p.gbps
            );
        }
        out += &format!("{:<58} {:>11} {:>10} {:<8} {:>6} {}\n", "benchmark", "ms", "rate", "unit", "peak", "shapes");
        for r in &self.rows {
            out += &format_row(r);
            out.push('\n');
        }
        for r in &self.memory {
            out += &format_memory(r);
            out.push('\n');
        }
        out
    }

    pub fn json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }
}

impl Profiles {
    pub fn table(&self) -> String {
        let mut out = format!(
            "tdfas profile, preset {}, {}\nadapter {}\n",
            self.preset,
            crate::util::time::today(),
            self.adapter
        );
        if let Some(p) = self.peaks {
            out += &format!("measured peaks: {:.1} GFLOP/s (FMA probe), {:.1} GB/s (copy probe)\n", p.gflops, p.gbps);
        }
        for (name, p) in &self.phases {
            out += &format!("\n== {name} ==\n{}", p.table_with_peaks(self.peaks.map(|p| (p.gflops, p.gbps))));
        }
        out
    }
}
