//! Redis event store: one Lua script does `SET NX EX` of the idempotency keys and `XADD` of the event,
//! so a crash can never leave a key without its event, or an event twice.
use std::time::Duration;

use deadpool_redis::{PoolConfig, Runtime, Timeouts};
use redis::aio::ConnectionLike;
use redis::{Cmd, Pipeline, RedisFuture, Script, Value};

use super::{Recorded, StoreUnavailable};
use crate::config::{RedisConfig, RedisTopology};

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

/// The pool of whichever topology is configured.
enum Pool {
    Single(deadpool_redis::Pool),
    Cluster(deadpool_redis::cluster::Pool),
    Sentinel(deadpool_redis::sentinel::Pool),
}

/// A pooled connection of any topology; commands go to the right node.
enum Conn {
    Single(deadpool_redis::Connection),
    Cluster(deadpool_redis::cluster::Connection),
    Sentinel(deadpool_redis::sentinel::Connection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
            Conn::Sentinel(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Sentinel(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
            Conn::Sentinel(c) => c.get_db(),
        }
    }
}

impl Pool {
    async fn get(&self) -> Result<Conn, String> {
        Ok(match self {
            Pool::Single(p) => Conn::Single(p.get().await.map_err(|e| e.to_string())?),
            Pool::Cluster(p) => Conn::Cluster(p.get().await.map_err(|e| e.to_string())?),
            Pool::Sentinel(p) => Conn::Sentinel(p.get().await.map_err(|e| e.to_string())?),
        })
    }
}

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
        // deadpool has no timeouts by default: an outage would hang requests instead of failing fast.
        let pool_config = PoolConfig {
            max_size: 32,
            timeouts: Timeouts {
                wait: Some(timeout),
                create: Some(timeout),
                recycle: Some(timeout),
            },
            ..PoolConfig::default()
        };
        let urls = |list: &[crate::config::Secret]| {
            list.iter()
                .map(|u| u.expose().to_string())
                .collect::<Vec<_>>()
        };
        let failed = |e: &dyn std::fmt::Display| format!("redis pool: {}", redact(&e.to_string()));
        let pool = match &config.topology {
            RedisTopology::Single(url) => {
                let mut cfg = deadpool_redis::Config::from_url(url.expose());
                cfg.pool = Some(pool_config);
                Pool::Single(
                    cfg.create_pool(Some(Runtime::Tokio1))
                        .map_err(|e| failed(&e))?,
                )
            }
            RedisTopology::Cluster(list) => {
                let mut cfg = deadpool_redis::cluster::Config::from_urls(urls(list));
                cfg.pool = Some(pool_config);
                Pool::Cluster(
                    cfg.create_pool(Some(Runtime::Tokio1))
                        .map_err(|e| failed(&e))?,
                )
            }
            RedisTopology::Sentinel { urls: list, master } => {
                let mut cfg = deadpool_redis::sentinel::Config::from_urls(
                    urls(list),
                    master.clone(),
                    deadpool_redis::sentinel::SentinelServerType::Master,
                );
                cfg.pool = Some(pool_config);
                Pool::Sentinel(
                    cfg.create_pool(Some(Runtime::Tokio1))
                        .map_err(|e| failed(&e))?,
                )
            }
        };
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
                let mut conn = self.pool.get().await?;
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
    pub async fn gcra(
        &self,
        name: &str,
        interval: Duration,
        burst: u32,
    ) -> Result<Option<Duration>, StoreUnavailable> {
        let mut invocation = self.gcra.key(format!("{}{name}", self.key_prefix));
        invocation.arg(interval.as_micros() as u64).arg(burst);
        let wait_us: u64 = self
            .bounded(async {
                let mut conn = self.pool.get().await?;
                invocation
                    .invoke_async(&mut conn)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await?;
        Ok((wait_us > 0).then(|| Duration::from_micros(wait_us)))
    }

    pub async fn ping(&self) -> Result<(), StoreUnavailable> {
        self.bounded(async {
            let mut conn = self.pool.get().await?;
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
