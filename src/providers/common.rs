//! What the providers share: text builders of the signers' hot path (fixed-width dates, JSON string literals, the
//! one percent-encoding table), POST-policy conditions, endpoint/origin parsing and transport errors.
use chrono::{DateTime, Utc};

/// UTC calendar fields of `unix` seconds, when the year has four digits (what the fast formatters handle;
/// callers fall back to chrono's own formatting otherwise, so the text never changes).
pub fn utc_fields(unix: i64) -> Option<[u32; 6]> {
    // Days to a proleptic Gregorian date with Howard Hinnant's `civil_from_days` (exact for every i64 here),
    // a few integer operations instead of chrono's table walk; tests compare it with chrono.
    let (days, seconds) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let z = days + 719_468; // days since 0000-03-01
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153; // March = 0
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let year = u32::try_from(year).ok().filter(|y| *y <= 9999)?;
    let narrow = |n: i64| u32::try_from(n).unwrap_or_else(|_| unreachable!("a calendar field"));
    Some([
        year,
        narrow(month),
        narrow(day),
        narrow(seconds / 3_600),
        narrow(seconds / 60 % 60),
        narrow(seconds % 60),
    ])
}

/// `2026-11-21T10:10:00.000Z`: ISO 8601 with milliseconds and `Z`, what S3 and COS POST policies' `expiration`
/// takes (and JS `toISOString()` gives). Years past 9999 go through chrono; an unrepresentable instant becomes
/// 1970: an expired policy fails closed.
pub fn iso8601_millis(unix: i64) -> String {
    let mut out = String::with_capacity(24);
    push_iso8601_millis(&mut out, unix);
    out
}

/// [`iso8601_millis`] appended to `out` (digit by digit from the calendar fields: chrono's `format` costs
/// more than the HMAC it feeds).
pub fn push_iso8601_millis(out: &mut String, unix: i64) {
    let Some([year, month, day, hour, minute, second]) = utc_fields(unix) else {
        let t = DateTime::<Utc>::from_timestamp(unix, 0).unwrap_or(DateTime::UNIX_EPOCH);
        out.push_str(&t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
        return;
    };
    for (value, width, sep) in [
        (year, 4, '-'),
        (month, 2, '-'),
        (day, 2, 'T'),
        (hour, 2, ':'),
        (minute, 2, ':'),
    ] {
        push_digits(out, value, width);
        out.push(sep);
    }
    push_digits(out, second, 2);
    out.push_str(".000Z");
}

/// Appends `n` as exactly `width` decimal digits (zero-padded; `n` must fit).
pub fn push_digits(out: &mut String, n: u32, width: u32) {
    let mut div = 10u32.pow(width - 1);
    while div > 0 {
        out.push(char::from(b'0' + ((n / div) % 10) as u8));
        div /= 10;
    }
}

/// Appends `s` as a JSON string literal, byte for byte what `serde_json` writes.
pub fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    push_json_inner(out, s);
    out.push('"');
}

/// Appends the inside of [`push_json_str`]'s literal (no quotes), so pieces can make up one string.
pub fn push_json_inner(out: &mut String, s: &str) {
    if needs_json_escape(s.as_bytes()) {
        // Rare (keys and types with quotes or controls): serde_json's own escaping, without its quotes.
        let quoted = serde_json::Value::from(s).to_string();
        out.push_str(&quoted[1..quoted.len() - 1]);
    } else {
        out.push_str(s);
    }
}

/// Whether JSON must escape any byte of `s` (a control character, `"` or `\\`), eight bytes at a time: the
/// classic "has a byte less than n / equal to c" word tricks, exact as a yes/no answer.
fn needs_json_escape(s: &[u8]) -> bool {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES * 0x80;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH != 0;
    let mut chunks = s.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_le_bytes(word);
        let control = v.wrapping_sub(ONES * 0x20) & !v & HIGH != 0;
        if control
            || has_zero(v ^ (ONES * u64::from(b'"')))
            || has_zero(v ^ (ONES * u64::from(b'\\')))
        {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

/// Lowercase hex of `bytes` (what `hex::encode` gives, without going through a `char` iterator).
pub fn hex_string(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.extend_from_slice(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 0x0f)]]);
    }
    String::from_utf8(out).unwrap_or_else(|_| unreachable!("hex digits are ASCII"))
}

