//! presign-broker: short-lived, policy-scoped upload and download credentials for object storage.
pub mod allowed_methods;
pub mod auth;
pub mod body_timeout;
pub mod callbacks;
pub mod cli;
pub mod config;
pub mod error;
pub mod events;
pub mod extract;
pub mod fuzz_targets;
pub mod handle;
pub mod media_type;
pub mod middleware;
pub mod policy;
pub mod problem_docs;
pub mod providers;
pub mod ratelimit;
pub mod replay;
pub mod routes;
pub mod state;
pub mod telemetry;
pub mod ticket;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpServer};
use arc_swap::ArcSwap;

use crate::auth::{Authenticator, JwksCache};
use crate::config::Config;
use crate::events::{memory::MemoryStore, redis::RedisStore, EventStore};
use crate::policy::PolicySet;
use crate::providers::Store;
use crate::state::AppState;

/// The policies shipped in `policies/`, used by the built-in config when that directory is absent.
const BUNDLED_POLICIES: &[(&str, &str)] = &[
    ("app-users.toml", include_str!("../policies/app-users.toml")),
    ("backend.toml", include_str!("../policies/backend.toml")),
    ("deny.toml", include_str!("../policies/deny.toml")),
];

/// Why the broker cannot start (or reload its policies); keeps the underlying error as its `source`.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Policies(#[from] policy::model::LoadError),
    /// A configured part could not be built (the message names its section).
    #[error("{0}")]
    Invalid(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("http client: {0}")]
    HttpClient(#[source] reqwest::Error),
}

/// Loads the policy set named by the config (or the bundled one for the built-in config).
pub fn load_policies(config: &Config) -> Result<PolicySet, StartupError> {
    let dir = &config.policies.dir;
    let rules = if config.dev_defaults && !dir.is_dir() {
        tracing::info!(
            "policy directory {} not found; using the bundled policies",
            dir.display()
        );
        let mut rules = Vec::new();
        for (name, text) in BUNDLED_POLICIES {
            rules.extend(policy::parse_file(name, text)?);
        }
        rules
    } else {
        policy::load_dir(dir)?
    };
    for rule in &rules {
        if let policy::model::Selector::Names(names) = &rule.stores {
            for name in names
                .iter()
                .filter(|n| !config.stores.contains_key(n.as_str()))
            {
                tracing::warn!(rule = %rule.id, store = %name, "policy names a store that is not configured");
            }
        }
    }
    Ok(PolicySet::new(rules))
}

/// Re-reads the policy files and swaps the whole set in at once; a broken set keeps the old one.
pub fn reload_policies(state: &AppState) -> Result<usize, StartupError> {
    match load_policies(&state.config) {
        Ok(set) => {
            let rules = set.rules().len();
            state.policies.store(Arc::new(set));
            metrics::counter!("policy_reloads_total", "outcome" => "ok").increment(1);
            tracing::info!(rules, "policies reloaded");
            Ok(rules)
        }
        Err(e) => {
            metrics::counter!("policy_reloads_total", "outcome" => "failed").increment(1);
            tracing::error!(error = %e, "policy reload failed; keeping the previous policies");
            Err(e)
        }
    }
}

/// What the policy directory looks like now: names, sizes and modification times of its `*.toml`.
fn policy_fingerprint(
    dir: &std::path::Path,
) -> Vec<(std::path::PathBuf, u64, Option<std::time::SystemTime>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "toml"))
        .map(|e| {
            let meta = e.metadata().ok();
            (
                e.path(),
                meta.as_ref().map_or(0, |m| m.len()),
                meta.and_then(|m| m.modified().ok()),
            )
        })
        .collect();
    files.sort();
    files
}

/// Polls the policy directory (ConfigMap volumes change in place) and reloads on change.
fn spawn_policy_watcher(state: web::Data<AppState>, every: Duration) {
    tokio::spawn(async move {
        let dir = state.config.policies.dir.clone();
        let mut seen = policy_fingerprint(&dir);
        loop {
            tokio::time::sleep(every).await;
            let now = policy_fingerprint(&dir);
            if now != seen {
                seen = now;
                let _ = reload_policies(&state);
            }
        }
    });
}

