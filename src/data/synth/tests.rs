use super::*;
use crate::data::generic::read_bbox;
use crate::data::{ClipSpec, Dataset, Split};

fn tiny(seed: u64) -> SynthOptions {
    SynthOptions {
        seed,
        preset: "tiny".into(),
        identities: 3,
        split: [1, 1, 1],
        videos_per_class: 1,
        domain_b_split: [1, 1, 1],
        cross_videos_per_class: 1,
        frames: 2,
        width: 96,
        height: 72,
        face_crop: false,
    }
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tdfas_synth_{name}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn files(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.strip_prefix(root).unwrap().to_path_buf(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn same_seed_same_bytes_other_seed_differs() {
    let (a, b, c) = (tmp("a"), tmp("b"), tmp("c"));
    let s = generate(&a, &tiny(5), false).unwrap();
    generate(&b, &tiny(5), false).unwrap();
    generate(&c, &tiny(6), false).unwrap();
    let (fa, fb, fc) = (files(&a), files(&b), files(&c));
    assert_eq!(s.videos, 2 * 3 * 3, "two domains x 3 identities x 3 classes x 1 video");
    assert!(fa.len() > s.frames * 3);
    assert!(fa == fb, "same seed must give the same bytes");
    assert!(fa != fc, "another seed must change the data");
    for d in [a, b, c] {
        std::fs::remove_dir_all(d).ok();
    }
}

#[test]
fn live_depth_follows_mesh_geometry() {
    // Frontal face in the middle of a whole-scene camera: the label's maximum is at the
    // projected nose tip, label order follows mesh depth (nose tip nearer than the eye
    // corners), and the face box is the projected mesh's.
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let id = scene::identity(&mut rng, &photo_style(0, 0, &mut ChaCha8Rng::seed_from_u64(2)));
    let cam = Camera::new(96, 72, 1.0);
    let pose = Pose::new([0.0, 0.0, 0.0], [0.0, 0.0, 0.45]);
    let light = Light { dir: [0.0, 0.0, -1.0], colour: [1.0; 3], ambient: 0.3 };
    let bg = Background::random(&mut rng).image(&cam, &light);
    let r = scene::render(&Object::Face { id: &id, pose, body: pose }, &light, &bg, &cam);
    let px = |v: usize| {
        let p = cam.project(pose.apply(id.verts[v]));
        (p[0] as usize).min(cam.w - 1) + (p[1] as usize).min(cam.h - 1) * cam.w
    };
    let nose = px(crate::data::mesh::NOSE_TIP);
    let eye = px(crate::data::mesh::EYE_LEFT[0]);
    let max = r.depth.iter().cloned().fold(0.0, f32::max);
    assert_eq!(r.depth.len(), 96 * 72, "labels are full frames");
    assert!(r.depth[nose] > 0.9 * max, "nose {} max {max}", r.depth[nose]);
    assert!(r.depth[nose] > r.depth[eye] + 0.1, "nose {} eye {}", r.depth[nose], r.depth[eye]);
    assert_eq!((r.depth[0], r.mask[0], r.cover[0]), (0.0, 0.0, 0.0), "corner is background");
    assert!(r.mask[nose] > 0.5);
    let b = r.bbox;
    assert!(b.w > 5.0 && b.x + b.w / 2.0 > 40.0 && b.x + b.w / 2.0 < 56.0, "{b:?}");
}

/// Bounding box of the mask's 1-pixels.
fn mask_box(m: &crate::data::imageops::Img) -> Option<[f32; 4]> {
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for y in 0..m.h {
        for x in 0..m.w {
            if m.at(x, y, 0) > 127.0 {
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            }
        }
    }
    (x0 != usize::MAX).then(|| [x0 as f32, y0 as f32, (x1 + 1) as f32, (y1 + 1) as f32])
}

#[test]
fn benchmark_reads_back_with_protocols_truth_boxes_and_preview() {
    let root = tmp("read");
    generate(&root, &tiny(3), false).unwrap();
    let spec = ClipSpec {
        frames: 2,
        interval: 1,
        size: 16,
        map: 4,
        crop: 1.3,
        close_cut: 0.0,
        zoom: 0.0,
        local_contrast: false,
    };
    let all = Dataset::open(&root, Split::Train, Some("domain_A"), &spec).unwrap();
    assert_eq!(all.len(), 3, "1 identity x 3 videos x 1 clip: {:?}", all.skipped());
    let clip = all.load(0, None).unwrap();
    assert_eq!(clip.frames.len(), 2 * 3 * 16 * 16);
    assert_eq!((clip.depth.len(), clip.mask.len()), (2 * 16, 2 * 16));
    let live = (0..all.len()).find(|&i| all.index(i).label == 1).unwrap();
    let spoof = (0..all.len()).find(|&i| all.index(i).label == 0).unwrap();
    let l = all.load(live, None).unwrap();
    let s = all.load(spoof, None).unwrap();
    assert!(l.depth.iter().any(|&d| d > 0.2) && s.depth.iter().all(|&d| d == 0.0));
    // Every clip folder: whole-scene JPEG frames, full-frame labels, truth boxes, no bbox.csv
    // (the pipeline must find the face itself); the live face box matches the mask's.
    let mut centres = Vec::new();
    for i in 0..all.len() {
        let c = all.index(i);
        let dir = c.frame_paths[0].parent().unwrap();
        assert!(!dir.join("bbox.csv").exists() && c.anchors.iter().all(|a| a.is_none()));
        let boxes = read_bbox(&dir.join("truth_bbox.csv")).unwrap();
        assert_eq!(boxes.len(), 2);
        let f = crate::data::imageops::load(&c.frame_paths[0], false).unwrap();
        assert_eq!((f.w, f.h), (96, 72));
        assert_eq!(c.frame_paths[0].extension().unwrap(), "jpg");
        let m = crate::data::imageops::load(c.mask_paths[0].as_ref().unwrap(), true).unwrap();
        assert_eq!((m.w, m.h), (96, 72));
        let b = boxes[&0];
        let area = b.w * b.h / (96.0 * 72.0);
        assert!((0.03..0.5).contains(&area), "face box area {area} of the frame: {b:?}");
        centres.push(b.x + b.w / 2.0);
        if c.label == 1 {
            let mb = mask_box(&m).unwrap();
            let err = [mb[0] - b.x, mb[1] - b.y, mb[2] - b.x - b.w, mb[3] - b.y - b.h];
            assert!(err.iter().all(|e| e.abs() < 3.0), "mask box {mb:?} vs truth {b:?}");
        }
    }
    assert!(centres.iter().any(|&c| (c - 48.0).abs() > 4.0), "faces are not all centred: {centres:?}");
    // Domains: disjoint identities; cross_AB tests A's model on B's test clips.
    let ids = |p: &str, split: Split| -> Vec<String> {
        let d = Dataset::open(&root, split, Some(p), &spec).unwrap();
        (0..d.len()).map(|i| d.index(i).video_id.split('/').nth(2).unwrap()[..7].to_string()).collect()
    };
    let a: Vec<String> = [Split::Train, Split::Dev, Split::Test].iter().flat_map(|&s| ids("domain_A", s)).collect();
    let b: Vec<String> = [Split::Train, Split::Dev, Split::Test].iter().flat_map(|&s| ids("domain_B", s)).collect();
    assert!(a.iter().all(|x| x.starts_with("A_")) && b.iter().all(|x| x.starts_with("B_")));
    assert!(a.iter().all(|x| !b.contains(&x.replace("A_", "B_"))), "{a:?} {b:?}");
    assert_eq!(ids("cross_AB", Split::Test), ids("domain_B", Split::Test));
    assert_eq!(ids("cross_AB", Split::Dev), ids("domain_A", Split::Dev));
    assert_eq!(ids("all", Split::Train).len(), 6);
    // Attack media differ between the domains; P2 tests A's second instruments.
    let inst = |p: &str, split: Split| -> Vec<String> {
        let d = Dataset::open(&root, split, Some(p), &spec).unwrap();
        (0..d.len()).map(|i| d.index(i).instrument.clone()).collect()
    };
    let ia = inst("domain_A", Split::Test);
    let ib = inst("domain_B", Split::Test);
    assert!(ia.iter().filter(|i| *i != "live").all(|i| !ib.contains(i)), "{ia:?} {ib:?}");
    let (pa, ra) = attack::INSTRUMENTS[0];
    let p2 = inst("P2", Split::Test);
    assert!(p2.iter().all(|i| i == "live" || i == pa[1] || i == ra[1]), "{p2:?}");
    let png = root.join("preview.png");
    preview(&root, &png).unwrap();
    let im = image::open(&png).unwrap();
    assert!(im.width() > 9 * 96 && im.height() > 4 * 72, "tiles keep the frame size");
    std::fs::remove_dir_all(root).ok();
}

/// Stage 1 reads single frames: one frame read alone is that frame of its clip read whole (the
/// same face box from all the clip's frames, the same crop and labels), with or without the
/// frames' detections cached.
#[test]
fn a_frame_read_alone_is_that_frame_of_its_clip() {
    let root = tmp("one_frame");
    generate(&root, &tiny(4), false).unwrap();
    let spec = ClipSpec {
        frames: 2,
        interval: 1,
        size: 16,
        map: 4,
        crop: 1.8,
        close_cut: 0.0,
        zoom: 0.0,
        local_contrast: false,
    };
    let ds = Dataset::open(&root, Split::Train, Some("domain_A"), &spec).unwrap();
    let (fsz, s2) = (3 * 16 * 16, 4 * 4);
    for i in 0..ds.len() {
        // frame 1 first: frame 0's detection is not cached yet and is read for the clip's box
        let alone: Vec<_> = [1, 0].iter().map(|&f| (f, ds.load_frame(i, f, None).unwrap())).collect();
        let whole = ds.load(i, None).unwrap();
        for (f, one) in alone {
            assert_eq!(one.frames, whole.frames[f * fsz..(f + 1) * fsz], "clip {i} frame {f}");
            assert_eq!(one.depth, whole.depth[f * s2..(f + 1) * s2]);
            assert_eq!(one.mask, whole.mask[f * s2..(f + 1) * s2]);
            assert_eq!((one.label, &one.video_id), (whole.label, &whole.video_id));
        }
    }
    let e = ds.load_frame(0, 2, None).unwrap_err().to_string();
    assert!(e.contains("2 frames") && e.contains("frame 2"), "{e}");
    std::fs::remove_dir_all(root).ok();
}

#[test]
fn face_crop_mode_writes_square_face_crops() {
    let root = tmp("crop");
    let mut o = tiny(4);
    (o.face_crop, o.width, o.cross_videos_per_class) = (true, 32, 0);
    generate(&root, &o, false).unwrap();
    let spec = ClipSpec {
        frames: 2,
        interval: 1,
        size: 16,
        map: 4,
        crop: 1.3,
        close_cut: 0.0,
        zoom: 0.0,
        local_contrast: false,
    };
    let d = Dataset::open(&root, Split::Test, Some("domain_A"), &spec).unwrap();
    assert_eq!(d.len(), 3);
    let f = crate::data::imageops::load(&d.index(0).frame_paths[0], false).unwrap();
    assert_eq!((f.w, f.h), (32, 32));
    // The face fills the crop: its box is about 1/1.3 of the side.
    let b = read_bbox(&d.index(0).frame_paths[0].parent().unwrap().join("truth_bbox.csv")).unwrap()[&0];
    assert!((b.w.max(b.h) - 32.0 / 1.3).abs() < 3.0, "{b:?}");
    assert!(Dataset::open(&root, Split::Test, Some("domain_B"), &spec).unwrap().is_empty());
    std::fs::remove_dir_all(root).ok();
}

/// Background statistics of one frame over the scene pixels (not covered by the face or the
/// medium, eroded by a pixel so object edges do not count): mean and std of luma, mean
/// red-green and blue-green, mean |Laplacian| of luma (high-frequency energy).
fn scene_stats(r: &Rendered) -> Option<[f32; 5]> {
    let (w, h) = (r.rgb.w, r.rgb.h);
    let luma = |x: usize, y: usize| 0.299 * r.rgb.at(x, y, 0) + 0.587 * r.rgb.at(x, y, 1) + 0.114 * r.rgb.at(x, y, 2);
    let (mut n, mut s, mut s2, mut rg, mut bg, mut hf) = (0.0f32, 0.0, 0.0, 0.0, 0.0, 0.0);
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let free = (y - 1..=y + 1).all(|yy| (x - 1..=x + 1).all(|xx| r.cover[yy * w + xx] == 0.0));
            if !free {
                continue;
            }
            let l = luma(x, y);
            n += 1.0;
            s += l;
            s2 += l * l;
            rg += r.rgb.at(x, y, 0) - r.rgb.at(x, y, 1);
            bg += r.rgb.at(x, y, 2) - r.rgb.at(x, y, 1);
            hf += (4.0 * l - luma(x - 1, y) - luma(x + 1, y) - luma(x, y - 1) - luma(x, y + 1)).abs();
        }
    }
    if n < 0.05 * (w * h) as f32 {
        return None; // a screen filling the view: no scene in sight
    }
    let m = s / n;
    Some([m, (s2 / n - m * m).max(0.0).sqrt(), rg / n, bg / n, hf / n])
}

/// The largest gap between two groups' means of each statistic, in units of the pooled std.
fn max_separation(groups: &[Vec<[f32; 5]>]) -> [f32; 5] {
    let mut out = [0.0f32; 5];
    for (k, o) in out.iter_mut().enumerate() {
        let all: Vec<f32> = groups.iter().flatten().map(|s| s[k]).collect();
        let mean = all.iter().sum::<f32>() / all.len() as f32;
        let sd = (all.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / all.len() as f32).sqrt().max(1e-6);
        let means: Vec<f32> = groups.iter().map(|g| g.iter().map(|s| s[k]).sum::<f32>() / g.len() as f32).collect();
        let gap = means.iter().cloned().fold(f32::MIN, f32::max) - means.iter().cloned().fold(f32::MAX, f32::min);
        *o = gap / sd;
    }
    out
}

/// `stats` of the first frame of 64 videos per class (live, print, replay), across both domains
/// and both instruments of each; frames where `stats` finds nothing are left out.
fn first_frame_stats_per_class(o: &SynthOptions, stats: fn(&Rendered) -> Option<[f32; 5]>) -> Vec<Vec<[f32; 5]>> {
    let mut groups = vec![Vec::new(); 3];
    for (class, group) in groups.iter_mut().enumerate() {
        for n in 0..64 {
            let domain = n % 2;
            let (prints, replays) = attack::INSTRUMENTS[domain];
            let instrument = match class {
                0 => "live",
                1 => prints[n / 2 % 2],
                _ => replays[n / 2 % 2],
            };
            let v = VideoSpec { split: 0, domain, identity: n, class, instrument: instrument.into(), k: 0 };
            if let Some(s) = stats(&render_video(o, &v).unwrap()[0]) {
                group.push(s);
            }
        }
    }
    groups
}

#[test]
fn background_statistics_do_not_tell_the_class() {
    // 64 videos per class across both domains (first frame, small frames; videos whose screen
    // fills the view show no scene and are left out): the class means of
    // each background statistic lie within 0.6 pooled standard deviations of each other.
    let mut o = tiny(11);
    (o.frames, o.width, o.height) = (1, 64, 48);
    let groups = first_frame_stats_per_class(&o, scene_stats);
    assert!(groups.iter().all(|g| g.len() >= 15), "{:?}", groups.iter().map(Vec::len).collect::<Vec<_>>());
    let sep = max_separation(&groups);
    assert!(sep.iter().all(|&s| s < 0.6), "class separation per statistic (mean, std, r-g, b-g, hf): {sep:?}");
    // The check itself can fail: shift one class's mean brightness by one std.
    let mut biased = groups.clone();
    let all: Vec<f32> = groups.concat().iter().map(|s| s[0]).collect();
    let mean = all.iter().sum::<f32>() / all.len() as f32;
    let std = (all.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / all.len() as f32).sqrt();
    biased[1].iter_mut().for_each(|s| s[0] += std);
    assert!(max_separation(&biased)[0] > 0.6);
}

/// Mean luma, red-green and blue-green of the face pixels (mask >= 0.5) of one frame.
fn face_stats(r: &Rendered) -> Option<[f32; 5]> {
    let (mut n, mut l, mut rg, mut bg) = (0.0f32, 0.0, 0.0, 0.0);
    for (i, &m) in r.mask.iter().enumerate() {
        if m >= 0.5 {
            let p = &r.rgb.data[i * 3..i * 3 + 3];
            n += 1.0;
            l += 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
            rg += p[0] - p[1];
            bg += p[2] - p[1];
        }
    }
    (n >= 20.0).then(|| [l / n, rg / n, bg / n, 0.0, 0.0])
}

#[test]
fn face_brightness_does_not_tell_the_class() {
    // The recording camera meters on the face for every class: over 48 videos per class the
    // class means of the face's luma and colour lie within 0.6 pooled standard deviations
    // (before the metering and the brighter skin, live faces were 1.0 std darker than prints).
    let mut o = tiny(12);
    (o.frames, o.width, o.height) = (1, 96, 72);
    let groups = first_frame_stats_per_class(&o, face_stats);
    assert!(groups.iter().all(|g| g.len() >= 40), "{:?}", groups.iter().map(Vec::len).collect::<Vec<_>>());
    let sep = max_separation(&groups);
    assert!(sep[..3].iter().all(|&s| s < 0.6), "class separation of face (luma, r-g, b-g): {sep:?}");
}

#[test]
fn presets_parse() {
    let s = SynthOptions::preset("small", 1).unwrap();
    assert_eq!((s.identities, s.split, s.frame_size(), s.face_crop), (24, [12, 6, 6], (224, 168), false));
    let c = SynthOptions::preset("small-crop", 1).unwrap();
    assert_eq!((c.frame_size(), c.face_crop), ((64, 64), true));
    // the demo's: small's frames with more domain-A identities and videos
    let d = SynthOptions::preset("demo", 1).unwrap();
    assert_eq!(
        (d.identities, d.split, d.videos_per_class, d.domain_b_split, d.frame_size(), d.frames),
        (84, [66, 9, 9], 3, [4, 4, 12], (224, 168), s.frames)
    );
    assert!(SynthOptions::preset("huge", 1).is_err());
    let mut bad = tiny(1);
    bad.split = [1, 1, 2];
    assert!(generate(&tmp("bad"), &bad, false).unwrap_err().to_string().contains("split"));
}

#[test]
fn identities_mix_only_their_own_domains_photos() {
    // A: the astronaut (0), Obama (2) and the sheet's even people, B: Hopper (1), Biden (3)
    // and the odd ones; + photos::FACES = mirrored.
    let people = [domain_people(0), domain_people(1)];
    assert!(people[0].iter().all(|p| !people[1].contains(p)), "a person in both domains");
    assert_eq!(people[0].len() + people[1].len(), photos::FACES);
    let domain_photos: Vec<Vec<usize>> =
        people.iter().map(|p| p.iter().flat_map(|&i| [i, i + photos::FACES]).collect()).collect();
    for (d, own) in domain_photos.iter().enumerate() {
        let mut mixed = 0;
        let mut persons = std::collections::BTreeSet::new();
        for i in 0..40 {
            let style = photo_style(d, i, &mut stream(1, &[6, i as u64]));
            assert!(own.contains(&style.photo), "domain {d} identity {i}: {style:?}");
            persons.insert(style.photo % photos::FACES);
            if let Some((other, weight)) = style.blend {
                assert!(
                    domain_photos[d].contains(&other) && other != style.photo,
                    "domain {d} identity {i}: {style:?}"
                );
                assert!((0.2..0.8).contains(&weight));
                mixed += 1;
            }
        }
        assert!((20..40).contains(&mixed), "domain {d}: {mixed} of 40 mixed");
        // every identity of a domain is a person of its own (86 people, the demo's 84 identities)
        assert_eq!(persons.len(), 40, "domain {d}: {} people in 40 identities", persons.len());
    }
    // Mixing changes the face and nothing else of the photo; the same draw, the same identity.
    let (obama, _) = photos::photo_and_uv(2);
    let mixed = scene::blended_photo(2, 0, 0.5, &mut stream(1, &[6, 0]));
    let (_, on_face) = photos::warped_into(0, 2);
    let change = |face: bool| {
        let px: Vec<usize> = (0..on_face.len()).filter(|&p| on_face[p] == face).collect();
        px.iter()
            .map(|&p| (0..3).map(|ch| (mixed.data[p * 3 + ch] - obama.data[p * 3 + ch]).abs()).sum::<f32>())
            .sum::<f32>()
            / (3 * px.len()) as f32
    };
    assert!(change(true) > 10.0 && change(false) == 0.0, "{} {}", change(true), change(false));
    let style = scene::PhotoStyle { blend: Some((0, 0.5)), ..photo_style(0, 1, &mut stream(1, &[6, 0])) };
    let a = scene::identity(&mut stream(1, &[1, 1]), &style);
    let b = scene::identity(&mut stream(1, &[1, 1]), &style);
    assert_eq!(a.tex.data, b.tex.data);
}

#[test]
fn a_live_render_is_a_whole_person_with_head_depth_around_the_face() {
    // A frontal person in the middle of the frame: above the forehead (hair) and beside the
    // face (ears) the person is there with depth in the label but outside the face mask;
    // below the chin (neck, clothes) the person is there without depth; far to the side of the
    // head, above the shoulders, the scene shows through.
    for photo in [0, 1, 2, 3, 4, 5] {
        let mut style = photo_style(photo % 2, photo / 2, &mut ChaCha8Rng::seed_from_u64(2));
        style.blend = None;
        let id = scene::identity(&mut ChaCha8Rng::seed_from_u64(1), &style);
        let cam = Camera::new(160, 120, 1.0);
        let pose = Pose::new([0.0, 0.0, 0.0], [0.0, -0.03, 0.6]);
        let light = Light { dir: [0.0, 0.0, -1.0], colour: [1.0; 3], ambient: 0.3 };
        let bg = Img::new(160, 120, 3);
        let r = scene::render(&Object::Face { id: &id, pose, body: pose }, &light, &bg, &cam);
        let at = |x: f32, y: f32| {
            let p = cam.project(pose.apply([x, y, 0.0]));
            p[1] as usize * cam.w + p[0] as usize
        };
        let hair = at(0.0, -0.11);
        assert!(r.cover[hair] > 0.5 && r.mask[hair] < 0.5 && r.depth[hair] > 0.05, "photo {photo}: hair");
        for side in [-0.09, 0.09] {
            let ear = at(side, 0.0);
            assert!(r.cover[ear] > 0.5 && r.depth[ear] > 0.05, "photo {photo}: beside the face at {side}");
        }
        let neck = at(0.0, 0.16);
        assert!(r.cover[neck] > 0.5 && r.mask[neck] < 0.5 && r.depth[neck] == 0.0, "photo {photo}: neck");
        let person: f32 = r.cover.iter().sum();
        let face: f32 = r.mask.iter().sum();
        assert!(person > 2.5 * face, "photo {photo}: person {person} px, face {face} px");
        assert_eq!(r.cover[at(0.3, -0.05)], 0.0, "photo {photo}: beside the head");
        // The nose is nearer than the hair above the forehead.
        let nose = r.depth[at(0.0, 0.0)];
        assert!(nose > r.depth[hair] + 0.1, "photo {photo}: nose {nose} hair {}", r.depth[hair]);
    }
}

#[test]
fn prints_show_the_whole_picture_and_its_background() {
    // Borderless and bordered prints (not the cut-outs): whole pictures cover several times the
    // face's box, small prints (cut to the head and shoulders, `SMALL_PRINT`) less, and every
    // sheet shows a good part of the picture beside the face.
    let mut o = tiny(4);
    (o.frames, o.width, o.height) = (1, 128, 96);
    let (mut n, mut whole) = (0, 0);
    for identity in 0..8 {
        for (domain, instrument) in [(0, "print_matte"), (0, "print_glossy"), (1, "print_photo")] {
            let v = VideoSpec { split: 0, domain, identity, class: 1, instrument: instrument.into(), k: 0 };
            let f = &render_video(&o, &v).unwrap()[0];
            let face_box = f.bbox.w * f.bbox.h;
            let sheet: f32 = f.cover.iter().sum();
            let not_face = f.cover.iter().zip(&f.mask).filter(|(c, m)| **c > 0.5 && **m < 0.5).count() as f32;
            eprintln!(
                "{instrument} {identity}: sheet / face box {:.2}, beside the face {:.2}",
                sheet / face_box,
                not_face / face_box
            );
            // A sheet partly out of the frame may show little; count those that are in view.
            if face_box < 0.5 * (o.width * o.height) as f32 {
                assert!(sheet > 1.2 * face_box, "{instrument} {identity}: sheet {sheet} px, face box {face_box}");
                assert!(not_face > 0.4 * face_box, "{instrument} {identity}: {not_face} px beside the face");
                whole += usize::from(sheet > 2.0 * face_box);
                n += 1;
            }
        }
    }
    assert!(n >= 12, "{n} prints in view");
    assert!(whole * 2 >= n, "{whole} of {n} prints show a whole picture");
}

#[test]
fn a_small_print_is_the_picture_cut_around_its_face() {
    // A 200 x 300 picture whose pixels say where they are, its face box in the middle.
    let mut picture = Img::new(200, 300, 3);
    for (i, px) in picture.data.chunks_mut(3).enumerate() {
        px.copy_from_slice(&[(i % 200) as f32, (i / 200) as f32, 7.0]);
    }
    let mask = Img { w: 200, h: 300, c: 1, data: (0..200 * 300).map(|i| (i % 200) as f32).collect() };
    let fuv = [0.3, 0.3, 0.7, 0.55];
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for _ in 0..50 {
        let (cut, cut_mask, f) = cut_to_head(picture.clone(), mask.clone(), fuv, &mut rng);
        let (x0, y0) = (cut.at(0, 0, 0), cut.at(0, 0, 1));
        // 1.3-2 face widths wide (80 px), the face inside, above and below it some of the picture
        assert!((104.0..=161.0).contains(&(cut.w as f32)), "width {}", cut.w);
        assert!(f[0] > 0.0 && f[2] < 1.0 && f[1] > 0.0 && f[3] < 1.0, "{f:?}");
        // the face box is where it was in the picture, the mask cut with the pixels
        assert!((x0 + f[0] * cut.w as f32 - 60.0).abs() < 1e-3 && (y0 + f[1] * cut.h as f32 - 90.0).abs() < 1e-3);
        assert_eq!((cut_mask.w, cut_mask.h, cut_mask.at(0, 0, 0)), (cut.w, cut.h, x0));
    }
}

#[test]
fn a_still_live_video_shows_the_photo_itself_with_the_fitted_depth() {
    // The frame is a window on the identity's own picture (no photo edge in view, the pixels
    // those of the picture), the depth label is on the face and the head around it (the nose
    // nearer than the forehead's hair line), zero on the photo's background, and the face box
    // and mask agree.
    for photo in [0, 1, 2, 3] {
        let mut style = photo_style(photo % 2, photo / 2, &mut ChaCha8Rng::seed_from_u64(2));
        style.blend = None;
        let id = scene::identity(&mut ChaCha8Rng::seed_from_u64(1), &style);
        let (w, h) = (160, 120);
        let frames = still::still_frames(
            &id,
            &Light { dir: [0.0, 0.0, -1.0], colour: [1.0; 3], ambient: 0.5 },
            (w, h),
            (80.0, 60.0, 70.0),
            3,
            &mut ChaCha8Rng::seed_from_u64(3),
        );
        assert_eq!(frames.len(), 3);
        for (t, f) in frames.iter().enumerate() {
            let b = f.bbox;
            assert!(b.x >= -1.0 && b.y >= -1.0 && b.x + b.w <= w as f32 + 1.0, "photo {photo} frame {t}: box {b:?}");
            let at = |x: f32, y: f32| (y as usize).min(h - 1) * w + (x as usize).min(w - 1);
            let (cx, cy) = (b.x + b.w / 2.0, b.y + b.h / 2.0);
            assert!(f.mask[at(cx, cy)] > 0.5 && f.depth[at(cx, cy)] > 0.3, "photo {photo} frame {t}: face centre");
            // the corners are the photo's background: no depth, no face
            for (x, y) in [(0.0, 0.0), (w as f32 - 1.0, 0.0)] {
                assert_eq!(f.depth[at(x, y)], 0.0, "photo {photo} frame {t}: corner ({x}, {y})");
                assert_eq!(f.mask[at(x, y)], 0.0, "photo {photo} frame {t}: corner ({x}, {y})");
            }
            // the nose (a little below the box centre) is nearer than the top of the face box
            let (nose, brow) = (f.depth[at(cx, cy + 0.05 * b.h)], f.depth[at(cx, b.y + 0.08 * b.h)]);
            assert!(nose > brow, "photo {photo} frame {t}: nose {nose} brow {brow}");
            // no black edge anywhere: the window stays inside the picture
            let dark_rows =
                (0..h).filter(|&y| (0..w).all(|x| f.rgb.data[(y * w + x) * 3..][..3].iter().all(|&v| v < 1.0))).count();
            assert_eq!(dark_rows, 0, "photo {photo} frame {t}");
        }
    }
}
