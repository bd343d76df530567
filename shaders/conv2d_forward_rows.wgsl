// 2-D convolution for CPU adapters (lavapipe/llvmpipe), k = 3 or 1, W a multiple of 4, subgroups
// of at least 8 invocations. Same maths, parameters and uses as conv2d_forward.wgsl (forward, and
// input gradient with the transposed, flipped weight):
//   y[n, o, h, w] = b[o] + sum_{c, ky, kx} W(o, c, tap) * x[n, c, h + ky - k/2, w + kx - k/2]
//   W(o, c, tap) = wt[o * s_o + c * s_c + (flip ? k*k - 1 - tap : tap)], tap = ky * k + kx
// Why: llvmpipe runs 8 invocations in the lanes of one AVX2 register, and every storage load whose
// address is not a constant becomes 8 bounds-checked scalar loads, even when all lanes read the
// same weight. So the 8 lanes of a subgroup each load a different weight of the block and share
// them with subgroupBroadcast (a register extract), and each invocation owns 4 consecutive pixels
// of a row (its three input rows are vec4s whose components are separate registers, so the kx
// shifts are free; the pixels left and right of them come from the neighbouring lanes) and 4
// output channels: per input channel, 5 weight loads and 3 vec4 loads feed 144 fused
// multiply-adds (the blocked kernel: 12 loads per 32 multiply-adds).
// binding 0: params { n, cin, cout, h, w, k, s_o, s_c, flip, has_bias, _, _ }
// binding 1: x [N, cin, H, W] (read)   binding 2: the same x as vec4s (read)
// binding 3: wt (read)   binding 4: b [cout] (read; any buffer when has_bias = 0)
// binding 5: y [N, cout, H, W] as vec4s (write)
// Grid: x = ceil(N * H * W/4 / 64), y = ceil(cout / 4); entry conv3 for k = 3, conv1 for k = 1.
// No invocation returns early: subgroupBroadcast needs every lane (clamped ones are not stored).
struct Params { n: u32, cin: u32, cout: u32, h: u32, w: u32, k: u32, s_o: u32, s_c: u32, flip: u32, has_bias: u32, _p0: u32, _p1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> wt: array<f32>;
@group(0) @binding(4) var<storage, read> b: array<f32>;
@group(0) @binding(5) var<storage, read_write> y4: array<vec4<f32>>;

const OB: u32 = 4u;

// The invocation's 4-pixel segment of row h of image n, starting at column w0.
struct Seg { live: bool, s: u32, n: u32, h: u32, w0: u32 }
fn segment(gid: u32) -> Seg {
    let wq = p.w / 4u;
    let segs = p.n * p.h * wq;
    let s = min(gid, segs - 1u);
    let n = s / (p.h * wq);
    let r = s - n * p.h * wq;
    let h = r / wq;
    return Seg(gid < segs, s, n, h, (r - h * wq) * 4u);
}

fn store(sg: Seg, o: u32, acc: vec4<f32>) {
    if (!sg.live || o >= p.cout) { return; }
    let bias = select(0.0, b[o], p.has_bias == 1u);
    y4[(((sg.n * p.cout + o) * p.h + sg.h) * p.w + sg.w0) / 4u] = acc + vec4<f32>(bias);
}

// Index of W(o0 + e / kk, c = 0, e % kk): the weight this lane loads for block element e
// (clamped to a valid channel; such elements are never stored).
fn widx(o0: u32, e: u32) -> u32 {
    let kk = p.k * p.k;
    let o = min(o0 + e / kk, p.cout - 1u);
    let tap = e % kk;
    return o * p.s_o + select(tap, kk - 1u - tap, p.flip == 1u);
}

// acc += k0 * (l, m.xyz) + k1 * m + k2 * (m.yzw, r): one input row into one output channel.
fn row3(acc: vec4<f32>, k0: f32, k1: f32, k2: f32, l: f32, m: vec4<f32>, r: f32) -> vec4<f32> {
    return fma(vec4<f32>(k2), vec4<f32>(m.yzw, r), fma(vec4<f32>(k1), m, fma(vec4<f32>(k0), vec4<f32>(l, m.xyz), acc)));
}

@compute @workgroup_size(64)
fn conv3(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
         @builtin(subgroup_invocation_id) sid: u32, @builtin(subgroup_size) ssize: u32) {
    let sg = segment(wid.x * 64u + lid.x);
    let hw = p.h * p.w;
    let o0 = wid.y * OB;
    let lane = sid % 8u;

    let i0 = widx(o0, min(lane + 0u, 35u));
    let i1 = widx(o0, min(lane + 8u, 35u));
    let i2 = widx(o0, min(lane + 16u, 35u));
    let i3 = widx(o0, min(lane + 24u, 35u));
    let i4 = widx(o0, min(lane + 32u, 35u));
    // Rows h-1, h, h+1 and the halo pixels w0-1, w0+4: out-of-image ones read a valid offset
    // (the segment's own) and are multiplied by 0.
    let mu = select(0.0, 1.0, sg.h > 0u);
    let md = select(0.0, 1.0, sg.h + 1u < p.h);
    let ml = select(0.0, 1.0, sg.w0 > 0u);
    let mr = select(0.0, 1.0, sg.w0 + 4u < p.w);
    let centre = sg.n * p.cin * hw + sg.h * p.w + sg.w0;
    let up = select(centre, centre - p.w, sg.h > 0u);
    let down = select(centre, centre + p.w, sg.h + 1u < p.h);
    let dl = select(0u, 1u, sg.w0 > 0u);
    let dr = select(0u, 4u, sg.w0 + 4u < p.w);
    // The halo pixels are the neighbouring lanes' edge pixels when those lanes hold the previous /
    // next segment (checked, not assumed): a shuffle instead of a load. Only lanes at a subgroup's
    // edge load them (a load in a branch costs only the lanes that take it).
    let ls = subgroupShuffleUp(sg.s, 1u);
    let rs = subgroupShuffleDown(sg.s, 1u);
    let load_l = sid == 0u || ls + 1u != sg.s;
    let load_r = sid + 1u >= ssize || rs != sg.s + 1u;
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    var wi = 0u;
    var xo = 0u;
    for (var c = 0u; c < p.cin; c = c + 1u) {
        let v0 = wt[i0 + wi];
        let v1 = wt[i1 + wi];
        let v2 = wt[i2 + wi];
        let v3 = wt[i3 + wi];
        let v4 = wt[i4 + wi];
        let iu = up + xo;
        let ic = centre + xo;
        let id = down + xo;
        let mu4 = x4[iu / 4u] * mu;
        let mc4 = x4[ic / 4u];
        let md4 = x4[id / 4u] * md;
        var lu = subgroupShuffleUp(mu4.w, 1u);
        var lc = subgroupShuffleUp(mc4.w, 1u);
        var ld = subgroupShuffleUp(md4.w, 1u);
        var ru = subgroupShuffleDown(mu4.x, 1u);
        var rc = subgroupShuffleDown(mc4.x, 1u);
        var rd = subgroupShuffleDown(md4.x, 1u);
        if (load_l) {
            lu = x[iu - dl] * mu;
            lc = x[ic - dl];
            ld = x[id - dl] * md;
        }
        if (load_r) {
            ru = x[iu + dr] * mu;
            rc = x[ic + dr];
            rd = x[id + dr] * md;
        }
        lu = lu * ml;
        lc = lc * ml;
        ld = ld * ml;
        ru = ru * mr;
        rc = rc * mr;
        rd = rd * mr;
        a0 = row3(a0, subgroupBroadcast(v0, 0u), subgroupBroadcast(v0, 1u), subgroupBroadcast(v0, 2u), lu, mu4, ru);
        a0 = row3(a0, subgroupBroadcast(v0, 3u), subgroupBroadcast(v0, 4u), subgroupBroadcast(v0, 5u), lc, mc4, rc);
        a0 = row3(a0, subgroupBroadcast(v0, 6u), subgroupBroadcast(v0, 7u), subgroupBroadcast(v1, 0u), ld, md4, rd);
        a1 = row3(a1, subgroupBroadcast(v1, 1u), subgroupBroadcast(v1, 2u), subgroupBroadcast(v1, 3u), lu, mu4, ru);
        a1 = row3(a1, subgroupBroadcast(v1, 4u), subgroupBroadcast(v1, 5u), subgroupBroadcast(v1, 6u), lc, mc4, rc);
        a1 = row3(a1, subgroupBroadcast(v1, 7u), subgroupBroadcast(v2, 0u), subgroupBroadcast(v2, 1u), ld, md4, rd);
        a2 = row3(a2, subgroupBroadcast(v2, 2u), subgroupBroadcast(v2, 3u), subgroupBroadcast(v2, 4u), lu, mu4, ru);
        a2 = row3(a2, subgroupBroadcast(v2, 5u), subgroupBroadcast(v2, 6u), subgroupBroadcast(v2, 7u), lc, mc4, rc);
        a2 = row3(a2, subgroupBroadcast(v3, 0u), subgroupBroadcast(v3, 1u), subgroupBroadcast(v3, 2u), ld, md4, rd);
        a3 = row3(a3, subgroupBroadcast(v3, 3u), subgroupBroadcast(v3, 4u), subgroupBroadcast(v3, 5u), lu, mu4, ru);
        a3 = row3(a3, subgroupBroadcast(v3, 6u), subgroupBroadcast(v3, 7u), subgroupBroadcast(v4, 0u), lc, mc4, rc);
        a3 = row3(a3, subgroupBroadcast(v4, 1u), subgroupBroadcast(v4, 2u), subgroupBroadcast(v4, 3u), ld, md4, rd);
        wi = wi + p.s_c;
        xo = xo + hw;
    }
    store(sg, o0 + 0u, a0);
    store(sg, o0 + 1u, a1);
    store(sg, o0 + 2u, a2);
    store(sg, o0 + 3u, a3);
}

@compute @workgroup_size(64)
fn conv1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
         @builtin(subgroup_invocation_id) sid: u32) {
    let sg = segment(wid.x * 64u + lid.x);
    let hw = p.h * p.w;
    let o0 = wid.y * OB;
    let lane = sid % 8u;
    let i0 = widx(o0, min(lane, 3u));
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    var wi = 0u;
    var xi = (sg.n * p.cin * hw + sg.h * p.w + sg.w0) / 4u;
    for (var c = 0u; c < p.cin; c = c + 1u) {
        let v0 = wt[i0 + wi];
        let v = x4[xi];
        a0 = fma(vec4<f32>(subgroupBroadcast(v0, 0u)), v, a0);
        a1 = fma(vec4<f32>(subgroupBroadcast(v0, 1u)), v, a1);
        a2 = fma(vec4<f32>(subgroupBroadcast(v0, 2u)), v, a2);
        a3 = fma(vec4<f32>(subgroupBroadcast(v0, 3u)), v, a3);
        wi = wi + p.s_c;
        xi = xi + hw / 4u;
    }
    store(sg, o0 + 0u, a0);
    store(sg, o0 + 1u, a1);
    store(sg, o0 + 2u, a2);
    store(sg, o0 + 3u, a3);
}