/// Builds every piece of state from a validated config.
pub async fn build_state(config: Config) -> Result<AppState, StartupError> {
    let jwks = match &config.auth.jwks {
        Some(j) => {
            let cache = Arc::new(
                JwksCache::new(j.url.clone(), Duration::from_secs(j.refresh_seconds))
                    .map_err(StartupError::Invalid)?,
            );
            cache.clone().spawn_refresher();
            Some(cache)
        }
        None => None,
    };
    let auth = Authenticator::new(&config.auth, jwks.clone())
        .map_err(|e| StartupError::Invalid(format!("[auth] {e}")))?;
    let policies = load_policies(&config)?;
    let mut stores = BTreeMap::new();
    for (name, store) in &config.stores {
        stores.insert(
            name.clone(),
            Store::build(name, store)
                .map_err(|e| StartupError::Invalid(format!("[stores.{name}] {e}")))?,
        );
    }
    let events = match &config.redis {
        Some(r) => EventStore::Redis(Arc::new(RedisStore::new(r).map_err(StartupError::Invalid)?)),
        None => {
            tracing::warn!("no [redis] configured: callbacks are recorded in memory (single process, lost on restart)");
            EventStore::Memory(MemoryStore::default())
        }
    };
    let limiter = match config.rate_limit {
        Some(rl) => {
            let redis = match &events {
                EventStore::Redis(r) => Some(r.clone()),
                EventStore::Memory(_) => None,
            };
            Some(
                ratelimit::RateLimiter::new(rl, redis)
                    .map_err(|e| StartupError::Invalid(format!("[rate_limit] {e}")))?,
            )
        }
        None => None,
    };
    let ticket_key = match &config.callbacks.ticket_secret {
        Some(s) => s.expose().as_bytes().to_vec(),
        None => {
            tracing::warn!(
                "no [callbacks] ticket_secret: using a random one; callback URLs break on restart"
            );
            rand::random::<[u8; 32]>().to_vec()
        }
    };
    if config.dev_defaults {
        tracing::warn!(
            "DEVELOPMENT MODE: built-in config with a PUBLIC development signing key and dummy provider keys. \
             Anyone can mint tokens for this broker. Pass --config for any real use."
        );
    }
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(15))
        .build()
        .map_err(StartupError::HttpClient)?;
    let sns_http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(StartupError::HttpClient)?;
    Ok(AppState {
        sns_certs: callbacks::CertCache::default(),
        sns_http,
        config: Arc::new(config),
        auth,
        jwks,
        policies: ArcSwap::from_pointee(policies),
        stores,
        events,
        limiter,
        http,
        metrics: telemetry::metrics_handle(),
        handle_key: handle::HandleKey::derive(&ticket_key),
        ticket_key,
        shutting_down: AtomicBool::new(false),
    })
}

/// Browsers on the configured origins may call the API with a bearer token (no cookies).
fn cors(origins: &[String]) -> actix_cors::Cors {
    origins
        .iter()
        .fold(actix_cors::Cors::default(), |cors, origin| {
            cors.allowed_origin(origin)
        })
        .allowed_methods(["GET", "POST", "DELETE"])
        .allowed_headers([
            actix_web::http::header::AUTHORIZATION,
            actix_web::http::header::CONTENT_TYPE,
        ])
        .allowed_header("x-request-id")
        .expose_headers(["x-request-id", "retry-after", "www-authenticate"])
        .max_age(600)
}

/// A built server, bound and ready to run.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    state: web::Data<AppState>,
}

impl Application {
    /// Builds the app on `listener`, or on the configured bind address when `None`.
    pub async fn build(
        config: Config,
        listener: Option<TcpListener>,
    ) -> Result<Self, StartupError> {
        let listener = match listener {
            Some(l) => l,
            None => TcpListener::bind(&config.server.bind).map_err(|source| StartupError::Io {
                what: format!("cannot bind {}", config.server.bind),
                source,
            })?,
        };
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Io {
                what: "listener address".into(),
                source,
            })?
            .port();
        let workers = config.server.workers;
        let shutdown_timeout = config.server.shutdown_timeout_seconds;
        let state = web::Data::new(build_state(config).await?);
        let app_state = state.clone();
        let cors_origins = state.config.server.cors_origins.clone();
        if state.config.policies.watch_seconds > 0 {
            spawn_policy_watcher(
                state.clone(),
                Duration::from_secs(state.config.policies.watch_seconds),
            );
        }
        if state.limiter.is_some() {
            let pruned = state.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    if let Some(l) = &pruned.limiter {
                        l.prune();
                    }
                }
            });
        }
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(web::PayloadConfig::new(extract::MAX_BODY_BYTES))
                .wrap(cors(&cors_origins))
                .wrap(middleware::RequestContext)
                .configure(routes::configure)
        })
        .shutdown_timeout(shutdown_timeout)
        // Signals are ours (run_with_signals): readiness must turn 503 before the listener closes.
        .disable_signals();
        if let Some(n) = workers {
            server = server.workers(n);
        }
        let server = server
            .listen(listener)
            .map_err(|source| StartupError::Io {
                what: "cannot listen".into(),
                source,
            })?
            .run();
        Ok(Self {
            port,
            server,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    /// Runs until SIGTERM or SIGINT. SIGTERM: `/readyz` turns 503, requests are still served for
    /// `drain_seconds` (load balancers notice), then the listener closes and in-flight requests finish
    /// within `shutdown_timeout_seconds`. SIGINT skips the drain. SIGHUP reloads the policies.
    pub async fn run_with_signals(self) -> std::io::Result<()> {
        use tokio::signal::unix::{signal, SignalKind};
        let (mut term, mut int, mut hup) = (
            signal(SignalKind::terminate())?,
            signal(SignalKind::interrupt())?,
            signal(SignalKind::hangup())?,
        );
        let handle = self.server.handle();
        let state = self.state.clone();
        let drain = Duration::from_secs(state.config.server.drain_seconds);
        tokio::spawn(async move {
            let drain = loop {
                tokio::select! {
                    _ = term.recv() => break drain,
                    _ = int.recv() => break Duration::ZERO,
                    _ = hup.recv() => {
                        let _ = reload_policies(&state);
                    }
                }
            };
            state
                .shutting_down
                .store(true, std::sync::atomic::Ordering::Release);
            tracing::info!(
                drain_seconds = drain.as_secs(),
                "shutting down: readiness is 503 from now on"
            );
            tokio::time::sleep(drain).await;
            handle.stop(true).await;
        });
        let result = self.server.await;
        tracing::info!("stopped");
        result
    }
}
