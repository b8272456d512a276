//! `runner slurm`: the experiment's SLURM jobs.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use echo_runner::hpc::{self, SlurmOptions};
use echo_runner::sweep::Sweep;

use super::error::{CliError, FAILED};
use super::output::Stdout;
use super::{ConfigArgs, Target};

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
    /// With a sweep: at most N array tasks at once (the array's `%N`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_parallel: Option<u32>,
}

pub fn slurm(args: SlurmArgs) -> Result<(), CliError> {
    let target = args.experiment.target(true)?;
    let options = SlurmOptions {
        time: args.time,
        signal_lead: Duration::from_secs(args.signal_lead),
        partition: args.partition.clone(),
        account: args.account.clone(),
        gpus: args.gpus,
        cpus: args.cpus,
        mem: args.mem.clone(),
        extra: args.extra.clone(),
        runner: hpc::runner_path(args.runner.clone())?,
    };
    let loaded = match target {
        Target::One(loaded) => loaded,
        Target::Sweep(sweep) => return slurm_sweep(&args, &sweep, &options),
    };
    let written = hpc::write(&loaded, &args.experiment.layering.sets, &options)?;
    if args.submit {
        // submit.sh says itself why sbatch refused.
        return match hpc::submit(&written.submit)? {
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

/// The sweep's array over every (member, fold) not yet done, and its report job.
fn slurm_sweep(args: &SlurmArgs, sweep: &Sweep, options: &SlurmOptions) -> Result<(), CliError> {
    let job = sweep.slurm_job(
        &args.experiment.file,
        &args.experiment.layering.sets,
        args.max_parallel,
    )?;
    let tasks = job.tasks().len();
    let mut out = Stdout;
    if tasks == 0 {
        return writeln!(
            out,
            "every fold of every member of sweep {} is done: nothing to submit \
             (the table: runner report {})",
            sweep.name,
            args.experiment.file.display()
        );
    }
    sweep.write_record().map_err(CliError::failed)?;
    let written = hpc::write_sweep(&job, options)?;
    if args.submit {
        return match hpc::submit(&written.submit)? {
            status if status.success() => Ok(()),
            _ => Err(CliError::Reported(FAILED)),
        };
    }
    for (path, text) in
        [&written.tasks, &written.report, &written.submit].iter().zip(&written.texts)
    {
        writeln!(out, "# ==> {} <==\n{text}", path.display())?;
    }
    writeln!(out, "# {tasks} array task(s) over {} member(s)", sweep.members.len())?;
    writeln!(out, "# submit with: bash {}", written.submit.display())
}
