//! ONNX Runtime session setup, owned in one place: finding and loading the
//! shared library (ort `load-dynamic`), threads, the execution provider, and how
//! many rows go to ONNX Runtime per call.
//!
//! careflow loads `libonnxruntime.so` from the PyPI `onnxruntime` wheel that
//! `scripts/setup` installs into `.tools/venv` (or, for a GPU, the
//! `onnxruntime-gpu` wheel `scripts/setup --gpu` installs into
//! `.tools/venv-gpu`), so no environment variable is needed.
//!
//! The device is configuration ([`Device`]): `cpu`; `cuda[:N]`, which refuses to
//! load a model when CUDA cannot be used and says why (never a silent fallback:
//! the provider is registered with ort's `error_on_failure`); or `auto`, which
//! runs a call on CUDA when CUDA works and the call has at least
//! [`RuntimeOptions::gpu_min_rows`] rows (below that the CPU is faster), else on
//! the CPU, logs why once per process, and records it in every forecast's
//! metadata. Every forecast names the provider that actually ran it.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;
use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::builder::SessionBuilder;
use ort::session::Session;
use ort::value::{Tensor, TensorRef};

use crate::error::{Error, Result};

/// Which execution provider ran (or will run) a call; recorded in every forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Provider {
    /// ONNX Runtime's CPU provider.
    #[default]
    Cpu,
    /// CUDA on the given device; needs the `cuda` feature and a CUDA build of ONNX Runtime.
    Cuda {
        /// CUDA device ordinal.
        device_id: i32,
    },
}

impl Provider {
    /// Name as ONNX Runtime reports it; recorded in every forecast's metadata.
    pub fn ort_name(self) -> &'static str {
        match self {
            Provider::Cpu => "CPUExecutionProvider",
            Provider::Cuda { .. } => "CUDAExecutionProvider",
        }
    }
}

/// Where forecasts are configured to run (`--forecast-device`, `CAREFLOW_FORECAST_DEVICE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// ONNX Runtime's CPU provider only.
    #[default]
    Cpu,
    /// CUDA device `device_id` only; loading a model fails, naming why, when CUDA cannot be used.
    Cuda {
        /// CUDA device ordinal.
        device_id: i32,
    },
    /// CUDA device 0 for calls of at least [`RuntimeOptions::gpu_min_rows`] rows when CUDA
    /// works; the CPU otherwise. Why the CPU ran is logged once and recorded per forecast.
    Auto,
}

impl std::str::FromStr for Device {
    type Err = Error;

    /// `auto`, `cpu`, `cuda` (device 0) or `cuda:N`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::InvalidRequest(format!(
                "forecast device {s:?}: expected auto, cpu, cuda or cuda:N (N a device number)"
            ))
        };
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Device::Auto),
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda { device_id: 0 }),
            other => match other.strip_prefix("cuda:").map(str::parse::<i32>) {
                Some(Ok(device_id)) if device_id >= 0 => Ok(Device::Cuda { device_id }),
                _ => Err(bad()),
            },
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Auto => f.write_str("auto"),
            Device::Cuda { device_id } => write!(f, "cuda:{device_id}"),
        }
    }
}

/// Rows per CPU call: 64 week-long series of ed-arrivals 1.2.0 (168 hour rows + 28 day
/// rows), the chunk the CPU path has always used; it bounds the feature buffer (~10 MB).
pub const CPU_CHUNK_ROWS: usize = 64 * (168 + 28);
/// Most rows per CUDA call, whatever the memory bound allows (~0.9 GB of 216 features).
pub const CUDA_MAX_CHUNK_ROWS: usize = 1 << 20;
/// Default of [`RuntimeOptions::device_memory_bytes`]: 2 GiB per CUDA session.
pub const DEFAULT_DEVICE_MEMORY_BYTES: usize = 2 << 30;

/// Session options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeOptions {
    /// Intra-op threads; 1 is fastest for careflow's small models on few cores.
    pub intra_threads: usize,
    /// Where forecasts run.
    pub device: Device,
    /// With [`Device::Auto`]: the smallest call (rows given to ONNX Runtime at once,
    /// summed over a batch) that runs on CUDA, as `scripts/gpu-check` measured it on the
    /// server; `None` (the default) sends no call to CUDA. No default threshold: on the
    /// one GPU measured so far (an NVIDIA H200, 2026-12-04; README "Forecasts on a GPU")
    /// CUDA was slower than the CPU at every size from 1 to 100,000 series, so any
    /// threshold not measured on the server itself could make forecasts slower.
    pub gpu_min_rows: Option<usize>,
    /// Bound on the device memory one CUDA session may take (ONNX Runtime's
    /// `gpu_mem_limit`); rows per CUDA call are sized so a call fits in half of it.
    pub device_memory_bytes: usize,
    /// Overrides the rows per call chosen for the provider (tests, measurements).
    pub max_rows_per_call: Option<usize>,
    /// Threads that build features and quantiles of a batch's calls in parallel (ONNX
    /// Runtime itself runs one call at a time per session); 1 keeps a batch on the
    /// caller's thread. With CUDA each thread's call is 1/threads of the CUDA chunk, so
    /// the pinned host memory in flight stays that of one chunk.
    pub batch_threads: usize,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            intra_threads: 1,
            device: Device::Cpu,
            gpu_min_rows: None,
            device_memory_bytes: DEFAULT_DEVICE_MEMORY_BYTES,
            max_rows_per_call: None,
            batch_threads: 1,
        }
    }
}

