//! Test digits drawn as a person draws them on the serve page: with its pen (black, 20 px wide,
//! round caps) on its white 280x280 canvas. `tests/predict.rs` rasterizes the strokes here;
//! `tests/browser/draw.mjs` draws the same strokes (`tests/browser/strokes.json`, written from
//! here) with pointer events in a real browser.

use image::imageops::FilterType;
use image::{GrayImage, Luma};

/// The page's canvas side and pen width (`src/serve/page.html`).
pub const CANVAS: u32 = 280;
pub const PEN_WIDTH: f32 = 20.0;

/// Where and how large a digit is drawn: `scale` canvas px per MNIST pixel, from (`left`, `top`).
pub struct Placement {
    pub name: &'static str,
    pub scale: f32,
    pub left: f32,
    pub top: f32,
}

/// Over the whole canvas: the pen is 2 MNIST pixels wide, as MNIST's strokes are.
pub const WHOLE_CANVAS: Placement = Placement {
    name: "whole canvas, 10 px per pixel",
    scale: 10.0,
    left: 0.0,
    top: 0.0,
};
/// Smaller, in the lower right: the pen is 3.3 MNIST pixels wide, bolder than most of MNIST's.
pub const SMALLER: Placement = Placement {
    name: "smaller, lower right, 6 px per pixel",
    scale: 6.0,
    left: 100.0,
    top: 90.0,
};

/// The resolution the strokes are found at, in fine pixels per MNIST pixel.
const FINE: usize = 4;
const N: usize = 28 * FINE;

/// The strokes that draw `digit` at `placement` with the page's pen, in canvas coordinates:
/// the digit's centre lines (its pixels of more than half ink, thinned to one pixel by Zhang and
/// Suen's method), and where the digit is bolder than the pen, rows that fill it (its ink eroded
/// by the pen's radius: the pen stays inside the ink). Each a polyline; a dot is two equal points.
pub fn strokes(digit: &GrayImage, placement: &Placement) -> Vec<Vec<(f32, f32)>> {
    let fine = image::imageops::resize(digit, N as u32, N as u32, FilterType::Triangle);
    let ink: Vec<Vec<bool>> = (0..N)
        .map(|y| {
            (0..N)
                .map(|x| fine.get_pixel(x as u32, y as u32)[0] > 128)
                .collect()
        })
        .collect();
    let mut lines = centre_lines(&ink);
    // The pen's radius in fine pixels; fill rows that far apart overlap.
    let radius = PEN_WIDTH / 2.0 / placement.scale * FINE as f32;
    let inside = eroded(&ink, radius);
    for y in (0..N).step_by((radius.floor() as usize).max(1)) {
        let mut x = 0;
        while x < N {
            if !inside[y][x] {
                x += 1;
                continue;
            }
            let start = x;
            while x < N && inside[y][x] {
                x += 1;
            }
            lines.push(vec![(start, y), (x - 1, y)]);
        }
    }
    // On the canvas, to a tenth of a pixel (as the browser test's file has them).
    let canvas = |v: usize, offset: f32| {
        ((offset + (v as f32 + 0.5) / FINE as f32 * placement.scale) * 10.0).round() / 10.0
    };
    lines
        .into_iter()
        .map(|line| {
            let points: Vec<(f32, f32)> = line
                .into_iter()
                .map(|(x, y)| (canvas(x, placement.left), canvas(y, placement.top)))
                .collect();
            simplified(&points, 0.5)
        })
        .collect()
}

