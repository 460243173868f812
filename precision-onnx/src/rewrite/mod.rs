//! Rewriting a model to an explicit mixed precision.
//!
//! Each layer gets one precision:
//! - float32: left as it is.
//! - float16 / bfloat16: its float32 inputs are cast down (weights are converted instead), its
//!   float outputs are renamed and cast back to float32 under their original names. A layer
//!   reading the output of another layer of the same precision reads the low-precision tensor
//!   directly, so back-to-back casts never appear; one down-cast per tensor is shared by all
//!   its readers.
//! - int8 (`Conv`, `ConvTranspose`, `Gemm`, `MatMul` and their companions, see
//!   [`crate::layers::INT8_COMPANION_OPS`]): a `QuantizeLinear`/`DequantizeLinear` pair on each
//!   activation input, symmetric (zero point 0) with the per-tensor scale from calibration, and
//!   the weights stored as int8 per output channel with a `DequantizeLinear` (symmetric,
//!   narrow range [-127, 127], round half to even), where TensorRT's explicit quantization
//!   looks for them: on the inputs of the quantized op.
//!
//! Graph inputs, outputs, tensor names, `metadata_props` and the opset stay as they are; the
//! opset is raised to 13 only when per-channel Q/DQ or bfloat16 casts need it, or when the
//! caller asks for it because float16 kernels of the target runtime need it (see
//! [`crate::upgrade`] and `RewriteOptions::upgrade_for_float16_kernels`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use onnx_protobuf::{GraphProto, ModelProto, NodeProto, TensorProto};
use precision_core::{Network, Precision, PrecisionPlan};

use crate::error::{OnnxError, Result};
use crate::expose::Fetch;
use crate::layers::{GraphPath, GraphStep, LayerTable, OpClass};
use crate::model::OnnxModel;
use crate::names::NameSource;
use crate::proto::{self, elem};
use crate::types::{TypeMap, infer_types};

mod int8;
use int8::{ROUNDED_TO_BF16, is_int8_activation_input, lowers_input, weight_input};
pub use int8::{int8_activation_fetches, int8_activation_tensors};

/// How bfloat16 layers are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Bf16Mode {
    /// Real bfloat16 tensors and casts (for TensorRT).
    #[default]
    Native,
    /// Values rounded to bfloat16 and kept in float32 (Cast to bfloat16 and back around a
    /// float32 op), for runtimes without bfloat16 kernels such as ONNX Runtime on CPU.
    Emulated,
}

/// Options of the rewrite.
#[derive(Debug, Clone, Copy, Default)]
pub struct RewriteOptions {
    /// How bfloat16 layers are written.
    pub bf16: Bf16Mode,
    /// Raise an opset 11/12 model to 13 whenever a layer is lowered to a 16-bit float. ONNX
    /// Runtime's CUDA provider registers the float16 kernels of some ops (`Clip` among them)
    /// only from opset 12 or 13, so at opset 11 such a node silently runs on the CPU. The
    /// upgrade is exact (see `upgrade.rs`).
    pub upgrade_for_float16_kernels: bool,
}

/// Per-tensor activation scales for INT8 (scale = amax / 127), by tensor name.
pub type ActivationScales = HashMap<String, f32>;

/// The precision each layer runs in under `plan`, after the INT8 rule: a layer that INT8
/// does not apply to runs in the next lower precision enabled (float16, then bfloat16), else
/// float32; a layer that cannot be marked for a reason of its own (constants, shapes, casts)
/// is left in float32. A plan that marks a layer `network` lacks is refused.
pub fn layer_precisions(
    table: &LayerTable,
    network: &Network,
    plan: &PrecisionPlan,
) -> Result<Vec<Precision>> {
    precision_core::check_plan_fits(network, plan)
        .map_err(|e| OnnxError::Invalid(e.to_string()))?;
    let float_fallback = [Precision::Float16, Precision::BFloat16]
        .into_iter()
        .find(|p| plan.lower.contains(p))
        .unwrap_or(Precision::Float32);
    table
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if l.unmarkable_reason.is_some() {
                return Ok(Precision::Float32);
            }
            let p = plan.precision_of(network, i);
            match p {
                Precision::Int8 if !l.class.takes_int8() => Ok(float_fallback),
                Precision::Fp8 => Err(OnnxError::Unsupported(
                    "FP8 is not supported by the ONNX rewrite; use --int8, --fp16 or --bf16".into(),
                )),
                other => Ok(other),
            }
        })
        .collect()
}

