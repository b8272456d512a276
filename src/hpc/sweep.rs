//! `runner slurm SWEEP`: one array job over every (member, fold) not yet done, and one report
//! job after the whole array, written into `<sweep dir>/slurm/`.

use std::path::{Path, PathBuf};

use super::options::SlurmOptions;
use super::script::{
    Job, ScriptError, extra, fill, prelude, quote, requeue_section, resources, sbatch_path,
    section, utf8,
};
use super::slurm::{SlurmError, put};
use crate::io_retry::EXIT_ENVIRONMENT;
use crate::train::stop::EXIT_RESUMABLE;

const TASKS: &str = include_str!("templates/sweep-tasks.sbatch");
const REPORT: &str = include_str!("templates/sweep-report.sbatch");
const SUBMIT: &str = include_str!("templates/sweep-submit.sh");

pub const TASKS_FILE: &str = "tasks.sbatch";
pub const REPORT_FILE: &str = "report.sbatch";

/// One member of the sweep as its jobs see it.
#[derive(Debug, Clone)]
pub struct SweepMember {
    pub index: usize,
    pub digest: String,
    pub result_dir: PathBuf,
    pub folds: u32,
    /// Its folds not yet done.
    pub pending: Vec<u32>,
}

/// The sweep as its jobs run it. `job` carries what every task shares: the sweep file as
/// `config`, the `--set` flags, the environment, the sweep's directory as `result_dir`.
#[derive(Debug, Clone)]
pub struct SweepJob {
    pub job: Job,
    pub members: Vec<SweepMember>,
    /// At most this many array tasks at once (`--array=…%N`).
    pub max_parallel: Option<u32>,
}

impl SweepJob {
    /// (member, fold) of each array task, in order.
    pub fn tasks(&self) -> Vec<(&SweepMember, u32)> {
        self.members.iter().flat_map(|m| m.pending.iter().map(move |&k| (m, k))).collect()
    }
}

#[derive(Debug)]
pub struct SweepWritten {
    pub tasks: PathBuf,
    pub report: PathBuf,
    pub submit: PathBuf,
    pub texts: [String; 3],
}

fn words<T>(items: impl Iterator<Item = T>, f: impl Fn(T) -> String) -> String {
    items.map(f).collect::<Vec<_>>().join(" ")
}

pub fn sweep_scripts(sweep: &SweepJob, options: &SlurmOptions) -> Result<[String; 3], ScriptError> {
    let job = &sweep.job;
    let slurm_path = job.slurm_dir();
    let slurm_dir = utf8("sweep directory", &slurm_path)?;
    let sweep_dir = utf8("sweep directory", &job.result_dir)?;
    let workdir = utf8("working directory", &job.workdir)?;
    let prelude = prelude(job, options)?;
    let tasks = sweep.tasks();
    let mut array = format!("--array=0-{}", tasks.len().saturating_sub(1));
    if let Some(n) = sweep.max_parallel {
        array.push_str(&format!("%{n}"));
    }
    let log_dir = sbatch_path("sweep directory", slurm_dir)?;
    let chdir = format!("--chdir={}", sbatch_path("working directory", workdir)?);
    let mut head = vec![format!("--job-name={}", job.name)];
    head.extend(resources(options, true));
    let tasks_header = [
        section("Time limit of each attempt, and resources:", &head),
        section(
            "One task per member fold; its log, appended to across requeues:",
            &[
                array,
                format!("--output={log_dir}/task-%a.log"),
                "--open-mode=append".into(),
                chdir.clone(),
            ],
        ),
        requeue_section(options),
        extra(options),
    ];
    let mut head = vec![format!("--job-name={}-report", job.name)];
    head.extend(resources(options, false));
    let report_header = [
        section("Time limit and resources:", &head),
        section(
            "Its log:",
            &[format!("--output={log_dir}/report.log"), "--open-mode=append".into(), chdir],
        ),
        extra(options),
    ];
    let dirs = |dirs: Vec<&Path>| -> Result<String, ScriptError> {
        let texts: Result<Vec<String>, _> =
            dirs.into_iter().map(|d| utf8("result directory", d).map(quote)).collect();
        Ok(texts?.join(" "))
    };
    let common = |template: &str, header: &[String]| {
        fill(
            template,
            &[
                ("@@NAME@@", job.name.clone()),
                ("@@SBATCH@@", header.concat().trim_end().to_owned()),
                ("@@PRELUDE@@", prelude.clone()),
                ("@@SWEEP_DIR@@", quote(sweep_dir)),
            ],
        )
    };
    let tasks_text = fill(
        &common(TASKS, &tasks_header),
        &[
            ("@@MAX_REQUEUES@@", job.max_requeues.to_string()),
            ("@@EXIT_RESUMABLE@@", EXIT_RESUMABLE.to_string()),
            ("@@EXIT_ENVIRONMENT@@", EXIT_ENVIRONMENT.to_string()),
            ("@@MEMBERS@@", words(tasks.iter(), |(m, _)| m.index.to_string())),
            ("@@FOLDS@@", words(tasks.iter(), |(_, k)| k.to_string())),
            ("@@HASHES@@", words(tasks.iter(), |(m, _)| m.digest.clone())),
            ("@@DIRS@@", dirs(tasks.iter().map(|(m, _)| m.result_dir.as_path()).collect())?),
        ],
    );
    let report_text = fill(
        &common(REPORT, &report_header),
        &[
            ("@@MEMBERS@@", words(sweep.members.iter(), |m| m.index.to_string())),
            ("@@FOLDS@@", words(sweep.members.iter(), |m| m.folds.to_string())),
            ("@@DIRS@@", dirs(sweep.members.iter().map(|m| m.result_dir.as_path()).collect())?),
        ],
    );
    let submit =
        fill(SUBMIT, &[("@@NAME@@", job.name.clone()), ("@@SLURM_DIR@@", quote(slurm_dir))]);
    Ok([tasks_text, report_text, submit])
}

/// Writes the sweep's jobs into `<sweep dir>/slurm/`.
pub fn write_sweep(sweep: &SweepJob, options: &SlurmOptions) -> Result<SweepWritten, SlurmError> {
    options.check()?;
    let texts = sweep_scripts(sweep, options)?;
    let slurm_dir = sweep.job.slurm_dir();
    let put = |name: &str, text: &str| put(&slurm_dir, name, text);
    Ok(SweepWritten {
        tasks: put(TASKS_FILE, &texts[0])?,
        report: put(REPORT_FILE, &texts[1])?,
        submit: put(super::script::SUBMIT_FILE, &texts[2])?,
        texts,
    })
}
