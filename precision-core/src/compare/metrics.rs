//! Polygraphy 0.53.6's single-number comparison functions, in NumPy's arithmetic.
//!
//! Each takes the actual output first and the golden second (Polygraphy's `out0`, `out1`), after
//! `cast_up` (float16 to float32, int8/uint8 to int32) and shape matching:
//!
//! - **`l2`**: `sqrt(sum((a - g) ** 2))`.
//! - **`cosine_similarity`**: `sum(a * g) / (sqrt(sum(a ** 2)) * sqrt(sum(g ** 2)))`; 1 when
//!   both norms are 0, 0 when one is; NaN stays NaN, otherwise clamped to [-1, 1].
//! - **`psnr`**: `20 log10(max(a)) - 10 log10(mean((a - g) ** 2))` in dB; infinite when the
//!   mean squared error is 0; `max(a)` of the *actual* output, replaced by 1 when not positive.
//! - **`snr`**: `10 log10(mean(a ** 2) / mean((a - g) ** 2))` in dB; infinite when the noise is 0,
//!   minus infinite when the signal is 0.
//!
//! The arithmetic is NumPy's as Polygraphy calls it: the difference and the product in the
//! promoted type (float32 stays float32, int32 wraps), squares in float64 or int64 (Polygraphy
//! passes the exponent as an int64 array), `np.sum` of float32/float64 as NumPy's pairwise sum,
//! of integers in int64, `np.mean` of float64 pairwise and of integers in float64 through NumPy's
//! 8192-element cast buffers, and divisions of two float32 scalars in float32. NumPy cannot subtract two bool arrays, so `l2`, `psnr` and `snr` of two bool outputs
//! are errors, as Polygraphy's are.

use super::pairwise::CAST_BUFFER;
use super::shapes::{Flat, Wide, absdiff_kind};

/// A NumPy scalar as these computations produce it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scalar {
    F32(f32),
    F64(f64),
    I64(i64),
}

impl Scalar {
    fn to_f64(self) -> f64 {
        match self {
            Scalar::F32(x) => f64::from(x),
            Scalar::F64(x) => x,
            Scalar::I64(x) => x as f64,
        }
    }

    /// `np.sqrt`: float32 stays float32, integers become float64.
    fn sqrt(self) -> Scalar {
        match self {
            Scalar::F32(x) => Scalar::F32(x.sqrt()),
            other => Scalar::F64(other.to_f64().sqrt()),
        }
    }

    /// `self * other` with NumPy's promotion of two scalars (float32 only when both are).
    fn mul(self, other: Scalar) -> Scalar {
        match (self, other) {
            (Scalar::F32(x), Scalar::F32(y)) => Scalar::F32(x * y),
            (x, y) => Scalar::F64(x.to_f64() * y.to_f64()),
        }
    }

    /// `self / other` with NumPy's promotion of two scalars.
    fn div(self, other: Scalar) -> Scalar {
        match (self, other) {
            (Scalar::F32(x), Scalar::F32(y)) => Scalar::F32(x / y),
            (x, y) => Scalar::F64(x.to_f64() / y.to_f64()),
        }
    }
}

/// Element values in the NumPy type of an intermediate array.
enum Values {
    F32(Vec<f32>),
    F64(Vec<f64>),
    /// Integers (int32 results already wrapped to int32), summed in int64.
    I64(Vec<i64>),
}

/// Addition for NumPy's pairwise summation.
trait PairwiseFloat: Copy + std::ops::Add<Output = Self> + std::ops::AddAssign {
    const NEG_ZERO: Self;
}

impl PairwiseFloat for f32 {
    const NEG_ZERO: Self = -0.0;
}

impl PairwiseFloat for f64 {
    const NEG_ZERO: Self = -0.0;
}

/// NumPy's `pairwise_sum`: fewer than 8 values in order, at most 128 with 8 interleaved
/// accumulators, else the two halves (split at a multiple of 8) summed recursively.
fn pairwise_sum<T: PairwiseFloat>(v: &[T]) -> T {
    let n = v.len();
    if n < 8 {
        let mut res = T::NEG_ZERO;
        for &x in v {
            res += x;
        }
        res
    } else if n <= 128 {
        let mut r = [v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]];
        let full = n - n % 8;
        for block in v[8..full].chunks_exact(8) {
            for (acc, &x) in r.iter_mut().zip(block) {
                *acc += x;
            }
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &x in &v[full..] {
            res += x;
        }
        res
    } else {
        let mut half = n / 2;
        half -= half % 8;
        pairwise_sum(&v[..half]) + pairwise_sum(&v[half..])
    }
}

impl Values {
    /// `np.sum`.
    fn sum(&self) -> Scalar {
        match self {
            Values::F32(v) => Scalar::F32(0.0 + pairwise_sum(v)),
            Values::F64(v) => Scalar::F64(0.0 + pairwise_sum(v)),
            Values::I64(v) => Scalar::I64(v.iter().fold(0i64, |s, &x| s.wrapping_add(x))),
        }
    }

