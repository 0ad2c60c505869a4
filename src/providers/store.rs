//! A configured store: its provider's signer plus the broker-side settings (expiry bounds, callbacks).
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::{ProviderConfig, S3CallbackConfig, StoreConfig};

use super::cos::{CosStore, CosStoreConfig};
use super::qiniu::{QiniuStore, QiniuStoreConfig};
use super::s3::{Credentials, S3Store, S3StoreConfig};

/// Largest object a single POST/PUT may carry when the rule sets no `max_size` (S3's and COS's own cap).
pub const DEFAULT_MAX_UPLOAD_SIZE: u64 = 5 << 30;

pub struct Store {
    pub name: String,
    pub bucket: String,
    pub default_expires_seconds: u64,
    pub max_expires_seconds: u64,
    pub backend: Backend,
}

pub enum Backend {
    S3 {
        store: S3Store,
        callback: Option<S3Callbacks>,
    },
    Cos(CosStore),
    Qiniu {
        store: QiniuStore,
        callback: bool,
    },
}

/// How an S3-family store's callbacks are checked: a webhook bearer token and/or SNS topics.
pub struct S3Callbacks {
    webhook_token: Option<Vec<u8>>,
    pub sns_topic_arns: Vec<String>,
    pub sns_cert_url_pattern: regex::Regex,
}

const TOKEN_COMPARE_KEY: &[u8] = b"presign-broker webhook token comparison";

impl S3Callbacks {
    fn new(c: &S3CallbackConfig) -> Result<Self, String> {
        Ok(Self {
            webhook_token: c
                .webhook_token
                .as_ref()
                .map(|t| token_digest(t.expose().as_bytes())),
            sns_topic_arns: c.sns_topic_arns.clone(),
            sns_cert_url_pattern: regex::Regex::new(&c.sns_cert_url_pattern)
                .map_err(|e| format!("callback.sns_cert_url_pattern: {e}"))?,
        })
    }

    pub fn accepts_webhooks(&self) -> bool {
        self.webhook_token.is_some()
    }

    /// Constant-time comparison of a presented bearer token with the configured one.
    pub fn webhook_token_matches(&self, presented: &[u8]) -> bool {
        let Some(expected) = &self.webhook_token else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(TOKEN_COMPARE_KEY)
            .unwrap_or_else(|_| unreachable!("any key length"));
        mac.update(presented);
        mac.verify_slice(expected).is_ok()
    }
}

/// Both sides go through the same HMAC, so the comparison time says nothing about the token.
fn token_digest(token: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(TOKEN_COMPARE_KEY)
        .unwrap_or_else(|_| unreachable!("any key length"));
    mac.update(token);
    mac.finalize().into_bytes().to_vec()
}

impl Store {
    pub fn build(name: &str, config: &StoreConfig) -> Result<Self, String> {
        let (bucket, backend) = match &config.provider {
            ProviderConfig::S3 {
                endpoint,
                region,
                bucket,
                path_style,
                access_key,
                secret_key,
                session_token,
                callback,
            } => {
                let store = S3Store::new(S3StoreConfig {
                    endpoint: endpoint.clone(),
                    region: region.clone(),
                    bucket: bucket.clone(),
                    path_style: *path_style,
                    credentials: Credentials {
                        access_key: access_key.expose().to_string(),
                        secret_key: secret_key.expose().to_string(),
                        session_token: session_token.as_ref().map(|t| t.expose().to_string()),
                    },
                })?;
                let callback = callback.as_ref().map(S3Callbacks::new).transpose()?;
                (bucket, Backend::S3 { store, callback })
            }
            ProviderConfig::Cos {
                bucket,
                region,
                endpoint,
                secret_id,
                secret_key,
                session_token,
            } => {
                let store = CosStore::new(CosStoreConfig {
                    bucket: bucket.clone(),
                    region: region.clone(),
                    secret_id: secret_id.expose().to_string(),
                    secret_key: secret_key.expose().to_string(),
                    session_token: session_token.as_ref().map(|t| t.expose().to_string()),
                    endpoint: endpoint.clone(),
                })?;
                (bucket, Backend::Cos(store))
            }
            ProviderConfig::Qiniu {
                bucket,
                upload_url,
                download_domain,
                rs_host,
                access_key,
                secret_key,
                callback,
            } => {
                let store = QiniuStore::new(QiniuStoreConfig {
                    bucket: bucket.clone(),
                    upload_url: upload_url.clone(),
                    download_domain: download_domain.clone(),
                    access_key: access_key.expose().to_string(),
                    secret_key: secret_key.expose().to_string(),
                    rs_host: rs_host.clone(),
                })?;
                (
                    bucket,
                    Backend::Qiniu {
                        store,
                        callback: *callback,
                    },
                )
            }
        };
        Ok(Self {
            name: name.to_string(),
            bucket: bucket.clone(),
            default_expires_seconds: config.default_expires_seconds,
            max_expires_seconds: config.max_expires_seconds,
            backend,
        })
    }

    pub fn provider(&self) -> &'static str {
        match self.backend {
            Backend::S3 { .. } => "s3",
            Backend::Cos(_) => "cos",
            Backend::Qiniu { .. } => "qiniu",
        }
    }

    /// The S3 signer and client, for the calls only S3-compatible stores offer (multipart).
    pub fn s3(&self) -> Option<&S3Store> {
        match &self.backend {
            Backend::S3 { store, .. } => Some(store),
            _ => None,
        }
    }

    /// The expiry actually granted: the request (or the store default), capped by the rule and the store.
    pub fn effective_expiry(&self, requested: Option<u64>, rule_max: Option<u64>) -> u64 {
        let wanted = requested.unwrap_or(self.default_expires_seconds).max(1);
        wanted
            .min(self.max_expires_seconds)
            .min(rule_max.unwrap_or(u64::MAX))
    }
}
