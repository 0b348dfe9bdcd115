//! Public holidays used by the ED model, computed from the calendar so they
//! are known for any future date. The rule reproduces the training CSV's day
//! flags exactly (checked by the training script on all 1,370 days).
//! Home football games (`game_day`) cannot be derived from the calendar and
//! are not used. The University of Iowa academic calendar (students in
//! session or not) is a rule too, so it is known for any future date.

use chrono::{Datelike, NaiveDate, TimeDelta, Weekday};

/// Holiday flags in model order: xmas, xmas2 (Dec 26), nye, nyd, thx
/// (4th Thursday of November), thx1 (day after), ind (July 4).
pub const HOLIDAY_NAMES: [&str; 7] = ["xmas", "xmas2", "nye", "nyd", "thx", "thx1", "ind"];

/// Thanksgiving Day (US): the fourth Thursday of November.
pub fn thanksgiving(year: i32) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, 11, Weekday::Thu, 4)
        .expect("November always has four Thursdays")
}

/// The dates of one year that the rules below need, computed once per year and thread
/// (forecasts walk consecutive days; recomputing them per day was a visible share of a
/// forecast's time).
#[derive(Clone, Copy)]
struct YearDates {
    year: i32,
    thanksgiving: NaiveDate,
    mlk: NaiveDate,
    fall_start: NaiveDate,
    fall_end: NaiveDate,
}

fn year_dates(y: i32) -> YearDates {
    thread_local! {
        static LAST: std::cell::Cell<Option<YearDates>> = const { std::cell::Cell::new(None) };
    }
    LAST.with(|last| match last.get() {
        Some(r) if r.year == y => r,
        _ => {
            let nth = |month, wd, n| {
                NaiveDate::from_weekday_of_month_opt(y, month, wd, n)
                    .expect("weekday exists in month")
            };
            let aug26 = NaiveDate::from_ymd_opt(y, 8, 26).expect("valid date");
            let r = YearDates {
                year: y,
                thanksgiving: thanksgiving(y),
                mlk: nth(1, Weekday::Mon, 3),
                fall_start: aug26 - TimeDelta::days(aug26.weekday().num_days_from_monday().into()),
                fall_end: nth(12, Weekday::Fri, 3),
            };
            last.set(Some(r));
            r
        }
    })
}

/// The seven holiday flags of `d`.
pub fn holiday_flags(d: NaiveDate) -> [bool; 7] {
    let (m, day) = (d.month(), d.day());
    let thx = year_dates(d.year()).thanksgiving;
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

/// University of Iowa classes or finals on `d` (mirrors `uiowa_in_session` in
/// `training/ed_arrivals.py`): spring semester from the Tuesday after Martin
/// Luther King Day (3rd Monday of January) to the Friday of finals week 115 days
/// later; fall semester from the Monday on or before August 26 (Aug 20-26)
/// to the 3rd Friday of December. Spring break (Sunday 55 days after MLK Day through the Monday 63
/// days after) and Thanksgiving week (Saturday before to Sunday after) are out
/// of session, as are the summer and the winter break.
pub fn uiowa_in_session(d: NaiveDate) -> bool {
    let r = year_dates(d.year());
    let days = TimeDelta::days;
    let mlk = r.mlk;
    if mlk + days(55) <= d && d <= mlk + days(63) {
        return false;
    }
    let thx = r.thanksgiving;
    if thx - days(5) <= d && d <= thx + days(3) {
        return false;
    }
    let spring = (mlk + days(1), mlk + days(116));
    (spring.0 <= d && d <= spring.1) || (r.fall_start <= d && d <= r.fall_end)
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

    #[test]
    fn uiowa_session_edges() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        // 2016-17: spring Jan 19 - May 13 with spring break Mar 13-21, fall Aug 22 - Dec 16
        // with Thanksgiving week Nov 19-27.
        let cases = [
            (d(2016, 1, 18), false),
            (d(2016, 1, 19), true),
            (d(2016, 3, 12), true),
            (d(2016, 3, 13), false),
            (d(2016, 3, 21), false),
            (d(2016, 3, 22), true),
            (d(2016, 5, 13), true),
            (d(2016, 5, 14), false),
            (d(2016, 7, 4), false),
            (d(2016, 8, 21), false),
            (d(2016, 8, 22), true),
            (d(2016, 11, 18), true),
            (d(2016, 11, 19), false),
            (d(2016, 11, 27), false),
            (d(2016, 11, 28), true),
            (d(2016, 12, 16), true),
            (d(2016, 12, 17), false),
            (d(2017, 1, 16), false),
            (d(2017, 1, 17), true),
            // First days of classes: Aug 21 2017 and Aug 20 2018 (not the 4th Monday).
            (d(2017, 8, 21), true),
            (d(2017, 8, 20), false),
            (d(2018, 8, 19), false),
            (d(2018, 8, 20), true),
            (d(2013, 8, 26), true),
            (d(2017, 12, 15), true),
            (d(2017, 12, 16), false),
            (d(2018, 1, 16), true),
            (d(2018, 3, 11), false),
            (d(2018, 3, 20), true),
            (d(2018, 5, 11), true),
            (d(2018, 5, 12), false),
        ];
        for (day, want) in cases {
            assert_eq!(uiowa_in_session(day), want, "{day}");
        }
    }
}
