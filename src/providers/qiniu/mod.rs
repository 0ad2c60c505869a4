//! Qiniu Kodo: form-upload tokens, private download URLs, the management `stat` call and upload
//! callback verification. Everything but `stat` is pure.

pub mod callback;
mod provider;
pub mod resumable;
pub(crate) mod signing;
mod stat;
pub mod token;
mod upload;

use std::fmt;

use crate::config::Secret;
use std::time::Duration;

use crate::providers::common;

use crate::providers::types::{FormUpload, ObjectInfo, ProviderError, SignedUrl, UploadGrant};

pub use callback::{CallbackError, CallbackRequest};
pub use token::PutPolicy;

use stat::ManagementHost;

/// Management host of the current stat doc (developer.qiniu.com/kodo/1308/stat). Region hosts
/// (`rs-z2.qiniuapi.com`) work too.
const DEFAULT_RS_HOST: &str = "https://rs.qiniuapi.com";
/// Total time allowed for one stat call.
const STAT_TIMEOUT: Duration = Duration::from_secs(10);
/// Settings of one Qiniu store.
#[derive(Clone)]
pub struct QiniuStoreConfig {
    /// Bucket name, the part of `scope` before `:`.
    pub bucket: String,
    /// The bucket region's upload host, e.g. `https://up-z2.qiniup.com` (a wrong region gives
    /// `400 incorrect region`).
    pub upload_url: String,
    /// Origin private download URLs are built on, e.g. `https://cdn.example.com`.
    pub download_domain: Option<String>,
    /// AK: appears in tokens and URLs.
    pub access_key: String,
    /// SK: only ever used as an HMAC key; redacted from Debug.
    pub secret_key: Secret,
    /// Management host for stat; default `https://rs.qiniuapi.com`.
    pub rs_host: Option<String>,
}

impl fmt::Debug for QiniuStoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QiniuStoreConfig")
            .field("bucket", &self.bucket)
            .field("upload_url", &self.upload_url)
            .field("download_domain", &self.download_domain)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("rs_host", &self.rs_host)
            .finish()
    }
}

/// Where a Qiniu upload callback should go; the broker's ticket is already in the URL's query.
#[derive(Debug, Clone, Copy)]
pub struct CallbackSpec<'a> {
    /// Full `callbackUrl`.
    pub url: &'a str,
}

/// A configured Qiniu bucket with its credentials.
#[derive(Clone)]
pub struct QiniuStore {
    bucket: String,
    upload_url: String,
    download_domain: Option<String>,
    access_key: String,
    secret_key: Secret,
    /// HMAC-SHA1 state keyed with `secret_key` once; tokens and callback checks clone it.
    keyed_secret: signing::HmacSha1,
    rs: ManagementHost,
}

impl fmt::Debug for QiniuStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QiniuStore")
            .field("bucket", &self.bucket)
            .field("upload_url", &self.upload_url)
            .field("download_domain", &self.download_domain)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("rs_host", &self.rs.origin)
            .finish()
    }
}

impl QiniuStore {
    /// Validates the settings; the error names the offending field, never a secret.
    pub fn new(cfg: QiniuStoreConfig) -> Result<QiniuStore, String> {
        // A `:` would split the scope `bucket:key`; `/` and whitespace are never in bucket names.
        if !is_plain(&cfg.bucket, &[':', '/']) {
            return Err("qiniu bucket must be non-empty, without ':', '/' or whitespace".into());
        }
        // The AK is the part before `:` in tokens and `Authorization` values.
        if !is_plain(&cfg.access_key, &[':']) {
            return Err("qiniu access_key must be non-empty, without ':' or whitespace".into());
        }
        // A pasted key with a trailing newline or space is the classic `bad token` (docs/PROVIDERS.md, Qiniu).
        let sk = cfg.secret_key.expose();
        if sk.is_empty() || sk.trim() != sk {
            return Err(
                "qiniu secret_key must be non-empty, without leading or trailing whitespace".into(),
            );
        }
        let upload_url = origin_of("upload_url", &cfg.upload_url)?;
        let download_domain = cfg
            .download_domain
            .as_deref()
            .map(|domain| origin_of("download_domain", domain))
            .transpose()?;
        let rs = management_host(cfg.rs_host.as_deref().unwrap_or(DEFAULT_RS_HOST))?;
        Ok(QiniuStore {
            bucket: cfg.bucket,
            upload_url,
            download_domain,
            keyed_secret: signing::hmac_sha1(cfg.secret_key.expose()),
            access_key: cfg.access_key,
            secret_key: cfg.secret_key,
            rs,
        })
    }

