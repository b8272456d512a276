//! The report as Markdown, CSV, LaTeX (booktabs) or JSON.

use super::cells::{Cells, cells};
use super::{METRICS, Report};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Md,
    Csv,
    Latex,
    Json,
    Html,
}

pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Md => markdown(report),
        Format::Csv => csv(report),
        Format::Latex => latex(report),
        Format::Json => serde_json::to_string_pretty(report).expect("a report is JSON") + "\n",
        Format::Html => super::html(report),
    }
}

fn markdown(report: &Report) -> String {
    let Cells { header, rows } = cells(report);
    let esc = |s: &str| s.replace('|', "\\|");
    let line = |cells: &[String]| {
        format!("| {} |\n", cells.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | "))
    };
    let mut out = line(&header);
    out.push_str(&format!("|{}\n", "---|".repeat(header.len())));
    for row in &rows {
        out.push_str(&line(row));
    }
    out.push_str(&format!("\n{}; {}.\n", report.cv_caption(), report.test_caption()));
    out
}

fn csv(report: &Report) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> =
        ["experiment", "dir", "phase", "approach"].map(String::from).to_vec();
    header.extend(report.changed_keys.iter().cloned());
    header.extend(["folds_done", "folds_total"].map(String::from));
    for m in &METRICS {
        header.extend([
            format!("{}_cv_mean", m.key),
            format!("{}_cv_std", m.key),
            format!("{}_test", m.key),
        ]);
    }
    header.push("test_model".into());
    let _ = w.write_record(&header);
    let num = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v}"));
    for r in &report.rows {
        let mut rec = vec![
            r.experiment.clone(),
            r.dir.display().to_string(),
            r.phase.clone(),
            r.approach.clone(),
        ];
        rec.extend(report.columns.iter().map(|c| {
            if r.config.contains_key(&c.key) { c.cell(&r.config) } else { String::new() }
        }));
        rec.extend([r.folds_done.to_string(), r.folds_total.to_string()]);
        for m in &METRICS {
            let s = (m.summary)(&r.cv);
            rec.extend([
                num(s.map(|s| s.mean)),
                num(s.and_then(|s| s.std)),
                num(r.test.as_ref().and_then(m.value)),
            ]);
        }
        rec.push(r.test_model.clone());
        let _ = w.write_record(&rec);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// Text safe in LaTeX's text mode.
fn tex(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\textbackslash{}"),
            '&' | '%' | '$' | '#' | '_' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '~' => out.push_str("\\textasciitilde{}"),
            '^' => out.push_str("\\textasciicircum{}"),
            '‖' => out.push_str("$\\parallel$"),
            '±' => out.push_str("$\\pm$"),
            '—' => out.push_str("---"),
            c => out.push(c),
        }
    }
    out
}

fn latex(report: &Report) -> String {
    let lead = 4 + report.changed_keys.len();
    let mut out = String::new();
    out.push_str(&format!(
        "% runner report (echo-runner {}); needs \\usepackage{{booktabs}}\n",
        env!("CARGO_PKG_VERSION")
    ));
    out.push_str(&format!("% {}\n% {}\n", report.cv_caption(), report.test_caption()));
    out.push_str(&format!(
        "\\begin{{tabular}}{{{}{}}}\n\\toprule\n",
        "l".repeat(lead),
        "rr".repeat(METRICS.len())
    ));
    let mut first: Vec<String> = ["Experiment", "Phase", "Approach"].map(String::from).to_vec();
    first.extend(report.changed_keys.iter().map(|k| format!("\\texttt{{{}}}", tex(k))));
    first.push("Folds".into());
    first.extend(METRICS.iter().map(|m| format!("\\multicolumn{{2}}{{c}}{{{}}}", m.header)));
    out.push_str(&format!("{} \\\\\n", first.join(" & ")));
    let rules: Vec<String> = (0..METRICS.len())
        .map(|i| format!("\\cmidrule(lr){{{}-{}}}", lead + 1 + 2 * i, lead + 2 + 2 * i))
        .collect();
    out.push_str(&format!("{}\n", rules.join(" ")));
    let mut second = vec![String::new(); lead];
    second.extend(METRICS.iter().flat_map(|_| ["CV".to_owned(), "test".to_owned()]));
    out.push_str(&format!("{} \\\\\n\\midrule\n", second.join(" & ")));
    for row in cells(report).rows {
        let texed: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i >= lead && c.contains('±') {
                    format!("${}$", c.replace('±', "\\pm"))
                } else {
                    tex(c)
                }
            })
            .collect();
        out.push_str(&format!("{} \\\\\n", texed.join(" & ")));
    }
    out.push_str("\\bottomrule\n\\end{tabular}\n");
    out
}
