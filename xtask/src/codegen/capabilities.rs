//! `capabilities.rs`: every endpoint callable by data (`ENDPOINTS`, with its example request)
//! and the media capability table (`CAPABILITIES`) that the facade interprets.

use proc_macro2::TokenStream;
use quote::quote;

use super::{doc, ident, inner_doc, raw_str};
use crate::names;
use crate::spec::{
    CapabilityEntry, CapabilityKind, FallbackPolicy, FieldType, JsonNode, ModelSpec, ResponseKind,
    Spec,
};
use crate::validate::find_endpoint;

/// Default credits of an entry (and of its models).
const DEFAULT_CREDITS: u32 = 1;

/// Which capability types the file names (only those are imported, so nothing is unused).
#[derive(Default)]
struct Used {
    entry: bool,
    model: bool,
    output: bool,
    voices: bool,
    voice_ids: bool,
}

pub(super) fn file(spec: &Spec, spec_name: &str) -> TokenStream {
    let module_doc = inner_doc(&format!(
        "Every endpoint callable by data ([`ENDPOINTS`]) and the media capabilities\n([`CAPABILITIES`]), from `{spec_name}`."
    ));
    let mut names = Vec::new();
    let mut consts = Vec::new();
    for (pid, provider) in spec.providers.iter() {
        for (eid, endpoint) in provider.endpoints.iter() {
            let name = ident(&names::endpoint_const(&pid.value, &eid.value));
            let module = ident(&pid.value);
            let request = ident(&endpoint.request.value);
            let example = raw_str(&endpoint.example_request_json());
            let response = &endpoint.response.value;
            let value = match response.kind.value {
                ResponseKind::Audio => {
                    let streams = response.stream.is_some();
                    quote!(DynEndpoint::audio::<super::#module::#request>(#example, #streams))
                }
                ResponseKind::Json => {
                    quote!(DynEndpoint::json::<super::#module::#request>(#example))
                }
                ResponseKind::Job => {
                    let output = ident(
                        &response
                            .type_name
                            .as_ref()
                            .map_or_else(String::new, |t| t.value.clone()),
                    );
                    quote!(DynEndpoint::job::<super::#module::#request, super::#module::#output>(#example))
                }
            };
            let docs = doc(&format!("`{}.{}`.", pid.value, eid.value));
            consts.push(quote!(#docs const #name: DynEndpoint = #value;));
            names.push(name);
        }
    }

    let mut used = Used::default();
    let capabilities = spec.capabilities.as_ref();
    let fields = CapabilityKind::ALL.map(|kind| {
        let field = ident(kind.as_str());
        let cap = capabilities.and_then(|c| c.iter().find(|(k, _)| *k == kind).map(|(_, c)| c));
        let kind_variant = ident(match kind {
            CapabilityKind::Tts => "Tts",
            CapabilityKind::Image => "Image",
            CapabilityKind::Video => "Video",
            CapabilityKind::Sound => "Sound",
        });
        let fallback = ident(
            match cap.and_then(|c| c.fallback.as_ref()).map(|f| f.value) {
                None | Some(FallbackPolicy::FastestHealthy) => "FastestHealthy",
                Some(FallbackPolicy::InOrder) => "InOrder",
            },
        );
        let entries: Vec<TokenStream> = cap
            .map(|c| {
                c.endpoints
                    .iter()
                    .map(|e| entry(spec, kind, e, &mut used))
                    .collect()
            })
            .unwrap_or_default();
        quote! {
            #field: Capability {
                kind: CapabilityKind::#kind_variant,
                fallback: Fallback::#fallback,
                entries: &[#(#entries),*],
            }
        }
    });

    let mut imports = vec![
        quote!(Capabilities),
        quote!(Capability),
        quote!(CapabilityKind),
    ];
    if used.entry {
        imports.push(quote!(Entry));
    }
    imports.push(quote!(Fallback));
    for (is, name) in [
        (used.model, quote!(Model)),
        (used.output, quote!(OutputPath)),
        (used.voice_ids, quote!(VoiceIds)),
        (used.voices, quote!(Voices)),
    ] {
        if is {
            imports.push(name);
        }
    }
    quote! {
        #module_doc

        use crate::dynamic::DynEndpoint;
        use crate::media::capability::{#(#imports),*};

        /// Every endpoint of the spec, in spec order, callable with a JSON request.
        pub static ENDPOINTS: &[DynEndpoint] = &[#(#names),*];

        #(#consts)*

        /// The media capabilities of the spec (`capabilities:`), interpreted by `Sdk::media`.
        pub static CAPABILITIES: Capabilities = Capabilities {
            #(#fields),*
        };
    }
}

fn u32_lit(v: u32) -> proc_macro2::Literal {
    proc_macro2::Literal::u32_unsuffixed(v)
}

/// One candidate of a capability (validated: its endpoint exists).
fn entry(
    spec: &Spec,
    kind: CapabilityKind,
    entry: &CapabilityEntry,
    used: &mut Used,
) -> TokenStream {
    used.entry = true;
    let Some((pid, eid, endpoint)) = find_endpoint(spec, &entry.endpoint.value) else {
        unreachable!("validation checks that `{}` exists", entry.endpoint.value)
    };
    let endpoint_const = ident(&names::endpoint_const(pid, eid));
    let template = endpoint.with_required_defaults(
        &entry
            .request
            .as_ref()
            .map_or_else(|| "{}".to_owned(), |r| r.value.to_json_text()),
    );
    let request = raw_str(&template);
    let credits = entry.credits.as_ref().map_or(DEFAULT_CREDITS, |c| c.value);
    let credits_lit = u32_lit(credits);

    let voice_field = entry
        .request
        .as_ref()
        .and_then(|r| voice_field(&endpoint.fields, &r.value));
    let voices = match (kind, voice_field) {
        (CapabilityKind::Tts, Some(field)) => {
            used.voices = true;
            let spec_voices = entry.voices.as_ref().map(|v| &v.value);
            let names =
                spec_voices
                    .into_iter()
                    .flat_map(|v| v.names.iter())
                    .map(|(name, value)| {
                        let name = &name.value;
                        let json = raw_str(&value.value.to_json_text());
                        quote!((#name, #json))
                    });
            let listed: Vec<String> = if field.ty.value == FieldType::Enum {
                field.variants().into_iter().map(|v| v.wire).collect()
            } else {
                Vec::new()
            };
            let ids = match spec_voices.and_then(|v| v.ids.as_ref()) {
                Some(ids) => {
                    used.voice_ids = true;
                    let ids = &ids.value;
                    let prefix = ids.prefix.as_ref().map_or("", |p| p.value.as_str());
                    let length = match &ids.length {
                        Some(l) => {
                            let l = proc_macro2::Literal::usize_unsuffixed(l.value as usize);
                            quote!(Some(#l))
                        }
                        None => quote!(None),
                    };
                    let template = raw_str(
                        &ids.template
                            .as_ref()
                            .map_or_else(|| "\"{voice}\"".to_owned(), |t| t.value.to_json_text()),
                    );
                    quote!(Some(VoiceIds { prefix: #prefix, length: #length, template: #template }))
                }
                None => quote!(None),
            };
            quote!(Some(Voices { names: &[#(#names),*], listed: &[#(#listed),*], ids: #ids }))
        }
        _ => quote!(None),
    };

    let models = entry.models.iter().map(|(name, model)| {
        used.model = true;
        self::model(&name.value, model, credits)
    });
    let outputs = entry.output.iter().map(|o| {
        used.output = true;
        let pointer = &o.value.pointer;
        let inline = match &o.value.inline {
            Some(t) => quote!(Some(#t)),
            None => quote!(None),
        };
        quote!(OutputPath { pointer: #pointer, inline_type: #inline })
    });
    quote! {
        Entry {
            endpoint: &#endpoint_const,
            request: #request,
            credits: #credits_lit,
            voices: #voices,
            models: &[#(#models),*],
            output: &[#(#outputs),*],
        }
    }
}

fn model(name: &str, model: &ModelSpec, entry_credits: u32) -> TokenStream {
    let aliases = model.aliases.iter().map(|a| &a.value);
    let request = raw_str(
        &model
            .request
            .as_ref()
            .map_or_else(|| "{}".to_owned(), |r| r.value.to_json_text()),
    );
    let options = model.options.iter().map(|(option, values)| {
        let option = &option.value;
        let values = ModelSpec::option_values(values)
            .into_iter()
            .map(|(value, _, sent)| {
                let json = raw_str(&sent.to_json_text());
                quote!((#value, #json))
            });
        quote!((#option, &[#(#values),*]))
    });
    let credits = u32_lit(model.credits.as_ref().map_or(entry_credits, |c| c.value));
    let credits_by = model.credits_by.iter().flat_map(|(option, by_value)| {
        by_value.iter().map(move |(value, credits)| {
            let option = &option.value;
            let value = &value.value;
            let credits = u32_lit(credits.value);
            quote!((#option, #value, #credits))
        })
    });
    quote! {
        Model {
            name: #name,
            aliases: &[#(#aliases),*],
            request: #request,
            options: &[#(#options),*],
            credits: #credits,
            credits_by: &[#(#credits_by),*],
        }
    }
}

/// The field the `"{voice}"` placeholder of a template fills (top level or nested).
fn voice_field<'a>(
    fields: &'a crate::spec::Map<crate::spec::Field>,
    template: &JsonNode,
) -> Option<&'a crate::spec::Field> {
    for (key, value) in template.entries()? {
        let Some(field) = fields.get(&key.value) else {
            continue;
        };
        if value.value.placeholder() == Some("voice") {
            return Some(field);
        }
        if let Some(nested) = &field.fields
            && let Some(found) = voice_field(nested, &value.value)
        {
            return Some(found);
        }
    }
    None
}
