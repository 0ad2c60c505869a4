//! Bearer-token validation: header size cap, algorithm pinned to the key, exp/nbf/iss/aud/sub checked.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::jwks::JwksCache;
use crate::config::{AuthConfig, KeyConfig, KeyMaterial};
use crate::policy::Claims;

/// An `Authorization` header longer than this is refused before any parsing.
pub const MAX_AUTHORIZATION_BYTES: usize = 8 * 1024;

/// A verification key, usable with exactly one algorithm.
#[derive(Clone)]
pub struct VerifyKey {
    pub kid: Option<String>,
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish()
    }
}

impl VerifyKey {
    pub fn from_config(k: &KeyConfig) -> Result<Self, String> {
        use Algorithm::*;
        let key = match (&k.material, k.algorithm) {
            (KeyMaterial::Secret(s), HS256 | HS384 | HS512) => {
                DecodingKey::from_secret(s.expose().as_bytes())
            }
            (KeyMaterial::PublicKeyPem(pem), RS256 | RS384 | RS512 | PS256 | PS384 | PS512) => {
                DecodingKey::from_rsa_pem(pem.as_bytes())
                    .map_err(|e| format!("RSA public key: {e}"))?
            }
            (KeyMaterial::PublicKeyPem(pem), ES256 | ES384) => {
                DecodingKey::from_ec_pem(pem.as_bytes())
                    .map_err(|e| format!("EC public key: {e}"))?
            }
            (KeyMaterial::PublicKeyPem(pem), EdDSA) => DecodingKey::from_ed_pem(pem.as_bytes())
                .map_err(|e| format!("Ed25519 public key: {e}"))?,
            (_, alg) => return Err(format!("key material does not fit algorithm {alg:?}")),
        };
        Ok(Self {
            kid: k.kid.clone(),
            algorithm: k.algorithm,
            key,
        })
    }
}

/// Why a token was refused. The text is safe to show the caller.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("missing Authorization: Bearer token")]
    Missing,
    #[error("Authorization header over {MAX_AUTHORIZATION_BYTES} bytes")]
    TooLarge,
    #[error("malformed token")]
    Malformed,
    #[error("token algorithm {0} is not accepted")]
    AlgorithmNotAllowed(String),
    #[error("unknown key id")]
    UnknownKid,
    #[error("token {0}")]
    Invalid(String),
}

/// Validates bearer tokens against static keys and, when configured, a JWKS.
pub struct Authenticator {
    keys: Vec<(VerifyKey, Validation)>,
    jwks: Option<Arc<JwksCache>>,
    validation_template: Validation,
    roles_claim: String,
    verified: VerifiedTokens,
}

/// Most entries the cache of verified tokens holds before it starts over.
const VERIFIED_CACHE_ENTRIES: usize = 4096;

/// Tokens that passed full verification with a *static* key, and the claims they gave. A client sends the same
/// token on every request until it expires, and everything but the time checks is a pure function of the token
/// bytes and the static keys (signature, algorithm, kid, iss, aud, sub, roles), which never change while the
/// process runs. So a cached token is only re-checked against the clock (exp and nbf with the leeway, the same
/// comparisons `jsonwebtoken` makes); if that fails it goes through full verification again, which gives the
/// usual error. JWKS keys can be rotated out, so tokens verified by a JWKS key are never cached.
#[derive(Default)]
struct VerifiedTokens {
    entries: Mutex<HashMap<String, Verified>>,
}

#[derive(Clone)]
struct Verified {
    claims: Arc<Claims>,
    exp: u64,
    nbf: Option<u64>,
}

impl VerifiedTokens {
    fn get(&self, token: &str, leeway: u64) -> Option<Arc<Claims>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let hit = entries.get(token)?;
        let now = jsonwebtoken::get_current_timestamp();
        // jsonwebtoken: expired when `exp < now - leeway`, not yet valid when `nbf > now + leeway`.
        let current = hit.exp >= now.saturating_sub(leeway)
            && hit.nbf.is_none_or(|nbf| nbf <= now.saturating_add(leeway));
        current.then(|| hit.claims.clone())
    }

    fn insert(&self, token: &str, verified: Verified) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= VERIFIED_CACHE_ENTRIES {
            entries.clear();
        }
        entries.insert(token.to_owned(), verified);
    }
}

impl Authenticator {
    pub fn new(config: &AuthConfig, jwks: Option<Arc<JwksCache>>) -> Result<Self, String> {
        let mut template = Validation::new(Algorithm::HS256);
        template.leeway = config.leeway_seconds;
        template.validate_nbf = true;
        // jsonwebtoken checks `iss`/`aud` only when present unless they are required: a token without them
        // (signed by the same key for another purpose) must not pass when they are configured.
        let mut required = vec!["exp", "sub"];
        required.extend(config.issuer.as_ref().map(|_| "iss"));
        required.extend(config.audience.as_ref().map(|_| "aud"));
        template.set_required_spec_claims(&required);
        if let Some(iss) = &config.issuer {
            template.set_issuer(&[iss]);
        }
        match &config.audience {
            Some(aud) => template.set_audience(&[aud]),
            // Without a configured audience a token's `aud` is not ours to judge.
            None => template.validate_aud = false,
        }
        let keys = config
            .keys
            .iter()
            .map(|k| {
                let key = VerifyKey::from_config(k)?;
                let validation = validation_for(&template, key.algorithm);
                Ok((key, validation))
            })
            .collect::<Result<_, String>>()?;
        Ok(Self {
            keys,
            jwks,
            validation_template: template,
            roles_claim: config.roles_claim.clone(),
            verified: VerifiedTokens::default(),
        })
    }

