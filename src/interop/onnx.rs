//! ONNX export (feature `onnx`): any network, ours or a user's, as an ONNX model that ONNX
//! Runtime, onnxruntime-web and TensorRT run.
//!
//! burn-onnx's exporter does the work: it runs the forward pass once per batch size on burn's
//! capture device, records the operations and lowers them to ONNX (opset 18) with the weights
//! embedded. Batch norm is recorded in its inference form (the running statistics), dropout
//! is the identity off autodiff, so neither leaves a trace of training. What is ours: the
//! model's contract (input `images` `[N, C, H, W]` of normalized floats, a symbolic batch axis
//! `N`, output `log_probs` `[N, classes]`), the normalization and class names in the model's
//! `metadata_props` so that a consumer knows how to feed it, and an error that names the
//! operation and the layer where the exporter's own names an index into its trace.
//!
//! ```no_run
//! use mnist_lab::interop::{self, OnnxMetadata};
//! use mnist_lab::{BackendKind, ModelKind};
//!
//! let device = BackendKind::Flex.device()?;
//! let model = interop::load(ModelKind::ComplexCnn, "model.safetensors".as_ref(), &device)?;
//! let onnx = interop::export_model(&model, &OnnxMetadata::mnist(model.kind().name()))?;
//! println!("{} -> {}", onnx.input, onnx.output); // images [N, 1, 28, 28] -> log_probs [N, 10]
//! onnx.save("complex_cnn.onnx".as_ref())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use burn::backend::capture::CaptureBackend;
use burn::backend::capture::TensorId;
use burn::backend::ir::OperationIr;
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use burn_onnx::export::{AxisSpec, ExportError, InputSpec, OnnxExporter};
use onnx_ir::{Message, ModelProto};

use crate::data::{NUM_CLASSES, Normalization};
use crate::model::Model;

/// The name of the exported model's input: normalized images `[N, C, H, W]`.
pub const ONNX_INPUT: &str = "images";
/// The name of the exported model's output: log-probabilities `[N, classes]`.
pub const ONNX_OUTPUT: &str = "log_probs";
/// The batch axis's symbol in the exported model.
pub const ONNX_BATCH: &str = "N";

/// What a consumer needs to feed an exported network, written into the model's
/// `metadata_props` (keys `mnist_lab.network`, `mnist_lab.mean`, `mnist_lab.std`,
/// `mnist_lab.class_names`; the last three JSON arrays).
#[derive(Clone, Debug, PartialEq)]
pub struct OnnxMetadata {
    /// The network's name, as `complex_cnn`.
    pub network: String,
    /// The per-channel mean and std the images were normalized with in training: the input is
    /// `(pixel / 255 - mean) / std`.
    pub normalization: Normalization,
    /// The name of each output class, in output order.
    pub class_names: Vec<String>,
}

impl OnnxMetadata {
    /// MNIST's: normalization 0.1307 / 0.3081 and the digits `0` to `9` as class names.
    pub fn mnist(network: &str) -> Self {
        Self {
            network: network.to_string(),
            normalization: Normalization::mnist(),
            class_names: (0..NUM_CLASSES).map(|c| c.to_string()).collect(),
        }
    }

    /// The `metadata_props` entries, in order.
    pub fn entries(&self) -> Vec<(String, String)> {
        // f32 as f32 (`0.1307`, not the f64 widening `0.1307000070810318`).
        let numbers = |v: &[f32]| serde_json::to_string(v).unwrap_or_default();
        vec![
            ("mnist_lab.network".into(), self.network.clone()),
            ("mnist_lab.mean".into(), numbers(&self.normalization.mean)),
            ("mnist_lab.std".into(), numbers(&self.normalization.std)),
            (
                "mnist_lab.class_names".into(),
                serde_json::Value::from(self.class_names.clone()).to_string(),
            ),
        ]
    }
}

/// One axis of an exported tensor: the symbolic batch axis or a fixed size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OnnxDim {
    /// A symbolic axis, any size at run time (the batch: [`ONNX_BATCH`]).
    Symbol(String),
    /// A fixed size.
    Fixed(usize),
}

