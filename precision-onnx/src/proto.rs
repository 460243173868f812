//! Small helpers over the ONNX protobuf messages: element types, attributes, tensor data.

use half::{bf16, f16};
use onnx_protobuf::attribute_proto::AttributeType;
use onnx_protobuf::tensor_proto::DataType;
use onnx_protobuf::{
    AttributeProto, GraphProto, NodeProto, TensorProto, TypeProto, ValueInfoProto,
};
use precision_core::DType;
use protobuf::{Enum, EnumOrUnknown, MessageField};

use crate::error::{OnnxError, Result};

/// ONNX element type codes (`TensorProto.DataType`) used in this crate.
pub mod elem {
    /// float32.
    pub const FLOAT: i32 = 1;
    /// uint8.
    pub const UINT8: i32 = 2;
    /// int8.
    pub const INT8: i32 = 3;
    /// int32.
    pub const INT32: i32 = 6;
    /// int64.
    pub const INT64: i32 = 7;
    /// string.
    pub const STRING: i32 = 8;
    /// bool.
    pub const BOOL: i32 = 9;
    /// float16.
    pub const FLOAT16: i32 = 10;
    /// float64.
    pub const DOUBLE: i32 = 11;
    /// bfloat16.
    pub const BFLOAT16: i32 = 16;
}

/// The name of an ONNX element type code, for messages.
#[must_use]
pub fn elem_name(code: i32) -> String {
    DataType::from_i32(code)
        .map_or_else(|| format!("type {code}"), |t| format!("{t:?}").to_lowercase())
}

/// Whether an element type code is a floating-point type.
#[must_use]
pub fn is_float(code: i32) -> bool {
    matches!(code, elem::FLOAT | elem::FLOAT16 | elem::DOUBLE | elem::BFLOAT16)
}

/// The [`DType`] of an ONNX element type, when precision-core represents it.
#[must_use]
pub fn dtype_of(code: i32) -> Option<DType> {
    Some(match code {
        elem::FLOAT => DType::F32,
        elem::FLOAT16 => DType::F16,
        elem::BFLOAT16 => DType::BF16,
        elem::DOUBLE => DType::F64,
        elem::INT8 => DType::I8,
        elem::UINT8 => DType::U8,
        elem::INT32 => DType::I32,
        elem::INT64 => DType::I64,
        elem::BOOL => DType::Bool,
        _ => return None,
    })
}

/// The attribute `name` of `node`.
#[must_use]
pub fn attr<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

/// The integer attribute `name` of `node`, or `default`.
#[must_use]
pub fn attr_int(node: &NodeProto, name: &str, default: i64) -> i64 {
    attr(node, name).map_or(default, |a| a.i)
}

/// The integer-list attribute `name` of `node`.
#[must_use]
pub fn attr_ints(node: &NodeProto, name: &str) -> Option<Vec<i64>> {
    attr(node, name).map(|a| a.ints.clone())
}

/// An integer attribute.
#[must_use]
pub fn make_attr_int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.to_owned(),
        type_: EnumOrUnknown::new(AttributeType::INT),
        i: value,
        ..AttributeProto::default()
    }
}

/// A node in the default domain.
#[must_use]
pub fn make_node(
    op: &str,
    name: String,
    inputs: Vec<String>,
    outputs: Vec<String>,
    attributes: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        op_type: op.to_owned(),
        name,
        input: inputs,
        output: outputs,
        attribute: attributes,
        ..NodeProto::default()
    }
}

/// The subgraphs a node holds (`If` branches, `Loop`/`Scan` bodies), with their attribute
/// names and their index in the attribute (0 for a single-graph attribute).
pub fn subgraphs(node: &NodeProto) -> impl Iterator<Item = (&str, usize, &GraphProto)> {
    node.attribute.iter().flat_map(|a| {
        a.g.as_ref()
            .map(|g| (a.name.as_str(), 0, g))
            .into_iter()
            .chain(a.graphs.iter().enumerate().map(|(k, g)| (a.name.as_str(), k, g)))
    })
}

/// The element type declared by a value info, when it is a tensor type.
#[must_use]
pub fn value_info_elem(info: &ValueInfoProto) -> Option<i32> {
    type_elem(info.type_.as_ref()?)
}

/// The element type of a tensor type.
#[must_use]
pub fn type_elem(ty: &TypeProto) -> Option<i32> {
    match &ty.value {
        Some(onnx_protobuf::type_proto::Value::TensorType(t)) if t.elem_type != 0 => {
            Some(t.elem_type)
        }
        _ => None,
    }
}

/// A value info for a tensor of element type `elem` and unknown shape.
#[must_use]
pub fn value_info(name: &str, elem: i32) -> ValueInfoProto {
    let tensor = onnx_protobuf::type_proto::Tensor { elem_type: elem, ..Default::default() };
    ValueInfoProto {
        name: name.to_owned(),
        type_: MessageField::some(TypeProto {
            value: Some(onnx_protobuf::type_proto::Value::TensorType(tensor)),
            ..TypeProto::default()
        }),
        ..ValueInfoProto::default()
    }
}

