//! Path templates: `/v1/text-to-speech/{voice_id}`.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// Characters percent-encoded in a path parameter: everything but RFC 3986 unreserved ones, so
/// a value is always exactly one path segment (`/`, `?`, `#` and `%` included are encoded).
const PATH_PARAM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// An endpoint path with `{name}` placeholders, such as `/v1/text-to-speech/{voice_id}`.
///
/// A valid template starts with `/`; each placeholder is a whole path segment (between two `/`,
/// or the last segment) named by an identifier (ASCII letters, digits and `_`, not starting with
/// a digit) that appears once; the literal text has no `{`, `}`, `?`, `#`, whitespace or control
/// characters. [`parse`](Self::parse) says which rule is broken and where.
///
/// ```
/// use media_sdk_spec::PathTemplate;
///
/// let template = PathTemplate::parse("/v1/text-to-speech/{voice_id}").unwrap();
/// assert_eq!(template.params().collect::<Vec<_>>(), ["voice_id"]);
/// let path = template.render(|_| Some("a b/c")).unwrap();
/// assert_eq!(path, "/v1/text-to-speech/a%20b%2Fc");
/// assert_eq!(
///     template.matches(&path),
///     Some(vec![("voice_id", "a b/c".to_owned())])
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathTemplate {
    text: String,
    /// The template cut into literal text and placeholders, as byte ranges of `text` (a
    /// placeholder's range is its name, without the braces).
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Piece {
    Literal(Range<usize>),
    Param(Range<usize>),
}

/// One piece of a [`PathTemplate`], in order: literal text (slashes included) or a placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment<'a> {
    /// Text copied as it is, e.g. `/v1/text-to-speech/`.
    Literal(&'a str),
    /// A placeholder's name, e.g. `voice_id` for `{voice_id}`.
    Param(&'a str),
}

impl PathTemplate {
    /// Parses `text`, or says what is wrong with it and where.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        if !text.starts_with('/') {
            return Err(TemplateError::new(
                text,
                0..text.len().min(1),
                TemplateErrorKind::MissingLeadingSlash,
            ));
        }
        let mut pieces = Vec::new();
        let mut names: Vec<Range<usize>> = Vec::new();
        let mut literal_start = 0;
        let mut rest = 0;
        while let Some(rel) = text[rest..].find(is_special) {
            let at = rest + rel;
            let c = text[at..].chars().next().unwrap_or_default();
            let error = |end: usize, kind| Err(TemplateError::new(text, at..end, kind));
            match c {
                '{' => {
                    let name_start = at + 1;
                    let Some(close_rel) = text[name_start..].find(['{', '}']) else {
                        return error(text.len(), TemplateErrorKind::UnclosedBrace);
                    };
                    let close = name_start + close_rel;
                    if text.as_bytes()[close] == b'{' {
                        return Err(TemplateError::new(
                            text,
                            close..close + 1,
                            TemplateErrorKind::NestedBrace,
                        ));
                    }
                    let name = &text[name_start..close];
                    let end = close + 1;
                    if name.is_empty() {
                        return error(end, TemplateErrorKind::EmptyName);
                    }
                    if !is_identifier(name) {
                        return error(
                            end,
                            TemplateErrorKind::InvalidName {
                                name: name.to_owned(),
                            },
                        );
                    }
                    if let Some(first) = names.iter().find(|r| &text[(*r).clone()] == name) {
                        return error(
                            end,
                            TemplateErrorKind::DuplicateParam {
                                name: name.to_owned(),
                                first: first.start - 1,
                            },
                        );
                    }
                    let whole_segment = text[..at].ends_with('/')
                        && (end == text.len() || text[end..].starts_with('/'));
                    if !whole_segment {
                        return error(
                            end,
                            TemplateErrorKind::NotWholeSegment {
                                name: name.to_owned(),
                            },
                        );
                    }
                    if literal_start < at {
                        pieces.push(Piece::Literal(literal_start..at));
                    }
                    pieces.push(Piece::Param(name_start..close));
                    names.push(name_start..close);
                    literal_start = end;
                    rest = end;
                }
                '}' => return error(at + 1, TemplateErrorKind::UnmatchedBrace),
                c => return error(at + c.len_utf8(), TemplateErrorKind::ForbiddenChar(c)),
            }
        }
        if literal_start < text.len() {
            pieces.push(Piece::Literal(literal_start..text.len()));
        }
        Ok(Self {
            text: text.to_owned(),
            pieces,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The literal text and placeholders, in order.
    pub fn segments(&self) -> impl Iterator<Item = Segment<'_>> + '_ {
        self.pieces.iter().map(|piece| match piece {
            Piece::Literal(range) => Segment::Literal(&self.text[range.clone()]),
            Piece::Param(range) => Segment::Param(&self.text[range.clone()]),
        })
    }

    /// The placeholder names, in order (each appears once).
    pub fn params(&self) -> impl Iterator<Item = &str> + '_ {
        self.segments().filter_map(|segment| match segment {
            Segment::Param(name) => Some(name),
            Segment::Literal(_) => None,
        })
    }

    /// Whether the template has a placeholder named `name`.
    pub fn has_param(&self, name: &str) -> bool {
        self.params().any(|p| p == name)
    }

    /// The path with every placeholder replaced by `value(name)`, percent-encoded as one path
    /// segment (everything but ASCII letters, digits and `-._~` is encoded, `/` included).
    ///
    /// Fails when a placeholder has no value, or its value is empty, `.` or `..` (which would
    /// not be one segment once a URL is normalised).
    pub fn render<V: AsRef<str>>(
        &self,
        mut value: impl FnMut(&str) -> Option<V>,
    ) -> Result<String, RenderError> {
        let mut path = String::with_capacity(self.text.len() + 16);
        for segment in self.segments() {
            match segment {
                Segment::Literal(text) => path.push_str(text),
                Segment::Param(name) => {
                    let Some(v) = value(name) else {
                        return Err(RenderError::Missing {
                            name: name.to_owned(),
                        });
                    };
                    let v = v.as_ref();
                    let name = name.to_owned();
                    match v {
                        "" => return Err(RenderError::Empty { name }),
                        "." | ".." => return Err(RenderError::DotSegment { name }),
                        _ => path.extend(utf8_percent_encode(v, PATH_PARAM)),
                    }
                }
            }
        }
        Ok(path)
    }

    /// [`render`](Self::render) with the values of `params`, a list of `(name, value)` pairs
    /// (the first pair of a name wins).
    pub fn render_with<V: AsRef<str>>(&self, params: &[(&str, V)]) -> Result<String, RenderError> {
        self.render(|name| params.iter().find(|(n, _)| *n == name).map(|(_, v)| v))
    }

    /// Matches a request path (without query string): every literal segment equal, every
    /// placeholder a non-empty segment. Returns each placeholder's name with its value,
    /// percent-decoded, in order; `None` when the path does not match or a value does not
    /// decode to UTF-8. Leading and trailing `/` are not significant.
    pub fn matches<'t>(&'t self, path: &str) -> Option<Vec<(&'t str, String)>> {
        let mut want = self.text.trim_matches('/').split('/');
        let mut got = path.trim_matches('/').split('/');
        let mut captures = Vec::new();
        loop {
            match (want.next(), got.next()) {
                (None, None) => return Some(captures),
                (Some(w), Some(g)) => {
                    // A valid template's placeholders are whole segments.
                    if let Some(name) = w.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                        if g.is_empty() {
                            return None;
                        }
                        let value = percent_decode_str(g).decode_utf8().ok()?.into_owned();
                        captures.push((name, value));
                    } else if w != g {
                        return None;
                    }
                }
                _ => return None,
            }
        }
    }
}

