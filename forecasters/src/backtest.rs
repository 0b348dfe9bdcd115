//! Scoring forecasts against what happened: the figures a backtest reports and model
//! choice is made on (MAE of the median, mean pinball loss, 10-90% coverage).

use chrono::NaiveDateTime;

use crate::data::HourlySeries;
use crate::ed_arrivals::LEVELS;
use crate::quantile::pinball;
use crate::Forecast;

/// MAE of p50, mean pinball over the three levels and 10-90% coverage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    /// Forecast rows with a truth value.
    pub n: usize,
    /// Mean absolute error of the median.
    pub mae: f64,
    /// Mean pinball loss averaged over p10/p50/p90.
    pub pinball: f64,
    /// Share of truths inside [p10, p90].
    pub coverage: f64,
}

/// Scores `forecasts` (keys `YYYY-MM-DDTHH`) against `truth`; `None` when no truth is known.
pub fn score(truth: &HourlySeries, forecasts: &[Forecast]) -> Option<Scores> {
    let (mut n, mut mae, mut pin, mut cov) = (0usize, 0.0, 0.0, 0usize);
    for row in forecasts.iter().flat_map(|f| &f.rows) {
        let Ok(ts) = NaiveDateTime::parse_from_str(&format!("{}:00", row.key), "%Y-%m-%dT%H:%M")
        else {
            continue;
        };
        let Some(y) = truth.get(ts) else { continue };
        let q = &row.quantiles;
        n += 1;
        mae += (y - q[1]).abs();
        pin += LEVELS
            .iter()
            .zip(q)
            .map(|(&l, &v)| pinball(y, v, l))
            .sum::<f64>()
            / LEVELS.len() as f64;
        cov += usize::from(y >= q[0] && y <= q[2]);
    }
    (n > 0).then(|| Scores {
        n,
        mae: mae / n as f64,
        pinball: pin / n as f64,
        coverage: cov as f64 / n as f64,
    })
}
