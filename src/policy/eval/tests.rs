//! Policy evaluation as data tables (single policy, layered with deny, constraint selection) and properties.
use proptest::prelude::*;
use serde_json::json;

use crate::policy::claims::Claims;
use crate::policy::eval::{Decision, Denial, PolicySet, Request};
use crate::policy::model::{parse_file, Action, Rule};

fn rules(files: &[(&str, &str)]) -> PolicySet {
    let mut all = Vec::new();
    for (name, text) in files {
        all.extend(parse_file(name, text).unwrap_or_else(|e| panic!("{e}")));
    }
    PolicySet::new(all)
}

fn claims(sub: &str, roles: &[&str]) -> Claims {
    let extra = json!({"tenant": "acme"})
        .as_object()
        .cloned()
        .unwrap_or_default();
    Claims::new(sub, roles.iter().map(|r| r.to_string()).collect(), extra)
}

/// The outcome in a comparable form: `allow file#i`, `deny`, `deny-rule file#i`, `413`, `415`.
fn outcome(
    set: &PolicySet,
    c: &Claims,
    store: &str,
    action: Action,
    key: &str,
    ct: Option<&str>,
    size: Option<u64>,
) -> String {
    let req = Request {
        claims: c,
        store,
        action,
        key,
        content_type: ct,
        size,
    };
    match set.evaluate(&req) {
        Decision::Allow(r) => format!("allow {}", r.id),
        Decision::Deny(Denial::NoRule) => "deny".into(),
        Decision::Deny(Denial::DenyRule(r)) => format!("deny-rule {}", r.id),
        Decision::Deny(Denial::TooLarge { .. }) => "413".into(),
        Decision::Deny(Denial::ContentType { .. }) => "415".into(),
    }
}

const USERS: &str = r#"
[[rule]]
roles = ["user"]
stores = ["media", "wx"]
actions = ["upload", "multipart"]
paths = ["users/{sub}/**"]
max_size = "20MiB"
content_types = ["image/*", "video/mp4"]

[[rule]]
roles = ["user"]
stores = ["*"]
actions = ["download"]
paths = ["users/{sub}/**", "public/**"]

[[rule]]
roles = ["user"]
stores = ["media"]
actions = ["upload"]
paths = ["users/{sub}/videos/**"]
max_size = "2GiB"
content_types = ["video/*"]

[[rule]]
roles = ["admin"]
stores = ["*"]
actions = ["*"]
paths = ["tenants/{claims.tenant}/**"]
"#;

const DENY: &str = r#"
[[rule]]
effect = "deny"
roles = ["*"]
stores = ["*"]
actions = ["*"]
paths = ["**/.private/**"]

[[rule]]
effect = "deny"
roles = ["user"]
stores = ["wx"]
actions = ["download"]
paths = ["public/secret/**"]
"#;

#[test]
fn single_policy_table() {
    let set = rules(&[("users.toml", USERS)]);
    let alice = claims("alice", &["user"]);
    let admin = claims("root", &["admin"]);
    let nobody = claims("alice", &[]);
    type Case<'a> = (
        &'a Claims,
        &'a str,
        Action,
        &'a str,
        Option<&'a str>,
        Option<u64>,
        &'a str,
    );
    let cases: &[Case] = &[
        (
            &alice,
            "media",
            Action::Upload,
            "users/alice/a.jpg",
            Some("image/jpeg"),
            Some(10),
            "allow users.toml#0",
        ),
        (
            &alice,
            "wx",
            Action::Multipart,
            "users/alice/a.mp4",
            Some("video/mp4"),
            None,
            "allow users.toml#0",
        ),
        (
            &alice,
            "qn",
            Action::Upload,
            "users/alice/a.jpg",
            Some("image/jpeg"),
            None,
            "deny",
        ),
        (
            &alice,
            "media",
            Action::Upload,
            "users/bob/a.jpg",
            Some("image/jpeg"),
            None,
            "deny",
        ),
        (
            &alice,
            "media",
            Action::Download,
            "users/alice/a.jpg",
            None,
            None,
            "allow users.toml#1",
        ),
        (
            &alice,
            "qn",
            Action::Download,
            "public/x/y",
            None,
            None,
            "allow users.toml#1",
        ),
        (
            &alice,
            "media",
            Action::Upload,
            "public/x",
            Some("image/png"),
            None,
            "deny",
        ),
        (
            &nobody,
            "media",
            Action::Download,
            "users/alice/a.jpg",
            None,
            None,
            "deny",
        ),
        (
            &admin,
            "qn",
            Action::Multipart,
            "tenants/acme/x",
            None,
            None,
            "allow users.toml#3",
        ),
        (
            &admin,
            "qn",
            Action::Upload,
            "tenants/other/x",
            None,
            None,
            "deny",
        ),
    ];
    for (c, store, action, key, ct, size, want) in cases {
        assert_eq!(
            &outcome(&set, c, store, *action, key, *ct, *size),
            want,
            "{store} {action} {key}"
        );
    }
}

