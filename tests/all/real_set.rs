//! The real-image check's tools: tools/real_set.py (downloads the check set) and
//! tools/real_check.py (scores models on it), run through python3 on small made-up sets.

use crate::common;
use std::path::{Path, PathBuf};
use std::process::Output;

fn tmp(name: &str) -> PathBuf {
    common::tmp_dir("realset", name)
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// tools/real_set.py (the real check set's downloader) from a local mirror: files checked by
/// SHA-256, a bad or unreachable file left out and counted, an existing folder refused, a list
/// with a path that leaves the set refused before anything is written.
#[test]
fn the_real_set_downloader_checks_every_file_and_writes_only_a_new_folder() {
    let dir = tmp("real_set");
    let mirror = dir.join("mirror");
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let put = |repo: &str, path: &str, bytes: &[u8]| {
        let p = mirror.join(repo).join(commit).join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    };
    put("a/faces", "img/real one.jpg", b"live bytes");
    put("a/faces", "img/fake.jpg", b"attack bytes");
    put("b/more", "x.png", b"changed since listed");
    let sha = |b: &[u8]| {
        let o = std::process::Command::new("python3")
            .args(["-c", "import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(b)?;
                c.wait_with_output()
            })
            .expect("python3 runs");
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let row = |file: &str, class: &str, repo: &str, path: &str, bytes: &[u8]| {
        format!("{file},{class},{repo},{commit},{path},none,test,{}\n", sha(bytes))
    };
    let header = "file,class,repo,commit,path,licence,kind,sha256\n";
    let manifest = dir.join("set.csv");
    std::fs::write(
        &manifest,
        [
            header.to_string(),
            row("live/a_one.jpg", "live", "a/faces", "img/real one.jpg", b"live bytes"),
            row("attack/a_two.jpg", "attack", "a/faces", "img/fake.jpg", b"attack bytes"),
            row("attack/b_three.png", "attack", "b/more", "x.png", b"as listed"),
            row("live/b_gone.png", "live", "b/more", "gone.png", b"anything"),
        ]
        .concat(),
    )
    .unwrap();
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/real_set.py");
    let base = format!("file://{}", mirror.display());
    let run = |manifest: &Path, out: &Path| {
        std::process::Command::new("python3")
            .arg(&tool)
            .arg("--manifest")
            .arg(manifest)
            .args(["--base", &base])
            .arg(out)
            .output()
            .expect("python3 runs tools/real_set.py")
    };
    let out = dir.join("set");
    let o = run(&manifest, &out);
    let said = format!("{}{}", String::from_utf8_lossy(&o.stdout), err(&o));
    assert!(o.status.success(), "{said}");
    assert!(said.contains("2 of 4 files") && said.contains("2 left out"), "{said}");
    assert!(said.contains("b_three.png") && said.contains("SHA-256 differs"), "{said}");
    assert_eq!(std::fs::read(out.join("live/a_one.jpg")).unwrap(), b"live bytes");
    assert_eq!(std::fs::read(out.join("attack/a_two.jpg")).unwrap(), b"attack bytes");
    assert!(!out.join("attack/b_three.png").exists() && !out.join("live/b_gone.png").exists());
    let missing = std::fs::read_to_string(out.join("MISSING.txt")).unwrap();
    assert_eq!(missing.lines().count(), 2, "{missing}");
    assert!(!dir.join("set.partial").exists());
    // a second run into the same folder is refused and changes nothing
    let o = run(&manifest, &out);
    assert!(!o.status.success() && err(&o).contains("exists"), "{}", err(&o));
    assert_eq!(std::fs::read(out.join("live/a_one.jpg")).unwrap(), b"live bytes");
    // a listed file that would land outside live/ or attack/ is refused before anything is made
    let bad = dir.join("bad.csv");
    std::fs::write(
        &bad,
        [header.to_string(), row("live/../../x.jpg", "live", "a/faces", "img/fake.jpg", b"attack bytes")].concat(),
    )
    .unwrap();
    let out2 = dir.join("set2");
    let o = run(&bad, &out2);
    assert!(!o.status.success() && err(&o).contains("bad.csv: line 2"), "{}", err(&o));
    assert!(!out2.exists() && !dir.join("set2.partial").exists());
}

/// tools/real_check.py's numbers on a made-up set, scored by a stand-in for `tdfas infer` that
/// reads each item's score from its name: AUC over all pairs, the within-source AUC over
/// same-source pairs only, BPCER and APCER from the verdicts, an item without a face left out.
#[test]
fn the_real_check_counts_auc_within_source_auc_and_error_rates_as_defined() {
    let dir = tmp("real_check");
    let root = dir.join("set");
    // source a: live 0.9, 0.8 / attack 0.1; source b: live 0.2 / attacks 0.3, 0.25; c: no face
    for (class, names) in [
        ("live", vec!["a_0.9.png", "a_0.8.png", "b_0.2.png", "c_none.png"]),
        ("attack", vec!["a_0.1.png", "b_0.3.png", "b_0.25.png"]),
    ] {
        std::fs::create_dir_all(root.join(class)).unwrap();
        for n in names {
            image::RgbImage::new(8, 8).save(root.join(class).join(n)).unwrap();
        }
    }
    let ckpt = dir.join("model.safetensors");
    std::fs::write(&ckpt, b"the fake tdfas below does not read it").unwrap();
    let fake = dir.join("fake_tdfas.py");
    std::fs::write(
        &fake,
        r#"import json, sys, pathlib
a = sys.argv[1:]
out = a[a.index("--json") + 1]
inputs = a[a.index("--json") + 2:]
with open(out, "w") as f:
    for p in inputs:
        s = pathlib.Path(p).stem.split("_")[1]
        score = None if s == "none" else float(s)
        v = None if score is None else ("live" if score >= 0.5 else "attack")
        # a's photos frame the face (the whole crop is picture), b's are cut close to it
        share = 1.0 if pathlib.Path(p).name.startswith("a") else 0.25
        f.write(json.dumps({"input": p, "score": score, "verdict": v, "threshold": {"value": 0.5},
                            "face": {"face_box": [0, 0, 4, 4], "crop_in_picture": share}}) + "\n")
"#,
    )
    .unwrap();
    let tdfas = dir.join("tdfas");
    std::fs::write(&tdfas, format!("#!/bin/sh\nexec python3 {} \"$@\"\n", fake.display())).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tdfas, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let json = dir.join("out.json");
    let o = std::process::Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/real_check.py"))
        .arg("--root")
        .arg(&root)
        .arg("--tdfas")
        .arg(&tdfas)
        .arg("--json")
        .arg(&json)
        .arg("--by-source")
        .arg(&ckpt)
        .output()
        .expect("python3 runs tools/real_check.py");
    let said = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success(), "{said}{}", err(&o));
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let r = &r[0];
    let close = |k: &str, want: f64| {
        let got = r[k].as_f64().unwrap_or(f64::NAN);
        assert!((got - want).abs() < 1e-9, "{k}: {got}, want {want}\n{said}");
    };
    // 9 live/attack pairs: 0.9 and 0.8 beat all three attacks, 0.2 beats 0.1 only
    close("auc", 7.0 / 9.0);
    // same-source pairs only: a's 2 pairs won, b's 2 lost
    close("auc_within_source", 0.5);
    close("bpcer", 1.0 / 3.0);
    close("apcer", 0.0);
    assert_eq!((r["live"].as_u64(), r["attack"].as_u64()), (Some(3), Some(3)));
    assert_eq!(r["no_face"], serde_json::json!(["live/c_none.png"]));
    assert!(said.contains("within-source AUC 0.500"), "{said}");
    // apart, by the crop share infer reports: a's photos (all picture) rank right, b's (a
    // quarter picture) wrong
    let f = &r["framing"];
    assert_eq!((f["framed"]["live"].as_u64(), f["framed"]["attack"].as_u64()), (Some(2), Some(1)), "{f}");
    assert_eq!((f["close_cut"]["live"].as_u64(), f["close_cut"]["attack"].as_u64()), (Some(1), Some(2)), "{f}");
    assert_eq!((f["framed"]["auc"].as_f64(), f["close_cut"]["auc"].as_f64()), (Some(1.0), Some(0.0)), "{f}");
    assert_eq!(f["close_cut"]["bpcer"].as_f64(), Some(1.0), "{f}");
    assert!(said.contains("photos cut close (crop < 60% picture): 1 live, 2 attacks: AUC 0.000"), "{said}");
}

/// The research tools never replace a file they are told to write without `--overwrite`: the
/// existing file is left as it was and the message names it (checked before any model loads, so
/// no torch is needed here).
#[test]
fn the_reference_and_real_check_tools_refuse_to_replace_an_existing_output() {
    let dir = tmp("refuse");
    let mine = dir.join("mine.json");
    std::fs::write(&mine, "my notes").unwrap();
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools");
    let runs: [Vec<std::ffi::OsString>; 2] = [
        vec![
            tools.join("reference_model.py").into(),
            "--sfas".into(),
            dir.join("no_sfas").into(),
            "synth".into(),
            dir.join("no_data").into(),
            "--json".into(),
            mine.clone().into(),
        ],
        vec![tools.join("real_check.py").into(), "--json".into(), mine.clone().into(), "m.safetensors".into()],
    ];
    for args in runs {
        let o = std::process::Command::new("python3").args(&args).output().expect("python3 runs");
        assert!(!o.status.success(), "{args:?} replaced an existing file");
        assert!(err(&o).contains("mine.json exists"), "{}", err(&o));
        assert_eq!(std::fs::read_to_string(&mine).unwrap(), "my notes");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A checkpoint tdfas cannot use scores nothing: the real check says which checkpoint and what
/// tdfas said, and exits non-zero (not a Python traceback about a missing file).
#[test]
fn the_real_check_names_a_checkpoint_tdfas_cannot_use() {
    let dir = tmp("unusable");
    let root = dir.join("set");
    for class in ["live", "attack"] {
        std::fs::create_dir_all(root.join(class)).unwrap();
        image::RgbImage::new(64, 64).save(root.join(class).join("a_1.png")).unwrap();
    }
    let ckpt = dir.join("broken.safetensors");
    std::fs::write(&ckpt, b"x").unwrap();
    let o = std::process::Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/real_check.py"))
        .arg("--root")
        .arg(&root)
        .arg("--tdfas")
        .arg(env!("CARGO_BIN_EXE_tdfas"))
        .arg(&ckpt)
        .output()
        .expect("python3 runs tools/real_check.py");
    let said = err(&o);
    assert!(!o.status.success(), "{said}");
    assert!(said.contains("broken.safetensors: tdfas infer scored nothing"), "{said}");
    assert!(said.contains("too short for a safetensors header"), "{said}");
    assert!(!said.contains("Traceback"), "{said}");
    let _ = std::fs::remove_dir_all(&dir);
}
