//! PrometheusMetricsProvider: `GET /metrics` in the Prometheus text format
//! 0.0.4, with the names, types and HELP lines Java 3.8's provider (on
//! simpleclient 0.9) exports.
//!
//! Enabled by zoo.cfg `metricsProvider.className=
//! org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider`;
//! `metricsProvider.httpHost` (0.0.0.0), `metricsProvider.httpPort` (7000)
//! and `metricsProvider.exportJvmInfo` (true: here the process_* series of
//! the Prometheus client conventions, as Java's DefaultExports adds its
//! process collector) are read as Java reads them. Java's summary settings
//! (`numWorkerThreads`, `maxQueueSize`, `workerShutdownTimeoutMs`: the
//! pool that takes summary observations off the hot path) are read and
//! checked but have nothing to tune: observations are recorded in place
//! without a lock (`server::metrics`).
//!
//! Every gauge is `<name>` (HELP and TYPE gauge), every counter `<name>`
//! (TYPE counter, no `_total` suffix in simpleclient 0.9), every summary
//! `<name>{quantile="0.5"}` (plus 0.9 and 0.99 for ADVANCED ones),
//! `<name>_count` and `<name>_sum`; sets carry a `key` label. HELP is the
//! metric's name, as Java builds them.
//!
//! The HTTP layer is `server::http_server` (Java's provider runs an
//! embedded Jetty `Server`, its MetricsServlet on the `qtp<hash>-<n>` pool
//! threads), with the thread-name prefix `MetricsHttp` (short enough that
//! `MetricsHttp-<n>` fits Linux's 15-byte names up to n = 999):
//! `MetricsHttp-0` accepts on httpHost:httpPort and one `MetricsHttp-<n>`
//! thread per connection (at most 200, Jetty's pool
//! size) answers `/metrics` (with or without a query, any method, as the
//! servlet's doGet and doPost) and 404 on any other path, as Java's
//! servlet mapping. Java sets no idle timeout on that Jetty, so a
//! connection idle for Jetty's default 30 s is closed.

use crate::quorum::quorum_peer_config::system_properties::SystemProperties;
use crate::quorum::quorum_peer_config::ConfigError;
use crate::server::http_server::{self, HttpRequest, HttpResponse, HttpServer, HttpServerConfig};
use crate::server::metrics::monitor::{gauge_sets, gauges, Value};
use crate::server::metrics::{DetailLevel, Summary};
use crate::server::server_cnxn_factory::ServerCnxnFactory;
use crate::server::server_metrics::{metrics, MetricRef};
use std::fmt::Write as _;
use std::sync::Weak;
use std::time::Duration;

/// Java's default provider: metrics for mntr only, nothing served.
pub const DEFAULT_METRICS_PROVIDER: &str = "org.apache.zookeeper.metrics.impl.DefaultMetricsProvider";
/// Java's Prometheus provider.
pub const PROMETHEUS_METRICS_PROVIDER: &str = "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider";

/// The `metricsProvider.*` keys of zoo.cfg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsProviderSettings {
    /// Whether /metrics is served (className is the Prometheus provider).
    pub prometheus: bool,
    pub http_host: String,
    pub http_port: u16,
    pub export_jvm_info: bool,
    pub num_worker_threads: i32,
    pub max_queue_size: i32,
    pub worker_shutdown_timeout_ms: i64,
}

impl MetricsProviderSettings {
    pub fn read(props: &SystemProperties) -> Result<MetricsProviderSettings, ConfigError> {
        let class = props.string_or("metricsProvider.className", DEFAULT_METRICS_PROVIDER);
        let prometheus = match class.as_str() {
            DEFAULT_METRICS_PROVIDER => false,
            PROMETHEUS_METRICS_PROVIDER => true,
            _ => {
                return Err(props.refused(
                    "metricsProvider.className",
                    &format!("zkserver has only {DEFAULT_METRICS_PROVIDER} and {PROMETHEUS_METRICS_PROVIDER}"),
                ))
            }
        };
        let port = props.decimal_int("metricsProvider.httpPort", 7000)?;
        let http_port =
            u16::try_from(port).map_err(|_| props.refused("metricsProvider.httpPort", "not a port number"))?;
        Ok(MetricsProviderSettings {
            prometheus,
            http_host: props.string_or("metricsProvider.httpHost", "0.0.0.0"),
            http_port,
            // Boolean.parseBoolean: only "true", in any case, is true.
            export_jvm_info: props
                .string("metricsProvider.exportJvmInfo")
                .map_or(true, |v| v.eq_ignore_ascii_case("true")),
            num_worker_threads: props.decimal_int("metricsProvider.numWorkerThreads", 1)?,
            max_queue_size: props.decimal_int("metricsProvider.maxQueueSize", 1_000_000)?,
            worker_shutdown_timeout_ms: props.decimal_long("metricsProvider.workerShutdownTimeoutMs", 1000)?,
        })
    }
}

