//! Every signer, each next to its floor: the hash/HMAC work that signature inherently needs, run over the very
//! bytes the signer hashed (each case asserts that when it is built). Shared by `benches/signers.rs` (criterion,
//! wall clock) and `benches/signer_instructions.rs` (instruction counts under callgrind, which do not depend on
//! the load of the machine); docs/PERFORMANCE.md has the figures.
//!
//! How the floors are counted (the secrets are fixed per store, so a keyed HMAC state — the key already
//! absorbed into the inner and outer pads — can be built once and cloned; re-keying costs two extra
//! compression calls per HMAC, which is avoidable work and so not part of any floor):
//!
//! * **S3 presigned URL (SigV4)**: the signing key `kSigning` is an HMAC chain over the date and only changes
//!   once a day, so it is cached. What is left for each URL: `SHA-256(canonical request)` (its hex goes into
//!   the string to sign) and `HMAC-SHA256(kSigning, string to sign)`: one hash + one keyed HMAC.
//! * **S3 POST policy**: the string to sign is the base64 of the policy JSON itself; one keyed
//!   `HMAC-SHA256(kSigning, base64(policy))` and no hash of its own.
//! * **COS q-sign URL**: `SignKey = hex(HMAC-SHA1(SecretKey, KeyTime))`, and KeyTime (`start;end`) changes
//!   with every request, so SignKey cannot be cached: one keyed HMAC-SHA1 over KeyTime (SecretKey is fixed,
//!   so its keyed state is cloned), `SHA-1(HttpString)`, then `HMAC-SHA1(SignKey hex text, StringToSign)`
//!   whose key is new each time (so this one does pay its key setup): two HMAC-SHA1 + one SHA-1.
//! * **COS POST policy**: the same chain with `SHA-1(policy JSON)` in place of the HttpString hash.
//! * **Qiniu upload token**: `HMAC-SHA1(SK, urlsafe_base64(put policy JSON))`, SK fixed: one keyed HMAC-SHA1.
//! * **OSS presigned URL (V4, `OSS4-HMAC-SHA256`)**: SigV4's shape with OSS's constants, the signing key cached
//!   per day: `SHA-256(canonical request)` + one keyed `HMAC-SHA256`, as for S3.
//! * **OSS POST policy**: one keyed `HMAC-SHA256(signing key, base64(policy))`, as for S3.
//! * **OSS callback verification**: `MD5(string to sign)` + one RSA public-key operation (the check is the
//!   signature, so the floor is the whole PKCS#1 v1.5 verify; what the verifier adds is decoding and assembly).
//! * **Qiniu callback verification**: `HMAC-SHA1(SK, signing data)` over `path?query\n` + the form body
//!   (`QBox`) or the v2 request text (`Qiniu`): one keyed HMAC-SHA1, then a constant-time compare.
//!
//! Base64, hex and percent-encoding, JSON and URL assembly are not in any floor: they are the "overhead" the
//! 2x target bounds. Where the output format itself forces an encoding of what was signed (the base64 policy of
//! a POST form or upload token is the signed payload), [`Case::encoding`] measures the floor plus that encoding.
use std::hint::black_box;

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine;
use hmac::{Hmac, Mac};
use rsa::pkcs8::DecodePublicKey;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use presign_broker::callbacks::oss::{
    verify_with_key as oss_verify, CallbackRequest as OssCallbackRequest, OssPublicKey,
};
use presign_broker::providers::cos::post_policy::{policy_json, PolicyConditions};
use presign_broker::providers::cos::sign::url_encode;
use presign_broker::providers::cos::{CosStore, CosStoreConfig};
use presign_broker::providers::oss::sign::{derive_signing_key as oss_signing_key, Request};
use presign_broker::providers::oss::{Credentials as OssCredentials, OssStore, OssStoreConfig};
use presign_broker::providers::qiniu::{
    CallbackRequest, CallbackSpec, QiniuStore, QiniuStoreConfig,
};
use presign_broker::providers::s3::post_policy::{self, PostPolicyInput};
use presign_broker::providers::s3::sigv4::{
    derive_signing_key, Credentials, QueryRequest, Signer, SigningTime, UNSIGNED_PAYLOAD,
};
use presign_broker::providers::s3::{S3Store, S3StoreConfig};
use presign_broker::providers::UploadGrant;

