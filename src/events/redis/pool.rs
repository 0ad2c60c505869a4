//! One connection pool for the three topologies, without a network check on every checkout.
//!
//! deadpool-redis's managers check a connection each time it leaves the pool (`UNWATCH` + `PING` for a single
//! node, `PING` otherwise) and wait for the answer: for a one-script request (a callback, a rate-limit step)
//! that is a second Redis round trip, paid every time. [`Fresh`] wraps any of them and skips that check for a
//! connection checked out within [`TRUSTED_FOR`], unless a broken connection was seen since. What replaces it:
//! the caller hands back a connection whose command failed with [`Conn::discard`] (never pooled again) and
//! reports a broken one with [`Pool::suspect`], after which every pooled connection is checked again once.
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use deadpool::managed::{self, Manager, Metrics, RecycleResult};
use redis::aio::ConnectionLike;
use redis::{Cmd, Pipeline, RedisFuture, Value};

/// A connection checked out this recently is handed out again unchecked; an idle one is still checked, so a
/// Redis restarted during a quiet spell costs nothing.
const TRUSTED_FOR: Duration = Duration::from_secs(2);

/// A deadpool manager that delegates to `M` but checks only connections that were idle or may be broken.
pub struct Fresh<M> {
    inner: M,
    epoch: Instant,
    /// When (ns after `epoch`) a broken connection was last reported: connections last checked out before
    /// then may share its fate (a Redis restart breaks them all) and are checked on their next checkout.
    suspect_since: AtomicU64,
}

impl<M> Fresh<M> {
    pub fn new(inner: M) -> Self {
        Self {
            inner,
            epoch: Instant::now(),
            suspect_since: AtomicU64::new(0),
        }
    }

    fn nanos(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    fn suspect(&self) {
        self.suspect_since
            .fetch_max(self.nanos(Instant::now()), Ordering::Relaxed);
    }

    /// Whether a connection with these metrics may skip the check. deadpool sets `recycled` when a checkout
    /// passes recycle, so by induction every connection checked out after the last report was checked then.
    fn trusted(&self, metrics: &Metrics) -> bool {
        let last = metrics.recycled.unwrap_or(metrics.created);
        last.elapsed() < TRUSTED_FOR
            && self.nanos(last) > self.suspect_since.load(Ordering::Relaxed)
    }
}

impl<M: Manager> Manager for Fresh<M> {
    type Type = M::Type;
    type Error = M::Error;

    async fn create(&self) -> Result<M::Type, M::Error> {
        self.inner.create().await
    }

    async fn recycle(&self, conn: &mut M::Type, metrics: &Metrics) -> RecycleResult<M::Error> {
        if self.trusted(metrics) {
            return Ok(());
        }
        self.inner.recycle(conn, metrics).await
    }

    fn detach(&self, conn: &mut M::Type) {
        self.inner.detach(conn)
    }
}

type PoolOf<M> = managed::Pool<Fresh<M>>;
type ObjectOf<M> = managed::Object<Fresh<M>>;

/// The pool of whichever topology is configured.
pub enum Pool {
    Single(PoolOf<deadpool_redis::Manager>),
    Cluster(PoolOf<deadpool_redis::cluster::Manager>),
    Sentinel(PoolOf<deadpool_redis::sentinel::Manager>),
}

/// A pooled connection of any topology; commands go to the right node. Dropped, it returns to the pool.
pub enum Conn {
    Single(ObjectOf<deadpool_redis::Manager>),
    Cluster(ObjectOf<deadpool_redis::cluster::Manager>),
    Sentinel(ObjectOf<deadpool_redis::sentinel::Manager>),
}

impl Pool {
    pub fn new<M: Manager>(
        manager: M,
        config: managed::PoolConfig,
        wrap: fn(PoolOf<M>) -> Pool,
    ) -> Result<Self, managed::BuildError> {
        managed::Pool::builder(Fresh::new(manager))
            .config(config)
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map(wrap)
    }

    pub async fn get(&self) -> Result<Conn, String> {
        Ok(match self {
            Pool::Single(p) => Conn::Single(p.get().await.map_err(|e| e.to_string())?),
            Pool::Cluster(p) => Conn::Cluster(p.get().await.map_err(|e| e.to_string())?),
            Pool::Sentinel(p) => Conn::Sentinel(p.get().await.map_err(|e| e.to_string())?),
        })
    }

    /// A connection broke: check every pooled connection on its next checkout.
    pub fn suspect(&self) {
        match self {
            Pool::Single(p) => p.manager().suspect(),
            Pool::Cluster(p) => p.manager().suspect(),
            Pool::Sentinel(p) => p.manager().suspect(),
        }
    }
}

impl Conn {
    /// Closes the connection instead of pooling it (its command failed, so it may be broken or in a state
    /// such as a pending reply that the next user must not inherit).
    pub fn discard(self) {
        match self {
            Conn::Single(c) => drop(managed::Object::take(c)),
            Conn::Cluster(c) => drop(managed::Object::take(c)),
            Conn::Sentinel(c) => drop(managed::Object::take(c)),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    struct Counting(std::sync::atomic::AtomicUsize);

    impl Manager for Counting {
        type Type = ();
        type Error = ();
        async fn create(&self) -> Result<(), ()> {
            Ok(())
        }
        async fn recycle(&self, _: &mut (), _: &Metrics) -> RecycleResult<()> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
    }

    fn checks(m: &Fresh<Counting>) -> usize {
        m.inner.0.load(Ordering::Relaxed)
    }

    #[tokio::test]
    async fn only_idle_or_suspect_connections_are_checked() {
        let m = Fresh::new(Counting(Default::default()));
        let now = Instant::now();
        let recent = Metrics {
            created: now,
            recycled: Some(now),
            recycle_count: 1,
        };
        m.recycle(&mut (), &recent).await.expect("recycle");
        assert_eq!(checks(&m), 0, "used just now: no round trip");

        let idle = Metrics {
            created: now - TRUSTED_FOR * 3,
            recycled: Some(now - TRUSTED_FOR * 2),
            recycle_count: 1,
        };
        m.recycle(&mut (), &idle).await.expect("recycle");
        assert_eq!(checks(&m), 1, "idle: checked");

        std::thread::sleep(Duration::from_millis(2));
        m.suspect();
        m.recycle(&mut (), &recent).await.expect("recycle");
        assert_eq!(
            checks(&m),
            2,
            "checked out before a broken connection was seen"
        );

        std::thread::sleep(Duration::from_millis(2));
        let after = Metrics {
            created: now,
            recycled: Some(Instant::now()),
            recycle_count: 2,
        };
        m.recycle(&mut (), &after).await.expect("recycle");
        assert_eq!(checks(&m), 2, "checked out (and so checked) since");

        let created_after = Metrics {
            created: Instant::now(),
            recycled: None,
            recycle_count: 0,
        };
        m.recycle(&mut (), &created_after).await.expect("recycle");
        assert_eq!(checks(&m), 2, "a connection made since is trusted");
    }
}
