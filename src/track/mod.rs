//! Tracking a run where researchers already look: TensorBoard event files in every fold's
//! `tensorboard/` folder (always), and an MLflow server (when one is named). The training
//! loop drives both through `train::tracking::Tracker`; `runner track` (re)sends finished or
//! partial result directories to MLflow.

pub mod hparams;
pub mod mlflow;
pub mod tensorboard;

use std::path::Path;
use std::time::Duration;

use crate::config::Loaded;
use crate::train::TrainError;
use crate::train::checkpoint::EpochRecord;
use crate::train::metrics::Metrics;
use crate::train::tracking::{Resume, Tracker};
use mlflow::Mlflow;
use tensorboard::{EventFile, HValue};

/// How long the end of a run waits for MLflow to take what is left.
const MLFLOW_WAIT: Duration = Duration::from_secs(15);

/// The trackers of one run.
pub struct Trackers {
    every: u64,
    hparams: Vec<(String, HValue)>,
    /// The fold being trained, and its event file.
    fold: usize,
    events: Option<EventFile>,
    mlflow: Option<Mlflow>,
    notes: Vec<String>,
}

impl Trackers {
    /// The trackers of a run of `loaded` into the result directory `dir`.
    pub fn new(loaded: &Loaded, dir: &Path) -> Self {
        let tracking = &loaded.experiment.runtime.tracking;
        let (mlflow, notes) = match mlflow::server(tracking.mlflow.as_deref()) {
            Ok(url) => (url.map(|url| Mlflow::start(url, dir)), vec![]),
            Err(e) => (None, vec![format!("{e}: not tracked in MLflow")]),
        };
        Trackers {
            every: u64::from(tracking.tensorboard_every.max(1)),
            hparams: hparams::changed(&loaded.experiment),
            fold: 0,
            events: None,
            mlflow,
            notes,
        }
    }

    /// Once the run's figures and summary are written: MLflow gets them (waiting for it a
    /// bounded time); then what the trackers have to say.
    pub fn finish(mut self) -> Vec<String> {
        let mut notes = std::mem::take(&mut self.notes);
        if let Some(m) = self.mlflow.take() {
            notes.extend(m.finish(MLFLOW_WAIT));
        }
        notes
    }

    fn events(&mut self) -> Result<&mut EventFile, TrainError> {
        self.events
            .as_mut()
            .ok_or_else(|| TrainError::Plan("tracked before the fold started".into()))
    }
}

impl Tracker for Trackers {
    fn fold_started(&mut self, k: usize, fold_dir: &Path, at: Resume) -> Result<(), TrainError> {
        let mut events = EventFile::open(fold_dir, at)?;
        let mut hparams = self.hparams.clone();
        hparams.push(("fold".into(), HValue::Number(k as f64)));
        events.session_start(&hparams)?;
        self.events = Some(events);
        self.fold = k;
        if let Some(m) = &mut self.mlflow {
            m.fold(k);
        }
        Ok(())
    }

    fn step(&mut self, step: u64, loss: f64, lr: f64) -> Result<(), TrainError> {
        if !step.is_multiple_of(self.every) {
            return Ok(());
        }
        let events = self.events()?;
        events.scalar("batch/loss", step as i64, loss)?;
        events.scalar("batch/lr", step as i64, lr)
    }

    fn epoch(&mut self, record: &EpochRecord) -> Result<(), TrainError> {
        self.events()?.epoch(record)?;
        if let Some(m) = &mut self.mlflow {
            m.fold(self.fold);
        }
        Ok(())
    }

    fn checkpointed(&mut self) -> Result<(), TrainError> {
        self.events()?.sync()
    }

    fn fold_finished(&mut self, best_epoch: u32, test: Option<&Metrics>) -> Result<(), TrainError> {
        let events = self.events()?;
        if let Some(test) = test {
            events.metrics("test", i64::from(best_epoch), test)?;
        }
        events.session_end()?;
        events.sync()
    }

    fn fold_ended(&mut self, k: usize) {
        self.events = None;
        if let Some(m) = &mut self.mlflow {
            m.fold(k);
        }
    }

    fn notes(&mut self) -> Vec<String> {
        let mut notes = std::mem::take(&mut self.notes);
        if let Some(m) = &self.mlflow {
            notes.extend(m.notes());
        }
        notes
    }
}
