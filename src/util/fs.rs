//! Files and folders written whole or not at all: `write_atomic` (a file), `write_dir_atomic`
//! (a folder), both through a temporary sibling (`tmp_sibling`) renamed into place, and the
//! cleanup of the temporary files that killed or failed writes leave behind.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// The temporary sibling `.NAME.tmpPID-THREAD` of `path` that a whole write goes through: one
/// per process and thread (tests write the same file from several threads), named so that
/// `clean_stale_tmp` finds what a killed process left.
pub fn tmp_sibling(path: &Path) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    thread_local!(static THREAD: u64 = NEXT.fetch_add(1, Ordering::Relaxed));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("tdfas");
    let tmp = format!(".{name}.tmp{}-{}", std::process::id(), THREAD.with(|t| *t));
    path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")).join(tmp)
}

/// Writes `bytes` to `path` atomically: a temp file in the same folder (`tmp_sibling`), fsync,
/// rename over the target, fsync the folder.
// wasm32's File (files are unsupported there) has no Drop; the drop closes it before the rename natively
#[cfg_attr(target_arch = "wasm32", allow(clippy::drop_non_drop))]
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    // renaming over a device or a FIFO (as root: /dev/null) would replace it, not write to it
    if let Ok(m) = std::fs::metadata(path) {
        if !m.is_file() {
            bail!("cannot write {}: it is {}, not a regular file", path.display(), kind(&m));
        }
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = tmp_sibling(path);
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

/// Makes the folder `dir` whole or not at all: `fill` writes it into a temporary sibling
/// (`tmp_sibling`, removed first), which then replaces `dir` (`replace_dir`); on an error the
/// temporary folder is removed and `dir` is as it was.
pub fn write_dir_atomic(dir: &Path, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = tmp_sibling(dir);
    let _ = std::fs::remove_dir_all(&tmp);
    let written = fill(&tmp).and_then(|()| replace_dir(&tmp, dir));
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    written
}

/// Moves the finished folder `new` to `dir`, replacing what is there: the old folder is moved
/// aside first and removed after, so `dir` is always one whole version.
pub fn replace_dir(new: &Path, dir: &Path) -> Result<()> {
    let old = dir.with_file_name(format!(
        ".{}.old.tmp{}",
        dir.file_name().and_then(|n| n.to_str()).unwrap_or("dir"),
        std::process::id()
    ));
    let had_old = std::fs::symlink_metadata(dir).is_ok();
    if had_old {
        let _ = std::fs::remove_dir_all(&old);
        std::fs::rename(dir, &old).with_context(|| format!("moving {} aside", dir.display()))?;
    }
    if let Err(e) = std::fs::rename(new, dir) {
        if had_old {
            let _ = std::fs::rename(&old, dir);
        }
        return Err(e).with_context(|| format!("moving {} to {}", new.display(), dir.display()));
    }
    if had_old {
        let _ = std::fs::remove_dir_all(&old).or_else(|_| std::fs::remove_file(&old));
    }
    Ok(())
}

/// The user's cache folder by the XDG rules: `$XDG_CACHE_HOME` when set to an absolute path
/// (empty or relative counts as unset), else `$HOME/.cache`; None without either.
pub fn cache_home() -> Option<std::path::PathBuf> {
    let absolute = |v: std::ffi::OsString| Some(std::path::PathBuf::from(v)).filter(|p| p.is_absolute());
    std::env::var_os("XDG_CACHE_HOME")
        .and_then(absolute)
        .or_else(|| std::env::var_os("HOME").and_then(absolute).map(|h| h.join(".cache")))
}

/// What a non-regular file is, for messages: "a folder", "a FIFO", "a character device", ...
pub fn kind(m: &std::fs::Metadata) -> &'static str {
    let t = m.file_type();
    if t.is_dir() {
        return "a folder";
    }
    if t.is_file() {
        return "a regular file";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

/// Fails unless `path` is a regular file (after links) of at most `max_bytes`, naming it: a FIFO
/// would block forever and `/dev/zero` would be read until memory runs out.
pub fn check_regular(path: &Path, what: &str, max_bytes: u64) -> Result<u64> {
    let m = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => anyhow::anyhow!("{what} {}: no such file or folder", path.display()),
        _ => anyhow::anyhow!("{what} {}: {e}", path.display()),
    })?;
    if !m.is_file() {
        bail!("cannot read {what} {}: it is {}; tdfas reads only regular files", path.display(), kind(&m));
    }
    if m.len() > max_bytes {
        bail!(
            "{what} {}: {} bytes, more than the {} MiB tdfas reads for one",
            path.display(),
            m.len(),
            max_bytes >> 20
        );
    }
    Ok(m.len())
}

/// Reads a regular file of at most `max_bytes` (see `check_regular`); a file that grows while
/// it is read is cut at the budget plus one byte and refused.
pub fn read_regular(path: &Path, what: &str, max_bytes: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    check_regular(path, what, max_bytes)?;
    let f = std::fs::File::open(path).with_context(|| format!("{what} {}: opening", path.display()))?;
    let mut bytes = Vec::new();
    f.take(max_bytes + 1).read_to_end(&mut bytes).with_context(|| format!("{what} {}: reading", path.display()))?;
    if bytes.len() as u64 > max_bytes {
        bail!("{what} {}: more than the {} MiB tdfas reads for one", path.display(), max_bytes >> 20);
    }
    Ok(bytes)
}

/// Largest text file read (lists, boxes, configs).
pub const MAX_TEXT_BYTES: u64 = 256 << 20;

/// Reads a UTF-8 text file that is a regular file of at most `MAX_TEXT_BYTES` (see
/// `read_regular`); `what` names it in errors ("protocol file", "config", ...).
pub fn read_text(path: &Path, what: &str) -> Result<String> {
    let bytes = read_regular(path, what, MAX_TEXT_BYTES)?;
    String::from_utf8(bytes).map_err(|e| anyhow::anyhow!("{what} {}: not UTF-8 text ({e})", path.display()))
}

/// The pid in a temporary file's name `.NAME.tmpPID-THREAD` (as `tmp_sibling` names them; older
/// versions wrote `.NAME.tmpPID`).
fn tmp_pid(file_name: &str, target: &str) -> Option<u32> {
    let rest = file_name.strip_prefix('.')?.strip_prefix(target)?.strip_prefix(".tmp")?;
    rest.split('-').next()?.parse().ok()
}

/// Whether process `pid` is running; where that cannot be told (no /proc), assume it is.
pub fn pid_alive(pid: u32) -> bool {
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
        assert_eq!(tmp_pid(".checkpoint.safetensors.tmp123-4", "checkpoint.safetensors"), Some(123));
        let t = tmp_sibling(Path::new("runs/x/model.safetensors"));
        let name = t.file_name().unwrap().to_str().unwrap();
        assert_eq!(
            (t.parent(), tmp_pid(name, "model.safetensors")),
            (Some(Path::new("runs/x")), Some(std::process::id()))
        );
        assert_eq!(tmp_pid(".checkpoint.safetensors.tmp", "checkpoint.safetensors"), None);
        assert_eq!(tmp_pid("checkpoint.safetensors", "checkpoint.safetensors"), None);
        assert_eq!(tmp_pid(".model.safetensors.tmp9", "checkpoint.safetensors"), None);
    }
}
