//! The sweep file: `[sweep]` with its experiment files, the baseline row and the grid.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An echo-runner sweep: experiments run as one results table.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "echo-runner sweep")]
pub struct SweepFile {
    pub sweep: SweepSection,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SweepSection {
    /// Name of the sweep; its record is `<output_root>/sweeps/<name>-<hash12>/`.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"))]
    pub name: String,
    /// Experiment files (paths relative to this file), the table's rows in order.
    #[schemars(length(min = 1))]
    pub experiments: Vec<String>,
    /// The experiment file (one of `experiments`) whose row the others are compared with.
    #[serde(default)]
    pub baseline: Option<String>,
    /// Keys to vary: every experiment is run at every point of the grid (the product of the
    /// axes, the last axis varying fastest).
    #[serde(default)]
    pub grid: Vec<GridAxis>,
}

/// One axis of the grid: a key, as `--set` names it, and the values it takes.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GridAxis {
    /// Dotted key of the experiment, e.g. `experiment.seed` or `train.optimizer.lr`.
    #[schemars(length(min = 1), regex(pattern = r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$"))]
    pub key: String,
    /// The values the key takes, each of the type the experiment's schema wants there.
    #[schemars(length(min = 1))]
    pub values: Vec<serde_json::Value>,
}

/// The schema as a JSON value.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(SweepFile)).expect("a schema is JSON")
}

/// The schema as `runner schema --sweep` prints it and `schemas/sweep.schema.json` stores it.
pub fn schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&schema()).expect("a schema is JSON");
    text.push('\n');
    text
}
