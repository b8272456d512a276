//! `runner report`'s statistics: an interval on every figure, the differences from a baseline
//! with their p-values in every format, the reason a comparison is skipped (other test
//! videos, other folds, one fold, no per-video predictions, a baseline not run), seed groups,
//! and the same bytes for the same inputs.
//!
//! The rows are copies of the trained fixture's full run with their test predictions replaced
//! by 40 videos scored by a formula (the tiny experiment's own test set has two videos), so the
//! expected statistics can be worked out here.

use std::fs;
use std::path::{Path, PathBuf};

use echo_runner::data::labels::Class;
use echo_runner::train::metrics::Metrics;
use serde_json::{Value, json};

use crate::support::Scratch;
use crate::trained::{copy_dir, read_json, trained};

const VIDEOS: usize = 40;

fn abnormal(i: usize) -> bool {
    i.is_multiple_of(2)
}

/// A reproducible number in [0, 1) for video `i`.
fn noise(i: usize, salt: usize) -> f64 {
    ((i * 7919 + salt * 104_729) % 1000) as f64 / 1000.0
}

/// A weak model (AUROC about 0.8) and a strong one (about 1).
fn weak(i: usize) -> f64 {
    if abnormal(i) { 0.3 + 0.6 * noise(i, 1) } else { 0.1 + 0.6 * noise(i, 2) }
}

fn strong(i: usize) -> f64 {
    if abnormal(i) { 0.5 + 0.5 * noise(i, 3) } else { 0.02 + 0.5 * noise(i, 4) }
}

struct Fake<'a> {
    /// Changes to `config.canonical.json`.
    config: &'a dyn Fn(&mut Value),
    /// P(abnormal) of test video `i`.
    score: &'a dyn Fn(usize) -> f64,
    /// Added to each fold's validation accuracy.
    val_shift: [f64; 3],
    /// The test videos' names.
    prefix: &'a str,
}

/// A copy of the full run at `to`, edited as `fake` says; each fold's recorded test figures
/// are recomputed from its new predictions.
fn fabricate(to: &Path, fake: Fake) -> PathBuf {
    copy_dir(&trained().full, to);
    let canonical = to.join("config.canonical.json");
    let mut config = read_json(&canonical);
    (fake.config)(&mut config);
    fs::write(&canonical, config.to_string()).unwrap();
    let labels: Vec<Class> =
        (0..VIDEOS).map(|i| if abnormal(i) { Class::Abnormal } else { Class::Normal }).collect();
    let prob: Vec<f64> = (0..VIDEOS).map(fake.score).collect();
    for (k, shift) in fake.val_shift.iter().enumerate() {
        let path = to.join(format!("fold-{k}/metrics.json"));
        let mut m = read_json(&path);
        m["test_videos"] =
            json!((0..VIDEOS).map(|i| format!("{}{i:02}", fake.prefix)).collect::<Vec<_>>());
        m["test_labels"] = json!(labels);
        m["test_prob"] = json!(prob);
        m["test"] = json!(Metrics::compute(&labels, &prob, 0.5).unwrap());
        let acc = m["val"]["accuracy"].as_f64().unwrap();
        m["val"]["accuracy"] = json!(acc + shift);
        fs::write(&path, m.to_string()).unwrap();
    }
    to.to_path_buf()
}

fn same(_: &mut Value) {}

