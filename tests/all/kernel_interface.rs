//! Kernel interfaces come from the WGSL (naga reflection): every entry point follows the binding
//! conventions and is dispatched by its op, and a Rust uniform struct or buffer list that
//! disagrees with the shader is an error naming shader, entry point and field.

use crate::common;

use bytemuck::{Pod, Zeroable};
use tdfas::gpu::reflect::{interfaces, Interface};
use tdfas::Tensor;

fn parse(name: &str, source: &str) -> naga::Module {
    naga::front::wgsl::parse_str(source).unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)))
}

/// Every source file under src/, with its `shader!(..)` declarations cut out (what is left names
/// the entry points it dispatches).
fn crate_sources() -> Vec<(String, String)> {
    fn walk(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push((p.display().to_string(), without_declarations(&std::fs::read_to_string(&p).unwrap())));
            }
        }
    }
    let mut out = Vec::new();
    walk(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut out);
    out
}

/// `code` without its `shader!(...)` invocations.
fn without_declarations(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(i) = rest.find("shader!(") {
        out.push_str(&rest[..i]);
        let mut depth = 0;
        let end = rest[i..]
            .char_indices()
            .find(|&(_, c)| {
                depth += (c == '(') as i32 - (c == ')') as i32;
                c == ')' && depth == 0
            })
            .map_or(rest.len(), |(j, _)| i + j + 1);
        rest = &rest[end..];
    }
    out + rest
}

