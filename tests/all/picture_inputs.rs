//! Pictures as users hand them to `infer`: damaged files are errors naming the file (never a
//! verdict on what could be read), a folder's frames are told from its photos by one rule shared
//! with the browser page, nothing in a folder is left out unsaid, and every scored photo gets
//! depth maps of its own.

use crate::common;
use common::tdfas_cmd as tdfas;
use std::path::{Path, PathBuf};
use std::process::Output;

use tdfas::data::imageops;
use tdfas::model::checkpoint::{Calibration, Progress};

fn tmp(name: &str) -> PathBuf {
    common::tmp_dir("pictures", name)
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// An untrained micro model (variant 4) with a stored threshold at `d/m.safetensors`.
fn model_in(d: &Path) -> PathBuf {
    let path = d.join("m.safetensors");
    let gpu = common::gpu();
    let model = tdfas::model::fastd::FasTd::new(&gpu, common::micro_config(), 0).unwrap();
    let progress = Progress { stage: 2, step: 1, seed: 0, stage_done: true, init: None };
    let c = Calibration {
        threshold: 0.5,
        method: "dev EER".into(),
        data: "data".into(),
        protocol: None,
        dev_eer: 0.1,
        n_live: 1,
        n_attack: 1,
    };
    tdfas::train::checkpoint::save_with_calibrations(&gpu, &path, &model, None, &progress, Some(&c), Some(&c)).unwrap();
    path
}

/// A textured 32 x 32 picture; `shade` tells pictures apart.
fn picture(shade: u8) -> image::RgbImage {
    image::RgbImage::from_fn(32, 32, |x, y| image::Rgb([shade, (x * 7 + y * 3) as u8, 90]))
}

fn save(p: &Path, shade: u8) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    picture(shade).save(p).unwrap();
}

/// `infer --no-detect` on the inputs: its output and its `--json` rows.
fn infer(d: &Path, ckpt: &Path, extra: &[&str], inputs: &[&Path]) -> (Output, Vec<serde_json::Value>) {
    let json = d.join("r.jsonl");
    let _ = std::fs::remove_file(&json);
    let o = tdfas()
        .args(["infer", "--no-detect", "--checkpoint"])
        .arg(ckpt)
        .arg("--json")
        .arg(&json)
        .args(extra)
        .args(inputs)
        .output()
        .unwrap();
    assert!(!err(&o).contains("panicked"), "{}", err(&o));
    let rows =
        std::fs::read_to_string(&json).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (o, rows)
}

fn jpeg_bytes(shade: u8) -> Vec<u8> {
    let mut b = Vec::new();
    picture(shade).write_to(&mut std::io::Cursor::new(&mut b), image::ImageFormat::Jpeg).unwrap();
    b
}

