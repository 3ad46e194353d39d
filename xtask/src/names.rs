//! Rust names derived from the spec, and the rules they must follow.

/// Strict and reserved Rust keywords (edition 2024).
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "Self", "static", "struct", "super", "trait", "true", "try", "type",
    "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Keywords that cannot be raw identifiers.
const NOT_RAW: &[&str] = &["crate", "self", "Self", "super", "_"];

/// Type names a generated module (or `generated/mod.rs`) imports or gets from the prelude;
/// a spec type with one of these names would shadow it.
pub const RESERVED_TYPE_NAMES: &[&str] = &[
    // Imported by generated code.
    "AlertThresholds",
    "Audio",
    "AuthScheme",
    "Deserialize",
    "Endpoint",
    "EndpointSpec",
    "Envelope",
    "ErrorRules",
    "HealthRules",
    "Job",
    "KeySource",
    "ProviderClient",
    "ProviderSpec",
    "RetryPolicy",
    "Serialize",
    "Timeouts",
    "Validate",
    "ValidationError",
    // The prelude.
    "Box",
    "Clone",
    "Copy",
    "Default",
    "Drop",
    "Eq",
    "Err",
    "Fn",
    "FnMut",
    "FnOnce",
    "From",
    "Into",
    "IntoIterator",
    "Iterator",
    "None",
    "Ok",
    "Option",
    "Ord",
    "PartialEq",
    "PartialOrd",
    "Result",
    "Send",
    "Sized",
    "Some",
    "String",
    "Sync",
    "ToOwned",
    "ToString",
    "Vec",
];

/// Whether `s` is a Rust keyword.
pub fn is_keyword(s: &str) -> bool {
    KEYWORDS.contains(&s)
}

/// Why `name` is not a usable type (or variant) name, if it is not.
pub fn type_name_problem(name: &str) -> Option<String> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_alphanumeric());
    if !ok {
        return Some(format!(
            "`{name}` is not a valid Rust type name (expected PascalCase ASCII letters and digits, starting with an uppercase letter)"
        ));
    }
    if is_keyword(name) {
        return Some(format!("`{name}` is a Rust keyword"));
    }
    None
}

/// Why `name` is not a usable snake_case identifier (module, method), if it is not.
pub fn snake_ident_problem(name: &str, what: &str) -> Option<String> {
    if !is_snake(name) {
        return Some(format!(
            "{what} `{name}` is not a valid Rust identifier (expected lowercase ASCII letters, digits and `_`, starting with a letter)"
        ));
    }
    if is_keyword(name) {
        return Some(format!("{what} `{name}` is a Rust keyword"));
    }
    None
}

/// Why the wire name of a field cannot be a Rust field name, if it cannot. Keywords are
/// allowed (they become raw identifiers) except those that cannot be raw.
pub fn field_name_problem(name: &str) -> Option<String> {
    if !is_snake(name) || NOT_RAW.contains(&name) {
        return Some(format!(
            "field name `{name}` is not a valid Rust identifier (expected lowercase ASCII letters, digits and `_`, starting with a letter)"
        ));
    }
    None
}

fn is_snake(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Whether `name` is a valid environment variable name (`^[A-Z_][A-Z0-9_]*$`).
pub fn is_env_var(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_uppercase() || c == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// PascalCase from a wire value or id: split on anything that is not an ASCII letter or digit,
/// capitalise each part (an all-uppercase part is lowercased first), and prefix `V` when the
/// result starts with a digit. `None` when nothing is left.
pub fn pascal_case(wire: &str) -> Option<String> {
    let mut out = String::with_capacity(wire.len() + 1);
    for part in wire
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
    {
        let all_upper = !part.chars().any(|c| c.is_ascii_lowercase());
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
        }
        for c in chars {
            out.push(if all_upper { c.to_ascii_lowercase() } else { c });
        }
    }
    if out.is_empty() {
        return None;
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'V');
    }
    Some(out)
}

/// SCREAMING_SNAKE_CASE of a snake_case id, e.g. `text_to_speech` → `TEXT_TO_SPEECH`.
pub fn screaming(id: &str) -> String {
    id.to_ascii_uppercase()
}

/// The constant of an endpoint in `generated::capabilities`, e.g. `OPENAI_SPEECH`.
pub fn endpoint_const(provider: &str, endpoint: &str) -> String {
    format!("{}_{}", screaming(provider), screaming(endpoint))
}

/// The constant name of an id such as a health id: ASCII letters and digits upper-cased, every
/// other character `_`, e.g. `openai-tts` → `OPENAI_TTS`. `None` when that is not a Rust
/// identifier (empty, or starting with a digit).
pub fn const_name_of(id: &str) -> Option<String> {
    let name: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    (name.starts_with(|c: char| c.is_ascii_uppercase()) && !is_keyword(&name)).then_some(name)
}

/// [`const_name_of`] for an id validation has accepted.
pub fn const_name(id: &str) -> String {
    const_name_of(id).unwrap_or_else(|| format!("ID_{}", screaming(id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pascal_case_of_wire_values() {
        let cases = [
            ("tts-1", "Tts1"),
            ("tts-1-hd", "Tts1Hd"),
            ("gpt-4o-mini-tts", "Gpt4oMiniTts"),
            ("b64_json", "B64Json"),
            ("1", "V1"),
            ("256x256", "V256x256"),
            ("IN_QUEUE", "InQueue"),
            ("eleven_v3", "ElevenV3"),
            ("gpt-image-1.5", "GptImage15"),
            ("on", "On"),
        ];
        for (wire, expected) in cases {
            assert_eq!(pascal_case(wire).as_deref(), Some(expected), "{wire}");
        }
        assert_eq!(pascal_case("--"), None);
    }

    #[test]
    fn env_var_names() {
        assert!(is_env_var("OPENAI_API_KEYS"));
        assert!(is_env_var("_X1"));
        assert!(!is_env_var("openai_keys"));
        assert!(!is_env_var("1KEY"));
        assert!(!is_env_var(""));
        assert!(!is_env_var("A-B"));
    }

    #[test]
    fn identifiers() {
        assert!(type_name_problem("SpeechRequest").is_none());
        assert!(type_name_problem("speechRequest").is_some());
        assert!(type_name_problem("Self").is_some());
        assert!(snake_ident_problem("text_to_speech", "endpoint id").is_none());
        assert!(snake_ident_problem("match", "endpoint id").is_some());
        assert!(field_name_problem("type").is_none());
        assert!(field_name_problem("self").is_some());
        assert!(field_name_problem("model-name").is_some());
    }
}
