//! `runner prepare`: the experiment's HDF5 clip cache.

use echo_runner::data::stage;

use super::ConfigArgs;
use super::error::CliError;
use super::output::Stdout;

pub fn prepare(args: ConfigArgs) -> Result<(), CliError> {
    let loaded = args.load(false)?;
    let exp = &loaded.experiment;
    let cache_dir = exp.runtime.cache_dir();
    let dataset = stage::load(&exp.data, &cache_dir).map_err(CliError::failed)?;
    let summary = stage::prepare(&exp.data, &dataset, &cache_dir).map_err(CliError::failed)?;
    let what = if summary.reused { "up to date" } else { "written" };
    let mut out = Stdout;
    writeln!(
        out,
        "clip cache {what}: {} ({} videos, {} frames)",
        summary.path.display(),
        summary.videos,
        summary.frames
    )?;
    for (name, why) in &summary.skipped {
        writeln!(out, "skipped {name}: {why}")?;
    }
    Ok(())
}
