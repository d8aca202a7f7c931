//! Line plots of training runs (loss curves), drawn with plotters and written as PNG and SVG.
//!
//! Text is drawn with a bundled subset of DejaVu Sans (`assets/`), registered with plotters'
//! `ab_glyph` font support, so plots look the same on every machine and need no system fonts.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use mnist_lab::train::{HistoryRow, RunSummary};
use mnist_lab::write_atomic;

/// The font every plot uses (DejaVu Sans, ASCII subset; licence in `assets/`).
const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans-subset.ttf");
pub(crate) const FONT_FAMILY: &str = "sans-serif";

/// A plot that could not be drawn or written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// plotters failed to draw.
    #[error("cannot draw plot `{name}`: {message}")]
    Draw {
        /// The plot's file stem.
        name: String,
        /// What plotters said.
        message: String,
    },
    /// Writing a file failed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Nothing to draw.
    #[error("plot `{0}` has no points: every series is empty")]
    Empty(String),
}

/// One labelled line.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// `(x, y)` points in drawing order; non-finite `y` values are left out.
    pub points: Vec<(f64, f64)>,
}

/// A line chart of one or more series.
#[derive(Clone, Debug, PartialEq)]
pub struct LinePlot {
    /// Caption above the chart.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
}

/// Line colours in order (Tableau 10: distinct, and readable on white, unlike plotters'
/// palette's yellow).
const SERIES_COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Size of every plot, pixels.
pub const PLOT_SIZE: (u32, u32) = (900, 560);

impl LinePlot {
    /// Writes `<dir>/<name>.png` and `<dir>/<name>.svg` (each atomically) and returns their
    /// paths.
    pub fn save(&self, dir: &Path, name: &str) -> Result<[PathBuf; 2], PlotError> {
        if self.bounds().is_none() {
            return Err(PlotError::Empty(name.to_string()));
        }
        let paths = save_figure(self, dir, name, true)?;
        Ok([paths[0].clone(), paths[1].clone()])
    }

    /// Where the legend goes: the upper right, unless a line passes there (a rising accuracy
    /// curve), then the lower right.
    pub fn legend_corner(&self) -> SeriesLabelPosition {
        let Some((x0, x1, y0, y1)) = self.bounds() else {
            return SeriesLabelPosition::UpperRight;
        };
        let crowded =
            self.series.iter().flat_map(|s| &s.points).any(|&(x, y)| {
                x >= x0 + 0.6 * (x1 - x0) && y >= y0 + 0.7 * (y1 - y0) && y.is_finite()
            });
        if crowded {
            SeriesLabelPosition::LowerRight
        } else {
            SeriesLabelPosition::UpperRight
        }
    }

    /// The smallest box holding every finite point: `(x_min, x_max, y_min, y_max)`.
    pub fn bounds(&self) -> Option<(f64, f64, f64, f64)> {
        let mut points = self
            .series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|(x, y)| x.is_finite() && y.is_finite());
        let &(x0, y0) = points.next()?;
        Some(points.fold((x0, x0, y0, y0), |(a, b, c, d), &(x, y)| {
            (a.min(x), b.max(x), c.min(y), d.max(y))
        }))
    }
}

