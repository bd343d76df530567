//! What a command may write: never one of its own inputs (compared as files, so links and `./`
//! spellings count), and never a file that tdfas did not write unless the user says so.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

/// The file that marks a folder as written (and so deletable) by tdfas.
pub const OWNED_MARKER: &str = ".tdfas-owned";

/// Identity of an existing file or folder: device and inode where the OS has them.
#[cfg(unix)]
fn id(p: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn id(p: &Path) -> Option<PathBuf> {
    p.canonicalize().ok()
}

/// `p` made absolute with its links resolved as far as it exists (a path that does not exist
/// yet keeps its missing tail).
fn resolved(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir().unwrap_or_default().join(p) };
    let mut missing = Vec::new();
    let mut cur = abs.as_path();
    loop {
        if let Ok(c) = cur.canonicalize() {
            return missing.iter().rev().fold(c, |acc: PathBuf, part| acc.join(part));
        }
        match (cur.parent(), cur.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_os_string());
                cur = parent;
            }
            _ => return abs,
        }
    }
}

/// Fails when the output `out` (given by `flag`) is one of `inputs`, or, for a folder that the
/// command clears (`cleared`), a folder holding one.
pub fn refuse_inputs(flag: &str, out: &Path, inputs: &[&Path], cleared: bool) -> Result<()> {
    let out_id = id(out);
    let out_abs = resolved(out);
    for input in inputs {
        let same = out_id.is_some() && id(input) == out_id;
        if same {
            bail!(
                "{flag} {} is one of this command's inputs ({}): refusing to overwrite it",
                out.display(),
                input.display()
            );
        }
        if cleared && resolved(input).starts_with(&out_abs) {
            bail!("{flag} {} holds the input {}: refusing to write there", out.display(), input.display());
        }
    }
    Ok(())
}

/// The input folder among `inputs` that `out` lies inside (links resolved), if any: what is
/// there is data the command reads, which `--overwrite` does not hand over.
pub fn inside_input<'a>(out: &Path, inputs: &[&'a Path]) -> Option<&'a Path> {
    let out_abs = resolved(out);
    inputs.iter().copied().find(|input| {
        let dir = resolved(input);
        input.is_dir() && out_abs != dir && out_abs.starts_with(&dir)
    })
}

/// Fails when `out` exists and is not a regular file, or is a file that `ours` does not
/// recognise as tdfas's own output and `overwrite` was not given.
pub fn refuse_foreign(flag: &str, out: &Path, ours: impl Fn(&Path) -> bool, overwrite: bool) -> Result<()> {
    let Ok(m) = std::fs::metadata(out) else { return Ok(()) };
    if !m.is_file() {
        bail!("{flag} {}: it is {}, not a file tdfas can write", out.display(), crate::util::fs::kind(&m));
    }
    if !overwrite && !ours(out) {
        bail!(
            "{flag} {} exists and was not written by tdfas: not replacing it (choose another path, or pass --overwrite)",
            out.display()
        );
    }
    Ok(())
}

/// Whether `dir` carries tdfas's marker ([`OWNED_MARKER`]), as tdfas writes it.
pub fn is_owned(dir: &Path) -> bool {
    let marker = dir.join(OWNED_MARKER);
    marker.is_file() && head(&marker, 64).starts_with(b"written by tdfas")
}

/// The first `max` bytes of a file (enough to recognise what wrote it).
pub fn head(p: &Path, max: u64) -> Vec<u8> {
    use std::io::Read;
    let mut v = Vec::new();
    if let Ok(f) = std::fs::File::open(p) {
        let _ = f.take(max).read_to_end(&mut v);
    }
    v
}

/// Whether a JSON file (or JSON lines) parses and its first object has every key of `keys`.
pub fn json_with_keys(p: &Path, keys: &[&str]) -> bool {
    if std::fs::metadata(p).map_or(true, |m| m.len() > 256 << 20) {
        return false;
    }
    let Ok(text) = std::fs::read_to_string(p) else { return false };
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let value: Option<serde_json::Value> =
        serde_json::from_str(&text).ok().or_else(|| serde_json::from_str(first).ok());
    value.as_ref().and_then(|v| v.as_object()).is_some_and(|o| keys.iter().all(|k| o.contains_key(*k)))
}

/// Whether a safetensors file's metadata has `format` starting with `prefix`.
pub fn safetensors_format(p: &Path, prefix: &str) -> bool {
    let h = head(p, 1 << 20);
    if h.len() < 8 {
        return false;
    }
    let n = u64::from_le_bytes(h[..8].try_into().unwrap()) as usize;
    let Some(header) = h.get(8..8usize.saturating_add(n)) else { return false };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(header) else { return false };
    v.get("__metadata__").and_then(|m| m.get("format")).and_then(|f| f.as_str()).is_some_and(|f| f.starts_with(prefix))
}

/// Marker text in the PNGs tdfas writes (a tEXt chunk "Software").
pub const PNG_SOFTWARE: &str = "tdfas";

/// Whether a PNG file carries tdfas's tEXt "Software" chunk.
pub fn png_by_tdfas(p: &Path) -> bool {
    let h = head(p, 4096);
    let needle = [b"tEXtSoftware\0".as_slice(), PNG_SOFTWARE.as_bytes()].concat();
    h.starts_with(b"\x89PNG") && h.windows(needle.len()).any(|w| w == needle.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tdfas-outputs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn an_output_that_is_an_input_by_another_name_is_refused() {
        let d = tmp("same");
        let input = d.join("model.safetensors");
        std::fs::write(&input, b"x").unwrap();
        let dotted = d.join(".").join("model.safetensors");
        assert!(refuse_inputs("--out", &dotted, &[&input], false).is_err());
        #[cfg(unix)]
        {
            let link = d.join("link");
            std::os::unix::fs::symlink(&input, &link).unwrap();
            let e = refuse_inputs("--json", &link, &[&input], false).unwrap_err().to_string();
            assert!(e.contains("--json") && e.contains("inputs"), "{e}");
        }
        assert!(refuse_inputs("--out", &d.join("other.json"), &[&input], false).is_ok());
        // a folder output that holds an input
        assert!(refuse_inputs("--report", &d, &[&input], true).is_err());
        assert!(refuse_inputs("--depth-dir", &d, &[&input], false).is_ok());
    }

    #[test]
    fn a_file_tdfas_did_not_write_is_kept_unless_overwrite() {
        let d = tmp("foreign");
        let notes = d.join("notes.json");
        std::fs::write(&notes, "{\"mine\": 1}").unwrap();
        let ours = |p: &Path| json_with_keys(p, &["verdict", "input"]);
        assert!(refuse_foreign("--json", &notes, ours, false).is_err());
        assert!(refuse_foreign("--json", &notes, ours, true).is_ok());
        std::fs::write(
            &notes,
            "{\"input\": \"a\", \"verdict\": \"live\"}\n{\"input\": \"b\", \"verdict\": \"attack\"}\n",
        )
        .unwrap();
        assert!(refuse_foreign("--json", &notes, ours, false).is_ok());
        assert!(refuse_foreign("--json", &d, ours, true).is_err(), "a folder is never a file to write");
    }
}
