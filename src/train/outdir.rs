//! Output folders: tdfas deletes only what it wrote (folders carry an ownership marker), one
//! training run at a time per folder (an OS lock naming the holder's pid), and temporary files
//! of killed or failed writes are cleaned up.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The file that marks a folder as written (and so deletable) by tdfas.
pub const MARKER: &str = ".tdfas-owned";

/// Makes `dir` an empty folder marked as tdfas's: creates it, or clears it when it is empty or
/// marked (by [`MARKER`] or one of `also_owned`, files only tdfas writes). A non-empty folder
/// without a marker is the user's: refused, nothing deleted.
pub fn fresh_owned_dir(dir: &Path, writer: &str, also_owned: &[&str]) -> Result<()> {
    if dir.exists() || dir.is_symlink() {
        if !dir.is_dir() {
            bail!("{} exists and is not a folder; {writer} needs a folder there", dir.display());
        }
        let empty = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?.next().is_none();
        if !empty {
            if !is_owned(dir, also_owned) {
                bail!(
                    "{} is not empty and was not written by tdfas (no {MARKER} file in it); not deleting it: \
                     choose another --out, or move its contents away",
                    dir.display()
                );
            }
            std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join(MARKER), format!("written by {writer}; tdfas may delete this folder\n"))
        .with_context(|| format!("writing {}", dir.join(MARKER).display()))
}

/// Whether `dir` carries tdfas's marker (or one of `also_owned`).
pub fn is_owned(dir: &Path, also_owned: &[&str]) -> bool {
    std::iter::once(MARKER).chain(also_owned.iter().copied()).any(|m| dir.join(m).is_file())
}

/// An exclusive lock on an output folder, held until dropped (the OS releases it when the
/// process dies, so a killed run leaves no stale lock).
pub struct OutLock {
    _file: File,
    pub path: PathBuf,
}

/// Locks `dir` for one training run; a second run fails at once naming the holder's pid.
pub fn lock(dir: &Path) -> Result<OutLock> {
    let path = dir.join(".tdfas-train.lock");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {
            // The pid is informational (for the message of a second run); the lock is the OS's.
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            write!(file, "{}", std::process::id())?;
            file.flush()?;
        }
        Err(TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = if pid.trim().is_empty() { "unknown".to_string() } else { pid.trim().to_string() };
            bail!(
                "{} is in use by another training run (pid {pid}, lock {}): wait for it to end, or choose another --out",
                dir.display(),
                path.display()
            );
        }
        Err(TryLockError::Error(e)) => {
            // Some network file systems have no locks: train without one rather than not at all.
            eprintln!("warning: cannot lock {} ({e}); make sure no other run writes there", path.display());
        }
    }
    Ok(OutLock { _file: file, path })
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
