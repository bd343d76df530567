// Depth losses (MODEL.md) reduced to a scalar by one workgroup of 256 threads (tree reduction;
// threads stride over the maps, so any size works). e = pred - target per pixel.
//   abs_loss: loss = sum(m e^2) / sum(m)
//   con_loss: loss = sum_p m_p sum_k d_k(p)^2 / sum(m), d_k(p) = e(p + o_k) - e(p) (e = 0 outside:
//             K_k * pred - K_k * target with zero padding, by linearity), o_k the 8 neighbours in
//             row-major order. m = 1 when use_mask = 0; an all-zero mask gives 0.
// binding 0: params { n: N*C*H*W, h, w, use_mask }
// binding 1: pred [N,C,H,W]   binding 2: tgt (target) [N,C,H,W]   binding 3: mask [N,C,H,W] (read; pred again if none)
// binding 4: loss [1] (write)   binding 5: den [1] (write: sum(m), kept for the backward)
// Grid: one workgroup.
struct Params { n: u32, h: u32, w: u32, use_mask: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> pred: array<f32>;
@group(0) @binding(2) var<storage, read> tgt: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;
@group(0) @binding(4) var<storage, read_write> loss: array<f32>;
@group(0) @binding(5) var<storage, read_write> den: array<f32>;

var<workgroup> acc: array<f32, 256>;
var<workgroup> acc_m: array<f32, 256>;

fn m_at(i: u32) -> f32 {
    return select(1.0, mask[i], p.use_mask != 0u);
}

// e at (row, col) of the map starting at base; 0 outside (zero padding)
fn e_at(base: u32, row: i32, col: i32) -> f32 {
    if (row < 0 || col < 0 || row >= i32(p.h) || col >= i32(p.w)) { return 0.0; }
    let i = base + u32(row) * p.w + u32(col);
    return pred[i] - tgt[i];
}

// sum_k d_k(i)^2 over the 8 neighbours of pixel i
fn con_terms(i: u32) -> f32 {
    let hw = p.h * p.w;
    let base = (i / hw) * hw;
    let r = i32((i % hw) / p.w);
    let c = i32(i % p.w);
    let e0 = pred[i] - tgt[i];
    var s = 0.0;
    for (var dr = -1; dr <= 1; dr = dr + 1) {
        for (var dc = -1; dc <= 1; dc = dc + 1) {
            if (dr != 0 || dc != 0) {
                let d = e_at(base, r + dr, c + dc) - e0;
                s = s + d * d;
            }
        }
    }
    return s;
}

fn reduce_and_store(t: u32) {
    for (var stride = 128u; stride > 0u; stride = stride / 2u) {
        workgroupBarrier();
        if (t < stride) {
            acc[t] = acc[t] + acc[t + stride];
            acc_m[t] = acc_m[t] + acc_m[t + stride];
        }
    }
    workgroupBarrier();
    if (t == 0u) {
        loss[0] = select(0.0, acc[0] / acc_m[0], acc_m[0] > 0.0);
        den[0] = acc_m[0];
    }
}

@compute @workgroup_size(256)
fn abs_loss(@builtin(local_invocation_id) lid: vec3<u32>) {
    let t = lid.x;
    var s = 0.0;
    var sm = 0.0;
    for (var i = t; i < p.n; i = i + 256u) {
        let e = pred[i] - tgt[i];
        let m = m_at(i);
        s = s + m * e * e;
        sm = sm + m;
    }
    acc[t] = s;
    acc_m[t] = sm;
    reduce_and_store(t);
}

@compute @workgroup_size(256)
fn con_loss(@builtin(local_invocation_id) lid: vec3<u32>) {
    let t = lid.x;
    var s = 0.0;
    var sm = 0.0;
    for (var i = t; i < p.n; i = i + 256u) {
        let m = m_at(i);
        s = s + m * con_terms(i);
        sm = sm + m;
    }
    acc[t] = s;
    acc_m[t] = sm;
    reduce_and_store(t);
}
