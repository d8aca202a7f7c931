//! The pictures of a trained network: the confusion matrix as a heat map, the test images it
//! got wrong, the feature maps of one image layer by layer (the report's Fig 4.1), and the layer
//! diagram. Each is plain data (built from a run's summary and the network's
//! [`LayerOutput`]s) that draws itself with plotters into PNG (and SVG where it stays small).

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::image::GrayImage;
use super::plot::{FONT_FAMILY, Figure, PlotError, draw_error, save_figure};
use mnist_lab::model::LayerOutput;
use mnist_lab::train::Mistake;

fn text_style(size: u32, color: RGBColor, pos: Pos) -> TextStyle<'static> {
    TextStyle {
        font: (FONT_FAMILY, size).into_font(),
        color: color.to_backend_color(),
        pos,
    }
}

/// The ink of every caption, label and outline.
const DARK: RGBColor = RGBColor(30, 30, 30);

const CENTRE: Pos = Pos {
    h_pos: HPos::Center,
    v_pos: VPos::Center,
};
const LEFT: Pos = Pos {
    h_pos: HPos::Left,
    v_pos: VPos::Center,
};

fn text<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    name: &str,
    s: &str,
    at: (i32, i32),
    style: &TextStyle<'_>,
) -> Result<(), PlotError> {
    root.draw(&Text::new(s.to_string(), at, style.clone()))
        .map_err(|e| draw_error(name, e))
}

/// White background and the caption: how every figure starts.
fn begin<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    name: &str,
    title: &str,
    at: (i32, i32),
    style: &TextStyle<'_>,
) -> Result<(), PlotError> {
    root.fill(&WHITE).map_err(|e| draw_error(name, e))?;
    text(root, name, title, at, style)
}

fn rect<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    name: &str,
    corners: [(i32, i32); 2],
    style: ShapeStyle,
) -> Result<(), PlotError> {
    root.draw(&Rectangle::new(corners, style))
        .map_err(|e| draw_error(name, e))
}

/// `confusion[true][predicted]` as a grid of cells coloured by the share of the true class's
/// images, each with its count.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfusionHeatMap {
    /// Caption above the grid.
    pub title: String,
    /// `confusion[true][predicted]`, square.
    pub confusion: Vec<Vec<usize>>,
    /// One name per class (`0`..`9` for digits).
    pub class_names: Vec<String>,
}

const CELL: i32 = 52;
const MAP_LEFT: i32 = 110;
const MAP_TOP: i32 = 70;

impl ConfusionHeatMap {
    /// A heat map with the classes named by their index.
    pub fn new(title: impl Into<String>, confusion: Vec<Vec<usize>>) -> Self {
        let class_names = (0..confusion.len()).map(|c| c.to_string()).collect();
        Self {
            title: title.into(),
            confusion,
            class_names,
        }
    }

    /// Writes `<dir>/<name>.png` and `<dir>/<name>.svg`.
    pub fn save(&self, dir: &Path, name: &str) -> Result<Vec<PathBuf>, PlotError> {
        if self.confusion.is_empty() {
            return Err(PlotError::Empty(name.to_string()));
        }
        save_figure(self, dir, name, true)
    }

    /// The colour of a cell holding `share` (0 to 1) of its row: white to DARK blue, on a square
    /// root scale so that a few mistakes already show.
    pub fn cell_color(share: f64) -> RGBColor {
        let t = share.clamp(0.0, 1.0).sqrt();
        let mix = |white: f64, blue: f64| (white + (blue - white) * t).round() as u8;
        RGBColor(mix(255.0, 8.0), mix(255.0, 48.0), mix(255.0, 107.0))
    }
}

