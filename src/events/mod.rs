//! Where upload events go: recorded exactly once per idempotency key, atomically with the key.
pub mod memory;
pub mod redis;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The normalized upload event of docs/API.md (stream field `event`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UploadEvent {
    pub id: String,
    pub provider: String,
    pub store: String,
    pub bucket: String,
    pub key: String,
    pub size: Option<u64>,
    pub etag: String,
    pub content_type: Option<String>,
    pub subject: Option<String>,
    pub received_at: String,
    /// How the broker learned of it: `qiniu-callback`, `minio-webhook`, `seaweedfs-webhook`, `sns`, `confirm`.
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub version_id: Option<String>,
    /// Set by a confirm that found the object breaking its rule, so a backend can clean it up.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub rejected: bool,
}

impl UploadEvent {
    /// The object's identity: provider family + bucket + key + etag (+ version), the same from every source.
    pub fn idempotency_id(&self) -> String {
        let family = if self.provider == "qiniu" {
            "qiniu"
        } else {
            self.provider.as_str()
        };
        let mut h = Sha256::new();
        for part in [
            family,
            &self.bucket,
            &self.key,
            &self.etag,
            self.version_id.as_deref().unwrap_or(""),
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        format!("{family}:{}", hex::encode(h.finalize()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    New,
    Duplicate,
}

#[derive(Debug, thiserror::Error)]
#[error("event store unavailable: {0}")]
pub struct StoreUnavailable(pub String);

/// Memory (dev, single process) or Redis.
pub enum EventStore {
    Memory(memory::MemoryStore),
    Redis(std::sync::Arc<redis::RedisStore>),
}

impl EventStore {
    /// Records the event unless any of `ids` was seen; the ids and the event are written in one atomic step.
    pub async fn record(
        &self,
        ids: &[String],
        event: &UploadEvent,
    ) -> Result<Recorded, StoreUnavailable> {
        let json = serde_json::to_string(event).map_err(|e| StoreUnavailable(e.to_string()))?;
        match self {
            Self::Memory(m) => Ok(m.record(ids, json)),
            Self::Redis(r) => r.record(ids, &json).await,
        }
    }

    pub async fn ping(&self) -> Result<(), StoreUnavailable> {
        match self {
            Self::Memory(_) => Ok(()),
            Self::Redis(r) => r.ping().await,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Memory(_) => "memory",
            Self::Redis(_) => "redis",
        }
    }
}
