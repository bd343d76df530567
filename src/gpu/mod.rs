//! The GPU runtime, composed of a device (`device`), a kernel cache (`kernels`: pipelines and
//! bind-group layouts checked against the WGSL), a recorder (`recorder`) that batches every
//! dispatch of a step into one command encoder and one submit, pooled buffers (`pool`) and a
//! profiler (`profiler`). `Gpu` checks each dispatch and splits work to the device's limits.
//! What it binds is a `BufferRange` (`buffer_range`): floats over pooled buffers, no shape.

pub mod buffer_range;
pub mod device;
pub mod kernels;
pub mod pool;
pub mod profiler;
pub mod recorder;
pub mod reflect;
pub mod shaders;

use std::any::{Any, TypeId};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ops::Range;
use std::rc::Rc;

use anyhow::{bail, Result};

use crate::util::gcd;
pub use crate::util::settings::Settings;
pub use buffer_range::BufferRange;
use device::Device;
use kernels::{Kernel, KernelCache};
use pool::BufferPool;
use profiler::{Cost, Profiler};
use recorder::Recorder;
use shaders::Shader;

/// Threads per workgroup of the 1-D elementwise kernels (they all declare @workgroup_size(256)).
pub const WG: u32 = 256;

/// What a storage binding receives: a buffer range (a tensor's storage), a raw buffer, or nothing
/// where the entry point does not use the binding (its layout leaves it out).
#[derive(Clone, Copy)]
pub enum Arg<'a> {
    Range(&'a BufferRange),
    Buf(&'a wgpu::Buffer),
    Unused,
}

impl<'a> Arg<'a> {
    /// The storage of `r` (a tensor, or a `BufferRange`), bound as a range.
    pub fn of<R: AsRef<BufferRange> + ?Sized>(r: &'a R) -> Self {
        Arg::Range(r.as_ref())
    }
}

/// The runtime: the device, its kernels, a recorder of the step's work, pooled buffers, a
/// profiler when one is on, the command's settings and the ops' settings.
pub struct Gpu {
    pub device: Device,
    pub pool: BufferPool,
    kernels: KernelCache,
    recorder: Recorder,
    /// On between `start_profiler` and `take_profiler` (`tdfas bench`, `tdfas profile`).
    profiler: RefCell<Option<Profiler>>,
    /// The command's device and kernel settings (`TDFAS_*`, read once by `Settings::from_env`).
    settings: Settings,
    /// Op settings (the conv kernel choice, BatchNorm's chunking), one slot per type, each made
    /// by its op (the conv's by `ops::tune`, before anything is recorded): the ops own their
    /// tuning, the runtime only keeps it per device.
    op_settings: RefCell<HashMap<TypeId, Rc<dyn Any>>>,
    /// Bind at most this many bytes per storage binding (below the adapter's limit), so small
    /// shapes take the split path: `TDFAS_MAX_BINDING`, or `test_set_binding_cap`.
    binding_cap: Cell<Option<u64>>,
    /// Allocate at most this many bytes per buffer: `TDFAS_MAX_BUFFER`, or `test_set_buffer_cap`.
    buffer_cap: Cell<Option<u64>>,
    /// See `page_bytes`: `TDFAS_PAGE`, or `test_set_page`.
    page: Cell<u64>,
    /// Within `dry_run`: memory accounting only.
    dry_run: Cell<bool>,
}

/// Default `page_bytes`: large enough that splitting costs little (millions of threads a
/// dispatch), small enough that activations of every layer come in a few similar sizes whose
/// freed buffers serve each other (paper preset, pool high-water of clip inference / stage-1
/// step: one buffer per tensor 1,425 / 6,599 MiB; pages of 32 MiB 1,039 / 4,859; 48 MiB
/// 955 / 4,150; 64 MiB 923 / 4,550).
pub const PAGE: u64 = 48 << 20;

impl Gpu {
    /// `with_settings` with the settings of this process's environment (`Settings::from_env`).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new() -> Result<Self> {
        Self::with_settings(Settings::from_env()?)
    }

    /// Opens the best adapter (see `device::select_adapter`) with its own limits, as `settings`
    /// say (a command builds them once and passes them here). Nothing is tuned here: `ops::tune`
    /// tunes the ops next, before anything is recorded. Every `Gpu` of a process shares one wgpu
    /// device (see `Device::open`); what a `Gpu` holds besides (pools, kernels, recorder,
    /// profiler, settings) is its own.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn with_settings(settings: Settings) -> Result<Self> {
        let device = Device::open(&settings)?;
        Ok(Self::on(device, settings))
    }

    /// `new`, awaited, with a device of its own and the default settings (the browser has no
    /// environment): its adapter and device requests are promises.
    pub async fn new_async() -> Result<Self> {
        let settings = Settings::default();
        let device = Device::open_async(&settings).await?;
        Ok(Self::on(device, settings))
    }

    fn on(device: Device, settings: Settings) -> Self {
        Self {
            recorder: Recorder::new(&device),
            device,
            pool: BufferPool::new(),
            kernels: KernelCache::default(),
            profiler: RefCell::new(None),
            op_settings: RefCell::new(HashMap::new()),
            binding_cap: Cell::new(settings.max_binding),
            buffer_cap: Cell::new(settings.max_buffer),
            page: Cell::new(settings.page.unwrap_or(PAGE)),
            dry_run: Cell::new(false),
            settings,
        }
    }

    /// The settings this device was opened with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// This device's settings of type `T`, made by `init` on first use (`init` records nothing:
    /// constant defaults, as BatchNorm's). Settings hold `Cell`s where tests change them.
    pub fn op_settings<T: Any>(&self, init: impl FnOnce(&Gpu) -> Result<T>) -> Result<Rc<T>> {
        if let Some(s) = self.find_op_settings::<T>() {
            return Ok(s);
        }
        let made = init(self)?;
        Ok(self.find_op_settings::<T>().unwrap_or_else(|| self.set_op_settings(made)))
    }

    /// This device's settings of type `T`, if made.
    pub fn find_op_settings<T: Any>(&self) -> Option<Rc<T>> {
        let found = self.op_settings.borrow().get(&TypeId::of::<T>()).cloned()?;
        Some(found.downcast::<T>().expect("op settings are stored under their own type"))
    }

    /// Stores this device's settings of type `T` (an op's tuning), replacing any.
    pub fn set_op_settings<T: Any>(&self, settings: T) -> Rc<T> {
        let s = Rc::new(settings);
        self.op_settings.borrow_mut().insert(TypeId::of::<T>(), s.clone());
        s
    }

    /// Runs `f` for memory accounting only: ops check shapes and take their buffers from the pool
    /// as usual, but nothing is recorded or run, and downloads read zeros. Buffers are taken when
    /// ops are recorded, so the pool's peak is exact without running the (slow on a CPU) kernels.
    pub fn dry_run<R>(&self, f: impl FnOnce() -> R) -> R {
        let was = self.dry_run.replace(true);
        let r = f();
        self.dry_run.set(was);
        r
    }

    /// Whether this is inside `dry_run`.
    pub fn is_dry_run(&self) -> bool {
        self.dry_run.get()
    }

    /// Times every dispatch flushed from now on with `profiler`, until `take_profiler`.
    pub fn start_profiler(&self, profiler: Profiler) {
        *self.profiler.borrow_mut() = Some(profiler);
    }

    /// The profiler `start_profiler` started, with what it measured; off from now on.
    pub fn take_profiler(&self) -> Option<Profiler> {
        self.profiler.borrow_mut().take()
    }

    /// Whether a profiler is on.
    pub fn is_profiling(&self) -> bool {
        self.profiler.borrow().is_some()
    }

    /// Test hook: bind at most `cap` bytes per storage binding, so that small shapes take the
    /// split paths (None: the device's limit; this replaces a `TDFAS_MAX_BINDING` cap).
    pub fn test_set_binding_cap(&self, cap: Option<u64>) {
        self.binding_cap.set(cap);
    }

    /// Test hook: allocate at most `cap` bytes per buffer (None: the device's limit; this
    /// replaces a `TDFAS_MAX_BUFFER` cap).
    pub fn test_set_buffer_cap(&self, cap: Option<u64>) {
        self.buffer_cap.set(cap);
    }

    /// Test hook: store tensors over `bytes` in several buffers (see `page_bytes`; `PAGE` is the
    /// default).
    pub fn test_set_page(&self, bytes: u64) {
        self.page.set(bytes);
    }

    pub fn is_cpu(&self) -> bool {
        self.device.is_cpu()
    }

    pub fn describe(&self) -> String {
        device::describe(self.device.info())
    }

    /// Number of submits so far (a training step should add exactly one).
    pub fn submit_count(&self) -> u64 {
        self.recorder.submit_count()
    }

    /// The compute pipeline for `shader`'s entry point `entry`, built once and cached.
    pub fn kernel(&self, shader: &Shader, entry: &str) -> Result<Rc<Kernel>> {
        self.kernels.get(&self.device, shader, entry, &[])
    }

    /// Records one dispatch. `params` fills the uniform binding (if the entry point uses one);
    /// `args[i]` fills storage binding `i + 1`, `Arg::Unused` where the entry point does not use
    /// that binding (trailing unused ones may be left out). Nothing runs until `flush`.
    pub fn dispatch<P: reflect::Uniform>(
        &self,
        shader: &Shader,
        entry: &str,
        params: &P,
        args: &[Arg],
        groups: [u32; 3],
        cost: Cost,
    ) -> Result<()> {
        self.dispatch_with(shader, entry, &[], params, args, groups, cost)
    }

    /// `dispatch` of the pipeline made with the override constants `constants` (tile sizes).
    #[allow(clippy::too_many_arguments)]
    pub fn dispatch_with<P: reflect::Uniform>(
        &self,
        shader: &Shader,
        entry: &str,
        constants: &[(&str, f64)],
        params: &P,
        args: &[Arg],
        groups: [u32; 3],
        cost: Cost,
    ) -> Result<()> {
        let kernel = self.kernels.get(&self.device, shader, entry, constants)?;
        kernel.check_interface::<P>(args)?;
        self.check_bindings(&kernel, args)?;
        let max = self.device.limits().max_compute_workgroups_per_dimension;
        if groups.iter().any(|&g| g > max) {
            bail!("{}: dispatch {groups:?} exceeds the adapter's {max} workgroups per dimension", kernel.name);
        }
        if groups.contains(&0) || self.dry_run.get() {
            return Ok(());
        }
        self.recorder.dispatch(&self.device, kernel, bytemuck::bytes_of(params), args, groups, cost);
        Ok(())
    }

    /// Every range bound must fit one storage binding (ops split larger work before this).
    fn check_bindings(&self, kernel: &Kernel, args: &[Arg]) -> Result<()> {
        let align = self.offset_align();
        for (i, arg) in args.iter().enumerate() {
            if let Arg::Range(t) = arg {
                if !t.is_contiguous_buffer() {
                    bail!(
                        "{}: storage buffer {i} ({} floats) spans {} buffers, and this op does not split it",
                        kernel.name,
                        t.len(),
                        t.buffers()
                    );
                }
                if t.byte_offset() % align != 0 {
                    bail!(
                        "{}: storage buffer {i} ({} floats) starts at byte {} of its buffer, not a multiple of the \
                         adapter's {align}-byte storage offset alignment",
                        kernel.name,
                        t.len(),
                        t.byte_offset()
                    );
                }
                if t.byte_len() > self.max_binding() {
                    bail!(
                        "{}: storage buffer {i} needs {}, over the {} one storage binding may hold on this \
                         device ({} limits), and this op does not split it",
                        kernel.name,
                        fmt_bytes(t.byte_len()),
                        fmt_bytes(self.max_binding()),
                        self.device.limits_source()
                    );
                }
            }
        }
        Ok(())
    }

    /// `floats` floats of new storage from the pool, in buffers of `per` floats each (the last
    /// may be shorter); `per` must keep boundaries aligned for binding and fit one buffer.
    pub fn alloc(&self, floats: usize, per: usize) -> BufferRange {
        BufferRange::new(floats, per, |bytes| self.pool.take(self.device.raw(), bytes))
    }

    /// Records a copy of `elems` floats (see `Recorder::copy`).
    pub fn copy(
        &self,
        src: impl AsRef<BufferRange>,
        src_offset_elems: usize,
        dst: impl AsRef<BufferRange>,
        dst_offset_elems: usize,
        elems: usize,
    ) {
        if !self.dry_run.get() {
            self.recorder.copy(src.as_ref(), src_offset_elems, dst.as_ref(), dst_offset_elems, elems);
        }
    }

    /// Records zeroing `t`.
    pub fn clear(&self, t: impl AsRef<BufferRange>) {
        if !self.dry_run.get() {
            self.recorder.clear(t.as_ref());
        }
    }

    /// Records an upload of `data` into `dst` (see `Recorder::upload`).
    pub fn upload_into(&self, dst: impl AsRef<BufferRange>, data: &[f32]) {
        let dst = dst.as_ref();
        assert_eq!(data.len(), dst.len(), "upload size");
        if !self.dry_run.get() {
            self.recorder.upload(&self.device, dst, data);
        }
    }

    /// Commands recorded and not yet submitted.
    pub fn pending(&self) -> usize {
        self.recorder.pending()
    }

    /// Encodes every pending command into one encoder and submits it once.
    pub fn flush(&self) -> Result<()> {
        self.recorder.flush(&self.device, &self.profiler)
    }

    /// Blocks until the GPU has finished everything submitted.
    pub fn wait(&self) -> Result<()> {
        self.device.wait()
    }

    /// Flushes pending work and reads a range (a tensor) back to the host (the only sync point).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn download(&self, t: impl AsRef<BufferRange>) -> Result<Vec<f32>> {
        block_on(self.download_async(t.as_ref()))
    }

    /// The browser cannot block on the GPU: there, callers use `download_async`.
    #[cfg(target_arch = "wasm32")]
    pub fn download(&self, t: impl AsRef<BufferRange>) -> Result<Vec<f32>> {
        bail!(
            "reading {} floats back would block the browser: the web build reads with download_async",
            t.as_ref().len()
        )
    }

    /// `download`, awaited (the browser maps the readback from its event loop).
    pub async fn download_async(&self, t: &BufferRange) -> Result<Vec<f32>> {
        if t.is_empty() {
            return Ok(Vec::new());
        }
        if self.dry_run.get() {
            return Ok(vec![0.0; t.len()]);
        }
        self.flush()?;
        // one readback per buffer the range lies in: none exceeds the buffer size limit
        let mut out = Vec::with_capacity(t.len());
        for p in t.pieces(0..t.len()) {
            let size = 4 * p.floats as u64;
            let mut encoder = self.device.raw().create_command_encoder(&Default::default());
            let read = self.device.raw().create_buffer(&wgpu::BufferDescriptor {
                label: Some("tdfas readback"),
                size,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            encoder.copy_buffer_to_buffer(p.buffer, p.byte_offset, &read, 0, size);
            self.recorder.submit(&self.device, encoder.finish());
            let bytes = self.device.map_read_async(&read).await?;
            out.extend_from_slice(bytemuck::cast_slice(&bytes));
        }
        Ok(out)
    }

    /// The alignment in bytes of a bound range's offset (the adapter's
    /// `min_storage_buffer_offset_alignment`).
    pub fn offset_align(&self) -> u64 {
        self.device.limits().min_storage_buffer_offset_alignment.max(4) as u64
    }

    /// The most bytes one buffer may hold: the device's limit, or the test hook's lower cap.
    pub fn max_buffer(&self) -> u64 {
        let max = self.device.limits().max_buffer_size;
        self.buffer_cap.get().map_or(max, |c| c.min(max))
    }

    /// Tensors larger than this many bytes are stored in several buffers of whole items up to
    /// this size (`TDFAS_PAGE`, default `PAGE`), so that buffers freed by one layer fit the next
    /// (see `pool`). At most `max_buffer`.
    pub fn page_bytes(&self) -> u64 {
        self.page.get().min(self.max_buffer())
    }

    /// The most bytes one storage binding may hold (a multiple of 4): the device's binding and
    /// buffer limits, or the test hook's lower cap. Ops split work larger than this.
    pub fn max_binding(&self) -> u64 {
        let max = self.device.limits().max_storage_buffer_binding_size.min(self.max_buffer());
        self.binding_cap.get().map_or(max, |c| c.min(max)) & !3
    }

    /// Checks that `bytes` bound whole (a weight, one frame's activation: ops split tensors into
    /// items, never below one) fit one storage binding, with a clear error.
    pub fn check_item_size(&self, what: &str, bytes: u64) -> Result<()> {
        let max = self.max_binding();
        if bytes > max {
            bail!(
                "{what} needs {} in one storage binding but the adapter ({}, {} limits) binds at most {}; \
                 use a smaller --image-size or --preset",
                fmt_bytes(bytes),
                self.device.info().name,
                self.device.limits_source(),
                fmt_bytes(max)
            );
        }
        Ok(())
    }

    /// Splits `items` items (the batch, or any outer dimension) into consecutive ranges such that
    /// every tensor bound per range fits one binding and starts at an offset aligned to
    /// `min_storage_buffer_offset_alignment`. `item_floats` gives each bound tensor's floats per
    /// item. One range (the whole) when everything fits: the unsplit path, unchanged.
    pub fn item_chunks(&self, what: &str, items: usize, item_floats: &[usize]) -> Result<Vec<Range<usize>>> {
        let limit = self.max_binding();
        let max_item = 4 * item_floats.iter().copied().max().unwrap_or(0) as u64;
        if items <= 1 || max_item == 0 || items as u64 * max_item <= limit {
            if max_item > limit {
                bail!(
                    "{what}: one item of {} exceeds the {} one storage binding may hold on {} ({} limits)",
                    fmt_bytes(max_item),
                    fmt_bytes(limit),
                    self.device.info().name,
                    self.device.limits_source()
                );
            }
            return Ok(std::iter::once(0..items).collect());
        }
        // Items per chunk must be a multiple of `period` for every chunk offset to be aligned.
        let align = self.offset_align();
        let period = item_floats
            .iter()
            .filter(|&&f| f > 0)
            .map(|&f| align / gcd(4 * f as u64, align))
            .fold(1, |a, b| a / gcd(a, b) * b);
        let per = (limit / max_item) / period * period;
        if per == 0 {
            bail!(
                "{what}: one storage binding holds {limit} bytes, less than {period} items of {max_item} bytes \
                 (the chunk that keeps offsets aligned to {align} bytes)"
            );
        }
        let per = per as usize;
        Ok((0..items).step_by(per).map(|s| s..(s + per).min(items)).collect())
    }

    /// `item_chunks` for ranges of `items` outer items each (`ranges`: buffer ranges or
    /// tensors, floats per item = length / items), also cut where any of them passes from one
    /// buffer to the next, so no chunk straddles buffers. Every chunk of every range is checked
    /// to bind at an aligned offset (a clear error otherwise).
    pub fn split_items<T: AsRef<BufferRange>>(
        &self,
        what: &str,
        items: usize,
        ranges: &[&T],
    ) -> Result<Vec<Range<usize>>> {
        let ranges: Vec<&BufferRange> = ranges.iter().map(|t| (*t).as_ref()).collect();
        let floats: Vec<usize> = ranges.iter().map(|t| t.len() / items.max(1)).collect();
        // one item over a binding is the error to report (it is also why a buffer cuts an item)
        self.item_chunks(what, items.min(1), &floats)?;
        let mut cuts = vec![0, items];
        for (t, &f) in ranges.iter().zip(&floats) {
            for b in t.boundaries() {
                if f == 0 || b % f != 0 {
                    bail!(
                        "{what}: {} floats pass to their next buffer inside item {} of {items}",
                        t.len(),
                        b / f.max(1)
                    );
                }
                cuts.push(b / f);
            }
        }
        cuts.sort_unstable();
        cuts.dedup();
        if cuts.len() == 2 {
            return self.item_chunks(what, items, &floats);
        }
        let align = self.offset_align();
        let mut out = Vec::new();
        for w in cuts.windows(2) {
            for r in self.item_chunks(what, w[1] - w[0], &floats)? {
                let r = w[0] + r.start..w[0] + r.end;
                for (t, &f) in ranges.iter().zip(&floats) {
                    let v = t.sub(r.start * f..r.end * f);
                    if v.byte_offset() % align != 0 {
                        bail!(
                            "{what}: items {r:?} of {} floats start at byte {} of a buffer, not a multiple of the \
                             adapter's {align}-byte storage offset alignment",
                            t.len(),
                            v.byte_offset()
                        );
                    }
                }
                out.push(r);
            }
        }
        Ok(out)
    }

    /// A 1-D elementwise dispatch over `n` values (256 threads a workgroup, `params(len)` for a
    /// range of `len` values). Tensors of `n` values are split into aligned ranges of their
    /// flattened data when one would exceed `max_binding`; other arguments are bound as given.
    /// Each value is computed alone, so the split result is bit-identical.
    pub fn dispatch_flat<P: reflect::Uniform>(
        &self,
        shader: &Shader,
        entry: &str,
        n: usize,
        params: impl Fn(usize) -> P,
        args: &[Arg],
        cost: Cost,
    ) -> Result<()> {
        fn of_n<'a>(a: &Arg<'a>, n: usize) -> Option<&'a BufferRange> {
            match *a {
                Arg::Range(t) if t.len() == n => Some(t),
                _ => None,
            }
        }
        let split: Vec<&BufferRange> = args.iter().filter_map(|a| of_n(a, n)).collect();
        let chunks = self.split_items(&format!("{} {entry}", shader.name), n, &split)?;
        let parts = chunks.len() as f64;
        for r in chunks {
            let views: Vec<Option<BufferRange>> = args.iter().map(|a| of_n(a, n).map(|t| t.sub(r.clone()))).collect();
            let bound: Vec<Arg> = args.iter().zip(&views).map(|(a, v)| v.as_ref().map_or(*a, Arg::Range)).collect();
            let part = Cost::new(cost.flops / parts, cost.bytes / parts);
            self.dispatch(shader, entry, &params(r.len()), &bound, self.groups_1d(r.len()), part)?;
        }
        Ok(())
    }

    /// Workgroup counts for `n` threads of 256, folded into 2-D when x would exceed the limit.
    /// Shaders recover the linear index as `gid.x + gid.y * nwg.x * 256`.
    pub fn groups_1d(&self, n: usize) -> [u32; 3] {
        let groups = (n as u64).div_ceil(WG as u64);
        let max = self.device.limits().max_compute_workgroups_per_dimension as u64;
        if groups <= max {
            [groups as u32, 1, 1]
        } else {
            let y = groups.div_ceil(max);
            [groups.div_ceil(y) as u32, y as u32, 1]
        }
    }
}

/// Runs a GPU future to its end on this thread (native callers; the browser awaits instead).
#[cfg(not(target_arch = "wasm32"))]
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    pollster::block_on(f)
}

/// Bytes for messages: KiB below a MiB, else MiB.
fn fmt_bytes(b: u64) -> String {
    if b < 1 << 20 {
        format!("{:.1} KiB", b as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", b as f64 / 1048576.0)
    }
}
