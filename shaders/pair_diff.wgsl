// The OFF block's temporal difference straight from the frames: for clips of nf frames
// (clip-major, [clips * nf, C, H, W]), y[pair] = x[frame t + 1] - x[frame t] for the
// clips * (nf - 1) pairs, in one dispatch instead of two batch gathers and a subtraction;
// the backward puts both frames' gradients back in one (gx[t] = gy[pair t - 1] - gy[pair t]).
// binding 0: params { n: vec4s of the output (forward) / input (backward), block: vec4s of one
//            frame, nf: frames a clip }
// forward:  binding 1: x [clips * nf, ...] (read)    binding 2: y [clips * (nf - 1), ...] (write)
// backward: binding 1: gy [clips * (nf - 1), ...] (read)   binding 2: gx [clips * nf, ...] (write)
// Grid: one thread per vec4 (C * H * W a multiple of 4), 1-D folded into x/y.
struct Params { n: u32, block: u32, nf: u32, _p0: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;

@compute @workgroup_size(256)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n) { return; }
    let pair = i / p.block;
    let j = i - pair * p.block;
    // pair t of clip c is frames t, t + 1 of that clip: frame index pair + c
    let frame = pair + pair / (p.nf - 1u);
    dst[i] = src[(frame + 1u) * p.block + j] - src[frame * p.block + j];
}

@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n) { return; }
    let frame = i / p.block;
    let j = i - frame * p.block;
    let clip = frame / p.nf;
    let t = frame - clip * p.nf;
    let pair = clip * (p.nf - 1u) + t; // pair t starts at this frame, pair t - 1 ends at it
    var g = vec4<f32>(0.0);
    if (t > 0u) { g = src[(pair - 1u) * p.block + j]; }
    if (t + 1u < p.nf) { g -= src[pair * p.block + j]; }
    dst[i] = g;
}