/// `line` with the points dropped that lie within `tolerance` of the straight line between
/// the points kept around them (Ramer, Douglas and Peucker): fewer pointer events for the same
/// stroke.
fn simplified(line: &[(f32, f32)], tolerance: f32) -> Vec<(f32, f32)> {
    if line.len() < 3 {
        return line.to_vec();
    }
    let ((ax, ay), (bx, by)) = (line[0], line[line.len() - 1]);
    let (dx, dy) = (bx - ax, by - ay);
    let length = (dx * dx + dy * dy).sqrt();
    let distance = |&(x, y): &(f32, f32)| {
        if length == 0.0 {
            ((x - ax).powi(2) + (y - ay).powi(2)).sqrt()
        } else {
            ((x - ax) * dy - (y - ay) * dx).abs() / length
        }
    };
    let (far, farthest) = line[1..line.len() - 1]
        .iter()
        .enumerate()
        .map(|(i, p)| (i + 1, distance(p)))
        .fold(
            (0, 0.0),
            |best, next| if next.1 > best.1 { next } else { best },
        );
    if farthest <= tolerance {
        return vec![line[0], line[line.len() - 1]];
    }
    let mut kept = simplified(&line[..=far], tolerance);
    kept.pop();
    kept.extend(simplified(&line[far..], tolerance));
    kept
}

/// What `tests/browser/draw.mjs` draws: for each placement, its name and each digit's strokes
/// (flat `[x0, y0, x1, y1, ...]` in canvas px), as JSON.
pub fn browser_strokes(digits: &[GrayImage], placements: &[&Placement]) -> String {
    let renderings: Vec<serde_json::Value> = placements
        .iter()
        .map(|placement| {
            let drawn: Vec<Vec<Vec<f64>>> = digits
                .iter()
                .map(|digit| {
                    strokes(digit, placement)
                        .into_iter()
                        .map(|line| {
                            // As f64 so that a tenth of a pixel prints as such.
                            let tenths = |v: f32| (v as f64 * 10.0).round() / 10.0;
                            line.into_iter()
                                .flat_map(|(x, y)| [tenths(x), tenths(y)])
                                .collect()
                        })
                        .collect()
                })
                .collect();
            serde_json::json!({ "name": placement.name, "digits": drawn })
        })
        .collect();
    let mut json = serde_json::to_string(&serde_json::json!({ "renderings": renderings })).unwrap();
    json.push('\n');
    json
}

/// `ink` eroded by a disc of `radius` (outside the image is no ink).
fn eroded(ink: &[Vec<bool>], radius: f32) -> Vec<Vec<bool>> {
    let r = radius.ceil() as i64;
    let disc: Vec<(i64, i64)> = (-r..=r)
        .flat_map(|dy| (-r..=r).map(move |dx| (dx, dy)))
        .filter(|&(dx, dy)| ((dx * dx + dy * dy) as f32).sqrt() <= radius)
        .collect();
    let n = N as i64;
    (0..n)
        .map(|y| {
            (0..n)
                .map(|x| {
                    disc.iter().all(|(dx, dy)| {
                        let (x, y) = (x + dx, y + dy);
                        (0..n).contains(&x) && (0..n).contains(&y) && ink[y as usize][x as usize]
                    })
                })
                .collect()
        })
        .collect()
}

