//! The command line: `serve`, `token`, `policy check`, `policy lint`.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde_json::{Map, Value};

use crate::config::{Config, KeyMaterial, LogFormat};
use crate::policy::{Action, Claims, Decision, Denial, Request};

#[derive(Parser)]
#[command(
    name = "presign-broker",
    version,
    about = "Short-lived, policy-scoped credentials for direct uploads to object storage"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct ConfigArg {
    /// Config file (TOML); without it the built-in development config is used.
    #[arg(long, env = "PRESIGN_BROKER_CONFIG", global = true)]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve {
        #[command(flatten)]
        config: ConfigArg,
        /// Listen address, overriding [server] bind.
        #[arg(long)]
        bind: Option<String>,
        /// Log format, overriding [server] log_format.
        #[arg(long, value_enum)]
        log_format: Option<LogFormat>,
    },
    /// Mint a token with the configured HS* key (for trying the broker out).
    Token {
        #[command(flatten)]
        config: ConfigArg,
        /// The token's subject (`sub` claim).
        #[arg(long)]
        sub: String,
        /// A role; repeat for several.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Lifetime: 90s, 15m, 1h.
        #[arg(long, default_value = "1h")]
        ttl: String,
        /// An extra claim `name=value`; repeat for several.
        #[arg(long = "claim", value_parser = parse_claim)]
        claims: Vec<(String, String)>,
    },
    /// Policy tools.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Explain the decision for one request: the rule that decided it and the constraints baked in.
    Check(CheckArgs),
    /// Validate the policy files without starting the server (for CI of policy repositories).
    Lint {
        #[command(flatten)]
        config: ConfigArg,
        /// Policy directory, overriding the config's [policies] dir.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Args)]
struct CheckArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The caller's subject (`sub` claim).
    #[arg(long)]
    sub: String,
    /// A role of the caller; repeat for several.
    #[arg(long = "role")]
    roles: Vec<String>,
    /// The store asked for (a [stores.NAME] of the config).
    #[arg(long)]
    store: String,
    /// upload, download or multipart.
    #[arg(long, value_parser = parse_action)]
    action: Action,
    /// The object key asked for.
    #[arg(long)]
    key: String,
    /// Declared size: bytes or the policy files' units (20MiB, 10 MB, 512B).
    #[arg(long, value_parser = parse_size_arg)]
    size: Option<u64>,
    /// Declared content type (one media type, e.g. image/jpeg).
    #[arg(long)]
    content_type: Option<String>,
    /// An extra claim `name=value` of the caller (for `{claim.name}` paths); repeat for several.
    #[arg(long = "claim", value_parser = parse_claim)]
    claims: Vec<(String, String)>,
}

/// `policy check` exit codes (docs/API.md): scripts and CI can branch on the decision.
const EXIT_ALLOW: u8 = 0;
const EXIT_DENY: u8 = 1;
const EXIT_USAGE: u8 = 2;

fn parse_size_arg(s: &str) -> Result<u64, String> {
    crate::policy::model::parse_size(&toml::Value::String(s.to_string()))
}

fn parse_claim(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?} is not name=value"))
}

fn parse_action(s: &str) -> Result<Action, String> {
    Action::parse(s).ok_or_else(|| format!("{s:?} is not upload, download or multipart"))
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve {
            config,
            bind,
            log_format,
        } => serve(config.config, bind, log_format),
        Command::Token {
            config,
            sub,
            roles,
            ttl,
            claims,
        } => load(config.config)
            .and_then(|c| mint_token(&c, &sub, &roles, &ttl, &claims))
            .map(|t| println!("{t}")),
        Command::Policy {
            command: PolicyCommand::Check(args),
        } => {
            return match policy_check(args) {
                Ok(code) => ExitCode::from(code),
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(EXIT_USAGE)
                }
            }
        }
        Command::Policy {
            command: PolicyCommand::Lint { config, dir },
        } => policy_lint(config.config, dir),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load(path: Option<PathBuf>) -> Result<Config, String> {
    Config::load(path.as_deref()).map_err(|e| e.to_string())
}

fn serve(
    path: Option<PathBuf>,
    bind: Option<String>,
    log_format: Option<LogFormat>,
) -> Result<(), String> {
    let mut config = load(path)?;
    if let Some(bind) = bind {
        config.server.bind = bind;
    }
    // Held until `serve` returns: dropping it flushes the lines still queued for the writer thread.
    let _log_guard = crate::telemetry::init_logging(log_format.unwrap_or(config.server.log_format));
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let app = crate::Application::build(config, None)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(port = app.port(), "presign-broker listening");
        app.run_with_signals().await.map_err(|e| e.to_string())
    })
}

