//! `runner slurm`: the experiment's SLURM jobs.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use echo_runner::hpc::{self, SlurmOptions};

use super::ConfigArgs;
use super::error::{CliError, FAILED};
use super::output::Stdout;

#[derive(Args)]
pub struct SlurmArgs {
    #[command(flatten)]
    experiment: ConfigArgs,
    /// Time limit of each attempt of a fold task: 12:00:00, 1-00:00:00, 90m, 11h30m.
    #[arg(long, default_value = "12:00:00", value_parser = hpc::parse_time)]
    time: Duration,
    /// Seconds before the time limit at which SLURM sends USR1: the run then checkpoints at
    /// the next batch boundary and the task requeues itself.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    signal_lead: u64,
    #[arg(long, value_parser = hpc::parse_name)]
    partition: Option<String>,
    #[arg(long, value_parser = hpc::parse_name)]
    account: Option<String>,
    /// GPUs per fold task (`--gres=gpu:N`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    gpus: Option<u32>,
    /// CPUs per task.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    cpus: Option<u32>,
    /// Memory per task's node, as sbatch takes it: 64G, 16000M.
    #[arg(long, value_parser = hpc::parse_mem)]
    mem: Option<String>,
    /// A whole '#SBATCH …' line added to both jobs (repeatable), e.g. '#SBATCH --qos=long'.
    #[arg(long, value_name = "LINE", value_parser = hpc::parse_extra, allow_hyphen_values = true)]
    extra: Vec<String>,
    /// The runner binary the jobs call [default: this one].
    #[arg(long, value_name = "PATH")]
    runner: Option<PathBuf>,
    /// Submit the jobs (runs <result dir>/slurm/submit.sh) instead of printing them.
    #[arg(long)]
    submit: bool,
}

pub fn slurm(args: SlurmArgs) -> Result<(), CliError> {
    let loaded = args.experiment.load(true)?;
    let options = SlurmOptions {
        time: args.time,
        signal_lead: Duration::from_secs(args.signal_lead),
        partition: args.partition,
        account: args.account,
        gpus: args.gpus,
        cpus: args.cpus,
        mem: args.mem,
        extra: args.extra,
        runner: hpc::runner_path(args.runner)?,
    };
    let written = hpc::write(&loaded, &args.experiment.layering.sets, &options)?;
    if args.submit {
        // submit.sh says itself why sbatch refused.
        return match hpc::submit(&written)? {
            status if status.success() => Ok(()),
            _ => Err(CliError::Reported(FAILED)),
        };
    }
    let scripts = &written.scripts;
    let mut out = Stdout;
    for (path, text) in [
        (&written.folds, &scripts.folds),
        (&written.summary, &scripts.summary),
        (&written.submit, &scripts.submit),
    ] {
        writeln!(out, "# ==> {} <==\n{text}", path.display())?;
    }
    writeln!(out, "# submit with: bash {}", written.submit.display())
}
