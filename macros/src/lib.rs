//! `#[derive(Endpoint)]` for media-sdk (in progress).
use proc_macro::TokenStream;

/// Derives `media_sdk::Endpoint` (in progress).
#[proc_macro_derive(Endpoint, attributes(endpoint))]
pub fn derive_endpoint(_input: TokenStream) -> TokenStream {
    TokenStream::new()
}
