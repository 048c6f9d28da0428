//! Charts of a run, as SVG (plotters' SVG backend: text is written as SVG
//! `<text>`, so no font library is needed to draw them), next to the
//! report:
//!
//! - `throughput.svg`: each scenario's maximum throughput against its
//!   baselines (B0, B1, B2, pgbench, and the ideal of three reads);
//! - `page-depth.svg`: members page latency (p50, p99) by page depth;
//! - `sync.svg`: syncMembers time and peak RSS by record count;
//! - `webhook-lag.svg`: webhook delivery lag and deliveries per second
//!   over the createUser load.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::report::{Backend, Report};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// The chart files `write_all` makes.
pub const FILES: [&str; 4] = [
    "throughput.svg",
    "page-depth.svg",
    "sync.svg",
    "webhook-lag.svg",
];

const FONT: &str = "sans-serif";
const SCENARIO: RGBColor = RGBColor(31, 119, 180);
const BASELINE: RGBColor = RGBColor(150, 150, 150);
const IDEAL: RGBColor = RGBColor(255, 170, 80);
const TARGET: RGBColor = RGBColor(200, 0, 0);
/// The minor grid lines.
const GRID: RGBColor = RGBColor(236, 236, 236);

/// A backend's colour in the charts that show both.
fn colour(index: usize) -> RGBColor {
    [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
    ][index % 3]
}

/// Draws one chart into a file; false when the report has no data for it.
type Chart = fn(&Report, &Path) -> Res<bool>;

/// Writes every chart the report has data for into `dir`; their paths.
pub fn write_all(report: &Report, dir: &Path) -> Res<Vec<PathBuf>> {
    let mut written = Vec::new();
    let charts: [(&str, Chart); 4] = [
        (FILES[0], throughput),
        (FILES[1], page_depth),
        (FILES[2], sync),
        (FILES[3], webhook_lag),
    ];
    for (name, draw) in charts {
        let path = dir.join(name);
        if draw(report, &path)? {
            written.push(path);
        }
    }
    Ok(written)
}

fn title(report: &Report, what: &str) -> String {
    format!(
        "{what} ({} profile, {})",
        report.profile,
        day(&report.started_at)
    )
}

fn day(rfc3339: &str) -> &str {
    rfc3339.get(..10).unwrap_or(rfc3339)
}

/// One bar of the throughput chart.
struct Bar {
    label: String,
    value: f64,
    colour: RGBColor,
}

fn bars(b: &Backend) -> Vec<Bar> {
    let mut bars = Vec::new();
    let mut push = |label: String, value: f64, colour: RGBColor| {
        if value > 0.0 {
            bars.push(Bar {
                label,
                value,
                colour,
            });
        }
    };
    let ideal = |query: &str| b.ideal.iter().find(|i| i.query == query);
    for s in &b.scenarios {
        let short = s.name.replace(" (50, with groups)", "");
        if s.name.starts_with("findUserBy") {
            push(
                "B2 findUserBy's SQL, in-process".into(),
                b.b2["per_second"].as_f64().unwrap_or(0.0),
                BASELINE,
            );
            if let Some(p) = &b.pgbench {
                push("B2' pgbench, same SQL".into(), p.tps, BASELINE);
            }
        }
        for (prefix, query) in [
            ("findUserBy", "findUserBy"),
            ("user(externalId)", "user(externalId)"),
            ("members page 1", "members page 1"),
        ] {
            if s.name.starts_with(prefix)
                && let Some(i) = ideal(query)
            {
                push(format!("ideal {short}"), i.ideal_rps, IDEAL);
            }
        }
        let colour = if s.name.starts_with("B0") || s.name.starts_with("B1") {
            BASELINE
        } else {
            SCENARIO
        };
        if s.operations_per_request > 1 {
            push(
                format!("{short}, operations/s"),
                s.max_operations_per_s,
                colour,
            );
        } else {
            push(short, s.max_rps, colour);
        }
    }
    bars
}

