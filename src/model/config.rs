//! Model configuration: TOML presets (`paper`, `tiny`), files, and the ablation variants.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    pub lr: f64,
    pub batch: usize,
    #[serde(default = "default_steps")]
    pub steps: usize,
    /// The rate at the stage's last step, reached by a cosine from `lr` (None: `lr` throughout,
    /// as the paper trains). Annealing settles the weights the run ends with: at a constant
    /// Adadelta rate the last steps still move them as much as the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr_end: Option<f64>,
    /// Weight averaging (src/train/average.rs): the stage ends with the mean of its weights
    /// from this fraction of its steps on (None: the last step's weights, as the paper).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_from: Option<f64>,
    /// CutMix with the depth labels (src/data/cutmix.rs): the share of augmented training
    /// frames given a rectangle of another frame of the batch, labels alike (None: none, as the
    /// paper). Stage 1 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cutmix: Option<f64>,
    /// D_single's last ReLU passes back the gradient that would raise an output it holds at 0
    /// (a one-sided straight-through gradient; `ops::elementwise::relu_revive_backward`), so
    /// stage 1 cannot stay at the all-zero start (false: ReLU's own gradient, as the paper).
    /// Stage 1 only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub revive: bool,
    /// Adadelta's weight decay (PyTorch's coupled L2 term: this times each trainable parameter
    /// added to its gradient). None: none, as the paper trains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
}

/// Steps between two weight sets folded into a stage's weight average (`average_from`).
pub const AVERAGE_EVERY: usize = 10;

impl StageConfig {
    /// Whether the weights after step `step` (0-based) are folded into the stage's average:
    /// every `AVERAGE_EVERY` steps after `average_from` of the steps, and the last step.
    pub fn averages_after(&self, step: usize) -> bool {
        let Some(from) = self.average_from else { return false };
        let (done, start) = (step + 1, (from * self.steps as f64).floor() as usize);
        done > start && (done.is_multiple_of(AVERAGE_EVERY) || done == self.steps)
    }

    /// The learning rate of step `step` (0-based) of the stage: `lr` at step 0, cosine down to
    /// `lr_end` at the last step.
    pub fn lr_at(&self, step: usize) -> f64 {
        match self.lr_end {
            None => self.lr,
            Some(end) => {
                let t = step.min(self.steps.saturating_sub(1)) as f64 / self.steps.saturating_sub(1).max(1) as f64;
                end + (self.lr - end) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }
}

fn default_steps() -> usize {
    1000
}

fn legacy_crop() -> f64 {
    1.3
}

const GIB: f64 = (1u64 << 30) as f64;

/// Activation memory one training step may plan for: more than the largest GPUs hold (the paper
/// preset's stage-2 step needs about 7 GiB by `step_memory_estimate`).
pub const MAX_STEP_MEMORY: f64 = 96.0 * GIB;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub name: String,
    pub variant: String,
    pub image_size: usize,
    pub frames: usize,
    pub interval: usize,
    /// Face crop side over the face box side at test (training draws each clip's from
    /// `crop +- CROP_JITTER`). A checkpoint without this field trained on 1.3.
    #[serde(default = "legacy_crop")]
    pub crop: f64,
    /// Share of training clips whose frames are first cut close around the face, as the photos
    /// of many real sets and apps are (the crop then reaches past the picture; see
    /// `data::augment::CloseCut`). 0 (the default of older checkpoints) for none.
    #[serde(default)]
    pub close_cut: f64,
    /// Share of training clips (with a face box) cropped closer, at 1.05-1.5 face boxes
    /// (`data::load::ZOOM_RANGE`); above 0, `infer` looks at a picture smaller than the crop
    /// zoomed in as far as its face allows instead of through its repeated edges
    /// (`data::unlabelled`). 0 (the default of older checkpoints) for neither.
    #[serde(default)]
    pub zoom: f64,
    /// Each face crop's brightness divided by its local mean before the network sees it
    /// (`data::imageops::local_contrast`), in training and at inference alike. False (the
    /// default of older checkpoints): the crop as it is.
    #[serde(default)]
    pub local_contrast: bool,
    pub stem: usize,
    pub block: [usize; 3],
    pub head: [usize; 2],
    pub off_reduce: usize,
    pub off_out: usize,
    pub gru_hidden: usize,
    pub fc_hidden: usize,
    pub alpha: f64,
    pub beta: f64,
    pub bn_eps: f64,
    pub bn_momentum: f64,
    pub adadelta_rho: f64,
    pub adadelta_eps: f64,
    pub stage1: StageConfig,
    pub stage2: StageConfig,
}

/// What an ablation variant (paper tables 4 and 5) builds and trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    /// OFF blocks (short-term motion) between frames
    pub off: bool,
    /// ConvGRU (long-term motion); variant 2 replaces it by a 3x3 conv
    pub gru: bool,
    /// binary head and loss
    pub binary: bool,
    /// contrastive depth loss (1* drops it)
    pub contrastive: bool,
    /// single-frame only (model 1 / 1*): no stage 2
    pub single_only: bool,
}

