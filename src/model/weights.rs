//! Pretrained backbone weights from local safetensors files in timm / torchvision layout
//! (never downloaded). PyTorch conventions are converted on the way in by burn-store's
//! `PyTorchToBurnAdapter` (Linear weights transposed, norm `weight/bias` → `gamma/beta`).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use burn::module::ParamId;
use burn::prelude::*;
use burn::store::{ModuleSnapshot, PyTorchToBurnAdapter, TensorSnapshot};
use burn::tensor::DType;

use super::r2plus1d::VideoResNet;
use super::resnet::ResNet;
use super::swin::Swin;
use crate::ops::Backend;

/// What a successful load did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadReport {
    pub file: PathBuf,
    /// Parameters set from the file.
    pub applied: usize,
    /// Keys of the file nothing in the model took (its classifier and buffers that are
    /// recomputed here are not listed).
    pub unused: Vec<String>,
    /// The file's classifier (`fc.*`, `head.*`, e.g. Kinetics-400's 400 classes), left out:
    /// the model's head is its own and starts fresh.
    pub left_out: Vec<String>,
}

impl LoadReport {
    /// Splits the keys the model did not take into the file's classifier and the rest.
    fn new(file: &Path, applied: usize, unused: Vec<String>) -> Self {
        let (left_out, unused): (Vec<String>, Vec<String>) = unused
            .into_iter()
            .filter(|k| !k.ends_with(".attn_mask"))
            .partition(|k| k.starts_with("head.") || k.starts_with("fc."));
        Self { file: file.to_path_buf(), applied, unused, left_out }
    }
}

/// The backbone a pretrained file is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Architecture {
    Swin,
    ResNet,
    R2plus1d,
}

