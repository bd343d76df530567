// Row reductions: x viewed as [rows, len]; one workgroup of 256 threads per row.
// binding 0: params { rows, len, s: scale applied to the result, _ }
// binding 1: x [rows * len] (read)   binding 2: m [rows * len] (read; mask, or x again)
// binding 3: out [rows] (write)      binding 4: den [rows] (write; mask sums, masked_mean only)
struct Params { rows: u32, len: u32, s: f32, _pad: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> den: array<f32>;

var<workgroup> acc: array<f32, 256>;
var<workgroup> acc_m: array<f32, 256>;

// Tree reduction of acc / acc_m; every thread reaches every barrier (no early return).
fn reduce_tree(t: u32) {
    for (var stride = 128u; stride > 0u; stride = stride / 2u) {
        workgroupBarrier();
        if (t < stride) {
            acc[t] = acc[t] + acc[t + stride];
            acc_m[t] = acc_m[t] + acc_m[t + stride];
        }
    }
    workgroupBarrier();
}

// out[r] = s * sum_j x[r, j]
@compute @workgroup_size(256)
fn sum_rows(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let r = wid.x;
    let t = lid.x;
    var s = 0.0;
    if (r < p.rows) {
        for (var j = t; j < p.len; j = j + 256u) { s = s + x[r * p.len + j]; }
    }
    acc[t] = s;
    acc_m[t] = 0.0;
    reduce_tree(t);
    if (t == 0u && r < p.rows) { out[r] = p.s * acc[0]; }
}

// out[r] = sum_j x m / sum_j m (0 when the mask is empty); den[r] = sum_j m
@compute @workgroup_size(256)
fn masked_mean_rows(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let r = wid.x;
    let t = lid.x;
    var s = 0.0;
    var sm = 0.0;
    if (r < p.rows) {
        for (var j = t; j < p.len; j = j + 256u) {
            let k = r * p.len + j;
            s = s + x[k] * m[k];
            sm = sm + m[k];
        }
    }
    acc[t] = s;
    acc_m[t] = sm;
    reduce_tree(t);
    if (t == 0u && r < p.rows) {
        out[r] = select(0.0, acc[0] / acc_m[0], acc_m[0] > 0.0);
        den[r] = acc_m[0];
    }
}
