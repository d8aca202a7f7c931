//! Dropout whose mask comes from a counter-based generator, Philox 4x32-10 (Salmon et al.,
//! "Parallel Random Numbers: As Easy as 1, 2, 3", SC'11): element `i` of a mask is kept where
//! the `i`-th 32-bit word of Philox under the call's key is below `keep * 2^32`. The key is one
//! draw from the device's generator per call, so the masks follow the device's seed exactly as
//! burn's do (the trainer seeds it per epoch: runs repeat and resume bit for bit), while the
//! mask itself costs a few integer multiplications per element instead of burn's element-by-
//! element ChaCha draws and its two scalar passes.
//!
//! Written here rather than taken from a crate: the Philox crates on crates.io are unmaintained
//! (`philox` 0.0.0, 2019) or bundle dozens of generators, and the function is 20 lines checked
//! against Random123's published known-answer vectors (the tests below).

use burn::tensor::{Distribution, Tensor, TensorData};

const M0: u64 = 0xD251_1F53;
const M1: u64 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// Philox 4x32 with 10 rounds: four 32-bit words from a 128-bit counter and a 64-bit key.
#[inline(always)]
pub(crate) fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let [mut c0, mut c1, mut c2, mut c3] = counter;
    let [mut k0, mut k1] = key;
    for round in 0..10 {
        if round > 0 {
            k0 = k0.wrapping_add(W0);
            k1 = k1.wrapping_add(W1);
        }
        let p0 = M0 * u64::from(c0);
        let p1 = M1 * u64::from(c2);
        (c0, c1, c2, c3) = (
            (p1 >> 32) as u32 ^ c1 ^ k0,
            p1 as u32,
            (p0 >> 32) as u32 ^ c3 ^ k1,
            p0 as u32,
        );
    }
    [c0, c1, c2, c3]
}

/// The mask of `len` elements under `key`: `scale` where an element is kept (with probability
/// `keep`), 0 where it is dropped. Element `i` reads word `i % 4` of block `i / 4`, whose
/// counter is `[i / 4 (low 32 bits), i / 4 (high 32 bits), 0, 0]`.
pub(crate) fn mask(key: [u32; 2], len: usize, keep: f64, scale: f32) -> Vec<f32> {
    // Kept where word < threshold: P = threshold / 2^32 = keep (to 2^-32).
    let threshold = (keep.clamp(0.0, 1.0) * 4_294_967_296.0).round() as u64;
    let value = |word: u32| {
        if u64::from(word) < threshold {
            scale
        } else {
            0.0
        }
    };
    let mut out = Vec::with_capacity(len);
    for block in 0..len.div_ceil(4) as u64 {
        let words = philox4x32_10([block as u32, (block >> 32) as u32, 0, 0], key);
        let take = (len - out.len()).min(4);
        out.extend(words[..take].iter().map(|&w| value(w)));
    }
    out
}

/// One key from the generator of `device`: four draws of 16 bits each (exact in `f32`).
fn draw_key(device: &burn::tensor::Device) -> [u32; 2] {
    let draws = Tensor::<1>::random([4], Distribution::Uniform(0.0, 65_536.0), device)
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 after convert");
    let bits: Vec<u32> = draws.iter().map(|&d| (d as u32) & 0xFFFF).collect();
    [bits[0] | bits[1] << 16, bits[2] | bits[3] << 16]
}

/// `x` with each element zeroed with probability `prob` and the rest scaled by `1 / (1 -
/// prob)`, always (training mode or not): the mask drawn as the module docs say.
pub(crate) fn drop_elements<const D: usize>(x: Tensor<D>, prob: f64) -> Tensor<D> {
    let device = x.device();
    let keep = 1.0 - prob;
    let mask = mask(
        draw_key(&device),
        x.shape().num_elements(),
        keep,
        (1.0 / keep) as f32,
    );
    let dtype = x.dtype();
    let mask = Tensor::<D>::from_data(TensorData::new(mask, x.shape()), &device);
    x * mask.cast(dtype)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random123's known-answer vectors for Philox 4x32-10 (its `kat_vectors`).
    #[test]
    fn philox_gives_random123s_known_answers() {
        assert_eq!(
            philox4x32_10([0; 4], [0; 2]),
            [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
        );
        assert_eq!(
            philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
        );
        assert_eq!(
            philox4x32_10(
                [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
                [0xa409_3822, 0x299f_31d0]
            ),
            [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]
        );
    }

    #[test]
    fn masks_keep_the_asked_share_and_scale_it() {
        let m = mask([7, 9], 100_003, 0.8, 1.25);
        assert_eq!(m.len(), 100_003);
        assert!(m.iter().all(|&v| v == 0.0 || v == 1.25));
        let kept = m.iter().filter(|&&v| v != 0.0).count() as f64 / m.len() as f64;
        // Binomial standard deviation at n = 100,003: 0.0013; 5 of them.
        assert!((kept - 0.8).abs() < 0.0065, "kept {kept}");
        // A prefix is the same mask: element i depends on i and the key only.
        assert_eq!(mask([7, 9], 10, 0.8, 1.25), m[..10]);
        // Another key, another mask.
        assert_ne!(mask([7, 10], 1_000, 0.8, 1.25), m[..1_000]);
        assert!(mask([1, 2], 50, 1.0, 1.0).iter().all(|&v| v == 1.0));
        assert!(mask([1, 2], 50, 0.0, 1.0).iter().all(|&v| v == 0.0));
    }
}
