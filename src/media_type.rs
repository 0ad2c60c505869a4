//! One RFC 9110 media type, as docs/API.md requires of every `content_type` the API accepts:
//! `type "/" subtype` of token characters, optionally followed by `;`-parameters (`name=token` or
//! `name="quoted string"`). Commas, whitespace outside parameters, quotes outside parameter values and
//! control characters are refused, so a value such as `image/png,text/html` or `image/png\r\nX-Evil: 1` can
//! never be pinned into a credential or a header.
use crate::error::ApiError;

/// Longer values are refused: no real media type comes close, and the value is echoed into credentials.
pub const MAX_LEN: usize = 255;

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// The essence (`type/subtype`, as given) of a valid media type, or why it is not one.
pub fn parse(value: &str) -> Result<&str, String> {
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_LEN {
        return Err(format!("must be 1..={MAX_LEN} bytes"));
    }
    let essence_end = bytes.iter().position(|&b| b == b';').unwrap_or(bytes.len());
    // Spaces before the first `;` are RFC 9110's OWS; anywhere else in type/subtype they are refused.
    let essence = match essence_end < bytes.len() {
        true => value[..essence_end].trim_end_matches(' '),
        false => value,
    };
    let (ty, sub) = essence
        .split_once('/')
        .ok_or_else(|| "must be type/subtype".to_string())?;
    if !token(ty.as_bytes()) || !token(sub.as_bytes()) {
        return Err(
            "type and subtype must be tokens (no commas, spaces, quotes or control characters)"
                .into(),
        );
    }
    parameters(&bytes[essence_end..])?;
    Ok(essence)
}

/// `*( OWS ";" OWS [ name "=" ( token / quoted-string ) ] )`, OWS being spaces only (no tabs).
fn parameters(mut rest: &[u8]) -> Result<(), String> {
    let bad = || "malformed parameter (expected ;name=value)".to_string();
    let skip_spaces = |s: &[u8]| -> usize { s.iter().take_while(|&&b| b == b' ').count() };
    while !rest.is_empty() {
        rest = &rest[skip_spaces(rest)..];
        match rest.split_first() {
            None => break,
            Some((b';', tail)) => rest = tail,
            Some(_) => return Err(bad()),
        }
        rest = &rest[skip_spaces(rest)..];
        if rest.is_empty() || rest[0] == b';' || rest[0] == b' ' {
            continue; // an empty parameter (`a/b;`, `a/b; ;c=d`) is allowed by the grammar
        }
        let name_len = rest.iter().take_while(|&&b| is_tchar(b)).count();
        if name_len == 0 || rest.get(name_len) != Some(&b'=') {
            return Err(bad());
        }
        rest = &rest[name_len + 1..];
        if rest.first() == Some(&b'"') {
            let mut i = 1;
            loop {
                match rest.get(i) {
                    None => return Err("unterminated quoted parameter value".into()),
                    Some(b'"') => break,
                    Some(b'\\') => match rest.get(i + 1) {
                        Some(&c) if c == b'\t' || (0x20..0x7f).contains(&c) => i += 2,
                        _ => return Err(bad()),
                    },
                    Some(&c) if c == b'\t' || (0x20..0x7f).contains(&c) => i += 1,
                    Some(_) => return Err("control character in a parameter value".into()),
                }
            }
            rest = &rest[i + 1..];
        } else {
            let value_len = rest.iter().take_while(|&&b| is_tchar(b)).count();
            if value_len == 0 {
                return Err(bad());
            }
            rest = &rest[value_len..];
        }
    }
    Ok(())
}

/// `field` holds one media type, else 400 `invalid_request` naming the field.
pub fn validate(field: &str, value: &str) -> Result<(), ApiError> {
    parse(value)
        .map(drop)
        .map_err(|why| ApiError::InvalidRequest(format!("{field} is not one media type: {why}")))
}

/// Media types a browser runs script in when served from the bucket's origin: a wildcard rule
/// (`image/*`) never admits them; a rule must list them by name.
const ACTIVE_CONTENT: &[&str] = &[
    "image/svg+xml",
    "text/html",
    "application/xhtml+xml",
    "text/javascript",
    "application/javascript",
    "text/xml",
    "application/xml",
];

/// Whether a wildcard may admit this essence.
pub fn wildcard_may_admit(essence: &str) -> bool {
    !ACTIVE_CONTENT
        .iter()
        .any(|t| t.eq_ignore_ascii_case(essence))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_media_types() {
        for (value, essence) in [
            ("image/png", "image/png"),
            ("IMAGE/PNG", "IMAGE/PNG"),
            ("text/plain;charset=utf-8", "text/plain"),
            ("text/plain; charset=utf-8", "text/plain"),
            ("text/plain ; charset=\"utf-8\"", "text/plain"),
            (
                "multipart/form-data; boundary=\"a b;c\"",
                "multipart/form-data",
            ),
            ("application/vnd.api+json", "application/vnd.api+json"),
            ("a/b;", "a/b"),
            ("a/b; x=\"q\\\"uote\"", "a/b"),
        ] {
            assert_eq!(parse(value), Ok(essence), "{value:?}");
        }
    }

    #[test]
    fn hostile_values_are_refused() {
        for value in [
            "",
            "image",
            "image/",
            "/png",
            "image/png,text/html",
            "image/png text/html",
            "image/png\r\nX-Evil: 1",
            "image/png\n",
            "image/png\t",
            " image/png",
            "image/png ",
            "ima ge/png",
            "\"image/png\"",
            "image/\"png\"",
            "image/png;charset",
            "image/png;charset=",
            "image/png;=x",
            "image/png;a=b c",
            "image/png;a=\"unterminated",
            "image/png;a=\"ctl\u{1}\"",
            "image/png;a=b,text/html",
            "image/pn\u{e9}",
            "image/png/x",
            &format!("image/{}", "a".repeat(MAX_LEN)),
        ] {
            assert!(parse(value).is_err(), "{value:?} accepted");
        }
    }

    #[test]
    fn wildcards_never_admit_script_types() {
        assert!(!wildcard_may_admit("image/svg+xml"));
        assert!(!wildcard_may_admit("IMAGE/SVG+XML"));
        assert!(wildcard_may_admit("image/png"));
    }
}