impl RuntimeOptions {
    /// Default options on `device`.
    pub fn on(device: Device) -> Self {
        RuntimeOptions {
            device,
            ..RuntimeOptions::default()
        }
    }
}

const ENV_VAR: &str = "ORT_DYLIB_PATH";
/// The virtualenv `scripts/setup` installs (CPU `onnxruntime` wheel).
const CPU_VENV: &str = "venv";
/// The virtualenv `scripts/setup --gpu` installs (`onnxruntime-gpu` + NVIDIA runtime wheels).
const GPU_VENV: &str = "venv-gpu";

/// Finds the CPU `libonnxruntime.so*`: `ORT_DYLIB_PATH` if set (and then only it), else
/// `.tools/venv` found by walking up from the executable's directory, the current
/// directory and this crate's source directory.
pub fn find_onnxruntime() -> Result<PathBuf> {
    find_onnxruntime_in(&[CPU_VENV])
}

/// Finds the library for `device`: as [`find_onnxruntime`], but for `cuda` and `auto`
/// a `.tools/venv-gpu` (the GPU build, which has the CPU provider too) is preferred
/// at each level of the walk.
pub fn find_onnxruntime_for(device: Device) -> Result<PathBuf> {
    match device {
        Device::Cpu => find_onnxruntime_in(&[CPU_VENV]),
        Device::Cuda { .. } | Device::Auto => find_onnxruntime_in(&[GPU_VENV, CPU_VENV]),
    }
}

fn find_onnxruntime_in(venvs: &[&str]) -> Result<PathBuf> {
    let mut searched = Vec::new();
    if let Some(p) = std::env::var_os(ENV_VAR) {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        // An explicit setting that is wrong must not be papered over by another library.
        return Err(Error::RuntimeNotFound {
            searched: format!("{ENV_VAR}={} (not a file)", p.display()),
        });
    }
    let mut starts = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            starts.push(dir.to_path_buf());
        }
    }
    if let Ok(cwd) = std::env::current_dir() {
        starts.push(cwd);
    }
    // The crate's own location covers `cargo test` run from anywhere in the workspace.
    starts.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    for start in starts {
        for dir in start.ancestors() {
            for name in venvs {
                let venv = dir.join(".tools").join(name);
                if !venv.is_dir() {
                    continue;
                }
                searched.push(venv.display().to_string());
                if let Some(lib) = lib_in_venv(&venv) {
                    return Ok(lib);
                }
            }
        }
    }
    if searched.is_empty() {
        searched.push("no .tools/venv above the executable or the current directory".into());
    }
    Err(Error::RuntimeNotFound {
        searched: searched.join(", "),
    })
}

fn site_packages(venv: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(venv.join("lib")) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
        .map(|e| e.path().join("site-packages"))
        .collect();
    v.sort();
    v
}

fn lib_in_venv(venv: &Path) -> Option<PathBuf> {
    for site in site_packages(venv) {
        let capi = site.join("onnxruntime").join("capi");
        let Ok(entries) = std::fs::read_dir(&capi) else {
            continue;
        };
        let mut libs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .map(|n| n.to_string_lossy().starts_with("libonnxruntime.so"))
                    .unwrap_or(false)
            })
            .collect();
        // The versioned file (libonnxruntime.so.1.31.1) is the real library; prefer the longest name.
        libs.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
        if let Some(l) = libs.into_iter().next() {
            return Some(l);
        }
    }
    None
}

static ENVIRONMENT: OnceLock<std::result::Result<(PathBuf, Environment), String>> = OnceLock::new();

/// Loads ONNX Runtime (the CPU library unless another was loaded first) once per
/// process and returns the library path used.
pub fn init() -> Result<&'static Path> {
    init_for(Device::Cpu)
}

