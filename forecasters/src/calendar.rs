//! Public holidays used by the ED model, computed from the calendar so they
//! are known for any future date. The rule reproduces the training CSV's day
//! flags exactly (checked by the training script on all 1,370 days).
//! Home football games (`game_day`) cannot be derived from the calendar and
//! are not used.

use chrono::{Datelike, NaiveDate, Weekday};

/// Holiday flags in model order: xmas, xmas2 (Dec 26), nye, nyd, thx
/// (4th Thursday of November), thx1 (day after), ind (July 4).
pub const HOLIDAY_NAMES: [&str; 7] = ["xmas", "xmas2", "nye", "nyd", "thx", "thx1", "ind"];

/// Thanksgiving Day (US): the fourth Thursday of November.
pub fn thanksgiving(year: i32) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, 11, Weekday::Thu, 4)
        .expect("November always has four Thursdays")
}

/// The seven holiday flags of `d`.
pub fn holiday_flags(d: NaiveDate) -> [bool; 7] {
    let (m, day) = (d.month(), d.day());
    let thx = thanksgiving(d.year());
    [
        m == 12 && day == 25,
        m == 12 && day == 26,
        m == 12 && day == 31,
        m == 1 && day == 1,
        d == thx,
        d == thx.succ_opt().unwrap_or(thx),
        m == 7 && day == 4,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thanksgiving_dates() {
        assert_eq!(
            thanksgiving(2016),
            NaiveDate::from_ymd_opt(2016, 11, 24).unwrap()
        );
        assert_eq!(
            thanksgiving(2017),
            NaiveDate::from_ymd_opt(2017, 11, 23).unwrap()
        );
        let f = holiday_flags(NaiveDate::from_ymd_opt(2017, 11, 24).unwrap());
        assert_eq!(f, [false, false, false, false, false, true, false]);
        assert_eq!(
            holiday_flags(NaiveDate::from_ymd_opt(2017, 6, 1).unwrap()),
            [false; 7]
        );
    }
}
