//! Datasets: the synthetic benchmark (`synth`), readers for the generic layout, OULU-NPU, SiW
//! and FAS-SGTD, clip sampling, face crop, augmentation and depth labels.

pub mod augment;
pub mod celeba_spoof;
pub mod cutmix;
pub mod depth_label;
pub mod face;
pub mod generic;
pub mod imageops;
pub mod load;
pub mod mesh;
pub mod oulu;
pub mod protocol;
pub mod raster;
pub mod sgtd;
pub mod siw;
pub mod stream;
#[cfg(not(target_arch = "wasm32"))]
pub mod synth;
pub mod unlabelled;
pub mod video;

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Clip geometry the model wants.
#[derive(Clone, Debug, PartialEq)]
pub struct ClipSpec {
    /// Frames per clip (Nf).
    pub frames: usize,
    /// Sampling interval between frames of a clip.
    pub interval: usize,
    /// Frame size H = W.
    pub size: usize,
    /// Label map size S = size / 8.
    pub map: usize,
    /// Face crop side over the face box side at test (`Config::crop`).
    pub crop: f32,
    /// Share of augmented clips cut close around the face (`Config::close_cut`).
    pub close_cut: f64,
    /// Share of augmented clips cropped closer; above 0, pictures smaller than the crop are
    /// zoomed into at inference (`Config::zoom`).
    pub zoom: f64,
    /// Crops divided by their local brightness (`Config::local_contrast`).
    pub local_contrast: bool,
}

impl ClipSpec {
    /// Number of source frames one clip spans.
    pub fn span(&self) -> usize {
        // saturating: an absurd interval from a config file must not overflow
        (self.frames.max(1) - 1).saturating_mul(self.interval.max(1)).saturating_add(1)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Dev,
    Test,
}

impl Split {
    /// Lower-case name used by the generic layout and protocol files.
    pub fn name(&self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Dev => "dev",
            Split::Test => "test",
        }
    }
}

/// One loaded clip, ready for the model.
#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    /// Clips of one video share it (scores are averaged per video).
    pub video_id: String,
    /// "live", or the attack instrument, e.g. "print1", "replay2".
    pub instrument: String,
    /// 1 = live, 0 = spoof.
    pub label: u32,
    /// Nf x 3 x H x W, NCHW, normalised (p - 127.5) / 128.
    pub frames: Vec<f32>,
    /// Nf x S x S in [0, 1] (spoof: all 0).
    pub depth: Vec<f32>,
    /// Nf x S x S, 0/1 face mask.
    pub mask: Vec<f32>,
}

/// Where one clip's frames and labels are; `load` reads them.
#[derive(Clone, Debug, Default)]
pub struct ClipIndex {
    pub video_id: String,
    pub instrument: String,
    pub label: u32,
    pub frame_paths: Vec<PathBuf>,
    /// Per frame: an 8-bit depth image (0..255 = 0..1) in the frame's coordinates.
    pub depth_paths: Vec<Option<PathBuf>>,
    /// Per frame: an 8-bit mask image in the frame's coordinates.
    pub mask_paths: Vec<Option<PathBuf>>,
    /// Per frame: where the face is (box or eyes), in the frame's pixel coordinates.
    pub anchors: Vec<Option<depth_label::FaceAnchor>>,
    /// A video to decode into the frames' folder when the frames are not there yet.
    pub video: Option<PathBuf>,
}

/// Which reader a root was opened with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    Generic,
    Oulu,
    Siw,
    Sgtd,
    CelebaSpoof,
}

/// Where clips come from: a dataset folder, an optional protocol, and whether the protocol's
/// lists may name clips outside the folder (absolute paths, `..`, links leading out): refused
/// unless the user allows it, so a hostile list cannot make tdfas read any file on the machine.
/// The face settings travel with the data: how its frames without boxes are read.
#[derive(Clone, Debug)]
pub struct DataSource<'a> {
    pub root: &'a Path,
    pub protocol: Option<&'a str>,
    pub allow_outside: bool,
    pub faces: face::FaceSettings,
}