/// Loads ONNX Runtime once per process, the library chosen for `device` by
/// [`find_onnxruntime_for`] (the first call decides), and returns its path.
pub fn init_for(device: Device) -> Result<&'static Path> {
    let env = ENVIRONMENT.get_or_init(|| {
        let path = find_onnxruntime_for(device).map_err(|e| e.to_string())?;
        let env = ort::init_from(&path)
            .map_err(|e| format!("loading {}: {e}", path.display()))?
            .with_name("careflow")
            .build()
            .map_err(|e| format!("creating environment from {}: {e}", path.display()))?;
        tracing::info!(library = %path.display(), "ONNX Runtime loaded");
        Ok((path, env))
    });
    match env {
        Ok((p, _)) => Ok(p.as_path()),
        Err(m) => Err(Error::Runtime {
            context: "initialising".into(),
            message: m.clone(),
        }),
    }
}

fn environment(device: Device) -> Result<&'static Environment> {
    init_for(device)?;
    match ENVIRONMENT.get() {
        Some(Ok((_, env))) => Ok(env),
        _ => Err(Error::Runtime {
            context: "initialising".into(),
            message: "no environment".into(),
        }),
    }
}

/// The name ONNX Runtime lists for its CUDA provider; asks the loaded library whether it
/// was built with it (also in builds without ort's `cuda` feature, which lack `ep::CUDA`).
struct CudaProviderName;

impl ort::ep::ExecutionProvider for CudaProviderName {
    const NAME: &'static str = "CUDAExecutionProvider";

    fn register(&self, _: &mut SessionBuilder) -> ort::Result<()> {
        Err(ort::Error::new(
            "careflow only asks whether CUDA is available",
        ))
    }
}

/// What the NVIDIA kernel driver shows under `root` (`/` on a real machine): used to
/// say why CUDA failed, never to refuse it (ONNX Runtime's own attempt decides).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverFacts {
    /// `/proc/driver/nvidia/version`, first line, when the driver is loaded.
    pub driver: Option<String>,
    /// GPUs the driver lists under `/proc/driver/nvidia/gpus/`.
    pub gpus: usize,
}

impl DriverFacts {
    /// Reads the facts under `root`.
    pub fn read(root: &Path) -> DriverFacts {
        let proc = root.join("proc/driver/nvidia");
        let driver = std::fs::read_to_string(proc.join("version"))
            .ok()
            .map(|v| v.lines().next().unwrap_or("").trim().to_string());
        let gpus = std::fs::read_dir(proc.join("gpus"))
            .map(|d| d.filter_map(|e| e.ok()).count())
            .unwrap_or(0);
        DriverFacts { driver, gpus }
    }

    /// What rules device `device_id` out, if anything ("no driver", "no device").
    pub fn obstacle(&self, device_id: i32) -> Option<String> {
        match &self.driver {
            None => Some(
                "no NVIDIA driver: /proc/driver/nvidia/version is absent (the kernel driver is not loaded, or this container was started without the GPU)"
                    .into(),
            ),
            Some(_) if self.gpus == 0 => {
                Some("no CUDA device: the NVIDIA driver lists no GPU".into())
            }
            Some(_) if device_id as usize >= self.gpus => Some(format!(
                "no CUDA device {device_id}: the NVIDIA driver lists {} GPU(s) (0..{})",
                self.gpus,
                self.gpus - 1
            )),
            Some(_) => None,
        }
    }
}

/// Why CUDA device `device_id` cannot be used by this process, as far as can be told
/// without trying: what rules it out for certain (the build, the loaded library's
/// providers, the provider library beside it), then what the driver shows ("no
/// driver", "no device"; a hint only: some GPU containers hide /proc/driver/nvidia).
/// Empty when nothing speaks against it (then only trying tells).
pub fn cuda_obstacles(device_id: i32) -> Vec<String> {
    let mut why = certain_cuda_obstacles(device_id);
    why.extend(DriverFacts::read(Path::new("/")).obstacle(device_id));
    why
}

/// What rules CUDA out for certain, before ONNX Runtime is asked to register it.
fn certain_cuda_obstacles(device_id: i32) -> Vec<String> {
    let mut why = Vec::new();
    if !cfg!(feature = "cuda") {
        why.push(
            "careflow was built without the `cuda` feature (build with `--features cuda`)".into(),
        );
    }
    match init_for(Device::Cuda { device_id }) {
        Err(e) => why.push(format!("library not found: {e}")),
        Ok(lib) => {
            let listed = <CudaProviderName as ort::ep::ExecutionProvider>::is_available();
            match listed {
                Ok(true) => {
                    let provider_lib = lib.with_file_name("libonnxruntime_providers_cuda.so");
                    if !provider_lib.is_file() {
                        why.push(format!(
                            "library not found: {} (the CUDA provider of this ONNX Runtime)",
                            provider_lib.display()
                        ));
                    }
                }
                Ok(false) => why.push(format!(
                    "library not found: the loaded ONNX Runtime {} is a CPU-only build (CUDAExecutionProvider is not among its providers); install onnxruntime-gpu with `scripts/setup --gpu` or point ORT_DYLIB_PATH at its libonnxruntime.so",
                    lib.display()
                )),
                Err(e) => why.push(format!("asking ONNX Runtime for its providers: {e}")),
            }
        }
    }
    why
}

