//! Callback tickets: an HMAC binding (store, key, subject, valid-until), carried in the callback URL, so a
//! verified callback for one object can never be replayed as another, nor after the ticket's validity
//! (the credential's expiry plus `[callbacks] ticket_grace_seconds`, docs/API.md), without server-side state.
//! Format: `{valid_until unix seconds}.{base64url HMAC-SHA256}`.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

fn mac(secret: &[u8], store: &str, key: &str, subject: &str, valid_until: i64) -> Hmac<Sha256> {
    // A key of any length is valid for HMAC; this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    let until = valid_until.to_string();
    for part in [
        "presign-broker callback ticket v2",
        store,
        key,
        subject,
        &until,
    ] {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part.as_bytes());
    }
    mac
}

/// When a ticket for a credential expiring at `credential_expires_at` stops being accepted: the provider may
/// retry that credential's callback for `grace_seconds` more (`[callbacks] ticket_grace_seconds`).
pub fn valid_until(credential_expires_at: i64, grace_seconds: u64) -> i64 {
    credential_expires_at.saturating_add(i64::try_from(grace_seconds).unwrap_or(i64::MAX))
}

/// A ticket valid until `valid_until` (unix seconds).
pub fn issue(secret: &[u8], store: &str, key: &str, subject: &str, valid_until: i64) -> String {
    let tag = mac(secret, store, key, subject, valid_until)
        .finalize()
        .into_bytes();
    format!("{valid_until}.{}", URL_SAFE_NO_PAD.encode(tag))
}

/// Constant-time check of a ticket against the callback's store, key and subject, at time `now`.
pub fn verify(
    secret: &[u8],
    store: &str,
    key: &str,
    subject: &str,
    ticket: &str,
    now: i64,
) -> bool {
    let Some((until, tag)) = ticket.split_once('.') else {
        return false;
    };
    // Digits only: `+5` or ` 5` would parse yet differ from the signed text.
    let valid_until = match until.bytes().all(|b| b.is_ascii_digit()) {
        true => until.parse::<i64>().ok(),
        false => None,
    };
    let (Some(valid_until), Ok(bytes)) = (valid_until, URL_SAFE_NO_PAD.decode(tag)) else {
        return false;
    };
    let authentic = mac(secret, store, key, subject, valid_until)
        .verify_slice(&bytes)
        .is_ok();
    authentic && now <= valid_until
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn ticket_binds_store_key_subject_and_expiry() {
        let t = issue(b"secret", "qn", "users/alice/a.jpg", "alice", NOW + 60);
        let ok =
            |s: &[u8], store, key, sub, ticket: &str, now| verify(s, store, key, sub, ticket, now);
        assert!(ok(b"secret", "qn", "users/alice/a.jpg", "alice", &t, NOW));
        assert!(ok(
            b"secret",
            "qn",
            "users/alice/a.jpg",
            "alice",
            &t,
            NOW + 60
        ));
        assert!(
            !ok(b"secret", "qn", "users/alice/a.jpg", "alice", &t, NOW + 61),
            "expired"
        );
        assert!(!ok(b"secret", "qn", "users/alice/b.jpg", "alice", &t, NOW));
        assert!(!ok(b"secret", "qn", "users/alice/a.jpg", "bob", &t, NOW));
        assert!(!ok(
            b"secret",
            "other",
            "users/alice/a.jpg",
            "alice",
            &t,
            NOW
        ));
        assert!(!ok(
            b"other-secret",
            "qn",
            "users/alice/a.jpg",
            "alice",
            &t,
            NOW
        ));
        assert!(!ok(b"secret", "qn", "users/alice/a.jpg", "alice", "", NOW));
        assert!(!ok(
            b"secret",
            "qn",
            "users/alice/a.jpg",
            "alice",
            &t[..t.len() - 1],
            NOW
        ));
        // The expiry is signed: moving it forward breaks the MAC.
        let (_, tag) = t.split_once('.').expect("two parts");
        let extended = format!("{}.{tag}", NOW + 999_999);
        assert!(!ok(
            b"secret",
            "qn",
            "users/alice/a.jpg",
            "alice",
            &extended,
            NOW + 100
        ));
        let signed_plus = format!("+{t}");
        assert!(!ok(
            b"secret",
            "qn",
            "users/alice/a.jpg",
            "alice",
            &signed_plus,
            NOW
        ));
        // Length prefixes keep ("a", "b/c") and ("a/b", "c") apart.
        assert_ne!(issue(b"s", "a", "b", "c", 1), issue(b"s", "a", "bc", "", 1));
    }

    #[test]
    fn valid_until_adds_the_grace_without_overflow() {
        assert_eq!(valid_until(NOW, 86_400), NOW + 86_400);
        assert_eq!(valid_until(NOW, 0), NOW);
        assert_eq!(valid_until(NOW, u64::MAX), i64::MAX);
        assert_eq!(valid_until(i64::MAX - 1, 10), i64::MAX);
    }
}
