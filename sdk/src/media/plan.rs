//! The facade's template engine, pure: a capability entry and a unified request in, the
//! endpoint's JSON request and its credits out (or a refusal, before any network call); an
//! endpoint's answer in, its media URLs out.
//!
//! Nothing here names a provider: everything comes from the [`Entry`] (see
//! [`capability`](super::capability) for the template rule).

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::MediaError;
use super::capability::{Entry, Model, OutputPath, VoiceIds, Voices};
use crate::error::Error;

/// Most URLs taken from one answer.
pub(crate) const MAX_URLS: usize = 16;

/// Longest voice id passed through as a provider voice id.
const MAX_VOICE_ID: usize = 128;

/// The inputs of a unified request that are present (not absent, not at their default), by
/// name, as JSON.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Inputs {
    values: Vec<(&'static str, Value)>,
}

impl Inputs {
    /// No input.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// With input `name` set to `value`, or absent when `value` is `None`.
    pub(crate) fn with(mut self, name: &'static str, value: Option<Value>) -> Self {
        self.set(name, value);
        self
    }

    fn set(&mut self, name: &'static str, value: Option<Value>) {
        self.values.retain(|(n, _)| *n != name);
        if let Some(value) = value {
            self.values.push((name, value));
        }
    }

    /// The value of input `name`, if present.
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.values.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

/// A number as JSON: an integer when it is one (a provider field typed as an integer takes
/// `10`, not `10.0`), else a float; `None` when it is not finite.
pub(crate) fn number(value: f64) -> Option<Value> {
    if !value.is_finite() {
        return None;
    }
    // Exactly representable integers only (|v| < 2^53).
    if value.fract() == 0.0 && value.abs() < 9_007_199_254_740_992.0 {
        #[allow(clippy::cast_possible_truncation)] // integral and in range, checked above
        return Some(Value::from(value as i64));
    }
    serde_json::Number::from_f64(value).map(Value::Number)
}

/// An option value as the text it is compared by: a string as it is, a number in its shortest
/// form (`10` for `10.0`), a boolean as `true`/`false`; `None` for anything else.
pub(crate) fn option_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => {
                #[allow(clippy::cast_possible_truncation)] // integral and in range
                let i = f as i64;
                i.to_string()
            }
            _ => n.to_string(),
        }),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A JSON text of the capability table, parsed (the generator writes valid JSON; a hand-built
/// table may not).
fn table_json(text: &str, what: &str, entry: &Entry) -> Result<Value, MediaError> {
    serde_json::from_str(text).map_err(|e| {
        let spec = entry.endpoint.spec();
        MediaError::Provider(Error::Config(format!(
            "capability table: {what} of {}/{} is not JSON: {e}",
            spec.provider, spec.id
        )))
    })
}

/// The placeholder name of a template string that is exactly `{name}`.
fn placeholder(text: &str) -> Option<&str> {
    let name = text.strip_prefix('{')?.strip_suffix('}')?;
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    ok.then_some(name)
}

/// `template` with every placeholder replaced by its input's value. A key (or array element)
/// whose placeholder has no present input is left out, and so is an object that this leaves
/// empty; `None` when `template` itself is left out.
pub(crate) fn render(template: &Value, inputs: &Inputs) -> Option<Value> {
    match template {
        Value::String(text) => match placeholder(text) {
            Some(name) => inputs.get(name).cloned(),
            None => Some(template.clone()),
        },
        Value::Object(fields) => {
            let rendered: Map<String, Value> = fields
                .iter()
                .filter_map(|(k, v)| render(v, inputs).map(|v| (k.clone(), v)))
                .collect();
            (fields.is_empty() || !rendered.is_empty()).then_some(Value::Object(rendered))
        }
        Value::Array(items) => Some(Value::Array(
            items.iter().filter_map(|v| render(v, inputs)).collect(),
        )),
        other => Some(other.clone()),
    }
}

/// Merges `over` onto `base`: objects field by field (recursively), anything else replaced.
pub(crate) fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(base), Value::Object(over)) => {
            for (key, value) in over {
                match base.get_mut(key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (base, over) => *base = over.clone(),
    }
}

/// Renders `template` (a JSON object) as a request: `{}` when everything was left out.
fn render_request(template: &Value, inputs: &Inputs) -> Value {
    render(template, inputs).unwrap_or_else(|| Value::Object(Map::new()))
}

/// The endpoint's voice for the facade `voice`, or `None` when the entry does not know it.
/// Tried in order: `extra` (the caller's names for this provider, lowercase), the entry's
/// `names` (case-insensitive), its `listed` enum values (case-insensitive, sent as listed),
/// then its `ids` (prefix, exact length, ASCII letters, digits, `_` and `-` only, at most
/// 128 bytes), sent through the ids template. An entry without `voices` sends the voice as
/// it is.
pub(crate) fn resolve_voice(
    entry: &Entry,
    extra: Option<&HashMap<String, Value>>,
    voice: &str,
) -> Result<Option<Value>, MediaError> {
    let voice = voice.trim();
    if voice.is_empty() {
        return Ok(None);
    }
    let lower = voice.to_lowercase();
    if let Some(value) = extra.and_then(|names| names.get(&lower)) {
        return Ok(Some(value.clone()));
    }
    let Some(Voices { names, listed, ids }) = entry.voices else {
        return Ok(Some(Value::String(voice.to_owned())));
    };
    if let Some((_, json)) = names.iter().find(|(name, _)| name.to_lowercase() == lower) {
        return table_json(json, "a voice", entry).map(Some);
    }
    if let Some(value) = listed.iter().find(|v| v.eq_ignore_ascii_case(voice)) {
        return Ok(Some(Value::String((*value).to_owned())));
    }
    match ids {
        Some(ids) if is_voice_id(&ids, voice) => {
            let template = table_json(ids.template, "the voice id template", entry)?;
            let inputs = Inputs::new().with("voice", Some(Value::String(voice.to_owned())));
            Ok(render(&template, &inputs))
        }
        _ => Ok(None),
    }
}

/// Whether `voice` looks like one of the provider's voice ids.
fn is_voice_id(ids: &VoiceIds, voice: &str) -> bool {
    voice.len() > ids.prefix.len()
        && voice.len() <= MAX_VOICE_ID
        && voice.starts_with(ids.prefix)
        && ids.length.is_none_or(|n| voice.len() == n)
        && voice
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The text-to-speech request of `entry` for `inputs` (`text`, `speed` when not 1.0) and the
/// resolved `voice`.
pub(crate) fn tts_request(
    entry: &Entry,
    inputs: &Inputs,
    voice: Value,
) -> Result<Value, MediaError> {
    let template = table_json(entry.request, "the request template", entry)?;
    let inputs = inputs.clone().with("voice", Some(voice));
    Ok(render_request(&template, &inputs))
}

/// The model of `entry` called `name` (its canonical name or an alias, case-insensitive).
pub(crate) fn find_model(entry: &Entry, name: &str) -> Option<&'static Model> {
    let name = name.trim();
    entry.models.iter().find(|m| {
        m.name.eq_ignore_ascii_case(name) || m.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    })
}

/// Every model name and alias of `entries`, in declared order, once each.
pub(crate) fn known_models(entries: &[Entry]) -> Vec<String> {
    let mut known: Vec<String> = Vec::new();
    for model in entries.iter().flat_map(|e| e.models) {
        for name in std::iter::once(&model.name).chain(model.aliases) {
            if !known.iter().any(|k| k == name) {
                known.push((*name).to_owned());
            }
        }
    }
    known
}

/// A request planned for one entry and model: what to send and what it costs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Planned {
    /// The endpoint's JSON request.
    pub(crate) request: Value,
    /// Credits per output item.
    pub(crate) credits: u32,
}

