//! The JSON Schema of `providers.yaml`, derived from the serde model in [`crate::spec`] so it
//! cannot drift from what the loader accepts.

use schemars::generate::SchemaSettings;

use crate::spec::Spec;

/// The schema as pretty-printed JSON (draft 2020-12), ending with a newline.
pub fn schema_json() -> String {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let schema = generator.into_root_schema_for::<Spec>();
    let mut json = serde_json::to_string_pretty(&schema)
        .unwrap_or_else(|e| unreachable!("a schema is always serializable: {e}"));
    json.push('\n');
    json
}
