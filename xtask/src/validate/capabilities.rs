//! Checks of example requests (`example_request`) and of the `capabilities:` section: values
//! against the endpoint's fields and rules, templates, voices, models, credits and outputs.
//! Every problem points at the node it is about.

use std::collections::HashMap;

use crate::diag::{Diagnostic, Loc};
use crate::spec::{
    CapabilityEntry, CapabilityKind, Endpoint, Field, FieldType, JsonNode, Map, ModelSpec,
    ResponseKind, Spanned, Spec,
};

use super::{at, one_of};

/// What a placeholder (`"{input}"`) may be in the value being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placeholders {
    /// None: strings are literals (example requests, option values, voice names).
    Literal,
    /// The inputs of a capability (request templates, models' requests).
    Inputs(CapabilityKind),
    /// Only `{voice}` (`voices.ids.as`).
    Voice,
}

/// Whether an object must hold every required field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Completeness {
    /// A whole value: required fields without a default must be present.
    Whole,
    /// A part (a request template, a model's request): coverage is checked on the merge.
    Partial,
}

struct Check<'a> {
    out: &'a mut Vec<Diagnostic>,
    placeholders: Placeholders,
}

impl Check<'_> {
    fn err(&mut self, loc: Loc, message: impl Into<String>) {
        self.out.push(Diagnostic::new(loc, message));
    }

    /// A placeholder of the value's context, checked; `true` when `node` is one (its type is
    /// then the input's, not checked here).
    fn placeholder(&mut self, node: &Spanned<JsonNode>) -> bool {
        let Some(name) = node.value.placeholder() else {
            return false;
        };
        match self.placeholders {
            Placeholders::Literal => return false,
            Placeholders::Voice if name != "voice" => self.err(
                node.loc,
                format!("`{{{name}}}` is not allowed here; a voice id template takes only `{{voice}}`"),
            ),
            Placeholders::Voice => {}
            Placeholders::Inputs(kind) if name == "model" => self.err(
                node.loc,
                format!(
                    "`{{model}}` is not a placeholder: the {} input `model` selects one of `models`; set the model's field in `models.<name>.request`",
                    kind.as_str()
                ),
            ),
            Placeholders::Inputs(kind) if !kind.inputs().iter().any(|(i, _)| *i == name) => self
                .err(
                    node.loc,
                    format!(
                        "`{{{name}}}` is not an input of {}; expected one of {}",
                        kind.as_str(),
                        one_of(&kind.inputs().iter().map(|(i, _)| format!("{{{i}}}")).collect::<Vec<_>>())
                    ),
                ),
            Placeholders::Inputs(_) => {}
        }
        true
    }

    /// A free-text input (`text`, `prompt`) must fill a field that takes any string, and
    /// `speed` a numeric one. (Other inputs go through voice mappings or option values, which
    /// are checked themselves.)
    fn placeholder_type(&mut self, field: &Field, node: &Spanned<JsonNode>, path: &str) {
        let Some(name) = node.value.placeholder() else {
            return;
        };
        let fits = match name {
            "text" | "prompt" => {
                matches!(field.ty.value, FieldType::String | FieldType::Json)
                    || (field.ty.value == FieldType::Enum && field.open)
            }
            "speed" => matches!(field.ty.value, FieldType::Number | FieldType::Json),
            _ => true,
        };
        if !fits {
            self.err(
                node.loc,
                format!(
                    "{path}: `{{{name}}}` cannot fill {} field",
                    a(field.ty.value.as_str())
                ),
            );
        }
    }

    /// An object against `fields`: every key a field, every value of its type; the required
    /// fields present (or defaulted) when it is [`Completeness::Whole`].
    fn object(
        &mut self,
        fields: &Map<Field>,
        node: &Spanned<JsonNode>,
        path: &str,
        completeness: Completeness,
    ) {
        let Some(entries) = node.value.entries() else {
            self.err(
                node.loc,
                format!(
                    "{}: expected a mapping of fields, got {}",
                    or_root(path),
                    describe(&node.value)
                ),
            );
            return;
        };
        let mut seen: HashMap<&str, Loc> = HashMap::new();
        for (key, value) in entries {
            let here = format!("{path}/{}", key.value);
            if let Some(first) = seen.insert(&key.value, key.loc) {
                self.err(
                    key.loc,
                    format!("{here}: duplicate key (first at {})", at(first)),
                );
            }
            match fields.get(&key.value) {
                None => self.err(
                    key.loc,
                    format!(
                        "{here}: not a declared field; expected one of {}",
                        one_of(
                            &fields
                                .iter()
                                .map(|(k, _)| k.value.as_str())
                                .collect::<Vec<_>>()
                        )
                    ),
                ),
                Some(field) => self.value(field, value, &here),
            }
        }
        if completeness == Completeness::Whole {
            for (name, field) in fields.iter() {
                let present = node
                    .value
                    .get(&name.value)
                    .is_some_and(|v| v.value != JsonNode::Null);
                if field.required && field.default.is_none() && !present {
                    self.err(
                        node.loc,
                        format!(
                            "{}: required field `{}` is missing (it has no default)",
                            or_root(path),
                            name.value
                        ),
                    );
                }
            }
        }
    }

    /// One value against its field: type, enum values (unless `open`), limits, nested
    /// objects, arrays and custom variants.
    fn value(&mut self, field: &Field, node: &Spanned<JsonNode>, path: &str) {
        if self.placeholder(node) {
            self.placeholder_type(field, node, path);
            return;
        }
        let v = &node.value;
        if *v == JsonNode::Null {
            if field.required {
                self.err(node.loc, format!("{path}: required field is null"));
            }
            return;
        }
        let expected = match field.ty.value {
            FieldType::String => match v {
                JsonNode::String(s) => {
                    self.length(field, s, node.loc, path);
                    None
                }
                _ => Some("a string".to_owned()),
            },
            FieldType::Integer => match v {
                JsonNode::Number(n) if n.is_i64() || n.is_u64() => {
                    self.range(field, n, node.loc, path);
                    None
                }
                _ => Some("an integer".to_owned()),
            },
            FieldType::Number => match v {
                JsonNode::Number(n) => {
                    self.range(field, n, node.loc, path);
                    None
                }
                _ => Some("a number".to_owned()),
            },
            FieldType::Boolean => (!matches!(v, JsonNode::Bool(_))).then(|| "a boolean".to_owned()),
            FieldType::Json => None,
            FieldType::Enum => {
                let wires: Vec<String> = field.variants().into_iter().map(|v| v.wire).collect();
                match v {
                    JsonNode::String(s) if field.open || wires.contains(s) => None,
                    JsonNode::Object(_) if field.custom.is_some() => {
                        if let Some(custom) = &field.custom {
                            self.object(&custom.fields, node, path, Completeness::Whole);
                        }
                        None
                    }
                    _ => Some(match &field.custom {
                        Some(custom) => format!(
                            "one of {} or a `{}` mapping",
                            one_of(&wires),
                            custom.variant.value
                        ),
                        None => format!("one of {}", one_of(&wires)),
                    }),
                }
            }
            FieldType::Object => match (v, &field.fields) {
                (JsonNode::Object(_), Some(fields)) => {
                    self.object(fields, node, path, Completeness::Whole);
                    None
                }
                (JsonNode::Object(_), None) => None,
                _ => Some("a mapping".to_owned()),
            },
            FieldType::Array => match v {
                JsonNode::Array(items) => {
                    if let Some(max) = &field.max_items
                        && items.len() as u64 > max.value
                    {
                        self.err(
                            node.loc,
                            format!(
                                "{path}: {} items, more than max_items {}",
                                items.len(),
                                max.value
                            ),
                        );
                    }
                    if let Some(item_field) = &field.items {
                        for (i, item) in items.iter().enumerate() {
                            self.value(item_field, item, &format!("{path}/{i}"));
                        }
                    }
                    None
                }
                _ => Some("a sequence".to_owned()),
            },
        };
        if let Some(expected) = expected {
            self.err(
                node.loc,
                format!("{path}: expected {expected}, got {}", describe(v)),
            );
        }
    }

    fn length(&mut self, field: &Field, s: &str, loc: Loc, path: &str) {
        let len = s.chars().count() as u64;
        if let Some(min) = &field.min_length
            && len < min.value
        {
            self.err(
                loc,
                format!(
                    "{path}: {len} characters, fewer than min_length {}",
                    min.value
                ),
            );
        }
        if let Some(max) = &field.max_length
            && len > max.value
        {
            self.err(
                loc,
                format!(
                    "{path}: {len} characters, more than max_length {}",
                    max.value
                ),
            );
        }
    }

    fn range(&mut self, field: &Field, n: &serde_json::Number, loc: Loc, path: &str) {
        let Some(x) = n.as_f64() else { return };
        if let Some(min) = field
            .min
            .as_ref()
            .filter(|m| m.as_f64().is_some_and(|m| x < m))
        {
            self.err(loc, format!("{path}: {n} is less than min {}", min.value));
        }
        if let Some(max) = field
            .max
            .as_ref()
            .filter(|m| m.as_f64().is_some_and(|m| x > m))
        {
            self.err(loc, format!("{path}: {n} is more than max {}", max.value));
        }
    }

    /// The endpoint's `rules` against a request object. Placeholders are not checked (their
    /// value is not known), except in literal values, where `"{x}"` is just a string.
    fn rules(&mut self, endpoint: &Endpoint, node: &JsonNode, when_model: &str) {
        let literal_mode = self.placeholders == Placeholders::Literal;
        for rule in &endpoint.rules {
            let when = &rule.when;
            let current = match node.get(&when.field.value) {
                Some(v) if v.value.placeholder().is_none() || literal_mode => v.value.scalar_text(),
                Some(_) => None,
                None => endpoint
                    .fields
                    .get(&when.field.value)
                    .and_then(|f| f.default.as_ref())
                    .and_then(|d| d.value.as_str().map(str::to_owned)),
            };
            let Some(current) = current.filter(|c| when.values.iter().any(|v| v.value == *c))
            else {
                continue;
            };
            let because = format!("when `{}` is `{current}`{when_model}", when.field.value);
            let literal = |v: &Spanned<JsonNode>| {
                (v.value.placeholder().is_none() || literal_mode) && v.value != JsonNode::Null
            };
            for (key, allowed) in rule.allow.iter() {
                if let Some(v) = node.get(&key.value).filter(|v| literal(v))
                    && let Some(text) = v.value.scalar_text()
                    && !allowed.iter().any(|a| a.value == text)
                {
                    let allowed: Vec<&str> = allowed.iter().map(|a| a.value.as_str()).collect();
                    self.err(
                        v.loc,
                        format!(
                            "/{}: `{text}` is not allowed {because}; allowed: {}",
                            key.value,
                            one_of(&allowed)
                        ),
                    );
                }
            }
            for (key, max) in rule.max.iter() {
                if let Some(v) = node.get(&key.value).filter(|v| literal(v))
                    && let JsonNode::Number(n) = &v.value
                    && let (Some(x), Some(m)) = (n.as_f64(), max.as_f64())
                    && x > m
                {
                    self.err(
                        v.loc,
                        format!("/{}: {n} is more than {} {because}", key.value, max.value),
                    );
                }
            }
            for (key, max) in rule.max_length.iter() {
                if let Some(v) = node.get(&key.value).filter(|v| literal(v))
                    && let JsonNode::String(s) = &v.value
                    && s.chars().count() as u64 > max.value
                {
                    self.err(
                        v.loc,
                        format!(
                            "/{}: {} characters, more than {} {because}",
                            key.value,
                            s.chars().count(),
                            max.value
                        ),
                    );
                }
            }
            for key in &rule.forbid {
                if let Some(v) = node.get(&key.value).filter(|v| v.value != JsonNode::Null) {
                    self.err(v.loc, format!("/{}: not allowed {because}", key.value));
                }
            }
        }
    }
}