type HmacSha256 = Hmac<Sha256>;
type HmacSha1 = Hmac<Sha1>;

const NOW: i64 = 1_795_242_000;
const EXPIRES_AT: i64 = NOW + 600;
const KEY: &str = "users/alice/photos/2026/cat.jpg";
const CONTENT_TYPE: &str = "image/jpeg";
const SIZE: u64 = 123_456;
const MAX_SIZE: u64 = 20 << 20;

const S3_AK: &str = "AKIAIOSFODNN7EXAMPLE";
const S3_SK: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const S3_BUCKET: &str = "examplebucket";
const S3_REGION: &str = "us-east-1";
const S3_HOST: &str = "examplebucket.s3.us-east-1.amazonaws.com";

const COS_ID: &str = "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q";
const COS_SK: &str = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz";
const COS_BUCKET: &str = "examplebucket-1250000000";
const COS_HOST: &str = "examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com";

const OSS_AK: &str = "LTAI5tExampleAccessKeyId";
const OSS_SK: &str = "ExampleAccessKeySecret000000000000";
const OSS_BUCKET: &str = "examplebucket";
const OSS_REGION: &str = "cn-hangzhou";

const QN_AK: &str = "MY_ACCESS_KEY";
const QN_SK: &str = "MY_SECRET_KEY";
const QN_CALLBACK_URL: &str =
    "https://broker.example.com/v1/callbacks/qn?t=0b9dYh7Qm1vQ2xXh3sKq8pWm4nLr5tZa6cUe7fGi9jA";

/// One measured function: builds its output and hands it to `black_box`.
pub type Run = Box<dyn Fn()>;

/// A benchmark group: the signer (or signers) and the floor, run over the same bytes.
pub struct Case {
    pub group: &'static str,
    /// (name, function) of what is measured against the floor: `signer`, or the variants of a batch.
    pub signers: Vec<(&'static str, Run)>,
    pub floor: Run,
    /// The floor plus the encoding the output format forces on what was signed, where there is one.
    pub encoding: Option<Run>,
}

impl Case {
    fn new(group: &'static str, signer: Run, floor: Run) -> Case {
        Case {
            group,
            signers: vec![("signer", signer)],
            floor,
            encoding: None,
        }
    }

