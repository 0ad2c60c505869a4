//! Policy files as loaded: `[[rule]]` tables validated once, errors naming file, line and problem.
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use super::glob::PathPattern;
use super::key::KeyTemplate;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Upload,
    Download,
    Multipart,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upload => "upload",
            Self::Download => "download",
            Self::Multipart => "multipart",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "upload" => Some(Self::Upload),
            "download" => Some(Self::Download),
            "multipart" => Some(Self::Multipart),
            _ => None,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a rule came from: `file#index`, index counted from 0 in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleId {
    pub file: Arc<str>,
    pub index: usize,
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.file, self.index)
    }
}

/// `*` or a list of names.
#[derive(Debug, Clone)]
pub enum Selector {
    Any,
    Names(Vec<String>),
}

impl Selector {
    fn new(names: Vec<String>) -> Self {
        if names.iter().any(|n| n == "*") {
            Self::Any
        } else {
            Self::Names(names)
        }
    }

    pub fn matches(&self, name: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Names(names) => names.iter().any(|n| n == name),
        }
    }

    pub fn matches_any(&self, names: &[String]) -> bool {
        match self {
            Self::Any => true,
            Self::Names(list) => names.iter().any(|n| list.contains(n)),
        }
    }
}

/// A content type constraint: exact (`video/mp4`) or a whole type (`image/*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentTypePattern {
    Exact(String),
    AnySubtype(String),
}