impl FromStr for PathTemplate {
    type Err = TemplateError;
    fn from_str(s: &str) -> Result<Self, TemplateError> {
        Self::parse(s)
    }
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn is_special(c: char) -> bool {
    matches!(c, '{' | '}' | '?' | '#') || c.is_whitespace() || c.is_control()
}

fn is_identifier(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Why a path template is malformed: what is wrong ([`kind`](Self::kind)) and where
/// ([`span`](Self::span), [`position`](Self::position)).
///
/// Its message reads after the template's name: `path "/v1/{a" ` + `has a \`{\` at position 5
/// that is never closed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    kind: TemplateErrorKind,
    span: Range<usize>,
    position: usize,
}

/// What is wrong with a [`PathTemplate`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TemplateErrorKind {
    /// The template does not start with `/`.
    MissingLeadingSlash,
    /// A `{` is never closed.
    UnclosedBrace,
    /// A `}` closes nothing.
    UnmatchedBrace,
    /// A `{` inside a placeholder.
    NestedBrace,
    /// `{}`.
    EmptyName,
    /// A placeholder name that is not an identifier.
    InvalidName {
        /// The name found.
        name: String,
    },
    /// A placeholder name used twice.
    DuplicateParam {
        /// The name.
        name: String,
        /// Byte offset of the first `{name}`.
        first: usize,
    },
    /// A placeholder with other text in its path segment, such as `/v1/x{id}`.
    NotWholeSegment {
        /// The name.
        name: String,
    },
    /// A character that has no place in a path template: `?`, `#`, whitespace or a control
    /// character.
    ForbiddenChar(char),
}

