//! The recorder: dispatches, copies and clears of a step recorded in order (nothing runs while
//! recording), with their uniform parameters in one arena and cached bind groups, then encoded
//! into one command encoder and submitted once at `flush`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use anyhow::Result;

use super::device::Device;
use super::kernels::Kernel;
use super::profiler::{Cost, Profiler};
use super::{Arg, BufferRange};

/// Bytes of one dispatch's uniform parameters in the arena (the offset alignment of uniforms).
const PARAM_SLOT: usize = 256;

enum Command {
    Dispatch { kernel: Rc<Kernel>, bind_group: wgpu::BindGroup, groups: [u32; 3], cost: Cost },
    Copy { src: wgpu::Buffer, src_offset: u64, dst: wgpu::Buffer, dst_offset: u64, size: u64 },
    Clear { buffer: wgpu::Buffer, offset: u64, size: u64 },
}

/// The work recorded since the last flush, and what it is bound with.
pub struct Recorder {
    commands: RefCell<Vec<Command>>,
    /// Uniform parameters of the pending dispatches, one 256-byte-aligned slot each; uploaded at flush.
    params: RefCell<Vec<u8>>,
    /// The arena and its id (in bind-group keys).
    params_buffer: RefCell<(wgpu::Buffer, u64)>,
    /// Arenas outgrown during the current step; their dispatches still read them.
    old_params: RefCell<Vec<(wgpu::Buffer, u64)>>,
    arenas: Cell<u64>,
    bind_groups: RefCell<HashMap<Vec<u64>, wgpu::BindGroup>>,
    submits: Cell<u64>,
}

impl Recorder {
    pub fn new(device: &Device) -> Self {
        Self {
            commands: RefCell::new(Vec::new()),
            params: RefCell::new(Vec::new()),
            params_buffer: RefCell::new((make_params_buffer(device, 64 * PARAM_SLOT as u64), 0)),
            old_params: RefCell::new(Vec::new()),
            arenas: Cell::new(1),
            bind_groups: RefCell::new(HashMap::new()),
            submits: Cell::new(0),
        }
    }

    fn next_arena_id(&self) -> u64 {
        let id = self.arenas.get();
        self.arenas.set(id + 1);
        id
    }

    /// Number of submits so far (a training step should add exactly one).
    pub fn submit_count(&self) -> u64 {
        self.submits.get()
    }

    /// Submits one command buffer now (readbacks), counted in `submit_count`.
    pub fn submit(&self, device: &Device, commands: wgpu::CommandBuffer) {
        device.submit([commands]);
        self.submits.set(self.submits.get() + 1);
    }