impl<'a> DataSource<'a> {
    /// Data inside its folder, faces searched where the dataset has no boxes.
    pub fn new(root: &'a Path, protocol: Option<&'a str>) -> DataSource<'a> {
        DataSource { root, protocol, allow_outside: false, faces: face::FaceSettings::default() }
    }

    /// The same data under another protocol.
    pub fn with_protocol(&self, protocol: Option<&'a str>) -> DataSource<'a> {
        DataSource { protocol, ..self.clone() }
    }
}

/// Where a dataset's readers may read: inside its folder, links resolved, or anywhere when the
/// user allowed it (`--allow-outside-data`). Every box, label and list file is checked before it
/// is read, and every frame before a clip is kept, so a link or a `..` planted in a dataset cannot
/// make tdfas read (and print in a warning) a file elsewhere on the machine.
#[derive(Clone, Debug)]
pub struct Fence {
    root: PathBuf,
    /// The folder, resolved; None when reading outside it is allowed.
    inside: Option<PathBuf>,
}

impl Fence {
    pub fn new(root: &Path, allow_outside: bool) -> Result<Fence> {
        let inside = match allow_outside {
            true => None,
            false => Some(root.canonicalize().with_context(|| format!("resolving {}", root.display()))?),
        };
        Ok(Fence { root: root.to_path_buf(), inside })
    }

    /// Fails when `path` resolves outside the dataset folder (a missing file passes: its reader
    /// says it is missing).
    pub fn check(&self, path: &Path, what: &str) -> Result<()> {
        let (Some(inside), Ok(resolved)) = (&self.inside, path.canonicalize()) else {
            return Ok(());
        };
        if !resolved.starts_with(inside) {
            bail!(
                "{what} {} lies outside the dataset folder {} (it resolves to {}): refusing to read it \
                 (pass --allow-outside-data if that is intended)",
                crate::util::text::shown_path(path),
                self.root.display(),
                crate::util::text::shown_path(&resolved)
            );
        }
        Ok(())
    }

    /// Whether reads are kept inside the folder.
    pub fn confined(&self) -> bool {
        self.inside.is_some()
    }

    /// A text file of the dataset (boxes, labels, lists), once `check` passed.
    pub fn read_text(&self, path: &Path, what: &str) -> Result<String> {
        self.check(path, what)?;
        crate::util::fs::read_text(path, what)
    }
}

/// The clips of one split.
pub struct Dataset {
    pub root: PathBuf,
    pub layout: Layout,
    pub spec: ClipSpec,
    pub faces: face::FaceSettings,
    clips: Vec<ClipIndex>,
    skipped: Vec<String>,
}

impl Dataset {
    /// Opens `root`, detecting its layout, and indexes the clips of `split` (optionally
    /// restricted to a protocol). Bad or incomplete videos are skipped with a warning.
    pub fn open(root: &Path, split: Split, protocol: Option<&str>, spec: &ClipSpec) -> Result<Dataset> {
        Dataset::open_source(&DataSource::new(root, protocol), split, spec)
    }

    /// `open` with the outside-the-folder policy of `source`.
    pub fn open_source(source: &DataSource, split: Split, spec: &ClipSpec) -> Result<Dataset> {
        let (root, protocol) = (source.root, source.protocol);
        if spec.frames == 0 || spec.size == 0 || spec.map == 0 || spec.interval == 0 {
            bail!("clip spec {spec:?}: frames, interval, size and map must be positive");
        }
        if !root.is_dir() {
            bail!("dataset root {} is not a folder", root.display());
        }
        let layout = detect_layout(root)?;
        let fence = Fence::new(root, source.allow_outside)?;
        let (clips, skipped) = match layout {
            Layout::Generic => generic::index(root, split, protocol, spec, &fence)?,
            Layout::Oulu => oulu::index(root, split, protocol, spec, &fence)?,
            Layout::Siw => siw::index(root, split, protocol, spec, &fence)?,
            Layout::Sgtd => sgtd::index(root, split, protocol, spec, &fence)?,
            Layout::CelebaSpoof => celeba_spoof::index(root, split, protocol, spec, &fence)?,
        };
        if !source.allow_outside {
            unfinished_synthetic_set(root)?;
            outside_root(root, &clips)?;
            every_file_inside(&fence, &clips)?;
        }
        Ok(Dataset {
            root: root.to_path_buf(),
            layout,
            spec: spec.clone(),
            faces: source.faces.clone(),
            clips,
            skipped,
        })
    }

