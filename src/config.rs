//! `broker.toml`: parsed once at start-up; every problem names the file, the line and the field.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

pub(crate) mod secret;
use secret::secret_spellings;
pub use secret::{Secret, SecretSource};

/// The built-in development configuration used when no file is given.
pub const DEV_CONFIG: &str = include_str!("default_config.toml");
const DEV_CONFIG_NAME: &str = "<built-in development config>";

/// The development config's store is the SeaweedFS of `scripts/services.sh`; it follows that script's port
/// variable (`PB_S3_PORT`, the one place test ports are set) so `serve` without `--config` reaches it.
pub fn dev_config_text(s3_port: Option<&str>) -> String {
    match s3_port.filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) {
        Some(port) => {
            DEV_CONFIG.replace("http://127.0.0.1:8333", &format!("http://127.0.0.1:{port}"))
        }
        None => DEV_CONFIG.to_string(),
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub auth: AuthConfig,
    pub redis: Option<RedisConfig>,
    pub callbacks: CallbacksConfig,
    pub multipart: MultipartConfig,
    pub companion: CompanionConfig,
    pub policies: PoliciesConfig,
    pub stores: BTreeMap<String, StoreConfig>,
    pub rate_limit: Option<RateLimitConfig>,
    /// True for the built-in development config (dev signing key, dummy provider keys).
    pub dev_defaults: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub bind: String,
    pub public_url: String,
    pub workers: Option<usize>,
    pub log_format: LogFormat,
    pub shutdown_timeout_seconds: u64,
    /// After SIGTERM, how long `/readyz` answers 503 while requests are still served, before stopping.
    pub drain_seconds: u64,
    /// Browser origins allowed to call the API (CORS); empty = none.
    pub cors_origins: Vec<String>,
    /// A request body not fully received within this is answered 408 (slow-body clients hold no worker).
    pub body_timeout_seconds: u64,
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub roles_claim: String,
    pub leeway_seconds: u64,
    pub keys: Vec<KeyConfig>,
    pub jwks: Option<JwksConfig>,
}

#[derive(Debug, Clone)]
pub struct KeyConfig {
    pub kid: Option<String>,
    pub algorithm: jsonwebtoken::Algorithm,
    pub material: KeyMaterial,
}

#[derive(Debug, Clone)]
pub enum KeyMaterial {
    /// HS* shared secret.
    Secret(Secret),
    /// PEM public key (RSA, EC or Ed25519).
    PublicKeyPem(String),
}

#[derive(Debug, Clone)]
pub struct JwksConfig {
    pub url: String,
    pub refresh_seconds: u64,
}

/// One Redis, a Redis Cluster, or a Sentinel-managed primary.
#[derive(Debug, Clone)]
pub enum RedisTopology {
    Single(Secret),
    Cluster(Vec<Secret>),
    Sentinel { urls: Vec<Secret>, master: String },
}

#[derive(Debug, Clone)]
pub struct RedisConfig {
    pub topology: RedisTopology,
    pub stream: String,
    pub key_prefix: String,
    pub idempotency_ttl_seconds: u64,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone)]
pub struct CallbacksConfig {
    /// HMAC key of callback tickets; `None` = a random one per process (dev only).
    pub ticket_secret: Option<Secret>,
    /// A ticket stays valid this long after its credential expires (providers retry callbacks for hours).
    pub ticket_grace_seconds: u64,
}

/// `[multipart]`: how long a multipart `handle` stays valid (docs/API.md "Multipart uploads").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultipartConfig {
    #[serde(default = "default_handle_ttl")]
    pub handle_ttl_seconds: u64,
}

fn default_handle_ttl() -> u64 {
    crate::handle::DEFAULT_HANDLE_TTL_SECONDS
}

impl Default for MultipartConfig {
    fn default() -> Self {
        Self {
            handle_ttl_seconds: default_handle_ttl(),
        }
    }
}

/// `[companion]`: the Uppy Companion-compatible routes (docs/API.md "Uppy Companion-compatible routes").
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanionConfig {
    /// Also accept the JWT from this cookie on those routes (same-origin Uppy 6 sends no custom header).
    pub token_cookie: Option<String>,
}

/// An RFC 6265 cookie-name: 1..=64 RFC 9110 token characters.
fn valid_cookie_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Token bucket per JWT subject: `per_subject` requests per period, bursts up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Time between two requests at the sustained rate.
    pub interval: std::time::Duration,
    pub burst: u32,
}

#[derive(Debug, Clone)]
pub struct PoliciesConfig {
    pub dir: PathBuf,
    /// Poll the directory for changes this often and reload; 0 = only on SIGHUP.
    pub watch_seconds: u64,
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub default_expires_seconds: u64,
    pub max_expires_seconds: u64,
    pub provider: ProviderConfig,
}

#[derive(Debug, Clone)]
pub enum ProviderConfig {
    S3 {
        endpoint: Option<String>,
        region: String,
        bucket: String,
        path_style: bool,
        access_key: Secret,
        secret_key: Secret,
        session_token: Option<Secret>,
        callback: Option<S3CallbackConfig>,
    },
    Cos {
        bucket: String,
        region: String,
        endpoint: Option<String>,
        secret_id: Secret,
        secret_key: Secret,
        session_token: Option<Secret>,
    },
    Qiniu {
        bucket: String,
        upload_url: String,
        download_domain: Option<String>,
        rs_host: Option<String>,
        access_key: Secret,
        secret_key: Secret,
        callback: bool,
    },
    Oss {
        bucket: String,
        region: String,
        endpoint: Option<String>,
        path_style: bool,
        access_key_id: Secret,
        access_key_secret: Secret,
        security_token: Option<Secret>,
        callback: bool,
        pub_key_url_pattern: String,
    },
}