/// Names the kind of a CUDA failure ONNX Runtime reported.
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
fn classify_cuda_failure(message: &str) -> String {
    let message = message.trim();
    let m = message.to_ascii_lowercase();
    let kind = if m.contains("cannot open shared object") || m.contains("no such file") {
        "library not found"
    } else if m.contains("no cuda-capable device") || m.contains("invalid device ordinal") {
        "no CUDA device"
    } else if m.contains("driver") {
        "no usable NVIDIA driver"
    } else {
        "CUDA provider failed to register"
    };
    format!("{kind}: {message}")
}

/// Why CUDA is not used, per device, as first found in this process: each model load
/// under `auto` then neither retries nor logs it again.
fn cuda_failures() -> &'static Mutex<HashMap<i32, String>> {
    static F: OnceLock<Mutex<HashMap<i32, String>>> = OnceLock::new();
    F.get_or_init(Default::default)
}

/// Logs `message` once per process (as information when `expected`, else as a warning).
fn log_once(message: &str, expected: bool) {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let mut seen = SEEN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if seen.insert(message.to_string()) {
        if expected {
            tracing::info!(target: "careflow_forecasters::runtime", "{message}");
        } else {
            tracing::warn!(target: "careflow_forecasters::runtime", "{message}");
        }
    }
}

/// Makes the NVIDIA runtime libraries of the `nvidia-*` wheels beside the loaded
/// `onnxruntime-gpu` wheel loadable by its CUDA provider (which has no RUNPATH to
/// them), in dependency order, so a server needs no system CUDA and no
/// LD_LIBRARY_PATH. Libraries already found by the system loader are left alone.
#[cfg(feature = "cuda")]
fn preload_nvidia_wheels(lib: &Path) {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        // .../site-packages/onnxruntime/capi/libonnxruntime.so.X -> .../site-packages/nvidia
        let Some(nvidia) = lib.ancestors().nth(3).map(|site| site.join("nvidia")) else {
            return;
        };
        let Ok(packages) = std::fs::read_dir(&nvidia) else {
            return;
        };
        let mut libs: Vec<PathBuf> = packages
            .filter_map(|e| e.ok())
            .filter_map(|p| std::fs::read_dir(p.path().join("lib")).ok())
            .flatten()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().contains(".so"))
            .collect();
        // Dependencies first: the runtime, cuBLASLt before cuBLAS, cuDNN's parts after it.
        const ORDER: [&str; 9] = [
            "libcudart", "libnvrtc", "libcublasLt", "libcublas", "libcurand", "libcufft",
            "libnvJitLink", "libcudnn.", "libcudnn",
        ];
        let rank = |p: &PathBuf| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            let name = name.unwrap_or_default();
            ORDER
                .iter()
                .position(|o| name.starts_with(o))
                .unwrap_or(ORDER.len())
        };
        libs.retain(|p| rank(p) < ORDER.len());
        libs.sort_by_key(|p| (rank(p), p.clone()));
        for l in libs {
            match ort::util::preload_dylib(&l) {
                Ok(()) => tracing::debug!(library = %l.display(), "preloaded NVIDIA library"),
                Err(e) => tracing::debug!(library = %l.display(), error = %e, "NVIDIA library not preloaded"),
            }
        }
    });
}

/// How one call is run: the provider, rows per ONNX Runtime call, and (with
/// [`Device::Auto`]) why that provider was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunPlan {
    /// The provider that runs the call.
    pub provider: Provider,
    /// Rows given to ONNX Runtime at once.
    pub chunk_rows: usize,
    /// Why `auto` chose this provider (`None` for `cpu` and `cuda`).
    pub note: Option<String>,
}

#[derive(Debug)]
struct CudaSession {
    session: Mutex<Session>,
    device_id: i32,
    chunk_rows: usize,
}

/// One loaded ONNX model: `features` float32 `[N, F]` in, `output` float32 `[N, K]` out,
/// on the sessions its [`Device`] needs (a CPU one, a CUDA one, or both for `auto`).
#[derive(Debug)]
pub struct OnnxModel {
    // ort's `run` needs `&mut Session`; the mutex lets one model serve many threads.
    cpu: Option<Mutex<Session>>,
    cuda: Option<CudaSession>,
    /// Under `auto` without a CUDA session: why.
    cuda_unavailable: Option<String>,
    device: Device,
    gpu_min_rows: Option<usize>,
    cpu_chunk_rows: usize,
    batch_threads: usize,
    n_features: usize,
    n_outputs: usize,
    input_name: String,
    output_name: String,
    path: PathBuf,
}