impl TemplateError {
    fn new(text: &str, span: Range<usize>, kind: TemplateErrorKind) -> Self {
        let position = char_position(text, span.start);
        let kind = match kind {
            TemplateErrorKind::DuplicateParam { name, first } => {
                TemplateErrorKind::DuplicateParam {
                    name,
                    first: char_position(text, first),
                }
            }
            kind => kind,
        };
        Self {
            kind,
            span,
            position,
        }
    }

    /// What is wrong.
    pub fn kind(&self) -> &TemplateErrorKind {
        &self.kind
    }

    /// Byte range of the offending text in the template (`0..1`, or `0..0` for an empty
    /// template, when it does not start with `/`).
    pub fn span(&self) -> Range<usize> {
        self.span.clone()
    }

    /// 1-based position, in characters, of the offending text in the template.
    pub fn position(&self) -> usize {
        self.position
    }
}

/// The 1-based character position of byte `offset` of `text`.
fn char_position(text: &str, offset: usize) -> usize {
    text[..offset].chars().count() + 1
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.position;
        match &self.kind {
            TemplateErrorKind::MissingLeadingSlash => f.write_str("must start with `/`"),
            TemplateErrorKind::UnclosedBrace => {
                write!(f, "has a `{{` at position {at} that is never closed")
            }
            TemplateErrorKind::UnmatchedBrace => {
                write!(f, "has a `}}` at position {at} that closes no `{{`")
            }
            TemplateErrorKind::NestedBrace => {
                write!(f, "has a `{{` at position {at} inside a placeholder")
            }
            TemplateErrorKind::EmptyName => {
                write!(f, "has an empty placeholder `{{}}` at position {at}")
            }
            TemplateErrorKind::InvalidName { name } => write!(
                f,
                "has a placeholder `{{{name}}}` at position {at} whose name is not an identifier \
                 (ASCII letters, digits and `_`, not starting with a digit)"
            ),
            TemplateErrorKind::DuplicateParam { name, first } => write!(
                f,
                "has the placeholder `{{{name}}}` twice (at positions {first} and {at})"
            ),
            TemplateErrorKind::NotWholeSegment { name } => write!(
                f,
                "has a placeholder `{{{name}}}` at position {at} that is not a whole path \
                 segment; a placeholder stands for one segment, as in `/items/{{{name}}}/`"
            ),
            TemplateErrorKind::ForbiddenChar('?') => write!(
                f,
                "has `?` at position {at}; a path template has no query string"
            ),
            TemplateErrorKind::ForbiddenChar('#') => write!(
                f,
                "has `#` at position {at}; a path template has no fragment"
            ),
            TemplateErrorKind::ForbiddenChar(c) => write!(
                f,
                "has whitespace or a control character ({:?}) at position {at}",
                c
            ),
        }
    }
}

impl std::error::Error for TemplateError {}

/// Why a [`PathTemplate`] could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RenderError {
    /// A placeholder has no value.
    Missing {
        /// The placeholder's name.
        name: String,
    },
    /// A placeholder's value is empty.
    Empty {
        /// The placeholder's name.
        name: String,
    },
    /// A placeholder's value is `.` or `..`.
    DotSegment {
        /// The placeholder's name.
        name: String,
    },
}

impl RenderError {
    /// The placeholder concerned.
    pub fn name(&self) -> &str {
        match self {
            RenderError::Missing { name }
            | RenderError::Empty { name }
            | RenderError::DotSegment { name } => name,
        }
    }
}

