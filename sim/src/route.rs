//! Endpoints served by the simulator, and how a request is rebuilt and checked.

use std::fmt;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use media_sdk::spec::{EndpointSpec, JobFlow, JobSpec, ResponseSpec, StreamSpec};
use media_sdk::{Endpoint, ValidationError};
use media_sdk_spec::{PathTemplate, TemplateError};

/// One endpoint the simulator serves.
///
/// Generated code builds one per endpoint with [`SimRoute::of`] (see
/// `providers::<provider>::routes()`); hand-written request types can do the same.
#[derive(Clone, Copy)]
pub struct SimRoute {
    /// The endpoint's description: method, path template, response kind, job flow.
    pub spec: EndpointSpec,
    /// A JSON example of the output: the body of JSON answers and the result of jobs. `None`
    /// answers `{}`.
    pub example: Option<&'static str>,
    /// Checks a rebuilt request: the JSON body's fields merged with the path and query
    /// parameters. Refused requests are answered with the provider's validation error.
    pub check: fn(Value) -> Result<(), Rejection>,
}

impl fmt::Debug for SimRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimRoute")
            .field("provider", &self.spec.provider)
            .field("endpoint", &self.spec.id)
            .field("method", &self.spec.method)
            .field("path", &self.spec.path)
            .field("has_example", &self.example.is_some())
            .finish()
    }
}

impl SimRoute {
    /// The route of request type `E`: its `check` deserializes the rebuilt request as `E` (so
    /// unknown fields, missing fields and wrong types are refused as the real provider would) and
    /// runs [`Validate::validate`](media_sdk::Validate::validate).
    pub fn of<E>(example: Option<&'static str>) -> SimRoute
    where
        E: Endpoint + DeserializeOwned + 'static,
    {
        SimRoute {
            spec: E::SPEC,
            example,
            check: check_request::<E>,
        }
    }
}

fn check_request<E: Endpoint + DeserializeOwned>(request: Value) -> Result<(), Rejection> {
    let request: E = serde_path_to_error::deserialize(request).map_err(Rejection::from_serde)?;
    request.validate().map_err(Rejection::from)
}

/// Why the simulator refused a request's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The offending field (wire name, dotted for nested fields), when known.
    pub field: Option<String>,
    /// The class of problem.
    pub kind: RejectionKind,
    /// What is wrong.
    pub message: String,
}

/// Classes of [`Rejection`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectionKind {
    /// A required field is absent.
    Missing,
    /// A field the endpoint does not know.
    Unknown,
    /// A value of the wrong type or outside an enum.
    Type,
    /// A value outside the endpoint's limits ([`Validate::validate`](media_sdk::Validate::validate)).
    Limit,
}

impl Rejection {
    /// A rejection of `field` for breaking a limit.
    pub fn limit(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            kind: RejectionKind::Limit,
            message: message.into(),
        }
    }

    /// Classifies a deserialization failure and names the field it concerns.
    pub fn from_serde(error: serde_path_to_error::Error<serde_json::Error>) -> Self {
        let path = error.path().to_string();
        let message = error.inner().to_string();
        let quoted = |prefix: &str| {
            message
                .strip_prefix(prefix)
                .and_then(|rest| rest.split('`').next())
                .map(str::to_owned)
        };
        let join = |name: String| {
            if path == "." || path.is_empty() {
                name
            } else if path.ends_with(&name) {
                path.clone()
            } else {
                format!("{path}.{name}")
            }
        };
        if let Some(name) = quoted("missing field `") {
            return Self {
                field: Some(join(name)),
                kind: RejectionKind::Missing,
                message,
            };
        }
        if let Some(name) = quoted("unknown field `") {
            return Self {
                field: Some(join(name)),
                kind: RejectionKind::Unknown,
                message,
            };
        }
        Self {
            field: (path != "." && !path.is_empty()).then_some(path),
            kind: RejectionKind::Type,
            message,
        }
    }
}