    /// Every (name, function) of the group, the floor and the encoding floor last.
    pub fn functions(&self) -> Vec<(&'static str, &dyn Fn())> {
        let mut out: Vec<(&'static str, &dyn Fn())> =
            self.signers.iter().map(|(n, f)| (*n, &**f)).collect();
        out.push(("floor", &*self.floor));
        if let Some(encoding) = &self.encoding {
            out.push(("floor+encoding", &**encoding));
        }
        out
    }
}

/// Setup data the measured closures borrow for the whole run.
fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

fn grant() -> UploadGrant<'static> {
    let types: &'static Vec<String> = leak(vec!["image/*".into(), "video/mp4".into()]);
    UploadGrant {
        callback_url: None,
        key: KEY,
        content_type: Some(CONTENT_TYPE),
        content_types: types,
        size: Some(SIZE),
        max_size: MAX_SIZE,
        overwrite: false,
        subject: "alice",
        now: NOW,
        expires_at: EXPIRES_AT,
    }
}

fn credentials() -> Credentials {
    Credentials {
        access_key: S3_AK.into(),
        secret_key: S3_SK.into(),
        session_token: None,
    }
}

fn s3_store() -> S3Store {
    S3Store::new(S3StoreConfig {
        endpoint: None,
        region: S3_REGION.into(),
        bucket: S3_BUCKET.into(),
        path_style: false,
        credentials: credentials(),
    })
    .expect("valid S3 store")
}

fn cos_store() -> CosStore {
    CosStore::new(CosStoreConfig {
        bucket: COS_BUCKET.into(),
        region: "ap-guangzhou".into(),
        secret_id: COS_ID.into(),
        secret_key: COS_SK.into(),
        session_token: None,
        endpoint: None,
    })
    .expect("valid COS store")
}

fn qiniu_store() -> QiniuStore {
    QiniuStore::new(QiniuStoreConfig {
        bucket: "my-bucket".into(),
        upload_url: "https://up-z2.qiniup.com".into(),
        download_domain: Some("https://cdn.example.com".into()),
        access_key: QN_AK.into(),
        secret_key: QN_SK.into(),
        rs_host: None,
    })
    .expect("valid Qiniu store")
}

fn oss_store() -> OssStore {
    OssStore::new(OssStoreConfig {
        endpoint: None,
        region: OSS_REGION.into(),
        bucket: OSS_BUCKET.into(),
        path_style: false,
        credentials: OssCredentials {
            access_key: OSS_AK.into(),
            secret_key: OSS_SK.into(),
            session_token: None,
        },
    })
    .expect("valid OSS store")
}

fn keyed_sha256(key: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(key).expect("any key length")
}

fn keyed_sha1(key: &[u8]) -> HmacSha1 {
    HmacSha1::new_from_slice(key).expect("any key length")
}

/// One keyed HMAC-SHA256 from a cloned state.
fn hmac256(keyed: &HmacSha256, data: &[u8]) -> [u8; 32] {
    let mut mac = keyed.clone();
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// One keyed HMAC-SHA1 from a cloned state.
fn hmac1(keyed: &HmacSha1, data: &[u8]) -> [u8; 20] {
    let mut mac = keyed.clone();
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// SigV4's floor: SHA-256 of the canonical request, then the keyed HMAC of the string to sign.
fn v4_floor(keyed: &'static HmacSha256, canonical_request: String, string_to_sign: String) -> Run {
    Box::new(move || {
        let hash = Sha256::digest(black_box(canonical_request.as_bytes()));
        black_box((hash, hmac256(keyed, black_box(string_to_sign.as_bytes()))));
    })
}

fn s3(cases: &mut Vec<Case>) {
    let store = leak(s3_store());
    let g = leak(grant());
    // The store's signer is private; an identical one reproduces the exact bytes it hashes.
    let signer = Signer::new(credentials(), S3_REGION, "s3");
    let time = SigningTime::from_unix(NOW);
    let keyed = leak(keyed_sha256(&derive_signing_key(
        S3_SK, &time.date, S3_REGION, "s3",
    )));

    let size = SIZE.to_string();
    let path = format!("/{KEY}");
    let presigned = signer.presign(&QueryRequest {
        method: "PUT",
        scheme: "https",
        host: S3_HOST,
        path: &path,
        query: &[],
        headers: &[("content-type", CONTENT_TYPE), ("content-length", &size)],
        payload_hash: UNSIGNED_PAYLOAD,
        now: NOW,
        expires: EXPIRES_AT - NOW,
    });
    assert_eq!(
        store.presigned_put(g).url,
        presigned.url,
        "the floor hashes what the store signs"
    );
    cases.push(Case::new(
        "s3_presigned_put",
        Box::new(move || {
            black_box(store.presigned_put(black_box(g)));
        }),
        v4_floor(keyed, presigned.canonical_request, presigned.string_to_sign),
    ));

    let upload_id = "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA";
    let part = signer.presign(&QueryRequest {
        method: "PUT",
        scheme: "https",
        host: S3_HOST,
        path: &path,
        query: &[("partNumber", "17"), ("uploadId", upload_id)],
        headers: &[],
        payload_hash: UNSIGNED_PAYLOAD,
        now: NOW,
        expires: EXPIRES_AT - NOW,
    });
    assert_eq!(
        store
            .presigned_upload_part(KEY, upload_id, 17, NOW, EXPIRES_AT)
            .url,
        part.url
    );
    cases.push(Case::new(
        "s3_presigned_upload_part",
        Box::new(move || {
            black_box(store.presigned_upload_part(black_box(KEY), upload_id, 17, NOW, EXPIRES_AT));
        }),
        v4_floor(
            keyed,
            part.canonical_request.clone(),
            part.string_to_sign.clone(),
        ),
    ));

    // POST /v1/multipart/{id}/parts with 100 part numbers: the batch shares the fixed parts of the canonical
    // request (see `Signer::presign_urls_varying`), so it can beat 100 single floors.
    let numbers: &'static Vec<u32> = leak((1..=100).collect());
    assert_eq!(
        store.presigned_upload_parts(KEY, upload_id, numbers, NOW, EXPIRES_AT)[16],
        part.url
    );
    let single_floor = v4_floor(keyed, part.canonical_request, part.string_to_sign);
    cases.push(Case {
        group: "s3_upload_parts_x100",
        signers: vec![
            (
                "batched",
                Box::new(move || {
                    black_box(store.presigned_upload_parts(
                        black_box(KEY),
                        upload_id,
                        numbers,
                        NOW,
                        EXPIRES_AT,
                    ));
                }),
            ),
            (
                "one_by_one",
                Box::new(move || {
                    let urls: Vec<String> = numbers
                        .iter()
                        .map(|&n| {
                            store
                                .presigned_upload_part(
                                    black_box(KEY),
                                    upload_id,
                                    n,
                                    NOW,
                                    EXPIRES_AT,
                                )
                                .url
                        })
                        .collect();
                    black_box(urls);
                }),
            ),
        ],
        floor: Box::new(move || {
            for _ in 0..100 {
                single_floor();
            }
        }),
        encoding: None,
    });

    let policy = post_policy::sign(
        &signer,
        &PostPolicyInput {
            bucket: S3_BUCKET,
            key: KEY,
            content_type: Some(CONTENT_TYPE),
            max_size: MAX_SIZE,
            now: NOW,
            expires_at: EXPIRES_AT,
        },
    );
    assert_eq!(store.form_upload(g).fields, policy.fields);
    let (json, base64) = (leak(policy.policy_json), leak(policy.policy_base64));
    cases.push(Case {
        encoding: Some(Box::new(move || {
            let encoded = STANDARD.encode(black_box(json.as_bytes()));
            black_box(hmac256(keyed, encoded.as_bytes()));
        })),
        ..Case::new(
            "s3_post_policy",
            Box::new(move || {
                black_box(store.form_upload(black_box(g)));
            }),
            Box::new(move || {
                black_box(hmac256(keyed, black_box(base64.as_bytes())));
            }),
        )
    });
}

/// `SignKey` (keyed HMAC-SHA1 over KeyTime), the given SHA-1, and the HMAC keyed with SignKey's hex text.
fn cos_floor(
    keyed_sk: &HmacSha1,
    key_time: &str,
    hashed: &[u8],
    string_to_sign: &[u8],
) -> [u8; 20] {
    let sign_key = hex::encode(hmac1(keyed_sk, key_time.as_bytes()));
    let digest = Sha1::digest(hashed);
    let mut mac = keyed_sha1(sign_key.as_bytes());
    mac.update(string_to_sign);
    black_box(digest);
    mac.finalize().into_bytes().into()
}

fn cos(cases: &mut Vec<Case>) {
    let store = leak(cos_store());
    let g = leak(grant());
    let keyed_sk = leak(keyed_sha1(COS_SK.as_bytes()));
    let key_time = leak(format!("{};{}", NOW - 60, EXPIRES_AT));

    // The HttpString and StringToSign of this PUT, written out by hand (sorted, UrlEncoded headers).
    let http_string = leak(format!(
        "put\n/{KEY}\n\ncontent-length={SIZE}&content-type={}&host={}\n",
        url_encode(CONTENT_TYPE),
        url_encode(COS_HOST)
    ));
    let string_to_sign = leak(format!(
        "sha1\n{key_time}\n{}\n",
        hex::encode(Sha1::digest(http_string.as_bytes()))
    ));
    let url = store.presigned_put(g).url;
    let floor_signature = hex::encode(cos_floor(
        keyed_sk,
        key_time,
        http_string.as_bytes(),
        string_to_sign.as_bytes(),
    ));
    assert!(
        url.contains(&format!("q-signature={floor_signature}")),
        "the floor hashes what the store signs: {url}"
    );
    cases.push(Case::new(
        "cos_presigned_put",
        Box::new(move || {
            black_box(store.presigned_put(black_box(g)));
        }),
        Box::new(move || {
            black_box(cos_floor(
                keyed_sk,
                black_box(key_time),
                black_box(http_string.as_bytes()),
                black_box(string_to_sign.as_bytes()),
            ));
        }),
    ));

    let policy = leak(policy_json(&PolicyConditions {
        expires_at: EXPIRES_AT,
        key_time,
        secret_id: COS_ID,
        bucket: COS_BUCKET,
        key: KEY,
        max_size: MAX_SIZE,
        content_type: Some(CONTENT_TYPE),
        security_token: None,
    }));
    let fields = store.form_upload(g).fields;
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        STANDARD.decode(field("policy")).ok().as_deref(),
        Some(policy.as_bytes()),
        "the floor hashes the policy the store signs"
    );
    let string_to_sign = leak(hex::encode(Sha1::digest(policy.as_bytes())));
    let floor = move || {
        cos_floor(
            keyed_sk,
            black_box(key_time),
            black_box(policy.as_bytes()),
            black_box(string_to_sign.as_bytes()),
        )
    };
    cases.push(Case {
        // The form carries the policy in base64, which COS does not sign (it hashes the JSON).
        encoding: Some(Box::new(move || {
            black_box(floor());
            black_box(STANDARD.encode(black_box(policy.as_bytes())));
        })),
        ..Case::new(
            "cos_post_policy",
            Box::new(move || {
                black_box(store.form_upload(black_box(g)));
            }),
            Box::new(move || {
                black_box(floor());
            }),
        )
    });
}

fn qiniu(cases: &mut Vec<Case>) {
    let store = leak(qiniu_store());
    let g = leak(grant());
    let keyed_sk = leak(keyed_sha1(QN_SK.as_bytes()));
    let spec = leak(CallbackSpec {
        url: QN_CALLBACK_URL,
    });
    let token = store.form_upload(g, Some(spec)).fields[0].1.clone();
    let encoded_policy = leak(token.rsplit(':').next().unwrap_or_default().to_owned());
    let policy = leak(URL_SAFE.decode(encoded_policy).expect("urlsafe base64"));
    cases.push(Case {
        encoding: Some(Box::new(move || {
            let encoded = URL_SAFE.encode(black_box(policy));
            black_box(hmac1(keyed_sk, encoded.as_bytes()));
        })),
        ..Case::new(
            "qiniu_upload_token",
            Box::new(move || {
                black_box(store.form_upload(black_box(g), Some(spec)));
            }),
            Box::new(move || {
                black_box(hmac1(keyed_sk, black_box(encoded_policy.as_bytes())));
            }),
        )
    });

    // A callback as actix hands it over: lower-cased header names, the ticket in the query.
    let body = "key=users%2Falice%2Fphotos%2F2026%2Fcat.jpg&hash=FhxEnhTeRGBhFKSkEaA1o2RzsAlz&fsize=123456\
                &bucket=my-bucket&mimeType=image%2Fjpeg&sub=alice";
    let path = "/v1/callbacks/qn";
    let query = "t=0b9dYh7Qm1vQ2xXh3sKq8pWm4nLr5tZa6cUe7fGi9jA";
    let host = "broker.example.com";
    let content_type = "application/x-www-form-urlencoded";
    let headers: &'static [(&str, &str)] = leak([
        ("host", host),
        ("content-type", content_type),
        ("content-length", "139"),
        ("user-agent", "qiniu-callback/1.0"),
        ("x-qiniu-date", "20261121T063729Z"),
        ("x-reqid", "AAAAAEkUAAAR9qAX"),
    ]);
    let qbox_data = format!("{path}?{query}\n{body}");
    let qiniu_data = format!(
        "POST {path}?{query}\nHost: {host}\nContent-Type: {content_type}\nX-Qiniu-Date: 20261121T063729Z\n\n{body}"
    );
    for (scheme, group, data) in [
        ("QBox", "qiniu_callback_verify_qbox", qbox_data),
        ("Qiniu", "qiniu_callback_verify_qiniu", qiniu_data),
    ] {
        let data = leak(data);
        let authorization = leak(format!(
            "{scheme} {QN_AK}:{}",
            URL_SAFE.encode(hmac1(keyed_sk, data.as_bytes()))
        ));
        let request = leak(CallbackRequest {
            method: "POST",
            path,
            query: Some(query),
            host,
            content_type: Some(content_type),
            headers,
            body: body.as_bytes(),
            authorization: Some(authorization),
        });
        assert_eq!(store.verify_callback(request), Ok(()), "{scheme}");
        cases.push(Case::new(
            group,
            Box::new(move || {
                black_box(store.verify_callback(black_box(request))).ok();
            }),
            Box::new(move || {
                black_box(hmac1(keyed_sk, black_box(data.as_bytes())));
            }),
        ));
    }
}

