//! Redis event store: one Lua script does `SET NX EX` of the idempotency keys and `XADD` of the event,
//! so a crash can never leave a key without its event, or an event twice.
mod pool;

use std::time::Duration;

use deadpool_redis::{PoolConfig, Timeouts};
use redis::{FromRedisValue, RedisError, Script, ScriptInvocation};

use self::pool::Pool;
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

pub struct RedisStore {
    pool: Pool,
    script: Script,
    gcra: Script,
    probe: Script,
    stream: String,
    key_prefix: String,
    ttl_seconds: u64,
    timeout: Duration,
}

/// Why a Redis call failed: no (timely) answer, or an answer refusing it (read-only replica, CROSSSLOT, OOM).
enum Failure {
    Unreachable(String),
    Refused(String),
}

impl From<Failure> for StoreUnavailable {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Unreachable(e) | Failure::Refused(e) => StoreUnavailable(e),
        }
    }
}

/// The connection, not the command, failed: Redis restarted or the socket died.
fn broken(e: &RedisError) -> bool {
    e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_unrecoverable_error()
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
            RedisTopology::Single(url) => Pool::new(
                deadpool_redis::Manager::new(url.expose()).map_err(|e| failed(&e))?,
                pool_config,
                Pool::Single,
            ),
            RedisTopology::Cluster(list) => Pool::new(
                deadpool_redis::cluster::Manager::new(urls(list), false).map_err(|e| failed(&e))?,
                pool_config,
                Pool::Cluster,
            ),
            RedisTopology::Sentinel { urls: list, master } => Pool::new(
                deadpool_redis::sentinel::Manager::new(
                    urls(list),
                    master.clone(),
                    None,
                    deadpool_redis::sentinel::SentinelServerType::Master,
                )
                .map_err(|e| failed(&e))?,
                pool_config,
                Pool::Sentinel,
            ),
        }
        .map_err(|e| failed(&e))?;
        Ok(Self {
            pool,
            script: Script::new(RECORD_SCRIPT),
            gcra: Script::new(GCRA_SCRIPT),
            probe: Script::new(PROBE_SCRIPT),
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
        let outcome: i64 = self.invoke(&invocation).await?;
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
        let wait_us: u64 = self.invoke(&invocation).await?;
        Ok((wait_us > 0).then(|| Duration::from_micros(wait_us)))
    }

    pub async fn ping(&self) -> Result<(), StoreUnavailable> {
        self.probe().await.map_err(|(_, e)| e)
    }

    /// Whether an event could be recorded now; on failure a word for `/readyz` (`unreachable`: no answer;
    /// `cannot_record`: it answers but refuses the write) and the (redacted) detail for the log.
    pub async fn probe(&self) -> Result<(), (&'static str, StoreUnavailable)> {
        let mut probe = self.probe.key(&self.stream);
        probe.key(format!("{}readyz", self.key_prefix));
        match self.invoke::<i64>(&probe).await {
            Ok(_) => Ok(()),
            Err(Failure::Unreachable(e)) => Err(("unreachable", StoreUnavailable(e))),
            Err(Failure::Refused(e)) => Err(("cannot_record", StoreUnavailable(e))),
        }
    }

    /// Runs a script on a pooled connection, all of it (checkout, a retry) within the configured timeout so an
    /// outage fails fast. A connection whose command failed is closed, not pooled; a broken one also has every
    /// pooled connection checked again, and the script one more try on a checked or new connection, so a
    /// Redis restart costs no request (see pool.rs). Repeating is safe: when only the reply was lost, the
    /// record script's keys make the repeat a duplicate, the probe's write is idempotent, and one rate-limit
    /// step is charged twice, which beats falling back to the per-process bucket for a while.
    async fn invoke<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, Failure> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let too_slow = || {
            Failure::Unreachable(format!(
                "redis did not answer within {} ms",
                self.timeout.as_millis()
            ))
        };
        let mut retried = false;
        loop {
            let mut conn = match tokio::time::timeout_at(deadline, self.pool.get()).await {
                Ok(Ok(conn)) => conn,
                Ok(Err(e)) => return Err(Failure::Unreachable(redact(&e))),
                Err(_) => return Err(too_slow()),
            };
            let e =
                match tokio::time::timeout_at(deadline, invocation.invoke_async(&mut conn)).await {
                    Ok(Ok(v)) => return Ok(v),
                    Ok(Err(e)) => e,
                    Err(_) => {
                        // A half-open socket never answers: do not pool it.
                        conn.discard();
                        self.pool.suspect();
                        return Err(too_slow());
                    }
                };
            conn.discard();
            if !broken(&e) {
                return Err(Failure::Refused(redact(&e.to_string())));
            }
            self.pool.suspect();
            if retried {
                return Err(Failure::Unreachable(redact(&e.to_string())));
            }
            retried = true;
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
