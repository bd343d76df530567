//! Work larger than one storage binding or one buffer, and WebGPU's default limits: every kernel
//! fits them, `TDFAS_LIMITS` chooses them, and every op family (and a whole training step) gives
//! the same result when an artificially low binding cap forces the split path on small shapes,
//! or a low buffer cap makes tensors span several buffers.

use crate::common;

use common::{gpu, micro_config as micro, up};
use tdfas::gpu::device::limits_choice;
use tdfas::gpu::shaders;
use tdfas::model::fastd::{FasTd, HostBatch};
use tdfas::model::Stage;
use tdfas::ops::conv::{self, ConvKernel, WgradKernel};
use tdfas::ops::sobel::SobelDir;
use tdfas::ops::{
    adadelta, batchnorm as bn, concat as cat, elementwise as ew, gather, gru, pair_diff, pool, resize, sobel,
};
use tdfas::reference::random;
use tdfas::train::adadelta::Adadelta;
use tdfas::train::trainer::train_step;
use tdfas::{Gpu, Tensor};

/// What a test caps: every storage binding (work is split, tensors stay in one buffer), every
/// buffer (tensors over it span several buffers, and bindings are capped with it), or the page
/// (tensors over it span several buffers that each still fit one binding).
#[derive(Clone, Copy, Debug)]
enum Cap {
    Binding(u64),
    Buffer(u64),
    Page(u64),
}

fn set_cap(g: &Gpu, cap: Option<Cap>) {
    g.test_set_binding_cap(None);
    g.test_set_buffer_cap(None);
    g.test_set_page(tdfas::gpu::PAGE);
    match cap {
        Some(Cap::Binding(c)) => g.test_set_binding_cap(Some(c)),
        Some(Cap::Buffer(c)) => g.test_set_buffer_cap(Some(c)),
        Some(Cap::Page(c)) => g.test_set_page(c),
        None => {}
    }
}

/// Every way of capping at `c` bytes.
fn caps(c: u64) -> [Cap; 3] {
    [Cap::Binding(c), Cap::Buffer(c), Cap::Page(c)]
}

/// Runs `f` with the device's own limits and again under `cap`; returns (whole, split)
/// downloads of what `f` returns. Under a buffer cap, asserts that some output spans buffers.
fn whole_and_split(g: &Gpu, cap: Cap, f: impl Fn(&Gpu) -> Vec<Tensor>) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let run = |c: Option<Cap>| {
        set_cap(g, c);
        let ts = f(g);
        if let Some(Cap::Buffer(_) | Cap::Page(_)) = c {
            assert!(ts.iter().any(|t| t.buffers() > 1), "{cap:?}: no output spans buffers");
        }
        let out: Vec<Vec<f32>> = ts.iter().map(|t| t.download(g).unwrap()).collect();
        set_cap(g, None);
        out
    };
    (run(None), run(Some(cap)))
}

fn assert_identical(what: &str, whole: &[Vec<f32>], split: &[Vec<f32>]) {
    for (i, (a, b)) in whole.iter().zip(split).enumerate() {
        assert_eq!(a.len(), b.len(), "{what} output {i}: length");
        for (j, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(x.to_bits() == y.to_bits(), "{what} output {i}[{j}]: whole {x} split {y}");
        }
    }
}

/// |a - b| <= tol * max |a| over each output.
fn assert_near(what: &str, whole: &[Vec<f32>], split: &[Vec<f32>], tol: f32) {
    for (i, (a, b)) in whole.iter().zip(split).enumerate() {
        assert_eq!(a.len(), b.len(), "{what} output {i}: length");
        let scale = a.iter().fold(1e-30f32, |m, v| m.max(v.abs()));
        for (j, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol * scale, "{what} output {i}[{j}]: whole {x} split {y} (scale {scale})");
        }
    }
}

