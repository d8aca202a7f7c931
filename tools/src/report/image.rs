//! Grayscale image grids with digit captions, written as PNG (the report's Fig 2.4).

use std::io;
use std::path::Path;

use mnist_lab::data::{IMAGE_SIDE, MnistItem};

/// An 8-bit grayscale picture, row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrayImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height` pixels.
    pub pixels: Vec<u8>,
}

impl GrayImage {
    /// A black picture.
    pub fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            pixels: vec![0; width * height],
        }
    }

    /// Copies a `side x side` image at `(x, y)`, each pixel repeated `scale x scale` times.
    pub fn blit_scaled(&mut self, src: &[u8], side: usize, x: usize, y: usize, scale: usize) {
        for (r, row) in src.chunks_exact(side).enumerate() {
            for (c, &p) in row.iter().enumerate() {
                for dy in 0..scale {
                    let start = (y + r * scale + dy) * self.width + x + c * scale;
                    self.pixels[start..start + scale].fill(p);
                }
            }
        }
    }

    /// Draws decimal digits with their top-left at `(x, y)`, `scale` pixels per font dot.
    pub fn draw_number(&mut self, text: &str, x: usize, y: usize, scale: usize) {
        for (i, ch) in text.chars().enumerate() {
            let Some(glyph) = ch.to_digit(10).map(|d| DIGITS[d as usize]) else {
                continue;
            };
            let gx = x + i * (FONT_W + 1) * scale;
            for (r, bits) in glyph.iter().enumerate() {
                for c in 0..FONT_W {
                    if bits & (1 << (FONT_W - 1 - c)) != 0 {
                        for dy in 0..scale {
                            let start = (y + r * scale + dy) * self.width + gx + c * scale;
                            if start + scale <= self.pixels.len() {
                                self.pixels[start..start + scale].fill(255);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Writes the picture as an 8-bit grayscale PNG, atomically.
    pub fn save_png(&self, path: &Path) -> io::Result<()> {
        let mut bytes = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut bytes, self.width as u32, self.height as u32);
            encoder.set_color(png::ColorType::Grayscale);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header().map_err(io::Error::other)?;
            writer
                .write_image_data(&self.pixels)
                .map_err(io::Error::other)?;
        }
        mnist_lab::write_atomic(path, &bytes)
    }
}

// A 3x5 bitmap font for the ten digits. Hand-written because the captions are only digits and a
// font crate (plotters' text, ab_glyph) would need a system font file that CI machines lack.
const FONT_W: usize = 3;
const FONT_H: usize = 5;
const DIGITS: [[u8; FONT_H]; 10] = [
    [0b111, 0b101, 0b101, 0b101, 0b111],
    [0b010, 0b110, 0b010, 0b010, 0b111],
    [0b111, 0b001, 0b111, 0b100, 0b111],
    [0b111, 0b001, 0b111, 0b001, 0b111],
    [0b101, 0b101, 0b111, 0b001, 0b001],
    [0b111, 0b100, 0b111, 0b001, 0b111],
    [0b111, 0b100, 0b111, 0b101, 0b111],
    [0b111, 0b001, 0b010, 0b010, 0b010],
    [0b111, 0b101, 0b111, 0b101, 0b111],
    [0b111, 0b101, 0b111, 0b001, 0b111],
];

/// Lays `items` out `columns` per row, each image scaled by `scale` with its label underneath.
pub fn labelled_grid(items: &[MnistItem], columns: usize, scale: usize) -> GrayImage {
    let columns = columns.max(1);
    let rows = items.len().div_ceil(columns);
    let gap = 2 * scale;
    let font = 2 * scale;
    let caption = (FONT_H + 2) * font;
    let cell_w = IMAGE_SIDE * scale + gap;
    let cell_h = IMAGE_SIDE * scale + caption + gap;
    let mut grid = GrayImage::new(columns * cell_w + gap, rows * cell_h + gap);
    for (i, item) in items.iter().enumerate() {
        let x = gap + (i % columns) * cell_w;
        let y = gap + (i / columns) * cell_h;
        grid.blit_scaled(&item.pixels, IMAGE_SIDE, x, y, scale);
        let label = item.label.to_string();
        let text_w = label.len() * (FONT_W + 1) * font;
        let tx = x + (IMAGE_SIDE * scale).saturating_sub(text_w) / 2;
        grid.draw_number(&label, tx, y + IMAGE_SIDE * scale + font, font);
    }
    grid
}

/// One image enlarged `scale` times, no caption.
pub fn enlarged(item: &MnistItem, scale: usize) -> GrayImage {
    let mut img = GrayImage::new(IMAGE_SIDE * scale, IMAGE_SIDE * scale);
    img.blit_scaled(&item.pixels, IMAGE_SIDE, 0, 0, scale);
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_has_the_expected_size_and_content() {
        let mut item = MnistItem {
            pixels: [0; 784],
            label: 7,
        };
        item.pixels[0] = 200;
        let grid = labelled_grid(&[item.clone(), item], 2, 2);
        // cell: 56 + 4 wide, 56 + 7 * 4 + 4 high; plus the outer gap.
        assert_eq!((grid.width, grid.height), (2 * 60 + 4, 88 + 4));
        assert_eq!(grid.pixels[4 * grid.width + 4], 200);
        assert!(
            grid.pixels.iter().filter(|&&p| p == 255).count() > 0,
            "caption drawn"
        );
    }
}
