//! Object key rules (docs/API.md) and key templates (docs/POLICIES.md).
use chrono::{DateTime, Datelike, Utc};

use super::claims::Claims;

pub const MAX_KEY_BYTES: usize = 1024;

/// Checks a key against the key rules; the error says which rule it breaks.
pub fn validate_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("key is empty".into());
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(format!(
            "key is {} bytes; at most {MAX_KEY_BYTES}",
            key.len()
        ));
    }
    if key.starts_with('/') {
        return Err("key starts with '/'".into());
    }
    // One pass over the bytes (an ASCII control character or a backslash is always a single byte in UTF-8); the
    // errors keep their order of precedence: backslash, then control character, then the first bad segment.
    let mut backslash = false;
    let mut control = false;
    let mut bad_segment: Option<&str> = None;
    let mut segment_start = 0;
    for (i, &b) in key.as_bytes().iter().enumerate() {
        match b {
            b'\\' => backslash = true,
            b'/' => {
                if bad_segment.is_none() {
                    bad_segment = bad(&key[segment_start..i]);
                }
                segment_start = i + 1;
            }
            _ if b.is_ascii_control() => control = true,
            _ => {}
        }
    }
    if bad_segment.is_none() {
        bad_segment = bad(&key[segment_start..]);
    }
    if backslash {
        return Err("key contains a backslash".into());
    }
    if control {
        return Err("key contains a control character".into());
    }
    match bad_segment {
        Some("") => Err("key has an empty segment ('//' or a trailing '/')".into()),
        Some(segment) => Err(format!("key has a '{segment}' segment")),
        None => Ok(()),
    }
}

/// `Some(segment)` when it is empty, `.` or `..`.
fn bad(segment: &str) -> Option<&str> {
    matches!(segment, "" | "." | "..").then_some(segment)
}

/// Everything a key template may refer to.
pub struct TemplateInput<'a> {
    pub claims: &'a Claims,
    pub filename: &'a str,
    pub now: DateTime<Utc>,
}

/// A parsed `key_template`; unknown placeholders are rejected at load time.
#[derive(Debug, Clone)]
pub struct KeyTemplate {
    parts: Vec<TemplatePart>,
    source: String,
}

#[derive(Debug, Clone, PartialEq)]
enum TemplatePart {
    Literal(String),
    Sub,
    Claim(String),
    Uuid,
    Ulid,
    Year,
    Month,
    Day,
    Ext,
    Filename,
}

