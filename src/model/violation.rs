//! A problem found in a `model` section, before anything is built.

/// One problem, located by a JSON pointer into the experiment (`/model/backbone/heads`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelViolation {
    pub pointer: String,
    pub message: String,
}

impl std::fmt::Display for ModelViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.pointer, self.message)
    }
}
