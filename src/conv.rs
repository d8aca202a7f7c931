//! Convolution by hand: the report's Q2-Q5, and a reference for burn's `conv2d`.
//!
//! Written for reading, not speed: plain loops that follow the definition. Like PyTorch and burn,
//! "convolution" here is cross-correlation (the kernel is not flipped); the report's sharpen
//! kernel is symmetric, so both readings give the same answers.
//!
//! ```
//! use mnist_lab::conv::{Matrix, conv2d, output_size};
//! let image = Matrix::from_rows(vec![
//!     vec![1, 2, 3, 4, 3], vec![1, 3, 4, 3, 1], vec![0, 1, 5, 1, 0],
//!     vec![1, 3, 4, 3, 1], vec![2, 4, 3, 2, 2],
//! ])?;
//! let sharpen = Matrix::from_rows(vec![vec![0, -1, 0], vec![-1, 5, -1], vec![0, -1, 0]])?;
//! assert_eq!(output_size(5, 3, 0, 2)?, 2);
//! assert_eq!(conv2d(&image, &sharpen, 2, 0)?.to_rows(), vec![vec![7, 5], vec![5, 7]]);
//! # Ok::<(), mnist_lab::conv::ConvError>(())
//! ```

use std::fmt;
use std::str::FromStr;

use num_traits::{Num, Zero};

/// Why a convolution cannot be computed, or a matrix not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvError {
    /// Stride 0 never moves the window.
    #[error("stride must be at least 1 (got 0)")]
    ZeroStride,
    /// A kernel with no rows or columns.
    #[error("kernel size must be at least 1 (got 0)")]
    ZeroKernel,
    /// The window is larger than the padded input.
    #[error(
        "a {kernel}-wide kernel does not fit a {input}-wide input with padding {padding} \
         ({padded} after padding); use a smaller kernel or more padding"
    )]
    KernelTooLarge {
        /// Input width.
        input: usize,
        /// Kernel width.
        kernel: usize,
        /// Padding on each side.
        padding: usize,
        /// `input + 2 * padding`.
        padded: usize,
    },
    /// No rows, or an empty row.
    #[error(
        "{what}: the matrix is empty; write one row per line, numbers separated by spaces or commas"
    )]
    Empty {
        /// Which matrix.
        what: String,
    },
    /// Rows of different lengths.
    #[error(
        "{what}: row {row} has {found} numbers but row 1 has {expected}; every row needs the same length"
    )]
    Ragged {
        /// Which matrix.
        what: String,
        /// 1-based row number.
        row: usize,
        /// Length of the first row.
        expected: usize,
        /// Length of this row.
        found: usize,
    },
    /// A token that is not a number.
    #[error("{what}: row {row}, column {column}: `{token}` is not a number")]
    NotANumber {
        /// Which matrix.
        what: String,
        /// 1-based row number.
        row: usize,
        /// 1-based column number.
        column: usize,
        /// The token.
        token: String,
    },
    /// Shapes of a batched convolution that do not go together.
    #[error("shape mismatch: {0}")]
    Shape(String),
}

/// The output width of a convolution: `(W - F + 2P) / S + 1`.
///
/// ```
/// // Q3: two 5x5 convolutions without padding take 28x28 to 24x24, then 20x20.
/// use mnist_lab::conv::output_size;
/// assert_eq!(output_size(output_size(28, 5, 0, 1)?, 5, 0, 1)?, 20);
/// # Ok::<(), mnist_lab::conv::ConvError>(())
/// ```
pub fn output_size(
    input: usize,
    kernel: usize,
    padding: usize,
    stride: usize,
) -> Result<usize, ConvError> {
    if stride == 0 {
        return Err(ConvError::ZeroStride);
    }
    if kernel == 0 {
        return Err(ConvError::ZeroKernel);
    }
    let padded = input + 2 * padding;
    if kernel > padded {
        return Err(ConvError::KernelTooLarge {
            input,
            kernel,
            padding,
            padded,
        });
    }
    Ok((padded - kernel) / stride + 1)
}

/// The largest kernel that fits an input (Q2: 28 for an unpadded 28x28 image).
pub fn largest_kernel(input: usize, padding: usize) -> usize {
    input + 2 * padding
}

/// A dense row-major matrix of numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matrix<T> {
    rows: usize,
    cols: usize,
    data: Vec<T>,
}

