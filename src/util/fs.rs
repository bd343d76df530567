//! Files written whole or not at all: `write_atomic`, and the cleanup of the temporary files
//! that killed or failed writes leave behind.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// Writes `bytes` to `path` atomically: a temp file in the same folder, fsync, rename over the
/// target, fsync the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp =
        dir.join(format!(".{}.tmp{}", path.file_name().and_then(|n| n.to_str()).unwrap_or("ckpt"), std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes).with_context(|| format!("writing {}", tmp.display()))?;
        f.sync_all().with_context(|| format!("syncing {}", tmp.display()))?;
        drop(f);
        std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
    })();
    if written.is_err() {
        // A partial temp file (disk full) would keep the disk full for the next try.
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The pid in a temporary file's name `.NAME.tmpPID` (as `write_atomic` names them).
fn tmp_pid(file_name: &str, target: &str) -> Option<u32> {
    file_name.strip_prefix('.')?.strip_prefix(target)?.strip_prefix(".tmp")?.parse().ok()
}

/// Whether process `pid` is running; where that cannot be told (no /proc), assume it is.
fn pid_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

/// Removes temporary files (or folders) `.TARGET.tmpPID` of `targets` in `dir` left by writes that were
/// killed or failed. With `all`, the caller holds the folder's lock (no live writer there);
/// otherwise only those of processes no longer running. Returns how many were removed.
pub fn clean_stale_tmp(dir: &Path, targets: &[&str], all: bool) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut n = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let stale = targets
            .iter()
            .filter_map(|t| tmp_pid(name, t))
            .any(|pid| (all && pid != std::process::id()) || !pid_alive(pid));
        if !stale {
            continue;
        }
        let removed = match e.file_type() {
            Ok(t) if t.is_file() => std::fs::remove_file(e.path()).is_ok(),
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(e.path()).is_ok(),
            _ => false,
        };
        if removed {
            eprintln!("removed {} (left by an interrupted write)", e.path().display());
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmp_names_parse() {
        assert_eq!(tmp_pid(".checkpoint.safetensors.tmp123", "checkpoint.safetensors"), Some(123));
        assert_eq!(tmp_pid(".checkpoint.safetensors.tmp", "checkpoint.safetensors"), None);
        assert_eq!(tmp_pid("checkpoint.safetensors", "checkpoint.safetensors"), None);
        assert_eq!(tmp_pid(".model.safetensors.tmp9", "checkpoint.safetensors"), None);
    }
}