impl Figure for LinePlot {
    fn size(&self) -> (u32, u32) {
        PLOT_SIZE
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        name: &str,
    ) -> Result<(), PlotError> {
        let (x0, x1, y0, y1) = self
            .bounds()
            .ok_or_else(|| PlotError::Empty(name.to_string()))?;
        let pad = ((y1 - y0) * 0.05).max(1e-3);
        // Curves against epochs start at 0, whatever their first point.
        let x0 = x0.min(0.0);
        let x1 = if x1 > x0 { x1 } else { x0 + 1.0 };
        root.fill(&WHITE).map_err(|e| draw_error(name, e))?;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FONT_FAMILY, 24))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, (y0 - pad).max(0.0)..y1 + pad)
            .map_err(|e| draw_error(name, e))?;
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .label_style((FONT_FAMILY, 16))
            .axis_desc_style((FONT_FAMILY, 18))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(|e| draw_error(name, e))?;
        for (i, series) in self.series.iter().enumerate() {
            let color = SERIES_COLORS[i % SERIES_COLORS.len()];
            let points = series.points.iter().copied().filter(|(_, y)| y.is_finite());
            // Points are marked where there are few (a value per epoch), so one shows too.
            let marks = if series.points.len() <= 30 { 4 } else { 0 };
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)).point_size(marks))
                .map_err(|e| draw_error(name, e))?
                .label(series.label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .position(self.legend_corner())
            .label_font((FONT_FAMILY, 16))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| draw_error(name, e))?;
        Ok(())
    }
}

/// Something drawn the same way on a bitmap and into SVG.
pub(crate) trait Figure {
    /// Width and height, pixels.
    fn size(&self) -> (u32, u32);
    /// Draws onto `root` (already sized); `name` is for error messages.
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        name: &str,
    ) -> Result<(), PlotError>;
}

/// Registers the font and checks the figure has a drawable size.
fn prepare(size: (u32, u32), name: &str) -> Result<(), PlotError> {
    register_font();
    if size.0 == 0 || size.1 == 0 || size.0 as u64 * size.1 as u64 > 64_000_000 {
        return Err(PlotError::Draw {
            name: name.to_string(),
            message: format!("a figure of {}x{} pixels", size.0, size.1),
        });
    }
    Ok(())
}

/// Draws `figure` into `<dir>/<name>.png`, and into `<dir>/<name>.svg` when `svg`; each file
/// is written atomically. Returns the paths written.
pub(crate) fn save_figure(
    figure: &impl Figure,
    dir: &Path,
    name: &str,
    svg: bool,
) -> Result<Vec<PathBuf>, PlotError> {
    let size = figure.size();
    prepare(size, name)?;
    let (w, h) = size;
    let mut rgb = vec![0u8; 3 * (w as usize) * (h as usize)];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        figure.draw(&root, name)?;
        root.present().map_err(|e| draw_error(name, e))?;
    }
    let png = encode_rgb_png(&rgb, w, h).map_err(|e| draw_error(name, e))?;
    let mut files = vec![(dir.join(format!("{name}.png")), png)];
    if svg {
        let mut text = String::new();
        {
            let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
            figure.draw(&root, name)?;
            root.present().map_err(|e| draw_error(name, e))?;
        }
        files.push((dir.join(format!("{name}.svg")), text.into_bytes()));
    }
    for (path, bytes) in &files {
        write_atomic(path, bytes).map_err(|source| PlotError::Io {
            path: path.clone(),
            source,
        })?;
    }
    Ok(files.into_iter().map(|(path, _)| path).collect())
}

pub(crate) fn draw_error(name: &str, e: impl std::fmt::Display) -> PlotError {
    PlotError::Draw {
        name: name.to_string(),
        message: e.to_string(),
    }
}

/// Registers the bundled font as plotters' `sans-serif`. Plotting in this crate does it itself;
/// another user of plotters in the same binary needs it too, because this crate compiles
/// plotters with its `ab_glyph` font backend, which knows no system fonts (criterion's plots in
/// `benches/` call it).
pub fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, FONT)
            .unwrap_or_else(|_| unreachable!("the bundled font is a valid TrueType file"));
    });
}

fn encode_rgb_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, png::EncodingError> {
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(rgb)?;
    }
    Ok(bytes)
}

