// Backward of the row reductions: spreads one value per row over the row.
// binding 0: params { rows, len, s, _ }
// binding 1: g [rows] (read)   binding 2: m [rows * len] (read; mask, or g again)
// binding 3: den [rows] (read; or g again)   binding 4: out [rows * len] (write)
struct Params { rows: u32, len: u32, s: f32, _pad: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> m: array<f32>;
@group(0) @binding(3) var<storage, read> den: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

// out[r, j] = s * g[r]
@compute @workgroup_size(256)
fn broadcast_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i < p.rows * p.len) { out[i] = p.s * g[i / p.len]; }
}

// out[r, j] = g[r] * m[r, j] / den[r] (0 where the row's mask is empty)
@compute @workgroup_size(256)
fn masked_mean_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i < p.rows * p.len) {
        let r = i / p.len;
        out[i] = select(0.0, g[r] * m[i] / den[r], den[r] > 0.0);
    }
}
