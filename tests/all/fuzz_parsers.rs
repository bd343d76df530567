//! Fuzzing: tdfas::model::checkpoint::parse, Config::from_toml, the protocol-file parser and the
//! bbox.csv parser never panic on any input. Seeded proptest runs with fixed case counts; a
//! failing input is saved under tests/fuzz_corpus/<target>/ and the corpus is replayed first.

use std::path::PathBuf;

use proptest::prelude::*;
use proptest::test_runner::{Config as PtConfig, RngAlgorithm, TestRng, TestRunner};
use safetensors::tensor::{Dtype, TensorView};
use tdfas::model::Config;

const CASES: u32 = 2000;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_corpus").join(target)
}

/// Replays the saved corpus, then runs `CASES` seeded cases; saves and reports a failing input.
fn fuzz(target: &str, seed: u8, strategy: impl Strategy<Value = Vec<u8>>, check: impl Fn(&[u8])) {
    let dir = corpus_dir(target);
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries {
            let p = e.unwrap().path();
            check(&std::fs::read(&p).unwrap());
        }
    }
    let config = PtConfig { cases: CASES, failure_persistence: None, ..PtConfig::default() };
    let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]));
    if let Err(e) = runner.run(&strategy, |bytes| {
        check(&bytes);
        Ok(())
    }) {
        if let proptest::test_runner::TestError::Fail(_, bytes) = &e {
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(format!("crash-{seed}-{}", bytes.len()));
            std::fs::write(&path, bytes).unwrap();
            panic!("{target}: {e}; input saved to {}", path.display());
        }
        panic!("{target}: {e}");
    }
    println!("{target}: {CASES} executions");
}

/// Random bytes, or `base` with a few bytes overwritten, spliced in, and a truncation.
fn mutations(base: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let n = base.len();
    let mutated = (
        prop::collection::vec((0..n, any::<u8>()), 0..6),
        prop::collection::vec((0..n, prop::collection::vec(any::<u8>(), 1..9)), 0..2),
        prop::option::of(0..n),
    )
        .prop_map(move |(flips, inserts, cut)| {
            let mut b = base.clone();
            for (i, v) in flips {
                b[i] = v;
            }
            for (i, bytes) in inserts {
                let i = i.min(b.len());
                b.splice(i..i, bytes);
            }
            if let Some(c) = cut {
                b.truncate(c);
            }
            b
        });
    prop_oneof![1 => prop::collection::vec(any::<u8>(), 0..64), 4 => mutated]
}

/// Lines made of the tokens a parser cares about (and some it does not expect).
fn token_text(tokens: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(tokens), 0..40).prop_map(|t| t.concat().into_bytes())
}

fn micro_config() -> Config {
    let mut c = Config::preset("tiny").unwrap();
    c.image_size = 16;
    c.frames = 3;
    c
}