    /// `np.mean` (NaN when empty).
    fn mean(&self) -> Scalar {
        match self {
            Values::F32(v) => Scalar::F32((0.0 + pairwise_sum(v)) / v.len() as f32),
            Values::F64(v) => Scalar::F64((0.0 + pairwise_sum(v)) / v.len() as f64),
            Values::I64(v) => {
                // Integers are summed as float64 through NumPy's cast buffers.
                let mut buffer = Vec::with_capacity(CAST_BUFFER.min(v.len()));
                let mut total = 0.0f64;
                for chunk in v.chunks(CAST_BUFFER) {
                    buffer.clear();
                    buffer.extend(chunk.iter().map(|&x| x as f64));
                    total += pairwise_sum(&buffer);
                }
                Scalar::F64(total / v.len() as f64)
            }
        }
    }
}

/// `power(x, 2)` of one output after `cast_up`. Polygraphy's `util.array.power` hands NumPy the
/// exponent as an int64 0-d array, so the result is float64 for floats and int64 for integers
/// and bools (no int32 wrap).
fn squares(x: &Flat<'_>) -> Values {
    match x.widened() {
        Wide::F32 | Wide::F64 => Values::F64(x.to_f64s().into_iter().map(|v| v * v).collect()),
        Wide::I32 | Wide::I64 => {
            Values::I64(x.to_i64s().into_iter().map(|v| v.wrapping_mul(v)).collect())
        }
        Wide::Bool => Values::I64(x.to_i64s()),
    }
}

/// `power(a - g, 2)`: the difference in the promoted type (float32 stays float32, int32
/// wraps), its square in float64 or int64 as [`squares`]; an error for two bool outputs.
fn squared_differences(a: &Flat<'_>, g: &Flat<'_>) -> Result<Values, String> {
    Ok(match absdiff_kind(a.widened(), g.widened()) {
        Wide::F32 => Values::F64(
            a.to_f32s()
                .into_iter()
                .zip(g.to_f32s())
                .map(|(x, y)| {
                    let d = f64::from(x - y);
                    d * d
                })
                .collect(),
        ),
        Wide::F64 => Values::F64(
            a.to_f64s()
                .into_iter()
                .zip(g.to_f64s())
                .map(|(x, y)| {
                    let d = x - y;
                    d * d
                })
                .collect(),
        ),
        Wide::I32 => Values::I64(
            a.to_i64s()
                .into_iter()
                .zip(g.to_i64s())
                .map(|(x, y)| {
                    let d = i64::from((x as i32).wrapping_sub(y as i32));
                    d * d
                })
                .collect(),
        ),
        Wide::I64 => Values::I64(
            a.to_i64s()
                .into_iter()
                .zip(g.to_i64s())
                .map(|(x, y)| {
                    let d = x.wrapping_sub(y);
                    d.wrapping_mul(d)
                })
                .collect(),
        ),
        Wide::Bool => {
            return Err("NumPy cannot subtract two bool outputs (Polygraphy fails the same way); \
                        compare bool outputs with --compare simple or indices"
                .to_owned());
        }
    })
}

/// `v * w` in int32, wrapping as NumPy does (both in int32's range).
fn wrap32(v: i64, w: i64) -> i32 {
    (v as i32).wrapping_mul(w as i32)
}

/// `a * g` in the promoted type (two bools: logical and, summed as a count).
fn products(a: &Flat<'_>, g: &Flat<'_>) -> Values {
    match absdiff_kind(a.widened(), g.widened()) {
        Wide::F32 => {
            Values::F32(a.to_f32s().into_iter().zip(g.to_f32s()).map(|(x, y)| x * y).collect())
        }
        Wide::F64 => {
            Values::F64(a.to_f64s().into_iter().zip(g.to_f64s()).map(|(x, y)| x * y).collect())
        }
        Wide::I32 => Values::I64(
            a.to_i64s()
                .into_iter()
                .zip(g.to_i64s())
                .map(|(x, y)| i64::from(wrap32(x, y)))
                .collect(),
        ),
        Wide::I64 => Values::I64(
            a.to_i64s().into_iter().zip(g.to_i64s()).map(|(x, y)| x.wrapping_mul(y)).collect(),
        ),
        Wide::Bool => {
            Values::I64(a.to_i64s().into_iter().zip(g.to_i64s()).map(|(x, y)| x & y).collect())
        }
    }
}

/// Polygraphy's `L2CompareFunc` metric.
pub(super) fn l2(a: &Flat<'_>, g: &Flat<'_>) -> Result<f64, String> {
    Ok(squared_differences(a, g)?.sum().sqrt().to_f64())
}

