//! `runner report` and `runner plot`: the table across experiments in every format, only the
//! config keys that differ, incomplete runs, bad inputs, and figures that are real images.

use std::fs;
use std::path::Path;

use crate::trained::{copy_dir, read_json, trained};

/// The cells of a Markdown table row.
fn md_cells(line: &str) -> Vec<String> {
    line.trim().trim_matches('|').split(" | ").map(|c| c.trim().to_owned()).collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn report_shows_exactly_the_changed_key_and_marks_the_incomplete_run() {
    let t = trained();
    // Given as experiment files: their directories are found by hash.
    let run = t.runner(&["report", "e.toml", "f.toml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(lines.len(), 4, "{}", run.stdout);
    let header = md_cells(lines[0]);
    let approach = header.iter().position(|h| h == "Approach").unwrap();
    let folds = header.iter().position(|h| h == "Folds").unwrap();
    assert_eq!(header[approach + 1..folds], ["model.temporal.dwconv_kernel"], "{}", run.stdout);
    for metric in ["Accuracy", "Abnormal recall", "Balanced accuracy", "AUROC", "AUPRC"] {
        assert!(
            header.contains(&format!("{metric} (CV)"))
                && header.contains(&format!("{metric} (test)")),
            "{metric}"
        );
    }
    let (e, f) = (md_cells(lines[2]), md_cells(lines[3]));
    assert_eq!((e[1].as_str(), e[2].as_str()), ("Phase 3", "Swin + Hybrid (MHSA ‖ DWConv)"));
    assert_eq!((e[approach + 1].as_str(), e[folds].as_str()), ("3", "3/3"));
    assert_eq!((f[approach + 1].as_str(), f[folds].as_str()), ("5", "1/3 (incomplete)"));
    // CV accuracy: mean ± std of the folds' best-epoch validation accuracy.
    let summary = read_json(&t.full.join("summary.json"));
    let acc = &summary["validation"]["accuracy"];
    let cell =
        format!("{:.3} ± {:.3}", acc["mean"].as_f64().unwrap(), acc["std"].as_f64().unwrap());
    // … followed by its 95% t-interval over the folds.
    let shown = &e[header.iter().position(|h| h == "Accuracy (CV)").unwrap()];
    assert!(shown.starts_with(&format!("{cell} [")) && shown.ends_with(']'), "{shown}");
    assert!(run.stdout.contains("the seed's protocol"), "{}", run.stdout);
}

#[test]
fn report_formats_carry_the_same_figures() {
    let t = trained();
    let (full, partial) = (t.full.to_str().unwrap(), t.partial.to_str().unwrap());
    let summary = read_json(&t.full.join("summary.json"));

    let json = t.runner(&["report", full, partial, "--format", "json"]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON report");
    assert_eq!(doc["changed_keys"], serde_json::json!(["model.temporal.dwconv_kernel"]));
    let rows = doc["rows"].as_array().unwrap();
    assert_eq!(
        (rows[0]["folds_done"].as_u64(), rows[0]["folds_total"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(
        (rows[1]["folds_done"].as_u64(), rows[1]["folds_total"].as_u64()),
        (Some(1), Some(3))
    );
    for metric in ["accuracy", "balanced_accuracy", "sensitivity", "auroc"] {
        let (ours, theirs) =
            (&rows[0]["cv"][metric]["mean"], &summary["validation"][metric]["mean"]);
        assert!(
            close(ours.as_f64().unwrap(), theirs.as_f64().unwrap()),
            "{metric}: {ours} vs {theirs}"
        );
    }
    // The test figures are the best fold's, as the run's summary names it.
    assert_eq!(rows[0]["test"], summary["best_fold_test"]);
    assert_eq!(rows[0]["test_model"], format!("best fold {} of 3", summary["best_fold"]));
    assert_eq!(rows[1]["config"]["model.temporal.dwconv_kernel"], 5);

    let ensemble = t.runner(&["report", full, "--format", "json", "--test", "ensemble"]);
    let doc: serde_json::Value = serde_json::from_str(&ensemble.stdout).expect("JSON report");
    let (ours, theirs) = (&doc["rows"][0]["test"], &summary["ensemble_test"]);
    assert_eq!(ours["confusion"], theirs["confusion"]);
    assert!(close(ours["accuracy"].as_f64().unwrap(), theirs["accuracy"].as_f64().unwrap()));

    let csv = t.runner(&["report", full, partial, "--format", "csv", "--out", "out/report.csv"]);
    assert_eq!(csv.code, 0, "{}", csv.stderr);
    let text = fs::read_to_string(t.path().join("out/report.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header[4..7], ["model.temporal.dwconv_kernel", "folds_done", "folds_total"]);
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert_eq!(&records[1][col("folds_done")], "1");
    let mean: f64 = records[0][col("accuracy_cv_mean")].parse().unwrap();
    assert!(close(mean, summary["validation"]["accuracy"]["mean"].as_f64().unwrap()));
    // One finished fold: a mean, no std.
    assert_eq!(&records[1][col("accuracy_cv_std")], "");

    let latex = t.runner(&["report", full, partial, "--format", "latex"]);
    assert_eq!(latex.code, 0, "{}", latex.stderr);
    for needle in [
        "\\begin{tabular}",
        "\\toprule",
        "\\texttt{model.temporal.dwconv\\_kernel}",
        "\\pm",
        "1/3 (incomplete)",
        "$\\parallel$",
        "\\bottomrule",
    ] {
        assert!(latex.stdout.contains(needle), "{needle} missing:\n{}", latex.stdout);
    }
}

#[test]
fn bad_inputs_give_clear_messages_and_a_partial_table() {
    let t = trained();
    let scratch = crate::support::Scratch::new();
    let root = scratch.path();
    // A directory of another hash scheme, one with no finished fold, one that is no result
    // directory at all.
    let other = root.join("t-other");
    copy_dir(&t.full, &other);
    let info = fs::read_to_string(other.join("runner.json"))
        .unwrap()
        .replace("\"hash_scheme\": 1", "\"hash_scheme\": 0");
    fs::write(other.join("runner.json"), info).unwrap();
    let empty = root.join("t-empty");
    fs::create_dir_all(&empty).unwrap();
    for file in ["config.resolved.toml", "config.canonical.json", "hash", "runner.json"] {
        fs::copy(t.full.join(file), empty.join(file)).unwrap();
    }
    let plain = root.join("plain");
    fs::create_dir_all(&plain).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let run = t.runner(&[
        "report",
        &s(&other),
        &s(&empty),
        &s(&plain),
        &s(&root.join("nowhere")),
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "a partial table is a result: {}", run.stderr);
    assert!(run.stderr.contains("plain: not a result directory"), "{}", run.stderr);
    assert!(run.stderr.contains("nowhere: no such file or directory"), "{}", run.stderr);
    assert!(run.stderr.contains("hash scheme 0"), "{}", run.stderr);
    assert!(run.stderr.contains("no finished fold"), "{}", run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let rows = doc["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["folds_done"], 3);
    assert_eq!(
        (rows[1]["folds_done"].as_u64(), rows[1]["folds_total"].as_u64()),
        (Some(0), Some(3))
    );

    // Nothing to report: a run with no finished fold alone, an experiment not run yet.
    let none = t.runner(&["report", &s(&empty)]);
    assert_eq!(none.code, 1, "{}", none.stderr);
    assert!(none.stdout.contains("0/3 (incomplete)"), "{}", none.stdout);
    assert!(none.stderr.contains("nothing to report"), "{}", none.stderr);
    scratch.write("g.toml", &crate::support::VALID.replace("seed = 1", "seed = 2"));
    let not_run = t.runner(&["report", &s(&root.join("g.toml"))]);
    assert_eq!(not_run.code, 1);
    assert!(not_run.stderr.contains("g.toml: not run yet"), "{}", not_run.stderr);
}

/// Decodes a PNG; returns (width, height, distinct colours, share of non-white pixels).
pub fn png_stats(bytes: &[u8]) -> (u32, u32, usize, f64) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let channels = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks_exact(channels).collect();
    let distinct: std::collections::HashSet<&[u8]> = pixels.iter().copied().collect();
    let inked = pixels.iter().filter(|p| p.iter().take(3).any(|&c| c < 240)).count();
    (info.width, info.height, distinct.len(), inked as f64 / pixels.len() as f64)
}

fn assert_figure(stem: &Path, texts: &[&str]) {
    let png =
        fs::read(stem.with_extension("png")).unwrap_or_else(|e| panic!("{}: {e}", stem.display()));
    let (w, h, colours, inked) = png_stats(&png);
    assert!(w >= 400 && h >= 300, "{}: {w}×{h}", stem.display());
    // Text is rasterised too: antialiased glyphs give many grey levels.
    assert!(
        colours > 20 && inked > 0.01,
        "{}: {colours} colours, {inked:.3} inked",
        stem.display()
    );
    let svg = fs::read_to_string(stem.with_extension("svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{}", stem.display());
    for text in texts {
        assert!(svg.contains(text), "{}: no {text:?}", stem.display());
    }
}

#[test]
fn plots_are_real_images_with_titles_axes_and_legends() {
    let t = trained();
    let copy = t.path().join("plotted");
    copy_dir(&t.full, &copy);
    let run = t.runner(&["plot", copy.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("24 files written"), "{}", run.stdout);
    let name = copy.file_name().unwrap().to_str().unwrap();
    assert_figure(
        &copy.join("fold-1/plots/curves"),
        &[
            &format!("{name} — fold 1: learning curves"),
            "Training loss",
            "epoch",
            "abnormal recall",
            "best epoch",
        ],
    );
    assert_figure(
        &copy.join("fold-1/plots/confusion"),
        &["confusion matrix", "predicted class", "true class", "% of row"],
    );
    assert_figure(
        &copy.join("fold-1/plots/roc-pr"),
        &["ROC, test set", "false-positive rate", "AUROC", "AUPRC", "chance"],
    );
    assert_figure(&copy.join("plots/curves"), &["learning curves, 3 of 3 folds", "fold 2"]);
    assert_figure(&copy.join("plots/roc-pr"), &["fold ensemble (AUROC"]);
    assert_figure(&copy.join("plots/confusion"), &["fold ensemble (3 folds), test", "best fold"]);

    let plots = t.path().join("cross");
    let report = t.runner(&["report", "e.toml", "f.toml", "--plots", plots.to_str().unwrap()]);
    assert_eq!(report.code, 0, "{}", report.stderr);
    assert_figure(&plots.join("roc-overlay"), &["by experiment", "AUROC"]);
    assert_figure(
        &plots.join("metrics-bars"),
        &[
            "Main metrics by experiment",
            "Abnormal recall",
            "(1/3 (incomplete))",
            "test (best fold)",
        ],
    );
}

/// Every file under `dir`, relative to it, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap().flatten() {
            if entry.path().is_dir() {
                stack.push(entry.path());
            } else {
                out.push(entry.path().strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn plot_given_an_experiment_file_redraws_its_result_directory() {
    let t = trained();
    // A copy of the full run under another output root, its figures deleted.
    let name = t.full.file_name().unwrap();
    let copy = t.path().join("elsewhere").join(name);
    copy_dir(&t.full, &copy);
    let figures: Vec<String> =
        files_under(&copy).into_iter().filter(|f| f.contains("plots/")).collect();
    assert!(figures.len() >= 20, "{figures:?}");
    for f in &figures {
        fs::remove_file(copy.join(f)).unwrap();
    }
    let run = t.runner(&["plot", "e.toml", "--set", "runtime.output_root=elsewhere"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let redrawn: Vec<String> =
        files_under(&copy).into_iter().filter(|f| f.contains("plots/")).collect();
    assert_eq!(redrawn, figures);
    assert!(run.stdout.contains(&format!("{} files written", figures.len())), "{}", run.stdout);
    assert_figure(&copy.join("plots/roc-pr"), &["fold ensemble (AUROC"]);
}