impl Figure for ConfusionHeatMap {
    fn size(&self) -> (u32, u32) {
        let n = self.confusion.len() as i32;
        (
            (MAP_LEFT + n * CELL + 30) as u32,
            (MAP_TOP + n * CELL + 70) as u32,
        )
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        name: &str,
    ) -> Result<(), PlotError> {
        let n = self.confusion.len() as i32;
        let (w, _) = self.size();
        begin(
            root,
            name,
            &self.title,
            (w as i32 / 2, 24),
            &text_style(20, DARK, CENTRE),
        )?;
        let label = text_style(15, DARK, CENTRE);
        for (t, row) in self.confusion.iter().enumerate() {
            let total: usize = row.iter().sum();
            let y = MAP_TOP + t as i32 * CELL;
            text(
                root,
                name,
                &self.class_names[t],
                (MAP_LEFT - 14, y + CELL / 2),
                &label,
            )?;
            for (p, &count) in row.iter().enumerate() {
                let x = MAP_LEFT + p as i32 * CELL;
                let share = if total == 0 {
                    0.0
                } else {
                    count as f64 / total as f64
                };
                rect(
                    root,
                    name,
                    [(x, y), (x + CELL, y + CELL)],
                    Self::cell_color(share).filled(),
                )?;
                let ink = if share > 0.35 { WHITE } else { DARK };
                text(
                    root,
                    name,
                    &count.to_string(),
                    (x + CELL / 2, y + CELL / 2),
                    &text_style(if count >= 1000 { 13 } else { 15 }, ink, CENTRE),
                )?;
            }
        }
        rect(
            root,
            name,
            [
                (MAP_LEFT, MAP_TOP),
                (MAP_LEFT + n * CELL, MAP_TOP + n * CELL),
            ],
            DARK.stroke_width(1),
        )?;
        let bottom = MAP_TOP + n * CELL;
        for (p, class) in self.class_names.iter().enumerate() {
            let x = MAP_LEFT + p as i32 * CELL + CELL / 2;
            text(root, name, class, (x, bottom + 16), &label)?;
        }
        text(
            root,
            name,
            "predicted",
            (MAP_LEFT + n * CELL / 2, bottom + 44),
            &text_style(17, DARK, CENTRE),
        )?;
        text(
            root,
            name,
            "true",
            (34, MAP_TOP + n * CELL / 2),
            &text_style(17, DARK, CENTRE),
        )
    }
}

/// Test images a network got wrong, each with `truth -> predicted (probability)` under it.
#[derive(Clone, Debug, PartialEq)]
pub struct MistakesGrid {
    /// Caption above the grid.
    pub title: String,
    /// The images and their captions, in drawing order.
    pub cells: Vec<(GrayImage, String)>,
    /// Cells per row.
    pub columns: usize,
    /// Each image pixel drawn `scale x scale`.
    pub scale: usize,
}

impl MistakesGrid {
    /// The `max` most confident of `mistakes` (highest probability for the wrong class first),
    /// each image from `image_of(index)`; mistakes whose image it cannot give are left out.
    /// `class_names[c]` names class `c`.
    pub fn most_confident(
        model: &str,
        total: usize,
        mistakes: &[Mistake],
        max: usize,
        class_names: &[String],
        image_of: impl Fn(usize) -> Option<GrayImage>,
    ) -> Self {
        let mut sorted: Vec<&Mistake> = mistakes.iter().collect();
        sorted.sort_by(|a, b| b.probability.total_cmp(&a.probability));
        let name = |c: usize| class_names.get(c).cloned().unwrap_or_else(|| c.to_string());
        let cells: Vec<(GrayImage, String)> = sorted
            .iter()
            .filter_map(|m| {
                let caption = format!(
                    "{} -> {} {:.0}%",
                    name(m.truth),
                    name(m.predicted),
                    100.0 * m.probability
                );
                image_of(m.index).map(|img| (img, caption))
            })
            .take(max)
            .collect();
        let shown = if cells.len() < mistakes.len() {
            format!("; the {} most confident shown", cells.len())
        } else {
            String::new()
        };
        Self {
            title: format!(
                "{model}: {} of {total} test images wrong{shown} (true -> predicted, probability)",
                mistakes.len()
            ),
            cells,
            columns: 10,
            scale: 3,
        }
    }

    /// Writes `<dir>/<name>.png` (no SVG: every pixel would be an element).
    pub fn save(&self, dir: &Path, name: &str) -> Result<Vec<PathBuf>, PlotError> {
        save_figure(self, dir, name, false)
    }

    fn cell_size(&self) -> (i32, i32) {
        let side = self
            .cells
            .iter()
            .map(|(img, _)| img.width.max(img.height))
            .max()
            .unwrap_or(28) as i32
            * self.scale as i32;
        ((side + 24).max(110), side + 30)
    }
}

