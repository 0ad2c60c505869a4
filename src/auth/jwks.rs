//! A JWKS fetched from config (never from `jku`/`x5u`), cached, refreshed on a TTL and once on an unknown kid.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

use super::jwt::VerifyKey;

/// Forced refreshes (unknown kid) are at least this far apart, so bogus kids cannot hammer the IdP.
pub const MIN_FORCED_REFRESH_INTERVAL: Duration = Duration::from_secs(30);
const MIN_TTL: Duration = Duration::from_secs(300);
const MAX_TTL: Duration = Duration::from_secs(86_400);
const RETRY_UNTIL_LOADED: Duration = Duration::from_secs(2);

pub struct JwksCache {
    url: String,
    http: reqwest::Client,
    keys: ArcSwap<Vec<VerifyKey>>,
    loaded: AtomicBool,
    default_ttl: Duration,
    /// Single-flight lock for every fetch; holds when the last forced (unknown-kid) fetch ran.
    last_forced: tokio::sync::Mutex<Option<Instant>>,
}

impl JwksCache {
    pub fn new(url: String, default_ttl: Duration) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                let same_host = attempt.previous().first().map(|u| u.host_str())
                    == Some(attempt.url().host_str());
                if same_host && attempt.previous().len() < 3 {
                    attempt.follow()
                } else {
                    attempt.stop()
                }
            }))
            .build()
            .map_err(|e| format!("JWKS client: {e}"))?;
        Ok(Self {
            url,
            http,
            keys: ArcSwap::from_pointee(Vec::new()),
            loaded: AtomicBool::new(false),
            default_ttl,
            last_forced: tokio::sync::Mutex::new(None),
        })
    }

    pub fn keys(&self) -> Arc<Vec<VerifyKey>> {
        self.keys.load_full()
    }

    /// True once a key set has been fetched; `/readyz` waits for it.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// Fetches and swaps in the key set; on failure the last good set stays. Returns the TTL to wait.
    pub async fn fetch(&self) -> Result<Duration, String> {
        let response = self
            .http
            .get(&self.url)
            .send()
            .await
            .map_err(|e| format!("JWKS fetch: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("JWKS fetch: HTTP {}", response.status()));
        }
        let ttl =
            max_age(response.headers()).map_or(self.default_ttl, |t| t.clamp(MIN_TTL, MAX_TTL));
        let set: JwkSet = response
            .json()
            .await
            .map_err(|e| format!("JWKS parse: {e}"))?;
        let keys = verify_keys(&set);
        if keys.is_empty() {
            return Err("JWKS has no usable signing key".into());
        }
        tracing::info!(keys = keys.len(), url = %self.url, "JWKS loaded");
        self.keys.store(Arc::new(keys));
        self.loaded.store(true, Ordering::Release);
        Ok(ttl)
    }

    /// Refetches once for an unknown kid, unless a fetch ran in the last 30 s. True when a fetch ran now.
    pub async fn refresh_for_unknown_kid(&self, kid: &str) -> bool {
        let mut last = self.last_forced.lock().await;
        // Another request may have fetched while we waited for the lock.
        if self.keys().iter().any(|k| k.kid.as_deref() == Some(kid)) {
            return true;
        }
        if last.is_some_and(|t| t.elapsed() < MIN_FORCED_REFRESH_INTERVAL) {
            return false;
        }
        *last = Some(Instant::now());
        if let Err(e) = self.fetch().await {
            tracing::warn!(error = %e, "JWKS refresh for an unknown kid failed; keeping the last good set");
        }
        true
    }

    /// Keeps the set fresh: retries quickly until the first load, then on the TTL.
    pub fn spawn_refresher(self: Arc<Self>) {
        tokio::spawn(async move {
            loop {
                let wait = {
                    let _single_flight = self.last_forced.lock().await;
                    match self.fetch().await {
                        Ok(ttl) => ttl,
                        Err(e) => {
                            tracing::warn!(error = %e, "JWKS fetch failed; keeping the last good set");
                            if self.is_loaded() {
                                self.default_ttl.min(MIN_TTL)
                            } else {
                                RETRY_UNTIL_LOADED
                            }
                        }
                    }
                };
                tokio::time::sleep(wait).await;
            }
        });
    }
}

fn max_age(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::CACHE_CONTROL)?.to_str().ok()?;
    value
        .split(',')
        .find_map(|d| d.trim().strip_prefix("max-age=")?.parse().ok())
        .map(Duration::from_secs)
}

/// Signing keys only; symmetric keys from a JWKS are never trusted.
fn verify_keys(set: &JwkSet) -> Vec<VerifyKey> {
    set.keys
        .iter()
        .filter(|jwk| !matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)))
        .filter_map(|jwk| {
            let algorithm = match (jwk.common.key_algorithm, &jwk.algorithm) {
                (Some(alg), _) => from_key_algorithm(alg)?,
                (None, AlgorithmParameters::RSA(_)) => Algorithm::RS256,
                (None, AlgorithmParameters::EllipticCurve(ec)) => match ec.curve {
                    EllipticCurve::P256 => Algorithm::ES256,
                    EllipticCurve::P384 => Algorithm::ES384,
                    _ => return None,
                },
                (None, AlgorithmParameters::OctetKeyPair(_)) => Algorithm::EdDSA,
                (None, _) => return None,
            };
            if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
                return None;
            }
            let key = DecodingKey::from_jwk(jwk).ok()?;
            Some(VerifyKey {
                kid: jwk.common.key_id.clone(),
                algorithm,
                key,
            })
        })
        .collect()
}

fn from_key_algorithm(alg: KeyAlgorithm) -> Option<Algorithm> {
    use KeyAlgorithm as K;
    Some(match alg {
        K::RS256 => Algorithm::RS256,
        K::RS384 => Algorithm::RS384,
        K::RS512 => Algorithm::RS512,
        K::PS256 => Algorithm::PS256,
        K::PS384 => Algorithm::PS384,
        K::PS512 => Algorithm::PS512,
        K::ES256 => Algorithm::ES256,
        K::ES384 => Algorithm::ES384,
        K::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}
