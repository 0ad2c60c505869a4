//! Logging (text or JSON) and the Prometheus registry, with every metric described up front.
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Lines the log writer thread may have queued; past this a line is dropped (and counted) rather than making a
/// request wait for stdout or the queue grow without bound. At ~300 bytes a line this caps the queue near 5 MiB.
const LOG_QUEUE_LINES: usize = 16_384;

/// Bytes of log lines gathered into one write(2) when lines arrive faster than they are written.
const LOG_WRITE_BUFFER: usize = 64 * 1024;

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
        // The writer thread drains every queued line into this buffer and flushes when the queue is empty:
        // one write(2) per burst of lines instead of one per line (stdout alone is line-buffered), while an
        // idle broker's lines still appear at once.
        .finish(std::io::BufWriter::with_capacity(
            LOG_WRITE_BUFFER,
            std::io::stdout(),
        ));
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
        LogFormat::Text => builder.fmt_fields(PlainFields).try_init(),
    };
    if installed.is_err() {
        return LogGuard(None);
    }
    let _ = DROPPED_LINES.set(dropped);
    LogGuard(Some(guard))
}

/// The text format's fields: `name=value` separated by spaces, the message bare, `log.*` metadata skipped, as
/// tracing-subscriber's default writes them without colour, minus its styling calls per field (italic names, a
/// dimmed `=`), which cost as much as the values: the audit line is formatted on every credential's path.
struct PlainFields;

impl<'w> tracing_subscriber::fmt::FormatFields<'w> for PlainFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        writer: tracing_subscriber::fmt::format::Writer<'w>,
        fields: R,
    ) -> std::fmt::Result {
        let mut visitor = PlainVisitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct PlainVisitor<'w> {
    writer: tracing_subscriber::fmt::format::Writer<'w>,
    first: bool,
    result: std::fmt::Result,
}

impl tracing::field::Visit for PlainVisitor<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let name = field.name();
        if self.result.is_err() || name.starts_with("log.") {
            return;
        }
        let separator = if std::mem::take(&mut self.first) {
            ""
        } else {
            " "
        };
        self.result = match name.strip_prefix("r#").unwrap_or(name) {
            "message" => write!(self.writer, "{separator}{value:?}"),
            name => write!(self.writer, "{separator}{name}={value:?}"),
        };
    }
}

/// Log lines dropped so far because the writer thread's queue was full (0 before `init_logging`).
pub fn dropped_log_lines() -> u64 {
    DROPPED_LINES.get().map_or(0, |c| c.dropped_lines() as u64)
}