/// A weight quantized to int8.
#[derive(Debug)]
struct QuantizedWeight {
    /// The int8 values, in the weight's order.
    values: Vec<i8>,
    /// Their scales: one per channel, or one for the tensor.
    scales: Vec<f32>,
}

/// Weights converted by earlier rewrites of the same model, so that a search converts and
/// quantizes each weight once instead of once per check. Keyed by graph, tensor and target.
///
/// The converted values are shared: a clone (for another `--jobs` worker) shares every
/// weight converted so far instead of copying it, and adds its own later conversions.
#[derive(Debug, Default, Clone)]
pub struct WeightCache {
    /// int8 values and per-channel scales, by (graph, weight, axis).
    int8: HashMap<(String, String, Option<usize>), Arc<QuantizedWeight>>,
    /// Raw bytes of converted float weights, by (graph, weight, element type, or
    /// [`ROUNDED_TO_BF16`]).
    floats: HashMap<(String, String, i32), Arc<Vec<u8>>>,
}

impl WeightCache {
    /// How many converted weights are cached.
    #[must_use]
    pub fn len(&self) -> usize {
        self.int8.len() + self.floats.len()
    }

    /// Whether nothing is cached yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many of the cached weights are the same allocation in `other` (a clone shares
    /// what was converted before it was made).
    #[must_use]
    pub fn shared_with(&self, other: &WeightCache) -> usize {
        let int8 = self
            .int8
            .iter()
            .filter(|(k, v)| other.int8.get(*k).is_some_and(|o| Arc::ptr_eq(v, o)))
            .count();
        let floats = self
            .floats
            .iter()
            .filter(|(k, v)| other.floats.get(*k).is_some_and(|o| Arc::ptr_eq(v, o)))
            .count();
        int8 + floats
    }
}

/// What the rewrite added, for the opset decision and for tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RewriteSummary {
    /// Cast nodes inserted.
    pub casts: usize,
    /// QuantizeLinear/DequantizeLinear pairs on activations.
    pub activation_qdq: usize,
    /// Weights quantized per output channel.
    pub weights_per_channel: usize,
    /// Weights quantized per tensor.
    pub weights_per_tensor: usize,
    /// Whether bfloat16 tensors were written.
    pub bf16: bool,
}

/// Rewrites `model` so that layer `i` runs in `precisions[i]`.
pub fn rewrite(
    model: &OnnxModel,
    table: &LayerTable,
    precisions: &[Precision],
    scales: &ActivationScales,
    options: RewriteOptions,
) -> Result<(OnnxModel, RewriteSummary)> {
    rewrite_cached(model, table, precisions, scales, options, &mut WeightCache::default())
}

/// [`rewrite`], reusing (and filling) `cache` for converted weights: pass the same cache to
/// every rewrite of one model.
pub fn rewrite_cached(
    model: &OnnxModel,
    table: &LayerTable,
    precisions: &[Precision],
    scales: &ActivationScales,
    options: RewriteOptions,
    cache: &mut WeightCache,
) -> Result<(OnnxModel, RewriteSummary)> {
    assert_eq!(precisions.len(), table.layers.len(), "one precision per layer");
    // The top-level weights are copied only once the rewrite is done, and only those still
    // read: weights it converts or quantizes are never copied in float32.
    let mut out = without_initializers(model);
    let mut names = NameSource::new(model.graph());
    let mut summary = RewriteSummary::default();
    let mut ctx =
        Ctx { table, precisions, scales, options, names: &mut names, summary: &mut summary, cache };
    ctx.graph(model.graph(), out.graph_mut(), &Vec::new(), &TypeMap::new(), &HashMap::new())?;
    restore_initializers(model.graph(), out.graph_mut());
    prune(out.graph_mut(), &HashSet::new());
    let needs_13 = summary.weights_per_channel > 0
        || summary.bf16
        || (options.upgrade_for_float16_kernels && summary.casts > 0);
    if needs_13 && out.opset() < 13 {
        crate::upgrade::to_opset_13(&mut out)?;
    }
    Ok((out, summary))
}

