//! NumPy's element arithmetic as Polygraphy's comparator meets it: conversions of the input
//! element types (`Input`) and the arithmetic of the difference types (`Diff`).

use std::cmp::Ordering;

use half::{bf16, f16};

use super::RELDIFF_EPSILON;

/// An element type of an input array, with NumPy's conversions.
pub(super) trait Input: Copy + Send + Sync {
    /// `astype(float32)`.
    fn f32v(self) -> f32;
    /// `astype(float64)`.
    fn f64v(self) -> f64;
    /// `astype(int32)` (only called for types that widen to int32 or narrower).
    fn i32v(self) -> i32;
    /// `astype(int64)` (only called for integer and bool types).
    fn i64v(self) -> i64;
    /// `np.isinf`.
    fn is_inf(self) -> bool;
    /// `abs(cast_up(golden) with zeros + epsilon)` as float64.
    fn den64(self) -> f64;
    /// The same as float32 (only called for float32-family and bool goldens).
    fn den32(self) -> f32 {
        self.den64() as f32
    }
}

/// `abs` of a float32 golden with exact zeros replaced by the float32 epsilon.
#[inline]
pub(super) fn den_f32(v: f32) -> f32 {
    if v == 0.0 { RELDIFF_EPSILON as f32 } else { v.abs() }
}

macro_rules! impl_input_float16 {
    ($($t:ty),*) => {$(
        impl Input for $t {
            #[inline]
            fn f32v(self) -> f32 { f32::from(self) }
            #[inline]
            fn f64v(self) -> f64 { f64::from(self) }
            fn i32v(self) -> i32 { f32::from(self) as i32 }
            fn i64v(self) -> i64 { f32::from(self) as i64 }
            #[inline]
            fn is_inf(self) -> bool { f32::from(self).is_infinite() }
            #[inline]
            fn den64(self) -> f64 { f64::from(den_f32(f32::from(self))) }
            #[inline]
            fn den32(self) -> f32 { den_f32(f32::from(self)) }
        }
    )*};
}
impl_input_float16!(f16, bf16);

impl Input for f32 {
    #[inline]
    fn f32v(self) -> f32 {
        self
    }
    #[inline]
    fn f64v(self) -> f64 {
        f64::from(self)
    }
    fn i32v(self) -> i32 {
        self as i32
    }
    fn i64v(self) -> i64 {
        self as i64
    }
    #[inline]
    fn is_inf(self) -> bool {
        self.is_infinite()
    }
    #[inline]
    fn den64(self) -> f64 {
        f64::from(den_f32(self))
    }
    #[inline]
    fn den32(self) -> f32 {
        den_f32(self)
    }
}

impl Input for f64 {
    #[inline]
    fn f32v(self) -> f32 {
        self as f32
    }
    #[inline]
    fn f64v(self) -> f64 {
        self
    }
    fn i32v(self) -> i32 {
        self as i32
    }
    fn i64v(self) -> i64 {
        self as i64
    }
    #[inline]
    fn is_inf(self) -> bool {
        self.is_infinite()
    }
    #[inline]
    fn den64(self) -> f64 {
        if self == 0.0 { RELDIFF_EPSILON } else { self.abs() }
    }
}

macro_rules! impl_input_int {
    ($($t:ty => $wide:ty),*) => {$(
        #[allow(clippy::cast_lossless, reason = "one macro for lossless and lossy NumPy casts")]
        impl Input for $t {
            #[inline]
            fn f32v(self) -> f32 { self as f32 }
            #[inline]
            fn f64v(self) -> f64 { self as f64 }
            #[inline]
            fn i32v(self) -> i32 { self as i32 }
            #[inline]
            fn i64v(self) -> i64 { self as i64 }
            #[inline]
            fn is_inf(self) -> bool { false }
            #[inline]
            fn den64(self) -> f64 { (self as $wide).wrapping_abs() as f64 }
        }
    )*};
}
impl_input_int!(i8 => i32, u8 => i32, i32 => i32, i64 => i64);

impl Input for bool {
    #[inline]
    fn f32v(self) -> f32 {
        f32::from(u8::from(self))
    }
    #[inline]
    fn f64v(self) -> f64 {
        f64::from(u8::from(self))
    }
    #[inline]
    fn i32v(self) -> i32 {
        i32::from(self)
    }
    #[inline]
    fn i64v(self) -> i64 {
        i64::from(self)
    }
    #[inline]
    fn is_inf(self) -> bool {
        false
    }
    #[inline]
    fn den64(self) -> f64 {
        f64::from(u8::from(self))
    }
}

/// An element type of `absdiff`/`reldiff`, with the NumPy arithmetic Polygraphy's statistics use.
pub(super) trait Diff: Copy + Send + Sync + PartialOrd {
    /// Whether `np.mean(x, dtype=float32)` sums this type without casting (one pairwise sum over
    /// the whole array instead of one per cast buffer).
    const IS_F32: bool;
    /// The starting value of a maximum.
    const LOWEST: Self;
    fn is_nan(self) -> bool;
    fn to_f64(self) -> f64;
    /// `astype(float32)`.
    fn to_f32(self) -> f32;
    /// Polygraphy's `util.array.greater(x, tol)`: it turns the tolerance into a float64 0-d
    /// array first, so NumPy compares in float64 whatever the type of `x`.
    fn exceeds(self, tol: f64) -> bool;
    /// The larger of two values, ignoring NaN (tracked separately).
    fn max_no_nan(self, other: Self) -> Self;
    fn total_order(&self, other: &Self) -> Ordering;
    /// `np.mean` of the single middle element (odd-length median).
    fn mean1(self) -> f64;
    /// `np.mean` of the two middle elements (even-length median).
    fn mean2(self, other: Self) -> f64;
    /// NumPy's `_lerp(a, b, t)` for `np.quantile(..., method="linear")`.
    fn lerp(self, b: Self, t: f64) -> f64;
}

