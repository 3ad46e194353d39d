//! Semantic checks of a parsed spec. Every problem is reported, sorted by position.

mod capabilities;

pub use capabilities::find_endpoint;

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use serde_json::Value;

use crate::diag::{Diagnostic, Diagnostics, Loc};
use crate::names;
use crate::spec::{
    AuthKind, Defaults, Endpoint, Field, FieldType, Map, Method, ParamIn, PathTemplate, Policy,
    Provider, Response, ResponseKind, Rule, Spanned, Spec, Stream,
};

/// Checks `spec` (read from `file`); `Err` lists every problem found.
pub fn validate(file: &str, spec: &Spec) -> Result<(), Diagnostics> {
    let mut checker = Checker::default();
    checker.spec(spec);
    if checker.diags.is_empty() {
        Ok(())
    } else {
        Err(Diagnostics::new(file, checker.diags))
    }
}

/// Resolves the enum fields that name an enum declared on another field of the same provider
/// (`type: enum`, `name`, no `values`): each gets the declaration's values, names, `open` and
/// `custom`, and [`Field::declared_at`]. Returns a problem for each name that no field of the
/// provider declares, and for attributes that belong on the declaration.
pub fn resolve_shared_enums(spec: &mut Spec) -> Vec<Diagnostic> {
    let mut declared: HashMap<String, (String, Field)> = HashMap::new();
    let mut by_provider: Vec<HashMap<String, Field>> = Vec::new();
    for (pid, provider) in spec.providers.iter() {
        let mut own = HashMap::new();
        for_each_field(provider, &mut |field| {
            if let (FieldType::Enum, Some(name), Some(_)) =
                (field.ty.value, &field.name, &field.values)
            {
                // A second declaration is reported as a duplicate type name.
                own.entry(name.value.clone())
                    .or_insert_with(|| field.clone());
                declared
                    .entry(name.value.clone())
                    .or_insert_with(|| (pid.value.clone(), field.clone()));
            }
        });
        by_provider.push(own);
    }
    let mut problems = Vec::new();
    for ((pid, provider), own) in spec.providers.0.iter_mut().zip(&by_provider) {
        for_each_field_mut(provider, &mut |field| {
            let (FieldType::Enum, Some(name), None) = (field.ty.value, &field.name, &field.values)
            else {
                return;
            };
            let Some(decl) = own.get(&name.value) else {
                let message = match declared.get(&name.value) {
                    Some((other, decl)) => format!(
                        "enum `{}` is declared by provider `{other}` (at {}); a field can only \
                         share an enum of its own provider",
                        name.value,
                        at(decl.name.as_ref().map_or(decl.ty.loc, |n| n.loc)),
                    ),
                    None => format!(
                        "unknown enum `{}`: no enum field of provider `{}` declares it with \
                         `values`",
                        name.value, pid.value
                    ),
                };
                problems.push(Diagnostic::new(name.loc, message));
                return;
            };
            let decl_loc = decl.name.as_ref().map_or(decl.ty.loc, |n| n.loc);
            let misplaced = [
                ("names", field.names.is_some()),
                ("open", field.open),
                ("custom", field.custom.is_some()),
            ];
            for (attr, set) in misplaced {
                if set {
                    problems.push(Diagnostic::new(
                        name.loc,
                        format!(
                            "`{attr}` belongs where enum `{}` is declared (at {}), not on a field \
                             that refers to it",
                            name.value,
                            at(decl_loc)
                        ),
                    ));
                }
            }
            field.values = decl.values.clone();
            field.names = decl.names.clone();
            field.open = decl.open;
            field.custom = decl.custom.clone();
            field.declared_at = Some(decl_loc);
        });
    }
    problems
}

/// Calls `f` on every field of a provider: request and response fields, nested objects,
/// array items and custom variants.
fn for_each_field(provider: &Provider, f: &mut impl FnMut(&Field)) {
    fn walk(fields: &Map<Field>, f: &mut impl FnMut(&Field)) {
        for (_, field) in fields.iter() {
            walk_one(field, f);
        }
    }
    fn walk_one(field: &Field, f: &mut impl FnMut(&Field)) {
        f(field);
        if let Some(fields) = &field.fields {
            walk(fields, f);
        }
        if let Some(custom) = &field.custom {
            walk(&custom.fields, f);
        }
        if let Some(items) = &field.items {
            walk_one(items, f);
        }
    }
    for (_, endpoint) in provider.endpoints.iter() {
        walk(&endpoint.fields, f);
        walk(&endpoint.response.fields, f);
    }
}

/// [`for_each_field`] with mutable access.
fn for_each_field_mut(provider: &mut Provider, f: &mut impl FnMut(&mut Field)) {
    fn walk(fields: &mut Map<Field>, f: &mut impl FnMut(&mut Field)) {
        for (_, field) in &mut fields.0 {
            walk_one(field, f);
        }
    }
    fn walk_one(field: &mut Field, f: &mut impl FnMut(&mut Field)) {
        f(field);
        if let Some(fields) = &mut field.fields {
            walk(fields, f);
        }
        if let Some(custom) = &mut field.custom {
            walk(&mut custom.fields, f);
        }
        if let Some(items) = &mut field.items {
            walk_one(items, f);
        }
    }
    for (_, endpoint) in &mut provider.endpoints.0 {
        walk(&mut endpoint.fields, f);
        walk(&mut endpoint.response.value.fields, f);
    }
}

/// Where a set of fields sits, which decides what they may declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    /// Top-level fields of a request: may be `in: path` / `in: query`.
    Request,
    /// Fields of a nested object, custom variant or array item of a request.
    Nested,
    /// Fields of a response document.
    Response,
}

#[derive(Default)]
struct Checker {
    diags: Vec<Diagnostic>,
    /// Health ids across all providers.
    health_ids: HashMap<String, Loc>,
    /// The constant names of the health ids (`generated::health_ids`).
    health_consts: HashMap<String, Loc>,
    /// Environment variables across all providers.
    env_vars: HashMap<String, Loc>,
    /// Client struct names across all providers (they are re-exported side by side).
    clients: HashMap<String, Loc>,
}

/// Type names declared in one provider module.
#[derive(Default)]
struct TypeNames(HashMap<String, Loc>);

/// Records that `name` is used at `loc`, unless it already was: then returns where it was first
/// used (and keeps that first use).
fn first_use(seen: &mut HashMap<String, Loc>, name: &str, loc: Loc) -> Option<Loc> {
    match seen.entry(name.to_owned()) {
        Entry::Occupied(first) => Some(*first.get()),
        Entry::Vacant(slot) => {
            slot.insert(loc);
            None
        }
    }
}