impl ProviderConfig {
    pub fn name(&self) -> &'static str {
        match self {
            Self::S3 { .. } => "s3",
            Self::Cos { .. } => "cos",
            Self::Qiniu { .. } => "qiniu",
            Self::Oss { .. } => "oss",
        }
    }
}

#[derive(Debug, Clone)]
pub struct S3CallbackConfig {
    pub webhook_token: Option<Secret>,
    pub sns_topic_arns: Vec<String>,
    pub sns_cert_url_pattern: String,
}

pub const DEFAULT_SNS_CERT_URL_PATTERN: &str =
    r"^https://sns\.[a-zA-Z0-9-]{3,}\.amazonaws\.com(\.cn)?/.*\.pem$";

/// A configuration error: `file:line: problem` (`file: problem` when no line applies, e.g. a missing file), then
/// one more line per further problem found in the same run.
#[derive(Debug, thiserror::Error)]
#[error("{}", crate::policy::model::render_problems(file, *line, message, more))]
pub struct ConfigError {
    pub file: String,
    /// 1-based; 0 when the problem is not on a line.
    pub line: usize,
    pub message: String,
    /// Further problems: (line, message).
    pub more: Vec<(usize, String)>,
}

// ---- raw file format -------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    server: Option<Spanned<ServerRaw>>,
    auth: Spanned<AuthRaw>,
    redis: Option<Spanned<RedisRaw>>,
    callbacks: Option<Spanned<CallbacksRaw>>,
    multipart: Option<Spanned<MultipartConfig>>,
    companion: Option<Spanned<CompanionConfig>>,
    #[serde(default)]
    policies: PoliciesRaw,
    #[serde(default)]
    stores: BTreeMap<String, Spanned<StoreRaw>>,
    rate_limit: Option<Spanned<RateLimitRaw>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitRaw {
    per_subject: String,
    burst: Option<u32>,
}

