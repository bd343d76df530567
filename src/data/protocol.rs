//! Protocol list files: one entry per line, `<label>,<name>` with label +1 (live) or -1
//! (attack) (1 / 0 also accepted). Blank lines and `#` comments are ignored.

use anyhow::{bail, Result};
use std::path::Path;

#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub label: u32,
    pub name: String,
    /// 1-based line number in the file (for messages).
    pub line: usize,
}

/// A protocol's name is a name of the dataset's protocols folder, not a path: `../x` or `/x`
/// would read list files elsewhere.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\', '\0']) {
        bail!(
            "protocol {:?}: a protocol is named by one plain name (no `/`, `..` or leading `.`)",
            crate::util::text::shown(name)
        );
    }
    Ok(())
}

pub fn read(path: &Path) -> Result<Vec<Entry>> {
    let text = crate::util::fs::read_text(path, "protocol file")?;
    parse(&text, &path.display().to_string())
}

pub fn parse(text: &str, file: &str) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    // a byte-order mark, as some Windows editors write, is not part of the first line
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((lab, name)) = line.split_once(',') else {
            bail!("{file}:{}: expected `<+1|-1>,<name>`, got {line:?}", n + 1);
        };
        let label = match lab.trim() {
            "+1" | "1" => 1,
            "-1" | "0" => 0,
            other => bail!("{file}:{}: label must be +1 or -1, got {other:?}", n + 1),
        };
        // `./train/live/x` is `train/live/x`
        let mut name = name.trim();
        while let Some(rest) = name.strip_prefix("./") {
            name = rest;
        }
        if name.is_empty() || name.contains(',') {
            bail!("{file}:{}: bad name {name:?}", n + 1);
        }
        out.push(Entry { label, name: name.to_string(), line: n + 1 });
    }
    Ok(out)
}

/// Formats one entry the way `parse` reads it.
pub fn format_line(label: u32, name: &str) -> String {
    format!("{},{}", if label == 1 { "+1" } else { "-1" }, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_names_file_and_line_on_errors() {
        let ok = parse("+1,1_1_01_1\n\n# c\n-1, 1_1_01_2 \n", "p.txt").unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!((ok[1].label, ok[1].name.as_str(), ok[1].line), (0, "1_1_01_2", 4));
        let e = parse("+1,a\n2,b\n", "Protocol_1/Train.txt").unwrap_err().to_string();
        assert!(e.contains("Protocol_1/Train.txt:2"), "{e}");
        let e = parse("+1 a\n", "x.txt").unwrap_err().to_string();
        assert!(e.contains("x.txt:1"), "{e}");
        assert_eq!(parse(&format_line(0, "v"), "f").unwrap()[0].label, 0);
    }

    #[test]
    fn a_byte_order_mark_and_leading_dot_slashes_are_not_part_of_the_names() {
        let ok = parse("\u{feff}+1,./train/live/a\n-1,././train/print/b\n", "p.txt").unwrap();
        assert_eq!((ok[0].label, ok[0].name.as_str()), (1, "train/live/a"));
        assert_eq!(ok[1].name, "train/print/b");
        for bad in ["../x", "/abs", "a/b", ".hidden", ""] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        check_name("Protocol_1").unwrap();
    }
}