/// The request of `entry` with `model` for `inputs`: every restricted option of the model
/// checked (its value, compared as a string, must be one it lists, else
/// [`MediaError::UnsupportedOption`] with the values allowed) and mapped to the JSON it lists;
/// the model's request merged over the entry's template, then rendered. Credits per output item
/// are the model's, or its `credits_by` for a given option value.
pub(crate) fn plan(entry: &Entry, model: &Model, inputs: &Inputs) -> Result<Planned, MediaError> {
    let mut mapped = inputs.clone();
    for (option, values) in model.options {
        let Some(given) = inputs.get(option) else {
            continue;
        };
        let text = option_text(given);
        let found = text
            .as_deref()
            .and_then(|t| values.iter().find(|(value, _)| *value == t));
        let Some((_, json)) = found else {
            return Err(MediaError::UnsupportedOption {
                model: model.name.to_owned(),
                option: (*option).to_owned(),
                value: text.unwrap_or_else(|| given.to_string()),
                allowed: values.iter().map(|(v, _)| (*v).to_owned()).collect(),
            });
        };
        mapped.set(option, Some(table_json(json, "an option value", entry)?));
    }
    let credits = model
        .credits_by
        .iter()
        .find(|(option, value, _)| {
            inputs.get(option).and_then(option_text).as_deref() == Some(*value)
        })
        .map_or(model.credits, |(_, _, credits)| *credits);
    let mut template = table_json(entry.request, "the request template", entry)?;
    merge(
        &mut template,
        &table_json(model.request, "a model's request", entry)?,
    );
    Ok(Planned {
        request: render_request(&template, &mapped),
        credits,
    })
}

