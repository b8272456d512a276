//! What a run's model learns, from its head's `task`: the class (two logits, cross-entropy) or
//! the ejection fraction (one output, mean squared error). Everything downstream ranks and
//! thresholds one score per video: P(abnormal), or for a regression head how far the predicted
//! EF lies outside the label rule's normal range (EF points; positive: abnormal).

use burn::prelude::*;
use burn::tensor::activation::softmax;

use super::error::TrainError;
use super::metrics::{Metrics, MetricsError, ef_errors, log_loss, mse};
use crate::data::labels::{Class, LabelRule};
use crate::model::HeadTask;

#[derive(Debug, Clone, PartialEq)]
pub enum Objective {
    Classify,
    RegressEf(LabelRule),
}

impl Objective {
    pub fn new(task: HeadTask, rule: &LabelRule) -> Self {
        match task {
            HeadTask::Classify => Objective::Classify,
            HeadTask::RegressEf => Objective::RegressEf(rule.clone()),
        }
    }

    pub fn regresses(&self) -> bool {
        matches!(self, Objective::RegressEf(_))
    }

    /// The score at and above which a video is predicted abnormal: P = 0.5, or 0 EF points
    /// outside the normal range (a predicted EF exactly on a bound counts as abnormal, the
    /// `score ≥ threshold` convention of sklearn's curves).
    pub fn threshold(&self) -> f64 {
        match self {
            Objective::Classify => 0.5,
            Objective::RegressEf(_) => 0.0,
        }
    }

    /// One model output per video (P(abnormal) or the predicted EF) → its score.
    pub fn score(&self, output: f64) -> f64 {
        match self {
            Objective::Classify => output,
            Objective::RegressEf(rule) => outside_normal(rule, output),
        }
    }

    /// The metrics of `outputs` (one per video: P(abnormal) or the predicted EF) against the
    /// videos' classes and EFs at `threshold` on the score, with the objective's loss and, for
    /// a regression head, the EF errors.
    pub fn metrics(
        &self,
        labels: &[Class],
        ef: &[f64],
        outputs: &[f64],
        threshold: f64,
    ) -> Result<Metrics, MetricsError> {
        let scores: Vec<f64> = outputs.iter().map(|&o| self.score(o)).collect();
        let mut m = Metrics::compute(labels, &scores, threshold)?;
        match self {
            Objective::Classify => m.loss = Some(log_loss(labels, outputs)),
            Objective::RegressEf(_) => {
                m.loss = Some(mse(ef, outputs));
                m.ef = ef_errors(ef, outputs);
            }
        }
        Ok(m)
    }

    /// The model's raw outputs `[B, outputs]` → one value per row: P(abnormal) (softmax of
    /// the two logits) or the predicted EF.
    pub fn outputs<B: Backend>(&self, out: Tensor<B, 2>) -> Result<Vec<f64>, TrainError> {
        let rows = out.dims()[0];
        let values = match self {
            Objective::Classify => softmax(out, 1).slice([0..rows, 1..2]),
            Objective::RegressEf(_) => out,
        };
        let values: Vec<f32> = values
            .into_data()
            .convert::<f32>()
            .to_vec()
            .map_err(|e| TrainError::Model(format!("{e:?}")))?;
        Ok(values.into_iter().map(f64::from).collect())
    }
}

/// EF points outside the normal range: `max(normal_min − ef, ef − normal_max)` for the band,
/// `threshold − ef` for `below`; positive exactly where the rule says abnormal.
pub fn outside_normal(rule: &LabelRule, ef: f64) -> f64 {
    match *rule {
        LabelRule::Band { normal_min, normal_max } => (normal_min - ef).max(ef - normal_max),
        LabelRule::Below { threshold } => threshold - ef,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_score_is_positive_exactly_where_the_rule_says_abnormal() {
        let band = LabelRule::Band { normal_min: 50.0, normal_max: 70.0 };
        let below = LabelRule::Below { threshold: 40.0 };
        assert_eq!(outside_normal(&band, 45.0), 5.0);
        assert_eq!(outside_normal(&band, 73.5), 3.5);
        assert_eq!(outside_normal(&band, 60.0), -10.0);
        assert_eq!(outside_normal(&below, 31.0), 9.0);
        for rule in [band, below] {
            for ef in (0..=200).map(|i| f64::from(i) * 0.5 + 0.25) {
                let abnormal = rule.classify(ef) == Some(Class::Abnormal);
                assert_eq!(outside_normal(&rule, ef) > 0.0, abnormal, "{rule:?} at EF {ef}");
            }
        }
    }

    /// MAE, RMSE, R² and the band rule's AUROC of the distance outside normal, against
    /// scikit-learn (`fixtures/make_ef_errors.py`).
    #[test]
    fn regression_metrics_match_sklearn() {
        let reference: serde_json::Value =
            serde_json::from_str(include_str!("fixtures/ef_errors.json")).unwrap();
        let floats = |v: &serde_json::Value| -> Vec<f64> {
            v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
        };
        let objective = Objective::RegressEf(LabelRule::default());
        for case in reference["cases"].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let (truth, predicted) = (floats(&case["truth"]), floats(&case["predicted"]));
            let rule = LabelRule::default();
            let labels: Vec<Class> = truth.iter().map(|&e| rule.classify(e).unwrap()).collect();
            let m = objective.metrics(&labels, &truth, &predicted, 0.0).unwrap();
            let ef = m.ef.expect("EF errors");
            let close = |a: f64, b: &serde_json::Value| (a - b.as_f64().unwrap()).abs() < 1e-12;
            assert!(close(ef.mae, &case["mae"]), "{name}: MAE {}", ef.mae);
            assert!(close(ef.rmse, &case["rmse"]), "{name}: RMSE {}", ef.rmse);
            assert!(close(ef.r2.unwrap(), &case["r2"]), "{name}: R² {:?}", ef.r2);
            assert!(close(m.loss.unwrap(), &serde_json::json!(ef.rmse * ef.rmse)), "{name}: MSE");
            match case["band_auroc"].as_f64() {
                Some(want) => assert!((m.auroc.unwrap() - want).abs() < 1e-12, "{name}: AUROC"),
                None => assert_eq!(m.auroc, None, "{name}: one class, no AUROC"),
            }
            // Predicted abnormal exactly where the predicted EF is outside 50–70.
            for (i, &p) in predicted.iter().enumerate() {
                let outside = rule.classify(p) == Some(Class::Abnormal);
                assert_eq!(objective.score(p) > 0.0, outside, "{name}: video {i}");
            }
        }
    }

    #[test]
    fn regression_outputs_are_the_ef_and_classification_outputs_a_probability() {
        use burn::backend::Flex;
        let device = Default::default();
        let two = Tensor::<Flex, 2>::from_floats([[0.0, 0.0], [0.0, 2.0_f32.ln()]], &device);
        let probs = Objective::Classify.outputs(two).unwrap();
        assert!((probs[0] - 0.5).abs() < 1e-6 && (probs[1] - 2.0 / 3.0).abs() < 1e-6);
        let one = Tensor::<Flex, 2>::from_floats([[55.5], [31.0]], &device);
        let regress = Objective::RegressEf(LabelRule::default());
        assert_eq!(regress.outputs(one).unwrap(), [55.5, 31.0]);
        assert_eq!(regress.score(31.0), 19.0);
    }
}
