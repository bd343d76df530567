//! The GPU runtime: one device, cached pipelines and bind groups, pooled buffers, and a recorder
//! that batches every dispatch of a step into one command encoder and one submit.

pub mod device;
pub mod pool;
pub mod profiler;
pub mod reflect;
pub mod shaders;

use std::any::{Any, TypeId};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ops::Range;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail, Context, Result};

use crate::tensor::Tensor;
use pool::BufferPool;
use profiler::{Cost, Profiler};
use shaders::Shader;

/// Threads per workgroup of the 1-D elementwise kernels (they all declare @workgroup_size(256)).
pub const WG: u32 = 256;

/// A compute pipeline plus the bind-group layout made from the bindings its entry point uses.
pub struct Kernel {
    pub name: String,
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
    /// the bindings of the layout: binding index -> is uniform (else storage)
    pub bindings: Vec<(u32, bool)>,
    pub id: u64,
    /// What the WGSL declares (see `reflect`).
    pub interface: reflect::Interface,
    /// Uniform types already checked against `interface`.
    checked: RefCell<Vec<std::any::TypeId>>,
}

impl Kernel {
    /// Checks a dispatch's uniform type (once per type) and buffers against the WGSL.
    fn check_interface<P: reflect::Uniform>(&self, args: &[Arg]) -> Result<()> {
        let given: Vec<bool> = args.iter().map(|a| !matches!(a, Arg::Unused)).collect();
        self.interface.check_args(&given)?;
        let id = std::any::TypeId::of::<P>();
        if !self.checked.borrow().contains(&id) {
            self.interface.check_uniform::<P>()?;
            self.checked.borrow_mut().push(id);
        }
        Ok(())
    }
}

enum Command {
    Dispatch { kernel: Rc<Kernel>, bind_group: wgpu::BindGroup, groups: [u32; 3], cost: Cost },
    Copy { src: wgpu::Buffer, src_offset: u64, dst: wgpu::Buffer, dst_offset: u64, size: u64 },
    Clear { buffer: wgpu::Buffer, offset: u64, size: u64 },
}

/// What a storage binding receives: a tensor (its buffer range), a raw buffer, or nothing where
/// the entry point does not use the binding (its layout leaves it out).
#[derive(Clone, Copy)]
pub enum Arg<'a> {
    T(&'a Tensor),
    Buf(&'a wgpu::Buffer),
    Unused,
}

pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub features: wgpu::Features,
    pub limits: wgpu::Limits,
    pub pool: BufferPool,
    kernels: RefCell<HashMap<String, Rc<Kernel>>>,
    bind_groups: RefCell<HashMap<Vec<u64>, wgpu::BindGroup>>,
    commands: RefCell<Vec<Command>>,
    /// Uniform parameters of the pending dispatches, one 256-byte-aligned slot each; uploaded at flush.
    params: RefCell<Vec<u8>>,
    params_buffer: RefCell<(wgpu::Buffer, u64)>,
    /// Arenas outgrown during the current step; their dispatches still read them.
    old_params: RefCell<Vec<(wgpu::Buffer, u64)>>,
    errors: Arc<Mutex<Vec<String>>>,
    lost: Arc<Mutex<Option<String>>>,
    pub profiler: RefCell<Option<Profiler>>,
    submits: Cell<u64>,
    /// Op settings (the conv kernel choice, BatchNorm's chunking), one slot per type, each made
    /// by its op on first use: the ops own their tuning, the runtime only keeps it per device.
    op_settings: RefCell<HashMap<TypeId, Rc<dyn Any>>>,
    /// Where `limits` came from: "adapter" or "default" (`TDFAS_LIMITS`).
    pub limits_source: &'static str,
    /// Test hook: bind at most this many bytes per storage binding (below the adapter's limit), so
    /// small shapes take the split path (`TDFAS_MAX_BINDING`, or set by tests).
    pub binding_cap: Cell<Option<u64>>,
    /// Test hook: allocate at most this many bytes per buffer (`TDFAS_MAX_BUFFER`, or set by tests).
    pub buffer_cap: Cell<Option<u64>>,
    /// See `page_bytes` (a test hook lowers it).
    pub page: Cell<u64>,
    /// Memory accounting only: ops check shapes and take their buffers from the pool as usual,
    /// but nothing is recorded or run, and downloads read zeros. Buffers are taken when ops are
    /// recorded, so the pool's peak is exact without running the (slow on a CPU) kernels.
    pub dry_run: Cell<bool>,
}