impl OnnxModel {
    /// Loads `path` with `opts`. Fails, saying why, if the device asked for cannot be used.
    pub fn load(path: &Path, opts: &RuntimeOptions) -> Result<Self> {
        let env = environment(opts.device)?;
        let (cpu, cuda, cuda_unavailable) = match opts.device {
            Device::Cpu => (Some(cpu_session(env, path, opts)?), None, None),
            Device::Cuda { device_id } => {
                let s = cuda_session(env, path, opts, device_id).map_err(|message| {
                    Error::ProviderUnavailable {
                        provider: format!(
                            "{} (device cuda:{device_id})",
                            Provider::Cuda { device_id }.ort_name()
                        ),
                        message,
                    }
                })?;
                (None, Some(s), None)
            }
            Device::Auto => {
                let cpu = cpu_session(env, path, opts)?;
                let known = cuda_failures()
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&0)
                    .cloned();
                let cuda = match known {
                    Some(why) => Err(why),
                    None => cuda_session(env, path, opts, 0),
                };
                match cuda {
                    Ok(s) => (Some(cpu), Some(s), None),
                    Err(why) => {
                        cuda_failures()
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .entry(0)
                            .or_insert_with(|| why.clone());
                        log_once(
                            &format!("forecast device auto: CUDA is not used, forecasts run on the CPU: {why}"),
                            // A build without the feature is a deliberate CPU install.
                            !cfg!(feature = "cuda"),
                        );
                        (Some(cpu), None, Some(why))
                    }
                }
            }
        };
        let any = cuda
            .as_ref()
            .map(|c| &c.session)
            .or(cpu.as_ref())
            .expect("a session");
        let (n_features, n_outputs, input_name, output_name) = {
            let s = any
                .lock()
                .map_err(|_| Error::runtime("loading", "session mutex poisoned"))?;
            let dims = |outlets: &[ort::value::Outlet], which: &str| -> Result<(usize, String)> {
                let outlet = outlets.first().ok_or_else(|| Error::Model {
                    path: path.into(),
                    message: format!("no {which}"),
                })?;
                let shape = outlet.dtype().tensor_shape().ok_or_else(|| Error::Model {
                    path: path.into(),
                    message: format!("no tensor {which}"),
                })?;
                match shape.len() {
                    2 if shape[1] > 0 => Ok((shape[1] as usize, outlet.name().to_string())),
                    _ => Err(Error::Model {
                        path: path.into(),
                        message: format!("{which} must be [N, F], found {shape:?}"),
                    }),
                }
            };
            let (f, i) = dims(s.inputs(), "input")?;
            let (k, o) = dims(s.outputs(), "output")?;
            (f, k, i, o)
        };
        let mut model = OnnxModel {
            cpu,
            cuda,
            cuda_unavailable,
            device: opts.device,
            gpu_min_rows: opts.gpu_min_rows.map(|n| n.max(1)),
            cpu_chunk_rows: opts.max_rows_per_call.unwrap_or(CPU_CHUNK_ROWS).max(1),
            batch_threads: opts.batch_threads.max(1),
            n_features,
            n_outputs,
            input_name,
            output_name,
            path: path.into(),
        };
        // A call's input, output and ONNX Runtime's intermediate [N, K] tensors must fit in
        // half the device memory bound (the arena rounds allocations up).
        let bytes_per_row = 4 * (n_features + 3 * n_outputs);
        let fits = (opts.device_memory_bytes / 2 / bytes_per_row).max(1);
        if let Some(c) = model.cuda.as_mut() {
            c.chunk_rows = opts
                .max_rows_per_call
                .unwrap_or(CUDA_MAX_CHUNK_ROWS.min(fits) / opts.batch_threads.max(1))
                .max(1);
        }
        tracing::info!(model = %path.display(), device = %opts.device, cpu = model.cpu.is_some(), cuda = model.cuda.is_some(), threads = opts.intra_threads, "model session ready");
        Ok(model)
    }

    /// Number of input features per row.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Number of outputs per row.
    pub fn n_outputs(&self) -> usize {
        self.n_outputs
    }

    /// Threads a batch's calls are spread over ([`RuntimeOptions::batch_threads`]).
    pub fn batch_threads(&self) -> usize {
        self.batch_threads
    }

    /// The device the model was loaded for.
    pub fn device(&self) -> Device {
        self.device
    }

    /// The provider of a small call: CUDA for `cuda`, the CPU otherwise.
    pub fn provider(&self) -> Provider {
        match (&self.cpu, &self.cuda) {
            (None, Some(c)) => Provider::Cuda {
                device_id: c.device_id,
            },
            _ => Provider::Cpu,
        }
    }

    /// Under `auto`, why this model has no CUDA session (`None` when it has one, or for
    /// `cpu` and `cuda`).
    pub fn cuda_unavailable(&self) -> Option<&str> {
        self.cuda_unavailable.as_deref()
    }

    /// How a call of `rows` rows in all is run.
    pub fn plan(&self, rows: usize) -> RunPlan {
        let cpu = |note: Option<String>| RunPlan {
            provider: Provider::Cpu,
            chunk_rows: self.cpu_chunk_rows,
            note,
        };
        match (&self.cpu, &self.cuda) {
            (Some(_), None) if self.device == Device::Auto => cpu(Some(format!(
                "auto: CUDA unavailable, ran on the CPU: {}",
                self.cuda_unavailable
                    .as_deref()
                    .unwrap_or("no CUDA session")
            ))),
            (Some(_), None) => cpu(None),
            (None, Some(c)) => RunPlan {
                provider: Provider::Cuda {
                    device_id: c.device_id,
                },
                chunk_rows: c.chunk_rows,
                note: None,
            },
            (Some(_), Some(c)) => match self.gpu_min_rows {
                Some(min) if rows >= min => RunPlan {
                    provider: Provider::Cuda {
                        device_id: c.device_id,
                    },
                    chunk_rows: c.chunk_rows,
                    note: Some(format!(
                        "auto: {rows} rows, at least the GPU threshold of {min}: ran on CUDA"
                    )),
                },
                Some(min) => cpu(Some(format!(
                    "auto: {rows} rows, below the GPU threshold of {min}: ran on the CPU"
                ))),
                None => cpu(Some(
                    "auto: no GPU threshold set (--forecast-gpu-min-rows, measured by scripts/gpu-check): ran on the CPU"
                        .to_string(),
                )),
            },
            (None, None) => unreachable!("a model has a session"),
        }
    }

    /// Runs `rows` rows of row-major `features` (in chunks sized for the provider
    /// [`OnnxModel::plan`] chooses); returns `rows * n_outputs` values.
    pub fn run(&self, features: &[f32], rows: usize) -> Result<Vec<f32>> {
        if features.len() != rows * self.n_features {
            return Err(Error::InvalidRequest(format!(
                "{} values for {rows} rows of {} features",
                features.len(),
                self.n_features
            )));
        }
        let plan = self.plan(rows);
        let mut out = Vec::with_capacity(rows * self.n_outputs);
        for chunk in features.chunks(plan.chunk_rows * self.n_features) {
            let n = chunk.len() / self.n_features;
            let values = match plan.provider {
                Provider::Cpu => self.run_plain(self.cpu_session()?, chunk, n)?,
                Provider::Cuda { .. } => self.run_bound(plan.provider, n, |buf| {
                    buf.copy_from_slice(chunk);
                    Ok(())
                })?,
            };
            out.extend_from_slice(&values);
        }
        Ok(out)
    }

    /// Runs one call of `rows` rows on `provider`, the input written by `fill` into a
    /// zeroed `[rows, F]` buffer: on the CPU a reused host buffer, on CUDA pinned host
    /// memory bound to the session (IO binding), so the features are written once and
    /// copied to the device by DMA. `rows` should not exceed the plan's `chunk_rows`.
    pub fn run_filled(
        &self,
        provider: Provider,
        rows: usize,
        fill: impl FnOnce(&mut [f32]) -> Result<()>,
    ) -> Result<Vec<f32>> {
        match provider {
            Provider::Cpu => {
                // A week of features is 140 kB, above glibc's mmap threshold: reusing the
                // buffer per thread avoids an mmap/munmap and page faults on every call.
                let mut buf = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
                buf.clear();
                buf.resize(rows * self.n_features, 0.0);
                let result =
                    fill(&mut buf).and_then(|()| self.run_plain(self.cpu_session()?, &buf, rows));
                SCRATCH.with(|s| *s.borrow_mut() = buf);
                result
            }
            Provider::Cuda { .. } => {
                // The features are built at most once: a binding that fails before `fill`
                // ran (no pinned allocator in this ONNX Runtime build) leaves it for a
                // plain run on the same CUDA session, which copies from pageable memory.
                let mut fill = Some(fill);
                let bound = self.run_bound(provider, rows, |buf| {
                    (fill.take().expect("fill runs once"))(buf)
                });
                match (bound, fill) {
                    (Ok(v), _) => Ok(v),
                    (Err(e), Some(fill)) => {
                        log_once(
                            &format!(
                                "IO binding with pinned memory unavailable, plain CUDA runs: {e}"
                            ),
                            false,
                        );
                        let mut buf = vec![0.0; rows * self.n_features];
                        fill(&mut buf)?;
                        let cuda = &self
                            .cuda
                            .as_ref()
                            .ok_or_else(|| Error::runtime("running", "no CUDA session"))?
                            .session;
                        self.run_plain(cuda, &buf, rows)
                    }
                    (Err(e), None) => Err(e),
                }
            }
        }
    }

    /// As [`OnnxModel::run_filled`] on the CPU session, but through IO binding with
    /// host tensors from the session's allocator: the code path CUDA takes, with CPU
    /// memory, so it is tested without a GPU.
    pub fn run_bound_on_cpu(
        &self,
        rows: usize,
        fill: impl FnOnce(&mut [f32]) -> Result<()>,
    ) -> Result<Vec<f32>> {
        self.run_bound(Provider::Cpu, rows, fill)
    }

    fn cpu_session(&self) -> Result<&Mutex<Session>> {
        self.cpu.as_ref().ok_or_else(|| {
            Error::runtime(
                format!("running {}", self.path.display()),
                "this model was loaded for CUDA only",
            )
        })
    }

    fn run_plain(
        &self,
        session: &Mutex<Session>,
        features: &[f32],
        rows: usize,
    ) -> Result<Vec<f32>> {
        let ctx = || format!("running {}", self.path.display());
        let input = TensorRef::from_array_view(([rows, self.n_features], features))
            .map_err(|e| Error::runtime(ctx(), e))?;
        let mut session = session
            .lock()
            .map_err(|_| Error::runtime(ctx(), "session mutex poisoned"))?;
        let outputs = session
            .run(ort::inputs![input])
            .map_err(|e| Error::runtime(ctx(), e))?;
        let (_, data) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| Error::runtime(ctx(), e))?;
        self.check_len(data.len(), rows)?;
        Ok(data.to_vec())
    }

    fn run_bound(
        &self,
        provider: Provider,
        rows: usize,
        fill: impl FnOnce(&mut [f32]) -> Result<()>,
    ) -> Result<Vec<f32>> {
        let ctx = || format!("running {} on {}", self.path.display(), provider.ort_name());
        let (session, device, device_id, input_kind, output_kind) = match provider {
            Provider::Cpu => (
                self.cpu_session()?,
                AllocationDevice::CPU,
                0,
                MemoryType::Default,
                MemoryType::Default,
            ),
            Provider::Cuda { device_id } => (
                &self
                    .cuda
                    .as_ref()
                    .ok_or_else(|| Error::runtime(ctx(), "no CUDA session"))?
                    .session,
                AllocationDevice::CUDA_PINNED,
                device_id,
                MemoryType::CPUInput,
                MemoryType::CPUOutput,
            ),
        };
        let lock = || {
            session
                .lock()
                .map_err(|_| Error::runtime(ctx(), "session mutex poisoned"))
        };
        let mem = |kind| {
            MemoryInfo::new(device.clone(), device_id, AllocatorType::Device, kind)
                .map_err(|e| Error::runtime(ctx(), e))
        };
        // The session is held only to allocate and to run: other threads of a batch
        // write their features meanwhile (the tensor keeps its allocator alive).
        let mut input = {
            let session = lock()?;
            let input_alloc =
                Allocator::new(&session, mem(input_kind)?).map_err(|e| Error::runtime(ctx(), e))?;
            Tensor::<f32>::new(&input_alloc, [rows, self.n_features])
                .map_err(|e| Error::runtime(ctx(), e))?
        };
        {
            // Allocator memory is uninitialised; the feature writers expect zeros.
            let (_, data) = input
                .try_extract_tensor_mut()
                .map_err(|e| Error::runtime(ctx(), e))?;
            data.fill(0.0);
            fill(data)?;
        }
        let mut session = lock()?;
        let mut binding = session
            .create_binding()
            .map_err(|e| Error::runtime(ctx(), e))?;
        binding
            .bind_input(&self.input_name, &input)
            .map_err(|e| Error::runtime(ctx(), e))?;
        binding
            .bind_output_to_device(&self.output_name, &mem(output_kind)?)
            .map_err(|e| Error::runtime(ctx(), e))?;
        let outputs = session
            .run_binding(&binding)
            .map_err(|e| Error::runtime(ctx(), e))?;
        let (_, data) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| Error::runtime(ctx(), e))?;
        self.check_len(data.len(), rows)?;
        Ok(data.to_vec())
    }

    fn check_len(&self, got: usize, rows: usize) -> Result<()> {
        if got != rows * self.n_outputs {
            return Err(Error::runtime(
                format!("running {}", self.path.display()),
                format!("expected {} outputs, got {got}", rows * self.n_outputs),
            ));
        }
        Ok(())
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn cpu_session(env: &Environment, path: &Path, opts: &RuntimeOptions) -> Result<Mutex<Session>> {
    let ctx = |what: &str| format!("{what} for {}", path.display());
    let session = Session::builder(env)
        .map_err(|e| Error::runtime(ctx("session builder"), e))?
        .with_intra_threads(opts.intra_threads.max(1))
        .map_err(|e| Error::runtime(ctx("intra threads"), e))?
        .commit_from_file(path)
        .map_err(|e| Error::runtime(ctx("loading model"), e))?;
    Ok(Mutex::new(session))
}

/// A CUDA session on `device_id`, or every reason found why there cannot be one.
fn cuda_session(
    env: &Environment,
    path: &Path,
    opts: &RuntimeOptions,
    device_id: i32,
) -> std::result::Result<CudaSession, String> {
    if !certain_cuda_obstacles(device_id).is_empty() {
        return Err(cuda_obstacles(device_id).join("; "));
    }
    cuda_session_registered(env, path, opts, device_id)
}

#[cfg(feature = "cuda")]
fn cuda_session_registered(
    env: &Environment,
    path: &Path,
    opts: &RuntimeOptions,
    device_id: i32,
) -> std::result::Result<CudaSession, String> {
    if let Ok(lib) = init_for(Device::Cuda { device_id }) {
        preload_nvidia_wheels(lib);
    }
    let facts = || {
        DriverFacts::read(Path::new("/"))
            .obstacle(device_id)
            .map(|o| format!("; {o}"))
            .unwrap_or_default()
    };
    let ep = ort::ep::CUDA::default()
        .with_device_id(device_id)
        .with_memory_limit(opts.device_memory_bytes)
        // TF32 would round the features' products to 10 bits: outputs must match the CPU's.
        .with_tf32(false)
        .build()
        .error_on_failure();
    let failed = |e: &dyn fmt::Display| classify_cuda_failure(&e.to_string()) + &facts();
    let session = Session::builder(env)
        .map_err(|e| failed(&e))?
        .with_intra_threads(opts.intra_threads.max(1))
        .map_err(|e| failed(&e))?
        .with_execution_providers([ep])
        .map_err(|e| failed(&e))?
        .commit_from_file(path)
        .map_err(|e| failed(&e))?;
    Ok(CudaSession {
        session: Mutex::new(session),
        device_id,
        chunk_rows: CUDA_MAX_CHUNK_ROWS,
    })
}

#[cfg(not(feature = "cuda"))]
fn cuda_session_registered(
    _: &Environment,
    _: &Path,
    _: &RuntimeOptions,
    _: i32,
) -> std::result::Result<CudaSession, String> {
    // cuda_obstacles always names the missing feature, so this is not reached.
    Err("careflow was built without the `cuda` feature".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_and_print() {
        for (s, d) in [
            ("auto", Device::Auto),
            ("cpu", Device::Cpu),
            ("CUDA", Device::Cuda { device_id: 0 }),
            ("cuda:3", Device::Cuda { device_id: 3 }),
        ] {
            assert_eq!(s.parse::<Device>().unwrap(), d, "{s}");
        }
        assert_eq!(Device::Cuda { device_id: 2 }.to_string(), "cuda:2");
        for bad in ["gpu", "cuda:", "cuda:-1", "cuda:x", ""] {
            let e = bad.parse::<Device>().unwrap_err().to_string();
            assert!(
                e.contains(&format!("{bad:?}")) && e.contains("auto, cpu, cuda"),
                "{e}"
            );
        }
    }

    #[test]
    fn driver_facts_say_no_driver_no_device_or_a_missing_ordinal() {
        let root = tempfile::tempdir().unwrap();
        let facts = DriverFacts::read(root.path());
        assert_eq!(facts.driver, None);
        assert!(facts.obstacle(0).unwrap().starts_with("no NVIDIA driver"));

        let proc = root.path().join("proc/driver/nvidia");
        std::fs::create_dir_all(proc.join("gpus")).unwrap();
        std::fs::write(
            proc.join("version"),
            "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.65.06\nGCC version: 12\n",
        )
        .unwrap();
        let facts = DriverFacts::read(root.path());
        assert!(facts.driver.as_deref().unwrap().contains("580.65.06"));
        assert_eq!(
            facts.obstacle(0).as_deref(),
            Some("no CUDA device: the NVIDIA driver lists no GPU")
        );

        std::fs::create_dir(proc.join("gpus/0000:19:00.0")).unwrap();
        let facts = DriverFacts::read(root.path());
        assert_eq!(facts.obstacle(0), None);
        let e = facts.obstacle(1).unwrap();
        assert!(
            e.starts_with("no CUDA device 1") && e.contains("1 GPU(s)"),
            "{e}"
        );
    }

    #[test]
    fn cuda_failures_are_named_by_kind() {
        for (m, kind) in [
            (
                "libcublasLt.so.12: cannot open shared object file: No such file or directory",
                "library not found",
            ),
            (
                "CUDA failure 100: no CUDA-capable device is detected",
                "no CUDA device",
            ),
            (
                "CUDA driver version is insufficient for CUDA runtime version",
                "no usable NVIDIA driver",
            ),
            ("something else", "CUDA provider failed to register"),
        ] {
            let c = classify_cuda_failure(m);
            assert!(c.starts_with(kind) && c.ends_with(m), "{c}");
        }
    }
}
