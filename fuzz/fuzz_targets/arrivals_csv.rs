//! The hourly arrivals CSV reader (`careflow forecast backtest --data FILE`, the ED
//! arrivals forecaster's input): any input must give a series or an error naming the
//! line, and a series must be usable (its end computed).
#![no_main]

use std::path::Path;

use careflow_forecasters::data::HourlySeries;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(series) = HourlySeries::parse_csv(text, Path::new("fuzz.csv")) {
            let _ = series.end();
            let _ = series.get(series.start);
            let _ = series.before(series.end());
        }
    }
});
