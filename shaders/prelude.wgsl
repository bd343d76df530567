// Put after every shader by `shader!` (src/gpu/shaders.rs): helpers more than one kernel uses.

// The item of a 1-D grid: 256 threads a workgroup, the workgroups folded into x and y (one
// dimension holds at most 65535 of them; `Gpu::dispatch` folds).
fn flat_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 256u;
}
