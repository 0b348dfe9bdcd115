//! The one error type of the crate: every failure names the file, row and
//! column (or the model and both hashes) so an operator can fix the input.

use std::path::PathBuf;

/// Errors returned by the forecasters.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No ONNX Runtime shared library could be found.
    #[error("ONNX Runtime library not found (looked in: {searched}); run scripts/setup or set ORT_DYLIB_PATH")]
    RuntimeNotFound {
        /// The places that were tried, in order.
        searched: String,
    },
    /// ONNX Runtime failed to load or to run a model.
    #[error("ONNX Runtime: {context}: {message}")]
    Runtime {
        /// What careflow was doing.
        context: String,
        /// ONNX Runtime's message.
        message: String,
    },
    /// A requested execution provider (CUDA) could not be used; no silent CPU fallback.
    #[error("execution provider {provider} unavailable: {message}")]
    ProviderUnavailable {
        /// Provider name as ONNX Runtime spells it.
        provider: String,
        /// Why it failed.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A CSV input file is malformed.
    #[error("{path}: row {row}, column {column}: {message}")]
    Data {
        /// The file.
        path: PathBuf,
        /// 1-based line number in the file (the header is line 1); 0 when the file as a whole is wrong.
        row: usize,
        /// Column name.
        column: String,
        /// What is wrong.
        message: String,
    },
    /// A model directory or card is malformed or does not match the code.
    #[error("model {path}: {message}")]
    Model {
        /// The model file or directory.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A model file's sha256 differs from the registry's.
    #[error("model file {path} has sha256 {actual} but the registry records {expected} for {name} {version}")]
    HashMismatch {
        /// The model file.
        path: PathBuf,
        /// Registry name.
        name: String,
        /// Registry version.
        version: String,
        /// Hash in the registry.
        expected: String,
        /// Hash of the file on disk.
        actual: String,
    },
    /// A model file is not the one the registry records (name or version differ).
    #[error("model registry: {0}")]
    Registry(String),
    /// A forecast request is invalid (e.g. zero horizon, wrong feature count).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn runtime(context: impl Into<String>, err: impl std::fmt::Display) -> Self {
        Error::Runtime {
            context: context.into(),
            message: err.to_string(),
        }
    }
}
