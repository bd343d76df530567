//! Reader tests on tiny trees written by the tests themselves.

use super::imageops::{save, Img};
use super::*;
use rand::SeedableRng;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tdfas_data_{name}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A w x h frame whose left half is dark and right half bright (so flips are visible).
fn frame(w: usize, h: usize, path: &Path) {
    let mut img = Img::new(w, h, 3);
    for y in 0..h {
        for x in 0..w {
            for c in 0..3 {
                img.set(x, y, c, if x < w / 2 { 20.0 } else { 230.0 });
            }
        }
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    save(&img, path).unwrap();
}

/// A grey label image: value v on the left half, 0 on the right.
fn label(w: usize, h: usize, v: f32, path: &Path) {
    let mut img = Img::new(w, h, 1);
    for y in 0..h {
        for x in 0..w / 2 {
            img.set(x, y, 0, v);
        }
    }
    save(&img, path).unwrap();
}

fn spec() -> ClipSpec {
    ClipSpec { frames: 2, interval: 2, size: 16, map: 4, crop: 1.3, close_cut: 0.0, zoom: 0.0, local_contrast: false }
}

#[test]
fn generic_reader_samples_clips_and_skips_missing_frames() {
    let root = tmp("generic");
    let live = root.join("train/live/a");
    for t in [0, 1, 2, 3, 4, 5, 6, 7] {
        frame(32, 32, &live.join(format!("{t:04}.png")));
        label(32, 32, 255.0, &live.join(format!("{t:04}_depth.png")));
        label(32, 32, 255.0, &live.join(format!("{t:04}_mask.png")));
    }
    let spoof = root.join("train/print/b");
    for t in [0, 1, 2, 4, 5, 6] {
        frame(32, 32, &spoof.join(format!("{t:04}.jpg")).with_extension("png"));
    }
    std::fs::create_dir_all(root.join("train/replay/empty")).unwrap();
    let ds = Dataset::open(&root, Split::Train, None, &spec()).unwrap();
    assert_eq!(ds.layout, Layout::Generic);
    // live: 8 frames, span 3 -> too short for 4 disjoint clips, so 4 spread over the starts
    // 0..=5 (0, 2, 3, 5); print: frames 0..=6 with 3 missing -> starts 0, 1, 3, 4, the clips at
    // 1 (1, 3) and 3 (3, 5) are skipped, 0 and 4 kept.
    assert_eq!(ds.len(), 6, "{:?}", ds.skipped());
    assert_eq!(ds.skipped().iter().filter(|s| s.contains("frame 0003 missing")).count(), 2);
    assert!(ds.skipped().iter().any(|s| s.contains("frame 0003 missing")), "{:?}", ds.skipped());
    assert!(ds.skipped().iter().any(|s| s.contains("empty")), "{:?}", ds.skipped());
    let c = ds.load(0, None).unwrap();
    assert_eq!((c.label, c.instrument.as_str(), c.video_id.as_str()), (1, "live", "train/live/a"));
    // Depth label left half 1, right half 0 at S = 4.
    assert_eq!(&c.depth[..4], &[1.0, 1.0, 0.0, 0.0]);
    let p = ds.load((0..ds.len()).find(|&i| ds.index(i).label == 0).unwrap(), None).unwrap();
    assert_eq!((p.label, p.instrument.as_str()), (0, "print"));
    assert!(p.depth.iter().all(|&d| d == 0.0));
    std::fs::remove_dir_all(root).ok();
}

#[test]
fn flip_moves_frame_depth_and_mask_together() {
    let root = tmp("flip");
    let live = root.join("dev/live/a");
    for t in 0..3 {
        frame(16, 16, &live.join(format!("{t:04}.png")));
        label(16, 16, 255.0, &live.join(format!("{t:04}_depth.png")));
        label(16, 16, 255.0, &live.join(format!("{t:04}_mask.png")));
    }
    let ds = Dataset::open(&root, Split::Dev, None, &spec()).unwrap();
    let plain = ds.load(0, None).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut flipped = None;
    // Augmentation also jitters colour: a flip is a draw whose dark left half moved right.
    for _ in 0..32 {
        let c = ds.load(0, Some(&mut rng)).unwrap();
        if c.frames[0] > 0.0 {
            flipped = Some(c);
            break;
        }
    }
    let f = flipped.expect("some draw flips");
    // Dark pixels moved right and so did the depth and mask.
    assert!(plain.frames[0] < 0.0 && f.frames[0] > 0.0);
    // (the crop jitter may blur the edge by a fraction of a label pixel, with the frame)
    assert!(f.depth[0] < 0.5 && f.depth[2] > 0.5 && f.depth[3] > 0.5, "{:?}", &f.depth[..4]);
    assert!(f.mask[0] < 0.5 && f.mask[2] > 0.5 && f.mask[3] > 0.5, "{:?}", &f.mask[..4]);
    std::fs::remove_dir_all(root).ok();
}

#[test]
fn bbox_crop_and_box_outside_frame() {
    let root = tmp("bbox");
    let live = root.join("test/live/a");
    for t in 0..3 {
        frame(40, 40, &live.join(format!("{t:04}.png")));
    }
    // Frame 0: box in the dark left half; frame 2: box entirely outside the frame.
    std::fs::write(live.join("bbox.csv"), "frame,x,y,w,h\n0,2,10,10,10\n2,500,500,10,10\n").unwrap();
    let ds = Dataset::open(&root, Split::Test, None, &spec()).unwrap();
    let c = ds.load(0, None).unwrap();
    let n = 16 * 16 * 3;
    let centre = 8 * 16 + 8;
    assert!(c.frames[centre] < -0.7, "frame 0 crop shows the dark half");
    // Frame 2 falls back to the whole frame: both halves visible.
    let f2 = &c.frames[n..2 * n];
    assert!(f2[8 * 16 + 1] < 0.0 && f2[8 * 16 + 14] > 0.0);
    // Live without depth files: rendered from the box, so the crop's centre is face.
    assert!(c.depth[2 * 4 + 2] > 0.0 && c.mask[2 * 4 + 2] == 1.0);
    assert!(c.depth.iter().all(|d| (0.0..=1.0).contains(d)));
    // The crop's side follows spec.crop: at 3x the box it reaches the bright right half.
    let wide = Dataset::open(&root, Split::Test, None, &ClipSpec { crop: 3.0, ..spec() }).unwrap();
    let c3 = wide.load(0, None).unwrap();
    assert!(c.frames[8 * 16 + 15] < -0.7 && c3.frames[8 * 16 + 15] > 0.0);
    // A malformed bbox line names file and line.
    std::fs::write(live.join("bbox.csv"), "0,1,2,3,4\n1,x,2,3\n").unwrap();
    let ds = Dataset::open(&root, Split::Test, None, &spec()).unwrap();
    assert!(ds.skipped().iter().any(|s| s.contains("bbox.csv:2")), "{:?}", ds.skipped());
    std::fs::remove_dir_all(root).ok();
}

#[test]
fn a_face_at_the_frame_edge_is_cropped_inside_the_frame_without_black_padding() {
    use super::imageops::Rect;
    // Moved along the axes it fits in, centred along one it is longer than.
    let r = Rect { x: -3.0, y: 35.0, w: 10.0, h: 10.0 };
    assert_eq!(r.moved_inside(40, 40), Rect { x: 0.0, y: 30.0, w: 10.0, h: 10.0 });
    assert_eq!(Rect { x: -30.0, y: 5.0, w: 60.0, h: 10.0 }.moved_inside(40, 40).x, -10.0);
    assert_eq!(
        Rect { x: 5.0, y: 5.0, w: 10.0, h: 10.0 }.moved_inside(40, 40),
        Rect { x: 5.0, y: 5.0, w: 10.0, h: 10.0 }
    );

    let root = tmp("edge");
    let live = root.join("test/live/a");
    for t in 0..3 {
        frame(40, 40, &live.join(format!("{t:04}.png")));
    }
    // The face in the top-left corner: a 1.3x crop centred on it would reach 1.5 px past the
    // frame, a 6x crop 20 px past every side.
    std::fs::write(live.join("bbox.csv"), "frame,x,y,w,h\n0,0,0,10,10\n2,0,0,10,10\n").unwrap();
    // Every frame pixel is 20 or 230, i.e. -0.84 or 0.80 after normalisation; black would be -1.
    for crop in [1.3, 6.0] {
        let ds = Dataset::open(&root, Split::Test, None, &ClipSpec { crop, ..spec() }).unwrap();
        let c = ds.load(0, None).unwrap();
        let darkest = c.frames.iter().fold(f32::MAX, |m, &v| m.min(v));
        assert!(darkest > -0.9, "crop {crop}: a padded pixel {darkest}");
        if crop < 2.0 {
            // The labels are cut with the same moved rectangle: the face is in its top-left.
            assert!(c.mask[0] == 1.0 && c.mask[15] == 0.0, "{:?}", c.mask);
        }
    }
    std::fs::remove_dir_all(root).ok();
}

#[test]
fn protocol_errors_name_file_and_line() {
    let root = tmp("proto");
    frame(8, 8, &root.join("train/live/a/0000.png"));
    let pdir = root.join("protocols/P9");
    std::fs::create_dir_all(&pdir).unwrap();
    std::fs::write(pdir.join("train.txt"), "+1,train/live/a\nlive train/live/b\n").unwrap();
    let err = Dataset::open(&root, Split::Train, Some("P9"), &spec()).err().unwrap().to_string();
    assert!(err.contains("train.txt:2"), "{err}");
    let err = Dataset::open(&root, Split::Train, Some("nope"), &spec()).err().unwrap().to_string();
    assert!(err.contains("nope"), "{err}");
    std::fs::write(pdir.join("train.txt"), "+1,train/live/missing\n").unwrap();
    let ds = Dataset::open(&root, Split::Train, Some("P9"), &spec()).unwrap();
    assert!(ds.is_empty() && ds.skipped()[0].contains("missing"));
    std::fs::remove_dir_all(root).ok();
}

#[test]
fn oulu_reader_on_fixture() {
    let root = tmp("oulu");
    let dir = root.join("Train_files");
    // Live video decoded beforehand; its eye file has a failed detection at frame 5.
    for t in 1..=6 {
        frame(64, 64, &dir.join(format!("1_1_01_1/{t:04}.png")));
    }
    let eyes = |bad: usize| {
        (1..=6)
            .map(|t| if t == bad { format!("{t},0,0,0,0\n") } else { format!("{t},24,28,40,28\n") })
            .collect::<String>()
    };
    std::fs::write(dir.join("1_1_01_1.txt"), eyes(5)).unwrap();
    // Attack with a video only: needs ffmpeg at load time.
    std::fs::write(dir.join("1_1_01_4.txt"), eyes(0)).unwrap();
    std::fs::write(dir.join("1_1_01_4.avi"), b"not a video").unwrap();
    std::fs::write(dir.join("1_1_01_2.txt"), "1,2,x\n").unwrap();
    let pdir = root.join("Protocols/Protocol_1");
    std::fs::create_dir_all(&pdir).unwrap();
    std::fs::write(pdir.join("Train.txt"), "+1,1_1_01_1\n-1,1_1_01_4\n").unwrap();
    std::fs::create_dir_all(root.join("Protocols/Protocol_3")).unwrap();
    std::fs::write(root.join("Protocols/Protocol_3/Train_2.txt"), "-1,1_1_01_4\n").unwrap();
    let ds = Dataset::open(&root, Split::Train, Some("1"), &spec()).unwrap();
    assert_eq!(ds.layout, Layout::Oulu);
    // Live: 6 frames, span 3 -> clips at every start (frames 1-3, 2-4, 3-5, 4-6); the eye file's
    // failed frame 5 is one the clip at 3 uses, so it is skipped: 3 kept.
    let live: Vec<_> = (0..ds.len()).filter(|&i| ds.index(i).label == 1).collect();
    assert_eq!(live.len(), 3, "{:?}", ds.skipped());
    let c = ds.load(live[0], None).unwrap();
    assert!(c.depth.iter().any(|&d| d > 0.5), "live depth rendered from the eyes");
    let atk = (0..ds.len()).find(|&i| ds.index(i).label == 0).unwrap();
    assert_eq!(ds.index(atk).instrument, "replay1");
    if video::ffmpeg_available() {
        assert!(ds.load(atk, None).is_err(), "a fake video cannot decode");
    } else {
        let e = ds.load(atk, None).err().unwrap().to_string();
        assert!(e.contains("ffmpeg") && e.contains("1_1_01_4.avi"), "{e}");
        println!("skipped OULU video decoding: ffmpeg is not installed");
    }
    // Without protocol: every .txt; the bad eye file is skipped with file and line.
    let all = Dataset::open(&root, Split::Train, None, &spec()).unwrap();
    assert!(all.skipped().iter().any(|s| s.contains("1_1_01_2.txt:1")), "{:?}", all.skipped());
    let p3 = Dataset::open(&root, Split::Train, Some("3_2"), &spec()).unwrap();
    // protocol 3 has numbered folds only: it stands for 3_1 .. 3_K; protocol 1 is itself
    for k in 1..=6 {
        std::fs::write(root.join(format!("Protocols/Protocol_3/Test_{k}.txt")), "-1,1_1_01_4\n").unwrap();
    }
    let subs = super::sub_protocols(&root, "3").unwrap();
    assert_eq!(subs, (1..=6).map(|k| format!("3_{k}")).collect::<Vec<_>>());
    assert_eq!(super::sub_protocols(&root, "1").unwrap(), vec!["1"]);
    assert_eq!(super::sub_protocols(&root, "3_2").unwrap(), vec!["3_2"]);
    assert_eq!(super::sub_protocols(&root, "1, 3_2").unwrap(), vec!["1", "3_2"]);
    assert!(super::sub_protocols(&root, "1,,2").is_err());
    let twice = super::sub_protocols(&root, "1, 3_2,1").unwrap_err().to_string();
    assert!(twice.contains("names \"1\" twice"), "{twice}");
    assert!((0..p3.len()).all(|i| p3.index(i).label == 0) && !p3.is_empty());
    // A failed detection inside a clip skips it.
    let s1 = ClipSpec {
        frames: 3,
        interval: 1,
        size: 16,
        map: 4,
        crop: 1.3,
        close_cut: 0.0,
        zoom: 0.0,
        local_contrast: false,
    };
    let ds = Dataset::open(&root, Split::Train, Some("1"), &s1).unwrap();
    assert!(ds.skipped().iter().any(|s| s.contains("frame 5")), "{:?}", ds.skipped());
    std::fs::remove_dir_all(root).ok();
}

#[test]
fn siw_reader_on_fixture() {
    let root = tmp("siw");
    let live = root.join("Train/live/003");
    let spoof = root.join("Train/spoof/005");
    for t in 1..=3 {
        frame(48, 48, &live.join(format!("003-1-1-1-1/{t:04}.png")));
        frame(48, 48, &spoof.join(format!("005-2-3-2-1/{t:04}.png")));
    }
    std::fs::write(live.join("003-1-1-1-1.face"), "10 8 38 40\n10 8 38 40\n10 8 38 40\n").unwrap();
    std::fs::write(spoof.join("005-2-3-2-1.face"), "10 8 38 40\n10 8 38 40\n10 8 38 40\n").unwrap();
    let train = Dataset::open(&root, Split::Train, None, &spec()).unwrap();
    assert_eq!(train.layout, Layout::Siw);
    assert_eq!(train.len(), 1);
    assert_eq!((train.index(0).label, train.index(0).instrument.as_str()), (1, "live"));
    let c = train.load(0, None).unwrap();
    assert!(c.mask.contains(&1.0));
    let dev = Dataset::open(&root, Split::Dev, None, &spec()).unwrap();
    assert_eq!((dev.len(), dev.index(0).instrument.as_str()), (1, "replay2"));
    std::fs::remove_dir_all(root).ok();
}

#[test]
fn sgtd_reader_on_fixture() {
    let root = tmp("sgtd");
    let dir = root.join("test/live");
    for t in 1..=3 {
        let p = dir.join(format!("vid_{t:03}_scene.jpg"));
        frame(32, 32, &p.with_extension("png"));
        std::fs::rename(p.with_extension("png"), &p).unwrap();
        std::fs::write(dir.join(format!("vid_{t:03}_scene.dat")), "4,4,24,24").unwrap();
    }
    let ds = Dataset::open(&root, Split::Test, None, &spec()).unwrap();
    assert_eq!(ds.layout, Layout::Sgtd);
    assert_eq!((ds.len(), ds.index(0).label), (1, 1));
    assert_eq!(ds.load(0, None).unwrap().frames.len(), 2 * 3 * 16 * 16);
    std::fs::remove_dir_all(root).ok();
}

#[test]
fn unknown_layout_is_an_error() {
    let root = tmp("unknown");
    let e = Dataset::open(&root, Split::Train, None, &spec()).err().unwrap().to_string();
    assert!(e.contains("unknown dataset layout"), "{e}");
}

#[test]
fn oulu_video_decodes_with_ffmpeg() {
    if !video::ffmpeg_available() {
        println!("skipped: ffmpeg is not installed, OULU video decoding not tested");
        return;
    }
    let root = tmp("oulu_video");
    let dir = root.join("Dev_files");
    let src = root.join("src");
    for t in 1..=4 {
        frame(32, 32, &src.join(format!("{t:04}.png")));
    }
    std::fs::create_dir_all(&dir).unwrap();
    let avi = dir.join("2_3_04_1.avi");
    let ok = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-framerate", "30", "-i"])
        .arg(src.join("%04d.png"))
        .args(["-c:v", "mjpeg", "-q:v", "2"])
        .arg(&avi)
        .status()
        .unwrap()
        .success();
    assert!(ok, "ffmpeg could not write the fixture video");
    std::fs::write(dir.join("2_3_04_1.txt"), "1,8,12,22,12\n2,8,12,22,12\n3,8,12,22,12\n4,8,12,22,12\n").unwrap();
    let ds = Dataset::open(&root, Split::Dev, None, &spec()).unwrap();
    // 4 frames, span 3: clips at 0 and 1
    assert_eq!(ds.len(), 2, "{:?}", ds.skipped());
    let c = ds.load(0, None).unwrap();
    assert!(ds.index(0).frame_paths.iter().all(|p| p.is_file()), "frames decoded to the cache");
    // The crop around the eyes sits on the dark/bright edge: both kinds of pixel present.
    assert!(c.frames.iter().any(|&v| v < -0.5) && c.frames.iter().any(|&v| v > 0.5));
    std::fs::remove_dir_all(root).ok();
}

#[test]
fn short_videos_get_overlapping_clips_long_ones_disjoint() {
    // span 7 (4 frames every 2nd)
    let s = ClipSpec {
        frames: 4,
        interval: 2,
        size: 16,
        map: 4,
        crop: 1.3,
        close_cut: 0.0,
        zoom: 0.0,
        local_contrast: false,
    };
    assert_eq!(MIN_CLIPS_PER_VIDEO, 4);
    assert_eq!(clip_starts(6, &s), Vec::<usize>::new());
    assert_eq!(clip_starts(7, &s), vec![0]);
    assert_eq!(clip_starts(9, &s), vec![0, 1, 2]);
    // 13 frames: 7 possible starts, 4 evenly spread from the first to the last
    assert_eq!(clip_starts(13, &s), vec![0, 2, 4, 6]);
    let starts = clip_starts(20, &s);
    assert_eq!(starts.len(), MIN_CLIPS_PER_VIDEO);
    assert_eq!((starts[0], *starts.last().unwrap()), (0, 13));
    assert!(starts.windows(2).all(|w| w[1] > w[0]), "{starts:?}");
    // long enough for 4 disjoint clips: disjoint
    assert_eq!(clip_starts(28, &s), vec![0, 7, 14, 21]);
    assert_eq!(clip_starts(70, &s).len(), 10);
}

/// A JPEG of `img` with an EXIF APP1 segment holding orientation `o` (big-endian TIFF, one IFD
/// entry 0x0112), as phone cameras write it.
fn jpeg_with_orientation(img: &image::RgbImage, o: u16) -> Vec<u8> {
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95).encode_image(img).unwrap();
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    tiff.extend_from_slice(&1u16.to_be_bytes());
    tiff.extend_from_slice(&0x0112u16.to_be_bytes());
    tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_be_bytes());
    tiff.extend_from_slice(&o.to_be_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // value padding, no next IFD
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[test]
fn photos_stored_sideways_are_read_upright_for_every_exif_orientation() {
    use image::imageops::{flip_horizontal, flip_vertical, rotate180, rotate270, rotate90};
    let dir = tmp("exif");
    // the upright picture: 4 x 2 blocks of 8 x 8 pixels, each its own colour
    let colour =
        |bx: u32, by: u32| image::Rgb([(bx * 60 + 20) as u8, (by * 180 + 30) as u8, ((bx + by) % 2 * 200 + 20) as u8]);
    let upright = image::RgbImage::from_fn(32, 16, |x, y| colour(x / 8, y / 8));
    let transpose = |i: &image::RgbImage| image::RgbImage::from_fn(i.height(), i.width(), |x, y| *i.get_pixel(y, x));
    let transverse = |i: &image::RgbImage| {
        let (w, h) = (i.width(), i.height());
        image::RgbImage::from_fn(h, w, |x, y| *i.get_pixel(w - 1 - y, h - 1 - x))
    };
    // what the camera stores for each orientation value (the inverse of what a viewer applies)
    let stored: [(u16, image::RgbImage); 8] = [
        (1, upright.clone()),
        (2, flip_horizontal(&upright)),
        (3, rotate180(&upright)),
        (4, flip_vertical(&upright)),
        (5, transpose(&upright)),
        (6, rotate270(&upright)),
        (7, transverse(&upright)),
        (8, rotate90(&upright)),
    ];
    for (o, img) in stored {
        let path = dir.join(format!("o{o}.jpg"));
        std::fs::write(&path, jpeg_with_orientation(&img, o)).unwrap();
        let got = imageops::load(&path, false).unwrap();
        assert_eq!((got.w, got.h), (32, 16), "orientation {o}: read {}x{}", got.w, got.h);
        for (bx, by) in [(0, 0), (3, 0), (1, 1), (3, 1)] {
            let want = colour(bx, by);
            let (x, y) = ((bx * 8 + 4) as usize, (by * 8 + 4) as usize);
            for c in 0..3 {
                let d = (got.at(x, y, c) - want.0[c] as f32).abs();
                assert!(
                    d < 40.0,
                    "orientation {o}: block ({bx}, {by}) channel {c} is {}, want {}",
                    got.at(x, y, c),
                    want.0[c]
                );
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn shrinking_a_crop_averages_instead_of_aliasing() {
    use super::imageops::{crop_resize, Rect};
    // One-pixel stripes shrunk 8 times: every output pixel covers four black and four white
    // columns, so it must be mid grey; one sample per pixel would give black or white.
    let (w, h) = (256, 256);
    let mut img = Img::new(w, h, 1);
    for y in 0..h {
        for x in 0..w {
            img.set(x, y, 0, if x % 2 == 0 { 0.0 } else { 255.0 });
        }
    }
    let small = crop_resize(&img, Rect::full(w, h), 32);
    let (lo, hi) = small.data.iter().fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    assert!(lo > 110.0 && hi < 145.0, "shrunk stripes range {lo}..{hi}");
    // Without shrinking it stays plain bilinear sampling: a 2x enlargement of a ramp is exact.
    let mut ramp = Img::new(8, 8, 1);
    (0..8).for_each(|y| (0..8).for_each(|x| ramp.set(x, y, 0, 10.0 * x as f32)));
    let big = crop_resize(&ramp, Rect::full(8, 8), 16);
    for i in 1..15 {
        let x = (i as f32 + 0.5) / 2.0 - 0.5; // the source position of output pixel i
        assert!((big.at(i, 3, 0) - 10.0 * x).abs() < 1e-3, "pixel {i}: {}", big.at(i, 3, 0));
    }
}

#[test]
fn an_rgb_crop_is_each_channel_cropped_alone_to_the_bit() {
    use super::imageops::{crop_resize, Rect};
    // The three-channel path samples the channels together (the hot loop of rendering and of
    // every training crop); it must give the one-channel path's values exactly, shrinking or
    // not, so rendered benchmarks and trained models do not change with it.
    let (w, h) = (97, 83);
    let mut rgb = Img::new(w, h, 3);
    let mut planes = [Img::new(w, h, 1), Img::new(w, h, 1), Img::new(w, h, 1)];
    for y in 0..h {
        for x in 0..w {
            for (ch, plane) in planes.iter_mut().enumerate() {
                let v = ((x * 37 + y * 11 + ch * 101) % 256) as f32 + 0.25 * ch as f32;
                rgb.set(x, y, ch, v);
                plane.set(x, y, 0, v);
            }
        }
    }
    for (rect, size) in
        [(Rect { x: -7.3, y: 4.1, w: 80.5, h: 61.2 }, 16), (Rect { x: 10.2, y: 9.9, w: 20.0, h: 20.0 }, 64)]
    {
        let together = crop_resize(&rgb, rect, size);
        for (ch, plane) in planes.iter().enumerate() {
            let alone = crop_resize(plane, rect, size);
            let same = (0..size * size).all(|i| together.data[i * 3 + ch].to_bits() == alone.data[i].to_bits());
            assert!(same, "channel {ch}, {size} px");
        }
        assert_eq!(rgb.bilinear_rgb(3.3, 7.8), [0, 1, 2].map(|ch| rgb.bilinear(3.3, 7.8, ch)));
    }
}

#[test]
fn a_face_crop_with_no_room_around_the_face_is_still_found() {
    use super::face;
    use super::imageops::{crop_resize, load, Rect};
    // Grace Hopper's portrait, cut to the face box the detector finds in the whole picture (as
    // face datasets store crops): the cascade alone needs room around a face.
    let photo = load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/hopper.jpg")), false).unwrap();
    let b = face::detect(&photo).expect("a face in the whole portrait");
    let side = b.w.max(b.h);
    // brows to chin, as tight as ID-photo crops: the cascade alone finds nothing here
    let tight = Rect { x: b.x + 0.1 * b.w, y: b.y + 0.1 * b.h, w: 0.8 * b.w, h: 0.8 * b.h };
    let crop = crop_resize(&photo, tight, 160);
    let found = face::detect(&crop).expect("the face in its own crop");
    // The whole picture's box, in the crop's pixels: centre (80, 80), side 200. The box found
    // is near it (within 15% of its side; a box drives a 1.8x crop, so that is a small shift).
    let (cx, cy) = (found.x + found.w / 2.0, found.y + found.h / 2.0);
    assert!((cx - 80.0).abs() < 30.0 && (cy - 80.0).abs() < 30.0, "{found:?} (face box side {side})");
    assert!(found.w > 140.0 && found.w < 280.0, "{found:?}");
}

#[test]
fn local_contrast_takes_the_light_away_in_training_and_at_inference() {
    use super::imageops::{local_contrast, Rect};
    // A textured face-sized patch in a frame, and the same frame under dimmer light falling off
    // from left to right: with `local_contrast` both paths (a training clip, an inference clip)
    // give the network nearly the same input; without it they do not.
    let (w, h) = (96, 72);
    let lit = |gain: fn(usize) -> f32| {
        let mut img = Img::new(w, h, 3);
        for y in 0..h {
            for x in 0..w {
                for ch in 0..3 {
                    let texture = 90.0 + 60.0 * (((x * 7 + y * 13 + ch * 5) % 17) as f32 / 16.0);
                    img.set(x, y, ch, texture * gain(x));
                }
            }
        }
        img
    };
    let bright = lit(|_| 1.0);
    let dim = lit(|x| 0.75 - 0.3 * x as f32 / 96.0);
    let face = Rect { x: 30.0, y: 20.0, w: 30.0, h: 34.0 };
    let dir = tmp("local_contrast");
    let mean_diff = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32;
    let mut off = (0.0, 0.0);
    for on in [false, true] {
        let spec = one_frame_spec(32, 0.0, on);
        let mut inputs = Vec::new();
        for (k, img) in [&bright, &dim].into_iter().enumerate() {
            let path = dir.join(format!("{on}_{k}/0000.png"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            save(img, &path).unwrap();
            let c = live_frame_with_box(&format!("{k}"), path, face);
            let train = load::load_clip(&c, &spec, &Default::default(), None).unwrap().frames;
            let infer =
                unlabelled::from_images(&spec, &Default::default(), std::slice::from_ref(img), &[Some(face)], None)
                    .unwrap()
                    .frames;
            inputs.push((train, infer));
        }
        let (train, infer) = (mean_diff(&inputs[0].0, &inputs[1].0), mean_diff(&inputs[0].1, &inputs[1].1));
        if on {
            // what is left is the offset that keeps dark corners from blowing up
            assert!(
                train < 0.2 * off.0 && infer < 0.2 * off.1,
                "the light still reaches the network: {train} {infer}, {off:?} without"
            );
        } else {
            assert!(train > 0.15 && infer > 0.15, "the two lights differ too little to test: {train} {infer}");
            off = (train, infer);
        }
    }
    // colours are scaled alike: a pixel's channel ratios stay
    let out = local_contrast(&bright);
    let (p, q) = (&bright.data[300..303], &out.data[300..303]);
    assert!(((p[0] / p[2]) - (q[0] / q[2])).abs() < 1e-4, "{p:?} -> {q:?}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_picture_smaller_than_the_crop_is_zoomed_into_when_the_model_trained_so() {
    use super::imageops::Rect;
    // the helper: shrunk about its centre to the picture's short side, never below min_side
    let r = Rect { x: -4.0, y: 10.0, w: 108.0, h: 108.0 };
    assert_eq!(r.shrunk_to_fit(100, 130, 63.0), Rect { x: 0.0, y: 14.0, w: 100.0, h: 100.0 });
    assert_eq!(r.shrunk_to_fit(50, 130, 63.0).w, 63.0);
    assert_eq!(r.shrunk_to_fit(200, 200, 63.0), r);
    // a 70 x 130 photo cut close around a 60-pixel face (1.8x crop: 108 px), columns x = value
    let img = columns(70, 130, 3.0);
    let face = Rect { x: 5.0, y: 30.0, w: 60.0, h: 60.0 };
    let crop = |zoom: f64| {
        let spec = one_frame_spec(16, zoom, false);
        let clip = unlabelled::from_images(&spec, &Default::default(), std::slice::from_ref(&img), &[Some(face)], None)
            .unwrap();
        let row: Vec<f32> = clip.frames[8 * 16..9 * 16].to_vec(); // red channel, row 8
        (row, clip.mask.iter().sum::<f32>(), clip.crop_in_picture)
    };
    let (plain, plain_mask, plain_share) = crop(0.0);
    let (zoomed, zoomed_mask, zoomed_share) = crop(0.25);
    // without zoom the crop reaches past the picture and repeats its edge...
    assert_eq!(plain[0], plain[1], "{plain:?}");
    // ...zoomed in, every column is picture, and the face covers more of the crop
    assert!(zoomed.windows(2).all(|p| p[1] > p[0]), "{zoomed:?}");
    assert!(zoomed_mask > plain_mask, "{zoomed_mask} vs {plain_mask}");
    // the close-cut warning still reads the picture's share of the full crop
    assert!(plain_share < 1.0 && zoomed_share == plain_share);
}

#[test]
fn a_frame_smaller_than_its_crop_is_cropped_for_training_as_inference_crops_it() {
    // the 70 x 130 close picture of the test above, as a dataset's frame: with zoom, evaluation
    // (no augmentation) samples exactly the crop `infer` samples, not the edge-repeated one
    let dir = tmp("zoom_frame");
    let path = dir.join("0000.png");
    std::fs::create_dir_all(&dir).unwrap();
    let img = columns(70, 130, 3.0);
    save(&img, &path).unwrap();
    let face = super::imageops::Rect { x: 5.0, y: 30.0, w: 60.0, h: 60.0 };
    let c = live_frame_with_box("zf", path, face);
    for zoom in [0.0, 0.25] {
        let spec = one_frame_spec(16, zoom, false);
        let trained = load::load_clip(&c, &spec, &Default::default(), None).unwrap();
        let inferred =
            unlabelled::from_images(&spec, &Default::default(), std::slice::from_ref(&img), &[Some(face)], None)
                .unwrap();
        assert_eq!(trained.frames, inferred.frames, "zoom {zoom}");
        assert_eq!(trained.mask, inferred.mask, "zoom {zoom}");
        let row = &trained.frames[8 * 16..9 * 16];
        assert_eq!(row[0] == row[1], zoom == 0.0, "edge repeated only without zoom: {row:?}");
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_photo_is_scored_through_mirrored_closer_and_wider_views() {
    use super::imageops::{mirrored, Rect};
    // a 200 x 200 photo, columns x = value, a 40-pixel face off centre
    let img = columns(200, 200, 1.0);
    let face = Rect { x: 60.0, y: 70.0, w: 40.0, h: 40.0 };
    // 8 x 8 maps: fine enough to tell the face's share of a closer crop
    let spec = ClipSpec { map: 8, ..one_frame_spec(16, 0.0, false) };
    let clip = unlabelled::photo_from_image(&spec, &Default::default(), &img, Some(face), 4);
    let (plane, map) = (16 * 16, 8 * 8);
    let frame = |k: usize| &clip.frames[k * 3 * plane..(k + 1) * 3 * plane];
    let mask = |k: usize| &clip.mask[k * map..(k + 1) * map];
    // the first view is the plain crop, as a clip of the photo gives it
    let plain =
        unlabelled::from_images(&spec, &Default::default(), std::slice::from_ref(&img), &[Some(face)], None).unwrap();
    assert_eq!(frame(0), &plain.frames[..]);
    assert_eq!(mask(0), &plain.mask[..]);
    assert_eq!(clip.crop_in_picture, plain.crop_in_picture);
    // the second, the same crop mirrored (image and face mask)
    let rows =
        |f: &[f32], w: usize| f.chunks(w).map(|r| r.iter().rev().copied().collect::<Vec<_>>()).collect::<Vec<_>>();
    assert_eq!(rows(frame(1), 16).concat(), frame(0));
    assert_eq!(rows(mask(1), 8).concat(), mask(0));
    // the third closer (the face fills more of the map), the fourth wider and mirrored
    let sum = |m: &[f32]| m.iter().sum::<f32>();
    assert!(sum(mask(2)) > sum(mask(0)) && sum(mask(0)) > sum(mask(3)), "{:?}", clip.mask);
    assert!(frame(3)[15] < frame(3)[0], "mirrored: values fall along a row");
    // frames beyond the views' count take them in turn
    let six = unlabelled::photo_from_image(&spec, &Default::default(), &img, Some(face), 6);
    assert_eq!(&six.frames[4 * 3 * plane..5 * 3 * plane], frame(0));
    assert_eq!(six.frames[5 * 3 * plane..6 * 3 * plane], *frame(1));
    // the pixels' channels stay together when mirrored
    let rgb = Img { w: 2, h: 1, c: 3, data: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0] };
    assert_eq!(mirrored(&rgb).data, vec![4.0, 5.0, 6.0, 1.0, 2.0, 3.0]);
}

#[test]
fn training_crops_a_zoom_share_of_clips_closer() {
    // a 200 x 200 frame with a 40-pixel face: the face mask's share of the 4 x 4 label map
    // grows when every clip is cropped at 1.05-1.5 face boxes instead of 1.55-2.05
    let dir = tmp("zoom_train");
    let path = dir.join("0000.png");
    std::fs::create_dir_all(&dir).unwrap();
    save(&Img { w: 200, h: 200, c: 3, data: vec![128.0; 200 * 200 * 3] }, &path).unwrap();
    let face = super::imageops::Rect { x: 80.0, y: 80.0, w: 40.0, h: 40.0 };
    let c = live_frame_with_box("z", path, face);
    let mask_share = |zoom: f64| {
        let spec = one_frame_spec(16, zoom, false);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        (0..20)
            .map(|_| load::load_clip(&c, &spec, &Default::default(), Some(&mut rng)).unwrap().mask.iter().sum::<f32>())
            .sum::<f32>()
            / (20.0 * 16.0)
    };
    let (plain, zoomed) = (mask_share(0.0), mask_share(1.0));
    assert!(zoomed > 1.3 * plain, "face share of the map: {zoomed} zoomed, {plain} not");
    std::fs::remove_dir_all(dir).ok();
}

/// A w x h RGB picture whose every pixel says its column: x * step.
fn columns(w: usize, h: usize, step: f32) -> Img {
    let mut img = Img::new(w, h, 3);
    for (i, v) in img.data.iter_mut().enumerate() {
        *v = ((i / 3) % w) as f32 * step;
    }
    img
}

/// Single frames at `size` (4 x 4 maps), the 1.8x crop, no close cuts.
fn one_frame_spec(size: usize, zoom: f64, local_contrast: bool) -> ClipSpec {
    ClipSpec { frames: 1, interval: 1, size, map: 4, crop: 1.8, close_cut: 0.0, zoom, local_contrast }
}

/// A live clip of the one frame at `path`, its face box given.
fn live_frame_with_box(id: &str, path: PathBuf, face: super::imageops::Rect) -> ClipIndex {
    ClipIndex {
        video_id: id.into(),
        instrument: "live".into(),
        label: 1,
        frame_paths: vec![path],
        depth_paths: vec![None],
        mask_paths: vec![None],
        anchors: vec![Some(super::depth_label::FaceAnchor::Box(face))],
        video: None,
    }
}

/// Frames are checked against the data folder, except a video's: those are decoded into the
/// frame cache, which may lie elsewhere (`$XDG_CACHE_HOME` when the dataset is read-only).
#[test]
fn frames_outside_the_data_are_refused_unless_decoded_from_its_video() {
    let dir = std::env::temp_dir().join(format!("tdfas-fence-{}", std::process::id()));
    let (root, cache) = (dir.join("data"), dir.join("cache"));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&cache).unwrap();
    let (video, frame) = (root.join("v.avi"), cache.join("0001.png"));
    std::fs::write(&video, b"video").unwrap();
    std::fs::write(&frame, b"frame").unwrap();
    let clip = |video: Option<PathBuf>| ClipIndex {
        video_id: "v".into(),
        instrument: "live".into(),
        label: 1,
        frame_paths: vec![frame.clone()],
        depth_paths: vec![None],
        mask_paths: vec![None],
        anchors: vec![None],
        video,
    };
    let fence = Fence::new(&root, false).unwrap();
    super::every_file_inside(&fence, &[clip(Some(video.clone()))]).unwrap();
    let e = super::every_file_inside(&fence, &[clip(None)]).unwrap_err().to_string();
    assert!(e.contains("0001.png") && e.contains("lies outside the dataset folder"), "{e}");
    super::every_file_inside(&Fence::new(&root, true).unwrap(), &[clip(None)]).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
