//! The whole FAS-TD model: forward for both stages, the losses (eqs. 3-5, 11-15) and the
//! living score (eq. 18), for every ablation variant.

use anyhow::{bail, ensure, Result};

use super::{conv_gru, off_block, single_frame, Builder, Config};
use crate::gpu::Gpu;
use crate::graph::{ParamStore, Tape, Var};
use crate::ops::concat;
use crate::ops::cross_entropy::{softmax, t_softmax_cross_entropy};
use crate::ops::depth_loss::{t_abs_loss, t_contrastive_loss};
use crate::ops::elementwise::{t_add, t_axpy, t_relu, t_reshape, t_scale};
use crate::ops::gather::Pick;
use crate::ops::linear::t_linear;
use crate::ops::pool;
use crate::tensor::Tensor;

/// A batch of clips on the host, clip-major: frames [B, Nf, 3, H, W], depth/mask [B, Nf, S, S].
#[derive(Clone, Debug)]
pub struct HostBatch {
    pub clips: usize,
    pub frames: Vec<f32>,
    pub depth: Vec<f32>,
    pub mask: Vec<f32>,
    pub labels: Vec<f32>,
}

impl HostBatch {
    pub fn from_clips(cfg: &Config, clips: &[crate::data::Clip]) -> Result<HostBatch> {
        let (nf, h, s) = (cfg.frames, cfg.image_size, cfg.map_size());
        let mut b = HostBatch {
            clips: clips.len(),
            frames: Vec::new(),
            depth: Vec::new(),
            mask: Vec::new(),
            labels: Vec::new(),
        };
        for c in clips {
            ensure!(
                c.frames.len() == nf * 3 * h * h && c.depth.len() == nf * s * s && c.mask.len() == nf * s * s,
                "clip {} has {} frame values and {} depth values; the model wants {nf} frames of 3x{h}x{h} and maps of {s}x{s}",
                c.video_id,
                c.frames.len(),
                c.depth.len()
            );
            b.frames.extend_from_slice(&c.frames);
            b.depth.extend_from_slice(&c.depth);
            b.mask.extend_from_slice(&c.mask);
            b.labels.push(c.label as f32);
        }
        Ok(b)
    }

    /// One clip of unlabelled frames to score (depth labels zero and label 0, as for an attack:
    /// the score reads only the frames and the face mask).
    pub fn unlabelled(cfg: &Config, clip: &crate::data::unlabelled::FaceClip) -> Result<HostBatch> {
        let (nf, h, s) = (cfg.frames, cfg.image_size, cfg.map_size());
        ensure!(
            clip.frames.len() == nf * 3 * h * h && clip.mask.len() == nf * s * s,
            "a clip of {} frame values and {} mask values; the model wants {nf} frames of 3x{h}x{h} and maps of {s}x{s}",
            clip.frames.len(),
            clip.mask.len()
        );
        Ok(HostBatch {
            clips: 1,
            frames: clip.frames.clone(),
            depth: vec![0.0; nf * s * s],
            mask: clip.mask.clone(),
            labels: vec![0.0],
        })
    }

    /// A stage-1 batch: single frames (each with its depth and mask) from several clips.
    pub fn single_frames(cfg: &Config, picks: &[(&crate::data::Clip, usize)]) -> HostBatch {
        let (fsz, s2) = (3 * cfg.image_size * cfg.image_size, cfg.map_size() * cfg.map_size());
        let mut b = HostBatch {
            clips: picks.len(),
            frames: Vec::new(),
            depth: Vec::new(),
            mask: Vec::new(),
            labels: Vec::new(),
        };
        for (c, f) in picks {
            b.frames.extend_from_slice(&c.frames[f * fsz..(f + 1) * fsz]);
            b.depth.extend_from_slice(&c.depth[f * s2..(f + 1) * s2]);
            b.mask.extend_from_slice(&c.mask[f * s2..(f + 1) * s2]);
            b.labels.push(c.label as f32);
        }
        b
    }

    /// depth (or mask) maps of frame t of every clip: [B, 1, S, S]
    fn maps_at(&self, cfg: &Config, maps: &[f32], t: usize) -> Vec<f32> {
        let s2 = cfg.map_size() * cfg.map_size();
        (0..self.clips)
            .flat_map(|b| maps[(b * cfg.frames + t) * s2..(b * cfg.frames + t + 1) * s2].iter().copied())
            .collect()
    }
}

