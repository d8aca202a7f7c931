//! PyTorch interop: the report's own weights in, safetensors out; ONNX out (feature `onnx`,
//! [`export_model`], [`export_onnx`]).
//!
//! [`load`] reads a PyTorch `state_dict` (`torch.save(model.state_dict(), path)`, `.pt`/`.pth`)
//! or a safetensors file into one of the five networks, with the report's attribute names
//! (`fcl` for the simple FC net, `conv1`, `bn1`, `fc1`, ... for the others), through burn-store's
//! [`PytorchStore`] and [`SafetensorsStore`] and their PyTorch adapters (Linear weights
//! transposed, BatchNorm `weight`/`bias` <-> `gamma`/`beta`). BatchNorm's `num_batches_tracked`
//! is ignored. Nothing is loaded partially: a missing, extra or wrongly shaped key is a
//! [`InteropError::Mismatch`] that lists them all.
//!
//! [`save_safetensors`] writes any model with the same PyTorch names, so that
//! `model.load_state_dict(safetensors.torch.load_file(path))` works on the report's classes
//! (`reference/pytorch/mnist_reference.py evaluate` does exactly that).
//!
//! The same works for any burn `Module` ([`load_module`], [`save_module`]), with [`KeyNames`]
//! for the layers that PyTorch names otherwise.
//!
//! ```no_run
//! use mnist_lab::{BackendKind, ModelKind, interop};
//!
//! let device = BackendKind::Flex.device()?;
//! let model = interop::load(ModelKind::ComplexCnn, "complex_cnn.pt".as_ref(), &device)?;
//! interop::save_safetensors(&model, "complex_cnn.safetensors".as_ref())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::{
    ApplyError, ApplyResult, BurnToPyTorchAdapter, KeyRemapper, ModuleSnapshot, ModuleStore,
    PyTorchToBurnAdapter, PytorchStore, SafetensorsStore,
};
use burn::tensor::Device;

use crate::model::{Model, ModelKind};

#[cfg(feature = "onnx")]
mod onnx;
#[cfg(feature = "onnx")]
pub use onnx::{
    ONNX_BATCH, ONNX_INPUT, ONNX_OUTPUT, OnnxDim, OnnxError, OnnxExport, OnnxMetadata, OnnxTensor,
    export_model, export_onnx,
};

/// The two formats PyTorch users hand over, told apart by the file's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightsFormat {
    /// `torch.save(model.state_dict(), path)`: `.pt` or `.pth`.
    PyTorch,
    /// `safetensors.torch.save_file(state_dict, path)` or [`save_safetensors`]: `.safetensors`.
    Safetensors,
}

impl WeightsFormat {
    /// The format of `path`, from its extension.
    pub fn of(path: &Path) -> Result<Self, InteropError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("pt" | "pth") => Ok(Self::PyTorch),
            Some("safetensors") => Ok(Self::Safetensors),
            _ => Err(InteropError::UnknownFormat {
                path: path.to_path_buf(),
            }),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::PyTorch => "PyTorch",
            Self::Safetensors => "safetensors",
        }
    }
}

/// A key whose tensor has the wrong shape (both shapes in PyTorch's layout).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrongShape {
    /// The PyTorch key, e.g. `fc1.weight`.
    pub key: String,
    /// What the model needs.
    pub expected: Vec<usize>,
    /// What the file holds.
    pub found: Vec<usize>,
}

/// Why weights could not be read, matched or written.
#[derive(Debug, thiserror::Error)]
pub enum InteropError {
    /// The extension says neither PyTorch nor safetensors.
    #[error(
        "`{}`: unknown weights format; expected a .pt/.pth file (torch.save(model.state_dict(), \
         path)) or a .safetensors file",
        path.display()
    )]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// The file could not be read as a state_dict of tensors.
    #[error(
        "cannot read `{}` as {format}: {message}{hint}",
        path.display(),
        hint = if *format == "PyTorch" {
            " (save weights with torch.save(model.state_dict(), path), not the whole model)"
        } else {
            ""
        }
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// "PyTorch" or "safetensors".
        format: &'static str,
        /// What the reader said.
        message: String,
    },
    /// The file's keys or shapes are not those of the model; nothing was loaded.
    #[error("{0}")]
    Mismatch(Box<Mismatch>),
    /// The safetensors file could not be written (the previous file, if any, is untouched).
    #[error("cannot write `{}`: {message}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the writer said.
        message: String,
    },
}

