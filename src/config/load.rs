//! Loading an experiment: layers → figment merge → schema check → typed parse → resolution
//! → semantic checks → hash. Every problem found on the way is reported, each located.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::value::Dict;

use super::diagnostic::{Diagnostic, Diagnostics, Origin};
use super::experiment::Experiment;
use super::hash::{ConfigHash, hash};
use super::layers::{self, GridValue, Layer, Source, origin_of};
use super::resolve::{check, resolve};
use super::schema::{Violation, schema, tagged_tables, violations};

/// What overrides the experiment file: `ECHO_RUNNER__…` variables (the caller passes the
/// environment in; others are ignored) and `--set KEY=VALUE` flags, in order.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub env: Vec<(String, String)>,
    pub sets: Vec<String>,
    /// A sweep member's grid values, above the flags.
    pub grid: Vec<GridValue>,
}

impl Overrides {
    /// The `--set` flags given, and the process environment.
    pub fn from_process(sets: &[String]) -> Self {
        Overrides { env: std::env::vars().collect(), sets: sets.to_vec(), grid: Vec::new() }
    }
}

/// A resolved, validated experiment and its identity.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub experiment: Experiment,
    pub hash: ConfigHash,
    /// The experiment file given.
    pub file: PathBuf,
}

impl Loaded {
    /// The resolved config as TOML: every default filled, presets expanded, no `base`.
    pub fn resolved_toml(&self) -> String {
        toml::to_string_pretty(&self.experiment).expect("an experiment is TOML")
    }
}

pub fn load(path: &Path, overrides: &Overrides) -> Result<Loaded, Diagnostics> {
    load_checked(path, overrides, &|_| Vec::new())
}

/// Like [`load`], with further checks of the resolved experiment (say, against data on disk)
/// whose findings are located like the loader's own.
pub fn load_checked(
    path: &Path,
    overrides: &Overrides,
    checks: &dyn Fn(&Experiment) -> Vec<Violation>,
) -> Result<Loaded, Diagnostics> {
    let schema = schema();
    let mut layers = vec![layers::defaults_layer(Experiment::section_defaults())];
    layers.extend(layers::file_chain(path)?);
    let mut problems = Vec::new();
    for extra in [
        layers::env_layers(&overrides.env),
        layers::flag_layers(&overrides.sets),
        layers::grid_layers(&overrides.grid),
    ] {
        match extra {
            Ok(l) => layers.extend(l),
            Err(d) => problems.extend(d.0),
        }
    }
    for layer in &layers {
        if !matches!(layer.source, Source::File { .. }) && layer.dict.contains_key("base") {
            problems.push(Diagnostic {
                origin: layer.origin("/base", true),
                pointer: "/base".into(),
                message: "`base` can only be given in an experiment file".into(),
            });
        }
    }
    if !problems.is_empty() {
        return Err(Diagnostics(problems));
    }
    layers::drop_switched_variants(&mut layers, &tagged_tables(&schema));

    let merged: Dict =
        layers.iter().fold(Figment::new(), |f, l| f.merge(l)).extract().map_err(|e| {
            Diagnostics::single(Origin::Path(path.to_path_buf()), "", e.to_string())
        })?;

    // NaN and infinities become JSON null: report them as such, with the schema's other
    // findings, all at once.
    let non_finite = layers::non_finite(&merged);
    let json = serde_json::to_value(&merged).expect("a merged document is JSON");
    let mut found: Vec<Violation> = non_finite
        .iter()
        .map(|(pointer, f)| {
            Violation::value(pointer.clone(), format!("{f} is not a finite number"))
        })
        .collect();
    found.extend(
        violations(&schema, &json)
            .into_iter()
            .filter(|v| !non_finite.iter().any(|(p, _)| *p == v.pointer)),
    );
    if !found.is_empty() {
        return Err(located(&layers, found));
    }
    let mut experiment: Experiment = serde_json::from_value(json)
        .map_err(|e| Diagnostics::single(Origin::Path(path.to_path_buf()), "", e.to_string()))?;
    resolve(&mut experiment);
    let mut found = check(&experiment);
    found.extend(checks(&experiment));
    if !found.is_empty() {
        return Err(located(&layers, found));
    }
    let hash = hash(&experiment);
    Ok(Loaded { experiment, hash, file: path.to_path_buf() })
}

fn located(layers: &[Layer], found: Vec<Violation>) -> Diagnostics {
    let mut out: Vec<Diagnostic> = Vec::new();
    for v in found {
        let d = Diagnostic {
            origin: origin_of(layers, &v.pointer, v.at_key),
            pointer: v.pointer,
            message: v.message,
        };
        if !out.contains(&d) {
            out.push(d);
        }
    }
    Diagnostics(out)
}