/// What one forward produced (tape variables).
pub struct Outputs {
    /// D_single of every frame: [B * Nf, 1, S, S]
    pub d_single: Var,
    /// OFF outputs o_1..o_3 for the pairs (variants with OFF blocks)
    pub off: Vec<Var>,
    /// ConvGRU cell-1 hidden state after step t: [B, hidden, S, S]
    pub gru1: Vec<Var>,
    /// D_multi(t) and D_fusion(t): [B, 1, S, S], t = 0 .. Nf-2
    pub d_multi: Vec<Var>,
    pub d_fusion: Vec<Var>,
    /// logits [B, 2] (variants with the binary head)
    pub logits: Option<Var>,
}

pub struct Losses {
    pub total: Var,
    /// (name, value) pairs for logs: l_abs, l_con, l_single or l_depth, l_binary, l_multi
    pub parts: Vec<(&'static str, Var)>,
}

pub struct FasTd {
    pub cfg: Config,
    pub params: ParamStore,
}

impl FasTd {
    pub fn new(gpu: &Gpu, cfg: Config, seed: u64) -> Result<FasTd> {
        let params = super::init::init_params(gpu, &cfg, seed)?;
        Ok(FasTd { cfg, params })
    }

    /// The single-frame part as a variant-1 model (parameters and BatchNorm statistics copied):
    /// what scores photos, and the Model 1 baseline training stores.
    pub fn single_frame(&self, gpu: &Gpu) -> Result<FasTd> {
        let mut cfg = self.cfg.clone();
        cfg.variant = "1".into();
        let mut m1 = FasTd::new(gpu, cfg, 0)?;
        let names: Vec<String> = m1.params.names().map(String::from).collect();
        for name in names {
            let values = self.params.get(&name)?.download(gpu)?;
            m1.params.set(gpu, &name, &values)?;
        }
        Ok(m1)
    }

    /// Freezes or unfreezes the parts trained by `stage` (the single-frame part, or the rest).
    pub fn set_stage(&mut self, stage: super::Stage) {
        let stage1 = stage == super::Stage::Single;
        for p in &mut self.params.params {
            if p.kind == crate::graph::params::ParamKind::Weight {
                p.trainable = p.name.starts_with("single.") == stage1;
            }
        }
    }

    /// Uploads the frames as [B * Nf, 3, H, W] (or only frame 0.. of each clip as needed).
    fn frames_var(&self, t: &mut Tape, batch: &HostBatch) -> Result<Var> {
        let h = self.cfg.image_size;
        let n = batch.frames.len() / (3 * h * h); // B * Nf frames, or a stage-1 batch of frames
                                                  // a tensor may span buffers, but one frame's activation must fit one binding
        t.gpu.check_item_size("the largest activation", (self.cfg.block[1].max(self.cfg.stem) * h * h * 4) as u64)?;
        Ok(t.leaf(Tensor::upload(t.gpu, &batch.frames, &[n, 3, h, h])?, false))
    }

    /// Stage-1 forward: D_single of every frame of the batch, and the parameters on the tape.
    pub fn forward_single(&self, t: &mut Tape, batch: &HostBatch, training: bool) -> Result<(Var, Vec<(String, Var)>)> {
        let frames = self.frames_var(t, batch)?;
        let mut m = Builder::new(t, &self.params, &self.cfg, training);
        let d = single_frame::forward(&mut m, frames)?.depth;
        Ok((d, m.param_vars()))
    }

