//! Network inputs: loaded from Polygraphy inputs JSON, or generated like Polygraphy's data
//! loader (seed 1, one iteration, values uniform in [0, 1]), and checked against the network.

use anyhow::{Context, bail};
use half::{bf16, f16};
use ndarray::{ArrayD, IxDyn};
use precision_core::{DType, NamedTensors, Network, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::args::DataArgs;

/// The input iterations described by `args`: loaded from `--load-inputs` or generated.
pub fn obtain(network: &Network, args: &DataArgs) -> anyhow::Result<Vec<NamedTensors>> {
    let iterations = match &args.load_inputs {
        Some(path) => {
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
            loaded
        }
        None => generate(network, args)?,
    };
    Ok(iterations)
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

/// Generates `args.iterations` input feeds.
fn generate(network: &Network, args: &DataArgs) -> anyhow::Result<Vec<NamedTensors>> {
    let ranges = parse_val_ranges(&args.val_range)?;
    for (name, _) in &ranges.overrides {
        if !network.inputs.iter().any(|i| &i.name == name) {
            bail!("--val-range names '{name}', which is not an input of the model");
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let mut iterations = Vec::new();
    for _ in 0..args.iterations {
        let mut feed = NamedTensors::new();
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
            let (lo, hi) = *ranges.get(&info.name);
            feed.insert(info.name.clone(), random_tensor(&mut rng, info.dtype, &shape, lo, hi));
        }
        iterations.push(feed);
    }
    Ok(iterations)
}

fn random_tensor(rng: &mut ChaCha8Rng, dtype: DType, shape: &[usize], lo: f64, hi: f64) -> Tensor {
    let n: usize = shape.iter().product();
    let floats = |rng: &mut ChaCha8Rng| -> Vec<f64> {
        (0..n).map(|_| if hi > lo { rng.random_range(lo..hi) } else { lo }).collect()
    };
    let ints = |rng: &mut ChaCha8Rng| -> Vec<i64> {
        let (a, b) = (lo.ceil() as i64, hi.floor() as i64);
        (0..n).map(|_| if b > a { rng.random_range(a..=b) } else { a }).collect()
    };
    let shape = IxDyn(shape);
    let build = |v| ArrayD::from_shape_vec(shape.clone(), v).expect("length matches shape");
    match dtype {
        DType::F32 => Tensor::F32(build_as(&shape, floats(rng), |x| x as f32)),
        DType::F16 => Tensor::F16(build_as(&shape, floats(rng), f16::from_f64)),
        DType::BF16 => Tensor::BF16(build_as(&shape, floats(rng), bf16::from_f64)),
        DType::F64 => Tensor::F64(build(floats(rng))),
        DType::I8 => Tensor::I8(build_as(&shape, ints(rng), |x| x.clamp(-128, 127) as i8)),
        DType::U8 => Tensor::U8(build_as(&shape, ints(rng), |x| x.clamp(0, 255) as u8)),
        DType::I32 => Tensor::I32(build_as(&shape, ints(rng), |x| x as i32)),
        DType::I64 => {
            Tensor::I64(ArrayD::from_shape_vec(shape, ints(rng)).expect("length matches shape"))
        }
        DType::Bool => {
            Tensor::Bool(build_as(&shape, (0..n).map(|_| rng.random::<bool>()).collect(), |b| b))
        }
    }
}

fn build_as<S, T>(shape: &IxDyn, values: Vec<S>, f: impl Fn(S) -> T) -> ArrayD<T> {
    ArrayD::from_shape_vec(shape.clone(), values.into_iter().map(f).collect())
        .expect("length matches shape")
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
            .and_then(|(a, b)| Some((a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?)))
            .filter(|(a, b)| a.is_finite() && b.is_finite() && a <= b);
        let Some(parsed) = parsed else {
            bail!(
                "--val-range: '{item}' is not of the form [MIN,MAX] or NAME:[MIN,MAX] with MIN <= MAX"
            );
        };
        match name {
            Some(n) => ranges.overrides.push((n.to_owned(), parsed)),
            None => ranges.default = parsed,
        }
    }
    Ok(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;
    use precision_core::TensorInfo;

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
            load_inputs: None,
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

    #[test]
    fn rejects_bad_ranges_and_feeds() {
        assert!(
            generate(&net(), &data(&["[2,1]"])).unwrap_err().to_string().contains("MIN <= MAX")
        );
        assert!(generate(&net(), &data(&["y:[0,1]"])).unwrap_err().to_string().contains("'y'"));
        let mut feed = generate(&net(), &data(&[])).unwrap().remove(0);
        feed.insert("x".into(), Tensor::F32(ArrayD::zeros(IxDyn(&[3, 2]))));
        assert!(check(&net(), &feed).unwrap_err().to_string().contains("expects [2, 3]"));
        feed.shift_remove("x");
        assert!(check(&net(), &feed).unwrap_err().to_string().contains("'x' is missing"));
    }
}