/// The media URLs of an answer: the strings at the first of `paths` that finds any (a `*`
/// segment walks every element of an array), at most [`MAX_URLS`]; base64 data for an
/// `inline_type` path becomes a `data:` URL (strings that are not base64 are skipped).
pub(crate) fn extract_urls(answer: &Value, paths: &[OutputPath]) -> Vec<String> {
    for path in paths {
        let mut found = Vec::new();
        let segments: Vec<String> = path
            .pointer
            .split('/')
            .skip(1)
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect();
        collect(answer, &segments, &mut found);
        let urls: Vec<String> = found
            .into_iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| match path.inline_type {
                None => Some(s.to_owned()),
                Some(media_type) => is_base64(s).then(|| format!("data:{media_type};base64,{s}")),
            })
            .take(MAX_URLS)
            .collect();
        if !urls.is_empty() {
            return urls;
        }
    }
    Vec::new()
}

/// The strings at `segments` under `value`, at most [`MAX_URLS`].
fn collect<'v>(value: &'v Value, segments: &[String], found: &mut Vec<&'v str>) {
    if found.len() >= MAX_URLS {
        return;
    }
    let Some((first, rest)) = segments.split_first() else {
        if let Value::String(s) = value {
            found.push(s);
        }
        return;
    };
    match value {
        Value::Array(items) if first == "*" => {
            for item in items {
                collect(item, rest, found);
            }
        }
        Value::Array(items) => {
            if let Some(item) = first.parse::<usize>().ok().and_then(|i| items.get(i)) {
                collect(item, rest, found);
            }
        }
        Value::Object(fields) => {
            if let Some(field) = fields.get(first.as_str()) {
                collect(field, rest, found);
            }
        }
        _ => {}
    }
}

