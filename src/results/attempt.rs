//! Which SLURM job an attempt runs in, read from the variables slurmd sets for a batch job;
//! recorded in `runs.jsonl` so that each attempt of a requeued fold task can be told apart.

use serde::Serialize;

/// The SLURM job of this process; every field is absent when its variable is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SlurmAttempt {
    /// `SLURM_JOB_ID`: this job's own id (for the last task of an array, the array's id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// `SLURM_ARRAY_JOB_ID`: the array the job belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub array_job_id: Option<String>,
    /// `SLURM_ARRAY_TASK_ID`: the task, which `runner slurm` makes the fold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub array_task_id: Option<u32>,
    /// `SLURMD_NODENAME`: the node, as SLURM names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// `SLURM_RESTART_COUNT`: how many times the job was requeued before this attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_count: Option<u32>,
}

impl SlurmAttempt {
    /// From this process's environment; `None` outside a SLURM job.
    pub fn from_env() -> Option<Self> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// From variables looked up by `var`; `None` when `SLURM_JOB_ID` is unset or empty.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let text = |name: &str| var(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let number = |name: &str| text(name).and_then(|v| v.parse().ok());
        let job_id = text("SLURM_JOB_ID")?;
        Some(SlurmAttempt {
            job_id: Some(job_id),
            array_job_id: text("SLURM_ARRAY_JOB_ID"),
            array_task_id: number("SLURM_ARRAY_TASK_ID"),
            node: text("SLURMD_NODENAME"),
            restart_count: number("SLURM_RESTART_COUNT"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> Option<SlurmAttempt> {
        SlurmAttempt::from_vars(|name| {
            vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn absent_outside_slurm() {
        assert_eq!(from(&[("SLURMD_NODENAME", "n1")]), None);
        assert_eq!(from(&[("SLURM_JOB_ID", "")]), None);
    }

    #[test]
    fn reads_an_array_task_and_skips_what_is_unset() {
        let a = from(&[
            ("SLURM_JOB_ID", "1042"),
            ("SLURM_ARRAY_JOB_ID", "1040"),
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURMD_NODENAME", "gpu07"),
            ("SLURM_RESTART_COUNT", "3"),
        ])
        .unwrap();
        assert_eq!(a.array_task_id, Some(2));
        assert_eq!(a.restart_count, Some(3));
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(json["job_id"], "1042");
        assert_eq!(json["node"], "gpu07");

        let plain = from(&[("SLURM_JOB_ID", "7")]).unwrap();
        assert_eq!(serde_json::to_string(&plain).unwrap(), r#"{"job_id":"7"}"#);
    }
}
