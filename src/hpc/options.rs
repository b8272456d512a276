//! What `runner slurm` asks of SLURM: the time limit, the signal lead, resources and extra
//! `#SBATCH` lines, each checked when parsed so that a bad one is refused before anything is
//! written, naming the flag.

use std::path::PathBuf;
use std::time::Duration;

use crate::train::stop::parse_wall;

/// Options of the generated jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlurmOptions {
    /// Time limit of each attempt of a fold task (`--time`).
    pub time: Duration,
    /// How long before the time limit SLURM sends USR1 (`--signal=B:USR1@<secs>`).
    pub signal_lead: Duration,
    pub partition: Option<String>,
    pub account: Option<String>,
    /// GPUs per fold task (`--gres=gpu:N`).
    pub gpus: Option<u32>,
    /// CPUs per task (`--cpus-per-task`).
    pub cpus: Option<u32>,
    /// Memory per node (`--mem`), as sbatch takes it: `64G`, `16000M`.
    pub mem: Option<String>,
    /// Whole `#SBATCH …` lines added to both jobs.
    pub extra: Vec<String>,
    /// The runner binary the jobs call (absolute).
    pub runner: PathBuf,
}

/// Options that `runner slurm` writes itself: given again in `--extra` they would contradict
/// the script's own, so they are refused (long form, short form).
const MANAGED: &[(&str, Option<&str>)] = &[
    ("--array", Some("-a")),
    ("--output", Some("-o")),
    ("--error", Some("-e")),
    ("--open-mode", None),
    ("--signal", None),
    ("--requeue", None),
    ("--no-requeue", None),
    ("--chdir", Some("-D")),
    ("--dependency", Some("-d")),
    ("--job-name", Some("-J")),
    ("--time", Some("-t")),
    ("--partition", Some("-p")),
    ("--account", Some("-A")),
    ("--cpus-per-task", Some("-c")),
    ("--mem", None),
    ("--gres", None),
];

/// Why the options cannot make a job.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OptionsError {
    #[error(
        "--signal-lead {lead} s is not shorter than --time {time}: the signal would come before the \
         task could do anything; give a longer --time or a shorter --signal-lead"
    )]
    LeadTooLong { lead: u64, time: String },
}

impl SlurmOptions {
    /// Checks that hold between options.
    pub fn check(&self) -> Result<(), OptionsError> {
        if self.signal_lead >= self.time {
            return Err(OptionsError::LeadTooLong {
                lead: self.signal_lead.as_secs(),
                time: format_time(self.time),
            });
        }
        Ok(())
    }
}

/// `--time`: `12:00:00`, `1-00:00:00`, `90m`, `11h30m` (see [`parse_wall`]); whole minutes
/// or more, as SLURM counts them.
pub fn parse_time(s: &str) -> Result<Duration, String> {
    let d = parse_wall(s)?;
    if d < Duration::from_secs(60) {
        return Err(format!("time limit {s:?} is under a minute, SLURM's smallest"));
    }
    Ok(d)
}

/// A time limit as sbatch reads it: `HH:MM:SS`, or `D-HH:MM:SS` from a day on.
pub fn format_time(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 { format!("{days}-{h:02}:{m:02}:{s:02}") } else { format!("{h:02}:{m:02}:{s:02}") }
}

/// `--mem`: a whole number with an optional unit K, M, G or T, as sbatch takes it.
pub fn parse_mem(s: &str) -> Result<String, String> {
    let digits = s.trim_end_matches(['K', 'M', 'G', 'T']);
    let unit_ok = s.len() - digits.len() <= 1;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || !unit_ok {
        return Err(format!(
            "memory {s:?} is not a number with an optional unit K, M, G or T, e.g. 64G"
        ));
    }
    Ok(s.to_owned())
}

