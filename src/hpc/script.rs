//! The text of the generated files: `folds.sbatch` (the array, one task per fold, with the
//! signal forwarding and requeue logic), `summary.sbatch` (after the array) and `submit.sh`
//! (queues both). The bash lives in `templates/`; this module fills in the `#SBATCH` lines
//! and the values, quoted for the shell.

use std::path::{Path, PathBuf};

use super::options::{SlurmOptions, format_time};
use crate::io_retry::EXIT_ENVIRONMENT;
use crate::train::stop::EXIT_RESUMABLE;

const PRELUDE: &str = include_str!("templates/prelude.sh");
const FOLDS: &str = include_str!("templates/folds.sbatch");
const SUMMARY: &str = include_str!("templates/summary.sbatch");
const SUBMIT: &str = include_str!("templates/submit.sh");

/// The experiment as the jobs run it: every path absolute, since they run elsewhere.
#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    pub folds: u32,
    pub digest: String,
    pub max_requeues: u32,
    pub result_dir: PathBuf,
    /// The working directory the experiment's relative paths (`runtime.output_root`,
    /// `--set` values) were resolved against.
    pub workdir: PathBuf,
    pub config: PathBuf,
    pub sets: Vec<String>,
    /// The `ECHO_RUNNER__*` variables in effect.
    pub env: Vec<(String, String)>,
}

impl Job {
    /// Where the scripts and the job logs go.
    pub fn slurm_dir(&self) -> PathBuf {
        self.result_dir.join(crate::results::SLURM)
    }
}

/// The three files, by name.
#[derive(Debug, Clone)]
pub struct Scripts {
    pub folds: String,
    pub summary: String,
    pub submit: String,
}

pub const FOLDS_FILE: &str = "folds.sbatch";
pub const SUMMARY_FILE: &str = "summary.sbatch";
pub const SUBMIT_FILE: &str = "submit.sh";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScriptError {
    #[error("{what} {path:?} is not valid UTF-8, which a job script needs")]
    NotUtf8 { what: &'static str, path: PathBuf },
    #[error(
        "{what} {path} holds whitespace, a quote, a backslash or '%', which an #SBATCH line cannot \
         carry; use a path without them"
    )]
    NotForSbatch { what: &'static str, path: String },
}

pub fn scripts(job: &Job, options: &SlurmOptions) -> Result<Scripts, ScriptError> {
    let slurm_path = job.slurm_dir();
    let slurm_dir = utf8("result directory", &slurm_path)?;
    let workdir = utf8("working directory", &job.workdir)?;
    let prelude = prelude(job, options)?;

    let mut folds = vec![format!("--job-name={}", job.name)];
    folds.extend(resources(options, true));
    let mut summary = vec![format!("--job-name={}-summary", job.name)];
    summary.extend(resources(options, false));
    let task_log = format!("{}/fold-%a.log", sbatch_path("result directory", slurm_dir)?);
    let summary_log = format!("{}/summary.log", sbatch_path("result directory", slurm_dir)?);
    let chdir = format!("--chdir={}", sbatch_path("working directory", workdir)?);
    let folds_header = [
        section("Time limit of each attempt, and resources:", &folds),
        section(
            "One task per fold; its log, appended to across requeues:",
            &[
                format!("--array=0-{}", job.folds.saturating_sub(1)),
                format!("--output={task_log}"),
                "--open-mode=append".into(),
                chdir.clone(),
            ],
        ),
        requeue_section(options),
        extra(options),
    ];
    let summary_header = [
        section("Time limit and resources:", &summary),
        section(
            "Its log:",
            &[format!("--output={summary_log}"), "--open-mode=append".into(), chdir],
        ),
        extra(options),
    ];
    let common = |template: &str, header: &[String]| {
        fill(
            template,
            &[
                ("@@NAME@@", job.name.clone()),
                ("@@SBATCH@@", header.concat().trim_end().to_owned()),
                ("@@PRELUDE@@", prelude.clone()),
            ],
        )
    };
    Ok(Scripts {
        folds: fill(
            &common(FOLDS, &folds_header),
            &[
                ("@@MAX_REQUEUES@@", job.max_requeues.to_string()),
                ("@@EXIT_RESUMABLE@@", EXIT_RESUMABLE.to_string()),
                ("@@EXIT_ENVIRONMENT@@", EXIT_ENVIRONMENT.to_string()),
            ],
        ),
        summary: fill(&common(SUMMARY, &summary_header), &[("@@FOLDS@@", job.folds.to_string())]),
        submit: fill(
            SUBMIT,
            &[("@@NAME@@", job.name.clone()), ("@@SLURM_DIR@@", quote(slurm_dir))],
        ),
    })
}