#[test]
fn a_truncated_jpeg_is_an_error_naming_the_file_not_a_grey_filled_picture() {
    let whole = jpeg_bytes(40);
    assert!(imageops::decode(&whole, "whole.jpg").is_ok());
    // bytes after the end-of-image marker (some cameras write them) are fine
    let mut padded = whole.clone();
    padded.extend_from_slice(&[0; 64]);
    padded.extend_from_slice(b"trailer\xff\xd8");
    assert!(imageops::decode(&padded, "padded.jpg").is_ok());
    // an end marker inside an earlier segment (an EXIF thumbnail's) does not make a cut file whole
    let thumbnail = jpeg_bytes(200);
    let mut with_thumb = whole[..2].to_vec();
    with_thumb.extend_from_slice(&[0xFF, 0xE1]);
    with_thumb.extend_from_slice(&((thumbnail.len() + 8) as u16).to_be_bytes());
    with_thumb.extend_from_slice(b"Exif\0\0");
    with_thumb.extend_from_slice(&thumbnail);
    with_thumb.extend_from_slice(&whole[2..]);
    assert!(imageops::decode(&with_thumb, "thumb.jpg").is_ok());
    for (name, bytes) in [("cut.jpg", &whole), ("thumb_cut.jpg", &with_thumb)] {
        for share in [10, 60, 95] {
            let cut = &bytes[..bytes.len() * share / 100];
            let e = format!("{:#}", imageops::decode(cut, name).unwrap_err());
            assert!(e.contains(name) && e.contains("truncated"), "{share}%: {e}");
        }
    }
    // infer says so for a photo, and for a frame of a folder
    let d = tmp("cut");
    let ckpt = model_in(&d);
    let photo = d.join("t60.jpg");
    std::fs::write(&photo, &whole[..whole.len() * 60 / 100]).unwrap();
    let clip = d.join("clip");
    for k in 1..=4 {
        save(&clip.join(format!("{k:04}.png")), 10 * k);
    }
    std::fs::copy(&photo, clip.join("0002.png")).unwrap();
    let (o, rows) = infer(&d, &ckpt, &["--threshold", "0.5"], &[&photo, &clip]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    for (r, file) in rows.iter().zip(["t60.jpg", "0002.png"]) {
        assert_eq!(r["verdict"], "error", "{r}");
        let e = r["error"].as_str().unwrap();
        assert!(e.contains(file) && e.contains("truncated"), "{e}");
    }
}

#[test]
fn a_damaged_picture_is_said_in_one_line_once() {
    // a corrupt WebP: the decoder's error and its cause were both printed, the cause twice
    let mut webp = Vec::new();
    picture(9).write_to(&mut std::io::Cursor::new(&mut webp), image::ImageFormat::WebP).unwrap();
    let cut = &webp[..webp.len() * 6 / 10];
    let e = format!("{:#}", imageops::decode(cut, "cut.webp").unwrap_err());
    assert!(e.starts_with("cannot read image cut.webp: ") && !e.contains('\n'), "{e:?}");
    let cause = e.trim_start_matches("cannot read image cut.webp: ");
    let last = cause.rsplit(": ").next().unwrap();
    assert_eq!(cause.matches(last).count(), 1, "said twice: {e:?}");
}

/// An animated WebP of two frames (VP8X with the animation flag, ANIM, two ANMF frames), built
/// from a lossless still as the WebP container specification lays it out.
fn animated_webp() -> Vec<u8> {
    let still = |shade| {
        let mut b = Vec::new();
        picture(shade).write_to(&mut std::io::Cursor::new(&mut b), image::ImageFormat::WebP).unwrap();
        b[12..].to_vec() // the VP8L chunk (padded), after "RIFF", its size and "WEBP"
    };
    let u24 = |v: u32| v.to_le_bytes()[..3].to_vec();
    let chunk = |tag: &[u8], data: &[u8]| {
        let mut c = tag.to_vec();
        c.extend_from_slice(&(data.len() as u32).to_le_bytes());
        c.extend_from_slice(data);
        if data.len() % 2 == 1 {
            c.push(0);
        }
        c
    };
    let mut vp8x = vec![0x02, 0, 0, 0];
    vp8x.extend(u24(31));
    vp8x.extend(u24(31));
    let mut body = b"WEBP".to_vec();
    body.extend(chunk(b"VP8X", &vp8x));
    body.extend(chunk(b"ANIM", &[0, 0, 0, 0, 0, 0]));
    for shade in [10, 200] {
        let mut frame = [u24(0), u24(0), u24(31), u24(31), u24(100)].concat();
        frame.push(0);
        frame.extend(still(shade));
        body.extend(chunk(b"ANMF", &frame));
    }
    let mut file = b"RIFF".to_vec();
    file.extend_from_slice(&(body.len() as u32).to_le_bytes());
    file.extend(body);
    file
}

#[test]
fn an_animated_webp_is_refused_not_scored_on_its_first_frame() {
    let e = format!("{:#}", imageops::decode(&animated_webp(), "wave.webp").unwrap_err());
    assert!(e.contains("wave.webp") && e.contains("animated WebP"), "{e}");
}

#[test]
fn a_gif_too_short_for_a_clip_says_it_is_read_as_a_video() {
    if !tdfas::data::video::ffmpeg_available() {
        eprintln!("ffmpeg is not installed: skipping");
        return;
    }
    let d = tmp("gif");
    let ckpt = model_in(&d);
    let gif = d.join("still.gif");
    let o = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=10", "-frames:v", "1"])
        .arg(&gif)
        .output()
        .unwrap();
    assert!(o.status.success(), "ffmpeg: {}", err(&o));
    let (o, rows) = infer(&d, &ckpt, &[], &[&gif]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    let e = rows[0]["error"].as_str().unwrap();
    assert!(e.contains("still.gif: a video of 1 frame(s)") && e.contains("a GIF is read as a video"), "{e}");
}

#[test]
fn a_one_bit_png_within_the_pixel_limit_is_read() {
    // 2000 x 2000 black and white (a scan), one bit a pixel: 8 pixels to the uncompressed byte
    let (w, h) = (2000u32, 2000u32);
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, w, h);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::One);
        let mut rows = vec![0xFFu8; (w / 8 * h) as usize];
        rows[..(w / 8) as usize * 10].fill(0); // a black band
        enc.write_header().unwrap().write_image_data(&rows).unwrap();
    }
    assert!(u64::from(w * h) > imageops::pixel_budget(bytes.len() as u64), "the case this checks");
    let img = imageops::decode(&bytes, "scan.png").unwrap();
    assert_eq!((img.w, img.h), (2000, 2000));
    assert_eq!((img.at(0, 0, 0), img.at(0, 10, 0)), (0.0, 255.0));
}