/// A small valid checkpoint made without a GPU: the parser checks the format, not the model.
fn valid_checkpoint() -> Vec<u8> {
    let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = vec![
        ("a.weight".into(), vec![2, 3], (0..6).flat_map(|i| (i as f32 * 0.5).to_le_bytes()).collect()),
        ("b.bias".into(), vec![3], (0..3).flat_map(|i| (i as f32 - 1.0).to_le_bytes()).collect()),
    ];
    let mut meta = std::collections::HashMap::new();
    meta.insert("config".to_string(), micro_config().to_json());
    meta.insert("progress".to_string(), r#"{"stage":1,"step":2,"seed":0,"stage_done":false}"#.to_string());
    let sum = tdfas::model::checkpoint::checksum(
        tensors.iter().map(|(n, s, b)| (n.as_str(), s.as_slice(), b.as_slice())),
        &meta,
    );
    meta.insert(tdfas::model::checkpoint::CHECKSUM_KEY.to_string(), sum);
    let views: Vec<(String, TensorView)> =
        tensors.iter().map(|(n, s, b)| (n.clone(), TensorView::new(Dtype::F32, s.clone(), b).unwrap())).collect();
    safetensors::serialize(views, Some(meta)).unwrap()
}

#[test]
fn fuzz_checkpoint_parse() {
    let base = valid_checkpoint();
    let loaded = tdfas::model::checkpoint::parse(&base).unwrap();
    assert_eq!(loaded.tensors.len(), 2);
    fuzz("checkpoint", 1, mutations(base), |b| {
        let _ = tdfas::model::checkpoint::parse(b);
    });
}

#[test]
fn fuzz_config_from_toml() {
    let base = toml::to_string(&micro_config()).unwrap();
    Config::from_toml(&base, "base.toml").unwrap();
    // mutate the text of a valid config: whole values replaced by odd ones, bytes flipped
    const ODD: &[&str] = &[
        "0",
        "-1",
        "1e400",
        "nan",
        "inf",
        "-0.0",
        "\"4\"",
        "\"x\"",
        "[1, 2]",
        "[]",
        "{}",
        "18446744073709551616",
        "4294967297",
        "true",
        "1_000",
        "0x10",
        "\"\"",
        "[0, 0, 0]",
        "99999999999",
    ];
    let lines: Vec<String> = base.lines().map(String::from).collect();
    let n = lines.len();
    let edited = prop::collection::vec((0..n, prop::sample::select(ODD)), 1..4).prop_map(move |edits| {
        let mut l = lines.clone();
        for (i, v) in edits {
            if let Some((key, _)) = l[i].split_once(" = ") {
                l[i] = format!("{key} = {v}");
            }
        }
        l.join("\n").into_bytes()
    });
    let strategy = prop_oneof![2 => edited, 1 => mutations(base.into_bytes())];
    fuzz("config", 2, strategy, |b| {
        if let Ok(c) = Config::from_toml(&String::from_utf8_lossy(b), "fuzz.toml") {
            // anything accepted is usable: derived values do not panic
            let _ = (c.variant(), c.map_size(), c.clip_spec().span(), Config::from_json(&c.to_json()).unwrap());
        }
    });
}

#[test]
fn fuzz_protocol_parse() {
    const TOKENS: &[&str] = &[
        "+1",
        "-1",
        "1",
        "0",
        "2",
        ",",
        ",",
        "\n",
        "\n",
        "\r\n",
        " ",
        "\t",
        "#",
        "train/live/a",
        "x",
        "é",
        "\u{feff}",
        "\0",
        "+",
        "-",
        "..",
        "/",
    ];
    fuzz("protocol", 3, prop_oneof![token_text(TOKENS), mutations(b"+1,train/live/a\n-1,x\n".to_vec())], |b| {
        if let Ok(entries) = tdfas::data::protocol::parse(&String::from_utf8_lossy(b), "fuzz.txt") {
            assert!(entries.iter().all(|e| e.label <= 1 && !e.name.is_empty() && e.line >= 1));
        }
    });
}

#[test]
fn fuzz_bbox_parse() {
    const TOKENS: &[&str] = &[
        "0",
        "1",
        "9",
        "12",
        ".",
        "-",
        "e",
        "E",
        "+",
        "NaN",
        "inf",
        "1e30",
        "4294967296",
        ",",
        ",",
        ",",
        "\n",
        "\n",
        " ",
        "frame",
        "#",
        "\r\n",
        "é",
        "\0",
    ];
    fuzz("bbox", 4, prop_oneof![token_text(TOKENS), mutations(b"frame,x,y,w,h\n0,1,2,30,40\n".to_vec())], |b| {
        if let Ok(boxes) = tdfas::data::generic::parse_bbox(&String::from_utf8_lossy(b), "bbox.csv") {
            for r in boxes.values() {
                assert!(r.w > 0.0 && r.h > 0.0 && r.x.is_finite() && r.y.is_finite(), "{r:?}");
                // a parsed box must be usable: cropping and label sampling stay cheap
                let img = tdfas::data::imageops::Img::new(8, 8, 1);
                let _ = tdfas::data::imageops::area_resample(&img, r.square_scaled(1.3), 2);
            }
        }
    });
}
