//! Verification and normalization of provider callbacks (`POST /v1/callbacks/{store}`) for S3-family stores.
//!
//! - [`sns`]: Amazon SNS HTTP(S) messages: parsing, the documented string to sign, RSA signature checks
//!   (SignatureVersion 1 = SHA1withRSA, 2 = SHA256withRSA), `SigningCertURL`/`SubscribeURL` allow-listing
//!   against the store's `sns_cert_url_pattern`, a bounded certificate cache, and subscription confirmation.
//! - [`s3_events`]: MinIO / AWS S3 event records (a webhook body, or the `Message` of an SNS notification) and
//!   SeaweedFS filer webhook events, normalized into [`ObjectCreated`] upload records.
//!
//! The bearer-token check of MinIO/SeaweedFS webhooks, the `TopicArn` allow-list, idempotency and recording are the
//! HTTP handler's job; this module only decides what a body says and whether an SNS signature is genuine.

pub mod oss;
pub mod s3_events;
pub mod sns;

pub use s3_events::{
    normalize_etag, parse_s3_event_records, parse_seaweedfs_event, parse_webhook, EventError,
    ObjectCreated,
};
pub use sns::{
    allowed_cert_url, allowed_subscribe_url, cert_url_allowed, confirm_subscription,
    string_to_sign, verify, verify_with_key, CertCache, SnsError, SnsMessage, SnsMessageType,
    SnsPublicKey,
};
