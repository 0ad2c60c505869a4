//! Per-subject rate limits (JWT `sub`, not IP: mini-program users share NATs). With Redis the limit is one
//! GCRA bucket shared by every replica; without it, or while Redis is unreachable, each process keeps its own.
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use governor::{DefaultKeyedRateLimiter, Quota};

use crate::config::RateLimitConfig;
use crate::events::redis::RedisStore;

/// After a Redis error, the local bucket stands in for this long before Redis is tried again.
const REDIS_BACKOFF: Duration = Duration::from_secs(5);

pub struct RateLimiter {
    config: RateLimitConfig,
    local: DefaultKeyedRateLimiter<String>,
    redis: Option<Arc<RedisStore>>,
    /// Unix ms until which Redis is skipped.
    redis_skipped_until: AtomicU64,
}

impl RateLimiter {
    pub fn new(config: RateLimitConfig, redis: Option<Arc<RedisStore>>) -> Result<Self, String> {
        let burst = NonZeroU32::new(config.burst).ok_or("burst must be at least 1")?;
        let quota = Quota::with_period(config.interval)
            .ok_or("rate must be positive")?
            .allow_burst(burst);
        Ok(Self {
            config,
            local: DefaultKeyedRateLimiter::keyed(quota),
            redis,
            redis_skipped_until: AtomicU64::new(0),
        })
    }

    /// `Err(seconds)` when the subject must wait, for `Retry-After`.
    pub async fn check(&self, subject: &str) -> Result<(), u64> {
        if let Some(redis) = self
            .redis
            .as_ref()
            .filter(|_| now_ms() >= self.redis_skipped_until.load(Ordering::Relaxed))
        {
            // Boxed: the Redis round trip's future is kilobytes; inline it would be copied with every
            // request's authentication future, Redis configured or not.
            let name = format!("ratelimit:{subject}");
            match Box::pin(redis.gcra(&name, self.config.interval, self.config.burst)).await {
                Ok(None) => return Ok(()),
                Ok(Some(wait)) => return Err(ceil_seconds(wait)),
                Err(e) => {
                    // Credentials keep flowing when Redis is down: fall back to this process's bucket.
                    tracing::warn!(error = %e, "rate limit store unavailable; using the local limiter for a while");
                    self.redis_skipped_until.store(
                        now_ms() + REDIS_BACKOFF.as_millis() as u64,
                        Ordering::Relaxed,
                    );
                }
            }
        }
        let subject = subject.to_string();
        self.local.check_key(&subject).map_err(|not_until| {
            ceil_seconds(not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            )))
        })
    }

    /// Forgets idle subjects so memory stays bounded.
    pub fn prune(&self) {
        self.local.retain_recent();
        self.local.shrink_to_fit();
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn ceil_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0).max(u64::from(d.is_zero()))
}
