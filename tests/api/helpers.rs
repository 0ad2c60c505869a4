//! The test harness: the real app on 127.0.0.1:0, a real Redis and a real S3 server (see scripts/test.sh).
use std::net::TcpListener;
use std::path::PathBuf;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use presign_broker::config::Config;
use presign_broker::Application;
use serde_json::{json, Map, Value};

pub const HS_SECRET: &str = "integration-test-secret-0123456789abcdef";

/// Where the test services listen; defaults match `scripts/services.sh`.
pub struct Services;

#[allow(dead_code)] // the callback tests use all of them
impl Services {
    fn var(name: &str, default: &str) -> String {
        std::env::var(name).unwrap_or_else(|_| default.to_string())
    }
    pub fn redis_url() -> String {
        Self::var("PB_TEST_REDIS_URL", "redis://127.0.0.1:6399/0")
    }
    pub fn s3_endpoint() -> String {
        Self::var("PB_TEST_S3_ENDPOINT", "http://127.0.0.1:8333")
    }
    pub fn s3_access_key() -> String {
        Self::var("PB_TEST_S3_ACCESS_KEY", "PBTESTACCESSKEY00001")
    }
    pub fn s3_secret_key() -> String {
        Self::var(
            "PB_TEST_S3_SECRET_KEY",
            "pbtest/secret+key0000000000000000000000",
        )
    }
    pub fn s3_bucket() -> String {
        Self::var("PB_TEST_S3_BUCKET", "pb-test")
    }
    pub fn webhook_port() -> u16 {
        Self::var("PB_TEST_WEBHOOK_PORT", "18089")
            .parse()
            .expect("PB_TEST_WEBHOOK_PORT is a port")
    }
    pub fn webhook_token() -> String {
        Self::var("PB_TEST_WEBHOOK_TOKEN", "pb-test-webhook-token")
    }
}

pub fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

/// Options of one test app; `TestApp::spawn()` takes the defaults.
#[derive(Default)]
pub struct AppOptions {
    /// Use the real Redis with a key prefix and stream of this test's own.
    pub redis: bool,
    /// More TOML appended to the config (extra keys, stores, `[auth.jwks]`, ...).
    pub extra: String,
    /// Replaces the `[auth]` table's settings (issuer, audience, ...).
    pub auth_settings: String,
    /// Bind this port instead of a random one (webhook tests).
    pub port: Option<u16>,
    /// Redis settings (`timeout_ms = 300`), when `redis` is on; and the URL to use instead of the shared one.
    pub redis_settings: String,
    pub redis_url: Option<String>,
    /// Replaces the `url = ...` line of `[redis]` (`cluster_urls = [...]`, `sentinel_urls = [...]`).
    pub redis_connection: Option<String>,
    /// Share Redis keys with another app (replicas); default: a prefix of this test's own.
    pub redis_prefix: Option<String>,
    /// Policy directory instead of tests/fixtures/policies.
    pub policies_dir: Option<PathBuf>,
    /// More settings in `[policies]` (`watch_seconds = 1`).
    pub policies_settings: String,
    /// More settings in `[server]` (`cors_origins = [...]`).
    pub server_settings: String,
}

