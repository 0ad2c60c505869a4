//! The command line: `token`, `policy check`, `policy lint`, and start-up errors naming file and line.
use std::process::Command;

use crate::helpers::fixture;

fn broker(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_presign-broker"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("PRESIGN_BROKER_CONFIG")
        .output()
        .expect("run presign-broker");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn token_mints_a_dev_token_the_dev_config_accepts() {
    let (ok, out, err) = broker(&[
        "token",
        "--sub",
        "alice",
        "--role",
        "user",
        "--ttl",
        "10m",
        "--claim",
        "tenant=acme",
    ]);
    assert!(ok, "{err}");
    let token = out.trim();
    let header = jsonwebtoken::decode_header(token).expect("a JWT");
    assert_eq!(header.kid.as_deref(), Some("dev"));
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    v.set_required_spec_claims(&["exp", "sub"]);
    let data = jsonwebtoken::decode::<serde_json::Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(b"presign-broker-development-secret-do-not-use"),
        &v,
    )
    .expect("signed with the dev key");
    assert_eq!(data.claims["sub"], "alice");
    assert_eq!(data.claims["roles"], serde_json::json!(["user"]));
    assert_eq!(data.claims["tenant"], "acme");
    let lifetime =
        data.claims["exp"].as_i64().unwrap_or(0) - data.claims["iat"].as_i64().unwrap_or(0);
    assert_eq!(lifetime, 600);
}

#[test]
fn policy_check_explains_the_decision() {
    let check = |extra: &[&str]| {
        let mut args = vec![
            "policy", "check", "--sub", "alice", "--role", "user", "--store", "media",
        ];
        args.extend_from_slice(extra);
        broker(&args)
    };
    let (ok, out, err) = check(&[
        "--action",
        "upload",
        "--key",
        "users/alice/a.jpg",
        "--content-type",
        "image/jpeg",
        "--size",
        "1000",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("decision: allow"), "{out}");
    assert!(out.contains("rule: app-users.toml#0"), "{out}");
    assert!(out.contains("max_size: 20971520"), "{out}");
    assert!(out.contains("content_types: image/*, video/mp4"), "{out}");
    assert!(out.contains("overwrite: false"), "{out}");

    let (_, out, _) = check(&[
        "--action",
        "upload",
        "--key",
        "users/bob/a.jpg",
        "--content-type",
        "image/jpeg",
    ]);
    assert!(
        out.contains("decision: deny (no allow rule matches; default deny)"),
        "{out}"
    );
    let (_, out, _) = check(&["--action", "download", "--key", "users/alice/.private/a"]);
    assert!(
        out.contains("deny (an explicit deny rule matches)") && out.contains("rule: deny.toml#0"),
        "{out}"
    );
    let (_, out, _) = check(&[
        "--action",
        "upload",
        "--key",
        "users/alice/a.jpg",
        "--content-type",
        "image/jpeg",
        "--size",
        "99999999",
    ]);
    assert!(out.contains("413"), "{out}");
    let (_, out, _) = check(&["--action", "upload", "--key", "users/../x"]);
    assert!(out.contains("invalid_key"), "{out}");
}

#[test]
fn policy_lint_validates_files_and_names_the_line() {
    let (ok, out, err) = broker(&["policy", "lint"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("ok: 5 rules"), "{out}");
    let (ok, out, _) = broker(&[
        "policy",
        "lint",
        "--dir",
        &fixture("policies").display().to_string(),
    ]);
    assert!(ok && out.contains("8 rules"), "{out}");

    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a.toml"), "[[rule]]\nroles = [\"u\"]\nstores = [\"*\"]\nactions = [\"upload\"]\npaths = [\"a/**b\"]\n")
        .expect("write");
    let (ok, _, err) = broker(&["policy", "lint", "--dir", &dir.path().display().to_string()]);
    assert!(!ok);
    assert!(
        err.contains("a.toml:5:") && err.contains("'**' must be a whole segment"),
        "{err}"
    );
}

#[test]
fn a_bad_config_stops_start_up_naming_file_line_and_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("broker.toml");
    std::fs::write(
        &path,
        "[server]\nbind = \"127.0.0.1:0\"\n\n[auth]\nleeway_secs = 5\n",
    )
    .expect("write");
    let (ok, _, err) = broker(&["serve", "--config", &path.display().to_string()]);
    assert!(!ok);
    assert!(
        err.contains(&format!("{}:5:", path.display()))
            && err.contains("unknown field `leeway_secs`"),
        "{err}"
    );
}
