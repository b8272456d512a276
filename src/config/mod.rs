//! Config stage: an experiment file (plus its base files, environment and `--set` flags)
//! becomes one resolved, validated [`Experiment`] with its content hash.

mod diagnostic;
mod experiment;
mod hash;
mod layers;
mod load;
mod resolve;
mod schema;
mod spans;

pub use diagnostic::{Diagnostic, Diagnostics, Origin};
pub use experiment::{Backend, Experiment, ExperimentMeta, Progress, RuntimeConfig};
pub use hash::{ConfigHash, HASH_SCHEME};
pub use layers::ENV_PREFIX;
pub use load::{Loaded, Overrides, load, load_checked};
pub use schema::{Violation, schema, schema_text, tagged_tables};
