//! Turning rendered files into disk changes: atomic writes, only-if-changed, stale removal,
//! and the `--check` comparison.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A file codegen owns, with the content it should have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Where it goes.
    pub path: PathBuf,
    /// What it should contain.
    pub content: String,
}

/// What has to happen to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The file does not exist yet.
    Create(Target),
    /// The file exists with other content.
    Update(Target),
    /// A generated file no longer produced by the spec.
    Remove(PathBuf),
}

impl Change {
    /// The file concerned.
    pub fn path(&self) -> &Path {
        match self {
            Change::Create(t) | Change::Update(t) => &t.path,
            Change::Remove(p) => p,
        }
    }

    /// A short description for `--check`, e.g. `stale: sdk/src/generated/openai.rs`.
    pub fn describe(&self, root: &Path) -> String {
        let shown = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
        match self {
            Change::Create(t) => format!("missing: {}", shown(&t.path)),
            Change::Update(t) => format!("stale: {}", shown(&t.path)),
            Change::Remove(p) => format!("extra: {}", shown(p)),
        }
    }
}

/// An I/O failure on a named file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct FileError {
    /// The file or directory.
    pub path: PathBuf,
    /// The failure.
    #[source]
    pub source: io::Error,
}

fn file_error(path: &Path) -> impl FnOnce(io::Error) -> FileError + '_ {
    move |source| FileError {
        path: path.to_owned(),
        source,
    }
}

/// The changes that make the disk match `targets`. Every `.rs` file in `owned_dir` that is not
/// a target is stale and removed. Files with the right content are left alone.
pub fn plan(targets: Vec<Target>, owned_dir: &Path) -> Result<Vec<Change>, FileError> {
    let mut changes = Vec::new();
    if owned_dir.is_dir() {
        let mut extra = Vec::new();
        for entry in fs::read_dir(owned_dir).map_err(file_error(owned_dir))? {
            let path = entry.map_err(file_error(owned_dir))?.path();
            let is_rs = path.extension().is_some_and(|e| e == "rs");
            if is_rs && path.is_file() && !targets.iter().any(|t| t.path == path) {
                extra.push(path);
            }
        }
        extra.sort();
        changes.extend(extra.into_iter().map(Change::Remove));
    }
    for target in targets {
        match fs::read(&target.path) {
            Ok(current) if current == target.content.as_bytes() => {}
            Ok(_) => changes.push(Change::Update(target)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => changes.push(Change::Create(target)),
            Err(e) => return Err(file_error(&target.path)(e)),
        }
    }
    changes.sort_by(|a, b| a.path().cmp(b.path()));
    Ok(changes)
}

/// Applies `changes`: each file is written to a temporary file in its own directory and then
/// renamed over the target, so a reader never sees a half-written file.
pub fn apply(changes: &[Change]) -> Result<(), FileError> {
    for change in changes {
        match change {
            Change::Create(t) | Change::Update(t) => write_atomic(&t.path, &t.content)?,
            Change::Remove(p) => fs::remove_file(p).map_err(file_error(p))?,
        }
    }
    Ok(())
}

fn write_atomic(path: &Path, content: &str) -> Result<(), FileError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(file_error(dir))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(file_error(dir))?;
    tmp.write_all(content.as_bytes())
        .map_err(file_error(path))?;
    tmp.as_file().sync_all().map_err(file_error(path))?;
    tmp.persist(path).map_err(|e| file_error(path)(e.error))?;
    Ok(())
}