    pub fn len(&self) -> usize {
        self.clips.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clips.is_empty()
    }

    #[allow(clippy::should_implement_trait)]
    pub fn index(&self, i: usize) -> &ClipIndex {
        &self.clips[i]
    }

    /// Loads clip `i`. With `augment`: random crop scale (`spec.crop +- load::CROP_JITTER`, where boxes exist) and a
    /// horizontal flip of frames, depth and mask together.
    pub fn load(&self, i: usize, augment: Option<&mut rand_chacha::ChaCha8Rng>) -> Result<Clip> {
        load::load_clip(self.clip(i)?, &self.spec, &self.faces, augment)
    }

    /// Loads frame `frame` of clip `i` alone (a one-frame clip), cropped as in the whole clip.
    pub fn load_frame(&self, i: usize, frame: usize, augment: Option<&mut rand_chacha::ChaCha8Rng>) -> Result<Clip> {
        load::load_clip_frame(self.clip(i)?, &self.spec, &self.faces, frame, augment)
    }

    /// Clip `i`, or an error naming the dataset when it has fewer.
    fn clip(&self, i: usize) -> Result<&ClipIndex> {
        match self.clips.get(i) {
            Some(c) => Ok(c),
            None => bail!("clip {i} out of range: {} has {} clips", self.root.display(), self.clips.len()),
        }
    }

    /// Warnings for clips skipped at open time.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }
}

/// The first clip whose files resolve (links followed) outside `root`, as an error naming it.
fn outside_root(root: &Path, clips: &[ClipIndex]) -> Result<()> {
    let canonical_root = root.canonicalize().with_context(|| format!("resolving {}", root.display()))?;
    for c in clips {
        // a video's decoded frames may be cached in the temp folder: the video is what was named
        let named = match &c.video {
            Some(v) => v.clone(),
            None => match c.frame_paths.first().and_then(|p| p.parent()) {
                Some(d) => d.to_path_buf(),
                None => continue,
            },
        };
        let resolved = named.canonicalize().unwrap_or_else(|_| named.clone());
        if !resolved.starts_with(&canonical_root) {
            bail!(
                "clip {} of {} lies outside the dataset folder ({} resolves to {}): refusing to read it \
                 (pass --allow-outside-data if that is intended)",
                crate::util::text::shown(&c.video_id),
                root.display(),
                named.display(),
                resolved.display()
            );
        }
    }
    Ok(())
}

/// The first frame, depth or mask file of `clips` that resolves outside the fence (a frame linked
/// out of a clip folder that is itself inside), as an error naming it. A video's frames are
/// decoded into the frame cache, which may be elsewhere: there the video is what `outside_root`
/// checked.
fn every_file_inside(fence: &Fence, clips: &[ClipIndex]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for c in clips {
        let frames = if c.video.is_some() { &[][..] } else { &c.frame_paths[..] };
        let sides = c.depth_paths.iter().chain(&c.mask_paths).flatten();
        for p in frames.iter().chain(sides) {
            if seen.insert(p) {
                fence.check(p, &format!("clip {}: file", crate::util::text::shown(&c.video_id)))?;
            }
        }
    }
    Ok(())
}

/// A synthetic set whose `tdfas synth` was killed before the end: its splits are partial.
#[cfg_attr(target_arch = "wasm32", allow(unused_variables))]
fn unfinished_synthetic_set(root: &Path) -> Result<()> {
    // the browser build has no synthetic renderer (nor files to find one in)
    #[cfg(not(target_arch = "wasm32"))]
    if synth::is_unfinished(root) {
        bail!(
            "{} is an unfinished synthetic set (its `tdfas synth` did not complete: {} is missing): \
             render it again with `tdfas synth --out {}`",
            root.display(),
            synth::FINISHED_MARK,
            root.display()
        );
    }
    Ok(())
}