impl Figure for MistakesGrid {
    fn size(&self) -> (u32, u32) {
        let (cw, ch) = self.cell_size();
        let columns = self.columns.max(1) as i32;
        let rows = self.cells.len().div_ceil(self.columns.max(1)).max(1) as i32;
        (
            (columns * cw + 20).max(700) as u32,
            (50 + rows * ch + 10) as u32,
        )
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        name: &str,
    ) -> Result<(), PlotError> {
        begin(
            root,
            name,
            &self.title,
            (10, 24),
            &text_style(16, DARK, LEFT),
        )?;
        let (cw, ch) = self.cell_size();
        let columns = self.columns.max(1);
        for (i, (img, caption)) in self.cells.iter().enumerate() {
            let x0 = 10 + (i % columns) as i32 * cw;
            let y0 = 50 + (i / columns) as i32 * ch;
            let ix = x0 + (cw - (img.width * self.scale) as i32) / 2;
            draw_gray(root, img, (ix, y0), self.scale);
            text(
                root,
                name,
                caption,
                (x0 + cw / 2, y0 + (img.height * self.scale) as i32 + 13),
                &text_style(14, DARK, CENTRE),
            )?;
        }
        Ok(())
    }
}

/// Draws `img` in grey with its top-left at `at`, each pixel `scale x scale`.
fn draw_gray<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    img: &GrayImage,
    at: (i32, i32),
    scale: usize,
) {
    for y in 0..img.height {
        for x in 0..img.width {
            let v = img.pixels[y * img.width + x];
            let c = RGBColor(v, v, v);
            for dy in 0..scale {
                for dx in 0..scale {
                    // A pixel outside the area is clipped, not an error worth stopping for.
                    let _ = root.draw_pixel(
                        (
                            at.0 + (x * scale + dx) as i32,
                            at.1 + (y * scale + dy) as i32,
                        ),
                        &c,
                    );
                }
            }
        }
    }
}

/// The feature maps of one image after every convolution and pooling: one row of tiles per
/// layer, each map scaled to its own minimum (black) and maximum (white), the layer and its
/// output shape above it (the report's Fig 4.1).
#[derive(Clone, Debug)]
pub struct FeatureMaps {
    /// Caption above the figure.
    pub title: String,
    /// The image the network was given.
    pub input: GrayImage,
    /// The layers with `[channels, height, width]` outputs.
    pub layers: Vec<LayerOutput>,
    /// Tiles per row.
    pub columns: usize,
}

const TILE: usize = 56;
const GAP: i32 = 4;

impl FeatureMaps {
    /// The maps of the layers in `layers` that output feature maps; an error when there are none
    /// (a network without convolutions).
    pub fn new(
        title: impl Into<String>,
        input: GrayImage,
        layers: &[LayerOutput],
    ) -> Result<Self, PlotError> {
        let title = title.into();
        let layers: Vec<LayerOutput> = layers
            .iter()
            .filter(|l| l.is_feature_maps())
            .cloned()
            .collect();
        if layers.is_empty() {
            return Err(PlotError::Draw {
                name: title,
                message: "the network has no convolutional or pooling layers: feature maps are \
                          drawn for the CNNs only"
                    .into(),
            });
        }
        Ok(Self {
            title,
            input,
            layers,
            columns: 16,
        })
    }

    /// Writes `<dir>/<name>.png`.
    pub fn save(&self, dir: &Path, name: &str) -> Result<Vec<PathBuf>, PlotError> {
        save_figure(self, dir, name, false)
    }

    fn tile_scale(shape: &[usize]) -> usize {
        (TILE / shape[1].max(shape[2]).max(1)).max(1)
    }

    fn rows(&self, layer: &LayerOutput) -> i32 {
        layer.shape[0].div_ceil(self.columns.max(1)) as i32
    }

    fn tile_side(layer: &LayerOutput) -> i32 {
        (Self::tile_scale(&layer.shape) * layer.shape[1].max(layer.shape[2])) as i32
    }

    /// One map of `layer` as an 8-bit picture, scaled to its own range (a constant map is
    /// black).
    pub fn map_image(layer: &LayerOutput, channel: usize) -> GrayImage {
        let (h, w) = (layer.shape[1], layer.shape[2]);
        let values = &layer.values[channel * h * w..(channel + 1) * h * w];
        let (lo, hi) = values
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        let range = hi - lo;
        GrayImage {
            width: w,
            height: h,
            pixels: values
                .iter()
                .map(|&v| {
                    if range > 0.0 && range.is_finite() {
                        (255.0 * (v - lo) / range).round() as u8
                    } else {
                        0
                    }
                })
                .collect(),
        }
    }
}

const HEADER: i32 = 30;

