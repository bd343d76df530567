//! `tdfas web`: serves the page, its WebAssembly and a checkpoint on 127.0.0.1 only. The page's
//! files are embedded with `include_str!`; the wasm-bindgen output (`target/web/`, made by
//! tools/build_web.sh) is embedded when it was there at build time (build.rs says so).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::model::checkpoint;

/// The wasm-bindgen glue and module, when this binary was built after tools/build_web.sh.
#[cfg(tdfas_web_bundle)]
const BUNDLE: Option<(&str, &[u8])> = Some((
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/target/web/tdfas_web.js")),
    include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/target/web/tdfas_web_bg.wasm")),
));
#[cfg(not(tdfas_web_bundle))]
const BUNDLE: Option<(&str, &[u8])> = None;

const INDEX: &str = include_str!("index.html");
const APP: &str = include_str!("app.js");

/// What `tdfas web` serves: the checkpoint's bytes and name, and optionally a folder of files.
pub struct Site {
    checkpoint: Vec<u8>,
    checkpoint_name: String,
    files: Option<PathBuf>,
}

impl Site {
    /// Reads and checks the checkpoint (a wrong file is refused here, not in the page), and the
    /// files folder.
    pub fn new(checkpoint_path: &Path, files: Option<&Path>) -> Result<Site> {
        if BUNDLE.is_none() {
            bail!(
                "this tdfas was built without the page's WebAssembly: run tools/build_web.sh, then build tdfas \
                 again (cargo build --release)"
            );
        }
        let bytes = crate::util::fs::read_regular(checkpoint_path, "checkpoint", checkpoint::MAX_CHECKPOINT_BYTES)?;
        checkpoint::parse(&bytes)
            .with_context(|| format!("{} is not a tdfas checkpoint", checkpoint_path.display()))?;
        if let Some(dir) = files {
            if !dir.is_dir() {
                bail!("--files {}: not a folder", dir.display());
            }
        }
        let name = checkpoint_path.file_name().map_or("checkpoint".into(), |n| n.to_string_lossy().into_owned());
        Ok(Site { checkpoint: bytes, checkpoint_name: name, files: files.map(Path::to_path_buf) })
    }

    /// The response to a GET of `url`: content type and body, or None (404).
    pub fn get(&self, url: &str) -> Option<(&'static str, Vec<u8>)> {
        let path = url.split(['?', '#']).next().unwrap_or("");
        let (glue, wasm) = BUNDLE?;
        Some(match path {
            "/" | "/index.html" => ("text/html; charset=utf-8", INDEX.as_bytes().to_vec()),
            "/app.js" => ("text/javascript; charset=utf-8", APP.as_bytes().to_vec()),
            "/tdfas_web.js" => ("text/javascript; charset=utf-8", glue.as_bytes().to_vec()),
            "/tdfas_web_bg.wasm" => ("application/wasm", wasm.to_vec()),
            "/checkpoint.safetensors" => ("application/octet-stream", self.checkpoint.clone()),
            "/site.json" => {
                let files = self.files.as_deref().map(list_files);
                let site = serde_json::json!({ "checkpoint": self.checkpoint_name, "files": files });
                ("application/json", site.to_string().into_bytes())
            }
            _ => {
                let name = folder_file_name(path.strip_prefix("/files/")?)?;
                let file = self.files.as_deref()?.join(&name);
                // a link in the folder may lead anywhere on the machine: only the folder's own files
                if !std::fs::symlink_metadata(&file).ok()?.file_type().is_file() {
                    return None;
                }
                let body = crate::util::fs::read_regular(&file, "file", 1 << 30).ok()?;
                (content_type(&name), body)
            }
        })
    }
}

/// The file name a `/files/` URL asks for, percent-decoded (browsers send a space as `%20`): one
/// plain name of the folder, nothing above it, nothing hidden; None for anything else.
fn folder_file_name(url_name: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(url_name.len());
    let mut rest = url_name.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    let name = String::from_utf8(bytes).ok()?;
    let plain = !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\', '\0']);
    plain.then_some(name)
}

