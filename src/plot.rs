//! Pictures of an evaluation: a reliability diagram (accuracy against confidence per bin, with
//! the diagonal a calibrated model would follow) and the confusion matrix, side by side in one
//! SVG, drawn with plotters.

use std::path::Path;

use plotters::prelude::*;

use crate::evaluate::Report;

/// Why a plot could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the plot: {0}")]
pub struct PlotError(String);

fn err<E: std::fmt::Display>(e: E) -> PlotError {
    PlotError(e.to_string())
}

/// Writes the reliability diagram and the confusion matrix of `report` to an SVG file (written
/// whole to a temporary name, then renamed).
pub fn write_svg(path: &Path, report: &Report) -> Result<(), PlotError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 460)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (left, right) = root.split_horizontally(500);
        reliability(&left, report)?;
        confusion(&right, report)?;
        root.present().map_err(err)?;
    }
    crate::fsutil::write_atomic(path, svg.as_bytes()).map_err(err)
}

fn reliability<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    report: &Report,
) -> Result<(), PlotError> {
    let title = format!(
        "Reliability (ECE {:.3}, n = {})",
        report.ece, report.documents
    );
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..1f64, 0f64..1f64)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("confidence")
        .y_desc("accuracy")
        .draw()
        .map_err(err)?;
    chart
        .draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.4)))
        .map_err(err)?;
    let max = report
        .reliability
        .iter()
        .map(|b| b.documents)
        .max()
        .unwrap_or(1)
        .max(1);
    chart
        .draw_series(
            report
                .reliability
                .iter()
                .filter(|b| b.documents > 0)
                .map(|b| {
                    let shade = 0.25 + 0.75 * b.documents as f64 / max as f64;
                    Rectangle::new(
                        [(b.lower + 0.01, 0.0), (b.upper - 0.01, b.accuracy)],
                        RGBColor(38, 110, 180).mix(shade).filled(),
                    )
                }),
        )
        .map_err(err)?;
    chart
        .draw_series(
            report
                .reliability
                .iter()
                .filter(|b| b.documents > 0)
                .map(|b| Circle::new((b.mean_confidence, b.accuracy), 4, RED.filled())),
        )
        .map_err(err)?;
    Ok(())
}

fn confusion<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    report: &Report,
) -> Result<(), PlotError> {
    let k = report.labels.len();
    let title = format!(
        "Confusion (accuracy {:.3}, macro-F1 {:.3})",
        report.accuracy, report.macro_f1
    );
    let area = area.titled(&title, ("sans-serif", 20)).map_err(err)?;
    let (rows, rest) = area.split_horizontally(120);
    let (grid, cols) = rest.split_vertically(rest.dim_in_pixel().1 - 40);
    let grid = grid.margin(10, 0, 0, 20);
    let cells = grid.split_evenly((k, k));
    let max = report
        .confusion
        .iter()
        .flatten()
        .copied()
        .max()
        .unwrap_or(1)
        .max(1);
    for (i, cell) in cells.iter().enumerate() {
        let (t, p) = (i / k, i % k);
        let n = report.confusion[t][p];
        let shade = n as f64 / max as f64;
        let color = if t == p {
            RGBColor(38, 140, 80)
        } else {
            RGBColor(200, 60, 40)
        };
        cell.fill(&color.mix(0.08 + 0.85 * shade)).map_err(err)?;
        let (w, h) = cell.dim_in_pixel();
        cell.draw(&Text::new(
            n.to_string(),
            (w as i32 / 2 - 8, h as i32 / 2 - 10),
            ("sans-serif", 22),
        ))
        .map_err(err)?;
    }
    let (gw, gh) = grid.dim_in_pixel();
    let (cw, ch) = (gw as i32 / k as i32, gh as i32 / k as i32);
    for (i, l) in report.labels.iter().enumerate() {
        rows.draw(&Text::new(
            format!("true {l}"),
            (8, 10 + ch * i as i32 + ch / 2 - 7),
            ("sans-serif", 14),
        ))
        .map_err(err)?;
        cols.draw(&Text::new(
            format!("predicted {l}"),
            (20 + cw * i as i32 + 6, 10),
            ("sans-serif", 14),
        ))
        .map_err(err)?;
    }
    Ok(())
}
