// Backward of the depth losses w.r.t. pred (see depth_loss.wgsl for the forward), e = pred - target:
//   abs_backward: gpred(q) = 2 g m_q e(q) / den
//   con_backward: gpred(q) = 2 g / den * sum_k [ in(q - o_k) m_{q-o_k} (e(q) - e(q - o_k)) - m_q d_k(q) ]
//   (pixel q appears as the neighbour of q - o_k and as the centre of its own 8 differences).
// Zero where den = 0 (empty mask).
// binding 0: params { n: N*C*H*W, h, w, use_mask }
// binding 1: pred   binding 2: tgt (target)   binding 3: mask (pred again if none)   [N,C,H,W] (read)
// binding 4: g [1] (read: upstream gradient of the loss)   binding 5: den [1] (read: from the forward)
// binding 6: gpred [N,C,H,W] (write)
// Grid: one thread per element, 256 a workgroup, 1-D folded into x/y.
struct Params { n: u32, h: u32, w: u32, use_mask: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> pred: array<f32>;
@group(0) @binding(2) var<storage, read> tgt: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;
@group(0) @binding(4) var<storage, read> g: array<f32>;
@group(0) @binding(5) var<storage, read> den: array<f32>;
@group(0) @binding(6) var<storage, read_write> gpred: array<f32>;

fn m_at(i: u32) -> f32 {
    return select(1.0, mask[i], p.use_mask != 0u);
}

fn inside(row: i32, col: i32) -> bool {
    return row >= 0 && col >= 0 && row < i32(p.h) && col < i32(p.w);
}

fn coef() -> f32 {
    return select(0.0, 2.0 * g[0] / den[0], den[0] > 0.0);
}

@compute @workgroup_size(256)
fn abs_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n) { return; }
    gpred[i] = coef() * m_at(i) * (pred[i] - tgt[i]);
}

@compute @workgroup_size(256)
fn con_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let q = flat_index(gid, nwg);
    if (q >= p.n) { return; }
    let hw = p.h * p.w;
    let base = (q / hw) * hw;
    let r = i32((q % hw) / p.w);
    let c = i32(q % p.w);
    let eq = pred[q] - tgt[q];
    let mq = m_at(q);
    var s = 0.0;
    for (var dr = -1; dr <= 1; dr = dr + 1) {
        for (var dc = -1; dc <= 1; dc = dc + 1) {
            if (dr != 0 || dc != 0) {
                // as the centre: d_k(q) = e(q + o_k) - e(q)
                var e_nb = 0.0;
                if (inside(r + dr, c + dc)) {
                    let j = base + u32(r + dr) * p.w + u32(c + dc);
                    e_nb = pred[j] - tgt[j];
                }
                s = s - mq * (e_nb - eq);
                // as the neighbour of q - o_k: d_k(q - o_k) = e(q) - e(q - o_k)
                if (inside(r - dr, c - dc)) {
                    let j = base + u32(r - dr) * p.w + u32(c - dc);
                    s = s + m_at(j) * (eq - (pred[j] - tgt[j]));
                }
            }
        }
    }
    gpred[q] = coef() * s;
}
