//! Seed groups: rows whose experiments differ only in `experiment.seed` (and the name) are
//! one line of the table, each figure the mean ± std over the seeds with its 95 % t-interval
//! over them.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::compare::Compare;
use super::evidence::within_unit;
use super::{METRICS, Row};
use crate::stats::t_interval;
use crate::train::metrics::{MeanStd, mean_std};

const SEED: &str = "experiment.seed";

/// A figure over seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spread {
    pub mean: f64,
    pub std: Option<f64>,
    /// Seeds with the figure defined.
    pub n: usize,
    pub ci: Option<[f64; 2]>,
}

fn spread(values: &[f64]) -> Option<Spread> {
    let MeanStd { mean, std, n } = mean_std(values.iter().copied().map(Some))?;
    let ci = t_interval(values).ok().map(within_unit);
    Some(Spread { mean, std, n, ci })
}

/// One experiment repeated over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct SeedGroup {
    /// `<experiment.name> × <n> seeds`.
    pub experiment: String,
    pub seeds: Vec<i64>,
    /// The members' result directory names, in seed order.
    pub members: Vec<String>,
    /// Per metric: the members' CV means over seeds.
    pub cv: BTreeMap<&'static str, Spread>,
    /// Per metric: the members' test figures over seeds.
    pub test: BTreeMap<&'static str, Spread>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compare: Option<Compare>,
    /// The members as indices into the report's rows, in seed order.
    #[serde(skip)]
    pub rows: Vec<usize>,
}

/// A row's seed.
pub fn seed_of(row: &Row) -> Option<i64> {
    row.config.get(SEED).and_then(Value::as_i64)
}

/// A member's CV mean of metric `k`.
pub fn cv_figure(row: &Row, k: usize) -> Option<f64> {
    (METRICS[k].summary)(&row.cv).map(|s| s.mean)
}

/// A member's test figure of metric `k`.
pub fn test_figure(row: &Row, k: usize) -> Option<f64> {
    row.test.as_ref().and_then(METRICS[k].value)
}

/// The table's lines as row indices, in the order of their first row: rows whose configs
/// are equal but for the seed share a line; a row repeating a seed of its line stays apart.
pub fn lines(rows: &[Row]) -> Vec<Vec<usize>> {
    let key = |r: &Row| -> String {
        let rest: BTreeMap<&String, &Value> = r
            .config
            .iter()
            .filter(|(k, _)| k.as_str() != SEED && k.as_str() != "experiment.name")
            .collect();
        serde_json::to_string(&rest).expect("a config is JSON")
    };
    let mut out: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let k = key(row);
        let seed = seed_of(row);
        let home = out
            .iter_mut()
            .find(|(key, members)| *key == k && members.iter().all(|&j| seed_of(&rows[j]) != seed));
        match home {
            Some((_, members)) => members.push(i),
            None => out.push((k, vec![i])),
        }
    }
    out.into_iter()
        .map(|(_, mut members)| {
            members.sort_by_key(|&i| seed_of(&rows[i]));
            members
        })
        .collect()
}

/// The group of `members` (two or more rows).
pub fn group(rows: &[Row], members: &[usize]) -> SeedGroup {
    let first = &rows[members[0]];
    let name =
        first.config.get("experiment.name").and_then(Value::as_str).unwrap_or(&first.experiment);
    let over = |figure: fn(&Row, usize) -> Option<f64>| -> BTreeMap<&'static str, Spread> {
        METRICS
            .iter()
            .enumerate()
            .filter_map(|(k, m)| {
                let v: Vec<f64> = members.iter().filter_map(|&i| figure(&rows[i], k)).collect();
                spread(&v).map(|s| (m.key, s))
            })
            .collect()
    };
    SeedGroup {
        experiment: format!("{name} × {} seeds", members.len()),
        seeds: members.iter().filter_map(|&i| seed_of(&rows[i])).collect(),
        members: members.iter().map(|&i| rows[i].experiment.clone()).collect(),
        cv: over(cv_figure),
        test: over(test_figure),
        compare: None,
        rows: members.to_vec(),
    }
}