fn or_root(path: &str) -> &str {
    if path.is_empty() { "/" } else { path }
}

/// A short rendering of a value for messages.
fn describe(node: &JsonNode) -> String {
    let s = node.to_json_text();
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s
    }
}

/// The required fields of an endpoint that have no default.
fn required_without_default(endpoint: &Endpoint) -> impl Iterator<Item = &Spanned<String>> {
    endpoint
        .fields
        .iter()
        .filter(|(_, f)| f.required && f.default.is_none())
        .map(|(name, _)| name)
}

/// `example_request` of endpoint `eid`, or the need for one.
pub(super) fn example_request(
    eid: &Spanned<String>,
    endpoint: &Endpoint,
    out: &mut Vec<Diagnostic>,
) {
    let mut check = Check {
        out,
        placeholders: Placeholders::Literal,
    };
    match &endpoint.example_request {
        Some(example) => {
            check.object(&endpoint.fields, example, "", Completeness::Whole);
            check.rules(endpoint, &example.value, "");
        }
        None => {
            let missing: Vec<&str> = required_without_default(endpoint)
                .map(|n| n.value.as_str())
                .collect();
            if !missing.is_empty() {
                check.err(
                    eid.loc,
                    format!(
                        "endpoint `{}` needs `example_request`: required field{} {} ha{} no default",
                        eid.value,
                        if missing.len() == 1 { "" } else { "s" },
                        missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", "),
                        if missing.len() == 1 { "s" } else { "ve" },
                    ),
                );
            }
        }
    }
}

