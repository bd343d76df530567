//! Output folders: tdfas deletes only what it wrote (folders carry an ownership marker), one
//! training run at a time per folder (an OS lock naming the holder's pid). Temporary files of
//! killed or failed writes are cleaned up by `util::fs::clean_stale_tmp`.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The file that marks a folder as written (and so deletable) by tdfas.
pub const MARKER: &str = crate::util::outputs::OWNED_MARKER;

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
