//! Each kernel's interface, read from its WGSL by naga: the one source of truth for the uniform
//! struct and the buffer bindings. The Rust side (an op's `Params` struct, the positional `Arg`
//! list of a dispatch) is checked against it at the kernel's first use, so a field added on one
//! side only, or a buffer forgotten, is an error naming shader, entry point and field instead of
//! wrong numbers.
//!
//! Conventions every kernel follows (checked for every entry point by tests/all/kernel_interface.rs):
//! `@group(0)` only; the uniform parameters, if any, at `@binding(0)`; storage buffers at bindings
//! 1, 2, ... in the order a dispatch lists its `Arg`s. Each entry point gets its own bind-group
//! layout of the bindings it uses (naga's per-entry-point `GlobalUse`); a dispatch gives
//! `Arg::Unused` for a binding its entry point does not use, and trailing ones may be left out.

use std::any::type_name;

use anyhow::{anyhow, bail, Result};

/// One field of a Rust uniform struct, as `uniform!` lists it.
#[derive(Clone, Debug)]
pub struct Field {
    pub name: &'static str,
    pub offset: usize,
    pub size: usize,
    /// `std::any::type_name` of the field's type ("u32", "f32", "[u32; 2]")
    pub ty: &'static str,
}

/// A Rust struct uploaded as a kernel's uniform parameters. Implement it with `uniform!`, which
/// takes the field list from the struct itself (names checked by the compiler).
pub trait Uniform: bytemuck::Pod {
    fn fields() -> Vec<Field>;
}

/// Implements `Uniform` for a `#[repr(C)]` Pod struct: `uniform!(Params { n, s, _pad });` after
/// its definition. Fields named `_...` are padding and are not matched against the WGSL.
#[macro_export]
macro_rules! uniform {
    ($t:ident { $($f:ident),* $(,)? }) => {
        impl $crate::gpu::reflect::Uniform for $t {
            fn fields() -> Vec<$crate::gpu::reflect::Field> {
                vec![$($crate::gpu::reflect::Field {
                    name: stringify!($f),
                    offset: ::std::mem::offset_of!($t, $f),
                    size: $crate::gpu::reflect::field_size(|p: &$t| &p.$f),
                    ty: $crate::gpu::reflect::field_type(|p: &$t| &p.$f),
                }),*]
            }
        }
    };
}

#[doc(hidden)]
pub fn field_size<T, F>(_: fn(&T) -> &F) -> usize {
    std::mem::size_of::<F>()
}

#[doc(hidden)]
pub fn field_type<T, F>(_: fn(&T) -> &F) -> &'static str {
    type_name::<F>()
}

/// A member of the WGSL uniform struct.
#[derive(Clone, Debug)]
pub struct Member {
    pub name: String,
    pub offset: u32,
    pub size: u32,
    /// the scalar kind for scalar members ("u32", "f32", "i32"), else None
    pub scalar: Option<&'static str>,
}

/// The uniform struct an entry point reads.
#[derive(Clone, Debug)]
pub struct UniformLayout {
    pub binding: u32,
    pub var: String,
    pub ty: String,
    pub size: u32,
    pub members: Vec<Member>,
    /// whether this entry point reads it (else it is left out of the entry point's layout)
    pub used: bool,
}

/// One storage buffer binding.
#[derive(Clone, Debug)]
pub struct StorageBinding {
    pub binding: u32,
    pub name: String,
    pub read_only: bool,
    /// whether this entry point reads or writes it (else it is left out of the entry point's
    /// layout, and a dispatch must give `Arg::Unused` for it)
    pub used: bool,
}

/// What one entry point of a shader file binds.
#[derive(Clone, Debug)]
pub struct Interface {
    /// where it comes from (`Shader::path`)
    pub shader: String,
    pub entry: String,
    pub uniform: Option<UniformLayout>,
    /// every storage binding of the file, in binding order, which is the order of a dispatch's
    /// `Arg`s; `used` says which ones this entry point touches
    pub storage: Vec<StorageBinding>,
}

