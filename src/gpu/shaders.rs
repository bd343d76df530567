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
    "broadcast.wgsl",
    "concat.wgsl",
    "conv2d_bias_grad.wgsl",
    "conv2d_forward.wgsl",
    "conv2d_forward_tiled.wgsl",
    "conv2d_weight_grad.wgsl",
    "cross_entropy.wgsl",
    "depth_loss.wgsl",
    "depth_loss_backward.wgsl",
    "elementwise.wgsl",
    "gru_gates.wgsl",
    "gru_gates_backward.wgsl",
    "gru_update.wgsl",
    "gru_update_backward.wgsl",
    "linear.wgsl",
    "matmul.wgsl",
    "maxpool_backward.wgsl",
    "maxpool_forward.wgsl",
    "reduce.wgsl",
    "resize_backward.wgsl",
    "resize_forward.wgsl",
    "sobel.wgsl",
];

pub fn source(name: &str) -> Result<&'static str> {
    ALL.iter()
        .find(|(n, _)| n.strip_suffix(".wgsl") == Some(name))
        .map(|(_, s)| *s)
        .ok_or_else(|| anyhow!("no shader named {name:?} (is it listed in src/gpu/shaders.rs?)"))
}
