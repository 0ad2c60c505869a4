//! Fetching and caching SNS signing keys, and confirming subscriptions (the only SNS network I/O).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use regex::Regex;
use url::Url;

use super::cert_url::{allowed_cert_url, allowed_subscribe_url};
use super::{SnsError, SnsMessage, SnsMessageType, SnsPublicKey};

/// Entries kept by [`CertCache::default`].
const DEFAULT_CAPACITY: usize = 64;
/// How long [`CertCache::default`] trusts a cached key (SNS rotates certificates under new URLs).
const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);
/// Per-request timeout of the certificate and SubscribeURL fetches, on top of the client's own.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// A signing certificate is ~1.7 KB; anything far larger is not one.
const MAX_CERT_BYTES: usize = 64 * 1024;

struct Cached {
    key: Arc<SnsPublicKey>,
    fetched_at: Instant,
}

/// Bounded cache of signing keys by normalized `SigningCertURL`. Failures are never cached, so a transient error
/// costs one retry, not an outage.
///
/// Give it a client that does not follow redirects (`reqwest::redirect::Policy::none()`): a redirect would send the
/// request to a URL the pattern never approved (the key it returns is refused anyway).
pub struct CertCache {
    entries: Mutex<HashMap<String, Cached>>,
    capacity: usize,
    ttl: Duration,
}

impl Default for CertCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY, DEFAULT_TTL)
    }
}

impl std::fmt::Debug for CertCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertCache")
            .field("entries", &self.lock().len())
            .field("capacity", &self.capacity)
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl CertCache {
    /// A cache of at most `capacity` keys (at least 1), each trusted for `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            ttl,
        }
    }

    /// The key of the certificate at `url`: refused without any request unless [`allowed_cert_url`] accepts it
    /// for `pattern`, served from the cache when fresh, fetched with `http` otherwise.
    pub async fn get(
        &self,
        http: &reqwest::Client,
        url: &str,
        pattern: &Regex,
    ) -> Result<Arc<SnsPublicKey>, SnsError> {
        let url = allowed_cert_url(url, pattern).ok_or(SnsError::CertUrlNotAllowed)?;
        if let Some(key) = self.lookup(url.as_str()) {
            return Ok(key);
        }
        let key = Arc::new(fetch_key(http, &url, pattern).await?);
        self.insert(url.as_str(), Arc::clone(&key));
        Ok(key)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Cached>> {
        // A panic elsewhere cannot leave a half-written entry (inserts are single calls), so poison is harmless.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lookup(&self, url: &str) -> Option<Arc<SnsPublicKey>> {
        let entries = self.lock();
        let cached = entries.get(url)?;
        (cached.fetched_at.elapsed() < self.ttl).then(|| Arc::clone(&cached.key))
    }

    fn insert(&self, url: &str, key: Arc<SnsPublicKey>) {
        let mut entries = self.lock();
        if !entries.contains_key(url) && entries.len() >= self.capacity {
            entries.retain(|_, cached| cached.fetched_at.elapsed() < self.ttl);
            if entries.len() >= self.capacity {
                let oldest = entries
                    .iter()
                    .min_by_key(|(_, cached)| cached.fetched_at)
                    .map(|(u, _)| u.clone());
                if let Some(oldest) = oldest {
                    entries.remove(&oldest);
                }
            }
        }
        entries.insert(
            url.to_owned(),
            Cached {
                key,
                fetched_at: Instant::now(),
            },
        );
    }
}

async fn fetch_key(
    http: &reqwest::Client,
    url: &Url,
    pattern: &Regex,
) -> Result<SnsPublicKey, SnsError> {
    let fetch_error = |e: reqwest::Error| SnsError::CertFetch(e.without_url().to_string());
    let mut response = http
        .get(url.clone())
        .timeout(FETCH_TIMEOUT)
        .send()
        .await
        .map_err(fetch_error)?;
    // Only reachable through a redirect: never trust a key served from a URL the pattern did not approve.
    if allowed_cert_url(response.url().as_str(), pattern).is_none() {
        return Err(SnsError::CertUrlNotAllowed);
    }
    if !response.status().is_success() {
        return Err(SnsError::CertFetch(format!(
            "status {}",
            response.status().as_u16()
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(fetch_error)? {
        if body.len() + chunk.len() > MAX_CERT_BYTES {
            return Err(SnsError::CertFetch("certificate too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    SnsPublicKey::from_cert_pem(&body)
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