/// Asserts the cap really splits `items` items of `floats` each (so the tests test the split path).
fn assert_splits(g: &Gpu, cap: u64, items: usize, floats: &[usize]) {
    g.test_set_binding_cap(Some(cap));
    let chunks = g.item_chunks("test", items, floats).unwrap();
    g.test_set_binding_cap(None);
    assert!(chunks.len() > 1, "cap {cap} does not split {items} items of {floats:?} floats");
}

fn rand(g: &Gpu, shape: &[usize], seed: u64) -> Tensor {
    up(g, &random(shape.iter().product(), seed), shape)
}

#[test]
fn every_kernel_fits_webgpus_default_limits() {
    let defaults = wgpu::Limits::default();
    for shader in tdfas::ops::shaders() {
        let (name, src) = (shader.name, shader.source);
        let module = naga::front::wgsl::parse_str(src).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (entry, needs) in shaders::workgroup_needs(&module).unwrap() {
            assert!(needs.exceeds(&defaults).is_none(), "{name} {entry}: {:?}", needs.exceeds(&defaults));
        }
    }
    // storage buffers per stage: within the default 8, except batchnorm_vec4, which the ops use
    // only where the device allows its count
    for shader in tdfas::ops::shaders() {
        let (name, src) = (shader.name, shader.source);
        let module = naga::front::wgsl::parse_str(src).unwrap();
        let storage = module
            .global_variables
            .iter()
            .filter(|(_, v)| matches!(v.space, naga::AddressSpace::Storage { .. }))
            .count() as u32;
        if name == "batchnorm_vec4" {
            assert_eq!(storage, bn::VEC4_BUFFERS, "{name}");
        } else {
            assert!(storage <= defaults.max_storage_buffers_per_shader_stage, "{name}: {storage} storage buffers");
        }
    }
    // each entry point's layout holds only the bindings it uses: all within the default 8
    for shader in tdfas::ops::shaders() {
        let module = naga::front::wgsl::parse_str(shader.source).unwrap();
        for i in tdfas::gpu::reflect::interfaces(shader.name, &module).unwrap() {
            let used = i.used_storage().count() as u32;
            let max = defaults.max_storage_buffers_per_shader_stage;
            assert!(used <= max, "{} `{}`: {used} storage buffers", shader.name, i.entry);
        }
    }
    // the tiled conv's two shared tiles: 2 x 256 vec4 = 8 KiB of the 16 KiB
    let tiled = tdfas::ops::shader("conv2d_forward_tiled").unwrap().source;
    let needs = shaders::workgroup_needs(&naga::front::wgsl::parse_str(tiled).unwrap()).unwrap();
    assert_eq!(needs[0].1.memory, 8192);
    assert_eq!(needs[0].1.size, [256, 1, 1]);
    // below its needs, the kernel is refused with the reason
    let small = wgpu::Limits { max_compute_workgroup_storage_size: 4096, ..defaults.clone() };
    assert!(needs[0].1.exceeds(&small).unwrap().contains("8192 bytes of workgroup memory"));
    let narrow = wgpu::Limits { max_compute_invocations_per_workgroup: 128, ..defaults };
    assert!(needs[0].1.exceeds(&narrow).unwrap().contains("256 invocations"));
}

#[test]
fn tdfas_limits_chooses_the_adapters_or_webgpus_defaults() {
    let big = wgpu::Limits { max_storage_buffer_binding_size: 1 << 30, max_buffer_size: 1 << 31, ..Default::default() };
    assert_eq!(limits_choice(None, big.clone()).unwrap().1, "adapter");
    assert_eq!(limits_choice(Some("adapter"), big.clone()).unwrap().0.max_buffer_size, 1 << 31);
    let (l, source) = limits_choice(Some("default"), big.clone()).unwrap();
    assert_eq!((source, l.max_storage_buffer_binding_size, l.max_buffer_size), ("default", 128 << 20, 256 << 20));
    assert_eq!((l.max_compute_workgroup_storage_size, l.max_compute_invocations_per_workgroup), (16384, 256));
    let e = limits_choice(Some("huge"), big).unwrap_err().to_string();
    assert!(e.contains("TDFAS_LIMITS") && e.contains("adapter, default"), "{e}");
    let weak = wgpu::Limits { max_storage_buffer_binding_size: 1 << 20, ..Default::default() };
    let e = limits_choice(Some("default"), weak).unwrap_err().to_string();
    assert!(e.contains("below WebGPU's default limits") && e.contains("max_storage_buffer_binding_size"), "{e}");
}

