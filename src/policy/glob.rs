//! Object-key globs: `*` within a segment, `**` as a whole segment, `{sub}` / `{claims.NAME}` bound to claims.
use super::claims::Claims;

#[derive(Debug, Clone)]
pub struct PathPattern {
    source: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    /// `**`: zero or more whole segments.
    AnyDepth,
    Tokens(Vec<Token>),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Literal(String),
    /// `*`: any run of characters within one segment.
    Star,
    Sub,
    Claim(String),
}

#[derive(Clone, Copy)]
enum Resolved<'a> {
    Literal(&'a str),
    Star,
}

impl PathPattern {
    pub fn parse(src: &str) -> Result<Self, String> {
        if src.is_empty() {
            return Err("empty path pattern".into());
        }
        let segments = src
            .split('/')
            .map(|seg| parse_segment(seg).map_err(|e| format!("{e} in path pattern {src:?}")))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            source: src.to_string(),
            segments,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the key (split on `/`) matches; a missing or unsafe claim matches nothing.
    pub fn matches(&self, key_segments: &[&str], claims: &Claims) -> bool {
        // Every claim must resolve, even one in a segment the match never reaches.
        let claims_resolve = self.segments.iter().all(|seg| match seg {
            Segment::AnyDepth => true,
            Segment::Tokens(tokens) => tokens.iter().all(|t| resolve(t, claims).is_some()),
        });
        claims_resolve && match_segments(&self.segments, key_segments, claims)
    }

    /// The first segment when it is a plain literal (`users` of `users/{sub}/**`): a key can only match when
    /// its own first segment is exactly this. `None` for `**`, wildcards and claims.
    pub fn first_literal(&self) -> Option<&str> {
        match self.segments.first() {
            Some(Segment::Tokens(tokens)) => match tokens.as_slice() {
                [Token::Literal(s)] => Some(s),
                _ => None,
            },
            _ => None,
        }
    }

    /// Literal characters before the first wildcard, claims substituted: how specific a match is.
    pub fn specificity(&self, claims: &Claims) -> usize {
        let mut count = 0;
        for (i, seg) in self.segments.iter().enumerate() {
            if i > 0 {
                count += 1; // the '/'
            }
            let Segment::Tokens(tokens) = seg else {
                return count;
            };
            for token in tokens {
                count += match token {
                    Token::Literal(s) => s.len(),
                    Token::Sub => claims.sub.len(),
                    Token::Claim(name) => claims.safe_str(name).map_or(0, str::len),
                    Token::Star => return count,
                };
            }
        }
        count
    }
}

fn parse_segment(seg: &str) -> Result<Segment, String> {
    if seg.is_empty() {
        return Err("empty segment ('//', or a leading or trailing '/')".into());
    }
    if seg == "**" {
        return Ok(Segment::AnyDepth);
    }
    if seg.contains("**") {
        return Err(format!("'**' must be a whole segment, not part of {seg:?}"));
    }
    let mut tokens = Vec::new();
    let mut literal = String::new();
    let mut chars = seg.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '*' | '{' => {
                if !literal.is_empty() {
                    tokens.push(Token::Literal(std::mem::take(&mut literal)));
                }
                if c == '*' {
                    tokens.push(Token::Star);
                    continue;
                }
                let close = seg[i..].find('}').ok_or("unclosed '{'")?;
                let name = &seg[i + 1..i + close];
                tokens.push(match name {
                    "sub" => Token::Sub,
                    _ => match name.strip_prefix("claims.") {
                        Some(claim) if !claim.is_empty() => Token::Claim(claim.to_string()),
                        _ => return Err(format!("unknown placeholder {{{name}}}")),
                    },
                });
                for _ in 0..close {
                    chars.next();
                }
            }
            '}' => return Err("unmatched '}'".into()),
            _ => literal.push(c),
        }
    }
    if !literal.is_empty() {
        tokens.push(Token::Literal(literal));
    }
    Ok(Segment::Tokens(tokens))
}

/// A token with its claim resolved; claims only ever resolve to literals. `None`: a missing or unsafe claim.
fn resolve<'a>(token: &'a Token, claims: &'a Claims) -> Option<Resolved<'a>> {
    match token {
        Token::Literal(s) => Some(Resolved::Literal(s)),
        Token::Star => Some(Resolved::Star),
        Token::Sub => claims.safe_sub().map(Resolved::Literal),
        Token::Claim(name) => claims.safe_str(name).map(Resolved::Literal),
    }
}

/// Matching resolves claims as it goes, so a match allocates nothing (`matches` checked they all resolve).
fn match_segments(pattern: &[Segment], key: &[&str], claims: &Claims) -> bool {
    match pattern.split_first() {
        None => key.is_empty(),
        Some((Segment::AnyDepth, rest)) => {
            (0..=key.len()).any(|skip| match_segments(rest, &key[skip..], claims))
        }
        Some((Segment::Tokens(tokens), rest)) => match key.split_first() {
            Some((first, key_rest)) => {
                match_tokens(tokens, first, claims) && match_segments(rest, key_rest, claims)
            }
            None => false,
        },
    }
}

