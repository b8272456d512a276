//! One problem found in an experiment, located where the user can fix it: a file position,
//! an environment variable or a `--set` flag, plus the key path as a JSON pointer.

use std::fmt;
use std::path::PathBuf;

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A position in an experiment file (1-based line and column).
    File { path: PathBuf, line: usize, col: usize },
    /// An experiment file, no position known (unreadable, empty, a default value).
    Path(PathBuf),
    /// An `ECHO_RUNNER__…` environment variable.
    Env(String),
    /// A `--set KEY=VALUE` flag, as given.
    Flag(String),
    /// A `--grid KEY=V1,V2,…` flag, as given.
    Grid(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, line, col } => write!(f, "{}:{line}:{col}", path.display()),
            Origin::Path(path) => write!(f, "{}", path.display()),
            Origin::Env(var) => write!(f, "environment variable {var}"),
            Origin::Flag(arg) => write!(f, "--set {arg}"),
            Origin::Grid(arg) => write!(f, "--grid {arg}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub origin: Origin,
    /// JSON pointer of the key (`/train/lr`); empty for the whole document.
    pub pointer: String,
    /// What is wrong: the bad value and what was expected.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pointer.is_empty() {
            write!(f, "{}: {}", self.origin, self.message)
        } else {
            write!(f, "{}: {}: {}", self.origin, self.pointer, self.message)
        }
    }
}

/// Every problem found in one experiment, in the order found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn single(origin: Origin, pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostics(vec![Diagnostic { origin, pointer: pointer.into(), message: message.into() }])
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "error: {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Appends one token to a JSON pointer, escaping `~` and `/` (RFC 6901).
pub fn push_pointer(pointer: &str, token: &str) -> String {
    format!("{pointer}/{}", token.replace('~', "~0").replace('/', "~1"))
}

/// The unescaped tokens of a JSON pointer.
pub fn pointer_tokens(pointer: &str) -> Vec<String> {
    pointer.split('/').skip(1).map(|t| t.replace("~1", "/").replace("~0", "~")).collect()
}
