//! Storage providers: each signer is a pure function of (credentials, request, time).
pub mod cos;
pub mod oss;
pub mod qiniu;
pub mod s3;
pub mod store;
pub(crate) mod text;
pub mod types;

pub use store::{Backend, Store};
pub use types::*;