impl Architecture {
    /// A key only this architecture's checkpoints have, and its name.
    fn marker(self) -> (&'static str, &'static str) {
        match self {
            Architecture::Swin => ("patch_embed.proj.weight", "Swin"),
            Architecture::ResNet => ("layer1.0.conv1.weight", "ResNet"),
            Architecture::R2plus1d => ("layer1.0.conv1.0.0.weight", "R(2+1)D"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("pretrained weights {}: cannot read: {source}", file.display())]
    Unreadable { file: PathBuf, source: std::io::Error },
    #[error("pretrained weights {}: not a safetensors file: {reason}", file.display())]
    NotSafetensors { file: PathBuf, reason: String },
    #[error("pretrained weights {}: {found}, but the model's backbone is {expected}", file.display())]
    WrongArchitecture { file: PathBuf, expected: &'static str, found: String },
    #[error("pretrained weights {}: do not fit the model:\n  {}", file.display(), problems.join("\n  "))]
    Mismatch { file: PathBuf, problems: Vec<String> },
}

/// A safetensors file's header (tensor name → dtype, shape, offsets) and the byte offset of
/// its data, reading no more than the header.
pub(crate) fn read_header(file: &Path) -> Result<(BTreeMap<String, Entry>, usize), WeightsError> {
    let unreadable = |source| WeightsError::Unreadable { file: file.to_path_buf(), source };
    let not_st = |reason: String| WeightsError::NotSafetensors { file: file.to_path_buf(), reason };
    let mut f = File::open(file).map_err(unreadable)?;
    let file_len = f.metadata().map_err(unreadable)?.len();
    let mut len = [0u8; 8];
    f.read_exact(&mut len).map_err(|_| not_st("shorter than its 8-byte header length".into()))?;
    let header_len = u64::from_le_bytes(len);
    if header_len > file_len.saturating_sub(8) || header_len > 100_000_000 {
        return Err(not_st(format!("header length {header_len} does not fit the file")));
    }
    let mut header = vec![0u8; header_len as usize];
    f.read_exact(&mut header).map_err(unreadable)?;
    let mut header: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|e| not_st(format!("header is not JSON: {e}")))?;
    header.remove("__metadata__");
    let entries = header
        .into_iter()
        .map(|(name, info)| match serde_json::from_value::<Entry>(info) {
            Ok(entry) => Ok((name, entry)),
            Err(e) => Err(not_st(format!("{name}: {e}"))),
        })
        .collect::<Result<_, _>>()?;
    Ok((entries, 8 + header_len as usize))
}

/// A safetensors file's float tensors by name, as f32.
pub(crate) fn read_safetensors(file: &Path) -> Result<BTreeMap<String, TensorData>, WeightsError> {
    let (entries, data_start) = read_header(file)?;
    let not_st = |reason: String| WeightsError::NotSafetensors { file: file.to_path_buf(), reason };
    let bytes = std::fs::read(file)
        .map_err(|source| WeightsError::Unreadable { file: file.to_path_buf(), source })?;
    let data = bytes.get(data_start..).unwrap_or_default();
    let mut tensors = BTreeMap::new();
    for (name, entry) in entries {
        let dtype = match entry.dtype.as_str() {
            "F32" => DType::F32,
            "F16" => DType::F16,
            "BF16" => DType::BF16,
            "F64" => DType::F64,
            // Integer buffers (e.g. `num_batches_tracked`, `relative_position_index`) are
            // recomputed here, never loaded.
            "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL" => continue,
            other => return Err(not_st(format!("{name}: unsupported dtype {other}"))),
        };
        let [start, end] = entry.data_offsets;
        let raw = data.get(start..end).ok_or_else(|| {
            not_st(format!("{name}: data offsets {start}..{end} outside the file"))
        })?;
        let expected = entry.shape.iter().product::<usize>() * dtype.size();
        if raw.len() != expected {
            return Err(not_st(format!("{name}: {} bytes for shape {:?}", raw.len(), entry.shape)));
        }
        let tensor = TensorData::from_bytes_vec(raw.to_vec(), entry.shape, dtype).convert::<f32>();
        tensors.insert(name, tensor);
    }
    Ok(tensors)
}

#[derive(serde::Deserialize)]
pub(crate) struct Entry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [usize; 2],
}

/// Sets `module`'s parameters from `tensors` (keys are module paths in PyTorch naming).
/// Returns the unused keys; a parameter left unset or a shape mismatch is an error.
pub(crate) fn apply_tensors<B: Backend, M: Module<B>>(
    module: &mut M,
    tensors: BTreeMap<String, TensorData>,
    file: &Path,
) -> Result<(usize, Vec<String>), WeightsError> {
    let snapshots = tensors
        .into_iter()
        .map(|(key, data)| {
            let path = key.split('.').map(str::to_string).collect();
            TensorSnapshot::from_data(data, path, Vec::new(), ParamId::new())
        })
        .collect();
    let result = module.apply(snapshots, None, Some(Box::new(PyTorchToBurnAdapter)), false);
    let mut problems: Vec<String> = result.errors.iter().map(ToString::to_string).collect();
    problems.extend(result.missing.iter().map(|(path, _)| format!("'{path}' is not in the file")));
    if !problems.is_empty() {
        return Err(WeightsError::Mismatch { file: file.to_path_buf(), problems });
    }
    // burn-store lists tensors it applied under their Burn alias (norm `weight` → `gamma`,
    // `bias` → `beta`) as unused too.
    let applied: std::collections::BTreeSet<&str> =
        result.applied.iter().map(String::as_str).collect();
    let unused = result
        .unused
        .iter()
        .filter(|key| {
            let alias = match key.rsplit_once('.') {
                Some((base, "weight")) => format!("{base}.gamma"),
                Some((base, "bias")) => format!("{base}.beta"),
                _ => return true,
            };
            !applied.contains(alias.as_str())
        })
        .cloned()
        .collect();
    Ok((result.applied.len(), unused))
}

fn architecture<V>(tensors: &BTreeMap<String, V>) -> String {
    let known = [Architecture::Swin, Architecture::ResNet, Architecture::R2plus1d];
    match known.iter().map(|a| a.marker()).find(|(key, _)| tensors.contains_key(*key)) {
        Some((key, name)) => format!("it holds a {name} ({key})"),
        None => {
            let some: Vec<&str> = tensors.keys().take(3).map(String::as_str).collect();
            format!("it holds none of Swin, ResNet, R(2+1)D (first keys: {some:?})")
        }
    }
}

impl<B: Backend> Swin<B> {
    /// Loads timm `swin_*` weights (timm ≥ 0.9 layout; the older Microsoft/timm layout with
    /// patch merging at the end of a stage is renamed). Relative-position tables for a smaller
    /// window than the file's (stages clamped at small inputs) are centre-cropped to the
    /// offsets that window uses; timm instead resamples them.
    pub fn load_pretrained(&mut self, file: &Path) -> Result<LoadReport, WeightsError> {
        check_file(file, Architecture::Swin)?;
        let mut tensors = read_safetensors(file)?;
        if tensors.keys().any(|k| k.starts_with("layers.0.downsample.")) {
            tensors = tensors
                .into_iter()
                .map(|(k, v)| (shift_downsample_key(&k).unwrap_or(k), v))
                .collect();
        }
        for (i, stage) in self.layers.iter().enumerate() {
            for (j, block) in stage.blocks.iter().enumerate() {
                let key = format!("layers.{i}.blocks.{j}.attn.relative_position_bias_table");
                let want = block.attn.relative_position_bias_table.lazy_shape().dims::<2>();
                if let Some(table) = tensors.remove(&key) {
                    tensors.insert(key, crop_bias_table(table, want));
                }
            }
        }
        let (applied, unused) = apply_tensors(self, tensors, file)?;
        Ok(LoadReport::new(file, applied, unused))
    }
}

/// Old layout: `layers.{i}.downsample` merges after stage i; now it opens stage i+1.
fn shift_downsample_key(key: &str) -> Option<String> {
    let rest = key.strip_prefix("layers.")?;
    let (index, tail) = rest.split_once('.')?;
    let index: usize = index.parse().ok()?;
    tail.starts_with("downsample.").then(|| format!("layers.{}.{tail}", index + 1))
}

/// `[(2s-1)², heads]` → `[(2w-1)², heads]` for w < s: the rows of the offsets within ±(w-1).
/// Any other shape passes through (and is reported as a mismatch if it does not fit).
pub(crate) fn crop_bias_table(table: TensorData, want: [usize; 2]) -> TensorData {
    let [rows, heads] = match table.shape.as_slice() {
        &[r, h] => [r, h],
        _ => return table,
    };
    let src = (rows as f64).sqrt() as usize;
    let dst = (want[0] as f64).sqrt() as usize;
    if src * src != rows
        || dst * dst != want[0]
        || heads != want[1]
        || dst >= src
        || src.is_multiple_of(2)
        || dst.is_multiple_of(2)
    {
        return table;
    }
    let Ok(values) = table.to_vec::<f32>() else { return table };
    let off = (src - dst) / 2;
    let mut out = Vec::with_capacity(want[0] * heads);
    for y in off..off + dst {
        for x in off..off + dst {
            let row = y * src + x;
            out.extend_from_slice(&values[row * heads..(row + 1) * heads]);
        }
    }
    TensorData::new(out, want)
}

impl<B: Backend> ResNet<B> {
    /// Loads timm or torchvision ResNet weights (`downsample.0/1` → `downsample.conv/bn`).
    pub fn load_pretrained(&mut self, file: &Path) -> Result<LoadReport, WeightsError> {
        check_file(file, Architecture::ResNet)?;
        let tensors = read_safetensors(file)?;
        let tensors = tensors
            .into_iter()
            .map(|(k, v)| {
                (
                    k.replace(".downsample.0.", ".downsample.conv.")
                        .replace(".downsample.1.", ".downsample.bn."),
                    v,
                )
            })
            .collect();
        let (applied, unused) = apply_tensors(self, tensors, file)?;
        Ok(LoadReport::new(file, applied, unused))
    }
}

/// torchvision's `nn.Sequential` indices of R(2+1)D → the fields here (stem: conv, BN, ReLU,
/// conv, BN; block `convN`: (`Conv2Plus1D`: conv, BN, ReLU, conv), BN; `downsample`: conv, BN).
const R2PLUS1D_KEYS: [(&str, &str); 12] = [
    ("stem.0.", "stem.spatial."),
    ("stem.1.", "stem.bn_spatial."),
    ("stem.3.", "stem.temporal."),
    ("stem.4.", "stem.bn."),
    (".conv1.0.0.", ".conv1.spatial."),
    (".conv1.0.1.", ".conv1.bn."),
    (".conv1.0.3.", ".conv1.temporal."),
    (".conv1.1.", ".bn1."),
    (".conv2.0.0.", ".conv2.spatial."),
    (".conv2.0.1.", ".conv2.bn."),
    (".conv2.0.3.", ".conv2.temporal."),
    (".conv2.1.", ".bn2."),
];

/// A torchvision `r2plus1d_18` state-dict key under the Burn module path.
pub(crate) fn r2plus1d_key(key: &str) -> String {
    let mut key = key.replace(".downsample.0.", ".downsample.conv.");
    key = key.replace(".downsample.1.", ".downsample.bn.");
    for (from, to) in R2PLUS1D_KEYS {
        if from.starts_with('.') {
            key = key.replace(from, to);
        } else if let Some(rest) = key.strip_prefix(from) {
            key = format!("{to}{rest}");
        }
    }
    key
}

impl<B: Backend> VideoResNet<B> {
    /// Loads torchvision `r2plus1d_18` weights (e.g. Kinetics-400's); its `fc` is left out.
    pub fn load_pretrained(&mut self, file: &Path) -> Result<LoadReport, WeightsError> {
        check_file(file, Architecture::R2plus1d)?;
        let tensors = read_safetensors(file)?;
        let tensors = tensors.into_iter().map(|(k, v)| (r2plus1d_key(&k), v)).collect();
        let (applied, unused) = apply_tensors(self, tensors, file)?;
        Ok(LoadReport::new(file, applied, unused))
    }
}

/// Reads only the header of `file` and checks it is a safetensors file holding the expected
/// backbone.
pub(crate) fn check_file(file: &Path, expected: Architecture) -> Result<(), WeightsError> {
    let (entries, _) = read_header(file)?;
    let (key, expected) = expected.marker();
    if entries.contains_key(key) {
        Ok(())
    } else {
        Err(WeightsError::WrongArchitecture {
            file: file.to_path_buf(),
            expected,
            found: architecture(&entries),
        })
    }
}
