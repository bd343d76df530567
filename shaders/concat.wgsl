// Strided block copy, the one kernel behind concat and slice along channels or batch:
// dst[b * dst_stride + dst_off + j] = src[b * src_stride + src_off + j], b < blocks, j < len.
// binding 0: params { blocks, len, src_stride, src_off, dst_stride, dst_off }
// binding 1: src (read)   binding 2: dst (write; only the addressed region)
// Grid: one thread per copied element, 1-D folded into x/y; i = gid.x + gid.y * nwg.x * 256.
struct Params { blocks: u32, len: u32, src_stride: u32, src_off: u32, dst_stride: u32, dst_off: u32, _p0: u32, _p1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < p.blocks * p.len) {
        let b = i / p.len;
        let j = i - b * p.len;
        dst[b * p.dst_stride + p.dst_off + j] = src[b * p.src_stride + p.src_off + j];
    }
}
