//! The parameters of every variant: names and PyTorch layouts of MODEL.md, PyTorch's default
//! initialisation (uniform +-1/sqrt(fan_in)), BatchNorm 1 / 0, ConvGRU gate biases 1.

use anyhow::Result;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::config::Config;
use crate::gpu::Gpu;
use crate::graph::params::ParamKind;
use crate::graph::ParamStore;

pub struct Spec {
    pub name: String,
    pub shape: Vec<usize>,
    pub kind: ParamKind,
    init: Init,
}

enum Init {
    /// U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default for conv/linear weights and biases
    Uniform(usize),
    Const(f32),
}

fn push_conv(specs: &mut Vec<Spec>, name: &str, c_in: usize, c_out: usize, k: usize, bias: Option<f32>) {
    let fan_in = c_in * k * k;
    specs.push(Spec {
        name: format!("{name}.weight"),
        shape: vec![c_out, c_in, k, k],
        kind: ParamKind::Weight,
        init: Init::Uniform(fan_in),
    });
    if let Some(b) = bias {
        let init = if b.is_nan() { Init::Uniform(fan_in) } else { Init::Const(b) };
        specs.push(Spec { name: format!("{name}.bias"), shape: vec![c_out], kind: ParamKind::Weight, init });
    }
}

/// conv k x k without bias, then BatchNorm (weight, bias, running stats)
fn push_cbr(specs: &mut Vec<Spec>, name: &str, c_in: usize, c_out: usize, k: usize) {
    push_conv(specs, name, c_in, c_out, k, None);
    for (suffix, kind, v) in [
        ("bn.weight", ParamKind::Weight, 1.0),
        ("bn.bias", ParamKind::Weight, 0.0),
        ("bn.running_mean", ParamKind::RunningStat, 0.0),
        ("bn.running_var", ParamKind::RunningStat, 1.0),
    ] {
        specs.push(Spec { name: format!("{name}.{suffix}"), shape: vec![c_out], kind, init: Init::Const(v) });
    }
}

const DEFAULT_BIAS: f32 = f32::NAN; // marker: PyTorch's default uniform bias

fn push_linear(specs: &mut Vec<Spec>, name: &str, c_in: usize, c_out: usize) {
    specs.push(Spec {
        name: format!("{name}.weight"),
        shape: vec![c_out, c_in],
        kind: ParamKind::Weight,
        init: Init::Uniform(c_in),
    });
    specs.push(Spec {
        name: format!("{name}.bias"),
        shape: vec![c_out],
        kind: ParamKind::Weight,
        init: Init::Uniform(c_in),
    });
}

fn push_gru(specs: &mut Vec<Spec>, name: &str, c_x: usize, hidden: usize) {
    push_conv(specs, &format!("{name}.reset"), hidden + c_x, hidden, 3, Some(1.0));
    push_conv(specs, &format!("{name}.update"), hidden + c_x, hidden, 3, Some(1.0));
    push_conv(specs, &format!("{name}.cand"), hidden + c_x, hidden, 3, Some(0.0));
}

/// Every parameter the config's variant builds, in a fixed order.
pub fn specs(cfg: &Config) -> Vec<Spec> {
    let v = cfg.variant();
    let [b0, b1, b2] = cfg.block;
    let mut s = Vec::new();
    push_cbr(&mut s, "single.conv0", 3, cfg.stem, 3);
    for b in 1..=3 {
        let c_in = if b == 1 { cfg.stem } else { b2 };
        push_cbr(&mut s, &format!("single.block{b}.conv1"), c_in, b0, 3);
        push_cbr(&mut s, &format!("single.block{b}.conv2"), b0, b1, 3);
        push_cbr(&mut s, &format!("single.block{b}.conv3"), b1, b2, 3);
    }
    push_cbr(&mut s, "single.head.conv1", 3 * b2, cfg.head[0], 3);
    push_cbr(&mut s, "single.head.conv2", cfg.head[0], cfg.head[1], 3);
    push_conv(&mut s, "single.head.out", cfg.head[1], 1, 3, Some(DEFAULT_BIAS));
    if v.single_only {
        return s;
    }
    if v.off {
        for l in 1..=3 {
            push_cbr(&mut s, &format!("off{l}.reduce"), b2, cfg.off_reduce, 1);
            let c_in = 6 * cfg.off_reduce + if l > 1 { cfg.off_out } else { 0 };
            push_cbr(&mut s, &format!("off{l}.fuse"), c_in, cfg.off_out, 3);
        }
    } else {
        push_cbr(&mut s, "off3.reduce", b2, cfg.off_reduce, 1); // variant 3
    }
    if v.gru {
        let c_x = if v.off { cfg.off_out } else { cfg.off_reduce };
        push_gru(&mut s, "gru1", c_x, cfg.gru_hidden);
        push_gru(&mut s, "gru2", cfg.gru_hidden, 1);
    } else {
        push_conv(&mut s, "multi.out", cfg.off_out, 1, 3, Some(DEFAULT_BIAS)); // variant 2
    }
    if v.binary {
        let s2 = cfg.map_size() * cfg.map_size();
        push_linear(&mut s, "head.fc1", (cfg.frames - 1) * s2, cfg.fc_hidden);
        push_linear(&mut s, "head.fc2", cfg.fc_hidden, 2);
    }
    s
}

/// A freshly initialised parameter store (deterministic for a seed).
pub fn init_params(gpu: &Gpu, cfg: &Config, seed: u64) -> Result<ParamStore> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut store = ParamStore::new();
    for spec in specs(cfg) {
        let n: usize = spec.shape.iter().product();
        let data: Vec<f32> = match spec.init {
            Init::Uniform(fan_in) => {
                let bound = 1.0 / (fan_in as f32).sqrt();
                (0..n).map(|_| rng.random_range(-bound..bound)).collect()
            }
            Init::Const(c) => vec![c; n],
        };
        store.add(gpu, &spec.name, &spec.shape, &data, spec.kind)?;
    }
    Ok(store)
}