/// Horizontal bars, log scale, one panel per backend.
fn throughput(report: &Report, path: &Path) -> Res<bool> {
    let panels: Vec<(&Backend, Vec<Bar>)> = report
        .backends
        .iter()
        .map(|b| (b, bars(b)))
        .filter(|(_, bars)| !bars.is_empty())
        .collect();
    if panels.is_empty() {
        return Ok(false);
    }
    let heights: Vec<u32> = panels
        .iter()
        .map(|(_, bars)| 90 + 26 * bars.len() as u32)
        .collect();
    let root = SVGBackend::new(path, (1000, 40 + heights.iter().sum::<u32>())).into_drawing_area();
    root.fill(&WHITE)?;
    let (head, mut rest) = root.split_vertically(40);
    head.titled(
        &title(
            report,
            "Maximum throughput against baselines, req/s (log scale)",
        ),
        (FONT, 20),
    )?;
    for ((b, bars), height) in panels.iter().zip(&heights) {
        let (area, below) = rest.split_vertically(*height);
        rest = below;
        let top = bars.iter().map(|b| b.value).fold(1.0, f64::max) * 3.0;
        let low = bars
            .iter()
            .map(|b| b.value)
            .fold(f64::MAX, f64::min)
            .min(10.0)
            / 2.0;
        let n = bars.len() as i32;
        let labels: Vec<&str> = bars.iter().map(|b| b.label.as_str()).collect();
        let mut chart = ChartBuilder::on(&area)
            .caption(&b.backend, (FONT, 17))
            .margin(8)
            .margin_right(30)
            .x_label_area_size(30)
            .y_label_area_size(300)
            .build_cartesian_2d((low..top).log_scale(), (0..n - 1).into_segmented())?;
        chart
            .configure_mesh()
            .light_line_style(GRID)
            .disable_y_mesh()
            .y_labels(bars.len() + 1)
            .y_label_formatter(&|v| match v {
                // Row 0 is drawn at the bottom: the first bar goes on top.
                SegmentValue::CenterOf(i) if (0..n).contains(i) => {
                    labels[(n - 1 - i) as usize].to_owned()
                }
                _ => String::new(),
            })
            .x_label_formatter(&|v| grouped(*v))
            .label_style((FONT, 13))
            .draw()?;
        chart.draw_series(bars.iter().enumerate().map(|(k, bar)| {
            let row = n - 1 - k as i32;
            let mut rect = Rectangle::new(
                [
                    (low, SegmentValue::Exact(row)),
                    (bar.value, SegmentValue::Exact(row + 1)),
                ],
                bar.colour.filled(),
            );
            rect.set_margin(4, 4, 0, 0);
            rect
        }))?;
        let style = TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        chart.draw_series(bars.iter().enumerate().map(|(k, bar)| {
            let row = n - 1 - k as i32;
            Text::new(
                format!(" {}", grouped(bar.value)),
                (bar.value, SegmentValue::CenterOf(row)),
                style.clone(),
            )
        }))?;
    }
    let legend = [
        ("baseline", BASELINE),
        ("ideal: 1 / (1/B1 + t_sql)", IDEAL),
        ("scenario", SCENARIO),
    ];
    draw_key(&root, &legend, (330, 12))?;
    root.present()?;
    Ok(true)
}

/// A small key of coloured squares at `at` (top-left, pixels).
fn draw_key(
    area: &DrawingArea<SVGBackend, Shift>,
    items: &[(&str, RGBColor)],
    at: (i32, i32),
) -> Res<()> {
    let (mut x, y) = at;
    for (label, colour) in items {
        area.draw(&Rectangle::new(
            [(x, y + 16), (x + 12, y + 28)],
            colour.filled(),
        ))?;
        area.draw(&Text::new(
            label.to_string(),
            (x + 16, y + 16),
            (FONT, 13).into_font(),
        ))?;
        x += 36 + 6 * label.chars().count() as i32;
    }
    Ok(())
}

