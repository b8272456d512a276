//! A resolved experiment as flat `section.key` entries: all of them for MLflow's params, the
//! ones that differ from the defaults for TensorBoard's HParams tab.

use std::collections::BTreeMap;

use serde_json::Value;

use super::tensorboard::HValue;
use crate::config::Experiment;

/// Every leaf of `value` under its dotted path; a list is one entry (its JSON text).
pub fn flatten(value: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    walk(value, String::new(), &mut out);
    out
}

fn walk(value: &Value, path: String, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                walk(v, p, out);
            }
        }
        Value::Null => {}
        v => {
            out.insert(path, v.clone());
        }
    }
}

/// A flat entry's value as text (MLflow's params are text).
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// The experiment's settings that are not the defaults, nor where and how it runs
/// (`runtime`) nor prose: what tells it from other experiments.
pub fn changed(exp: &Experiment) -> Vec<(String, HValue)> {
    let defaults = flatten(&Experiment::section_defaults());
    let all = flatten(&serde_json::to_value(exp).expect("an experiment is JSON"));
    all.into_iter()
        .filter(|(k, _)| !k.starts_with("runtime.") && k != "experiment.description")
        .filter(|(k, v)| defaults.get(k) != Some(v))
        .map(|(k, v)| {
            let value = match v {
                Value::Bool(b) => HValue::Bool(b),
                Value::Number(n) => HValue::Number(n.as_f64().unwrap_or(f64::NAN)),
                v => HValue::Text(text(&v)),
            };
            (k, value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn leaves_are_flattened_with_dotted_paths() {
        let flat = flatten(&json!({"a": {"b": 1, "c": [1, 2], "d": null}, "e": "x"}));
        let keys: Vec<_> = flat.keys().map(String::as_str).collect();
        assert_eq!(keys, ["a.b", "a.c", "e"]);
        assert_eq!(text(&flat["a.c"]), "[1,2]");
        assert_eq!(text(&flat["e"]), "x");
    }
}
