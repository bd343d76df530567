//! Weight averaging (stochastic weight averaging, Izmailov et al. 2018): the model a stage ends
//! with is the mean of its weights over the stage's last part, not the last step's. At the
//! constant Adadelta rate (and batches of 2 clips in stage 2) the last step's weights are one
//! noisy point of the trajectory; their mean lies in a flatter region, which generalises better
//! across domains (Cha et al. 2021, "SWAD") and varies less from run to run.
//!
//! The mean covers every parameter and BatchNorm running statistic, is folded in every
//! `model::config::AVERAGE_EVERY` steps (and at the stage's last step) and is kept in f32 with
//! its count in the checkpoint's optimizer state, so a resumed run averages exactly as an
//! uninterrupted one.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Result};

use crate::gpu::Gpu;
use crate::model::fastd::FasTd;

/// Checkpoint tensor names: the mean of parameter `p` is `optim.average.p`; the count is a
/// one-element tensor.
pub const AVERAGE_PREFIX: &str = "optim.average.";
pub const AVERAGE_COUNT: &str = "optim.average_count";

/// The running mean of a model's weights.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WeightAverage {
    pub count: usize,
    pub mean: BTreeMap<String, Vec<f32>>,
}

impl WeightAverage {
    /// Folds one set of weights in: mean += (x - mean) / count, element by element in f32. A set
    /// that does not match the first (names, sizes) is an error and changes nothing.
    pub fn add(&mut self, weights: impl IntoIterator<Item = (String, Vec<f32>)>) -> Result<()> {
        let weights: Vec<(String, Vec<f32>)> = weights.into_iter().collect();
        if self.count == 0 {
            self.mean = weights.into_iter().collect();
            self.count = 1;
            return Ok(());
        }
        for (name, x) in &weights {
            match self.mean.get(name) {
                None => bail!("weight average: {name} was not in the first weight set"),
                Some(m) if m.len() != x.len() => {
                    bail!("weight average: {name} has {} values, its mean {}", x.len(), m.len())
                }
                Some(_) => {}
            }
        }
        if weights.len() != self.mean.len() {
            bail!("weight average: {} weights given, the mean has {}", weights.len(), self.mean.len());
        }
        let k = (self.count + 1) as f32;
        for (name, x) in weights {
            let m = self.mean.get_mut(&name).expect("checked above");
            m.iter_mut().zip(&x).for_each(|(m, x)| *m += (x - *m) / k);
        }
        self.count += 1;
        Ok(())
    }

    /// Folds the model's current parameters and BatchNorm statistics in.
    pub fn add_model(&mut self, gpu: &Gpu, model: &FasTd) -> Result<()> {
        let weights = model
            .params
            .params
            .iter()
            .map(|p| Ok((p.name.clone(), p.value.download(gpu)?)))
            .collect::<Result<Vec<_>>>()?;
        self.add(weights)
    }

    /// Sets the model's weights to the mean (nothing when nothing was averaged yet).
    pub fn apply(&self, gpu: &Gpu, model: &mut FasTd) -> Result<()> {
        if self.count == 0 {
            return Ok(());
        }
        let names: Vec<String> = model.params.names().map(String::from).collect();
        for name in names {
            let mean = self.mean.get(&name).ok_or_else(|| anyhow!("weight average: no mean of {name}"))?;
            model.params.set(gpu, &name, mean)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_mean_is_the_mean_and_checks_names_and_sizes() {
        let sets = [[1.0f32, -2.0], [3.0, 4.0], [8.0, 1.0], [0.0, 5.0]];
        let mut a = WeightAverage::default();
        for s in &sets {
            a.add([("w".to_string(), s.to_vec()), ("b".to_string(), vec![s[0] * 2.0])]).unwrap();
        }
        assert_eq!(a.count, 4);
        assert_eq!(a.mean["w"], vec![3.0, 2.0]);
        assert_eq!(a.mean["b"], vec![6.0]);
        // a mean restored from its f32 values and count continues exactly as the original
        let mut resumed = WeightAverage { count: a.count, mean: a.mean.clone() };
        let next = || [("w".to_string(), vec![0.7f32, 0.1]), ("b".to_string(), vec![0.3f32])];
        a.add(next()).unwrap();
        resumed.add(next()).unwrap();
        assert_eq!(a, resumed);
        assert!(a.add([("w".to_string(), vec![1.0])]).unwrap_err().to_string().contains("2"));
        let e = a.add([("w".to_string(), vec![1.0, 2.0]), ("x".to_string(), vec![1.0])]).unwrap_err();
        assert!(e.to_string().contains("x was not in the first"), "{e}");
        let e = a.add([("w".to_string(), vec![1.0, 2.0])]).unwrap_err();
        assert!(e.to_string().contains("1 weights given, the mean has 2"), "{e}");
    }
}