#[test]
fn every_entry_point_follows_the_conventions_and_is_declared_and_dispatched() {
    let sources = crate_sources();
    let mut failures = Vec::new();
    let mut names: Vec<&str> = tdfas::ops::shaders().map(|s| s.name).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        failures.push(format!("shaders/{}.wgsl is declared by two ops", w[0]));
    }
    for shader in tdfas::ops::shaders() {
        let name = shader.name;
        let list = match interfaces(&shader.path(), &parse(name, shader.source)) {
            Ok(l) => l,
            Err(e) => {
                failures.push(format!("{e:#}"));
                continue;
            }
        };
        // the op's KERNELS lists the file's entry points: all of them, or for a template's
        // variant some (each file's entry points all listed by one of its variants, below)
        let wgsl: Vec<&str> = list.iter().map(|i| i.entry.as_str()).collect();
        if let Some(e) = shader.entries.iter().find(|e| !wgsl.contains(e)) {
            failures.push(format!("{}: its op's KERNELS lists `{e}`, which it has not", shader.path()));
        }
        let listed = |e: &str| tdfas::ops::shaders().any(|s| s.file == shader.file && s.entries.contains(&e));
        if let Some(e) = wgsl.iter().find(|e| !listed(e)) {
            failures.push(format!("shaders/{}.wgsl `{e}`: in no op's KERNELS", shader.file));
        }
        // The op file that names this shader must name each of its entry points too (else the
        // entry point is dead code); an entry point named as its file may be dispatched by the
        // shader's name.
        let users: Vec<&(String, String)> =
            sources.iter().filter(|(_, s)| s.contains(&name.to_ascii_uppercase())).collect();
        if users.is_empty() {
            failures.push(format!("{name}.wgsl: no source file under src/ dispatches {}", name.to_ascii_uppercase()));
        }
        for i in &list {
            let named = users.iter().any(|(_, s)| s.contains(&format!("\"{}\"", i.entry)));
            if !named && i.entry != name {
                failures.push(format!("{name}.wgsl `{}`: not named by the op file that uses it", i.entry));
            }
            let u = i.uniform.as_ref();
            if u.is_none_or(|u| u.size % 16 != 0) {
                failures.push(format!(
                    "{name}.wgsl `{}`: uniform parameters must be a struct of 16-byte multiples",
                    i.entry
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn declarations_are_cut_from_the_sources_searched_for_dispatches() {
    let code = "const A: Shader = crate::shader!(\"a\", [\"main\", \"f(x)\"]);\nrun(\"main\");";
    assert_eq!(without_declarations(code), "const A: Shader = crate::;\nrun(\"main\");");
}

#[test]
fn every_entry_point_builds_on_this_device() {
    let gpu = common::gpu();
    for shader in tdfas::ops::shaders() {
        let declared = |i: &Interface| shader.entries.contains(&i.entry.as_str());
        for i in interfaces(&shader.path(), &parse(shader.name, shader.source)).unwrap().into_iter().filter(declared) {
            match gpu.kernel(shader, &i.entry) {
                // the layout holds the bindings this entry point uses, and only those
                Ok(k) => {
                    let used = i.used_storage().count() + i.uniform.as_ref().is_some_and(|u| u.used) as usize;
                    assert_eq!(k.bindings.len(), used, "{} `{}`", shader.name, i.entry);
                }
                // Refused for this device's limits or features (the autotune skips such variants).
                Err(e) if format!("{e}").contains("exceed") || format!("{e}").contains("lacks") => {}
                Err(e) => panic!("{e:#}"),
            }
        }
    }
    gpu.flush().unwrap();
}

const TEST_KERNEL: &str = "
struct Params { n: u32, s: f32, _pad0: u32, _pad1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x < p.n) { out[gid.x] = p.s * a[gid.x]; }
}
@compute @workgroup_size(64)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x < p.n) { out[gid.x] = p.s; }
}
";

fn test_kernel() -> Interface {
    interfaces("shaders/test_kernel.wgsl", &parse("test_kernel", TEST_KERNEL)).unwrap().remove(0)
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Right {
    n: u32,
    s: f32,
    _pad: [u32; 2],
}
tdfas::uniform!(Right { n, s, _pad });

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct TooShort {
    n: u32,
    s: f32,
    _pad: u32,
}
tdfas::uniform!(TooShort { n, s, _pad });

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Swapped {
    s: f32,
    n: u32,
    _pad: [u32; 2],
}
tdfas::uniform!(Swapped { s, n, _pad });

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct WrongType {
    n: u32,
    s: u32,
    _pad: [u32; 2],
}
tdfas::uniform!(WrongType { n, s, _pad });

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Renamed {
    n: u32,
    scale: f32,
    _pad: [u32; 2],
}
tdfas::uniform!(Renamed { n, scale, _pad });

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Unlisted {
    n: u32,
    s: f32,
    _pad: [u32; 2],
}
tdfas::uniform!(Unlisted { n, s });

fn err<T>(r: anyhow::Result<T>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn interface_of_a_kernel_is_read_from_its_wgsl() {
    let i = test_kernel();
    let u = i.uniform.as_ref().unwrap();
    assert_eq!((u.binding, u.var.as_str(), u.ty.as_str(), u.size), (0, "p", "Params", 16));
    let names: Vec<(&str, u32, bool)> = i.storage.iter().map(|s| (s.name.as_str(), s.binding, s.read_only)).collect();
    assert_eq!(names, [("a", 1, true), ("out", 2, false)]);
    i.check_uniform::<Right>().unwrap();
    i.check_args(&[true, true]).unwrap();
    // `fill` does not read `a`: its layout leaves binding 1 out
    let fill = interfaces("shaders/test_kernel.wgsl", &parse("test_kernel", TEST_KERNEL)).unwrap().remove(1);
    let used: Vec<&str> = fill.used_storage().map(|s| s.name.as_str()).collect();
    assert_eq!((fill.entry.as_str(), used), ("fill", vec!["out"]));
    fill.check_args(&[false, true]).unwrap();
}

#[test]
fn a_uniform_struct_that_disagrees_with_the_wgsl_is_an_error_naming_it() {
    let i = test_kernel();
    let e = err(i.check_uniform::<TooShort>());
    assert!(e.contains("shaders/test_kernel.wgsl `main`") && e.contains("12 bytes") && e.contains("16 bytes"), "{e}");
    let e = err(i.check_uniform::<Swapped>());
    assert!(e.contains("`main`") && e.contains("field `n`"), "{e}");
    let e = err(i.check_uniform::<WrongType>());
    assert!(e.contains("field `s`") && e.contains("u32") && e.contains("f32"), "{e}");
    let e = err(i.check_uniform::<Renamed>());
    assert!(e.contains("field `s`") && e.contains("missing"), "{e}");
    let e = err(i.check_uniform::<Unlisted>());
    assert!(e.contains("lists 8 of its 16 bytes"), "{e}");
    let e = err(i.check_args(&[true, true, true]));
    assert!(e.contains("3 buffers given") && e.contains("`a`") && e.contains("`out` (write)"), "{e}");
}

#[test]
fn a_binding_list_that_disagrees_with_the_entry_points_use_is_an_error_naming_it() {
    let i = test_kernel();
    let e = err(i.check_args(&[true]));
    assert!(e.contains("shaders/test_kernel.wgsl `main`") && e.contains("binding 2 `out` is used"), "{e}");
    let e = err(i.check_args(&[false, true]));
    assert!(e.contains("binding 1 `a` is used") && e.contains("gives no buffer"), "{e}");
    let fill = interfaces("shaders/test_kernel.wgsl", &parse("test_kernel", TEST_KERNEL)).unwrap().remove(1);
    let e = err(fill.check_args(&[true, true]));
    assert!(e.contains("shaders/test_kernel.wgsl `fill`") && e.contains("binding 1 `a` is not used"), "{e}");
}

#[test]
fn bindings_out_of_convention_are_refused() {
    let gap = TEST_KERNEL.replace("@binding(2)", "@binding(3)");
    let e = err(interfaces("gap", &parse("gap", &gap)));
    assert!(e.contains("`out` is at 3 where 2 was expected"), "{e}");
    let group = TEST_KERNEL.replace("@group(0) @binding(2)", "@group(1) @binding(2)");
    let e = err(interfaces("group", &parse("group", &group)));
    assert!(e.contains("only @group(0)"), "{e}");
}

#[test]
fn a_dispatch_with_the_wrong_params_or_buffers_fails_at_first_use() {
    let gpu = common::gpu();
    let elementwise = tdfas::ops::shader("elementwise").unwrap();
    // Checked before anything is recorded, so a dry run (nothing runs) catches it too.
    gpu.dry_run(|| {
        let a = Tensor::zeros(&gpu, &[8]);
        let out = Tensor::zeros(&gpu, &[8]);
        let args = [tdfas::gpu::Arg::of(&a), tdfas::gpu::Arg::of(&a), tdfas::gpu::Arg::of(&out)];
        let cost = tdfas::gpu::profiler::Cost::new(0.0, 0.0);
        let e = err(gpu.dispatch(elementwise, "add", &TooShort { n: 8, s: 1.0, _pad: 0 }, &args, [1, 1, 1], cost));
        assert!(e.contains("shaders/elementwise.wgsl `add`") && e.contains("12 bytes"), "{e}");
        let right = Right { n: 8, s: 1.0, _pad: [0; 2] };
        gpu.dispatch(elementwise, "add", &right, &args, [1, 1, 1], cost).unwrap();
        let e = err(gpu.dispatch(elementwise, "add", &right, &args[1..], [1, 1, 1], cost));
        assert!(e.contains("binding 3 `out` is used by this entry point but the dispatch gives no buffer"), "{e}");
        let e = err(gpu.dispatch(elementwise, "no_such_entry", &right, &args, [1, 1, 1], cost));
        assert!(e.contains("no entry point `no_such_entry`"), "{e}");
        // `scale` reads only `a`: a buffer for `b` is refused, and `add` needs one
        let e = err(gpu.dispatch(elementwise, "scale", &right, &args, [1, 1, 1], cost));
        assert!(e.contains("shaders/elementwise.wgsl `scale`") && e.contains("binding 2 `b` is not used"), "{e}");
        let unary = [tdfas::gpu::Arg::of(&a), tdfas::gpu::Arg::Unused, tdfas::gpu::Arg::of(&out)];
        gpu.dispatch(elementwise, "scale", &right, &unary, [1, 1, 1], cost).unwrap();
        let e = err(gpu.dispatch(elementwise, "add", &right, &unary, [1, 1, 1], cost));
        assert!(e.contains("shaders/elementwise.wgsl `add`") && e.contains("binding 2 `b` is used"), "{e}");
    });
}
