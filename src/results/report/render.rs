//! The report as Markdown, CSV, LaTeX (booktabs) or JSON.

use super::cells::{Cells, cells, comparison, ef_errors};
use super::compare::Delta;
use super::{Line, METRICS, Report};

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

fn markdown_table(table: &Cells) -> String {
    let esc = |s: &str| s.replace('|', "\\|");
    let line = |cells: &[String]| {
        format!("| {} |\n", cells.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | "))
    };
    let mut out = line(&table.header);
    out.push_str(&format!("|{}\n", "---|".repeat(table.header.len())));
    for row in &table.rows {
        out.push_str(&line(row));
    }
    out
}

fn markdown(report: &Report) -> String {
    let mut out = markdown_table(&cells(report));
    out.push_str(&format!(
        "\n{}; {}.\n{}.\n",
        report.cv_caption(),
        report.test_caption(),
        report.interval_caption()
    ));
    if let Some(table) = ef_errors(report) {
        out.push_str("\nEjection fraction of the regression heads (EF points; R² on the EF):\n\n");
        out.push_str(&markdown_table(&table));
    }
    if let Some(table) = comparison(report) {
        out.push_str(&format!("\nDifferences from the baseline, {}:\n\n", baseline_name(report)));
        out.push_str(&markdown_table(&table));
        out.push_str(&format!("\n{}.\n", report.compare_caption()));
    }
    out
}

/// The baseline's name, or why there is none.
fn baseline_name(report: &Report) -> String {
    match (&report.baseline, &report.baseline_problem) {
        (Some(name), _) => name.clone(),
        (None, Some(why)) => format!("none ({why})"),
        (None, None) => "none".into(),
    }
}

fn csv(report: &Report) -> String {
    let grouped = !report.groups.is_empty();
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> =
        ["experiment", "dir", "phase", "approach"].map(String::from).to_vec();
    header.extend(report.changed_keys.iter().cloned());
    if grouped {
        header.push("seeds".into());
    }
    header.extend(["folds_done", "folds_total"].map(String::from));
    for m in &METRICS {
        let k = m.key;
        header.extend([
            format!("{k}_cv_mean"),
            format!("{k}_cv_std"),
            format!("{k}_cv_lo"),
            format!("{k}_cv_hi"),
            format!("{k}_test"),
        ]);
        if grouped {
            header.push(format!("{k}_test_std"));
        }
        header.extend([format!("{k}_test_lo"), format!("{k}_test_hi")]);
    }
    // The EF errors of regression heads, where any row has them.
    let regresses = ef_errors(report).is_some();
    if regresses {
        for k in ["ef_mae", "ef_rmse", "ef_r2"] {
            header.extend([format!("{k}_cv_mean"), format!("{k}_cv_std"), format!("{k}_test")]);
        }
    }
    header.push("test_model".into());
    let compares = report.compares();
    if compares {
        header.push("baseline".into());
        for m in &METRICS {
            for section in ["cv", "test"] {
                let stem = format!("{}_{section}", m.key);
                for field in ["delta", "delta_lo", "delta_hi", "p", "p_holm", "method", "skipped"] {
                    header.push(format!("{stem}_{field}"));
                }
            }
        }
    }
    let _ = w.write_record(&header);
    let num = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v}"));
    let lead_cells = cells(report);
    for (&line, cells) in report.lines.iter().zip(&lead_cells.rows) {
        let mut rec = vec![report.line_name(line).to_owned()];
        match line {
            Line::Row(i) => {
                let r = &report.rows[i];
                rec.extend([r.dir.display().to_string(), r.phase.clone(), r.approach.clone()]);
                rec.extend(report.columns.iter().map(|c| {
                    if r.config.contains_key(&c.key) { c.cell(&r.config) } else { String::new() }
                }));
                if grouped {
                    rec.push("1".into());
                }
                rec.extend([r.folds_done.to_string(), r.folds_total.to_string()]);
                for m in &METRICS {
                    let s = (m.summary)(&r.cv);
                    let (cv, test) = (r.cv_ci.get(m.key), r.test_ci.get(m.key));
                    rec.extend([
                        num(s.map(|s| s.mean)),
                        num(s.and_then(|s| s.std)),
                        num(cv.map(|c| c[0])),
                        num(cv.map(|c| c[1])),
                        num(r.test.as_ref().and_then(m.value)),
                    ]);
                    if grouped {
                        rec.push(String::new());
                    }
                    rec.extend([num(test.map(|c| c[0])), num(test.map(|c| c[1]))]);
                }
                if regresses {
                    let ef = r.test.as_ref().and_then(|t| t.ef);
                    for (cv, test) in [
                        (r.cv.mae, ef.map(|e| e.mae)),
                        (r.cv.rmse, ef.map(|e| e.rmse)),
                        (r.cv.r2, ef.and_then(|e| e.r2)),
                    ] {
                        rec.extend([
                            num(cv.map(|s| s.mean)),
                            num(cv.and_then(|s| s.std)),
                            num(test),
                        ]);
                    }
                }
                rec.push(r.test_model.clone());
            }
            Line::Group(g) => {
                let g = &report.groups[g];
                let members: Vec<&super::Row> = g.rows.iter().map(|&i| &report.rows[i]).collect();
                let dirs: Vec<String> =
                    members.iter().map(|r| r.dir.display().to_string()).collect();
                rec.push(dirs.join(" "));
                // The phase, approach and changed keys as the table shows them.
                rec.extend(cells[1..lead_cells.lead - 1].iter().cloned());
                rec.extend([
                    members.iter().map(|r| r.folds_done).sum::<usize>().to_string(),
                    members.iter().map(|r| r.folds_total).sum::<usize>().to_string(),
                ]);
                for m in &METRICS {
                    let (cv, test) = (g.cv.get(m.key), g.test.get(m.key));
                    rec.extend([
                        num(cv.map(|s| s.mean)),
                        num(cv.and_then(|s| s.std)),
                        num(cv.and_then(|s| s.ci).map(|c| c[0])),
                        num(cv.and_then(|s| s.ci).map(|c| c[1])),
                        num(test.map(|s| s.mean)),
                        num(test.and_then(|s| s.std)),
                        num(test.and_then(|s| s.ci).map(|c| c[0])),
                        num(test.and_then(|s| s.ci).map(|c| c[1])),
                    ]);
                }
                if regresses {
                    // Seed groups summarise the classification figures only.
                    rec.extend(std::iter::repeat_n(String::new(), 9));
                }
                let mut models: Vec<&str> = members.iter().map(|r| r.test_model.as_str()).collect();
                models.dedup();
                rec.push(models.join("; "));
            }
        }
        if compares {
            let c = report.compare_of(line);
            rec.push(c.map_or_else(|| "(this row)".to_owned(), |c| c.baseline.clone()));
            for m in &METRICS {
                for section in ["cv", "test"] {
                    let d: Option<&Delta> = c.and_then(|c| {
                        if section == "cv" { c.cv.get(m.key) } else { c.test.get(m.key) }
                    });
                    rec.extend([
                        num(d.map(|d| d.delta)),
                        num(d.and_then(|d| d.ci).map(|c| c[0])),
                        num(d.and_then(|d| d.ci).map(|c| c[1])),
                        num(d.map(|d| d.p)),
                        num(d.map(|d| d.p_holm)),
                        d.map_or(String::new(), |d| d.method.to_owned()),
                        c.and_then(|c| c.why_not(section, m.key))
                            .filter(|_| d.is_none())
                            .unwrap_or("")
                            .to_owned(),
                    ]);
                }
            }
        }
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
            '<' => out.push_str("$<$"),
            '>' => out.push_str("$>$"),
            '×' => out.push_str("$\\times$"),
            'Δ' => out.push_str("$\\Delta$"),
            '−' => out.push_str("$-$"),
            c => out.push(c),
        }
    }
    out
}