impl<T: Copy> Matrix<T> {
    /// A matrix from its rows; errors on no rows, empty rows or rows of unequal length.
    pub fn from_rows(rows: Vec<Vec<T>>) -> Result<Self, ConvError> {
        Self::from_rows_named(rows, "matrix")
    }

    fn from_rows_named(rows: Vec<Vec<T>>, what: &str) -> Result<Self, ConvError> {
        let cols = rows.first().map_or(0, Vec::len);
        if cols == 0 {
            return Err(ConvError::Empty {
                what: what.to_string(),
            });
        }
        if let Some((i, row)) = rows.iter().enumerate().find(|(_, r)| r.len() != cols) {
            return Err(ConvError::Ragged {
                what: what.to_string(),
                row: i + 1,
                expected: cols,
                found: row.len(),
            });
        }
        Ok(Self {
            rows: rows.len(),
            cols,
            data: rows.into_iter().flatten().collect(),
        })
    }

    /// `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// The element at `(r, c)`.
    pub fn get(&self, r: usize, c: usize) -> T {
        self.data[r * self.cols + c]
    }

    /// The matrix with `f` applied to every element (e.g. `|v| v as f64`).
    pub fn map<U>(&self, f: impl Fn(T) -> U) -> Matrix<U> {
        Matrix {
            rows: self.rows,
            cols: self.cols,
            data: self.data.iter().map(|&v| f(v)).collect(),
        }
    }

    /// The rows as vectors.
    pub fn to_rows(&self) -> Vec<Vec<T>> {
        self.data.chunks(self.cols).map(<[T]>::to_vec).collect()
    }
}

impl<T: Copy + Zero> Matrix<T> {
    /// The matrix surrounded by `padding` rows and columns of zeros.
    pub fn zero_padded(&self, padding: usize) -> Self {
        let (rows, cols) = (self.rows + 2 * padding, self.cols + 2 * padding);
        let mut data = vec![T::zero(); rows * cols];
        for r in 0..self.rows {
            let start = (r + padding) * cols + padding;
            data[start..start + self.cols]
                .copy_from_slice(&self.data[r * self.cols..(r + 1) * self.cols]);
        }
        Self { rows, cols, data }
    }
}

impl<T: FromStr + Copy> Matrix<T> {
    /// Reads a plain-text matrix: one row per line, numbers separated by spaces or commas;
    /// blank lines and `#` comments are skipped, brackets are ignored (`[[1, 2], [3, 4]]` works
    /// when written one row per line). `what` names the source in errors.
    pub fn parse(text: &str, what: &str) -> Result<Self, ConvError> {
        let mut rows = Vec::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let cleaned: String = line
                .chars()
                .map(|c| if "[],;".contains(c) { ' ' } else { c })
                .collect();
            let tokens: Vec<&str> = cleaned.split_whitespace().collect();
            if tokens.is_empty() {
                continue;
            }
            let row = tokens
                .iter()
                .enumerate()
                .map(|(c, t)| {
                    t.parse::<T>().map_err(|_| ConvError::NotANumber {
                        what: what.to_string(),
                        row: rows.len() + 1,
                        column: c + 1,
                        token: t.to_string(),
                    })
                })
                .collect::<Result<Vec<T>, _>>()?;
            rows.push(row);
        }
        Self::from_rows_named(rows, what)
    }
}

impl<T: fmt::Display> fmt::Display for Matrix<T> {
    /// Right-aligned columns, one row per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cells: Vec<String> = self.data.iter().map(|v| v.to_string()).collect();
        let width = cells.iter().map(String::len).max().unwrap_or(1);
        for row in cells.chunks(self.cols) {
            let line: Vec<String> = row.iter().map(|c| format!("{c:>width$}")).collect();
            writeln!(f, "[{}]", line.join(" "))?;
        }
        Ok(())
    }
}

/// 2-D convolution (cross-correlation) of `image` by `kernel` with `stride` and zero `padding`
/// on every side. Works for integers and floats.
pub fn conv2d<T: Num + Copy>(
    image: &Matrix<T>,
    kernel: &Matrix<T>,
    stride: usize,
    padding: usize,
) -> Result<Matrix<T>, ConvError> {
    let out_rows = output_size(image.rows, kernel.rows, padding, stride)?;
    let out_cols = output_size(image.cols, kernel.cols, padding, stride)?;
    let padded = image.zero_padded(padding);
    let mut data = Vec::with_capacity(out_rows * out_cols);
    for r in 0..out_rows {
        for c in 0..out_cols {
            let mut sum = T::zero();
            for kr in 0..kernel.rows {
                for kc in 0..kernel.cols {
                    sum = sum + padded.get(r * stride + kr, c * stride + kc) * kernel.get(kr, kc);
                }
            }
            data.push(sum);
        }
    }
    Ok(Matrix {
        rows: out_rows,
        cols: out_cols,
        data,
    })
}

