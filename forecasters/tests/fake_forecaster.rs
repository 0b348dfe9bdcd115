//! Activities hold `Box<dyn Forecaster<R>>`; a fake must be a drop-in for the real model.

use careflow_forecasters::ed_arrivals::{EdArrivals, EdArrivalsRequest};
use careflow_forecasters::{
    Forecast, ForecastMetadata, ForecastRow, Forecaster, Result, RuntimeOptions,
};
use chrono::NaiveDate;

struct Constant(ForecastMetadata);

impl Forecaster<EdArrivalsRequest> for Constant {
    fn metadata(&self) -> &ForecastMetadata {
        &self.0
    }
    fn forecast_batch(&self, requests: &[EdArrivalsRequest]) -> Result<Vec<Forecast>> {
        Ok(requests
            .iter()
            .map(|r| Forecast {
                metadata: self.0.clone(),
                levels: vec![0.1, 0.5, 0.9],
                rows: (0..r.horizon)
                    .map(|h| ForecastRow {
                        key: h.to_string(),
                        mean: 5.0,
                        quantiles: vec![2.0, 5.0, 8.0],
                    })
                    .collect(),
            })
            .collect())
    }
}

fn total_p50(f: &dyn Forecaster<EdArrivalsRequest>, r: &EdArrivalsRequest) -> f64 {
    f.forecast(r)
        .unwrap()
        .rows
        .iter()
        .map(|row| row.quantiles[1])
        .sum()
}

#[test]
fn real_and_fake_forecasters_share_one_interface() {
    let r = EdArrivalsRequest {
        origin: NaiveDate::from_ymd_opt(2017, 4, 3)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap(),
        horizon: 24,
    };
    let fake: Box<dyn Forecaster<EdArrivalsRequest>> = Box::new(Constant(ForecastMetadata {
        model_name: "fake".into(),
        model_version: "0".into(),
        model_sha256: String::new(),
        execution_provider: "none".into(),
    }));
    let real: Box<dyn Forecaster<EdArrivalsRequest>> =
        Box::new(EdArrivals::load_default(&RuntimeOptions::default()).unwrap());
    assert_eq!(total_p50(fake.as_ref(), &r), 120.0);
    // A Monday in April: the real model forecasts roughly 6-7 arrivals an hour.
    let day = total_p50(real.as_ref(), &r);
    assert!((100.0..220.0).contains(&day), "{day}");
    assert_eq!(real.metadata().model_name, "ed-arrivals");
}