#[test]
fn chunks_cover_the_items_with_aligned_offsets_inside_the_cap() {
    let g = gpu();
    let align = g.device.limits().min_storage_buffer_offset_alignment as usize;
    for (items, floats, cap) in
        [(10, vec![100, 37], 4096u64), (7, vec![64], 1024), (33, vec![3, 5], 1024), (1, vec![5000], 1 << 20)]
    {
        g.test_set_binding_cap(Some(cap));
        let chunks = g.item_chunks("test", items, &floats).unwrap();
        assert_eq!(chunks.first().unwrap().start, 0);
        assert_eq!(chunks.last().unwrap().end, items);
        for w in chunks.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
        for r in &chunks {
            for &f in &floats {
                assert!(4 * (r.len() * f) as u64 <= cap || chunks.len() == 1, "{r:?} of {f} floats over {cap}");
                assert_eq!(4 * r.start * f % align, 0, "{r:?} of {f} floats: offset not aligned to {align}");
            }
        }
    }
    // one item larger than a binding, and a cap too small for an aligned chunk, are clear errors
    g.test_set_binding_cap(Some(1024));
    let e = g.item_chunks("conv2d", 4, &[1000]).unwrap_err().to_string();
    assert!(e.contains("conv2d") && e.contains("one storage binding"), "{e}");
    if align > 4 {
        let e = g.item_chunks("odd", 1000, &[255]).unwrap_err().to_string();
        assert!(e.contains("aligned"), "{e}");
    }
    g.test_set_binding_cap(None);
}

#[test]
fn a_binding_over_the_cap_in_an_op_that_does_not_split_is_a_clear_error() {
    let g = gpu();
    let a = rand(&g, &[64, 64], 1);
    g.test_set_binding_cap(Some(4096));
    let e = format!("{:#}", tdfas::ops::matmul::matmul(&g, &a, &a, false, false).unwrap_err());
    g.test_set_binding_cap(None);
    assert!(e.contains("matmul") && e.contains("one storage binding") && e.contains("does not split"), "{e}");
}

#[test]
fn conv_splits_along_the_batch_bit_identically() {
    let g = gpu();
    let cap = 2048;
    assert_splits(&g, cap, 5, &[3 * 64, 4 * 64]);
    // every kernel, the float16-tile inference kernel too where the adapter has it
    let half = ConvKernel::Gemm8F16.available(&g).then_some(ConvKernel::Gemm8F16);
    for (kernel, cap) in ConvKernel::ALL.into_iter().chain(half).flat_map(|k| caps(cap).map(|c| (k, c))) {
        let (w, s) = whole_and_split(&g, cap, |g| {
            let x = rand(g, &[5, 3, 8, 8], 1);
            let wt = rand(g, &[4, 3, 3, 3], 2);
            let b = rand(g, &[4], 3);
            let gy = rand(g, &[5, 4, 8, 8], 4);
            vec![
                conv::conv2d_with(g, kernel, &x, &wt, Some(&b)).unwrap(),
                conv::conv2d_backward_input_with(g, kernel, &gy, &wt).unwrap(),
            ]
        });
        assert_identical(&format!("conv2d {kernel:?} {cap:?}"), &w, &s);
    }
    // weight and bias gradients: per-chunk sums added, so equal to rounding
    for cap in caps(cap) {
        let (w, s) = whole_and_split(&g, cap, |g| {
            let x = rand(g, &[5, 3, 8, 8], 1);
            let gy = rand(g, &[5, 4, 8, 8], 4);
            let (gw, gb) = (conv::conv2d_backward_weight(g, &x, &gy, 3).unwrap(), conv::conv2d_backward_bias(g, &gy));
            vec![gw, gb.unwrap(), x]
        });
        assert_near(&format!("conv2d weight and bias gradients {cap:?}"), &w, &s, 1e-5);
    }
    // every weight-gradient kernel
    for (kernel, cap) in WgradKernel::ALL.into_iter().flat_map(|k| caps(cap).map(|c| (k, c))) {
        let (w, s) = whole_and_split(&g, cap, |g| {
            let x = rand(g, &[5, 3, 8, 8], 1);
            let gy = rand(g, &[5, 4, 8, 8], 4);
            vec![conv::conv2d_backward_weight_with(g, kernel, &x, &gy, 3).unwrap(), x]
        });
        assert_near(&format!("conv2d weight gradient {kernel:?} {cap:?}"), &w, &s, 1e-5);
    }
}