/// The endpoint named `provider.endpoint`, if the spec has it.
pub fn find_endpoint<'s>(spec: &'s Spec, name: &str) -> Option<(&'s str, &'s str, &'s Endpoint)> {
    let (pid, eid) = name.split_once('.')?;
    let (pid, provider) = spec.providers.iter().find(|(k, _)| k.value == pid)?;
    let (eid, endpoint) = provider.endpoints.iter().find(|(k, _)| k.value == eid)?;
    Some((&pid.value, &eid.value, endpoint))
}

/// Where the placeholders of a request object are: `(input, path, target field, node)`.
fn placeholders<'a>(
    fields: &'a Map<Field>,
    node: &'a JsonNode,
    path: &str,
    found: &mut Vec<(String, String, &'a Field, &'a Spanned<JsonNode>)>,
) {
    let Some(entries) = node.entries() else {
        return;
    };
    for (key, value) in entries {
        let Some(field) = fields.get(&key.value) else {
            continue;
        };
        let here = format!("{path}/{}", key.value);
        if let Some(name) = value.value.placeholder() {
            found.push((name.to_owned(), here, field, value));
        } else if let (JsonNode::Object(_), Some(nested)) = (&value.value, &field.fields) {
            placeholders(nested, &value.value, &here, found);
        }
    }
}

