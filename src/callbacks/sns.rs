//! Amazon SNS HTTP(S) message verification (SNS docs "Verifying the signatures of Amazon SNS messages").
//!
//! Flow for the handler: [`SnsMessage::parse`] the raw body (SNS sends it as `text/plain`; never trust the
//! `x-amz-sns-*` headers), check `topic_arn` against the store's list, get the signing key with
//! [`CertCache::get`], [`verify_with_key`], then act on [`SnsMessage::kind`].

mod cert_cache;
mod cert_url;
#[cfg(test)]
mod tests;

pub use cert_cache::{confirm_subscription, CertCache};
pub use cert_url::{allowed_cert_url, allowed_subscribe_url, cert_url_allowed};

use base64::Engine as _;
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use x509_cert::der::{DecodePem, Encode};

/// Smallest RSA modulus accepted from a signing certificate (SNS and moto use 2048 bits).
const MIN_RSA_BITS: usize = 2048;

/// Why an SNS message was rejected. Messages carry no secrets.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SnsError {
    /// The body is not an SNS message (bad JSON, missing or duplicated field, wrong type).
    #[error("malformed SNS message: {0}")]
    Malformed(String),
    /// A field the message type needs for its string to sign is absent.
    #[error("SNS message lacks {0}")]
    MissingField(&'static str),
    /// `Type` is none of Notification, SubscriptionConfirmation, UnsubscribeConfirmation.
    #[error("unsupported SNS message type")]
    UnsupportedType,
    /// `SignatureVersion` is neither "1" nor "2".
    #[error("unsupported SNS SignatureVersion")]
    UnsupportedSignatureVersion,
    /// `Signature` is not standard base64.
    #[error("SNS Signature is not base64")]
    BadSignatureEncoding,
    /// The RSA signature does not match the string to sign.
    #[error("SNS signature does not verify")]
    SignatureMismatch,
    /// The certificate is not a PEM X.509 certificate with an acceptable RSA key.
    #[error("bad SNS signing certificate: {0}")]
    Certificate(String),
    /// `SigningCertURL` does not satisfy the store's pattern (or the fetch was redirected elsewhere).
    #[error("SigningCertURL not allowed")]
    CertUrlNotAllowed,
    /// `SubscribeURL` does not satisfy the store's pattern.
    #[error("SubscribeURL not allowed")]
    SubscribeUrlNotAllowed,
    /// The certificate could not be fetched.
    #[error("fetching the SNS signing certificate failed: {0}")]
    CertFetch(String),
    /// Confirming a subscription (GET `SubscribeURL`) failed.
    #[error("confirming the SNS subscription failed: {0}")]
    ConfirmFailed(String),
}

/// The three message types SNS POSTs to HTTP(S) endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnsMessageType {
    /// A published message (for S3 events, `message` is the S3 event JSON).
    Notification,
    /// Sent once when subscribing; confirm by fetching `SubscribeURL`.
    SubscriptionConfirmation,
    /// Sent after an unsubscribe.
    UnsubscribeConfirmation,
}

/// The JSON body of an SNS HTTP(S) delivery; unknown fields are ignored, duplicated fields rejected.
/// Serializes back to the same shape (absent optional fields omitted), which tests use to build bodies.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct SnsMessage {
    /// `Type`: see [`SnsMessage::kind`].
    #[serde(rename = "Type")]
    pub message_type: String,
    /// `MessageId`: unique per published message, repeated on redelivery.
    #[serde(rename = "MessageId")]
    pub message_id: String,
    /// `TopicArn`: the topic the message came from.
    #[serde(rename = "TopicArn")]
    pub topic_arn: String,
    /// `Subject`: optional, signed only when present.
    #[serde(rename = "Subject", skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// `Message`: the payload (S3 event JSON for S3 notifications).
    #[serde(rename = "Message")]
    pub message: String,
    /// `Timestamp`: ISO 8601, as sent.
    #[serde(rename = "Timestamp")]
    pub timestamp: String,
    /// `SignatureVersion`: "1" (SHA1withRSA) or "2" (SHA256withRSA).
    #[serde(rename = "SignatureVersion")]
    pub signature_version: String,
    /// `Signature`: base64 RSA PKCS#1 v1.5 signature.
    #[serde(rename = "Signature")]
    pub signature: String,
    /// `SigningCertURL`: where the signing certificate is (check it before fetching).
    #[serde(rename = "SigningCertURL")]
    pub signing_cert_url: String,
    /// `SubscribeURL`: confirmation messages only.
    #[serde(rename = "SubscribeURL", skip_serializing_if = "Option::is_none")]
    pub subscribe_url: Option<String>,
    /// `Token`: confirmation messages only.
    #[serde(rename = "Token", skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// `UnsubscribeURL`: notifications only; not signed.
    #[serde(rename = "UnsubscribeURL", skip_serializing_if = "Option::is_none")]
    pub unsubscribe_url: Option<String>,
}