#[test]
fn batchnorm_statistics_span_the_whole_batch_when_split() {
    let g = gpu();
    let cap = 1024;
    let shape = [6, 3, 4, 16];
    assert_splits(&g, cap, 6, &[3 * 64]);
    for (relu, cap) in [false, true].into_iter().flat_map(|r| caps(cap).map(|c| (r, c))) {
        let (w, s) = whole_and_split(&g, cap, |g| {
            let x = rand(g, &shape, 1);
            let gamma = rand(g, &[3], 2);
            let beta = rand(g, &[3], 3);
            let (rm, rv) = (Tensor::filled(g, &[3], 0.1), Tensor::filled(g, &[3], 0.9));
            let (y, stats) = bn::batchnorm_forward(g, &x, &gamma, &beta, &rm, &rv, true, 1e-5, 0.1, relu).unwrap();
            let gy = rand(g, &shape, 4);
            let (gx, dg, db) = bn::batchnorm_backward(g, &x, &y, &gy, &stats, &gamma, true, relu).unwrap();
            // eval mode reads the running statistics
            let ye = bn::batchnorm_eval(g, &x, &gamma, &beta, &rm, &rv, 1e-5).unwrap();
            vec![y, stats, rm, rv, gx, dg, db, ye]
        });
        assert_near(&format!("batchnorm (relu {relu}) {cap:?}"), &w, &s, 1e-5);
    }
    // with the per-channel chunking of big batches as well (several partials per batch chunk)
    let old = tdfas::ops::batchnorm::settings(&g).chunk.replace(40);
    for cap in caps(cap) {
        let (w, s) = whole_and_split(&g, cap, |g| {
            let x = rand(g, &shape, 5);
            let gamma = rand(g, &[3], 2);
            let beta = rand(g, &[3], 3);
            let (rm, rv) = (Tensor::filled(g, &[3], 0.0), Tensor::filled(g, &[3], 1.0));
            let (y, stats) = bn::batchnorm_forward(g, &x, &gamma, &beta, &rm, &rv, true, 1e-5, 0.1, true).unwrap();
            let gy = rand(g, &shape, 6);
            let (gx, dg, db) = bn::batchnorm_backward(g, &x, &y, &gy, &stats, &gamma, true, true).unwrap();
            vec![y, stats, rm, rv, gx, dg, db]
        });
        assert_near(&format!("batchnorm (chunked channels) {cap:?}"), &w, &s, 1e-5);
    }
    tdfas::ops::batchnorm::settings(&g).chunk.set(old);
}

