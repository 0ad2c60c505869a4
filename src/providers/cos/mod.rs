//! Tencent Cloud COS: POST-policy form uploads (`wx.uploadFile`), q-sign presigned PUT/GET, signed HEAD.

mod head;
pub mod multipart;
pub mod post_policy;
pub mod presign;
mod provider;
pub mod sign;
#[cfg(test)]
mod test_vectors;

use std::fmt;

use crate::config::Secret;

use crate::providers::types::{DownloadOptions, FormUpload, SignedUrl, UploadGrant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
pub use head::object_info_from_headers;
use hmac::Mac;
use post_policy::{policy_json, PolicyConditions};
use presign::{encode_path, key_path, push_encoded_path};
use reqwest::Method;
use sign::{
    key_time, push_url_encoded, sign_policy_keyed, sign_request_keyed, url_encode, HmacSha1,
    SignableRequest,
};

/// Seconds a credential's start is backdated: phone clocks drift, and cos-python-sdk-v5 backdates by 60 s.
const CLOCK_SKEW_BACKDATE_SECONDS: i64 = 60;
/// Header and form field of STS session tokens.
const SECURITY_TOKEN: &str = "x-cos-security-token";

/// Settings of one COS bucket.
#[derive(Clone)]
pub struct CosStoreConfig {
    /// Full bucket name with its APPID, e.g. `examplebucket-1250000000`.
    pub bucket: String,
    /// e.g. `ap-guangzhou`.
    pub region: String,
    /// SecretId (TmpSecretId with STS); public, it travels as `q-ak`.
    pub secret_id: String,
    /// Never leaves the broker, never shown by `Debug`; exposed only to key the HMAC.
    pub secret_key: Secret,
    /// STS session token when the keys are temporary.
    pub session_token: Option<String>,
    /// Replaces `https://{bucket}.cos.{region}.myqcloud.com` (e.g. an accelerate domain); scheme and host only.
    pub endpoint: Option<String>,
}

impl fmt::Debug for CosStoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CosStoreConfig")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("secret_id", &self.secret_id)
            .field("secret_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// A validated COS bucket that issues credentials.
#[derive(Clone)]
pub struct CosStore {
    bucket: String,
    secret_id: String,
    session_token: Option<String>,
    /// `scheme://host[:port]`, no trailing slash.
    base_url: String,
    /// The `host` value every signature covers (with a non-default port), so a URL cannot be replayed on another bucket.
    host: String,
    /// HMAC-SHA1 state keyed with `secret_key` once, cloned for each SignKey (never re-keyed per request).
    keyed_secret: HmacSha1,
    /// `q-sign-algorithm=sha1&q-ak=<UrlEncoded secret_id>&q-sign-time=`: how every presigned query starts.
    query_prefix: String,
    /// `{base_url}/`, the form POST URL.
    form_url: String,
}

impl fmt::Debug for CosStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CosStore")
            .field("bucket", &self.bucket)
            .field("secret_id", &self.secret_id)
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("base_url", &self.base_url)
            .finish()
    }
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-'
}

fn validate_bucket(bucket: &str) -> Result<(), String> {
    let has_appid = bucket.rsplit_once('-').is_some_and(|(name, appid)| {
        !name.is_empty() && !appid.is_empty() && appid.bytes().all(|c| c.is_ascii_digit())
    });
    if has_appid && bucket.bytes().all(is_name_char) {
        Ok(())
    } else {
        Err(format!(
            "COS bucket {bucket:?} must be <name>-<APPID> in lowercase letters, digits and hyphens"
        ))
    }
}

/// `(base_url, host)` of an endpoint override: http(s), a host, nothing after it (no path-style addressing).
fn parse_endpoint(endpoint: &str) -> Result<(String, String), String> {
    let origin = crate::providers::common::parse_origin("COS endpoint", endpoint)?;
    Ok((origin.url(), origin.host))
}

