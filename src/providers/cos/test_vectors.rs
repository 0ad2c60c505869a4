//! Loader of the COS known-answer vectors (tests/vectors/cos.json, copied from the shared vector set).

use std::collections::BTreeMap;

use serde::Deserialize;

/// The parts of cos.json the COS signers reproduce (the STS vectors are another module's concern).
#[derive(Deserialize)]
pub struct CosVectors {
    pub request_signatures: Vec<RequestVector>,
    pub post_policies: Vec<PolicyVector>,
}

/// One q-sign vector (D*, Q*, A*, N*, S*).
#[derive(Deserialize)]
pub struct RequestVector {
    pub id: String,
    pub secret_id: String,
    pub secret_key: String,
    pub method: String,
    pub host: String,
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub params: BTreeMap<String, String>,
    pub key_time: String,
    pub sign_key: String,
    pub header_list: String,
    pub url_param_list: String,
    pub http_parameters: String,
    pub http_headers: String,
    pub http_string: String,
    pub sha1_http_string: String,
    pub string_to_sign: String,
    pub signature: String,
    pub authorization: String,
    pub url_style: Option<String>,
    pub url: Option<String>,
    pub security_token_unsigned: Option<String>,
}

/// One POST-policy vector (P*).
#[derive(Deserialize)]
pub struct PolicyVector {
    pub id: String,
    pub secret_key: String,
    pub key_time: String,
    pub policy_text: String,
    pub sign_key: String,
    pub string_to_sign: String,
    pub signature: String,
    pub policy_base64: String,
}

/// Parses the copied vector file; a malformed file fails the calling test.
pub fn cos_vectors() -> CosVectors {
    serde_json::from_str(include_str!("../../../tests/vectors/cos.json"))
        .expect("tests/vectors/cos.json parses")
}

/// Borrowed name/value pairs, as `SignableRequest` takes them.
pub type Pairs<'a> = Vec<(&'a str, &'a str)>;

impl RequestVector {
    /// The vector's headers and params as borrowed pairs.
    pub fn pairs(&self) -> (Pairs<'_>, Pairs<'_>) {
        (borrowed(&self.headers), borrowed(&self.params))
    }
}

fn borrowed(list: &BTreeMap<String, String>) -> Pairs<'_> {
    list.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}