#[test]
fn layered_policies_with_deny_table() {
    let set = rules(&[("users.toml", USERS), ("deny.toml", DENY)]);
    let alice = claims("alice", &["user"]);
    let admin = claims("root", &["admin"]);
    let cases: &[(&Claims, &str, Action, &str, &str)] = &[
        (
            &alice,
            "media",
            Action::Download,
            "users/alice/.private/a",
            "deny-rule deny.toml#0",
        ),
        (
            &admin,
            "media",
            Action::Download,
            "tenants/acme/.private/a",
            "deny-rule deny.toml#0",
        ),
        (
            &alice,
            "wx",
            Action::Download,
            "public/secret/x",
            "deny-rule deny.toml#1",
        ),
        (
            &alice,
            "qn",
            Action::Download,
            "public/secret/x",
            "allow users.toml#1",
        ),
        (
            &alice,
            "media",
            Action::Download,
            "users/alice/private/a",
            "allow users.toml#1",
        ),
    ];
    for (c, store, action, key, want) in cases {
        assert_eq!(
            &outcome(&set, c, store, *action, key, None, None),
            want,
            "{store} {action} {key}"
        );
    }
}

#[test]
fn constraint_selection_table() {
    let set = rules(&[("users.toml", USERS)]);
    let alice = claims("alice", &["user"]);
    let mib = 1u64 << 20;
    let cases: &[(&str, Option<&str>, Option<u64>, &str)] = &[
        // The more specific videos rule wins when its constraints hold.
        (
            "users/alice/videos/a.mp4",
            Some("video/mp4"),
            Some(100 * mib),
            "allow users.toml#2",
        ),
        (
            "users/alice/videos/a.webm",
            Some("video/webm"),
            Some(mib),
            "allow users.toml#2",
        ),
        // Too big for the general rule only: the specific one still takes it.
        (
            "users/alice/videos/a.mp4",
            Some("video/mp4"),
            Some(30 * mib),
            "allow users.toml#2",
        ),
        // Images are not videos: the general rule is the candidate.
        (
            "users/alice/videos/a.jpg",
            Some("image/jpeg"),
            Some(mib),
            "allow users.toml#0",
        ),
        // Over every rule's max_size: 413; outside every rule's types: 415.
        (
            "users/alice/videos/a.mp4",
            Some("video/mp4"),
            Some(3 << 30),
            "413",
        ),
        ("users/alice/a.txt", Some("text/plain"), Some(10), "415"),
        ("users/alice/a.jpg", None, None, "415"),
        (
            "users/alice/a.jpg",
            Some("image/jpeg"),
            Some(21 * mib),
            "413",
        ),
        // Size wins over type when one rule fails on each.
        (
            "users/alice/videos/a.jpg",
            Some("image/jpeg"),
            Some(30 * mib),
            "413",
        ),
    ];
    for (key, ct, size, want) in cases {
        assert_eq!(
            &outcome(&set, &alice, "media", Action::Upload, key, *ct, *size),
            want,
            "{key} {ct:?} {size:?}"
        );
    }
}

#[test]
fn file_order_breaks_specificity_ties() {
    let a = "[[rule]]\nroles=[\"u\"]\nstores=[\"*\"]\nactions=[\"*\"]\npaths=[\"x/*\"]\nmax_size=\"1MiB\"\n";
    let b = "[[rule]]\nroles=[\"u\"]\nstores=[\"*\"]\nactions=[\"*\"]\npaths=[\"x/*.jpg\"]\nmax_size=\"2MiB\"\n";
    let c = claims("s", &["u"]);
    let ab = rules(&[("a.toml", a), ("b.toml", b)]);
    let ba = rules(&[("b.toml", b), ("a.toml", a)]);
    assert_eq!(
        outcome(&ab, &c, "m", Action::Upload, "x/y.jpg", None, None),
        "allow a.toml#0"
    );
    assert_eq!(
        outcome(&ba, &c, "m", Action::Upload, "x/y.jpg", None, None),
        "allow b.toml#0"
    );
}