/// `over` merged into `base`: keys of `over` replace those of `base`, objects merged deeply.
fn merged(base: &JsonNode, over: &JsonNode) -> JsonNode {
    match (base, over) {
        (JsonNode::Object(b), JsonNode::Object(o)) => {
            let mut entries = b.clone();
            for (key, value) in o {
                match entries.iter_mut().find(|(k, _)| k.value == key.value) {
                    Some((_, slot)) => {
                        *slot = Spanned::new(merged(&slot.value, &value.value), value.loc);
                    }
                    None => entries.push((key.clone(), value.clone())),
                }
            }
            JsonNode::Object(entries)
        }
        _ => over.clone(),
    }
}

/// The whole `capabilities:` section.
pub(super) fn capabilities(spec: &Spec, out: &mut Vec<Diagnostic>) {
    let Some(caps) = &spec.capabilities else {
        return;
    };
    for (kind, cap) in caps.iter() {
        let mut endpoints: HashMap<&str, Loc> = HashMap::new();
        for entry in &cap.endpoints {
            if let Some(first) = endpoints.insert(&entry.endpoint.value, entry.endpoint.loc) {
                out.push(Diagnostic::new(
                    entry.endpoint.loc,
                    format!(
                        "endpoint `{}` is already a {} candidate (at {})",
                        entry.endpoint.value,
                        kind.as_str(),
                        at(first)
                    ),
                ));
            }
            self::entry(spec, kind, entry, out);
        }
    }
}

