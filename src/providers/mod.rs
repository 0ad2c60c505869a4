//! Storage providers: each signer is a pure function of (credentials, request, time).
pub mod cos;
#[cfg(test)]
pub(crate) mod loopback;
pub mod oss;
pub mod qiniu;
pub mod s3;
pub mod store;
pub(crate) mod text;
pub mod types;

pub use store::{Backend, Store};
pub use types::*;