impl From<ValidationError> for Rejection {
    fn from(error: ValidationError) -> Self {
        Rejection::limit(error.field, error.message)
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "invalid `{field}`: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Rejection {}

/// Where a request field came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Body,
    Path,
    Query,
}

impl Source {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Source::Body => "body",
            Source::Path => "path",
            Source::Query => "query",
        }
    }
}

/// A path or query parameter as received.
#[derive(Debug, Clone)]
pub(crate) struct Param {
    pub name: String,
    pub value: String,
    pub source: Source,
}

/// A route's path templates, parsed once when the simulator starts.
#[derive(Debug, Clone)]
pub(crate) struct RoutePaths {
    /// The endpoint's path.
    pub path: PathTemplate,
    /// The poll path of a job polled at a path of its own (Kling's tasks).
    pub poll: Option<PathTemplate>,
    /// The path of the streaming variant of an audio endpoint, when it has one of its own
    /// (ElevenLabs' `/stream`).
    pub stream: Option<PathTemplate>,
}

impl RoutePaths {
    /// Parses `route`'s path, poll path and stream path; the error names which one is
    /// malformed.
    pub(crate) fn of(route: &SimRoute) -> Result<Self, (&'static str, TemplateError)> {
        let path = PathTemplate::parse(route.spec.path).map_err(|e| ("path", e))?;
        let poll = match route.spec.response {
            ResponseSpec::Job(JobSpec {
                flow: JobFlow::KlingTask { poll_path },
                ..
            }) => Some(PathTemplate::parse(poll_path).map_err(|e| ("poll_path", e))?),
            _ => None,
        };
        let stream = match route.spec.response {
            ResponseSpec::Audio {
                stream:
                    Some(StreamSpec {
                        path: Some(stream_path),
                        ..
                    }),
                ..
            } => Some(PathTemplate::parse(stream_path).map_err(|e| ("stream.path", e))?),
            _ => None,
        };
        Ok(Self { path, poll, stream })
    }
}

/// The typed reading of a parameter string, when it has one: `true`/`false` and numbers.
fn typed(value: &str) -> Option<Value> {
    match value {
        "true" => return Some(Value::Bool(true)),
        "false" => return Some(Value::Bool(false)),
        _ => {}
    }
    if let Ok(n) = value.parse::<i64>() {
        return Some(n.into());
    }
    if let Ok(n) = value.parse::<u64>() {
        return Some(n.into());
    }
    value
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
        .and_then(serde_json::Number::from_f64)
        .map(Value::Number)
}

/// Up to this many convertible parameters, every combination of readings is tried.
const MAX_CONVERTIBLE: usize = 6;