/// `--partition`, `--account`: SLURM names (letters, digits, `_ . - +`, commas between).
pub fn parse_name(s: &str) -> Result<String, String> {
    let ok = |b: u8| b.is_ascii_alphanumeric() || b"_.-+,".contains(&b);
    if s.is_empty() || !s.bytes().all(ok) {
        return Err(format!("{s:?} is not a SLURM name (letters, digits, _ . - + and commas)"));
    }
    Ok(s.to_owned())
}

/// `--extra`: one whole `#SBATCH --option[=value]` line, not an option the script sets itself.
pub fn parse_extra(s: &str) -> Result<String, String> {
    let line = s.trim();
    let Some(rest) = line.strip_prefix("#SBATCH ") else {
        return Err(format!("{s:?} is not an #SBATCH line: write e.g. '#SBATCH --qos=long'"));
    };
    if line.contains(['\n', '\r']) {
        return Err(format!("{s:?} spans lines: give one --extra per #SBATCH line"));
    }
    let option = rest.trim_start().split(['=', ' ']).next().unwrap_or_default();
    if !option.starts_with('-') {
        return Err(format!("{s:?} names no option after #SBATCH"));
    }
    if let Some((long, _)) =
        MANAGED.iter().find(|(long, short)| option == *long || Some(option) == *short)
    {
        return Err(format!(
            "{long} is written by runner slurm itself (from its own flags and the experiment); leave it out of --extra"
        ));
    }
    Ok(line.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_limits_in_slurm_and_human_forms() {
        assert_eq!(parse_time("12:00:00"), Ok(Duration::from_secs(12 * 3600)));
        assert_eq!(format_time(parse_time("11h30m").unwrap()), "11:30:00");
        assert_eq!(format_time(parse_time("1-12").unwrap()), "1-12:00:00");
        assert!(parse_time("0:30").unwrap_err().contains("under a minute"));
        assert!(parse_time("90").unwrap_err().contains("no unit"));
    }

    #[test]
    fn memory_and_names() {
        assert_eq!(parse_mem("64G").as_deref(), Ok("64G"));
        assert_eq!(parse_mem("16000").as_deref(), Ok("16000"));
        for bad in ["", "G", "64GB", "6.4G", "64 G"] {
            assert!(parse_mem(bad).is_err(), "{bad:?}");
        }
        assert!(parse_name("gpu,gpu-long").is_ok());
        assert!(parse_name("a b").is_err());
        assert!(parse_name("x\n#SBATCH --array=1").is_err());
    }

    #[test]
    fn extra_lines_are_whole_sbatch_lines_the_script_does_not_set() {
        assert_eq!(parse_extra("#SBATCH --qos=long").as_deref(), Ok("#SBATCH --qos=long"));
        assert_eq!(
            parse_extra("  #SBATCH --constraint=a100 ").as_deref(),
            Ok("#SBATCH --constraint=a100")
        );
        assert!(parse_extra("--qos=long").unwrap_err().contains("not an #SBATCH line"));
        assert!(
            parse_extra("#SBATCH --qos=a\n#SBATCH --array=1").unwrap_err().contains("spans lines")
        );
        assert!(
            parse_extra("#SBATCH --array=0-3")
                .unwrap_err()
                .contains("--array is written by runner slurm")
        );
        assert!(parse_extra("#SBATCH -t 10").unwrap_err().contains("--time is written"));
        assert!(parse_extra("#SBATCH hello").unwrap_err().contains("names no option"));
    }

    #[test]
    fn the_signal_must_come_before_the_limit() {
        let options = SlurmOptions {
            time: Duration::from_secs(60),
            signal_lead: Duration::from_secs(60),
            ..crate::hpc::tests::options(std::path::Path::new("/bin/runner"))
        };
        assert!(matches!(options.check(), Err(OptionsError::LeadTooLong { lead: 60, .. })));
        assert_eq!(
            SlurmOptions { signal_lead: Duration::from_secs(50), ..options }.check(),
            Ok(())
        );
    }
}