impl fmt::Display for OnnxDim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Symbol(s) => f.write_str(s),
            Self::Fixed(n) => write!(f, "{n}"),
        }
    }
}

/// The name and shape of an exported model's input or output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnnxTensor {
    /// Its name in the graph.
    pub name: String,
    /// Its axes.
    pub shape: Vec<OnnxDim>,
}

impl fmt::Display for OnnxTensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self.shape.iter().map(ToString::to_string).collect();
        write!(f, "{} [{}]", self.name, dims.join(", "))
    }
}

/// An exported network: the ONNX model's bytes and its input and output.
#[derive(Clone, Debug)]
pub struct OnnxExport {
    /// The serialized ONNX `ModelProto`.
    pub bytes: Vec<u8>,
    /// Its input: [`ONNX_INPUT`] `[N, C, H, W]`.
    pub input: OnnxTensor,
    /// Its output: [`ONNX_OUTPUT`] `[N, classes]`.
    pub output: OnnxTensor,
}

impl OnnxExport {
    /// Writes the model to `path` (conventionally `.onnx`), replacing a file there only once
    /// the new one is complete. The directory must exist.
    pub fn save(&self, path: &Path) -> Result<(), OnnxError> {
        crate::fsutil::write_export(path, &self.bytes).map_err(|message| OnnxError::Write {
            path: path.to_path_buf(),
            message,
        })
    }
}

/// Why a network could not be exported.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// The forward pass uses an operation burn-onnx's exporter cannot lower to ONNX yet.
    #[error(
        "ONNX export: the operation `{operation}` {layer} has no ONNX form in burn-onnx 0.22 \
         (its exporter covers convolutions, pooling, linear layers, batch norm, ReLU, sigmoid, \
         tanh and elementwise arithmetic); write that step with operations it covers{hint}",
        hint = if operation == "LogSoftmax" {
            " (`mnist_lab::model::log_softmax` is burn's, written so that it exports)"
        } else {
            ""
        }
    )]
    UnsupportedOperation {
        /// The operation, as burn's IR names it (`Cos`, `Sort`, ...).
        operation: String,
        /// Where: `in layer `conv1``, `after layer `fc2``, or `before the first layer`.
        layer: String,
    },
    /// The network holds no parameters: there is nothing to put on the capture device, and
    /// no device to build the sample batch on.
    #[error("ONNX export: the network has no parameters; export a network with weights")]
    NoParameters,
    /// The image shape cannot be exported.
    #[error("ONNX export: image shape {0:?} has a zero axis; give [channels, height, width]")]
    EmptyImage([usize; 3]),
    /// Anything else burn-onnx's exporter or the ONNX encoding reported.
    #[error("ONNX export: {0}")]
    Export(String),
    /// The file could not be written (a file already there is untouched).
    #[error("cannot write `{}`: {message}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the writer said.
        message: String,
    },
}

/// Exports one of our five networks (see [`export_onnx`]) for `[N, 1, 28, 28]` images, in its
/// inference form: the complex MLP's `dropout_at_test` (the report's evaluation with dropout
/// on, a random network) is turned off.
pub fn export_model(model: &Model, metadata: &OnnxMetadata) -> Result<OnnxExport, OnnxError> {
    let model = match model {
        Model::ComplexMlp(mlp) if mlp.dropout_at_test => {
            let mut mlp = mlp.clone();
            mlp.dropout_at_test = false;
            Model::ComplexMlp(mlp)
        }
        other => other.clone(),
    };
    let side = crate::data::IMAGE_SIDE;
    export_onnx(&model, [1, side, side], metadata, Model::forward)
}

