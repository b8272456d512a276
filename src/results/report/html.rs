//! The report as one self-contained HTML page: the table, each experiment's resolved config
//! folded under its row, the figures inline as SVG. No script, no external file, so it opens
//! from a cluster's shared disk as it is.

use super::cells::{Cells, cells, comparison, ef_errors};
use super::{Line, Report, Row};
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
.wide{overflow-x:auto}td.sig{font-weight:bold;background:#e6f4ea}figure{margin:1em 0}figure svg{max-width:100%;height:auto}.notes{color:#8a5a00}.caption{color:#555;font-size:0.9em}";

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

/// A table row's cells; figures right-aligned, marked differences in bold.
fn html_cells(table: &Cells, k: usize) -> String {
    let mut out = String::new();
    for (i, c) in table.rows[k].iter().enumerate() {
        let class = match (i + 1 >= table.lead, table.marked[k][i]) {
            (_, true) => " class=\"num sig\"",
            (true, false) => " class=\"num\"",
            (false, false) => "",
        };
        out.push_str(&format!("<td{class}>{}</td>", escape(c)));
    }
    out
}

fn html_header(table: &Cells) -> String {
    let mut out = String::from("<div class=\"wide\"><table>\n<thead><tr>");
    for h in &table.header {
        out.push_str(&format!("<th>{}</th>", escape(h)));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    out
}

/// The regression heads' EF errors.
fn ef_errors_html(report: &Report) -> String {
    let Some(table) = ef_errors(report) else { return String::new() };
    let mut out = String::from("<h2>Ejection fraction</h2>\n");
    out.push_str(
        "<p class=\"caption\">regression heads: predicted against true EF, in EF points</p>\n",
    );
    out.push_str(&html_header(&table));
    for k in 0..table.rows.len() {
        out.push_str(&format!("<tr>{}</tr>\n", html_cells(&table, k)));
    }
    out.push_str("</tbody>\n</table></div>\n");
    out
}

/// The differences from the baseline, those with p_holm < 0.05 marked.
fn comparison_html(report: &Report) -> String {
    let Some(table) = comparison(report) else { return String::new() };
    let mut out = String::from("<h2>Differences from the baseline</h2>\n");
    out.push_str(&format!(
        "<p class=\"caption\">baseline: {}; in bold: Holm-adjusted p &lt; 0.05</p>\n",
        escape(
            &report
                .baseline
                .clone()
                .or_else(|| report.baseline_problem.clone())
                .unwrap_or_default()
        )
    ));
    out.push_str(&html_header(&table));
    for k in 0..table.rows.len() {
        out.push_str(&format!("<tr>{}</tr>\n", html_cells(&table, k)));
    }
    out.push_str("</tbody>\n</table></div>\n");
    out.push_str(&format!("<p class=\"caption\">{}.</p>\n", escape(&report.compare_caption())));
    out
}

pub fn html(report: &Report) -> String {
    let table = cells(report);
    let n = table.header.len();
    let mut body = html_header(&table);
    for (k, &line) in report.lines.iter().enumerate() {
        let members: Vec<&Row> = match line {
            Line::Row(r) => vec![&report.rows[r]],
            Line::Group(g) => report.groups[g].rows.iter().map(|&i| &report.rows[i]).collect(),
        };
        let class = if members.iter().all(|r| r.complete()) { "" } else { " class=\"incomplete\"" };
        body.push_str(&format!("<tr{class}>{}</tr>\n", html_cells(&table, k)));
        for row in members {
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
    }
    body.push_str("</tbody>\n</table></div>\n");
    body.push_str(&format!(
        "<p class=\"caption\">{}; {}. {}.</p>\n",
        escape(report.cv_caption()),
        escape(report.test_caption()),
        escape(&report.interval_caption())
    ));
    body.push_str(&ef_errors_html(report));
    body.push_str(&comparison_html(report));
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
