//! The closed sets a spec chooses from, each spelled once.

use std::fmt;
use std::str::FromStr;

/// Defines a fieldless enum whose variants have one spelling each, with `ALL`, `NAMES`,
/// `as_str`, `Display`, `FromStr` (failing with [`UnknownKind`]) and, behind features, serde and
/// JSON Schema in that spelling.
macro_rules! kind_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $spelling:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
        pub enum $name {
            $(
                $(#[$vmeta])*
                #[cfg_attr(feature = "schemars", schemars(rename = $spelling))]
                $variant,
            )+
        }

        impl $name {
            /// Every variant, in the order error messages list them.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The spelling of every variant, in the order of [`ALL`](Self::ALL).
            pub const NAMES: &'static [&'static str] = &[$($spelling),+];

            /// The spelling used in `providers.yaml` and `#[endpoint(...)]`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $spelling,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownKind;

            /// Parses the exact spelling of [`as_str`](Self::as_str).
            fn from_str(s: &str) -> Result<Self, UnknownKind> {
                match s {
                    $($spelling => Ok(Self::$variant),)+
                    _ => Err(UnknownKind {
                        what: $what,
                        found: s.to_owned(),
                        expected: Self::NAMES,
                    }),
                }
            }
        }

        #[cfg(feature = "serde")]
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        /// Reads the spelling of [`as_str`](Self::as_str); anything else fails with the
        /// [`UnknownKind`] message, at the value's position for a format that tracks one.
        #[cfg(feature = "serde")]
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct KindVisitor;
                impl serde::de::Visitor<'_> for KindVisitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a string")
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        v.parse().map_err(E::custom)
                    }
                }
                deserializer.deserialize_str(KindVisitor)
            }
        }
    };
}

kind_enum! {
    /// How an API key is presented to a provider.
    pub enum AuthKind ("auth kind") {
        /// `Authorization: Bearer <key>`.
        Bearer = "bearer",
        /// `<header>: <key>`, with the header named by the spec.
        Header = "header",
        /// `Authorization: Key <key>` (fal.ai).
        FalKey = "fal_key",
        /// `Authorization: Bearer <jwt>`, an HS256 JWT signed from an `access:secret` key pair
        /// (Kling AI).
        KlingJwt = "kling_jwt",
    }
}

kind_enum! {
    /// HTTP methods an endpoint may use.
    #[allow(missing_docs)] // The variants are the methods they name.
    pub enum Method ("method") {
        Get = "GET",
        Post = "POST",
        Put = "PUT",
        Delete = "DELETE",
        Patch = "PATCH",
    }
}

impl Method {
    /// Whether a request with this method carries the request as a JSON body. `GET` and
    /// `DELETE` do not: everything they send is in the path or the query string.
    pub const fn sends_body(self) -> bool {
        !matches!(self, Method::Get | Method::Delete)
    }
}

#[cfg(feature = "http")]
impl Method {
    /// The method as an [`http::Method`].
    pub fn as_http(self) -> http::Method {
        match self {
            Method::Get => http::Method::GET,
            Method::Post => http::Method::POST,
            Method::Put => http::Method::PUT,
            Method::Delete => http::Method::DELETE,
            Method::Patch => http::Method::PATCH,
        }
    }
}

#[cfg(feature = "http")]
impl From<Method> for http::Method {
    fn from(method: Method) -> Self {
        method.as_http()
    }
}

kind_enum! {
    /// What an endpoint returns.
    pub enum ResponseKind ("response kind") {
        /// A JSON document.
        Json = "json",
        /// Binary audio.
        Audio = "audio",
        /// An asynchronous job: submit, poll, fetch the result (a JSON document).
        Job = "job",
    }
}

kind_enum! {
    /// How an asynchronous job is followed to completion.
    pub enum JobFlowKind ("job flow") {
        /// fal.ai's queue: submit returns `status_url` / `response_url`, which are followed.
        FalQueue = "fal_queue",
        /// A task resource polled at a `poll_path` of its own, with `{task_id}`, until its
        /// `task_status` is final (Kling AI).
        KlingTask = "kling_task",
    }
}