/// The interface of every entry point of `module` (parsed from `shader`, a `Shader::path`). Bindings
/// are the file's, each marked with whether this entry point uses it.
pub fn interfaces(shader: &str, module: &naga::Module) -> Result<Vec<Interface>> {
    let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all())
        .validate(module)
        .map_err(|e| anyhow!("{shader}: validation: {e:?}"))?;
    let mut layouter = naga::proc::Layouter::default();
    layouter.update(module.to_ctx()).map_err(|e| anyhow!("{shader}: laying out types: {e}"))?;
    let mut out = Vec::new();
    for (index, entry) in module.entry_points.iter().enumerate() {
        let uses = info.get_entry_point(index);
        let mut uniform = None;
        let mut storage = Vec::new();
        for (handle, var) in module.global_variables.iter() {
            let Some(rb) = &var.binding else { continue };
            let name = var.name.clone().unwrap_or_default();
            let at = || format!("{shader} `{name}` (@group({}) @binding({}))", rb.group, rb.binding);
            if rb.group != 0 {
                bail!("{}: only @group(0) is supported", at());
            }
            match var.space {
                naga::AddressSpace::Uniform => {
                    if uniform.is_some() {
                        bail!("{}: a second uniform; kernels take one parameter struct", at());
                    }
                    if rb.binding != 0 {
                        bail!("{}: the uniform parameters must be at binding 0", at());
                    }
                    let used = !uses[handle].is_empty();
                    uniform = Some(uniform_layout(module, &layouter, var, rb.binding, &name, used));
                }
                naga::AddressSpace::Storage { access } => storage.push(StorageBinding {
                    binding: rb.binding,
                    name,
                    read_only: !access.contains(naga::StorageAccess::STORE),
                    used: !uses[handle].is_empty(),
                }),
                _ => bail!("{}: only uniform and storage buffers are supported", at()),
            }
        }
        storage.sort_by_key(|s| s.binding);
        // Positional `Arg`s map to storage bindings 1, 2, ... with no gaps.
        for (i, s) in storage.iter().enumerate() {
            if s.binding != i as u32 + 1 {
                bail!(
                    "{shader} `{}`: storage buffers must be at bindings 1, 2, ... in order; \
                     `{}` is at {} where {} was expected",
                    entry.name,
                    s.name,
                    s.binding,
                    i + 1
                );
            }
        }
        out.push(Interface { shader: shader.to_string(), entry: entry.name.clone(), uniform, storage });
    }
    Ok(out)
}

fn uniform_layout(
    module: &naga::Module,
    layouter: &naga::proc::Layouter,
    var: &naga::GlobalVariable,
    binding: u32,
    name: &str,
    used: bool,
) -> UniformLayout {
    let ty = &module.types[var.ty];
    let members = match &ty.inner {
        naga::TypeInner::Struct { members, .. } => members
            .iter()
            .map(|m| Member {
                name: m.name.clone().unwrap_or_default(),
                offset: m.offset,
                size: layouter[m.ty].size,
                scalar: match module.types[m.ty].inner {
                    naga::TypeInner::Scalar(s) if s.width == 4 => match s.kind {
                        naga::ScalarKind::Uint => Some("u32"),
                        naga::ScalarKind::Sint => Some("i32"),
                        naga::ScalarKind::Float => Some("f32"),
                        _ => None,
                    },
                    _ => None,
                },
            })
            .collect(),
        _ => Vec::new(),
    };
    UniformLayout {
        binding,
        var: name.to_string(),
        ty: ty.name.clone().unwrap_or_else(|| "?".into()),
        size: layouter[var.ty].size,
        members,
        used,
    }
}

fn is_padding(name: &str) -> bool {
    name.starts_with('_')
}

impl Interface {
    fn at(&self) -> String {
        format!("{} `{}`", self.shader, self.entry)
    }