/// A token signed with the first HS* key of the config.
pub fn mint_token(
    config: &Config,
    sub: &str,
    roles: &[String],
    ttl: &str,
    extra: &[(String, String)],
) -> Result<String, String> {
    let ttl = crate::policy::model::parse_duration_str(ttl)?;
    let key = config
        .auth
        .keys
        .iter()
        .find(|k| matches!(k.material, KeyMaterial::Secret(_)))
        .ok_or("no HS256/384/512 key in [[auth.keys]] to sign with")?;
    let KeyMaterial::Secret(secret) = &key.material else {
        unreachable!("filtered above")
    };
    let now = chrono::Utc::now().timestamp();
    let mut claims = Map::new();
    for (k, v) in extra {
        claims.insert(k.clone(), Value::String(v.clone()));
    }
    claims.insert("sub".into(), sub.into());
    claims.insert(
        config.auth.roles_claim.clone(),
        roles.iter().map(|r| Value::String(r.clone())).collect(),
    );
    claims.insert("iat".into(), now.into());
    claims.insert("exp".into(), (now + ttl as i64).into());
    if let Some(iss) = &config.auth.issuer {
        claims.insert("iss".into(), iss.as_str().into());
    }
    if let Some(aud) = &config.auth.audience {
        claims.insert("aud".into(), aud.as_str().into());
    }
    let mut header = jsonwebtoken::Header::new(key.algorithm);
    header.kid = key.kid.clone();
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.expose().as_bytes()),
    )
    .map_err(|e| format!("signing failed: {e}"))
}

/// Prints the decision; the exit code is 0 for allow, 1 for deny or an invalid request; `Err` (a
/// configuration error) is 2.
fn policy_check(args: CheckArgs) -> Result<u8, String> {
    let config = load(args.config.config)?;
    let policies = crate::load_policies(&config).map_err(|e| e.to_string())?;
    let extra: Map<String, Value> = args
        .claims
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let claims = Claims::new(args.sub, args.roles, extra);
    if let Err(e) = crate::policy::key::validate_key(&args.key) {
        println!("decision: invalid_key ({e})");
        return Ok(EXIT_DENY);
    }
    if let Some(Err(e)) = args.content_type.as_deref().map(crate::media_type::parse) {
        println!("decision: invalid_request (content_type is not one media type: {e})");
        return Ok(EXIT_DENY);
    }
    let request = Request {
        claims: &claims,
        store: &args.store,
        action: args.action,
        key: &args.key,
        content_type: args.content_type.as_deref(),
        size: args.size,
    };
    let decision = policies.evaluate(&request);
    let verdict = match &decision {
        Decision::Allow(_) => "allow".to_string(),
        Decision::Deny(Denial::NoRule) => "deny (no allow rule matches; default deny)".to_string(),
        Decision::Deny(Denial::DenyRule(_)) => "deny (an explicit deny rule matches)".to_string(),
        Decision::Deny(Denial::TooLarge { max_size, .. }) => {
            format!("deny (413: size over max_size {max_size})")
        }
        Decision::Deny(Denial::ContentType { .. }) => {
            "deny (415: content type not allowed)".to_string()
        }
    };
    println!("decision: {verdict}");
    if let Some(rule) = decision.rule() {
        println!(
            "rule: {}{}",
            rule.id,
            rule.description
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        );
        if let Decision::Allow(rule) = decision {
            let store_max = config
                .stores
                .get(&args.store)
                .map(|s| s.max_expires_seconds);
            let fmt_opt = |v: Option<u64>| v.map_or("none".to_string(), |n| n.to_string());
            println!("constraints:");
            println!("  max_size: {}", fmt_opt(rule.max_size));
            let types: Vec<String> = rule.content_types.iter().map(|c| c.as_string()).collect();
            println!(
                "  content_types: {}",
                if types.is_empty() {
                    "any".to_string()
                } else {
                    types.join(", ")
                }
            );
            println!(
                "  max_expires: {} (rule), {} (store)",
                fmt_opt(rule.max_expires),
                fmt_opt(store_max)
            );
            println!("  overwrite: {}", rule.overwrite);
            if let Some(t) = &rule.key_template {
                println!("  key_template: {}", t.as_str());
            }
        }
    }
    if !config.stores.contains_key(&args.store) {
        println!(
            "note: store {:?} is not configured; the API would answer 404 unknown_store",
            args.store
        );
    }
    Ok(match decision {
        Decision::Allow(_) => EXIT_ALLOW,
        Decision::Deny(_) => EXIT_DENY,
    })
}

fn policy_lint(path: Option<PathBuf>, dir: Option<PathBuf>) -> Result<(), String> {
    let mut config = load(path)?;
    if let Some(dir) = dir {
        config.policies.dir = dir;
    }
    // Lint what a deployment would read, never the built-in copy: a missing or empty directory is a failure.
    config.dev_defaults = false;
    let dir = &config.policies.dir;
    if !dir.is_dir() {
        return Err(format!("policy directory {} does not exist", dir.display()));
    }
    let has_policy = std::fs::read_dir(dir)
        .map_err(|e| format!("policy directory {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .any(|e| e.path().extension().is_some_and(|x| x == "toml"));
    if !has_policy {
        return Err(format!(
            "policy directory {} holds no *.toml policy file",
            dir.display()
        ));
    }
    let set = crate::load_policies(&config).map_err(|e| e.to_string())?;
    println!(
        "ok: {} rules in {}",
        set.rules().len(),
        config.policies.dir.display()
    );
    Ok(())
}
