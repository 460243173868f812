//! Named n-dimensional arrays of the element types networks exchange.

use std::fmt;

use half::{bf16, f16};
use indexmap::IndexMap;
use ndarray::ArrayD;
use serde::{Deserialize, Serialize};

/// The element type of a [`Tensor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// 32-bit float.
    F32,
    /// 16-bit IEEE float.
    F16,
    /// 16-bit brain float.
    BF16,
    /// 64-bit float.
    F64,
    /// Signed 8-bit integer.
    I8,
    /// Unsigned 8-bit integer.
    U8,
    /// Signed 32-bit integer.
    I32,
    /// Signed 64-bit integer.
    I64,
    /// Boolean.
    Bool,
}

impl DType {
    /// The size of one element in bytes.
    #[must_use]
    pub fn size(self) -> usize {
        match self {
            DType::I8 | DType::U8 | DType::Bool => 1,
            DType::F16 | DType::BF16 => 2,
            DType::F32 | DType::I32 => 4,
            DType::F64 | DType::I64 => 8,
        }
    }

    /// Whether the type is a floating-point type.
    #[must_use]
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F16 | DType::BF16 | DType::F64)
    }

    /// The NumPy name of the type (`float32`, `int64`, `bool`, ...).
    #[must_use]
    pub fn numpy_name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::F64 => "float64",
            DType::I8 => "int8",
            DType::U8 => "uint8",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::Bool => "bool",
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.numpy_name())
    }
}

/// An n-dimensional array in C (row-major) order, of one of the supported element types.
#[derive(Debug, Clone, PartialEq)]
pub enum Tensor {
    /// 32-bit float elements.
    F32(ArrayD<f32>),
    /// 16-bit IEEE float elements.
    F16(ArrayD<f16>),
    /// 16-bit brain float elements.
    BF16(ArrayD<bf16>),
    /// 64-bit float elements.
    F64(ArrayD<f64>),
    /// Signed 8-bit integer elements.
    I8(ArrayD<i8>),
    /// Unsigned 8-bit integer elements.
    U8(ArrayD<u8>),
    /// Signed 32-bit integer elements.
    I32(ArrayD<i32>),
    /// Signed 64-bit integer elements.
    I64(ArrayD<i64>),
    /// Boolean elements.
    Bool(ArrayD<bool>),
}

/// Applies `$body` to the array inside any [`Tensor`] variant, bound to `$a`.
#[macro_export]
macro_rules! dispatch_tensor {
    ($tensor:expr, $a:ident => $body:expr) => {
        match $tensor {
            $crate::Tensor::F32($a) => $body,
            $crate::Tensor::F16($a) => $body,
            $crate::Tensor::BF16($a) => $body,
            $crate::Tensor::F64($a) => $body,
            $crate::Tensor::I8($a) => $body,
            $crate::Tensor::U8($a) => $body,
            $crate::Tensor::I32($a) => $body,
            $crate::Tensor::I64($a) => $body,
            $crate::Tensor::Bool($a) => $body,
        }
    };
}

impl Tensor {
    /// The element type.
    #[must_use]
    pub fn dtype(&self) -> DType {
        match self {
            Tensor::F32(_) => DType::F32,
            Tensor::F16(_) => DType::F16,
            Tensor::BF16(_) => DType::BF16,
            Tensor::F64(_) => DType::F64,
            Tensor::I8(_) => DType::I8,
            Tensor::U8(_) => DType::U8,
            Tensor::I32(_) => DType::I32,
            Tensor::I64(_) => DType::I64,
            Tensor::Bool(_) => DType::Bool,
        }
    }

    /// The shape (empty for a scalar).
    #[must_use]
    pub fn shape(&self) -> &[usize] {
        dispatch_tensor!(self, a => a.shape())
    }

    /// The number of elements.
    #[must_use]
    pub fn len(&self) -> usize {
        dispatch_tensor!(self, a => a.len())
    }

    /// Whether the tensor has no elements.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The size of the element data in bytes.
    #[must_use]
    pub fn size_in_bytes(&self) -> usize {
        self.len() * self.dtype().size()
    }

    /// The float32 array, if this tensor holds float32 elements.
    #[must_use]
    pub fn as_f32(&self) -> Option<&ArrayD<f32>> {
        match self {
            Tensor::F32(a) => Some(a),
            _ => None,
        }
    }

    /// The largest finite magnitude of a float tensor's elements (0 for an empty one, or
    /// one with no finite element); `None` for other element types.
    #[must_use]
    pub fn max_abs_finite(&self) -> Option<f64> {
        fn fold<T: Copy + Into<f64>>(values: impl Iterator<Item = T>) -> f64 {
            values.map(Into::into).filter(|v: &f64| v.is_finite()).fold(0.0, |m, v| m.max(v.abs()))
        }
        match self {
            Tensor::F32(a) => Some(fold(a.iter().copied())),
            Tensor::F16(a) => Some(fold(a.iter().copied())),
            Tensor::BF16(a) => Some(fold(a.iter().copied())),
            Tensor::F64(a) => Some(fold(a.iter().copied())),
            _ => None,
        }
    }