/// `A-Za-z0-9-._~`: the unreserved set of RFC 3986, which S3's UriEncode and COS's UrlEncode both keep.
#[inline]
pub fn is_unreserved(b: u8) -> bool {
    UNRESERVED[usize::from(b)]
}

/// [`is_unreserved`] as a table: one load per byte instead of a chain of range tests.
static UNRESERVED: [bool; 256] = UNRESERVED_TABLE;

const UNRESERVED_TABLE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~');
        b += 1;
    }
    table
};

/// Appends `s` with every byte outside the unreserved set (and `/`, unless `keep_slash`) as `%XX`, uppercase.
pub fn push_percent_encoded(out: &mut String, s: &str, keep_slash: bool) {
    let kept = if keep_slash {
        &UNRESERVED_AND_SLASH
    } else {
        &UNRESERVED
    };
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if kept[usize::from(b)] {
            continue;
        }
        // A non-empty bytes[start..i] is a run of kept ASCII bytes, so both its ends are char boundaries
        // (an empty one may start inside a multi-byte character, so it is not sliced at all).
        if start < i {
            out.push_str(&s[start..i]);
        }
        let at = 3 * usize::from(b);
        out.push_str(&PERCENT_TRIPLETS[at..at + 3]);
        start = i + 1;
    }
    if start == 0 {
        out.push_str(s);
    } else if start < bytes.len() {
        out.push_str(&s[start..]);
    }
}

/// `%00%01...%FF`: the escape of byte `b` is `[3b..3b+3]` (one copy, no per-digit pushes).
const PERCENT_TRIPLETS: &str = {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    const TABLE: [u8; 768] = {
        let mut table = [0u8; 768];
        let mut b = 0;
        while b < 256 {
            table[3 * b] = b'%';
            table[3 * b + 1] = HEX[b >> 4];
            table[3 * b + 2] = HEX[b & 0x0f];
            b += 1;
        }
        table
    };
    match std::str::from_utf8(&TABLE) {
        Ok(text) => text,
        Err(_) => panic!("ASCII"),
    }
};

/// Whether [`push_percent_encoded`] would copy `s` unchanged.
pub fn needs_no_encoding(s: &str, keep_slash: bool) -> bool {
    let kept = if keep_slash {
        &UNRESERVED_AND_SLASH
    } else {
        &UNRESERVED
    };
    s.bytes().all(|b| kept[usize::from(b)])
}

