//! Every WGSL file parses, validates, and translates to SPIR-V, Metal and HLSL, so a shader that
//! would fail on another vendor's backend fails here first.

use naga::back::{hlsl, msl, spv};
use naga::valid::{Capabilities, ValidationFlags, Validator};

#[test]
fn every_shader_validates_and_translates_to_all_backends() {
    let mut failures = Vec::new();
    for shader in tdfas::ops::shaders() {
        let (name, source) = (shader.name, shader.source);
        let module = match naga::front::wgsl::parse_str(source) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{name}: {}", e.emit_to_string(source)));
                continue;
            }
        };
        // Subgroup operations (the CPU conv kernel) need the capability, and HLSL shader model 6.
        let subgroups = source.contains("subgroup");
        // float16 (the inference kernel with float16 tiles) needs its capability, and HLSL 6.2.
        let f16 = source.contains("enable f16;");
        let mut caps = if subgroups { Capabilities::SUBGROUP } else { Capabilities::default() };
        if f16 {
            caps |= Capabilities::SHADER_FLOAT16;
        }
        let info = match Validator::new(ValidationFlags::all(), caps).validate(&module) {
            Ok(i) => i,
            Err(e) => {
                failures.push(format!("{name}: validation: {e:?}"));
                continue;
            }
        };
        if let Err(e) = spv::write_vec(&module, &info, &spv::Options::default(), None) {
            failures.push(format!("{name}: SPIR-V: {e}"));
        }
        let mut msl_out = String::new();
        let pipeline = msl::PipelineOptions::default();
        if let Err(e) = msl::Writer::new(&mut msl_out).write(&module, &info, &msl::Options::default(), &pipeline) {
            failures.push(format!("{name}: MSL: {e}"));
        }
        let mut hlsl_out = String::new();
        let mut hopts = hlsl::Options::default();
        if subgroups {
            hopts.shader_model = hlsl::ShaderModel::V6_0;
        }
        if f16 {
            hopts.shader_model = hlsl::ShaderModel::V6_2;
        }
        let pipeline = hlsl::PipelineOptions::default();
        if let Err(e) = hlsl::Writer::new(&mut hlsl_out, &hopts, &pipeline).write(&module, &info, None) {
            failures.push(format!("{name}: HLSL: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_file_in_shaders_is_embedded() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".wgsl") {
            let shader = name.strip_suffix(".wgsl").unwrap();
            assert!(tdfas::ops::shader(shader).is_some(), "shaders/{name} is in no op's KERNELS (src/ops/)");
        }
    }
}
