//! The timeline picture of a run, as a standalone SVG (pure; no I/O): time runs left to right;
//! a band shows which version answered (stacked by share where several did, red for
//! failures); below it each request's latency on a log scale, colored the same way; then a
//! lane marking failures. The window in which both versions answered, the first answer of the
//! new version and the longest run of failures are marked, and a legend explains the colors.
//! Requests are gathered into 2-pixel columns, so the picture stays small for long runs.
//! [`render_marked`] also draws marks for moments the caller knows of (`cutover rehearse`'s
//! actions: green in service, each traffic shift, blue's drain and stop).

use std::fmt::Write as _;

use super::record::{format_unix_us, Record};
use super::summary::Summary;

const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 470.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 20.0;
const PLOT_W: f64 = WIDTH - LEFT - RIGHT;
const COLUMNS: usize = 450;
const BAND: (f64, f64) = (64.0, 104.0);
const LATENCY: (f64, f64) = (124.0, 334.0);
const FAILS: (f64, f64) = (350.0, 372.0);
const AXIS_Y: f64 = 376.0;
const FAILURE: &str = "#d62728";
const PALETTE: [&str; 8] = [
    "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f",
];

/// A moment to mark with a labelled vertical line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub unix_us: u64,
    pub label: String,
}

/// Renders the timeline of `records`; `summary` (from the same records) supplies the marks.
pub fn render(records: &[Record], summary: &Summary) -> String {
    render_marked(records, summary, &[])
}