/// `12345.6` as `12,346`; small values keep a decimal or two.
fn grouped(v: f64) -> String {
    if v < 10.0 {
        return format!("{v:.2}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned();
    }
    let whole = format!("{:.0}", v);
    let mut out = String::new();
    for (k, c) in whole.chars().enumerate() {
        if k > 0 && (whole.len() - k) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// p50 and p99 against page number, all backends in one chart.
fn page_depth(report: &Report, path: &Path) -> Res<bool> {
    let series = backends_with(report, |b| !b.page_depth.pages.is_empty());
    if series.is_empty() {
        return Ok(false);
    }
    let top = series
        .iter()
        .flat_map(|(_, b)| b.page_depth.pages.iter().map(|p| p.latency.p99_ms))
        .fold(0.1, f64::max)
        * 1.15;
    let last = series
        .iter()
        .flat_map(|(_, b)| b.page_depth.pages.iter().map(|p| p.page))
        .max()
        .unwrap_or(1) as f64;
    let mut rates: Vec<String> = series
        .iter()
        .map(|(_, b)| format!("{:.0}", b.page_depth.rate_rps))
        .collect();
    rates.dedup();
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            title(
                report,
                &format!(
                    "Members page of 50 with groups, by depth (open loop, {} req/s)",
                    rates.join(" / ")
                ),
            ),
            (FONT, 18),
        )
        .margin(12)
        .margin_right(30)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d((0.8..last * 1.25).log_scale(), 0.0..top)?;
    chart
        .configure_mesh()
        .light_line_style(GRID)
        .x_desc("page (50 members each; log scale)")
        .y_desc("latency, ms")
        .x_label_formatter(&|v| grouped(*v))
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .draw()?;
    for (k, b) in &series {
        let c = colour(*k);
        let points = |f: fn(&crate::openloop::OpenLoop) -> f64| -> Vec<(f64, f64)> {
            b.page_depth
                .pages
                .iter()
                .map(|p| (p.page as f64, f(&p.latency)))
                .collect()
        };
        let p50 = points(|l| l.p50_ms);
        let p99 = points(|l| l.p99_ms);
        chart
            .draw_series(LineSeries::new(p50.clone(), c.stroke_width(2)))?
            .label(format!("{} p50", b.backend))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        chart.draw_series(p50.iter().map(|&p| Circle::new(p, 4, c.filled())))?;
        let light = c.mix(0.55);
        chart
            .draw_series(LineSeries::new(p99.clone(), light.stroke_width(2)))?
            .label(format!("{} p99", b.backend))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], light.stroke_width(2))
            });
        chart.draw_series(
            p99.iter()
                .map(|&p| TriangleMarker::new(p, 5, light.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    root.present()?;
    Ok(true)
}

/// Time (log-log, with a line proportional to the records through the
/// reference size) and peak RSS (with its targets) against record count.
fn sync(report: &Report, path: &Path) -> Res<bool> {
    let series = backends_with(report, |b| b.sync.iter().any(|p| p.expected == "created"));
    if series.is_empty() {
        return Ok(false);
    }
    let created = |b: &Backend| -> Vec<(f64, f64, f64, bool)> {
        b.sync
            .iter()
            .filter(|p| p.expected == "created")
            .map(|p| (p.records as f64, p.seconds, p.peak_rss_mb, p.ok))
            .collect()
    };
    let all: Vec<(f64, f64, f64, bool)> = series.iter().flat_map(|(_, b)| created(b)).collect();
    let good: Vec<&(f64, f64, f64, bool)> = all.iter().filter(|p| p.3).collect();
    let (x_low, x_high) = all
        .iter()
        .fold((f64::MAX, 0.0f64), |(lo, hi), p| (lo.min(p.0), hi.max(p.0)));
    let x_range = (x_low / 1.6)..(x_high * 1.6);
    let t_high = good.iter().map(|p| p.1).fold(0.01, f64::max) * 3.0;
    let t_low = good
        .iter()
        .map(|p| p.1)
        .fold(t_high / 30.0, f64::min)
        .max(1e-3)
        / 3.0;
    // A failed call's peak is still memory the server took: on the scale.
    let rss_high = all.iter().map(|p| p.2).fold(160.0, f64::max) * 1.15;
    let root = SVGBackend::new(path, (1100, 550)).into_drawing_area();
    root.fill(&WHITE)?;
    let (head, body) = root.split_vertically(40);
    let (body, foot) = body.split_vertically(480);
    head.titled(
        &title(report, "syncMembers into a new org, all records created"),
        (FONT, 20),
    )?;
    let (left, right) = body.split_horizontally(550);
    let reference = report
        .backends
        .first()
        .and_then(|b| b.sync.iter().find(|p| p.expected == "unchanged"))
        .map(|p| p.records as f64);

    let mut time = ChartBuilder::on(&left)
        .caption("time per call, s (log-log)", (FONT, 16))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(x_range.clone().log_scale(), (t_low..t_high).log_scale())?;
    time.configure_mesh()
        .light_line_style(GRID)
        .x_desc("records")
        .y_desc("seconds")
        .x_label_formatter(&|v| grouped(*v))
        .y_label_formatter(&|v| grouped(*v))
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .draw()?;
    let mut rss = ChartBuilder::on(&right)
        .caption("server peak RSS during the call, MB", (FONT, 16))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(x_range.log_scale(), 0.0..rss_high)?;
    rss.configure_mesh()
        .light_line_style(GRID)
        .x_desc("records")
        .y_desc("MB")
        .x_label_formatter(&|v| grouped(*v))
        .y_label_formatter(&|v| grouped(*v))
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .draw()?;
    for (k, b) in &series {
        let c = colour(*k);
        let points = created(b);
        let name = b.backend.clone();
        // A failed call's time and memory are not the sync's: it is shown
        // apart, off the line (at the edge when off the scale).
        let ok: Vec<_> = points.iter().filter(|p| p.3).collect();
        time.draw_series(LineSeries::new(
            ok.iter().map(|p| (p.0, p.1)),
            c.stroke_width(2),
        ))?
        .label(name.clone())
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        time.draw_series(
            points
                .iter()
                .map(|p| marker((p.0, p.1.clamp(t_low, t_high)), p.3, c)),
        )?;
        // Proportional to the records, through the reference size.
        if let Some(at) = reference
            && let Some(p) = points.iter().find(|p| p.0 == at)
        {
            let per = p.1 / p.0;
            let faint = c.mix(0.35);
            time.draw_series(LineSeries::new(
                [x_low, x_high].map(|x| (x, per * x)),
                faint.stroke_width(1),
            ))?
            .label(format!("{name}: proportional from {}", grouped(at)))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], faint));
        }
        rss.draw_series(LineSeries::new(
            ok.iter().map(|p| (p.0, p.2)),
            c.stroke_width(2),
        ))?
        .label(name)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        rss.draw_series(
            points
                .iter()
                .map(|p| marker((p.0, p.2.min(rss_high)), p.3, c)),
        )?;
    }
    // The targets: peak RSS at the reference size and at ten times it.
    if let Some(at) = reference {
        let targets = [(at, 64.0), (at * 10.0, 160.0)];
        rss.draw_series(
            targets
                .iter()
                .map(|&(x, y)| Cross::new((x, y), 7, TARGET.stroke_width(2))),
        )?
        .label("target (at most)")
        .legend(|(x, y)| Cross::new((x + 10, y), 5, TARGET.stroke_width(2)));
        let style = (FONT, 12)
            .into_font()
            .color(&TARGET)
            .pos(Pos::new(HPos::Right, VPos::Bottom));
        rss.draw_series(
            targets
                .iter()
                .map(|&(x, y)| Text::new(format!("target {y:.0} MB  "), (x, y), style.clone())),
        )?;
    }
    time.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 12))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    rss.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 12))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    if all.iter().any(|p| !p.3) {
        foot.draw(&Text::new(
            "hollow red marker: the call failed (off the line: its time is not a sync's; see the report)",
            (20, 8),
            (FONT, 12).into_font().color(&TARGET),
        ))?;
    }
    root.present()?;
    Ok(true)
}

