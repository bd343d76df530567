//! Every WGSL kernel, embedded in the binary. Add a line here for each new file in shaders/.

use anyhow::{anyhow, Result};

macro_rules! shaders {
    ($($name:literal),* $(,)?) => {
        pub const ALL: &[(&str, &str)] = &[
            $(($name, include_str!(concat!("../../shaders/", $name)))),*
        ];
    };
}

// One file per op family and pass; see the header comment of each for bindings and shapes.
shaders![
    "adadelta.wgsl",
    "batchnorm_backward.wgsl",
    "batchnorm_backward_reduce.wgsl",
    "batchnorm_forward.wgsl",
    "batchnorm_stats.wgsl",
    "batchnorm_vec4.wgsl",
    "concat.wgsl",
    "concat_multi.wgsl",
    "concat_multi_backward.wgsl",
    "conv2d_bias_grad.wgsl",
    "conv2d_bias_grad_vec4.wgsl",
    "conv2d_forward.wgsl",
    "conv2d_forward_tiled.wgsl",
    "conv2d_forward_rows.wgsl",
    "conv2d_weight_grad.wgsl",
    "conv2d_weight_grad_rows.wgsl",
    "cross_entropy.wgsl",
    "depth_loss.wgsl",
    "depth_loss_backward.wgsl",
    "elementwise.wgsl",
    "elementwise_vec4.wgsl",
    "grad_sum.wgsl",
    "gru_gates.wgsl",
    "gru_gates_backward.wgsl",
    "gru_update.wgsl",
    "gru_update_backward.wgsl",
    "linear.wgsl",
    "matmul.wgsl",
    "maxpool_backward.wgsl",
    "maxpool_forward.wgsl",
    "maxpool_vec4.wgsl",
    "maxpool_vec4_backward.wgsl",
    "pair_diff.wgsl",
    "resize_backward.wgsl",
    "resize_forward.wgsl",
    "sobel.wgsl",
    "sobel_xy.wgsl",
];

pub fn source(name: &str) -> Result<&'static str> {
    ALL.iter()
        .find(|(n, _)| n.strip_suffix(".wgsl") == Some(name))
        .map(|(_, s)| *s)
        .ok_or_else(|| anyhow!("no shader named {name:?} (is it listed in src/gpu/shaders.rs?)"))
}

/// What one entry point needs from the adapter: invocations per workgroup (x, y, z) and bytes of
/// workgroup memory (every `var<workgroup>` of its file, an upper bound on what it touches).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkgroupNeeds {
    pub size: [u32; 3],
    pub memory: u32,
}

/// Workgroup size and memory of every entry point of a parsed shader, by entry name.
pub fn workgroup_needs(module: &naga::Module) -> Result<Vec<(String, WorkgroupNeeds)>> {
    let mut layouter = naga::proc::Layouter::default();
    layouter.update(module.to_ctx()).map_err(|e| anyhow!("laying out types: {e}"))?;
    let memory: u32 = module
        .global_variables
        .iter()
        .filter(|(_, v)| v.space == naga::AddressSpace::WorkGroup)
        .map(|(_, v)| layouter[v.ty].size)
        .sum();
    Ok(module
        .entry_points
        .iter()
        .map(|e| (e.name.clone(), WorkgroupNeeds { size: e.workgroup_size, memory }))
        .collect())
}

impl WorkgroupNeeds {
    /// Why this entry point cannot run within `limits`, if it cannot.
    pub fn exceeds(&self, limits: &wgpu::Limits) -> Option<String> {
        let [x, y, z] = self.size;
        let max = [
            limits.max_compute_workgroup_size_x,
            limits.max_compute_workgroup_size_y,
            limits.max_compute_workgroup_size_z,
        ];
        if x > max[0] || y > max[1] || z > max[2] {
            return Some(format!(
                "workgroup size {x} x {y} x {z} exceeds the limit {} x {} x {}",
                max[0], max[1], max[2]
            ));
        }
        if x * y * z > limits.max_compute_invocations_per_workgroup {
            return Some(format!(
                "{} invocations per workgroup exceed the limit {}",
                x * y * z,
                limits.max_compute_invocations_per_workgroup
            ));
        }
        if self.memory > limits.max_compute_workgroup_storage_size {
            return Some(format!(
                "{} bytes of workgroup memory exceed the limit {}",
                self.memory, limits.max_compute_workgroup_storage_size
            ));
        }
        None
    }
}
