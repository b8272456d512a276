//! Holm–Bonferroni step-down adjustment of a family of p-values.

/// Adjusted p-values in the input's order: sorted ascending, `p_(i) · (m − i + 1)` (1-based
/// i), made non-decreasing by a running maximum and capped at 1 (statsmodels'
/// `multipletests(method="holm")`). Equal p-values keep their input order.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut out = vec![0.0; m];
    let mut running = 0.0_f64;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max((p[i] * (m - rank) as f64).min(1.0));
        out[i] = running;
    }
    out
}
