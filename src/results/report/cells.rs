//! The report's tables as text cells, shared by every format that draws a table: the figures
//! (one line per experiment or seed group) and, with a baseline, the differences from it.

use super::compare::{Compare, Delta};
use super::seeds::{SeedGroup, Spread};
use super::{Line, METRICS, Report, Row, mean_std_cell, value_cell, with_interval};

/// A table as text cells: header row, then one row per line of the report.
pub struct Cells {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Per row and cell: a difference whose Holm-adjusted p is below 0.05.
    pub marked: Vec<Vec<bool>>,
    /// How many leading columns name the line (the rest are figures).
    pub lead: usize,
}

/// Whether the table has a Seeds column (some line is a seed group).
fn seeds_column(report: &Report) -> bool {
    !report.groups.is_empty()
}

/// The leading cells of a line: experiment, phase, approach, changed keys (a group's seed
/// column lists its seeds), seeds when grouped.
fn lead_cells(report: &Report, line: Line) -> Vec<String> {
    let (first, group): (&Row, Option<&SeedGroup>) = match line {
        Line::Row(r) => (&report.rows[r], None),
        Line::Group(g) => (&report.rows[report.groups[g].rows[0]], Some(&report.groups[g])),
    };
    let mut out =
        vec![report.line_name(line).to_owned(), first.phase.clone(), first.approach.clone()];
    out.extend(report.columns.iter().map(|c| match group {
        Some(g) if c.key == "experiment.seed" => {
            g.seeds.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ")
        }
        _ => c.cell(&first.config),
    }));
    if seeds_column(report) {
        out.push(group.map_or(1, |g| g.rows.len()).to_string());
    }
    out
}

fn lead_header(report: &Report) -> Vec<String> {
    let mut header: Vec<String> = ["Experiment", "Phase", "Approach"].map(String::from).to_vec();
    header.extend(report.changed_keys.iter().cloned());
    if seeds_column(report) {
        header.push("Seeds".into());
    }
    header
}

/// `0.791 ± 0.012 [0.770, 0.812]` over seeds.
fn spread_cell(s: Option<&Spread>) -> String {
    match s {
        None => "—".into(),
        Some(s) => {
            let text = match s.std {
                Some(sd) => format!("{:.3} ± {sd:.3}", s.mean),
                None => format!("{:.3}", s.mean),
            };
            with_interval(text, s.ci.as_ref())
        }
    }
}

/// The figures table: the leading columns, folds, then CV and test per metric.
pub fn cells(report: &Report) -> Cells {
    let mut header = lead_header(report);
    let lead = header.len() + 1;
    header.push("Folds".into());
    for m in &METRICS {
        header.push(format!("{} (CV)", m.header));
        header.push(format!("{} (test)", m.header));
    }
    let rows: Vec<Vec<String>> = report.lines.iter().map(|&l| line_cells(report, l)).collect();
    let marked = rows.iter().map(|r| vec![false; r.len()]).collect();
    Cells { header, rows, marked, lead }
}

fn line_cells(report: &Report, line: Line) -> Vec<String> {
    let mut out = lead_cells(report, line);
    match line {
        Line::Row(r) => {
            let r = &report.rows[r];
            out.push(r.folds_cell());
            for m in &METRICS {
                out.push(with_interval(mean_std_cell((m.summary)(&r.cv)), r.cv_ci.get(m.key)));
                out.push(with_interval(
                    value_cell(r.test.as_ref().and_then(m.value)),
                    r.test_ci.get(m.key),
                ));
            }
        }
        Line::Group(g) => {
            let g = &report.groups[g];
            let mut folds: Vec<String> =
                g.rows.iter().map(|&i| report.rows[i].folds_cell()).collect();
            folds.dedup();
            out.push(folds.join(", "));
            for m in &METRICS {
                out.push(spread_cell(g.cv.get(m.key)));
                out.push(spread_cell(g.test.get(m.key)));
            }
        }
    }
    out
}