/// A copy of `model` whose top-level graph has no initializers (subgraphs are copied whole).
fn without_initializers(model: &OnnxModel) -> OnnxModel {
    // Every field is named, so that a field added to the protobuf types cannot be dropped
    // unnoticed.
    let ModelProto {
        ir_version,
        opset_import,
        producer_name,
        producer_version,
        domain,
        model_version,
        doc_string,
        graph,
        metadata_props,
        training_info,
        functions,
        special_fields,
    } = &model.proto;
    let graph = graph.as_ref().map(|g| {
        let GraphProto {
            node,
            name,
            initializer: _,
            sparse_initializer,
            doc_string,
            input,
            output,
            value_info,
            quantization_annotation,
            metadata_props,
            special_fields,
        } = g;
        GraphProto {
            node: node.clone(),
            name: name.clone(),
            initializer: Vec::new(),
            sparse_initializer: sparse_initializer.clone(),
            doc_string: doc_string.clone(),
            input: input.clone(),
            output: output.clone(),
            value_info: value_info.clone(),
            quantization_annotation: quantization_annotation.clone(),
            metadata_props: metadata_props.clone(),
            special_fields: special_fields.clone(),
        }
    });
    OnnxModel {
        proto: ModelProto {
            ir_version: *ir_version,
            opset_import: opset_import.clone(),
            producer_name: producer_name.clone(),
            producer_version: producer_version.clone(),
            domain: domain.clone(),
            model_version: *model_version,
            doc_string: doc_string.clone(),
            graph: graph.into(),
            metadata_props: metadata_props.clone(),
            training_info: training_info.clone(),
            functions: functions.clone(),
            special_fields: special_fields.clone(),
        },
    }
}

/// Puts back into `target` (the rewritten top-level graph, holding only the initializers the
/// rewrite added) the initializers of `source` that it still reads or declares as inputs,
/// before the added ones, where a whole copy would have had them.
fn restore_initializers(source: &GraphProto, target: &mut GraphProto) {
    let mut read = HashSet::new();
    collect_reads(target, &mut read);
    let inputs: HashSet<&str> = target.input.iter().map(|i| i.name.as_str()).collect();
    let mut initializers: Vec<TensorProto> = source
        .initializer
        .iter()
        .filter(|t| read.contains(&t.name) || inputs.contains(t.name.as_str()))
        .cloned()
        .collect();
    initializers.append(&mut target.initializer);
    target.initializer = initializers;
}

struct Ctx<'a> {
    table: &'a LayerTable,
    precisions: &'a [Precision],
    scales: &'a ActivationScales,
    options: RewriteOptions,
    names: &'a mut NameSource,
    summary: &'a mut RewriteSummary,
    cache: &'a mut WeightCache,
}

/// The state of one graph being rewritten.
struct GraphState<'g> {
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    /// Constant float tensors visible here (initializers and `Constant` values), by name.
    consts: HashMap<String, &'g TensorProto>,
    /// Names of tensors available in a low precision: (tensor, elem) -> name.
    low: HashMap<(String, i32), String>,
    /// Tensors already holding bfloat16-rounded float32 values (emulated bfloat16).
    rounded: HashMap<String, String>,
    /// Q/DQ'd activations: tensor -> dequantized name.
    dq: HashMap<String, String>,
    /// Converted weights: (tensor, kind) -> name.
    weights: HashMap<(String, String), String>,
    /// The graph's key, for the weight cache.
    key: String,
}

