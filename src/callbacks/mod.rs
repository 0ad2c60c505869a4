//! Verification and normalization of provider callbacks (`POST /v1/callbacks/{store}`).
//!
//! - [`sns`]: Amazon SNS HTTP(S) messages: parsing, the documented string to sign, RSA signature checks
//!   (SignatureVersion 1 = SHA1withRSA, 2 = SHA256withRSA), `SigningCertURL`/`SubscribeURL` allow-listing
//!   against the store's `sns_cert_url_pattern`, a bounded certificate cache, and subscription confirmation.
//! - [`s3_events`]: MinIO / AWS S3 event records (a webhook body, or the `Message` of an SNS notification) and
//!   SeaweedFS filer webhook events, normalized into [`ObjectCreated`] upload records.
//!
//! - [`oss`]: Aliyun OSS upload callbacks: the RSA-MD5 string to sign, the public-key URL allow-list and key cache.
//! - [`verifier`]: one verifier per callback family (Qiniu; OSS; S3 webhooks and SNS) owning every check of a delivery.
//!
//! Idempotency and recording are the HTTP handler's job.

pub mod key_cache;
pub mod oss;
pub mod s3_events;
pub mod sns;
pub mod verifier;

pub use s3_events::{
    normalize_etag, parse_s3_event_records, parse_seaweedfs_event, parse_webhook,
    parse_webhook_with_source, EventError, ObjectCreated,
};
pub use sns::{
    allowed_cert_url, allowed_subscribe_url, cert_url_allowed, confirm_subscription,
    string_to_sign, verify, verify_with_key, CertCache, SnsError, SnsMessage, SnsMessageType,
    SnsPublicKey,
};
pub use verifier::{
    Answer, CallbackContext, CallbackVerifier, OssVerifier, QiniuVerifier, S3Verifier, Verified,
};
