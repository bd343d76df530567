// Adadelta (PyTorch semantics, weight_decay included) over one packed arena of trainable
// parameters:
//   g' = g + weight_decay p;  v = rho v + (1 - rho) g'^2;  delta = sqrt(u + eps) / sqrt(v + eps) * g';
//   u = rho u + (1 - rho) delta^2;  p -= lr * delta
// binding 0: params { n, lr, rho, eps, weight_decay }
// binding 1: p [n] (read_write)  binding 2: g [n] (read)  binding 3: v [n] (read_write)  binding 4: u [n] (read_write)
struct Params { n: u32, lr: f32, rho: f32, eps: f32, weight_decay: f32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read_write> p: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> u: array<f32>;

@compute @workgroup_size(256)
fn adadelta(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= prm.n) { return; }
    let gi = g[i] + prm.weight_decay * p[i];
    let vi = prm.rho * v[i] + (1.0 - prm.rho) * gi * gi;
    let delta = sqrt(u[i] + prm.eps) / sqrt(vi + prm.eps) * gi;
    u[i] = prm.rho * u[i] + (1.0 - prm.rho) * delta * delta;
    v[i] = vi;
    p[i] = p[i] - prm.lr * delta;
}
