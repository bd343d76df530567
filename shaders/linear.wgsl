// Linear layer helpers around matmul (y = x W^T + b): bias add and the bias gradient.
//   add_bias: out[i, j] = a[i, j] + b[j]            (one thread per element)
//   col_sum:  out[j] = sum_i a[i, j]                (one thread per column; b unused, bind a again)
// binding 0: params { rows, cols, _, _ }
// binding 1: a [rows, cols] (read)   binding 2: b [cols] (read)   binding 3: out (write)
// Grid: 256 threads a workgroup, 1-D folded into x/y.
struct Params { rows: u32, cols: u32, _p0: u32, _p1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn add_bias(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.rows * p.cols) { return; }
    out[i] = a[i] + b[i % p.cols];
}

@compute @workgroup_size(256)
fn col_sum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = flat_index(gid, nwg);
    if (j >= p.cols) { return; }
    var s = 0.0;
    for (var i = 0u; i < p.rows; i = i + 1u) { s = s + a[i * p.cols + j]; }
    out[j] = s;
}
