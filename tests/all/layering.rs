//! The module layers declared in src/lib.rs's doc comment hold: no file under src/<module>/ (or
//! src/<module>.rs) names a module of a higher layer through a `crate::` path. Modules on one
//! line of the list form one layer and may use each other. There are no exceptions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Items `pub use`d at the crate root (src/lib.rs) and `#[macro_export]` macros, by the module
/// that defines them.
const ROOT_ITEMS: &[(&str, &str)] = &[
    ("Gpu", "gpu"),
    ("Tensor", "tensor"),
    ("Tape", "graph"),
    ("Var", "graph"),
    ("ParamStore", "graph"),
    ("uniform", "gpu"),
    ("shader", "gpu"),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Layer rank of each module, from the ```text block of src/lib.rs's doc comment: one layer a
/// line, its modules before the first double space; a line that starts with a space continues
/// the description above.
fn declared_layers() -> BTreeMap<String, usize> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let doc: Vec<&str> =
        lib.lines().filter_map(|l| l.strip_prefix("//!")).map(|l| l.strip_prefix(' ').unwrap_or(l)).collect();
    let start = doc.iter().position(|l| *l == "```text").expect("src/lib.rs: no ```text block of layers");
    let lines = doc[start + 1..].iter().take_while(|l| **l != "```").filter(|l| !l.starts_with(' '));
    let mut layers = BTreeMap::new();
    for (rank, line) in lines.enumerate() {
        for name in line.split("  ").next().unwrap().split(',') {
            layers.insert(name.trim().to_string(), rank);
        }
    }
    layers
}

/// The first segment of every `crate::` path in `code` (`crate::{a::b, c}` gives a and c).
fn crate_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `tdfas_crate::` and the like
        }
        if let Some(group) = rest.strip_prefix('{') {
            let (mut depth, mut item, mut end) = (0, String::new(), group.len());
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        end = j;
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(first_segment(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            out.push(first_segment(&item));
            rest = &group[end..];
        } else {
            out.push(first_segment(rest));
        }
    }
    out.retain(|s| !s.is_empty() && s != "self");
    out
}

fn first_segment(path: &str) -> String {
    path.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

/// Every .rs file under src/ except the crate root and the binary, with its top-level module.
fn module_files() -> Vec<(String, PathBuf)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&src(), &mut files);
    files.sort();
    files
        .into_iter()
        .filter_map(|p| {
            let rel = p.strip_prefix(src()).unwrap();
            let first = rel.components().next()?.as_os_str().to_str()?.trim_end_matches(".rs").to_string();
            (first != "lib" && first != "main").then_some((first, p))
        })
        .collect()
}

/// Code lines only: comments say things like "see crate::eval" without importing anything.
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

#[test]
fn every_module_is_in_a_declared_layer() {
    let layers = declared_layers();
    let order = ["util", "reference", "gpu", "tensor", "graph", "ops", "data", "model", "eval", "train", "infer"];
    assert!(order.windows(2).all(|w| layers[w[0]] < layers[w[1]]), "{layers:?}");
    for (module, path) in module_files() {
        assert!(layers.contains_key(&module), "{}: module `{module}` is in no layer of src/lib.rs", path.display());
    }
}

/// What in `code` (file `rel` of module `module`) breaks the layers.
fn violations(layers: &BTreeMap<String, usize>, module: &str, rel: &str, code: &str) -> Vec<String> {
    let Some(&rank) = layers.get(module) else { return Vec::new() };
    let root: BTreeMap<&str, &str> = ROOT_ITEMS.iter().copied().collect();
    let mut out = Vec::new();
    for name in crate_paths(code) {
        let target = root.get(name.as_str()).map(|s| s.to_string()).unwrap_or(name);
        if target == module {
            continue;
        }
        match layers.get(&target) {
            None => out.push(format!("{rel}: `crate::{target}` is neither a module of a layer nor in ROOT_ITEMS")),
            Some(&target_rank) if target_rank > rank => {
                out.push(format!("{rel}: `{module}` uses `crate::{target}`, a higher layer"))
            }
            Some(_) => {}
        }
    }
    out
}

#[test]
fn no_module_uses_a_higher_layer() {
    let layers = declared_layers();
    let mut found = Vec::new();
    for (module, path) in module_files() {
        let rel = format!("src/{}", path.strip_prefix(src()).unwrap().display());
        found.extend(violations(&layers, &module, &rel, &code_of(&path)));
    }
    found.sort();
    found.dedup();
    assert!(found.is_empty(), "layering (src/lib.rs) broken:\n{}", found.join("\n"));
}

#[test]
fn the_runtime_using_an_op_is_a_violation() {
    // the exception this test once allowed: op tuning in the runtime
    let layers = declared_layers();
    let code = "use crate::ops::conv::{self, ConvKernel};\nlet k = crate::tensor::Tensor::empty(g, &[1]);";
    let found = violations(&layers, "gpu", "src/gpu/tuning.rs", code);
    assert_eq!(
        found,
        [
            "src/gpu/tuning.rs: `gpu` uses `crate::ops`, a higher layer",
            "src/gpu/tuning.rs: `gpu` uses `crate::tensor`, a higher layer"
        ]
    );
    assert!(violations(&layers, "ops", "src/ops/tuning.rs", "use crate::gpu::Gpu;").is_empty());
}

#[test]
fn the_runtime_binding_a_tensor_is_a_violation() {
    // gpu binds buffer ranges; the tensor (and the root's `Tensor`) sits above it
    let layers = declared_layers();
    let found = violations(
        &layers,
        "gpu",
        "src/gpu/recorder.rs",
        "use crate::Tensor;
use crate::gpu::BufferRange;",
    );
    assert_eq!(found, ["src/gpu/recorder.rs: `gpu` uses `crate::tensor`, a higher layer"]);
    assert!(violations(&layers, "tensor", "src/tensor.rs", "use crate::gpu::{BufferRange, Gpu};").is_empty());
}

#[test]
fn paths_are_read_from_use_groups_and_expressions() {
    let code = "use crate::{gpu::Gpu, ops::{conv, pool}};\nlet x = crate::eval::run(1);\nuse tdfas_crate::x;";
    assert_eq!(crate_paths(code), ["gpu", "ops", "eval"]);
}