/// Whether the Prometheus provider runs (mntr then prints its samples, as
/// Java's MonitorCommand dumps whichever provider is configured), and
/// whether it exports the process series.
static RUNNING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static EXPORT_PROCESS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The provider's dump when it runs: every sample of /metrics as
/// (`name{label="value",...}`, value), the key as Java's buildKeyForDump
/// writes it.
pub fn dump(factory: &dyn ServerCnxnFactory) -> Option<Vec<(String, f64)>> {
    use std::sync::atomic::Ordering;
    if !RUNNING.load(Ordering::Relaxed) {
        return None;
    }
    let text = render(factory, EXPORT_PROCESS.load(Ordering::Relaxed));
    let samples = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, v) = l.rsplit_once(' ')?;
            let v = match v {
                "NaN" => f64::NAN,
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                _ => v.parse().ok()?,
            };
            Some((series.replace(",}", "}"), v))
        })
        .collect();
    Some(samples)
}

/// The running provider: its HTTP server.
pub struct PrometheusMetricsProvider {
    server: HttpServer,
}

/// The content type simpleclient's TextFormat answers with.
const TEXT_FORMAT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

impl PrometheusMetricsProvider {
    /// start(): binds httpHost:httpPort and serves /metrics, reading the
    /// server currently behind `factory`'s port.
    pub fn start(
        settings: &MetricsProviderSettings,
        factory: Weak<dyn ServerCnxnFactory>,
    ) -> Result<PrometheusMetricsProvider, String> {
        tracing::info!(
            "Starting /metrics HTTP endpoint at host: {}, port: {}, exportJvmInfo: {}",
            settings.http_host,
            settings.http_port,
            settings.export_jvm_info
        );
        let failed = |e: std::io::Error| {
            format!("Cannot start /metrics server on {}:{}: {e}", settings.http_host, settings.http_port)
        };
        let listener = http_server::bind(&settings.http_host, settings.http_port).map_err(failed)?;
        let config = HttpServerConfig {
            thread_prefix: "MetricsHttp".into(),
            idle_timeout: Some(Duration::from_millis(http_server::DEFAULT_IDLE_TIMEOUT_MS)),
            max_connections: http_server::MAX_CONNECTIONS,
            tls: None,
        };
        let export_process = settings.export_jvm_info;
        let server =
            HttpServer::start(listener, config, move |req| answer(req, &factory, export_process)).map_err(failed)?;
        EXPORT_PROCESS.store(export_process, std::sync::atomic::Ordering::Relaxed);
        RUNNING.store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(PrometheusMetricsProvider { server })
    }

    pub fn local_address(&self) -> std::net::SocketAddr {
        self.server.local_address()
    }

    /// stop(): closes the socket and the open connections, and waits for
    /// the acceptor.
    pub fn stop(self) {
        RUNNING.store(false, std::sync::atomic::Ordering::Relaxed);
        self.server.shutdown();
    }
}

/// The MetricsServlet on `/metrics`, 404 elsewhere.
fn answer(req: &HttpRequest, factory: &Weak<dyn ServerCnxnFactory>, export_process: bool) -> HttpResponse {
    if req.path == "/metrics" {
        let body = match factory.upgrade() {
            Some(f) => render(&*f, export_process),
            None => String::new(),
        };
        HttpResponse::new(200, "OK", TEXT_FORMAT_CONTENT_TYPE, body)
    } else {
        HttpResponse::new(404, "Not Found", "text/plain; charset=UTF-8", "Not Found")
    }
}

/// simpleclient's Collector.doubleToGoString.
fn go_double(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        crate::server::command::java_double(v)
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n").replace('"', "\\\"")
}