/// Polygraphy's `CosineSimilarityCompareFunc` metric.
pub(super) fn cosine_similarity(a: &Flat<'_>, g: &Flat<'_>) -> f64 {
    let dot = products(a, g).sum();
    let norm_a = squares(a).sum().sqrt();
    let norm_g = squares(g).sum().sqrt();
    let (za, zg) = (norm_a.to_f64() == 0.0, norm_g.to_f64() == 0.0);
    if za && zg {
        return 1.0;
    }
    if za || zg {
        return 0.0;
    }
    let cosine = dot.div(norm_a.mul(norm_g)).to_f64();
    if cosine.is_nan() { cosine } else { cosine.clamp(-1.0, 1.0) }
}

/// Polygraphy's `PsnrCompareFunc` metric, in dB.
pub(super) fn psnr(a: &Flat<'_>, g: &Flat<'_>) -> Result<f64, String> {
    let mse = squared_differences(a, g)?.mean().to_f64();
    if mse == 0.0 {
        return Ok(f64::INFINITY);
    }
    let mut peak = max_of(a);
    if peak <= 0.0 {
        peak = 1.0;
    }
    Ok(20.0 * peak.log10() - 10.0 * mse.log10())
}

/// Polygraphy's `SnrCompareFunc` metric, in dB.
pub(super) fn snr(a: &Flat<'_>, g: &Flat<'_>) -> Result<f64, String> {
    let signal = squares(a).mean();
    let noise = squared_differences(a, g)?.mean();
    if noise.to_f64() == 0.0 {
        return Ok(f64::INFINITY);
    }
    if signal.to_f64() == 0.0 {
        return Ok(f64::NEG_INFINITY);
    }
    Ok(10.0 * signal.div(noise).to_f64().log10())
}

/// `compute_max(cast_up(a))` as a float: NaN if any element is NaN, 0 when empty.
fn max_of(a: &Flat<'_>) -> f64 {
    if a.len() == 0 {
        return 0.0;
    }
    match a.widened() {
        Wide::F32 | Wide::F64 => {
            let v = a.to_f64s();
            if v.iter().any(|x| x.is_nan()) {
                f64::NAN
            } else {
                v.into_iter().fold(f64::NEG_INFINITY, f64::max)
            }
        }
        _ => a.to_i64s().into_iter().max().unwrap_or(0) as f64,
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn f32s(v: &[f32]) -> Flat<'_> {
        Flat::F32(Cow::Borrowed(v))
    }

    #[test]
    fn l2_is_the_euclidean_distance() {
        assert_eq!(l2(&f32s(&[3.0, 0.0]), &f32s(&[0.0, 4.0])).unwrap(), 5.0);
        assert_eq!(l2(&f32s(&[]), &f32s(&[])).unwrap(), 0.0);
        let b = [true, false];
        assert!(l2(&Flat::Bool(Cow::Borrowed(&b)), &Flat::Bool(Cow::Borrowed(&b))).is_err());
    }

    #[test]
    fn cosine_similarity_edges() {
        assert_eq!(cosine_similarity(&f32s(&[1.0, 0.0]), &f32s(&[0.0, 1.0])), 0.0);
        assert_eq!(cosine_similarity(&f32s(&[0.0, 0.0]), &f32s(&[0.0, 0.0])), 1.0);
        assert_eq!(cosine_similarity(&f32s(&[0.0, 0.0]), &f32s(&[1.0, 0.0])), 0.0);
        let parallel = cosine_similarity(&f32s(&[2.0, 2.0]), &f32s(&[1.0, 1.0]));
        assert!((parallel - 1.0).abs() < 1e-15, "{parallel}");
        assert!(cosine_similarity(&f32s(&[f32::INFINITY]), &f32s(&[1.0])).is_nan());
    }

    #[test]
    fn psnr_and_snr_in_decibels() {
        // mse 1, peak 10: 20 dB.
        assert!((psnr(&f32s(&[10.0, 0.0]), &f32s(&[9.0, 1.0])).unwrap() - 20.0).abs() < 1e-12);
        assert_eq!(psnr(&f32s(&[1.0]), &f32s(&[1.0])).unwrap(), f64::INFINITY);
        // signal power 50, noise power 0.5: 20 dB.
        let s = snr(&f32s(&[10.0, 0.0]), &f32s(&[9.0, 0.0])).unwrap();
        assert!((s - 20.0).abs() < 1e-6, "{s}");
        assert_eq!(snr(&f32s(&[0.0]), &f32s(&[1.0])).unwrap(), f64::NEG_INFINITY);
        assert!(psnr(&f32s(&[]), &f32s(&[])).unwrap().is_nan());
    }

    #[test]
    fn pairwise_sum_matches_numpy_structure() {
        let mut v = vec![1.0f32; 10];
        v[0] = 16_777_216.0;
        assert_eq!(pairwise_sum(&v), 16_777_224.0);
    }
}
