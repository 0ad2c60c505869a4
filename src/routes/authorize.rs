//! The policy step every credential route shares: decide, log the decision once, map a refusal to its error.
use crate::error::ApiError;
use crate::extract::Caller;
use crate::policy::key::{validate_key, TemplateInput};
use crate::policy::{Action, Decision, Denial, Effect, PolicySet, Request, Rule};

/// What is being asked for, as the policy and the audit log see it.
pub struct Ask<'a> {
    pub store: &'a str,
    pub action: Action,
    pub key: &'a str,
    pub content_type: Option<&'a str>,
    pub size: Option<u64>,
}

/// Decides with size and content type checked (`full`) or on scope alone; logs the audit event.
pub fn authorize<'p>(
    policies: &'p PolicySet,
    caller: &Caller,
    ask: &Ask,
    full: bool,
) -> Result<&'p Rule, ApiError> {
    if let Some(ct) = ask.content_type {
        crate::media_type::validate("content_type", ct)?;
    }
    let request = Request {
        claims: &caller.claims,
        store: ask.store,
        action: ask.action,
        key: ask.key,
        content_type: ask.content_type,
        size: ask.size,
    };
    let decision = if full {
        policies.evaluate(&request)
    } else {
        policies.evaluate_scope(&request)
    };
    let outcome = if matches!(decision, Decision::Allow(_)) {
        "allow"
    } else {
        "deny"
    };
    tracing::info!(
        target: "audit",
        request_id = %caller.request_id,
        subject = %caller.claims.sub,
        roles = ?caller.claims.roles,
        store = ask.store,
        action = %ask.action,
        key = ask.key,
        decision = outcome,
        rule = %RuleName(decision.rule()),
        "policy decision"
    );
    crate::telemetry::count(
        "policy_decisions_total",
        [("action", ask.action.as_str()), ("decision", outcome)],
        1,
    );
    // Only a refusal says what was asked for; an allow formats nothing.
    let what = || format!("{} to {}:{}", ask.action, ask.store, ask.key);
    match decision {
        Decision::Allow(rule) => Ok(rule),
        Decision::Deny(Denial::NoRule) => {
            Err(ApiError::PolicyDenied(format!("no rule allows {}", what())))
        }
        Decision::Deny(Denial::DenyRule(_)) => Err(ApiError::PolicyDenied(format!(
            "a deny rule forbids {}",
            what()
        ))),
        Decision::Deny(Denial::TooLarge { max_size, .. }) => {
            Err(ApiError::PayloadTooLarge(format!(
                "size {} is over the allowed maximum of {max_size} bytes for {}",
                ask.size.unwrap_or_default(),
                what()
            )))
        }
        Decision::Deny(Denial::ContentType { rule }) => {
            let allowed = &rule.content_type_texts;
            let what = what();
            Err(ApiError::UnsupportedMediaType(match ask.content_type {
                Some(ct) => format!(
                    "content type {ct:?} is not allowed for {what}; allowed: {}",
                    allowed.join(", ")
                ),
                None => format!(
                    "content_type is required for {what}; allowed: {}",
                    allowed.join(", ")
                ),
            }))
        }
    }
}

/// `file#index` of the deciding rule, or `none`: formatted only when the audit event is logged.
struct RuleName<'a>(Option<&'a Rule>);

impl std::fmt::Display for RuleName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(rule) => std::fmt::Display::fmt(&rule.id, f),
            None => f.write_str("none"),
        }
    }
}

/// Checks a client-given key against the key rules.
pub fn checked_key(key: &str) -> Result<(), ApiError> {
    validate_key(key).map_err(|e| ApiError::InvalidKey(format!("invalid key: {e}")))
}

/// The key to use: the client's, or one made from the first applying rule with a `key_template`.
pub fn resolve_key(
    policies: &PolicySet,
    caller: &Caller,
    store: &str,
    action: Action,
    key: Option<&str>,
    filename: Option<&str>,
) -> Result<String, ApiError> {
    match (key, filename) {
        (Some(key), None) => checked_key(key).map(|()| key.to_string()),
        (Some(_), Some(_)) => Err(ApiError::InvalidRequest(
            "give either key or filename, not both".into(),
        )),
        (None, None) => Err(ApiError::InvalidRequest(
            "key is required (or filename, where a rule has a key_template)".into(),
        )),
        (None, Some(filename)) => {
            let input = TemplateInput {
                claims: &caller.claims,
                filename,
                now: chrono::Utc::now(),
            };
            let template_rule = policies
                .scoped(&caller.claims, store, action)
                .find(|r| r.effect == Effect::Allow && r.key_template.is_some())
                .ok_or_else(|| {
                    ApiError::PolicyDenied(format!(
                        "no rule with a key_template allows {action} to {store}"
                    ))
                })?;
            let template = template_rule
                .key_template
                .as_ref()
                .ok_or_else(|| ApiError::Internal("template vanished".into()))?;
            let key = template.render(&input).map_err(ApiError::PolicyDenied)?;
            validate_key(&key)
                .map_err(|e| ApiError::InvalidKey(format!("generated key is invalid: {e}")))?;
            let segments: Vec<&str> = key.split('/').collect();
            if !template_rule
                .paths
                .iter()
                .any(|p| p.matches(&segments, &caller.claims))
            {
                return Err(ApiError::PolicyDenied(format!(
                    "the key generated by {} does not match its own paths",
                    template_rule.id
                )));
            }
            Ok(key)
        }
    }
}
