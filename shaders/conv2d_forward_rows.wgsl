// 2-D convolution for CPU adapters (lavapipe/llvmpipe), k = 3 or 1, W a multiple of 4, subgroups
// of at least 8 invocations. Same maths, parameters and uses as conv2d_forward.wgsl (forward, and
// input gradient with the transposed, flipped weight):
//   y[n, o, h, w] = b[o] + sum_{c, ky, kx} W(o, c, tap) * x[n, c, h + ky - k/2, w + kx - k/2]
//   W(o, c, tap) = wt[o * s_o + c * s_c + (flip ? k*k - 1 - tap : tap)], tap = ky * k + kx
// Why: llvmpipe runs 8 invocations in the lanes of one AVX2 register, and every storage load whose
// address is not a constant becomes per-lane scalar loads, each behind its own bounds check (a
// vec4 load: 4 per lane), even when all lanes read the same weight. So the 8 lanes of a subgroup
// each load a different weight of the block and share them with subgroupBroadcast (a register
// extract), and each invocation of conv3 owns 4 consecutive pixels of 2 rows (its four input rows
// are vec4s whose components are separate registers, so the kx shifts are free; the pixels left
// and right of them come from the neighbouring lanes) and 4 output channels: per input channel,
// 5 weight loads, 4 vec4 loads and 1 halo load feed 288 multiply-adds (one row per invocation:
// 144 for 5 + 3 vec4 + 1; llvmpipe does not fuse fma(), so each is a multiply and an add).
// binding 0: params { n, cin, cout, h, w, k, s_o, s_c, flip, has_bias, _, _ }
// binding 1: x [N, cin, H, W] (read)   binding 2: the same x as vec4s (read)
// binding 3: wt (read)   binding 4: b [cout] (read; any buffer when has_bias = 0)
// binding 5: y [N, cout, H, W] as vec4s (write)
// Grid: x = ceil(N * ceil(H / 2) * W/4 / 64) for conv3 (k = 3), ceil(N * H * W/4 / 64) for conv1
// (k = 1); y = ceil(cout / 4).
// No invocation returns early: subgroupBroadcast needs every lane (clamped ones are not stored).
struct Params { n: u32, cin: u32, cout: u32, h: u32, w: u32, k: u32, s_o: u32, s_c: u32, flip: u32, has_bias: u32, relu: u32, _p0: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> wt: array<f32>;
@group(0) @binding(4) var<storage, read> b: array<f32>;
@group(0) @binding(5) var<storage, read_write> y4: array<vec4<f32>>;

const OB: u32 = 4u;

// The invocation's 4-pixel segment of rows h .. h + rh - 1 of image n (h a multiple of rh),
// starting at column w0.
struct Seg { live: bool, s: u32, n: u32, h: u32, w0: u32 }
fn segment(gid: u32, rh: u32) -> Seg {
    let wq = p.w / 4u;
    let hr = (p.h + rh - 1u) / rh;
    let segs = p.n * hr * wq;
    let s = min(gid, segs - 1u);
    let n = s / (hr * wq);
    let r = s - n * hr * wq;
    let hg = r / wq;
    return Seg(gid < segs, s, n, hg * rh, (r - hg * wq) * 4u);
}

// Output row `row` of channel o (not stored past the image or the channels).
fn store(sg: Seg, row: u32, o: u32, acc: vec4<f32>) {
    if (!sg.live || o >= p.cout || row >= p.h) { return; }
    let bias = select(0.0, b[o], p.has_bias == 1u);
    y4[(((sg.n * p.cout + o) * p.h + row) * p.w + sg.w0) / 4u] = acc + vec4<f32>(bias);
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

// The invocation's segment, its 4 input rows (h - 1 .. h + 2), their masks, and how it gets its
// halo pixels.
struct Ctx {
    sg: Seg, r0: u32, r1: u32, r2: u32, r3: u32, m0: f32, m2: f32, m3: f32, ml: f32, mr: f32,
    dl: u32, dr: u32, hi: u32, hm: f32, first: bool, last: bool, load_l: bool, load_r: bool,
}

fn context(gid: u32, sid: u32, ssize: u32) -> Ctx {
    let sg = segment(gid, 2u);
    let hw = p.h * p.w;
    // Rows h-1 .. h+2 and the halo pixels w0-1, w0+4: out-of-image ones read a valid offset (the
    // segment's own) and are multiplied by 0.
    let m0 = select(0.0, 1.0, sg.h > 0u);
    let m2 = select(0.0, 1.0, sg.h + 1u < p.h);
    let m3 = select(0.0, 1.0, sg.h + 2u < p.h);
    let ml = select(0.0, 1.0, sg.w0 > 0u);
    let mr = select(0.0, 1.0, sg.w0 + 4u < p.w);
    let r1 = sg.n * p.cin * hw + sg.h * p.w + sg.w0;
    let r0 = select(r1, r1 - p.w, sg.h > 0u);
    let r2 = select(r1, r1 + p.w, sg.h + 1u < p.h);
    let r3 = select(r1, r1 + 2u * p.w, sg.h + 2u < p.h);
    let dl = select(0u, 1u, sg.w0 > 0u);
    let dr = select(0u, 4u, sg.w0 + 4u < p.w);
    // The halo pixels are the neighbouring lanes' edge pixels when those lanes hold the previous /
    // next segment (checked, not assumed): a shuffle instead of a load. The first lane's 4 left
    // and the last lane's 4 right halo pixels come from one load where lanes 0-3 read the first
    // lane's (rows h-1 .. h+2) and lanes 4-7 the last lane's, shared by subgroupBroadcast: one
    // load instead of 8 in branches. Where another lane's neighbour does not hold its halo (a
    // partial last subgroup), the whole subgroup loads the halo pixels in branches instead.
    let last = ssize - 1u;
    let ls = subgroupShuffleUp(sg.s, 1u);
    let rs = subgroupShuffleDown(sg.s, 1u);
    let need_l = sid == 0u || ls + 1u != sg.s;
    let need_r = sid == last || rs != sg.s + 1u;
    let edges_only = subgroupAll((sid == 0u || !need_l) && (sid == last || !need_r));
    let row = sid % 4u;
    let right = sid >= 4u;
    let s0 = select(subgroupBroadcast(r0, 0u), subgroupShuffle(r0, last), right);
    let s1 = select(subgroupBroadcast(r1, 0u), subgroupShuffle(r1, last), right);
    let s2 = select(subgroupBroadcast(r2, 0u), subgroupShuffle(r2, last), right);
    let s3 = select(subgroupBroadcast(r3, 0u), subgroupShuffle(r3, last), right);
    let sm0 = select(subgroupBroadcast(m0, 0u), subgroupShuffle(m0, last), right);
    let sm2 = select(subgroupBroadcast(m2, 0u), subgroupShuffle(m2, last), right);
    let sm3 = select(subgroupBroadcast(m3, 0u), subgroupShuffle(m3, last), right);
    let src_row = select(select(select(s3, s2, row == 2u), s1, row == 1u), s0, row == 0u);
    let src_rm = select(select(select(sm3, sm2, row == 2u), 1.0, row == 1u), sm0, row == 0u);
    let hi = select(src_row - subgroupBroadcast(dl, 0u), src_row + subgroupShuffle(dr, last), right);
    let hmc = select(subgroupBroadcast(ml, 0u), subgroupShuffle(mr, last), right);
    let hm = select(0.0, src_rm * hmc, sid < 8u && edges_only);
    return Ctx(sg, r0, r1, r2, r3, m0, m2, m3, ml, mr, dl, dr, hi, hm, sid == 0u, sid == last,
               need_l && !edges_only, need_r && !edges_only);
}

// The four input rows of one channel (x offset xo) as vec4s with their halo pixels.
struct Rows {
    m0: vec4<f32>, m1: vec4<f32>, m2: vec4<f32>, m3: vec4<f32>,
    l0: f32, l1: f32, l2: f32, l3: f32, r0: f32, r1: f32, r2: f32, r3: f32,
}

fn rows(t: Ctx, xo: u32) -> Rows {
    let i0 = t.r0 + xo;
    let i1 = t.r1 + xo;
    let i2 = t.r2 + xo;
    let i3 = t.r3 + xo;
    let m0 = x4[i0 / 4u] * t.m0;
    let m1 = x4[i1 / 4u];
    let m2 = x4[i2 / 4u] * t.m2;
    let m3 = x4[i3 / 4u] * t.m3;
    let hv = x[t.hi + xo] * t.hm;
    var l0 = select(subgroupShuffleUp(m0.w, 1u), subgroupBroadcast(hv, 0u), t.first);
    var l1 = select(subgroupShuffleUp(m1.w, 1u), subgroupBroadcast(hv, 1u), t.first);
    var l2 = select(subgroupShuffleUp(m2.w, 1u), subgroupBroadcast(hv, 2u), t.first);
    var l3 = select(subgroupShuffleUp(m3.w, 1u), subgroupBroadcast(hv, 3u), t.first);
    var r0 = select(subgroupShuffleDown(m0.x, 1u), subgroupBroadcast(hv, 4u), t.last);
    var r1 = select(subgroupShuffleDown(m1.x, 1u), subgroupBroadcast(hv, 5u), t.last);
    var r2 = select(subgroupShuffleDown(m2.x, 1u), subgroupBroadcast(hv, 6u), t.last);
    var r3 = select(subgroupShuffleDown(m3.x, 1u), subgroupBroadcast(hv, 7u), t.last);
    if (t.load_l) {
        l0 = x[i0 - t.dl] * t.m0;
        l1 = x[i1 - t.dl];
        l2 = x[i2 - t.dl] * t.m2;
        l3 = x[i3 - t.dl] * t.m3;
    }
    if (t.load_r) {
        r0 = x[i0 + t.dr] * t.m0;
        r1 = x[i1 + t.dr];
        r2 = x[i2 + t.dr] * t.m2;
        r3 = x[i3 + t.dr] * t.m3;
    }
    return Rows(m0, m1, m2, m3, l0 * t.ml, l1 * t.ml, l2 * t.ml, l3 * t.ml,
                r0 * t.mr, r1 * t.mr, r2 * t.mr, r3 * t.mr);
}

// k = 3: 4 output channels x 4 pixels of 2 rows per invocation; per input channel the 36 weights
// in 5 scalar loads (one per lane) and 4 vec4 rows + 1 halo load feed 288 multiply-adds.
@compute @workgroup_size(64)
fn conv3(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
         @builtin(subgroup_invocation_id) sid: u32, @builtin(subgroup_size) ssize: u32) {
    let t = context(wid.x * 64u + lid.x, sid, ssize);
    let hw = p.h * p.w;
    let o0 = wid.y * OB;
    let lane = sid % 8u;
    let i0 = widx(o0, min(lane + 0u, 35u));
    let i1 = widx(o0, min(lane + 8u, 35u));
    let i2 = widx(o0, min(lane + 16u, 35u));
    let i3 = widx(o0, min(lane + 24u, 35u));
    let i4 = widx(o0, min(lane + 32u, 35u));
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    var b0 = vec4<f32>(0.0);
    var b1 = vec4<f32>(0.0);
    var b2 = vec4<f32>(0.0);
    var b3 = vec4<f32>(0.0);
    var wi = 0u;
    var xo = 0u;
    for (var c = 0u; c < p.cin; c = c + 1u) {
        let v0 = wt[i0 + wi];
        let v1 = wt[i1 + wi];
        let v2 = wt[i2 + wi];
        let v3 = wt[i3 + wi];
        let v4 = wt[i4 + wi];
        let rw = rows(t, xo);
        // output channel o0 + 0: rows h (a0) and h + 1 (b0)
        {
            let k0 = subgroupBroadcast(v0, 0u);
            let k1 = subgroupBroadcast(v0, 1u);
            let k2 = subgroupBroadcast(v0, 2u);
            let k3 = subgroupBroadcast(v0, 3u);
            let k4 = subgroupBroadcast(v0, 4u);
            let k5 = subgroupBroadcast(v0, 5u);
            let k6 = subgroupBroadcast(v0, 6u);
            let k7 = subgroupBroadcast(v0, 7u);
            let k8 = subgroupBroadcast(v1, 0u);
            a0 = row3(a0, k0, k1, k2, rw.l0, rw.m0, rw.r0);
            a0 = row3(a0, k3, k4, k5, rw.l1, rw.m1, rw.r1);
            a0 = row3(a0, k6, k7, k8, rw.l2, rw.m2, rw.r2);
            b0 = row3(b0, k0, k1, k2, rw.l1, rw.m1, rw.r1);
            b0 = row3(b0, k3, k4, k5, rw.l2, rw.m2, rw.r2);
            b0 = row3(b0, k6, k7, k8, rw.l3, rw.m3, rw.r3);
        }
        // output channel o0 + 1: rows h (a1) and h + 1 (b1)
        {
            let k0 = subgroupBroadcast(v1, 1u);
            let k1 = subgroupBroadcast(v1, 2u);
            let k2 = subgroupBroadcast(v1, 3u);
            let k3 = subgroupBroadcast(v1, 4u);
            let k4 = subgroupBroadcast(v1, 5u);
            let k5 = subgroupBroadcast(v1, 6u);
            let k6 = subgroupBroadcast(v1, 7u);
            let k7 = subgroupBroadcast(v2, 0u);
            let k8 = subgroupBroadcast(v2, 1u);
            a1 = row3(a1, k0, k1, k2, rw.l0, rw.m0, rw.r0);
            a1 = row3(a1, k3, k4, k5, rw.l1, rw.m1, rw.r1);
            a1 = row3(a1, k6, k7, k8, rw.l2, rw.m2, rw.r2);
            b1 = row3(b1, k0, k1, k2, rw.l1, rw.m1, rw.r1);
            b1 = row3(b1, k3, k4, k5, rw.l2, rw.m2, rw.r2);
            b1 = row3(b1, k6, k7, k8, rw.l3, rw.m3, rw.r3);
        }
        // output channel o0 + 2: rows h (a2) and h + 1 (b2)
        {
            let k0 = subgroupBroadcast(v2, 2u);
            let k1 = subgroupBroadcast(v2, 3u);
            let k2 = subgroupBroadcast(v2, 4u);
            let k3 = subgroupBroadcast(v2, 5u);
            let k4 = subgroupBroadcast(v2, 6u);
            let k5 = subgroupBroadcast(v2, 7u);
            let k6 = subgroupBroadcast(v3, 0u);
            let k7 = subgroupBroadcast(v3, 1u);
            let k8 = subgroupBroadcast(v3, 2u);
            a2 = row3(a2, k0, k1, k2, rw.l0, rw.m0, rw.r0);
            a2 = row3(a2, k3, k4, k5, rw.l1, rw.m1, rw.r1);
            a2 = row3(a2, k6, k7, k8, rw.l2, rw.m2, rw.r2);
            b2 = row3(b2, k0, k1, k2, rw.l1, rw.m1, rw.r1);
            b2 = row3(b2, k3, k4, k5, rw.l2, rw.m2, rw.r2);
            b2 = row3(b2, k6, k7, k8, rw.l3, rw.m3, rw.r3);
        }
        // output channel o0 + 3: rows h (a3) and h + 1 (b3)
        {
            let k0 = subgroupBroadcast(v3, 3u);
            let k1 = subgroupBroadcast(v3, 4u);
            let k2 = subgroupBroadcast(v3, 5u);
            let k3 = subgroupBroadcast(v3, 6u);
            let k4 = subgroupBroadcast(v3, 7u);
            let k5 = subgroupBroadcast(v4, 0u);
            let k6 = subgroupBroadcast(v4, 1u);
            let k7 = subgroupBroadcast(v4, 2u);
            let k8 = subgroupBroadcast(v4, 3u);
            a3 = row3(a3, k0, k1, k2, rw.l0, rw.m0, rw.r0);
            a3 = row3(a3, k3, k4, k5, rw.l1, rw.m1, rw.r1);
            a3 = row3(a3, k6, k7, k8, rw.l2, rw.m2, rw.r2);
            b3 = row3(b3, k0, k1, k2, rw.l1, rw.m1, rw.r1);
            b3 = row3(b3, k3, k4, k5, rw.l2, rw.m2, rw.r2);
            b3 = row3(b3, k6, k7, k8, rw.l3, rw.m3, rw.r3);
        }
        wi = wi + p.s_c;
        xo = xo + hw;
    }
    let h = t.sg.h;
    store(t.sg, h, o0 + 0u, a0);
    store(t.sg, h, o0 + 1u, a1);
    store(t.sg, h, o0 + 2u, a2);
    store(t.sg, h, o0 + 3u, a3);
    store(t.sg, h + 1u, o0 + 0u, b0);
    store(t.sg, h + 1u, o0 + 1u, b1);
    store(t.sg, h + 1u, o0 + 2u, b2);
    store(t.sg, h + 1u, o0 + 3u, b3);
}

@compute @workgroup_size(64)
fn conv1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
         @builtin(subgroup_invocation_id) sid: u32) {
    let sg = segment(wid.x * 64u + lid.x, 1u);
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
    store(sg, sg.h, o0 + 0u, a0);
    store(sg, sg.h, o0 + 1u, a1);
    store(sg, sg.h, o0 + 2u, a2);
    store(sg, sg.h, o0 + 3u, a3);
}
