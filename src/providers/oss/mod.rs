//! Aliyun OSS stores: Signature V4 presigned URLs, POST policies, upload callbacks and the server-side multipart
//! calls (docs/PROVIDERS.md, Aliyun OSS; docs/API.md, "Provider callbacks").
//!
//! Pure parts: [`sign`] (the V4 signer), [`post_policy`], [`callback`] (the `x-oss-callback` value), the
//! credential builders of [`OssStore`] and the signed requests of [`client`], which the async senders only send.
pub mod callback;
pub mod client;
pub mod post_policy;
mod presign;
mod provider;
pub mod sign;

#[cfg(test)]
mod test_vectors;
#[cfg(test)]
mod tests;

use super::common;

pub use client::{CompletedUpload, PartInfo, SignedCall};
pub use sign::{Credentials, Signer};

/// Smallest part but the last (100 KiB).
pub const MIN_PART_SIZE: u64 = 100 * 1024;
/// Largest part (5 GiB).
pub const MAX_PART_SIZE: u64 = 5 << 30;
/// Most parts of one upload.
pub const MAX_PARTS: u32 = 10_000;

/// How to reach one bucket.
#[derive(Debug, Clone)]
pub struct OssStoreConfig {
    /// `http(s)://host[:port]` without path or query; default `https://oss-{region}.aliyuncs.com`.
    pub endpoint: Option<String>,
    /// Short region id of the credential scope (`cn-hangzhou`; a leading `oss-` is stripped).
    pub region: String,
    /// Bucket name.
    pub bucket: String,
    /// `true`: `{endpoint}/{bucket}/{key}` (emulators); `false`: `{scheme}://{bucket}.{host}/{key}`.
    pub path_style: bool,
    /// AccessKey pair; `session_token` is the STS security token.
    pub credentials: Credentials,
}

/// A validated OSS store: signs URLs, POST policies and server-side requests.
#[derive(Debug)]
pub struct OssStore {
    scheme: String,
    /// `host` of every object request: the endpoint host, or `{bucket}.{host}` when virtual-hosted.
    object_host: String,
    bucket: String,
    path_style: bool,
    signer: Signer,
}

impl OssStore {
    /// Validates the configuration; the error names the offending setting.
    pub fn new(cfg: OssStoreConfig) -> Result<OssStore, String> {
        let region = cfg.region.strip_prefix("oss-").unwrap_or(&cfg.region);
        if !common::valid_region(region, b"") {
            return Err(format!(
                "oss region {:?}: use letters, digits and '-'",
                cfg.region
            ));
        }
        common::check_key_pair(
            ("oss access key id", "oss access key secret"),
            &cfg.credentials.access_key,
            &cfg.credentials.secret_key,
        )?;
        // OSS bucket names: 3-63 lowercase letters, digits and '-', not starting or ending with '-'.
        if !common::valid_dns_bucket(&cfg.bucket, b"") {
            return Err(format!(
                "oss bucket {:?}: 3-63 lowercase letters, digits and '-'",
                cfg.bucket
            ));
        }
        let endpoint = cfg
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://oss-{region}.aliyuncs.com"));
        let origin = common::parse_origin("oss endpoint", &endpoint)?;
        if !cfg.path_style && !origin.is_domain {
            return Err(format!(
                "oss endpoint {endpoint:?}: virtual-hosted style needs a DNS name (set path_style)"
            ));
        }
        let object_host = if cfg.path_style {
            origin.host
        } else {
            format!("{}.{}", cfg.bucket, origin.host)
        };
        Ok(OssStore {
            scheme: origin.scheme,
            object_host,
            bucket: cfg.bucket,
            path_style: cfg.path_style,
            signer: Signer::new(cfg.credentials, region),
        })
    }

    /// The bucket name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The region of the credential scope.
    pub fn region(&self) -> &str {
        self.signer.region()
    }

    /// The signer (POST policies, tests).
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// The URL a form POST goes to, with its trailing `/`.
    pub fn bucket_url(&self) -> String {
        if self.path_style {
            format!("{}://{}/{}/", self.scheme, self.object_host, self.bucket)
        } else {
            format!("{}://{}/", self.scheme, self.object_host)
        }
    }

    /// `scheme://host/<encoded path of key>`: the URL without its query. The path is encoded exactly as the
    /// canonical URI encodes it, so what is sent is what was signed.
    fn object_url(&self, key: &str) -> String {
        self.object_url_with_capacity(key, 0)
    }

    /// [`OssStore::object_url`] in a buffer with `extra` bytes to spare (for the query a presign appends).
    fn object_url_with_capacity(&self, key: &str, extra: usize) -> String {
        let bucket = if self.path_style {
            &self.bucket[..]
        } else {
            ""
        };
        let mut url = String::with_capacity(
            self.scheme.len() + self.object_host.len() + 3 * (bucket.len() + key.len()) + 8 + extra,
        );
        url.push_str(&self.scheme);
        url.push_str("://");
        url.push_str(&self.object_host);
        sign::push_canonical_uri(&mut url, bucket, key);
        url
    }
}
