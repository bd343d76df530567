//! The device: adapter selection (the best GPU available, with overrides, and a clear error when
//! none works), then the opened device with its queue, limits and error reporting.

use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail, Context, Result};

/// Which backends to consider, from `TDFAS_BACKEND` (vulkan | gl | metal | dx12), else all native ones.
#[cfg(not(target_arch = "wasm32"))]
fn backends_from_env() -> Result<wgpu::Backends> {
    let Ok(name) = std::env::var("TDFAS_BACKEND") else {
        return Ok(wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12 | wgpu::Backends::GL);
    };
    let b = match name.to_ascii_lowercase().as_str() {
        "vulkan" | "vk" => wgpu::Backends::VULKAN,
        "gl" | "gles" | "opengl" => wgpu::Backends::GL,
        "metal" => wgpu::Backends::METAL,
        "dx12" | "d3d12" => wgpu::Backends::DX12,
        other => bail!("TDFAS_BACKEND={other:?} is not one of vulkan, gl, metal, dx12"),
    };
    // e.g. Metal on Linux: no driver to install would help, so say what this platform has.
    let built = wgpu::Instance::enabled_backend_features();
    if !built.contains(b) {
        let have: Vec<&str> = [
            (wgpu::Backends::VULKAN, "vulkan"),
            (wgpu::Backends::GL, "gl"),
            (wgpu::Backends::METAL, "metal"),
            (wgpu::Backends::DX12, "dx12"),
        ]
        .iter()
        .filter(|(x, _)| built.contains(*x))
        .map(|(_, n)| *n)
        .collect();
        bail!(
            "TDFAS_BACKEND={name}: the {name} backend is not available on this platform ({}); available: {}",
            std::env::consts::OS,
            have.join(", ")
        );
    }
    Ok(b)
}

/// Ranks adapters: discrete > integrated > virtual > CPU; among equals, Vulkan/Metal/DX12 before GL,
/// because the GL backend lacks storage-buffer features some drivers need.
#[cfg(not(target_arch = "wasm32"))]
fn rank(info: &wgpu::AdapterInfo) -> (u8, u8) {
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 4,
        wgpu::DeviceType::IntegratedGpu => 3,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 1,
        wgpu::DeviceType::Other => 0,
    };
    let backend = if info.backend == wgpu::Backend::Gl { 0 } else { 1 };
    (kind, backend)
}

pub fn describe(info: &wgpu::AdapterInfo) -> String {
    format!("{} ({:?}, {:?}, driver {} {})", info.name, info.backend, info.device_type, info.driver, info.driver_info)
}

#[cfg(not(target_arch = "wasm32"))]
const INSTALL_HINT: &str = "no usable GPU adapter. To run without a GPU, install a software driver: \
on Debian/Ubuntu `apt-get install mesa-vulkan-drivers libvulkan1` (lavapipe, preferred; \
Mesa 25 from bookworm-backports is about 2x faster than Mesa 22) or `libgl1-mesa-dri libegl1` \
(llvmpipe through the GL backend, used with TDFAS_BACKEND=gl)";

/// Picks the adapter tdfas will run on. `TDFAS_ADAPTER` selects by (case-insensitive) name substring.
#[cfg(not(target_arch = "wasm32"))]
pub fn select_adapter() -> Result<(wgpu::Instance, wgpu::Adapter)> {
    super::block_on(select_adapter_async())
}

