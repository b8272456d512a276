//! Positions of keys and values in a TOML file, by JSON pointer, so that an error found in
//! the merged document can be reported as `file:line:col`.

use std::collections::HashMap;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::diagnostic::push_pointer;

#[derive(Debug, Clone, Default)]
pub struct SpanIndex {
    line_starts: Vec<usize>,
    text: String,
    /// pointer → (span of the key, span of the value)
    entries: HashMap<String, (Range<usize>, Range<usize>)>,
}

impl SpanIndex {
    pub fn new(text: &str, table: &Spanned<DeTable<'_>>) -> Self {
        let line_starts =
            std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        let mut index = SpanIndex { line_starts, text: text.to_owned(), entries: HashMap::new() };
        index.walk_table("", table.get_ref());
        index
    }

    fn walk_table(&mut self, pointer: &str, table: &DeTable<'_>) {
        for (key, value) in table.iter() {
            let p = push_pointer(pointer, key.get_ref());
            self.entries.insert(p.clone(), (key.span(), value.span()));
            self.walk_value(&p, value);
        }
    }

    fn walk_value(&mut self, pointer: &str, value: &Spanned<DeValue<'_>>) {
        match value.get_ref() {
            DeValue::Table(t) => self.walk_table(pointer, t),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let p = push_pointer(pointer, &i.to_string());
                    self.entries.insert(p.clone(), (item.span(), item.span()));
                    self.walk_value(&p, item);
                }
            }
            _ => {}
        }
    }

    /// Line and column (1-based) of the value at `pointer`, or of its key when `key` is set.
    /// Falls back to the nearest enclosing key that the file has.
    pub fn position(&self, pointer: &str, key: bool) -> Option<(usize, usize)> {
        let mut p = pointer;
        loop {
            if let Some((k, v)) = self.entries.get(p) {
                return Some(self.line_col(if key { k.start } else { v.start }));
            }
            p = &p[..p.rfind('/')?];
            if p.is_empty() {
                return None;
            }
        }
    }

    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts[line - 1];
        let col =
            self.text.get(start..offset.min(self.text.len())).map_or(1, |s| s.chars().count() + 1);
        (line, col)
    }
}

/// Line and column (1-based) just past `prefix`.
pub fn line_col_after(prefix: &str) -> (usize, usize) {
    let line = prefix.matches('\n').count() + 1;
    let col = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}
