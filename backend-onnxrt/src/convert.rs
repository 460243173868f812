//! Converting tensors between precision-core and ONNX Runtime values.

use ort::value::{DynValue, Tensor as OrtTensor, TensorElementType, ValueType};
use precision_core::{BackendError, Tensor};

/// An ONNX Runtime value holding a copy of `tensor`.
pub fn to_value(name: &str, tensor: &Tensor) -> Result<DynValue, BackendError> {
    let err = |e: ort::Error| BackendError::Input(format!("input '{name}': {e}"));
    Ok(match tensor {
        Tensor::F32(a) => OrtTensor::from_array(a.clone()).map_err(err)?.into_dyn(),
        Tensor::F16(a) => OrtTensor::from_array(a.clone()).map_err(err)?.into_dyn(),
        Tensor::BF16(a) => OrtTensor::from_array(a.clone()).map_err(err)?.into_dyn(),
        Tensor::F64(a) => OrtTensor::from_array(a.clone()).map_err(err)?.into_dyn(),
        Tensor::I8(a) => OrtTensor::from_array(a.clone()).map_err(err)?.into_dyn(),
        Tensor::U8(a) => OrtTensor::from_array(a.clone()).map_err(err)?.into_dyn(),
        Tensor::I32(a) => OrtTensor::from_array(a.clone()).map_err(err)?.into_dyn(),
        Tensor::I64(a) => OrtTensor::from_array(a.clone()).map_err(err)?.into_dyn(),
        Tensor::Bool(a) => OrtTensor::from_array(a.clone()).map_err(err)?.into_dyn(),
    })
}

/// A copy of an output value as a precision-core tensor.
pub fn from_value(name: &str, value: &DynValue) -> Result<Tensor, BackendError> {
    let err = |e: ort::Error| BackendError::Inference(format!("output '{name}': {e}"));
    let ValueType::Tensor { ty, shape, .. } = value.dtype() else {
        return Err(BackendError::Inference(format!(
            "output '{name}' is a {}, not a tensor; only tensor outputs can be compared",
            value.dtype()
        )));
    };
    let dims: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
    if dims.contains(&0) {
        // An empty tensor has no data buffer to read: make the empty array directly.
        return empty(name, *ty, &dims);
    }
    Ok(match ty {
        TensorElementType::Float32 => {
            Tensor::F32(value.try_extract_array::<f32>().map_err(err)?.to_owned())
        }
        TensorElementType::Float16 => {
            Tensor::F16(value.try_extract_array::<half::f16>().map_err(err)?.to_owned())
        }
        TensorElementType::Bfloat16 => {
            Tensor::BF16(value.try_extract_array::<half::bf16>().map_err(err)?.to_owned())
        }
        TensorElementType::Float64 => {
            Tensor::F64(value.try_extract_array::<f64>().map_err(err)?.to_owned())
        }
        TensorElementType::Int8 => {
            Tensor::I8(value.try_extract_array::<i8>().map_err(err)?.to_owned())
        }
        TensorElementType::Uint8 => {
            Tensor::U8(value.try_extract_array::<u8>().map_err(err)?.to_owned())
        }
        TensorElementType::Int32 => {
            Tensor::I32(value.try_extract_array::<i32>().map_err(err)?.to_owned())
        }
        TensorElementType::Int64 => {
            Tensor::I64(value.try_extract_array::<i64>().map_err(err)?.to_owned())
        }
        TensorElementType::Bool => {
            Tensor::Bool(value.try_extract_array::<bool>().map_err(err)?.to_owned())
        }
        other => {
            return Err(BackendError::Inference(format!(
                "output '{name}' has element type {other:?}, which precision cannot compare"
            )));
        }
    })
}

fn empty(name: &str, ty: TensorElementType, dims: &[usize]) -> Result<Tensor, BackendError> {
    let shape = ndarray::IxDyn(dims);
    Ok(match ty {
        TensorElementType::Float32 => Tensor::F32(ndarray::ArrayD::default(shape)),
        TensorElementType::Float16 => Tensor::F16(ndarray::ArrayD::default(shape)),
        TensorElementType::Bfloat16 => Tensor::BF16(ndarray::ArrayD::default(shape)),
        TensorElementType::Float64 => Tensor::F64(ndarray::ArrayD::default(shape)),
        TensorElementType::Int8 => Tensor::I8(ndarray::ArrayD::default(shape)),
        TensorElementType::Uint8 => Tensor::U8(ndarray::ArrayD::default(shape)),
        TensorElementType::Int32 => Tensor::I32(ndarray::ArrayD::default(shape)),
        TensorElementType::Int64 => Tensor::I64(ndarray::ArrayD::default(shape)),
        TensorElementType::Bool => Tensor::Bool(ndarray::ArrayD::default(shape)),
        other => {
            return Err(BackendError::Inference(format!(
                "output '{name}' has element type {other:?}, which precision cannot compare"
            )));
        }
    })
}
