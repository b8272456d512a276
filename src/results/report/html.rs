//! The report as one self-contained HTML page: the table, each experiment's resolved config
//! folded under its row, the figures inline as SVG. No script, no external file, so it opens
//! from a cluster's shared disk as it is.

use super::cells::cells;
use super::{Report, Row};
use crate::results::plots::{ConfusionFigure, Figure, run_curves, svg_string};
use crate::results::view::RunView;

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em;color:#1a1a1a;background:#fff}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em}
table{border-collapse:collapse;font-size:0.92em}
th,td{border-bottom:1px solid #ccc;padding:0.35em 0.7em;text-align:left;vertical-align:top}
th{background:#eef3f8}td:first-child{white-space:nowrap}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.incomplete td{color:#8a5a00}tr.config td{border-bottom:2px solid #9ab}
details summary{cursor:pointer;color:#245}pre{background:#f6f8fa;padding:0.8em;overflow:auto;font-size:0.85em}
.wide{overflow-x:auto}figure{margin:1em 0}figure svg{max-width:100%;height:auto}.notes{color:#8a5a00}.caption{color:#555;font-size:0.9em}";

fn figure(fig: &impl Figure, caption: &str) -> String {
    match svg_string(fig) {
        Ok(svg) => format!(
            "<figure>{svg}<figcaption class=\"caption\">{}</figcaption></figure>\n",
            escape(caption)
        ),
        Err(e) => {
            format!("<p class=\"notes\">{}: {}</p>\n", escape(caption), escape(&e.to_string()))
        }
    }
}

/// The figures of one experiment shown under its config: learning curves and confusion
/// matrices of its finished folds.
fn row_figures(row: &Row) -> String {
    let Ok(view) = RunView::open(&row.dir) else { return String::new() };
    if view.done().is_empty() {
        return String::new();
    }
    let mut out = figure(&run_curves(&view), "learning curves of the finished folds");
    if let Some(t) = &row.test {
        let fig = ConfusionFigure {
            title: format!("{}: test set ({})", row.experiment, row.test_model),
            matrices: vec![(format!("threshold {:.2}", t.threshold), t.confusion)],
        };
        out.push_str(&figure(&fig, "confusion matrix of the test figures in the table"));
    }
    out
}

pub fn html(report: &Report) -> String {
    let table = cells(report);
    let n = table.header.len();
    let lead = 4 + report.changed_keys.len();
    let mut body = String::new();
    body.push_str("<div class=\"wide\"><table>\n<thead><tr>");
    for h in &table.header {
        body.push_str(&format!("<th>{}</th>", escape(h)));
    }
    body.push_str("</tr></thead>\n<tbody>\n");
    for (row, cells) in report.rows.iter().zip(&table.rows) {
        let class = if row.complete() { "" } else { " class=\"incomplete\"" };
        body.push_str(&format!("<tr{class}>"));
        for (i, c) in cells.iter().enumerate() {
            let num = if i >= lead - 1 { " class=\"num\"" } else { "" };
            body.push_str(&format!("<td{num}>{}</td>", escape(c)));
        }
        body.push_str("</tr>\n");
        body.push_str(&format!(
            "<tr class=\"config\"><td colspan=\"{n}\"><details><summary>{} — resolved config, figures</summary>\
             <p class=\"caption\">{}; test figures: {}</p><pre>{}</pre>{}</details></td></tr>\n",
            escape(&row.experiment),
            escape(&row.dir.display().to_string()),
            escape(if row.test_model.is_empty() { "none yet" } else { &row.test_model }),
            escape(&row.resolved_toml),
            row_figures(row)
        ));
    }
    body.push_str("</tbody>\n</table></div>\n");
    body.push_str(&format!(
        "<p class=\"caption\">{}; {}.</p>\n",
        escape(report.cv_caption()),
        escape(report.test_caption())
    ));
    let notes: Vec<String> = report
        .rows
        .iter()
        .flat_map(|r| r.notes.iter().cloned())
        .chain(report.problems.iter().cloned())
        .collect();
    if !notes.is_empty() {
        body.push_str("<ul class=\"notes\">");
        for note in notes {
            body.push_str(&format!("<li>{}</li>", escape(&note)));
        }
        body.push_str("</ul>\n");
    }
    body.push_str("<h2>Figures</h2>\n");
    if let Some(fig) = report.overlay() {
        body.push_str(&figure(&fig, "each experiment's test-set ROC and precision-recall curves"));
    }
    if report.has_figures() {
        body.push_str(&figure(
            &report.bars(),
            "bars: CV mean with ± std whiskers; triangles: test figures",
        ));
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>echo-runner report</title>\n<style>\n{STYLE}\n</style>\n</head>\n<body>\n\
         <h1>echo-runner report</h1>\n<p class=\"caption\">{} experiment(s); runner {}</p>\n{body}</body>\n</html>\n",
        report.rows.len(),
        env!("CARGO_PKG_VERSION")
    )
}
