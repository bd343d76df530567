//! Output folders: tdfas deletes only what it wrote (folders carry an ownership marker), one
//! training run at a time per folder (an OS lock naming the holder's pid). Temporary files of
//! killed or failed writes are cleaned up by `util::fs::clean_stale_tmp`.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The file that marks a folder as written (and so deletable) by tdfas.
pub const MARKER: &str = crate::util::outputs::OWNED_MARKER;

/// Makes `dir` a folder marked as `writer`'s, without what an earlier run left: creates it, takes
/// it over when empty, or clears it when it carries tdfas's [`MARKER`] and holds nothing but
/// what such a run writes (`writes`: its top-level names; PNGs tdfas wrote, such as a preview,
/// are kept). A folder without the marker, or with anything else in it, is the user's: refused,
/// naming what is in the way, and nothing is deleted.
pub fn fresh_owned_dir(dir: &Path, writer: &str, writes: &[&str]) -> Result<()> {
    if dir.exists() || dir.is_symlink() {
        if !dir.is_dir() {
            bail!("{} exists and is not a folder; {writer} needs a folder there", dir.display());
        }
        let mut foreign = Vec::new();
        let mut ours = Vec::new();
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name == MARKER
                || (path.extension().is_some_and(|e| e == "png") && crate::util::outputs::png_by_tdfas(&path))
            {
                continue;
            }
            // what a run writes, and the temporary files of a killed write of it
            let written = writes.iter().any(|w| name == *w || name.starts_with(&format!(".{w}.tmp")));
            if written {
                ours.push(path)
            } else {
                foreign.push(name)
            }
        }
        if !(ours.is_empty() && foreign.is_empty()) {
            if !crate::util::outputs::is_owned(dir) {
                bail!(
                    "{} is not empty and was not written by tdfas (no {MARKER} file in it); not deleting it: \
                     choose another --out, or move its contents away",
                    dir.display()
                );
            }
            if !foreign.is_empty() {
                foreign.sort();
                let shown: Vec<String> = foreign.iter().take(5).map(|n| crate::util::text::shown(n)).collect();
                bail!(
                    "{} holds {} entr{} that {writer} does not write ({}{}); not clearing it: choose another \
                     --out, or move them away",
                    dir.display(),
                    foreign.len(),
                    if foreign.len() == 1 { "y" } else { "ies" },
                    shown.join(", "),
                    if foreign.len() > 5 { ", ..." } else { "" }
                );
            }
            for path in ours {
                let link_or_file = std::fs::symlink_metadata(&path).is_ok_and(|m| !m.is_dir());
                let removed = if link_or_file { std::fs::remove_file(&path) } else { std::fs::remove_dir_all(&path) };
                removed.with_context(|| format!("clearing {}", path.display()))?;
            }
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join(MARKER), format!("written by {writer}; tdfas may delete this folder\n"))
        .with_context(|| format!("writing {}", dir.join(MARKER).display()))
}

/// The lock file of a training run's folder.
pub const LOCK_FILE: &str = ".tdfas-train.lock";

/// An exclusive lock on an output folder, held until dropped (the OS releases it when the
/// process dies, so a killed run leaves no stale lock).
pub struct OutLock {
    _file: File,
    pub path: PathBuf,
}

/// Locks `dir` for one training run; a second run fails at once naming the holder's pid.
pub fn lock(dir: &Path) -> Result<OutLock> {
    let path = dir.join(LOCK_FILE);
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