#[test]
fn pool_resize_sobel_and_concat_split_bit_identically() {
    let g = gpu();
    let cap = 1024;
    assert_splits(&g, cap, 6, &[2 * 8 * 16]);
    for cap in caps(cap) {
        let (w, s) = whole_and_split(&g, cap, |g| {
            let x = rand(g, &[6, 2, 8, 16], 1);
            let (y, idx) = pool::maxpool2(g, &x).unwrap();
            let gy = rand(g, y.shape(), 2);
            let gx = pool::maxpool2_backward(g, x.shape(), &gy, &idx).unwrap();
            let r = resize::resize_bilinear(g, &x, 4, 8).unwrap();
            let gr = resize::resize_bilinear_backward(g, x.shape(), &rand(g, &[6, 2, 4, 8], 3)).unwrap();
            let up2 = resize::resize_bilinear(g, &x, 8, 12).unwrap();
            let sx = sobel::sobel(g, &x, SobelDir::X).unwrap();
            let sy = sobel::sobel_backward(g, &x, SobelDir::Y).unwrap();
            let sxy = sobel::sobel_xy(g, &x).unwrap();
            let gsxy = sobel::sobel_xy_backward(g, &sxy).unwrap();
            let pd = pair_diff::pair_diff(g, &x, 2, 3).unwrap();
            let gpd = pair_diff::pair_diff_backward(g, &pd, x.shape(), 3).unwrap();
            let c = cat::concat_channels(g, &[&x, &sx]).unwrap();
            let sl = cat::slice_channels(g, &c, 1, 2).unwrap();
            let gb = gather::gather_batch(g, &c, 2, 3, 1, 2).unwrap();
            vec![y, idx, gx, r, gr, up2, sx, sy, sxy, gsxy, pd, gpd, c, sl, gb]
        });
        assert_identical(&format!("pool, resize, sobel, concat {cap:?}"), &w, &s);
    }
    // a cap that one output item of sobel_xy fits: its vec4 kernel over batch chunks
    for cap in caps(4096) {
        let (w, s) = whole_and_split(&g, cap, |g| {
            let x = rand(g, &[6, 2, 8, 16], 4);
            let sxy = sobel::sobel_xy(g, &x).unwrap();
            let gx = sobel::sobel_xy_backward(g, &sxy).unwrap();
            vec![sxy, gx]
        });
        assert_identical(&format!("sobel_xy {cap:?}"), &w, &s);
    }
}

#[test]
fn elementwise_gru_and_adadelta_split_bit_identically() {
    let g = gpu();
    let n = 3000; // not a multiple of the alignment
    for cap in caps(1024) {
        let (w, s) = whole_and_split(&g, cap, |g| {
            let (a, b, c) = (rand(g, &[n], 1), rand(g, &[n], 2), rand(g, &[n], 3));
            let mut out = vec![
                ew::add(g, &a, &b).unwrap(),
                ew::axpy(g, 0.5, &a, &b).unwrap(),
                ew::sigmoid(g, &a).unwrap(),
                ew::tanh_backward(g, &a, &b).unwrap(),
            ];
            let (u, rh) = gru::gru_gates(g, &a, &b, &c).unwrap();
            out.extend([u.clone(), rh, gru::gru_u_backward(g, &a, &b).unwrap()]);
            out.extend(gru::gru_update_backward(g, &u, &a, &b, &c).unwrap());
            let (p, v, acc) = (rand(g, &[n], 4), Tensor::zeros(g, &[n]), Tensor::zeros(g, &[n]));
            adadelta::adadelta_step(g, &p, &a, &v, &acc, 1.0, 0.9, 1e-6, 1e-2).unwrap();
            out.extend([p, v, acc]);
            out
        });
        assert_identical(&format!("elementwise, GRU, Adadelta {cap:?}"), &w, &s);
    }
}