    /// Form-upload credential: POST `multipart/form-data` with `token`, `key`, then `file`, to the
    /// upload host. The policy decision is inside the signed token (see `upload::broker_put_policy_json`).
    pub fn form_upload(&self, g: &UploadGrant, callback: Option<&CallbackSpec>) -> FormUpload {
        let policy = upload::broker_put_policy_json(&self.bucket, g, callback);
        let token = token::upload_token_keyed(&self.access_key, &self.keyed_secret, &policy);
        FormUpload {
            url: self.upload_url.clone(),
            fields: vec![("token", token), ("key", g.key.to_owned())],
        }
    }

    /// `GET <download_domain>/<percent-encoded key>?e=<expires_at>&token=...`.
    pub fn private_download_url(
        &self,
        key: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<SignedUrl, String> {
        let domain = self
            .download_domain
            .as_deref()
            .ok_or("this qiniu store has no download_domain")?;
        if expires_at <= now {
            return Err("a download URL must expire after it is made".into());
        }
        let base_url = key_url(domain, key);
        Ok(SignedUrl {
            method: "GET",
            url: token::private_download_url(
                &self.access_key,
                self.secret_key.expose(),
                &base_url,
                expires_at,
            ),
            headers: Vec::new(),
        })
    }

    /// The object's size, hash and MIME type from Qiniu's management `stat` (reads the clock for
    /// `X-Qiniu-Date`).
    pub async fn stat(
        &self,
        http: &reqwest::Client,
        key: &str,
    ) -> Result<ObjectInfo, ProviderError> {
        let request = stat::stat_request(
            &self.rs,
            &self.access_key,
            self.secret_key.expose(),
            &self.bucket,
            key,
            chrono::Utc::now(),
        );
        let mut builder = http.get(&request.url).timeout(STAT_TIMEOUT);
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        let response = builder
            .send()
            .await
            .map_err(|e| common::transport_error("qiniu stat", e))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| common::transport_error("qiniu stat (reading the answer)", e))?;
        stat::parse_stat_response(status, &body)
    }

    /// Verifies a callback against this store's key, in either scheme.
    pub fn verify_callback(&self, req: &CallbackRequest) -> Result<(), CallbackError> {
        callback::verify_callback_keyed(&[(&self.access_key, &self.keyed_secret)], req)
    }
}

/// `{domain}/{key}` with the key percent-encoded for a path: everything but unreserved characters and `/`
/// (UTF-8, upper-case hex, space as `%20`), as the SDKs do since python-sdk PR#248.
pub(crate) fn key_url(domain: &str, key: &str) -> String {
    let mut url = String::with_capacity(domain.len() + 1 + key.len() * 3);
    url.push_str(domain);
    url.push('/');
    common::push_percent_encoded(&mut url, key, true);
    url
}

/// Non-empty, without whitespace, control characters or any of `forbidden`.
fn is_plain(value: &str, forbidden: &[char]) -> bool {
    !value.is_empty()
        && !value
            .chars()
            .any(|c| forbidden.contains(&c) || c.is_whitespace() || c.is_control())
}

/// `scheme://host[:port]`, the port only when not the scheme's default, no trailing `/`.
fn origin_of(field: &str, value: &str) -> Result<String, String> {
    Ok(common::parse_origin(&format!("qiniu {field}"), value)?.url())
}

/// The origin and the `Host` value an HTTP client sends for it (the port only when not default).
fn management_host(value: &str) -> Result<ManagementHost, String> {
    let origin = common::parse_origin("qiniu rs_host", value)?;
    Ok(ManagementHost {
        origin: origin.url(),
        host: origin.host,
    })
}

#[cfg(test)]
mod tests;