#[test]
fn scope_evaluation_ignores_size_and_type() {
    let set = rules(&[("users.toml", USERS)]);
    let alice = claims("alice", &["user"]);
    let req = Request {
        claims: &alice,
        store: "media",
        action: Action::Multipart,
        key: "users/alice/a.bin",
        content_type: None,
        size: None,
    };
    assert!(matches!(
        set.evaluate(&req),
        Decision::Deny(Denial::ContentType { .. })
    ));
    assert!(matches!(set.evaluate_scope(&req), Decision::Allow(_)));
}

// ---- properties -------------------------------------------------------------------------------

const PATTERNS: &[&str] = &[
    "users/{sub}/**",
    "users/{sub}/*.jpg",
    "**",
    "public/**",
    "**/.private/**",
    "t/{claims.tenant}/*",
    "a/*/b",
];
const KEY_PARTS: &[&str] = &[
    "users", "alice", "bob", "a.jpg", ".private", "public", "t", "acme", "a", "b", "x.png",
];

fn arb_rule_text() -> impl Strategy<Value = String> {
    (
        prop::bool::weighted(0.3),
        prop::sample::subsequence(vec!["user", "admin", "*"], 1..=2),
        prop::sample::subsequence(vec!["media", "wx", "*"], 1..=2),
        prop::sample::subsequence(vec!["upload", "download", "multipart", "*"], 1..=2),
        prop::sample::subsequence(PATTERNS.to_vec(), 1..=2),
        prop::option::of(1u64..100),
        prop::option::of(prop::sample::select(vec!["image/*", "video/mp4"])),
    )
        .prop_map(|(deny, roles, stores, actions, paths, max_size, ct)| {
            let list = |v: Vec<&str>| {
                v.iter()
                    .map(|s| format!("{s:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let mut t = format!(
                "[[rule]]\nroles = [{}]\nstores = [{}]\nactions = [{}]\npaths = [{}]\n",
                list(roles),
                list(stores),
                list(actions),
                list(paths)
            );
            if deny {
                t.push_str("effect = \"deny\"\n");
            } else {
                if let Some(m) = max_size {
                    t.push_str(&format!("max_size = {m}\n"));
                }
                if let Some(ct) = ct {
                    t.push_str(&format!("content_types = [{ct:?}]\n"));
                }
            }
            t
        })
}

fn arb_key() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(KEY_PARTS.to_vec()), 1..5).prop_map(|v| v.join("/"))
}

fn arb_request() -> impl Strategy<
    Value = (
        String,
        Vec<&'static str>,
        &'static str,
        Action,
        String,
        Option<&'static str>,
        Option<u64>,
    ),
> {
    (
        prop::sample::select(vec!["alice", "bob", "../bob", "*", "a/b", "", ".."]),
        prop::sample::subsequence(vec!["user", "admin"], 0..=2),
        prop::sample::select(vec!["media", "wx", "qn"]),
        prop::sample::select(vec![Action::Upload, Action::Download, Action::Multipart]),
        arb_key(),
        prop::option::of(prop::sample::select(vec![
            "image/png",
            "video/mp4",
            "text/plain",
        ])),
        prop::option::of(0u64..200),
    )
        .prop_map(|(sub, roles, store, action, key, ct, size)| {
            (sub.to_string(), roles, store, action, key, ct, size)
        })
}

fn allowed(
    set: &PolicySet,
    r: &(
        String,
        Vec<&str>,
        &str,
        Action,
        String,
        Option<&str>,
        Option<u64>,
    ),
) -> bool {
    let c = claims(&r.0, &r.1);
    let req = Request {
        claims: &c,
        store: r.2,
        action: r.3,
        key: &r.4,
        content_type: r.5,
        size: r.6,
    };
    matches!(set.evaluate(&req), Decision::Allow(_))
}

