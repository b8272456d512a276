//! The report's table as text cells, shared by every format that draws a table.

use super::{METRICS, Report, Row, mean_std_cell, value_cell};

/// The table as text cells: header row, then one row per experiment.
pub struct Cells {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// The leading columns (experiment, phase, approach, changed keys, folds), then CV and test
/// per metric.
pub fn cells(report: &Report) -> Cells {
    let mut header: Vec<String> = ["Experiment", "Phase", "Approach"].map(String::from).to_vec();
    header.extend(report.changed_keys.iter().cloned());
    header.push("Folds".into());
    for m in &METRICS {
        header.push(format!("{} (CV)", m.header));
        header.push(format!("{} (test)", m.header));
    }
    let rows = report.rows.iter().map(|r| row_cells(report, r)).collect();
    Cells { header, rows }
}

fn row_cells(report: &Report, r: &Row) -> Vec<String> {
    let mut out = vec![r.experiment.clone(), r.phase.clone(), r.approach.clone()];
    out.extend(report.columns.iter().map(|c| c.cell(&r.config)));
    out.push(r.folds_cell());
    for m in &METRICS {
        out.push(mean_std_cell((m.summary)(&r.cv)));
        out.push(value_cell(r.test.as_ref().and_then(m.value)));
    }
    out
}