/// Adds `n` to the counter `name` with two labels whose values are fixed words. Like `metrics::counter!`, but the
/// handle is resolved once per thread and label set: the macro builds the key, hashes it and compares labels in
/// the registry every time, which cost more than the increment. The strings are `'static`, so they are told
/// apart by address (no hashing of their text), and the set a thread keeps is bounded by the program's words.
pub fn count(name: &'static str, labels: [(&'static str, &'static str); 2], n: u64) {
    type Labels = [(&'static str, &'static str); 2];
    thread_local! {
        static COUNTERS: RefCell<Vec<(&'static str, Labels, metrics::Counter)>> = const { RefCell::new(Vec::new()) };
    }
    let same = |a: &str, b: &str| std::ptr::eq(a, b);
    COUNTERS.with_borrow_mut(|counters| {
        let found = counters.iter().position(|(n, l, _)| {
            same(n, name)
                && l.iter()
                    .zip(&labels)
                    .all(|((k, v), (k2, v2))| same(k, k2) && same(v, v2))
        });
        let index = found.unwrap_or_else(|| {
            let [(k1, v1), (k2, v2)] = labels;
            counters.push((name, labels, metrics::counter!(name, k1 => v1, k2 => v2)));
            counters.len() - 1
        });
        counters[index].2.increment(n);
    });
}

/// Records one request in `http_requests_total` and `http_request_duration_seconds`, with handles resolved once
/// per thread as in [`count`]. `route` is a route pattern (or `unmatched`), `method` one of a fixed set and
/// `status` the server's own choice, so the handles a thread keeps are bounded.
pub fn record_request(route: &str, method: &'static str, status: u16, seconds: f64) {
    struct RouteMetrics {
        duration: metrics::Histogram,
        requests: Vec<(&'static str, u16, metrics::Counter)>,
    }
    thread_local! {
        static ROUTES: RefCell<HashMap<String, RouteMetrics>> = RefCell::default();
    }
    fn record(
        metrics: &mut RouteMetrics,
        route: &str,
        method: &'static str,
        status: u16,
        seconds: f64,
    ) {
        metrics.duration.record(seconds);
        let known = metrics
            .requests
            .iter()
            .find(|(m, s, _)| *m == method && *s == status);
        match known {
            Some((_, _, counter)) => counter.increment(1),
            None => {
                let counter = metrics::counter!("http_requests_total", "route" => route.to_owned(), "method" => method, "status" => status.to_string());
                counter.increment(1);
                metrics.requests.push((method, status, counter));
            }
        }
    }
    ROUTES.with_borrow_mut(|routes| match routes.get_mut(route) {
        Some(metrics) => record(metrics, route, method, status, seconds),
        None => {
            let duration =
                metrics::histogram!("http_request_duration_seconds", "route" => route.to_owned());
            let metrics = routes.entry(route.to_owned()).or_insert(RouteMetrics {
                duration,
                requests: Vec::new(),
            });
            record(metrics, route, method, status, seconds);
        }
    });
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A `MakeWriter` into a shared buffer.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn emit_sample() {
        let span =
            tracing::info_span!("request", request_id = %"01J9", subject = tracing::field::Empty);
        span.record("subject", "alice");
        let _entered = span.enter();
        let roles = vec!["user".to_string()];
        tracing::info!(
            target: "audit",
            request_id = %"01J9",
            roles = ?roles,
            key = "users/alice/a b \"c\".jpg",
            r#type = "x",
            log.target = "skipped",
            "policy decision"
        );
    }

    fn line_with<F>(fields: F) -> String
    where
        F: for<'w> tracing_subscriber::fmt::FormatFields<'w> + Send + Sync + 'static,
    {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .without_time()
            .with_target(false)
            .fmt_fields(fields)
            .finish();
        tracing::subscriber::with_default(subscriber, emit_sample);
        let bytes = out.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn plain_fields_write_what_the_default_writes_without_colour() {
        let plain = line_with(PlainFields);
        assert_eq!(
            plain,
            line_with(tracing_subscriber::fmt::format::DefaultFields::new())
        );
        assert!(
            plain.contains(r#"request{request_id=01J9 subject="alice"}: policy decision request_id=01J9 roles=["user"] key="users/alice/a b \"c\".jpg" type="x""#),
            "{plain}"
        );
        assert!(!plain.contains("skipped"), "{plain}");
    }

    fn value_of(rendered: &str, series: &str) -> Option<f64> {
        rendered
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
    }

    #[test]
    fn cached_handles_count_into_the_registry_from_every_thread() {
        let handle = metrics_handle();
        let bump = || {
            count(
                "policy_decisions_total",
                [("action", "unit-test"), ("decision", "allow")],
                2,
            );
            record_request("/unit-test/{id}", "GET", 200, 0.001);
            record_request("/unit-test/{id}", "GET", 404, 0.001);
        };
        bump();
        bump();
        std::thread::spawn(bump).join().unwrap();
        let rendered = handle.render();
        let decisions = r#"policy_decisions_total{action="unit-test",decision="allow"}"#;
        assert_eq!(value_of(&rendered, decisions), Some(6.0), "{rendered}");
        let ok = r#"http_requests_total{route="/unit-test/{id}",method="GET",status="200"}"#;
        assert_eq!(value_of(&rendered, ok), Some(3.0), "{rendered}");
        let missing = r#"http_requests_total{route="/unit-test/{id}",method="GET",status="404"}"#;
        assert_eq!(value_of(&rendered, missing), Some(3.0), "{rendered}");
        let timed = r#"http_request_duration_seconds_count{route="/unit-test/{id}"}"#;
        assert_eq!(value_of(&rendered, timed), Some(6.0), "{rendered}");
    }
}
