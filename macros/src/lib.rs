//! `#[derive(Endpoint)]`: binds a request struct to a `media-sdk` endpoint.
//!
//! The derive reads one `#[endpoint(...)]` attribute on the struct and `#[endpoint(path)]` /
//! `#[endpoint(query)]` markers on fields, checks them, and emits one
//! `impl ::media_sdk::Endpoint for T`. Every mistake is a compile error pointing at the
//! offending token.
//!
//! Use it as `media_sdk::Endpoint`: the attributes, with a compiled example, are documented
//! there (in `media-sdk`'s own docs, so `cargo doc -p media-sdk` shows them).
use media_sdk_spec::{JobFlowKind, Method, PathTemplate, ResponseKind, TemplateErrorKind};
use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{ToTokens, quote};
use syn::{Attribute, Data, DeriveInput, Fields, Ident, LitInt, LitStr, Meta, Token, Type};

/// Derives `media_sdk::Endpoint`; the attributes are documented on the `media_sdk::Endpoint`
/// re-export.
#[proc_macro_derive(Endpoint, attributes(endpoint))]
pub fn derive_endpoint(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as DeriveInput);
    expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

const KNOWN_KEYS: &str = "provider, id, health_id, method, path, response, content_type, output, \
                          flow, poll_path, poll_interval_ms, timeout_ms, max_body_bytes, stream";
const STREAM_KEYS: &str = "path, idle_timeout_ms, max_bytes, events";
const EVENTS_KEYS: &str = "type_field, delta, audio_field, done";

// Defaults of `stream(idle_timeout_ms, max_bytes)`: `providers.yaml`'s, from the shared crate.
use media_sdk_spec::{DEFAULT_STREAM_IDLE_TIMEOUT_MS, DEFAULT_STREAM_MAX_BYTES};

fn expand(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let fields = named_fields(input)?;
    if !input.generics.params.is_empty() || input.generics.where_clause.is_some() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            "#[derive(Endpoint)] does not support generic parameters; \
             bind a concrete request type",
        ));
    }
    let attrs = StructAttrs::parse(input)?;
    let spec = attrs.validate(input)?;
    let params = Params::parse(fields)?;
    params.check_against(&spec.path, &spec.template)?;

    let ty = &input.ident;
    let output = spec.output_type();
    let spec_expr = spec.to_expr();
    let decode = spec.decode_expr();
    let path_params = param_pushes(&params.path);
    let query_params = param_pushes(&params.query);
    Ok(quote! {
        #[automatically_derived]
        impl ::media_sdk::Endpoint for #ty {
            type Output = #output;

            const SPEC: ::media_sdk::spec::EndpointSpec = #spec_expr;

            fn path_params(&self) -> ::std::vec::Vec<(&'static str, ::std::string::String)> {
                #path_params
            }

            fn query_params(&self) -> ::std::vec::Vec<(&'static str, ::std::string::String)> {
                #query_params
            }

            fn decode(
                body: ::media_sdk::ResponseBody,
            ) -> ::core::result::Result<Self::Output, ::media_sdk::DecodeError> {
                #decode
            }
        }
    })
}

fn named_fields(input: &DeriveInput) -> syn::Result<&syn::FieldsNamed> {
    let not_named = "#[derive(Endpoint)] needs a struct with named fields";
    match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(named) => Ok(named),
            Fields::Unnamed(f) => Err(syn::Error::new_spanned(f, not_named)),
            Fields::Unit => Err(syn::Error::new_spanned(&input.ident, not_named)),
        },
        Data::Enum(e) => Err(syn::Error::new_spanned(
            e.enum_token,
            "#[derive(Endpoint)] cannot be used on an enum; it needs a struct with named fields",
        )),
        Data::Union(u) => Err(syn::Error::new_spanned(
            u.union_token,
            "#[derive(Endpoint)] cannot be used on a union; it needs a struct with named fields",
        )),
    }
}

/// A value written in the attribute, with the tokens `key = value` for error spans.
struct Entry<T> {
    value: T,
    tokens: TokenStream2,
}