    /// Records a checked dispatch of `kernel`: `bytes` (its uniform parameters) go into the arena,
    /// `args[b - 1]` is bound at storage binding `b` of the kernel's layout.
    pub fn dispatch(
        &self,
        device: &Device,
        kernel: Rc<Kernel>,
        bytes: &[u8],
        args: &[Arg],
        groups: [u32; 3],
        cost: Cost,
    ) {
        let offset = {
            let mut p = self.params.borrow_mut();
            let offset = p.len();
            p.extend_from_slice(bytes);
            p.resize(offset + PARAM_SLOT, 0);
            offset as u64
        };
        self.ensure_params_capacity(device);
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
                Some(Arg::Range(t)) => {
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
                let bg = device.raw().create_bind_group(&wgpu::BindGroupDescriptor {
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
    }

    /// Grows the uniform arena before the pending parameters outgrow it (bind groups made against
    /// the old buffer stay valid: they keep it alive, and their data is uploaded at flush).
    fn ensure_params_capacity(&self, device: &Device) {
        let needed = self.params.borrow().len() as u64;
        let mut pb = self.params_buffer.borrow_mut();
        if needed > pb.0.size() {
            // Flushing would break the one-submit rule, so grow and re-upload everything at flush;
            // existing bind groups reference the old buffer, so write the old prefix there too.
            let size = (needed * 2).next_power_of_two();
            let new = make_params_buffer(device, size);
            self.old_params.borrow_mut().push((pb.0.clone(), pb.0.size()));
            *pb = (new, self.next_arena_id());
        }
    }

    /// Records a copy of `elems` floats; one buffer copy per pair of source / destination buffers
    /// the range crosses (tensors in several buffers).
    pub fn copy(
        &self,
        src: &BufferRange,
        src_offset_elems: usize,
        dst: &BufferRange,
        dst_offset_elems: usize,
        elems: usize,
    ) {
        if elems == 0 {
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

    pub fn clear(&self, t: &BufferRange) {
        let mut commands = self.commands.borrow_mut();
        if t.is_empty() {
            // the 4 bytes an empty range is bound with
            commands.push(Command::Clear { buffer: t.buffer().clone(), offset: t.byte_offset(), size: 4 });
            return;
        }
        for p in t.pieces(0..t.len()) {
            commands.push(Command::Clear {
                buffer: p.buffer.clone(),
                offset: p.byte_offset,
                size: 4 * p.floats as u64,
            });
        }
    }

    /// Records an upload: data goes through a fresh staging buffer copied in stream order, so a
    /// pooled buffer reused within the same step never sees its new contents too early.
    pub fn upload(&self, device: &Device, dst: &BufferRange, data: &[f32]) {
        use wgpu::util::DeviceExt;
        assert_eq!(data.len(), dst.len(), "upload size");
        if data.is_empty() {
            return;
        }
        // one staging buffer per destination buffer: none exceeds the buffer size limit
        for p in dst.pieces(0..dst.len()) {
            let staging = device.raw().create_buffer_init(&wgpu::util::BufferInitDescriptor {
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
    pub fn flush(&self, device: &Device, profiler: &RefCell<Option<Profiler>>) -> Result<()> {
        device.check()?;
        let commands = std::mem::take(&mut *self.commands.borrow_mut());
        let params = std::mem::take(&mut *self.params.borrow_mut());
        if commands.is_empty() {
            return Ok(());
        }
        for (old, size) in self.old_params.borrow_mut().drain(..) {
            let n = (size as usize).min(params.len());
            device.queue().write_buffer(&old, 0, &params[..n]);
        }
        if !params.is_empty() {
            device.queue().write_buffer(&self.params_buffer.borrow().0, 0, &params);
        }
        let profiling = profiler.borrow().is_some();
        if profiling {
            self.run_profiled(device, commands, profiler)?;
        } else {
            let mut encoder = device.raw().create_command_encoder(&Default::default());
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
            device.submit([encoder.finish()]);
            self.submits.set(self.submits.get() + 1);
        }
        device.check()
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
    fn run_profiled(
        &self,
        device: &Device,
        commands: Vec<Command>,
        profiler: &RefCell<Option<Profiler>>,
    ) -> Result<()> {
        let timestamps = device.features().contains(wgpu::Features::TIMESTAMP_QUERY);
        for chunk in commands.chunks(1024) {
            let mut encoder = device.raw().create_command_encoder(&Default::default());
            let queries = timestamps.then(|| {
                device.raw().create_query_set(&wgpu::QuerySetDescriptor {
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
                    let done =
                        std::mem::replace(&mut encoder, device.raw().create_command_encoder(&Default::default()));
                    device.submit([done.finish()]);
                    device.wait()?;
                    let ns = start.elapsed().as_nanos() as f64;
                    profiler.borrow_mut().as_mut().unwrap().record(&kernel.name, ns, *cost);
                } else {
                    timed.push((i, kernel.name.clone(), *cost));
                }
            }
            if let Some(q) = &queries {
                let n = 2 * chunk.len() as u64;
                let resolve = device.raw().create_buffer(&wgpu::BufferDescriptor {
                    label: Some("timestamps"),
                    size: 8 * n,
                    usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                });
                encoder.resolve_query_set(q, 0..n as u32, &resolve, 0);
                let read = read_buffer_via(device, &mut encoder, &resolve, 8 * n);
                device.submit([encoder.finish()]);
                self.submits.set(self.submits.get() + 1);
                let bytes = device.map_read(&read)?;
                let stamps: &[u64] = bytemuck::cast_slice(&bytes);
                let period = device.queue().get_timestamp_period() as f64;
                let mut prof = profiler.borrow_mut();
                for (i, name, cost) in timed {
                    let ns = stamps[2 * i + 1].saturating_sub(stamps[2 * i]) as f64 * period;
                    prof.as_mut().unwrap().record(&name, ns, cost);
                }
            } else {
                device.submit([encoder.finish()]);
                self.submits.set(self.submits.get() + 1);
            }
        }
        Ok(())
    }
}

fn read_buffer_via(device: &Device, encoder: &mut wgpu::CommandEncoder, src: &wgpu::Buffer, size: u64) -> wgpu::Buffer {
    let read = device.raw().create_buffer(&wgpu::BufferDescriptor {
        label: Some("tdfas readback"),
        size,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    encoder.copy_buffer_to_buffer(src, 0, &read, 0, size);
    read
}

fn make_params_buffer(device: &Device, size: u64) -> wgpu::Buffer {
    device.raw().create_buffer(&wgpu::BufferDescriptor {
        label: Some("tdfas params"),
        size,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}
