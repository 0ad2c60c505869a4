//! The decision: explicit deny wins, default deny, the most specific satisfied allow rule decides.
use std::collections::HashMap;

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

/// The rules of every policy file, in load order, indexed for evaluation.
#[derive(Debug, Default)]
pub struct PolicySet {
    rules: Vec<Rule>,
    /// One index per [`Action`] (`Action::index`), over the rules that allow that action.
    by_action: [PathIndex; 3],
}

/// Which rules can apply to a key, by the key's first segment. A path whose first segment is a plain literal
/// (`users/{sub}/**`) only ever matches keys whose first segment is exactly that literal, so a rule all of whose
/// paths start with other literals can be skipped without looking at it: the decision is the same as a scan
/// of every rule, because a rule none of whose paths match has no part in it.
#[derive(Debug, Default)]
struct PathIndex {
    /// Rule positions, ascending, of rules with a path starting with this literal segment.
    by_first_segment: HashMap<String, Vec<u32>>,
    /// Rule positions, ascending, of rules with a path starting any other way (`**`, `*`, `{sub}`, `img-*`).
    any_first_segment: Vec<u32>,
}

impl PathIndex {
    fn build(rules: &[Rule], action: Action) -> Self {
        let mut index = PathIndex::default();
        for (position, rule) in rules.iter().enumerate() {
            if !rule.allows_action(action) {
                continue;
            }
            let position = u32::try_from(position).unwrap_or(u32::MAX);
            for path in &rule.paths {
                let list = match path.first_literal() {
                    Some(first) => index.by_first_segment.entry(first.to_owned()).or_default(),
                    None => &mut index.any_first_segment,
                };
                // Rules are visited in order, so a list only ever needs its last entry checked for duplicates.
                if list.last() != Some(&position) {
                    list.push(position);
                }
            }
        }
        index
    }

    /// Positions of the rules that may match a key starting with `first`, ascending, each once.
    fn candidates<'i>(&'i self, first: &str) -> impl Iterator<Item = usize> + 'i {
        let literal: &[u32] = self.by_first_segment.get(first).map_or(&[], Vec::as_slice);
        MergeAscending {
            a: literal,
            b: &self.any_first_segment,
        }
        .map(|p| p as usize)
    }
}

/// The ascending union of two ascending lists, duplicates once.
struct MergeAscending<'i> {
    a: &'i [u32],
    b: &'i [u32],
}

impl Iterator for MergeAscending<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let next = match (self.a.first(), self.b.first()) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => return None,
        };
        if self.a.first() == Some(&next) {
            self.a = &self.a[1..];
        }
        if self.b.first() == Some(&next) {
            self.b = &self.b[1..];
        }
        Some(next)
    }
}

impl PolicySet {
    pub fn new(rules: Vec<Rule>) -> Self {
        let by_action = [Action::Upload, Action::Download, Action::Multipart]
            .map(|action| PathIndex::build(&rules, action));
        Self { rules, by_action }
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
        self.rules
            .iter()
            .filter(move |r| applies_to(r, claims, store, action))
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
        let first = req.key.split('/').next().unwrap_or_default();
        // File order, as a scan of every rule visits them; only rules that cannot match are skipped.
        let candidates = self.by_action[action_index(req.action)]
            .candidates(first)
            .map(|position| &self.rules[position])
            .filter(|r| applies_to(r, req.claims, req.store, req.action));
        decide_among(candidates, req, check_constraints)
    }

    /// The decision by a scan of every rule, without the index: what the index must always agree with.
    #[cfg(test)]
    pub(crate) fn evaluate_by_scan<'p>(
        &'p self,
        req: &Request<'_>,
        check_constraints: bool,
    ) -> Decision<'p> {
        decide_among(
            self.scoped(req.claims, req.store, req.action),
            req,
            check_constraints,
        )
    }
}

/// The decision among `rules` (in file order, already filtered to the caller's roles, the store and the action).
fn decide_among<'p>(
    rules: impl Iterator<Item = &'p Rule>,
    req: &Request<'_>,
    check_constraints: bool,
) -> Decision<'p> {
    let segments: Vec<&str> = req.key.split('/').collect();
    let mut best: Option<(&Rule, usize)> = None;
    let mut rejected: Option<Denial<'p>> = None;
    for rule in rules {
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

fn applies_to(rule: &Rule, claims: &Claims, store: &str, action: Action) -> bool {
    rule.roles.matches_any(&claims.roles)
        && rule.stores.matches(store)
        && rule.allows_action(action)
}

fn action_index(action: Action) -> usize {
    match action {
        Action::Upload => 0,
        Action::Download => 1,
        Action::Multipart => 2,
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

#[cfg(test)]
mod tests;