impl Variant {
    pub fn parse(name: &str) -> Result<Variant> {
        let v = |off, gru, binary, contrastive, single_only| Variant { off, gru, binary, contrastive, single_only };
        Ok(match name {
            "1" => v(false, false, false, true, true),
            "1*" => v(false, false, false, false, true),
            "2" => v(true, false, true, true, false),
            "2*" => v(true, false, false, true, false),
            "3" => v(false, true, true, true, false),
            "3*" => v(false, true, false, true, false),
            "4" => v(true, true, true, true, false),
            "4*" => v(true, true, false, true, false),
            other => bail!("unknown variant {other:?}: use one of 1, 1*, 2, 2*, 3, 3*, 4, 4*"),
        })
    }
}

const PRESETS: &[(&str, &str)] = &[
    ("paper", include_str!("presets/paper.toml")),
    ("cpu", include_str!("presets/cpu.toml")),
    ("tiny", include_str!("presets/tiny.toml")),
];

/// Changes to a config given on the command line (each `None` keeps the config's value).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub variant: Option<String>,
    /// both stages' steps
    pub steps: Option<usize>,
    pub lr1: Option<f64>,
    pub lr2: Option<f64>,
    pub batch1: Option<usize>,
    pub batch2: Option<usize>,
}

impl Config {
    /// The preset a command uses when none is named: `tiny` on a CPU adapter (software
    /// rendering runs at a few GFLOP/s), `paper` on a GPU.
    pub fn default_preset(cpu_adapter: bool) -> &'static str {
        if cpu_adapter {
            "tiny"
        } else {
            "paper"
        }
    }

    /// A config file, else the named preset, else `fallback` (e.g. a resumed run's config), else
    /// the adapter's default preset.
    pub fn chosen(
        file: Option<&Path>,
        preset: Option<&str>,
        fallback: Option<&Config>,
        cpu_adapter: bool,
    ) -> Result<Config> {
        match (file, preset, fallback) {
            (Some(path), _, _) => Config::from_file(path),
            (None, Some(p), _) => Config::preset(p),
            (None, None, Some(c)) => Ok(c.clone()),
            (None, None, None) => Config::preset(Config::default_preset(cpu_adapter)),
        }
    }

    /// The config with `o` applied, validated.
    pub fn overridden(mut self, o: &Overrides) -> Result<Config> {
        if let Some(v) = &o.variant {
            self.variant = v.clone();
        }
        if let Some(s) = o.steps {
            self.stage1.steps = s;
            self.stage2.steps = s;
        }
        if let Some(x) = o.lr1 {
            self.stage1.lr = x;
        }
        if let Some(x) = o.lr2 {
            self.stage2.lr = x;
        }
        if let Some(x) = o.batch1 {
            self.stage1.batch = x;
        }
        if let Some(x) = o.batch2 {
            self.stage2.batch = x;
        }
        self.validate()?;
        Ok(self)
    }

    pub fn preset(name: &str) -> Result<Config> {
        let Some((_, text)) = PRESETS.iter().find(|(n, _)| *n == name) else {
            bail!("unknown preset {name:?}: use one of {}", PRESETS.iter().map(|p| p.0).collect::<Vec<_>>().join(", "));
        };
        Self::from_toml(text, &format!("preset {name}"))
    }

    pub fn from_file(path: &Path) -> Result<Config> {
        let text = crate::util::fs::read_text(path, "config")?;
        Self::from_toml(&text, &path.display().to_string())
    }

    pub fn from_toml(text: &str, origin: &str) -> Result<Config> {
        let c: Config = toml::from_str(text).with_context(|| format!("{origin}: not a valid tdfas config"))?;
        c.validate().with_context(|| format!("{origin}: invalid config"))?;
        Ok(c)
    }

    pub fn from_json(text: &str) -> Result<Config> {
        let c: Config = serde_json::from_str(text).context("config JSON")?;
        c.validate()?;
        Ok(c)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("config serialises")
    }

    pub fn validate(&self) -> Result<()> {
        Variant::parse(&self.variant)?;
        if self.image_size < 8 || !self.image_size.is_multiple_of(8) {
            bail!("image_size must be a positive multiple of 8 (map size S = image_size / 8), got {}", self.image_size);
        }
        if self.image_size > 4096 {
            bail!("image_size {} is larger than 4096", self.image_size);
        }
        if self.frames < 2 || self.frames > 64 {
            bail!("frames must be 2..=64 (the multi-frame part needs pairs), got {}", self.frames);
        }
        if self.interval == 0 {
            bail!("interval must be at least 1");
        }
        if !(1.0..=4.0).contains(&self.crop) {
            bail!("crop (face crop side over the face box side) must be in [1, 4], got {}", self.crop);
        }
        if !(0.0..=1.0).contains(&self.close_cut) {
            bail!(
                "close_cut (share of training clips cut close around the face) must be in [0, 1], got {}",
                self.close_cut
            );
        }
        if !(0.0..=1.0).contains(&self.zoom) {
            bail!("zoom (share of training clips cropped closer around the face) must be in [0, 1], got {}", self.zoom);
        }
        let widths = [
            self.stem,
            self.block[0],
            self.block[1],
            self.block[2],
            self.head[0],
            self.head[1],
            self.off_reduce,
            self.off_out,
            self.gru_hidden,
            self.fc_hidden,
        ];
        if widths.iter().any(|&w| w == 0 || w > 4096) {
            bail!("every channel width must be 1..=4096, got {widths:?}");
        }
        for (what, x) in [
            ("alpha", self.alpha),
            ("beta", self.beta),
            ("bn_momentum", self.bn_momentum),
            ("adadelta_rho", self.adadelta_rho),
        ] {
            if !(0.0..=1.0).contains(&x) {
                bail!("{what} must be in [0, 1], got {x}");
            }
        }
        for (what, x) in [
            ("bn_eps", self.bn_eps),
            ("adadelta_eps", self.adadelta_eps),
            ("stage1.lr", self.stage1.lr),
            ("stage2.lr", self.stage2.lr),
        ] {
            if !(x > 0.0 && x.is_finite()) {
                bail!("{what} must be positive, got {x}");
            }
        }
        for (what, stage) in [("stage1", &self.stage1), ("stage2", &self.stage2)] {
            if let Some(from) = stage.average_from {
                if !(0.0..1.0).contains(&from) {
                    bail!("{what}.average_from (fraction of the steps) must be in [0, 1), got {from}");
                }
            }
            if let Some(share) = stage.cutmix {
                if !(0.0..=1.0).contains(&share) {
                    bail!("{what}.cutmix (share of training frames) must be in [0, 1], got {share}");
                }
            }
            if let Some(wd) = stage.weight_decay {
                if !(0.0..=1.0).contains(&wd) {
                    bail!("{what}.weight_decay must be in [0, 1], got {wd}");
                }
            }
            if let Some(end) = stage.lr_end {
                if !(end >= 0.0 && end <= stage.lr) {
                    bail!("{what}.lr_end must be in [0, {what}.lr = {}], got {end}", stage.lr);
                }
            }
        }
        if self.stage2.revive {
            bail!("stage2.revive: D_single's ReLU is trained in stage 1 only (stage 2 freezes it)");
        }
        if self.stage2.cutmix.is_some() {
            bail!("stage2.cutmix: CutMix is for stage 1's depth maps; a mixed clip's live/attack label (stage 2) is undefined");
        }
        if self.stage1.batch == 0 || self.stage2.batch == 0 {
            bail!("batch sizes must be at least 1");
        }
        let need = self.step_memory_estimate();
        if need > MAX_STEP_MEMORY {
            let per_frame = need / self.frames_per_step();
            let fit = (MAX_STEP_MEMORY / per_frame).floor();
            bail!(
                "one training step at image_size {} with stage1.batch {} and stage2.batch {} x {} frames needs about \
                 {:.0} GiB for its activations, more than the {:.0} GiB tdfas plans for: at this image size at most \
                 {fit:.0} frames fit in one step (stage1.batch, or stage2.batch x frames)",
                self.image_size,
                self.stage1.batch,
                self.stage2.batch,
                self.frames,
                need / GIB,
                MAX_STEP_MEMORY / GIB
            );
        }
        Ok(())
    }

    /// Frames in the larger training step: stage 1 trains on single frames, stage 2 on clips.
    fn frames_per_step(&self) -> f64 {
        (self.stage1.batch as f64).max(self.stage2.batch as f64 * self.frames as f64)
    }

    /// A rough upper estimate of one training step's activation memory (bytes): the single-frame
    /// part's feature maps at full, half and quarter resolution, each kept about four times
    /// (before and after BatchNorm, after ReLU, and its gradient), for every frame of the step.
    pub fn step_memory_estimate(&self) -> f64 {
        let hw = (self.image_size as f64).powi(2);
        let channels = (self.stem + self.block[0] + self.block[1] + self.block[2]) as f64;
        let per_frame = hw * channels * (1.0 + 0.25 + 0.0625) * 4.0 * 4.0;
        per_frame * self.frames_per_step()
    }

    pub fn variant(&self) -> Variant {
        Variant::parse(&self.variant).expect("validated")
    }

    /// S: depth maps, masks and the ConvGRU live at S x S.
    pub fn map_size(&self) -> usize {
        self.image_size / 8
    }

    pub fn clip_spec(&self) -> crate::data::ClipSpec {
        crate::data::ClipSpec {
            frames: self.frames,
            interval: self.interval,
            size: self.image_size,
            map: self.map_size(),
            crop: self.crop as f32,
            close_cut: self.close_cut,
            zoom: self.zoom,
            local_contrast: self.local_contrast,
        }
    }
}