/// Options of [`conv2d_batched`], as burn's `ConvOptions` without dilation and groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dParams {
    /// `[vertical, horizontal]` step.
    pub stride: [usize; 2],
    /// `[rows, columns]` of zeros on each side.
    pub padding: [usize; 2],
}

/// Batched multi-channel convolution, the reference for burn's `conv2d`.
///
/// `input` is `[N, C, H, W]` and `weight` `[O, C, KH, KW]`, both row-major; `bias` has `O`
/// values. Returns the `[N, O, OH, OW]` output and its shape.
pub fn conv2d_batched(
    input: &[f32],
    input_shape: [usize; 4],
    weight: &[f32],
    weight_shape: [usize; 4],
    bias: Option<&[f32]>,
    params: Conv2dParams,
) -> Result<(Vec<f32>, [usize; 4]), ConvError> {
    let [n, c, h, w] = input_shape;
    let [o, wc, kh, kw] = weight_shape;
    if wc != c {
        return Err(ConvError::Shape(format!(
            "input has {c} channels, weight expects {wc}"
        )));
    }
    if input.len() != n * c * h * w || weight.len() != o * c * kh * kw {
        return Err(ConvError::Shape(
            "data length does not match its shape".into(),
        ));
    }
    if bias.is_some_and(|b| b.len() != o) {
        return Err(ConvError::Shape(format!("bias needs {o} values")));
    }
    let [sh, sw] = params.stride;
    let [ph, pw] = params.padding;
    let oh = output_size(h, kh, ph, sh)?;
    let ow = output_size(w, kw, pw, sw)?;
    let mut out = vec![0.0f32; n * o * oh * ow];
    for b in 0..n {
        for oc in 0..o {
            let base = bias.map_or(0.0, |bias| bias[oc]);
            for y in 0..oh {
                for x in 0..ow {
                    let mut sum = base;
                    for ic in 0..c {
                        for ky in 0..kh {
                            // Position in the unpadded input; outside it the padding is zero.
                            let iy = (y * sh + ky).wrapping_sub(ph);
                            if iy >= h {
                                continue;
                            }
                            for kx in 0..kw {
                                let ix = (x * sw + kx).wrapping_sub(pw);
                                if ix >= w {
                                    continue;
                                }
                                sum += input[((b * c + ic) * h + iy) * w + ix]
                                    * weight[((oc * c + ic) * kh + ky) * kw + kx];
                            }
                        }
                    }
                    out[((b * o + oc) * oh + y) * ow + x] = sum;
                }
            }
        }
    }
    Ok((out, [n, o, oh, ow]))
}

/// Multiply-adds of a convolution, counted as 2 FLOPs each: `2 N O OH OW C KH KW`.
pub fn conv2d_flops(
    input_shape: [usize; 4],
    weight_shape: [usize; 4],
    output_hw: [usize; 2],
) -> u64 {
    let [n, c, ..] = input_shape;
    let [o, _, kh, kw] = weight_shape;
    2 * (n * o * output_hw[0] * output_hw[1] * c * kh * kw) as u64
}

/// The report's 5x5 image (Q4, Q5).
pub fn report_image() -> Matrix<i64> {
    Matrix::from_rows(vec![
        vec![1, 2, 3, 4, 3],
        vec![1, 3, 4, 3, 1],
        vec![0, 1, 5, 1, 0],
        vec![1, 3, 4, 3, 1],
        vec![2, 4, 3, 2, 2],
    ])
    .expect("a constant 5x5 matrix")
}