    /// Validates the `Authorization` header value and returns the caller's claims.
    pub async fn authenticate(&self, header: Option<&[u8]>) -> Result<Arc<Claims>, AuthError> {
        self.authenticate_with(header, true).await
    }

    /// [`Authenticator::authenticate`] without the cache of verified tokens: every token is verified in full
    /// (what a token's first request costs; for the benchmarks).
    #[doc(hidden)]
    pub async fn authenticate_uncached(
        &self,
        header: Option<&[u8]>,
    ) -> Result<Arc<Claims>, AuthError> {
        self.authenticate_with(header, false).await
    }

    async fn authenticate_with(
        &self,
        header: Option<&[u8]>,
        use_cache: bool,
    ) -> Result<Arc<Claims>, AuthError> {
        let header = header.ok_or(AuthError::Missing)?;
        if header.len() > MAX_AUTHORIZATION_BYTES {
            return Err(AuthError::TooLarge);
        }
        let header = std::str::from_utf8(header).map_err(|_| AuthError::Malformed)?;
        let token = match header.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return Err(AuthError::Missing),
        };
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        if use_cache {
            if let Some(claims) = self.verified.get(token, self.validation_template.leeway) {
                return Ok(claims);
            }
        }
        let jwt_header = decode_header(token).map_err(|_| AuthError::Malformed)?;
        let alg = jwt_header.alg;
        let kid = jwt_header.kid.as_deref();