    /// The full forward. Returns the outputs and the parameters put on the tape.
    pub fn forward(&self, t: &mut Tape, batch: &HostBatch, training: bool) -> Result<(Outputs, Vec<(String, Var)>)> {
        let cfg = &self.cfg;
        let v = cfg.variant();
        let (clips, nf, s) = (batch.clips, cfg.frames, cfg.map_size());
        let frames = self.frames_var(t, batch)?;
        let mut m = Builder::new(t, &self.params, cfg, training);
        let single_frame::SingleFrame { f, depth } = single_frame::forward(&mut m, frames)?;
        let mut out =
            Outputs { d_single: depth, off: vec![], gru1: vec![], d_multi: vec![], d_fusion: vec![], logits: None };
        if v.single_only {
            return Ok((out, m.param_vars()));
        }
        // Motion features per pair (t, t+1), clip-major: [B * (Nf-1), C, S, S]
        let motion = if v.off {
            let mut prev = None;
            for (l, fl) in (1..).zip(f) {
                let o = off_block::forward(&mut m, l, fl, prev, clips)?;
                out.off.push(o.clone());
                prev = Some(o);
            }
            prev.unwrap()
        } else {
            // variant 3: pool(reduce(f_3)) of frames 0 .. Nf-2 feeds the GRU directly (f_1, f_2
            // are dropped unread)
            let f3 = f.into_iter().last().expect("three blocks");
            let f3 = m.gather(f3, clips, nf, 0, nf - 1)?;
            let r = m.cbr("off3.reduce", f3)?;
            pool::t_maxpool2(m.t, r)?
        };
        if v.gru {
            let zeros = |m: &mut Builder, c: usize| -> Result<Var> {
                let z = Tensor::zeros(m.t.gpu, &[clips, c, s, s]);
                Ok(m.t.leaf(z, false))
            };
            let mut h1 = zeros(&mut m, cfg.gru_hidden)?;
            let mut h2 = zeros(&mut m, 1)?;
            for step in 0..nf - 1 {
                let x = Pick { groups: clips, per_group: nf - 1, start: step, len: 1 };
                h1 = conv_gru::step(&mut m, "gru1", h1, motion.clone(), x)?;
                h2 = conv_gru::step(&mut m, "gru2", h2, h1.clone(), Pick::all(clips))?;
                out.gru1.push(h1.clone());
                out.d_multi.push(h2.clone());
            }
        } else {
            let d = m.conv_bias("multi.out", motion)?; // variant 2
            for step in 0..nf - 1 {
                let dm = m.gather(d.clone(), clips, nf - 1, step, 1)?;
                out.d_multi.push(dm);
            }
        }
        for step in 0..nf - 1 {
            let ds = m.gather(out.d_single.clone(), clips, nf, step, 1)?;
            let dm = t_scale(m.t, out.d_multi[step].clone(), (1.0 - cfg.alpha) as f32)?;
            out.d_fusion.push(t_axpy(m.t, cfg.alpha as f32, ds, dm)?);
        }
        if v.binary {
            // flattened t-major, then row, then column
            let cat =
                if nf == 2 { out.d_fusion[0].clone() } else { concat::t_concat_channels(m.t, out.d_fusion.clone())? };
            let flat = t_reshape(m.t, cat, &[clips, (nf - 1) * s * s])?;
            let (w1, b1) = (m.p("head.fc1.weight")?, m.p("head.fc1.bias")?);
            let hidden = t_linear(m.t, flat, w1, b1)?;
            let hidden = t_relu(m.t, hidden)?;
            let (w2, b2) = (m.p("head.fc2.weight")?, m.p("head.fc2.bias")?);
            out.logits = Some(t_linear(m.t, hidden, w2, b2)?);
        }
        Ok((out, m.param_vars()))
    }

    /// L_abs + L_con of a depth map against labels (L_con dropped by variant 1*).
    fn depth_loss(
        &self,
        t: &mut Tape,
        pred: Var,
        target: &Tensor,
        parts: &mut Vec<(&'static str, Var)>,
    ) -> Result<Var> {
        let l_abs = t_abs_loss(t, pred.clone(), target, None)?;
        parts.push(("l_abs", l_abs.clone()));
        if !self.cfg.variant().contrastive {
            return Ok(l_abs);
        }
        let l_con = t_contrastive_loss(t, pred, target, None)?;
        parts.push(("l_con", l_con.clone()));
        t_add(t, l_abs, l_con)
    }

    /// L_single: depth loss of D_single on every frame (means over all frames and pixels).
    pub fn loss_single(&self, t: &mut Tape, d_single: Var, batch: &HostBatch) -> Result<Losses> {
        let s = self.cfg.map_size();
        let depth = Tensor::upload(t.gpu, &batch.depth, &[batch.depth.len() / (s * s), 1, s, s])?;
        let mut parts = Vec::new();
        let total = self.depth_loss(t, d_single, &depth, &mut parts)?;
        parts.push(("l_single", total.clone()));
        Ok(Losses { total, parts })
    }

    /// L_multi = beta L_binary + (1 - beta) L_depth, L_depth summed over t (MODEL.md).
    pub fn loss_multi(&self, t: &mut Tape, out: &Outputs, batch: &HostBatch) -> Result<Losses> {
        let s = self.cfg.map_size();
        if out.d_fusion.is_empty() {
            bail!("variant {} has no multi-frame part to train (stage 2)", self.cfg.variant);
        }
        let mut parts = Vec::new();
        let mut l_depth = None;
        for (step, df) in out.d_fusion.iter().enumerate() {
            let target = Tensor::upload(t.gpu, &batch.maps_at(&self.cfg, &batch.depth, step), &[batch.clips, 1, s, s])?;
            let mut scratch = Vec::new();
            let l = self.depth_loss(t, df.clone(), &target, &mut scratch)?;
            l_depth = Some(match l_depth {
                None => l,
                Some(acc) => t_add(t, acc, l)?,
            });
        }
        let l_depth = l_depth.unwrap();
        parts.push(("l_depth", l_depth.clone()));
        let total = match &out.logits {
            Some(logits) => {
                let labels = Tensor::upload(t.gpu, &batch.labels, &[batch.clips])?;
                let l_binary = t_softmax_cross_entropy(t, logits.clone(), &labels)?;
                parts.push(("l_binary", l_binary.clone()));
                let beta = self.cfg.beta as f32;
                let depth_part = t_scale(t, l_depth, 1.0 - beta)?;
                t_axpy(t, beta, l_binary, depth_part)?
            }
            None => l_depth,
        };
        parts.push(("l_multi", total.clone()));
        Ok(Losses { total, parts })
    }

    /// Eval-mode forward of a batch and the living score of eq. 18 per clip, with the maps.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn score(&self, gpu: &Gpu, batch: &HostBatch) -> Result<Scored> {
        crate::gpu::block_on(self.score_async(gpu, batch))
    }