const PARAM_SLOT: usize = 256;

/// Default `page_bytes`: large enough that splitting costs little (millions of threads a
/// dispatch), small enough that activations of every layer come in a few similar sizes whose
/// freed buffers serve each other (paper preset, pool high-water of clip inference / stage-1
/// step: one buffer per tensor 1,425 / 6,599 MiB; pages of 32 MiB 1,039 / 4,859; 48 MiB
/// 955 / 4,150; 64 MiB 923 / 4,550).
pub const PAGE: u64 = 48 << 20;

impl Gpu {
    /// Opens the best adapter (see `device::select_adapter`) with its own limits.
    pub fn new() -> Result<Self> {
        let (_instance, adapter) = device::select_adapter()?;
        let info = adapter.get_info();
        let features = device::optional_features(&adapter);
        let (limits, limits_source) = device::requested_limits(&adapter)?;
        let binding_cap = device::cap_from_env("TDFAS_MAX_BINDING")?;
        let buffer_cap = device::cap_from_env("TDFAS_MAX_BUFFER")?;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("tdfas"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .with_context(|| format!("opening {}", device::describe(&info)))?;
        // Errors are collected and returned from `flush`, instead of wgpu's default panic.
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            sink.lock().unwrap().push(e.to_string());
        }));
        let lost = Arc::new(Mutex::new(None));
        let lost_sink = lost.clone();
        device.set_device_lost_callback(move |reason, msg| {
            *lost_sink.lock().unwrap() = Some(format!("{reason:?}: {msg}"));
        });
        let params_buffer = Self::make_params_buffer(&device, 64 * PARAM_SLOT as u64);
        let pool = BufferPool::new();
        let id = pool.next_id();
        let gpu = Self {
            device,
            queue,
            info,
            features,
            limits,
            pool,
            kernels: RefCell::new(HashMap::new()),
            bind_groups: RefCell::new(HashMap::new()),
            commands: RefCell::new(Vec::new()),
            params: RefCell::new(Vec::new()),
            params_buffer: RefCell::new((params_buffer, id)),
            old_params: RefCell::new(Vec::new()),
            errors,
            lost,
            profiler: RefCell::new(None),
            submits: Cell::new(0),
            op_settings: RefCell::new(HashMap::new()),
            limits_source,
            binding_cap: Cell::new(binding_cap),
            buffer_cap: Cell::new(buffer_cap),
            page: Cell::new(device::cap_from_env("TDFAS_PAGE")?.unwrap_or(PAGE)),
            dry_run: Cell::new(false),
        };
        Ok(gpu)
    }

    /// This device's settings of type `T`, made by `init` on first use (an op's tuning; `init`
    /// may record and run work on this device). Settings hold `Cell`s where tests change them.
    pub fn op_settings<T: Any>(&self, init: impl FnOnce(&Gpu) -> Result<T>) -> Result<Rc<T>> {
        let id = TypeId::of::<T>();
        let found = self.op_settings.borrow().get(&id).cloned();
        let settings = match found {
            Some(s) => s,
            None => {
                // not borrowed while `init` runs: it may use other settings
                let s: Rc<dyn Any> = Rc::new(init(self)?);
                self.op_settings.borrow_mut().entry(id).or_insert(s).clone()
            }
        };
        Ok(settings.downcast::<T>().expect("op settings are stored under their own type"))
    }

    fn make_params_buffer(device: &wgpu::Device, size: u64) -> wgpu::Buffer {
        device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("tdfas params"),
            size,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    pub fn is_cpu(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu || self.info.name.to_lowercase().contains("llvmpipe")
    }

    pub fn describe(&self) -> String {
        device::describe(&self.info)
    }

    /// Number of submits so far (a training step should add exactly one).
    pub fn submit_count(&self) -> u64 {
        self.submits.get()
    }

    /// The compute pipeline for `shader`'s entry point `entry`, built once and cached.
    pub fn kernel(&self, shader: &Shader, entry: &str) -> Result<Rc<Kernel>> {
        shader.check_entry(entry)?;
        let (source, shader) = (shader.source, shader.name);
        let key = format!("{shader}::{entry}");
        if let Some(k) = self.kernels.borrow().get(&key) {
            return Ok(k.clone());
        }
        let module_ir = naga::front::wgsl::parse_str(source)
            .map_err(|e| anyhow!("shaders/{shader}.wgsl: {}", e.emit_to_string(source)))?;
        // A kernel that needs more than the device's limits is refused with the reason (the
        // autotune then skips it) instead of failing inside wgpu.
        if let Some((_, needs)) = shaders::workgroup_needs(&module_ir)?.into_iter().find(|(n, _)| n == entry) {
            if let Some(why) = needs.exceeds(&self.limits) {
                bail!("shaders/{shader}.wgsl `{entry}`: {why} of this device ({})", self.limits_source);
            }
        }
        // The interface (uniform struct, storage buffers) comes from the WGSL itself; dispatches
        // are checked against it. The bind-group layout lists the bindings this entry point uses
        // (binding 0 = uniform params, then storage buffers), so no dispatch binds a buffer it
        // does not need.
        let interface = reflect::interfaces(shader, &module_ir)?
            .into_iter()
            .find(|i| i.entry == entry)
            .ok_or_else(|| anyhow!("shaders/{shader}.wgsl has no entry point `{entry}`"))?;
        let mut bindings: Vec<(u32, bool, bool)> =
            interface.used_storage().map(|s| (s.binding, false, s.read_only)).collect();
        if let Some(u) = interface.uniform.as_ref().filter(|u| u.used) {
            bindings.insert(0, (u.binding, true, true));
        }
        let entries: Vec<wgpu::BindGroupLayoutEntry> = bindings
            .iter()
            .map(|&(binding, uniform, read_only)| wgpu::BindGroupLayoutEntry {
                binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: if uniform {
                        wgpu::BufferBindingType::Uniform
                    } else {
                        wgpu::BufferBindingType::Storage { read_only }
                    },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            })
            .collect();
        let layout = self
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some(&key), entries: &entries });
        let pipeline_layout = self.device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(&key),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let module = self.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(shader),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let pipeline = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&key),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        });
        let kernel = Rc::new(Kernel {
            name: key.clone(),
            pipeline,
            layout,
            bindings: bindings.iter().map(|&(b, u, _)| (b, u)).collect(),
            id: self.pool.next_id(),
            interface,
            checked: RefCell::new(Vec::new()),
        });
        self.kernels.borrow_mut().insert(key, kernel.clone());
        Ok(kernel)
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
        let kernel = self.kernel(shader, entry)?;
        kernel.check_interface::<P>(args)?;
        self.check_bindings(&kernel, args)?;
        let max = self.limits.max_compute_workgroups_per_dimension;
        if groups.iter().any(|&g| g > max) {
            bail!("{}: dispatch {groups:?} exceeds the adapter's {max} workgroups per dimension", kernel.name);
        }
        if groups.contains(&0) || self.dry_run.get() {
            return Ok(());
        }
        let bytes = bytemuck::bytes_of(params);
        let offset = {
            let mut p = self.params.borrow_mut();
            let offset = p.len();
            p.extend_from_slice(bytes);
            p.resize(offset + PARAM_SLOT, 0);
            offset as u64
        };
        self.ensure_params_capacity();
        let params_buffer = self.params_buffer.borrow();
        let mut key = vec![kernel.id, params_buffer.1, offset];
        let mut resources = Vec::new();
        for &(binding, uniform) in &kernel.bindings {
            if uniform {
                resources.push((binding, &params_buffer.0, offset, Some(PARAM_SLOT as u64)));
                continue;
            }
            // storage binding b is args[b - 1] (checked against the layout above)
            match args.get(binding as usize - 1) {
                Some(Arg::T(t)) => {
                    key.extend([t.buffer_id(), t.byte_offset(), t.byte_len()]);
                    resources.push((binding, t.buffer(), t.byte_offset(), Some(t.byte_len())));
                }
                Some(Arg::Buf(b)) => {
                    key.extend([u64::MAX, b.size(), 0]);
                    resources.push((binding, *b, 0, None));
                }
                Some(Arg::Unused) | None => unreachable!("{}: binding {binding} checked as given", kernel.name),
            }
        }
        let cached = if args.iter().any(|a| matches!(a, Arg::Buf(_))) {
            None
        } else {
            self.bind_groups.borrow().get(&key).cloned()
        };
        let bind_group = match cached {
            Some(bg) => bg,
            None => {
                let entries: Vec<wgpu::BindGroupEntry> = resources
                    .iter()
                    .map(|&(binding, buffer, offset, size)| wgpu::BindGroupEntry {
                        binding,
                        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                            buffer,
                            offset,
                            size: size.and_then(wgpu::BufferSize::new),
                        }),
                    })
                    .collect();
                let bg = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some(&kernel.name),
                    layout: &kernel.layout,
                    entries: &entries,
                });
                let mut cache = self.bind_groups.borrow_mut();
                if cache.len() > 20_000 {
                    cache.clear();
                }
                cache.insert(key, bg.clone());
                bg
            }
        };
        drop(params_buffer);
        self.commands.borrow_mut().push(Command::Dispatch { kernel, bind_group, groups, cost });
        Ok(())
    }

    /// Every tensor bound must fit one storage binding (ops split larger work before this).
    fn check_bindings(&self, kernel: &Kernel, args: &[Arg]) -> Result<()> {
        let align = self.limits.min_storage_buffer_offset_alignment.max(4) as u64;
        for (i, arg) in args.iter().enumerate() {
            if let Arg::T(t) = arg {
                if !t.is_contiguous_buffer() {
                    bail!(
                        "{}: storage buffer {i} ({:?}) spans {} buffers, and this op does not split it",
                        kernel.name,
                        t.shape(),
                        t.buffers()
                    );
                }
                if t.byte_offset() % align != 0 {
                    bail!(
                        "{}: storage buffer {i} ({:?}) starts at byte {} of its buffer, not a multiple of the \
                         adapter's {align}-byte storage offset alignment",
                        kernel.name,
                        t.shape(),
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
                        self.limits_source
                    );
                }
            }
        }
        Ok(())
    }

    /// Grows the uniform arena before the pending parameters outgrow it (bind groups made against
    /// the old buffer stay valid: they keep it alive, and their data is uploaded at flush).
    fn ensure_params_capacity(&self) {
        let needed = self.params.borrow().len() as u64;
        let mut pb = self.params_buffer.borrow_mut();
        if needed > pb.0.size() {
            // Flushing would break the one-submit rule, so grow and re-upload everything at flush;
            // existing bind groups reference the old buffer, so write the old prefix there too.
            let size = (needed * 2).next_power_of_two();
            let new = Self::make_params_buffer(&self.device, size);
            self.old_params.borrow_mut().push((pb.0.clone(), pb.0.size()));
            *pb = (new, self.pool.next_id());
        }
    }

    /// Records a copy of `elems` floats; one buffer copy per pair of source / destination buffers
    /// the range crosses (tensors in several buffers).
    pub fn copy(&self, src: &Tensor, src_offset_elems: usize, dst: &Tensor, dst_offset_elems: usize, elems: usize) {
        if elems == 0 || self.dry_run.get() {
            return;
        }
        let mut commands = self.commands.borrow_mut();
        for s in src.pieces(src_offset_elems..src_offset_elems + elems) {
            let at = dst_offset_elems + s.at - src_offset_elems;
            for d in dst.pieces(at..at + s.floats) {
                let skip = 4 * (d.at - at) as u64;
                commands.push(Command::Copy {
                    src: s.buffer.clone(),
                    src_offset: s.byte_offset + skip,
                    dst: d.buffer.clone(),
                    dst_offset: d.byte_offset,
                    size: 4 * d.floats as u64,
                });
            }
        }
    }

    pub fn clear(&self, t: &Tensor) {
        if self.dry_run.get() {
            return;
        }
        let mut commands = self.commands.borrow_mut();
        if t.numel() == 0 {
            // the 4 bytes an empty tensor is bound with
            commands.push(Command::Clear { buffer: t.buffer().clone(), offset: t.byte_offset(), size: 4 });
            return;
        }
        for p in t.pieces(0..t.numel()) {
            commands.push(Command::Clear {
                buffer: p.buffer.clone(),
                offset: p.byte_offset,
                size: 4 * p.floats as u64,
            });
        }
    }

    /// Records an upload: data goes through a fresh staging buffer copied in stream order, so a
    /// pooled buffer reused within the same step never sees its new contents too early.
    pub fn upload_into(&self, dst: &Tensor, data: &[f32]) {
        use wgpu::util::DeviceExt;
        assert_eq!(data.len(), dst.numel(), "upload size");
        if data.is_empty() || self.dry_run.get() {
            return;
        }
        // one staging buffer per destination buffer: none exceeds the buffer size limit
        for p in dst.pieces(0..dst.numel()) {
            let staging = self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("tdfas upload"),
                contents: bytemuck::cast_slice(&data[p.at..p.at + p.floats]),
                usage: wgpu::BufferUsages::COPY_SRC,
            });
            self.commands.borrow_mut().push(Command::Copy {
                src: staging,
                src_offset: 0,
                dst: p.buffer.clone(),
                dst_offset: p.byte_offset,
                size: 4 * p.floats as u64,
            });
        }
    }

    pub fn pending(&self) -> usize {
        self.commands.borrow().len()
    }

    /// Encodes every pending command into one encoder and submits it once.
    pub fn flush(&self) -> Result<()> {
        self.check_device()?;
        let commands = std::mem::take(&mut *self.commands.borrow_mut());
        let params = std::mem::take(&mut *self.params.borrow_mut());
        if commands.is_empty() {
            return Ok(());
        }
        for (old, size) in self.old_params.borrow_mut().drain(..) {
            let n = (size as usize).min(params.len());
            self.queue.write_buffer(&old, 0, &params[..n]);
        }
        if !params.is_empty() {
            self.queue.write_buffer(&self.params_buffer.borrow().0, 0, &params);
        }
        let profiling = self.profiler.borrow().is_some();
        if profiling {
            self.run_profiled(commands)?;
        } else {
            let mut encoder = self.device.create_command_encoder(&Default::default());
            let mut i = 0;
            while i < commands.len() {
                if let Command::Dispatch { .. } = &commands[i] {
                    // Consecutive dispatches share one compute pass.
                    let mut pass = encoder.begin_compute_pass(&Default::default());
                    while let Some(Command::Dispatch { kernel, bind_group, groups, .. }) = commands.get(i) {
                        pass.set_pipeline(&kernel.pipeline);
                        pass.set_bind_group(0, bind_group, &[]);
                        pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
                        i += 1;
                    }
                } else {
                    Self::encode_transfer(&mut encoder, &commands[i]);
                    i += 1;
                }
            }
            self.queue.submit([encoder.finish()]);
            self.submits.set(self.submits.get() + 1);
        }
        self.check_device()
    }

    fn encode_transfer(encoder: &mut wgpu::CommandEncoder, c: &Command) {
        match c {
            Command::Copy { src, src_offset, dst, dst_offset, size } => {
                encoder.copy_buffer_to_buffer(src, *src_offset, dst, *dst_offset, *size)
            }
            Command::Clear { buffer, offset, size } => encoder.clear_buffer(buffer, *offset, Some(*size)),
            Command::Dispatch { .. } => unreachable!("dispatches are encoded in passes"),
        }
    }

    /// Profiling: each dispatch in its own pass with GPU timestamps when the adapter has them,
    /// else each dispatch submitted and waited for on its own (wall time).
    fn run_profiled(&self, commands: Vec<Command>) -> Result<()> {
        let timestamps = self.features.contains(wgpu::Features::TIMESTAMP_QUERY);
        for chunk in commands.chunks(1024) {
            let mut encoder = self.device.create_command_encoder(&Default::default());
            let queries = timestamps.then(|| {
                self.device.create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("tdfas profiler"),
                    ty: wgpu::QueryType::Timestamp,
                    count: 2 * chunk.len() as u32,
                })
            });
            let mut timed = Vec::new();
            for (i, c) in chunk.iter().enumerate() {
                let Command::Dispatch { kernel, bind_group, groups, cost } = c else {
                    Self::encode_transfer(&mut encoder, c);
                    continue;
                };
                let start = std::time::Instant::now();
                {
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some(&kernel.name),
                        timestamp_writes: queries.as_ref().map(|q| wgpu::ComputePassTimestampWrites {
                            query_set: q,
                            beginning_of_pass_write_index: Some(2 * i as u32),
                            end_of_pass_write_index: Some(2 * i as u32 + 1),
                        }),
                    });
                    pass.set_pipeline(&kernel.pipeline);
                    pass.set_bind_group(0, bind_group, &[]);
                    pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
                }
                if queries.is_none() {
                    let done = std::mem::replace(&mut encoder, self.device.create_command_encoder(&Default::default()));
                    self.queue.submit([done.finish()]);
                    self.wait()?;
                    let ns = start.elapsed().as_nanos() as f64;
                    self.profiler.borrow_mut().as_mut().unwrap().record(&kernel.name, ns, *cost);
                } else {
                    timed.push((i, kernel.name.clone(), *cost));
                }
            }
            if let Some(q) = &queries {
                let n = 2 * chunk.len() as u64;
                let resolve = self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("timestamps"),
                    size: 8 * n,
                    usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                });
                encoder.resolve_query_set(q, 0..n as u32, &resolve, 0);
                let read = self.read_buffer_via(&mut encoder, &resolve, 8 * n);
                self.queue.submit([encoder.finish()]);
                self.submits.set(self.submits.get() + 1);
                let bytes = self.map_read(&read)?;
                let stamps: &[u64] = bytemuck::cast_slice(&bytes);
                let period = self.queue.get_timestamp_period() as f64;
                let mut prof = self.profiler.borrow_mut();
                for (i, name, cost) in timed {
                    let ns = stamps[2 * i + 1].saturating_sub(stamps[2 * i]) as f64 * period;
                    prof.as_mut().unwrap().record(&name, ns, cost);
                }
            } else {
                self.queue.submit([encoder.finish()]);
                self.submits.set(self.submits.get() + 1);
            }
        }
        Ok(())
    }

    fn read_buffer_via(&self, encoder: &mut wgpu::CommandEncoder, src: &wgpu::Buffer, size: u64) -> wgpu::Buffer {
        let read = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("tdfas readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        encoder.copy_buffer_to_buffer(src, 0, &read, 0, size);
        read
    }

    fn map_read(&self, buffer: &wgpu::Buffer) -> Result<Vec<u8>> {
        let (tx, rx) = std::sync::mpsc::channel();
        buffer.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.wait()?;
        rx.recv().map_err(|_| anyhow!("GPU readback was dropped"))?.map_err(|e| anyhow!("GPU readback failed: {e}"))?;
        let data = buffer.get_mapped_range(..).map_err(|e| anyhow!("mapping readback: {e:?}"))?.to_vec();
        buffer.unmap();
        Ok(data)
    }

    /// Blocks until the GPU has finished everything submitted.
    pub fn wait(&self) -> Result<()> {
        self.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| anyhow!("waiting for the GPU: {e}"))?;
        self.check_device()
    }

    fn check_device(&self) -> Result<()> {
        if let Some(reason) = self.lost.lock().unwrap().clone() {
            bail!("the GPU device was lost ({reason}); checkpoints on disk are intact, rerun with --resume");
        }
        let errors = std::mem::take(&mut *self.errors.lock().unwrap());
        if !errors.is_empty() {
            bail!("GPU error: {}", errors.join("; "));
        }
        Ok(())
    }

    /// Flushes pending work and reads a tensor back to the host (the only sync point).
    pub fn download(&self, t: &Tensor) -> Result<Vec<f32>> {
        if t.numel() == 0 {
            return Ok(Vec::new());
        }
        if self.dry_run.get() {
            return Ok(vec![0.0; t.numel()]);
        }
        self.flush()?;
        // one readback per buffer the tensor lies in: none exceeds the buffer size limit
        let mut out = Vec::with_capacity(t.numel());
        for p in t.pieces(0..t.numel()) {
            let size = 4 * p.floats as u64;
            let mut encoder = self.device.create_command_encoder(&Default::default());
            let read = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("tdfas readback"),
                size,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            encoder.copy_buffer_to_buffer(p.buffer, p.byte_offset, &read, 0, size);
            self.queue.submit([encoder.finish()]);
            self.submits.set(self.submits.get() + 1);
            let bytes = self.map_read(&read)?;
            out.extend_from_slice(bytemuck::cast_slice(&bytes));
        }
        Ok(out)
    }

    /// The most bytes one buffer may hold: the device's limit, or the test hook's lower cap.
    pub fn max_buffer(&self) -> u64 {
        let max = self.limits.max_buffer_size;
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
        let max = self.limits.max_storage_buffer_binding_size.min(self.max_buffer());
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
                self.info.name,
                self.limits_source,
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
                    self.info.name,
                    self.limits_source
                );
            }
            return Ok(std::iter::once(0..items).collect());
        }
        // Items per chunk must be a multiple of `period` for every chunk offset to be aligned.
        let align = self.limits.min_storage_buffer_offset_alignment.max(4) as u64;
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

    /// `item_chunks` for tensors of `items` outer items each (`tensors`, floats per item =
    /// numel / items), also cut where any of them passes from one buffer to the next, so no
    /// chunk straddles buffers. Every chunk's view of every tensor is checked to bind at an
    /// aligned offset (a clear error otherwise).
    pub fn split_items(&self, what: &str, items: usize, tensors: &[&Tensor]) -> Result<Vec<Range<usize>>> {
        let floats: Vec<usize> = tensors.iter().map(|t| t.numel() / items.max(1)).collect();
        // one item over a binding is the error to report (it is also why a buffer cuts an item)
        self.item_chunks(what, items.min(1), &floats)?;
        let mut cuts = vec![0, items];
        for (t, &f) in tensors.iter().zip(&floats) {
            for b in t.boundaries() {
                if f == 0 || b % f != 0 {
                    bail!("{what}: {:?} passes to its next buffer inside item {} of {items}", t.shape(), b / f.max(1));
                }
                cuts.push(b / f);
            }
        }
        cuts.sort_unstable();
        cuts.dedup();
        if cuts.len() == 2 {
            return self.item_chunks(what, items, &floats);
        }
        let align = self.limits.min_storage_buffer_offset_alignment.max(4) as u64;
        let mut out = Vec::new();
        for w in cuts.windows(2) {
            for r in self.item_chunks(what, w[1] - w[0], &floats)? {
                let r = w[0] + r.start..w[0] + r.end;
                for (t, &f) in tensors.iter().zip(&floats) {
                    let v = t.flat(r.start * f..r.end * f);
                    if v.byte_offset() % align != 0 {
                        bail!(
                            "{what}: items {r:?} of {:?} start at byte {} of a buffer, not a multiple of the \
                             adapter's {align}-byte storage offset alignment",
                            t.shape(),
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
        fn of_n<'a>(a: &Arg<'a>, n: usize) -> Option<&'a Tensor> {
            match *a {
                Arg::T(t) if t.numel() == n => Some(t),
                _ => None,
            }
        }
        let split: Vec<&Tensor> = args.iter().filter_map(|a| of_n(a, n)).collect();
        let chunks = self.split_items(&format!("{} {entry}", shader.name), n, &split)?;
        let parts = chunks.len() as f64;
        for r in chunks {
            let views: Vec<Option<Tensor>> = args.iter().map(|a| of_n(a, n).map(|t| t.flat(r.clone()))).collect();
            let bound: Vec<Arg> = args.iter().zip(&views).map(|(a, v)| v.as_ref().map_or(*a, Arg::T)).collect();
            let part = Cost::new(cost.flops / parts, cost.bytes / parts);
            self.dispatch(shader, entry, &params(r.len()), &bound, self.groups_1d(r.len()), part)?;
        }
        Ok(())
    }

    /// Workgroup counts for `n` threads of 256, folded into 2-D when x would exceed the limit.
    /// Shaders recover the linear index as `gid.x + gid.y * nwg.x * 256`.
    pub fn groups_1d(&self, n: usize) -> [u32; 3] {
        let groups = (n as u64).div_ceil(WG as u64);
        let max = self.limits.max_compute_workgroups_per_dimension as u64;
        if groups <= max {
            [groups as u32, 1, 1]
        } else {
            let y = groups.div_ceil(max);
            [groups.div_ceil(y) as u32, y as u32, 1]
        }
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Bytes for messages: KiB below a MiB, else MiB.
fn fmt_bytes(b: u64) -> String {
    if b < 1 << 20 {
        format!("{:.1} KiB", b as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", b as f64 / 1048576.0)
    }
}