/// [`UNRESERVED`] and `/`: what an encoded path keeps (one table, so the loop tests one load per byte).
static UNRESERVED_AND_SLASH: [bool; 256] = {
    let mut table = UNRESERVED_TABLE;
    table[b'/' as usize] = true;
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_match_serde_json() {
        for s in [
            "",
            "plain/key.jpg",
            "用户/a b+c.png",
            "q\"uote",
            "back\\slash",
            "ctl\u{1}\n\t\r\u{7f}",
            "</script>",
        ] {
            let mut out = String::new();
            push_json_str(&mut out, s);
            assert_eq!(out, serde_json::to_string(s).unwrap_or_default(), "{s:?}");
        }
    }

    #[test]
    fn percent_encoding_keeps_runs_and_multibyte_characters_whole() {
        let enc = |s: &str, keep| {
            let mut out = String::new();
            push_percent_encoded(&mut out, s, keep);
            out
        };
        assert_eq!(enc("a b/é~", true), "a%20b/%C3%A9~");
        assert_eq!(enc("a b/é~", false), "a%20b%2F%C3%A9~");
        assert_eq!(enc("éé", true), "%C3%A9%C3%A9");
        assert_eq!(enc("x", true), "x");
        assert!(needs_no_encoding("a/b-c", true) && !needs_no_encoding("a/b", false));
    }

    #[test]
    fn hex_matches_the_hex_crate() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(hex_string(&bytes), hex::encode(&bytes));
    }

    #[test]
    fn json_escape_scan_matches_the_byte_rule() {
        let rule = |s: &[u8]| s.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\');
        // Every byte value at every position of a 17-byte text (two words and a tail), plus UTF-8.
        for at in 0..17 {
            for b in 0..=255u8 {
                let mut text = *b"abcdefghijklmnopq";
                text[at] = b;
                assert_eq!(needs_json_escape(&text), rule(&text), "{b:#x} at {at}");
            }
        }
        assert!(!needs_json_escape("用户/写真 ~ ÿ\u{7f}".as_bytes()));
    }

    #[test]
    fn calendar_fields_match_chrono() {
        use chrono::{Datelike, Timelike};
        let chrono_fields = |unix: i64| {
            let t = DateTime::<Utc>::from_timestamp(unix, 0)?;
            let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
            Some([year, t.month(), t.day(), t.hour(), t.minute(), t.second()])
        };
        let mut unix = -62_167_219_200 - 86_400 * 3; // a few days before 0000-01-01
        while unix < 253_402_300_800 + 86_400 * 3 {
            for offset in [0, 1, 59, 3_599, 86_399] {
                assert_eq!(
                    utc_fields(unix + offset),
                    chrono_fields(unix + offset),
                    "{}",
                    unix + offset
                );
            }
            unix += 86_400 * 13 + 3_601; // every weekday, month and leap rule over the years 0-9999
        }
        for unix in [
            i64::MIN,
            i64::MIN + 1,
            i64::MAX,
            0,
            951_782_400,
            4_107_542_400,
        ] {
            assert_eq!(utc_fields(unix), chrono_fields(unix), "{unix}");
        }
    }

    #[test]
    fn fields_and_digits() {
        assert_eq!(utc_fields(1_369_353_600), Some([2013, 5, 24, 0, 0, 0]));
        assert_eq!(utc_fields(i64::MAX), None);
        let mut out = String::new();
        push_digits(&mut out, 7, 2);
        push_digits(&mut out, 2026, 4);
        assert_eq!(out, "072026");
    }
}

/// Appends the POST-policy condition `{"name":"value"}`, `value` JSON-escaped as serde_json would (S3, COS,
/// OSS). `name` is one of the providers' field names, which JSON never escapes, so it is copied as is.
pub fn push_condition(out: &mut String, name: &'static str, value: &str) {
    debug_assert!(!needs_json_escape(name.as_bytes()), "{name}");
    out.push_str("{\"");
    out.push_str(name);
    out.push_str("\":");
    push_json_str(out, value);
    out.push('}');
}

/// An `http(s)` origin from configuration: scheme, and host with a non-default port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    /// `host[:port]`, the port only when not the scheme's default: what clients send as `Host`.
    pub host: String,
    /// A DNS name (not an IP address): virtual-hosted addressing needs one.
    pub is_domain: bool,
}

impl Origin {
    /// `scheme://host[:port]`, without a trailing `/`.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }
}

/// Parses a configured endpoint: `http(s)://host[:port]` with nothing after it (an optional `/` aside): no
/// credentials, path, query or fragment. Errors name `field` and the value (never a secret).
pub fn parse_origin(field: &str, value: &str) -> Result<Origin, String> {
    let bad = |why: &str| format!("{field} {value:?}: {why}");
    let url = url::Url::parse(value).map_err(|e| bad(&format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("scheme must be http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must have no path, query or fragment"));
    }
    let name = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("no host"))?;
    // `Url::port` is None for the scheme's default port, which clients leave out of `Host` too.
    let host = match url.port() {
        Some(port) => format!("{name}:{port}"),
        None => name.to_owned(),
    };
    Ok(Origin {
        scheme: url.scheme().to_owned(),
        host,
        is_domain: matches!(url.host(), Some(url::Host::Domain(_))),
    })
}

/// A short, URL-free description of a failed round trip: reqwest's own message includes the request URL.
pub fn transport_error(what: &str, error: reqwest::Error) -> super::ProviderError {
    let how = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    super::ProviderError::Transport {
        what: format!("{what}: {how}"),
        source: error.without_url(),
    }
}