/// Why `value` cannot fill a placeholder as one path segment (empty, `.` or `..`, which URL
/// normalisation would remove or resolve), if so: what [`PathTemplate::render`] refuses, for
/// checks made before rendering.
pub fn segment_problem(value: &str) -> Option<&'static str> {
    match value {
        "" => Some(EMPTY),
        "." | ".." => Some(DOT),
        _ => None,
    }
}

const EMPTY: &str = "must not be empty (it is a path segment)";
const DOT: &str = "must not be `.` or `..` (it is a path segment)";

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenderError::Missing { name } => write!(f, "no value for path parameter `{name}`"),
            RenderError::Empty { name } => write!(f, "path parameter `{name}` {EMPTY}"),
            RenderError::DotSegment { name } => write!(f, "path parameter `{name}` {DOT}"),
        }
    }
}

impl std::error::Error for RenderError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> PathTemplate {
        PathTemplate::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn error(text: &str) -> TemplateError {
        PathTemplate::parse(text).expect_err(text)
    }

    #[test]
    fn a_template_is_cut_into_literals_and_placeholders() {
        let t = parse("/v1/{a}/x/{b_2}");
        assert_eq!(
            t.segments().collect::<Vec<_>>(),
            [
                Segment::Literal("/v1/"),
                Segment::Param("a"),
                Segment::Literal("/x/"),
                Segment::Param("b_2"),
            ]
        );
        assert_eq!(t.params().collect::<Vec<_>>(), ["a", "b_2"]);
        assert!(t.has_param("a") && !t.has_param("x"));
        assert_eq!(t.to_string(), "/v1/{a}/x/{b_2}");
        assert_eq!(parse("/v1/plain").params().count(), 0);
        assert_eq!(
            parse("/").segments().collect::<Vec<_>>(),
            [Segment::Literal("/")]
        );
    }

    #[test]
    fn malformed_templates_say_what_and_where() {
        let cases = [
            ("v1/a", "must start with `/`", 0..1),
            ("", "must start with `/`", 0..0),
            (
                "/v1/{a",
                "has a `{` at position 5 that is never closed",
                4..6,
            ),
            ("/v1/a}", "has a `}` at position 6 that closes no `{`", 5..6),
            (
                "/{a{b}}",
                "has a `{` at position 4 inside a placeholder",
                3..4,
            ),
            (
                "/v1/{}",
                "has an empty placeholder `{}` at position 5",
                4..6,
            ),
            (
                "/v1/{1a}",
                "has a placeholder `{1a}` at position 5 whose name is not an identifier \
                 (ASCII letters, digits and `_`, not starting with a digit)",
                4..8,
            ),
            (
                "/v1/{a-b}",
                "has a placeholder `{a-b}` at position 5 whose name is not an identifier \
                 (ASCII letters, digits and `_`, not starting with a digit)",
                4..9,
            ),
            (
                "/{a}/{a}",
                "has the placeholder `{a}` twice (at positions 2 and 6)",
                5..8,
            ),
            (
                "/v1/x{id}",
                "has a placeholder `{id}` at position 6 that is not a whole path segment; \
                 a placeholder stands for one segment, as in `/items/{id}/`",
                5..9,
            ),
            (
                "/v1/{id}.json",
                "has a placeholder `{id}` at position 5 that is not a whole path segment; \
                 a placeholder stands for one segment, as in `/items/{id}/`",
                4..8,
            ),
            (
                "/v1/a?b=c",
                "has `?` at position 6; a path template has no query string",
                5..6,
            ),
            (
                "/v1/a#top",
                "has `#` at position 6; a path template has no fragment",
                5..6,
            ),
            (
                "/v1/a b",
                "has whitespace or a control character (' ') at position 6",
                5..6,
            ),
        ];
        for (text, message, span) in cases {
            let err = error(text);
            assert_eq!(err.to_string(), message, "{text}");
            assert_eq!(err.span(), span, "{text}");
        }
    }

    #[test]
    fn positions_count_characters() {
        let err = error("/é/{a");
        assert_eq!(err.position(), 4);
        assert_eq!(err.span(), 4..6);
        assert_eq!(err.kind(), &TemplateErrorKind::UnclosedBrace);
    }

