//! Callers prove who they are with a JWT: keys pinned to one algorithm each, static or from a JWKS URL.
pub mod jwks;
pub mod jwt;

pub use jwks::JwksCache;
pub use jwt::{AuthError, Authenticator, VerifyKey};