/// An access key id is `/`-joined with the scope in a V4 credential, so a `/` or a blank would corrupt it; the
/// secret must not be empty. `what` names the provider's fields in the error (never the values).
pub fn check_key_pair(
    what: (&str, &str),
    access_key: &str,
    secret: &crate::config::Secret,
) -> Result<(), String> {
    if access_key.is_empty()
        || !access_key
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'/')
    {
        return Err(format!(
            "{}: must be non-empty printable ASCII without '/'",
            what.0
        ));
    }
    if secret.is_empty() {
        return Err(format!("{}: must not be empty", what.1));
    }
    Ok(())
}

/// A region id of a credential scope: non-empty, letters, digits, `-` and the bytes of `extra`.
pub fn valid_region(region: &str, extra: &[u8]) -> bool {
    !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || extra.contains(&b))
}

/// A bucket name that can be a DNS label: 3-63 lowercase letters, digits, `-` and the bytes of `extra`, not
/// starting or ending with `-` or `.`.
pub fn valid_dns_bucket(bucket: &str, extra: &[u8]) -> bool {
    (3..=63).contains(&bucket.len())
        && !bucket.starts_with(['.', '-'])
        && !bucket.ends_with(['.', '-'])
        && bucket.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || extra.contains(&b)
        })
}

/// A provider's answer to a server-side call, its body read in full.
pub struct Answer {
    pub status: reqwest::StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

/// Sends `request` and reads at most `limit` bytes of its answer (a provider answer must not grow memory
/// without bound). Errors name `what` (e.g. `COS ListParts`), never the URL.
pub async fn send_bounded(
    request: reqwest::RequestBuilder,
    what: &str,
    limit: usize,
) -> Result<Answer, super::ProviderError> {
    let mut response = request.send().await.map_err(|e| transport_error(what, e))?;
    let status = response.status();
    let headers = std::mem::take(response.headers_mut());
    // A HEAD answer has no body: hyper ends it at once.
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(what, e))?
    {
        if body.len() + chunk.len() > limit {
            return Err(super::ProviderError::Upstream(format!(
                "{what}: answer too large"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// ListParts pages followed at most: 10,000 parts are 10 pages of 1000; the margin covers smaller pages.
const MAX_LIST_PAGES: usize = 100;

/// Every part of a paged listing: `page(marker)` fetches one page (`None` = the first) and answers its parts and
/// the next page's marker (`None` on the last). A marker that does not advance, or more pages than 10,000 parts
/// can need, is an `Upstream` error (`what` names the call) rather than an endless loop.
pub async fn all_pages<F, Fut>(
    what: &str,
    mut page: F,
) -> Result<Vec<super::PartInfo>, super::ProviderError>
where
    F: FnMut(Option<u32>) -> Fut,
    Fut: std::future::Future<
        Output = Result<(Vec<super::PartInfo>, Option<u32>), super::ProviderError>,
    >,
{
    let mut parts = Vec::new();
    let mut marker = None;
    for _ in 0..MAX_LIST_PAGES {
        let (listed, next) = page(marker).await?;
        parts.extend(listed);
        match next {
            None => return Ok(parts),
            Some(next) if marker.is_some_and(|m| next <= m) => {
                return Err(super::ProviderError::Upstream(format!(
                    "{what}: page marker did not advance"
                )));
            }
            Some(next) => marker = Some(next),
        }
    }
    Err(super::ProviderError::Upstream(format!(
        "{what}: too many pages"
    )))
}

/// Visible ASCII and spaces: what an HTTP header value may hold without reqwest refusing it.
pub fn is_header_value(value: &str) -> bool {
    value.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
}

/// A content type the broker will send as a header itself (multipart initiate): refused here with a client error
/// rather than failing inside reqwest.
pub fn check_content_type_header(content_type: Option<&str>) -> Result<(), super::ProviderError> {
    match content_type {
        Some(t) if !is_header_value(t) => Err(super::ProviderError::BadRequest(
            "content type must be printable ASCII".to_owned(),
        )),
        _ => Ok(()),
    }
}
