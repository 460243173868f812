//! The deterministic pseudo-random values of the simulation: golden tensor values and the
//! per-element noise of injected errors.
//!
//! Both come from one hash. A name is folded with 64-bit FNV-1a; a stream key is
//! `splitmix64(seed ^ domain)` folded with each name as `key = splitmix64(key ^ fnv1a(name))`;
//! element `i` of a stream is `splitmix64(key + i * 0x9E3779B97F4A7C15)` (wrapping), where
//! `splitmix64(x)` is Vigna's `SplitMix64` output function applied to `x + 0x9E3779B97F4A7C15`.
//!
//! Tests may rely only on the properties documented on [`golden_value`] and [`noise_value`],
//! not on the exact bits.

/// The `SplitMix64` increment (the golden ratio in 64-bit fixed point).
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;
/// Domain tag of golden-value streams.
const GOLDEN_DOMAIN: u64 = 0x676f_6c64_656e_0001;
/// Domain tag of noise streams.
const NOISE_DOMAIN: u64 = 0x6e6f_6973_6500_0002;

/// `SplitMix64`: a fast, well-mixed bijection of 64-bit integers.
#[must_use]
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// 64-bit FNV-1a hash of a name.
#[must_use]
pub fn fnv1a(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The key of the stream for `names` in `domain`.
fn stream_key(seed: u64, domain: u64, names: &[&str]) -> u64 {
    names.iter().fold(splitmix64(seed ^ domain), |key, name| splitmix64(key ^ fnv1a(name)))
}

/// Element `index` of the stream with `key`.
fn element(key: u64, index: usize) -> u64 {
    splitmix64(key.wrapping_add((index as u64).wrapping_mul(GAMMA)))
}

/// The golden values of a tensor: element `i` is `golden_value(seed, tensor, i)`.
#[must_use]
pub fn golden_values(seed: u64, tensor: &str, len: usize) -> Vec<f32> {
    let key = stream_key(seed, GOLDEN_DOMAIN, &[tensor]);
    (0..len).map(|i| golden_from_bits(element(key, i))).collect()
}

/// The float32 golden value of element `index` of `tensor`: `sign * (0.5 + u)` with `u` in
/// `[0, 1)` and a random sign, so `0.5 <= |v| <= 1.5`. Deterministic in `(seed, tensor,
/// index)`; different seeds or names give unrelated values.
#[must_use]
pub fn golden_value(seed: u64, tensor: &str, index: usize) -> f32 {
    golden_from_bits(element(stream_key(seed, GOLDEN_DOMAIN, &[tensor]), index))
}

fn golden_from_bits(h: u64) -> f32 {
    // 24 high bits for the magnitude, the lowest bit for the sign.
    let u = (h >> 40) as f32 / (1u64 << 24) as f32;
    let magnitude = 0.5 + u;
    if h & 1 == 1 { -magnitude } else { magnitude }
}

/// The noise factors of one layer output: element `i` is `noise_value(seed, layer, output, i)`.
#[must_use]
pub fn noise_values(seed: u64, layer: &str, output: &str, len: usize) -> Vec<f64> {
    let key = stream_key(seed, NOISE_DOMAIN, &[layer, output]);
    (0..len).map(|i| noise_from_bits(element(key, i))).collect()
}

/// The `noise = "uniform"` factor `u` in `[-1, 1)` that scales the error amplitude of
/// `layer` at element `index` of its output `output`. Deterministic in its arguments.
#[must_use]
pub fn noise_value(seed: u64, layer: &str, output: &str, index: usize) -> f64 {
    noise_from_bits(element(stream_key(seed, NOISE_DOMAIN, &[layer, output]), index))
}

fn noise_from_bits(h: u64) -> f64 {
    let unit = (h >> 11) as f64 / (1u64 << 53) as f64;
    2.0 * unit - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_values_are_of_order_one_with_both_signs() {
        let values = golden_values(0, "t", 10_000);
        assert!(values.iter().all(|v| (0.5..=1.5).contains(&v.abs())));
        let negative = values.iter().filter(|v| **v < 0.0).count();
        assert!((4_000..6_000).contains(&negative), "{negative} negative of 10000");
        let mean_abs = values.iter().map(|v| f64::from(v.abs())).sum::<f64>() / 10_000.0;
        assert!((mean_abs - 1.0).abs() < 0.02, "mean |v| = {mean_abs}");
        for (i, v) in values.iter().enumerate().take(50) {
            assert_eq!(*v, golden_value(0, "t", i));
        }
    }

    #[test]
    fn streams_differ_by_seed_name_and_domain() {
        assert_ne!(golden_values(0, "t", 8), golden_values(1, "t", 8));
        assert_ne!(golden_values(0, "t", 8), golden_values(0, "u", 8));
        assert_ne!(noise_values(0, "a", "b", 8), noise_values(0, "b", "a", 8));
        assert_ne!(noise_values(0, "a", "t", 8), noise_values(1, "a", "t", 8));
    }

    #[test]
    fn noise_is_uniform_in_minus_one_one() {
        let values = noise_values(7, "layer", "out", 10_000);
        assert!(values.iter().all(|u| (-1.0..1.0).contains(u)));
        let mean = values.iter().sum::<f64>() / 10_000.0;
        assert!(mean.abs() < 0.05, "mean {mean}");
        assert!(values.iter().any(|u| *u > 0.9) && values.iter().any(|u| *u < -0.9));
        assert_eq!(values[3], noise_value(7, "layer", "out", 3));
    }
}
