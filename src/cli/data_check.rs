//! `runner data-check`: the experiment's dataset and every problem in it, in one pass.

use echo_runner::data::echonet::OnBadVideo;
use echo_runner::data::stage;

use super::ConfigArgs;
use super::error::{CliError, FAILED};
use super::output::Stdout;

/// Prints the data report and every problem found, whatever `data.on_bad_video` says: on
/// standard error those that would stop a run, on standard output those its policy skips.
/// Fails when a run would stop on the data.
pub fn data_check(args: ConfigArgs) -> Result<(), CliError> {
    let loaded = args.load(false)?;
    let data = &loaded.experiment.data;
    let policy = data.on_bad_video;
    let check =
        stage::check(data, &loaded.experiment.runtime.cache_dir()).map_err(CliError::failed)?;
    let dataset = &check.dataset;
    let mut out = Stdout;
    write!(out, "{}", dataset.scan.report.with_policy(policy))?;
    writeln!(
        out,
        "labels: {} normal, {} abnormal",
        dataset.labels.normal, dataset.labels.abnormal
    )?;
    for e in &check.bad_records {
        eprintln!("error: {e}");
    }
    for e in &check.bad_videos {
        match policy {
            OnBadVideo::Error => eprintln!("error: {e}"),
            OnBadVideo::Skip => writeln!(out, "skipped: {e}")?,
        }
    }
    if !check.stops_a_run(policy) {
        return Ok(());
    }
    let root = dataset.scan.root.display();
    let stopping = check.bad_records.len()
        + if policy == OnBadVideo::Error { check.bad_videos.len() } else { 0 };
    if stopping > 0 {
        let leave_out = if policy == OnBadVideo::Error && !check.bad_videos.is_empty() {
            "; data.on_bad_video = \"skip\" leaves such videos out"
        } else {
            ""
        };
        eprintln!("error: {root}: {stopping} problem(s) would stop a run{leave_out}");
    }
    if dataset.labelled.is_empty() {
        eprintln!("error: {root}: no usable video is left to train on");
    }
    Err(CliError::Reported(FAILED))
}
