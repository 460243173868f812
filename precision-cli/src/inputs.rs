//! Network inputs: loaded from Polygraphy inputs JSON (or a dataset, `dataset.rs`), or
//! generated like Polygraphy's data loader (seed 1, one iteration, values uniform in [0, 1]),
//! and checked against the network.

use std::collections::TryReserveError;

use anyhow::{Context, bail};
use half::{bf16, f16};
use ndarray::{ArrayD, IxDyn};
use precision_core::{DType, NamedTensors, Network, Tensor, TensorInfo};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::args::DataArgs;
use crate::memory;

/// The input iterations of a Polygraphy inputs JSON file (or folder of them), checked.
pub fn load_json(network: &Network, path: &std::path::Path) -> anyhow::Result<Vec<NamedTensors>> {
    let loaded = polygraphy_json::read_inputs(path)
        .with_context(|| format!("cannot load inputs from {}", path.display()))?;
    if loaded.is_empty() {
        bail!(
            "{} holds no input iterations; save inputs with `precision run --save-inputs`",
            path.display()
        );
    }
    for (i, feed) in loaded.iter().enumerate() {
        check(network, feed).with_context(|| {
            format!(
                "inputs in {} (iteration {i}) do not fit model '{}'",
                path.display(),
                network.name
            )
        })?;
    }
    Ok(loaded)
}

/// Checks that `feed` has exactly the network's inputs, with their dtypes and static dims.
pub fn check(network: &Network, feed: &NamedTensors) -> anyhow::Result<()> {
    for info in &network.inputs {
        let Some(tensor) = feed.get(&info.name) else {
            bail!("input '{}' is missing (the file has: {})", info.name, names(feed));
        };
        if tensor.dtype() != info.dtype {
            bail!(
                "input '{}' has dtype {} but the model expects {}",
                info.name,
                tensor.dtype(),
                info.dtype
            );
        }
        let shape = tensor.shape();
        let fits = shape.len() == info.shape.len()
            && shape.iter().zip(&info.shape).all(|(&d, want)| want.is_none_or(|w| w == d));
        if !fits {
            bail!(
                "input '{}' has shape {:?} but the model expects {}",
                info.name,
                shape,
                describe_shape(&info.shape)
            );
        }
    }
    if let Some(extra) = feed.keys().find(|k| !network.inputs.iter().any(|i| &i.name == *k)) {
        let expected: Vec<&str> = network.inputs.iter().map(|i| i.name.as_str()).collect();
        bail!("'{extra}' is not an input of the model (its inputs are: {})", expected.join(", "));
    }
    Ok(())
}