/// How a file's tensors differ from what a model needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The file.
    pub path: PathBuf,
    /// The network it was tried on (`complex_cnn`, or the name given to [`load_module`]).
    pub model: String,
    /// Keys the model needs and the file lacks, with their shapes.
    pub missing: Vec<(String, Vec<usize>)>,
    /// Keys the file has and the model does not (`num_batches_tracked` is never listed).
    pub unexpected: Vec<String>,
    /// Keys in both, with different shapes.
    pub wrong_shapes: Vec<WrongShape>,
    /// Anything else burn-store refused (data type, unreadable tensor).
    pub other: Vec<String>,
    /// Every key the model needs, with its shape (PyTorch names and layout).
    pub expected: Vec<(String, Vec<usize>)>,
    /// When every key of the file is the model's behind one prefix (`module.` from
    /// `nn.DataParallel`, `model_state_dict.` from a checkpoint dict): that prefix.
    pub wrapped_in: Option<String>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = |list: &[(String, Vec<usize>)]| {
            list.iter()
                .map(|(k, s)| format!("{k} {s:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(
            f,
            "`{}` does not hold weights of the {} network; nothing was loaded",
            self.path.display(),
            self.model
        )?;
        if !self.missing.is_empty() {
            writeln!(f, "  missing keys: {}", keys(&self.missing))?;
        }
        if !self.unexpected.is_empty() {
            writeln!(f, "  unexpected keys: {}", self.unexpected.join(", "))?;
        }
        for w in &self.wrong_shapes {
            writeln!(
                f,
                "  wrong shape: {} is {:?} in the file, the model needs {:?}",
                w.key, w.found, w.expected
            )?;
        }
        for other in &self.other {
            writeln!(f, "  {other}")?;
        }
        if let Some(prefix) = &self.wrapped_in {
            writeln!(
                f,
                "  every key is the model's behind the prefix `{prefix}`: the file holds a wrapped \
                 model (nn.DataParallel) or a checkpoint dict; save the inner state_dict \
                 (e.g. `model.module.state_dict()` or `checkpoint[\"{}\"]`)",
                prefix.trim_end_matches('.')
            )?;
        }
        write!(
            f,
            "  {} expects: {}\n  Check --model, or that the file is a state_dict of the report's {} class",
            self.model,
            keys(&self.expected),
            self.model
        )
    }
}

/// How a network's tensor paths are named in PyTorch where they differ from ours: prefix
/// renames, as `(our prefix, PyTorch's prefix)`. Burn and PyTorch agree on everything else
/// (burn-store's adapters handle Linear's transposed weight and BatchNorm's gamma/beta).
///
/// ```
/// use mnist_lab::interop::KeyNames;
/// let names = KeyNames::new().rename_prefix("fc.", "fcl.");
/// assert_eq!(names.to_pytorch("fc.weight"), "fcl.weight");
/// assert_eq!(names.to_pytorch("conv1.weight"), "conv1.weight");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyNames {
    renames: Vec<(String, String)>,
}

impl KeyNames {
    /// No renames: PyTorch's names are ours.
    pub fn new() -> Self {
        Self::default()
    }

    /// Our paths starting with `ours` start with `theirs` in PyTorch.
    pub fn rename_prefix(mut self, ours: impl Into<String>, theirs: impl Into<String>) -> Self {
        self.renames.push((ours.into(), theirs.into()));
        self
    }

    /// The PyTorch name of one of our tensor paths.
    pub fn to_pytorch(&self, path: &str) -> String {
        self.renames
            .iter()
            .find_map(|(ours, theirs)| {
                Some(format!("{theirs}{}", path.strip_prefix(ours.as_str())?))
            })
            .unwrap_or_else(|| path.to_string())
    }

    /// burn-store's key remapping towards PyTorch's names or from them.
    fn remapper(&self, to_pytorch: bool) -> KeyRemapper {
        self.renames
            .iter()
            .fold(KeyRemapper::new(), |remapper, (ours, theirs)| {
                let (from, to) = if to_pytorch {
                    (ours, theirs)
                } else {
                    (theirs, ours)
                };
                remapper
                    .add_pattern(format!("^{}", regex_escape(from)), to.as_str())
                    .expect("an escaped literal prefix is a valid regex")
            })
    }

