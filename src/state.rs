//! Everything a request handler needs, built once at start-up.
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::auth::{Authenticator, JwksCache};
use crate::config::Config;
use crate::error::ApiError;
use crate::events::EventStore;
use crate::policy::PolicySet;
use crate::providers::Store;

pub struct AppState {
    pub config: Arc<Config>,
    pub auth: Authenticator,
    pub jwks: Option<Arc<JwksCache>>,
    /// Swapped whole on reload, so no request ever sees half a set.
    pub policies: ArcSwap<PolicySet>,
    pub stores: BTreeMap<String, Store>,
    pub events: EventStore,
    pub limiter: Option<crate::ratelimit::RateLimiter>,
    /// Client for server-side provider calls (multipart, HEAD, stat): bounded timeouts.
    pub http: reqwest::Client,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// SNS signing certificates, fetched only from allowed URLs.
    pub sns_certs: crate::callbacks::CertCache,
    /// Client for SNS certificate fetches and subscription confirmations: no redirects.
    pub sns_http: reqwest::Client,
    /// HMAC key of callback tickets.
    pub ticket_key: Vec<u8>,
    /// MAC key of multipart handles, derived from the ticket key.
    pub handle_key: crate::handle::HandleKey,
    pub shutting_down: AtomicBool,
}

impl AppState {
    /// The store by name; the same 404 whether or not the caller could use it.
    pub fn store(&self, name: &str) -> Result<&Store, ApiError> {
        self.stores
            .get(name)
            .ok_or_else(|| ApiError::UnknownStore(name.to_string()))
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// How long an idempotency key catches a replay (Redis's TTL; the in-memory store keeps keys for the
    /// process's life, so the same default bounds replays there).
    pub fn idempotency_ttl_seconds(&self) -> u64 {
        self.config
            .redis
            .as_ref()
            .map_or(604_800, |r| r.idempotency_ttl_seconds)
    }
}
