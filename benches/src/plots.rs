//! BENCHMARKS.md's plots, drawn as SVG with plotters: throughput and ratio to the same-run
//! baseline against clients (one line per scenario), and each scenario's latency distribution
//! (one line per client count).

use std::path::Path;

use plotters::prelude::*;

/// One line of a plot: its label and its `(x, y)` points.
pub(crate) struct Series {
    pub(crate) label: String,
    pub(crate) points: Vec<(f64, f64)>,
}

const SIZE: (u32, u32) = (860, 440);
/// The panel right of the plot that names the lines, so the names never hide a line.
const LEGEND_WIDTH: u32 = 200;

/// One row per series in `area`: a short line in the series' colour and its label.
fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    series: &[Series],
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    for (i, s) in series.iter().enumerate() {
        let y = 50 + 22 * i as i32;
        let c = color(i);
        area.draw(&PathElement::new(vec![(4, y), (26, y)], c.stroke_width(3)))?;
        area.draw(&Text::new(s.label.clone(), (32, y - 7), ("sans-serif", 13)))?;
    }
    Ok(())
}

fn color(i: usize) -> RGBColor {
    // Distinguishable on white, in a fixed order so a scenario keeps its colour across plots.
    const COLORS: [RGBColor; 10] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
        RGBColor(188, 189, 34),
        RGBColor(23, 190, 207),
    ];
    COLORS[i % COLORS.len()]
}

/// The smallest and largest `y` over all series, widened to whole powers of ten for a log axis.
fn log_range(series: &[Series]) -> (f64, f64) {
    let ys = series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let (lo, hi) = ys
        .filter(|y| *y > 0.0)
        .fold((f64::MAX, f64::MIN), |(lo, hi), y| (lo.min(y), hi.max(y)));
    if lo > hi {
        return (1.0, 10.0);
    }
    (
        10f64.powf(lo.log10().floor()),
        10f64.powf(hi.log10().ceil()).max(lo * 10.0),
    )
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// A log-log line plot of `series` against client counts.
pub(crate) fn against_clients(
    path: &Path,
    title: &str,
    y_label: &str,
    series: &[Series],
) -> DrawResult {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let (plot, side) = root.split_horizontally(SIZE.0 - LEGEND_WIDTH);
    let (lo, hi) = log_range(series);
    let mut chart = ChartBuilder::on(&plot)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((0.8f64..320f64).log_scale(), (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("clients")
        .y_desc(y_label)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| short(*y))
        .draw()?;
    for (i, s) in series.iter().enumerate() {
        let c = color(i);
        chart.draw_series(LineSeries::new(s.points.iter().copied(), c.stroke_width(2)))?;
        chart.draw_series(s.points.iter().map(|p| Circle::new(*p, 3, c.filled())))?;
    }
    legend(&side, series)?;
    root.present()?;
    Ok(())
}

/// Latency (log scale) at each percentile of `percentiles`, one line per series; a series'
/// points are `(index into percentiles, µs)`.
pub(crate) fn latency_distribution(
    path: &Path,
    title: &str,
    percentiles: &[f64],
    series: &[Series],
) -> DrawResult {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let (plot, side) = root.split_horizontally(SIZE.0 - LEGEND_WIDTH);
    let (lo, hi) = log_range(series);
    let last = percentiles.len().saturating_sub(1) as f64;
    let mut chart = ChartBuilder::on(&plot)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.3f64..last + 0.3, (lo..hi).log_scale())?;
    let label = |x: &f64| {
        let i = x.round();
        if (x - i).abs() > 0.01 || i < 0.0 {
            return String::new();
        }
        percentiles
            .get(i as usize)
            .map_or(String::new(), |p| format!("p{p}"))
    };
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (µs)")
        .x_labels(percentiles.len() * 2 + 1)
        .x_label_formatter(&label)
        .y_label_formatter(&|y| short(*y))
        .draw()?;
    for (i, s) in series.iter().enumerate() {
        let c = color(i);
        chart.draw_series(LineSeries::new(s.points.iter().copied(), c.stroke_width(2)))?;
    }
    legend(&side, series)?;
    root.present()?;
    Ok(())
}

/// `1500` as `1.5k`, `2000000` as `2M`: axis labels that fit.
pub(crate) fn short(v: f64) -> String {
    let (n, unit) = if v >= 1e6 {
        (v / 1e6, "M")
    } else if v >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let s = if n >= 10.0 || n.fract() == 0.0 {
        format!("{n:.0}")
    } else if n >= 1.0 {
        format!("{n:.1}")
    } else {
        format!("{n:.2}")
    };
    format!("{s}{unit}")
}
