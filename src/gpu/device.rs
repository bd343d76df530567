//! The device: adapter selection (the best GPU available, with overrides, and a clear error when
//! none works), then the opened device with its queue, limits and error reporting.

use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail, Context, Result};

use crate::util::settings::Settings;

/// Which backends to consider: `TDFAS_BACKEND`'s (vulkan | gl | metal | dx12), else all native ones.
#[cfg(not(target_arch = "wasm32"))]
fn backends(settings: &Settings) -> Result<wgpu::Backends> {
    let Some(name) = settings.backend.clone() else {
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
pub fn select_adapter(settings: &Settings) -> Result<(wgpu::Instance, wgpu::Adapter)> {
    super::block_on(select_adapter_async(settings))
}

/// `select_adapter`, awaited (the browser answers adapter requests asynchronously).
#[cfg(not(target_arch = "wasm32"))]
pub async fn select_adapter_async(settings: &Settings) -> Result<(wgpu::Instance, wgpu::Adapter)> {
    let backends = backends(settings)?;
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends;
    let instance = wgpu::Instance::new(desc);
    let adapters = instance.enumerate_adapters(backends).await;
    let wanted = settings.adapter.clone();
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
            if info.backend == wgpu::Backend::Gl && settings.backend.is_none() {
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
pub async fn select_adapter_async(_settings: &Settings) -> Result<(wgpu::Instance, wgpu::Adapter)> {
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

/// Opens the adapter `select_adapter_async` picks, with tdfas's features and limits, and routes
/// wgpu's asynchronous reports into the result.
async fn open_shared(settings: &Settings) -> Result<Shared> {
    let (_instance, adapter) = select_adapter_async(settings).await?;
    let info = adapter.get_info();
    let features = optional_features(&adapter, settings.coop);
    let (limits, limits_source) = limits_choice(settings.limits.as_deref(), adapter.limits())?;
    let experimental = if features.intersects(wgpu::Features::all_experimental_mask()) {
        // SAFETY: wgpu marks its cooperative matrices experimental (bugs in them may be undefined
        // behaviour). Only conv2d_forward_coop.wgsl uses them, and only after the autotune
        // checked its results against the float32 reference on this adapter; `TDFAS_COOP=0`
        // leaves the feature off.
        unsafe { wgpu::ExperimentalFeatures::enabled() }
    } else {
        wgpu::ExperimentalFeatures::disabled()
    };
    let cooperative_matrices = if features.contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX) {
        adapter.cooperative_matrix_properties()
    } else {
        Vec::new()
    };
    let (raw, queue) = adapter
        .request_device(&wgpu::DeviceDescriptor {
            label: Some("tdfas"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: experimental,
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        })
        .await
        .with_context(|| format!("opening {}", describe(&info)))?;
    let shared = Shared {
        raw,
        queue,
        info,
        features,
        limits,
        limits_source,
        cooperative_matrices,
        errors: Arc::default(),
        lost: Arc::default(),
    };
    route_reports(&shared);
    Ok(shared)
}

/// Errors are collected and returned from `check` (at every flush) instead of wgpu's default
/// panic; a lost device is said at the next `check` of every `Device` on it.
fn route_reports(shared: &Shared) {
    let sink = shared.errors.clone();
    shared.raw.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
        let mut errors = sink.lock().unwrap_or_else(|e| e.into_inner());
        if errors.len() >= MAX_PENDING_ERRORS {
            errors.remove(0);
        }
        errors.push((this_thread(), e.to_string()));
    }));
    let lost = shared.lost.clone();
    shared.raw.set_device_lost_callback(move |reason, msg| {
        *lost.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("{reason:?}: {msg}"));
    });
}

/// The optional features tdfas uses when the adapter has them; none is required. Cooperative
/// matrices (wgpu's experimental tensor-core feature, for the inference conv
/// conv2d_forward_coop.wgsl) where `coop` (unless `TDFAS_COOP=0`).
pub fn optional_features(adapter: &wgpu::Adapter, coop: bool) -> wgpu::Features {
    let mut wanted = wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::SUBGROUP | wgpu::Features::SHADER_F16;
    if coop {
        wanted |= wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX;
    }
    adapter.features() & wanted
}

/// The limits to request, given `TDFAS_LIMITS`'s value `var` and the adapter's limits: the
/// adapter's own (unset or `adapter`), or WebGPU's defaults (`default`: 128 MiB per storage
/// binding, 256 MiB per buffer, 16 KiB of workgroup memory, 256 invocations), to prove tdfas runs
/// on any adapter that meets them.
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

/// What every `Device` opened with the same choice shares: wgpu's device and queue, what the
/// adapter is and may do, and what wgpu reports asynchronously about the device.
struct Shared {
    raw: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    features: wgpu::Features,
    limits: wgpu::Limits,
    limits_source: &'static str,
    cooperative_matrices: Vec<wgpu::CooperativeMatrixProperties>,
    /// Errors not caught elsewhere, with the thread whose wgpu call made them: wgpu reports an
    /// error on the thread of the call that caused it (its error sink is keyed by thread), and a
    /// `Gpu` is not `Send`, so each `Device` takes the errors of its own thread.
    errors: Arc<Mutex<Vec<(ThreadKey, String)>>>,
    /// The device's loss concerns every `Device` on it.
    lost: Arc<Mutex<Option<String>>>,
}

/// The thread a wgpu call ran on (the browser has one).
type ThreadKey = u64;

fn this_thread() -> ThreadKey {
    #[cfg(not(target_arch = "wasm32"))]
    {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(1);
        thread_local!(static ID: ThreadKey = NEXT.fetch_add(1, Ordering::Relaxed));
        ID.with(|id| *id)
    }
    #[cfg(target_arch = "wasm32")]
    0
}

/// Errors kept for threads that never check (a thread that ended after an error): at most this
/// many, oldest dropped.
const MAX_PENDING_ERRORS: usize = 256;

/// The opened device as one `Gpu` sees it: the wgpu device and queue, what the adapter is and
/// may do, and what wgpu reports asynchronously (errors, device loss), returned from `check`
/// instead of a panic. Natively every `Device` opened with the same `TDFAS_BACKEND`,
/// `TDFAS_ADAPTER` and `TDFAS_LIMITS` in a process shares one wgpu device (see `open`).
pub struct Device {
    shared: Arc<Shared>,
    /// This `Device`'s latest submit: `wait` waits for it, not for other `Gpu`s' work.
    last_submit: std::cell::RefCell<Option<wgpu::SubmissionIndex>>,
}

/// Devices opened so far in this process, by what chose them (see `Device::open`): the
/// backend, adapter and limits settings, and whether cooperative matrices were requested.
#[cfg(not(target_arch = "wasm32"))]
type DeviceKey = (Option<String>, Option<String>, Option<String>, bool);
#[cfg(not(target_arch = "wasm32"))]
static DEVICES: Mutex<Vec<(DeviceKey, Arc<Shared>)>> = Mutex::new(Vec::new());

impl Device {
    /// Opens the best adapter (see `select_adapter`) with its own limits, or shares the device
    /// this process already opened with the same `settings` of `TDFAS_BACKEND`, `TDFAS_ADAPTER`,
    /// `TDFAS_LIMITS` and `TDFAS_COOP` (and so the same features). One wgpu device per process, as tdfas itself
    /// has: test binaries open one `Gpu` per test on several threads, and several devices in one
    /// process hung on NVIDIA's driver. What is per `Gpu` stays per `Gpu`: pools, kernels, bind
    /// groups, the profiler, op settings, errors (by thread) and what `wait` waits for. A lost
    /// device is opened afresh.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open(settings: &Settings) -> Result<Self> {
        let s = settings;
        let key: DeviceKey = (s.backend.clone(), s.adapter.clone(), s.limits.clone(), s.coop);
        // held while opening, so that threads opening at once share the first one's device
        let mut devices = DEVICES.lock().unwrap_or_else(|e| e.into_inner());
        devices.retain(|(_, s)| s.lost.lock().unwrap().is_none());
        if let Some((_, shared)) = devices.iter().find(|(k, _)| *k == key) {
            return Ok(Self::on(shared.clone()));
        }
        let shared = Arc::new(super::block_on(open_shared(settings))?);
        devices.push((key, shared.clone()));
        Ok(Self::on(shared))
    }

    /// Opens a device of its own (the browser answers adapter and device requests as promises;
    /// there one page opens one `Gpu`).
    // the browser's wgpu types are neither Send nor Sync: there the Arc is only shared ownership
    #[cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]
    pub async fn open_async(settings: &Settings) -> Result<Self> {
        Ok(Self::on(Arc::new(open_shared(settings).await?)))
    }

    fn on(shared: Arc<Shared>) -> Self {
        Self { shared, last_submit: std::cell::RefCell::new(None) }
    }

    pub fn raw(&self) -> &wgpu::Device {
        &self.shared.raw
    }
    pub fn queue(&self) -> &wgpu::Queue {
        &self.shared.queue
    }
    pub fn info(&self) -> &wgpu::AdapterInfo {
        &self.shared.info
    }
    pub fn features(&self) -> wgpu::Features {
        self.shared.features
    }
    pub fn limits(&self) -> &wgpu::Limits {
        &self.shared.limits
    }
    /// Where `limits` came from: "adapter" or "default" (`TDFAS_LIMITS`).
    pub fn limits_source(&self) -> &'static str {
        self.shared.limits_source
    }
    /// The cooperative-matrix shapes and types the adapter offers (empty without the feature).
    pub fn cooperative_matrices(&self) -> &[wgpu::CooperativeMatrixProperties] {
        &self.shared.cooperative_matrices
    }

    /// Whether `other` runs on the same wgpu device.
    pub fn shares_with(&self, other: &Device) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Submits command buffers; `wait` waits for the latest of them.
    pub fn submit(&self, commands: impl IntoIterator<Item = wgpu::CommandBuffer>) {
        *self.last_submit.borrow_mut() = Some(self.shared.queue.submit(commands));
    }

    pub fn is_cpu(&self) -> bool {
        let info = &self.shared.info;
        info.device_type == wgpu::DeviceType::Cpu || info.name.to_lowercase().contains("llvmpipe")
    }

    /// Blocks until the GPU has finished everything this `Device` submitted, not other `Gpu`s'
    /// work on the shared device (in the browser, which cannot block, only the error check: work
    /// is awaited through `map_read_async`).
    pub fn wait(&self) -> Result<()> {
        #[cfg(not(target_arch = "wasm32"))]
        {
            let submission_index = self.last_submit.borrow().clone();
            // nothing submitted: a plain poll still runs callbacks (a map of an unused buffer)
            let poll = match submission_index {
                Some(i) => wgpu::PollType::Wait { submission_index: Some(i), timeout: None },
                None => wgpu::PollType::Poll,
            };
            self.shared.raw.poll(poll).map_err(|e| anyhow!("waiting for the GPU: {e}"))?;
        }
        self.check()
    }

    /// Errors wgpu reported since the last check for this thread's calls (every call of a `Gpu`
    /// runs on its own thread), or the device's loss, as an error.
    pub fn check(&self) -> Result<()> {
        if let Some(reason) = self.shared.lost.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            bail!("the GPU device was lost ({reason}); checkpoints on disk are intact, rerun with --resume");
        }
        let here = this_thread();
        let mine: Vec<String> = {
            let mut all = self.shared.errors.lock().unwrap_or_else(|e| e.into_inner());
            if all.is_empty() {
                return Ok(());
            }
            let (mine, others) = std::mem::take(&mut *all).into_iter().partition(|(t, _)| *t == here);
            *all = others;
            mine.into_iter().map(|(_, e)| e).collect()
        };
        if !mine.is_empty() {
            bail!("GPU error: {}", mine.join("; "));
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