impl JobFlowKind {
    /// The one placeholder of the flow's poll path, for a flow polled at a path of its own
    /// (`task_id` for [`KlingTask`](Self::KlingTask)); `None` when the flow follows URLs the
    /// provider returns.
    pub const fn poll_param(self) -> Option<&'static str> {
        match self {
            JobFlowKind::FalQueue => None,
            JobFlowKind::KlingTask => Some("task_id"),
        }
    }
}

/// A name that is none of the spellings of a kind, e.g. `unknown auth kind "carrier"; expected
/// one of bearer, header, fal_key, kling_jwt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKind {
    what: &'static str,
    found: String,
    expected: &'static [&'static str],
}

impl UnknownKind {
    /// What was being named, e.g. `"auth kind"`.
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// The name given.
    pub fn found(&self) -> &str {
        &self.found
    }

    /// The known spellings.
    pub fn expected(&self) -> &'static [&'static str] {
        self.expected
    }
}

impl fmt::Display for UnknownKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown {} {:?}; expected one of {}",
            self.what,
            self.found,
            self.expected.join(", ")
        )
    }
}

impl std::error::Error for UnknownKind {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant reads back from its own spelling, and nothing else is accepted.
    fn round_trips<K>(all: &[K])
    where
        K: Copy + PartialEq + fmt::Debug + fmt::Display + FromStr<Err = UnknownKind>,
    {
        for &kind in all {
            assert_eq!(kind.to_string().parse::<K>(), Ok(kind));
        }
    }

    #[test]
    fn every_kind_round_trips_through_its_spelling() {
        round_trips(AuthKind::ALL);
        round_trips(Method::ALL);
        round_trips(ResponseKind::ALL);
        round_trips(JobFlowKind::ALL);
    }

    #[test]
    fn spellings_are_those_of_providers_yaml() {
        assert_eq!(
            AuthKind::NAMES,
            ["bearer", "header", "fal_key", "kling_jwt"]
        );
        assert_eq!(Method::NAMES, ["GET", "POST", "PUT", "DELETE", "PATCH"]);
        assert_eq!(ResponseKind::NAMES, ["json", "audio", "job"]);
        assert_eq!(JobFlowKind::NAMES, ["fal_queue", "kling_task"]);
    }

    #[test]
    fn an_unknown_name_lists_the_known_ones() {
        let err = "carrier".parse::<AuthKind>().unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"unknown auth kind "carrier"; expected one of bearer, header, fal_key, kling_jwt"#
        );
        assert_eq!(err.found(), "carrier");
        assert_eq!(
            "FETCH".parse::<Method>().unwrap_err().to_string(),
            r#"unknown method "FETCH"; expected one of GET, POST, PUT, DELETE, PATCH"#
        );
        assert_eq!(
            "stream".parse::<ResponseKind>().unwrap_err().to_string(),
            r#"unknown response kind "stream"; expected one of json, audio, job"#
        );
        assert_eq!(
            "poll".parse::<JobFlowKind>().unwrap_err().to_string(),
            r#"unknown job flow "poll"; expected one of fal_queue, kling_task"#
        );
    }

    #[test]
    fn spellings_are_exact() {
        assert!("post".parse::<Method>().is_err());
        assert!("Bearer".parse::<AuthKind>().is_err());
        assert!(" json".parse::<ResponseKind>().is_err());
    }

    #[test]
    fn only_get_and_delete_send_no_body() {
        let without: Vec<Method> = Method::ALL
            .iter()
            .copied()
            .filter(|m| !m.sends_body())
            .collect();
        assert_eq!(without, [Method::Get, Method::Delete]);
    }

    #[test]
    fn only_kling_tasks_have_a_poll_param() {
        assert_eq!(JobFlowKind::KlingTask.poll_param(), Some("task_id"));
        assert_eq!(JobFlowKind::FalQueue.poll_param(), None);
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_uses_the_spelling_and_the_same_message() {
        assert_eq!(
            serde_json::from_str::<AuthKind>(r#""fal_key""#).unwrap(),
            AuthKind::FalKey
        );
        assert_eq!(
            serde_json::to_string(&JobFlowKind::KlingTask).unwrap(),
            r#""kling_task""#
        );
        let err = serde_json::from_str::<Method>(r#""FETCH""#).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(r#"unknown method "FETCH"; expected one of GET"#),
            "{err}"
        );
        let err = serde_json::from_str::<Method>("{}").unwrap_err();
        assert!(err.to_string().contains("expected a string"), "{err}");
    }
}
