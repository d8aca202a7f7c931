//! mnist-lab's `mnist_style` (`src/infer/preprocess.rs`, the very file: included, not copied)
//! compiled to WebAssembly for the static drawing page, so that the page feeds the ONNX model
//! exactly the 784 pixels the server feeds the network. A plain C ABI, no wasm-bindgen: the
//! page allocates, writes the canvas's RGBA, calls [`mnist_style_rgba`] and reads 784 bytes.

/// The two constants `preprocess.rs` takes from the library's `data` module.
mod data {
    pub const IMAGE_SIDE: usize = 28;
    pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;
}

#[allow(dead_code)]
#[path = "../../src/infer/preprocess.rs"]
mod preprocess;

use image::{DynamicImage, RgbaImage};

/// `len` bytes for the page to write into; freed with [`free`].
#[unsafe(no_mangle)]
pub extern "C" fn alloc(len: usize) -> *mut u8 {
    let mut buffer = Vec::<u8>::with_capacity(len);
    let ptr = buffer.as_mut_ptr();
    std::mem::forget(buffer);
    ptr
}

/// Frees what [`alloc`] gave.
///
/// # Safety
/// `ptr` and `len` are those of one [`alloc`] call, not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn free(ptr: *mut u8, len: usize) {
    drop(unsafe { Vec::from_raw_parts(ptr, 0, len) });
}

/// The canvas's `width` x `height` RGBA pixels at `rgba` made MNIST-style, as the server does a
/// posted PNG (grey by `image`'s `to_luma8`, then `mnist_style`): 784 grey values written to
/// `out`. Returns 0, or 1 where the image is empty or blank (nothing drawn).
///
/// # Safety
/// `rgba` holds `4 * width * height` bytes and `out` 784.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mnist_style_rgba(
    rgba: *const u8,
    width: u32,
    height: u32,
    out: *mut u8,
) -> u32 {
    let len = 4 * width as usize * height as usize;
    let bytes = unsafe { std::slice::from_raw_parts(rgba, len) }.to_vec();
    let Some(image) = RgbaImage::from_raw(width, height, bytes) else {
        return 1;
    };
    match preprocess::mnist_style(&DynamicImage::ImageRgba8(image).to_luma8()) {
        Ok(pixels) => {
            unsafe { std::ptr::copy_nonoverlapping(pixels.as_ptr(), out, pixels.len()) };
            0
        }
        Err(_) => 1,
    }
}