// By hand: the subscription Token (also inside SubscribeURL) lets anyone confirm the subscription.
impl std::fmt::Debug for SnsMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnsMessage")
            .field("message_type", &self.message_type)
            .field("message_id", &self.message_id)
            .field("topic_arn", &self.topic_arn)
            .field("subject", &self.subject)
            .field("timestamp", &self.timestamp)
            .field("signature_version", &self.signature_version)
            .field("signing_cert_url", &self.signing_cert_url)
            .field("message_len", &self.message.len())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl SnsMessage {
    /// Parses the raw body SNS POSTs.
    pub fn parse(body: &[u8]) -> Result<Self, SnsError> {
        serde_json::from_slice(body).map_err(|e| SnsError::Malformed(e.to_string()))
    }

    /// The message type, from the (signed) `Type` field.
    pub fn kind(&self) -> Result<SnsMessageType, SnsError> {
        match self.message_type.as_str() {
            "Notification" => Ok(SnsMessageType::Notification),
            "SubscriptionConfirmation" => Ok(SnsMessageType::SubscriptionConfirmation),
            "UnsubscribeConfirmation" => Ok(SnsMessageType::UnsubscribeConfirmation),
            _ => Err(SnsError::UnsupportedType),
        }
    }
}

/// RSA public key taken from an SNS signing certificate.
#[derive(Clone, PartialEq, Eq)]
pub struct SnsPublicKey(RsaPublicKey);

impl std::fmt::Debug for SnsPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SnsPublicKey({} bits)", self.0.size() * 8)
    }
}

impl SnsPublicKey {
    /// Extracts the RSA key (≥ 2048 bits) of a PEM X.509 certificate. The chain is not checked: trust comes
    /// from fetching the certificate only from an allowed `SigningCertURL` (over https in production).
    pub fn from_cert_pem(pem: &[u8]) -> Result<Self, SnsError> {
        let bad = |e: &dyn std::fmt::Display| SnsError::Certificate(e.to_string());
        let cert = x509_cert::Certificate::from_pem(pem).map_err(|e| bad(&e))?;
        let spki_der = cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| bad(&e))?;
        let key = RsaPublicKey::from_public_key_der(&spki_der).map_err(|e| bad(&e))?;
        if key.size() * 8 < MIN_RSA_BITS {
            return Err(SnsError::Certificate(
                "RSA key shorter than 2048 bits".into(),
            ));
        }
        Ok(Self(key))
    }
}

/// The documented string to sign: `Key\nValue\n` for each signed field, in the documented order.
///
/// Rejects newlines in every field but `Message`: field boundaries are plain newlines, so a newline inside, say,
/// `MessageId` could make a signed string read as a different set of fields (e.g. drop `Subject` and change
/// `MessageId` to dodge de-duplication). SNS never puts one there.
pub fn string_to_sign(msg: &SnsMessage) -> Result<String, SnsError> {
    let kind = msg.kind()?;
    let mut fields: Vec<(&str, &str)> =
        vec![("Message", &msg.message), ("MessageId", &msg.message_id)];
    match kind {
        SnsMessageType::Notification => {
            if let Some(subject) = &msg.subject {
                fields.push(("Subject", subject));
            }
            fields.push(("Timestamp", &msg.timestamp));
        }
        SnsMessageType::SubscriptionConfirmation | SnsMessageType::UnsubscribeConfirmation => {
            let subscribe_url = msg
                .subscribe_url
                .as_deref()
                .ok_or(SnsError::MissingField("SubscribeURL"))?;
            let token = msg
                .token
                .as_deref()
                .ok_or(SnsError::MissingField("Token"))?;
            fields.extend([
                ("SubscribeURL", subscribe_url),
                ("Timestamp", &msg.timestamp),
                ("Token", token),
            ]);
        }
    }
    fields.extend([
        ("TopicArn", msg.topic_arn.as_str()),
        ("Type", msg.message_type.as_str()),
    ]);

    let mut out = String::new();
    for (name, value) in fields {
        if name != "Message" && value.contains('\n') {
            return Err(SnsError::Malformed(format!("newline in {name}")));
        }
        out.push_str(name);
        out.push('\n');
        out.push_str(value);
        out.push('\n');
    }
    Ok(out)
}

/// Verifies `msg` against the RSA key of the PEM certificate `cert_pem`.
pub fn verify(msg: &SnsMessage, cert_pem: &[u8]) -> Result<(), SnsError> {
    verify_with_key(msg, &SnsPublicKey::from_cert_pem(cert_pem)?)
}

/// Verifies `msg` with an already extracted key (from [`CertCache::get`]).
pub fn verify_with_key(msg: &SnsMessage, key: &SnsPublicKey) -> Result<(), SnsError> {
    let to_sign = string_to_sign(msg)?;
    let (scheme, digest) = match msg.signature_version.as_str() {
        "1" => (
            Pkcs1v15Sign::new::<Sha1>(),
            Sha1::digest(to_sign.as_bytes()).to_vec(),
        ),
        "2" => (
            Pkcs1v15Sign::new::<Sha256>(),
            Sha256::digest(to_sign.as_bytes()).to_vec(),
        ),
        _ => return Err(SnsError::UnsupportedSignatureVersion),
    };
    let signature = base64::engine::general_purpose::STANDARD
        .decode(msg.signature.as_bytes())
        .map_err(|_| SnsError::BadSignatureEncoding)?;
    key.0
        .verify(scheme, &digest, &signature)
        .map_err(|_| SnsError::SignatureMismatch)
}
