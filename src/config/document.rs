//! A TOML file read for the loader: its table, and where each key and value is written, so
//! that a problem found later can be reported as `file:line:col`.

use std::path::{Path, PathBuf};

use figment::value::Dict;
use toml::de::DeTable;

use super::diagnostic::{Diagnostics, Origin};
use super::spans::{SpanIndex, line_col_after};

pub struct Document {
    pub path: PathBuf,
    pub dict: Dict,
    pub spans: SpanIndex,
}

impl Document {
    /// Reads `path`, a `what` ("experiment file", "sweep file"). A file that cannot be read is
    /// reported at `named_by` (where another file names it) and `pointer`, else at the path.
    pub fn read(
        path: &Path,
        what: &str,
        named_by: Option<Origin>,
        pointer: &str,
    ) -> Result<Document, Diagnostics> {
        let here = || named_by.clone().unwrap_or_else(|| Origin::Path(path.to_path_buf()));
        let bytes = std::fs::read(path).map_err(|e| {
            Diagnostics::single(
                here(),
                pointer,
                format!("cannot read {what} {}: {e}", path.display()),
            )
        })?;
        let at = |line, col| Origin::File { path: path.to_path_buf(), line, col };
        let text = String::from_utf8(bytes).map_err(|e| {
            let offset = e.utf8_error().valid_up_to();
            let (line, col) = line_col_after(&String::from_utf8_lossy(&e.into_bytes()[..offset]));
            Diagnostics::single(
                at(line, col),
                "",
                format!("not UTF-8 text (a {what} is a TOML file)"),
            )
        })?;
        // Only the first syntax error: what a parser reports after one is mostly its echo.
        let table = DeTable::parse(&text).map_err(|e| {
            let end = e.span().map_or(0, |s| s.start.min(text.len()));
            let (line, col) = line_col_after(&text[..end]);
            Diagnostics::single(
                at(line, col),
                "",
                format!("TOML syntax error: {}", e.message().trim_end()),
            )
        })?;
        let spans = SpanIndex::new(&text, &table);
        let dict: Dict = toml::from_str(&text).map_err(|e| {
            let (line, col) = e.span().map_or((1, 1), |s| spans.line_col(s.start));
            Diagnostics::single(
                at(line, col),
                "",
                format!("TOML error: {}", e.message().trim_end()),
            )
        })?;
        Ok(Document { path: path.to_path_buf(), dict, spans })
    }

    /// Where the value at `pointer` is written (its key's position with `key`); the file's
    /// start when the file does not hold it.
    pub fn origin(&self, pointer: &str, key: bool) -> Origin {
        let (line, col) = self.spans.position(pointer, key).unwrap_or((1, 1));
        Origin::File { path: self.path.clone(), line, col }
    }

    /// The document as JSON, for a schema check.
    pub fn json(&self) -> serde_json::Value {
        serde_json::to_value(&self.dict).expect("a TOML document is JSON")
    }
}
