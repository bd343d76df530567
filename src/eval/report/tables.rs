//! The paper's results table in Markdown: per model, or as mean ± std over sub-protocols.

use std::fmt::Write as _;

use crate::eval::metrics::{Metrics, Summary};

/// The columns of both tables.
const HEAD: &str =
    "| Model | APCER (%) | BPCER (%) | ACER (%) | HTER (%) | EER (%) | AUC |\n|---|---:|---:|---:|---:|---:|---:|\n";

/// A rate in percent, 2 decimals.
pub(super) fn pct(x: f64) -> String {
    format!("{:.2}", 100.0 * x)
}

/// Markdown table as the paper prints it: Model | APCER | BPCER | ACER (%), plus HTER, EER (%)
/// and AUC.
pub fn paper_table(rows: &[(String, Metrics)]) -> String {
    let mut s = String::from(HEAD);
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
    let mut s = String::from(HEAD);
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
