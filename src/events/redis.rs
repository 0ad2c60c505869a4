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

/// Readiness: the record script's keys (stream + a key under the prefix) in one write, so a Redis that answers
/// PING but cannot record (CROSSSLOT on a cluster, a read-only replica, out of memory) is not ready.
const PROBE_SCRIPT: &str = r#"
redis.call('SET', KEYS[2], '1', 'PX', 10000)
return redis.call('EXISTS', KEYS[1])
"#;

/// Redis Cluster's hash tag of a key: the text between the first `{` and the next `}`, when not empty.
fn hash_tag(key: &str) -> Option<&str> {
    let open = key.find('{')?;
    let close = key[open + 1..].find('}')?;
    (close > 0).then(|| &key[open + 1..open + 1 + close])
}

/// On a cluster the record script touches the stream and idempotency keys at once: they must share one
/// hash slot, which only a common `{hash tag}` guarantees. Refused at start-up, never a 503 per callback.
pub fn check_cluster_keys(stream: &str, key_prefix: &str) -> Result<(), String> {
    match (hash_tag(stream), hash_tag(key_prefix)) {
        (Some(a), Some(b)) if a == b => Ok(()),
        _ => Err(format!(
            "[redis] with cluster_urls, `stream` ({stream:?}) and `key_prefix` ({key_prefix:?}) must contain the \
             same {{hash tag}} so that every key of the record script lives in one hash slot; for example \
             stream = \"{{presign-broker}}:events\" and key_prefix = \"{{presign-broker}}:\""
        )),
    }
}

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
        if matches!(config.topology, RedisTopology::Cluster(_)) {
            check_cluster_keys(&config.stream, &config.key_prefix)?;
        }
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
        self.probe().await.map_err(|(_, e)| e)
    }

    /// Whether an event could be recorded now; on failure a word for `/readyz` (`unreachable`: no answer;
    /// `cannot_record`: it answers but refuses the write) and the (redacted) detail for the log.
    pub async fn probe(&self) -> Result<(), (&'static str, StoreUnavailable)> {
        let mut conn = match tokio::time::timeout(self.timeout, self.pool.get()).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(("unreachable", StoreUnavailable(redact(&e)))),
            Err(_) => {
                let e = format!(
                    "redis did not answer within {} ms",
                    self.timeout.as_millis()
                );
                return Err(("unreachable", StoreUnavailable(e)));
            }
        };
        let script = Script::new(PROBE_SCRIPT);
        let mut probe = script.key(&self.stream);
        probe.key(format!("{}readyz", self.key_prefix));
        match tokio::time::timeout(self.timeout, probe.invoke_async::<i64>(&mut conn)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() => {
                Err(("unreachable", StoreUnavailable(redact(&e.to_string()))))
            }
            Ok(Err(e)) => Err(("cannot_record", StoreUnavailable(redact(&e.to_string())))),
            Err(_) => Err((
                "unreachable",
                StoreUnavailable(format!(
                    "redis did not answer within {} ms",
                    self.timeout.as_millis()
                )),
            )),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_keys_need_one_shared_hash_tag() {
        assert!(check_cluster_keys("{pb}:events", "{pb}:").is_ok());
        assert!(check_cluster_keys("x{pb}events", "{pb}").is_ok());
        for (stream, prefix) in [
            ("presign-broker:events", "presign-broker:"),
            ("{a}:events", "{b}:"),
            ("{pb}:events", "pb:"),
            ("{}:events", "{}:"),
            ("{pb:events", "{pb:"),
        ] {
            let e = check_cluster_keys(stream, prefix).expect_err(stream);
            assert!(
                e.contains("hash tag") && e.contains("{presign-broker}"),
                "{e}"
            );
        }
    }
}
