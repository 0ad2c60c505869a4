//! The decision: explicit deny wins, default deny, the most specific satisfied allow rule decides.
use super::claims::Claims;
use super::model::{Action, Effect, Rule};

/// One request as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub claims: &'a Claims,
    pub store: &'a str,
    pub action: Action,
    pub key: &'a str,
    pub content_type: Option<&'a str>,
    pub size: Option<u64>,
}

#[derive(Debug)]
pub enum Decision<'p> {
    Allow(&'p Rule),
    Deny(Denial<'p>),
}

#[derive(Debug)]
pub enum Denial<'p> {
    /// No allow rule applies.
    NoRule,
    /// An applying deny rule.
    DenyRule(&'p Rule),
    /// Allow rules apply, but the declared size is over every one's `max_size`.
    TooLarge { rule: &'p Rule, max_size: u64 },
    /// Allow rules apply, but none admits the declared (or missing) content type.
    ContentType { rule: &'p Rule },
}

impl Decision<'_> {
    /// The rule that decided, if any (`file#index` in logs).
    pub fn rule(&self) -> Option<&Rule> {
        match self {
            Decision::Allow(r)
            | Decision::Deny(
                Denial::DenyRule(r)
                | Denial::TooLarge { rule: r, .. }
                | Denial::ContentType { rule: r },
            ) => Some(r),
            Decision::Deny(Denial::NoRule) => None,
        }
    }
}

/// The rules of every policy file, in load order.
#[derive(Debug, Default)]
pub struct PolicySet {
    rules: Vec<Rule>,
}

impl PolicySet {
    pub fn new(rules: Vec<Rule>) -> Self {
        Self { rules }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Rules whose roles, store and action match, before looking at the key.
    pub fn scoped<'p: 'r, 'r>(
        &'p self,
        claims: &'r Claims,
        store: &'r str,
        action: Action,
    ) -> impl Iterator<Item = &'p Rule> + 'r {
        self.rules.iter().filter(move |r| {
            r.roles.matches_any(&claims.roles) && r.stores.matches(store) && r.allows_action(action)
        })
    }

    /// The full decision: rules, deny precedence and the request's declared size and content type.
    pub fn evaluate<'p>(&'p self, req: &Request<'_>) -> Decision<'p> {
        self.decide(req, true)
    }

    /// The decision on (caller, store, action, key) alone, for calls whose size and type were fixed
    /// earlier (multipart parts, list, complete, abort) or are about to be measured (confirm).
    pub fn evaluate_scope<'p>(&'p self, req: &Request<'_>) -> Decision<'p> {
        self.decide(req, false)
    }

    fn decide<'p>(&'p self, req: &Request<'_>, check_constraints: bool) -> Decision<'p> {
        let segments: Vec<&str> = req.key.split('/').collect();
        let mut best: Option<(&Rule, usize)> = None;
        let mut rejected: Option<Denial<'p>> = None;
        for rule in self.scoped(req.claims, req.store, req.action) {
            let Some(specificity) = rule
                .paths
                .iter()
                .filter(|p| p.matches(&segments, req.claims))
                .map(|p| p.specificity(req.claims))
                .max()
            else {
                continue;
            };
            if rule.effect == Effect::Deny {
                return Decision::Deny(Denial::DenyRule(rule));
            }
            match unmet_constraint(rule, req).filter(|_| check_constraints) {
                Some(denial) => {
                    // Size is the more useful answer when both kinds of rule fail.
                    if !matches!(rejected, Some(Denial::TooLarge { .. })) {
                        rejected = Some(denial);
                    }
                }
                None => {
                    if best.is_none_or(|(_, s)| specificity > s) {
                        best = Some((rule, specificity));
                    }
                }
            }
        }
        match (best, rejected) {
            (Some((rule, _)), _) => Decision::Allow(rule),
            (None, Some(denial)) => Decision::Deny(denial),
            (None, None) => Decision::Deny(Denial::NoRule),
        }
    }
}

fn unmet_constraint<'p>(rule: &'p Rule, req: &Request) -> Option<Denial<'p>> {
    if let (Some(max_size), Some(size)) = (rule.max_size, req.size) {
        if size > max_size {
            return Some(Denial::TooLarge { rule, max_size });
        }
    }
    if !rule.content_types.is_empty() {
        let admitted = req
            .content_type
            .is_some_and(|ct| rule.content_types.iter().any(|p| p.matches(ct)));
        if !admitted {
            return Some(Denial::ContentType { rule });
        }
    }
    None
}
