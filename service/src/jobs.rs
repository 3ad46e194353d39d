//! Video job ids: the facade's ticket, signed and bound to the user who submitted it.
//!
//! An id is `base64url(payload) "." base64url(tag)`: the payload is the JSON of the ticket
//! (provider, job, model, credits), the tag HMAC-SHA256 under the job secret over a version,
//! the submitting token's fingerprint and the payload. Nothing is stored, so any instance holding the same
//! secret can answer a poll. An id that is malformed, altered, or presented with another
//! user's token does not open ([`JobIds::open`] is `None`), and the service answers 404
//! without polling anyone. The payload holds no secret (the ticket carries a key
//! fingerprint, not a key), but it is readable: it is a handle, not a hiding place.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;

/// Longest id [`JobIds::open`] looks at; anything longer is refused before decoding.
pub(crate) const MAX_ID_LEN: usize = 4096;

/// Signs and opens job ids with one secret.
#[derive(Clone)]
pub(crate) struct JobIds {
    key: [u8; 32],
}

impl JobIds {
    pub(crate) fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    fn tag(&self, user: &str, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(b"media-api job v1\n");
        mac.update(user.as_bytes());
        mac.update(b"\n");
        mac.update(payload);
        mac
    }

    /// The id of `ticket`, for the user whose token fingerprint is `user`.
    pub(crate) fn sign<T: Serialize>(&self, user: &str, ticket: &T) -> serde_json::Result<String> {
        let payload = serde_json::to_vec(ticket)?;
        let tag = self.tag(user, &payload).finalize().into_bytes();
        Ok(format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag)
        ))
    }

    /// The ticket of `id` when it was signed with this secret for `user`; `None` otherwise.
    pub(crate) fn open<T: DeserializeOwned>(&self, user: &str, id: &str) -> Option<T> {
        if id.len() > MAX_ID_LEN {
            return None;
        }
        let (payload, tag) = id.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.tag(user, &payload).verify_slice(&tag).ok()?;
        serde_json::from_slice(&payload).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim() -> serde_json::Value {
        serde_json::json!({"provider": "fal", "job": "abc", "model": "kling-v1"})
    }

    #[test]
    fn an_id_opens_for_its_user_only() {
        let ids = JobIds::new([7; 32]);
        let id = ids.sign("user-a", &claim()).unwrap();
        let opened: serde_json::Value = ids.open("user-a", &id).unwrap();
        assert_eq!(opened, claim());
        assert!(ids.open::<serde_json::Value>("user-b", &id).is_none());
        assert!(
            JobIds::new([8; 32])
                .open::<serde_json::Value>("user-a", &id)
                .is_none()
        );
    }

    #[test]
    fn altered_or_malformed_ids_do_not_open() {
        let ids = JobIds::new([7; 32]);
        let id = ids.sign("u", &claim()).unwrap();
        let (payload, tag) = id.split_once('.').unwrap();
        let forged_payload = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(
                &serde_json::json!({"provider": "fal", "job": "other", "model": "kling-v1"}),
            )
            .unwrap(),
        );
        let mut flipped = tag.as_bytes().to_vec();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        let cases = [
            format!("{forged_payload}.{tag}"),
            format!("{payload}.{}", String::from_utf8(flipped).unwrap()),
            payload.to_owned(),
            format!("{payload}."),
            "not base64!.x".to_owned(),
            String::new(),
            format!("{id}{}", "A".repeat(MAX_ID_LEN)),
        ];
        for case in cases {
            assert!(
                ids.open::<serde_json::Value>("u", &case).is_none(),
                "opened {case}"
            );
        }
    }
}
