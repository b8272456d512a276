//! `runner data-check`: the experiment's dataset and its problems.

use echo_runner::data::stage;

use super::ConfigArgs;
use super::error::CliError;
use super::output::Stdout;

pub fn data_check(args: ConfigArgs) -> Result<(), CliError> {
    let loaded = args.load(false)?;
    let exp = &loaded.experiment;
    let dataset = stage::load(&exp.data, &exp.runtime.cache_dir()).map_err(CliError::failed)?;
    let mut out = Stdout;
    write!(out, "{}", dataset.scan.report)?;
    writeln!(
        out,
        "labels: {} normal, {} abnormal",
        dataset.labels.normal, dataset.labels.abnormal
    )?;
    if !dataset.labels.skipped_missing_ef.is_empty() {
        writeln!(
            out,
            "skipped for a missing EF: {}",
            dataset.labels.skipped_missing_ef.join(", ")
        )?;
    }
    Ok(())
}
