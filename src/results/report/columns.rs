//! The config columns of a report: the keys whose values differ between its rows, as DVC's
//! `exp show --only-changed` shows them, so an ablation set reads as a table of its changes.
//!
//! Keys are the experiment's leaves as dotted paths (`model.temporal.dwconv_kernel`); arrays
//! are one value. Left out: `runtime`, `experiment.description` (neither is in the hashed
//! config these come from) and `experiment.name` (each row is named by its directory). A key
//! that exists only for one variant of a tagged table (`model.kind = "cnn_lstm"` has
//! `model.lstm.hidden`, a Swin has none) is shown through the tag's own column when the rows
//! use different variants, rather than as a column of mostly blanks.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::config;

const LEFT_OUT: &[&str] = &["experiment.name", "experiment.description", "runtime"];

/// An experiment's leaves by dotted path.
pub fn flatten(value: &Value) -> BTreeMap<String, Value> {
    fn walk(v: &Value, path: &str, out: &mut BTreeMap<String, Value>) {
        match v {
            Value::Object(map) => {
                for (k, sub) in map {
                    let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                    walk(sub, &p, out);
                }
            }
            leaf => {
                out.insert(path.to_owned(), leaf.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(value, "", &mut out);
    out
}

/// `config` (a row's hashed config, flattened) with the keys the hash leaves out at their
/// old default (`ADDED_LATER`) put back from the row's resolved TOML, so that a changed key
/// such as `model.head.task` shows for every row, not only where it is not the default.
pub fn with_added_later(
    mut config: BTreeMap<String, Value>,
    resolved_toml: &str,
) -> BTreeMap<String, Value> {
    let Ok(resolved) = resolved_toml.parse::<toml::Table>() else { return config };
    let Ok(resolved) = serde_json::to_value(resolved) else { return config };
    for (pointer, _) in config::ADDED_LATER {
        let key = pointer.trim_start_matches('/').replace('/', ".");
        if let Some(value) = resolved.pointer(pointer) {
            config.entry(key).or_insert_with(|| value.clone());
        }
    }
    config
}

fn left_out(key: &str) -> bool {
    LEFT_OUT.iter().any(|p| key == *p || key.starts_with(&format!("{p}.")))
}

/// A config column: a key whose value is not the same in every row.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub key: String,
    /// For the tag of a table whose rows use different variants: the variant-only keys it
    /// stands for, relative to the table (`threshold` under `data.labels`).
    folded: Vec<(String, String)>,
}

/// At most this many variant-only values are shown inside a tag's cell.
const INLINE: usize = 3;

impl Column {
    /// The row's value: strings bare, the rest as compact JSON, "—" if absent; a tag also
    /// shows its variant's own values when they are few (`below (threshold=50)`).
    pub fn cell(&self, row: &BTreeMap<String, Value>) -> String {
        let own: Vec<String> = self
            .folded
            .iter()
            .filter_map(|(full, short)| row.get(full).map(|v| format!("{short}={}", cell(Some(v)))))
            .collect();
        let value = cell(row.get(&self.key));
        if own.is_empty() || own.len() > INLINE {
            value
        } else {
            format!("{value} ({})", own.join(", "))
        }
    }
}

/// The keys whose values are not the same in every row (a key missing from a row counts as
/// a value), in the config's order, with variant-only keys folded into their tag.
pub fn changed_columns(rows: &[&BTreeMap<String, Value>]) -> Vec<Column> {
    if rows.len() < 2 {
        return vec![];
    }
    // Tagged tables as (dotted table, dotted tag key): ("model", "model.kind").
    let tags: Vec<(String, String)> = config::tagged_tables(&config::schema())
        .into_iter()
        .map(|(table, tag)| {
            let table = table.trim_start_matches('/').replace('/', ".");
            let key = if table.is_empty() { tag.clone() } else { format!("{table}.{tag}") };
            (table, key)
        })
        .collect();
    let differs = |key: &str| rows.iter().any(|r| r.get(key) != rows[0].get(key));
    let mut keys: Vec<&String> = rows.iter().flat_map(|r| r.keys()).collect();
    keys.sort();
    keys.dedup();
    let everywhere = |k: &str| rows.iter().all(|r| r.contains_key(k));
    // The outermost differing tag whose table holds `k`, for a key not in every row (an inner
    // tag, itself only in some rows, folds into it too).
    let folded_into = |k: &str| -> Option<&(String, String)> {
        if everywhere(k) {
            return None;
        }
        tags.iter()
            .filter(|(table, tag)| tag != k && k.starts_with(&format!("{table}.")) && differs(tag))
            .min_by_key(|(t, _)| t.len())
    };
    let mut columns: Vec<Column> = keys
        .iter()
        .filter(|k| !left_out(k) && differs(k) && folded_into(k).is_none())
        .map(|k| Column { key: (*k).clone(), folded: vec![] })
        .collect();
    for column in &mut columns {
        for k in &keys {
            if let Some((table, tag)) = folded_into(k)
                && *tag == column.key
                && !left_out(k)
            {
                column.folded.push(((*k).clone(), k[table.len() + 1..].to_owned()));
            }
        }
    }
    columns
}

/// The names of [`changed_columns`].
pub fn changed_keys(rows: &[&BTreeMap<String, Value>]) -> Vec<String> {
    changed_columns(rows).into_iter().map(|c| c.key).collect()
}

/// A config value as a table cell: strings bare, the rest as compact JSON, "—" if absent.
pub fn cell(value: Option<&Value>) -> String {
    match value {
        None => "—".into(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_changed_keys_and_variant_keys_fold_into_their_tag() {
        let a = flatten(&json!({
            "experiment": {"name": "a", "seed": 1},
            "model": {"kind": "swin_hybrid", "temporal": {"dwconv_kernel": 3, "layers": 2}, "freeze": "none"},
            "sampler": {"kind": "weighted", "weights": {"scheme": "minority_times", "factor": 3.0}},
        }));
        let b = flatten(&json!({
            "experiment": {"name": "b", "seed": 1},
            "model": {"kind": "swin_hybrid", "temporal": {"dwconv_kernel": 5, "layers": 2}, "freeze": "none"},
            "sampler": {"kind": "none"},
        }));
        assert_eq!(changed_keys(&[&a, &b]), ["model.temporal.dwconv_kernel", "sampler.kind"]);
        let sampler = changed_columns(&[&a, &b]).remove(1);
        assert_eq!(
            sampler.cell(&a),
            "weighted (weights.factor=3.0, weights.scheme=minority_times)"
        );
        assert_eq!(sampler.cell(&b), "none");
        let c = flatten(&json!({
            "experiment": {"name": "c", "seed": 1},
            "model": {"kind": "cnn_lstm", "lstm": {"hidden": 512}, "freeze": "backbone"},
            "sampler": {"kind": "none"},
        }));
        // Swin-only and LSTM-only keys fold into model.kind; freeze exists in both and shows.
        assert_eq!(changed_keys(&[&b, &c]), ["model.freeze", "model.kind"]);
        assert!(changed_keys(&[&a]).is_empty());
        assert_eq!(cell(a.get("model.kind")), "swin_hybrid");
        assert_eq!(cell(c.get("model.temporal.layers")), "—");
    }

    #[test]
    fn keys_the_hash_drops_at_their_old_default_come_back_from_the_resolved_toml() {
        // The hash leaves `model.head.task = "classify"` out; the resolved file has it.
        let classify = flatten(&json!({"model": {"kind": "cnn_lstm", "head": {"hidden": 0}}}));
        let regress = flatten(&json!({
            "model": {"kind": "cnn_lstm", "head": {"hidden": 0, "task": "regress_ef"}}
        }));
        let resolved =
            "[model]\nkind = \"cnn_lstm\"\n[model.head]\nhidden = 0\ntask = \"classify\"\n";
        let classify = with_added_later(classify, resolved);
        assert_eq!(cell(classify.get("model.head.task")), "classify");
        assert_eq!(changed_keys(&[&classify, &regress]), ["model.head.task"]);
        // A key the row's own file does not have stays absent, and bad TOML changes nothing.
        let other = flatten(&json!({"model": {"kind": "cnn_lstm"}}));
        assert_eq!(with_added_later(other.clone(), "[model]\nkind = \"cnn_lstm\"\n"), other);
        assert_eq!(with_added_later(other.clone(), "not toml ["), other);
    }

    fn experiment(file: &str) -> BTreeMap<String, Value> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments").join(file);
        let loaded = config::load(&path, &config::Overrides::default())
            .expect("a committed experiment loads");
        flatten(&serde_json::from_str(&loaded.hash.canonical).expect("canonical JSON"))
    }

    #[test]
    fn the_seed_table_and_the_ablations_read_as_their_changes() {
        let phases = ["phase1_cnn_lstm.toml", "phase2_swin_global.toml", "phase3_hybrid.toml"]
            .map(experiment);
        let rows: Vec<_> = phases.iter().collect();
        assert_eq!(changed_keys(&rows), ["model.freeze", "model.kind", "model.pretrained"]);
        let kind = changed_columns(&rows).into_iter().find(|c| c.key == "model.kind").unwrap();
        // A model's own keys are too many to show in its cell.
        assert_eq!(kind.cell(&phases[0]), "cnn_lstm");
        let base = experiment("phase3_hybrid.toml");
        let each = |file: &str| {
            let ablation = experiment(&format!("ablations/{file}"));
            changed_columns(&[&base, &ablation])
                .into_iter()
                .map(|c| (c.key.clone(), c.cell(&ablation)))
                .collect::<Vec<_>>()
        };
        let pair = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        assert_eq!(each("dwconv_kernel5.toml"), pair("model.temporal.dwconv_kernel", "5"));
        assert_eq!(
            each("labels_ef_below50.toml"),
            pair("data.labels.rule", "below (threshold=50)")
        );
        assert_eq!(each("no_sampler.toml"), pair("sampler.kind", "none"));
        assert_eq!(each("sampler_weight3.toml"), pair("sampler.weights.factor", "3"));
        assert_eq!(each("folds5.toml"), pair("cv.folds", "5"));
    }
}
