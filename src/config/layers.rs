//! The layers of an experiment, lowest precedence first: its chain of `base` files, then
//! `ECHO_RUNNER__SECTION__KEY` environment variables, then `--set section.key=value` flags.
//! Each layer is a figment provider; figment merges them. Every layer remembers where its
//! values came from, so a problem in the merged document can name its source.

use std::path::{Path, PathBuf};

use figment::value::{Dict, Map, Value};
use figment::{Error as FigmentError, Metadata, Profile, Provider};

use super::diagnostic::{Diagnostic, Diagnostics, Origin, pointer_tokens, push_pointer};
use super::document::Document;
use super::spans::SpanIndex;

/// Prefix of the environment variables that override experiment keys.
pub const ENV_PREFIX: &str = "ECHO_RUNNER__";

/// Longest chain of `base` files followed.
const MAX_BASE_DEPTH: usize = 32;

pub enum Source {
    /// The defaults of the sections that have them (the lowest layer).
    Defaults,
    File {
        path: PathBuf,
        spans: SpanIndex,
    },
    Env(String),
    Flag(String),
    /// A value of a sweep's grid: where its key and its value are written.
    Grid {
        key: Origin,
        value: Origin,
    },
}

/// One value of a sweep's grid for one member: `key` (dotted, as `--set` takes it) set to
/// `value`, with where the sweep writes each, for errors.
#[derive(Debug, Clone, PartialEq)]
pub struct GridValue {
    pub key: String,
    pub value: serde_json::Value,
    pub key_origin: Origin,
    pub origin: Origin,
}

pub struct Layer {
    pub source: Source,
    pub dict: Dict,
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        match &self.source {
            Source::Defaults => Metadata::named("defaults"),
            Source::File { path, .. } => Metadata::from("experiment file", path.as_path()),
            Source::Env(var) => Metadata::named(format!("environment variable {var}")),
            Source::Flag(arg) => Metadata::named(format!("--set {arg}")),
            Source::Grid { value, .. } => Metadata::named(format!("grid value at {value}")),
        }
    }

    fn data(&self) -> Result<Map<Profile, Dict>, FigmentError> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

impl Layer {
    /// Where the value at `pointer` in this layer is written; `key` asks for the key's
    /// position rather than the value's.
    pub fn origin(&self, pointer: &str, key: bool) -> Origin {
        match &self.source {
            Source::File { path, spans } => match spans.position(pointer, key) {
                Some((line, col)) => Origin::File { path: path.clone(), line, col },
                None => Origin::File { path: path.clone(), line: 1, col: 1 },
            },
            Source::Defaults => Origin::Path(PathBuf::new()),
            Source::Env(var) => Origin::Env(var.clone()),
            Source::Flag(arg) => Origin::Flag(arg.clone()),
            Source::Grid { key: k, value } => {
                if key {
                    k.clone()
                } else {
                    value.clone()
                }
            }
        }
    }

    pub fn get(&self, pointer: &str) -> Option<&Value> {
        lookup(&self.dict, pointer)
    }
}