/// The folder's plain files, sorted (the page takes a run of frames in name order).
fn list_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().map(str::to_ascii_lowercase).as_deref() {
        Some("png") => "image/png",
        Some("jpg") | Some("jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("bmp") => "image/bmp",
        Some("mp4") => "video/mp4",
        Some("webm") => "video/webm",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// Most answers being sent at once (each holds its body: the wasm is about 5 MB).
const MAX_SENDING: usize = 64;

/// Serves `site` on 127.0.0.1:`port` (0: any free port) until the process ends; prints the address.
pub fn serve(site: Site, port: u16) -> Result<()> {
    let server = tiny_http::Server::http(("127.0.0.1", port))
        .map_err(|e| anyhow::anyhow!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    let addr = server.server_addr().to_ip().context("the server has no IP address")?;
    println!("tdfas web: http://{addr}/  (checkpoint {}; Ctrl-C stops)", site.checkpoint_name);
    use std::io::Write;
    std::io::stdout().flush()?;
    // each answer is sent from a thread of its own: a browser that stops reading a large body
    // (the wasm, a video) must not stall everyone else; at most MAX_SENDING at once
    let sending = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for request in server.incoming_requests() {
        // one Host header, or none taken
        let mut hosts = request.headers().iter().filter(|h| h.field.equiv("Host")).map(|h| h.value.as_str());
        let host = match (hosts.next(), hosts.next()) {
            (Some(h), None) => Some(h),
            _ => None,
        };
        let response = if !host_is_this_server(host, addr.port()) {
            let answer =
                tiny_http::Response::from_data(b"wrong Host: open this page as 127.0.0.1 or localhost".to_vec());
            answer.with_status_code(421)
        } else if sending.load(std::sync::atomic::Ordering::Relaxed) >= MAX_SENDING {
            tiny_http::Response::from_data(b"busy".to_vec()).with_status_code(503)
        } else {
            let found = match request.method() {
                tiny_http::Method::Get | tiny_http::Method::Head => site.get(request.url()),
                _ => None,
            };
            match found {
                Some((kind, body)) => tiny_http::Response::from_data(body)
                    .with_header(header("Content-Type", kind))
                    .with_header(header("Cache-Control", "no-store")),
                None => tiny_http::Response::from_data(b"not found".to_vec()).with_status_code(404),
            }
        };
        let sending = sending.clone();
        sending.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        std::thread::spawn(move || {
            // a browser that went away mid-answer is not the server's error
            let _ = request.respond(response);
            sending.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        });
    }
    Ok(())
}

/// Whether a request's Host header names this server: 127.0.0.1, localhost or [::1] at its port.
/// A page of another site whose name it re-points at 127.0.0.1 (DNS rebinding) sends that name,
/// and is answered nothing: the checkpoint and the files folder are for this machine's browser.
pub fn host_is_this_server(host: Option<&str>, port: u16) -> bool {
    let Some(host) = host else { return false };
    let (name, host_port) = match host.rsplit_once(':') {
        Some((name, p)) if !p.contains(']') => {
            (name, p.bytes().all(|b| b.is_ascii_digit()).then(|| p.parse().ok()).flatten())
        }
        _ => (host, Some(80)),
    };
    matches!(name.to_ascii_lowercase().as_str(), "127.0.0.1" | "localhost" | "[::1]") && host_port == Some(port)
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("ASCII header")
}

#[cfg(test)]
mod tests {
    use super::{folder_file_name, host_is_this_server};

    #[test]
    fn a_files_url_names_one_plain_file_of_the_folder() {
        assert_eq!(folder_file_name("0001.jpg").as_deref(), Some("0001.jpg"));
        assert_eq!(folder_file_name("my%20photo%20%232.jpg").as_deref(), Some("my photo #2.jpg"));
        assert_eq!(folder_file_name("caf%C3%A9.png").as_deref(), Some("café.png"));
        for bad in [
            "",
            "..",
            "%2e%2e",
            ".hidden",
            "a/b.jpg",
            "a%2Fb.jpg",
            "..%2F..%2Fetc%2Fpasswd",
            "a%5Cb",
            "a%00.jpg",
            "a%2",
            "a%zz",
            "%FF.jpg",
        ] {
            assert_eq!(folder_file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_requests_addressed_to_this_machine_are_answered() {
        for host in ["127.0.0.1:8080", "localhost:8080", "LOCALHOST:8080", "[::1]:8080"] {
            assert!(host_is_this_server(Some(host), 8080), "{host}");
        }
        assert!(host_is_this_server(Some("127.0.0.1"), 80));
        // another site re-pointed at 127.0.0.1, another port, no Host, lookalikes
        for host in [
            "evil.example:8080",
            "127.0.0.1:8081",
            "127.0.0.1",
            "127.0.0.1.evil.example:8080",
            "",
            "[::1]",
            "127.0.0.1:+8080",
        ] {
            assert!(!host_is_this_server(Some(host), 8080), "{host}");
        }
        assert!(!host_is_this_server(None, 8080));
    }
}
