//! A deadline on reading the request body (API.md: a body not fully received within the server's body
//! timeout is answered 408), so clients trickling bytes cannot hold connections and workers indefinitely.
//! Applied once, in the request middleware, so every extractor (JSON bodies, raw callback bodies) gets it.
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use futures_util::Stream;

/// The body stream, cut off with an `io::ErrorKind::TimedOut` error once the deadline passes. The timer is
/// armed only when the body first has to wait: a body that arrived with the request head (most JSON bodies)
/// never registers one, which was a visible share of a small request's cost.
struct Deadline {
    inner: Payload,
    deadline: tokio::time::Instant,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    expired: bool,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Pending => {
                let deadline = self.deadline;
                let sleep = self
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.expired = true;
                Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "request body not received in time",
                )))))
            }
            ready => ready,
        }
    }
}

/// Wraps `payload` so that reading it fails once `timeout` has passed since now (the request's arrival).
pub fn with_deadline(payload: Payload, timeout: Duration) -> Payload {
    Payload::from(Box::pin(Deadline {
        inner: payload,
        deadline: tokio::time::Instant::now() + timeout,
        sleep: None,
        expired: false,
    })
        as Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>)
}

/// Whether an extractor's error is this deadline having passed.
pub fn is_timeout(e: &actix_web::Error) -> bool {
    matches!(e.as_error::<PayloadError>(),
        Some(PayloadError::Io(io)) if io.kind() == std::io::ErrorKind::TimedOut)
}

/// The problem a timed-out body gets.
pub fn timeout_error() -> crate::error::ApiError {
    crate::error::ApiError::RequestTimeout("the request body was not received in time".into())
}