    /// Checks the Rust uniform struct `P` against the WGSL one: the same size, and every named
    /// (non-`_`) field on either side present on the other at the same offset, size and type.
    pub fn check_uniform<P: Uniform>(&self) -> Result<()> {
        let rust = type_name::<P>();
        let size = std::mem::size_of::<P>();
        let fields = P::fields();
        // Pod structs have no implicit padding, so listed fields cover the struct exactly.
        let listed: usize = fields.iter().map(|f| f.size).sum();
        if listed != size {
            bail!("{rust}: `uniform!` lists {listed} of its {size} bytes; list every field");
        }
        let Some(u) = &self.uniform else {
            if size == 0 {
                return Ok(());
            }
            bail!("{}: {rust} is {size} bytes but the shader has no uniform parameters", self.at());
        };
        if size != u.size as usize {
            bail!(
                "{}: {rust} is {size} bytes but the WGSL struct {} (binding {} `{}`) is {} bytes",
                self.at(),
                u.ty,
                u.binding,
                u.var,
                u.size
            );
        }
        for m in u.members.iter().filter(|m| !is_padding(&m.name)) {
            let Some(f) = fields.iter().find(|f| f.name == m.name) else {
                bail!("{}: field `{}` of WGSL struct {} is missing from {rust}", self.at(), m.name, u.ty);
            };
            let scalar_differs = m.scalar.is_some_and(|s| s != f.ty);
            if f.offset != m.offset as usize || f.size != m.size as usize || scalar_differs {
                bail!(
                    "{}: field `{}` is {} at byte {} ({} bytes) in {rust} but {} at byte {} ({} bytes) in WGSL \
                     struct {}",
                    self.at(),
                    m.name,
                    f.ty,
                    f.offset,
                    f.size,
                    m.scalar.unwrap_or("non-scalar"),
                    m.offset,
                    m.size,
                    u.ty
                );
            }
        }
        if let Some(f) = fields.iter().find(|f| !is_padding(f.name) && !u.members.iter().any(|m| m.name == f.name)) {
            bail!("{}: field `{}` of {rust} is not in WGSL struct {}", self.at(), f.name, u.ty);
        }
        Ok(())
    }

    /// The storage bindings this entry point uses (its bind-group layout, with the uniform).
    pub fn used_storage(&self) -> impl Iterator<Item = &StorageBinding> {
        self.storage.iter().filter(|s| s.used)
    }

    /// Checks a dispatch's buffers against the bindings: `given[i]` says whether the dispatch
    /// gives a buffer for storage binding `i + 1` (positions past the list give none). A binding
    /// the entry point uses must get one; a binding it does not use must not.
    pub fn check_args(&self, given: &[bool]) -> Result<()> {
        if given.len() > self.storage.len() {
            bail!(
                "{}: {} buffers given, the shader declares {} storage bindings: {}",
                self.at(),
                given.len(),
                self.storage.len(),
                self.describe_storage()
            );
        }
        for (i, s) in self.storage.iter().enumerate() {
            let gives = given.get(i).copied().unwrap_or(false);
            if s.used && !gives {
                bail!(
                    "{}: binding {} `{}` is used by this entry point but the dispatch gives no buffer for it \
                     (bindings used: {})",
                    self.at(),
                    s.binding,
                    s.name,
                    self.describe_used()
                );
            }
            if !s.used && gives {
                bail!(
                    "{}: binding {} `{}` is not used by this entry point; give `Arg::Unused` there \
                     (bindings used: {})",
                    self.at(),
                    s.binding,
                    s.name,
                    self.describe_used()
                );
            }
        }
        Ok(())
    }

    fn describe_storage(&self) -> String {
        let names: Vec<String> = self.storage.iter().map(describe_binding).collect();
        names.join(", ")
    }

    fn describe_used(&self) -> String {
        let names: Vec<String> = self.used_storage().map(describe_binding).collect();
        names.join(", ")
    }
}

fn describe_binding(s: &StorageBinding) -> String {
    format!("{} `{}`{}", s.binding, s.name, if s.read_only { "" } else { " (write)" })
}
