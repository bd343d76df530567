use super::*;
use crate::data::{ClipSpec, Dataset, Split};

fn tiny(seed: u64) -> SynthOptions {
    SynthOptions {
        seed,
        preset: "tiny".into(),
        identities: 3,
        split: [1, 1, 1],
        videos_per_class: 2,
        cross_videos_per_class: 1,
        frames: 3,
        size: 24,
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
    assert_eq!(s.videos, 3 * 3 * 2 + 3);
    assert!(fa.len() > s.frames * 3);
    assert!(fa == fb, "same seed must give the same bytes");
    assert!(fa != fc, "another seed must change the data");
    for d in [a, b, c] {
        std::fs::remove_dir_all(d).ok();
    }
}

#[test]
fn live_depth_follows_mesh_geometry() {
    // Frontal face: the label's maximum is at the projected nose tip, and label order follows
    // mesh depth (nose tip nearer than the eye corners).
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let id = scene::identity(&mut rng, false);
    let pose = Pose::new([0.0, 0.0, 0.0], [0.0, 0.0, 0.45]);
    let light = Light { dir: [0.0, 0.0, -1.0], colour: [1.0; 3], ambient: 0.3 };
    let bg = Background::random(&mut rng, 3);
    let n = 64;
    let r = scene::render(&Object::Face { id: &id, pose }, &light, &bg, n, [0.0; 3]);
    // Recover the crop camera from the projected mesh bbox as render does.
    let xy: Vec<[f32; 2]> = id
        .verts
        .iter()
        .map(|v| {
            let p = pose.apply(*v);
            [p[0] / p[2], p[1] / p[2]]
        })
        .collect();
    let (x0, x1) = xy.iter().fold((f32::MAX, f32::MIN), |a, p| (a.0.min(p[0]), a.1.max(p[0])));
    let (y0, y1) = xy.iter().fold((f32::MAX, f32::MIN), |a, p| (a.0.min(p[1]), a.1.max(p[1])));
    let side = 1.3 * (x1 - x0).max(y1 - y0);
    let to_px = |p: [f32; 2]| {
        let x = (p[0] - ((x0 + x1) / 2.0 - side / 2.0)) / side * n as f32;
        let y = (p[1] - ((y0 + y1) / 2.0 - side / 2.0)) / side * n as f32;
        (x.floor() as usize).min(n - 1) + (y.floor() as usize).min(n - 1) * n
    };
    let nose = to_px(xy[crate::data::mesh::NOSE_TIP]);
    let eye = to_px(xy[crate::data::mesh::EYE_LEFT[0]]);
    let max = r.depth.iter().cloned().fold(0.0, f32::max);
    assert!(r.depth[nose] > 0.9 * max, "nose {} max {max}", r.depth[nose]);
    assert!(r.depth[nose] > r.depth[eye] + 0.1, "nose {} eye {}", r.depth[nose], r.depth[eye]);
    assert_eq!(r.depth[0], 0.0, "corner is background");
    assert_eq!(r.mask[0], 0.0);
    assert!(r.mask[nose] > 0.5);
}

#[test]
fn benchmark_reads_back_with_protocols_and_preview() {
    let root = tmp("read");
    generate(&root, &tiny(3), false).unwrap();
    let spec = ClipSpec { frames: 2, interval: 1, size: 16, map: 4 };
    let all = Dataset::open(&root, Split::Train, Some("all"), &spec).unwrap();
    assert_eq!(all.len(), 6, "1 identity x 6 videos x 1 clip: {:?}", all.skipped());
    let clip = all.load(0, None).unwrap();
    assert_eq!(clip.frames.len(), 2 * 3 * 16 * 16);
    assert_eq!((clip.depth.len(), clip.mask.len()), (2 * 16, 2 * 16));
    assert!(clip.frames.iter().all(|v| (-1.0..=1.0).contains(v)));
    let live = (0..all.len()).find(|&i| all.index(i).label == 1).unwrap();
    let spoof = (0..all.len()).find(|&i| all.index(i).label == 0).unwrap();
    let l = all.load(live, None).unwrap();
    let s = all.load(spoof, None).unwrap();
    assert!(l.depth.iter().any(|&d| d > 0.5) && s.depth.iter().all(|&d| d == 0.0));
    assert!(s.mask.contains(&1.0), "attack mask marks the face on the medium");
    // P2: train sees only instrument 1 attacks, test only instrument 2.
    let p2 = Dataset::open(&root, Split::Test, Some("P2"), &spec).unwrap();
    let inst: Vec<&str> = (0..p2.len()).map(|i| p2.index(i).instrument.as_str()).collect();
    assert!(inst.contains(&"print2") && !inst.contains(&"print1"), "{inst:?}");
    // Cross: test clips are the x_ ones.
    let cross = Dataset::open(&root, Split::Test, Some("cross"), &spec).unwrap();
    assert!(cross.len() == 3 && (0..3).all(|i| cross.index(i).video_id.contains("/x_")));
    let png = root.join("preview.png");
    preview(&root, &png).unwrap();
    assert!(image::open(&png).unwrap().width() > 9 * 24);
    std::fs::remove_dir_all(root).ok();
}

#[test]
fn presets_parse() {
    let s = SynthOptions::preset("small", 1).unwrap();
    assert_eq!((s.identities, s.split, s.size), (24, [12, 6, 6], 64));
    assert!(SynthOptions::preset("huge", 1).is_err());
}
