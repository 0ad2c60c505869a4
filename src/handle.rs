//! Multipart handles: the broker's stateless memory of a multipart upload (docs/API.md "Multipart uploads").
//!
//! `POST /v1/multipart` answers a handle binding store, key, upload id, subject and the limits the upload was
//! created under (`max_size`, content type, part size, declared size, overwrite) with an expiry; every later call sends it
//! back and is held to it, so a follow-up can never fall under another, looser rule.
//!
//! Format: `v1.<base64url(JSON claims)>.<base64url(HMAC-SHA256)>`. The MAC key is derived from the callback
//! ticket secret (`[callbacks] ticket_secret`) with its own label, so a ticket can never pass as a handle nor
//! the reverse; rotating that secret invalidates open handles (their uploads must then be restarted).
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Default lifetime of a handle: a 10 GB upload from a phone, resumed across a few days, still completes.
pub const DEFAULT_HANDLE_TTL_SECONDS: u64 = 7 * 24 * 3600;
/// Longest handle accepted: claims with a 1024-byte key and upload id, base64 and the MAC fit well inside.
const MAX_HANDLE_LEN: usize = 8192;
const PREFIX: &str = "v1.";

/// What a handle binds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandleClaims {
    pub store: String,
    pub key: String,
    pub upload_id: String,
    pub sub: String,
    pub max_size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The rule's allowed content types (Qiniu `mimeLimit` in the upload's tokens); empty = any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content_types: Vec<String>,
    pub part_size: u64,
    /// Declared total size: part numbers stop at `ceil(size / part_size)` and each part's length is signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    pub max_parts: u32,
    /// The rule's `overwrite` (Qiniu `insertOnly` in the upload's tokens).
    pub overwrite: bool,
    /// Unix seconds.
    pub exp: i64,
}

/// The handle signing key, derived from the ticket secret with a label of its own.
#[derive(Clone)]
pub struct HandleKey([u8; 32]);

impl std::fmt::Debug for HandleKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HandleKey(***)")
    }
}

impl HandleKey {
    pub fn derive(ticket_secret: &[u8]) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(ticket_secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(b"presign-broker multipart handle key v1");
        Self(mac.finalize().into_bytes().into())
    }

    fn mac(&self) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(PREFIX.as_bytes());
        mac
    }

    pub fn issue(&self, claims: &HandleClaims) -> String {
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{PREFIX}{body}.{tag}")
    }

    /// The claims of an authentic handle (constant-time MAC check first), expiry not yet checked.
    pub fn open(&self, handle: &str) -> Result<HandleClaims, &'static str> {
        if handle.len() > MAX_HANDLE_LEN {
            return Err("the handle is too long");
        }
        let rest = handle.strip_prefix(PREFIX).ok_or("not a handle")?;
        let (body, tag) = rest.split_once('.').ok_or("not a handle")?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| "not a handle")?;
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        mac.verify_slice(&tag)
            .map_err(|_| "the handle does not verify")?;
        let json = URL_SAFE_NO_PAD.decode(body).map_err(|_| "not a handle")?;
        serde_json::from_slice(&json).map_err(|_| "not a handle")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> HandleClaims {
        HandleClaims {
            store: "media".into(),
            key: "users/alice/a.jpg".into(),
            upload_id: "u-1".into(),
            sub: "alice".into(),
            max_size: 20 << 20,
            content_type: Some("image/jpeg".into()),
            content_types: vec!["image/*".into()],
            part_size: 8 << 20,
            size: None,
            max_parts: 3,
            overwrite: false,
            exp: 2_000_000_000,
        }
    }

    #[test]
    fn a_handle_opens_to_its_claims_and_only_with_its_key() {
        let key = HandleKey::derive(b"secret");
        let handle = key.issue(&claims());
        assert_eq!(key.open(&handle), Ok(claims()));
        assert!(HandleKey::derive(b"other").open(&handle).is_err());
    }

    #[test]
    fn any_tampering_is_refused() {
        let key = HandleKey::derive(b"secret");
        let handle = key.issue(&claims());
        let mut wider = claims();
        wider.max_size = 1 << 40;
        let forged_body = key.issue(&wider);
        // The wider claims with the original tag.
        let (_, tag) = handle.rsplit_once('.').unwrap_or_default();
        let (body, _) = forged_body.rsplit_once('.').unwrap_or_default();
        assert!(key.open(&format!("{body}.{tag}")).is_err());
        for i in 0..handle.len() {
            let mut bytes = handle.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(bytes).unwrap_or_default();
            if altered != handle {
                assert!(key.open(&altered).is_err(), "byte {i}");
            }
        }
        assert!(key.open("").is_err());
        assert!(key.open(&"v1.".repeat(5000)).is_err());
    }

    #[test]
    fn a_ticket_key_is_not_the_handle_key() {
        // Domain separation: the handle key is never the raw ticket secret.
        assert_ne!(HandleKey::derive(b"secret").0.to_vec(), b"secret".to_vec());
    }
}