/// `ink` thinned to one-pixel centre lines (Zhang and Suen 1984), as polylines of neighbouring
/// pixels, each link once; a lone pixel is a dot.
fn centre_lines(ink: &[Vec<bool>]) -> Vec<Vec<(usize, usize)>> {
    // A frame of one pixel around, so that every pixel has 8 neighbours.
    let mut on: Vec<Vec<bool>> = (0..N + 2)
        .map(|y| {
            (0..N + 2)
                .map(|x| (1..=N).contains(&x) && (1..=N).contains(&y) && ink[y - 1][x - 1])
                .collect()
        })
        .collect();
    loop {
        let mut changed = false;
        for step in 0..2 {
            let mut remove = vec![];
            for y in 1..=N {
                for x in 1..=N {
                    if !on[y][x] {
                        continue;
                    }
                    // The 8 neighbours clockwise from north.
                    let n = [
                        on[y - 1][x],
                        on[y - 1][x + 1],
                        on[y][x + 1],
                        on[y + 1][x + 1],
                        on[y + 1][x],
                        on[y + 1][x - 1],
                        on[y][x - 1],
                        on[y - 1][x - 1],
                    ];
                    let count = n.iter().filter(|&&b| b).count();
                    let transitions = (0..8).filter(|&i| !n[i] && n[(i + 1) % 8]).count();
                    let (first, second) = if step == 0 {
                        (n[0] && n[2] && n[4], n[2] && n[4] && n[6])
                    } else {
                        (n[0] && n[2] && n[6], n[0] && n[4] && n[6])
                    };
                    if (2..=6).contains(&count) && transitions == 1 && !first && !second {
                        remove.push((x, y));
                    }
                }
            }
            changed |= !remove.is_empty();
            for (x, y) in remove {
                on[y][x] = false;
            }
        }
        if !changed {
            break;
        }
    }
    let neighbours = |x: usize, y: usize| {
        [
            (-1i64, -1i64),
            (0, -1),
            (1, -1),
            (-1, 0),
            (1, 0),
            (-1, 1),
            (0, 1),
            (1, 1),
        ]
        .into_iter()
        .map(move |(dx, dy)| ((x as i64 + dx) as usize, (y as i64 + dy) as usize))
        .filter(|&(nx, ny)| on[ny][nx])
    };
    let mut links = vec![];
    let mut lines = vec![];
    for y in 1..=N {
        for x in 1..=N {
            if !on[y][x] {
                continue;
            }
            let mut alone = true;
            for (nx, ny) in neighbours(x, y) {
                alone = false;
                // A diagonal link is left out where a pixel beside both ends links them.
                let bridged = nx != x && ny != y && (on[y][nx] || on[ny][x]);
                if (ny, nx) > (y, x) && !bridged {
                    links.push(((x, y), (nx, ny)));
                }
            }
            if alone {
                lines.push(vec![(x, y), (x, y)]);
            }
        }
    }
    // Each link once, walked into polylines.
    let mut used = vec![false; links.len()];
    while let Some(first) = used.iter().position(|u| !u) {
        used[first] = true;
        let mut line = vec![links[first].0, links[first].1];
        loop {
            let end = *line.last().unwrap();
            let Some(next) =
                (0..links.len()).find(|&i| !used[i] && (links[i].0 == end || links[i].1 == end))
            else {
                break;
            };
            used[next] = true;
            let (a, b) = links[next];
            line.push(if a == end { b } else { a });
        }
        lines.push(line);
    }
    // Back from the framed grid to fine pixels.
    lines
        .into_iter()
        .map(|line| line.into_iter().map(|(x, y)| (x - 1, y - 1)).collect())
        .collect()
}

/// `strokes` drawn as the browser draws them: each link a line of the pen's width with round
/// ends (one pixel of anti-aliasing at the edge), black on the white canvas.
pub fn rasterized(strokes: &[Vec<(f32, f32)>]) -> GrayImage {
    let side = CANVAS as usize;
    let radius = PEN_WIDTH / 2.0;
    let mut ink = vec![0f32; side * side];
    for stroke in strokes {
        for pair in stroke.windows(2) {
            let ((ax, ay), (bx, by)) = (pair[0], pair[1]);
            let span = |a: f32, b: f32| {
                (a.min(b) - radius - 1.0).max(0.0) as usize
                    ..((a.max(b) + radius + 1.0) as usize + 1).min(side)
            };
            let (dx, dy) = (bx - ax, by - ay);
            let length2 = (dx * dx + dy * dy).max(1e-6);
            for py in span(ay, by) {
                for px in span(ax, bx) {
                    let (cx, cy) = (px as f32 + 0.5 - ax, py as f32 + 0.5 - ay);
                    let t = ((cx * dx + cy * dy) / length2).clamp(0.0, 1.0);
                    let distance = ((cx - t * dx).powi(2) + (cy - t * dy).powi(2)).sqrt();
                    let cover = (radius + 0.5 - distance).clamp(0.0, 1.0);
                    let pixel = &mut ink[py * side + px];
                    *pixel = pixel.max(cover);
                }
            }
        }
    }
    GrayImage::from_fn(CANVAS, CANVAS, |x, y| {
        Luma([255 - (ink[y as usize * side + x as usize] * 255.0).round() as u8])
    })
}

/// `digit` drawn on the page at `placement`.
pub fn drawn(digit: &GrayImage, placement: &Placement) -> GrayImage {
    rasterized(&strokes(digit, placement))
}
