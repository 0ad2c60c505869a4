//! Redis event store: one Lua script does `SET NX EX` of the idempotency keys and `XADD` of the event,
//! so a crash can never leave a key without its event, or an event twice.
use std::time::Duration;

use deadpool_redis::{Pool, PoolConfig, Runtime, Timeouts};
use redis::Script;

use super::{Recorded, StoreUnavailable};
use crate::config::RedisConfig;

/// KEYS[1] = stream, KEYS[2..] = idempotency keys; ARGV[1] = ttl seconds, ARGV[2] = event JSON.
/// A seen key makes the event a duplicate; the other keys are still set so every alias is remembered.
const RECORD_SCRIPT: &str = r#"
local seen = false
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then seen = true end
end
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], '1', 'NX', 'EX', ARGV[1])
end
if seen then return 0 end
redis.call('XADD', KEYS[1], '*', 'event', ARGV[2])
return 1
"#;

/// GCRA on Redis's own clock (one clock for every replica). KEYS[1] = bucket; ARGV[1] = interval (µs),
/// ARGV[2] = burst. Returns 0 when allowed, else the µs to wait.
const GCRA_SCRIPT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = interval * (tonumber(ARGV[2]) - 1)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if tat - now > tolerance then return tat - now - tolerance end
local new_tat = tat + interval
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1)
return 0
"#;

pub struct RedisStore {
    pool: Pool,
    script: Script,
    gcra: Script,
    stream: String,
    key_prefix: String,
    ttl_seconds: u64,
    timeout: Duration,
}

impl RedisStore {
    pub fn new(config: &RedisConfig) -> Result<Self, String> {
        let timeout = Duration::from_millis(config.timeout_ms);
        let mut cfg = deadpool_redis::Config::from_url(config.url.expose());
        // deadpool has no timeouts by default: an outage would hang requests instead of failing fast.
        cfg.pool = Some(PoolConfig {
            max_size: 32,
            timeouts: Timeouts {
                wait: Some(timeout),
                create: Some(timeout),
                recycle: Some(timeout),
            },
            ..PoolConfig::default()
        });
        let pool = cfg
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|e| format!("redis pool: {}", redact(&e.to_string())))?;
        Ok(Self {
            pool,
            script: Script::new(RECORD_SCRIPT),
            gcra: Script::new(GCRA_SCRIPT),
            stream: config.stream.clone(),
            key_prefix: config.key_prefix.clone(),
            ttl_seconds: config.idempotency_ttl_seconds,
            timeout,
        })
    }

    pub async fn record(
        &self,
        ids: &[String],
        event_json: &str,
    ) -> Result<Recorded, StoreUnavailable> {
        let mut invocation = self.script.key(&self.stream);
        for id in ids {
            invocation.key(format!("{}idem:{id}", self.key_prefix));
        }
        invocation.arg(self.ttl_seconds).arg(event_json);
        let outcome: i64 = self
            .bounded(async {
                let mut conn = self.pool.get().await.map_err(|e| e.to_string())?;
                invocation
                    .invoke_async(&mut conn)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await?;
        Ok(if outcome == 1 {
            Recorded::New
        } else {
            Recorded::Duplicate
        })
    }

    /// One request against the bucket `name`: `None` when allowed, else how long to wait.
    pub async fn gcra(&self, name: &str, interval: Duration, burst: u32) -> Result<Option<Duration>, StoreUnavailable> {
        let mut invocation = self.gcra.key(format!("{}{name}", self.key_prefix));
        invocation.arg(interval.as_micros() as u64).arg(burst);
        let wait_us: u64 = self
            .bounded(async {
                let mut conn = self.pool.get().await.map_err(|e| e.to_string())?;
                invocation.invoke_async(&mut conn).await.map_err(|e| e.to_string())
            })
            .await?;
        Ok((wait_us > 0).then(|| Duration::from_micros(wait_us)))
    }

    pub async fn ping(&self) -> Result<(), StoreUnavailable> {
        self.bounded(async {
            let mut conn = self.pool.get().await.map_err(|e| e.to_string())?;
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map_err(|e| e.to_string())
        })
        .await
        .map(drop)
    }

    /// No request waits on Redis longer than the configured timeout, whatever the pool does.
    async fn bounded<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, String>>,
    ) -> Result<T, StoreUnavailable> {
        match tokio::time::timeout(self.timeout, f).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(StoreUnavailable(redact(&e))),
            Err(_) => Err(StoreUnavailable(format!(
                "redis did not answer within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }
}

/// Redis URLs may carry a password; keep errors free of it.
fn redact(message: &str) -> String {
    match message
        .find("redis://")
        .or_else(|| message.find("rediss://"))
    {
        Some(_) => "redis connection error".to_string(),
        None => message.to_string(),
    }
}
