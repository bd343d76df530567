//! The terminal progress bar of long loops (training stages, scoring a split).

/// A bar of `len` steps labelled `what`; hidden when `show` is false (tests, `--quiet`).
pub fn progress_bar(show: bool, len: u64, what: &str) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {per_sec} ETA {eta} {msg}")
            .unwrap()
            .progress_chars("=> "),
    );
    bar.set_prefix(what.to_string());
    bar
}
