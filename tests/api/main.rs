//! One integration test binary: the real app on 127.0.0.1:0 against a real Redis and a real S3 server.
mod auth;
mod callbacks;
mod cli;
mod companion;
mod cos_qiniu;
mod emulated;
mod errors;
mod fuzz_corpus;
mod hardening;
mod helpers;
mod operations;
mod oss;
mod policy;
mod readme;
mod redis_topologies;
mod s3;