/// A filled circle for a good point, a hollow one for a failed call.
fn marker(at: (f64, f64), ok: bool, c: RGBColor) -> Circle<(f64, f64), i32> {
    if ok {
        Circle::new(at, 5, c.filled())
    } else {
        Circle::new(at, 6, TARGET.stroke_width(2))
    }
}

/// Lag (median and largest, per second) and deliveries per second over
/// the createUser load, all backends.
fn webhook_lag(report: &Report, path: &Path) -> Res<bool> {
    let series = backends_with(report, |b| !b.webhooks.timeline.is_empty());
    if series.is_empty() {
        return Ok(false);
    }
    let seconds = series
        .iter()
        .flat_map(|(_, b)| b.webhooks.timeline.iter().map(|s| s.second))
        .max()
        .unwrap_or(1)
        .max(1) as f64
        + 1.0;
    let lag_top = series
        .iter()
        .flat_map(|(_, b)| b.webhooks.timeline.iter().map(|s| s.lag_max_ms))
        .fold(1.0, f64::max)
        * 1.1;
    let rate_top = series
        .iter()
        .flat_map(|(_, b)| {
            b.webhooks
                .timeline
                .iter()
                .map(|s| s.delivered as f64)
                .chain([b.webhooks.created_per_second])
        })
        .fold(1.0, f64::max)
        * 1.15;
    let root = SVGBackend::new(path, (1000, 720)).into_drawing_area();
    root.fill(&WHITE)?;
    let (head, body) = root.split_vertically(40);
    head.titled(
        &title(
            report,
            "Webhook delivery (member.created) over the createUser load",
        ),
        (FONT, 20),
    )?;
    let (top, bottom) = body.split_vertically(360);
    let mut lag = ChartBuilder::on(&top)
        .caption(
            "lag, commit to receipt, per second of receipt: median (solid) and largest (light)",
            (FONT, 15),
        )
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..seconds, 0.0..lag_top)?;
    lag.configure_mesh()
        .light_line_style(GRID)
        .y_desc("ms")
        .y_label_formatter(&|v| grouped(*v))
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .draw()?;
    let mut rate = ChartBuilder::on(&bottom)
        .caption(
            "deliveries received per second (dashes: events created per second during the load)",
            (FONT, 15),
        )
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..seconds, 0.0..rate_top)?;
    rate.configure_mesh()
        .light_line_style(GRID)
        .x_desc("seconds since the createUser load started")
        .y_desc("per second")
        .y_label_formatter(&|v| grouped(*v))
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .draw()?;
    for (k, b) in &series {
        let c = colour(*k);
        let w = &b.webhooks;
        let at = |s: i64| s as f64 + 0.5;
        let name = b.backend.clone();
        lag.draw_series(LineSeries::new(
            w.timeline.iter().map(|s| (at(s.second), s.lag_p50_ms)),
            c.stroke_width(2),
        ))?
        .label(format!("{name} median"))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        let light = c.mix(0.45);
        lag.draw_series(LineSeries::new(
            w.timeline.iter().map(|s| (at(s.second), s.lag_max_ms)),
            light.stroke_width(1),
        ))?
        .label(format!("{name} largest"))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], light));
        rate.draw_series(LineSeries::new(
            w.timeline
                .iter()
                .map(|s| (at(s.second), s.delivered as f64)),
            c.stroke_width(2),
        ))?
        .label(format!("{name} delivered/s"))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        // Created per second, over the load's window, as dashes.
        let dashes = (0..(w.load_s * 2.0).ceil() as i64)
            .step_by(2)
            .map(move |d| {
                let x = d as f64 * 0.5;
                PathElement::new(
                    vec![
                        (x, w.created_per_second),
                        ((x + 0.5).min(w.load_s), w.created_per_second),
                    ],
                    c.stroke_width(2),
                )
            });
        rate.draw_series(dashes)?;
        // The end of the load.
        lag.draw_series(std::iter::once(PathElement::new(
            vec![(w.load_s, 0.0), (w.load_s, lag_top)],
            c.mix(0.3),
        )))?;
        rate.draw_series(std::iter::once(PathElement::new(
            vec![(w.load_s, 0.0), (w.load_s, rate_top)],
            c.mix(0.3),
        )))?;
    }
    // Lag grows to the right: its key goes top left.
    for (mut labels, at) in [
        (
            lag.configure_series_labels(),
            SeriesLabelPosition::UpperLeft,
        ),
        (
            rate.configure_series_labels(),
            SeriesLabelPosition::UpperRight,
        ),
    ] {
        labels
            .position(at)
            .label_font((FONT, 12))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()?;
    }
    root.present()?;
    Ok(true)
}

/// The backends (with their index, which picks their colour) that have
/// something for a chart.
fn backends_with(report: &Report, has: impl Fn(&Backend) -> bool) -> Vec<(usize, &Backend)> {
    report
        .backends
        .iter()
        .enumerate()
        .filter(|(_, b)| has(b))
        .collect()
}