impl ContentTypePattern {
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        let lower = s.trim().to_ascii_lowercase();
        let (ty, sub) = lower
            .split_once('/')
            .ok_or_else(|| format!("content type {s:?} is not type/subtype"))?;
        let token = |t: &str| {
            !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
        };
        if !token(ty) || !(sub == "*" || token(sub)) {
            return Err(format!("content type {s:?} is not type/subtype or type/*"));
        }
        Ok(if sub == "*" {
            Self::AnySubtype(ty.to_string())
        } else {
            Self::Exact(lower)
        })
    }

    /// Matches the media type essence (parameters after `;` ignored, case-insensitive).
    pub fn matches(&self, content_type: &str) -> bool {
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        match self {
            Self::Exact(t) => essence.eq_ignore_ascii_case(t),
            // `image/*` never admits `image/svg+xml` (script in a browser): a rule must name such types.
            Self::AnySubtype(ty) => {
                essence
                    .split_once('/')
                    .is_some_and(|(t, sub)| t.eq_ignore_ascii_case(ty) && !sub.is_empty())
                    && crate::media_type::wildcard_may_admit(essence)
            }
        }
    }

    pub fn as_string(&self) -> String {
        match self {
            Self::Exact(t) => t.clone(),
            Self::AnySubtype(ty) => format!("{ty}/*"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub id: RuleId,
    pub description: Option<String>,
    pub effect: Effect,
    pub roles: Selector,
    pub stores: Selector,
    /// `None` = every action.
    pub actions: Option<Vec<Action>>,
    pub paths: Vec<PathPattern>,
    pub max_size: Option<u64>,
    pub content_types: Vec<ContentTypePattern>,
    /// `content_types` as text (`image/*`), rendered once at load for the credentials that carry them.
    pub content_type_texts: Vec<String>,
    /// Seconds.
    pub max_expires: Option<u64>,
    pub overwrite: bool,
    pub key_template: Option<KeyTemplate>,
}

impl Rule {
    pub fn allows_action(&self, action: Action) -> bool {
        self.actions.as_ref().is_none_or(|a| a.contains(&action))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRaw {
    #[serde(default)]
    rule: Vec<RuleRaw>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleRaw {
    description: Option<String>,
    effect: Option<Spanned<String>>,
    roles: Spanned<Vec<String>>,
    stores: Spanned<Vec<String>>,
    actions: Spanned<Vec<String>>,
    paths: Spanned<Vec<Spanned<String>>>,
    max_size: Option<Spanned<toml::Value>>,
    content_types: Option<Spanned<Vec<Spanned<String>>>>,
    max_expires: Option<Spanned<toml::Value>>,
    overwrite: Option<Spanned<bool>>,
    key_template: Option<Spanned<String>>,
}

/// A load error: `file:line: problem` (just `file: problem` when no line applies, e.g. an unreadable file),
/// then one more such line per further problem found in the same file.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", render_problems(file, *line, message, more))]
pub struct LoadError {
    pub file: String,
    /// 1-based; 0 when the problem is not on a line.
    pub line: usize,
    pub message: String,
    /// Further problems of the same file: (line, message).
    pub more: Vec<(usize, String)>,
}

/// `file:line: message` lines, the line left out when 0 (never "line 0").
pub fn render_problems(file: &str, line: usize, message: &str, more: &[(usize, String)]) -> String {
    std::iter::once((line, message))
        .chain(more.iter().map(|(l, m)| (*l, m.as_str())))
        .map(|(line, message)| match line {
            0 => format!("{file}: {message}"),
            line => format!("{file}:{line}: {message}"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Parses one policy file's text; `file` names it in errors and rule ids.
pub fn parse_file(file: &str, text: &str) -> Result<Vec<Rule>, LoadError> {
    let err = |span: std::ops::Range<usize>, message: String| LoadError {
        file: file.to_string(),
        line: line_of(text, span.start),
        message,
        more: Vec::new(),
    };
    let raw: FileRaw = toml::from_str(text).map_err(|e| {
        let message = e.message().to_string();
        err(e.span().unwrap_or(0..0), message)
    })?;
    let file_name: Arc<str> = Arc::from(file);
    // Every rule is built, so one run reports each broken rule of the file (the first problem of each).
    let mut rules = Vec::new();
    let mut problems: Vec<(usize, String)> = Vec::new();
    for (index, r) in raw.rule.into_iter().enumerate() {
        let id = RuleId {
            file: file_name.clone(),
            index,
        };
        match build_rule(id, r) {
            Ok(rule) => rules.push(rule),
            Err((span, m)) => problems.push((line_of(text, span.start), m)),
        }
    }
    let mut problems = problems.into_iter();
    match problems.next() {
        None => Ok(rules),
        Some((line, message)) => Err(LoadError {
            file: file.to_string(),
            line,
            message,
            more: problems.collect(),
        }),
    }
}

type SpannedError = (std::ops::Range<usize>, String);

fn build_rule(id: RuleId, r: RuleRaw) -> Result<Rule, SpannedError> {
    let effect = match r.effect.as_ref().map(|e| (e.get_ref().as_str(), e.span())) {
        None | Some(("allow", _)) => Effect::Allow,
        Some(("deny", _)) => Effect::Deny,
        Some((other, span)) => {
            return Err((
                span,
                format!("effect must be \"allow\" or \"deny\", not {other:?}"),
            ))
        }
    };
    let non_empty = |v: &Spanned<Vec<String>>, what: &str| {
        if v.get_ref().is_empty() {
            Err((
                v.span(),
                format!("{what} must not be empty (use [\"*\"] for any)"),
            ))
        } else {
            Ok(Selector::new(v.get_ref().clone()))
        }
    };
    let roles = non_empty(&r.roles, "roles")?;
    let stores = non_empty(&r.stores, "stores")?;
    let actions = match non_empty(&r.actions, "actions")? {
        Selector::Any => None,
        Selector::Names(names) => Some(
            names
                .iter()
                .map(|n| {
                    Action::parse(n).ok_or_else(|| {
                        (
                            r.actions.span(),
                            format!("unknown action {n:?} (upload, download, multipart or \"*\")"),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    if r.paths.get_ref().is_empty() {
        return Err((
            r.paths.span(),
            "paths must not be empty (use [\"**\"] for any key)".into(),
        ));
    }
    let paths = r
        .paths
        .into_inner()
        .into_iter()
        .map(|p| PathPattern::parse(p.get_ref()).map_err(|e| (p.span(), e)))
        .collect::<Result<Vec<_>, _>>()?;
    let max_size = r
        .max_size
        .map(|v| parse_size(v.get_ref()).map_err(|e| (v.span(), format!("max_size: {e}"))))
        .transpose()?;
    let max_expires = r
        .max_expires
        .map(|v| parse_duration(v.get_ref()).map_err(|e| (v.span(), format!("max_expires: {e}"))))
        .transpose()?;
    let content_types = r
        .content_types
        .map(|list| {
            list.into_inner()
                .into_iter()
                .map(|c| ContentTypePattern::parse(c.get_ref()).map_err(|e| (c.span(), e)))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    let key_template = r
        .key_template
        .as_ref()
        .map(|t| KeyTemplate::parse(t.get_ref()).map_err(|e| (t.span(), e)))
        .transpose()?;
    if effect == Effect::Deny {
        let constrained = [
            max_size.is_some().then_some("max_size"),
            max_expires.is_some().then_some("max_expires"),
            (!content_types.is_empty()).then_some("content_types"),
            r.overwrite.is_some().then_some("overwrite"),
            key_template.is_some().then_some("key_template"),
        ];
        if let Some(field) = constrained.into_iter().flatten().next() {
            return Err((
                r.roles.span(),
                format!("{field} has no meaning on a deny rule"),
            ));
        }
    }
    Ok(Rule {
        id,
        description: r.description,
        effect,
        roles,
        stores,
        actions,
        paths,
        max_size,
        content_type_texts: content_types
            .iter()
            .map(ContentTypePattern::as_string)
            .collect(),
        content_types,
        max_expires,
        overwrite: r.overwrite.is_none_or(|o| *o.get_ref()),
        key_template,
    })
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |t| t.bytes().filter(|b| *b == b'\n').count() + 1)
}

/// `20MiB`, `10 MB`, `512B` or a bare integer (bytes).
pub fn parse_size(v: &toml::Value) -> Result<u64, String> {
    let text = match v {
        toml::Value::Integer(n) => {
            return u64::try_from(*n).map_err(|_| "size must not be negative".to_string())
        }
        toml::Value::String(s) => s.trim(),
        _ => return Err("size must be a string like \"20MiB\" or an integer of bytes".into()),
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("size {text:?} does not start with a number"))?;
    let multiplier: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => {
            return Err(format!(
                "unknown size unit {other:?} (B, KiB, MiB, GiB, KB, MB, GB)"
            ))
        }
    };
    n.checked_mul(multiplier)
        .ok_or_else(|| format!("size {text:?} is too large"))
}

/// `15m`, `90s`, `1h` or a bare integer (seconds).
pub fn parse_duration(v: &toml::Value) -> Result<u64, String> {
    let text = match v {
        toml::Value::Integer(n) if *n > 0 => return Ok(*n as u64),
        toml::Value::String(s) => s.trim(),
        _ => {
            return Err(
                "duration must be a string like \"15m\" or a positive integer of seconds".into(),
            )
        }
    };
    parse_duration_str(text)
}

/// `15m`, `90s`, `1h`.
pub fn parse_duration_str(text: &str) -> Result<u64, String> {
    let (digits, unit) = text.split_at(text.len().saturating_sub(1));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("duration {text:?} must be a number followed by s, m or h"))?;
    let secs = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        _ => return Err(format!("duration {text:?} must end in s, m or h")),
    };
    secs.filter(|s| *s > 0)
        .ok_or_else(|| format!("duration {text:?} must be positive"))
}

/// Loads every `*.toml` of a directory in name order.
pub fn load_dir(dir: &Path) -> Result<Vec<Rule>, LoadError> {
    let io_err = |message: String| LoadError {
        file: dir.display().to_string(),
        line: 0,
        message,
        more: Vec::new(),
    };
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| io_err(format!("cannot read policy directory: {e}")))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut rules = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| io_err(format!("cannot read {}: {e}", path.display())))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        rules.extend(parse_file(&name, &text)?);
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_errors_name_the_field_and_report_every_broken_rule() {
        let rule = |extra: &str| {
            format!("[[rule]]\nroles=[\"*\"]\nstores=[\"*\"]\nactions=[\"*\"]\npaths=[\"**\"]\n{extra}\n")
        };
        let text = [
            rule("max_size = \"5parsecs\""),
            rule(""),
            rule("max_expires = \"1y\""),
        ]
        .concat();
        let e = parse_file("p.toml", &text).expect_err("two broken rules");
        let shown = e.to_string();
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines.len(), 2, "{shown}");
        assert!(
            lines[0].starts_with("p.toml:6: max_size: unknown size unit"),
            "{shown}"
        );
        assert!(lines[1].starts_with("p.toml:18: max_expires:"), "{shown}");
        let gone = load_dir(Path::new("/nonexistent-policy-dir")).expect_err("missing");
        assert!(!gone.to_string().contains(":0:"), "{gone}");
    }

    #[test]
    fn sizes() {
        let s = |t: &str| parse_size(&toml::Value::String(t.into()));
        assert_eq!(s("20MiB"), Ok(20 << 20));
        assert_eq!(s("1 GiB"), Ok(1 << 30));
        assert_eq!(s("10MB"), Ok(10_000_000));
        assert_eq!(s("512B"), Ok(512));
        assert_eq!(s("7"), Ok(7));
        assert_eq!(parse_size(&toml::Value::Integer(42)), Ok(42));
        for bad in [
            "",
            "MiB",
            "20mib",
            "20 TB",
            "-1",
            "1.5MiB",
            "99999999999999GiB",
        ] {
            assert!(s(bad).is_err(), "{bad:?}");
        }
        assert!(parse_size(&toml::Value::Integer(-1)).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_str("15m"), Ok(900));
        assert_eq!(parse_duration_str("1h"), Ok(3600));
        assert_eq!(parse_duration_str("90s"), Ok(90));
        for bad in ["", "m", "0s", "15", "1d", "-1m", "1.5h"] {
            assert!(parse_duration_str(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn malformed_files_name_the_line() {
        let cases: &[(&str, usize, &str)] = &[
            ("[[rule]]\nroles=[\"u\"]\nstores=[\"*\"]\nactions=[\"upload\"]\npaths=[\"a//b\"]\n", 5, "empty segment"),
            ("[[rule]]\nroles=[\"u\"]\nstores=[\"*\"]\nactions=[\"uplod\"]\npaths=[\"**\"]\n", 4, "unknown action"),
            ("[[rule]]\nroles=[\"u\"]\nstores=[\"*\"]\nactions=[\"*\"]\npaths=[\"**\"]\nmax_size=\"20XB\"\n", 6, "unit"),
            ("[[rule]]\nroles=[\"u\"]\nstores=[\"*\"]\nactions=[\"*\"]\npaths=[\"**\"]\nmaxsize=\"1MiB\"\n", 6, "unknown field"),
            ("[[rule]]\nroles=[\"u\"]\nstores=[\"*\"]\nactions=[\"*\"]\npaths=[\"**\"]\ncontent_types=[\"image\"]\n", 6, "type/subtype"),
            ("[[rule]]\nroles=[\"u\"]\nstores=[\"*\"]\nactions=[\"*\"]\npaths=[\"**\"]\nmax_expires=\"1d\"\n", 6, "s, m or h"),
            ("[[rule]]\nroles=[\"u\"]\nstores=[\"*\"]\nactions=[\"*\"]\npaths=[\"**\"]\neffect=\"maybe\"\n", 6, "effect"),
            ("[[rule]]\nroles=[]\nstores=[\"*\"]\nactions=[\"*\"]\npaths=[\"**\"]\n", 2, "roles must not be empty"),
            ("[[rule]]\nroles=[\"u\"]\nstores=[\"*\"]\nactions=[\"*\"]\n", 1, "paths"),
            ("[[rule]]\nroles=[\"u\"]\nstores=[\"*\"]\nactions=[\"*\"]\npaths=[\"{x}\"]\n", 5, "placeholder"),
            ("[[rule]]\nroles=[\"u\"]\nstores=[\"*\"]\nactions=[\"*\"]\npaths=[\"**\"]\nkey_template=\"{oops}\"\n", 6, "placeholder"),
            ("[[rule]]\neffect=\"deny\"\nroles=[\"u\"]\nstores=[\"*\"]\nactions=[\"*\"]\npaths=[\"**\"]\nmax_size=5\n", 3, "deny"),
            ("[[rule]\n", 1, ""),
        ];
        for (text, line, needle) in cases {
            let e = parse_file("p.toml", text).expect_err(text);
            assert_eq!(e.file, "p.toml");
            assert_eq!(e.line, *line, "{e} for {text:?}");
            assert!(e.message.contains(needle), "{e} should mention {needle:?}");
        }
    }

    #[test]
    fn content_type_patterns() {
        let p = |s: &str| ContentTypePattern::parse(s).expect(s);
        assert!(p("image/*").matches("image/jpeg"));
        assert!(p("image/*").matches("IMAGE/PNG; charset=x"));
        assert!(!p("image/*").matches("imagex/png"));
        assert!(!p("image/*").matches("image/"));
        assert!(p("video/mp4").matches("video/mp4"));
        assert!(!p("video/mp4").matches("video/mp4x"));
        assert!(ContentTypePattern::parse("*/*").is_err());
    }
}
