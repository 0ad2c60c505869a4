//! The caller as the policy sees it: subject, roles and the JWT's other claims.
use serde_json::{Map, Value};

#[derive(Debug, Clone, Default)]
pub struct Claims {
    pub sub: String,
    pub roles: Vec<String>,
    pub extra: Map<String, Value>,
}

impl Claims {
    pub fn new(sub: impl Into<String>, roles: Vec<String>, extra: Map<String, Value>) -> Self {
        Self {
            sub: sub.into(),
            roles,
            extra,
        }
    }

    /// `sub`, when it is safe to bind into a path.
    pub fn safe_sub(&self) -> Option<&str> {
        Some(self.sub.as_str()).filter(|v| is_safe_segment(v))
    }

    /// A string claim, when present and safe to bind into a path.
    pub fn safe_str(&self, name: &str) -> Option<&str> {
        match self.extra.get(name) {
            Some(Value::String(v)) if is_safe_segment(v) => Some(v),
            _ => None,
        }
    }
}

/// A claim value may only ever stand for one literal path segment, so it can never widen a rule.
pub fn is_safe_segment(v: &str) -> bool {
    !v.is_empty()
        && v != "."
        && v != ".."
        && !v
            .chars()
            .any(|c| matches!(c, '/' | '*' | '{' | '}' | '\\') || c.is_control())
}
