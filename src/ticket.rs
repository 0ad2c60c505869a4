//! Callback tickets: an HMAC binding (store, key, subject), carried in the Qiniu callback URL, so a
//! verified callback for one object can never be replayed as another, without any server-side state.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

fn mac(secret: &[u8], store: &str, key: &str, subject: &str) -> Hmac<Sha256> {
    // A key of any length is valid for HMAC; this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    for part in ["presign-broker callback ticket v1", store, key, subject] {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part.as_bytes());
    }
    mac
}

pub fn issue(secret: &[u8], store: &str, key: &str, subject: &str) -> String {
    URL_SAFE_NO_PAD.encode(mac(secret, store, key, subject).finalize().into_bytes())
}

/// Constant-time check of a ticket against the callback's store, key and subject.
pub fn verify(secret: &[u8], store: &str, key: &str, subject: &str, ticket: &str) -> bool {
    match URL_SAFE_NO_PAD.decode(ticket) {
        Ok(bytes) => mac(secret, store, key, subject)
            .verify_slice(&bytes)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_binds_store_key_and_subject() {
        let t = issue(b"secret", "qn", "users/alice/a.jpg", "alice");
        assert!(verify(b"secret", "qn", "users/alice/a.jpg", "alice", &t));
        assert!(!verify(b"secret", "qn", "users/alice/b.jpg", "alice", &t));
        assert!(!verify(b"secret", "qn", "users/alice/a.jpg", "bob", &t));
        assert!(!verify(
            b"secret",
            "other",
            "users/alice/a.jpg",
            "alice",
            &t
        ));
        assert!(!verify(
            b"other-secret",
            "qn",
            "users/alice/a.jpg",
            "alice",
            &t
        ));
        assert!(!verify(b"secret", "qn", "users/alice/a.jpg", "alice", ""));
        assert!(!verify(
            b"secret",
            "qn",
            "users/alice/a.jpg",
            "alice",
            &t[..t.len() - 1]
        ));
        // Length prefixes keep ("a", "b/c") and ("a/b", "c") apart.
        assert_ne!(issue(b"s", "a", "b", "c"), issue(b"s", "a", "bc", ""));
    }
}
