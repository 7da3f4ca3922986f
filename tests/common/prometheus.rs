//! The Prometheus provider from outside: a zkserver that runs it, GET on its
//! port, the text exposition parsed (format 0.0.4), and the count of metric
//! updates the samples add up to. Used by tests/metrics.rs and by
//! benches/metrics.rs.

use super::{free_port, Flavor, ServerOpts, TestServer};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A zkserver running the Prometheus provider on a free port of 127.0.0.1.
pub fn prometheus_server() -> (TestServer, u16) {
    let port = free_port();
    let opts = ServerOpts::default()
        .cfg("metricsProvider.className", "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider")
        .cfg("metricsProvider.httpHost", "127.0.0.1")
        .cfg("metricsProvider.httpPort", &port.to_string());
    (TestServer::start_with(Flavor::Zkserver, opts), port)
}

/// GET `path` on 127.0.0.1:`port`: (status, body).
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to /metrics");
    s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").expect("send");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    let status = raw.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// Family name -> type, and sample (name with labels) -> value.
pub type Exposition = (BTreeMap<String, String>, BTreeMap<String, f64>);

/// A parsed exposition: family name -> type, and sample (name with
/// labels) -> value. Panics on any line format 0.0.4 does not allow.
pub fn parse_exposition(text: &str) -> Exposition {
    let mut types = BTreeMap::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE line");
            assert!(["counter", "gauge", "summary", "histogram", "untyped"].contains(&kind), "{line}");
            types.insert(name.to_string(), kind.to_string());
            continue;
        }
        if line.starts_with("# HELP ") || line.starts_with('#') {
            continue;
        }
        let (series, v) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad sample line {line}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "bad labels in {line}");
        }
        let v: f64 = match v {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            _ => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
        };
        samples.insert(series.to_string(), v);
    }
    (types, samples)
}

/// The metric updates the samples add up to: each counter's value (bar the
/// byte counters, which count bytes) and each summary's observation count.
/// The difference of two scrapes is the updates made in between.
pub fn metric_updates((types, samples): &Exposition) -> f64 {
    const BYTE_COUNTERS: [&str; 3] = ["bytes_received_count", "response_bytes", "watch_bytes"];
    samples
        .iter()
        .filter(|(k, _)| {
            let counter = types.get(k.as_str()).is_some_and(|t| t == "counter") && !BYTE_COUNTERS.contains(&k.as_str());
            let summary_count = k.strip_suffix("_count").is_some_and(|base| types.get(base).is_some_and(|t| t == "summary"));
            counter || summary_count
        })
        .map(|(_, v)| *v)
        .sum()
}
