//! Activities hold `Box<dyn Forecaster<R>>`; a fake must be a drop-in for the real model.

mod common;

use careflow_forecasters::ed_arrivals::{EdArrivals, EdArrivalsHistoryRequest, EdArrivalsRequest};
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
        device_note: None,
    }));
    // Calendar-only requests: the 1.1.0 model (1.2.0 needs the history, below).
    let real: Box<dyn Forecaster<EdArrivalsRequest>> = Box::new(
        EdArrivals::load(
            &common::model_dir("ed-arrivals", "1.1.0"),
            &RuntimeOptions::default(),
        )
        .unwrap(),
    );
    assert_eq!(total_p50(fake.as_ref(), &r), 120.0);
    // A Monday in April: the real model forecasts roughly 6-7 arrivals an hour.
    let day = total_p50(real.as_ref(), &r);
    assert!((100.0..220.0).contains(&day), "{day}");
    assert_eq!(real.metadata().model_name, "ed-arrivals");
}

struct ConstantWithHistory;

impl<'a> Forecaster<EdArrivalsHistoryRequest<'a>> for ConstantWithHistory {
    fn metadata(&self) -> &ForecastMetadata {
        unimplemented!("not needed here")
    }
    fn forecast_batch(&self, requests: &[EdArrivalsHistoryRequest<'a>]) -> Result<Vec<Forecast>> {
        // The last 24 hours' mean, flat: a fake that uses the history.
        Ok(requests
            .iter()
            .map(|r| {
                let h = &r.history[r.history.len() - 24..];
                let m = h.iter().sum::<f64>() / 24.0;
                Forecast {
                    metadata: ForecastMetadata {
                        model_name: "fake".into(),
                        model_version: "0".into(),
                        model_sha256: String::new(),
                        execution_provider: "none".into(),
                        device_note: None,
                    },
                    levels: vec![0.1, 0.5, 0.9],
                    rows: (0..r.request.horizon)
                        .map(|h| ForecastRow {
                            key: h.to_string(),
                            mean: m,
                            quantiles: vec![m, m, m],
                        })
                        .collect(),
                }
            })
            .collect())
    }
}

#[test]
fn history_requests_share_one_interface_too() {
    let history = vec![6.0; 24 * 40];
    let r = EdArrivalsHistoryRequest {
        request: EdArrivalsRequest {
            origin: NaiveDate::from_ymd_opt(2017, 4, 3)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap(),
            horizon: 24,
        },
        history: &history,
    };
    // An activity holds one forecaster for requests borrowing any history.
    type HistoryForecaster = Box<dyn for<'a> Forecaster<EdArrivalsHistoryRequest<'a>>>;
    let fake: HistoryForecaster = Box::new(ConstantWithHistory);
    let real: HistoryForecaster =
        Box::new(EdArrivals::load_default(&RuntimeOptions::default()).unwrap());
    fn p50(
        f: &dyn for<'a> Forecaster<EdArrivalsHistoryRequest<'a>>,
        r: &EdArrivalsHistoryRequest,
    ) -> f64 {
        f.forecast(r)
            .unwrap()
            .rows
            .iter()
            .map(|row| row.quantiles[1])
            .sum()
    }
    assert_eq!(p50(fake.as_ref(), &r), 144.0);
    let day = p50(real.as_ref(), &r);
    assert!((100.0..220.0).contains(&day), "{day}");
    assert_eq!(real.metadata().model_version, "1.2.0");
}