/// Losses and every parameter after one training step of `stage` under `cap` (model, optimizer
/// and batch made under it too).
fn step(g: &Gpu, stage: Stage, cap: Option<Cap>) -> Vec<Vec<f32>> {
    set_cap(g, cap);
    let cfg = micro();
    let (h, s, nf) = (cfg.image_size, cfg.map_size(), cfg.frames);
    let mut model = FasTd::new(g, cfg, 7).unwrap();
    model.set_stage(stage);
    let opt = Adadelta::new(g, &mut model.params, 1.0, 0.95, 1e-6).unwrap();
    let clips = 2;
    let frames: Vec<f32> = random(clips * nf * 3 * h * h, 11).iter().map(|&v| v as f32).collect();
    let depth: Vec<f32> = random(clips * nf * s * s, 12).iter().map(|&v| (v as f32).abs()).collect();
    let batch = HostBatch { clips, frames, depth, mask: vec![1.0; clips * nf * s * s], labels: vec![1.0, 0.0] };
    let losses = train_step(g, &model, &opt, &batch, stage, false).unwrap();
    set_cap(g, None);
    let mut out = vec![losses.iter().map(|l| l.1).collect::<Vec<f32>>()];
    for name in model.params.names().map(String::from).collect::<Vec<_>>() {
        out.push(model.params.get(&name).unwrap().download(g).unwrap());
    }
    out
}

#[test]
fn a_whole_training_step_of_each_stage_matches_on_the_split_path_and_across_buffers() {
    let g = gpu();
    // 6 frames of 16 x 16 (4 pairs): per item at most 12 KiB (the OFF concat), so a 16 KiB cap
    // splits every activation of more than 4 KiB per frame; S x S maps and weights fit whole
    let cap = 16384;
    assert_splits(&g, cap, 6, &[6 * 16 * 16]);
    for stage in [Stage::Single, Stage::Multi] {
        let whole = step(&g, stage, None);
        for cap in caps(cap) {
            let split = step(&g, stage, Some(cap));
            // the batch sums (BatchNorm, weight gradients) add in another order: equal to
            // rounding, amplified a little by Adadelta's normalised step
            assert_near(&format!("stage {stage} step {cap:?}"), &whole, &split, 2e-4);
        }
    }
}

#[test]
fn a_tensor_larger_than_a_buffer_spans_several_and_moves_like_one() {
    let g = gpu();
    let align = g.device.limits().min_storage_buffer_offset_alignment.max(4) as usize;
    let shape = [10, 2, 8, 8]; // 512 bytes per item: 2 in a 1 KiB buffer
    let n = 10 * 128;
    let host: Vec<f32> = random(n, 1).iter().map(|&v| v as f32).collect();
    g.test_set_buffer_cap(Some(1024));
    let t = Tensor::upload(&g, &host, &shape).unwrap();
    assert!(t.buffers() > 1);
    // whole items per buffer, every boundary aligned for binding
    for b in t.boundaries() {
        assert_eq!(b % 128, 0, "boundary {b} inside an item");
        assert_eq!(4 * b % align, 0, "boundary {b} not aligned to {align}");
    }
    assert_eq!(t.download(&g).unwrap(), host);
    // copies across boundaries at any float offset, between differently split tensors
    let flat = Tensor::zeros(&g, &[n + 3]);
    assert!(flat.buffers() > 1);
    g.copy(&t, 5, &flat, 3, n - 7);
    let got = flat.download(&g).unwrap();
    let mut want = vec![0.0; n + 3];
    want[3..n - 4].copy_from_slice(&host[5..n - 2]);
    assert_eq!(got, want);
    // views inside one buffer bind; one spanning buffers in an op that does not split is an error
    let item = t.items(1..2);
    assert_eq!(item.buffers(), 1);
    assert_eq!(item.download(&g).unwrap(), host[128..256]);
    let m = t.reshape(&[n / 32, 32]);
    let e = format!("{:#}", tdfas::ops::matmul::matmul(&g, &m, &rand(&g, &[32, 2], 2), false, false).unwrap_err());
    assert!(e.contains("matmul") && e.contains("spans") && e.contains("buffers"), "{e}");
    g.test_set_buffer_cap(None);
    // an item larger than one binding is a clear error naming the op
    g.test_set_buffer_cap(Some(256));
    let big = rand(&g, &[2, 4, 8, 8], 3);
    let e = format!("{:#}", sobel::sobel(&g, &big, SobelDir::X).unwrap_err());
    assert!(e.contains("sobel") && e.contains("one storage binding"), "{e}");
    g.test_set_buffer_cap(None);
}