/// The report's 3x3 sharpen kernel.
pub fn sharpen_kernel() -> Matrix<i64> {
    Matrix::from_rows(vec![vec![0, -1, 0], vec![-1, 5, -1], vec![0, -1, 0]])
        .expect("a constant 3x3 matrix")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reports_answers() {
        let (image, kernel) = (report_image(), sharpen_kernel());
        // Q4: stride 1, no padding.
        assert_eq!(
            conv2d(&image, &kernel, 1, 0).unwrap().to_rows(),
            vec![vec![7, 6, 5], vec![-6, 15, -6], vec![5, 6, 7]]
        );
        // Q5a: stride 2, no padding.
        assert_eq!(
            conv2d(&image, &kernel, 2, 0).unwrap().to_rows(),
            vec![vec![7, 5], vec![5, 7]]
        );
        // Q5b: stride 1, zero padding 1.
        assert_eq!(
            conv2d(&image, &kernel, 1, 1).unwrap().to_rows(),
            vec![
                vec![2, 3, 5, 11, 10],
                vec![1, 7, 6, 5, -1],
                vec![-3, -6, 15, -6, -3],
                vec![0, 5, 6, 7, 0],
                vec![5, 12, 5, 2, 7]
            ]
        );
        // Q3 and Q2.
        assert_eq!(
            output_size(output_size(28, 5, 0, 1).unwrap(), 5, 0, 1),
            Ok(20)
        );
        assert_eq!(largest_kernel(28, 0), 28);
        assert_eq!(output_size(28, 28, 0, 1), Ok(1));
        assert!(output_size(28, 29, 0, 1).is_err());
    }

    #[test]
    fn floats_work_too() {
        let image = report_image();
        let out = conv2d(
            &image.map(|v| v as f64),
            &sharpen_kernel().map(|v| v as f64),
            1,
            0,
        )
        .unwrap();
        assert_eq!(out.get(1, 1), 15.0);
    }

    #[test]
    fn bad_sizes_are_errors() {
        assert_eq!(output_size(5, 3, 0, 0), Err(ConvError::ZeroStride));
        assert_eq!(output_size(5, 0, 0, 1), Err(ConvError::ZeroKernel));
        let err = output_size(5, 9, 1, 1).unwrap_err();
        assert!(
            err.to_string()
                .contains("does not fit a 5-wide input with padding 1 (7 after padding)"),
            "{err}"
        );
        // Windows that do not divide evenly are cut off as in PyTorch: (5 - 2) / 2 + 1.
        assert_eq!(output_size(5, 2, 0, 2), Ok(2));
    }

    #[test]
    fn parsing_accepts_plain_text_and_rejects_ragged_or_empty() {
        let m: Matrix<i64> =
            Matrix::parse("# sharpen\n0 -1 0\n-1, 5, -1\n[0, -1, 0]\n\n", "k.txt").unwrap();
        assert_eq!(m, sharpen_kernel());
        let err = Matrix::<i64>::parse("1 2 3\n4 5\n", "k.txt").unwrap_err();
        assert_eq!(
            err,
            ConvError::Ragged {
                what: "k.txt".into(),
                row: 2,
                expected: 3,
                found: 2
            }
        );
        assert!(
            err.to_string()
                .contains("row 2 has 2 numbers but row 1 has 3")
        );
        assert!(matches!(
            Matrix::<i64>::parse("\n# nothing\n", "e.txt"),
            Err(ConvError::Empty { .. })
        ));
        let err = Matrix::<i64>::parse("1 x 3", "k.txt").unwrap_err();
        assert!(
            err.to_string()
                .contains("row 1, column 2: `x` is not a number"),
            "{err}"
        );
    }

    #[test]
    fn padded_image_has_a_zero_border() {
        let p = report_image().zero_padded(1);
        assert_eq!(p.shape(), (7, 7));
        assert_eq!(p.to_rows()[0], vec![0; 7]);
        assert_eq!(p.to_rows()[1], vec![0, 1, 2, 3, 4, 3, 0]);
    }

    #[test]
    fn batched_reference_agrees_with_the_2d_version() {
        let image = report_image();
        let kernel = sharpen_kernel();
        let to_f = |m: &Matrix<i64>| m.data.iter().map(|&v| v as f32).collect::<Vec<_>>();
        let params = Conv2dParams {
            stride: [1, 1],
            padding: [1, 1],
        };
        let (out, shape) = conv2d_batched(
            &to_f(&image),
            [1, 1, 5, 5],
            &to_f(&kernel),
            [1, 1, 3, 3],
            Some(&[0.5]),
            params,
        )
        .unwrap();
        assert_eq!(shape, [1, 1, 5, 5]);
        let expected = conv2d(&image, &kernel, 1, 1).unwrap();
        for (a, b) in out.iter().zip(&expected.data) {
            assert_eq!(*a, *b as f32 + 0.5);
        }
        assert!(
            conv2d_batched(
                &[0.0; 4],
                [1, 1, 2, 2],
                &[0.0; 2],
                [1, 2, 1, 1],
                None,
                params
            )
            .is_err()
        );
    }
}