impl CosStore {
    /// Validates `cfg`; errors name the offending setting, never a secret.
    pub fn new(cfg: CosStoreConfig) -> Result<CosStore, String> {
        validate_bucket(&cfg.bucket)?;
        if cfg.region.is_empty() || !cfg.region.bytes().all(is_name_char) {
            return Err(format!(
                "COS region {:?} must be lowercase letters, digits and hyphens",
                cfg.region
            ));
        }
        let printable = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_graphic());
        if !printable(&cfg.secret_id) || !printable(cfg.secret_key.expose()) {
            return Err(
                "COS secret_id and secret_key must be non-empty printable ASCII".to_owned(),
            );
        }
        if cfg
            .session_token
            .as_deref()
            .is_some_and(|token| !printable(token))
        {
            return Err("COS session_token must be non-empty printable ASCII".to_owned());
        }
        let (base_url, host) = match &cfg.endpoint {
            Some(endpoint) => parse_endpoint(endpoint)?,
            None => {
                let host = format!("{}.cos.{}.myqcloud.com", cfg.bucket, cfg.region);
                (format!("https://{host}"), host)
            }
        };
        let keyed_secret = HmacSha1::new_from_slice(cfg.secret_key.expose().as_bytes())
            .map_err(|e| e.to_string())?;
        let query_prefix = format!(
            "q-sign-algorithm=sha1&q-ak={}&q-sign-time=",
            url_encode(&cfg.secret_id)
        );
        Ok(CosStore {
            bucket: cfg.bucket,
            secret_id: cfg.secret_id,
            session_token: cfg.session_token,
            form_url: format!("{base_url}/"),
            base_url,
            host,
            keyed_secret,
            query_prefix,
        })
    }

    /// The validity window of a credential issued at `now`, backdated for client clock drift.
    fn window(now: i64, end: i64) -> String {
        key_time(now - CLOCK_SKEW_BACKDATE_SECONDS, end)
    }

    /// A POST-policy form upload (what `wx.uploadFile` sends): key and size range and content type pinned.
    pub fn form_upload(&self, g: &UploadGrant) -> FormUpload {
        let key_time = Self::window(g.now, g.expires_at);
        let policy = policy_json(&PolicyConditions {
            expires_at: g.expires_at,
            key_time: &key_time,
            secret_id: &self.secret_id,
            bucket: &self.bucket,
            key: g.key,
            max_size: g.max_size,
            content_type: g.content_type,
            security_token: self.session_token.as_deref(),
        });
        let signature = sign_policy_keyed(&self.keyed_secret, &key_time, &policy);
        // `key` raw (an encoded key is stored encoded, pitfall 6.3); status 200 because wx.uploadFile
        // reports COS's default 204 as a failure in the official demo's check.
        let mut fields = Vec::with_capacity(10);
        fields.push(("key", g.key.to_owned()));
        fields.push(("success_action_status", "200".to_owned()));
        if let Some(content_type) = g.content_type {
            fields.push(("Content-Type", content_type.to_owned()));
        }
        if let Some(token) = &self.session_token {
            fields.push((SECURITY_TOKEN, token.clone()));
        }
        fields.extend([
            ("policy", STANDARD.encode(&policy)),
            ("q-sign-algorithm", "sha1".to_owned()),
            ("q-ak", self.secret_id.clone()),
            ("q-key-time", key_time),
            ("q-signature", signature),
        ]);
        FormUpload {
            url: self.form_url.clone(),
            fields,
        }
    }

    /// A presigned PUT that signs `host`, and `content-type` / `content-length` when the grant fixes them.
    pub fn presigned_put(&self, g: &UploadGrant) -> SignedUrl {
        let mut headers = Vec::with_capacity(2);
        if let Some(content_type) = g.content_type {
            headers.push(("Content-Type".to_owned(), content_type.to_owned()));
        }
        if let Some(size) = g.size {
            headers.push(("Content-Length".to_owned(), size.to_string()));
        }
        let url = self.presigned_url("PUT", g.key, &headers, &[], g.now, g.expires_at);
        SignedUrl {
            method: "PUT",
            url,
            headers,
        }
    }

    /// A presigned GET; response header overrides are signed parameters, so they cannot be changed.
    pub fn presigned_get(
        &self,
        key: &str,
        opts: &DownloadOptions,
        now: i64,
        expires_at: i64,
    ) -> SignedUrl {
        let url = self.presigned_url("GET", key, &[], &opts.query(), now, expires_at);
        SignedUrl {
            method: "GET",
            url,
            headers: Vec::new(),
        }
    }

    /// Signs `host` + `headers` + `params` into query-string auth. A session token becomes a *signed*
    /// parameter (cos-python-sdk-v5 style, vector Q4), so it cannot be swapped for another one.
    fn presigned_url(
        &self,
        method: &str,
        key: &str,
        headers: &[(String, String)],
        params: &[(&str, &str)],
        now: i64,
        expires_at: i64,
    ) -> String {
        let path = key_path(key);
        let mut signed_headers: Vec<(&str, &str)> = Vec::with_capacity(headers.len() + 1);
        signed_headers.push(("host", &self.host));
        signed_headers.extend(
            headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
        );
        let mut params = params.to_vec();
        if let Some(token) = &self.session_token {
            params.push((SECURITY_TOKEN, token));
        }
        let request = SignableRequest {
            method,
            path: &path,
            headers: &signed_headers,
            params: &params,
        };
        let key_time = Self::window(now, expires_at);
        let signature = sign_request_keyed(&self.keyed_secret, &key_time, &request);
        // The cos-python-sdk-v5 layout of `presigned_query`: the `q-*` pairs, then the signed parameters.
        let extra: usize = params
            .iter()
            .map(|(n, v)| 3 * (n.len() + v.len()) + 2)
            .sum();
        let mut url = String::with_capacity(self.base_url.len() + path.len() * 3 + 400 + extra);
        url.push_str(&self.base_url);
        push_encoded_path(&mut url, &path);
        url.push('?');
        url.push_str(&self.query_prefix);
        push_url_encoded(&mut url, &key_time);
        url.push_str("&q-key-time=");
        push_url_encoded(&mut url, &key_time);
        url.push_str("&q-header-list=");
        push_url_encoded(&mut url, &signature.header_list);
        url.push_str("&q-url-param-list=");
        push_url_encoded(&mut url, &signature.url_param_list);
        url.push_str("&q-signature=");
        url.push_str(&signature.signature);
        for (name, value) in &params {
            url.push('&');
            push_url_encoded(&mut url, name);
            url.push('=');
            push_url_encoded(&mut url, value);
        }
        url
    }

    /// The object's plain, unsigned URL (the `location` of a completed upload; signed calls go to it).
    pub fn object_url(&self, key: &str) -> String {
        format!("{}{}", self.base_url, encode_path(&key_path(key)))
    }

    /// Every server-side call (HEAD and the multipart API): signs `method /<key>?params` over `host`,
    /// `headers` and the STS token header, which is added to them, then `Authorization` last. Parameters go
    /// into the URL in the given order.
    #[allow(clippy::too_many_arguments)]
    fn signed_call(
        &self,
        method: Method,
        key: &str,
        params: &[(&str, &str)],
        mut headers: Vec<(String, String)>,
        body: Vec<u8>,
        now: i64,
        expires_at: i64,
    ) -> CosCall {
        let path = key_path(key);
        if let Some(token) = &self.session_token {
            headers.push((SECURITY_TOKEN.to_owned(), token.clone()));
        }
        let mut signed: Vec<(&str, &str)> = vec![("host", &self.host)];
        signed.extend(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let key_time = Self::window(now, expires_at);
        let signature = sign_request_keyed(
            &self.keyed_secret,
            &key_time,
            &SignableRequest {
                method: method.as_str(),
                path: &path,
                headers: &signed,
                params,
            },
        );
        headers.push((
            "Authorization".to_owned(),
            signature.authorization(&self.secret_id, &key_time),
        ));
        let mut url = self.object_url(key);
        for (i, (name, value)) in params.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            push_url_encoded(&mut url, name);
            url.push('=');
            push_url_encoded(&mut url, value);
        }
        CosCall {
            method,
            url,
            headers,
            body,
        }
    }
}

/// A fully signed server-side request, built without I/O (the vector tests compare it byte for byte).
pub struct CosCall {
    pub method: Method,
    /// Percent-encoded path and query, exactly as signed.
    pub url: String,
    /// Every header to send, `Authorization` last; `host` comes from the URL.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl fmt::Debug for CosCall {
    /// Header names only: the values include the STS token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("CosCall")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &names)
            .field("body_len", &self.body.len())
            .finish()
    }
}

#[cfg(test)]
mod tests;