fn match_tokens(tokens: &[Token], s: &str, claims: &Claims) -> bool {
    match tokens.split_first() {
        None => s.is_empty(),
        Some((token, rest)) => match resolve(token, claims) {
            None => false,
            Some(Resolved::Literal(lit)) => s
                .strip_prefix(lit)
                .is_some_and(|tail| match_tokens(rest, tail, claims)),
            Some(Resolved::Star) => {
                if rest.is_empty() {
                    return true;
                }
                s.char_indices()
                    .map(|(i, _)| i)
                    .chain(std::iter::once(s.len()))
                    .any(|i| match_tokens(rest, &s[i..], claims))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(sub: &str) -> Claims {
        let extra = json!({"tenant": "acme", "bad": "../x", "num": 7})
            .as_object()
            .cloned()
            .unwrap_or_default();
        Claims::new(sub, vec![], extra)
    }

    fn m(pattern: &str, key: &str, sub: &str) -> bool {
        let p = PathPattern::parse(pattern).expect("pattern parses");
        let segs: Vec<&str> = key.split('/').collect();
        p.matches(&segs, &claims(sub))
    }

    #[test]
    fn glob_table() {
        let cases: &[(&str, &str, &str, bool)] = &[
            ("users/{sub}/**", "users/alice/a.jpg", "alice", true),
            ("users/{sub}/**", "users/alice/x/y/z.jpg", "alice", true),
            ("users/{sub}/**", "users/alice", "alice", true), // ** matches zero segments
            ("users/{sub}/**", "users/bob/a.jpg", "alice", false),
            ("users/{sub}/**", "users/alicex/a.jpg", "alice", false),
            ("users/{sub}/*.jpg", "users/alice/a.jpg", "alice", true),
            ("users/{sub}/*.jpg", "users/alice/a.png", "alice", false),
            ("users/{sub}/*.jpg", "users/alice/d/a.jpg", "alice", false),
            ("img-*", "img-1", "a", true),
            ("img-*", "img-", "a", true),
            ("img-*", "im-1", "a", false),
            ("*", "a", "a", true),
            ("*", "a/b", "a", false),
            ("**", "a/b/c", "a", true),
            ("**/.private/**", "users/alice/.private/k", "a", true),
            ("**/.private/**", ".private/k", "a", true),
            ("**/.private/**", "users/alice/private/k", "a", false),
            ("t/{claims.tenant}/*", "t/acme/x", "a", true),
            ("t/{claims.tenant}/*", "t/other/x", "a", false),
            ("t/{claims.missing}/*", "t//x", "a", false),
            ("t/{claims.bad}/*", "t/../x/y", "a", false),
            ("t/{claims.num}/*", "t/7/x", "a", false),
            ("a*b*c", "aXbYc", "a", true),
            ("a*b*c", "aXbY", "a", false),
            ("ü/*", "ü/ß", "a", true),
            ("users/[a]/x", "users/[a]/x", "a", true),
        ];
        for (pattern, key, sub, want) in cases {
            assert_eq!(m(pattern, key, sub), *want, "{pattern} ~ {key} (sub={sub})");
        }
    }

    #[test]
    fn unsafe_claims_match_nothing() {
        for sub in ["", ".", "..", "../bob", "a/b", "*", "**", "{sub}", "x\ny"] {
            for key in [
                "users/bob/a",
                "users/a/b/c",
                "users//a",
                "users/*/a",
                "users/../bob/a",
                "users/{sub}/a",
            ] {
                assert!(
                    !m("users/{sub}/**", key, sub),
                    "sub {sub:?} matched {key:?}"
                );
            }
        }
    }

    #[test]
    fn bad_patterns_rejected() {
        for p in [
            "",
            "/a",
            "a/",
            "a//b",
            "a**",
            "a/**b",
            "{nope}",
            "{sub",
            "a}",
            "{claims.}",
        ] {
            assert!(PathPattern::parse(p).is_err(), "{p:?} should be rejected");
        }
    }

    #[test]
    fn specificity_counts_literals_before_first_wildcard() {
        let c = claims("alice");
        let spec = |p: &str| {
            PathPattern::parse(p)
                .map(|p| p.specificity(&c))
                .unwrap_or(usize::MAX)
        };
        assert_eq!(spec("users/{sub}/**"), "users/alice/".len());
        assert_eq!(
            spec("users/{sub}/avatar.jpg"),
            "users/alice/avatar.jpg".len()
        );
        assert_eq!(spec("**"), 0);
        assert_eq!(spec("img-*"), 4);
        assert!(spec("users/{sub}/avatars/**") > spec("users/{sub}/**"));
    }
}
