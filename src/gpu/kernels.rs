//! The kernel cache: one compute pipeline per shader entry point, with the bind-group layout of
//! the bindings that entry point uses, built at first use and checked against the WGSL.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use anyhow::{anyhow, bail, Result};

use super::device::Device;
use super::shaders::{self, Shader};
use super::{reflect, Arg};

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
    pub(super) fn check_interface<P: reflect::Uniform>(&self, args: &[Arg]) -> Result<()> {
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

/// Every kernel built so far, by "shader::entry".
#[derive(Default)]
pub struct KernelCache {
    kernels: RefCell<HashMap<String, Rc<Kernel>>>,
}

impl KernelCache {
    /// The compute pipeline for `shader`'s entry point `entry` with its override constants set to
    /// `constants` (the others keep their defaults), built once and cached.
    pub fn get(&self, device: &Device, shader: &Shader, entry: &str, constants: &[(&str, f64)]) -> Result<Rc<Kernel>> {
        shader.check_entry(entry)?;
        let (source, name, shader) = (shader.source, shader.name, shader.path());
        let mut key = format!("{name}::{entry}");
        for (name, value) in constants {
            key += &format!(" {name}={value}");
        }
        if let Some(k) = self.kernels.borrow().get(&key) {
            return Ok(k.clone());
        }
        let module_ir =
            naga::front::wgsl::parse_str(source).map_err(|e| anyhow!("{shader}: {}", e.emit_to_string(source)))?;
        // A kernel that needs more than the device's limits or features is refused with the
        // reason (the autotune then skips it) instead of failing inside wgpu.
        for (needed, feature, name) in [
            ("enable f16;", wgpu::Features::SHADER_F16, "SHADER_F16"),
            ("enable wgpu_cooperative_matrix;", wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX, "COOPERATIVE_MATRIX"),
            ("@builtin(subgroup", wgpu::Features::SUBGROUP, "SUBGROUP"),
        ] {
            if source.contains(needed) && !device.features().contains(feature) {
                bail!("{shader} `{entry}` needs {name}, which this device lacks");
            }
        }
        let needs = shaders::workgroup_needs_with(&module_ir, constants)?;
        if let Some((_, needs)) = needs.into_iter().find(|(n, _)| n == entry) {
            if let Some(why) = needs.exceeds(device.limits()) {
                bail!("{shader} `{entry}`: {why} of this device ({})", device.limits_source());
            }
        }
        // The interface (uniform struct, storage buffers) comes from the WGSL itself; dispatches
        // are checked against it. The bind-group layout lists the bindings this entry point uses
        // (binding 0 = uniform params, then storage buffers), so no dispatch binds a buffer it
        // does not need.
        let interface = reflect::interfaces(&shader, &module_ir)?
            .into_iter()
            .find(|i| i.entry == entry)
            .ok_or_else(|| anyhow!("{shader} has no entry point `{entry}`"))?;
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
        let layout = device
            .raw()
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some(&key), entries: &entries });
        let pipeline_layout = device.raw().create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(&key),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let module = device.raw().create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(name),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let pipeline = device.raw().create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&key),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions { constants, ..Default::default() },
            cache: None,
        });
        let kernel = Rc::new(Kernel {
            name: key.clone(),
            pipeline,
            layout,
            bindings: bindings.iter().map(|&(b, u, _)| (b, u)).collect(),
            id: self.kernels.borrow().len() as u64,
            interface,
            checked: RefCell::new(Vec::new()),
        });
        self.kernels.borrow_mut().insert(key, kernel.clone());
        Ok(kernel)
    }
}