fn entry(spec: &Spec, kind: CapabilityKind, entry: &CapabilityEntry, out: &mut Vec<Diagnostic>) {
    let name = &entry.endpoint;
    let Some((_, _, endpoint)) = find_endpoint(spec, &name.value) else {
        let known: Vec<String> = spec
            .providers
            .iter()
            .flat_map(|(p, provider)| {
                provider
                    .endpoints
                    .iter()
                    .map(move |(e, _)| format!("{}.{}", p.value, e.value))
            })
            .collect();
        out.push(Diagnostic::new(
            name.loc,
            format!(
                "unknown endpoint `{}`; expected `provider.endpoint`, one of {}",
                name.value,
                one_of(&known)
            ),
        ));
        return;
    };
    let response_kind = endpoint.response.value.kind.value;
    if !kind.response_kinds().contains(&response_kind) {
        out.push(Diagnostic::new(
            name.loc,
            format!(
                "`{}` answers {}; {} endpoint must answer {}",
                name.value,
                kind_name(response_kind),
                a(kind.as_str()),
                kind.response_kinds()
                    .iter()
                    .map(|k| kind_name(*k))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        ));
    }
    let empty = Spanned::new(JsonNode::Object(Vec::new()), name.loc);
    let template = entry.request.as_ref().unwrap_or(&empty);
    let mut check = Check {
        out: &mut *out,
        placeholders: Placeholders::Inputs(kind),
    };
    check.object(&endpoint.fields, template, "", Completeness::Partial);

    // Models: names unique, requests, options, credits.
    if kind == CapabilityKind::Tts {
        if let Some((first, _)) = entry.models.0.first() {
            check.err(first.loc, "a tts entry takes no `models`");
        }
    } else if entry.models.is_empty() {
        check.err(
            name.loc,
            format!(
                "{} entry needs `models` (the first is its default model)",
                a(kind.as_str())
            ),
        );
    }
    let mut names: HashMap<&str, Loc> = HashMap::new();
    for (model_name, model) in entry.models.iter() {
        for n in std::iter::once(model_name).chain(&model.aliases) {
            if let Some(first) = names.insert(&n.value, n.loc) {
                check.err(
                    n.loc,
                    format!(
                        "model name `{}` is already used in this entry (at {})",
                        n.value,
                        at(first)
                    ),
                );
            }
        }
        if let Some(request) = &model.request {
            check.object(&endpoint.fields, request, "", Completeness::Partial);
        }
    }

    // Each model's request over the template: required fields covered, rules, option values.
    let requests: Vec<(String, JsonNode, Option<&ModelSpec>)> = if entry.models.is_empty() {
        vec![(String::new(), template.value.clone(), None)]
    } else {
        entry
            .models
            .iter()
            .map(|(n, m)| {
                let over = m
                    .request
                    .as_ref()
                    .map_or(JsonNode::Object(Vec::new()), |r| r.value.clone());
                (
                    format!(" (model `{}`)", n.value),
                    merged(&template.value, &over),
                    Some(m),
                )
            })
            .collect()
    };
    for (for_model, request, model) in &requests {
        for field in required_without_default(endpoint) {
            let value = request
                .get(&field.value)
                .filter(|v| v.value != JsonNode::Null);
            let covered = match value.map(|v| v.value.placeholder()) {
                None => false,
                Some(None) => true,
                // A placeholder that is not an input is reported as such.
                Some(Some(input)) => kind
                    .inputs()
                    .iter()
                    .find(|(i, _)| *i == input)
                    .is_none_or(|(_, always)| *always),
            };
            if !covered {
                let why = match value {
                    Some(v) => format!(
                        "`{}` may be absent",
                        v.value.to_json_text().trim_matches('"')
                    ),
                    None => "it is not set".to_owned(),
                };
                check.err(
                    template.loc,
                    format!(
                        "required field `{}` of `{}` has no default and {why} by the request template{for_model}",
                        field.value, name.value
                    ),
                );
            }
        }
        check.rules(endpoint, request, for_model);
        let Some(model) = model else { continue };
        let mut found = Vec::new();
        placeholders(&endpoint.fields, request, "", &mut found);
        for (option, values) in model.options.iter() {
            if !matches!(values.value, JsonNode::Array(_) | JsonNode::Object(_)) {
                check.err(values.loc, format!("option `{}`: expected a list of values or a mapping of value to what is sent", option.value));
                continue;
            }
            if let JsonNode::Array(items) = &values.value {
                for item in items.iter().filter(|i| i.value.scalar_text().is_none()) {
                    check.err(
                        item.loc,
                        format!(
                            "option `{}`: a listed value must be a string or a number",
                            option.value
                        ),
                    );
                }
            }
            // Options restrict the optional inputs (`size`, `quality`, `duration`, ...).
            if !kind
                .inputs()
                .iter()
                .any(|(i, always)| *i == option.value && !always)
            {
                check.err(
                    option.loc,
                    format!(
                        "`{}` is not an option of {}; expected one of {}",
                        option.value,
                        kind.as_str(),
                        one_of(
                            &kind
                                .inputs()
                                .iter()
                                .filter(|(_, always)| !always)
                                .map(|(i, _)| *i)
                                .collect::<Vec<_>>()
                        )
                    ),
                );
                continue;
            }
            // The values sent must fit the field the option's placeholder fills.
            let targets: Vec<_> = found
                .iter()
                .filter(|(input, ..)| *input == option.value)
                .collect();
            for (_, path, field, _) in &targets {
                let sent: Vec<Spanned<JsonNode>> = match &values.value {
                    JsonNode::Array(items) => items.clone(),
                    JsonNode::Object(entries) => entries.iter().map(|(_, v)| v.clone()).collect(),
                    _ => Vec::new(),
                };
                let mut literal = Check {
                    out: &mut *check.out,
                    placeholders: Placeholders::Literal,
                };
                for value in &sent {
                    literal.value(field, value, path);
                }
                // Top-level fields: each value must also pass the rules for this model.
                if let Some(key) = path.strip_prefix('/').filter(|k| !k.contains('/')) {
                    for value in &sent {
                        let with = merged(
                            request,
                            &JsonNode::Object(vec![(
                                Spanned::new(key.to_owned(), value.loc),
                                value.clone(),
                            )]),
                        );
                        check.rules(endpoint, &with, for_model);
                    }
                }
            }
        }
        for (option, by_value) in model.credits_by.iter() {
            let Some(values) = model.options.get(&option.value) else {
                check.err(
                    option.loc,
                    format!(
                        "credits_by option `{}` is not one of the model's `options`",
                        option.value
                    ),
                );
                continue;
            };
            let accepted: Vec<String> = ModelSpec::option_values(values)
                .into_iter()
                .map(|(v, ..)| v)
                .collect();
            for (value, _) in by_value.iter() {
                if !accepted.contains(&value.value) {
                    check.err(
                        value.loc,
                        format!(
                            "credits_by value `{}` is not a value of option `{}`; expected one of {}",
                            value.value,
                            option.value,
                            one_of(&accepted)
                        ),
                    );
                }
            }
        }
    }

    // Voices.
    let mut found = Vec::new();
    placeholders(&endpoint.fields, &template.value, "", &mut found);
    let voice_field = found.iter().find(|(input, ..)| input == "voice");
    if let Some(voices) = &entry.voices {
        if kind != CapabilityKind::Tts {
            check.err(
                voices.loc,
                format!("`voices` only applies to tts, not {}", kind.as_str()),
            );
        } else if let Some((_, path, field, _)) = voice_field {
            let mut literal = Check {
                out: &mut *check.out,
                placeholders: Placeholders::Literal,
            };
            for (voice, value) in voices.value.names.iter() {
                if voice.value != voice.value.to_lowercase() {
                    literal.err(
                        voice.loc,
                        format!("voice name `{}` must be lowercase", voice.value),
                    );
                }
                literal.value(field, value, path);
            }
            if let Some(ids) = &voices.value.ids {
                if ids.value.prefix.as_ref().is_none_or(|p| p.value.is_empty())
                    && ids.value.length.is_none()
                {
                    literal.err(
                        ids.loc,
                        "`ids` needs a `prefix` or a `length`, or every voice would pass as an id",
                    );
                }
                if let Some(length) = ids.value.length.as_ref().filter(|l| l.value == 0) {
                    literal.err(length.loc, "length must be greater than 0");
                }
                if let Some(template) = &ids.value.template {
                    let mut voice = Check {
                        out: &mut *literal.out,
                        placeholders: Placeholders::Voice,
                    };
                    voice.value(field, template, path);
                }
            }
        } else {
            check.err(
                voices.loc,
                "`voices` needs a `\"{voice}\"` placeholder in the request template",
            );
        }
    }

    // Outputs.
    let is_document = matches!(response_kind, ResponseKind::Json | ResponseKind::Job);
    if !is_document {
        if let Some(first) = entry.output.first() {
            check.err(
                first.loc,
                "`output` does not apply to an audio endpoint: the answer is the audio",
            );
        }
    } else if entry.output.is_empty() && kind != CapabilityKind::Tts {
        check.err(
            name.loc,
            format!(
                "{} entry on a {} endpoint needs `output` (where the URLs are)",
                a(kind.as_str()),
                kind_name(response_kind)
            ),
        );
    }
    for output in &entry.output {
        let o = &output.value;
        if let Some(inline) = &o.inline
            && !inline.contains('/')
        {
            check.err(output.loc, format!("inline `{inline}` is not a media type"));
        }
        if !o.pointer.starts_with('/') {
            check.err(
                output.loc,
                format!("output pointer `{}` must start with `/`", o.pointer),
            );
        } else if !endpoint.response.value.fields.is_empty()
            && let Err(problem) = walk(&endpoint.response.value.fields, &o.pointer)
        {
            check.err(
                output.loc,
                format!("output pointer `{}`: {problem}", o.pointer),
            );
        }
    }
}

/// `word` with its indefinite article.
fn a(word: &str) -> String {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {word}")
    } else {
        format!("a {word}")
    }
}