/// [`render`] with a labelled line for each of `marks` inside the recorded time.
pub fn render_marked(records: &[Record], summary: &Summary, marks: &[Mark]) -> String {
    let mut svg = String::with_capacity(64 * 1024);
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">"#
    );
    let _ = write!(
        svg,
        r##"<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>"##
    );
    let mut order: Vec<&Record> = records.iter().collect();
    order.sort_by_key(|r| (r.start_unix_us, r.seq));
    let (Some(first), Some(last)) = (order.first(), order.last()) else {
        let _ = write!(
            svg,
            r#"<text x="{}" y="60" font-size="16">cutover probe: no requests recorded</text></svg>"#,
            LEFT
        );
        return svg;
    };
    let t0 = first.start_unix_us;
    let span_us = last.start_unix_us.saturating_sub(t0).max(1) as f64;
    let x_of = |us: u64| LEFT + (us.saturating_sub(t0) as f64 / span_us).min(1.0) * PLOT_W;
    let column_of = |us: u64| {
        let c = (us.saturating_sub(t0) as f64 / span_us * COLUMNS as f64) as usize;
        c.min(COLUMNS - 1)
    };
    let col_x = |c: usize| LEFT + c as f64 * PLOT_W / COLUMNS as f64;
    let col_w = PLOT_W / COLUMNS as f64;

    // Categories: each version in order first seen, then failures last.
    let mut versions: Vec<&str> = Vec::new();
    for r in &order {
        if let Some(v) = r.version.as_deref() {
            if r.kind.is_ok() && !versions.contains(&v) {
                versions.push(v);
            }
        }
    }
    let fail_cat = versions.len();
    let cats = versions.len() + 1;
    let color = |cat: usize| {
        if cat == fail_cat {
            FAILURE
        } else {
            PALETTE[cat % PALETTE.len()]
        }
    };
    let category = |r: &Record| {
        if r.kind.is_ok() {
            r.version
                .as_deref()
                .and_then(|v| versions.iter().position(|x| *x == v))
                .unwrap_or(fail_cat)
        } else {
            fail_cat
        }
    };

    // Per column and category: requests, lowest and highest latency (µs).
    let mut counts = vec![0u64; COLUMNS * cats];
    let mut lows = vec![u64::MAX; COLUMNS * cats];
    let mut highs = vec![0u64; COLUMNS * cats];
    for r in &order {
        let slot = column_of(r.start_unix_us) * cats + category(r);
        counts[slot] += 1;
        lows[slot] = lows[slot].min(r.latency_us);
        highs[slot] = highs[slot].max(r.latency_us);
    }

    // Title.
    let versions_text = if versions.is_empty() {
        "no version answered".to_string()
    } else {
        versions.join(" → ")
    };
    let _ = write!(
        svg,
        r#"<text x="{LEFT}" y="24" font-size="16" font-weight="bold">cutover probe · {}</text>"#,
        esc(&versions_text)
    );
    let _ = write!(
        svg,
        r##"<text x="{LEFT}" y="44" fill="#444444">{} requests, {} failed · {} → {} UTC · longest failure run {:.0} ms</text>"##,
        summary.total,
        summary.failed,
        esc(&format_unix_us(t0)),
        esc(&format_unix_us(last.start_unix_us)),
        summary.longest_failure_ms
    );

    // Marks behind the data: the window of both versions, the longest failure run.
    if let Some(w) = &summary.both_answered {
        let (a, b) = (
            x_of(t0.saturating_add(us(w.from_offset_ms))),
            x_of(t0.saturating_add(us(w.to_offset_ms))),
        );
        let _ = write!(
            svg,
            r##"<rect x="{a:.1}" y="{}" width="{:.1}" height="{}" fill="#ffe9a8"/>"##,
            BAND.0 - 4.0,
            (b - a).max(2.0),
            FAILS.1 - BAND.0 + 4.0
        );
    }
    if let Some(f) = &summary.longest_failure {
        let (a, b) = (
            x_of(t0.saturating_add(us(f.first.offset_ms))),
            x_of(t0.saturating_add(us(f.last.offset_ms))),
        );
        let _ = write!(
            svg,
            r##"<rect x="{a:.1}" y="{}" width="{:.1}" height="{}" fill="{FAILURE}" fill-opacity="0.12"/>"##,
            LATENCY.0,
            (b - a).max(2.0),
            FAILS.1 - LATENCY.0
        );
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{}" fill="{FAILURE}" font-size="11">longest failure run: {} requests, {:.0} ms</text>"##,
            a.min(WIDTH - RIGHT - 230.0),
            LATENCY.0 + 12.0,
            f.count,
            f.duration_ms
        );
    }

    // Version band, columns without requests keep the previous column's mix.
    lane_label(&mut svg, "served", BAND);
    let mut shown: Option<Vec<u64>> = None;
    let mut pure_run: Option<(usize, usize)> = None; // (category, first column)
    for c in 0..=COLUMNS {
        let mix: Option<Vec<u64>> = (c < COLUMNS)
            .then(|| counts[c * cats..(c + 1) * cats].to_vec())
            .filter(|m| m.iter().any(|&n| n > 0))
            .or_else(|| if c < COLUMNS { shown.clone() } else { None });
        let pure = mix.as_ref().and_then(|m| {
            let mut nonzero = m.iter().enumerate().filter(|(_, &n)| n > 0);
            match (nonzero.next(), nonzero.next()) {
                (Some((cat, _)), None) => Some(cat),
                _ => None,
            }
        });
        // Close a run of single-category columns when it changes.
        if let Some((cat, from)) = pure_run {
            if pure != Some(cat) {
                let _ = write!(
                    svg,
                    r#"<rect x="{:.1}" y="{}" width="{:.1}" height="{}" fill="{}"/>"#,
                    col_x(from),
                    BAND.0,
                    col_x(c) - col_x(from),
                    BAND.1 - BAND.0,
                    color(cat)
                );
                pure_run = None;
            }
        }
        match (pure, &mix) {
            (Some(cat), _) => {
                if pure_run.is_none() {
                    pure_run = Some((cat, c));
                }
            }
            (None, Some(m)) => {
                let total: u64 = m.iter().sum();
                let mut y = BAND.0;
                for (cat, &n) in m.iter().enumerate().filter(|(_, &n)| n > 0) {
                    let h = (BAND.1 - BAND.0) * n as f64 / total as f64;
                    let _ = write!(
                        svg,
                        r#"<rect x="{:.1}" y="{y:.2}" width="{col_w:.2}" height="{h:.2}" fill="{}"/>"#,
                        col_x(c),
                        color(cat)
                    );
                    y += h;
                }
            }
            (None, None) => {}
        }
        if mix.is_some() {
            shown = mix;
        }
    }

    // Latency, log scale: one vertical stroke per column and category, lowest to highest.
    lane_label(&mut svg, "latency ms", LATENCY);
    let lo_us = lows
        .iter()
        .copied()
        .filter(|&v| v != u64::MAX)
        .min()
        .unwrap_or(1)
        .max(1);
    let hi_us = highs.iter().copied().max().unwrap_or(1).max(lo_us);
    let lo_dec = (lo_us as f64 / 1000.0).log10().floor();
    let hi_dec = ((hi_us as f64 / 1000.0).log10().ceil()).max(lo_dec + 1.0);
    let y_of = |v_us: u64| {
        let v = (v_us.max(1) as f64 / 1000.0).log10();
        LATENCY.1 - (v - lo_dec) / (hi_dec - lo_dec) * (LATENCY.1 - LATENCY.0)
    };
    let mut dec = lo_dec;
    while dec <= hi_dec {
        let y = LATENCY.1 - (dec - lo_dec) / (hi_dec - lo_dec) * (LATENCY.1 - LATENCY.0);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#e0e0e0"/><text x="{}" y="{:.1}" text-anchor="end" fill="#666666" font-size="10">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 3.5,
            decade_label(dec)
        );
        dec += 1.0;
    }
    for c in 0..COLUMNS {
        for cat in 0..cats {
            let slot = c * cats + cat;
            if counts[slot] == 0 {
                continue;
            }
            let (y_low, y_high) = (y_of(lows[slot]), y_of(highs[slot]));
            let x = col_x(c) + col_w / 2.0;
            let _ = write!(
                svg,
                r#"<line x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{:.1}" stroke="{}" stroke-width="2" stroke-linecap="round"/>"#,
                y_low + 1.0,
                y_high - 1.0,
                color(cat)
            );
        }
    }

    // Failure lane: the share of failed requests in each column.
    lane_label(&mut svg, "failures", FAILS);
    let _ = write!(
        svg,
        r##"<rect x="{LEFT}" y="{}" width="{PLOT_W}" height="{}" fill="#f6f6f6"/>"##,
        FAILS.0,
        FAILS.1 - FAILS.0
    );
    for c in 0..COLUMNS {
        let row = &counts[c * cats..(c + 1) * cats];
        let total: u64 = row.iter().sum();
        let failed = row[fail_cat];
        if failed > 0 {
            let h = ((FAILS.1 - FAILS.0) * failed as f64 / total as f64).max(4.0);
            let _ = write!(
                svg,
                r#"<rect x="{:.1}" y="{:.1}" width="{col_w:.2}" height="{h:.1}" fill="{FAILURE}"/>"#,
                col_x(c),
                FAILS.1 - h
            );
        }
    }

    // The first answer of the new version.
    if let Some(t) = &summary.transition {
        let x = x_of(t0.saturating_add(us(t.first_new.offset_ms)));
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{}" y2="{}" stroke="#000000" stroke-dasharray="4 3"/><text x="{:.1}" y="{}" font-size="11">first {} at {:+.3} s</text>"##,
            BAND.0 - 8.0,
            FAILS.1,
            (x + 3.0).min(WIDTH - RIGHT - 150.0),
            BAND.0 - 10.0,
            esc(&t.to),
            t.first_new.offset_ms / 1000.0
        );
    }

    // The caller's marks: a thin line each, the label written downwards beside it, labels of
    // marks close in time set side by side.
    let mut label_x = f64::MIN;
    let mut sorted: Vec<&Mark> = marks
        .iter()
        .filter(|m| (t0..=last.start_unix_us).contains(&m.unix_us))
        .collect();
    sorted.sort_by_key(|m| m.unix_us);
    for m in sorted {
        let x = x_of(m.unix_us);
        label_x = (x + 3.0).max(label_x + 11.0);
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{}" y2="{}" stroke="#555555" stroke-width="0.8" stroke-dasharray="2 2"/><text transform="translate({label_x:.1},{}) rotate(90)" fill="#555555" font-size="10">{}</text>"##,
            LATENCY.0,
            FAILS.1,
            // Below the longest failure run's label.
            LATENCY.0 + 18.0,
            esc(&m.label)
        );
    }

    // Time axis.
    let span_s = span_us / 1e6;
    let step = nice_step(span_s / 8.0);
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" x2="{}" y1="{AXIS_Y}" y2="{AXIS_Y}" stroke="#333333"/>"##,
        WIDTH - RIGHT
    );
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    let mut t = 0.0;
    while t <= span_s + step * 1e-6 {
        let x = LEFT + t / span_s * PLOT_W;
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{AXIS_Y}" y2="{}" stroke="#333333"/><text x="{x:.1}" y="{}" text-anchor="middle" font-size="10">{t:.decimals$}</text>"##,
            AXIS_Y + 4.0,
            AXIS_Y + 16.0
        );
        t += step;
    }
    let _ = write!(
        svg,
        r##"<text x="{}" y="{}" text-anchor="middle" fill="#444444">seconds since the first request</text>"##,
        LEFT + PLOT_W / 2.0,
        AXIS_Y + 32.0
    );

    // Legend: (swatch fill or `None` for the dashed line, label).
    let mut legend: Vec<(Option<&str>, String)> = Vec::new();
    for (cat, v) in versions.iter().enumerate() {
        let n = summary
            .versions
            .iter()
            .find(|s| s.version == *v)
            .map_or(0, |s| s.count);
        legend.push((Some(color(cat)), format!("version {v} ({n})")));
    }
    legend.push((Some(FAILURE), format!("failed ({})", summary.failed)));
    if summary.both_answered.is_some() {
        legend.push((Some("#ffe9a8"), "both versions answered".to_string()));
    }
    if summary.transition.is_some() {
        legend.push((None, "first answer of the new version".to_string()));
    }
    let (mut x, mut y) = (LEFT, AXIS_Y + 50.0);
    for (fill, label) in legend {
        let width = 30.0 + 7.0 * label.chars().count() as f64;
        if x + width > WIDTH - RIGHT && x > LEFT {
            x = LEFT;
            y += 20.0;
        }
        let _ = match fill {
            Some(fill) => write!(
                svg,
                r#"<rect x="{x:.1}" y="{y}" width="12" height="12" fill="{fill}"/>"#
            ),
            None => write!(
                svg,
                r##"<line x1="{:.1}" x2="{:.1}" y1="{y}" y2="{}" stroke="#000000" stroke-dasharray="4 3"/>"##,
                x + 6.0,
                x + 6.0,
                y + 12.0
            ),
        };
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{}">{}</text>"#,
            x + 18.0,
            y + 10.5,
            esc(&label)
        );
        x += width;
    }
    let _ = write!(
        svg,
        r##"<text x="{LEFT}" y="{}" fill="#666666" font-size="10">latency: each stroke spans the fastest to the slowest request of its {:.0} ms column, log scale; failures lane: share of failed requests per column</text>"##,
        y + 36.0,
        span_us / 1000.0 / COLUMNS as f64
    );
    svg.push_str("</svg>\n");
    svg
}

fn lane_label(svg: &mut String, text: &str, lane: (f64, f64)) {
    let _ = write!(
        svg,
        r##"<text x="{}" y="{:.1}" text-anchor="end" fill="#333333" font-weight="bold" font-size="11">{text}</text>"##,
        LEFT - 6.0,
        if lane.1 - lane.0 > 60.0 {
            lane.0 - 9.0
        } else {
            (lane.0 + lane.1) / 2.0 + 4.0
        }
    );
}

fn decade_label(dec: f64) -> String {
    let v = 10f64.powf(dec);
    if dec >= 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.*}", (-dec) as usize)
    }
}

/// A step of 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let pow = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * pow)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * pow)
}

fn us(ms: f64) -> u64 {
    if ms.is_finite() && ms > 0.0 {
        (ms * 1000.0).round() as u64
    } else {
        0
    }
}

/// Escapes text for SVG content and attributes.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(1.2), 2.0);
        assert_eq!(nice_step(7.0), 10.0);
        assert_eq!(nice_step(0.0), 1.0);
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(esc("<a & 'b'>\u{1}"), "&lt;a &amp; &apos;b&apos;&gt; ");
    }
}