/// The two stages of training (MODEL.md): the single-frame network on single frames, then the
/// OFF blocks, the ConvGRU and the binary head on clips with the single-frame part frozen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    Single,
    Multi,
}

impl Stage {
    /// 1 or 2, as checkpoints, the log and messages number them.
    pub fn number(self) -> u8 {
        match self {
            Stage::Single => 1,
            Stage::Multi => 2,
        }
    }

    /// The stage's steps, batch and learning rate.
    pub fn settings(self, cfg: &Config) -> &StageConfig {
        match self {
            Stage::Single => &cfg.stage1,
            Stage::Multi => &cfg.stage2,
        }
    }
}

/// Its number: "stage 1", "stage 2" in messages and tables.
impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.number())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_parse_and_validate() {
        let p = Config::preset("paper").unwrap();
        assert_eq!((p.image_size, p.map_size(), p.frames, p.block), (256, 32, 5, [128, 192, 128]));
        assert!(Config::preset("tiny").is_ok());
        assert_eq!(Config::preset("cpu").unwrap().image_size, 64);
        assert!(Config::preset("huge").unwrap_err().to_string().contains("unknown preset"));
    }

    #[test]
    fn bad_configs_are_clear_errors() {
        let text = include_str!("presets/tiny.toml");
        let e = Config::from_toml(&text.replace("image_size = 32", "image_size = 30"), "x.toml").unwrap_err();
        assert!(format!("{e:#}").contains("multiple of 8"), "{e:#}");
        let e = Config::from_toml(&text.replace("variant = \"4\"", "variant = \"5\""), "x.toml").unwrap_err();
        assert!(format!("{e:#}").contains("unknown variant"), "{e:#}");
        let e = Config::from_toml(&format!("{text}\nbogus = 1"), "x.toml").unwrap_err();
        assert!(format!("{e:#}").contains("x.toml"), "{e:#}");
        let json = Config::preset("tiny").unwrap().to_json();
        assert_eq!(Config::from_json(&json).unwrap(), Config::preset("tiny").unwrap());
        let e = Config::from_toml(&text.replace("crop = 1.8", "crop = 0.5"), "x.toml").unwrap_err();
        assert!(format!("{e:#}").contains("crop"), "{e:#}");
        // local_contrast: off unless a config says so (the cpu preset does), and then carried to
        // the clip reader and through a checkpoint's JSON
        assert!(!Config::preset("tiny").unwrap().clip_spec().local_contrast);
        let cpu = Config::preset("cpu").unwrap();
        assert!(cpu.clip_spec().local_contrast && cpu.stage1.average_from == Some(0.5));
        assert_eq!(cpu.stage2.average_from, None);
        let on = Config::from_toml(&text.replace("crop = 1.8", "crop = 1.8\nlocal_contrast = true"), "x.toml").unwrap();
        assert!(on.clip_spec().local_contrast && Config::from_json(&on.to_json()).unwrap().local_contrast);
    }

    #[test]
    fn lr_schedule_is_cosine_from_lr_to_lr_end() {
        let mut st = StageConfig {
            lr: 1.0,
            batch: 2,
            steps: 101,
            lr_end: None,
            average_from: None,
            cutmix: None,
            revive: false,
            weight_decay: None,
        };
        assert!((0..101).all(|k| st.lr_at(k) == 1.0), "without lr_end the rate is constant");
        st.lr_end = Some(0.1);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(st.lr_at(0), 1.0) && close(st.lr_at(100), 0.1) && close(st.lr_at(50), 0.55));
        // cos(pi / 4) at a quarter of the way
        assert!(close(st.lr_at(25), 0.1 + 0.9 * 0.5 * (1.0 + std::f64::consts::FRAC_1_SQRT_2)));
        assert!((1..101).all(|k| st.lr_at(k) < st.lr_at(k - 1)), "decreasing");
        assert!(close(st.lr_at(500), 0.1), "steps past the end (a run trained longer) keep lr_end");
        let text = include_str!("presets/tiny.toml");
        let bad = text.replace("[stage2]\n", "[stage2]\nlr_end = 5.0\n");
        let e = Config::from_toml(&bad, "x.toml").unwrap_err();
        assert!(format!("{e:#}").contains("stage2.lr_end must be in [0,"), "{e:#}");
    }

    #[test]
    fn weights_are_averaged_every_ten_steps_from_average_from_and_at_the_end() {
        let mut st = StageConfig {
            lr: 1.0,
            batch: 2,
            steps: 95,
            lr_end: None,
            average_from: None,
            cutmix: None,
            revive: false,
            weight_decay: None,
        };
        assert!((0..95).all(|k| !st.averages_after(k)));
        st.average_from = Some(0.5);
        let steps: Vec<usize> = (0..95).filter(|&k| st.averages_after(k)).map(|k| k + 1).collect();
        assert_eq!(steps, vec![50, 60, 70, 80, 90, 95]);
        st.average_from = Some(0.0);
        assert_eq!((0..95).filter(|&k| st.averages_after(k)).count(), 10);
        let text = include_str!("presets/tiny.toml");
        let bad = text.replace("[stage1]\n", "[stage1]\naverage_from = 1.0\n");
        let e = Config::from_toml(&bad, "x.toml").unwrap_err();
        assert!(format!("{e:#}").contains("stage1.average_from"), "{e:#}");
    }

    #[test]
    fn the_pytorch_reference_reads_every_key_a_checkpoint_config_holds() {
        // tools/torch_reference.py's Config refuses unknown keys: a key tdfas writes and it
        // lacks makes every checkpoint with it unloadable there (MODEL.md, Checkpoint format)
        let py = include_str!("../../tools/torch_reference.py");
        let class = py.split("class Config:").nth(1).expect("torch_reference.py has class Config");
        let body = class.split("@staticmethod").next().unwrap();
        let fields: Vec<&str> = body
            .lines()
            .filter_map(|l| l.strip_prefix("    ")?.split(':').next())
            .filter(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .collect();
        assert!(fields.contains(&"image_size") && fields.contains(&"stage1"), "{fields:?}");
        for preset in ["paper", "tiny", "cpu"] {
            let v: serde_json::Value = serde_json::from_str(&Config::preset(preset).unwrap().to_json()).unwrap();
            for key in v.as_object().unwrap().keys() {
                assert!(fields.contains(&key.as_str()), "{preset}: key {key} is not in torch_reference.py's Config");
            }
        }
    }

    #[test]
    fn cutmix_is_a_share_of_stage_1_frames_kept_in_the_checkpoint_config() {
        let text = include_str!("presets/tiny.toml");
        assert_eq!(Config::from_toml(text, "x.toml").unwrap().stage1.cutmix, None);
        let on = Config::from_toml(&text.replace("[stage1]\n", "[stage1]\ncutmix = 0.5\n"), "x.toml").unwrap();
        assert_eq!((on.stage1.cutmix, Config::from_json(&on.to_json()).unwrap().stage1.cutmix), (Some(0.5), Some(0.5)));
        for (bad, says) in [
            (
                text.replace("[stage1]\n", "[stage1]\ncutmix = 1.5\n"),
                "stage1.cutmix (share of training frames) must be in [0, 1]",
            ),
            (text.replace("[stage2]\n", "[stage2]\ncutmix = 0.5\n"), "stage2.cutmix: CutMix is for stage 1"),
        ] {
            let e = Config::from_toml(&bad, "x.toml").unwrap_err();
            assert!(format!("{e:#}").contains(says), "{e:#}");
        }
    }

    #[test]
    fn revive_is_a_stage_1_switch_kept_in_the_checkpoint_config() {
        let text = include_str!("presets/tiny.toml");
        let off = Config::from_toml(text, "x.toml").unwrap();
        assert!(!off.stage1.revive && !off.to_json().contains("revive"));
        let on = Config::from_toml(&text.replace("[stage1]\n", "[stage1]\nrevive = true\n"), "x.toml").unwrap();
        assert!(on.stage1.revive && Config::from_json(&on.to_json()).unwrap().stage1.revive);
        let e = Config::from_toml(&text.replace("[stage2]\n", "[stage2]\nrevive = true\n"), "x.toml").unwrap_err();
        assert!(format!("{e:#}").contains("stage2.revive: D_single's ReLU is trained in stage 1 only"), "{e:#}");
    }

    #[test]
    fn weight_decay_is_kept_in_the_checkpoint_config_and_checked() {
        let text = include_str!("presets/tiny.toml");
        let off = Config::from_toml(text, "x.toml").unwrap();
        assert!(off.stage1.weight_decay.is_none() && !off.to_json().contains("weight_decay"));
        let on = Config::from_toml(&text.replace("[stage2]\n", "[stage2]\nweight_decay = 0.01\n"), "x.toml").unwrap();
        assert_eq!(Config::from_json(&on.to_json()).unwrap().stage2.weight_decay, Some(0.01));
        for bad in ["-0.1", "2.0", "nan"] {
            let e =
                Config::from_toml(&text.replace("[stage1]\n", &format!("[stage1]\nweight_decay = {bad}\n")), "x.toml");
            assert!(format!("{:#}", e.unwrap_err()).contains("stage1.weight_decay must be in [0, 1]"), "{bad}");
        }
    }

    #[test]
    fn checkpoints_from_before_the_crop_field_keep_their_crop() {
        // a config stored without `crop` trained on 1.3x crops; the presets use 1.8
        let tiny = Config::preset("tiny").unwrap();
        assert_eq!((tiny.crop, tiny.clip_spec().crop), (1.8, 1.8));
        let mut v: serde_json::Value = serde_json::from_str(&tiny.to_json()).unwrap();
        v.as_object_mut().unwrap().remove("crop");
        assert_eq!(Config::from_json(&v.to_string()).unwrap().crop, 1.3);
    }
}
