//! Logging (text or JSON) and the Prometheus registry, with every metric described up front.
use std::io::IsTerminal;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Lines the log writer thread may have queued; past this a line is dropped (and counted) rather than making a
/// request wait for stdout or the queue grow without bound. At ~300 bytes a line this caps the queue near 5 MiB.
const LOG_QUEUE_LINES: usize = 16_384;

/// Lines dropped because the log queue was full, for `log_lines_dropped_total` (see `dropped_log_lines`).
static DROPPED_LINES: OnceLock<tracing_appender::non_blocking::ErrorCounter> = OnceLock::new();

/// Keeps the log writer thread; dropping it flushes the queued lines, so `serve` holds it until exit.
#[must_use]
pub struct LogGuard(#[allow(dead_code)] Option<tracing_appender::non_blocking::WorkerGuard>);

/// Installs the global tracing subscriber; `RUST_LOG` overrides the default `info` level. Lines go to stdout
/// from a writer thread: formatting stays on the request thread, the write(2) (and any wait for a slow
/// reader of stdout) does not, which at `info` took more of a credential request than the signing did.
pub fn init_logging(format: LogFormat) -> LogGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .lossy(true)
        .thread_name("log-writer")
        .finish(std::io::stdout());
    let dropped = writer.error_counter();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        // Colour codes only for a terminal: in a file or a collector's pipe they are noise, and writing them
        // was a visible share of the audit line's cost in the profile (docs/PERFORMANCE.md).
        .with_ansi(std::io::stdout().is_terminal())
        .with_target(false);
    // A second call (tests build many apps in one process) keeps the first subscriber.
    let installed = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
    if installed.is_err() {
        return LogGuard(None);
    }
    let _ = DROPPED_LINES.set(dropped);
    LogGuard(Some(guard))
}

/// Log lines dropped so far because the writer thread's queue was full (0 before `init_logging`).
pub fn dropped_log_lines() -> u64 {
    DROPPED_LINES.get().map_or(0, |c| c.dropped_lines() as u64)
}

/// The process-wide Prometheus recorder (installed once; metrics macros need a global recorder).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("http_request_duration_seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        5.0,
                    ],
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("upstream_request_duration_seconds".into()),
                        &[
                            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                        ],
                    )
                })
                .map(|b| b.build_recorder())
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            // Histogram samples pile up in the recorder until drained; without a scrape nothing drains them
            // and the process grows by every request's sample. Upkeep folds them into the buckets.
            let upkeep = handle.clone();
            let _ = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(std::time::Duration::from_secs(5));
                    upkeep.run_upkeep();
                });
            let _ = metrics::set_global_recorder(recorder);
            describe_metrics();
            handle
        })
        .clone()
}

fn describe_metrics() {
    use metrics::{describe_counter, describe_histogram, Unit};
    describe_counter!(
        "http_requests_total",
        "HTTP requests by route pattern, method and status"
    );
    describe_histogram!(
        "http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency by route pattern"
    );
    describe_counter!(
        "credentials_issued_total",
        "Credentials issued, by provider and kind"
    );
    describe_counter!(
        "policy_decisions_total",
        "Policy decisions, by action and outcome"
    );
    describe_counter!(
        "callbacks_total",
        "Provider callbacks by provider and outcome (accepted, duplicate, rejected, unavailable)"
    );
    describe_histogram!(
        "upstream_request_duration_seconds",
        Unit::Seconds,
        "Server-side calls to storage providers (HEAD/stat, multipart bookkeeping), by provider and operation"
    );
    describe_counter!(
        "log_lines_dropped_total",
        "Log lines dropped because the log writer's bounded queue was full (stdout slower than the requests)"
    );
    describe_counter!(
        "policy_reloads_total",
        "Policy reloads (SIGHUP or directory watch), by outcome (ok, failed)"
    );
}
