//! A configured store: its provider's signer plus the broker-side settings (expiry bounds).
use crate::config::{ProviderConfig, StoreConfig};

pub struct Store {
    pub name: String,
    pub default_expires_seconds: u64,
    pub max_expires_seconds: u64,
    pub backend: Backend,
}

pub enum Backend {
    S3,
    Cos,
    Qiniu,
}

impl Store {
    pub fn build(name: &str, config: &StoreConfig) -> Result<Self, String> {
        let backend = match &config.provider {
            ProviderConfig::S3 { .. } => Backend::S3,
            ProviderConfig::Cos { .. } => Backend::Cos,
            ProviderConfig::Qiniu { .. } => Backend::Qiniu,
        };
        Ok(Self {
            name: name.to_string(),
            default_expires_seconds: config.default_expires_seconds,
            max_expires_seconds: config.max_expires_seconds,
            backend,
        })
    }

    pub fn provider(&self) -> &'static str {
        match self.backend {
            Backend::S3 => "s3",
            Backend::Cos => "cos",
            Backend::Qiniu => "qiniu",
        }
    }

    /// The expiry actually granted: the request (or the store default), capped by the rule and the store.
    pub fn effective_expiry(&self, requested: Option<u64>, rule_max: Option<u64>) -> u64 {
        let wanted = requested.unwrap_or(self.default_expires_seconds).max(1);
        wanted.min(self.max_expires_seconds).min(rule_max.unwrap_or(u64::MAX))
    }
}
