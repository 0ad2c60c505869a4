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

pub struct RedisStore {
    pool: Pool,
    script: Script,
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
