//! A configured store: a bucket, its provider, its expiry bounds and how its callbacks are verified.
use crate::callbacks::{CallbackVerifier, OssVerifier, QiniuVerifier, S3Verifier};
use crate::config::{ProviderConfig, StoreConfig};

use super::cos::{CosStore, CosStoreConfig};
use super::oss::{OssStore, OssStoreConfig};
use super::qiniu::{QiniuStore, QiniuStoreConfig};
use super::s3::{Credentials, S3Store, S3StoreConfig};
use super::Provider;

/// Largest object a single POST/PUT may carry when the rule sets no `max_size` (S3's and COS's own cap).
pub const DEFAULT_MAX_UPLOAD_SIZE: u64 = 5 << 30;

pub struct Store {
    pub name: String,
    pub bucket: String,
    pub default_expires_seconds: u64,
    pub max_expires_seconds: u64,
    pub provider: Box<dyn Provider>,
    /// `None`: the store takes no callbacks (404).
    pub callbacks: Option<Box<dyn CallbackVerifier>>,
}

impl Store {
    /// The one place a provider configuration becomes a provider (and a callback verifier).
    pub fn build(name: &str, config: &StoreConfig) -> Result<Self, String> {
        let (bucket, provider, callbacks): (
            &String,
            Box<dyn Provider>,
            Option<Box<dyn CallbackVerifier>>,
        ) = match &config.provider {
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
                        secret_key: secret_key.clone(),
                        session_token: session_token.as_ref().map(|t| t.expose().to_string()),
                    },
                })?;
                let callbacks = match callback {
                    Some(c) => Some(Box::new(S3Verifier::new(c)?) as Box<dyn CallbackVerifier>),
                    None => None,
                };
                (bucket, Box::new(store), callbacks)
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
                    secret_key: secret_key.clone(),
                    session_token: session_token.as_ref().map(|t| t.expose().to_string()),
                    endpoint: endpoint.clone(),
                })?;
                (bucket, Box::new(store), None)
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
                    secret_key: secret_key.clone(),
                    rs_host: rs_host.clone(),
                })?;
                let callbacks = callback.then(|| {
                    Box::new(QiniuVerifier::new(store.clone())) as Box<dyn CallbackVerifier>
                });
                (bucket, Box::new(store), callbacks)
            }
            ProviderConfig::Oss {
                bucket,
                region,
                endpoint,
                path_style,
                access_key_id,
                access_key_secret,
                security_token,
                callback,
                pub_key_url_pattern,
            } => {
                let store = OssStore::new(OssStoreConfig {
                    endpoint: endpoint.clone(),
                    region: region.clone(),
                    bucket: bucket.clone(),
                    path_style: *path_style,
                    credentials: Credentials {
                        access_key: access_key_id.expose().to_string(),
                        secret_key: access_key_secret.clone(),
                        session_token: security_token.as_ref().map(|t| t.expose().to_string()),
                    },
                })?;
                let callbacks = match callback {
                    true => Some(Box::new(OssVerifier::new(pub_key_url_pattern)?)
                        as Box<dyn CallbackVerifier>),
                    false => None,
                };
                (bucket, Box::new(store), callbacks)
            }
        };
        Ok(Self {
            name: name.to_string(),
            bucket: bucket.clone(),
            default_expires_seconds: config.default_expires_seconds,
            max_expires_seconds: config.max_expires_seconds,
            provider,
            callbacks,
        })
    }

    /// `s3`, `cos`, `qiniu`, `oss`.
    pub fn provider_name(&self) -> &'static str {
        self.provider.name()
    }

    /// The callback URL (with a ticket binding store, key and subject, accepted until `valid_until`, see
    /// `ticket::valid_until`) a credential must carry, for stores whose callbacks are verified through a ticket.
    pub fn callback_url(
        &self,
        public_url: &str,
        ticket_key: &[u8],
        key: &str,
        subject: &str,
        valid_until: i64,
    ) -> Option<String> {
        let verifier = self.callbacks.as_ref()?;
        verifier.uses_ticket().then(|| {
            let ticket = crate::ticket::issue(ticket_key, &self.name, key, subject, valid_until);
            format!("{public_url}/v1/callbacks/{}?t={ticket}", self.name)
        })
    }

    /// The expiry actually granted: the request (or the store default), capped by the rule and the store.
    pub fn effective_expiry(&self, requested: Option<u64>, rule_max: Option<u64>) -> u64 {
        let wanted = requested.unwrap_or(self.default_expires_seconds).max(1);
        wanted
            .min(self.max_expires_seconds)
            .min(rule_max.unwrap_or(u64::MAX))
    }
}