/// Exports any network whose `forward` maps normalized images `[N, C, H, W]` (`image` gives
/// `[C, H, W]`) to log-probabilities `[N, classes]`: input [`ONNX_INPUT`] with a symbolic batch
/// axis, output [`ONNX_OUTPUT`], `metadata` in the model's `metadata_props`. The module is
/// cloned onto burn's capture device; nothing of it changes.
pub fn export_onnx<M, F>(
    model: &M,
    image: [usize; 3],
    metadata: &OnnxMetadata,
    forward: F,
) -> Result<OnnxExport, OnnxError>
where
    M: Module,
    F: Fn(&M, Tensor<4>) -> Tensor<2>,
{
    if image.contains(&0) {
        return Err(OnnxError::EmptyImage(image));
    }
    // Off autodiff: batch norm's running statistics, no dropout, nothing recorded for gradients.
    let model = &model.valid();
    let device = model
        .devices()
        .into_iter()
        .next()
        .ok_or(OnnxError::NoParameters)?;
    let [c, h, w] = image;
    // Two traces with different batch sizes: the exporter marks the axis that differs symbolic.
    let batch = |n: usize| Tensor::<4>::zeros([n, c, h, w], &device);
    let specs = [InputSpec::new([
        AxisSpec::dynamic(ONNX_BATCH),
        AxisSpec::Static,
        AxisSpec::Static,
        AxisSpec::Static,
    ])];
    let exported = OnnxExporter::new().export_dynamic(model, batch(2), batch(3), &specs, &forward);
    let onnx = match exported {
        Ok(onnx) => onnx,
        Err(ExportError::UnsupportedOperation { operation, kind }) => {
            let (op, layer) = locate(model, batch(2), &forward, operation)
                .unwrap_or_else(|| (short_kind(&kind), "(layer unknown)".to_string()));
            return Err(OnnxError::UnsupportedOperation {
                operation: op,
                layer,
            });
        }
        Err(e) => return Err(OnnxError::Export(e.to_string())),
    };
    finish(onnx.as_bytes(), metadata)
}

fn encoding(e: impl fmt::Display) -> OnnxError {
    OnnxError::Export(format!("ONNX encoding: {e}"))
}

/// Renames the graph's input and output, adds the metadata and reads back the signature.
fn finish(bytes: &[u8], metadata: &OnnxMetadata) -> Result<OnnxExport, OnnxError> {
    let mut proto = ModelProto::parse_from_bytes(bytes).map_err(encoding)?;
    let graph = proto.graph.mut_or_insert_default();
    if graph.input.len() != 1 || graph.output.len() != 1 {
        return Err(OnnxError::Export(format!(
            "expected one input and one output, the trace has {} and {}",
            graph.input.len(),
            graph.output.len()
        )));
    }
    let renames = [
        (graph.input[0].name.clone(), ONNX_INPUT),
        (graph.output[0].name.clone(), ONNX_OUTPUT),
    ];
    for (old, new) in &renames {
        for node in graph.node.iter_mut() {
            for name in node.input.iter_mut().chain(node.output.iter_mut()) {
                if name == old {
                    *name = new.to_string();
                }
            }
        }
    }
    graph.input[0].name = ONNX_INPUT.into();
    graph.output[0].name = ONNX_OUTPUT.into();
    graph.name = metadata.network.clone();
    let input = signature(&graph.input[0]);
    let output = signature(&graph.output[0]);
    proto.producer_name = "mnist-lab".into();
    proto.producer_version = env!("CARGO_PKG_VERSION").into();
    proto.doc_string = format!(
        "{}: {} -> {}. Input: (pixel / 255 - mean) / std per channel (metadata mnist_lab.mean, \
         mnist_lab.std); output: log-probabilities of the classes in mnist_lab.class_names.",
        metadata.network, input, output
    );
    for (key, value) in metadata.entries() {
        proto.metadata_props.push(Default::default());
        let entry = proto.metadata_props.last_mut().expect("just pushed");
        entry.key = key;
        entry.value = value;
    }
    let bytes = proto.write_to_bytes().map_err(encoding)?;
    Ok(OnnxExport {
        bytes,
        input,
        output,
    })
}

fn signature(value: &onnx_ir::ValueInfoProto) -> OnnxTensor {
    let shape = value
        .type_
        .tensor_type()
        .shape
        .dim
        .iter()
        .map(|d| {
            if d.has_dim_param() {
                OnnxDim::Symbol(d.dim_param().to_string())
            } else {
                OnnxDim::Fixed(d.dim_value().max(0) as usize)
            }
        })
        .collect();
    OnnxTensor {
        name: value.name.clone(),
        shape,
    }
}

