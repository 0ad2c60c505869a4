//! Replay windows: a captured callback must never be recorded again after its idempotency key has expired,
//! so every verified callback carries a time the broker checks (docs/API.md, "Provider callbacks").
use chrono::{DateTime, Utc};

/// An SNS message signed longer ago than the idempotency TTL is refused: its key may be gone, so a replay
/// would be recorded twice. A `Timestamp` that does not parse is refused too (it is part of what SNS signs).
pub fn sns_message_fresh(
    timestamp: &str,
    now: DateTime<Utc>,
    ttl_seconds: u64,
) -> Result<(), String> {
    let sent = DateTime::parse_from_rfc3339(timestamp)
        .map_err(|_| "SNS Timestamp is not an RFC 3339 time".to_string())?
        .with_timezone(&Utc);
    let age = now.signed_duration_since(sent).num_seconds();
    if age > i64::try_from(ttl_seconds).unwrap_or(i64::MAX) {
        return Err(format!(
            "SNS message is {age} s old, older than the idempotency TTL ({ttl_seconds} s)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_and_malformed_sns_timestamps_are_refused() {
        let now = DateTime::parse_from_rfc3339("2026-12-05T12:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        assert!(sns_message_fresh("2026-12-05T11:00:00.000Z", now, 3600).is_ok());
        assert!(sns_message_fresh("2026-12-05T10:59:59.000Z", now, 3600).is_err());
        assert!(sns_message_fresh("2019-01-01T00:00:00.000Z", now, 604_800).is_err());
        assert!(sns_message_fresh("yesterday", now, 604_800).is_err());
        assert!(sns_message_fresh("", now, 604_800).is_err());
        // Clock skew: a message a little in the future is fine.
        assert!(sns_message_fresh("2026-12-05T12:01:00Z", now, 60).is_ok());
    }
}