#[test]
fn frame_names_are_numbers_zero_padded_to_three_digits_here_and_in_the_page() {
    for (name, number) in [
        ("0001.png", Some(1)),
        ("001.jpg", Some(1)),
        ("12345.webp", Some(12345)),
        ("0010.JPEG", Some(10)),
        ("1.jpg", None),
        ("42.png", None),
        ("+002.png", None),
        ("-001.png", None),
        ("0001_depth.png", None),
        ("photo_001.jpg", None),
        ("0001.gif", None),
        ("0001.txt", None),
    ] {
        assert_eq!(imageops::frame_number(Path::new(name)), number, "{name}");
    }
    let app = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/web/app.js")).unwrap();
    assert!(app.contains(r"const FRAME_NAME = /^\d{3,}\.(png|jpe?g|webp|bmp)$/i;"), "the page's FRAME_NAME changed");
}

#[test]
fn photos_named_1_to_4_are_scored_one_by_one_not_as_a_video() {
    let d = tmp("numbered");
    let ckpt = model_in(&d);
    let folder = d.join("people");
    for k in 1..=4u8 {
        save(&folder.join(format!("{k}.jpg")), 50 * k);
    }
    save(&folder.join("+5.png"), 250);
    let (o, rows) = infer(&d, &ckpt, &["--threshold", "0.5"], &[&folder]);
    assert!(o.status.success(), "{}", err(&o));
    let names: Vec<&str> = rows.iter().map(|r| r["input"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 5, "{names:?}");
    for (r, name) in rows.iter().zip(["+5.png", "1.jpg", "2.jpg", "3.jpg", "4.jpg"]) {
        assert!(r["input"].as_str().unwrap().ends_with(name), "{r}");
        assert_eq!(r["network"], "single-frame", "{r}");
    }
}

#[test]
fn pictures_beside_frames_are_named_in_a_warning() {
    let d = tmp("beside");
    let ckpt = model_in(&d);
    let clip = d.join("clip");
    for k in 1..=4u8 {
        save(&clip.join(format!("{k:04}.jpg")), 30 * k);
    }
    save(&clip.join("portrait.jpg"), 7);
    save(&clip.join("holiday.webp"), 9);
    // a dataset's labels beside its frames are not pictures left out
    save(&clip.join("0001_depth.png"), 0);
    let (o, rows) = infer(&d, &ckpt, &[], &[&clip]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["network"], "multi-frame", "{}", rows[0]);
    let warnings = rows[0]["warnings"].as_array().unwrap();
    let w = warnings.iter().map(|w| w.as_str().unwrap()).find(|w| w.contains("left out")).unwrap_or_else(|| {
        panic!("no warning: {warnings:?}");
    });
    assert!(w.starts_with("2 picture(s)") && w.contains("holiday.webp, portrait.jpg"), "{w}");
    assert!(!w.contains("0001_depth"), "{w}");
    assert!(err(&o).contains("warning: ") && err(&o).contains("portrait.jpg"), "{}", err(&o));
}

#[test]
fn photos_of_one_name_in_two_folders_get_depth_maps_of_their_own() {
    let d = tmp("depth");
    let ckpt = model_in(&d);
    let (d1, d2) = (d.join("d1"), d.join("d2"));
    save(&d1.join("face.png"), 10);
    save(&d2.join("face.png"), 220);
    // and a photo given as a file whose name is what the folder's photo would be called
    save(&d.join("d1_face.png"), 100);
    let depth = d.join("depth");
    let (o, rows) = infer(
        &d,
        &ckpt,
        &["--threshold", "0.5", "--depth-dir", depth.to_str().unwrap()],
        &[&d1, &d2, &d.join("d1_face.png")],
    );
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(rows.len(), 3);
    let mut maps: Vec<String> =
        std::fs::read_dir(&depth).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    maps.sort();
    let per_photo = maps.iter().filter(|m| m.starts_with("d1_face.png_clip0_")).count();
    assert!(per_photo > 0, "{maps:?}");
    for prefix in ["d2_face.png_clip0_", "d1_face.png-2_clip0_"] {
        assert_eq!(maps.iter().filter(|m| m.starts_with(prefix)).count(), per_photo, "{prefix}: {maps:?}");
    }
    assert_eq!(maps.len(), 3 * per_photo, "{maps:?}");
}

#[test]
fn dump_of_a_photo_says_it_needs_a_clip() {
    let d = tmp("dump");
    let ckpt = model_in(&d);
    let photo = d.join("photo.png");
    save(&photo, 60);
    let o = tdfas()
        .args(["dump", "--no-detect", "--checkpoint"])
        .arg(&ckpt)
        .arg("--input")
        .arg(&photo)
        .arg("--out")
        .arg(d.join("dump.safetensors"))
        .output()
        .unwrap();
    let e = err(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("photo.png: a photo") && e.contains("folder of frames") && e.contains("video file"), "{e}");
}
