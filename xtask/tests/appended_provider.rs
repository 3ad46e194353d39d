//! A new OpenAI-compatible TTS provider appended to a copy of `providers.yaml`
//! (`tests/fixtures/appended_tts_provider.yaml`) is generated like the others and joins the
//! TTS fallback, last, with no Rust edit. That the result compiles is checked by
//! `generated_compiles.rs`, which builds this very spec.

use std::path::{Path, PathBuf};

use syn::{Expr, Item};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn appended_spec() -> String {
    let spec = std::fs::read_to_string(root().join("providers.yaml")).expect("providers.yaml");
    let fragment =
        std::fs::read_to_string(root().join("xtask/tests/fixtures/appended_tts_provider.yaml"))
            .expect("fixture");
    xtask::fixture::append(&spec, &fragment).unwrap_or_else(|e| panic!("splice: {e}"))
}

/// The initializer of the item named `name` (a `const` or a `static`).
fn initializer<'f>(file: &'f syn::File, name: &str) -> &'f Expr {
    file.items
        .iter()
        .find_map(|item| match item {
            Item::Const(c) if c.ident == name => Some(&*c.expr),
            Item::Static(s) if s.ident == name => Some(&*s.expr),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no item `{name}`"))
}

/// The struct field `name` of a struct expression.
fn field<'e>(expr: &'e Expr, name: &str) -> &'e Expr {
    let Expr::Struct(s) = expr else {
        panic!("not a struct expression: {}", quote::quote!(#expr))
    };
    s.fields
        .iter()
        .find(|f| matches!(&f.member, syn::Member::Named(i) if i == name))
        .map(|f| &f.expr)
        .unwrap_or_else(|| panic!("no field `{name}`"))
}

/// The elements of `&[a, b, ...]`.
fn slice(expr: &Expr) -> Vec<&Expr> {
    match expr {
        Expr::Reference(r) => match &*r.expr {
            Expr::Array(a) => a.elems.iter().collect(),
            other => panic!("not an array: {}", quote::quote!(#other)),
        },
        other => panic!("not a reference: {}", quote::quote!(#other)),
    }
}

fn text(expr: &Expr) -> String {
    quote::quote!(#expr).to_string().replace(' ', "")
}

#[test]
fn an_appended_tts_provider_is_generated_and_joins_the_tts_fallback_last() {
    let spec = appended_spec();
    let rendered =
        xtask::render("providers.yaml", &spec).unwrap_or_else(|e| panic!("spec is valid:\n{e}"));
    let names: Vec<&str> = rendered.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "openai.rs",
            "fal.rs",
            "kling.rs",
            "elevenlabs.rs",
            "echovox.rs",
            "capabilities.rs",
            "mod.rs"
        ]
    );
    let file = |name: &str| {
        let content = &rendered
            .files
            .iter()
            .find(|f| f.name == name)
            .expect("rendered")
            .content;
        syn::parse_file(content).expect("generated code parses")
    };
    let caps = file("capabilities.rs");

    // The endpoint is callable by data, with its example request, after the others.
    let endpoints: Vec<String> = slice(initializer(&caps, "ENDPOINTS"))
        .into_iter()
        .map(text)
        .collect();
    assert_eq!(endpoints.last().map(String::as_str), Some("ECHOVOX_SPEECH"));
    assert_eq!(endpoints.len(), 7);
    assert_eq!(
        text(initializer(&caps, "ECHOVOX_SPEECH")),
        // (`text` drops every space, those of literals too.)
        r####"DynEndpoint::audio::<super::echovox::SpeechRequest,>(r#"{"model":"vox-1","input":"HellofromEchoVox.","voice":"alloy"}"#,false)"####
    );

    // It is the last TTS candidate; the declared candidates keep their order.
    let tts = field(initializer(&caps, "CAPABILITIES"), "tts");
    let entries = slice(field(tts, "entries"));
    let candidates: Vec<String> = entries.iter().map(|e| text(field(e, "endpoint"))).collect();
    assert_eq!(
        candidates,
        [
            "&OPENAI_SPEECH",
            "&ELEVENLABS_TEXT_TO_SPEECH",
            "&ECHOVOX_SPEECH"
        ]
    );
    let echovox = entries.last().expect("an entry");
    // The template, with the required `model` it leaves out filled with its default (a JSON
    // request is decoded strictly: without it, every call would be refused).
    assert_eq!(
        text(field(echovox, "request")),
        r####"r#"{"input":"{text}","voice":"{voice}","speed":"{speed}","model":"vox-1"}"#"####
    );
    assert_eq!(text(field(echovox, "credits")), "1");
    // Its voice enum's values pass as themselves.
    assert_eq!(
        text(field(echovox, "voices")),
        r#"Some(Voices{names:&[],listed:&["alloy","echo","nova","shimmer"],ids:None,})"#
    );

    // The provider is a generated client like the others.
    let module = file("mod.rs");
    let providers = text(initializer(&module, "PROVIDERS"));
    assert!(providers.ends_with("&echovox::PROVIDER,]"), "{providers}");
}