    /// `score`, awaited (the browser build reads the outputs back asynchronously).
    pub async fn score_async(&self, gpu: &Gpu, batch: &HostBatch) -> Result<Scored> {
        let cfg = &self.cfg;
        let (nf, s2) = (cfg.frames, cfg.map_size() * cfg.map_size());
        let mut t = Tape::new(gpu);
        t.grad_enabled = false;
        let (out, _) = self.forward(&mut t, batch, false)?;
        let d_single = t.value(&out.d_single).download_async(gpu).await?;
        let p_live = match &out.logits {
            Some(l) => Some(softmax(gpu, t.value(l))?.download_async(gpu).await?),
            None => None,
        };
        let mut fused = Vec::with_capacity(out.d_fusion.len());
        for v in &out.d_fusion {
            fused.push(t.value(v).download_async(gpu).await?);
        }
        let mut multi = Vec::with_capacity(out.d_multi.len());
        for v in &out.d_multi {
            multi.push(t.value(v).download_async(gpu).await?);
        }
        let mut scored = Scored { scores: vec![], d_single: vec![], d_multi: vec![], d_fusion: vec![], p_live: vec![] };
        for b in 0..batch.clips {
            let masks: Vec<Vec<f32>> =
                (0..nf).map(|f| batch.mask[(b * nf + f) * s2..(b * nf + f + 1) * s2].to_vec()).collect();
            let singles: Vec<Vec<f32>> =
                (0..nf).map(|f| d_single[(b * nf + f) * s2..(b * nf + f + 1) * s2].to_vec()).collect();
            let (maps, p) = if cfg.variant().single_only {
                (singles.clone(), None)
            } else {
                let maps: Vec<Vec<f32>> = fused.iter().map(|m| m[b * s2..(b + 1) * s2].to_vec()).collect();
                (maps, p_live.as_ref().map(|p| p[b * 2 + 1] as f64))
            };
            let n = maps.len();
            let score = super::score::clip_score(cfg.beta, p, &maps, Some(&masks[..n]))?;
            scored.scores.push(score);
            scored.p_live.push(p);
            scored.d_single.push(singles);
            scored.d_multi.push(multi.iter().map(|m| m[b * s2..(b + 1) * s2].to_vec()).collect());
            scored.d_fusion.push(fused.iter().map(|m| m[b * s2..(b + 1) * s2].to_vec()).collect());
        }
        Ok(scored)
    }
}

/// Per clip: the score, p_live, and the depth maps (for reports).
pub struct Scored {
    pub scores: Vec<f64>,
    pub p_live: Vec<Option<f64>>,
    pub d_single: Vec<Vec<Vec<f32>>>,
    pub d_multi: Vec<Vec<Vec<f32>>>,
    /// D_fusion(t), the multi-frame model's depth output
    pub d_fusion: Vec<Vec<Vec<f32>>>,
}