/// A training loss curve: the mean loss of each window of `window` steps, against epochs
/// (`x = step / steps_per_epoch`, so the curve of a 5-epoch run ends at 5).
///
/// ```
/// use mnist_lab_tools::report::loss_curve;
/// use mnist_lab::train::HistoryRow;
/// let rows: Vec<HistoryRow> = (1..=4)
///     .map(|step| HistoryRow { step, epoch: 1 + (step - 1) / 2, loss: step as f32, learning_rate: 0.1 })
///     .collect();
/// assert_eq!(loss_curve(&rows, 2), vec![(1.0, 1.5), (2.0, 3.5)]);
/// ```
pub fn loss_curve(history: &[HistoryRow], window: usize) -> Vec<(f64, f64)> {
    let window = window.max(1);
    let steps_per_epoch = history.iter().filter(|r| r.epoch == 1).count().max(1) as f64;
    history
        .chunks(window)
        .map(|chunk| {
            let mean = chunk.iter().map(|r| r.loss as f64).sum::<f64>() / chunk.len() as f64;
            let last = chunk[chunk.len() - 1].step as f64;
            (last / steps_per_epoch, mean)
        })
        .collect()
}

/// Test loss and accuracy after each epoch, `(epoch, loss, accuracy %)`: the summary's per-epoch
/// evaluations, or for a summary written before they were recorded, the evaluation at the end of
/// each stage.
pub fn test_points(summary: &RunSummary) -> Vec<(f64, f64, f64)> {
    if !summary.epochs.is_empty() {
        return summary
            .epochs
            .iter()
            .map(|e| (e.epoch as f64, e.test_loss, e.test_accuracy))
            .collect();
    }
    let mut epoch = 0;
    summary
        .stages
        .iter()
        .map(|s| {
            epoch += s.epochs;
            (epoch as f64, s.test_loss, s.test_accuracy)
        })
        .collect()
}

/// A run's two curves against epochs: the training loss (mean of each tenth of an epoch, at most
/// 100 steps) beside the test loss after each epoch, and the test accuracy after each epoch.
pub fn epoch_curves(name: &str, summary: &RunSummary, history: &[HistoryRow]) -> [LinePlot; 2] {
    let steps_per_epoch = history.iter().filter(|r| r.epoch == 1).count();
    let points = test_points(summary);
    let loss = LinePlot {
        title: format!("{name}: loss"),
        x_label: "epoch".into(),
        y_label: "loss (NLL)".into(),
        series: vec![
            Series {
                label: "training (per step window)".into(),
                points: loss_curve(history, (steps_per_epoch / 10).clamp(1, 100)),
            },
            Series {
                label: "test (after each epoch)".into(),
                points: points.iter().map(|&(e, l, _)| (e, l)).collect(),
            },
        ],
    };
    let accuracy = LinePlot {
        title: format!("{name}: test accuracy after each epoch"),
        x_label: "epoch".into(),
        y_label: "test accuracy (%)".into(),
        series: vec![Series {
            label: "test accuracy".into(),
            points: points.iter().map(|&(e, _, a)| (e, a)).collect(),
        }],
    };
    [loss, accuracy]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_skip_non_finite_points() {
        let plot = LinePlot {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            series: vec![
                Series {
                    label: "a".into(),
                    points: vec![(0.0, 2.0), (1.0, f64::NAN), (2.0, 0.5)],
                },
                Series {
                    label: "b".into(),
                    points: vec![],
                },
            ],
        };
        assert_eq!(plot.bounds(), Some((0.0, 2.0, 0.5, 2.0)));
        // Falling from the upper left: the upper right is free.
        assert_eq!(plot.legend_corner(), SeriesLabelPosition::UpperRight);
        let rising = LinePlot {
            series: vec![Series {
                label: "accuracy".into(),
                points: vec![(1.0, 90.0), (2.0, 97.0), (3.0, 98.0)],
            }],
            ..plot.clone()
        };
        assert_eq!(rising.legend_corner(), SeriesLabelPosition::LowerRight);
        let empty = LinePlot {
            series: vec![],
            ..plot
        };
        assert_eq!(empty.bounds(), None);
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            empty.save(dir.path(), "none"),
            Err(PlotError::Empty(_))
        ));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
