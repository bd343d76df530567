//! How an op names its kernels: a `Shader` (a file of shaders/, embedded, with its entry points)
//! and an `OpKernels` (an op family's shaders and benchmark families). Each op file declares
//! its own (`KERNELS`), `ops::ALL` lists them, and every list of kernels (the tests', the
//! benchmark families) is derived from that; the runtime takes the `Shader` at each dispatch.

use anyhow::{anyhow, Result};

/// One shader: its name (the file name without `.wgsl`, or a template's variant name), the
/// file of shaders/ it is made from, the shared files of shaders/ appended to it, its text (the
/// file, the template's header, the shared files, shaders/prelude.wgsl), and the entry points its
/// op dispatches (tests/all/kernel_interface.rs checks they are the file's).
#[derive(Debug)]
pub struct Shader {
    pub name: &'static str,
    pub file: &'static str,
    pub shared: &'static [&'static str],
    pub source: &'static str,
    pub entries: &'static [&'static str],
}

/// One op family's kernels: its shaders, and the `tdfas bench` families that time them.
#[derive(Debug)]
pub struct OpKernels {
    pub shaders: &'static [Shader],
    pub bench: &'static [&'static str],
}

/// A `Shader` for shaders/`name`.wgsl (embedded, with shaders/prelude.wgsl) with its entry
/// points: `shader!("elementwise", ["add", "sub"])`. A template file leaves names open (an
/// element type `T`, a width) for a header to set; each variant is named:
/// `shader!("elementwise_vec4" from "elementwise" with "alias T = vec4<f32>;", ["add"])`.
/// The template step is WGSL's own `alias` and `const`, so every variant is checked by naga
/// like any shader, and the text a driver compiles is the text in the binary.
/// Helpers several files share (parameters, bindings, loaders) live once in a shared file of
/// shaders/, appended after the file (and the header) by naming it with `+`:
/// `shader!("conv2d_forward_gemm" + "conv_forward_params" + "conv_forward_im2col", ["conv2d_forward_gemm"])`
/// (likewise `.. with "header" + "shared", [..]`). A shared file's header says which files
/// include it and what it declares or needs; naga's line numbers past the file's end are the
/// shared files'.
#[macro_export]
macro_rules! shader {
    ($name:literal $(+ $shared:literal)*, [$($entry:literal),* $(,)?]) => {
        $crate::shader!($name from $name with "" $(+ $shared)*, [$($entry),*])
    };
    ($name:literal from $file:literal with $header:literal $(+ $shared:literal)*, [$($entry:literal),* $(,)?]) => {
        $crate::gpu::shaders::Shader {
            name: $name,
            file: $file,
            shared: &[$($shared),*],
            // after the file: WGSL's module-scope names are order-free, the file's `enable`
            // directives must come first, and naga's line numbers stay the file's
            source: concat!(
                include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/", $file, ".wgsl")),
                "\n",
                $header,
                "\n",
                $(
                    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/", $shared, ".wgsl")),
                    "\n",
                )*
                include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/prelude.wgsl"))
            ),
            entries: &[$($entry),*],
        }
    };
}

impl Shader {
    /// Where it comes from, for messages: `shaders/elementwise.wgsl`, and a template's variant
    /// `shaders/elementwise.wgsl (elementwise_vec4)`.
    pub fn path(&self) -> String {
        if self.name == self.file {
            format!("shaders/{}.wgsl", self.file)
        } else {
            format!("shaders/{}.wgsl ({})", self.file, self.name)
        }
    }

    /// Checks that `entry` is one of the entry points this shader's op declares.
    pub fn check_entry(&self, entry: &str) -> Result<()> {
        if self.entries.contains(&entry) {
            return Ok(());
        }
        Err(anyhow!(
            "{} has no entry point `{entry}` in its op's KERNELS (it lists {})",
            self.path(),
            self.entries.join(", ")
        ))
    }
}

/// What one entry point needs from the adapter: invocations per workgroup (x, y, z) and bytes of
/// workgroup memory (every `var<workgroup>` of its file, an upper bound on what it touches).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkgroupNeeds {
    pub size: [u32; 3],
    pub memory: u32,
}

/// Workgroup size and memory of every entry point of a parsed shader, by entry name (override
/// constants at their defaults).
pub fn workgroup_needs(module: &naga::Module) -> Result<Vec<(String, WorkgroupNeeds)>> {
    workgroup_needs_with(module, &[])
}

/// `workgroup_needs` with the override constants `constants`: a workgroup size may be a plain
/// override (`@workgroup_size(WG)`), given here or at its default.
pub fn workgroup_needs_with(module: &naga::Module, constants: &[(&str, f64)]) -> Result<Vec<(String, WorkgroupNeeds)>> {
    let mut layouter = naga::proc::Layouter::default();
    layouter.update(module.to_ctx()).map_err(|e| anyhow!("laying out types: {e}"))?;
    let memory: u32 = module
        .global_variables
        .iter()
        .filter(|(_, v)| v.space == naga::AddressSpace::WorkGroup)
        .map(|(_, v)| layouter[v.ty].size)
        .sum();
    let literal = |e: naga::Handle<naga::Expression>| match module.global_expressions[e] {
        naga::Expression::Literal(naga::Literal::U32(v)) => Some(v as f64),
        naga::Expression::Literal(naga::Literal::I32(v)) => Some(v as f64),
        naga::Expression::Literal(naga::Literal::AbstractInt(v)) => Some(v as f64),
        _ => None,
    };
    let mut out = Vec::new();
    for e in &module.entry_points {
        let mut size = e.workgroup_size;
        let overridden = e.workgroup_size_overrides.iter().flat_map(|o| o.iter().enumerate());
        for (i, o) in overridden {
            let Some(o) = o else { continue };
            let naga::Expression::Override(h) = module.global_expressions[*o] else {
                return Err(anyhow!("{}: a workgroup size may be a plain override only", e.name));
            };
            let ov = &module.overrides[h];
            let name = ov.name.as_deref().unwrap_or("");
            let value = constants
                .iter()
                .find(|(n, _)| *n == name)
                .map(|&(_, v)| v)
                .or_else(|| ov.init.and_then(literal))
                .ok_or_else(|| anyhow!("{}: workgroup size override {name} has no value", e.name))?;
            size[i] = value as u32;
        }
        out.push((e.name.clone(), WorkgroupNeeds { size, memory }));
    }
    Ok(out)
}

impl WorkgroupNeeds {
    /// Why this entry point cannot run within `limits`, if it cannot.
    pub fn exceeds(&self, limits: &wgpu::Limits) -> Option<String> {
        let [x, y, z] = self.size;
        let max = [
            limits.max_compute_workgroup_size_x,
            limits.max_compute_workgroup_size_y,
            limits.max_compute_workgroup_size_z,
        ];
        if x > max[0] || y > max[1] || z > max[2] {
            return Some(format!(
                "workgroup size {x} x {y} x {z} exceeds the limit {} x {} x {}",
                max[0], max[1], max[2]
            ));
        }
        if x * y * z > limits.max_compute_invocations_per_workgroup {
            return Some(format!(
                "{} invocations per workgroup exceed the limit {}",
                x * y * z,
                limits.max_compute_invocations_per_workgroup
            ));
        }
        if self.memory > limits.max_compute_workgroup_storage_size {
            return Some(format!(
                "{} bytes of workgroup memory exceed the limit {}",
                self.memory, limits.max_compute_workgroup_storage_size
            ));
        }
        None
    }
}
