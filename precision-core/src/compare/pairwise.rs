//! NumPy's pairwise float32 summation, fused with every statistic of the simple comparison,
//! and NumPy's median and quantile.

use rayon::prelude::*;

use super::numpy::Diff;

/// NumPy's pairwise summation sums blocks of at most this many elements with 8 accumulators.
pub(super) const PAIRWISE_BLOCK: usize = 128;
/// NumPy's default ufunc buffer size: a reduction that casts works through buffers of this many
/// elements, summing each pairwise and adding the buffer sums one after another.
pub(super) const CAST_BUFFER: usize = 8192;
/// Arrays at least this long are compared on several threads.
pub(super) const PARALLEL_MIN_LEN: usize = 1 << 20;
/// In parallel, the pairwise recursion hands halves at least this long to other threads.
const PARALLEL_SPLIT_LEN: usize = 1 << 17;

/// Statistics of a run of elements.
#[derive(Clone, Copy)]
pub(super) struct Partial<A, R> {
    /// NumPy's float32 sum of `absdiff` over the run (in its pairwise order).
    pub(super) sum_abs: f32,
    pub(super) sum_rel: f32,
    pub(super) max_abs: A,
    pub(super) max_rel: R,
    pub(super) nan_abs: bool,
    pub(super) nan_rel: bool,
    /// Elements failing the elemwise check (counted only for that check).
    pub(super) mismatches: usize,
    /// The largest per-element error over tolerance, `min(abs / atol, rel / rtol)` (elemwise
    /// only; its inverse is the headroom, see [`super::headroom`]).
    pub(super) worst_ratio: f64,
}

impl<A: Diff, R: Diff> Partial<A, R> {
    /// Joins the statistics of a run with those of the run after it.
    #[inline]
    fn join(self, o: Self) -> Self {
        Partial {
            sum_abs: self.sum_abs + o.sum_abs,
            sum_rel: self.sum_rel + o.sum_rel,
            max_abs: self.max_abs.max_no_nan(o.max_abs),
            max_rel: self.max_rel.max_no_nan(o.max_rel),
            nan_abs: self.nan_abs | o.nan_abs,
            nan_rel: self.nan_rel | o.nan_rel,
            mismatches: self.mismatches + o.mismatches,
            worst_ratio: self.worst_ratio.max(o.worst_ratio),
        }
    }
}

/// Tolerances for the fused pass; `elemwise` says whether to count mismatches.
#[derive(Clone, Copy)]
pub(super) struct Tol {
    pub(super) elemwise: bool,
    pub(super) atol: f64,
    pub(super) rtol: f64,
    /// `1 / atol` and `1 / rtol` of the user's tolerances, for the per-element headroom
    /// (`atol`/`rtol` above include `--margin`).
    pub(super) inv_user_atol: f64,
    pub(super) inv_user_rtol: f64,
}

/// An element's error over its tolerance, `err * (1 / tol)`: infinite for NaN, 0 for an
/// error of at most 0 (a wrapped integer difference passes), infinite when `tol` is 0.
#[inline]
fn over(err: f64, inv_tol: f64) -> f64 {
    if err > 0.0 {
        err * inv_tol
    } else if err.is_nan() {
        f64::INFINITY
    } else {
        0.0
    }
}

/// NumPy's `pairwise_sum` of at most [`PAIRWISE_BLOCK`] float32 values: fewer than 8 summed in
/// order, else 8 interleaved accumulators combined as a tree, then the remainder in order.
#[inline]
pub(super) fn pairwise_leaf(v: &[f32]) -> f32 {
    let n = v.len();
    if n < 8 {
        let mut res = -0.0f32;
        for &x in v {
            res += x;
        }
        return res;
    }
    let mut r = [0f32; 8];
    r.copy_from_slice(&v[..8]);
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
}

/// One leaf of the pairwise recursion: computes the differences of up to
/// [`PAIRWISE_BLOCK`] elements and all their statistics in one pass.
#[inline]
pub(super) fn leaf<X, Y, A, R, K>(xs: &[X], ys: &[Y], k: &K, tol: Tol) -> Partial<A, R>
where
    X: Copy,
    Y: Copy,
    A: Diff,
    R: Diff,
    K: Fn(X, Y) -> (A, R),
{
    let n = xs.len();
    let mut abs32 = [0f32; PAIRWISE_BLOCK];
    let mut rel32 = [0f32; PAIRWISE_BLOCK];
    let (mut max_abs, mut max_rel) = (A::LOWEST, R::LOWEST);
    let (mut nan_abs, mut nan_rel) = (false, false);
    let mut mismatches = 0usize;
    let mut worst_ratio = 0.0f64;
    let outs = abs32.iter_mut().zip(rel32.iter_mut());
    for ((&x, &y), (sa, sr)) in xs.iter().zip(ys).zip(outs) {
        let (a, r) = k(x, y);
        *sa = a.to_f32();
        *sr = r.to_f32();
        max_abs = max_abs.max_no_nan(a);
        max_rel = max_rel.max_no_nan(r);
        nan_abs |= a.is_nan();
        nan_rel |= r.is_nan();
        if tol.elemwise {
            let fail_abs = a.exceeds(tol.atol) | a.is_nan();
            let fail_rel = r.exceeds(tol.rtol) | r.is_nan();
            mismatches += usize::from(fail_abs & fail_rel);
            let excess =
                over(a.to_f64(), tol.inv_user_atol).min(over(r.to_f64(), tol.inv_user_rtol));
            worst_ratio = worst_ratio.max(excess);
        }
    }
    Partial {
        sum_abs: pairwise_leaf(&abs32[..n]),
        sum_rel: pairwise_leaf(&rel32[..n]),
        max_abs,
        max_rel,
        nan_abs,
        nan_rel,
        mismatches,
        worst_ratio,
    }
}

