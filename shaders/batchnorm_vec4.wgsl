// BatchNorm (optionally fused with ReLU) for CPU adapters, HW a multiple of 4: the same four passes
// as batchnorm_stats / batchnorm_forward / batchnorm_backward_reduce / batchnorm_backward (see
// those headers for the maths), reading and writing vec4s. Why: on llvmpipe a storage load whose
// address is not a constant costs 8 bounds-checked scalar loads whatever its width, so the
// elementwise passes load the per-channel values once per `per` vec4s of one channel instead of
// once per value, and the reductions take one load per 4 values (64 threads, not 256, so the
// tree sum needs fewer barriers).
// binding 0: params { n, c, hw, training, relu, eps, momentum, _, _, _, stat_n, per }
// binding 1: x [N, C, HW] (read)   binding 2: gy (read)   binding 3: y, the forward output (read)
// binding 4: stats [2, C] (read_write: written by stats4, read by the others)
// binding 5: gamma [C] (read)   binding 6: beta [C] (read)
// binding 7: running_mean [C]   binding 8: running_var [C]   binding 9: dgamma [C]
// binding 10: dbeta [C] (read_write)   binding 11: out [N, C, HW] (write: y of apply4, gx of backward4)
// Unused bindings take any tensor. Grids: stats4, reduce4, train4 and train_backward4 [C, 1, 1]
// (64 threads per channel); apply4, eval4 and backward4 one thread per `per` vec4s (per divides
// HW / 4), 1-D folded into x/y. train4 = stats4 then apply4 and train_backward4 = reduce4 then
// backward4 in the channel's workgroup (small channels: one dispatch instead of two, the same
// values).
struct Params { n: u32, c: u32, hw: u32, training: u32, relu: u32, eps: f32, momentum: f32, chunk: u32, base: u32, total: u32, stat_n: u32, per: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> gy: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> y: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;
@group(0) @binding(5) var<storage, read> gamma: array<f32>;
@group(0) @binding(6) var<storage, read> beta: array<f32>;
@group(0) @binding(7) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(8) var<storage, read_write> running_var: array<f32>;
@group(0) @binding(9) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(10) var<storage, read_write> dbeta: array<f32>;
@group(0) @binding(11) var<storage, read_write> out: array<vec4<f32>>;

var<workgroup> acc: array<vec2<f32>, 64>;

// Sum of v over the 64 threads (both components); every thread reaches every barrier.
fn tree_sum(t: u32, v: vec2<f32>) -> vec2<f32> {
    acc[t] = v;
    for (var s = 32u; s > 0u; s = s / 2u) {
        workgroupBarrier();
        if (t < s) { acc[t] = acc[t] + acc[t + s]; }
    }
    workgroupBarrier();
    let r = acc[0];
    workgroupBarrier(); // acc is reused by the next call
    return r;
}

fn hsum(v: vec4<f32>) -> f32 { return (v.x + v.y) + (v.z + v.w); }

// Training statistics of channel c: batch mean and biased variance (two passes), running
// statistics updated with the unbiased variance; returns (mean, invstd) to every thread.
fn channel_stats(c: u32, t: u32) -> vec2<f32> {
    let hw4 = p.hw / 4u;
    let count = p.n * p.hw;
    var s = 0.0;
    for (var n = 0u; n < p.n; n = n + 1u) {
        let base = (n * p.c + c) * hw4;
        for (var j = t; j < hw4; j = j + 64u) { s = s + hsum(x[base + j]); }
    }
    let mean = tree_sum(t, vec2<f32>(s, 0.0)).x / f32(count);
    var q = 0.0;
    for (var n = 0u; n < p.n; n = n + 1u) {
        let base = (n * p.c + c) * hw4;
        for (var j = t; j < hw4; j = j + 64u) {
            let d = x[base + j] - vec4<f32>(mean);
            q = q + dot(d, d);
        }
    }
    let var_b = tree_sum(t, vec2<f32>(q, 0.0)).x / f32(count);
    let invstd = 1.0 / sqrt(var_b + p.eps);
    if (t == 0u) {
        stats[c] = mean;
        stats[p.c + c] = invstd;
        let unbiased = var_b * f32(count) / f32(count - 1u);
        running_mean[c] = (1.0 - p.momentum) * running_mean[c] + p.momentum * mean;
        running_var[c] = (1.0 - p.momentum) * running_var[c] + p.momentum * unbiased;
    }
    return vec2<f32>(mean, invstd);
}

// (x - mean) * scale + shift, then ReLU when relu: train4, apply4 and eval4's last step.
fn normalise(x: vec4<f32>, mean: vec4<f32>, scale: vec4<f32>, shift: vec4<f32>, relu: bool) -> vec4<f32> {
    let v = fma(x - mean, scale, shift);
    return select(v, max(v, vec4<f32>(0.0)), relu);
}

@compute @workgroup_size(64)
fn stats4(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    channel_stats(wid.x, lid.x);
}

// stats4 then apply4 over channel wid.x (the values apply4 computes from the stored statistics).
@compute @workgroup_size(64)
fn train4(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let c = wid.x;
    let t = lid.x;
    let ms = channel_stats(c, t);
    let hw4 = p.hw / 4u;
    let mean = vec4<f32>(ms.x);
    let scale = vec4<f32>(ms.y * gamma[c]);
    let shift = vec4<f32>(beta[c]);
    let relu = p.relu != 0u;
    for (var n = 0u; n < p.n; n = n + 1u) {
        let base = (n * p.c + c) * hw4;
        for (var j = t; j < hw4; j = j + 64u) {
            out[base + j] = normalise(x[base + j], mean, scale, shift, relu);
        }
    }
}

// y = (x - mean) * invstd * gamma + beta, then ReLU when relu != 0.
@compute @workgroup_size(256)
fn apply4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i0 = (flat_index(gid, nwg)) * p.per;
    let hw4 = p.hw / 4u;
    if (i0 >= p.n * p.c * hw4) { return; }
    let c = (i0 / hw4) % p.c;
    let mean = vec4<f32>(stats[c]);
    let scale = vec4<f32>(stats[p.c + c] * gamma[c]);
    let shift = vec4<f32>(beta[c]);
    let relu = p.relu != 0u;
    for (var k = 0u; k < p.per; k = k + 1u) {
        out[i0 + k] = normalise(x[i0 + k], mean, scale, shift, relu);
    }
}

