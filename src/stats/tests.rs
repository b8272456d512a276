//! The statistics against reference values of independent implementations (R's pROC, scipy,
//! statsmodels, numpy, scikit-learn), from `fixtures/make_reference.py`.

use serde_json::Value;

use super::*;
use crate::data::labels::Class;
use crate::train::metrics::{Metrics, auroc};

fn reference() -> Value {
    serde_json::from_str(include_str!("fixtures/reference.json")).expect("reference.json")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().expect("an array").iter().map(|x| x.as_f64().expect("a number")).collect()
}

fn labels(v: &Value) -> Vec<bool> {
    v.as_array().expect("labels").iter().map(|x| x.as_u64() == Some(1)).collect()
}

fn f(v: &Value) -> f64 {
    v.as_f64().expect("a number")
}

fn assert_close(ours: f64, theirs: f64, tol: f64, what: &str) {
    assert!((ours - theirs).abs() <= tol, "{what}: {ours} vs {theirs}");
}

#[test]
fn delong_matches_proc_with_ties_a_perfect_separator_and_a_tiny_set() {
    for case in reference()["delong"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (y, a, b) = (labels(&case["labels"]), floats(&case["a"]), floats(&case["b"]));
        let d = delong(&y, &a, &b).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_close(d.auc_a, f(&case["auc_a"]), 1e-12, name);
        assert_close(d.auc_b, f(&case["auc_b"]), 1e-12, name);
        assert_close(d.var, f(&case["var"]), 1e-12 * f(&case["var"]).max(1e-3), name);
        assert_close(d.z, f(&case["z"]), 1e-9, name);
        // p: relative, as the large case's is 1e-10.
        assert!((d.p / f(&case["p"]) - 1.0).abs() < 1e-6, "{name}: p {} vs {}", d.p, case["p"]);
        let half = 1.959963984540054 * d.var.sqrt();
        assert_close(d.ci.0, d.delta - half, 1e-12, name);
        // The Mann–Whitney AUROC of the metrics module agrees.
        let classes: Vec<Class> =
            y.iter().map(|&l| if l { Class::Abnormal } else { Class::Normal }).collect();
        assert_close(auroc(&classes, &a).unwrap(), d.auc_a, 1e-12, name);
    }
}

#[test]
fn delong_refuses_one_class_and_too_few_videos_and_accepts_identical_rankings() {
    let one = delong(&[false, false, false], &[0.1, 0.2, 0.3], &[0.3, 0.2, 0.1]).unwrap_err();
    assert_eq!(one.to_string(), "only negative (normal) videos: DeLong's test needs both classes");
    let few = delong(&[true, false, false], &[0.9, 0.2, 0.3], &[0.3, 0.2, 0.1]).unwrap_err();
    assert!(matches!(few, StatsError::TooFew { need: 2, have: 1, .. }), "{few}");
    let y = [true, true, false, false, false];
    let s = [0.9, 0.4, 0.5, 0.2, 0.1];
    let same = delong(&y, &s, &s).unwrap();
    assert_eq!((same.delta, same.p, same.ci), (0.0, 1.0, (0.0, 0.0)));
    // Two perfect separators: both AUROC 1, no variance, no difference.
    let perfect = delong(&y, &[0.9, 0.8, 0.3, 0.2, 0.1], &[0.7, 0.6, 0.5, 0.4, 0.3]).unwrap();
    assert_eq!((perfect.auc_a, perfect.auc_b, perfect.p), (1.0, 1.0, 1.0));
    assert!(delong(&y, &s, &s[..4]).is_err());
}

#[test]
fn exact_mcnemar_matches_statsmodels() {
    for case in reference()["mcnemar"].as_array().unwrap() {
        let (b, c) = (case["b"].as_u64().unwrap(), case["c"].as_u64().unwrap());
        assert_close(mcnemar_exact(b, c), f(&case["p"]), 1e-10, &format!("b={b} c={c}"));
        assert_eq!(mcnemar_exact(b, c), mcnemar_exact(c, b));
    }
    let m = mcnemar(&[true, true, false, true], &[false, true, true, false]).unwrap();
    assert_eq!((m.only_a, m.only_b), (2, 1));
    assert_close(m.p, 1.0, 1e-12, "2 vs 1");
    assert!(mcnemar(&[], &[]).is_err() && mcnemar(&[true], &[true, false]).is_err());
}

