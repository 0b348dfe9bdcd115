//! ONNX Runtime session setup, owned in one place: finding and loading the
//! shared library (ort `load-dynamic`), threads, and the execution provider.
//!
//! careflow loads `libonnxruntime.so` from the PyPI `onnxruntime` wheel that
//! `scripts/setup` installs into `.tools/venv`, so no environment variable is
//! needed. With the `cuda` feature the CUDA execution provider is registered
//! with `error_on_failure`: if it cannot be used, session creation fails
//! instead of quietly running on the CPU, and every forecast records the
//! provider that ran.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;
use ort::session::Session;
use ort::value::TensorRef;

use crate::error::{Error, Result};

/// Which execution provider to run a model on.
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

/// Session options.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Intra-op threads; 1 is fastest for careflow's small models on few cores.
    pub intra_threads: usize,
    /// Execution provider.
    pub provider: Provider,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            intra_threads: 1,
            provider: Provider::Cpu,
        }
    }
}

const ENV_VAR: &str = "ORT_DYLIB_PATH";

/// Finds `libonnxruntime.so*`: `ORT_DYLIB_PATH` if set (and then only it), else
/// `.tools/venv` found by walking up from the executable's directory, the
/// current directory and this crate's source directory.
pub fn find_onnxruntime() -> Result<PathBuf> {
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
            let venv = dir.join(".tools").join("venv");
            if !venv.is_dir() {
                continue;
            }
            searched.push(venv.display().to_string());
            if let Some(lib) = lib_in_venv(&venv) {
                return Ok(lib);
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

fn lib_in_venv(venv: &Path) -> Option<PathBuf> {
    let lib = venv.join("lib");
    let mut pythons: Vec<PathBuf> = std::fs::read_dir(&lib)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
        .map(|e| e.path())
        .collect();
    pythons.sort();
    for py in pythons {
        let capi = py.join("site-packages").join("onnxruntime").join("capi");
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

/// Loads ONNX Runtime once per process and returns the library path used.
pub fn init() -> Result<&'static Path> {
    let env = ENVIRONMENT.get_or_init(|| {
        let path = find_onnxruntime().map_err(|e| e.to_string())?;
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

fn environment() -> Result<&'static Environment> {
    init()?;
    match ENVIRONMENT.get() {
        Some(Ok((_, env))) => Ok(env),
        _ => Err(Error::Runtime {
            context: "initialising".into(),
            message: "no environment".into(),
        }),
    }
}

/// One loaded ONNX model: `features` float32 `[N, F]` in, `output` float32 `[N, K]` out.
#[derive(Debug)]
pub struct OnnxModel {
    // ort's `run` needs `&mut Session`; the mutex lets one model serve many threads.
    session: Mutex<Session>,
    n_features: usize,
    n_outputs: usize,
    provider: Provider,
    path: PathBuf,
}

impl OnnxModel {
    /// Loads `path` with `opts`. Fails if the requested provider cannot be used.
    pub fn load(path: &Path, opts: &RuntimeOptions) -> Result<Self> {
        let env = environment()?;
        let ctx = |what: &str| format!("{what} for {}", path.display());
        let mut builder =
            Session::builder(env).map_err(|e| Error::runtime(ctx("session builder"), e))?;
        builder = builder
            .with_intra_threads(opts.intra_threads.max(1))
            .map_err(|e| Error::runtime(ctx("intra threads"), e))?;
        match opts.provider {
            Provider::Cpu => {}
            #[cfg(feature = "cuda")]
            Provider::Cuda { device_id } => {
                let ep = ort::ep::CUDA::default()
                    .with_device_id(device_id)
                    .build()
                    .error_on_failure();
                builder = builder.with_execution_providers([ep]).map_err(|e| {
                    Error::ProviderUnavailable {
                        provider: opts.provider.ort_name().into(),
                        message: e.to_string(),
                    }
                })?;
            }
            #[cfg(not(feature = "cuda"))]
            Provider::Cuda { .. } => {
                return Err(Error::ProviderUnavailable {
                    provider: opts.provider.ort_name().into(),
                    message: "careflow-forecasters was built without the `cuda` feature".into(),
                })
            }
        }
        let session = builder
            .commit_from_file(path)
            .map_err(|e| Error::runtime(ctx("loading model"), e))?;
        let dims = |outlets: &[ort::value::Outlet], which: &str| -> Result<usize> {
            let shape = outlets
                .first()
                .and_then(|o| o.dtype().tensor_shape())
                .ok_or_else(|| Error::Model {
                    path: path.into(),
                    message: format!("no tensor {which}"),
                })?;
            match shape.len() {
                2 if shape[1] > 0 => Ok(shape[1] as usize),
                _ => Err(Error::Model {
                    path: path.into(),
                    message: format!("{which} must be [N, F], found {shape:?}"),
                }),
            }
        };
        let n_features = dims(session.inputs(), "input")?;
        let n_outputs = dims(session.outputs(), "output")?;
        tracing::info!(model = %path.display(), provider = opts.provider.ort_name(), threads = opts.intra_threads, "model session ready");
        Ok(OnnxModel {
            session: Mutex::new(session),
            n_features,
            n_outputs,
            provider: opts.provider,
            path: path.into(),
        })
    }

    /// Number of input features per row.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Number of outputs per row.
    pub fn n_outputs(&self) -> usize {
        self.n_outputs
    }

    /// The execution provider the session runs on.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// Runs `rows` rows of row-major `features`; returns `rows * n_outputs` values.
    pub fn run(&self, features: &[f32], rows: usize) -> Result<Vec<f32>> {
        if features.len() != rows * self.n_features {
            return Err(Error::InvalidRequest(format!(
                "{} values for {rows} rows of {} features",
                features.len(),
                self.n_features
            )));
        }
        let ctx = || format!("running {}", self.path.display());
        let input = TensorRef::from_array_view(([rows, self.n_features], features))
            .map_err(|e| Error::runtime(ctx(), e))?;
        let mut session = self
            .session
            .lock()
            .map_err(|_| Error::runtime(ctx(), "session mutex poisoned"))?;
        let outputs = session
            .run(ort::inputs![input])
            .map_err(|e| Error::runtime(ctx(), e))?;
        let (_, data) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| Error::runtime(ctx(), e))?;
        if data.len() != rows * self.n_outputs {
            return Err(Error::runtime(
                ctx(),
                format!(
                    "expected {} outputs, got {}",
                    rows * self.n_outputs,
                    data.len()
                ),
            ));
        }
        Ok(data.to_vec())
    }
}