/// One booktabs tabular: the leading columns, then the figures in pairs (CV, test) under
/// each metric's name.
fn tabular(
    table: &Cells,
    keys: &[String],
    lead: usize,
    metric_header: impl Fn(&str) -> String,
) -> String {
    let mut out = format!(
        "\\begin{{tabular}}{{{}{}}}\n\\toprule\n",
        "l".repeat(lead),
        "rr".repeat(METRICS.len())
    );
    let mut first: Vec<String> = table.header[..lead]
        .iter()
        .map(|h| if keys.contains(h) { format!("\\texttt{{{}}}", tex(h)) } else { tex(h) })
        .collect();
    first.extend(
        METRICS.iter().map(|m| format!("\\multicolumn{{2}}{{c}}{{{}}}", metric_header(m.header))),
    );
    out.push_str(&format!("{} \\\\\n", first.join(" & ")));
    let rules: Vec<String> = (0..METRICS.len())
        .map(|i| format!("\\cmidrule(lr){{{}-{}}}", lead + 1 + 2 * i, lead + 2 + 2 * i))
        .collect();
    out.push_str(&format!("{}\n", rules.join(" ")));
    let mut second = vec![String::new(); lead];
    second.extend(METRICS.iter().flat_map(|_| ["CV".to_owned(), "test".to_owned()]));
    out.push_str(&format!("{} \\\\\n\\midrule\n", second.join(" & ")));
    for row in &table.rows {
        let texed: Vec<String> = row.iter().map(|c| tex(c)).collect();
        out.push_str(&format!("{} \\\\\n", texed.join(" & ")));
    }
    out.push_str("\\bottomrule\n\\end{tabular}\n");
    out
}

fn latex(report: &Report) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "% runner report (echo-runner {}); needs \\usepackage{{booktabs}}\n",
        env!("CARGO_PKG_VERSION")
    ));
    out.push_str(&format!(
        "% {}\n% {}\n% {}\n",
        report.cv_caption(),
        report.test_caption(),
        report.interval_caption()
    ));
    let table = cells(report);
    out.push_str(&tabular(&table, &report.changed_keys, table.lead, |h| h.to_owned()));
    if let Some(diff) = comparison(report) {
        out.push_str(&format!(
            "\n% differences from the baseline, {}\n% {}\n",
            baseline_name(report),
            report.compare_caption()
        ));
        out.push_str(&tabular(&diff, &report.changed_keys, diff.lead, |h| {
            format!("$\\Delta$ {h}")
        }));
    }
    out
}
