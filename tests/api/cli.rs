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

/// Runs the binary in `cwd`; returns the exit code, stdout and stderr.
fn broker_in(cwd: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_presign-broker"))
        .args(args)
        .current_dir(cwd)
        .env_remove("PRESIGN_BROKER_CONFIG")
        .output()
        .expect("run presign-broker");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn policy_check_exit_codes_follow_the_decision_and_sizes_take_units() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let check = |extra: &[&str]| {
        let mut args = vec![
            "policy", "check", "--sub", "alice", "--role", "user", "--store", "media", "--action",
            "upload",
        ];
        args.extend_from_slice(extra);
        broker_in(repo, &args)
    };
    let allow = ["--key", "users/alice/a.jpg", "--content-type", "image/jpeg"];
    let (code, out, err) = check(&[&allow[..], &["--size", "20MiB"]].concat());
    assert_eq!(code, 0, "allow, 20MiB is the rule's max: {out}{err}");
    let (code, out, _) = check(&[&allow[..], &["--size", "21MiB"]].concat());
    assert_eq!(code, 1, "deny (413): {out}");
    let (code, out, _) = check(&["--key", "users/bob/a.jpg"]);
    assert_eq!(code, 1, "deny: {out}");
    let (code, out, _) = check(&["--key", "users/../x"]);
    assert_eq!(code, 1, "invalid key: {out}");
    let (code, out, _) = check(&[
        "--key",
        "users/alice/a.jpg",
        "--content-type",
        "image/png,text/html",
    ]);
    assert_eq!(code, 1, "invalid content type: {out}");
    let (code, _, err) = check(&["--key", "users/alice/a.jpg", "--size", "3parsecs"]);
    assert_eq!(code, 2, "usage error: {err}");
    assert!(err.contains("parsecs"), "{err}");
    let (code, _, err) = check(&["--key", "a", "--config", "/nonexistent/broker.toml"]);
    assert_eq!(code, 2, "config error: {err}");
}

#[test]
fn policy_lint_fails_without_a_policy_directory_or_files() {
    let empty = tempfile::tempdir().expect("tempdir");
    // No --dir, no policies/ here: the built-in copy is never linted as if it were the deployment's.
    let (code, out, err) = broker_in(empty.path(), &["policy", "lint"]);
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("does not exist"), "{err}");
    let dir = empty.path().display().to_string();
    let (code, out, err) = broker_in(empty.path(), &["policy", "lint", "--dir", &dir]);
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("no *.toml"), "{err}");
}

#[test]
fn every_flag_has_help() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for cmd in [
        &["serve", "--help"][..],
        &["token", "--help"],
        &["policy", "check", "--help"],
        &["policy", "lint", "--help"],
    ] {
        let (code, out, _) = broker_in(repo, cmd);
        assert_eq!(code, 0);
        for line in out.lines().map(str::trim).filter(|l| l.starts_with("--")) {
            // `--flag <VALUE>  Help text`: the help follows two or more spaces.
            assert!(line.contains("  "), "{cmd:?}: no help for {line:?}");
        }
    }
}

#[test]
fn services_status_and_env_report_the_running_ports() {
    // Under scripts/test.sh the tests got their endpoints from `scripts/services.sh env` with this run's PB_*
    // ports. Asked again without any PB_* port variable, the script must still report the running services'
    // ports (it printed the defaults before, e.g. 8333 for a SeaweedFS started on PB_S3_PORT=8533).
    let (Ok(redis), Ok(s3)) = (
        std::env::var("PB_TEST_REDIS_URL"),
        std::env::var("PB_TEST_S3_ENDPOINT"),
    ) else {
        return; // plain `cargo test` against services started by hand: nothing to compare with
    };
    let run = |cmd: &str| {
        let mut c = Command::new("scripts/services.sh");
        c.arg(cmd).current_dir(env!("CARGO_MANIFEST_DIR"));
        for var in [
            "PB_REDIS_PORT",
            "PB_S3_PORT",
            "PB_WEED_MASTER_PORT",
            "PB_WEED_VOLUME_PORT",
            "PB_WEED_FILER_PORT",
            "PB_WEED_ADMIN_PORT",
            "PB_WEBHOOK_PORT",
        ] {
            c.env_remove(var);
        }
        let out = c.output().expect("scripts/services.sh");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let env = run("env");
    assert!(
        env.contains(&format!("PB_TEST_S3_ENDPOINT={s3}\n")),
        "{env}"
    );
    assert!(
        env.contains(&format!("PB_TEST_REDIS_URL={redis}\n")),
        "{env}"
    );
    let status = run("status");
    assert!(status.contains(&s3) && status.contains(&redis), "{status}");
}