fn kind_name(kind: ResponseKind) -> &'static str {
    match kind {
        ResponseKind::Audio => "audio",
        ResponseKind::Json => "json",
        ResponseKind::Job => "job",
    }
}

/// Walks a pointer through response fields (`*` for every array element).
fn walk(fields: &Map<Field>, pointer: &str) -> Result<(), String> {
    let mut fields = Some(fields);
    let mut current: Option<&Field> = None;
    for segment in pointer.split('/').skip(1) {
        if let Some(field) = current {
            match field.ty.value {
                FieldType::Json => return Ok(()),
                FieldType::Array if segment == "*" => {
                    current = field.items.as_deref();
                    if current.is_none() {
                        return Ok(());
                    }
                    continue;
                }
                FieldType::Array => return Err(format!("`{segment}` under an array; use `*`")),
                FieldType::Object => fields = field.fields.as_ref(),
                other => return Err(format!("`{segment}` under a {} field", other.as_str())),
            }
        }
        let Some(map) = fields else { return Ok(()) };
        match map.get(segment) {
            Some(field) => current = Some(field),
            None => {
                return Err(format!(
                    "no field `{segment}`; expected one of {}",
                    one_of(
                        &map.iter()
                            .map(|(k, _)| k.value.as_str())
                            .collect::<Vec<_>>()
                    )
                ));
            }
        }
    }
    Ok(())
}