/// The raw struct-level keys, before cross-key checks.
#[derive(Default)]
struct StructAttrs {
    first_attr: Option<Attribute>,
    provider: Option<Entry<LitStr>>,
    id: Option<Entry<LitStr>>,
    health_id: Option<Entry<LitStr>>,
    method: Option<Entry<LitStr>>,
    path: Option<Entry<LitStr>>,
    response: Option<Entry<LitStr>>,
    content_type: Option<Entry<LitStr>>,
    output: Option<Entry<Type>>,
    flow: Option<Entry<LitStr>>,
    poll_path: Option<Entry<LitStr>>,
    poll_interval_ms: Option<Entry<LitInt>>,
    timeout_ms: Option<Entry<LitInt>>,
    max_body_bytes: Option<Entry<LitInt>>,
    stream: Option<StreamAttrs>,
}

/// `stream` or `stream(path = "...", idle_timeout_ms = N, max_bytes = N, events(...))`, as
/// written.
struct StreamAttrs {
    /// The `stream` key, for error spans.
    key: syn::Path,
    path: Option<Entry<LitStr>>,
    idle_timeout_ms: Option<Entry<LitInt>>,
    max_bytes: Option<Entry<LitInt>>,
    events: Option<EventsAttrs>,
}

/// `events(type_field = "...", delta = "...", audio_field = "...", done = "...")`, as written.
struct EventsAttrs {
    /// The `events` key, for error spans.
    key: syn::Path,
    type_field: Option<Entry<LitStr>>,
    delta: Option<Entry<LitStr>>,
    audio_field: Option<Entry<LitStr>>,
    done: Option<Entry<LitStr>>,
}

fn set<T: ToTokens>(slot: &mut Option<Entry<T>>, key: &syn::Path, value: T) -> syn::Result<()> {
    set_in("endpoint key", slot, key, value)
}

