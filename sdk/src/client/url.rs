//! Paths and URLs: rendering an endpoint's `{param}` template, checking path parameters, and
//! deciding whether a URL given by the provider may be followed.

use media_sdk_spec::{PathTemplate, segment_problem};
use reqwest::Url;
use url::Origin;

use crate::classify::shorten;
use crate::endpoint::ValidationError;

/// `base` + `template` with `{name}` placeholders replaced by `params`, each percent-encoded as
/// one path segment ([`PathTemplate::render`]), then `query` appended.
pub(crate) fn build_url(
    base: &Url,
    template: &str,
    params: &[(&str, String)],
    query: &[(&str, String)],
) -> std::result::Result<Url, String> {
    let prefix = base.path().trim_end_matches('/');
    let mut url = base.clone();
    if template.contains('{') {
        let path = PathTemplate::parse(template)
            .map_err(|e| format!("path `{template}` {e}"))?
            .render_with(params)
            .map_err(|e| e.to_string())?;
        url.set_path(&format!("{prefix}{path}"));
    } else if prefix.is_empty() {
        // No placeholder: the template is the path (checked when it was generated or derived).
        url.set_path(template);
    } else {
        url.set_path(&format!("{prefix}{template}"));
    }
    // The base's scheme, host and port were parsed once, when the client was built; its own
    // path is a prefix.
    url.set_query(None);
    url.set_fragment(None);
    if !query.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (name, value) in query {
            pairs.append_pair(name, value);
        }
    }
    Ok(url)
}

/// Checks the path parameters of a request: an empty value, `.` or `..` would change the
/// shape of the path (URL parsers resolve dot segments), so they are refused before any
/// network call.
pub(crate) fn check_path_params(
    params: &[(&'static str, String)],
) -> std::result::Result<(), ValidationError> {
    for (name, value) in params {
        if let Some(problem) = segment_problem(value) {
            return Err(ValidationError::new(name, problem));
        }
    }
    Ok(())
}

/// Resolves `given`, a URL the provider sent back (fal's `status_url`, `response_url`), against
/// the configured `base`, and decides whether it may be followed with the key attached:
///
/// - parsed in full first (backslashes, scheme-relative `//host`, dot segments and
///   percent-encoding resolved the way every HTTP client resolves them);
/// - a URL with user info, or a scheme other than `http`/`https`, is refused;
/// - a URL on `base`'s origin (scheme, host, port) is followed as it is;
/// - a URL on one of `allowed` (the spec's `allowed_origins`) is re-rooted onto `base`: its
///   path and query appended to `base`'s path, the host never taken from the given URL;
/// - anything else is refused.
///
/// The result is always on `base`'s origin. The error names the refused origin (shortened).
pub fn resolve_provider_url(
    base: &Url,
    allowed: &[Origin],
    given: &str,
) -> std::result::Result<Url, String> {
    let shown = |url: &Url| shorten(&url.origin().ascii_serialization(), 100);
    let url = base
        .join(given.trim())
        .map_err(|e| format!("`{}` is not a URL ({e})", shorten(given, 100)))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "scheme `{}` is not http(s)",
            shorten(url.scheme(), 20)
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("URL on {} carries user info", shown(&url)));
    }
    let resolved = if url.origin() == base.origin() {
        url
    } else if allowed.contains(&url.origin()) {
        let mut rerooted = base.clone();
        let prefix = base.path().trim_end_matches('/');
        rerooted.set_path(&format!("{prefix}{}", url.path()));
        rerooted.set_query(url.query());
        rerooted.set_fragment(None);
        rerooted
    } else {
        return Err(format!(
            "origin {} is neither the base URL's ({}) nor one of the provider's allowed_origins",
            shown(&url),
            base.origin().ascii_serialization()
        ));
    };
    if resolved.origin() != base.origin() {
        return Err(format!(
            "URL resolves to {}, off the base URL",
            shown(&resolved)
        ));
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_params_are_percent_encoded_and_query_appended() {
        let base = Url::parse("http://127.0.0.1:9/prefix/").unwrap();
        let url = build_url(
            &base,
            "/v1/text-to-speech/{voice_id}/x",
            &[("voice_id", "a b/c?d".into())],
            &[
                ("output_format", "mp3_44100_128".into()),
                ("q", "x&y".into()),
            ],
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/prefix/v1/text-to-speech/a%20b%2Fc%3Fd/x?output_format=mp3_44100_128&q=x%26y"
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        /// Strings a hostile provider might put in a URL: hosts, ports, slashes of both kinds,
        /// `@`, dots, percent-escapes and schemes, in any order.
        fn hostile_url() -> impl Strategy<Value = String> {
            let part = prop_oneof![
                Just("http://".to_owned()),
                Just("https://".to_owned()),
                Just("//".to_owned()),
                Just("\\\\".to_owned()),
                Just("/".to_owned()),
                Just("\\".to_owned()),
                Just("@".to_owned()),
                Just(":".to_owned()),
                Just("..".to_owned()),
                Just("%2F".to_owned()),
                Just("%2e%2e".to_owned()),
                Just("127.0.0.1:9".to_owned()),
                Just("127.0.0.1:8".to_owned()),
                Just("evil.test".to_owned()),
                Just("queue.fal.run".to_owned()),
                Just("?x=1".to_owned()),
                Just("#f".to_owned()),
                "[a-z0-9.]{0,6}".prop_map(|s| s),
            ];
            proptest::collection::vec(part, 0..8).prop_map(|parts| parts.concat())
        }

        proptest! {
            #[test]
            fn a_resolved_provider_url_is_always_on_the_base_origin(given in hostile_url()) {
                let base = Url::parse("http://127.0.0.1:9/prefix").unwrap();
                let allowed = [Url::parse("https://queue.fal.run").unwrap().origin()];
                if let Ok(url) = resolve_provider_url(&base, &allowed, &given) {
                    prop_assert_eq!(url.origin(), base.origin(), "{} -> {}", given, url);
                    prop_assert!(url.username().is_empty() && url.password().is_none());
                }
            }

            #[test]
            fn a_path_param_never_changes_the_path_shape(value in "\\PC{1,12}") {
                let base = Url::parse("http://127.0.0.1:9").unwrap();
                match build_url(&base, "/v1/items/{id}/x", &[("id", value.clone())], &[]) {
                    Ok(url) => {
                        prop_assert_eq!(url.origin(), base.origin());
                        let segments: Vec<&str> = url.path_segments().unwrap().collect();
                        prop_assert_eq!(segments.len(), 4, "{}", url);
                        prop_assert_eq!(segments[0], "v1");
                        prop_assert_eq!(segments[3], "x");
                    }
                    Err(_) => prop_assert!(value == "." || value == ".."),
                }
            }
        }
    }

    #[test]
    fn missing_or_empty_path_params_are_errors() {
        let base = Url::parse("http://127.0.0.1:9").unwrap();
        assert!(
            build_url(&base, "/v/{id}", &[], &[])
                .unwrap_err()
                .contains("`id`")
        );
        assert!(build_url(&base, "/v/{id}", &[("id", String::new())], &[]).is_err());
        assert!(build_url(&base, "/v/{id", &[("id", "x".into())], &[]).is_err());
    }
}