impl KeyTemplate {
    pub fn parse(src: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = src;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(TemplatePart::Literal(rest[..open].to_string()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("unclosed '{{' in key template {src:?}"))?;
            let name = &rest[open + 1..open + close];
            parts.push(match name {
                "sub" => TemplatePart::Sub,
                "uuid" => TemplatePart::Uuid,
                "ulid" => TemplatePart::Ulid,
                "yyyy" => TemplatePart::Year,
                "mm" => TemplatePart::Month,
                "dd" => TemplatePart::Day,
                "ext" => TemplatePart::Ext,
                "filename" => TemplatePart::Filename,
                _ => match name.strip_prefix("claims.") {
                    Some(claim) if !claim.is_empty() => TemplatePart::Claim(claim.to_string()),
                    _ => {
                        return Err(format!(
                            "unknown placeholder {{{name}}} in key template {src:?}"
                        ))
                    }
                },
            });
            rest = &rest[open + close + 1..];
        }
        if rest.contains('}') {
            return Err(format!("unmatched '}}' in key template {src:?}"));
        }
        if !rest.is_empty() {
            parts.push(TemplatePart::Literal(rest.to_string()));
        }
        Ok(Self {
            parts,
            source: src.to_string(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Renders the key; a claim that is missing or unsafe as a path segment makes it fail.
    pub fn render(&self, input: &TemplateInput) -> Result<String, String> {
        let mut key = String::new();
        for part in &self.parts {
            match part {
                TemplatePart::Literal(s) => key.push_str(s),
                TemplatePart::Sub => key.push_str(safe_claim(input.claims.safe_sub(), "sub")?),
                TemplatePart::Claim(name) => {
                    key.push_str(safe_claim(input.claims.safe_str(name), name)?)
                }
                TemplatePart::Uuid => key.push_str(&uuid::Uuid::new_v4().to_string()),
                TemplatePart::Ulid => key.push_str(&ulid::Ulid::new().to_string()),
                TemplatePart::Year => key.push_str(&format!("{:04}", input.now.year())),
                TemplatePart::Month => key.push_str(&format!("{:02}", input.now.month())),
                TemplatePart::Day => key.push_str(&format!("{:02}", input.now.day())),
                TemplatePart::Ext => key.push_str(&extension(input.filename)),
                TemplatePart::Filename => key.push_str(&sanitize_filename(input.filename)),
            }
        }
        Ok(key)
    }
}

fn safe_claim<'a>(value: Option<&'a str>, name: &str) -> Result<&'a str, String> {
    value.ok_or_else(|| format!("claim {name:?} is missing or not usable in a key"))
}

/// The base name of a client-given file name, reduced to characters safe in every provider's keys.
pub fn sanitize_filename(filename: &str) -> String {
    let base = filename.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(128)
        .collect();
    let trimmed = cleaned.trim_matches('.');
    if trimmed.is_empty() {
        "file".to_string()
    } else {
        trimmed.to_string()
    }
}

/// Lower-cased extension including the dot (`.jpg`), or empty when there is none usable.
pub fn extension(filename: &str) -> String {
    let base = sanitize_filename(filename);
    match base.rsplit_once('.') {
        Some((stem, ext))
            if !stem.is_empty()
                && !ext.is_empty()
                && ext.len() <= 16
                && ext.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            format!(".{}", ext.to_ascii_lowercase())
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_rules_table() {
        let long = "a".repeat(1025);
        let max = "a".repeat(1024);
        let cases: &[(&str, bool)] = &[
            ("users/alice/cat.jpg", true),
            ("a", true),
            ("dir one/ü file+1=(x).bin", true),
            ("users/alice/%2e%2e/x", true),
            ("a.b/..c/d..", true),
            (max.as_str(), true),
            ("", false),
            ("/users/alice", false),
            ("users//alice", false),
            ("users/alice/", false),
            ("users/./alice", false),
            ("users/../bob", false),
            ("..", false),
            (".", false),
            ("users\\alice", false),
            ("users/ali\u{0}ce", false),
            ("users/ali\nce", false),
            ("users/ali\u{7f}ce", false),
            ("users/ali\u{1f}ce", false),
            (long.as_str(), false),
        ];
        for (key, ok) in cases {
            assert_eq!(validate_key(key).is_ok(), *ok, "key {key:?}");
        }
    }

    #[test]
    fn multibyte_keys_count_bytes() {
        let key = "ü".repeat(513); // 1026 bytes
        assert!(validate_key(&key).is_err());
    }

    #[test]
    fn filename_and_extension() {
        assert_eq!(extension("Cat.JPG"), ".jpg");
        assert_eq!(extension("archive.tar.gz"), ".gz");
        assert_eq!(extension("noext"), "");
        assert_eq!(extension(".bashrc"), "");
        assert_eq!(extension("x.j/pg"), "");
        assert_eq!(sanitize_filename("../../etc/passwd"), "passwd");
        assert_eq!(
            sanitize_filename("C:\\Users\\me\\my photo.png"),
            "my_photo.png"
        );
        assert_eq!(sanitize_filename(".."), "file");
        assert_eq!(sanitize_filename(""), "file");
    }

    #[test]
    fn template_parsing() {
        assert!(KeyTemplate::parse("users/{sub}/{uuid}{ext}").is_ok());
        assert!(KeyTemplate::parse("t/{claims.tenant}/{yyyy}/{mm}/{dd}/{ulid}-{filename}").is_ok());
        assert!(KeyTemplate::parse("users/{nope}").is_err());
        assert!(KeyTemplate::parse("users/{sub").is_err());
        assert!(KeyTemplate::parse("users/sub}").is_err());
        assert!(KeyTemplate::parse("users/{claims.}").is_err());
    }
}