/// Sets a key of a nested list (`stream(...)`, `events(...)`), named `what` in errors.
fn set_in<T: ToTokens>(
    what: &str,
    slot: &mut Option<Entry<T>>,
    key: &syn::Path,
    value: T,
) -> syn::Result<()> {
    let tokens = quote!(#key = #value);
    if slot.is_some() {
        return Err(syn::Error::new_spanned(
            key,
            format!("duplicate {what} `{}`", key.to_token_stream()),
        ));
    }
    *slot = Some(Entry { value, tokens });
    Ok(())
}

/// The key of a nested list, or an error listing the known ones.
fn nested_key(key: &syn::Path, what: &str, known: &str) -> syn::Result<String> {
    key.get_ident().map(Ident::to_string).ok_or_else(|| {
        syn::Error::new_spanned(
            key,
            format!(
                "unknown {what} `{}`; expected one of: {known}",
                key.to_token_stream()
            ),
        )
    })
}

impl StreamAttrs {
    /// Parses what follows the `stream` key: nothing, or a parenthesized list.
    fn parse(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<Self> {
        let mut stream = StreamAttrs {
            key: meta.path.clone(),
            path: None,
            idle_timeout_ms: None,
            max_bytes: None,
            events: None,
        };
        if !meta.input.peek(syn::token::Paren) {
            if !meta.input.is_empty() && !meta.input.peek(Token![,]) {
                return Err(meta.error(
                    "`stream` takes no value: write `stream` or \
                     `stream(path = \"...\", idle_timeout_ms = ..., max_bytes = ..., events(...))`",
                ));
            }
            return Ok(stream);
        }
        meta.parse_nested_meta(|inner| {
            let key = inner.path.clone();
            let s = &mut stream;
            let what = "stream key";
            match nested_key(&key, what, STREAM_KEYS)?.as_str() {
                "path" => set_in(what, &mut s.path, &key, inner.value()?.parse()?),
                "idle_timeout_ms" => {
                    set_in(what, &mut s.idle_timeout_ms, &key, inner.value()?.parse()?)
                }
                "max_bytes" => set_in(what, &mut s.max_bytes, &key, inner.value()?.parse()?),
                "events" => {
                    if s.events.is_some() {
                        return Err(syn::Error::new_spanned(
                            &key,
                            "duplicate stream key `events`",
                        ));
                    }
                    s.events = Some(EventsAttrs::parse(&inner)?);
                    Ok(())
                }
                _ => Err(syn::Error::new_spanned(
                    &key,
                    format!(
                        "unknown {what} `{}`; expected one of: {STREAM_KEYS}",
                        key.to_token_stream()
                    ),
                )),
            }
        })?;
        Ok(stream)
    }

    /// Checks the stream against the endpoint's path and resolves its defaults.
    fn validate(self, path: &LitStr, template: &PathTemplate) -> syn::Result<Stream> {
        let stream_path = match self.path {
            Some(entry) => {
                let lit = entry.value;
                let own = parse_path(&lit, "stream path")?;
                if let Some(extra) = own.params().find(|p| !template.has_param(p)) {
                    return Err(syn::Error::new_spanned(
                        &lit,
                        format!(
                            "stream path has `{{{extra}}}`, which `path` does not; both are \
                             rendered from the same request"
                        ),
                    ));
                }
                if let Some(missing) = template.params().find(|p| !own.has_param(p)) {
                    return Err(syn::Error::new_spanned(
                        &lit,
                        format!(
                            "stream path lacks `{{{missing}}}` of `path` ({:?}); both are \
                             rendered from the same request",
                            path.value()
                        ),
                    ));
                }
                Some(lit)
            }
            None => None,
        };
        Ok(Stream {
            path: stream_path,
            idle_timeout_ms: positive(
                "idle_timeout_ms",
                self.idle_timeout_ms,
                DEFAULT_STREAM_IDLE_TIMEOUT_MS,
            )?,
            max_bytes: positive("max_bytes", self.max_bytes, DEFAULT_STREAM_MAX_BYTES)?,
            events: self.events.map(EventsAttrs::validate).transpose()?,
        })
    }
}

impl EventsAttrs {
    fn parse(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<Self> {
        let mut events = EventsAttrs {
            key: meta.path.clone(),
            type_field: None,
            delta: None,
            audio_field: None,
            done: None,
        };
        if !meta.input.peek(syn::token::Paren) {
            return Err(meta.error(
                "`events` needs its fields: `events(type_field = \"type\", delta = \"...\", \
                 audio_field = \"audio\", done = \"...\")`",
            ));
        }
        meta.parse_nested_meta(|inner| {
            let key = inner.path.clone();
            let e = &mut events;
            let what = "events key";
            match nested_key(&key, what, EVENTS_KEYS)?.as_str() {
                "type_field" => set_in(what, &mut e.type_field, &key, inner.value()?.parse()?),
                "delta" => set_in(what, &mut e.delta, &key, inner.value()?.parse()?),
                "audio_field" => set_in(what, &mut e.audio_field, &key, inner.value()?.parse()?),
                "done" => set_in(what, &mut e.done, &key, inner.value()?.parse()?),
                _ => Err(syn::Error::new_spanned(
                    &key,
                    format!(
                        "unknown {what} `{}`; expected one of: {EVENTS_KEYS}",
                        key.to_token_stream()
                    ),
                )),
            }
        })?;
        Ok(events)
    }

    fn validate(self) -> syn::Result<Events> {
        let key = &self.key;
        let required = |name: &str, entry: Option<Entry<LitStr>>| {
            let entry = entry.ok_or_else(|| {
                syn::Error::new_spanned(key, format!("missing `{name} = \"...\"` in events(...)"))
            })?;
            non_empty(name, entry)
        };
        let events = Events {
            type_field: required("type_field", self.type_field)?,
            delta: required("delta", self.delta)?,
            audio_field: required("audio_field", self.audio_field)?,
            done: required("done", self.done)?,
        };
        if events.delta.value() == events.done.value() {
            return Err(syn::Error::new_spanned(
                &events.done,
                "`done` is also the `delta` event type; the stream would end at its first chunk",
            ));
        }
        Ok(events)
    }
}

impl StructAttrs {
    fn parse(input: &DeriveInput) -> syn::Result<Self> {
        let mut attrs = StructAttrs::default();
        for attr in input.attrs.iter().filter(|a| a.path().is_ident("endpoint")) {
            attrs.first_attr.get_or_insert_with(|| attr.clone());
            attr.parse_nested_meta(|meta| {
                let key = meta.path.clone();
                let Some(name) = key.get_ident().map(Ident::to_string) else {
                    return Err(unknown_key(&key));
                };
                let a = &mut attrs;
                match name.as_str() {
                    "provider" => set(&mut a.provider, &key, meta.value()?.parse()?),
                    "id" => set(&mut a.id, &key, meta.value()?.parse()?),
                    "health_id" => set(&mut a.health_id, &key, meta.value()?.parse()?),
                    "method" => set(&mut a.method, &key, meta.value()?.parse()?),
                    "path" => set(&mut a.path, &key, meta.value()?.parse()?),
                    "response" => set(&mut a.response, &key, meta.value()?.parse()?),
                    "content_type" => set(&mut a.content_type, &key, meta.value()?.parse()?),
                    "flow" => set(&mut a.flow, &key, meta.value()?.parse()?),
                    "poll_path" => set(&mut a.poll_path, &key, meta.value()?.parse()?),
                    "poll_interval_ms" => {
                        set(&mut a.poll_interval_ms, &key, meta.value()?.parse()?)
                    }
                    "timeout_ms" => set(&mut a.timeout_ms, &key, meta.value()?.parse()?),
                    "max_body_bytes" => set(&mut a.max_body_bytes, &key, meta.value()?.parse()?),
                    "stream" => {
                        if a.stream.is_some() {
                            return Err(syn::Error::new_spanned(
                                &key,
                                "duplicate endpoint key `stream`",
                            ));
                        }
                        a.stream = Some(StreamAttrs::parse(&meta)?);
                        Ok(())
                    }
                    "output" => {
                        let value = meta.value()?;
                        if value.peek(LitStr) {
                            let lit: LitStr = value.parse()?;
                            return Err(syn::Error::new_spanned(
                                &lit,
                                format!(
                                    "`output` takes a type, not a string: write `output = {}`",
                                    lit.value()
                                ),
                            ));
                        }
                        set(&mut a.output, &key, value.parse()?)
                    }
                    _ => Err(unknown_key(&key)),
                }
            })?;
        }
        Ok(attrs)
    }

    /// Applies the cross-key rules and resolves defaults.
    fn validate(self, input: &DeriveInput) -> syn::Result<Spec> {
        let Some(attr) = &self.first_attr else {
            return Err(syn::Error::new_spanned(
                &input.ident,
                "#[derive(Endpoint)] needs an #[endpoint(...)] attribute with provider, id, \
                 health_id, method, path and response",
            ));
        };
        let missing = |key: &str, example: &str| {
            syn::Error::new_spanned(
                attr,
                format!("missing `{key} = {example}` in #[endpoint(...)]"),
            )
        };
        let required = |key, entry: Option<Entry<LitStr>>| {
            non_empty(key, entry.ok_or_else(|| missing(key, "\"...\""))?)
        };
        let provider = required("provider", self.provider)?;
        let id = required("id", self.id)?;
        let health_id = required("health_id", self.health_id)?;
        let method = self
            .method
            .ok_or_else(|| missing("method", "\"POST\""))?
            .value;
        let method = parse_method(&method)?;
        let path = self
            .path
            .ok_or_else(|| missing("path", "\"/v1/...\""))?
            .value;
        let template = parse_path(&path, "path")?;
        let response = self
            .response
            .ok_or_else(|| missing("response", "\"json\""))?
            .value;

        let job_keys = [
            ("flow", tokens(&self.flow)),
            ("poll_path", tokens(&self.poll_path)),
            ("poll_interval_ms", tokens(&self.poll_interval_ms)),
            ("timeout_ms", tokens(&self.timeout_ms)),
        ];
        let only_jobs = |(key, tokens)| {
            forbid(
                tokens,
                &format!("`{key}` is only allowed for response = \"job\""),
            )
        };

        let kind = match parse_kind::<ResponseKind>(&response)? {
            ResponseKind::Audio => {
                forbid(
                    tokens(&self.output),
                    "`output` is not allowed for response = \"audio\": audio endpoints return \
                     ::media_sdk::Audio",
                )?;
                job_keys.into_iter().try_for_each(only_jobs)?;
                Response::Audio {
                    content_type: self.content_type.map_or_else(
                        || "application/octet-stream".to_owned(),
                        |e| e.value.value(),
                    ),
                    stream: self
                        .stream
                        .map(|s| s.validate(&path, &template))
                        .transpose()?,
                }
            }
            kind @ (ResponseKind::Json | ResponseKind::Job) => {
                if let Some(stream) = &self.stream {
                    return Err(syn::Error::new_spanned(
                        &stream.key,
                        "`stream` is only allowed for response = \"audio\"",
                    ));
                }
                forbid(
                    tokens(&self.content_type),
                    "`content_type` is only allowed for response = \"audio\"",
                )?;
                let output = self
                    .output
                    .ok_or_else(|| {
                        syn::Error::new_spanned(
                            &response,
                            format!(
                                "response = {:?} needs `output = SomeType`, the type of the \
                                 decoded document",
                                response.value()
                            ),
                        )
                    })?
                    .value;
                if kind == ResponseKind::Json {
                    job_keys.into_iter().try_for_each(only_jobs)?;
                    Response::Json { output }
                } else {
                    Response::Job {
                        output,
                        flow: job_flow(&response, self.flow, self.poll_path)?,
                        poll_interval_ms: positive(
                            "poll_interval_ms",
                            self.poll_interval_ms,
                            1000,
                        )?,
                        timeout_ms: positive("timeout_ms", self.timeout_ms, 600_000)?,
                    }
                }
            }
        };
        let max_body_bytes = match self.max_body_bytes {
            Some(entry) => Some(positive("max_body_bytes", Some(entry), 0)?),
            None => None,
        };
        Ok(Spec {
            provider,
            id,
            health_id,
            method,
            path,
            template,
            kind,
            max_body_bytes,
        })
    }
}

/// The `key = value` tokens of an entry that was written, for error spans.
fn tokens<T>(entry: &Option<Entry<T>>) -> Option<&TokenStream2> {
    entry.as_ref().map(|e| &e.tokens)
}

/// Rejects a key that was written where it is not allowed.
fn forbid(tokens: Option<&TokenStream2>, why: &str) -> syn::Result<()> {
    match tokens {
        Some(tokens) => Err(syn::Error::new_spanned(tokens, why)),
        None => Ok(()),
    }
}

fn unknown_key(key: &syn::Path) -> syn::Error {
    syn::Error::new_spanned(
        key,
        format!(
            "unknown endpoint key `{}`; expected one of: {KNOWN_KEYS}",
            key.to_token_stream()
        ),
    )
}

fn non_empty(key: &str, entry: Entry<LitStr>) -> syn::Result<LitStr> {
    if entry.value.value().trim().is_empty() {
        return Err(syn::Error::new_spanned(
            &entry.value,
            format!("`{key}` must not be empty"),
        ));
    }
    Ok(entry.value)
}

fn positive(key: &str, entry: Option<Entry<LitInt>>, default: u64) -> syn::Result<u64> {
    let Some(entry) = entry else {
        return Ok(default);
    };
    let value: u64 = entry.value.base10_parse()?;
    if value == 0 {
        return Err(syn::Error::new_spanned(
            &entry.value,
            format!("`{key}` must be greater than 0"),
        ));
    }
    Ok(value)
}

fn job_flow(
    response: &LitStr,
    flow: Option<Entry<LitStr>>,
    poll_path: Option<Entry<LitStr>>,
) -> syn::Result<Flow> {
    let flow = flow
        .ok_or_else(|| {
            syn::Error::new_spanned(
                response,
                "response = \"job\" needs `flow = \"fal_queue\"` or `flow = \"kling_task\"`",
            )
        })?
        .value;
    match parse_kind::<JobFlowKind>(&flow)? {
        JobFlowKind::FalQueue => match poll_path {
            Some(entry) => Err(syn::Error::new_spanned(
                &entry.tokens,
                "`poll_path` is only allowed with flow = \"kling_task\"; the fal queue follows \
                 the URLs it returns",
            )),
            None => Ok(Flow::FalQueue),
        },
        kind @ JobFlowKind::KlingTask => {
            let poll_path = poll_path
                .ok_or_else(|| {
                    syn::Error::new_spanned(
                        &flow,
                        "flow = \"kling_task\" needs `poll_path = \"/.../{task_id}\"`",
                    )
                })?
                .value;
            let template = parse_path(&poll_path, "poll_path")?;
            let Some(param) = kind.poll_param() else {
                unreachable!("a kling task is polled at a path of its own")
            };
            if !template.has_param(param) {
                return Err(syn::Error::new_spanned(
                    &poll_path,
                    format!("poll_path must contain the `{{{param}}}` placeholder"),
                ));
            }
            if let Some(other) = template.params().find(|p| *p != param) {
                return Err(syn::Error::new_spanned(
                    &poll_path,
                    format!("poll_path may only contain `{{{param}}}`, found `{{{other}}}`"),
                ));
            }
            Ok(Flow::KlingTask { poll_path })
        }
    }
}

/// Parses a kind's spelling (`response = "json"`, `flow = "fal_queue"`), the error at the
/// literal.
fn parse_kind<K>(lit: &LitStr) -> syn::Result<K>
where
    K: std::str::FromStr<Err = media_sdk_spec::UnknownKind>,
{
    lit.value()
        .parse()
        .map_err(|err| syn::Error::new_spanned(lit, err))
}

/// The method of `method = "..."`, in any case (`"post"` is `POST`).
fn parse_method(lit: &LitStr) -> syn::Result<Method> {
    let value = lit.value();
    value
        .parse()
        .or_else(|err| value.to_ascii_uppercase().parse().map_err(|_| err))
        .map_err(|err| syn::Error::new_spanned(lit, err))
}

/// Parses the path template of `key = "..."`; a malformed one is an error at the literal.
fn parse_path(path: &LitStr, key: &str) -> syn::Result<PathTemplate> {
    PathTemplate::parse(&path.value()).map_err(|err| {
        let hint = match err.kind() {
            TemplateErrorKind::MissingLeadingSlash => ", e.g. \"/v1/audio/speech\"",
            TemplateErrorKind::ForbiddenChar('?') => "; use #[endpoint(query)] fields",
            _ => "",
        };
        syn::Error::new_spanned(path, format!("{key} {err}{hint}"))
    })
}

/// The validated endpoint description.
struct Spec {
    provider: LitStr,
    id: LitStr,
    health_id: LitStr,
    method: Method,
    path: LitStr,
    template: PathTemplate,
    kind: Response,
    max_body_bytes: Option<u64>,
}

/// The validated response, with what its kind carries.
enum Response {
    Audio {
        content_type: String,
        stream: Option<Stream>,
    },
    Json {
        output: Type,
    },
    Job {
        output: Type,
        flow: Flow,
        poll_interval_ms: u64,
        timeout_ms: u64,
    },
}

/// The validated stream of an audio endpoint, defaults resolved.
struct Stream {
    path: Option<LitStr>,
    idle_timeout_ms: u64,
    max_bytes: u64,
    events: Option<Events>,
}

/// The validated server-sent events of a stream.
struct Events {
    type_field: LitStr,
    delta: LitStr,
    audio_field: LitStr,
    done: LitStr,
}

impl Stream {
    fn to_expr(&self) -> TokenStream2 {
        let Stream {
            path,
            idle_timeout_ms,
            max_bytes,
            events,
        } = self;
        let path = match path {
            Some(path) => quote!(::core::option::Option::Some(#path)),
            None => quote!(::core::option::Option::None),
        };
        let events = match events {
            Some(Events {
                type_field,
                delta,
                audio_field,
                done,
            }) => quote! {
                ::core::option::Option::Some(::media_sdk::spec::AudioEvents {
                    type_field: #type_field,
                    delta: #delta,
                    audio_field: #audio_field,
                    done: #done,
                })
            },
            None => quote!(::core::option::Option::None),
        };
        quote! {
            ::media_sdk::spec::StreamSpec {
                path: #path,
                idle_timeout_ms: #idle_timeout_ms,
                max_bytes: #max_bytes,
                events: #events,
            }
        }
    }
}

/// The validated job flow, with what its kind carries.
enum Flow {
    FalQueue,
    KlingTask { poll_path: LitStr },
}

impl Spec {
    fn output_type(&self) -> TokenStream2 {
        match &self.kind {
            Response::Audio { .. } => quote!(::media_sdk::Audio),
            Response::Json { output } => quote!(#output),
            Response::Job { output, .. } => quote!(::media_sdk::Job<#output>),
        }
    }

    fn to_expr(&self) -> TokenStream2 {
        let Spec {
            provider,
            id,
            health_id,
            method,
            path,
            kind,
            max_body_bytes,
            ..
        } = self;
        let method = match method {
            Method::Get => quote!(Get),
            Method::Post => quote!(Post),
            Method::Put => quote!(Put),
            Method::Delete => quote!(Delete),
            Method::Patch => quote!(Patch),
        };
        let max_body_bytes = match max_body_bytes {
            Some(max) => quote!(::core::option::Option::Some(#max)),
            None => quote!(::core::option::Option::None),
        };
        let response = match kind {
            Response::Audio {
                content_type,
                stream,
            } => {
                let stream = match stream {
                    Some(stream) => {
                        let stream = stream.to_expr();
                        quote!(::core::option::Option::Some(#stream))
                    }
                    None => quote!(::core::option::Option::None),
                };
                quote! {
                    ::media_sdk::spec::ResponseSpec::Audio {
                        content_type: #content_type,
                        stream: #stream,
                    }
                }
            }
            Response::Json { .. } => quote!(::media_sdk::spec::ResponseSpec::Json),
            Response::Job {
                flow,
                poll_interval_ms,
                timeout_ms,
                ..
            } => {
                let flow = match flow {
                    Flow::FalQueue => quote!(::media_sdk::spec::JobFlow::FalQueue),
                    Flow::KlingTask { poll_path } => quote! {
                        ::media_sdk::spec::JobFlow::KlingTask { poll_path: #poll_path }
                    },
                };
                quote! {
                    ::media_sdk::spec::ResponseSpec::Job(::media_sdk::spec::JobSpec {
                        flow: #flow,
                        poll_interval_ms: #poll_interval_ms,
                        timeout_ms: #timeout_ms,
                    })
                }
            }
        };
        quote! {
            ::media_sdk::spec::EndpointSpec {
                provider: #provider,
                id: #id,
                health_id: #health_id,
                method: ::media_sdk::spec::Method::#method,
                path: #path,
                response: #response,
                max_body_bytes: #max_body_bytes,
            }
        }
    }

    fn decode_expr(&self) -> TokenStream2 {
        match &self.kind {
            Response::Audio { content_type, .. } => {
                quote!(::media_sdk::Audio::from_body(body, #content_type))
            }
            Response::Json { .. } => quote!(::media_sdk::__private::decode_json(&body)),
            Response::Job { .. } => quote!(::media_sdk::Job::from_body(body)),
        }
    }
}

/// A field sent in the path or the query string.
struct Param {
    field: Ident,
    name: String,
}

#[derive(Default)]
struct Params {
    path: Vec<Param>,
    query: Vec<Param>,
}

#[derive(Clone, Copy, PartialEq)]
enum Place {
    Path,
    Query,
}

impl Params {
    fn parse(fields: &syn::FieldsNamed) -> syn::Result<Self> {
        let mut params = Params::default();
        for field in &fields.named {
            let Some((place, marker)) = field_place(field)? else {
                continue;
            };
            let serde = SerdeField::parse(field)?;
            let kind = if place == Place::Path {
                "path"
            } else {
                "query"
            };
            if !serde.skip_serializing {
                return Err(syn::Error::new_spanned(
                    &marker,
                    format!(
                        "a #[endpoint({kind})] field must not be sent in the body: add \
                         #[serde(skip_serializing)] (or #[serde(skip)]) to this field"
                    ),
                ));
            }
            let field_ident = field.ident.clone().expect("named field");
            let name = serde
                .rename
                .unwrap_or_else(|| syn::ext::IdentExt::unraw(&field_ident).to_string());
            let param = Param {
                field: field_ident,
                name,
            };
            match place {
                Place::Path => params.path.push(param),
                Place::Query => params.query.push(param),
            }
        }
        Ok(params)
    }

    /// Every placeholder has a path field and every path field a placeholder.
    fn check_against(&self, path: &LitStr, template: &PathTemplate) -> syn::Result<()> {
        for name in template.params() {
            if !self.path.iter().any(|p| p.name == name) {
                return Err(syn::Error::new_spanned(
                    path,
                    format!(
                        "path placeholder `{{{name}}}` has no field; add \
                         `#[endpoint(path)] #[serde(skip_serializing)] {name}: ...`"
                    ),
                ));
            }
        }
        for param in &self.path {
            if !template.has_param(&param.name) {
                return Err(syn::Error::new_spanned(
                    &param.field,
                    format!(
                        "path field `{}` does not appear in the path; add `{{{}}}` to it or \
                         remove #[endpoint(path)]",
                        param.name, param.name
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Reads a field's `#[endpoint(path)]` / `#[endpoint(query)]` marker, if any.
fn field_place(field: &syn::Field) -> syn::Result<Option<(Place, syn::Path)>> {
    let mut found: Option<(Place, syn::Path)> = None;
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("endpoint")) {
        attr.parse_nested_meta(|meta| {
            let place = if meta.path.is_ident("path") {
                Place::Path
            } else if meta.path.is_ident("query") {
                Place::Query
            } else {
                return Err(syn::Error::new_spanned(
                    &meta.path,
                    format!(
                        "unknown field option `{}`; expected `path` or `query`",
                        meta.path.to_token_stream()
                    ),
                ));
            };
            if !meta.input.is_empty() && !meta.input.peek(Token![,]) {
                return Err(syn::Error::new(
                    meta.input.span(),
                    format!("`{}` takes no value", meta.path.to_token_stream()),
                ));
            }
            match &found {
                Some((prev, _)) if *prev == place => Err(syn::Error::new_spanned(
                    &meta.path,
                    format!("duplicate `{}`", meta.path.to_token_stream()),
                )),
                Some(_) => Err(syn::Error::new_spanned(
                    &meta.path,
                    "a field cannot be both `path` and `query`",
                )),
                None => {
                    found = Some((place, meta.path.clone()));
                    Ok(())
                }
            }
        })?;
    }
    Ok(found)
}

/// The parts of a field's serde attributes the derive cares about.
#[derive(Default)]
struct SerdeField {
    skip_serializing: bool,
    rename: Option<String>,
}

impl SerdeField {
    fn parse(field: &syn::Field) -> syn::Result<Self> {
        let mut out = SerdeField::default();
        for attr in field.attrs.iter().filter(|a| a.path().is_ident("serde")) {
            let metas = attr.parse_args_with(
                syn::punctuated::Punctuated::<Meta, Token![,]>::parse_terminated,
            )?;
            for meta in metas {
                match &meta {
                    Meta::Path(p) if p.is_ident("skip") || p.is_ident("skip_serializing") => {
                        out.skip_serializing = true;
                    }
                    Meta::NameValue(nv) if nv.path.is_ident("rename") => match &nv.value {
                        syn::Expr::Lit(syn::ExprLit {
                            lit: syn::Lit::Str(s),
                            ..
                        }) => out.rename = Some(s.value()),
                        other => {
                            return Err(syn::Error::new_spanned(other, "expected a string"));
                        }
                    },
                    Meta::List(list) if list.path.is_ident("rename") => {
                        return Err(syn::Error::new_spanned(
                            list,
                            "path and query fields take one name: use #[serde(rename = \"...\")]",
                        ));
                    }
                    _ => {}
                }
            }
        }
        Ok(out)
    }
}

fn param_pushes(params: &[Param]) -> TokenStream2 {
    let pushes = params.iter().map(|Param { field, name }| {
        quote! {
            if let ::core::option::Option::Some(value) =
                ::media_sdk::__private::param_value(&self.#field)
            {
                params.push((#name, value));
            }
        }
    });
    let len = params.len();
    if len == 0 {
        return quote!(::std::vec::Vec::new());
    }
    quote! {
        let mut params = ::std::vec::Vec::with_capacity(#len);
        #(#pushes)*
        params
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> LitStr {
        LitStr::new(s, proc_macro2::Span::call_site())
    }

    #[test]
    fn path_errors_name_the_key_and_give_a_hint() {
        let message = |path, key| parse_path(&lit(path), key).err().unwrap().to_string();
        assert_eq!(
            message("v1/x", "path"),
            "path must start with `/`, e.g. \"/v1/audio/speech\""
        );
        assert_eq!(
            message("/v1/x?a=1", "path"),
            "path has `?` at position 6; a path template has no query string; use \
             #[endpoint(query)] fields"
        );
        assert_eq!(
            message("/v1/{a", "poll_path"),
            "poll_path has a `{` at position 5 that is never closed"
        );
    }

    #[test]
    fn methods_are_read_in_any_case_and_reported_as_written() {
        assert_eq!(parse_method(&lit("post")).unwrap(), Method::Post);
        assert_eq!(parse_method(&lit("PATCH")).unwrap(), Method::Patch);
        assert_eq!(
            parse_method(&lit("fetch")).err().unwrap().to_string(),
            "unknown method \"fetch\"; expected one of GET, POST, PUT, DELETE, PATCH"
        );
    }
}