fn summary_samples(out: &mut String, name: &str, key: Option<&str>, s: &Summary) {
    let qs: &[f64] = if s.level() == DetailLevel::Advanced { &[0.5, 0.9, 0.99] } else { &[0.5] };
    let label = key.map(|k| format!("key=\"{}\",", escape_label(k))).unwrap_or_default();
    for (q, v) in qs.iter().zip(s.quantiles(qs)) {
        let _ = writeln!(out, "{name}{{{label}quantile=\"{q}\",}} {}", go_double(v));
    }
    let snap = s.snapshot();
    let braces = if label.is_empty() { String::new() } else { format!("{{{label}}}") };
    let _ = writeln!(out, "{name}_count{braces} {}", go_double(snap.count as f64));
    let _ = writeln!(out, "{name}_sum{braces} {}", go_double(snap.sum as f64));
}

/// The /metrics text: the server's gauges and gauge sets, every
/// ServerMetrics metric, then the process series.
pub fn render(factory: &dyn ServerCnxnFactory, export_process: bool) -> String {
    let zks = factory.zoo_keeper_server();
    let mut out = String::with_capacity(64 * 1024);
    for (name, value) in gauges(&zks, Some(factory)) {
        family(&mut out, name, "gauge", name);
        let _ = writeln!(out, "{name} {}", go_double(value.as_f64()));
    }
    for (name, members) in gauge_sets(&zks) {
        family(&mut out, name, "gauge", name);
        for (key, value) in members {
            let _ = writeln!(out, "{name}{{key=\"{}\",}} {}", escape_label(&key), go_double(Value::as_f64(&value)));
        }
    }
    for m in metrics().all() {
        match m {
            MetricRef::Counter(c) => {
                family(&mut out, c.name(), "counter", c.name());
                let _ = writeln!(out, "{} {}", c.name(), go_double(c.get() as f64));
            }
            MetricRef::CounterSet(c) => {
                family(&mut out, c.name(), "counter", c.name());
                for (key, v) in c.members() {
                    let _ = writeln!(out, "{}{{key=\"{}\",}} {}", c.name(), escape_label(&key), go_double(v as f64));
                }
            }
            MetricRef::Summary(s) => {
                family(&mut out, s.name(), "summary", s.name());
                summary_samples(&mut out, s.name(), None, s);
            }
            MetricRef::SummarySet(set) => {
                family(&mut out, set.name(), "summary", set.name());
                for (key, s) in set.members() {
                    summary_samples(&mut out, set.name(), Some(&key), &s);
                }
            }
        }
    }
    if export_process {
        process_metrics(&mut out);
    }
    out
}

/// The Prometheus client libraries' standard process collector, from /proc.
fn process_metrics(out: &mut String) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as f64;
    let cpu = (field(14) + field(15)) / ticks;
    let start_ticks = field(22);
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("btime ").and_then(|v| v.trim().parse::<f64>().ok())))
        .unwrap_or(0.0);
    let series: [(&str, &str, &str, f64); 6] = [
        ("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", cpu),
        ("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", boot + start_ticks / ticks),
        (
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            crate::server::metrics::monitor::open_fd_count() as f64,
        ),
        (
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            crate::server::metrics::monitor::max_fd_count() as f64,
        ),
        ("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", field(23)),
        ("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", field(24) * page),
    ];
    for (name, kind, help, v) in series {
        family(out, name, kind, help);
        let _ = writeln!(out, "{name} {}", go_double(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_as_java() {
        let read = |pairs: &[(&str, &str)]| MetricsProviderSettings::read(&SystemProperties::of(pairs));
        let s = read(&[]).unwrap();
        assert!(!s.prometheus);
        assert_eq!((s.http_host.as_str(), s.http_port, s.export_jvm_info), ("0.0.0.0", 7000, true));
        let s = read(&[("metricsProvider.className", PROMETHEUS_METRICS_PROVIDER), ("metricsProvider.httpPort", "7001"), ("metricsProvider.exportJvmInfo", "no")]).unwrap();
        assert!(s.prometheus && s.http_port == 7001 && !s.export_jvm_info);
        let e = read(&[("metricsProvider.className", "com.example.Other")]).unwrap_err().to_string();
        assert!(e.contains("metricsProvider.className"), "{e}");
        assert!(read(&[("metricsProvider.httpPort", "70000")]).is_err());
    }

    #[test]
    fn doubles_print_as_go_does() {
        assert_eq!(go_double(f64::NAN), "NaN");
        assert_eq!(go_double(3.0), "3.0");
        assert_eq!(go_double(f64::INFINITY), "+Inf");
    }
}
