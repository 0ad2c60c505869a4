//! Allow-listing of the URLs an SNS message makes the broker fetch (`SigningCertURL`, `SubscribeURL`).
//!
//! A regex over the raw string is easy to fool: `https://sns.x.amazonaws.com/a?.pem` and `…/a#.pem` end in `.pem`
//! but fetch another path, `https://sns.x.amazonaws.com@evil/x.pem` or `…amazonaws.com.evil/` pass a host-prefix
//! pattern, and other URL parsers disagree on `\`, tabs, newlines and percent-encoded hosts. So the URL is parsed
//! once with the `url` crate, structural rules are checked on the parsed form, the pattern is matched against the
//! normalized serialization, and the caller fetches exactly that parsed URL.

use regex::Regex;
use url::{Position, Url};

/// The parsed URL when `url` is an allowed `SigningCertURL` for `pattern` (see [`cert_url_allowed`]).
pub fn allowed_cert_url(url: &str, pattern: &Regex) -> Option<Url> {
    let parsed = fetchable_url(url)?;
    // A query is never part of a certificate URL; forbidding it also makes a `\.pem$` pattern mean "path ends in .pem".
    if parsed.query().is_some() {
        return None;
    }
    pattern_pins_url(&parsed, pattern).then_some(parsed)
}

/// Whether `url` may be fetched as a `SigningCertURL`: it parses as an absolute http(s) URL with a host, no
/// userinfo, no query and no fragment, and `pattern` matches its normalized form from the first character through at
/// least the end of `scheme://host[:port]` (so a pattern that only checks a host prefix cannot be satisfied by
/// `sns.us-east-1.amazonaws.com.evil.example`, and an unanchored one cannot match inside the path).
pub fn cert_url_allowed(url: &str, pattern: &Regex) -> bool {
    allowed_cert_url(url, pattern).is_some()
}

/// The parsed URL when `subscribe_url` may be fetched to confirm a subscription: the structural rules of
/// [`cert_url_allowed`] except that a query is allowed (it carries `Action`, `TopicArn` and `Token`), and either
/// `pattern` matches it or it has the same scheme, host and port as the message's allowed `signing_cert_url`.
/// The second branch exists because the default pattern ends in `\.pem$`, which no real `SubscribeURL` does.
pub fn allowed_subscribe_url(
    subscribe_url: &str,
    signing_cert_url: &str,
    pattern: &Regex,
) -> Option<Url> {
    let parsed = fetchable_url(subscribe_url)?;
    if pattern_pins_url(&parsed, pattern) {
        return Some(parsed);
    }
    let cert_url = allowed_cert_url(signing_cert_url, pattern)?;
    (parsed.origin() == cert_url.origin()).then_some(parsed)
}

fn fetchable_url(raw: &str) -> Option<Url> {
    let url = Url::parse(raw).ok()?;
    let web_scheme = matches!(url.scheme(), "https" | "http");
    let has_userinfo = !url.username().is_empty() || url.password().is_some();
    (web_scheme && url.host().is_some() && !has_userinfo && url.fragment().is_none()).then_some(url)
}

fn pattern_pins_url(url: &Url, pattern: &Regex) -> bool {
    let normalized = url.as_str();
    let authority_end = url[..Position::BeforePath].len();
    pattern
        .find(normalized)
        .is_some_and(|m| m.start() == 0 && m.end() >= authority_end)
}