fn default_bind() -> String {
    "127.0.0.1:8080".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerRaw {
    #[serde(default = "default_bind")]
    bind: String,
    /// Default `http://{bind}`.
    public_url: Option<String>,
    workers: Option<usize>,
    #[serde(default)]
    log_format: LogFormat,
    #[serde(default = "default_shutdown_timeout")]
    shutdown_timeout_seconds: u64,
    #[serde(default = "default_drain")]
    drain_seconds: u64,
    #[serde(default)]
    cors_origins: Vec<String>,
    #[serde(default = "default_body_timeout")]
    body_timeout_seconds: u64,
}

impl Default for ServerRaw {
    fn default() -> Self {
        Self {
            bind: default_bind(),
            public_url: None,
            workers: None,
            log_format: LogFormat::default(),
            shutdown_timeout_seconds: default_shutdown_timeout(),
            drain_seconds: default_drain(),
            cors_origins: Vec::new(),
            body_timeout_seconds: default_body_timeout(),
        }
    }
}

fn default_shutdown_timeout() -> u64 {
    30
}
fn default_drain() -> u64 {
    5
}
fn default_body_timeout() -> u64 {
    10
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthRaw {
    issuer: Option<String>,
    audience: Option<String>,
    #[serde(default = "default_roles_claim")]
    roles_claim: String,
    #[serde(default = "default_leeway")]
    leeway_seconds: u64,
    #[serde(default)]
    keys: Vec<Spanned<KeyRaw>>,
    jwks: Option<Spanned<JwksRaw>>,
}

fn default_roles_claim() -> String {
    "roles".into()
}
fn default_leeway() -> u64 {
    30
}

#[derive(Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
struct KeyRaw {
    kid: Option<String>,
    algorithm: String,
    secret: Option<SecretSource>,
    public_key_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JwksRaw {
    url: String,
    #[serde(default = "default_jwks_refresh")]
    refresh_seconds: u64,
}

fn default_jwks_refresh() -> u64 {
    300
}

#[derive(Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
struct RedisRaw {
    url: Option<SecretSource>,
    /// Redis Cluster seed nodes, instead of `url`.
    cluster_urls: Option<Vec<String>>,
    /// Sentinels, instead of `url`, with the name of the primary they watch.
    sentinel_urls: Option<Vec<String>>,
    #[serde(default = "default_sentinel_master")]
    sentinel_master: String,
    #[serde(default = "default_stream")]
    stream: String,
    #[serde(default = "default_key_prefix")]
    key_prefix: String,
    #[serde(default = "default_idempotency_ttl")]
    idempotency_ttl_seconds: u64,
    #[serde(default = "default_redis_timeout")]
    timeout_ms: u64,
}

fn default_sentinel_master() -> String {
    "mymaster".into()
}
fn default_stream() -> String {
    "presign-broker:events".into()
}
fn default_key_prefix() -> String {
    "presign-broker:".into()
}
fn default_idempotency_ttl() -> u64 {
    604_800
}
fn default_redis_timeout() -> u64 {
    2_000
}

#[derive(Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
struct CallbacksRaw {
    ticket_secret: Option<SecretSource>,
    #[serde(default = "default_ticket_grace")]
    ticket_grace_seconds: u64,
}

impl Default for CallbacksRaw {
    fn default() -> Self {
        Self {
            ticket_secret: None,
            ticket_grace_seconds: default_ticket_grace(),
        }
    }
}

/// Providers retry a failed callback for hours; a day covers their schedules.
fn default_ticket_grace() -> u64 {
    86_400
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PoliciesRaw {
    #[serde(default = "default_policies_dir")]
    dir: PathBuf,
    /// Poll interval; 0 = only on SIGHUP.
    #[serde(default)]
    watch_seconds: u64,
}

impl Default for PoliciesRaw {
    fn default() -> Self {
        Self {
            dir: default_policies_dir(),
            watch_seconds: 0,
        }
    }
}

fn default_policies_dir() -> PathBuf {
    "policies".into()
}

#[derive(Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
enum StoreRaw {
    S3(S3Raw),
    Cos(CosRaw),
    Qiniu(QiniuRaw),
    Oss(OssRaw),
}

#[derive(Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
struct S3Raw {
    endpoint: Option<String>,
    region: String,
    bucket: String,
    #[serde(default)]
    path_style: bool,
    access_key: Option<SecretSource>,
    secret_key: Option<SecretSource>,
    session_token: Option<SecretSource>,
    default_expires_seconds: Option<u64>,
    max_expires_seconds: Option<u64>,
    callback: Option<S3CallbackRaw>,
}

#[derive(Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
struct S3CallbackRaw {
    webhook_token: Option<SecretSource>,
    #[serde(default)]
    sns_topic_arns: Vec<String>,
    #[serde(default = "default_sns_cert_url_pattern")]
    sns_cert_url_pattern: String,
}

fn default_sns_cert_url_pattern() -> String {
    DEFAULT_SNS_CERT_URL_PATTERN.into()
}

#[derive(Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
struct CosRaw {
    bucket: String,
    region: String,
    endpoint: Option<String>,
    secret_id: Option<SecretSource>,
    secret_key: Option<SecretSource>,
    session_token: Option<SecretSource>,
    default_expires_seconds: Option<u64>,
    max_expires_seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
struct QiniuRaw {
    bucket: String,
    upload_url: String,
    download_domain: Option<String>,
    rs_host: Option<String>,
    access_key: Option<SecretSource>,
    secret_key: Option<SecretSource>,
    #[serde(default)]
    callback: bool,
    default_expires_seconds: Option<u64>,
    max_expires_seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
struct OssRaw {
    bucket: String,
    region: String,
    endpoint: Option<String>,
    #[serde(default)]
    path_style: bool,
    access_key_id: Option<SecretSource>,
    access_key_secret: Option<SecretSource>,
    security_token: Option<SecretSource>,
    #[serde(default)]
    callback: bool,
    #[serde(default = "default_oss_pub_key_url_pattern")]
    oss_pub_key_url_pattern: String,
    default_expires_seconds: Option<u64>,
    max_expires_seconds: Option<u64>,
}

fn default_oss_pub_key_url_pattern() -> String {
    crate::callbacks::oss::DEFAULT_PUB_KEY_URL_PATTERN.into()
}

secret_spellings!(
    KeyRaw,
    RedisRaw,
    CallbacksRaw,
    S3Raw,
    S3CallbackRaw,
    CosRaw,
    QiniuRaw,
    OssRaw
);

// ---- loading ---------------------------------------------------------------------------------

impl Config {
    /// Loads `path`, or the built-in development config when `None`.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| ConfigError {
                    file: p.display().to_string(),
                    line: 0,
                    message: format!("cannot read config: {e}"),
                    more: Vec::new(),
                })?;
                Self::parse(&p.display().to_string(), &text, p.parent())
            }
            None => {
                let text = dev_config_text(std::env::var("PB_S3_PORT").ok().as_deref());
                let mut config = Self::parse(DEV_CONFIG_NAME, &text, None)?;
                config.dev_defaults = true;
                Ok(config)
            }
        }
    }

    /// Parses config text; relative paths (policies, key files) resolve against `base_dir`.
    pub fn parse(file: &str, text: &str, base_dir: Option<&Path>) -> Result<Self, ConfigError> {
        let at = |offset: usize, message: String| ConfigError {
            file: file.to_string(),
            line: text
                .get(..offset)
                .map_or(1, |t| t.bytes().filter(|b| *b == b'\n').count() + 1),
            message,
            more: Vec::new(),
        };
        // A TOML syntax or shape error stops here; past it, every section is checked and every problem reported.
        let raw: Raw = toml::from_str(text)
            .map_err(|e| at(e.span().map_or(0, |s| s.start), e.message().to_string()))?;
        let resolve_path = |p: PathBuf| match base_dir {
            Some(base) if p.is_relative() => base.join(p),
            _ => p,
        };
        let secret = |field: &str, source: Option<SecretSource>| {
            source.map(|s| s.resolve(field, base_dir)).transpose()
        };
        let mut problems: Vec<ConfigError> = Vec::new();

        let (server_span, server) = split(raw.server);
        let server = keep(
            &mut problems,
            build_server(server).map_err(|m| at(server_span, m)),
        );
        let auth_span = raw.auth.span().start;
        let auth = keep(
            &mut problems,
            build_auth(raw.auth.into_inner(), &resolve_path, &secret, &at).map_err(|e| match e {
                Located::At(err) => err,
                Located::Here(m) => at(auth_span, m),
            }),
        );
        let redis = keep(
            &mut problems,
            raw.redis
                .map(|r| {
                    let span = r.span().start;
                    build_redis(r.into_inner(), &secret)
                        .map_err(|m| at(span, format!("[redis] {m}")))
                })
                .transpose(),
        );
        let (cb_span, cb) = split(raw.callbacks);
        let ticket_secret = keep(
            &mut problems,
            secret("ticket_secret", cb.ticket_secret)
                .map_err(|m| at(cb_span, format!("[callbacks] {m}"))),
        );
        let (multipart_span, multipart) = split(raw.multipart);
        if multipart.handle_ttl_seconds == 0 {
            keep(
                &mut problems,
                Err::<(), _>(at(
                    multipart_span,
                    "[multipart] handle_ttl_seconds: must be at least 1".into(),
                )),
            );
        }
        let (companion_span, companion) = split(raw.companion);
        if let Some(name) = companion.token_cookie.as_deref() {
            if !valid_cookie_name(name) {
                keep(
                    &mut problems,
                    Err::<(), _>(at(
                        companion_span,
                        format!("[companion] token_cookie {name:?}: must be a cookie name (1..=64 token characters)"),
                    )),
                );
            }
        }
        let policies = PoliciesConfig {
            dir: resolve_path(raw.policies.dir),
            watch_seconds: raw.policies.watch_seconds,
        };
        let mut stores = BTreeMap::new();
        for (name, store) in raw.stores {
            let span = store.span().start;
            if !valid_store_name(&name) {
                keep(
                    &mut problems,
                    Err::<(), _>(at(
                        span,
                        format!("store name {name:?} must be 1..=64 of [a-z0-9_-]"),
                    )),
                );
                continue;
            }
            if let Some(built) = keep(
                &mut problems,
                build_store(store.into_inner(), &secret)
                    .map_err(|m| at(span, format!("[stores.{name}] {m}"))),
            ) {
                stores.insert(name, built);
            }
        }
        let rate_limit = keep(
            &mut problems,
            raw.rate_limit
                .map(|r| {
                    let span = r.span().start;
                    let r = r.into_inner();
                    parse_rate(&r.per_subject, r.burst)
                        .map_err(|m| at(span, format!("[rate_limit] {m}")))
                })
                .transpose(),
        );
        match (server, auth, redis, ticket_secret, rate_limit) {
            (Some(server), Some(auth), Some(redis), Some(ticket_secret), Some(rate_limit))
                if problems.is_empty() =>
            {
                Ok(Config {
                    server,
                    auth,
                    redis,
                    callbacks: CallbacksConfig {
                        ticket_secret,
                        ticket_grace_seconds: cb.ticket_grace_seconds,
                    },
                    multipart,
                    companion,
                    policies,
                    stores,
                    rate_limit,
                    dev_defaults: false,
                })
            }
            _ => {
                let mut problems = problems.into_iter();
                let mut first = problems
                    .next()
                    .unwrap_or_else(|| at(0, "invalid configuration".into()));
                first.more.extend(problems.map(|p| (p.line, p.message)));
                Err(first)
            }
        }
    }
}

/// `Some` on success; else the problem is kept for the report and `None` returned.
fn keep<T>(problems: &mut Vec<ConfigError>, r: Result<T, ConfigError>) -> Option<T> {
    r.map_err(|e| problems.push(e)).ok()
}

/// An optional table's start offset and content (defaults when absent).
fn split<T: Default>(table: Option<Spanned<T>>) -> (usize, T) {
    table.map_or((0, T::default()), |t| (t.span().start, t.into_inner()))
}

enum Located {
    At(ConfigError),
    Here(String),
}

fn valid_store_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Resolves a secret field's source (`None` when the field is absent), naming the field in any problem.
type ResolveSecret<'a> = dyn Fn(&str, Option<SecretSource>) -> Result<Option<Secret>, String> + 'a;

fn build_server(s: ServerRaw) -> Result<ServerConfig, String> {
    let bind = s.bind;
    let public_url = s.public_url.unwrap_or_else(|| format!("http://{bind}"));
    let parsed = url::Url::parse(&public_url)
        .map_err(|e| format!("[server] public_url {public_url:?}: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() {
        return Err(format!(
            "[server] public_url {public_url:?} must be an http(s) base URL without a query"
        ));
    }
    for origin in &s.cors_origins {
        let parsed = url::Url::parse(origin)
            .map_err(|e| format!("[server] cors_origins {origin:?}: {e}"))?;
        if parsed.origin().ascii_serialization() != origin.trim_end_matches('/') {
            return Err(format!(
                "[server] cors_origins {origin:?} must be an origin (scheme://host[:port])"
            ));
        }
    }
    Ok(ServerConfig {
        bind,
        public_url: public_url.trim_end_matches('/').to_string(),
        workers: s.workers.filter(|w| *w > 0),
        log_format: s.log_format,
        shutdown_timeout_seconds: s.shutdown_timeout_seconds,
        drain_seconds: s.drain_seconds,
        cors_origins: s
            .cors_origins
            .iter()
            .map(|o| o.trim_end_matches('/').to_string())
            .collect(),
        body_timeout_seconds: s.body_timeout_seconds.clamp(1, 300),
    })
}

fn build_auth(
    a: AuthRaw,
    resolve_path: &dyn Fn(PathBuf) -> PathBuf,
    secret: &ResolveSecret,
    at: &dyn Fn(usize, String) -> ConfigError,
) -> Result<AuthConfig, Located> {
    let mut keys = Vec::new();
    for k in a.keys {
        let span = k.span().start;
        keys.push(
            build_key(k.into_inner(), resolve_path, secret)
                .map_err(|m| Located::At(at(span, format!("[[auth.keys]] {m}"))))?,
        );
    }
    let jwks = a
        .jwks
        .map(|j| {
            let span = j.span().start;
            let j = j.into_inner();
            check_jwks_url(&j.url)
                .map_err(|m| Located::At(at(span, format!("[auth.jwks] {m}"))))?;
            Ok(JwksConfig {
                url: j.url,
                refresh_seconds: j.refresh_seconds.clamp(30, 86_400),
            })
        })
        .transpose()?;
    if keys.is_empty() && jwks.is_none() {
        return Err(Located::Here(
            "[auth] needs at least one [[auth.keys]] or an [auth.jwks] url".into(),
        ));
    }
    Ok(AuthConfig {
        issuer: a.issuer,
        audience: a.audience,
        roles_claim: a.roles_claim,
        leeway_seconds: a.leeway_seconds,
        keys,
        jwks,
    })
}

/// https only, except plain http to a loopback host (tests, sidecars).
fn check_jwks_url(raw: &str) -> Result<(), String> {
    let url = url::Url::parse(raw).map_err(|e| format!("url {raw:?}: {e}"))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!(
            "url {raw:?} must be https (plain http only for loopback hosts)"
        )),
    }
}

