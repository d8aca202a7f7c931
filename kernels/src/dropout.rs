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
/// counter is `[i / 4 (low 32 bits), i / 4 (high 32 bits), 0, 0]`. [`LANES`] blocks at a time,
/// in AVX-512 or AVX2 registers where the CPU has them and [`super::Simd::current`] allows:
/// integer arithmetic, so every level gives the same mask bit for bit.
pub(crate) fn mask(key: [u32; 2], len: usize, keep: f64, scale: f32) -> Vec<f32> {
    // Kept where word < threshold: P = threshold / 2^32 = keep (to 2^-32).
    let threshold = (keep.clamp(0.0, 1.0) * 4_294_967_296.0).round() as u64;
    let mut out = vec![0.0f32; len];
    #[cfg(target_arch = "x86_64")]
    {
        use super::Simd;
        let level = Simd::current();
        if level == Simd::Widest && std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above).
            unsafe { fill_mask_avx512(&mut out, key, threshold, scale) };
            return out;
        }
        if level >= Simd::Avx2 && std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            unsafe { fill_mask_avx2(&mut out, key, threshold, scale) };
            return out;
        }
    }
    fill_mask(&mut out, key, threshold, scale);
    out
}

/// Philox blocks computed side by side: 16 counters, so that each round's multiplications fill
/// AVX-512 registers (two AVX2 ones), in structure-of-arrays form the compiler vectorizes.
const LANES: usize = 16;

/// The four words of the [`LANES`] consecutive blocks from `first`: `words[w][l]` is word `w`
/// of block `first + l`. The same arithmetic as [`philox4x32_10`], lane by lane.
#[inline(always)]
fn philox_lanes(first: u64, key: [u32; 2]) -> [[u32; LANES]; 4] {
    let blocks: [u64; LANES] = std::array::from_fn(|l| first + l as u64);
    let mut c = [
        blocks.map(|b| b as u32),
        blocks.map(|b| (b >> 32) as u32),
        [0; LANES],
        [0; LANES],
    ];
    let [mut k0, mut k1] = key;
    for round in 0..10 {
        if round > 0 {
            k0 = k0.wrapping_add(W0);
            k1 = k1.wrapping_add(W1);
        }
        let mut next = [[0u32; LANES]; 4];
        for l in 0..LANES {
            let p0 = M0 * u64::from(c[0][l]);
            let p1 = M1 * u64::from(c[2][l]);
            next[0][l] = (p1 >> 32) as u32 ^ c[1][l] ^ k0;
            next[1][l] = p1 as u32;
            next[2][l] = (p0 >> 32) as u32 ^ c[3][l] ^ k1;
            next[3][l] = p0 as u32;
        }
        c = next;
    }
    c
}

/// Fills `out` with the mask [`mask`] describes (`threshold` = `keep * 2^32`).
#[inline(always)]
fn fill_mask(out: &mut [f32], key: [u32; 2], threshold: u64, scale: f32) {
    let value = |word: u32| {
        if u64::from(word) < threshold {
            scale
        } else {
            0.0
        }
    };
    let mut chunks = out.chunks_exact_mut(4 * LANES);
    let mut first = 0u64;
    for chunk in &mut chunks {
        let words = philox_lanes(first, key);
        for (l, four) in chunk.chunks_exact_mut(4).enumerate() {
            for (w, v) in four.iter_mut().enumerate() {
                *v = value(words[w][l]);
            }
        }
        first += LANES as u64;
    }
    // The last partial group of blocks, one block at a time.
    for (b, part) in chunks.into_remainder().chunks_mut(4).enumerate() {
        let block = first + b as u64;
        let words = philox4x32_10([block as u32, (block >> 32) as u32, 0, 0], key);
        for (v, &w) in part.iter_mut().zip(&words) {
            *v = value(w);
        }
    }
}

/// [`fill_mask`] compiled for AVX-512.
///
/// # Safety
/// The CPU must have AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fill_mask_avx512(out: &mut [f32], key: [u32; 2], threshold: u64, scale: f32) {
    fill_mask(out, key, threshold, scale)
}

/// [`fill_mask`] compiled for AVX2.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fill_mask_avx2(out: &mut [f32], key: [u32; 2], threshold: u64, scale: f32) {
    fill_mask(out, key, threshold, scale)
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

    /// The mask element by element, one Philox block per four elements, as the docs define it.
    fn reference_mask(key: [u32; 2], len: usize, threshold: u64, scale: f32) -> Vec<f32> {
        (0..len)
            .map(|i| {
                let block = (i / 4) as u64;
                let word = philox4x32_10([block as u32, (block >> 32) as u32, 0, 0], key)[i % 4];
                if u64::from(word) < threshold {
                    scale
                } else {
                    0.0
                }
            })
            .collect()
    }

    #[test]
    fn every_simd_level_gives_the_reference_mask() {
        let threshold = (0.8f64 * 4_294_967_296.0).round() as u64;
        // Lengths around the 64-element groups of LANES blocks, and a partial last block.
        for len in [0, 1, 3, 4, 63, 64, 65, 127, 128, 1_000, 25_603] {
            let expected = reference_mask([0xdead_beef, 42], len, threshold, 1.25);
            let mut scalar = vec![0.0; len];
            fill_mask(&mut scalar, [0xdead_beef, 42], threshold, 1.25);
            assert_eq!(scalar, expected, "scalar, len {len}");
            assert_eq!(
                mask([0xdead_beef, 42], len, 0.8, 1.25),
                expected,
                "dispatched, len {len}"
            );
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx2") {
                    let mut avx2 = vec![0.0; len];
                    // SAFETY: the CPU has AVX2.
                    unsafe { fill_mask_avx2(&mut avx2, [0xdead_beef, 42], threshold, 1.25) };
                    assert_eq!(avx2, expected, "avx2, len {len}");
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    let mut avx512 = vec![0.0; len];
                    // SAFETY: the CPU has AVX-512F.
                    unsafe { fill_mask_avx512(&mut avx512, [0xdead_beef, 42], threshold, 1.25) };
                    assert_eq!(avx512, expected, "avx512, len {len}");
                }
            }
        }
        // Blocks past 2^32 use the counter's second word.
        let far = philox_lanes(u64::from(u32::MAX) - 1, [3, 4]);
        for (l, block) in (u64::from(u32::MAX) - 1..).take(LANES).enumerate() {
            let one = philox4x32_10([block as u32, (block >> 32) as u32, 0, 0], [3, 4]);
            assert_eq!(far.map(|word| word[l]), one, "block {block}");
        }
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
