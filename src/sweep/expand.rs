//! A sweep file (or `run FILE --grid …`) becomes its members: every experiment file at every
//! point of the grid, each loaded and checked as a single experiment is, every problem of
//! every member reported at once and located in the file that has it.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::file::{GridAxis, SweepFile, schema};
use crate::config::{
    self, Diagnostic, Diagnostics, Document, Experiment, GridValue, Loaded, Origin, Overrides,
    Violation, push_pointer,
};

/// One experiment of a sweep.
#[derive(Debug, Clone)]
pub struct Member {
    /// 0-based, in the sweep's order (`--member I`).
    pub index: usize,
    /// The experiment file.
    pub file: PathBuf,
    /// The grid's values for this member, in the grid's order.
    pub grid: Vec<(String, Value)>,
    pub loaded: Loaded,
}

impl Member {
    /// `demo-phase3-hybrid`, or `demo-phase3-hybrid [experiment.seed=2]`.
    pub fn label(&self) -> String {
        let name = &self.loaded.experiment.experiment.name;
        if self.grid.is_empty() {
            return name.clone();
        }
        let values: Vec<String> = self.grid.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{name} [{}]", values.join(", "))
    }

    /// The member's result directory: the one it has when run alone.
    pub fn dir(&self) -> PathBuf {
        crate::results::dir_path(&self.loaded)
    }
}

#[derive(Debug, Clone)]
pub struct Sweep {
    pub name: String,
    /// The sweep file; `None` for `run FILE --grid`.
    pub file: Option<PathBuf>,
    pub members: Vec<Member>,
    /// The first member of the baseline experiment.
    pub baseline: Option<usize>,
    /// blake3 of the sweep's name, its members' hashes and its baseline.
    pub digest: String,
}

/// Checks a member must pass beyond its config (the machine, its data).
pub type Checks<'a> = &'a dyn Fn(&Experiment) -> Vec<Violation>;

/// Whether `path` is a sweep file: a TOML file with a `[sweep]` table. Anything else
/// (including a file that cannot be read) is left to the experiment loader to judge.
pub fn is_sweep_file(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else { return false };
    text.parse::<toml::Table>().is_ok_and(|t| t.contains_key("sweep"))
}

/// An experiment file and the origins that name it, for errors.
struct Entry {
    file: PathBuf,
    origin: Origin,
}

/// One axis with where each of its parts is written.
struct Axis {
    key: String,
    key_origin: Origin,
    values: Vec<(Value, Origin)>,
}

impl Sweep {
    /// Loads a sweep file and every member, with `overrides` under each member's grid values.
    pub fn load(path: &Path, overrides: &Overrides, checks: Checks) -> Result<Sweep, Diagnostics> {
        let doc = Document::read(path, "sweep file", None, "")?;
        let found = config::violations(&schema(), &doc.json());
        if !found.is_empty() {
            let located = found.into_iter().map(|v| Diagnostic {
                origin: doc.origin(&v.pointer, v.at_key),
                pointer: v.pointer,
                message: v.message,
            });
            return Err(Diagnostics(located.collect()));
        }
        let file: SweepFile = serde_json::from_value(doc.json()).map_err(|e| {
            Diagnostics::single(Origin::Path(path.to_path_buf()), "", e.to_string())
        })?;
        let here = path.parent().unwrap_or(Path::new("."));
        let entries: Vec<Entry> = file
            .sweep
            .experiments
            .iter()
            .enumerate()
            .map(|(i, rel)| Entry {
                file: normalize(&here.join(rel)),
                origin: doc.origin(&format!("/sweep/experiments/{i}"), false),
            })
            .collect();
        let axes: Vec<Axis> = file
            .sweep
            .grid
            .iter()
            .enumerate()
            .map(|(a, GridAxis { key, values })| {
                let at = format!("/sweep/grid/{a}");
                Axis {
                    key: key.clone(),
                    key_origin: doc.origin(&push_pointer(&at, "key"), false),
                    values: values
                        .iter()
                        .enumerate()
                        .map(|(j, v)| (v.clone(), doc.origin(&format!("{at}/values/{j}"), false)))
                        .collect(),
                }
            })
            .collect();
        let baseline = file
            .sweep
            .baseline
            .as_ref()
            .map(|rel| (normalize(&here.join(rel)), doc.origin("/sweep/baseline", false)));
        expand(&file.sweep.name, Some(path), &entries, &axes, baseline, overrides, checks)
    }

    /// `runner run FILE --grid KEY=V1,V2,…`: one experiment file over a grid given on the
    /// command line, values read as `--set` reads them.
    pub fn from_grid(
        path: &Path,
        grid: &[String],
        overrides: &Overrides,
        checks: Checks,
    ) -> Result<Sweep, Diagnostics> {
        let mut axes = Vec::new();
        let mut problems = Vec::new();
        for arg in grid {
            let origin = Origin::Grid(arg.clone());
            match arg.split_once('=').filter(|(k, v)| !k.trim().is_empty() && !v.is_empty()) {
                Some((key, values)) => axes.push(Axis {
                    key: key.trim().to_owned(),
                    key_origin: origin.clone(),
                    values: values
                        .split(',')
                        .map(|v| (config::flag_value(v.trim()), origin.clone()))
                        .collect(),
                }),
                None => problems.push(Diagnostic {
                    origin,
                    pointer: String::new(),
                    message: "expected KEY=V1,V2,… with a dotted key, e.g. experiment.seed=1,2,3"
                        .into(),
                }),
            }
        }
        if !problems.is_empty() {
            return Err(Diagnostics(problems));
        }
        let name = config::load(path, overrides)
            .map(|l| format!("{}-grid", l.experiment.experiment.name))
            .unwrap_or_else(|_| "grid".into());
        let entries =
            [Entry { file: path.to_path_buf(), origin: Origin::Path(path.to_path_buf()) }];
        expand(&name, None, &entries, &axes, None, overrides, checks)
    }