/// The EF errors of the regression rows (those with EF figures): the leading columns, then
/// MAE, RMSE and R² on validation (mean ± std over the folds) and on the test set. `None`
/// when no row regresses the EF.
pub fn ef_errors(report: &Report) -> Option<Cells> {
    let regressing: Vec<&Row> = report
        .rows
        .iter()
        .filter(|r| r.cv.mae.is_some() || r.test.as_ref().is_some_and(|t| t.ef.is_some()))
        .collect();
    if regressing.is_empty() {
        return None;
    }
    let mut header = lead_header(report);
    let lead = header.len();
    for name in ["EF MAE", "EF RMSE", "EF R²"] {
        header.push(format!("{name} (CV)"));
        header.push(format!("{name} (test)"));
    }
    let mut rows = Vec::new();
    for (i, row) in report.rows.iter().enumerate() {
        if !regressing.iter().any(|r| std::ptr::eq(*r, row)) {
            continue;
        }
        let mut cells = lead_cells(report, Line::Row(i));
        let ef = row.test.as_ref().and_then(|t| t.ef);
        for (cv, test) in [
            (row.cv.mae, ef.map(|e| e.mae)),
            (row.cv.rmse, ef.map(|e| e.rmse)),
            (row.cv.r2, ef.and_then(|e| e.r2)),
        ] {
            cells.push(mean_std_cell(cv));
            cells.push(value_cell(test));
        }
        rows.push(cells);
    }
    let marked = rows.iter().map(|r| vec![false; r.len()]).collect();
    Some(Cells { header, rows, marked, lead })
}

/// `p = 0.003`, `p < 0.001`.
pub fn p_text(p: f64) -> String {
    if p < 0.001 { "p < 0.001".into() } else { format!("p = {p:.3}") }
}

/// `+0.037 [+0.012, +0.061], p = 0.004` (with Holm's p when `holm`).
pub fn delta_cell(d: &Delta, holm: bool) -> String {
    let mut out = format!("{:+.3}", d.delta);
    if let Some([lo, hi]) = d.ci {
        out.push_str(&format!(" [{lo:+.3}, {hi:+.3}]"));
    }
    out.push_str(&format!(", {}", p_text(d.p)));
    if holm {
        let q = if d.p_holm < 0.001 { "< 0.001".into() } else { format!("{:.3}", d.p_holm) };
        out.push_str(&format!(" (Holm {q})"));
    }
    out
}

/// The comparisons table: the leading columns, then Δ CV and Δ test per metric; the
/// baseline's line says so, an empty cell why. `None` without a baseline.
pub fn comparison(report: &Report) -> Option<Cells> {
    if !report.compares() {
        return None;
    }
    let mut header = lead_header(report);
    let lead = header.len();
    for m in &METRICS {
        header.push(format!("Δ {} (CV)", m.header));
        header.push(format!("Δ {} (test)", m.header));
    }
    let compared = report.lines.iter().filter(|&&l| report.compare_of(l).is_some()).count();
    let (mut rows, mut marked) = (Vec::new(), Vec::new());
    for &line in &report.lines {
        let mut cells = lead_cells(report, line);
        let mut marks = vec![false; cells.len()];
        let compare: Option<&Compare> = report.compare_of(line);
        for m in &METRICS {
            for section in ["cv", "test"] {
                let (cell, mark) = match compare {
                    None => ("baseline".to_owned(), false),
                    Some(c) => {
                        let found =
                            if section == "cv" { c.cv.get(m.key) } else { c.test.get(m.key) };
                        match found {
                            Some(d) => (delta_cell(d, compared > 1), d.p_holm < 0.05),
                            None => (
                                format!(
                                    "— ({})",
                                    c.why_not(section, m.key).unwrap_or("not compared")
                                ),
                                false,
                            ),
                        }
                    }
                };
                cells.push(cell);
                marks.push(mark);
            }
        }
        rows.push(cells);
        marked.push(marks);
    }
    Some(Cells { header, rows, marked, lead })
}
