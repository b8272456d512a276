//! Config stage: an experiment file (plus its base files, environment and `--set` flags)
//! becomes one resolved, validated [`Experiment`] with its content hash. The experiment is
//! composed of the sections the stages own (`data`'s, `model`'s, `train`'s); `config` sits
//! above them and lends each stage what it reads.

mod diagnostic;
mod document;
mod experiment;
mod file_schema;
mod hash;
mod layers;
mod load;
mod resolve;
mod schema;
mod spans;

pub use diagnostic::{Diagnostic, Diagnostics, Origin, push_pointer};
pub use document::Document;
pub use experiment::{Experiment, ExperimentMeta};
pub use file_schema::file_schema_text;
pub use hash::{ADDED_LATER, ConfigHash, HASH_SCHEME};
pub use layers::{ENV_PREFIX, GridValue, flag_value};
pub use load::{Loaded, Overrides, load, load_checked};
pub use schema::{Violation, resolved_schema_text, schema, tagged_tables, violations};

/// The `runtime` section, owned by the train stage, beside the experiment that holds it.
pub use crate::train::runtime::{Backend, Progress, RuntimeConfig};