fn build_key(
    k: KeyRaw,
    resolve_path: &dyn Fn(PathBuf) -> PathBuf,
    secret: &ResolveSecret,
) -> Result<KeyConfig, String> {
    use jsonwebtoken::Algorithm::*;
    let algorithm: jsonwebtoken::Algorithm = k
        .algorithm
        .parse()
        .map_err(|_| format!("unknown algorithm {:?} (HS256|HS384|HS512|RS256|RS384|RS512|PS256|PS384|PS512|ES256|ES384|EdDSA)", k.algorithm))?;
    let material = match algorithm {
        HS256 | HS384 | HS512 => {
            if k.public_key_file.is_some() {
                return Err("public_key_file is for asymmetric algorithms; HS* keys take secret / secret_env / secret_file".into());
            }
            let secret = secret("secret", k.secret)?
                .ok_or("an HS* key needs secret, secret_env or secret_file")?;
            if secret.expose().len() < 32 {
                return Err("an HS* secret must be at least 32 bytes (RFC 8725 3.5)".into());
            }
            KeyMaterial::Secret(secret)
        }
        _ => {
            if k.secret.is_some() {
                return Err(format!(
                    "{:?} keys take public_key_file (PEM), not a secret",
                    algorithm
                ));
            }
            let path = resolve_path(
                k.public_key_file
                    .ok_or("an asymmetric key needs public_key_file (PEM)")?,
            );
            let pem = std::fs::read_to_string(&path)
                .map_err(|e| format!("public_key_file {}: {e}", path.display()))?;
            KeyMaterial::PublicKeyPem(pem)
        }
    };
    Ok(KeyConfig {
        kid: k.kid,
        algorithm,
        material,
    })
}

