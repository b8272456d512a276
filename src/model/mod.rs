//! Model stage: the three phases of the results table as Burn modules, built from the
//! `model` section of an experiment.

mod config;

pub use config::*;