/// The tensor held by a `Constant` node (its `value` attribute), if any.
#[must_use]
pub fn constant_value(node: &NodeProto) -> Option<&TensorProto> {
    if node.op_type != "Constant" || !node.domain.is_empty() && node.domain != "ai.onnx" {
        return None;
    }
    attr(node, "value").and_then(|a| a.t.as_ref())
}

/// The element type of a `Constant` node's output, from whichever value attribute it uses.
#[must_use]
pub fn constant_elem(node: &NodeProto) -> Option<i32> {
    let a = node.attribute.first()?;
    Some(match a.name.as_str() {
        "value" => a.t.as_ref()?.data_type,
        "value_float" | "value_floats" => elem::FLOAT,
        "value_int" | "value_ints" => elem::INT64,
        "value_string" | "value_strings" => elem::STRING,
        "sparse_value" => a.sparse_tensor.as_ref()?.values.as_ref()?.data_type,
        _ => return None,
    })
}

/// The number of elements a tensor's dims describe.
#[must_use]
pub fn element_count(dims: &[i64]) -> usize {
    dims.iter().map(|&d| d.max(0) as usize).product()
}

/// The values of a floating-point tensor, widened to f32.
pub fn float_values(t: &TensorProto) -> Result<Vec<f32>> {
    let n = element_count(&t.dims);
    let bad = |what: &str| {
        OnnxError::Invalid(format!(
            "tensor '{}' holds {what}, but its dims {:?} need {n} values",
            t.name, t.dims
        ))
    };
    let values: Vec<f32> = match t.data_type {
        elem::FLOAT if !t.raw_data.is_empty() => {
            if t.raw_data.len() != n * 4 {
                return Err(bad(&format!("{} bytes of float32", t.raw_data.len())));
            }
            t.raw_data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        }
        elem::FLOAT => t.float_data.clone(),
        elem::DOUBLE if !t.raw_data.is_empty() => {
            if t.raw_data.len() != n * 8 {
                return Err(bad(&format!("{} bytes of float64", t.raw_data.len())));
            }
            t.raw_data
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
                .collect()
        }
        elem::DOUBLE => t.double_data.iter().map(|&v| v as f32).collect(),
        elem::FLOAT16 | elem::BFLOAT16 => {
            let bits: Vec<u16> = if t.raw_data.is_empty() {
                t.int32_data.iter().map(|&v| v as u16).collect()
            } else {
                if t.raw_data.len() != n * 2 {
                    return Err(bad(&format!("{} bytes of 16-bit floats", t.raw_data.len())));
                }
                t.raw_data.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect()
            };
            if t.data_type == elem::FLOAT16 {
                bits.into_iter().map(|b| f16::from_bits(b).to_f32()).collect()
            } else {
                bits.into_iter().map(|b| bf16::from_bits(b).to_f32()).collect()
            }
        }
        other => {
            return Err(OnnxError::Invalid(format!(
                "tensor '{}' is {}, not a floating-point tensor",
                t.name,
                elem_name(other)
            )));
        }
    };
    if values.len() != n {
        return Err(bad(&format!("{} values", values.len())));
    }
    Ok(values)
}

/// A float32 tensor.
#[must_use]
pub fn f32_tensor(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    tensor_with_raw(name, dims, elem::FLOAT, values.iter().flat_map(|v| v.to_le_bytes()).collect())
}

/// A float16 tensor of `values` rounded to nearest.
#[must_use]
pub fn f16_tensor(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    let raw = values.iter().flat_map(|&v| f16::from_f32(v).to_bits().to_le_bytes()).collect();
    tensor_with_raw(name, dims, elem::FLOAT16, raw)
}

/// A bfloat16 tensor of `values` rounded to nearest.
#[must_use]
pub fn bf16_tensor(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    let raw = values.iter().flat_map(|&v| bf16::from_f32(v).to_bits().to_le_bytes()).collect();
    tensor_with_raw(name, dims, elem::BFLOAT16, raw)
}

/// An int8 tensor.
#[must_use]
pub fn i8_tensor(name: &str, dims: &[i64], values: &[i8]) -> TensorProto {
    tensor_with_raw(name, dims, elem::INT8, values.iter().map(|&v| v as u8).collect())
}

/// An int64 tensor.
#[must_use]
pub fn i64_tensor(name: &str, dims: &[i64], values: &[i64]) -> TensorProto {
    tensor_with_raw(name, dims, elem::INT64, values.iter().flat_map(|v| v.to_le_bytes()).collect())
}

/// A tensor of `data_type` holding `raw_data` (little-endian element bytes).
#[must_use]
pub fn tensor_with_raw(name: &str, dims: &[i64], data_type: i32, raw_data: Vec<u8>) -> TensorProto {
    TensorProto {
        name: name.to_owned(),
        dims: dims.to_vec(),
        data_type,
        raw_data,
        ..TensorProto::default()
    }
}