impl Diff for f32 {
    const IS_F32: bool = true;
    const LOWEST: Self = f32::NEG_INFINITY;
    #[inline]
    fn is_nan(self) -> bool {
        self.is_nan()
    }
    #[inline]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    #[inline]
    fn to_f32(self) -> f32 {
        self
    }
    #[inline]
    fn exceeds(self, tol: f64) -> bool {
        f64::from(self) > tol
    }
    #[inline]
    fn max_no_nan(self, other: Self) -> Self {
        self.max(other)
    }
    fn total_order(&self, other: &Self) -> Ordering {
        self.total_cmp(other)
    }
    fn mean1(self) -> f64 {
        f64::from(self)
    }
    #[expect(clippy::manual_midpoint, reason = "NumPy's mean overflows to inf; midpoint does not")]
    fn mean2(self, other: Self) -> f64 {
        f64::from((self + other) / 2.0)
    }
    fn lerp(self, b: Self, t: f64) -> f64 {
        let diff = b - self;
        let r = if t >= 0.5 { b - diff * (1.0 - t) as f32 } else { self + diff * t as f32 };
        f64::from(r)
    }
}

impl Diff for f64 {
    const IS_F32: bool = false;
    const LOWEST: Self = f64::NEG_INFINITY;
    #[inline]
    fn is_nan(self) -> bool {
        self.is_nan()
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline]
    fn to_f32(self) -> f32 {
        self as f32
    }
    #[inline]
    fn exceeds(self, tol: f64) -> bool {
        self > tol
    }
    #[inline]
    fn max_no_nan(self, other: Self) -> Self {
        self.max(other)
    }
    fn total_order(&self, other: &Self) -> Ordering {
        self.total_cmp(other)
    }
    fn mean1(self) -> f64 {
        self
    }
    #[expect(clippy::manual_midpoint, reason = "NumPy's mean overflows to inf; midpoint does not")]
    fn mean2(self, other: Self) -> f64 {
        (self + other) / 2.0
    }
    fn lerp(self, b: Self, t: f64) -> f64 {
        let diff = b - self;
        if t >= 0.5 { b - diff * (1.0 - t) } else { self + diff * t }
    }
}

macro_rules! impl_diff_int {
    ($($t:ty),*) => {$(
        #[allow(clippy::cast_lossless, reason = "one macro for lossless and lossy NumPy casts")]
        impl Diff for $t {
            const IS_F32: bool = false;
            const LOWEST: Self = <$t>::MIN;
            #[inline]
            fn is_nan(self) -> bool { false }
            #[inline]
            fn to_f64(self) -> f64 { self as f64 }
            #[inline]
            fn to_f32(self) -> f32 { self as f32 }
            #[inline]
            fn exceeds(self, tol: f64) -> bool { self as f64 > tol }
            #[inline]
            fn max_no_nan(self, other: Self) -> Self { Ord::max(self, other) }
            fn total_order(&self, other: &Self) -> Ordering { self.cmp(other) }
            fn mean1(self) -> f64 { self as f64 }
            fn mean2(self, other: Self) -> f64 { (self as f64 + other as f64) / 2.0 }
            fn lerp(self, b: Self, t: f64) -> f64 {
                // The difference is taken in the integer type (wrapping), then scaled in float64.
                let diff = b.wrapping_sub(self) as f64;
                if t >= 0.5 { b as f64 - diff * (1.0 - t) } else { self as f64 + diff * t }
            }
        }
    )*};
}
impl_diff_int!(i32, i64);

impl Diff for bool {
    const IS_F32: bool = false;
    const LOWEST: Self = false;
    #[inline]
    fn is_nan(self) -> bool {
        false
    }
    #[inline]
    fn to_f64(self) -> f64 {
        f64::from(u8::from(self))
    }
    #[inline]
    fn to_f32(self) -> f32 {
        f32::from(u8::from(self))
    }
    #[inline]
    fn exceeds(self, tol: f64) -> bool {
        f64::from(u8::from(self)) > tol
    }
    #[inline]
    fn max_no_nan(self, other: Self) -> Self {
        self | other
    }
    fn total_order(&self, other: &Self) -> Ordering {
        self.cmp(other)
    }
    fn mean1(self) -> f64 {
        self.to_f64()
    }
    fn mean2(self, other: Self) -> f64 {
        self.to_f64().mean2(other.to_f64())
    }
    fn lerp(self, b: Self, t: f64) -> f64 {
        // NumPy refuses quantiles of bool arrays; interpolate their 0/1 values instead.
        self.to_f64().lerp(b.to_f64(), t)
    }
}