impl Ctx<'_> {
    /// Rewrites `target`, a copy of `source`, in place: its nodes are taken and put back
    /// rewritten, so nothing is copied twice. `source` is read for types and constants.
    fn graph<'g>(
        &mut self,
        source: &'g GraphProto,
        target: &mut GraphProto,
        path: &GraphPath,
        outer_types: &TypeMap,
        outer_consts: &HashMap<String, &'g TensorProto>,
    ) -> Result<()> {
        let types = infer_types(source, outer_types);
        let mut consts = outer_consts.clone();
        for t in &source.initializer {
            consts.insert(t.name.clone(), t);
        }
        for node in &source.node {
            if let (Some(t), Some(o)) = (proto::constant_value(node), node.output.first()) {
                consts.insert(o.clone(), t);
            }
        }
        let mut st = GraphState {
            nodes: Vec::with_capacity(source.node.len()),
            inits: Vec::new(),
            consts,
            low: HashMap::new(),
            rounded: HashMap::new(),
            dq: HashMap::new(),
            weights: HashMap::new(),
            key: crate::layers::graph_key(path),
        };
        let nodes = std::mem::take(&mut target.node);
        for (i, (mut node, src_node)) in nodes.into_iter().zip(&source.node).enumerate() {
            // Subgraphs first: their layers have precisions of their own.
            for (a, src) in node.attribute.iter_mut().zip(&src_node.attribute) {
                if let (Some(g), Some(src_g)) = (a.g.as_mut(), src.g.as_ref()) {
                    let mut p = path.clone();
                    p.push(GraphStep { node: i, attr: a.name.clone(), index: 0 });
                    self.graph(src_g, g, &p, &types, &st.consts)?;
                }
                for (k, (g, src_g)) in a.graphs.iter_mut().zip(&src.graphs).enumerate() {
                    let mut p = path.clone();
                    p.push(GraphStep { node: i, attr: a.name.clone(), index: k });
                    self.graph(src_g, g, &p, &types, &st.consts)?;
                }
            }
            let li = self.table.layer_at(path, i);
            let precision = li.map_or(Precision::Float32, |li| self.precisions[li]);
            let layer_name =
                li.map_or_else(|| node.op_type.clone(), |li| self.table.layers[li].name.clone());
            match precision {
                Precision::Float32 => st.nodes.push(node),
                Precision::Float16 => {
                    self.lower_float(&mut st, node, &layer_name, &types, elem::FLOAT16)?;
                }
                Precision::BFloat16 => match self.options.bf16 {
                    Bf16Mode::Native => {
                        self.lower_float(&mut st, node, &layer_name, &types, elem::BFLOAT16)?;
                    }
                    Bf16Mode::Emulated => self.emulate_bf16(&mut st, node, &layer_name, &types)?,
                },
                Precision::Int8 => {
                    let class = li.map_or(OpClass::Float, |li| self.table.layers[li].class);
                    self.quantize(&mut st, node, &layer_name, class, &types)?;
                }
                Precision::Fp8 => {
                    return Err(OnnxError::Unsupported(
                        "FP8 is not supported by the ONNX rewrite".into(),
                    ));
                }
            }
        }
        target.node = st.nodes;
        target.initializer.extend(st.inits);
        Ok(())
    }

    fn cast(&mut self, st: &mut GraphState<'_>, layer: &str, input: &str, output: String, to: i32) {
        let name = self.names.fresh(&format!("{layer}/Cast_to_{}", short(to)));
        st.nodes.push(proto::make_node(
            "Cast",
            name,
            vec![input.to_owned()],
            vec![output],
            vec![proto::make_attr_int("to", i64::from(to))],
        ));
        self.summary.casts += 1;
    }

    fn lower_float(
        &mut self,
        st: &mut GraphState<'_>,
        mut node: NodeProto,
        layer: &str,
        types: &TypeMap,
        to: i32,
    ) -> Result<()> {
        if to == elem::BFLOAT16 {
            self.summary.bf16 = true;
        }
        for j in 0..node.input.len() {
            let input = node.input[j].clone();
            if !lowers_input(&node, j, types) {
                continue;
            }
            let key = (input.clone(), to);
            if let Some(name) = st.low.get(&key) {
                node.input[j].clone_from(name);
                continue;
            }
            let name = if let Some(t) = st.consts.get(&input).copied() {
                self.converted_constant(st, &input, t, to)?
            } else {
                let name = self.names.fresh(&format!("{input}__{}", short(to)));
                self.cast(st, layer, &input, name.clone(), to);
                name
            };
            st.low.insert(key, name.clone());
            node.input[j] = name;
        }
        let mut backs = Vec::new();
        for o in &mut node.output {
            if o.is_empty() || types.get(o.as_str()) != Some(&elem::FLOAT) {
                continue;
            }
            let low = self.names.fresh(&format!("{o}__{}", short(to)));
            st.low.insert((o.clone(), to), low.clone());
            backs.push((low.clone(), o.clone()));
            *o = low;
        }
        st.nodes.push(node);
        for (low, orig) in backs {
            self.cast(st, layer, &low, orig, elem::FLOAT);
        }
        Ok(())
    }

    /// A converted copy of constant `input` (value `t`) as a new initializer of this graph:
    /// float16 or bfloat16 for `target` = their element type, float32 values rounded to
    /// bfloat16 for [`ROUNDED_TO_BF16`]. The conversion is computed once per search.
    fn converted_constant(
        &mut self,
        st: &mut GraphState<'_>,
        input: &str,
        t: &TensorProto,
        target: i32,
    ) -> Result<String> {
        let cache_key = (st.key.clone(), input.to_owned(), target);
        if !self.cache.floats.contains_key(&cache_key) {
            let values = proto::float_values(t)?;
            let raw = match target {
                elem::FLOAT16 => proto::f16_tensor("", &[], &values).raw_data,
                elem::BFLOAT16 => proto::bf16_tensor("", &[], &values).raw_data,
                _ => {
                    let rounded: Vec<f32> =
                        values.into_iter().map(|v| half::bf16::from_f32(v).to_f32()).collect();
                    proto::f32_tensor("", &[], &rounded).raw_data
                }
            };
            self.cache.floats.insert(cache_key.clone(), Arc::new(raw));
        }
        let (suffix, elem_type) = match target {
            ROUNDED_TO_BF16 => ("bf16r", elem::FLOAT),
            other => (short(other), other),
        };
        let name = self.names.fresh(&format!("{input}__{suffix}"));
        let raw = self.cache.floats[&cache_key].as_ref().clone();
        st.inits.push(proto::tensor_with_raw(&name, &t.dims, elem_type, raw));
        Ok(name)
    }

    fn emulate_bf16(
        &mut self,
        st: &mut GraphState<'_>,
        mut node: NodeProto,
        layer: &str,
        types: &TypeMap,
    ) -> Result<()> {
        self.summary.bf16 = true;
        for j in 0..node.input.len() {
            let input = node.input[j].clone();
            if !lowers_input(&node, j, types) {
                continue;
            }
            if let Some(name) = st.rounded.get(&input) {
                node.input[j].clone_from(name);
                continue;
            }
            let name = if let Some(t) = st.consts.get(&input).copied() {
                self.converted_constant(st, &input, t, ROUNDED_TO_BF16)?
            } else {
                let low = self.names.fresh(&format!("{input}__bf16"));
                self.cast(st, layer, &input, low.clone(), elem::BFLOAT16);
                let name = self.names.fresh(&format!("{input}__bf16r"));
                self.cast(st, layer, &low, name.clone(), elem::FLOAT);
                name
            };
            st.rounded.insert(input, name.clone());
            node.input[j] = name;
        }
        let mut backs = Vec::new();
        for o in &mut node.output {
            if o.is_empty() || types.get(o.as_str()) != Some(&elem::FLOAT) {
                continue;
            }
            let raw = self.names.fresh(&format!("{o}__f32"));
            backs.push((raw.clone(), o.clone()));
            *o = raw;
        }
        st.nodes.push(node);
        for (raw, orig) in backs {
            let low = self.names.fresh(&format!("{orig}__bf16"));
            self.cast(st, layer, &raw, low.clone(), elem::BFLOAT16);
            self.cast(st, layer, &low, orig.clone(), elem::FLOAT);
            st.rounded.insert(orig.clone(), orig);
        }
        Ok(())
    }

    fn quantize(
        &mut self,
        st: &mut GraphState<'_>,
        mut node: NodeProto,
        layer: &str,
        class: OpClass,
        types: &TypeMap,
    ) -> Result<()> {
        let const_names: HashSet<String> = st.consts.keys().cloned().collect();
        for j in 0..node.input.len() {
            let input = node.input[j].clone();
            if input.is_empty() {
                continue;
            }
            if class == OpClass::Int8Weighted
                && weight_input(&node.op_type) == Some(j)
                && let Some(t) = st.consts.get(&input).copied()
                && t.data_type == elem::FLOAT
            {
                node.input[j] = self.quantize_weight(st, &node, layer, &input, t)?;
                continue;
            }
            if !is_int8_activation_input(&node, class, j, &input, types, &const_names) {
                continue;
            }
            if let Some(name) = st.dq.get(&input) {
                node.input[j].clone_from(name);
                continue;
            }
            let scale = *self.scales.get(&input).ok_or_else(|| {
                OnnxError::Invalid(format!(
                    "no INT8 scale for tensor '{input}' (an input of layer '{layer}'): the \
                     calibration cache lacks it; delete the cache to calibrate again"
                ))
            })?;
            if !(scale.is_finite() && scale > 0.0) {
                return Err(OnnxError::Invalid(format!(
                    "the INT8 scale of tensor '{input}' is {scale}; scales must be positive and finite"
                )));
            }
            let scale_name = self.names.fresh(&format!("{input}__scale"));
            let zero_name = self.names.fresh(&format!("{input}__zero_point"));
            st.inits.push(proto::f32_tensor(&scale_name, &[], &[scale]));
            st.inits.push(proto::i8_tensor(&zero_name, &[], &[0]));
            let q = self.names.fresh(&format!("{input}__quantized"));
            let dq = self.names.fresh(&format!("{input}__dequantized"));
            let qn = self.names.fresh(&format!("{layer}/QuantizeLinear"));
            let dqn = self.names.fresh(&format!("{layer}/DequantizeLinear"));
            st.nodes.push(proto::make_node(
                "QuantizeLinear",
                qn,
                vec![input.clone(), scale_name.clone(), zero_name.clone()],
                vec![q.clone()],
                vec![],
            ));
            st.nodes.push(proto::make_node(
                "DequantizeLinear",
                dqn,
                vec![q, scale_name, zero_name],
                vec![dq.clone()],
                vec![],
            ));
            self.summary.activation_qdq += 1;
            st.dq.insert(input, dq.clone());
            node.input[j] = dq;
        }
        st.nodes.push(node);
        Ok(())
    }

    fn quantize_weight(
        &mut self,
        st: &mut GraphState<'_>,
        node: &NodeProto,
        layer: &str,
        input: &str,
        t: &TensorProto,
    ) -> Result<String> {
        let rank = t.dims.len();
        let axis: Option<usize> = match node.op_type.as_str() {
            "Conv" if rank >= 2 => Some(0),
            "ConvTranspose" if rank >= 2 && proto::attr_int(node, "group", 1) == 1 => Some(1),
            "Gemm" if rank == 2 => Some(usize::from(proto::attr_int(node, "transB", 0) != 1)),
            "MatMul" if rank >= 2 => Some(rank - 1),
            _ => None,
        };
        let key = (input.to_owned(), format!("int8:{axis:?}"));
        if let Some(name) = st.weights.get(&key) {
            return Ok(name.clone());
        }
        let cache_key = (st.key.clone(), input.to_owned(), axis);
        if !self.cache.int8.contains_key(&cache_key) {
            let computed = quantize_per_channel(t, axis, input, layer)?;
            self.cache.int8.insert(cache_key.clone(), Arc::new(computed));
        }
        let QuantizedWeight { values: q, scales } = self.cache.int8[&cache_key].as_ref();
        let channels = scales.len();
        let qname = self.names.fresh(&format!("{input}__int8"));
        let sname = self.names.fresh(&format!("{input}__scale"));
        let zname = self.names.fresh(&format!("{input}__zero_point"));
        st.inits.push(proto::i8_tensor(&qname, &t.dims, q));
        let scale_dims: Vec<i64> = if axis.is_some() { vec![channels as i64] } else { vec![] };
        st.inits.push(proto::f32_tensor(&sname, &scale_dims, scales));
        st.inits.push(proto::i8_tensor(&zname, &scale_dims, &vec![0; channels]));
        let out = self.names.fresh(&format!("{input}__dequantized"));
        let attrs = axis.map(|a| vec![proto::make_attr_int("axis", a as i64)]).unwrap_or_default();
        let dqn = self.names.fresh(&format!("{layer}/weights/DequantizeLinear"));
        st.nodes.push(proto::make_node(
            "DequantizeLinear",
            dqn,
            vec![qname, sname, zname],
            vec![out.clone()],
            attrs,
        ));
        if axis.is_some() {
            self.summary.weights_per_channel += 1;
        } else {
            self.summary.weights_per_tensor += 1;
        }
        st.weights.insert(key, out.clone());
        Ok(out)
    }
}

