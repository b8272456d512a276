//! `runs.jsonl`: one line when a run starts and one when it ends, appended and fsynced. Under
//! SLURM both lines also name the job, array task, node and restart count of the attempt.

use std::path::Path;
use std::time::SystemTime;

use serde::Serialize;

use super::attempt::SlurmAttempt;
use super::error::{ResultsError, io_err};
use crate::atomic;

pub const RUNS: &str = "runs.jsonl";

#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    /// Identifies the run across its start and end lines.
    pub run: String,
    pub event: &'static str,
    pub time: String,
    pub host: String,
    pub pid: u32,
    pub backend: String,
    pub argv: Vec<String>,
    pub runner_version: &'static str,
    /// The SLURM job this attempt ran in; absent outside SLURM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slurm: Option<SlurmAttempt>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

impl RunRecord {
    pub fn start(backend: String, argv: Vec<String>) -> Self {
        let now = SystemTime::now();
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        let pid = std::process::id();
        RunRecord {
            run: format!("{}-{host}-{pid}", humantime::format_rfc3339_seconds(now)),
            event: "start",
            time: humantime::format_rfc3339_seconds(now).to_string(),
            host,
            pid,
            backend,
            argv,
            runner_version: env!("CARGO_PKG_VERSION"),
            slurm: SlurmAttempt::from_env(),
            exit_status: None,
            outcome: None,
        }
    }

    pub fn end(&self, exit_status: i32, outcome: String) -> Self {
        RunRecord {
            event: "end",
            time: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            exit_status: Some(exit_status),
            outcome: Some(outcome),
            ..self.clone()
        }
    }

    pub fn append(&self, dir: &Path) -> Result<(), ResultsError> {
        let path = dir.join(RUNS);
        let line = serde_json::to_string(self).expect("a run record is JSON");
        atomic::append_line(&path, &line).map_err(io_err(&path))
    }
}
