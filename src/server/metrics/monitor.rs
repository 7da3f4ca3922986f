//! What `mntr` prints (MonitorCommand): the server's dumpMonitorValues,
//! then every gauge and metric in DefaultMetricsProvider's dump order. One
//! function, `monitor_values`, gives the figures to both the four-letter
//! word and the AdminServer's `monitor` command; the Prometheus provider
//! reads the same gauges (`gauges`) and metrics.

use crate::server::command::java_double;
use crate::server::metrics::java_hash_order;
use crate::server::server_cnxn_factory::ServerCnxnFactory;
use crate::server::server_metrics::{metrics, MetricRef};
use crate::server::zoo_keeper_server::ZooKeeperServer;
use std::fmt;
use std::sync::Arc;

/// A figure as Java's sink receives it: integers print as integers, other
/// numbers as doubles ("0.0"), the rest as text.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Long(i64),
    Double(f64),
    Text(String),
    /// A gauge with no value now: left out of mntr (as Java's dump skips
    /// a null), 0 in Prometheus.
    Null,
}

impl Value {
    /// The number Prometheus exports (0 for text).
    pub fn as_f64(&self) -> f64 {
        match self {
            Value::Long(v) => *v as f64,
            Value::Double(v) => *v,
            Value::Text(_) | Value::Null => 0.0,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Long(v) => write!(f, "{v}"),
            Value::Double(v) => f.write_str(&java_double(*v)),
            Value::Text(s) => f.write_str(s),
            Value::Null => Ok(()),
        }
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Value {
        Value::Long(v as i64)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Long(v)
    }
}
impl From<usize> for Value {
    fn from(v: usize) -> Value {
        Value::Long(v as i64)
    }
}

/// The gauge sets a server registers (the quota figures per top-level
/// namespace), by name: (set name, [(key, value)]).
pub type GaugeSets = Vec<(&'static str, Vec<(String, Value)>)>;

/// The gauges a server registers (ZooKeeperServer.registerMetrics and its
/// role's additions), in registration order.
pub fn gauges(zks: &Arc<ZooKeeperServer>, factory: Option<&dyn ServerCnxnFactory>) -> Vec<(&'static str, Value)> {
    let dt = zks.zk_db().data_tree();
    let (min, avg, max) = zks.stats.latency();
    let (last_resp, min_resp, max_resp) = zks.stats.client_response_sizes();
    let mut g: Vec<(&'static str, Value)> = vec![
        ("avg_latency", Value::Double(avg)),
        ("max_latency", max.into()),
        ("min_latency", min.into()),
        ("packets_received", zks.stats.packets_received().into()),
        ("packets_sent", zks.stats.packets_sent().into()),
        ("num_alive_connections", factory.map_or(0, |f| f.num_alive_connections()).into()),
        ("outstanding_requests", zks.outstanding_requests().into()),
        ("uptime", (zks.uptime_ms() as i64).into()),
        ("znode_count", dt.node_count().into()),
        ("watch_count", dt.watch_count().into()),
        ("ephemerals_count", dt.ephemerals_count().into()),
        ("approximate_data_size", (dt.approximate_data_size() as i64).into()),
        ("global_sessions", zks.zk_db().session_count().into()),
        ("local_sessions", zks.session_tracker().local_session_count().into()),
        ("open_file_descriptor_count", (open_fd_count() as i64).into()),
        ("max_file_descriptor_count", (max_fd_count() as i64).into()),
        ("connection_drop_probability", Value::Double(zks.connection_drop_chance())),
        ("last_client_response_size", last_resp.into()),
        ("max_client_response_size", max_resp.into()),
        ("min_client_response_size", min_resp.into()),
        ("outstanding_tls_handshake", (factory.map_or(0, |f| f.outstanding_tls_handshakes()) as i64).into()),
        ("auth_failed_count", zks.stats.auth_failed_count().into()),
        // Java counts plain connections on a port that also takes TLS
        // (port unification); zkserver does not count them yet.
        ("non_mtls_remote_conn_count", Value::Long(0)),
        ("non_mtls_local_conn_count", Value::Long(0)),
    ];
    // A role's gauge named like a server's replaces it, the others come
    // after.
    for (k, v) in zks.role().gauges() {
        match g.iter_mut().find(|(name, _)| *name == k) {
            Some(entry) => entry.1 = v,
            None => g.push((k, v)),
        }
    }
    g
}

/// The gauge sets a server registers: the quota limits and usage of each
/// top-level namespace that has a quota (QuotaMetricsUtils).
pub fn gauge_sets(zks: &Arc<ZooKeeperServer>) -> GaugeSets {
    let q = zks.zk_db().data_tree().quota_metrics();
    let to_values = |v: Vec<(String, i64)>| v.into_iter().map(|(k, n)| (k, Value::Double(n as f64))).collect();
    vec![
        ("quota_count_limit_per_namespace", to_values(q.count_limit)),
        ("quota_bytes_limit_per_namespace", to_values(q.bytes_limit)),
        ("quota_count_usage_per_namespace", to_values(q.count_usage)),
        ("quota_bytes_usage_per_namespace", to_values(q.bytes_usage)),
    ]
}

/// dumpMonitorValues: version and server state, then the role's own
/// (peer_state for a quorum member, observer_master_id for an observer).
pub fn dump_monitor_values(zks: &Arc<ZooKeeperServer>) -> Vec<(&'static str, Value)> {
    let mut v = vec![
        ("version", Value::Text(crate::server::command::full_version())),
        ("server_state", Value::Text(zks.server_state().to_string())),
    ];
    v.extend(zks.role().monitor_values());
    v
}

/// Everything `mntr` (and the AdminServer's `monitor`) reports, keys
/// without the `zk_` prefix, in Java's order: dumpMonitorValues, then the
/// Prometheus provider's samples when it runs, else DefaultMetricsProvider's
/// dump (gauges, gauge sets, counters, counter sets, basic summaries,
/// advanced ones, basic summary sets, advanced summary sets; each kind in
/// the order of Java's hash map of that kind).
pub fn monitor_values(zks: &Arc<ZooKeeperServer>, factory: Option<&dyn ServerCnxnFactory>) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> =
        dump_monitor_values(zks).into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    // With the Prometheus provider on, Java dumps that provider instead:
    // its samples, keyed `name{label="value"}`, every value a double.
    if let Some(samples) = factory.and_then(crate::server::metrics::prometheus::dump) {
        out.extend(samples.into_iter().map(|(k, v)| (k, Value::Double(v))));
        return out;
    }
    let named = |v: Vec<(&'static str, Value)>| v.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<Vec<_>>();
    let present = gauges(zks, factory).into_iter().filter(|(_, v)| *v != Value::Null).collect();
    out.extend(java_hash_order(named(present)));
    let sets = gauge_sets(zks);
    for (name, members) in java_hash_order(sets.into_iter().map(|(n, m)| (n.to_string(), m)).collect()) {
        for (key, value) in members {
            out.push((format!("{key}_{name}"), value));
        }
    }
    let all = metrics().all();
    let mut counters = Vec::new();
    let mut counter_sets = Vec::new();
    let mut basic = Vec::new();
    let mut advanced = Vec::new();
    let mut basic_sets = Vec::new();
    let mut advanced_sets = Vec::new();
    use crate::server::metrics::DetailLevel::{Advanced, Basic};
    for m in &all {
        match m {
            MetricRef::Counter(c) => counters.push((c.name().to_string(), *m)),
            MetricRef::CounterSet(c) => counter_sets.push((c.name().to_string(), *m)),
            MetricRef::Summary(s) if s.level() == Basic => basic.push((s.name().to_string(), *m)),
            MetricRef::Summary(s) => advanced.push((s.name().to_string(), *m)),
            MetricRef::SummarySet(s) if s.level() == Basic => basic_sets.push((s.name().to_string(), *m)),
            MetricRef::SummarySet(s) if s.level() == Advanced => advanced_sets.push((s.name().to_string(), *m)),
            MetricRef::SummarySet(_) => {}
        }
    }
    for group in [counters, counter_sets, basic, advanced, basic_sets, advanced_sets] {
        for (_, m) in java_hash_order(group) {
            push_metric(&mut out, m);
        }
    }
    out
}

fn push_summary(out: &mut Vec<(String, Value)>, name: &str, s: &crate::server::metrics::Summary) {
    let snap = s.snapshot();
    out.push((format!("avg_{name}"), Value::Double(snap.avg())));
    out.push((format!("min_{name}"), Value::Long(snap.min)));
    out.push((format!("max_{name}"), Value::Long(snap.max)));
    out.push((format!("cnt_{name}"), Value::Long(snap.count as i64)));
    out.push((format!("sum_{name}"), Value::Long(snap.sum)));
    if s.level() == crate::server::metrics::DetailLevel::Advanced {
        // AvgMinMaxPercentileCounter's p50, p95, p99 and p999, rounded.
        let q = s.quantiles(&[0.5, 0.95, 0.99, 0.999]);
        for (label, v) in ["p50", "p95", "p99", "p999"].iter().zip(q) {
            let v = if v.is_nan() { 0 } else { v.round() as i64 };
            out.push((format!("{label}_{name}"), Value::Long(v)));
        }
    }
}

fn push_metric(out: &mut Vec<(String, Value)>, m: MetricRef<'_>) {
    match m {
        MetricRef::Counter(c) => out.push((c.name().to_string(), c.get().into())),
        MetricRef::CounterSet(c) => {
            for (key, v) in c.members() {
                out.push((format!("{key}_{}", c.name()), v.into()));
            }
        }
        MetricRef::Summary(s) => push_summary(out, s.name(), s),
        MetricRef::SummarySet(set) => {
            for (_, s) in java_hash_order(set.members()) {
                push_summary(out, s.name(), &s);
            }
        }
    }
}

/// The `mntr` text: `zk_<key>\t<value>` lines.
pub fn mntr_text(zks: &Arc<ZooKeeperServer>, factory: Option<&dyn ServerCnxnFactory>) -> String {
    let mut out = String::new();
    for (k, v) in monitor_values(zks, factory) {
        out.push_str("zk_");
        out.push_str(&k);
        out.push('\t');
        out.push_str(&v.to_string());
        out.push('\n');
    }
    out
}

/// Descriptors open in this process.
pub fn open_fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count().saturating_sub(1)).unwrap_or(0)
}

/// The soft limit on descriptors.
pub fn max_fd_count() -> u64 {
    let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit fills the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } == 0 {
        rl.rlim_cur
    } else {
        0
    }
}
