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
        // cooperative matrices (the tensor-core inference conv): SPIR-V only, see below
        let coop = source.contains("enable wgpu_cooperative_matrix;");
        let mut caps = if subgroups { Capabilities::SUBGROUP } else { Capabilities::default() };
        if f16 {
            caps |= Capabilities::SHADER_FLOAT16;
        }
        if coop {
            caps |= Capabilities::COOPERATIVE_MATRIX;
        }
        let info = match Validator::new(ValidationFlags::all(), caps).validate(&module) {
            Ok(i) => i,
            Err(e) => {
                failures.push(format!("{name}: validation: {e:?}"));
                continue;
            }
        };
        // override constants (tile sizes) are set when the pipeline is made: translate with the
        // defaults (each variant's constants are checked in the cooperative-matrix test)
        let (module, info) =
            match naga::back::pipeline_constants::process_overrides(&module, &info, None, &Default::default()) {
                Ok((m, i)) => (m.into_owned(), i.into_owned()),
                Err(e) => {
                    failures.push(format!("{name}: override constants: {e}"));
                    continue;
                }
            };
        if coop {
            // naga writes cooperative matrices for Vulkan (SPIR-V) and Metal (8 x 8 only); the
            // kernel's 16 x 16 float16 tiles are NVIDIA's Vulkan configuration
            let spv = spv::Options { capabilities: None, ..Default::default() };
            if let Err(e) = spv::write_vec(&module, &info, &spv, None) {
                failures.push(format!("{name}: SPIR-V: {e}"));
            }
            continue;
        }
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
        // prelude.wgsl is in every shader (`shader!`)
        if let Some(file) = name.strip_suffix(".wgsl").filter(|&f| f != "prelude") {
            assert!(tdfas::ops::shaders().any(|s| s.file == file), "shaders/{name} is in no op's KERNELS (src/ops/)");
        }
    }
}

/// The cooperative-matrix conv validates (with the capability, and only with it) and translates
/// to SPIR-V for every tile variant the autotune offers; a broken use of the matrices (operands
/// swapped, so B comes where A goes) fails validation: this check can fail.
#[test]
fn the_cooperative_matrix_conv_validates_for_every_tile_variant() {
    let source = tdfas::ops::shader("conv2d_forward_coop").unwrap().source;
    let caps = Capabilities::SUBGROUP | Capabilities::SHADER_FLOAT16 | Capabilities::COOPERATIVE_MATRIX;
    let validate = |src: &str, caps| -> Result<naga::valid::ModuleInfo, String> {
        let module = naga::front::wgsl::parse_str(src).map_err(|e| e.emit_to_string(src))?;
        Validator::new(ValidationFlags::all(), caps).validate(&module).map_err(|e| format!("{e:?}"))
    };
    validate(source, caps).unwrap();
    assert!(validate(source, caps - Capabilities::COOPERATIVE_MATRIX).is_err(), "needs the capability");
    let swapped = source.replace("coopMultiplyAdd(a0, b0, c00)", "coopMultiplyAdd(b0, a0, c00)");
    assert_ne!(swapped, source);
    let err = validate(&swapped, caps).unwrap_err();
    assert!(err.contains("Cooperative"), "{err}");

    let module = naga::front::wgsl::parse_str(source).unwrap();
    let info = validate(source, caps).unwrap();
    let sg = 32.0;
    for k in tdfas::ops::conv::COOP_TILES {
        let tdfas::ops::conv::ConvKernel::Coop { wm, wn } = k else { unreachable!() };
        let (wm, wn) = (wm as f64, wn as f64);
        let constants: naga::back::PipelineConstants =
            [("WM".to_string(), wm), ("WN".to_string(), wn), ("WG".to_string(), wm * wn * sg)].into_iter().collect();
        let (m, i) = naga::back::pipeline_constants::process_overrides(&module, &info, None, &constants)
            .unwrap_or_else(|e| panic!("{}: {e}", k.name()));
        assert_eq!(m.entry_points[0].workgroup_size, [(wm * wn * sg) as u32, 1, 1], "{}", k.name());
        let words =
            spv::write_vec(&m, &i, &spv::Options::default(), None).unwrap_or_else(|e| panic!("{}: {e}", k.name()));
        // OpCapability CooperativeMatrixKHR (6022): the tiles run on the matrix units
        assert!(words.windows(2).any(|w| w == [(2 << 16) | 17, 6022]), "{}", k.name());
        // the workgroup memory fits WebGPU's default 16 KiB (the tiles are the largest the arrays hold)
        let needs = tdfas::gpu::shaders::workgroup_needs_with(&module, &[("WM", wm), ("WN", wn), ("WG", wm * wn * sg)])
            .unwrap();
        assert_eq!(needs[0].1.size, [(wm * wn * sg) as u32, 1, 1]);
        assert!(
            needs[0].1.memory <= 16384 && wm * 32.0 * 16.0 <= 2048.0 && wn * 32.0 * 16.0 <= 2048.0 && wm * wn <= 4.0
        );
    }
}