    /// The elements converted to float64, in C order (for reports and statistics).
    #[must_use]
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match self {
            Tensor::F32(a) => a.iter().map(|&v| f64::from(v)).collect(),
            Tensor::F16(a) => a.iter().map(|&v| f64::from(v)).collect(),
            Tensor::BF16(a) => a.iter().map(|&v| f64::from(v)).collect(),
            Tensor::F64(a) => a.iter().copied().collect(),
            Tensor::I8(a) => a.iter().map(|&v| f64::from(v)).collect(),
            Tensor::U8(a) => a.iter().map(|&v| f64::from(v)).collect(),
            Tensor::I32(a) => a.iter().map(|&v| f64::from(v)).collect(),
            Tensor::I64(a) => a.iter().map(|&v| v as f64).collect(),
            Tensor::Bool(a) => a.iter().map(|&v| f64::from(u8::from(v))).collect(),
        }
    }
}

impl Tensor {
    /// The elements as little-endian bytes in C order, the layout of device buffers and of
    /// raw tensor data (booleans as one byte, 0 or 1).
    #[must_use]
    pub fn to_le_bytes(&self) -> Vec<u8> {
        match self {
            Tensor::F32(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Tensor::F16(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Tensor::BF16(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Tensor::F64(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Tensor::I8(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Tensor::U8(a) => a.iter().copied().collect(),
            Tensor::I32(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Tensor::I64(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Tensor::Bool(a) => a.iter().map(|v| u8::from(*v)).collect(),
        }
    }

    /// The tensor of `dtype` and `shape` whose elements are the little-endian `bytes` in C
    /// order (the inverse of [`Tensor::to_le_bytes`]; any non-zero byte is `true`). `None`
    /// when the byte count is not that of the shape.
    #[must_use]
    pub fn from_le_bytes(dtype: DType, shape: &[usize], bytes: &[u8]) -> Option<Tensor> {
        fn array<T>(shape: &[usize], values: impl Iterator<Item = T>) -> ArrayD<T> {
            ArrayD::from_shape_vec(ndarray::IxDyn(shape), values.collect())
                .expect("the element count was checked")
        }
        let count = element_count(shape)?;
        if Some(bytes.len()) != count.checked_mul(dtype.size()) {
            return None;
        }
        macro_rules! decode {
            ($t:ty, $n:literal) => {
                array(
                    shape,
                    bytes
                        .chunks_exact($n)
                        .map(|c| <$t>::from_le_bytes(c.try_into().expect("chunk"))),
                )
            };
        }
        Some(match dtype {
            DType::F32 => Tensor::F32(decode!(f32, 4)),
            DType::F16 => Tensor::F16(decode!(f16, 2)),
            DType::BF16 => Tensor::BF16(decode!(bf16, 2)),
            DType::F64 => Tensor::F64(decode!(f64, 8)),
            DType::I8 => Tensor::I8(decode!(i8, 1)),
            DType::U8 => Tensor::U8(array(shape, bytes.iter().copied())),
            DType::I32 => Tensor::I32(decode!(i32, 4)),
            DType::I64 => Tensor::I64(decode!(i64, 8)),
            DType::Bool => Tensor::Bool(array(shape, bytes.iter().map(|b| *b != 0))),
        })
    }
}

macro_rules! impl_from_array {
    ($($t:ty => $variant:ident),* $(,)?) => {$(
        impl From<ArrayD<$t>> for Tensor {
            fn from(a: ArrayD<$t>) -> Self {
                Tensor::$variant(a)
            }
        }
    )*};
}
impl_from_array!(f32 => F32, f16 => F16, bf16 => BF16, f64 => F64, i8 => I8, u8 => U8,
    i32 => I32, i64 => I64, bool => Bool);

/// The number of elements of an array of `shape`, or `None` when no array of that shape can
/// exist: when the product of the dimensions, or of its non-zero ones (which ndarray also
/// requires), exceeds `isize::MAX`.
#[must_use]
pub fn element_count(shape: &[usize]) -> Option<usize> {
    let nonzero = nonzero_product(shape)?;
    Some(if shape.contains(&0) { 0 } else { nonzero })
}

/// The bytes of the elements of an array of `dtype` and `shape`, or `None` when no array of
/// that size can exist: more than `isize::MAX` bytes, or a shape [`element_count`] refuses.
#[must_use]
pub fn byte_size(dtype: DType, shape: &[usize]) -> Option<usize> {
    element_count(shape)?.checked_mul(dtype.size()).filter(|&n| isize::try_from(n).is_ok())
}

/// The product of the non-zero dimensions, if it is at most `isize::MAX`.
fn nonzero_product(shape: &[usize]) -> Option<usize> {
    shape
        .iter()
        .filter(|&&d| d != 0)
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| isize::try_from(n).is_ok())
}

/// Tensors by name, in a fixed order (a network's output order, or an input feed).
pub type NamedTensors = IndexMap<String, Tensor>;

/// A tensor's name, element type and shape, without data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorInfo {
    /// The tensor's name.
    pub name: String,
    /// The element type.
    pub dtype: DType,
    /// The shape; `None` for a dimension whose size is not fixed.
    pub shape: Vec<Option<usize>>,
}

impl TensorInfo {
    /// A tensor description with a fully static shape.
    #[must_use]
    pub fn fixed(name: impl Into<String>, dtype: DType, shape: &[usize]) -> Self {
        TensorInfo { name: name.into(), dtype, shape: shape.iter().copied().map(Some).collect() }
    }

    /// The shape, if every dimension is static.
    #[must_use]
    pub fn static_shape(&self) -> Option<Vec<usize>> {
        self.shape.iter().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    #[test]
    fn reports_dtype_shape_and_size() {
        let t = Tensor::from(ArrayD::<f16>::zeros(IxDyn(&[2, 3])));
        assert_eq!(t.dtype(), DType::F16);
        assert_eq!(t.shape(), &[2, 3]);
        assert_eq!(t.len(), 6);
        assert_eq!(t.size_in_bytes(), 12);
        let scalar = Tensor::from(ArrayD::<bool>::from_elem(IxDyn(&[]), true));
        assert_eq!(scalar.shape(), &[] as &[usize]);
        assert_eq!(scalar.len(), 1);
        assert_eq!(scalar.to_f64_vec(), vec![1.0]);
    }

    #[test]
    fn sizes_are_checked() {
        assert_eq!(element_count(&[]), Some(1));
        assert_eq!(element_count(&[2, 3]), Some(6));
        assert_eq!(byte_size(DType::F64, &[2, 3]), Some(48));
        assert_eq!(element_count(&[0, 5]), Some(0));
        assert_eq!(element_count(&[usize::MAX, 2]), None);
        // ndarray refuses a shape whose non-zero dimensions overflow, even with a zero one.
        assert_eq!(element_count(&[0, usize::MAX / 2, 4]), None);
        let max = isize::MAX as usize;
        assert_eq!(element_count(&[max]), Some(max));
        assert_eq!(byte_size(DType::I8, &[max]), Some(max));
        assert_eq!(byte_size(DType::F32, &[max]), None);
        assert_eq!(byte_size(DType::F32, &[max / 4]), Some(max / 4 * 4));
        assert_eq!(byte_size(DType::F32, &[0, max / 2]), Some(0));
        assert_eq!(byte_size(DType::F32, &[0, 8]), Some(0));
    }

    #[test]
    fn little_endian_bytes_round_trip_for_every_dtype() {
        let shape = [2, 2];
        let tensors = [
            Tensor::from(
                ArrayD::from_shape_vec(IxDyn(&shape), vec![1.5f32, -2.0, 0.0, 3.25]).unwrap(),
            ),
            Tensor::from(
                ArrayD::from_shape_vec(
                    IxDyn(&shape),
                    vec![f16::ONE, f16::NEG_ONE, f16::ZERO, f16::MAX],
                )
                .unwrap(),
            ),
            Tensor::from(
                ArrayD::from_shape_vec(
                    IxDyn(&shape),
                    vec![bf16::ONE, bf16::NEG_ONE, bf16::ZERO, bf16::MAX],
                )
                .unwrap(),
            ),
            Tensor::from(
                ArrayD::from_shape_vec(IxDyn(&shape), vec![1.0f64, -1e300, 0.5, 7.0]).unwrap(),
            ),
            Tensor::from(ArrayD::from_shape_vec(IxDyn(&shape), vec![-128i8, 127, 0, 1]).unwrap()),
            Tensor::from(ArrayD::from_shape_vec(IxDyn(&shape), vec![255u8, 0, 1, 2]).unwrap()),
            Tensor::from(
                ArrayD::from_shape_vec(IxDyn(&shape), vec![i32::MIN, -1, 0, i32::MAX]).unwrap(),
            ),
            Tensor::from(
                ArrayD::from_shape_vec(IxDyn(&shape), vec![i64::MIN, -1, 0, i64::MAX]).unwrap(),
            ),
            Tensor::from(
                ArrayD::from_shape_vec(IxDyn(&shape), vec![true, false, false, true]).unwrap(),
            ),
        ];
        for t in tensors {
            let bytes = t.to_le_bytes();
            assert_eq!(bytes.len(), t.size_in_bytes(), "{}", t.dtype());
            assert_eq!(Tensor::from_le_bytes(t.dtype(), &shape, &bytes), Some(t.clone()));
            assert_eq!(
                Tensor::from_le_bytes(t.dtype(), &shape, &bytes[1..]),
                None,
                "{}",
                t.dtype()
            );
        }
        // Float32 1.0 is 00 00 80 3f.
        let one = Tensor::from(ArrayD::from_elem(IxDyn(&[1]), 1.0f32));
        assert_eq!(one.to_le_bytes(), [0, 0, 0x80, 0x3f]);
    }
}