#[allow(dead_code)]
pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub http: reqwest::Client,
    pub redis_prefix: String,
    pub stream: String,
    pub state: actix_web::web::Data<presign_broker::state::AppState>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(AppOptions::default()).await
    }

    pub async fn spawn_with(opts: AppOptions) -> Self {
        Self::try_spawn_with(opts)
            .await
            .unwrap_or_else(|e| panic!("app: {e}"))
    }

    /// Like `spawn_with`, but a start-up error is returned (tests of start-up checks).
    pub async fn try_spawn_with(opts: AppOptions) -> Result<Self, String> {
        let listener =
            TcpListener::bind(("127.0.0.1", opts.port.unwrap_or(0))).expect("bind a loopback port");
        let port = listener.local_addr().expect("local addr").port();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let redis_prefix = opts
            .redis_prefix
            .clone()
            .unwrap_or_else(|| format!("pb-test:{id}:"));
        let stream = format!("{redis_prefix}events");
        let redis = if opts.redis {
            let connection = opts.redis_connection.clone().unwrap_or_else(|| {
                format!(
                    "url = \"{}\"",
                    opts.redis_url.clone().unwrap_or_else(Services::redis_url)
                )
            });
            format!(
                "[redis]\n{connection}\nstream = \"{stream}\"\nkey_prefix = \"{redis_prefix}\"\n{}\n",
                opts.redis_settings
            )
        } else {
            String::new()
        };
        let text = format!(
            r#"
[server]
bind = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"
{server_settings}

[auth]
roles_claim = "roles"
leeway_seconds = 30
{auth_settings}

[[auth.keys]]
kid = "test"
algorithm = "HS256"
secret = "{HS_SECRET}"

[callbacks]
ticket_secret = "integration-test-ticket-secret"

[policies]
dir = "{policies}"
{policies_settings}

{redis}

[stores.media]
provider = "s3"
endpoint = "{s3_endpoint}"
region = "us-east-1"
bucket = "{bucket}"
path_style = true
access_key = "{ak}"
secret_key = "{sk}"
max_expires_seconds = 7200

[stores.media.callback]
webhook_token = "{webhook_token}"

[stores.wx]
provider = "cos"
bucket = "examplebucket-1250000000"
region = "ap-guangzhou"
secret_id = "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q"
secret_key = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz"

[stores.qn]
provider = "qiniu"
bucket = "my-bucket"
upload_url = "https://up-z2.qiniup.com"
download_domain = "https://cdn.example.com"
access_key = "MY_ACCESS_KEY"
secret_key = "MY_SECRET_KEY"
callback = true

{extra}
"#,
            auth_settings = opts.auth_settings,
            server_settings = opts.server_settings,
            policies = opts
                .policies_dir
                .clone()
                .unwrap_or_else(|| fixture("policies"))
                .display(),
            policies_settings = opts.policies_settings,
            s3_endpoint = Services::s3_endpoint(),
            bucket = Services::s3_bucket(),
            ak = Services::s3_access_key(),
            sk = Services::s3_secret_key(),
            webhook_token = Services::webhook_token(),
            extra = opts.extra,
        );
        let config =
            Config::parse("test.toml", &text, None).unwrap_or_else(|e| panic!("test config: {e}"));
        let app = Application::build(config, Some(listener))
            .await
            .map_err(|e| e.to_string())?;
        let state = app.state();
        tokio::spawn(app.run_until_stopped());
        Ok(Self {
            address: format!("http://127.0.0.1:{port}"),
            port,
            http: reqwest::Client::new(),
            redis_prefix,
            stream,
            state,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// POSTs JSON with a bearer token.
    pub async fn post(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// POSTs JSON and returns (status, JSON body).
    pub async fn post_json(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        let res = self.post(path, token, body).await;
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }
}

/// A valid HS256 token for `sub` with `roles`, valid for an hour.
pub fn token(sub: &str, roles: &[&str]) -> String {
    token_with(json!({"sub": sub, "roles": roles}))
}

/// An HS256 token (kid "test") with these claims; `exp` added unless present (use null to drop it).
pub fn token_with(claims: Value) -> String {
    sign(
        Algorithm::HS256,
        Some("test"),
        &EncodingKey::from_secret(HS_SECRET.as_bytes()),
        claims,
    )
}

pub fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: Value) -> String {
    let mut map: Map<String, Value> = claims.as_object().cloned().unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    map.entry("exp").or_insert(json!(now + 3600));
    map.entry("iat").or_insert(json!(now));
    map.retain(|_, v| !v.is_null());
    let mut header = Header::new(alg);
    header.kid = kid.map(String::from);
    jsonwebtoken::encode(&header, &map, key).expect("sign token")
}

/// Asserts a problem+json answer with this status and code; returns the body.
pub async fn assert_problem(res: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status().as_u16(), status, "status");
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert_eq!(ct, "application/problem+json", "content type");
    let request_id = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let body: Value = res.json().await.expect("problem body");
    assert_eq!(body["code"], code, "code in {body}");
    assert_eq!(body["status"], status, "status in {body}");
    assert_eq!(body["type"], "about:blank");
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    assert_eq!(
        body["request_id"].as_str(),
        request_id.as_deref(),
        "request_id matches the header"
    );
    body
}

/// A loopback HTTP server answering every request with a body the test can change, recording request lines.
pub struct LoopbackServer {
    pub base: String,
    body: std::sync::Arc<std::sync::Mutex<String>>,
    hits: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl LoopbackServer {
    pub async fn start(body: &str) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let body = std::sync::Arc::new(std::sync::Mutex::new(body.to_string()));
        let hits = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (b, h) = (body.clone(), hits.clone());
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let mut buf = vec![0u8; 8192];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                let request_line = String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                h.lock().expect("lock").push(request_line);
                let text = b.lock().map(|t| t.clone()).unwrap_or_default();
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                    text.len()
                );
                let _ = sock.write_all(reply.as_bytes()).await;
            }
        });
        Self { base, body, hits }
    }

    pub fn set_body(&self, body: &str) {
        *self.body.lock().expect("lock") = body.to_string();
    }

    /// Request lines received so far (`GET /path HTTP/1.1`).
    pub fn hits(&self) -> Vec<String> {
        self.hits.lock().expect("lock").clone()
    }
}

/// A Redis connection for checking what the broker recorded.
pub async fn redis_conn(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis reachable (scripts/services.sh start)")
}

impl TestApp {
    /// The events recorded in this test's stream, oldest first.
    pub async fn recorded_events(&self, redis_url: &str) -> Vec<Value> {
        let mut conn = redis_conn(redis_url).await;
        let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
            .arg(&self.stream)
            .arg("-")
            .arg("+")
            .query_async::<redis::Value>(&mut conn)
            .await
            .map(parse_xrange)
            .expect("XRANGE");
        entries
            .into_iter()
            .flat_map(|(_, fields)| {
                fields
                    .into_iter()
                    .filter(|(k, _)| k == "event")
                    .map(|(_, v)| serde_json::from_str(&v).expect("event json"))
            })
            .collect()
    }
}

fn parse_xrange(v: redis::Value) -> Vec<(String, Vec<(String, String)>)> {
    let text = |v: &redis::Value| match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        redis::Value::SimpleString(s) => s.clone(),
        other => format!("{other:?}"),
    };
    let redis::Value::Array(entries) = v else {
        return Vec::new();
    };
    entries
        .into_iter()
        .filter_map(|e| match e {
            redis::Value::Array(pair) if pair.len() == 2 => {
                let id = text(&pair[0]);
                let redis::Value::Array(kv) = &pair[1] else {
                    return None;
                };
                let fields = kv
                    .chunks(2)
                    .filter(|c| c.len() == 2)
                    .map(|c| (text(&c[0]), text(&c[1])))
                    .collect();
                Some((id, fields))
            }
            _ => None,
        })
        .collect()
}