/// Symmetric int8 values of weight `t` and their scales, one per channel along `axis` (one for
/// the whole tensor without an axis): scale = max |w| / 127 (1 for an all-zero channel),
/// q = round half to even of w / scale, in [-127, 127].
fn quantize_per_channel(
    t: &TensorProto,
    axis: Option<usize>,
    input: &str,
    layer: &str,
) -> Result<QuantizedWeight> {
    let values = proto::float_values(t)?;
    if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
        return Err(OnnxError::Invalid(format!(
            "weight '{input}' of layer '{layer}' holds {bad}; it cannot be quantized"
        )));
    }
    let (channels, stride) = match axis {
        Some(a) => (
            t.dims[a].max(1) as usize,
            t.dims[a + 1..].iter().map(|&d| d.max(0) as usize).product::<usize>(),
        ),
        None => (1, values.len().max(1)),
    };
    let mut amax = vec![0f32; channels];
    for (k, v) in values.iter().enumerate() {
        let c = (k / stride.max(1)) % channels;
        amax[c] = amax[c].max(v.abs());
    }
    let scales: Vec<f32> = amax.iter().map(|&m| if m > 0.0 { m / 127.0 } else { 1.0 }).collect();
    let q = values
        .iter()
        .enumerate()
        .map(|(k, v)| {
            let c = (k / stride.max(1)) % channels;
            (v / scales[c]).round_ties_even().clamp(-127.0, 127.0) as i8
        })
        .collect();
    Ok(QuantizedWeight { values: q, scales })
}