/// The value at a JSON pointer in a figment dictionary.
pub fn lookup<'a>(dict: &'a Dict, pointer: &str) -> Option<&'a Value> {
    let mut tokens = pointer_tokens(pointer).into_iter();
    let mut value = dict.get(&tokens.next()?)?;
    for token in tokens {
        value = match value {
            Value::Dict(_, d) => d.get(&token)?,
            Value::Array(_, items) => items.get(token.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(value)
}

fn remove(dict: &mut Dict, pointer: &str) {
    let tokens = pointer_tokens(pointer);
    let Some((last, parents)) = tokens.split_last() else { return };
    let mut d = dict;
    for t in parents {
        match d.get_mut(t) {
            Some(Value::Dict(_, inner)) => d = inner,
            _ => return,
        }
    }
    d.remove(last);
}

/// The defaults of the sections that have them, as the lowest layer: a file or a flag can
/// then change one key of a defaulted tagged table (say `train.schedule.eta_min`) without
/// restating its tag.
pub fn defaults_layer(defaults: serde_json::Value) -> Layer {
    let dict = serde_json::from_value(defaults).expect("defaults are a table");
    Layer { source: Source::Defaults, dict }
}

/// Reads an experiment file and, before it, the chain of its `base` files.
pub fn file_chain(path: &Path) -> Result<Vec<Layer>, Diagnostics> {
    let mut layers = Vec::new();
    let mut stack = Vec::new();
    read_file(path, &mut stack, &mut layers, None)?;
    Ok(layers)
}

fn read_file(
    path: &Path,
    stack: &mut Vec<PathBuf>,
    layers: &mut Vec<Layer>,
    named_by: Option<Origin>,
) -> Result<(), Diagnostics> {
    let what = if named_by.is_some() { "base file" } else { "experiment file" };
    let pointer = if named_by.is_some() { "/base" } else { "" };
    let Document { mut dict, spans, .. } = Document::read(path, what, named_by, pointer)?;
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let base = dict.remove("base");
    let layer = Layer { source: Source::File { path: path.to_path_buf(), spans }, dict };
    if let Some(base) = base {
        let base_origin = layer.origin("/base", false);
        let Value::String(_, rel) = base else {
            return Err(Diagnostics::single(
                base_origin,
                "/base",
                format!(
                    "expected a string (path of the base experiment file), found {}",
                    describe(&base)
                ),
            ));
        };
        let base_path = path.parent().unwrap_or(Path::new(".")).join(&rel);
        let base_canonical = base_path.canonicalize().unwrap_or_else(|_| base_path.clone());
        if base_canonical == canonical || stack.contains(&base_canonical) {
            let chain: Vec<String> = stack
                .iter()
                .chain([&canonical, &base_canonical])
                .map(|p| p.display().to_string())
                .collect();
            return Err(Diagnostics::single(
                base_origin,
                "/base",
                format!("base files form a cycle: {}", chain.join(" → ")),
            ));
        }
        if stack.len() >= MAX_BASE_DEPTH {
            return Err(Diagnostics::single(
                base_origin,
                "/base",
                format!("more than {MAX_BASE_DEPTH} base files in a chain"),
            ));
        }
        stack.push(canonical);
        read_file(&base_path, stack, layers, Some(base_origin))?;
        stack.pop();
    }
    layers.push(layer);
    Ok(())
}

/// One layer per `ECHO_RUNNER__…` variable, in name order. Other variables are ignored.
pub fn env_layers(vars: &[(String, String)]) -> Result<Vec<Layer>, Diagnostics> {
    let mut vars: Vec<_> = vars.iter().filter(|(k, _)| k.starts_with(ENV_PREFIX)).collect();
    vars.sort();
    let mut layers = Vec::new();
    let mut problems = Vec::new();
    for (var, value) in vars {
        let keys: Vec<String> =
            var[ENV_PREFIX.len()..].split("__").map(str::to_lowercase).collect();
        match nest(&keys, parse_value(value)) {
            Some(dict) => layers.push(Layer { source: Source::Env(var.clone()), dict }),
            None => problems.push(Diagnostic {
                origin: Origin::Env(var.clone()),
                pointer: String::new(),
                message: format!(
                    "names no key: expected {ENV_PREFIX}SECTION__KEY (e.g. {ENV_PREFIX}TRAIN__EPOCHS)"
                ),
            }),
        }
    }
    if problems.is_empty() { Ok(layers) } else { Err(Diagnostics(problems)) }
}

/// One layer per `--set KEY=VALUE` flag, in the order given. VALUE is read like an
/// environment variable's: numbers, booleans, `[arrays]`, `{tables}`, else a string.
pub fn flag_layers(sets: &[String]) -> Result<Vec<Layer>, Diagnostics> {
    let mut layers = Vec::new();
    let mut problems = Vec::new();
    for arg in sets {
        let parsed = arg.split_once('=').and_then(|(key, value)| {
            let keys: Vec<String> = key.trim().split('.').map(str::to_owned).collect();
            nest(&keys, parse_value(value.trim()))
        });
        match parsed {
            Some(dict) => layers.push(Layer { source: Source::Flag(arg.clone()), dict }),
            None => problems.push(Diagnostic {
                origin: Origin::Flag(arg.clone()),
                pointer: String::new(),
                message: "names no key: expected KEY=VALUE with a dotted key, e.g. train.epochs=5"
                    .into(),
            }),
        }
    }
    if problems.is_empty() { Ok(layers) } else { Err(Diagnostics(problems)) }
}

/// One layer per grid value of a sweep member, in the order given.
pub fn grid_layers(points: &[GridValue]) -> Result<Vec<Layer>, Diagnostics> {
    let mut layers = Vec::new();
    let mut problems = Vec::new();
    for point in points {
        let keys: Vec<String> = point.key.split('.').map(str::to_owned).collect();
        let value: Option<Value> = serde_json::from_value(point.value.clone()).ok();
        match value.and_then(|v| nest(&keys, v)) {
            Some(dict) => layers.push(Layer {
                source: Source::Grid { key: point.key_origin.clone(), value: point.origin.clone() },
                dict,
            }),
            None => problems.push(Diagnostic {
                origin: point.key_origin.clone(),
                pointer: String::new(),
                message: format!(
                    "grid key {:?} names no key: expected a dotted key, e.g. experiment.seed",
                    point.key
                ),
            }),
        }
    }
    if problems.is_empty() { Ok(layers) } else { Err(Diagnostics(problems)) }
}

/// A `--set` or `--grid` value as JSON, read as [`flag_layers`] reads it.
pub fn flag_value(text: &str) -> serde_json::Value {
    serde_json::to_value(parse_value(text)).unwrap_or(serde_json::Value::Null)
}

/// A variable's or flag's value: figment's reading (numbers, booleans, arrays, tables, else a
/// string), plus the exponent forms it leaves as strings (`3e-4`, `1.5E2`).
fn parse_value(text: &str) -> Value {
    let value: Value = text.parse().unwrap_or_else(|never| match never {});
    match &value {
        Value::String(..)
            if text
                .starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+' || c == '.') =>
        {
            text.parse::<f64>().ok().filter(|f| f.is_finite()).map_or(value, Value::from)
        }
        _ => value,
    }
}

/// `["a", "b"]`, v → `{a: {b: v}}`; `None` when a key is empty.
fn nest(keys: &[String], value: Value) -> Option<Dict> {
    if keys.is_empty() || keys.iter().any(|k| k.is_empty()) {
        return None;
    }
    let (last, parents) = keys.split_last()?;
    let mut dict = Dict::new();
    dict.insert(last.clone(), value);
    for key in parents.iter().rev() {
        let mut outer = Dict::new();
        outer.insert(key.clone(), Value::from(dict));
        dict = outer;
    }
    Some(dict)
}

/// When a layer switches a tagged table to another variant (say `sampler.kind` from
/// `weighted` to `none`), the earlier layers' keys of that table belong to the old variant:
/// drop them so the merge does not mix two variants.
pub fn drop_switched_variants(layers: &mut [Layer], tagged: &[(String, String)]) {
    for i in 1..layers.len() {
        for (table, tag) in tagged {
            let tag_ptr = push_pointer(table, tag);
            let Some(new) = layers[i].get(&tag_ptr).cloned() else { continue };
            let old = layers[..i].iter().rev().find_map(|l| l.get(&tag_ptr).cloned());
            if old.is_some_and(|old| !same(&old, &new)) {
                for earlier in &mut layers[..i] {
                    remove(&mut earlier.dict, table);
                }
            }
        }
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(_, x), Value::String(_, y)) => x == y,
        _ => false,
    }
}

/// Where the value at `pointer` of the merged document came from: the last layer that
/// sets it, else the last that sets its nearest enclosing table, else the experiment file.
pub fn origin_of(layers: &[Layer], pointer: &str, key: bool) -> Origin {
    let mut p = pointer.to_owned();
    while !p.is_empty() {
        let set_here = |l: &&Layer| !matches!(l.source, Source::Defaults) && l.get(&p).is_some();
        if let Some(layer) = layers.iter().rev().find(set_here) {
            return layer.origin(&p, key);
        }
        p.truncate(p.rfind('/').unwrap_or(0));
    }
    match layers.iter().rev().find(|l| matches!(l.source, Source::File { .. })) {
        Some(layer) => layer.origin("", key),
        None => Origin::Path(PathBuf::new()),
    }
}

/// Every non-finite float in the merged document: TOML and the overrides can spell them
/// (`nan`, `inf`), but no key accepts one.
pub fn non_finite(dict: &Dict) -> Vec<(String, f64)> {
    fn walk(pointer: &str, value: &Value, out: &mut Vec<(String, f64)>) {
        match value {
            Value::Num(_, n) => {
                if let Some(f) = n.to_f64().filter(|f| !f.is_finite()) {
                    out.push((pointer.to_owned(), f));
                }
            }
            Value::Dict(_, d) => {
                d.iter().for_each(|(k, v)| walk(&push_pointer(pointer, k), v, out))
            }
            Value::Array(_, items) => items
                .iter()
                .enumerate()
                .for_each(|(i, v)| walk(&push_pointer(pointer, &i.to_string()), v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    dict.iter().for_each(|(k, v)| walk(&push_pointer("", k), v, &mut out));
    out
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::String(..) | Value::Char(..) => "a string",
        Value::Bool(..) => "a boolean",
        Value::Num(..) => "a number",
        Value::Empty(..) => "nothing",
        Value::Dict(..) => "a table",
        Value::Array(..) => "an array",
    }
}
