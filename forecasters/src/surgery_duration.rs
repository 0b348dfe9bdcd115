//! `surgery-duration`: log-normal case-duration quantiles from procedure,
//! surgeon, ASA class, BMI and teaching status. The ONNX model returns the
//! log-scale mean and SD; quantiles are exp(mu + z sigma). Trained on seeded
//! synthetic cases (see `training/surgery_duration.py` and the card).
//! Procedures and surgeons are read from the card's feature names, so a new
//! model version can add either without a code change.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::bundle::ModelBundle;
use crate::error::{Error, Result};
use crate::quantile::normal_quantile;
use crate::runtime::{OnnxModel, RuntimeOptions};
use crate::{Forecast, ForecastMetadata, ForecastRow, Forecaster};

/// Registry and directory name of the model.
pub const MODEL_NAME: &str = "surgery-duration";
/// Quantile levels of the forecast.
pub const LEVELS: [f64; 3] = [0.1, 0.5, 0.9];

/// One surgical case to be scheduled (no patient identifiers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurgicalCase {
    /// Procedure code as in the card, e.g. `lap_cholecystectomy`.
    pub procedure: String,
    /// Surgeon code; one the model has not seen is treated as an average surgeon.
    pub surgeon: String,
    /// ASA physical status 1-4.
    pub asa_class: u8,
    /// Body-mass index of 35 or more.
    pub bmi_ge_35: bool,
    /// A resident operates (teaching case).
    pub teaching_case: bool,
}

/// The case-duration forecaster.
#[derive(Debug)]
pub struct SurgeryDuration {
    model: OnnxModel,
    metadata: ForecastMetadata,
    n_features: usize,
    index: HashMap<String, usize>,
}

impl SurgeryDuration {
    /// Loads the model in `dir`.
    pub fn load(dir: &Path, opts: &RuntimeOptions) -> Result<Self> {
        Self::from_bundle(&ModelBundle::open(dir)?, opts)
    }

    /// Loads the newest committed version.
    pub fn load_default(opts: &RuntimeOptions) -> Result<Self> {
        Self::load(
            &crate::bundle::latest_version_dir(&crate::bundle::models_dir()?, MODEL_NAME)?,
            opts,
        )
    }

    /// Loads an already verified bundle.
    pub fn from_bundle(bundle: &ModelBundle, opts: &RuntimeOptions) -> Result<Self> {
        let model = OnnxModel::load(&bundle.onnx_path, opts)?;
        let names = bundle.check(MODEL_NAME, &model, 2)?;
        let index: HashMap<String, usize> = names
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, n)| (n, i))
            .collect();
        for required in [
            "asa=1",
            "asa=2",
            "asa=3",
            "asa=4",
            "bmi_ge_35",
            "teaching_case",
        ] {
            if !index.contains_key(required) {
                return Err(Error::Model {
                    path: bundle.onnx_path.clone(),
                    message: format!("card lacks feature {required}"),
                });
            }
        }
        Ok(SurgeryDuration {
            metadata: ForecastMetadata::new(&bundle.header, model.provider()),
            n_features: names.len(),
            index,
            model,
        })
    }

    /// Procedures the model knows.
    pub fn procedures(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .index
            .keys()
            .filter_map(|k| k.strip_prefix("procedure="))
            .collect();
        v.sort_unstable();
        v
    }

    /// Writes the features of `c` into `out`.
    pub fn features(&self, c: &SurgicalCase, out: &mut [f32]) -> Result<()> {
        out.fill(0.0);
        let p = self
            .index
            .get(&format!("procedure={}", c.procedure))
            .ok_or_else(|| {
                Error::InvalidRequest(format!(
                    "unknown procedure {:?}; known: {}",
                    c.procedure,
                    self.procedures().join(", ")
                ))
            })?;
        out[*p] = 1.0;
        if let Some(s) = self.index.get(&format!("surgeon={}", c.surgeon)) {
            out[*s] = 1.0;
        }
        let asa = self
            .index
            .get(&format!("asa={}", c.asa_class))
            .ok_or_else(|| {
                Error::InvalidRequest(format!("ASA class {} is not 1-4", c.asa_class))
            })?;
        out[*asa] = 1.0;
        out[self.index["bmi_ge_35"]] = f32::from(u8::from(c.bmi_ge_35));
        out[self.index["teaching_case"]] = f32::from(u8::from(c.teaching_case));
        Ok(())
    }
}

impl Forecaster<SurgicalCase> for SurgeryDuration {
    fn metadata(&self) -> &ForecastMetadata {
        &self.metadata
    }

    /// One forecast per case: a row `duration_minutes` with the mean and p10/p50/p90.
    fn forecast_batch(&self, requests: &[SurgicalCase]) -> Result<Vec<Forecast>> {
        let mut buf = vec![0.0f32; requests.len() * self.n_features];
        for (c, row) in requests.iter().zip(buf.chunks_mut(self.n_features)) {
            self.features(c, row)?;
        }
        let out = self.model.run(&buf, requests.len())?;
        let metadata = self.metadata.for_plan(&self.model.plan(requests.len()));
        Ok(out
            .chunks(2)
            .map(|h| {
                let (mu, sigma) = (h[0] as f64, h[1] as f64);
                Forecast {
                    metadata: metadata.clone(),
                    levels: LEVELS.to_vec(),
                    rows: vec![ForecastRow {
                        key: "duration_minutes".into(),
                        mean: (mu + sigma * sigma / 2.0).exp(),
                        quantiles: LEVELS
                            .iter()
                            .map(|&l| (mu + normal_quantile(l) * sigma).exp())
                            .collect(),
                    }],
                }
            })
            .collect())
    }
}