#[test]
fn corrected_t_and_t_intervals_match_scipy() {
    let r = reference();
    for case in r["corrected_t"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let t = corrected_t(&floats(&case["d"]), f(&case["ratio"])).unwrap();
        assert_close(t.t, f(&case["t"]), 1e-10, name);
        assert_close(t.p, f(&case["p"]), 1e-10, name);
        let ci = floats(&case["ci"]);
        assert_close(t.ci.0, ci[0], 1e-10, name);
        assert_close(t.ci.1, ci[1], 1e-10, name);
        assert_eq!(t.df, (case["d"].as_array().unwrap().len() - 1) as f64);
    }
    for case in r["t_interval"].as_array().unwrap() {
        let ci = t_interval(&floats(&case["values"])).unwrap();
        let theirs = floats(&case["ci"]);
        assert_close(ci.0, theirs[0], 1e-10, "t-interval low");
        assert_close(ci.1, theirs[1], 1e-10, "t-interval high");
    }
    assert!(matches!(t_interval(&[0.8]), Err(StatsError::TooFew { need: 2, have: 1, .. })));
    assert!(corrected_t(&[0.1], 0.5).is_err());
    // Every fold the same difference: no spread to test against.
    assert!(matches!(corrected_t(&[0.02, 0.02, 0.02], 0.5), Err(StatsError::NoSpread(_))));
    assert_eq!(corrected_t(&[0.0, 0.0], 1.0).unwrap().p, 1.0);
}

#[test]
fn holm_matches_statsmodels() {
    for case in reference()["holm"].as_array().unwrap() {
        let ours = holm(&floats(&case["p"]));
        let theirs = floats(&case["holm"]);
        assert_eq!(ours.len(), theirs.len());
        for (o, t) in ours.iter().zip(&theirs) {
            assert_close(*o, *t, 1e-12, &format!("{}", case["p"]));
        }
    }
}

#[test]
fn percentile_interval_matches_numpy() {
    for case in reference()["percentile"].as_array().unwrap() {
        let ci = percentile_interval(&floats(&case["values"])).unwrap();
        let theirs = floats(&case["ci"]);
        assert_close(ci.0, theirs[0], 1e-12, "2.5th percentile");
        assert_close(ci.1, theirs[1], 1e-12, "97.5th percentile");
    }
    assert!(percentile_interval(&[]).is_err() && bootstrap_p(&[]).is_err());
}

#[test]
fn the_stratified_bootstrap_matches_numpy_within_monte_carlo_error() {
    let r = reference();
    let case = &r["bootstrap"];
    let y = labels(&case["labels"]);
    let (a, b) = (floats(&case["a"]), floats(&case["b"]));
    let classes: Vec<Class> =
        y.iter().map(|&l| if l { Class::Abnormal } else { Class::Normal }).collect();
    let plan = Stratified::new(&y, 7);
    // Every resample keeps the class counts.
    let one = plan.resample(3);
    assert_eq!(one.len(), y.len());
    assert_eq!(one.iter().filter(|&&i| y[i]).count(), 60);
    let resamples = case["resamples"].as_u64().unwrap() as usize;
    let pick = |s: &[f64], idx: &[usize]| -> Vec<f64> { idx.iter().map(|&i| s[i]).collect() };
    let dist = plan.distribution(resamples, 3, |idx| {
        let yy: Vec<Class> = idx.iter().map(|&i| classes[i]).collect();
        let ma = Metrics::compute(&yy, &pick(&a, idx), 0.5).ok();
        let mb = Metrics::compute(&yy, &pick(&b, idx), 0.5).ok();
        vec![
            ma.as_ref().and_then(|m| m.auroc),
            ma.as_ref().map(|m| m.accuracy),
            ma.zip(mb).map(|(ma, mb)| mb.balanced_accuracy - ma.balanced_accuracy),
        ]
    });
    assert!(dist.iter().all(|d| d.len() == resamples));
    // Two independent 20,000-resample estimates of a 2.5 % quantile of a statistic whose
    // bootstrap spread is ≈ 0.03 differ by about 0.001.
    for (k, key) in ["auroc_ci", "accuracy_ci", "balanced_accuracy_delta_ci"].iter().enumerate() {
        let ours = percentile_interval(&dist[k]).unwrap();
        let theirs = floats(&case[key]);
        assert_close(ours.0, theirs[0], 0.006, key);
        assert_close(ours.1, theirs[1], 0.006, key);
    }
    let p = bootstrap_p(&dist[2]).unwrap();
    assert_close(p, f(&case["balanced_accuracy_delta_p"]), 0.02, "paired bootstrap p");
    // The same seed gives the same distribution, whatever the thread count.
    let again = plan.distribution(50, 1, |idx| vec![Some(idx.iter().sum::<usize>() as f64)]);
    let serial: Vec<f64> = (0..50).map(|r| plan.resample(r).iter().sum::<usize>() as f64).collect();
    assert_eq!(again[0], serial);
    assert_ne!(Stratified::new(&y, 8).resample(3), one);
}

#[test]
fn bootstrap_p_counts_both_sides_and_is_never_zero() {
    assert_eq!(bootstrap_p(&[0.0; 9]).unwrap(), 1.0);
    assert_close(bootstrap_p(&[0.1; 9]).unwrap(), 0.2, 1e-12, "all above zero");
    assert_close(bootstrap_p(&[-0.1, 0.1, 0.2, 0.3]).unwrap(), 0.8, 1e-12, "one of four below");
}