fn names(feed: &NamedTensors) -> String {
    if feed.is_empty() {
        "nothing".to_owned()
    } else {
        feed.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

fn describe_shape(shape: &[Option<usize>]) -> String {
    let dims: Vec<String> =
        shape.iter().map(|d| d.map_or_else(|| "?".to_owned(), |d| d.to_string())).collect();
    format!("[{}]", dims.join(", "))
}

/// Generates `args.iterations` input feeds, after checking that they fit in memory.
pub fn generate(network: &Network, args: &DataArgs) -> anyhow::Result<Vec<NamedTensors>> {
    let ranges = parse_val_ranges(&args.val_range)?;
    for (name, _) in &ranges.overrides {
        if !network.inputs.iter().any(|i| &i.name == name) {
            bail!("--val-range names '{name}', which is not an input of the model");
        }
    }
    let mut shapes = Vec::with_capacity(network.inputs.len());
    let mut needs = Vec::with_capacity(network.inputs.len());
    for info in &network.inputs {
        let Some(shape) = info.static_shape() else {
            let example: Vec<String> = info
                .shape
                .iter()
                .map(|d| d.map_or_else(|| "1".to_owned(), |v| v.to_string()))
                .collect();
            bail!(
                "input '{}' has a dynamic shape {}: give its shape with --input-shapes \
                 {}:[{}], or load inputs with --load-inputs",
                info.name,
                describe_shape(&info.shape),
                info.name,
                example.join(",")
            );
        };
        let what = format!("{}: {shape:?} {}", info.name, info.dtype);
        let Some(bytes) = precision_core::byte_size(info.dtype, &shape) else {
            bail!(
                "input '{what}' is too large for any machine's memory (more than {} bytes); \
                 use a smaller batch/shape",
                isize::MAX
            );
        };
        check_range(info, *ranges.get(&info.name))?;
        needs.push(memory::Need { what, bytes: bytes as u64 });
        shapes.push(shape);
    }
    memory::ensure_fits(
        "the input shapes",
        &needs,
        u64::from(args.iterations),
        "use a smaller batch/shape",
    )?;
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let mut iterations = Vec::new();
    for _ in 0..args.iterations {
        let mut feed = NamedTensors::new();
        for ((info, shape), need) in network.inputs.iter().zip(&shapes).zip(&needs) {
            let (lo, hi) = *ranges.get(&info.name);
            let tensor = random_tensor(&mut rng, info.dtype, shape, lo, hi).map_err(|_| {
                anyhow::anyhow!(
                    "cannot allocate {} for input '{}'; use a smaller batch/shape",
                    memory::human(need.bytes),
                    need.what
                )
            })?;
            feed.insert(info.name.clone(), tensor);
        }
        iterations.push(feed);
    }
    Ok(iterations)
}

/// Refuses a value range that a float input cannot hold: its values would be infinite.
fn check_range(info: &TensorInfo, (lo, hi): (f64, f64)) -> anyhow::Result<()> {
    let max = match info.dtype {
        DType::F32 => f64::from(f32::MAX),
        DType::F16 => f64::from(f16::MAX),
        DType::BF16 => f64::from(bf16::MAX),
        _ => return Ok(()),
    };
    if lo < -max || hi > max {
        bail!(
            "--val-range [{},{}] goes beyond the finite {} values of input '{}' ({} to {}), so \
             its inputs would be infinite; give a range within those",
            number(lo),
            number(hi),
            info.dtype,
            info.name,
            number(-max),
            number(max)
        );
    }
    Ok(())
}

/// A number for messages: `0.5`, `-1e308`, `3.4028234663852886e38`.
fn number(v: f64) -> String {
    if v != 0.0 && !(1e-4..1e16).contains(&v.abs()) { format!("{v:e}") } else { v.to_string() }
}

/// A value drawn uniformly from `[lo, hi)` (`lo` when the range is one point), for any finite
/// range: when `hi - lo` overflows, as for `[-1e308,1e308]`, the value is interpolated
/// between the ends instead, which never overflows.
fn uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    if hi <= lo {
        lo
    } else if (hi - lo).is_finite() {
        rng.random_range(lo..hi)
    } else {
        let u: f64 = rng.random();
        (lo * (1.0 - u) + hi * u).clamp(lo, hi)
    }
}

/// `n` values from `next`, in a vector allocated with `try_reserve`, so that a failing
/// allocation is an error, not an abort.
fn collect<T>(n: usize, mut next: impl FnMut() -> T) -> Result<Vec<T>, TryReserveError> {
    let mut values = Vec::new();
    values.try_reserve_exact(n)?;
    values.extend((0..n).map(|_| next()));
    Ok(values)
}

/// A tensor of random values in `[lo, hi]` (integers: the integers in it, clamped to the
/// type; booleans: fair coin flips), drawn in element order from `rng`.
fn random_tensor(
    rng: &mut ChaCha8Rng,
    dtype: DType,
    shape: &[usize],
    lo: f64,
    hi: f64,
) -> Result<Tensor, TryReserveError> {
    fn array<T>(shape: &[usize], values: Vec<T>) -> ArrayD<T> {
        ArrayD::from_shape_vec(IxDyn(shape), values).expect("length matches shape")
    }
    // The caller checked the size with `byte_size`.
    let n = precision_core::element_count(shape).unwrap_or(0);
    let (a, b) = (lo.ceil() as i64, hi.floor() as i64);
    let int = |rng: &mut ChaCha8Rng| if b > a { rng.random_range(a..=b) } else { a };
    Ok(match dtype {
        DType::F32 => Tensor::F32(array(shape, collect(n, || uniform(rng, lo, hi) as f32)?)),
        DType::F16 => {
            Tensor::F16(array(shape, collect(n, || f16::from_f64(uniform(rng, lo, hi)))?))
        }
        DType::BF16 => {
            Tensor::BF16(array(shape, collect(n, || bf16::from_f64(uniform(rng, lo, hi)))?))
        }
        DType::F64 => Tensor::F64(array(shape, collect(n, || uniform(rng, lo, hi))?)),
        DType::I8 => Tensor::I8(array(shape, collect(n, || int(rng).clamp(-128, 127) as i8)?)),
        DType::U8 => Tensor::U8(array(shape, collect(n, || int(rng).clamp(0, 255) as u8)?)),
        DType::I32 => Tensor::I32(array(
            shape,
            collect(n, || int(rng).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32)?,
        )),
        DType::I64 => Tensor::I64(array(shape, collect(n, || int(rng))?)),
        DType::Bool => Tensor::Bool(array(shape, collect(n, || rng.random::<bool>())?)),
    })
}

/// Parses `--val-range [MIN,MAX] NAME:[MIN,MAX] ...`.
fn parse_val_ranges(items: &[String]) -> anyhow::Result<precision_core::PerOutput<(f64, f64)>> {
    let mut ranges = precision_core::PerOutput::uniform((0.0, 1.0));
    for item in items {
        let (name, range) = match item.rfind(":[") {
            Some(at) => (Some(&item[..at]), &item[at + 1..]),
            None => (None, item.as_str()),
        };
        let parsed = range
            .trim()
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .and_then(|r| r.split_once(','))
            .and_then(|(a, b)| {
                Some((a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?))
            });
        let Some((lo, hi)) = parsed else {
            bail!("--val-range: '{item}' is not of the form [MIN,MAX] or NAME:[MIN,MAX]");
        };
        if !lo.is_finite() || !hi.is_finite() {
            bail!(
                "--val-range: '{item}' has a bound that is not a finite number (MIN {}, MAX \
                 {}); give finite bounds such as [-1e30,1e30]",
                number(lo),
                number(hi)
            );
        }
        if lo > hi {
            bail!(
                "--val-range: '{item}' has MIN {} above MAX {}; give MIN <= MAX",
                number(lo),
                number(hi)
            );
        }
        match name {
            Some(n) => ranges.overrides.push((n.to_owned(), (lo, hi))),
            None => ranges.default = (lo, hi),
        }
    }
    Ok(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net() -> Network {
        Network {
            name: "n".into(),
            inputs: vec![
                TensorInfo::fixed("x", DType::F32, &[2, 3]),
                TensorInfo::fixed("ids", DType::I64, &[4]),
            ],
            layers: vec![],
            outputs: vec![],
        }
    }

    fn data(val_range: &[&str]) -> DataArgs {
        DataArgs {
            load_inputs: Vec::new(),
            calibration_inputs: Vec::new(),
            seed: 1,
            val_range: val_range.iter().map(|s| (*s).to_owned()).collect(),
            iterations: 2,
        }
    }

    #[test]
    fn generates_in_range_and_deterministically() {
        let a = generate(&net(), &data(&["ids:[3,5]"])).unwrap();
        let b = generate(&net(), &data(&["ids:[3,5]"])).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 2);
        assert_ne!(a[0], a[1]);
        let x = a[0]["x"].to_f64_vec();
        assert!(x.iter().all(|v| (0.0..=1.0).contains(v)));
        let ids = a[0]["ids"].to_f64_vec();
        assert!(ids.iter().all(|v| (3.0..=5.0).contains(v)));
        check(&net(), &a[0]).unwrap();
    }

    fn one_input(dtype: DType, shape: &[usize]) -> Network {
        Network {
            name: "n".into(),
            inputs: vec![TensorInfo::fixed("v", dtype, shape)],
            layers: vec![],
            outputs: vec![],
        }
    }

    #[test]
    fn any_finite_range_is_sampled_without_overflow() {
        let net = one_input(DType::F64, &[4000]);
        let feed = generate(&net, &data(&["[-1e308,1e308]"])).unwrap().remove(0);
        let v = feed["v"].to_f64_vec();
        assert!(v.iter().all(|x| x.is_finite() && (-1e308..=1e308).contains(x)));
        assert!(v.iter().any(|&x| x < -1e307) && v.iter().any(|&x| x > 1e307), "spread");
        let extreme = format!("[{},{}]", -f64::MAX, f64::MAX);
        let v = generate(&net, &data(&[&extreme])).unwrap()[0]["v"].to_f64_vec();
        assert!(v.iter().all(|x| x.is_finite()));
        // Integers: the range saturates to the type's.
        for dtype in [DType::I64, DType::I32, DType::I8, DType::U8] {
            let net = one_input(dtype, &[1000]);
            let v = generate(&net, &data(&["[-1e308,1e308]"])).unwrap()[0]["v"].to_f64_vec();
            assert!(v.iter().any(|&x| x < 0.0) || dtype == DType::U8, "{dtype}");
            let v = generate(&net, &data(&["[-1e10,-1e10]"])).unwrap()[0]["v"].to_f64_vec();
            let lowest = match dtype {
                DType::I64 => -1e10,
                DType::I32 => f64::from(i32::MIN),
                DType::I8 => -128.0,
                _ => 0.0,
            };
            assert!(v.iter().all(|&x| x == lowest), "{dtype}: {v:?}");
        }
        // A range past what a float type holds is refused, naming the input and its limits.
        for (dtype, range, limit) in [
            (DType::F32, "[-1e308,1e308]", "3.4028234663852886e38"),
            (DType::F16, "[0,1e5]", "65504"),
            (DType::BF16, "[-1e39,0]", "3.3895313892515355e38"),
        ] {
            let err = generate(&one_input(dtype, &[2]), &data(&[range])).unwrap_err().to_string();
            assert!(err.contains("input 'v'") && err.contains(limit), "{err}");
        }
        let ok = generate(&one_input(DType::F16, &[64]), &data(&["[-65504,65504]"])).unwrap();
        assert!(ok[0]["v"].to_f64_vec().iter().all(|x| x.is_finite()));
    }

    #[test]
    fn sizes_past_memory_are_refused_before_allocating() {
        // Past isize::MAX bytes: refused whatever the machine.
        let err = generate(&one_input(DType::F64, &[1 << 61]), &data(&[])).unwrap_err();
        assert!(err.to_string().contains("too large for any machine"), "{err}");
        // Far past any machine's memory: refused with what the shapes need.
        let huge = one_input(DType::F32, &[1 << 40, 1024]);
        let err = generate(&huge, &data(&[])).unwrap_err().to_string();
        if memory::available().is_some() {
            assert!(err.contains("the input shapes need 8.0 PiB"), "{err}");
            assert!(err.contains("v: [1099511627776, 1024] float32 = 4.0 PiB"), "{err}");
            assert!(err.contains("times 2 iterations"), "{err}");
        } else {
            assert!(err.contains("cannot allocate 4.0 PiB"), "{err}");
        }
    }

    #[test]
    fn rejects_bad_ranges_and_feeds() {
        assert!(
            generate(&net(), &data(&["[2,1]"]))
                .unwrap_err()
                .to_string()
                .contains("give MIN <= MAX")
        );
        assert!(generate(&net(), &data(&["y:[0,1]"])).unwrap_err().to_string().contains("'y'"));
        for (range, expect) in [
            ("[0,inf]", "MAX inf"),
            ("[nan,1]", "MIN NaN"),
            ("[-1e999,0]", "MIN -inf"),
            ("[0,1", "is not of the form"),
            ("x:[3]", "is not of the form"),
        ] {
            let err = generate(&net(), &data(&[range])).unwrap_err().to_string();
            assert!(err.contains(expect), "{range}: {err}");
        }
        let mut feed = generate(&net(), &data(&[])).unwrap().remove(0);
        feed.insert("x".into(), Tensor::F32(ArrayD::zeros(IxDyn(&[3, 2]))));
        assert!(check(&net(), &feed).unwrap_err().to_string().contains("expects [2, 3]"));
        feed.shift_remove("x");
        assert!(check(&net(), &feed).unwrap_err().to_string().contains("'x' is missing"));
    }
}
