//! The sweep as SLURM jobs: every member's result directory made now (as `runner slurm`
//! makes an experiment's), and the (member, fold) pairs not yet done.

use std::path::Path;

use super::expand::Sweep;
use crate::config::ENV_PREFIX;
use crate::hpc::{Job, SlurmError, SweepJob, SweepMember};
use crate::results::ResultDir;
use crate::train::CvMode;

impl Sweep {
    /// The jobs' view of the sweep loaded from `file`; `sets`: the `--set` flags it was
    /// loaded with.
    pub fn slurm_job(
        &self,
        file: &Path,
        sets: &[String],
        max_parallel: Option<u32>,
    ) -> Result<SweepJob, SlurmError> {
        let absolute = |p: &Path| {
            std::path::absolute(p)
                .map_err(|source| SlurmError::Io { path: p.to_path_buf(), source })
        };
        let mut members = Vec::new();
        for m in &self.members {
            let dir = ResultDir::open_or_create(&m.loaded)?;
            let exp = &m.loaded.experiment;
            let folds = match exp.cv.mode {
                CvMode::Kfold => exp.cv.folds,
                CvMode::Single => 1,
            };
            let pending = (0..folds)
                .filter(|k| {
                    !dir.path.join(format!("fold-{k}")).join(crate::train::fit::DONE).exists()
                })
                .collect();
            members.push(SweepMember {
                index: m.index,
                digest: m.loaded.hash.digest.clone(),
                result_dir: absolute(&dir.path)?,
                folds,
                pending,
            });
        }
        let job = Job {
            name: self.name.clone(),
            folds: 0,
            digest: self.digest.clone(),
            max_requeues: self
                .members
                .iter()
                .map(|m| m.loaded.experiment.runtime.max_requeues)
                .max()
                .unwrap_or(0),
            result_dir: absolute(&self.dir())?,
            workdir: absolute(Path::new("."))?,
            config: absolute(file)?,
            sets: sets.to_vec(),
            env: std::env::vars().filter(|(name, _)| name.starts_with(ENV_PREFIX)).collect(),
        };
        Ok(SweepJob { job, members, max_parallel })
    }
}