/// The operation at `index` of the exporter's trace, and the layer it belongs to: the trace is
/// recorded again (burn-onnx's error gives the index, not the layer) with the module's
/// parameters named, and the nearest operation at or before `index` that reads a parameter
/// names the layer. `None` where the trace cannot be repeated.
fn locate<M, F>(model: &M, sample: Tensor<4>, forward: &F, index: usize) -> Option<(String, String)>
where
    M: Module,
    F: Fn(&M, Tensor<4>) -> Tensor<2>,
{
    let device = Device::capture();
    let mut names = None;
    let captured = device
        .capture_scope(|scope| {
            let module = model.clone().to_device(&device);
            let mut visitor = ParamNames::default();
            module.visit(&mut visitor);
            let input = sample.to_device(&device);
            let input_id = tensor_id(&input);
            let output_id = tensor_id(&forward(&module, input));
            names = Some(visitor.names);
            scope.complete(input_id, output_id)
        })
        .ok()?;
    let names = names?;
    // The exporter drops the initializations that are not graph boundaries before it numbers
    // the operations: so does this.
    let boundaries: Vec<_> = captured
        .graph
        .inputs
        .iter()
        .chain(&captured.graph.outputs)
        .copied()
        .collect();
    let operations: Vec<&OperationIr> = captured
        .graph
        .operations
        .iter()
        .filter(|op| match op {
            OperationIr::Init(init) => boundaries.contains(&init.out.id),
            _ => true,
        })
        .collect();
    let op = operations.get(index)?;
    let layer_of = |op: &OperationIr| {
        op.inputs()
            .find_map(|t| names.iter().find(|(id, _)| *id == t.id))
            .map(|(_, name)| name.clone())
    };
    let layer = match layer_of(op) {
        Some(layer) => format!("in layer `{layer}`"),
        None => operations[..index]
            .iter()
            .rev()
            .find_map(|op| layer_of(op))
            .map(|layer| format!("after layer `{layer}`"))
            .unwrap_or_else(|| "before the first layer".to_string()),
    };
    Some((short_kind(&format!("{op:?}")), layer))
}

/// The id of a tensor on the capture device.
fn tensor_id<const D: usize>(x: &Tensor<D>) -> Option<TensorId> {
    x.clone()
        .try_into_primitive::<CaptureBackend>()
        .ok()
        .map(|p| p.id())
}

/// Parameter tensor ids on the capture device, each with its layer: the module path without
/// the parameter's own name (`conv1` for `conv1.weight`).
#[derive(Default)]
struct ParamNames {
    path: Vec<String>,
    names: Vec<(TensorId, String)>,
}

impl ModuleVisitor for ParamNames {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.into());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Ok(tensor) = param.val().try_into_primitive::<CaptureBackend>() {
            // The derive enters every field, the parameter's own (`weight`) last.
            let layer = match self.path.split_last() {
                Some((_, layer)) if !layer.is_empty() => layer.join("."),
                _ => self.path.join("."),
            };
            self.names.push((tensor.id(), layer));
        }
    }
}

/// `Float(Cos(UnaryOpIr { .. }))` -> `Cos`: the innermost operation name of burn's IR debug text.
fn short_kind(debug: &str) -> String {
    let head = debug.split('{').next().unwrap_or(debug);
    head.split('(')
        .map(|t| t.rsplit(',').next().unwrap_or(t).trim())
        .rfind(|t| !t.is_empty() && !t.ends_with("Ir"))
        .unwrap_or(head)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_kind_takes_the_innermost_operation() {
        assert_eq!(short_kind("Float(Cos(UnaryOpIr { input: 1 }))"), "Cos");
        assert_eq!(
            short_kind("NumericFloat(Add(BinaryOpIr { lhs: 1, rhs: 2 }))"),
            "Add"
        );
        assert_eq!(short_kind("Float(F32, Cos(UnaryOpIr { input: 1 }))"), "Cos");
        assert_eq!(short_kind("Relu"), "Relu");
    }
}