fn set_of(texts: &[String]) -> PolicySet {
    let rules: Vec<Rule> = texts
        .iter()
        .enumerate()
        .flat_map(|(i, t)| parse_file(&format!("{i:02}.toml"), t).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    PolicySet::new(rules)
}

/// `sub` and the key are drawn from the same small alphabet (with the glob and path metacharacters), and half the
/// keys start with `sub/`, so many fall under the caller's own prefix (or would, were an unsafe `sub` bound); the
/// test counts the allowed cases so it cannot pass without asserting.
#[test]
fn a_claim_never_lets_a_key_outside_its_own_prefix_match() {
    use proptest::test_runner::{Config, TestRunner};
    use std::sync::atomic::{AtomicUsize, Ordering};

    let set = rules(&[(
        "p.toml",
        "[[rule]]\nroles=[\"*\"]\nstores=[\"*\"]\nactions=[\"*\"]\npaths=[\"users/{sub}/**\"]\n",
    )]);
    let allowed = AtomicUsize::new(0);
    let alphabet = "[ab./*{}]";
    let strategy = (
        proptest::string::string_regex(&format!("{alphabet}{{0,4}}")).expect("regex"),
        any::<bool>(),
        proptest::string::string_regex(&format!("{alphabet}{{1,12}}")).expect("regex"),
    );
    let mut runner = TestRunner::new(Config {
        cases: 4096,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = runner.run(&strategy, |(sub, under_sub, rest)| {
        let key = if under_sub {
            format!("{sub}/{rest}")
        } else {
            rest
        };
        let c = claims(&sub, &[]);
        let full_key = format!("users/{key}");
        let req = Request {
            claims: &c,
            store: "m",
            action: Action::Upload,
            key: &full_key,
            content_type: None,
            size: None,
        };
        if matches!(set.evaluate(&req), Decision::Allow(_)) {
            allowed.fetch_add(1, Ordering::Relaxed);
            prop_assert!(
                crate::policy::claims::is_safe_segment(&sub),
                "unsafe sub {sub:?} matched"
            );
            let own = format!("users/{sub}");
            prop_assert!(
                full_key == own || full_key.starts_with(&format!("{own}/")),
                "{full_key} outside {own}"
            );
        }
        Ok(())
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
    let allowed = allowed.into_inner();
    // About 2.8% of draws are allowed (~115 of 4096, sd ~10): 40 is far below any honest run, yet a generator
    // that stopped producing allowed cases (the old vacuous version reached 0) still fails here.
    assert!(
        allowed >= 40,
        "only {allowed} of 4096 cases reached the assertion"
    );
}

proptest! {
    #[test]
    fn adding_a_deny_rule_never_widens_access(
        texts in prop::collection::vec(arb_rule_text(), 1..6),
        deny in arb_rule_text(),
        reqs in prop::collection::vec(arb_request(), 1..20),
    ) {
        let before = set_of(&texts);
        let deny = if deny.contains("effect = \"deny\"") { deny } else {
            deny.lines().filter(|l| !l.starts_with("max_size") && !l.starts_with("content_types")).collect::<Vec<_>>().join("\n")
                + "\neffect = \"deny\"\n"
        };
        let mut with_deny = texts.clone();
        with_deny.push(deny);
        let after = set_of(&with_deny);
        for r in &reqs {
            prop_assert!(allowed(&before, r) || !allowed(&after, r), "deny widened access for {r:?}");
        }
    }

    #[test]
    fn the_decision_does_not_depend_on_file_order(
        texts in prop::collection::vec(arb_rule_text(), 1..6),
        reqs in prop::collection::vec(arb_request(), 1..20),
    ) {
        let forward = set_of(&texts);
        let mut reversed_texts = texts.clone();
        reversed_texts.reverse();
        let reversed = set_of(&reversed_texts);
        for r in &reqs {
            prop_assert_eq!(allowed(&forward, r), allowed(&reversed, r), "order changed the decision for {:?}", r);
        }
    }

    #[test]
    fn the_index_decides_exactly_as_a_scan_of_every_rule(
        texts in prop::collection::vec(arb_rule_text(), 1..8),
        reqs in prop::collection::vec(arb_request(), 1..20),
    ) {
        let set = set_of(&texts);
        let shown = |d: Decision| match d {
            Decision::Allow(r) => format!("allow {}", r.id),
            Decision::Deny(Denial::NoRule) => "deny".into(),
            Decision::Deny(Denial::DenyRule(r)) => format!("deny-rule {}", r.id),
            Decision::Deny(Denial::TooLarge { rule, max_size }) => format!("413 {} {max_size}", rule.id),
            Decision::Deny(Denial::ContentType { rule }) => format!("415 {}", rule.id),
        };
        for r in &reqs {
            let c = claims(&r.0, &r.1);
            let req = Request { claims: &c, store: r.2, action: r.3, key: &r.4, content_type: r.5, size: r.6 };
            prop_assert_eq!(shown(set.evaluate(&req)), shown(set.evaluate_by_scan(&req, true)), "{:?}", r);
            prop_assert_eq!(shown(set.evaluate_scope(&req)), shown(set.evaluate_by_scan(&req, false)), "{:?}", r);
        }
    }
}
