//! Fetching and caching SNS signing keys, and confirming subscriptions (the only SNS network I/O).

use std::sync::Arc;
use std::time::Duration;

use regex::Regex;

use super::cert_url::allowed_subscribe_url;
use super::{SnsError, SnsMessage, SnsMessageType, SnsPublicKey};
use crate::callbacks::key_cache::{FetchFailure, KeyCache};

/// Entries kept by [`CertCache::default`].
const DEFAULT_CAPACITY: usize = 64;
/// How long [`CertCache::default`] trusts a cached key (SNS rotates certificates under new URLs).
const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);
/// Per-request timeout of the SubscribeURL fetch, on top of the client's own.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// A signing certificate is ~1.7 KB; anything far larger is not one.
const MAX_CERT_BYTES: usize = 64 * 1024;

impl From<FetchFailure> for SnsError {
    fn from(failure: FetchFailure) -> Self {
        match failure {
            FetchFailure::NotAllowed => SnsError::CertUrlNotAllowed,
            FetchFailure::Fetch(m) => SnsError::CertFetch(m),
            FetchFailure::TooLarge => SnsError::CertFetch("certificate too large".into()),
        }
    }
}

/// Bounded cache of signing keys by normalized `SigningCertURL` (see [`KeyCache`]; give it a client that does not
/// follow redirects).
#[derive(Debug)]
pub struct CertCache(KeyCache<SnsPublicKey>);

impl Default for CertCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY, DEFAULT_TTL)
    }
}

impl CertCache {
    /// A cache of at most `capacity` keys (at least 1), each trusted for `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self(KeyCache::new(capacity, ttl))
    }

    /// The key of the certificate at `url`: refused without any request unless `allowed_cert_url` accepts it
    /// for `pattern`, served from the cache when fresh, fetched with `http` otherwise.
    pub async fn get(
        &self,
        http: &reqwest::Client,
        url: &str,
        pattern: &Regex,
    ) -> Result<Arc<SnsPublicKey>, SnsError> {
        self.0
            .get(
                http,
                url,
                pattern,
                MAX_CERT_BYTES,
                SnsPublicKey::from_cert_pem,
            )
            .await
    }
}

/// Confirms a subscription by GETting its `SubscribeURL`, only after the caller verified the message's signature
/// and `TopicArn`; refuses (without any request) a message that is not a SubscriptionConfirmation or a URL that
/// [`allowed_subscribe_url`] rejects.
pub async fn confirm_subscription(
    http: &reqwest::Client,
    msg: &SnsMessage,
    pattern: &Regex,
) -> Result<(), SnsError> {
    if msg.kind()? != SnsMessageType::SubscriptionConfirmation {
        return Err(SnsError::UnsupportedType);
    }
    let subscribe_url = msg
        .subscribe_url
        .as_deref()
        .ok_or(SnsError::MissingField("SubscribeURL"))?;
    let url = allowed_subscribe_url(subscribe_url, &msg.signing_cert_url, pattern)
        .ok_or(SnsError::SubscribeUrlNotAllowed)?;
    let response = http
        .get(url)
        .timeout(FETCH_TIMEOUT)
        .send()
        .await
        .map_err(|e| SnsError::ConfirmFailed(e.without_url().to_string()))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(SnsError::ConfirmFailed(format!(
            "status {}",
            response.status().as_u16()
        )))
    }
}