// Eval: apply4 with the running statistics, which it also writes to stats for the backward (the
// first thread of each channel does): one dispatch instead of batchnorm_stats' `eval` + apply4.
@compute @workgroup_size(256)
fn eval4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i0 = (flat_index(gid, nwg)) * p.per;
    let hw4 = p.hw / 4u;
    if (i0 >= p.n * p.c * hw4) { return; }
    let c = (i0 / hw4) % p.c;
    let invstd = 1.0 / sqrt(running_var[c] + p.eps);
    if (i0 == c * hw4) {
        stats[c] = running_mean[c];
        stats[p.c + c] = invstd;
    }
    let mean = vec4<f32>(running_mean[c]);
    let scale = vec4<f32>(invstd * gamma[c]);
    let shift = vec4<f32>(beta[c]);
    let relu = p.relu != 0u;
    for (var k = 0u; k < p.per; k = k + 1u) {
        out[i0 + k] = normalise(x[i0 + k], mean, scale, shift, relu);
    }
}

// dbeta[c] = sum g, dgamma[c] = sum g * xhat over channel c; g = gy masked by y > 0 with ReLU.
// Returns (dbeta, dgamma) to every thread.
fn channel_reduce(c: u32, t: u32) -> vec2<f32> {
    let hw4 = p.hw / 4u;
    let mean = stats[c];
    let invstd = stats[p.c + c];
    var sg = 0.0;
    var sgx = 0.0;
    for (var n = 0u; n < p.n; n = n + 1u) {
        let base = (n * p.c + c) * hw4;
        for (var j = t; j < hw4; j = j + 64u) {
            var g = gy[base + j];
            if (p.relu != 0u) { g = select(vec4<f32>(0.0), g, y[base + j] > vec4<f32>(0.0)); }
            sg = sg + hsum(g);
            sgx = sgx + dot(g, (x[base + j] - vec4<f32>(mean)) * invstd);
        }
    }
    let r = tree_sum(t, vec2<f32>(sg, sgx));
    if (t == 0u) {
        dbeta[c] = r.x;
        dgamma[c] = r.y;
    }
    return r;
}

@compute @workgroup_size(64)
fn reduce4(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    channel_reduce(wid.x, lid.x);
}

// reduce4 then backward4 (training) over channel wid.x, with backward4's arithmetic.
@compute @workgroup_size(64)
fn train_backward4(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let c = wid.x;
    let t = lid.x;
    let r = channel_reduce(c, t);
    let hw4 = p.hw / 4u;
    let invstd = stats[p.c + c];
    let scale = gamma[c] * invstd;
    let m = f32(select(p.n, p.stat_n, p.stat_n > 0u) * p.hw);
    let mean = vec4<f32>(stats[c]);
    let b = vec4<f32>(-scale * invstd * r.y / m);
    let d = vec4<f32>(-scale * r.x / m);
    for (var n = 0u; n < p.n; n = n + 1u) {
        let base = (n * p.c + c) * hw4;
        for (var j = t; j < hw4; j = j + 64u) {
            var g = gy[base + j];
            if (p.relu != 0u) { g = select(vec4<f32>(0.0), g, y[base + j] > vec4<f32>(0.0)); }
            out[base + j] = fma(vec4<f32>(scale), g, fma(x[base + j] - mean, b, d));
        }
    }
}

// Training: gx = gamma * invstd * (g - dbeta / M - xhat * dgamma / M), M = N * HW (stat_n: the
// batch the statistics span when this dispatch covers a chunk of it); eval: gx = g * gamma * invstd.
@compute @workgroup_size(256)
fn backward4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i0 = (flat_index(gid, nwg)) * p.per;
    let hw4 = p.hw / 4u;
    if (i0 >= p.n * p.c * hw4) { return; }
    let c = (i0 / hw4) % p.c;
    let invstd = stats[p.c + c];
    let scale = gamma[c] * invstd;
    let train = p.training != 0u;
    let m = f32(select(p.n, p.stat_n, p.stat_n > 0u) * p.hw);
    // gx = scale * g + (x - mean) * b + d with per-channel b, d (both 0 in eval).
    let mean = vec4<f32>(stats[c]);
    let b = vec4<f32>(select(0.0, -scale * invstd * dgamma[c] / m, train));
    let d = vec4<f32>(select(0.0, -scale * dbeta[c] / m, train));
    for (var k = 0u; k < p.per; k = k + 1u) {
        var g = gy[i0 + k];
        if (p.relu != 0u) { g = select(vec4<f32>(0.0), g, y[i0 + k] > vec4<f32>(0.0)); }
        out[i0 + k] = fma(vec4<f32>(scale), g, fma(x[i0 + k] - mean, b, d));
    }
}