    /// The names of one of our five networks: the report calls the simple FC net's layer
    /// `fcl`, we call it `fc`; every other name is the same.
    pub fn of(kind: ModelKind) -> Self {
        match kind {
            ModelKind::SimpleFc => Self::new().rename_prefix("fc.", "fcl."),
            _ => Self::new(),
        }
    }
}

/// `text` with the regex metacharacters escaped, for burn-store's `KeyRemapper` patterns
/// (written here: `regex`, which has `escape`, is only burn-store's dependency, not ours).
fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escape = r"\.+*?()|[]{}^$#&-~".contains(c);
            escape.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

/// The PyTorch name of one of our tensor paths.
pub fn pytorch_key(kind: ModelKind, path: &str) -> String {
    KeyNames::of(kind).to_pytorch(path)
}

/// Every tensor `model` has, as PyTorch names it, with its shape in PyTorch's layout.
pub fn pytorch_keys(model: &Model) -> Vec<(String, Vec<usize>)> {
    pytorch_keys_of(model, &KeyNames::of(model.kind()))
}

/// Every tensor of any module, as PyTorch names it under `names`, with its shape in PyTorch's
/// layout.
pub fn pytorch_keys_of<M: Module>(model: &M, names: &KeyNames) -> Vec<(String, Vec<usize>)> {
    model
        .collect(None, Some(Box::new(BurnToPyTorchAdapter)), true)
        .into_iter()
        .map(|t| (names.to_pytorch(&t.name), t.shape.to_vec()))
        .collect()
}

/// Fresh `kind` on `device` with the weights of `path` (`.pt`/`.pth` or `.safetensors`).
pub fn load(kind: ModelKind, path: &Path, device: &Device) -> Result<Model, InteropError> {
    load_into(kind.init(device), path)
}

/// `model` with every tensor replaced by the one in `path`. The model is consumed, so a
/// failed load leaves nothing half-loaded behind. Use this to load into a model built with a
/// non-default config (e.g. the complex MLP without dropout at test time).
pub fn load_into(model: Model, path: &Path) -> Result<Model, InteropError> {
    let kind = model.kind();
    load_module(model, path, &KeyNames::of(kind), kind.name())
}

/// Any module with every tensor replaced by the one in `path` (`.pt`/`.pth` or
/// `.safetensors`), PyTorch's names mapped to ours by `names`; `network` names it in errors.
/// Nothing is loaded partially: a missing, extra or wrongly shaped key is an error listing them
/// all.
pub fn load_module<M: Module>(
    mut model: M,
    path: &Path,
    names: &KeyNames,
    network: &str,
) -> Result<M, InteropError> {
    let format = WeightsFormat::of(path)?;
    if !path.is_file() {
        return Err(InteropError::Read {
            path: path.to_path_buf(),
            format: format.name(),
            message: "no such file".into(),
        });
    }
    let read_err = |message: String| InteropError::Read {
        path: path.to_path_buf(),
        format: format.name(),
        message,
    };
    let expected = pytorch_keys_of(&model, names);
    // Partial results are allowed here only so that every problem can be listed at once:
    // any problem below is an error, and the half-applied model is dropped with it.
    let result = match format {
        WeightsFormat::PyTorch => apply(
            &mut model,
            PytorchStore::from_file(path)
                .remap(names.remapper(false))
                .allow_partial(true)
                .validate(false),
        ),
        WeightsFormat::Safetensors => apply(
            &mut model,
            SafetensorsStore::from_file(path)
                .remap(names.remapper(false))
                .with_from_adapter(PyTorchToBurnAdapter)
                .skip_enum_variants(true)
                .allow_partial(true)
                .validate(false),
        ),
    }
    .map_err(read_err)?;
    match mismatch(names, network, path, result, expected) {
        None => Ok(model),
        Some(m) => Err(InteropError::Mismatch(Box::new(m))),
    }
}

/// Applies every tensor of `store` to `model`; the reader's error as text.
fn apply<M: Module>(model: &mut M, mut store: impl ModuleStore) -> Result<ApplyResult, String> {
    model.load_from(&mut store).map_err(|e| e.to_string())
}

