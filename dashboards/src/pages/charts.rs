//! Charts drawn as inline SVG on the server from the data of the request: nothing to
//! load, nothing run in the browser. Each chart has a title and a text description for
//! screen readers, and the figures are also in a table on the page.

use maud::{html, Markup};

use super::layout::num;

/// One point of a fan chart: a label on the x axis and the 0.1, 0.5 and 0.9 quantiles.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FanPoint {
    pub label: String,
    pub p10: f64,
    pub p50: f64,
    pub p90: f64,
}

const W: f64 = 640.0;
const H: f64 = 240.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 32.0;

/// A p10-p90 fan (shaded band) around the median line, with an optional horizontal
/// reference line (capacity) labelled `reference.0`.
pub(crate) fn fan_chart(
    title: &str,
    points: &[FanPoint],
    reference: Option<(&str, f64)>,
) -> Markup {
    if points.is_empty() {
        return html! { p.muted { "No forecast to chart yet." } };
    }
    let top = points
        .iter()
        .map(|p| p.p90)
        .chain(reference.map(|r| r.1))
        .fold(1.0_f64, f64::max)
        * 1.1;
    let n = points.len();
    let x = |i: usize| {
        if n == 1 {
            LEFT + (W - LEFT - RIGHT) / 2.0
        } else {
            LEFT + (W - LEFT - RIGHT) * i as f64 / (n - 1) as f64
        }
    };
    let y = |v: f64| TOP + (H - TOP - BOTTOM) * (1.0 - v / top);
    let mut band: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{:.1},{:.1}", x(i), y(p.p90)))
        .collect();
    band.extend(
        points
            .iter()
            .enumerate()
            .rev()
            .map(|(i, p)| format!("{:.1},{:.1}", x(i), y(p.p10))),
    );
    let median: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{:.1},{:.1}", x(i), y(p.p50)))
        .collect();
    let ticks: Vec<f64> = (0..=4).map(|k| top / 1.1 * k as f64 / 4.0).collect();
    let description = points
        .iter()
        .map(|p| {
            format!(
                "{}: {} to {} (median {})",
                p.label,
                num(p.p10, 1),
                num(p.p90, 1),
                num(p.p50, 1)
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    html! {
        figure {
            svg width=(W) height=(H) viewBox={"0 0 " (W) " " (H)} role="img" aria-label=(title) {
                title { (title) }
                desc { "p10 to p90 band with the median: " (description) }
                @for t in &ticks {
                    line x1=(LEFT) x2=(W - RIGHT) y1=(num(y(*t), 1)) y2=(num(y(*t), 1)) stroke="#d0d7de" {}
                    text x=(LEFT - 6.0) y=(num(y(*t) + 4.0, 1)) text-anchor="end" { (num(*t, 0)) }
                }
                polygon.band points=(band.join(" ")) fill="#0b5cad" fill-opacity="0.25" stroke="none" {}
                polyline.median points=(median.join(" ")) fill="none" stroke="#0b5cad" stroke-width="2" {}
                @if let Some((label, v)) = reference {
                    line.reference x1=(LEFT) x2=(W - RIGHT) y1=(num(y(v), 1)) y2=(num(y(v), 1)) stroke="#b3261e" stroke-dasharray="6 4" {}
                    text x=(W - RIGHT) y=(num(y(v) - 4.0, 1)) text-anchor="end" { (label) " " (num(v, 0)) }
                }
                @for (i, p) in points.iter().enumerate() {
                    // The end labels are anchored inwards so that none is cut off.
                    text x=(num(x(i), 1)) y=(H - 10.0) text-anchor=(match i { 0 if n > 1 => "start", i if i + 1 == n && n > 1 => "end", _ => "middle" }) { (p.label) }
                }
            }
            figcaption.muted { (title) ": shaded p10-p90, line the median." }
        }
    }
}

/// One bar of a Gantt row: from `start` for `length` (minutes), with the p90 end when
/// it is known; `highlight` marks a bar that changed against what is in force.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GanttBar {
    pub label: String,
    pub start: f64,
    pub length: f64,
    pub p90_end: Option<f64>,
    pub highlight: bool,
}

/// One row of a Gantt chart: a session (theatre and day) with its staffed minutes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GanttRow {
    pub label: String,
    pub capacity: f64,
    pub bars: Vec<GanttBar>,
}

const ROW_H: f64 = 24.0;
const GANTT_LEFT: f64 = 110.0;

/// A Gantt chart: each row's staffed time as a grey band, its cases as bars in order,
/// a whisker to each case's p90 end, and the time past the staffed end (the expected
/// overrun) in red.
pub(crate) fn gantt(title: &str, rows: &[GanttRow]) -> Markup {
    if rows.is_empty() {
        return html! { p.muted { "Nothing to chart yet." } };
    }
    let span = rows
        .iter()
        .flat_map(|r| {
            r.bars
                .iter()
                .map(|b| b.p90_end.unwrap_or(0.0).max(b.start + b.length))
                .chain([r.capacity])
        })
        .fold(60.0_f64, f64::max);
    let width = W - GANTT_LEFT - RIGHT;
    let x = |m: f64| GANTT_LEFT + width * m / span;
    let height = TOP + ROW_H * rows.len() as f64 + BOTTOM;
    let hours: Vec<f64> = (0..=(span / 60.0).floor() as u32)
        .map(|h| f64::from(h) * 60.0)
        .collect();
    let description = rows
        .iter()
        .map(|r| {
            let end = r
                .bars
                .iter()
                .map(|b| b.start + b.length)
                .fold(0.0, f64::max);
            format!(
                "{}: {} case(s), {} of {} staffed minutes planned",
                r.label,
                r.bars.len(),
                num(end, 0),
                num(r.capacity, 0)
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    html! {
        figure {
            svg.gantt width=(W) height=(num(height, 0)) viewBox={"0 0 " (W) " " (num(height, 0))} role="img" aria-label=(title) {
                title { (title) }
                desc { (description) }
                @for h in &hours {
                    line x1=(num(x(*h), 1)) x2=(num(x(*h), 1)) y1=(TOP) y2=(num(height - BOTTOM, 1)) stroke="#d0d7de" {}
                    text x=(num(x(*h), 1)) y=(num(height - 12.0, 1)) text-anchor="middle" { (num(*h / 60.0, 0)) "h" }
                }
                @for (i, r) in rows.iter().enumerate() {
                    @let y = TOP + ROW_H * i as f64;
                    text x=(GANTT_LEFT - 6.0) y=(num(y + 16.0, 1)) text-anchor="end" { (r.label) }
                    rect.session x=(num(x(0.0), 1)) y=(num(y + 3.0, 1)) width=(num(x(r.capacity) - x(0.0), 1)) height=(ROW_H - 6.0) fill="#eaeef2" stroke="#57606a" {}
                    @for b in &r.bars {
                        @let end = b.start + b.length;
                        rect.case x=(num(x(b.start), 1)) y=(num(y + 5.0, 1)) width=(num((x(end) - x(b.start) - 1.0).max(1.0), 1)) height=(ROW_H - 10.0)
                            fill=(if b.highlight { "#9a6700" } else { "#0b5cad" }) data-minutes=(num(b.length, 0)) {
                            title { (b.label) ": minute " (num(b.start, 0)) " to " (num(end, 0)) }
                        }
                        @if let Some(p90) = b.p90_end {
                            line.p90 x1=(num(x(end), 1)) x2=(num(x(p90), 1)) y1=(num(y + 12.0, 1)) y2=(num(y + 12.0, 1)) stroke="#1b1f24" {}
                        }
                    }
                    @let last = r.bars.iter().map(|b| b.start + b.length).fold(0.0, f64::max);
                    @if last > r.capacity {
                        rect.overrun x=(num(x(r.capacity), 1)) y=(num(y + 3.0, 1)) width=(num(x(last) - x(r.capacity), 1)) height=(ROW_H - 6.0) fill="#b3261e" fill-opacity="0.35" {}
                    }
                }
            }
            figcaption.muted { (title) ": grey the staffed session, bars the cases in order (brown: moved against the list in force), whiskers to the p90 end, red past the session's end." }
        }
    }
}

/// A horizontal bar chart of `(label, value)` with the value printed beside each bar.
pub(crate) fn bar_chart(title: &str, bars: &[(String, f64)], unit: &str) -> Markup {
    if bars.is_empty() {
        return html! { p.muted { "Nothing to chart yet." } };
    }
    let top = bars.iter().map(|b| b.1).fold(1.0_f64, f64::max);
    let width = W - GANTT_LEFT - RIGHT - 60.0;
    let height = TOP + ROW_H * bars.len() as f64 + 8.0;
    html! {
        figure {
            svg.bars width=(W) height=(num(height, 0)) viewBox={"0 0 " (W) " " (num(height, 0))} role="img" aria-label=(title) {
                title { (title) }
                desc { @for (l, v) in bars { (l) ": " (num(*v, 1)) " " (unit) "; " } }
                @for (i, (label, v)) in bars.iter().enumerate() {
                    @let y = TOP + ROW_H * i as f64;
                    text x=(GANTT_LEFT - 6.0) y=(num(y + 16.0, 1)) text-anchor="end" { (label) }
                    rect.bar x=(GANTT_LEFT) y=(num(y + 4.0, 1)) width=(num((width * v / top).max(1.0), 1)) height=(ROW_H - 8.0) fill="#0b5cad" data-value=(num(*v, 2)) {}
                    text x=(num(GANTT_LEFT + width * v / top + 6.0, 1)) y=(num(y + 16.0, 1)) { (num(*v, 1)) " " (unit) }
                }
            }
            figcaption.muted { (title) }
        }
    }
}

/// The smallest k with P(X <= k) >= q for X ~ Poisson(mean): the quantiles of a sum of
/// forecast Poisson counts (the bed-plan forecaster's demand model).
pub(crate) fn poisson_quantile(mean: f64, q: f64) -> f64 {
    if mean <= 0.0 {
        return 0.0;
    }
    let mut p = (-mean).exp();
    let mut cdf = p;
    let mut k = 0u32;
    while cdf < q && k < 10_000 {
        k += 1;
        p *= mean / k as f64;
        cdf += p;
    }
    k as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_quantiles_bracket_the_mean() {
        assert_eq!(poisson_quantile(0.0, 0.9), 0.0);
        // Poisson(4): P(X<=1)=0.0916, P(X<=2)=0.2381; P(X<=6)=0.8893, P(X<=7)=0.9489.
        assert_eq!(poisson_quantile(4.0, 0.1), 2.0);
        assert_eq!(poisson_quantile(4.0, 0.5), 4.0);
        assert_eq!(poisson_quantile(4.0, 0.9), 7.0);
    }

    #[test]
    fn the_band_spans_p10_to_p90_and_labels_are_escaped() {
        let svg = fan_chart(
            "Demand <beds>",
            &[
                FanPoint {
                    label: "d0".into(),
                    p10: 2.0,
                    p50: 4.0,
                    p90: 7.0,
                },
                FanPoint {
                    label: "<b>d1".into(),
                    p10: 3.0,
                    p50: 5.0,
                    p90: 8.0,
                },
            ],
            Some(("beds", 10.0)),
        )
        .into_string();
        assert!(svg.contains("<polygon class=\"band\""), "{svg}");
        assert!(svg.contains("&lt;b&gt;d1"), "{svg}");
        assert!(!svg.contains("<b>d1"), "{svg}");
        assert!(svg.contains("d0: 2.0 to 7.0 (median 4.0)"), "{svg}");
        // Four band corners: two p90 points then two p10 points.
        let band = svg
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(band.split(' ').count(), 4);
    }
    #[test]
    fn a_session_run_past_its_end_shows_an_overrun() {
        let rows = vec![GanttRow {
            label: "T1 Mon".into(),
            capacity: 240.0,
            bars: vec![
                GanttBar {
                    label: "c1".into(),
                    start: 0.0,
                    length: 150.0,
                    p90_end: Some(170.0),
                    highlight: false,
                },
                GanttBar {
                    label: "<c2>".into(),
                    start: 150.0,
                    length: 120.0,
                    p90_end: Some(300.0),
                    highlight: true,
                },
            ],
        }];
        let svg = gantt("Lists", &rows).into_string();
        assert_eq!(svg.matches("<rect class=\"case\"").count(), 2, "{svg}");
        assert_eq!(svg.matches("<rect class=\"overrun\"").count(), 1, "{svg}");
        assert!(svg.contains("&lt;c2&gt;"), "{svg}");
        let fits = vec![GanttRow {
            capacity: 300.0,
            ..rows[0].clone()
        }];
        assert!(!gantt("Lists", &fits).into_string().contains("overrun"));
        let bars =
            bar_chart("Waits", &[("CT".into(), 2.0), ("MR".into(), 4.0)], "days").into_string();
        assert_eq!(bars.matches("<rect class=\"bar\"").count(), 2, "{bars}");
    }
}
