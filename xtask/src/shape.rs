//! Shape errors of the spec (wrong types, unknown or missing fields), explained.
//!
//! serde-saphyr reports a shape error as a position and a terse message (`invalid u64`), and
//! stops at the first one. When the typed parse fails, the spec is parsed again into a located
//! generic tree (`Node`); the tree names the field at the error's position
//! (`providers.openai.endpoints.speech.fields.input.max_length`) and the value found there.
//! Then each top-level block, and each provider on its own, is parsed again from a copy of the
//! file in which every other line is blanked, so positions are unchanged and every block with a
//! problem reports its first one.
//!
//! (`serde_path_to_error` works over serde-saphyr's deserializer, but it cannot see through
//! [`Spanned`]: map keys come out as `?` and every spanned value adds a `.value` segment.)

use std::fmt::{self, Write as _};

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Error as YamlError;

use crate::diag::{Diagnostic, Loc};
use crate::spec::{Capabilities, Defaults, Map, Provider, Spanned};

/// Parses `text` as a `T` with the options `parse` uses.
pub(crate) fn from_str<'de, T: Deserialize<'de>>(text: &'de str) -> Result<T, YamlError> {
    let options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
    };
    serde_saphyr::from_str_with_options(text, options)
}

/// Checks that `bytes` are UTF-8; if not, the diagnostic points at the first bad byte.
pub fn decode(bytes: &[u8]) -> Result<&str, Diagnostic> {
    std::str::from_utf8(bytes).map_err(|err| {
        let good = &bytes[..err.valid_up_to()];
        let good = std::str::from_utf8(good).unwrap_or_default();
        let line_start = good.rfind('\n').map_or(0, |i| i + 1);
        let loc = Loc {
            line: good.matches('\n').count() as u64 + 1,
            column: good[line_start..].chars().count() as u64 + 1,
        };
        let byte = bytes[err.valid_up_to()];
        Diagnostic::new(
            loc,
            format!("invalid UTF-8 (byte 0x{byte:02X}); the spec must be UTF-8 text"),
        )
    })
}

/// Explains `err`, the error of the typed parse of `text`, and adds the first shape error of
/// every other block (top-level entry or provider) that has one.
pub(crate) fn diagnose(text: &str, err: &YamlError) -> Vec<Diagnostic> {
    let tree = match from_str::<Spanned<Node>>(text) {
        Ok(tree) => tree,
        // Not even a YAML tree: the syntax error is the problem, even when the typed parse
        // stopped earlier at a value it refused (`kind: bearer` read on into the next line
        // of an unclosed flow mapping), and serde-saphyr's message is all there is.
        Err(syntax) => return vec![explain(None, &syntax)],
    };
    let mut items = vec![explain(Some(&tree), err)];
    let line_count = text.split_inclusive('\n').count() as u64;
    for lines in blocks(&tree, line_count) {
        let masked = mask(text, &lines);
        if let Err(err) = from_str::<Partial>(&masked) {
            // An alias to an anchor in another block is not an error of this block.
            if !matches!(
                err.without_snippet(),
                YamlError::UnknownAnchor { .. } | YamlError::AliasError { .. }
            ) {
                items.push(explain(Some(&tree), &err));
            }
        }
    }
    items
}

/// The top level of the spec with every field optional, to parse one block at a time.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Parsed for its errors only.
struct Partial {
    #[serde(default)]
    version: Option<Spanned<u32>>,
    #[serde(default)]
    defaults: Option<Defaults>,
    #[serde(default)]
    providers: Option<Map<Provider>>,
    #[serde(default)]
    capabilities: Option<Capabilities>,
}