fn build_redis(r: RedisRaw, secret: &ResolveSecret) -> Result<RedisConfig, String> {
    let url = secret("url", r.url)?;
    let secrets = |urls: Vec<String>| urls.into_iter().map(Secret::new).collect::<Vec<_>>();
    let topology = match (url, r.cluster_urls, r.sentinel_urls) {
        (Some(url), None, None) => RedisTopology::Single(url),
        (None, Some(urls), None) if !urls.is_empty() => RedisTopology::Cluster(secrets(urls)),
        (None, None, Some(urls)) if !urls.is_empty() => RedisTopology::Sentinel {
            urls: secrets(urls),
            master: r.sentinel_master,
        },
        _ => {
            return Err(
                "needs exactly one of url (url_env, url_file), cluster_urls or sentinel_urls"
                    .into(),
            )
        }
    };
    Ok(RedisConfig {
        topology,
        stream: r.stream,
        key_prefix: r.key_prefix,
        idempotency_ttl_seconds: r.idempotency_ttl_seconds.max(60),
        timeout_ms: r.timeout_ms.clamp(50, 30_000),
    })
}

fn build_store(store: StoreRaw, secret: &ResolveSecret) -> Result<StoreConfig, String> {
    let required = |name: &str, v: Option<SecretSource>| {
        secret(name, v)?.ok_or_else(|| format!("needs {name}, {name}_env or {name}_file"))
    };
    let (provider, default_expires, max_expires, provider_cap) = match store {
        StoreRaw::S3(s) => {
            let callback = s
                .callback
                .map(|c| -> Result<S3CallbackConfig, String> {
                    regex::Regex::new(&c.sns_cert_url_pattern)
                        .map_err(|e| format!("callback.sns_cert_url_pattern: {e}"))?;
                    Ok(S3CallbackConfig {
                        webhook_token: secret("callback.webhook_token", c.webhook_token)?,
                        sns_topic_arns: c.sns_topic_arns,
                        sns_cert_url_pattern: c.sns_cert_url_pattern,
                    })
                })
                .transpose()?;
            let p = ProviderConfig::S3 {
                endpoint: s.endpoint,
                region: s.region,
                bucket: s.bucket,
                path_style: s.path_style,
                access_key: required("access_key", s.access_key)?,
                secret_key: required("secret_key", s.secret_key)?,
                session_token: secret("session_token", s.session_token)?,
                callback,
            };
            (p, s.default_expires_seconds, s.max_expires_seconds, 604_800)
        }
        StoreRaw::Cos(c) => {
            let p = ProviderConfig::Cos {
                bucket: c.bucket,
                region: c.region,
                endpoint: c.endpoint,
                secret_id: required("secret_id", c.secret_id)?,
                secret_key: required("secret_key", c.secret_key)?,
                session_token: secret("session_token", c.session_token)?,
            };
            (
                p,
                c.default_expires_seconds,
                c.max_expires_seconds,
                u64::MAX,
            )
        }
        StoreRaw::Oss(o) => {
            regex::Regex::new(&o.oss_pub_key_url_pattern)
                .map_err(|e| format!("oss_pub_key_url_pattern: {e}"))?;
            let p = ProviderConfig::Oss {
                bucket: o.bucket,
                region: o.region,
                endpoint: o.endpoint,
                path_style: o.path_style,
                access_key_id: required("access_key_id", o.access_key_id)?,
                access_key_secret: required("access_key_secret", o.access_key_secret)?,
                security_token: secret("security_token", o.security_token)?,
                callback: o.callback,
                pub_key_url_pattern: o.oss_pub_key_url_pattern,
            };
            // OSS presigned URLs live at most 7 days (x-oss-expires).
            (p, o.default_expires_seconds, o.max_expires_seconds, 604_800)
        }
        StoreRaw::Qiniu(q) => {
            let p = ProviderConfig::Qiniu {
                bucket: q.bucket,
                upload_url: q.upload_url,
                download_domain: q.download_domain,
                rs_host: q.rs_host,
                access_key: required("access_key", q.access_key)?,
                secret_key: required("secret_key", q.secret_key)?,
                callback: q.callback,
            };
            (
                p,
                q.default_expires_seconds,
                q.max_expires_seconds,
                u64::MAX,
            )
        }
    };
    let max_expires_seconds = max_expires.unwrap_or(3600);
    let default_expires_seconds = default_expires.unwrap_or(600.min(max_expires_seconds));
    if max_expires_seconds == 0 || max_expires_seconds > provider_cap {
        return Err(format!(
            "max_expires_seconds must be 1..={provider_cap} for this provider"
        ));
    }
    if default_expires_seconds == 0 || default_expires_seconds > max_expires_seconds {
        return Err("default_expires_seconds must be 1..=max_expires_seconds".into());
    }
    Ok(StoreConfig {
        default_expires_seconds,
        max_expires_seconds,
        provider,
    })
}

