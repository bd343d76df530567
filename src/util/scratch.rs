//! Scratch folders for decoded video frames: an unpredictable name in the temp folder, created
//! exclusively (an existing name or a planted link is never used), readable by this user only,
//! and removed on drop, on error exit, on Ctrl-C or SIGTERM, and by the next run when a killed
//! process (kill -9) left one behind.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};

/// The folders of this process, removed by `remove_all` (signals, error exits).
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

const PREFIX: &str = "tdfas-";

/// A scratch folder, removed when dropped.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// Creates `$TMPDIR/tdfas-<what>-<pid>-<random>`.
    pub fn new(what: &str) -> Result<ScratchDir> {
        let base = std::env::temp_dir();
        remove_stale(&base);
        for _ in 0..16 {
            let path = base.join(format!("{PREFIX}{what}-{}-{:016x}", std::process::id(), rand::random::<u64>()));
            match create_private_dir(&path) {
                Ok(()) => {
                    LIVE.lock().unwrap_or_else(|e| e.into_inner()).push(path.clone());
                    return Ok(ScratchDir(path));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e).with_context(|| format!("creating the scratch folder {}", path.display())),
            }
        }
        bail!("could not create a scratch folder in {} (16 names taken)", base.display())
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        LIVE.lock().unwrap_or_else(|e| e.into_inner()).retain(|p| p != &self.0);
    }
}

/// mkdir, never through an existing name or link, mode 0700 where the OS has modes.
fn create_private_dir(path: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(path)
}

/// Removes every scratch folder of this process (what a signal or an error exit leaves).
pub fn remove_all() {
    let dirs = std::mem::take(&mut *LIVE.lock().unwrap_or_else(|e| e.into_inner()));
    for d in dirs {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// Set by the first Ctrl-C or SIGTERM while a stream is being scored (`stop_gracefully`): the
/// stream ends and its summary is printed; a second signal exits at once.
pub static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static GRACEFUL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// From now on the first signal sets `STOP` instead of exiting.
pub fn stop_gracefully() {
    GRACEFUL.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// On Ctrl-C and SIGTERM: remove the scratch folders, then exit as killed by the signal would
/// (or, while a stream is scored, ask it to stop and summarise).
pub fn clean_on_signals() {
    use std::sync::atomic::Ordering;
    let _ = ctrlc::set_handler(|| {
        if GRACEFUL.load(Ordering::SeqCst) && !STOP.swap(true, Ordering::SeqCst) {
            return;
        }
        remove_all();
        std::process::exit(130);
    });
}

/// The pid in a scratch folder's name `tdfas-<what>-<pid>[-<random>]`.
fn scratch_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let mut parts = rest.split('-');
    if !matches!(parts.next()?, "infer" | "dump" | "unit") {
        return None;
    }
    let pid = parts.next()?.parse().ok()?;
    match parts.next() {
        None => Some(pid),
        Some(r) if r.len() == 16 && r.bytes().all(|b| b.is_ascii_hexdigit()) && parts.next().is_none() => Some(pid),
        _ => None,
    }
}

/// Removes scratch folders (real folders, never links) of processes that no longer run.
fn remove_stale(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(scratch_pid) else { continue };
        let is_dir = std::fs::symlink_metadata(e.path()).is_ok_and(|m| m.is_dir());
        if is_dir && !crate::util::fs::pid_alive(pid) && std::fs::remove_dir_all(e.path()).is_ok() {
            eprintln!("removed {} (left by an interrupted tdfas)", e.path().display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_names_parse() {
        assert_eq!(scratch_pid("tdfas-infer-123-0123456789abcdef"), Some(123));
        assert_eq!(scratch_pid("tdfas-infer-123"), Some(123));
        assert_eq!(scratch_pid("tdfas-infer-x"), None);
        assert_eq!(scratch_pid("tdfas-infer-12-short"), None);
        assert_eq!(scratch_pid("other-infer-12"), None);
        assert_eq!(scratch_pid("tdfas-rel2-12"), None, "test folders are not scratch folders");
    }

    #[test]
    fn scratch_folders_are_fresh_private_and_removed() {
        let a = ScratchDir::new("unit").unwrap();
        let b = ScratchDir::new("unit").unwrap();
        assert_ne!(a.path(), b.path());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(a.path()).unwrap().permissions().mode() & 0o777, 0o700);
        }
        let p = a.path().to_path_buf();
        drop(a);
        assert!(!p.exists());
    }
}