fn short(elem_type: i32) -> &'static str {
    match elem_type {
        elem::FLOAT16 => "fp16",
        elem::BFLOAT16 => "bf16",
        elem::FLOAT => "fp32",
        _ => "other",
    }
}

/// Removes what the rewrite left unused: initializers nobody reads (unless they are graph
/// inputs), `Constant` nodes nobody reads, and casts whose outputs nobody reads.
fn prune(graph: &mut GraphProto, outer_used: &HashSet<String>) {
    loop {
        let mut used: HashSet<String> = outer_used.clone();
        used.extend(graph.output.iter().map(|o| o.name.clone()));
        for node in &graph.node {
            used.extend(node.input.iter().cloned());
            for (_, _, g) in proto::subgraphs(node) {
                collect_reads(g, &mut used);
            }
        }
        let before = graph.node.len();
        graph.node.retain(|n| {
            let removable =
                n.op_type == "Constant" || (n.op_type == "Cast" && n.name.contains("/Cast_to_"));
            !removable || n.output.iter().any(|o| used.contains(o))
        });
        let inputs: HashSet<&str> = graph.input.iter().map(|i| i.name.as_str()).collect();
        let before_inits = graph.initializer.len();
        graph.initializer.retain(|t| used.contains(&t.name) || inputs.contains(t.name.as_str()));
        if graph.node.len() == before && graph.initializer.len() == before_inits {
            break;
        }
    }
    let reads: HashSet<String> = {
        let mut r = outer_used.clone();
        for node in &graph.node {
            r.extend(node.input.iter().cloned());
        }
        r
    };
    for node in &mut graph.node {
        for a in &mut node.attribute {
            if let Some(g) = a.g.as_mut() {
                prune(g, &reads);
            }
            for g in &mut a.graphs {
                prune(g, &reads);
            }
        }
    }
}

/// Every tensor name read anywhere in `graph` and its subgraphs (outer-scope reads included).
fn collect_reads(graph: &GraphProto, used: &mut HashSet<String>) {
    used.extend(graph.output.iter().map(|o| o.name.clone()));
    for node in &graph.node {
        used.extend(node.input.iter().cloned());
        for (_, _, g) in proto::subgraphs(node) {
            collect_reads(g, used);
        }
    }
}
