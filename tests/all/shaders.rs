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
        // prelude.wgsl is in every shader (`shader!`); a shared file is in those that name it
        if let Some(file) = name.strip_suffix(".wgsl").filter(|&f| f != "prelude") {
            assert!(
                tdfas::ops::shaders().any(|s| s.file == file || s.shared.contains(&file)),
                "shaders/{name} is in no op's KERNELS (src/ops/)"
            );
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

/// The gemm8 conv kernels (forward / input gradient, weight gradient) validate and translate to
/// SPIR-V, Metal and HLSL for every tile the autotune offers (override constants), each with the
/// workgroup size its tile needs, within WebGPU's default limits, and with shared arrays that hold
/// the tile's stages (the arrays are sized for the largest, the default 128 x 128); a tile the
/// kernels lack is refused.
#[test]
fn the_gemm8_conv_kernels_validate_for_every_tile_variant() {
    use tdfas::ops::conv::{gemm8_constants, GEMM8_TILES};
    let limits = wgpu::Limits::default();
    for (file, arrays) in [
        ("conv2d_forward_gemm8", [("ws", "WROW"), ("xs", "XROW")]),
        ("conv2d_weight_grad_gemm8", [("gs", "GROW"), ("xs", "XROW")]),
    ] {
        let source = tdfas::ops::shader(file).unwrap().source;
        let module = naga::front::wgsl::parse_str(source).unwrap();
        let info = Validator::new(ValidationFlags::all(), Capabilities::default()).validate(&module).unwrap();
        // the defaults are today's 128 x 128 tile of 256 invocations
        let defaults = tdfas::gpu::shaders::workgroup_needs(&module).unwrap();
        assert_eq!(defaults[0].1.size, [256, 1, 1], "{file}");
        for (bm, bn) in GEMM8_TILES.into_iter().chain([(128, 128)]) {
            let what = format!("{file} {bm}x{bn}");
            let constants = gemm8_constants(bm, bn).unwrap();
            let pc: naga::back::PipelineConstants = constants.iter().map(|&(n, v)| (n.to_string(), v)).collect();
            let (m, i) = naga::back::pipeline_constants::process_overrides(&module, &info, None, &pc)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let invocations = bm as u32 * bn as u32 / 64;
            assert_eq!(m.entry_points[0].workgroup_size, [invocations, 1, 1], "{what}");
            spv::write_vec(&m, &i, &spv::Options::default(), None).unwrap_or_else(|e| panic!("{what}: SPIR-V: {e}"));
            let mut out = String::new();
            msl::Writer::new(&mut out)
                .write(&m, &i, &msl::Options::default(), &msl::PipelineOptions::default())
                .unwrap_or_else(|e| panic!("{what}: MSL: {e}"));
            let mut out = String::new();
            hlsl::Writer::new(&mut out, &hlsl::Options::default(), &hlsl::PipelineOptions::default())
                .write(&m, &i, None)
                .unwrap_or_else(|e| panic!("{what}: HLSL: {e}"));
            // runs within WebGPU's default limits (TDFAS_LIMITS=default)
            let needs = tdfas::gpu::shaders::workgroup_needs_with(&module, &constants).unwrap();
            assert_eq!(needs[0].1.size, [invocations, 1, 1], "{what}");
            assert_eq!(needs[0].1.exceeds(&limits), None, "{what}");
            // a device with fewer invocations refuses the tiles that need more, with the reason
            // (`KernelCache::get`: the autotune excludes them), and runs the others
            let narrow = wgpu::Limits { max_compute_invocations_per_workgroup: 128, ..limits.clone() };
            match needs[0].1.exceeds(&narrow) {
                Some(why) => assert!(invocations > 128 && why.contains("invocations"), "{what}: {why}"),
                None => assert!(invocations <= 128, "{what}"),
            }
            // the derived constants as the processed module has them: 2 or 4 loads per thread and
            // stage, and the two stages of 4 rows fit each shared array
            let constant = |name: &str| -> u32 {
                let (_, c) = m
                    .constants
                    .iter()
                    .find(|(_, c)| c.name.as_deref() == Some(name))
                    .unwrap_or_else(|| panic!("{what}: {name}"));
                match m.global_expressions[c.init] {
                    naga::Expression::Literal(naga::Literal::U32(v)) => v,
                    ref e => panic!("{what}: {name} = {e:?}"),
                }
            };
            for (array, row) in arrays {
                let (_, var) = m.global_variables.iter().find(|(_, v)| v.name.as_deref() == Some(array)).unwrap();
                let naga::TypeInner::Array { size: naga::ArraySize::Constant(len), .. } = m.types[var.ty].inner else {
                    panic!("{what}: {array} is not a sized array");
                };
                assert!(
                    2 * 4 * constant(row) <= len.get(),
                    "{what}: {array} holds {len} vec4s, {row} = {}",
                    constant(row)
                );
            }
            let loads = if file.contains("weight") { ["GL", "XL"] } else { ["WL", "XL"] };
            for l in loads {
                assert!([2, 4].contains(&constant(l)), "{what}: {l} = {}", constant(l));
            }
        }
    }
    for (bm, bn) in [(32, 64), (64, 256), (0, 64), (96, 64)] {
        assert!(gemm8_constants(bm, bn).is_err(), "{bm}x{bn}");
    }
}