/// `select_adapter`, awaited (the browser answers adapter requests asynchronously).
#[cfg(not(target_arch = "wasm32"))]
pub async fn select_adapter_async() -> Result<(wgpu::Instance, wgpu::Adapter)> {
    let backends = backends_from_env()?;
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends;
    let instance = wgpu::Instance::new(desc);
    let adapters = instance.enumerate_adapters(backends).await;
    let wanted = std::env::var("TDFAS_ADAPTER").ok().map(|s| s.to_lowercase());
    let found: Vec<String> = adapters.iter().map(|a| describe(&a.get_info())).collect();
    let mut candidates: Vec<wgpu::Adapter> = adapters
        .into_iter()
        .filter(|a| match &wanted {
            Some(w) => a.get_info().name.to_lowercase().contains(w.as_str()),
            None => true,
        })
        .collect();
    candidates.sort_by_key(|a| std::cmp::Reverse(rank(&a.get_info())));
    match candidates.into_iter().next() {
        Some(adapter) => {
            let info = adapter.get_info();
            if info.backend == wgpu::Backend::Gl && std::env::var_os("TDFAS_BACKEND").is_none() {
                // Chosen only when no Vulkan driver is there; the GL path is several times slower.
                static SAID: std::sync::Once = std::sync::Once::new();
                SAID.call_once(|| {
                    eprintln!(
                        "note: running on {} through the GL backend (no Vulkan driver found); tdfas runs \
                         several times faster on Vulkan: on Debian/Ubuntu `apt-get install \
                         mesa-vulkan-drivers libvulkan1`",
                        info.name
                    )
                });
            }
            Ok((instance, adapter))
        }
        None => {
            let listing = if found.is_empty() {
                "  (none)".to_string()
            } else {
                found.iter().map(|f| format!("  - {f}")).collect::<Vec<_>>().join("\n")
            };
            match wanted {
                Some(w) => bail!(
                    "TDFAS_ADAPTER={w:?} matches no adapter. Adapters found:\n{listing}\n\
                     Unset TDFAS_ADAPTER or use a substring of one of these names."
                ),
                None => bail!("{INSTALL_HINT}.\nAdapters found ({backends:?}):\n{listing}"),
            }
        }
    }
}

/// The browser's WebGPU adapter, or an error that says what the browser lacks.
#[cfg(target_arch = "wasm32")]
pub async fn select_adapter_async() -> Result<(wgpu::Instance, wgpu::Adapter)> {
    if !wgpu::util::is_browser_webgpu_supported().await {
        bail!(
            "this browser has no WebGPU (navigator.gpu is missing or gives no adapter): use Chrome or Edge 113+ \
             (on Linux with --enable-unsafe-webgpu), Safari 26+ or Firefox 141+ on Windows, over http://127.0.0.1 or https"
        );
    }
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = wgpu::Backends::BROWSER_WEBGPU;
    let instance = wgpu::Instance::new(desc);
    let options = wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        force_fallback_adapter: false,
        compatible_surface: None,
        ..Default::default()
    };
    let adapter =
        instance.request_adapter(&options).await.map_err(|e| anyhow!("the browser's WebGPU gave no adapter: {e}"))?;
    Ok((instance, adapter))
}

/// The optional features tdfas uses when the adapter has them; none is required.
pub fn optional_features(adapter: &wgpu::Adapter) -> wgpu::Features {
    let wanted = wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::SUBGROUP | wgpu::Features::SHADER_F16;
    adapter.features() & wanted
}

/// The limits to request: the adapter's own (`TDFAS_LIMITS` unset or `adapter`), or WebGPU's
/// defaults (`TDFAS_LIMITS=default`: 128 MiB per storage binding, 256 MiB per buffer, 16 KiB of
/// workgroup memory, 256 invocations), to prove tdfas runs on any adapter that meets them.
pub fn requested_limits(adapter: &wgpu::Adapter) -> Result<(wgpu::Limits, &'static str)> {
    limits_choice(std::env::var("TDFAS_LIMITS").ok().as_deref(), adapter.limits())
}

/// `requested_limits` given the variable's value and the adapter's limits.
pub fn limits_choice(var: Option<&str>, adapter: wgpu::Limits) -> Result<(wgpu::Limits, &'static str)> {
    match var.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("adapter") => Ok((adapter, "adapter")),
        Some("default") | Some("webgpu") => {
            let wanted = wgpu::Limits::default();
            let mut short = Vec::new();
            wanted.check_limits_with_fail_fn(&adapter, false, |name, want, have| {
                short.push(format!("{name} (wants {want}, the adapter has {have})"))
            });
            if !short.is_empty() {
                bail!("TDFAS_LIMITS=default: the adapter is below WebGPU's default limits: {}", short.join(", "));
            }
            Ok((wanted, "default"))
        }
        Some(other) => bail!("TDFAS_LIMITS={other:?} is not one of adapter, default"),
    }
}