/// Whether `text` is base64 (standard or URL-safe alphabet, padding at the end only).
fn is_base64(text: &str) -> bool {
    let data = text.trim_end_matches('=');
    text.len() - data.len() <= 2
        && !data.is_empty()
        && data
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamic::DynEndpoint;
    use crate::{Endpoint, Validate};
    use serde::{Deserialize, Serialize};
    use serde_json::json;

    // Endpoints of no real provider: the engine only reads the table.
    #[derive(Debug, Clone, Serialize, Deserialize, Endpoint)]
    #[endpoint(
        provider = "acme",
        id = "speak",
        health_id = "acme-tts",
        method = "POST",
        path = "/speak",
        response = "audio",
        content_type = "audio/mpeg"
    )]
    struct Speak {
        say: String,
    }

    impl Validate for Speak {}

    #[derive(Debug, Clone, Serialize, Deserialize, Endpoint)]
    #[endpoint(
        provider = "acme",
        id = "draw",
        health_id = "acme-image",
        method = "POST",
        path = "/draw",
        response = "json",
        output = serde_json::Value
    )]
    struct Draw {
        prompt: String,
    }

    impl Validate for Draw {}

    static SPEECH: DynEndpoint = DynEndpoint::audio::<Speak>("{}", false);
    static DRAW: DynEndpoint = DynEndpoint::json::<Draw>("{}");

    const IDS: VoiceIds = VoiceIds {
        prefix: "v_",
        length: None,
        template: r#"{"id":"{voice}"}"#,
    };

    fn tts_entry(voices: Option<Voices>) -> Entry {
        Entry {
            endpoint: &SPEECH,
            request: r#"{"say":"{text}","who":"{voice}","tuning":{"pace":"{speed}"},"fixed":3}"#,
            credits: 2,
            voices,
            models: &[],
            output: &[],
        }
    }

    const VOICES: Voices = Voices {
        names: &[("narrator", r#""n-1""#), ("Robot", r#"{"preset":"r"}"#)],
        listed: &["Alpha", "beta"],
        ids: Some(IDS),
    };

    static MODELS: &[Model] = &[
        Model {
            name: "pic-2",
            aliases: &["pic2", "Picture-Two"],
            request: r#"{"model":"pic-2","n":1,"tuning":{"steps":4}}"#,
            options: &[
                (
                    "size",
                    &[("small", r#""s""#), ("1024x768", r#"{"w":1024,"h":768}"#)],
                ),
                ("quality", &[("low", r#""low""#), ("hd", r#""hd""#)]),
                ("duration", &[("5", r#""5""#), ("10", r#""10""#)]),
            ],
            credits: 10,
            credits_by: &[("quality", "hd", 20), ("duration", "10", 30)],
        },
        Model {
            name: "pic-1",
            aliases: &[],
            request: "{}",
            options: &[],
            credits: 1,
            credits_by: &[],
        },
    ];

    fn image_entry() -> Entry {
        Entry {
            endpoint: &DRAW,
            request: r#"{"prompt":"{prompt}","size":"{size}","quality":"{quality}","secs":"{duration}","tuning":{"cfg":"{cfg}"}}"#,
            credits: 1,
            voices: None,
            models: MODELS,
            output: &[
                OutputPath {
                    pointer: "/data/*/url",
                    inline_type: None,
                },
                OutputPath {
                    pointer: "/data/*/b64",
                    inline_type: Some("image/png"),
                },
            ],
        }
    }

    fn text(s: &str) -> Option<Value> {
        Some(Value::String(s.to_owned()))
    }

    #[test]
    fn placeholders_are_substituted_and_absent_inputs_left_out_with_emptied_objects() {
        let entry = tts_entry(Some(VOICES));
        let inputs = Inputs::new().with("text", text("Hi"));
        assert_eq!(
            tts_request(&entry, &inputs, json!("n-1")).unwrap(),
            json!({"say": "Hi", "who": "n-1", "fixed": 3}),
            "speed absent: its key and the emptied object are left out"
        );
        let inputs = inputs.with("speed", number(1.25));
        assert_eq!(
            tts_request(&entry, &inputs, json!({"id": "v_1"})).unwrap(),
            json!({"say": "Hi", "who": {"id": "v_1"}, "tuning": {"pace": 1.25}, "fixed": 3})
        );
    }

    #[test]
    fn render_keeps_literals_empty_literal_objects_and_drops_unknown_placeholders() {
        let template = json!({
            "a": "{x}", "b": "{nope}", "c": "not {x}", "d": {}, "e": ["{x}", "{nope}", 1],
            "f": {"g": {"h": "{nope}"}}, "i": "{X}"
        });
        let inputs = Inputs::new().with("x", Some(json!(7)));
        assert_eq!(
            render(&template, &inputs).unwrap(),
            json!({"a": 7, "c": "not {x}", "d": {}, "e": [7, 1], "i": "{X}"})
        );
        assert_eq!(render(&json!({"a": "{nope}"}), &inputs), None);
        assert_eq!(render(&json!("{x}"), &inputs), Some(json!(7)));
    }

    #[test]
    fn merge_is_deep_and_the_model_wins() {
        let mut base = json!({"a": 1, "t": {"x": 1, "y": 2}, "s": "{size}"});
        merge(&mut base, &json!({"a": 2, "t": {"y": 3, "z": 4}, "n": 1}));
        assert_eq!(
            base,
            json!({"a": 2, "t": {"x": 1, "y": 3, "z": 4}, "s": "{size}", "n": 1})
        );
    }

    #[test]
    fn voices_resolve_by_name_then_listed_then_ids() {
        let entry = tts_entry(Some(VOICES));
        let resolve = |voice: &str| resolve_voice(&entry, None, voice).unwrap();
        assert_eq!(resolve("NARRATOR"), Some(json!("n-1")), "names: any case");
        assert_eq!(resolve("robot"), Some(json!({"preset": "r"})));
        assert_eq!(
            resolve("alpha"),
            Some(json!("Alpha")),
            "listed: sent as listed"
        );
        assert_eq!(resolve(" Beta "), Some(json!("beta")));
        assert_eq!(resolve("v_custom-1"), Some(json!({"id": "v_custom-1"})));
        for refused in [
            "v_",
            "v_a b",
            "v_ü",
            "x_abc",
            "",
            "  ",
            &format!("v_{}", "a".repeat(127)),
        ] {
            assert_eq!(resolve(refused), None, "{refused:?}");
        }
        let fixed = Voices {
            ids: Some(VoiceIds {
                prefix: "",
                length: Some(4),
                template: r#""{voice}""#,
            }),
            ..VOICES
        };
        let entry = tts_entry(Some(fixed));
        assert_eq!(
            resolve_voice(&entry, None, "ab12").unwrap(),
            Some(json!("ab12"))
        );
        assert_eq!(resolve_voice(&entry, None, "ab123").unwrap(), None);
        let extra: HashMap<String, Value> = [("alpha".to_owned(), json!("mine"))].into();
        assert_eq!(
            resolve_voice(&entry, Some(&extra), "ALPHA").unwrap(),
            Some(json!("mine")),
            "the caller's names come first"
        );
        let open = tts_entry(None);
        assert_eq!(
            resolve_voice(&open, None, "Any").unwrap(),
            Some(json!("Any"))
        );
    }

    #[test]
    fn models_are_found_by_name_or_alias_and_listed_once() {
        let entry = image_entry();
        assert_eq!(find_model(&entry, "PIC2").unwrap().name, "pic-2");
        assert_eq!(find_model(&entry, "picture-two").unwrap().name, "pic-2");
        assert!(find_model(&entry, "pic-3").is_none());
        assert_eq!(
            known_models(&[entry, image_entry()]),
            ["pic-2", "pic2", "Picture-Two", "pic-1"]
        );
    }

    #[test]
    fn options_are_checked_mapped_and_priced() {
        let entry = image_entry();
        let model = &MODELS[0];
        let inputs = Inputs::new()
            .with("prompt", text("a cat"))
            .with("size", text("1024x768"))
            .with("quality", text("hd"));
        let planned = plan(&entry, model, &inputs).unwrap();
        assert_eq!(
            planned.request,
            json!({"prompt": "a cat", "size": {"w": 1024, "h": 768}, "quality": "hd",
                   "model": "pic-2", "n": 1, "tuning": {"steps": 4}})
        );
        assert_eq!(planned.credits, 20, "credits_by overrides credits");
        let plain = plan(&entry, model, &Inputs::new().with("prompt", text("a"))).unwrap();
        assert_eq!(plain.credits, 10);
        // A number is compared as its text.
        let ten = Inputs::new().with("duration", number(10.0));
        let planned = plan(&entry, model, &ten).unwrap();
        assert_eq!(
            (planned.credits, &planned.request["secs"]),
            (30, &json!("10"))
        );
        // Unrestricted options pass as given.
        let free = plan(
            &entry,
            &MODELS[1],
            &Inputs::new().with("size", text("huge")),
        )
        .unwrap();
        assert_eq!(free.request, json!({"size": "huge"}));
        assert_eq!(free.credits, 1);
    }

    #[test]
    fn an_option_outside_the_list_is_refused_with_the_allowed_values() {
        let entry = image_entry();
        let cases = [
            ("size", json!("huge"), "huge"),
            ("size", json!("S"), "S"),
            ("duration", json!(7), "7"),
            ("duration", json!(5.5), "5.5"),
            ("quality", json!({"x": 1}), r#"{"x":1}"#),
        ];
        for (option, value, shown) in cases {
            let inputs = Inputs::new().with(option, Some(value.clone()));
            match plan(&entry, &MODELS[0], &inputs) {
                Err(MediaError::UnsupportedOption {
                    model,
                    option: o,
                    value,
                    allowed,
                }) => {
                    assert_eq!(
                        (model.as_str(), o.as_str(), value.as_str()),
                        ("pic-2", option, shown)
                    );
                    let expected: Vec<&str> = MODELS[0]
                        .options
                        .iter()
                        .find(|(name, _)| *name == option)
                        .unwrap()
                        .1
                        .iter()
                        .map(|(v, _)| *v)
                        .collect();
                    assert_eq!(allowed, expected);
                }
                other => panic!("{option} {value}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_broken_table_is_a_config_error() {
        let entry = Entry {
            request: "{not json",
            ..image_entry()
        };
        let error = plan(&entry, &MODELS[1], &Inputs::new()).unwrap_err();
        assert!(
            matches!(&error, MediaError::Provider(Error::Config(m)) if m.contains("acme/draw")),
            "{error:?}"
        );
    }

    #[test]
    fn numbers_are_integers_when_they_are() {
        assert_eq!(number(10.0), Some(json!(10)));
        assert_eq!(number(1.5), Some(json!(1.5)));
        assert_eq!(number(f64::NAN), None);
        assert_eq!(number(f64::INFINITY), None);
        assert_eq!(option_text(&json!(10.0)).as_deref(), Some("10"));
        assert_eq!(option_text(&json!("10")).as_deref(), Some("10"));
        assert_eq!(option_text(&json!(true)).as_deref(), Some("true"));
        assert_eq!(option_text(&json!(null)), None);
    }

    #[test]
    fn urls_come_from_the_first_path_that_finds_any() {
        let entry = image_entry();
        let answer = json!({"data": [{"url": "https://a/1"}, {"url": 5}, {"url": ""}, {"url": "https://a/2"}]});
        assert_eq!(
            extract_urls(&answer, entry.output),
            ["https://a/1", "https://a/2"]
        );
        let inline = json!({"data": [{"b64": "SUQz"}, {"b64": "not base64!"}, {"b64": "YQ=="}]});
        assert_eq!(
            extract_urls(&inline, entry.output),
            ["data:image/png;base64,SUQz", "data:image/png;base64,YQ=="]
        );
        assert!(extract_urls(&json!({"data": "x"}), entry.output).is_empty());
        assert!(extract_urls(&json!(null), entry.output).is_empty());
        let one = [OutputPath {
            pointer: "/audio_file/url",
            inline_type: None,
        }];
        assert_eq!(
            extract_urls(&json!({"audio_file": {"url": "https://a/s.wav"}}), &one),
            ["https://a/s.wav"]
        );
        let indexed = [OutputPath {
            pointer: "/a~1b/1",
            inline_type: None,
        }];
        assert_eq!(extract_urls(&json!({"a/b": ["x", "y"]}), &indexed), ["y"]);
    }

    #[test]
    fn at_most_sixteen_urls_are_taken() {
        let many: Vec<Value> = (0..1000).map(|i| json!({"url": format!("u{i}")})).collect();
        let urls = extract_urls(&json!({ "data": many }), image_entry().output);
        assert_eq!(urls.len(), MAX_URLS);
        assert_eq!(urls[0], "u0");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn leaf() -> impl Strategy<Value = Value> {
            prop_oneof![
                Just(json!("{a}")),
                Just(json!("{b}")),
                Just(json!("lit")),
                any::<i32>().prop_map(Value::from),
            ]
        }

        fn template() -> impl Strategy<Value = Value> {
            leaf().prop_recursive(4, 32, 4, |inner| {
                prop::collection::btree_map("[a-d]", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect()))
            })
        }

        fn contains_string(value: &Value, absent: &str) -> bool {
            match value {
                Value::String(s) => s == absent,
                Value::Object(m) => m.values().any(|v| contains_string(v, absent)),
                _ => false,
            }
        }

        const A: &str = "{a}";
        const B: &str = "{b}";

        proptest! {
            /// With every input present, nothing is left out and no placeholder remains;
            /// with one absent, its placeholder never appears.
            #[test]
            fn rendering_never_leaves_a_placeholder_of_a_present_input(t in template(), a in any::<i32>()) {
                let both = Inputs::new().with("a", Some(json!(a))).with("b", Some(json!("B")));
                let rendered = render(&t, &both).unwrap();
                let text = rendered.to_string();
                prop_assert!(!text.contains(A) && !text.contains(B));
                let only_a = Inputs::new().with("a", Some(json!(a)));
                if let Some(rendered) = render(&t, &only_a) {
                    prop_assert!(!contains_string(&rendered, B));
                }
            }

            /// Merging a document over itself changes nothing, and over `{}` keeps it.
            #[test]
            fn merge_is_idempotent(t in template()) {
                let mut same = t.clone();
                merge(&mut same, &t);
                prop_assert_eq!(&same, &t);
                let mut base = json!({});
                merge(&mut base, &t);
                if t.is_object() {
                    prop_assert_eq!(&base, &t);
                }
            }
        }
    }
}