fn oss(cases: &mut Vec<Case>) {
    let store = leak(oss_store());
    let g = leak(grant());
    let date = SigningTime::from_unix(NOW).date;
    let keyed = leak(keyed_sha256(&oss_signing_key(OSS_SK, &date, OSS_REGION)));

    // The headers the store hands out are the ones it signed (Content-Type, Content-Length, and
    // x-oss-forbid-overwrite when the grant forbids overwriting).
    let put = store.presigned_put(g, None);
    let headers: Vec<(&str, &str)> = put
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let presigned = store.signer().presign(
        &Request {
            method: "PUT",
            bucket: OSS_BUCKET,
            key: KEY,
            query: &[],
            headers: &headers,
            additional_headers: &["content-length"],
            now: NOW,
        },
        EXPIRES_AT - NOW,
    );
    assert!(
        put.url.ends_with(&presigned.query),
        "the floor hashes what the store signs"
    );
    cases.push(Case::new(
        "oss_presigned_put",
        Box::new(move || {
            black_box(store.presigned_put(black_box(g), None));
        }),
        v4_floor(keyed, presigned.canonical_request, presigned.string_to_sign),
    ));

    let upload_id = "0004B9894A22E5B1888A1E29F8236E2D";
    let part = store.signer().presign(
        &Request {
            method: "PUT",
            bucket: OSS_BUCKET,
            key: KEY,
            query: &[("partNumber", "17"), ("uploadId", upload_id)],
            headers: &[],
            additional_headers: &["content-length"],
            now: NOW,
        },
        EXPIRES_AT - NOW,
    );
    assert!(store
        .presigned_upload_part(KEY, upload_id, 17, None, NOW, EXPIRES_AT)
        .url
        .ends_with(&part.query));
    cases.push(Case::new(
        "oss_presigned_upload_part",
        Box::new(move || {
            black_box(store.presigned_upload_part(
                black_box(KEY),
                upload_id,
                17,
                None,
                NOW,
                EXPIRES_AT,
            ));
        }),
        v4_floor(keyed, part.canonical_request, part.string_to_sign),
    ));

    let form = store.form_upload(g, None);
    let policy = leak(
        form.fields
            .iter()
            .find(|(k, _)| *k == "policy")
            .map(|(_, v)| v.clone())
            .expect("policy field"),
    );
    let json = leak(STANDARD.decode(policy).expect("base64"));
    cases.push(Case {
        encoding: Some(Box::new(move || {
            let encoded = STANDARD.encode(black_box(json));
            black_box(hmac256(keyed, encoded.as_bytes()));
        })),
        ..Case::new(
            "oss_post_policy",
            Box::new(move || {
                black_box(store.form_upload(black_box(g), None));
            }),
            Box::new(move || {
                black_box(hmac256(keyed, black_box(policy.as_bytes())));
            }),
        )
    });

    // OCB1 of tests/vectors/oss.json: a callback signed by OSS itself, with its published key.
    let vectors: serde_json::Value =
        serde_json::from_str(include_str!("../../tests/vectors/oss.json")).expect("oss.json");
    let v = &vectors["callbacks"]["vectors"][0];
    let text = |name: &str| leak(v[name].as_str().expect(name).to_owned());
    let (raw_path, query, body, authorization) = (
        text("raw_path"),
        text("query"),
        text("body"),
        text("authorization"),
    );
    let key = leak(OssPublicKey::from_pem(text("public_key_pem").as_bytes()).expect("key"));
    let request = leak(OssCallbackRequest {
        raw_path,
        query,
        body: body.as_bytes(),
        authorization,
    });
    assert_eq!(oss_verify(key, request), Ok(()), "{}", text("id"));
    let string_to_sign = text("string_to_sign");
    let signature = leak(STANDARD.decode(authorization.trim()).expect("base64"));
    let rsa_key =
        leak(rsa::RsaPublicKey::from_public_key_pem(text("public_key_pem").trim()).expect("key"));
    cases.push(Case::new(
        "oss_callback_verify",
        Box::new(move || {
            black_box(oss_verify(key, black_box(request))).ok();
        }),
        Box::new(move || {
            let digest = md5::Md5::digest(black_box(string_to_sign.as_bytes()));
            black_box(rsa_key.verify(rsa::Pkcs1v15Sign::new::<md5::Md5>(), &digest, signature))
                .ok();
        }),
    ));
}

/// Every case, in the order of docs/PERFORMANCE.md's table.
pub fn all() -> Vec<Case> {
    let mut cases = Vec::new();
    s3(&mut cases);
    cos(&mut cases);
    qiniu(&mut cases);
    oss(&mut cases);
    cases
}