fn kernel7(c: &mut Value) {
    c["model"]["temporal"]["dwconv_kernel"] = json!(7);
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn report_json(scratch: &Scratch, args: &[&str]) -> Value {
    let mut all = vec!["report", "--format", "json"];
    all.extend(args);
    let run = scratch.runner(&all, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).expect("a JSON report")
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// The exact two-sided McNemar p by summing binomial probabilities.
fn mcnemar(b: u64, c: u64) -> f64 {
    let n = b + c;
    let choose = |k: u64| (1..=k).fold(1.0, |acc, j| acc * (n - k + j) as f64 / j as f64);
    let tail: f64 = (0..=b.min(c)).map(|k| choose(k) * 0.5f64.powi(n as i32)).sum();
    (2.0 * tail).min(1.0)
}

#[test]
fn report_shows_intervals_and_the_differences_from_a_baseline_in_every_format() {
    let scratch = Scratch::new();
    let root = scratch.path();
    let base = fabricate(
        &root.join("base"),
        Fake { config: &same, score: &weak, val_shift: [0.0; 3], prefix: "v" },
    );
    let shifts = [0.05, 0.08, 0.03];
    let twin = fabricate(
        &root.join("twin"),
        Fake { config: &kernel7, score: &strong, val_shift: shifts, prefix: "v" },
    );
    let doc = report_json(&scratch, &[s(&base), s(&twin), "--baseline", s(&base)]);
    let rows = doc["rows"].as_array().unwrap();
    assert_eq!(doc["baseline"], "base");
    assert_eq!(doc["bootstrap"], 2000);
    // Every figure inside its interval.
    for row in rows {
        for metric in ["accuracy", "abnormal_recall", "balanced_accuracy", "auroc", "auprc"] {
            let ci = &row["test_ci"][metric];
            let value = match metric {
                "abnormal_recall" => &row["test"]["sensitivity"],
                m => &row["test"][m],
            };
            assert!(f(&ci[0]) <= f(value) && f(value) <= f(&ci[1]), "{metric}: {value} {ci}");
        }
        let cv = &row["cv_ci"]["accuracy"];
        let mean = f(&row["cv"]["accuracy"]["mean"]);
        assert!(f(&cv[0]) < mean && mean < f(&cv[1]) || f(&cv[1]) == 1.0, "{cv} {mean}");
    }
    assert!(rows[0].get("compare").is_none(), "the baseline is not compared with itself");
    let c = &rows[1]["compare"];
    assert_eq!(c["baseline"], "base");
    let methods: Vec<(&str, &str)> =
        ["accuracy", "abnormal_recall", "balanced_accuracy", "auroc", "auprc"]
            .iter()
            .map(|m| (*m, c["test"][m]["method"].as_str().unwrap_or("missing")))
            .collect();
    assert_eq!(
        methods,
        [
            ("accuracy", "mcnemar"),
            ("abnormal_recall", "mcnemar"),
            ("balanced_accuracy", "bootstrap"),
            ("auroc", "delong"),
            ("auprc", "bootstrap")
        ]
    );
    // Δ is this row minus the baseline, and one compared row leaves Holm's p as it is.
    let (t0, t1) = (&rows[0]["test"], &rows[1]["test"]);
    assert!((f(&c["test"]["auroc"]["delta"]) - (f(&t1["auroc"]) - f(&t0["auroc"]))).abs() < 1e-12);
    assert_eq!(c["test"]["auroc"]["p"], c["test"]["auroc"]["p_holm"]);
    assert!(f(&c["test"]["auroc"]["p"]) < 0.05, "{}", c["test"]["auroc"]);
    // McNemar from the per-video correctness worked out here.
    let right = |score: fn(usize) -> f64, i: usize| (score(i) >= 0.5) == abnormal(i);
    let only = |a: fn(usize) -> f64, b: fn(usize) -> f64, keep: fn(usize) -> bool| {
        (0..VIDEOS).filter(|&i| keep(i) && right(a, i) && !right(b, i)).count() as u64
    };
    let all = |_: usize| true;
    let p = mcnemar(only(strong, weak, all), only(weak, strong, all));
    assert!((f(&c["test"]["accuracy"]["p"]) - p).abs() < 1e-9, "{p} vs {}", c["test"]["accuracy"]);
    let p = mcnemar(only(strong, weak, abnormal), only(weak, strong, abnormal));
    assert!((f(&c["test"]["abnormal_recall"]["p"]) - p).abs() < 1e-9, "{p}");
    // Across folds: the corrected t-test of the three shifts, k − 1 = 2 df, ratio 1/2.
    let cv = &c["cv"]["accuracy"];
    assert_eq!(cv["method"], "corrected_t");
    let mean = shifts.iter().sum::<f64>() / 3.0;
    let var = shifts.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / 2.0;
    let half = 4.302652729911275 * ((1.0 / 3.0 + 0.5) * var).sqrt();
    assert!((f(&cv["delta"]) - mean).abs() < 1e-9);
    assert!((f(&cv["ci"][0]) - (mean - half)).abs() < 1e-9, "{cv}");
    // A metric no fold changed: no difference, p = 1.
    assert_eq!((f(&c["cv"]["auroc"]["delta"]), f(&c["cv"]["auroc"]["p"])), (0.0, 1.0));

    let text = |format: &str| {
        let run = scratch.runner(
            &["report", s(&base), s(&twin), "--baseline", s(&base), "--format", format],
            &[],
        );
        assert_eq!(run.code, 0, "{format}: {}", run.stderr);
        run.stdout
    };
    let auroc_cell = format!(
        "{:+.3} [{:+.3}, {:+.3}], ",
        f(&c["test"]["auroc"]["delta"]),
        f(&c["test"]["auroc"]["ci"][0]),
        f(&c["test"]["auroc"]["ci"][1])
    );
    let md = text("md");
    assert!(md.contains("Differences from the baseline, base:"), "{md}");
    assert!(md.contains(&auroc_cell), "{auroc_cell} not in\n{md}");
    let test_ci = &rows[0]["test_ci"]["auroc"];
    assert!(
        md.contains(&format!(
            "{:.3} [{:.3}, {:.3}]",
            f(&t0["auroc"]),
            f(&test_ci[0]),
            f(&test_ci[1])
        )),
        "{md}"
    );
    assert!(md.contains("| baseline |") && md.contains("Nadeau & Bengio"), "{md}");
    let latex = text("latex");
    for needle in ["$\\Delta$ AUROC", "\\begin{tabular}", &auroc_cell, "$\\pm$"] {
        assert!(latex.contains(needle), "{needle} missing:\n{latex}");
    }
    let csv_text = text("csv");
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let col =
        |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no {name}"));
    assert_eq!(&records[1][col("auroc_test_method")], "delong");
    assert_eq!(
        records[1][col("auroc_test_p")].parse::<f64>().unwrap(),
        f(&c["test"]["auroc"]["p"])
    );
    assert_eq!(records[0][col("auroc_test_lo")].parse::<f64>().unwrap(), f(&test_ci[0]));
    assert_eq!(&records[0][col("baseline")], "(this row)");
    let html = text("html");
    assert!(html.contains("<h2>Differences from the baseline</h2>"), "no comparison table");
    assert!(html.contains(&format!("<td class=\"num sig\">{}", auroc_cell)), "AUROC not marked");

    // The same inputs, the same bytes.
    for format in ["md", "json", "csv", "html"] {
        assert_eq!(text(format), text(format), "{format} differs between two runs");
    }
    // No bootstrap: no test intervals, McNemar without an interval, the bootstrap metrics skipped.
    let off =
        report_json(&scratch, &[s(&base), s(&twin), "--baseline", s(&base), "--bootstrap", "0"]);
    assert_eq!(off["rows"][0]["test_ci"], json!({}));
    let c = &off["rows"][1]["compare"];
    assert_eq!(c["test"]["accuracy"]["ci"], Value::Null);
    assert!(c["skipped"]["test.auprc"].as_str().unwrap().contains("--bootstrap 0"), "{c}");
}

#[test]
fn comparisons_say_why_they_are_skipped_and_the_table_still_prints() {
    let scratch = Scratch::new();
    let root = scratch.path();
    let base = fabricate(
        &root.join("base"),
        Fake { config: &same, score: &weak, val_shift: [0.0; 3], prefix: "v" },
    );
    let split = fabricate(
        &root.join("split"),
        Fake {
            config: &|c| c["data"]["split"]["seed"] = json!(43),
            score: &strong,
            val_shift: [0.01, 0.02, 0.0],
            prefix: "w",
        },
    );
    // A directory of a runner that recorded no per-video test predictions.
    let older = root.join("older");
    copy_dir(&base, &older);
    for k in 0..3 {
        let path = older.join(format!("fold-{k}/metrics.json"));
        let mut m = read_json(&path);
        for key in ["test_videos", "test_prob", "test_labels"] {
            m.as_object_mut().unwrap().remove(key);
        }
        fs::write(&path, m.to_string()).unwrap();
    }
    let t = trained();
    let doc = report_json(
        &scratch,
        &[s(&base), s(&split), s(&older), s(&t.partial), "--baseline", s(&base)],
    );
    let rows = doc["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    let why = |row: usize, key: &str| {
        rows[row]["compare"]["skipped"][key].as_str().unwrap_or("").to_owned()
    };
    assert!(why(1, "test").contains("different test videos"), "{}", rows[1]["compare"]);
    assert!(why(1, "cv").contains("data.split.seed differs"), "{}", rows[1]["compare"]);
    assert!(why(2, "test").contains("no per-video test predictions"), "{}", rows[2]["compare"]);
    assert_eq!(
        rows[2]["compare"]["cv"]["accuracy"]["method"], "corrected_t",
        "older dirs keep their folds"
    );
    assert!(why(3, "cv").contains("1 fold(s) finished in both"), "{}", rows[3]["compare"]);
    // Three compared rows, but only `older` has CV accuracy compared: Holm over one.
    assert_eq!(
        rows[2]["compare"]["cv"]["accuracy"]["p"],
        rows[2]["compare"]["cv"]["accuracy"]["p_holm"]
    );
    let md = scratch.runner(&["report", s(&base), s(&split), "--baseline", s(&base)], &[]);
    assert_eq!(md.code, 0, "{}", md.stderr);
    assert!(
        md.stdout.contains("— (not paired: other folds (data.split.seed differs))"),
        "{}",
        md.stdout
    );

    // A baseline not among the inputs is read as the first row; one not run explains itself.
    let added = report_json(&scratch, &[s(&split), "--baseline", s(&base)]);
    assert_eq!(added["rows"][0]["experiment"], "base");
    assert_eq!(added["rows"][1]["compare"]["baseline"], "base");
    scratch.write("g.toml", &crate::support::VALID.replace("seed = 1", "seed = 9"));
    let missing = scratch.runner(&["report", s(&base), s(&split), "--baseline", "g.toml"], &[]);
    assert_eq!(missing.code, 0, "the table still prints: {}", missing.stderr);
    assert!(missing.stderr.contains("g.toml: not run yet"), "{}", missing.stderr);
    assert!(missing.stdout.contains("— (baseline g.toml: not run yet"), "{}", missing.stdout);
}

#[test]
fn rows_that_differ_only_in_the_seed_are_one_line_unless_no_group() {
    let scratch = Scratch::new();
    let root = scratch.path();
    let seeded = |seed: i64, kernel: Option<i64>| {
        move |c: &mut Value| {
            c["experiment"]["seed"] = json!(seed);
            if let Some(k) = kernel {
                c["model"]["temporal"]["dwconv_kernel"] = json!(k);
            }
        }
    };
    let scores: [fn(usize) -> f64; 3] =
        [weak, |i| weak(i) * 0.9 + 0.05, |i| (weak(i) + 0.02).min(1.0)];
    let mut dirs = Vec::new();
    for (k, seed) in [1, 2, 3].into_iter().enumerate() {
        let cfg = seeded(seed, None);
        dirs.push(fabricate(
            &root.join(format!("base-s{seed}")),
            Fake { config: &cfg, score: &scores[k], val_shift: [0.0; 3], prefix: "v" },
        ));
    }
    for (k, seed) in [1, 2, 3].into_iter().enumerate() {
        let cfg = seeded(seed, Some(7));
        let better =
            move |i: usize| (scores[k](i) + if abnormal(i) { 0.15 } else { -0.05 }).clamp(0.0, 1.0);
        dirs.push(fabricate(
            &root.join(format!("k7-s{seed}")),
            Fake {
                config: &cfg,
                score: &better,
                val_shift: [0.02 * k as f64, 0.03, 0.01],
                prefix: "v",
            },
        ));
    }
    let mut args: Vec<&str> = dirs.iter().map(|d| s(d)).collect();
    args.extend(["--baseline", s(&dirs[0])]);
    let doc = report_json(&scratch, &args);
    let groups = doc["groups"].as_array().expect("seed groups");
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0]["seeds"], json!([1, 2, 3]));
    assert_eq!(groups[0]["experiment"], "t × 3 seeds");
    assert_eq!(doc["baseline"], "t × 3 seeds");
    let rows = doc["rows"].as_array().unwrap();
    // Mean ± std over the seeds of each member's figure.
    let auroc: Vec<f64> = rows[..3].iter().map(|r| f(&r["test"]["auroc"])).collect();
    let mean = auroc.iter().sum::<f64>() / 3.0;
    assert!((f(&groups[0]["test"]["auroc"]["mean"]) - mean).abs() < 1e-12);
    assert_eq!(groups[0]["test"]["auroc"]["n"], 3);
    // Paired by seed: the mean of the per-seed differences, a t-test over the seeds.
    let d = &groups[1]["compare"]["test"]["auroc"];
    assert_eq!(d["method"], "seeds_t");
    let diffs: f64 = (0..3).map(|k| f(&rows[3 + k]["test"]["auroc"]) - auroc[k]).sum::<f64>() / 3.0;
    assert!((f(&d["delta"]) - diffs).abs() < 1e-12, "{d}");
    assert!(
        rows.iter().all(|r| r.get("compare").is_none()),
        "members carry no comparison of their own"
    );
    let md = scratch.runner(
        &{
            let mut a = vec!["report"];
            a.extend(&args);
            a
        },
        &[],
    );
    let lines: Vec<&str> = md.stdout.lines().filter(|l| l.starts_with("| t × 3 seeds")).collect();
    assert_eq!(lines.len(), 4, "two lines in each table:\n{}", md.stdout);
    assert!(md.stdout.contains("| Seeds |") && md.stdout.contains("| 1, 2, 3 |"), "{}", md.stdout);

    args.push("--no-group");
    let apart = report_json(&scratch, &args);
    assert!(apart.get("groups").is_none());
    assert_eq!(apart["rows"][3]["compare"]["test"]["auroc"]["method"], "delong");
    // Five rows compared with base-s1: Holm's p is at least the raw one.
    let holm = &apart["rows"][3]["compare"]["test"]["auroc"];
    assert!(f(&holm["p_holm"]) >= f(&holm["p"]));
}