/// `"20/s"`, `"600/m"`, `"1000/h"`; the burst defaults to one second's worth (at least 1).
fn parse_rate(text: &str, burst: Option<u32>) -> Result<RateLimitConfig, String> {
    let err = || format!("per_subject {text:?} must look like \"20/s\", \"600/m\" or \"1000/h\"");
    let (count, unit) = text.split_once('/').ok_or_else(err)?;
    let count: u32 = count
        .trim()
        .parse()
        .ok()
        .filter(|c| *c > 0)
        .ok_or_else(err)?;
    let period = match unit.trim() {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(err()),
    };
    let interval = std::time::Duration::from_secs_f64(period / f64::from(count));
    let default_burst = (f64::from(count) / period).ceil().max(1.0) as u32;
    let burst = burst.unwrap_or(default_burst);
    if burst == 0 {
        return Err("burst must be at least 1".into());
    }
    Ok(RateLimitConfig { interval, burst })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str = "[auth]\n[[auth.keys]]\nalgorithm = \"HS256\"\nsecret = \"0123456789abcdef0123456789abcdef\"\n";

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse("broker.toml", text, None)
    }

    #[test]
    fn built_in_config_loads() {
        let c = Config::load(None).expect("dev config");
        assert!(c.dev_defaults);
        assert!(c.redis.is_none());
        let providers: Vec<_> = c.stores.values().map(|s| s.provider.name()).collect();
        for p in ["s3", "cos", "qiniu"] {
            assert!(providers.contains(&p), "dev config lacks a {p} store");
        }
    }

    #[test]
    fn minimal_config_has_defaults() {
        let c = parse(MIN).expect("minimal");
        assert_eq!(c.server.bind, "127.0.0.1:8080");
        assert_eq!(c.auth.roles_claim, "roles");
        assert_eq!(c.auth.leeway_seconds, 30);
        assert_eq!(c.server.body_timeout_seconds, 10);
        assert_eq!(c.callbacks.ticket_grace_seconds, 86_400);
        assert!(c.callbacks.ticket_secret.is_none());
        assert!(c.stores.is_empty());
    }

    #[test]
    fn hardening_settings_take_their_value_bounded_and_are_not_secrets() {
        let c = parse(&format!(
            "{MIN}[server]\nbody_timeout_seconds = 3\n[callbacks]\nticket_grace_seconds = 60\n"
        ))
        .expect("valid");
        assert_eq!(c.server.body_timeout_seconds, 3);
        assert_eq!(c.callbacks.ticket_grace_seconds, 60);
        // A grace set beside a ticket secret keeps both (one table, two kinds of field).
        let c = parse(&format!(
            "{MIN}[callbacks]\nticket_secret = \"t\"\nticket_grace_seconds = 5\n"
        ))
        .expect("valid");
        assert_eq!(c.callbacks.ticket_grace_seconds, 5);
        assert_eq!(
            c.callbacks.ticket_secret.as_ref().map(Secret::expose),
            Some("t")
        );
        for (timeout, bounded) in [(0, 1), (301, 300)] {
            let c = parse(&format!(
                "{MIN}[server]\nbody_timeout_seconds = {timeout}\n"
            ))
            .expect("clamped");
            assert_eq!(c.server.body_timeout_seconds, bounded);
        }
        let e = parse(&format!(
            "{MIN}[callbacks]\nticket_grace_seconds_env = \"G\"\n"
        ))
        .expect_err("not a secret");
        assert!(
            e.to_string()
                .contains("ticket_grace_seconds is not a secret"),
            "{e}"
        );
        let e = parse(&format!("{MIN}[companion]\ntoken_cookie_env = \"C\"\n"))
            .expect_err("unknown field");
        assert!(
            e.to_string().contains("unknown field `token_cookie_env`"),
            "{e}"
        );
    }

    #[test]
    fn companion_token_cookie_is_optional_and_must_be_a_cookie_name() {
        assert_eq!(parse(MIN).expect("minimal").companion.token_cookie, None);
        let c = parse(&format!(
            "{MIN}[companion]\ntoken_cookie = \"broker_token\"\n"
        ))
        .expect("valid");
        assert_eq!(c.companion.token_cookie.as_deref(), Some("broker_token"));
        for bad in ["", "a b", "a;b", "a=b"] {
            let e = parse(&format!("{MIN}[companion]\ntoken_cookie = {bad:?}\n")).expect_err(bad);
            assert_eq!(e.line, 5, "{e}");
            assert!(e.to_string().contains("[companion] token_cookie"), "{e}");
        }
        let e = parse(&format!("{MIN}[companion]\ncookie = \"x\"\n")).expect_err("unknown field");
        assert!(e.to_string().contains("unknown field"), "{e}");
    }

    #[test]
    fn errors_name_file_line_and_problem() {
        let cases: &[(&str, usize, &str)] = &[
            ("[server]\nbindd = \"x\"\n", 2, "unknown field"),
            ("[server]\nbind = \n", 2, ""),
            ("[auth]\n", 1, "at least one"),
            (
                "[auth]\n[[auth.keys]]\nalgorithm = \"HS256\"\nsecret = \"short\"\n",
                2,
                "at least 32 bytes",
            ),
            ("[auth]\n[[auth.keys]]\nalgorithm = \"XS256\"\nsecret = \"x\"\n", 2, "unknown algorithm"),
            (
                "[auth]\n[[auth.keys]]\nalgorithm = \"HS256\"\nsecret_env = \"PB_TEST_SURELY_UNSET_VAR\"\n",
                2,
                "PB_TEST_SURELY_UNSET_VAR is not set",
            ),
            ("[auth]\n[auth.jwks]\nurl = \"http://example.com/jwks\"\n", 2, "https"),
        ];
        for (text, line, needle) in cases {
            let e = parse(text).expect_err(text);
            assert_eq!(e.file, "broker.toml");
            assert_eq!(e.line, *line, "{e}");
            assert!(
                e.to_string().contains(needle),
                "{e} should mention {needle:?}"
            );
        }
    }

    #[test]
    fn every_problem_of_a_file_is_reported_at_once_and_a_missing_file_has_no_line() {
        let text = format!(
            "{MIN}[multipart]\nhandle_ttl_seconds = 0\n\n[stores.a]\nprovider = \"s3\"\nregion = \"us-east-1\"\nbucket = \"b\"\nsecret_key = \"s\"\n\n[stores.b]\nprovider = \"cos\"\nbucket = \"x\"\nregion = \"r\"\nsecret_key = \"k\"\n"
        );
        let e = parse(&text).expect_err("three problems").to_string();
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines.len(), 3, "{e}");
        assert!(
            lines[0].starts_with("broker.toml:5: [multipart] handle_ttl_seconds"),
            "{e}"
        );
        assert!(
            lines[1].starts_with("broker.toml:8: [stores.a] needs access_key"),
            "{e}"
        );
        assert!(
            lines[2].starts_with("broker.toml:14: [stores.b] needs secret_id"),
            "{e}"
        );
        let missing = Config::load(Some(Path::new("/nonexistent/broker.toml")))
            .expect_err("missing")
            .to_string();
        assert!(
            missing.starts_with("/nonexistent/broker.toml: cannot read config"),
            "{missing}"
        );
        assert!(!missing.contains(":0:"), "{missing}");
    }

    #[test]
    fn store_errors_name_the_store() {
        let cases: &[(&str, &str)] = &[
            ("[stores.m]\nprovider = \"s3\"\nregion = \"r\"\nbucket = \"b\"\nsecret_key = \"s\"\n", "needs access_key"),
            ("[stores.m]\nprovider = \"gcs\"\n", "gcs"),
            (
                "[stores.m]\nprovider = \"s3\"\nregion = \"r\"\nbucket = \"b\"\naccess_key = \"a\"\naccess_key_env = \"B\"\nsecret_key = \"s\"\n",
                "only one of access_key",
            ),
            (
                "[stores.m]\nprovider = \"s3\"\nregion = \"r\"\nbucket = \"b\"\naccess_key = \"a\"\nsecret_key = \"s\"\nmax_expires_seconds = 700000\n",
                "max_expires_seconds",
            ),
            (
                "[stores.m]\nprovider = \"cos\"\nregion = \"r\"\nbucket = \"b\"\nsecret_id = \"a\"\nsecret_key = \"s\"\ndefault_expires_seconds = 7200\n",
                "default_expires_seconds",
            ),
            (
                "[stores.m]\nprovider = \"oss\"\nregion = \"cn-hangzhou\"\nbucket = \"b\"\naccess_key_secret = \"s\"\n",
                "needs access_key_id",
            ),
            (
                "[stores.m]\nprovider = \"oss\"\nregion = \"cn-hangzhou\"\nbucket = \"b\"\naccess_key_id = \"a\"\naccess_key_secret = \"s\"\naccess_key_secret_env = \"S\"\n",
                "only one of access_key_secret",
            ),
            (
                "[stores.m]\nprovider = \"oss\"\nregion = \"cn-hangzhou\"\nbucket = \"b\"\naccess_key_id = \"a\"\naccess_key_secret = \"s\"\noss_pub_key_url_pattern = \"(\"\n",
                "oss_pub_key_url_pattern",
            ),
            (
                "[stores.m]\nprovider = \"oss\"\nregion = \"cn-hangzhou\"\nbucket = \"b\"\naccess_key_id = \"a\"\naccess_key_secret = \"s\"\nmax_expires_seconds = 700000\n",
                "max_expires_seconds",
            ),
            (
                "[stores.Bad]\nprovider = \"cos\"\nregion = \"r\"\nbucket = \"b-1\"\nsecret_id = \"a\"\nsecret_key = \"s\"\n",
                "store name",
            ),
        ];
        for (store, needle) in cases {
            let text = format!("{MIN}{store}");
            let e = parse(&text).expect_err(store);
            assert!(
                e.to_string().contains(needle),
                "{e} should mention {needle:?}"
            );
            assert!(e.line >= 5, "{e} should point into the store table");
        }
    }

    #[test]
    fn an_oss_store_takes_its_defaults_and_builds() {
        let text = format!(
            "{MIN}[stores.ali]\nprovider = \"oss\"\nregion = \"cn-hangzhou\"\nbucket = \"examplebucket\"\n\
             access_key_id = \"LTAI5t\"\naccess_key_secret = \"s\"\ncallback = true\n"
        );
        let c = parse(&text).expect("oss store");
        let store = &c.stores["ali"];
        match &store.provider {
            ProviderConfig::Oss {
                endpoint,
                path_style,
                security_token,
                callback,
                pub_key_url_pattern,
                ..
            } => {
                assert_eq!(
                    (endpoint, path_style, security_token.is_none(), callback),
                    (&None, &false, true, &true)
                );
                assert_eq!(
                    pub_key_url_pattern,
                    crate::callbacks::oss::DEFAULT_PUB_KEY_URL_PATTERN
                );
            }
            other => panic!("{other:?}"),
        }
        let built = crate::providers::Store::build("ali", store).expect("builds");
        assert_eq!(built.provider_name(), "oss");
        assert!(built.callbacks.as_ref().is_some_and(|v| v.uses_ticket()));
        // The virtual-hosted object URL from the region's default endpoint.
        assert_eq!(
            built.provider.location("a b.jpg").as_deref(),
            Some("https://examplebucket.oss-cn-hangzhou.aliyuncs.com/a%20b.jpg")
        );
    }

    #[test]
    fn rate_limits_parse() {
        let r = parse_rate("20/s", None).expect("20/s");
        assert_eq!(
            (r.interval, r.burst),
            (std::time::Duration::from_millis(50), 20)
        );
        let r = parse_rate("600/m", Some(5)).expect("600/m");
        assert_eq!(
            (r.interval, r.burst),
            (std::time::Duration::from_millis(100), 5)
        );
        assert_eq!(parse_rate("1/h", None).map(|r| r.burst), Ok(1));
        for bad in ["", "20", "0/s", "x/s", "20/d", "-1/s"] {
            assert!(parse_rate(bad, None).is_err(), "{bad:?}");
        }
        assert!(parse_rate("1/s", Some(0)).is_err());
    }

    #[test]
    fn secrets_from_files_and_env() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sk");
        std::fs::write(&path, "file-secret-value-0123456789abcdef\n").expect("write");
        let text = format!(
            "[auth]\n[[auth.keys]]\nalgorithm = \"HS512\"\nsecret_file = \"{}\"\n",
            path.display()
        );
        let c = parse(&text).expect("file secret");
        match &c.auth.keys[0].material {
            KeyMaterial::Secret(s) => assert_eq!(s.expose(), "file-secret-value-0123456789abcdef"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            !format!("{c:?}").contains("file-secret-value"),
            "Debug leaks a secret"
        );
    }
}