/// The variables and checks both job scripts start with.
pub(super) fn prelude(job: &Job, options: &SlurmOptions) -> Result<String, ScriptError> {
    let sets: Vec<String> = job.sets.iter().map(|s| format!("--set {}", quote(s))).collect();
    let mut env: Vec<String> = job
        .env
        .iter()
        .filter(|(name, _)| is_identifier(name))
        .map(|(name, value)| format!("export {name}={}", quote(value)))
        .collect();
    if env.is_empty() {
        env.push("# (none were set)".into());
    }
    Ok(fill(
        PRELUDE,
        &[
            ("@@RUNNER@@", quote(utf8("runner", &options.runner)?)),
            ("@@CONFIG@@", quote(utf8("experiment file", &job.config)?)),
            ("@@SETS@@", sets.join(" ")),
            ("@@RESULT_DIR@@", quote(utf8("result directory", &job.result_dir)?)),
            ("@@DIGEST@@", job.digest.clone()),
            ("@@ENV@@", env.join("\n")),
        ],
    )
    .trim_end()
    .to_owned())
}

/// The time limit and the resources asked for (`gpus`: the fold tasks, which train).
pub(super) fn resources(options: &SlurmOptions, gpus: bool) -> Vec<String> {
    let mut lines = vec![
        format!("--time={}", format_time(options.time)),
        "--nodes=1".into(),
        "--ntasks=1".into(),
    ];
    let optional = [
        options.partition.as_ref().map(|p| format!("--partition={p}")),
        options.account.as_ref().map(|a| format!("--account={a}")),
        options.cpus.map(|n| format!("--cpus-per-task={n}")),
        options.mem.as_ref().map(|m| format!("--mem={m}")),
        options.gpus.filter(|_| gpus).map(|n| format!("--gres=gpu:{n}")),
    ];
    lines.extend(optional.into_iter().flatten());
    lines
}

/// USR1 before the time limit, and the task requeueable.
pub(super) fn requeue_section(options: &SlurmOptions) -> String {
    let lead = options.signal_lead.as_secs();
    section(
        &format!("USR1 to this shell {lead} s before the time limit (checkpoint, then requeue):"),
        &[format!("--signal=B:USR1@{lead}"), "--requeue".into()],
    )
}

pub(super) fn section(comment: &str, options: &[String]) -> String {
    let mut text = format!("# {comment}\n");
    for option in options {
        text.push_str(&format!("#SBATCH {option}\n"));
    }
    text
}

pub(super) fn extra(options: &SlurmOptions) -> String {
    if options.extra.is_empty() {
        return String::new();
    }
    format!("# Extra lines (runner slurm --extra):\n{}\n", options.extra.join("\n"))
}

pub(super) fn fill(template: &str, values: &[(&str, String)]) -> String {
    values.iter().fold(template.to_owned(), |text, (key, value)| text.replace(key, value))
}

pub(super) fn utf8<'a>(what: &'static str, path: &'a Path) -> Result<&'a str, ScriptError> {
    path.to_str().ok_or_else(|| ScriptError::NotUtf8 { what, path: path.to_path_buf() })
}

/// A path for an `#SBATCH` line, which sbatch splits at whitespace and reads `%` in.
pub(super) fn sbatch_path<'a>(what: &'static str, path: &'a str) -> Result<&'a str, ScriptError> {
    if path.contains(|c: char| c.is_whitespace() || "'\"\\%".contains(c)) {
        return Err(ScriptError::NotForSbatch { what, path: path.to_owned() });
    }
    Ok(path)
}

/// `s` as one bash word: as it is when it is plain, else in single quotes.
pub fn quote(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