/// Rebuilds the request from the body object and the parameters and runs the route's check.
///
/// Parameters arrive as strings; one that reads as a boolean or number is tried both as the
/// string and as the typed value, and the first combination the check accepts wins. Returns the
/// accepted request, or the most telling refusal with where its field came from.
pub(crate) fn rebuild_and_check(
    check: fn(Value) -> Result<(), Rejection>,
    body: Map<String, Value>,
    params: &[Param],
) -> Result<Value, (Rejection, Source)> {
    let convertible: Vec<(usize, Value)> = params
        .iter()
        .enumerate()
        .filter_map(|(i, p)| typed(&p.value).map(|v| (i, v)))
        .collect();
    // Every subset when there are few; otherwise none and all.
    let masks: Vec<u32> = if convertible.len() <= MAX_CONVERTIBLE {
        (0..1u32 << convertible.len()).collect()
    } else {
        vec![0, u32::MAX]
    };
    let source_of = |field: &Option<String>| {
        let root = field.as_deref().and_then(|f| f.split('.').next());
        params
            .iter()
            .find(|p| Some(p.name.as_str()) == root)
            .map_or(Source::Body, |p| p.source)
    };
    let mut best: Option<(Rejection, Source)> = None;
    for mask in masks {
        let mut request = body.clone();
        for (i, param) in params.iter().enumerate() {
            let converted = convertible
                .iter()
                .position(|(j, _)| *j == i)
                .filter(|&k| mask == u32::MAX || (mask >> k) & 1 == 1)
                .map(|k| convertible[k].1.clone());
            let value = converted.unwrap_or_else(|| Value::String(param.value.clone()));
            request.insert(param.name.clone(), value);
        }
        let request = Value::Object(request);
        match check(request.clone()) {
            Ok(()) => return Ok(request),
            Err(rejection) => {
                let source = source_of(&rejection.field);
                // A type complaint about a parameter usually means "try the other reading";
                // prefer any other refusal as the one reported.
                let about_param_type =
                    rejection.kind == RejectionKind::Type && source != Source::Body;
                let replace = match &best {
                    None => true,
                    Some((previous, previous_source)) => {
                        let previous_about_param = previous.kind == RejectionKind::Type
                            && *previous_source != Source::Body;
                        previous_about_param && !about_param_type
                    }
                };
                if replace {
                    best = Some((rejection, source));
                }
            }
        }
    }
    Err(best.expect("at least one combination is tried"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_readings() {
        assert_eq!(typed("true"), Some(Value::Bool(true)));
        assert_eq!(typed("42"), Some(42.into()));
        assert_eq!(typed("0.5"), Some(0.5.into()));
        assert_eq!(typed("mp3_44100_128"), None);
        assert_eq!(typed("NaN"), None);
    }

    fn wants_bool_flag(request: Value) -> Result<(), Rejection> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Request {
            text: String,
            flag: Option<bool>,
            name: Option<String>,
        }
        let request: Request =
            serde_path_to_error::deserialize(request).map_err(Rejection::from_serde)?;
        let _ = (request.flag, request.name);
        if request.text.len() > 5 {
            return Err(Rejection::limit("text", "too long"));
        }
        Ok(())
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<Param> {
        pairs
            .iter()
            .map(|(n, v)| Param {
                name: (*n).to_owned(),
                value: (*v).to_owned(),
                source: Source::Query,
            })
            .collect()
    }

    fn body(text: &str) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("text".into(), text.into());
        map
    }

    #[test]
    fn query_strings_are_converted_only_where_needed() {
        let accepted = rebuild_and_check(
            wants_bool_flag,
            body("hi"),
            &params(&[("flag", "true"), ("name", "123")]),
        )
        .unwrap();
        assert_eq!(accepted["flag"], Value::Bool(true));
        assert_eq!(accepted["name"], Value::String("123".into()));
    }

    #[test]
    fn the_telling_refusal_is_reported() {
        let (rejection, source) = rebuild_and_check(
            wants_bool_flag,
            body("far too long"),
            &params(&[("flag", "true")]),
        )
        .unwrap_err();
        assert_eq!(rejection.kind, RejectionKind::Limit);
        assert_eq!(rejection.field.as_deref(), Some("text"));
        assert_eq!(source, Source::Body);

        let (rejection, source) =
            rebuild_and_check(wants_bool_flag, body("hi"), &params(&[("flag", "yes")]))
                .unwrap_err();
        assert_eq!(rejection.kind, RejectionKind::Type);
        assert_eq!(rejection.field.as_deref(), Some("flag"));
        assert_eq!(source, Source::Query);
    }

    #[test]
    fn serde_failures_name_their_field() {
        let missing = wants_bool_flag(serde_json::json!({})).unwrap_err();
        assert_eq!(missing.kind, RejectionKind::Missing);
        assert_eq!(missing.field.as_deref(), Some("text"));
        let unknown = wants_bool_flag(serde_json::json!({"text": "a", "bogus": 1})).unwrap_err();
        assert_eq!(unknown.kind, RejectionKind::Unknown);
        assert_eq!(unknown.field.as_deref(), Some("bogus"));
        let wrong = wants_bool_flag(serde_json::json!({"text": 5})).unwrap_err();
        assert_eq!(wrong.kind, RejectionKind::Type);
        assert_eq!(wrong.field.as_deref(), Some("text"));
    }
}