fn at(loc: Loc) -> String {
    format!("{}:{}", loc.line, loc.column)
}

fn one_of(values: &[impl AsRef<str>]) -> String {
    values
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Checker {
    fn err(&mut self, loc: Loc, message: impl Into<String>) {
        self.diags.push(Diagnostic::new(loc, message));
    }

    fn spec(&mut self, spec: &Spec) {
        if spec.version.value != 1 {
            self.err(
                spec.version.loc,
                format!("unsupported version {}; expected 1", spec.version.value),
            );
        }
        let defaults = &spec.defaults;
        self.policy(&Policy {
            timeouts: defaults.timeouts.clone(),
            retry: defaults.retry.clone(),
            health: defaults.health.clone(),
            alerts: defaults.alerts.clone(),
            body_limits: defaults.body_limits(),
            stream: defaults.stream(),
        });
        let mut ids: HashMap<&str, Loc> = HashMap::new();
        for (id, provider) in spec.providers.iter() {
            if let Some(first) = ids.insert(&id.value, id.loc) {
                self.err(
                    id.loc,
                    format!("duplicate provider `{}` (first at {})", id.value, at(first)),
                );
                ids.insert(&id.value, first);
            }
            self.provider(id, provider, defaults);
        }
        if spec.providers.is_empty() {
            self.err(spec.version.loc, "the spec declares no providers");
        }
        self.endpoint_consts(spec);
        capabilities::capabilities(spec, &mut self.diags);
    }

    /// Range checks of a (merged) policy. Values inherited from `defaults` are checked once
    /// there; duplicates are removed when the diagnostics are sorted.
    fn policy(&mut self, policy: &Policy) {
        let t = &policy.timeouts;
        for v in [&t.connect_ms, &t.request_ms] {
            if v.value == 0 {
                self.err(v.loc, "timeout must be greater than 0");
            }
        }
        let r = &policy.retry;
        if r.max_attempts.value == 0 {
            self.err(r.max_attempts.loc, "max_attempts must be at least 1");
        }
        if r.base_delay_ms.value > r.max_delay_ms.value {
            self.err(
                r.base_delay_ms.loc,
                format!(
                    "base_delay_ms {} is greater than max_delay_ms {}",
                    r.base_delay_ms.value, r.max_delay_ms.value
                ),
            );
        }
        if r.deadline_ms.value == 0 {
            self.err(r.deadline_ms.loc, "deadline_ms must be greater than 0");
        }
        if let Some(bad) = r
            .retry_statuses
            .value
            .iter()
            .find(|s| !(100..=599).contains(*s))
        {
            self.err(
                r.retry_statuses.loc,
                format!("retry status {bad} is not an HTTP status (100 to 599)"),
            );
        }
        let max_cooldown = r
            .max_cooldown_ms
            .as_ref()
            .map_or(crate::spec::DEFAULT_MAX_COOLDOWN_MS, |m| m.value);
        if let Some(q) = r.max_queue.as_ref().filter(|q| q.value == 0) {
            self.err(q.loc, "max_queue must be greater than 0");
        }
        if let Some(m) = r.max_cooldown_ms.as_ref().filter(|m| m.value == 0) {
            self.err(m.loc, "max_cooldown_ms must be greater than 0");
        }
        if let Some(m) = r.min_cooldown_ms.as_ref() {
            if m.value == 0 {
                self.err(m.loc, "min_cooldown_ms must be greater than 0");
            } else if m.value > max_cooldown {
                self.err(
                    m.loc,
                    format!(
                        "min_cooldown_ms {} is greater than max_cooldown_ms {max_cooldown}",
                        m.value
                    ),
                );
            }
        }
        let b = &policy.body_limits;
        for (name, limit) in [
            ("json_bytes", &b.json_bytes),
            ("audio_bytes", &b.audio_bytes),
            ("error_bytes", &b.error_bytes),
        ] {
            if let Some(limit) = limit.as_ref().filter(|l| l.value == 0) {
                self.err(limit.loc, format!("{name} must be greater than 0"));
            }
        }
        let s = &policy.stream;
        self.stream_limits(&s.idle_timeout_ms, &s.max_bytes);
        let h = &policy.health;
        if h.window_secs.value == 0 {
            self.err(h.window_secs.loc, "window_secs must be greater than 0");
        }
        self.rate(&h.degraded.success_rate_below, "success_rate_below");
        self.rate(&h.down.success_rate_below, "success_rate_below");
        if h.degraded.avg_latency_ms_above.value == 0 {
            self.err(
                h.degraded.avg_latency_ms_above.loc,
                "avg_latency_ms_above must be greater than 0",
            );
        }
        if h.down.success_rate_below.value > h.degraded.success_rate_below.value {
            self.err(
                h.down.success_rate_below.loc,
                format!(
                    "down.success_rate_below {} is greater than degraded.success_rate_below {}",
                    h.down.success_rate_below.value, h.degraded.success_rate_below.value
                ),
            );
        }
        let a = &policy.alerts;
        self.rate(&a.success_rate, "success_rate");
        if a.avg_latency_ms.value == 0 {
            self.err(
                a.avg_latency_ms.loc,
                "avg_latency_ms must be greater than 0",
            );
        }
    }

    /// A stream's idle timeout and byte cap, where set, are positive.
    fn stream_limits(&mut self, idle: &Option<Spanned<u64>>, max: &Option<Spanned<u64>>) {
        for (name, limit) in [("idle_timeout_ms", idle), ("max_bytes", max)] {
            if let Some(limit) = limit.as_ref().filter(|l| l.value == 0) {
                self.err(limit.loc, format!("{name} must be greater than 0"));
            }
        }
    }

    fn rate(&mut self, v: &Spanned<f64>, what: &str) {
        if !(0.0..=1.0).contains(&v.value) {
            self.err(
                v.loc,
                format!("{what} {} is out of range; expected 0 to 1", v.value),
            );
        }
    }

    /// `keys.source`, `keys.reload_secs` and `keys.daily_budget`.
    fn key_source(&mut self, keys: &crate::spec::Keys) {
        if let Some(source) = &keys.source {
            if source.secret.value.trim().is_empty() {
                self.err(source.secret.loc, "key secret name must not be empty");
            }
            if let Some(field) = source.field.as_ref().filter(|f| f.value.is_empty()) {
                self.err(field.loc, "key secret field must not be empty");
            }
            // The stage variable is shared by every provider: checked as a name only.
            if let Some(stage) = &source.stage_env
                && !names::is_env_var(&stage.value)
            {
                self.err(
                    stage.loc,
                    format!(
                        "invalid environment variable name `{}`; expected ^[A-Z_][A-Z0-9_]*$",
                        stage.value
                    ),
                );
            }
            if let Some(var) = &source.override_env {
                self.env_var(var);
            }
        }
        if let Some(reload) = keys.reload_secs.as_ref().filter(|r| r.value == 0) {
            self.err(reload.loc, "reload_secs must be greater than 0");
        }
        if let Some(budget) = &keys.daily_budget {
            match (&budget.credits, &budget.calls) {
                (Some(n), None) | (None, Some(n)) if n.value == 0 => {
                    self.err(n.loc, "a daily budget must be greater than 0");
                }
                (Some(_), None) | (None, Some(_)) => {}
                (Some(credits), Some(_)) => {
                    self.err(
                        credits.loc,
                        "daily_budget takes one of credits or calls, not both",
                    );
                }
                (None, None) => self.err(
                    keys.env.loc,
                    "daily_budget needs credits or calls, e.g. `daily_budget: { calls: 1000 }`",
                ),
            }
        }
    }

    fn env_var(&mut self, var: &Spanned<String>) {
        if !names::is_env_var(&var.value) {
            self.err(
                var.loc,
                format!(
                    "invalid environment variable name `{}`; expected ^[A-Z_][A-Z0-9_]*$",
                    var.value
                ),
            );
        }
        if let Some(first) = first_use(&mut self.env_vars, &var.value, var.loc) {
            self.err(
                var.loc,
                format!(
                    "duplicate environment variable `{}` (first at {})",
                    var.value,
                    at(first)
                ),
            );
        }
    }

    fn pointer(&mut self, pointer: &Spanned<String>) {
        if !pointer.value.is_empty() && !pointer.value.starts_with('/') {
            self.err(
                pointer.loc,
                format!(
                    "`{}` is not a JSON pointer (it must start with `/`)",
                    pointer.value
                ),
            );
        }
    }

    fn type_name(&mut self, types: &mut TypeNames, name: &Spanned<String>) {
        if let Some(problem) = names::type_name_problem(&name.value) {
            self.err(name.loc, problem);
            return;
        }
        if names::RESERVED_TYPE_NAMES.contains(&name.value.as_str()) {
            self.err(
                name.loc,
                format!(
                    "type name `{}` is reserved (the generated code uses it)",
                    name.value
                ),
            );
            return;
        }
        if let Some(first) = first_use(&mut types.0, &name.value, name.loc) {
            self.err(
                name.loc,
                format!(
                    "duplicate type name `{}` in this provider (first at {})",
                    name.value,
                    at(first)
                ),
            );
        }
    }

    fn provider(&mut self, id: &Spanned<String>, provider: &Provider, defaults: &Defaults) {
        if let Some(problem) = names::snake_ident_problem(&id.value, "provider id") {
            self.err(id.loc, problem);
        } else if matches!(
            id.value.as_str(),
            "capabilities" | "provider_ids" | "health_ids"
        ) {
            self.err(
                id.loc,
                format!(
                    "provider id `{}` clashes with a module of the generated code",
                    id.value
                ),
            );
        }
        if provider.name.value.trim().is_empty() {
            self.err(provider.name.loc, "provider name must not be empty");
        }
        let mut types = TypeNames::default();
        let client = match &provider.client {
            Some(client) => client.clone(),
            None => Spanned::new(names::pascal_case(&id.value).unwrap_or_default(), id.loc),
        };
        self.type_name(&mut types, &client);
        if let Some(first) = first_use(&mut self.clients, &client.value, client.loc) {
            self.err(
                client.loc,
                format!(
                    "client name `{}` is also used by another provider (at {})",
                    client.value,
                    at(first)
                ),
            );
        }
        let url = &provider.base_url;
        if !(url.value.starts_with("https://") || url.value.starts_with("http://")) {
            self.err(
                url.loc,
                format!(
                    "base_url `{}` must start with https:// or http://",
                    url.value
                ),
            );
        }
        self.env_var(&provider.base_url_env);
        self.env_var(&provider.keys.env);
        if let Some(legacy) = &provider.keys.legacy_env {
            self.env_var(legacy);
        }
        self.key_source(&provider.keys);
        let pool = &provider.keys.recommended_pool;
        if pool.min.value == 0 {
            self.err(pool.min.loc, "recommended pool min must be at least 1");
        }
        if pool.min.value > pool.max.value {
            self.err(
                pool.min.loc,
                format!(
                    "recommended pool min {} is greater than max {}",
                    pool.min.value, pool.max.value
                ),
            );
        }
        self.auth(provider);
        if let Some(envelope) = &provider.envelope {
            for p in [&envelope.code, &envelope.message, &envelope.data] {
                self.pointer(p);
            }
        }
        for p in provider.errors.message.iter().chain(&provider.errors.code) {
            self.pointer(p);
        }
        self.policy(&provider.merged_policy(defaults));
        if let Some(limits) = &provider.limits {
            for (name, limit) in [
                ("requests_per_minute", &limits.requests_per_minute),
                ("burst", &limits.burst),
                ("concurrent", &limits.concurrent),
            ] {
                if let Some(limit) = limit.as_ref().filter(|l| l.value == 0) {
                    self.err(limit.loc, format!("{name} must be greater than 0"));
                }
            }
            if let (Some(burst), None) = (&limits.burst, &limits.requests_per_minute) {
                self.err(burst.loc, "burst needs requests_per_minute");
            }
        }
        for origin in &provider.allowed_origins {
            if let Some(problem) = origin_problem(&origin.value) {
                self.err(origin.loc, problem);
            }
        }

        let mut endpoint_ids: HashMap<&str, Loc> = HashMap::new();
        let mut routes: HashMap<(Method, String), (String, Loc)> = HashMap::new();
        for (eid, endpoint) in provider.endpoints.iter() {
            if let Some(first) = endpoint_ids.insert(&eid.value, eid.loc) {
                self.err(
                    eid.loc,
                    format!(
                        "duplicate endpoint `{}` (first at {})",
                        eid.value,
                        at(first)
                    ),
                );
                endpoint_ids.insert(&eid.value, first);
            }
            // A malformed path is reported by `path`.
            if let Ok(template) = endpoint.template() {
                match routes.entry((endpoint.method.value, route_shape(&template))) {
                    Entry::Occupied(other) => self.err(
                        endpoint.path.loc,
                        format!(
                            "endpoint `{}` has the same method and path as endpoint `{}`",
                            eid.value,
                            other.get().0
                        ),
                    ),
                    Entry::Vacant(slot) => {
                        slot.insert((eid.value.clone(), eid.loc));
                    }
                }
            }
            self.endpoint(eid, endpoint, &mut types);
        }
        // A stream path of its own is a route too (the simulator serves it); checked after
        // every endpoint's own path so the message names the endpoint it clashes with.
        for (eid, endpoint) in provider.endpoints.iter() {
            let Some(path) = stream_path(endpoint) else {
                continue;
            };
            let Ok(template) = PathTemplate::parse(&path.value) else {
                continue;
            };
            let key = (endpoint.method.value, route_shape(&template));
            match routes.get(&key) {
                Some((other, _)) if *other != eid.value => self.err(
                    path.loc,
                    format!(
                        "the stream path of endpoint `{}` has the same method and path as \
                         endpoint `{other}`",
                        eid.value
                    ),
                ),
                Some(_) => {}
                None => {
                    routes.insert(key, (eid.value.clone(), path.loc));
                }
            }
        }
        self.stream_method_names(provider);
        if provider.endpoints.is_empty() {
            self.err(id.loc, format!("provider `{}` has no endpoints", id.value));
        }
    }

    fn auth(&mut self, provider: &Provider) {
        let auth = &provider.auth.value;
        let kind = auth.kind.value;
        match (&auth.header, kind) {
            (None, AuthKind::Header) => self.err(
                auth.kind.loc,
                "auth kind \"header\" needs `header` (the header name)",
            ),
            (Some(h), AuthKind::Header) if !is_header_name(&h.value) => self.err(
                h.loc,
                format!("`{}` is not a valid HTTP header name", h.value),
            ),
            (Some(h), k) if k != AuthKind::Header => self.err(
                h.loc,
                format!("`header` only applies to auth kind \"header\", not \"{k}\""),
            ),
            _ => {}
        }
        match (&auth.ttl_secs, kind) {
            (Some(t), AuthKind::KlingJwt) if t.value == 0 => {
                self.err(t.loc, "ttl_secs must be greater than 0")
            }
            (Some(t), k) if k != AuthKind::KlingJwt => self.err(
                t.loc,
                format!("`ttl_secs` only applies to auth kind \"kling_jwt\", not \"{k}\""),
            ),
            _ => {}
        }
    }

    fn endpoint(&mut self, eid: &Spanned<String>, endpoint: &Endpoint, types: &mut TypeNames) {
        if let Some(problem) = names::snake_ident_problem(&eid.value, "endpoint id") {
            self.err(eid.loc, problem);
        } else if matches!(eid.value.as_str(), "new" | "client") {
            self.err(
                eid.loc,
                format!(
                    "endpoint id `{}` clashes with a method of the generated client",
                    eid.value
                ),
            );
        }
        let health = &endpoint.health_id;
        if health.value.trim().is_empty() {
            self.err(health.loc, "health_id must not be empty");
        } else if names::const_name_of(&health.value).is_none() {
            self.err(
                health.loc,
                format!(
                    "health_id `{}` must start with a letter (it is also exported as a constant)",
                    health.value
                ),
            );
        } else if let Some(first) = first_use(&mut self.health_ids, &health.value, health.loc) {
            self.err(
                health.loc,
                format!(
                    "duplicate health id `{}` (first at {})",
                    health.value,
                    at(first)
                ),
            );
        } else if let Some(first) = first_use(
            &mut self.health_consts,
            &names::const_name(&health.value),
            health.loc,
        ) {
            self.err(
                health.loc,
                format!(
                    "health_id `{}` gives the same constant `{}` as the health id at {}",
                    health.value,
                    names::const_name(&health.value),
                    at(first)
                ),
            );
        }
        let method = &endpoint.method;
        self.path(endpoint);
        self.type_name(types, &endpoint.request);
        self.fields(&endpoint.fields, Context::Request, types);
        if !method.value.sends_body() {
            for (name, field) in endpoint.fields.iter() {
                if !field.is_path() && !field.is_query() {
                    self.err(
                        name.loc,
                        format!(
                            "field `{}` would be sent in the body of a {} request; use `in: query`",
                            name.value, method.value
                        ),
                    );
                }
            }
        }
        for rule in &endpoint.rules {
            self.rule(rule, &endpoint.fields);
        }
        capabilities::example_request(eid, endpoint, &mut self.diags);
        self.response(&endpoint.response, types);
        if let Some(stream) = &endpoint.response.value.stream
            && endpoint.response.value.kind.value == ResponseKind::Audio
        {
            self.stream(endpoint, &stream.value);
        }
    }

    fn path(&mut self, endpoint: &Endpoint) {
        let path = &endpoint.path;
        let template = match endpoint.template() {
            Ok(template) => template,
            Err(err) => {
                self.err(path.loc, format!("path `{}` {err}", path.value));
                return;
            }
        };
        for param in template.params() {
            match endpoint.fields.get(param) {
                Some(field) if field.is_path() => {}
                Some(_) => self.err(
                    path.loc,
                    format!("path parameter `{{{param}}}` is a field without `in: path`"),
                ),
                None => self.err(
                    path.loc,
                    format!("path parameter `{{{param}}}` is not a declared field"),
                ),
            }
        }
        for (name, field) in endpoint.fields.iter() {
            if field.is_path() && !template.has_param(&name.value) {
                self.err(
                    name.loc,
                    format!(
                        "field `{}` is `in: path` but the path has no `{{{}}}`",
                        name.value, name.value
                    ),
                );
            }
        }
    }

    fn fields(&mut self, fields: &Map<Field>, context: Context, types: &mut TypeNames) {
        let mut seen: HashMap<&str, Loc> = HashMap::new();
        for (name, field) in fields.iter() {
            if let Some(first) = seen.insert(&name.value, name.loc) {
                self.err(
                    name.loc,
                    format!("duplicate field `{}` (first at {})", name.value, at(first)),
                );
                seen.insert(&name.value, first);
            }
            if let Some(problem) = names::field_name_problem(&name.value) {
                self.err(name.loc, problem);
            }
            self.field(name, field, context, types);
        }
    }

    fn field(
        &mut self,
        name: &Spanned<String>,
        field: &Field,
        context: Context,
        types: &mut TypeNames,
    ) {
        let ty = field.ty.value;
        let tn = ty.as_str();
        let numeric = matches!(ty, FieldType::Integer | FieldType::Number);
        let misplaced = |attr: &str| format!("`{attr}` does not apply to a {tn} field");
        let attrs = [
            ("min", field.min.as_ref().map(|v| v.loc), numeric),
            ("max", field.max.as_ref().map(|v| v.loc), numeric),
            (
                "min_length",
                field.min_length.as_ref().map(|v| v.loc),
                ty == FieldType::String,
            ),
            (
                "max_length",
                field.max_length.as_ref().map(|v| v.loc),
                ty == FieldType::String,
            ),
            (
                "max_items",
                field.max_items.as_ref().map(|v| v.loc),
                ty == FieldType::Array,
            ),
            (
                "name",
                field.name.as_ref().map(|v| v.loc),
                matches!(ty, FieldType::Enum | FieldType::Object),
            ),
            (
                "values",
                field.values.as_ref().map(|v| v.loc),
                ty == FieldType::Enum,
            ),
            (
                "names",
                field.names.as_ref().map(|_| name.loc),
                ty == FieldType::Enum,
            ),
            (
                "open",
                field.open.then_some(name.loc),
                ty == FieldType::Enum,
            ),
            (
                "custom",
                field.custom.as_ref().map(|c| c.variant.loc),
                ty == FieldType::Enum,
            ),
            (
                "fields",
                field.fields.as_ref().map(|_| name.loc),
                ty == FieldType::Object,
            ),
            (
                "items",
                field.items.as_ref().map(|i| i.ty.loc),
                ty == FieldType::Array,
            ),
        ];
        for (attr, present, applies) in attrs {
            if let Some(loc) = present
                && !applies
            {
                self.err(loc, misplaced(attr));
            }
        }

        if let Some(location) = &field.location {
            match (context, location.value) {
                (_, ParamIn::Body) => {}
                (Context::Request, ParamIn::Path) => {
                    if !field.required {
                        self.err(
                            location.loc,
                            format!("path field `{}` must be `required: true`", name.value),
                        );
                    }
                    if !matches!(ty, FieldType::String | FieldType::Integer | FieldType::Enum)
                        || field.custom.is_some()
                    {
                        self.err(
                            location.loc,
                            format!("a {tn} field cannot be a path parameter"),
                        );
                    }
                }
                (Context::Request, ParamIn::Query) => {
                    if matches!(ty, FieldType::Object | FieldType::Array | FieldType::Json)
                        || field.custom.is_some()
                    {
                        self.err(
                            location.loc,
                            format!("a {tn} field cannot be a query parameter"),
                        );
                    }
                }
                _ => self.err(
                    location.loc,
                    "`in` only applies to top-level request fields",
                ),
            }
        }

        match ty {
            FieldType::Integer | FieldType::Number => self.numeric_limits(field),
            FieldType::String => {
                if let (Some(min), Some(max)) = (&field.min_length, &field.max_length)
                    && min.value > max.value
                {
                    self.err(
                        min.loc,
                        format!(
                            "min_length {} is greater than max_length {}",
                            min.value, max.value
                        ),
                    );
                }
            }
            FieldType::Enum => self.enumeration(name, field, context, types),
            FieldType::Object => match &field.name {
                None => self.err(
                    name.loc,
                    format!(
                        "object field `{}` needs `name` (the Rust struct name)",
                        name.value
                    ),
                ),
                Some(type_name) => {
                    self.type_name(types, type_name);
                    match &field.fields {
                        Some(fields) => self.fields(fields, nested(context), types),
                        None => self.err(
                            name.loc,
                            format!("object field `{}` needs `fields`", name.value),
                        ),
                    }
                }
            },
            FieldType::Array => match &field.items {
                Some(items) => {
                    if field.max_items.as_ref().is_some_and(|m| m.value == 0) {
                        self.err(
                            field.max_items.as_ref().map_or(name.loc, |m| m.loc),
                            "max_items must be at least 1",
                        );
                    }
                    if items.ty.value == FieldType::Array {
                        self.err(items.ty.loc, "arrays of arrays are not supported");
                    }
                    self.field(name, items, nested(context), types);
                }
                None => self.err(
                    name.loc,
                    format!("array field `{}` needs `items`", name.value),
                ),
            },
            FieldType::Boolean | FieldType::Json => {}
        }

        if let Some(default) = &field.default {
            self.default_value(name, field, default);
        }
    }

    fn numeric_limits(&mut self, field: &Field) {
        let integer = field.ty.value == FieldType::Integer;
        for bound in [&field.min, &field.max].into_iter().flatten() {
            if integer && bound.as_i64().is_none() && bound.as_u64().is_none() {
                self.err(bound.loc, format!("{} is not an integer", bound.value));
            }
        }
        if let (Some(min), Some(max)) = (&field.min, &field.max)
            && let (Some(lo), Some(hi)) = (min.as_f64(), max.as_f64())
            && lo > hi
        {
            self.err(
                min.loc,
                format!("min {} is greater than max {}", min.value, max.value),
            );
        }
    }

    fn enumeration(
        &mut self,
        name: &Spanned<String>,
        field: &Field,
        context: Context,
        types: &mut TypeNames,
    ) {
        if field.declared_at.is_some() {
            // Refers to an enum declared (and checked) elsewhere.
            return;
        }
        if let (Some(_), None) = (&field.name, &field.values) {
            // A reference that did not resolve: reported by `resolve_shared_enums`.
            return;
        }
        match &field.name {
            Some(type_name) => self.type_name(types, type_name),
            None => self.err(
                name.loc,
                format!(
                    "enum field `{}` needs `name` (the Rust enum name)",
                    name.value
                ),
            ),
        }
        let Some(values) = &field.values else {
            self.err(
                name.loc,
                format!("enum field `{}` needs `values`", name.value),
            );
            return;
        };
        if values.value.is_empty() {
            self.err(
                values.loc,
                format!("enum field `{}` has no values", name.value),
            );
        }
        let mut wires: HashMap<&str, Loc> = HashMap::new();
        for v in &values.value {
            if let Some(first) = wires.insert(&v.value, v.loc) {
                self.err(
                    v.loc,
                    format!(
                        "duplicate enum value `{}` (first at {})",
                        v.value,
                        at(first)
                    ),
                );
                wires.insert(&v.value, first);
            }
        }
        if let Some(names_map) = &field.names {
            for (wire, variant) in names_map.iter() {
                if !wires.contains_key(wire.value.as_str()) {
                    self.err(
                        wire.loc,
                        format!(
                            "`names` lists `{}`, which is not one of the values",
                            wire.value
                        ),
                    );
                }
                if let Some(problem) = names::type_name_problem(&variant.value) {
                    self.err(variant.loc, problem);
                }
            }
        }
        let mut variants: HashMap<String, Loc> = HashMap::new();
        let mut add_variant = |this: &mut Self, variant: &str, loc: Loc| {
            if let Some(first) = first_use(&mut variants, variant, loc) {
                this.err(
                    loc,
                    format!(
                        "variant name `{variant}` is used twice (first at {}); set `names`",
                        at(first)
                    ),
                );
            }
        };
        for variant in field.variants() {
            match variant.name {
                None => self.err(
                    variant.loc,
                    format!(
                        "cannot derive a variant name from `{}`; set it in `names`",
                        variant.wire
                    ),
                ),
                Some(v) => add_variant(self, &v, variant.loc),
            }
        }
        if field.open {
            add_variant(self, "Other", name.loc);
        }
        if let Some(custom) = &field.custom {
            if let Some(problem) = names::type_name_problem(&custom.variant.value) {
                self.err(custom.variant.loc, problem);
            } else {
                add_variant(self, &custom.variant.value, custom.variant.loc);
            }
            if custom.fields.is_empty() {
                self.err(custom.variant.loc, "a custom variant needs `fields`");
            }
            self.fields(&custom.fields, nested(context), types);
        }
    }

    fn default_value(&mut self, name: &Spanned<String>, field: &Field, default: &Spanned<Value>) {
        let v = &default.value;
        let problem = match field.ty.value {
            FieldType::String => (!v.is_string()).then(|| "expected a string".to_owned()),
            FieldType::Boolean => (!v.is_boolean()).then(|| "expected a boolean".to_owned()),
            FieldType::Integer | FieldType::Number => {
                let integer = field.ty.value == FieldType::Integer;
                match v.as_f64() {
                    Some(_) if integer && !(v.is_i64() || v.is_u64()) => {
                        Some("expected an integer".to_owned())
                    }
                    Some(x) => {
                        let below = field
                            .min
                            .as_ref()
                            .and_then(|m| m.as_f64())
                            .is_some_and(|m| x < m);
                        let above = field
                            .max
                            .as_ref()
                            .and_then(|m| m.as_f64())
                            .is_some_and(|m| x > m);
                        (below || above).then(|| "outside min..max".to_owned())
                    }
                    None => Some("expected a number".to_owned()),
                }
            }
            FieldType::Enum => match v.as_str() {
                Some(s) if field.variants().iter().any(|var| var.wire == s) => None,
                Some(s) => Some(format!(
                    "`{s}` is not one of {}",
                    one_of(
                        &field
                            .variants()
                            .iter()
                            .map(|v| v.wire.clone())
                            .collect::<Vec<_>>()
                    )
                )),
                None => Some("expected one of the enum's values".to_owned()),
            },
            FieldType::Object | FieldType::Array | FieldType::Json => Some(format!(
                "defaults are not supported for {} fields",
                field.ty.value.as_str()
            )),
        };
        if let Some(problem) = problem {
            self.err(
                default.loc,
                format!("invalid default for `{}`: {problem}", name.value),
            );
        }
    }

    fn rule(&mut self, rule: &Rule, fields: &Map<Field>) {
        let when = &rule.when;
        match fields.get(&when.field.value) {
            None => self.err(
                when.field.loc,
                format!("rule refers to unknown field `{}`", when.field.value),
            ),
            Some(field) if field.ty.value != FieldType::Enum => self.err(
                when.field.loc,
                format!(
                    "rule condition field `{}` must be an enum field, not {}",
                    when.field.value,
                    field.ty.value.as_str()
                ),
            ),
            Some(field) => {
                if when.values.is_empty() {
                    self.err(when.field.loc, "rule `in` lists no values");
                }
                self.enum_values(&when.field.value, field, &when.values);
            }
        }
        for (key, values) in rule.allow.iter() {
            match fields.get(&key.value) {
                None => self.unknown_rule_field(key),
                Some(field) if field.ty.value != FieldType::Enum => self.err(
                    key.loc,
                    format!(
                        "`allow` needs an enum field; `{}` is {}",
                        key.value,
                        field.ty.value.as_str()
                    ),
                ),
                Some(field) => self.enum_values(&key.value, field, values),
            }
        }
        for (key, max) in rule.max.iter() {
            match fields.get(&key.value) {
                None => self.unknown_rule_field(key),
                Some(field) => match field.ty.value {
                    FieldType::Integer if max.as_i64().is_none() && max.as_u64().is_none() => {
                        self.err(max.loc, format!("{} is not an integer", max.value))
                    }
                    FieldType::Integer | FieldType::Number => {}
                    other => self.err(
                        key.loc,
                        format!(
                            "`max` needs a numeric field; `{}` is {}",
                            key.value,
                            other.as_str()
                        ),
                    ),
                },
            }
        }
        for (key, _) in rule.max_length.iter() {
            match fields.get(&key.value) {
                None => self.unknown_rule_field(key),
                Some(field) if field.ty.value != FieldType::String => self.err(
                    key.loc,
                    format!(
                        "`max_length` needs a string field; `{}` is {}",
                        key.value,
                        field.ty.value.as_str()
                    ),
                ),
                Some(_) => {}
            }
        }
        for key in &rule.forbid {
            match fields.get(&key.value) {
                None => self.unknown_rule_field(key),
                Some(field) if field.required => self.err(
                    key.loc,
                    format!("cannot forbid `{}`: it is a required field", key.value),
                ),
                Some(_) => {}
            }
        }
    }

    fn unknown_rule_field(&mut self, key: &Spanned<String>) {
        self.err(
            key.loc,
            format!("rule refers to unknown field `{}`", key.value),
        );
    }

    fn enum_values(&mut self, field_name: &str, field: &Field, values: &[Spanned<String>]) {
        let variants = field.variants();
        for value in values {
            if variants.is_empty() {
                self.err(
                    value.loc,
                    format!(
                        "`{}` is not a value of `{field_name}`, which has none",
                        value.value
                    ),
                );
            } else if !variants.iter().any(|v| v.wire == value.value) {
                self.err(
                    value.loc,
                    format!(
                        "`{}` is not a value of `{field_name}`; expected one of {}",
                        value.value,
                        one_of(&variants.iter().map(|v| v.wire.as_str()).collect::<Vec<_>>())
                    ),
                );
            }
        }
    }

    fn response(&mut self, response: &Spanned<Response>, types: &mut TypeNames) {
        let r = &response.value;
        let kind = r.kind.value;
        let not_for = |attr: &str| match kind {
            ResponseKind::Audio => format!("`{attr}` does not apply to an audio response"),
            ResponseKind::Json => format!("`{attr}` does not apply to a json response"),
            ResponseKind::Job => format!("`{attr}` does not apply to a job response"),
        };
        let is_audio = kind == ResponseKind::Audio;
        let is_job = kind == ResponseKind::Job;
        if let Some(ct) = &r.content_type {
            if !is_audio {
                self.err(ct.loc, not_for("content_type"));
            } else if !ct.value.contains('/') {
                self.err(ct.loc, format!("`{}` is not a content type", ct.value));
            }
        }
        for (attr, loc) in [
            ("flow", r.flow.as_ref().map(|v| v.loc)),
            (
                "poll_interval_ms",
                r.poll_interval_ms.as_ref().map(|v| v.loc),
            ),
            ("timeout_ms", r.timeout_ms.as_ref().map(|v| v.loc)),
        ] {
            if let Some(loc) = loc
                && !is_job
            {
                self.err(loc, not_for(attr));
            }
        }
        if let Some(stream) = &r.stream
            && !is_audio
        {
            self.err(stream.loc, not_for("stream"));
        }
        if is_audio {
            if let Some(t) = &r.type_name {
                self.err(t.loc, not_for("type"));
            }
            if let Some((first, _)) = r.fields.0.first() {
                self.err(first.loc, not_for("fields"));
            }
            if let Some(example) = &r.example {
                self.err(example.loc, not_for("example"));
            }
        } else {
            match &r.type_name {
                None => self.err(
                    response.loc,
                    format!(
                        "a {} response needs `type` (the Rust name of the output document)",
                        if is_job { "job" } else { "json" }
                    ),
                ),
                Some(t) => self.type_name(types, t),
            }
            self.fields(&r.fields, Context::Response, types);
            if let Some(example) = &r.example {
                let mut problems = Vec::new();
                check_example(&r.fields, &example.value, "", &mut problems);
                for problem in problems {
                    self.err(
                        example.loc,
                        format!("example does not match the response fields: {problem}"),
                    );
                }
            }
        }
        let poll_param = r.flow.as_ref().and_then(|f| f.value.poll_param());
        match (&r.flow, poll_param, &r.poll_path) {
            (None, _, _) if is_job => self.err(
                response.loc,
                "a job response needs `flow` (fal_queue or kling_task)",
            ),
            (Some(flow), Some(param), None) => self.err(
                flow.loc,
                format!(
                    "flow {} needs `poll_path` containing `{{{param}}}`",
                    flow.value
                ),
            ),
            (Some(_), Some(param), Some(p)) => self.poll_path(p, param),
            (_, None, Some(p)) => self.err(p.loc, "`poll_path` only applies to flow kling_task"),
            _ => {}
        }
        if let Some(m) = r.max_bytes.as_ref().filter(|m| m.value == 0) {
            self.err(m.loc, "max_bytes must be greater than 0");
        }
        if is_job {
            let interval = r.poll_interval_ms.as_ref();
            if let Some(i) = interval.filter(|i| i.value == 0) {
                self.err(i.loc, "poll_interval_ms must be greater than 0");
            }
            if let Some(t) = &r.timeout_ms {
                let poll = interval.map_or(crate::spec::DEFAULT_POLL_INTERVAL_MS, |i| i.value);
                if t.value < poll {
                    self.err(
                        t.loc,
                        format!(
                            "timeout_ms {} is shorter than the poll interval {poll}",
                            t.value
                        ),
                    );
                }
            }
        }
    }
}

impl Checker {
    /// The constants of `generated::capabilities` (`<PROVIDER>_<ENDPOINT>`) must be distinct.
    fn endpoint_consts(&mut self, spec: &Spec) {
        let mut seen = HashMap::new();
        let mut pairs = std::collections::HashSet::new();
        for (pid, provider) in spec.providers.iter() {
            for (eid, _) in provider.endpoints.iter() {
                // A duplicate provider or endpoint id is reported as such.
                if !pairs.insert((&pid.value, &eid.value)) {
                    continue;
                }
                let name = crate::names::endpoint_const(&pid.value, &eid.value);
                if let Some(first) = first_use(&mut seen, &name, eid.loc) {
                    self.err(
                        eid.loc,
                        format!(
                            "endpoint `{}.{}` gives the same constant `{name}` as the endpoint at {}",
                            pid.value,
                            eid.value,
                            at(first)
                        ),
                    );
                }
            }
        }
    }

    /// An endpoint's `stream` block (the response is audio: checked by `response`).
    fn stream(&mut self, endpoint: &Endpoint, stream: &Stream) {
        if let Some(path) = &stream.path {
            self.stream_path(endpoint, path);
        }
        self.stream_limits(&stream.idle_timeout_ms, &stream.max_bytes);
        if let Some(events) = &stream.events {
            let e = &events.value;
            for (name, value) in [
                ("type_field", &e.type_field),
                ("delta", &e.delta),
                ("audio_field", &e.audio_field),
                ("done", &e.done),
            ] {
                if value.value.trim().is_empty() {
                    self.err(value.loc, format!("events.{name} must not be empty"));
                }
            }
            if !e.delta.value.trim().is_empty() && e.delta.value == e.done.value {
                self.err(
                    e.done.loc,
                    format!(
                        "events.done `{}` is also the delta event type; the stream would end \
                         at its first chunk",
                        e.done.value
                    ),
                );
            }
        }
    }

    /// A stream path: a valid template with exactly the placeholders of the endpoint's path
    /// (the same request renders both).
    fn stream_path(&mut self, endpoint: &Endpoint, path: &Spanned<String>) {
        let template = match PathTemplate::parse(&path.value) {
            Ok(template) => template,
            Err(err) => {
                return self.err(path.loc, format!("stream path `{}` {err}", path.value));
            }
        };
        // A malformed endpoint path is reported by `path`.
        let Ok(own) = endpoint.template() else {
            return;
        };
        for param in template.params().filter(|p| !own.has_param(p)) {
            self.err(
                path.loc,
                format!(
                    "stream path `{}` has `{{{param}}}`, which the endpoint's path `{}` does \
                     not; both are rendered from the same request",
                    path.value, endpoint.path.value
                ),
            );
        }
        for param in own.params().filter(|p| !template.has_param(p)) {
            self.err(
                path.loc,
                format!(
                    "stream path `{}` lacks `{{{param}}}` of the endpoint's path `{}`; both are \
                     rendered from the same request",
                    path.value, endpoint.path.value
                ),
            );
        }
    }

    /// The `<id>_stream` and `<id>_stream_with` methods of a streaming endpoint must not be
    /// the methods of another endpoint.
    fn stream_method_names(&mut self, provider: &Provider) {
        let methods: HashMap<String, &str> = provider
            .endpoints
            .iter()
            .flat_map(|(eid, _)| {
                [
                    (eid.value.clone(), eid.value.as_str()),
                    (format!("{}_with", eid.value), eid.value.as_str()),
                ]
            })
            .collect();
        for (eid, endpoint) in provider.endpoints.iter() {
            let Some(stream) = &endpoint.response.value.stream else {
                continue;
            };
            for suffix in ["_stream", "_stream_with"] {
                let name = format!("{}{suffix}", eid.value);
                if let Some(other) = methods.get(&name) {
                    self.err(
                        stream.loc,
                        format!(
                            "the stream method `{name}` of endpoint `{}` clashes with a method \
                             of endpoint `{other}`",
                            eid.value
                        ),
                    );
                }
            }
        }
    }

    /// A job's poll path: a valid template whose one placeholder is `param`.
    fn poll_path(&mut self, p: &Spanned<String>, param: &str) {
        let template = match PathTemplate::parse(&p.value) {
            Ok(template) => template,
            Err(err) => return self.err(p.loc, format!("poll_path `{}` {err}", p.value)),
        };
        if !template.has_param(param) {
            self.err(
                p.loc,
                format!("poll_path `{}` must contain `{{{param}}}`", p.value),
            );
        } else if let Some(other) = template.params().find(|q| *q != param) {
            self.err(
                p.loc,
                format!(
                    "poll_path `{}` may only contain `{{{param}}}`, found `{{{other}}}`",
                    p.value
                ),
            );
        }
    }
}

/// The stream path of an audio endpoint that declares one.
fn stream_path(endpoint: &Endpoint) -> Option<&Spanned<String>> {
    let stream = endpoint.response.value.stream.as_ref()?;
    stream.value.path.as_ref()
}

fn nested(context: Context) -> Context {
    match context {
        Context::Request | Context::Nested => Context::Nested,
        Context::Response => Context::Response,
    }
}

/// `/v1/{a}/x` and `/v1/{b}/x` are the same route: the template with every name left out.
fn route_shape(template: &PathTemplate) -> String {
    template
        .segments()
        .map(|segment| match segment {
            media_sdk_spec::Segment::Literal(text) => text,
            media_sdk_spec::Segment::Param(_) => "{}",
        })
        .collect()
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

/// A short rendering of a JSON value for messages.
fn describe(value: &Value) -> String {
    let s = value.to_string();
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s
    }
}

/// Compares an example document with the declared fields; pushes one line per mismatch.
fn check_example(fields: &Map<Field>, value: &Value, pointer: &str, out: &mut Vec<String>) {
    let Some(object) = value.as_object() else {
        out.push(format!(
            "{}: expected an object, got {}",
            or_root(pointer),
            describe(value)
        ));
        return;
    };
    for (name, field) in fields.iter() {
        let here = format!("{pointer}/{}", name.value);
        match object.get(&name.value) {
            None | Some(Value::Null) if field.required => {
                out.push(format!("{here}: required field is missing"));
            }
            None | Some(Value::Null) => {}
            Some(v) => check_example_value(field, v, &here, out),
        }
    }
    for key in object.keys() {
        if fields.get(key).is_none() {
            out.push(format!("{pointer}/{key}: not a declared field"));
        }
    }
}

fn or_root(pointer: &str) -> &str {
    if pointer.is_empty() { "/" } else { pointer }
}

fn check_example_value(field: &Field, value: &Value, pointer: &str, out: &mut Vec<String>) {
    let ok = match field.ty.value {
        FieldType::String => value.is_string(),
        FieldType::Integer => value.is_i64() || value.is_u64(),
        FieldType::Number => value.is_number(),
        FieldType::Boolean => value.is_boolean(),
        FieldType::Json => true,
        FieldType::Enum => match value {
            Value::String(s) => field.open || field.variants().iter().any(|v| v.wire == *s),
            Value::Object(_) => match &field.custom {
                Some(custom) => {
                    check_example(&custom.fields, value, pointer, out);
                    true
                }
                None => false,
            },
            _ => false,
        },
        FieldType::Object => {
            if value.is_object() {
                if let Some(fields) = &field.fields {
                    check_example(fields, value, pointer, out);
                }
                true
            } else {
                false
            }
        }
        FieldType::Array => match (value.as_array(), &field.items) {
            (Some(items), Some(item_field)) => {
                for (i, item) in items.iter().enumerate() {
                    check_example_value(item_field, item, &format!("{pointer}/{i}"), out);
                }
                true
            }
            (Some(_), None) => true,
            (None, _) => false,
        },
    };
    if !ok {
        out.push(format!(
            "{pointer}: expected {}, got {}",
            match field.ty.value {
                FieldType::Integer => "an integer",
                FieldType::Enum => "one of the enum's values",
                FieldType::Array => "an array",
                FieldType::Object => "an object",
                FieldType::Boolean => "a boolean",
                FieldType::Number => "a number",
                FieldType::String | FieldType::Json => "a string",
            },
            describe(value)
        ));
    }
}

/// Why `text` is not an origin (`http[s]://host[:port]`, nothing else), if it is not.
fn origin_problem(text: &str) -> Option<String> {
    let expected = "expected `https://host` or `http://host:port`";
    let Ok(url) = reqwest::Url::parse(text) else {
        return Some(format!("allowed origin `{text}` is not a URL; {expected}"));
    };
    let bare = matches!(url.scheme(), "http" | "https")
        && url.has_host()
        && url.username().is_empty()
        && url.password().is_none()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && !text.trim_end_matches('/').ends_with(':');
    (!bare).then(|| {
        format!("allowed origin `{text}` must be a scheme, host and optional port only; {expected}")
    })
}
