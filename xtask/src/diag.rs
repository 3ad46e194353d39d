//! Spec errors as `file:line:column: message` lines.

use std::fmt;

/// A 1-based line and column in the spec file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Loc {
    /// Line, from 1.
    pub line: u64,
    /// Column (in characters), from 1.
    pub column: u64,
}

/// One problem in the spec.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Diagnostic {
    /// Where it is.
    pub loc: Loc,
    /// What is wrong, on one line.
    pub message: String,
}

impl Diagnostic {
    /// A problem at `loc`.
    pub fn new(loc: Loc, message: impl Into<String>) -> Self {
        // One line each: a message must never break the `file:line:col: message` format.
        let message = message.into().replace(['\n', '\r'], " ");
        Self { loc, message }
    }
}

/// Every problem found in one spec file, sorted by position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics {
    /// The file name printed before each position.
    pub file: String,
    /// The problems, sorted by position then message, without duplicates.
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Sorts and deduplicates `items`.
    pub fn new(file: impl Into<String>, mut items: Vec<Diagnostic>) -> Self {
        items.sort();
        items.dedup();
        Self {
            file: file.into(),
            items,
        }
    }

    /// The `file:line:column: message` lines.
    pub fn lines(&self) -> Vec<String> {
        self.items
            .iter()
            .map(|d| {
                format!(
                    "{}:{}:{}: {}",
                    self.file, d.loc.line, d.loc.column, d.message
                )
            })
            .collect()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, line) in self.lines().iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            f.write_str(line)?;
        }
        Ok(())
    }
}