impl Figure for FeatureMaps {
    fn size(&self) -> (u32, u32) {
        let widest = self
            .layers
            .iter()
            .map(|l| l.shape[0].min(self.columns) as i32 * (Self::tile_side(l) + GAP))
            .max()
            .unwrap_or(0);
        let height: i32 = self
            .layers
            .iter()
            .map(|l| HEADER + self.rows(l) * (Self::tile_side(l) + GAP) + 8)
            .sum();
        let input = (self.input.height * 3) as i32 + HEADER + 50;
        ((widest + 20).max(760) as u32, (input + height + 10) as u32)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        name: &str,
    ) -> Result<(), PlotError> {
        begin(
            root,
            name,
            &self.title,
            (10, 22),
            &text_style(18, DARK, LEFT),
        )?;
        let heading = text_style(15, DARK, LEFT);
        let mut y = 44;
        let input_shape = format!("input [1, {}, {}]", self.input.height, self.input.width);
        text(root, name, &input_shape, (10, y + 10), &heading)?;
        draw_gray(root, &self.input, (10, y + HEADER - 6), 3);
        y += HEADER + (self.input.height * 3) as i32 + 6;
        for layer in &self.layers {
            let shape: Vec<String> = layer.shape.iter().map(ToString::to_string).collect();
            let caption = format!("{}: {} -> [{}]", layer.name, layer.op, shape.join(", "));
            text(root, name, &caption, (10, y + 12), &heading)?;
            y += HEADER - 4;
            let side = Self::tile_side(layer);
            let scale = Self::tile_scale(&layer.shape);
            for channel in 0..layer.shape[0] {
                let x = 10 + (channel % self.columns) as i32 * (side + GAP);
                let ty = y + (channel / self.columns) as i32 * (side + GAP);
                draw_gray(root, &Self::map_image(layer, channel), (x, ty), scale);
            }
            y += self.rows(layer) * (side + GAP) + 12;
        }
        Ok(())
    }
}

/// A network's layers as a column of boxes: what each computes, its output shape and its
/// trainable parameters, from the input down to the class scores.
#[derive(Clone, Debug)]
pub struct LayerDiagram {
    /// Caption above the boxes.
    pub title: String,
    /// The input's shape for one image.
    pub input: Vec<usize>,
    /// The layers in order.
    pub layers: Vec<LayerOutput>,
}

const BOX_H: i32 = 46;
const BOX_GAP: i32 = 22;
const BOX_W: i32 = 620;

impl LayerDiagram {
    /// The diagram of `layers`, titled with the network's name and trainable parameter count.
    pub fn new(model: &str, input: Vec<usize>, layers: &[LayerOutput]) -> Self {
        let params: usize = layers.iter().map(|l| l.params).sum();
        Self {
            title: format!("{model}: {} trainable parameters", thousands(params)),
            input,
            layers: layers.to_vec(),
        }
    }

    /// Writes `<dir>/<name>.png` and `<dir>/<name>.svg`.
    pub fn save(&self, dir: &Path, name: &str) -> Result<Vec<PathBuf>, PlotError> {
        save_figure(self, dir, name, true)
    }
}

/// `1797642` as `1,797,642`.
///
/// ```
/// assert_eq!(mnist_lab_tools::report::pictures::thousands(1_797_642), "1,797,642");
/// assert_eq!(mnist_lab_tools::report::pictures::thousands(850), "850");
/// ```
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn shape_text(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(ToString::to_string).collect();
    format!("[{}]", dims.join(", "))
}