/// Detects the layout from the folder names under `root`.
pub fn detect_layout(root: &Path) -> Result<Layout> {
    let has = |p: &str| root.join(p).is_dir();
    if celeba_spoof::looks_like(root) {
        return Ok(Layout::CelebaSpoof);
    }
    if has("Train_files") || has("Dev_files") || has("Test_files") {
        return Ok(Layout::Oulu);
    }
    if has("Train/live") || has("Train/spoof") || has("Test/live") || has("Test/spoof") {
        return Ok(Layout::Siw);
    }
    // FAS-SGTD files may sit in live/ spoof folders too, so look for them first.
    if sgtd::looks_like(root) {
        return Ok(Layout::Sgtd);
    }
    let generic = ["train", "dev", "test"]
        .iter()
        .any(|s| ["live", "print", "replay", "spoof"].iter().any(|c| root.join(s).join(c).is_dir()));
    if generic {
        return Ok(Layout::Generic);
    }
    bail!(
        "{}: unknown dataset layout (expected train|dev|test/live|print|replay/<clip>/NNNN.png, \
         OULU-NPU Train_files/, SiW Train/live/, FAS-SGTD *_scene.jpg, or CelebA-Spoof Data/ with metas/intra_test/)",
        root.display()
    )
}

/// The sub-protocols a protocol name stands for, evaluated one by one and summarised as
/// mean ± std: a comma-separated list as given; OULU-NPU protocol "N" whose folder holds
/// `Test_1.txt .. Test_K.txt` (protocols 3 and 4 have six) gives "N_1" .. "N_K"; a generic
/// protocol "name" with no `protocols/name/` but `protocols/name_1/ ..` gives those. Any other
/// name is itself.
pub fn sub_protocols(root: &Path, protocol: &str) -> Result<Vec<String>> {
    if protocol.contains(',') {
        let list: Vec<String> = protocol.split(',').map(|p| p.trim().to_string()).collect();
        if list.iter().any(|p| p.is_empty()) {
            bail!("protocol list {protocol:?} has an empty entry");
        }
        // one protocol twice would count twice in the mean and narrow the spread
        if let Some(twice) = list.iter().enumerate().find_map(|(i, p)| list[..i].contains(p).then_some(p)) {
            bail!("protocol list {protocol:?} names {twice:?} twice");
        }
        return Ok(list);
    }
    let numbered = |exists: &dyn Fn(usize) -> bool| -> Vec<String> {
        (1..).take_while(|&k| exists(k)).map(|k| format!("{protocol}_{k}")).collect()
    };
    let found = match detect_layout(root)? {
        Layout::Oulu if !protocol.contains('_') => {
            let dir = root.join("Protocols").join(format!("Protocol_{protocol}"));
            if dir.join("Test.txt").is_file() {
                vec![]
            } else {
                numbered(&|k| dir.join(format!("Test_{k}.txt")).is_file())
            }
        }
        Layout::Generic if !root.join("protocols").join(protocol).is_dir() => {
            numbered(&|k| root.join("protocols").join(format!("{protocol}_{k}")).join("test.txt").is_file())
        }
        _ => vec![],
    };
    Ok(if found.is_empty() { vec![protocol.to_string()] } else { found })
}

/// Fewest clips a video long enough for them gives (see `clip_starts`).
pub const MIN_CLIPS_PER_VIDEO: usize = 4;

/// Start frames (positions in a frame list of length `n`) of the clips sampled from a video:
/// consecutive, non-overlapping spans; a video too short for `MIN_CLIPS_PER_VIDEO` of them gets
/// that many overlapping clips, evenly spread (every start when there are fewer). A video's
/// score is the mean of its clips' scores, so a short video is not judged on one clip of 4 of
/// its frames: on the synthetic benchmark (13 frames, span 7) one clip became 4 (starts 0, 2, 4,
/// 6: every frame is used).
pub fn clip_starts(n: usize, spec: &ClipSpec) -> Vec<usize> {
    let span = spec.span();
    if n < span {
        return Vec::new();
    }
    let last = n - span;
    let disjoint: Vec<usize> = (0..=last).step_by(span).collect();
    if disjoint.len() >= MIN_CLIPS_PER_VIDEO {
        return disjoint;
    }
    let count = MIN_CLIPS_PER_VIDEO.min(last + 1);
    if count == 1 {
        return vec![0];
    }
    // evenly spread from the first to the last possible start, rounded; distinct because the
    // step (last / (count - 1)) is at least 1
    (0..count).map(|k| (k * last + (count - 1) / 2) / (count - 1)).collect()
}

#[cfg(test)]
mod tests;
