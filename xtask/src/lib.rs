//! Project automation behind `cargo xtask`.
//!
//! The code generator lives here as a library so the CLI (`src/main.rs`) and the tests share
//! it: [`spec`] is the serde model of `providers.yaml`, [`validate`] its semantic checks,
//! [`codegen`](mod@codegen) renders the typed clients and the capability table, [`schema`] the
//! JSON Schema, and [`output`] applies the result to disk atomically. [`fixture`] splices a
//! provider fragment into a copy of the spec, for tests that append a provider.

pub mod appended;
pub mod bench;
pub mod build;
pub mod codegen;
pub mod diag;
pub mod fixture;
pub mod names;
pub mod output;
pub mod schema;
pub mod shape;
pub mod spec;
pub mod validate;

use std::fs;
use std::path::{Path, PathBuf};

use crate::codegen::{GeneratedFile, RenderError};
use crate::diag::Diagnostics;
use crate::output::{Change, FileError, Target};
use crate::spec::Spec;

/// Why codegen failed. Nothing is written in any of these cases.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The spec is invalid; one `file:line:column: message` line per problem.
    #[error("{0}")]
    Spec(#[from] Diagnostics),
    /// A file could not be read or written.
    #[error(transparent)]
    File(#[from] FileError),
    /// The generator produced code that does not parse (a generator bug).
    #[error(transparent)]
    Render(#[from] RenderError),
}

/// Where codegen reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodegenPaths {
    /// The workspace root; other paths are shown relative to it.
    pub root: PathBuf,
    /// The spec, e.g. `<root>/providers.yaml`.
    pub spec: PathBuf,
    /// The generated module directory, e.g. `<root>/sdk/src/generated`.
    pub out: PathBuf,
    /// The simulator's generated routes, e.g. `<root>/sim/src/providers.rs`.
    pub sim: PathBuf,
    /// The JSON Schema file, e.g. `<root>/docs/providers.schema.json`.
    pub schema: PathBuf,
}

impl CodegenPaths {
    /// The default paths under `root`.
    pub fn defaults(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
            spec: root.join("providers.yaml"),
            out: root.join("sdk/src/generated"),
            sim: root.join("sim/src/providers.rs"),
            schema: root.join("docs/providers.schema.json"),
        }
    }

    /// The spec's name as shown in errors and in generated headers.
    pub fn spec_name(&self) -> String {
        self.spec
            .strip_prefix(&self.root)
            .unwrap_or(&self.spec)
            .display()
            .to_string()
    }
}

/// Everything codegen produces, in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The generated module's files (`<provider>.rs` in spec order, then `mod.rs`).
    pub files: Vec<GeneratedFile>,
    /// The simulator's routes and examples (`providers.rs`).
    pub sim: GeneratedFile,
    /// The JSON Schema of the spec format.
    pub schema: String,
}

/// Parses and validates a spec. `spec_name` prefixes every diagnostic.
pub fn load_spec(spec_name: &str, text: &str) -> Result<Spec, Diagnostics> {
    let mut spec = spec::parse(spec_name, text)?;
    let mut problems = validate::resolve_shared_enums(&mut spec);
    if let Err(invalid) = validate::validate(spec_name, &spec) {
        problems.extend(invalid.items);
    }
    if problems.is_empty() {
        Ok(spec)
    } else {
        Err(Diagnostics::new(spec_name, problems))
    }
}

/// Like [`render`], for the raw bytes of the spec file: bytes that are not UTF-8 are a spec
/// error at the first bad byte.
pub fn render_bytes(spec_name: &str, bytes: &[u8]) -> Result<Rendered, Error> {
    let text =
        shape::decode(bytes).map_err(|d| Error::Spec(Diagnostics::new(spec_name, vec![d])))?;
    render(spec_name, text)
}

/// Loads, validates and renders a spec without touching the disk.
pub fn render(spec_name: &str, text: &str) -> Result<Rendered, Error> {
    let spec = load_spec(spec_name, text)?;
    let files = codegen::render(&spec, spec_name)?;
    let sim = codegen::render_sim(&spec, spec_name)?;
    Ok(Rendered {
        files,
        sim,
        schema: schema::schema_json(),
    })
}

/// The files codegen owns, with the content they should have.
pub fn targets(paths: &CodegenPaths, rendered: Rendered) -> Vec<Target> {
    let mut targets: Vec<Target> = rendered
        .files
        .into_iter()
        .map(|f| Target {
            path: paths.out.join(f.name),
            content: f.content,
        })
        .collect();
    targets.push(Target {
        path: paths.sim.clone(),
        content: rendered.sim.content,
    });
    targets.push(Target {
        path: paths.schema.clone(),
        content: rendered.schema,
    });
    targets
}

/// Runs codegen: renders everything in memory, then (unless `check`) applies the changes.
/// Returns the changes, which in `check` mode are what is out of date. On any error nothing
/// is written.
pub fn codegen(paths: &CodegenPaths, check: bool) -> Result<Vec<Change>, Error> {
    let bytes = fs::read(&paths.spec).map_err(|source| FileError {
        path: paths.spec.clone(),
        source,
    })?;
    let rendered = render_bytes(&paths.spec_name(), &bytes)?;
    let changes = output::plan(targets(paths, rendered), &paths.out)?;
    if !check {
        output::apply(&changes)?;
    }
    Ok(changes)
}
