//! Adadelta: GPU vs reference vs torch.optim.Adadelta over three steps, one dispatch for all params,
//! without and with weight decay.

use crate::common;
use common::{gpu, Golden};
use tdfas::graph::params::ParamKind;
use tdfas::reference::{adadelta::adadelta_step, assert_close, to_f32};
use tdfas::train::adadelta::Adadelta;
use tdfas::{ParamStore, Tensor};

#[test]
fn adadelta_matches_reference_and_pytorch_over_three_steps() {
    three_steps("op_adadelta", 0.0);
}

#[test]
fn adadelta_with_weight_decay_matches_reference_and_pytorch() {
    three_steps("op_adadelta_wd", 0.3);
}

fn three_steps(fixture: &str, weight_decay: f64) {
    let g = gpu();
    let golden = Golden::load(fixture);
    let stored = golden.metadata.get("weight_decay").map_or(0.0, |w| w.parse::<f64>().unwrap());
    assert_eq!(stored, weight_decay, "{fixture}'s weight decay");
    let mut store = ParamStore::new();
    let mut reference = Vec::new();
    for name in ["a", "b"] {
        let p = golden.get(&format!("param_{name}"));
        store.add(&g, name, golden.shape(&format!("param_{name}")), &to_f32(p), ParamKind::Weight).unwrap();
        reference.push((p.to_vec(), vec![0.0; p.len()], vec![0.0; p.len()]));
    }
    // a frozen parameter must not move
    store.add(&g, "frozen", &[3], &[1.0, 2.0, 3.0], ParamKind::Weight).unwrap();
    store.set_trainable("frozen", false);
    let mut opt = Adadelta::new(&g, &mut store, 0.5, 0.95, 1e-8).unwrap();
    opt.weight_decay = weight_decay as f32;
    for step in 0..3 {
        let mut grads = Vec::new();
        for (i, name) in ["a", "b"].iter().enumerate() {
            let all = golden.get(&format!("grad_{name}"));
            let n = all.len() / 3;
            let gs = &all[step * n..(step + 1) * n];
            let (p, v, u) = &mut reference[i];
            adadelta_step(p, gs, v, u, 0.5, 0.95, 1e-8, weight_decay);
            grads.push((name.to_string(), Tensor::upload(&g, &to_f32(gs), &[n]).unwrap()));
        }
        let before = g.submit_count();
        let refs: Vec<(&str, &Tensor)> = grads.iter().map(|(n, t)| (n.as_str(), t)).collect();
        opt.step(&g, &refs).unwrap();
        g.flush().unwrap();
        assert_eq!(g.submit_count(), before + 1);
        for (i, name) in ["a", "b"].iter().enumerate() {
            let got = store.get(name).unwrap().download(&g).unwrap();
            let all = golden.get(&format!("param_{name}_after"));
            let n = all.len() / 3;
            let torch = &all[step * n..(step + 1) * n];
            assert_close(&format!("step {step} {name} vs reference"), &got, &reference[i].0, 1).unwrap();
            assert_close(&format!("step {step} {name} vs torch"), &got, torch, 1).unwrap();
            let (v, u) = opt.state(name).unwrap();
            let sq = golden.get(&format!("square_avg_{name}"));
            let ad = golden.get(&format!("acc_delta_{name}"));
            assert_close("square_avg", &v.download(&g).unwrap(), &sq[step * n..(step + 1) * n], 1).unwrap();
            assert_close("acc_delta", &u.download(&g).unwrap(), &ad[step * n..(step + 1) * n], 1).unwrap();
        }
    }
    assert_eq!(store.get("frozen").unwrap().download(&g).unwrap(), vec![1.0, 2.0, 3.0]);
}