/// A YAML node of any shape, every node and key with its position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    /// `null`, `~` or nothing.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i128),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Str(String),
    /// A sequence.
    Seq(Vec<Spanned<Node>>),
    /// A mapping, entries in source order.
    Map(Vec<(Spanned<Node>, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NodeVisitor;
        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML node")
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_none<E>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
                Node::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
                Ok(Node::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
                Ok(Node::Int(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
                Ok(Node::Int(v.into()))
            }
            fn visit_i128<E>(self, v: i128) -> Result<Node, E> {
                Ok(Node::Int(v))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
                Ok(Node::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Node, E> {
                Ok(Node::Str(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Node, E> {
                Ok(Node::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = access.next_element()? {
                    items.push(item);
                }
                Ok(Node::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = access.next_entry()? {
                    entries.push(entry);
                }
                Ok(Node::Map(entries))
            }
        }
        deserializer.deserialize_any(NodeVisitor)
    }
}

impl Node {
    /// The node as it reads in a message: a scalar as written, a container by its kind.
    fn describe(&self) -> String {
        match self {
            Node::Null => "null".to_owned(),
            Node::Bool(b) => b.to_string(),
            Node::Int(i) => i.to_string(),
            Node::Float(x) => x.to_string(),
            Node::Str(s) => format!("{s:?}"),
            Node::Seq(_) => "a sequence".to_owned(),
            Node::Map(_) => "a mapping".to_owned(),
        }
    }

    /// A mapping key as a path segment.
    fn key_text(&self) -> String {
        match self {
            Node::Str(s) => s.clone(),
            other => other.describe(),
        }
    }
}

/// A field path such as `providers.openai.endpoints.speech.fields.input.max_length`.
#[derive(Debug, Clone, Default, PartialEq)]
struct Path(String);

impl Path {
    fn key(&self, key: &Node) -> Path {
        let key = key.key_text();
        Path(if self.0.is_empty() {
            key
        } else {
            format!("{}.{key}", self.0)
        })
    }
    fn index(&self, i: usize) -> Path {
        let mut p = self.0.clone();
        let _ = write!(p, "[{i}]");
        Path(p)
    }
}

/// Every node of the tree with its path, parents before children.
fn flatten<'a>(path: Path, node: &'a Spanned<Node>, out: &mut Vec<(Path, &'a Spanned<Node>)>) {
    out.push((path.clone(), node));
    match &node.value {
        Node::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(path.index(i), item, out);
            }
        }
        Node::Map(entries) => {
            for (k, v) in entries {
                flatten(path.key(k), v, out);
            }
        }
        _ => {}
    }
}

/// The deepest node at `loc`, with its path.
fn value_at(tree: &Spanned<Node>, loc: Loc) -> Option<(Path, Spanned<Node>)> {
    let mut all = Vec::new();
    flatten(Path::default(), tree, &mut all);
    all.into_iter()
        .filter(|(_, n)| n.loc == loc)
        .max_by_key(|(p, _)| p.0.len())
        .map(|(p, n)| (p, n.clone()))
}

/// The path of the mapping that has a key at `loc` (a mapping's position is its first key's).
fn mapping_with_key_at(tree: &Spanned<Node>, loc: Loc) -> Option<Path> {
    let mut all = Vec::new();
    flatten(Path::default(), tree, &mut all);
    all.into_iter()
        .find(|(_, n)| matches!(&n.value, Node::Map(e) if e.iter().any(|(k, _)| k.loc == loc)))
        .map(|(p, _)| p)
}

/// What a Rust scalar type is called in a message.
fn describe_type(ty: &str) -> String {
    match ty {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "an unsigned integer".to_owned(),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "an integer".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        "bool" => "a boolean (true or false)".to_owned(),
        "char" => "a single character".to_owned(),
        "string scalar" => "a string".to_owned(),
        other => other.to_owned(),
    }
}

/// One diagnostic for `err`: at its position, naming the field and, for a value of the wrong
/// type, what was expected and what was found.
fn explain(tree: Option<&Spanned<Node>>, err: &YamlError) -> Diagnostic {
    let err = err.without_snippet();
    let loc = err.location().map_or(Loc { line: 1, column: 1 }, |l| Loc {
        line: l.line(),
        column: l.column(),
    });
    let default_message = || {
        use serde_saphyr::MessageFormatter;
        serde_saphyr::DefaultMessageFormatter
            .format_message(err)
            .into_owned()
    };
    let Some(tree) = tree else {
        return Diagnostic::new(loc, default_message());
    };
    let with_path = |path: Option<Path>, message: String| match path {
        Some(Path(p)) if !p.is_empty() => format!("{p}: {message}"),
        _ => message,
    };
    let message = match err {
        // The field is named in the message; say where it belongs.
        YamlError::SerdeUnknownField { .. } | YamlError::SerdeMissingField { .. } => {
            with_path(mapping_with_key_at(tree, loc), default_message())
        }
        YamlError::InvalidScalar { ty, .. } => {
            let expected = describe_type(ty);
            type_mismatch(tree, loc, &expected, &with_path, default_message)
        }
        YamlError::InvalidBooleanStrict { .. } => type_mismatch(
            tree,
            loc,
            "a boolean (true or false)",
            &with_path,
            default_message,
        ),
        YamlError::SerdeInvalidType { expected, .. }
        | YamlError::SerdeInvalidValue { expected, .. } => {
            type_mismatch(tree, loc, expected, &with_path, default_message)
        }
        YamlError::Unexpected { expected, .. } => type_mismatch(
            tree,
            loc,
            &describe_type(expected),
            &with_path,
            default_message,
        ),
        _ => with_path(value_at(tree, loc).map(|(p, _)| p), default_message()),
    };
    Diagnostic::new(loc, message)
}

/// `path: expected <expected>, found <value>`, or the default message when no value is at
/// `loc`.
fn type_mismatch(
    tree: &Spanned<Node>,
    loc: Loc,
    expected: &str,
    with_path: &dyn Fn(Option<Path>, String) -> String,
    default_message: impl Fn() -> String,
) -> String {
    match value_at(tree, loc) {
        Some((path, node)) => with_path(
            Some(path),
            format!("expected {expected}, found {}", node.describe()),
        ),
        None => default_message(),
    }
}

/// The line numbers (from 1) of each block worth parsing on its own: every top-level entry
/// but `providers`, and each provider with the `providers:` line. Empty when the layout does
/// not allow it (flow style, several entries on a line).
fn blocks(tree: &Spanned<Node>, line_count: u64) -> Vec<Vec<u64>> {
    let Node::Map(top) = &tree.value else {
        return Vec::new();
    };
    let starts: Vec<u64> = top.iter().map(|(k, _)| k.loc.line).collect();
    if !starts.is_sorted() || starts.windows(2).any(|w| w[0] == w[1]) {
        return Vec::new();
    }
    let mut blocks = Vec::new();
    for (i, (key, value)) in top.iter().enumerate() {
        let start = key.loc.line;
        let end = starts.get(i + 1).copied().unwrap_or(line_count + 1);
        let providers = match (&key.value, &value.value) {
            (Node::Str(k), Node::Map(entries)) if k == "providers" => Some(entries),
            _ => None,
        };
        let provider_starts: Vec<u64> = providers
            .into_iter()
            .flatten()
            .map(|(k, _)| k.loc.line)
            .collect();
        let split = !provider_starts.is_empty()
            && provider_starts[0] > start
            && provider_starts.windows(2).all(|w| w[0] < w[1]);
        if split {
            for (j, &p) in provider_starts.iter().enumerate() {
                let p_end = provider_starts.get(j + 1).copied().unwrap_or(end);
                blocks.push(std::iter::once(start).chain(p..p_end).collect());
            }
        } else {
            blocks.push((start..end).collect());
        }
    }
    blocks
}

/// `text` with every line not in `keep` blanked (line numbers and columns unchanged).
fn mask(text: &str, keep: &[u64]) -> String {
    text.split_inclusive('\n')
        .zip(1u64..)
        .map(|(line, n)| {
            if keep.binary_search(&n).is_ok() {
                line
            } else if line.ends_with('\n') {
                "\n"
            } else {
                ""
            }
        })
        .collect()
}