/// NumPy's pairwise summation structure over a run (recursively halving at a multiple of 8 until
/// runs of at most 128), with every statistic computed alongside. Runs of at least
/// [`PARALLEL_SPLIT_LEN`] are split across threads when `parallel`; the tree, and so every
/// result, is the same either way.
pub(super) fn pairwise<X, Y, A, R, K>(
    xs: &[X],
    ys: &[Y],
    k: &K,
    tol: Tol,
    parallel: bool,
) -> Partial<A, R>
where
    X: Copy + Sync,
    Y: Copy + Sync,
    A: Diff,
    R: Diff,
    K: Fn(X, Y) -> (A, R) + Sync,
{
    let n = xs.len();
    if n <= PAIRWISE_BLOCK {
        return leaf(xs, ys, k, tol);
    }
    let mut n2 = n / 2;
    n2 -= n2 % 8;
    let (xl, xr) = xs.split_at(n2);
    let (yl, yr) = ys.split_at(n2);
    if parallel && n >= PARALLEL_SPLIT_LEN {
        let (l, r) = rayon::join(
            || pairwise(xl, yl, k, tol, parallel),
            || pairwise(xr, yr, k, tol, parallel),
        );
        l.join(r)
    } else {
        pairwise(xl, yl, k, tol, false).join(pairwise(xr, yr, k, tol, false))
    }
}

/// The fused pass over all elements, in NumPy's summation order for `np.mean(x, dtype=float32)`:
/// one pairwise sum over the whole array when the differences are float32, else (NumPy casts
/// through buffers) one pairwise sum per [`CAST_BUFFER`] elements, added in order.
pub(super) fn fused<X, Y, A, R, K>(xs: &[X], ys: &[Y], k: &K, tol: Tol) -> Partial<A, R>
where
    X: Copy + Sync,
    Y: Copy + Sync,
    A: Diff,
    R: Diff,
    K: Fn(X, Y) -> (A, R) + Sync,
{
    debug_assert_eq!(A::IS_F32, R::IS_F32, "absdiff and reldiff are both float32 or neither");
    let parallel = xs.len() >= PARALLEL_MIN_LEN && rayon::current_num_threads() > 1;
    let start = Partial {
        sum_abs: 0.0,
        sum_rel: 0.0,
        max_abs: A::LOWEST,
        max_rel: R::LOWEST,
        nan_abs: false,
        nan_rel: false,
        mismatches: 0,
        worst_ratio: 0.0,
    };
    if A::IS_F32 {
        return start.join(pairwise(xs, ys, k, tol, parallel));
    }
    if parallel {
        let parts: Vec<Partial<A, R>> = xs
            .par_chunks(CAST_BUFFER)
            .zip(ys.par_chunks(CAST_BUFFER))
            .map(|(x, y)| pairwise(x, y, k, tol, false))
            .collect();
        parts.into_iter().fold(start, Partial::join)
    } else {
        xs.chunks(CAST_BUFFER)
            .zip(ys.chunks(CAST_BUFFER))
            .fold(start, |acc, (x, y)| acc.join(pairwise(x, y, k, tol, false)))
    }
}

/// `np.median` after `cast_up` (0 for an empty array, NaN if any value is NaN).
pub(super) fn median<A: Diff>(v: &mut [A]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    if v.iter().any(|x| x.is_nan()) {
        return f64::NAN;
    }
    let n = v.len();
    let (left, &mut upper, _) = v.select_nth_unstable_by(n / 2, A::total_order);
    if n % 2 == 1 {
        return upper.mean1();
    }
    let lower = left.iter().copied().fold(A::LOWEST, A::max_no_nan);
    lower.mean2(upper)
}

/// `np.quantile(x, q)` with the default linear method (inf for an empty array, NaN if any value is
/// NaN), including NumPy's index and interpolation arithmetic.
#[expect(clippy::many_single_char_names, reason = "NumPy's names: a, b, n, q")]
pub(super) fn quantile<A: Diff>(v: &mut [A], q: f64) -> f64 {
    if v.is_empty() {
        return f64::INFINITY;
    }
    if v.iter().any(|x| x.is_nan()) || q.is_nan() {
        return f64::NAN;
    }
    let n = v.len();
    let last = (n - 1) as f64;
    let virtual_index = last * q;
    let (prev, next, gamma) = if virtual_index >= last {
        // NumPy takes the last element twice, with gamma measured from index -1.
        (n - 1, n - 1, virtual_index + 1.0)
    } else if virtual_index < 0.0 {
        (0, 0, virtual_index)
    } else {
        let p = virtual_index.floor();
        (p as usize, p as usize + 1, virtual_index - p)
    };
    let (_, &mut a, right) = v.select_nth_unstable_by(prev, A::total_order);
    let b = if next == prev {
        a
    } else {
        right
            .iter()
            .copied()
            .reduce(|m, x| if x.total_order(&m).is_lt() { x } else { m })
            .unwrap_or(a)
    };
    a.lerp(b, gamma)
}
