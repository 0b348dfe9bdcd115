//! Model bundles on disk: `models/<name>/<version>/{model.onnx, card.json}`.
//! The card records the sha256 of the .onnx; loading checks it so a model
//! that was edited or half-copied never serves forecasts.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// What a card must contain (the rest is free-form documentation).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CardHeader {
    /// Model name, e.g. `ed-arrivals`.
    pub name: String,
    /// Model version, e.g. `1.0.0`.
    pub version: String,
    /// sha256 of the .onnx file, lowercase hex.
    pub sha256: String,
    /// File name of the .onnx next to the card.
    #[serde(default = "default_onnx")]
    pub onnx_file: String,
}

fn default_onnx() -> String {
    "model.onnx".into()
}

/// A model directory that has been read and checked.
#[derive(Debug, Clone)]
pub struct ModelBundle {
    /// Card fields careflow relies on.
    pub header: CardHeader,
    /// The whole card as JSON text.
    pub card_json: String,
    /// Path of the .onnx file.
    pub onnx_path: PathBuf,
}

impl ModelBundle {
    /// `features.names` from the card: the model's input layout, checked by each forecaster.
    pub fn feature_names(&self) -> Result<Vec<String>> {
        let card: serde_json::Value =
            serde_json::from_str(&self.card_json).map_err(|e| Error::Model {
                path: self.onnx_path.clone(),
                message: format!("bad card: {e}"),
            })?;
        card.pointer("/features/names")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|n| n.as_str().map(String::from))
                    .collect()
            })
            .ok_or_else(|| Error::Model {
                path: self.onnx_path.clone(),
                message: "card has no features.names".into(),
            })
    }

    /// Checks the card's name and that the loaded model matches the feature layout.
    pub(crate) fn check(
        &self,
        name: &str,
        model: &crate::runtime::OnnxModel,
        n_outputs: usize,
    ) -> Result<Vec<String>> {
        if self.header.name != name {
            return Err(Error::Model {
                path: self.onnx_path.clone(),
                message: format!("is model {:?}, expected {name:?}", self.header.name),
            });
        }
        let names = self.feature_names()?;
        if model.n_features() != names.len() || model.n_outputs() != n_outputs {
            return Err(Error::Model {
                path: self.onnx_path.clone(),
                message: format!(
                    "takes {} features and gives {} outputs; the card lists {} features and this code expects {n_outputs} outputs",
                    model.n_features(),
                    model.n_outputs(),
                    names.len()
                ),
            });
        }
        Ok(names)
    }
}

/// sha256 of a file as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.into(),
        source,
    })?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

impl ModelBundle {
    /// Reads `dir/card.json`, checks that the .onnx hash matches the card.
    pub fn open(dir: &Path) -> Result<Self> {
        let card_path = dir.join("card.json");
        let card_json = std::fs::read_to_string(&card_path).map_err(|source| Error::Io {
            path: card_path.clone(),
            source,
        })?;
        let header: CardHeader = serde_json::from_str(&card_json).map_err(|e| Error::Model {
            path: card_path.clone(),
            message: format!("bad card: {e}"),
        })?;
        let onnx_path = dir.join(&header.onnx_file);
        let actual = sha256_file(&onnx_path)?;
        if actual != header.sha256 {
            return Err(Error::HashMismatch {
                path: onnx_path,
                name: header.name.clone(),
                version: header.version.clone(),
                expected: header.sha256.clone(),
                actual,
            });
        }
        Ok(ModelBundle {
            header,
            card_json,
            onnx_path,
        })
    }
}

/// Opens the registered model `name` `version` from `dir` and checks that it is the
/// file the registry recorded: the same name and version on its card and the same
/// sha256 as `registered_sha256`. A model whose file changed after registration is
/// refused, naming the file and both hashes.
pub fn open_verified(
    dir: &Path,
    name: &str,
    version: &str,
    registered_sha256: &str,
) -> Result<ModelBundle> {
    let bundle = ModelBundle::open(dir)?;
    if bundle.header.name != name || bundle.header.version != version {
        return Err(Error::Registry(format!(
            "{} holds {} {}, not the registered {name} {version}",
            dir.display(),
            bundle.header.name,
            bundle.header.version
        )));
    }
    let actual = sha256_file(&bundle.onnx_path)?;
    if actual != registered_sha256 {
        return Err(Error::HashMismatch {
            path: bundle.onnx_path,
            name: name.to_owned(),
            version: version.to_owned(),
            expected: registered_sha256.to_owned(),
            actual,
        });
    }
    Ok(bundle)
}

/// The committed models directory (`forecasters/models`), found next to this
/// crate's sources, or by walking up from the executable and the current directory.
pub fn models_dir() -> Result<PathBuf> {
    let mut candidates = vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models")];
    let mut starts = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        starts.extend(exe.parent().map(Path::to_path_buf));
    }
    if let Ok(cwd) = std::env::current_dir() {
        starts.push(cwd);
    }
    for s in starts {
        for d in s.ancestors() {
            candidates.push(d.join("forecasters").join("models"));
        }
    }
    candidates
        .into_iter()
        .find(|c| c.is_dir())
        .ok_or_else(|| Error::Model {
            path: "forecasters/models".into(),
            message: "committed models directory not found".into(),
        })
}

/// Newest version directory of `name` under `models_dir` (versions compared numerically).
pub fn latest_version_dir(models_dir: &Path, name: &str) -> Result<PathBuf> {
    let dir = models_dir.join(name);
    let entries = std::fs::read_dir(&dir).map_err(|source| Error::Io {
        path: dir.clone(),
        source,
    })?;
    let parse = |s: &str| {
        s.split('.')
            .map(|p| p.parse::<u64>().unwrap_or(0))
            .collect::<Vec<_>>()
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("card.json").is_file())
        .max_by_key(|e| parse(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .ok_or_else(|| Error::Model {
            path: dir,
            message: "no version directory with a card.json".into(),
        })
}
