//! Text from outside (file names, checkpoint metadata, dataset names) made safe to print: a name
//! holding terminal escape sequences must not move the cursor, retitle the window or hide output.

use std::path::Path;

/// `s` with every control character (C0, DEL, C1) written as a `\u{..}` escape, so a terminal
/// shows it instead of acting on it.
pub fn shown(s: &str) -> String {
    escape(s, false)
}

/// As `shown`, but line breaks and tabs are kept (for multi-line messages).
pub fn shown_text(s: &str) -> String {
    escape(s, true)
}

/// At most `max` characters of `s`, escaped, with "..." where it was cut: a file's content in a
/// message shows what was wrong with it, never the whole file.
pub fn excerpt(s: &str, max: usize) -> String {
    let cut: String = s.chars().take(max).collect();
    let more = if cut.len() < s.len() { "..." } else { "" };
    format!("{}{more}", shown(&cut))
}

/// A path, lossily decoded and escaped.
pub fn shown_path(p: &Path) -> String {
    shown(&p.to_string_lossy())
}

fn escape(s: &str, keep_layout: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() && !(keep_layout && (c == '\n' || c == '\t')) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// A score and its threshold printed with enough digits to show which is larger (at least 4):
/// "0.4962" and "0.4962" with opposite verdicts would look like a mistake.
pub fn score_and_threshold(score: f64, threshold: f64) -> (String, String) {
    for digits in 4..=17 {
        let (s, t) = (format!("{score:.digits$}"), format!("{threshold:.digits$}"));
        if s != t || score == threshold {
            return (s, t);
        }
    }
    (format!("{score:e}"), format!("{threshold:e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(shown("a\u{1b}[2Jb\u{7}"), "a\\u{1b}[2Jb\\u{7}");
        assert_eq!(shown("x\ny"), "x\\u{a}y");
        assert_eq!(shown_text("x\ny\u{9b}"), "x\ny\\u{9b}");
        assert_eq!(shown("plain é"), "plain é");
    }

    #[test]
    fn close_scores_get_more_digits() {
        assert_eq!(score_and_threshold(0.49621, 0.49624), ("0.49621".into(), "0.49624".into()));
        assert_eq!(score_and_threshold(0.5, 0.25), ("0.5000".into(), "0.2500".into()));
        assert_eq!(score_and_threshold(0.3, 0.3), ("0.3000".into(), "0.3000".into()));
        let (s, t) = score_and_threshold(0.1 + 1e-12, 0.1);
        assert_ne!(s, t);
    }
}