/// A byte count from an environment variable (a test hook), e.g. `TDFAS_MAX_BINDING=4096`.
pub fn cap_from_env(name: &str) -> Result<Option<u64>> {
    match std::env::var(name) {
        Err(_) => Ok(None),
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(n) if n >= 256 && n % 4 == 0 => Ok(Some(n)),
            _ => bail!("{name}={v:?} must be a byte count, a multiple of 4 and at least 256"),
        },
    }
}

/// The opened device: the wgpu device and queue, what the adapter is and may do, and what wgpu
/// reports asynchronously (errors, device loss), returned from `check` instead of a panic.
pub struct Device {
    pub raw: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub features: wgpu::Features,
    pub limits: wgpu::Limits,
    /// Where `limits` came from: "adapter" or "default" (`TDFAS_LIMITS`).
    pub limits_source: &'static str,
    errors: Arc<Mutex<Vec<String>>>,
    lost: Arc<Mutex<Option<String>>>,
}

impl Device {
    /// Opens the best adapter (see `select_adapter`) with its own limits.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open() -> Result<Self> {
        super::block_on(Self::open_async())
    }

    /// `open`, awaited (in the browser, adapter and device come as promises).
    pub async fn open_async() -> Result<Self> {
        let (_instance, adapter) = select_adapter_async().await?;
        let info = adapter.get_info();
        let features = optional_features(&adapter);
        let (limits, limits_source) = requested_limits(&adapter)?;
        let (raw, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("tdfas"),
                required_features: features,
                required_limits: limits.clone(),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .with_context(|| format!("opening {}", describe(&info)))?;
        // Errors are collected and returned from `check` (at every flush), instead of wgpu's
        // default panic.
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        raw.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            sink.lock().unwrap().push(e.to_string());
        }));
        let lost = Arc::new(Mutex::new(None));
        let lost_sink = lost.clone();
        raw.set_device_lost_callback(move |reason, msg| {
            *lost_sink.lock().unwrap() = Some(format!("{reason:?}: {msg}"));
        });
        Ok(Self { raw, queue, info, features, limits, limits_source, errors, lost })
    }

    pub fn is_cpu(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu || self.info.name.to_lowercase().contains("llvmpipe")
    }

    /// Blocks until the GPU has finished everything submitted (in the browser, which cannot
    /// block, only the error check: work is awaited through `map_read_async`).
    pub fn wait(&self) -> Result<()> {
        #[cfg(not(target_arch = "wasm32"))]
        self.raw.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| anyhow!("waiting for the GPU: {e}"))?;
        self.check()
    }

    /// Errors wgpu reported since the last check, or the device's loss, as an error.
    pub fn check(&self) -> Result<()> {
        if let Some(reason) = self.lost.lock().unwrap().clone() {
            bail!("the GPU device was lost ({reason}); checkpoints on disk are intact, rerun with --resume");
        }
        let errors = std::mem::take(&mut *self.errors.lock().unwrap());
        if !errors.is_empty() {
            bail!("GPU error: {}", errors.join("; "));
        }
        Ok(())
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn map_read(&self, buffer: &wgpu::Buffer) -> Result<Vec<u8>> {
        super::block_on(self.map_read_async(buffer))
    }

    /// The browser cannot block: its callers (the profiler) are native-only.
    #[cfg(target_arch = "wasm32")]
    pub fn map_read(&self, _buffer: &wgpu::Buffer) -> Result<Vec<u8>> {
        bail!("reading the GPU back would block the browser: the web build uses map_read_async")
    }

    /// The bytes of a mapped-readable buffer once the GPU has written them. Natively the map
    /// completes inside `wait`; in the browser from its event loop, while this future waits.
    pub async fn map_read_async(&self, buffer: &wgpu::Buffer) -> Result<Vec<u8>> {
        let (tx, rx) = futures_channel::oneshot::channel();
        buffer.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.wait()?;
        rx.await.map_err(|_| anyhow!("GPU readback was dropped"))?.map_err(|e| anyhow!("GPU readback failed: {e}"))?;
        self.check()?;
        let data = buffer.get_mapped_range(..).map_err(|e| anyhow!("mapping readback: {e:?}"))?.to_vec();
        buffer.unmap();
        Ok(data)
    }
}
