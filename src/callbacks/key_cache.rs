//! A bounded, TTL'd cache of public keys by normalized URL, fetched only from URLs a pattern allows: what SNS
//! certificates and OSS callback keys share. Failures are never cached, so a transient error costs one retry, not
//! an outage.
//!
//! Give it a client that does not follow redirects (`reqwest::redirect::Policy::none()`): a redirect would send the
//! request to a URL the pattern never approved; a key served from such a URL is refused anyway.
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use regex::Regex;
use url::Url;

use super::sns::allowed_cert_url;

/// Per-request timeout of a key fetch, on top of the client's own.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a fetch gave no key (each family maps it to its own error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchFailure {
    /// The URL (or the one a redirect reached) does not satisfy the pattern.
    NotAllowed,
    /// The request failed or answered a non-2xx status.
    Fetch(String),
    /// The document is larger than the family allows.
    TooLarge,
}

struct Cached<K> {
    key: Arc<K>,
    fetched_at: Instant,
}

pub struct KeyCache<K> {
    entries: Mutex<HashMap<String, Cached<K>>>,
    capacity: usize,
    ttl: Duration,
}

impl<K> std::fmt::Debug for KeyCache<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("entries", &self.lock().len())
            .field("capacity", &self.capacity)
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl<K> KeyCache<K> {
    /// A cache of at most `capacity` keys (at least 1), each trusted for `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            ttl,
        }
    }

    /// The key at `url`: refused without any request unless [`allowed_cert_url`] accepts it for `pattern`, from the
    /// cache when fresh, else fetched with `http` (at most `max_bytes`) and read by `parse`.
    pub async fn get<E: From<FetchFailure>>(
        &self,
        http: &reqwest::Client,
        url: &str,
        pattern: &Regex,
        max_bytes: usize,
        parse: impl FnOnce(&[u8]) -> Result<K, E>,
    ) -> Result<Arc<K>, E> {
        let url = allowed_cert_url(url, pattern).ok_or(FetchFailure::NotAllowed)?;
        if let Some(key) = self.lookup(url.as_str()) {
            return Ok(key);
        }
        let body = fetch(http, &url, pattern, max_bytes).await?;
        let key = Arc::new(parse(&body)?);
        self.insert(url.as_str(), Arc::clone(&key));
        Ok(key)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Cached<K>>> {
        // Inserts are single calls, so a map poisoned by a panic elsewhere is still consistent.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lookup(&self, url: &str) -> Option<Arc<K>> {
        let entries = self.lock();
        let cached = entries.get(url)?;
        (cached.fetched_at.elapsed() < self.ttl).then(|| Arc::clone(&cached.key))
    }

    fn insert(&self, url: &str, key: Arc<K>) {
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

async fn fetch(
    http: &reqwest::Client,
    url: &Url,
    pattern: &Regex,
    max_bytes: usize,
) -> Result<Vec<u8>, FetchFailure> {
    let fetch_error = |e: reqwest::Error| FetchFailure::Fetch(e.without_url().to_string());
    let mut response = http
        .get(url.clone())
        .timeout(FETCH_TIMEOUT)
        .send()
        .await
        .map_err(fetch_error)?;
    // Only reachable through a redirect: never trust a key served from a URL the pattern did not approve.
    if allowed_cert_url(response.url().as_str(), pattern).is_none() {
        return Err(FetchFailure::NotAllowed);
    }
    if !response.status().is_success() {
        return Err(FetchFailure::Fetch(format!(
            "status {}",
            response.status().as_u16()
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(fetch_error)? {
        if body.len() + chunk.len() > max_bytes {
            return Err(FetchFailure::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