        let mut result = self.verify_with_static(token, alg, kid);
        let by_static_key = result.is_ok();
        if matches!(
            result,
            Err(AuthError::UnknownKid) | Err(AuthError::AlgorithmNotAllowed(_))
        ) {
            if let Some(jwks) = &self.jwks {
                result = self.verify_with_jwks(jwks, token, alg, kid).await;
            }
        }
        let map = result?;
        // Validation required a numeric exp and refused a malformed nbf, so these parse whenever it passed.
        let exp = map.get("exp").and_then(Value::as_u64);
        let nbf = map.get("nbf").and_then(Value::as_u64);
        let nbf_ok = map.get("nbf").is_none() || nbf.is_some();
        // Shared, not copied: a cached token's claims go to every request that presents it.
        let claims = Arc::new(self.to_claims(map)?);
        if let (true, true, Some(exp), true) = (use_cache, by_static_key, exp, nbf_ok) {
            self.verified.insert(
                token,
                Verified {
                    claims: claims.clone(),
                    exp,
                    nbf,
                },
            );
        }
        Ok(claims)
    }

    fn verify_with_static(
        &self,
        token: &str,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<Map<String, Value>, AuthError> {
        verify_any(
            token,
            alg,
            kid,
            self.keys
                .iter()
                .map(|(k, v)| (k, std::borrow::Cow::Borrowed(v))),
        )
    }

    async fn verify_with_jwks(
        &self,
        jwks: &JwksCache,
        token: &str,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<Map<String, Value>, AuthError> {
        let attempt = |keys: &[VerifyKey]| {
            verify_any(
                token,
                alg,
                kid,
                keys.iter().map(|k| {
                    (
                        k,
                        std::borrow::Cow::Owned(validation_for(
                            &self.validation_template,
                            k.algorithm,
                        )),
                    )
                }),
            )
        };
        let result = attempt(&jwks.keys());
        match (&result, kid) {
            // A key we have never seen may have just been rotated in: refetch once (rate-limited, single-flight).
            // Boxed: the fetch's HTTP future is kilobytes, and inline it would make every request's
            // authentication future that large (copied on every request, though refetches are rare).
            (Err(AuthError::UnknownKid), Some(kid))
                if Box::pin(jwks.refresh_for_unknown_kid(kid)).await =>
            {
                attempt(&jwks.keys())
            }
            _ => result,
        }
    }

    fn to_claims(&self, mut map: Map<String, Value>) -> Result<Claims, AuthError> {
        let sub = match map.remove("sub") {
            Some(Value::String(s)) if !s.is_empty() => s,
            _ => return Err(AuthError::Invalid("sub must be a non-empty string".into())),
        };
        let roles = match map.get(&self.roles_claim) {
            Some(Value::String(r)) => vec![r.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            _ => Vec::new(),
        };
        Ok(Claims::new(sub, roles, map))
    }
}

fn validation_for(template: &Validation, alg: Algorithm) -> Validation {
    let mut v = template.clone();
    v.algorithms = vec![alg];
    v
}

/// Tries each key pinned to the token's algorithm (and kid, when the token names one).
fn verify_any<'k>(
    token: &str,
    alg: Algorithm,
    kid: Option<&str>,
    keys: impl Iterator<Item = (&'k VerifyKey, std::borrow::Cow<'k, Validation>)>,
) -> Result<Map<String, Value>, AuthError> {
    let mut kid_seen = false;
    let mut first_error = None;
    for (key, validation) in keys {
        // A key without a kid stands for any kid; a key with one only for its own.
        if matches!((kid, key.kid.as_deref()), (Some(want), Some(have)) if want != have) {
            continue;
        }
        kid_seen = true;
        if key.algorithm != alg {
            continue;
        }
        match decode::<Map<String, Value>>(token, &key.key, &validation) {
            Ok(data) => return Ok(data.claims),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(describe(e)),
        None if kid.is_some() && !kid_seen => Err(AuthError::UnknownKid),
        None => Err(AuthError::AlgorithmNotAllowed(format!("{alg:?}"))),
    }
}

fn describe(e: jsonwebtoken::errors::Error) -> AuthError {
    use jsonwebtoken::errors::ErrorKind::*;
    AuthError::Invalid(
        match e.kind() {
            ExpiredSignature => "has expired",
            ImmatureSignature => "is not valid yet (nbf)",
            InvalidSignature => "signature is invalid",
            InvalidIssuer => "issuer is not accepted",
            InvalidAudience => "audience is not accepted",
            MissingRequiredClaim(c) if c == "exp" => "lacks exp",
            MissingRequiredClaim(c) if c == "sub" => "lacks sub",
            MissingRequiredClaim(_) => "lacks a required claim",
            InvalidAlgorithm => "algorithm does not match the key",
            InvalidClaimFormat(_) => "has a claim of the wrong type",
            Json(_) | Utf8(_) | Base64(_) | InvalidToken => "is malformed",
            _ => "is invalid",
        }
        .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    const SECRET: &str = "unit-test-secret-0123456789abcdef0123";

    fn authenticator() -> Authenticator {
        let text = format!(
            "[auth]\naudience = \"pb\"\nleeway_seconds = 30\n[[auth.keys]]\nalgorithm = \"HS256\"\nsecret = \"{SECRET}\"\n"
        );
        let config = crate::config::Config::parse("t.toml", &text, None).expect("config");
        Authenticator::new(&config.auth, None).expect("authenticator")
    }

    fn token(claims: serde_json::Value) -> String {
        let bearer = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .expect("token");
        format!("Bearer {bearer}")
    }

    #[tokio::test]
    async fn cached_tokens_are_still_checked_against_the_clock() {
        let auth = authenticator();
        let now = jsonwebtoken::get_current_timestamp();
        let good = token(json!({"sub": "alice", "roles": ["user"], "aud": "pb", "exp": now + 600}));
        let first = auth
            .authenticate(Some(good.as_bytes()))
            .await
            .expect("valid");
        let again = auth
            .authenticate(Some(good.as_bytes()))
            .await
            .expect("cached");
        assert_eq!((&first.sub, &first.roles), (&again.sub, &again.roles));
        assert_eq!(auth.verified.entries.lock().map(|e| e.len()).ok(), Some(1));

        // An entry whose time is up is not served: full verification runs and gives its own answer.
        let expired = token(json!({"sub": "alice", "aud": "pb", "exp": now - 100}));
        let want = auth.authenticate(Some(expired.as_bytes())).await.err();
        assert_eq!(want, Some(AuthError::Invalid("has expired".into())));
        let bare = &expired["Bearer ".len()..];
        auth.verified.insert(
            bare,
            Verified {
                claims: again.clone(),
                exp: now - 100,
                nbf: None,
            },
        );
        assert_eq!(
            auth.authenticate(Some(expired.as_bytes())).await.err(),
            want
        );
        let early = token(json!({"sub": "alice", "aud": "pb", "exp": now + 600, "nbf": now + 100}));
        let want = auth.authenticate(Some(early.as_bytes())).await.err();
        assert_eq!(
            want,
            Some(AuthError::Invalid("is not valid yet (nbf)".into()))
        );
        auth.verified.insert(
            &early["Bearer ".len()..],
            Verified {
                claims: again,
                exp: now + 600,
                nbf: Some(now + 100),
            },
        );
        assert_eq!(auth.authenticate(Some(early.as_bytes())).await.err(), want);

        // Refused tokens are never cached; a wrong signature stays wrong.
        let tampered = format!("{}x", &good[..good.len() - 1]);
        assert!(auth.authenticate(Some(tampered.as_bytes())).await.is_err());
        let wrong_aud = token(json!({"sub": "alice", "aud": "other", "exp": now + 600}));
        assert!(auth.authenticate(Some(wrong_aud.as_bytes())).await.is_err());
        assert!(auth.authenticate(Some(wrong_aud.as_bytes())).await.is_err());
    }
}
