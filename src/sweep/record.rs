//! The sweep's own record in `<output_root>/sweeps/<name>-<hash12>/`: `sweep.json` (its
//! members, their hashes and result directories, and where each stands) and the table of the
//! whole sweep, each written atomically.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::expand::Sweep;
use super::state::MemberState;
use crate::atomic;

pub const SWEEP_RECORD: &str = "sweep.json";
pub const REPORT_MD: &str = "report.md";
pub const REPORT_HTML: &str = "report.html";

#[derive(Serialize)]
struct Record<'a> {
    name: &'a str,
    digest: &'a str,
    file: Option<&'a Path>,
    baseline: Option<usize>,
    members: Vec<MemberRecord>,
}

#[derive(Serialize)]
struct MemberRecord {
    index: usize,
    experiment: String,
    file: PathBuf,
    grid: serde_json::Map<String, Value>,
    digest: String,
    dir: PathBuf,
    #[serde(flatten)]
    state: MemberState,
}

impl Sweep {
    /// Writes `sweep.json` with every member's state as its directory shows it now (not as
    /// this process remembers it, so two sweeps at work on one record agree).
    pub fn write_record(&self) -> std::io::Result<PathBuf> {
        let dir = self.dir();
        std::fs::create_dir_all(&dir)?;
        let record = Record {
            name: &self.name,
            digest: &self.digest,
            file: self.file.as_deref(),
            baseline: self.baseline,
            members: self
                .members
                .iter()
                .map(|m| MemberRecord {
                    index: m.index,
                    experiment: m.loaded.experiment.experiment.name.clone(),
                    file: m.file.clone(),
                    grid: m.grid.iter().cloned().collect(),
                    digest: m.loaded.hash.digest.clone(),
                    dir: m.dir(),
                    state: MemberState::of(&m.dir()),
                })
                .collect(),
        };
        let path = dir.join(SWEEP_RECORD);
        let text = serde_json::to_string_pretty(&record).expect("a record is JSON") + "\n";
        atomic::write_file(&path, text.as_bytes())?;
        Ok(path)
    }
}