    #[test]
    fn rendering_encodes_each_value_as_one_segment() {
        let t = parse("/v1/text-to-speech/{voice_id}/x");
        assert_eq!(
            t.render_with(&[("voice_id", "a b/c?d")]).unwrap(),
            "/v1/text-to-speech/a%20b%2Fc%3Fd/x"
        );
        assert_eq!(
            t.render(|_| Some("A-z_0.9~")).unwrap(),
            "/v1/text-to-speech/A-z_0.9~/x"
        );
        assert_eq!(
            t.render(|_| Some("%/é#")).unwrap(),
            "/v1/text-to-speech/%25%2F%C3%A9%23/x"
        );
        assert_eq!(parse("/v1/a").render(|_| None::<&str>).unwrap(), "/v1/a");
    }

    #[test]
    fn values_that_are_not_one_segment_are_refused() {
        let t = parse("/v1/{id}");
        let none = t.render(|_| None::<&str>).unwrap_err();
        assert_eq!(none.to_string(), "no value for path parameter `id`");
        assert_eq!(none.name(), "id");
        assert_eq!(
            t.render(|_| Some("")).unwrap_err().to_string(),
            "path parameter `id` must not be empty (it is a path segment)"
        );
        for dots in [".", ".."] {
            assert_eq!(
                t.render(|_| Some(dots)).unwrap_err().to_string(),
                "path parameter `id` must not be `.` or `..` (it is a path segment)"
            );
        }
        assert_eq!(t.render(|_| Some("...")).unwrap(), "/v1/...");
    }

    #[test]
    fn matching_captures_and_decodes() {
        assert_eq!(
            parse("/v1/text-to-speech/{voice_id}").matches("/v1/text-to-speech/a%20b"),
            Some(vec![("voice_id", "a b".to_owned())])
        );
        assert_eq!(
            parse("/v1/audio/speech").matches("/v1/audio/speech"),
            Some(vec![])
        );
        assert_eq!(
            parse("/v1/audio/speech").matches("/v1/audio/speech/"),
            Some(vec![])
        );
        assert_eq!(
            parse("/v1/audio/speech").matches("/v1/audio/speech/x"),
            None
        );
        assert_eq!(parse("/v1/x/{id}").matches("/v1/x/"), None);
        assert_eq!(parse("/v1/x/{id}").matches("/v1/x//"), None);
        assert_eq!(
            parse("/fal-ai/flux-pro/v1.1").matches("/fal-ai/flux-pro"),
            None
        );
        assert_eq!(parse("/v1/x/{id}").matches("/v1/x/%FF"), None);
        assert_eq!(
            parse("/v1/{a}/x/{b}").matches("/v1/1/x/a%2Fb"),
            Some(vec![("a", "1".to_owned()), ("b", "a/b".to_owned())])
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            /// Whatever a value holds (slashes, percent signs, `?`, `#`, non-ASCII), rendering
            /// then matching gives it back, and every value stays one segment.
            #[test]
            fn render_then_match_gives_every_value_back(
                a in any::<String>().prop_filter("one segment", |v| !matches!(v.as_str(), "" | "." | "..")),
                b in any::<String>().prop_filter("one segment", |v| !matches!(v.as_str(), "" | "." | "..")),
            ) {
                let t = parse("/v1/{a}/x/{b}");
                let path = t.render_with(&[("a", &a), ("b", &b)]).unwrap();
                prop_assert_eq!(path.split('/').count(), 5);
                prop_assert_eq!(t.matches(&path), Some(vec![("a", a), ("b", b)]));
            }

            /// A parsed template renders back to itself with each `{name}` as its value.
            #[test]
            fn parsed_templates_render_back(
                segments in prop::collection::vec("[a-z0-9._~-]{1,8}|\\{[a-z_][a-z0-9_]{0,6}\\}", 0..6),
            ) {
                let text = format!("/{}", segments.join("/"));
                let Ok(t) = PathTemplate::parse(&text) else {
                    // Only a repeated placeholder name is refused.
                    let mut names: Vec<&String> =
                        segments.iter().filter(|s| s.starts_with('{')).collect();
                    let before = names.len();
                    names.sort();
                    names.dedup();
                    prop_assert!(names.len() < before);
                    return Ok(());
                };
                let rendered = t.render(|name| Some(format!("{{{name}}}"))).unwrap();
                prop_assert_eq!(rendered.replace("%7B", "{").replace("%7D", "}"), text);
            }
        }
    }
}