/// The problems of one load, or `None` when every tensor was applied and nothing was left.
fn mismatch(
    names: &KeyNames,
    network: &str,
    path: &Path,
    result: ApplyResult,
    expected: Vec<(String, Vec<usize>)>,
) -> Option<Mismatch> {
    let shape_of = |key: &str| {
        expected
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, s)| s.clone())
            .unwrap_or_default()
    };
    let missing: Vec<_> = result
        .missing
        .iter()
        .map(|(p, _)| {
            let key = names.to_pytorch(&burn_norm_to_pytorch(p));
            let shape = shape_of(&key);
            (key, shape)
        })
        .collect();
    let unexpected: Vec<_> = result
        .unused
        .iter()
        .filter(|p| !p.ends_with(".num_batches_tracked"))
        .map(|p| names.to_pytorch(p))
        .collect();
    let mut wrong_shapes = Vec::new();
    let mut other = Vec::new();
    for e in &result.errors {
        match e {
            ApplyError::ShapeMismatch { path: p, found, .. } => {
                let key = names.to_pytorch(&burn_norm_to_pytorch(p));
                wrong_shapes.push(WrongShape {
                    expected: shape_of(&key),
                    found: pytorch_layout(&key, found.to_vec()),
                    key,
                });
            }
            e => other.push(e.to_string()),
        }
    }
    if missing.is_empty() && unexpected.is_empty() && wrong_shapes.is_empty() && other.is_empty() {
        return None;
    }
    let wrapped_in = common_wrapper(&unexpected, &expected);
    Some(Mismatch {
        path: path.to_path_buf(),
        model: network.to_string(),
        missing,
        unexpected,
        wrong_shapes,
        other,
        expected,
        wrapped_in,
    })
}

/// The prefix (`module.`, `model_state_dict.`, ...) behind which `unexpected` is exactly the
/// set of `expected` keys, if there is one.
fn common_wrapper(unexpected: &[String], expected: &[(String, Vec<usize>)]) -> Option<String> {
    let (first, _) = unexpected.first()?.split_once('.')?;
    let prefix = format!("{first}.");
    let mut inner: Vec<&str> = unexpected
        .iter()
        .map(|k| k.strip_prefix(&prefix))
        .collect::<Option<_>>()?;
    let mut wanted: Vec<&str> = expected.iter().map(|(k, _)| k.as_str()).collect();
    inner.sort_unstable();
    wanted.sort_unstable();
    (inner == wanted).then_some(prefix)
}

/// BatchNorm's `gamma`/`beta` are PyTorch's `weight`/`bias`.
fn burn_norm_to_pytorch(path: &str) -> String {
    if let Some(layer) = path.strip_suffix(".gamma") {
        format!("{layer}.weight")
    } else if let Some(layer) = path.strip_suffix(".beta") {
        format!("{layer}.bias")
    } else {
        path.to_string()
    }
}

/// A shape the applier reports in burn's layout, in PyTorch's: the only rank-2 weights in
/// these networks are Linear's, which burn stores transposed (`[in, out]`).
fn pytorch_layout(key: &str, mut shape: Vec<usize>) -> Vec<usize> {
    if key.ends_with(".weight") && shape.len() == 2 {
        shape.reverse();
    }
    shape
}

/// Writes `model` to `path` as safetensors with PyTorch's names and layout, replacing any file
/// there only once the new one is complete.
pub fn save_safetensors(model: &Model, path: &Path) -> Result<(), InteropError> {
    save_module(
        model,
        path,
        &KeyNames::of(model.kind()),
        model.kind().name(),
    )
}

/// Writes any module to `path` as safetensors with PyTorch's layout and the names `names`
/// gives, `network` recorded in the file's metadata (`mnist_lab_model`); the file is replaced
/// only once the new one is complete ([`crate::fsutil::write_atomic`]: a plain write's mode, not
/// the 0600 of burn-store's own temporary file).
pub fn save_module<M: Module>(
    model: &M,
    path: &Path,
    names: &KeyNames,
    network: &str,
) -> Result<(), InteropError> {
    let failed = |message: String| InteropError::Write {
        path: path.to_path_buf(),
        message,
    };
    let mut store = SafetensorsStore::from_bytes(None)
        .remap(names.remapper(true))
        .with_to_adapter(BurnToPyTorchAdapter)
        .skip_enum_variants(true)
        .metadata("mnist_lab_model", network);
    model
        .save_into(&mut store)
        .map_err(|e| failed(e.to_string()))?;
    let bytes = store.get_bytes().map_err(|e| failed(e.to_string()))?;
    crate::fsutil::write_export(path, &bytes).map_err(failed)
}
