// C[M, N] = op(A) @ op(B), op = optional transpose; f32 accumulation.
// A is [M, K] (or [K, M] when ta = 1), B is [K, N] (or [N, K] when tb = 1), all row-major.
// binding 0: params { m, n, k, ta, tb, _, _, _ }
// binding 1: a (read)   binding 2: b (read)   binding 3: c [M, N] (read_write)
// Grid: 16 x 16 threads, each computes one element of C. Correct first; fast variants live in conv.
struct Params { m: u32, n: u32, k: u32, ta: u32, tb: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(16, 16)
fn matmul(@builtin(global_invocation_id) gid: vec3<u32>) {
    let col = gid.x;
    let row = gid.y;
    if (row >= p.m || col >= p.n) { return; }
    var s = 0.0;
    for (var kk = 0u; kk < p.k; kk = kk + 1u) {
        let av = select(a[row * p.k + kk], a[kk * p.m + row], p.ta == 1u);
        let bv = select(b[kk * p.n + col], b[col * p.k + kk], p.tb == 1u);
        s = s + av * bv;
    }
    c[row * p.n + col] = s;
}