#[test]
fn a_checkpoint_of_a_model_spanning_buffers_saves_and_loads_exactly() {
    use tdfas::model::checkpoint::Progress;
    use tdfas::train::checkpoint;
    let g = gpu();
    let dir = common::tmp_dir("limits", "ckpt");
    let progress = Progress { stage: 2, step: 1, seed: 0, stage_done: false, init: None };
    // model and optimizer under a 2 KiB buffer cap: the arena and its state span buffers
    g.test_set_buffer_cap(Some(2048));
    let mut model = FasTd::new(&g, micro(), 3).unwrap();
    model.set_stage(Stage::Multi);
    let opt = Adadelta::new(&g, &mut model.params, 1.0, 0.95, 1e-6).unwrap();
    assert!(opt.layout.arena.buffers() > 1 && opt.v.buffers() > 1);
    let v: Vec<f32> = random(opt.v.numel(), 4).iter().map(|&x| x.abs() as f32).collect();
    g.upload_into(&opt.v, &v);
    let path = dir.join("m.safetensors");
    checkpoint::save(&g, &path, &model, Some(&opt), &progress).unwrap();
    let before: Vec<Vec<f32>> =
        model.params.names().map(|n| model.params.get(n).unwrap().download(&g).unwrap()).collect();
    // loaded without the cap (one buffer each), and saved again: the same bytes
    g.test_set_buffer_cap(None);
    let (loaded, _) = tdfas::model::checkpoint::load_model(&g, &path).unwrap();
    let after: Vec<Vec<f32>> =
        loaded.params.names().map(|n| loaded.params.get(n).unwrap().download(&g).unwrap()).collect();
    assert_eq!(before, after);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_batchnorm_output_saved_for_the_backward_is_recomputed_bit_identically() {
    use tdfas::graph::tape::Saved;
    use tdfas::graph::Tape;
    let g = gpu();
    let mut t = Tape::new(&g);
    // over bn::KEEP_OUTPUT_BYTES (smaller outputs are kept: checked below)
    let x = t.leaf(rand(&g, &[4, 4, 256, 260], 1), true);
    const { assert!(4 * 4 * 256 * 260 * 4 > bn::KEEP_OUTPUT_BYTES) };
    let (gamma, beta) = (t.leaf(rand(&g, &[4], 2), true), t.leaf(rand(&g, &[4], 3), true));
    let (rm, rv) = (Tensor::filled(&g, &[4], 0.0), Tensor::filled(&g, &[4], 1.0));
    let y = bn::t_batchnorm_relu(&mut t, x.clone(), gamma.clone(), beta.clone(), &rm, &rv, true, 1e-5, 0.1).unwrap();
    let kept = t.value(&y).download(&g).unwrap();
    let Saved::Recomputed(f) = t.save(&y) else { panic!("the BatchNorm output is kept, not recomputed") };
    let again = f(&g).unwrap().download(&g).unwrap();
    assert!(kept.iter().zip(&again).all(|(a, b)| a.to_bits() == b.to_bits()));
    // a small output is kept, not recomputed
    let small = t.leaf(rand(&g, &[4, 4, 8, 8], 4), true);
    let ys = bn::t_batchnorm_relu(&mut t, small, gamma.clone(), beta.clone(), &rm, &rv, true, 1e-5, 0.1).unwrap();
    assert!(matches!(t.save(&ys), Saved::Kept(_)), "a small BatchNorm output is recomputed");
    // without gradients nothing is recorded, and nothing is kept for a recompute
    t.grad_enabled = false;
    let z = bn::t_batchnorm_relu(&mut t, x, gamma, beta, &rm, &rv, false, 1e-5, 0.1).unwrap();
    assert!(matches!(t.save(&z), Saved::Kept(_)));
}