impl Figure for LayerDiagram {
    fn size(&self) -> (u32, u32) {
        let boxes = self.layers.len() as i32 + 1;
        (
            (BOX_W + 40) as u32,
            (60 + boxes * (BOX_H + BOX_GAP) + 10) as u32,
        )
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        name: &str,
    ) -> Result<(), PlotError> {
        let (w, _) = self.size();
        begin(
            root,
            name,
            &self.title,
            (w as i32 / 2, 24),
            &text_style(19, DARK, CENTRE),
        )?;
        let x0 = 20;
        let input = LayerOutput {
            name: "input".into(),
            op: "one image".into(),
            params: 0,
            shape: self.input.clone(),
            values: vec![],
        };
        for (i, layer) in std::iter::once(&input).chain(&self.layers).enumerate() {
            let y = 50 + i as i32 * (BOX_H + BOX_GAP);
            let fill = if layer.is_feature_maps() {
                RGBColor(222, 235, 247)
            } else {
                RGBColor(237, 237, 237)
            };
            rect(
                root,
                name,
                [(x0, y), (x0 + BOX_W, y + BOX_H)],
                fill.filled(),
            )?;
            rect(
                root,
                name,
                [(x0, y), (x0 + BOX_W, y + BOX_H)],
                DARK.stroke_width(1),
            )?;
            text(
                root,
                name,
                &format!("{}  ({})", layer.name, layer.op),
                (x0 + 10, y + 15),
                &text_style(15, DARK, LEFT),
            )?;
            let params = if layer.params > 0 {
                format!("  |  {} parameters", thousands(layer.params))
            } else {
                String::new()
            };
            text(
                root,
                name,
                &format!("output {}{params}", shape_text(&layer.shape)),
                (x0 + 10, y + 33),
                &text_style(14, RGBColor(70, 70, 70), LEFT),
            )?;
            if i > 0 {
                let ax = x0 + BOX_W / 2;
                root.draw(&PathElement::new(
                    vec![(ax, y - BOX_GAP + 2), (ax, y - 2)],
                    DARK.stroke_width(2),
                ))
                .map_err(|e| draw_error(name, e))?;
                root.draw(&Polygon::new(
                    vec![(ax - 5, y - 8), (ax + 5, y - 8), (ax, y - 1)],
                    DARK.filled(),
                ))
                .map_err(|e| draw_error(name, e))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_colours_run_from_white_to_blue() {
        assert_eq!(ConfusionHeatMap::cell_color(0.0), RGBColor(255, 255, 255));
        assert_eq!(ConfusionHeatMap::cell_color(1.0), RGBColor(8, 48, 107));
        // Square root: 1% of a row is already a tenth of the way.
        let RGBColor(r, _, _) = ConfusionHeatMap::cell_color(0.01);
        assert_eq!(r, 230);
    }

    #[test]
    fn each_cell_is_coloured_by_its_share_of_the_row() {
        let dir = tempfile::tempdir().unwrap();
        let map = ConfusionHeatMap::new("t", vec![vec![3, 1], vec![0, 4]]);
        map.save(dir.path(), "c").unwrap();
        let img = image::open(dir.path().join("c.png")).unwrap().to_rgb8();
        assert_eq!((img.width(), img.height()), map.size());
        let at = |row: i32, col: i32| {
            let p = img.get_pixel(
                (MAP_LEFT + col * CELL + 4) as u32,
                (MAP_TOP + row * CELL + 4) as u32,
            );
            RGBColor(p[0], p[1], p[2])
        };
        assert_eq!(at(0, 0), ConfusionHeatMap::cell_color(0.75));
        assert_eq!(at(0, 1), ConfusionHeatMap::cell_color(0.25));
        assert_eq!(at(1, 0), ConfusionHeatMap::cell_color(0.0));
        assert_eq!(at(1, 1), ConfusionHeatMap::cell_color(1.0));
    }

    #[test]
    fn a_constant_map_is_black_and_a_ramp_spans_the_range() {
        let layer = LayerOutput {
            name: "conv".into(),
            op: "Conv2d".into(),
            params: 0,
            shape: vec![2, 1, 3],
            values: vec![5.0, 5.0, 5.0, -1.0, 0.0, 1.0],
        };
        assert_eq!(FeatureMaps::map_image(&layer, 0).pixels, [0, 0, 0]);
        assert_eq!(FeatureMaps::map_image(&layer, 1).pixels, [0, 128, 255]);
    }

    #[test]
    fn the_most_confident_mistakes_come_first() {
        let m = |index, probability| Mistake {
            index,
            truth: 3,
            predicted: 5,
            probability,
        };
        let names: Vec<String> = (0..10).map(|c| c.to_string()).collect();
        let grid = MistakesGrid::most_confident(
            "net",
            100,
            &[m(0, 0.5), m(1, 0.9), m(2, 0.7)],
            2,
            &names,
            |i| Some(GrayImage::new(i + 1, 1)),
        );
        let widths: Vec<usize> = grid.cells.iter().map(|(img, _)| img.width).collect();
        assert_eq!(widths, [2, 3]);
        assert_eq!(grid.cells[0].1, "3 -> 5 90%");
        assert!(
            grid.title
                .contains("3 of 100 test images wrong; the 2 most confident shown")
        );
    }
}