    /// `<output_root>/sweeps/<name>-<hash12>`, under the first member's output root.
    pub fn dir(&self) -> PathBuf {
        let root = &self.members[0].loaded.experiment.runtime.output_root;
        root.join("sweeps").join(format!("{}-{}", self.name, &self.digest[..12]))
    }

    /// The member `--member I` names.
    pub fn member(&self, index: usize) -> Option<&Member> {
        self.members.get(index)
    }
}

fn expand(
    name: &str,
    sweep_file: Option<&Path>,
    entries: &[Entry],
    axes: &[Axis],
    baseline: Option<(PathBuf, Origin)>,
    overrides: &Overrides,
    checks: Checks,
) -> Result<Sweep, Diagnostics> {
    let mut problems: Vec<Diagnostic> = Vec::new();
    let push = |d: Diagnostic, problems: &mut Vec<Diagnostic>| {
        if !problems.contains(&d) {
            problems.push(d);
        }
    };
    let mut seen_keys: BTreeMap<&str, ()> = BTreeMap::new();
    for axis in axes {
        if seen_keys.insert(&axis.key, ()).is_some() {
            push(
                Diagnostic {
                    origin: axis.key_origin.clone(),
                    pointer: String::new(),
                    message: format!("grid key {} is given twice", axis.key),
                },
                &mut problems,
            );
        }
    }
    let points = product(axes);
    let mut members = Vec::new();
    // Per entry: where its members start (for the baseline).
    let mut first_of_entry = Vec::new();
    for entry in entries {
        first_of_entry.push(members.len());
        if !entry.file.is_file() {
            push(
                Diagnostic {
                    origin: entry.origin.clone(),
                    pointer: String::new(),
                    message: format!("experiment file {} does not exist", entry.file.display()),
                },
                &mut problems,
            );
            continue;
        }
        for point in &points {
            let mut layered = overrides.clone();
            layered.grid = point
                .iter()
                .map(|&(a, j)| GridValue {
                    key: axes[a].key.clone(),
                    value: axes[a].values[j].0.clone(),
                    key_origin: axes[a].key_origin.clone(),
                    origin: axes[a].values[j].1.clone(),
                })
                .collect();
            match config::load_checked(&entry.file, &layered, checks) {
                Ok(loaded) => members.push((entry, point, loaded)),
                Err(d) => d.0.into_iter().for_each(|d| push(d, &mut problems)),
            }
        }
    }
    let mut by_digest: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, (entry, point, loaded)) in members.iter().enumerate() {
        if let Some(&first) = by_digest.get(loaded.hash.digest.as_str()) {
            let origin =
                point.last().map_or(entry.origin.clone(), |&(a, j)| axes[a].values[j].1.clone());
            push(
                Diagnostic {
                    origin,
                    pointer: String::new(),
                    message: format!(
                        "member {i} is the same experiment as member {first} (hash {}): a sweep \
                         runs each experiment once",
                        loaded.hash.short()
                    ),
                },
                &mut problems,
            );
        } else {
            by_digest.insert(&loaded.hash.digest, i);
        }
    }
    let baseline_index = match &baseline {
        None => None,
        Some((file, origin)) => {
            let same = |e: &Entry| same_file(&e.file, file);
            match entries.iter().position(same) {
                Some(e) => Some(first_of_entry[e]),
                None => {
                    push(
                        Diagnostic {
                            origin: origin.clone(),
                            pointer: "/sweep/baseline".into(),
                            message: format!("{} is not one of sweep.experiments", file.display()),
                        },
                        &mut problems,
                    );
                    None
                }
            }
        }
    };
    if !problems.is_empty() {
        return Err(Diagnostics(problems));
    }
    let members: Vec<Member> = members
        .into_iter()
        .enumerate()
        .map(|(index, (entry, point, loaded))| Member {
            index,
            file: entry.file.clone(),
            grid: point
                .iter()
                .map(|&(a, j)| (axes[a].key.clone(), axes[a].values[j].0.clone()))
                .collect(),
            loaded,
        })
        .collect();
    let identity = serde_json::json!({
        "name": name,
        "members": members.iter().map(|m| m.loaded.hash.digest.clone()).collect::<Vec<_>>(),
        "baseline": baseline_index,
    });
    let digest = blake3::hash(identity.to_string().as_bytes()).to_hex().to_string();
    Ok(Sweep {
        name: name.to_owned(),
        file: sweep_file.map(Path::to_path_buf),
        members,
        baseline: baseline_index,
        digest,
    })
}

/// Every point of the grid as (axis, value index) pairs, the last axis varying fastest; one
/// empty point without axes.
fn product(axes: &[Axis]) -> Vec<Vec<(usize, usize)>> {
    axes.iter().enumerate().fold(vec![vec![]], |points, (a, axis)| {
        points
            .iter()
            .flat_map(|p| {
                (0..axis.values.len()).map(move |j| {
                    let mut next = p.clone();
                    next.push((a, j));
                    next
                })
            })
            .collect()
    })
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// `a/b/../c` → `a/c`, without touching the file system (a `..` with nothing left to take
/// back is kept).
fn normalize(path: &Path) -> PathBuf {
    let mut out: Vec<Component> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.is_empty() { PathBuf::from(".") } else { out.iter().collect() }
}
