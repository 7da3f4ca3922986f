//! Metrics against Java 3.8: `mntr` prints the same keys as Java's for a
//! standalone server and for a 3-node ensemble's leader and follower, after
//! the same client traffic on both; the Prometheus provider's `/metrics`
//! parses as text format 0.0.4 and names at least 95% of Java's metrics,
//! and its counters move with traffic.
//!
//! Debian ships no Prometheus provider jar (zookeeper-prometheus-metrics
//! and simpleclient are not packaged), so `/metrics` is compared with the
//! names Java 3.8's source registers, committed as
//! tests/fixtures/java_3.8_metric_names.tsv.

mod common;

use common::ensemble::Ensemble;
use common::prometheus::{http_get, parse_exposition, prometheus_server};
use common::{four_letter, free_port, wait_until, Flavor, ServerOpts, TestServer};
use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpStream;
use std::time::Duration;
use zkserver::client::ZkClient;
use zkserver::jute::records::{GetDataRequest, SetDataRequest};
use zkserver::zoo_defs::{ids, op_code, CreateMode};

const DEADLINE: Duration = Duration::from_secs(30);

/// The same requests on any server: creates, reads, writes and deletes in
/// one namespace, so both servers' per-namespace series have that key.
fn traffic(c: &ZkClient) {
    let open = ids::open_acl_unsafe();
    c.create("/metrics", Some(b"x"), &open, CreateMode::Persistent).expect("create");
    for i in 0..5 {
        let path = format!("/metrics/n{i}");
        c.create(&path, Some(b"data"), &open, CreateMode::Persistent).expect("create child");
        c.get_data(&path, true).expect("get_data");
        c.set_data(&path, Some(b"more data"), -1).expect("set_data");
    }
    c.get_children("/metrics", true).expect("get_children");
    for i in 0..5 {
        c.delete(&format!("/metrics/n{i}"), -1).expect("delete");
    }
}

/// mntr's keys and values (without the `zk_` prefix), in printed order.
fn mntr(addr: &str) -> Vec<(String, String)> {
    let out = four_letter(addr, "mntr").expect("mntr");
    out.lines()
        .filter_map(|l| l.strip_prefix("zk_"))
        .map(|l| {
            let (k, v) = l.split_once('\t').unwrap_or((l, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn keys(m: &[(String, String)]) -> BTreeSet<String> {
    m.iter().map(|(k, _)| k.clone()).collect()
}

fn assert_same_keys(what: &str, java: &[(String, String)], ours: &[(String, String)]) {
    let (j, o) = (keys(java), keys(ours));
    let missing: Vec<_> = j.difference(&o).collect();
    let extra: Vec<_> = o.difference(&j).collect();
    assert!(missing.is_empty() && extra.is_empty(), "{what}: missing {missing:?}, extra {extra:?}");
    assert_eq!(java.len(), ours.len(), "{what}: a key printed twice");
    // The same first keys: dumpMonitorValues' own, before the metrics.
    assert_eq!(java[0].0, "version");
    assert_eq!(ours[0].0, "version");
    assert_eq!(java[1], ours[1], "{what}: server_state");
}

fn value<'a>(m: &'a [(String, String)], key: &str) -> &'a str {
    m.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("no {key}"))
}

#[test]
fn standalone_mntr_has_javas_keys() {
    let java = TestServer::start_with(Flavor::Java, ServerOpts::default());
    let ours = TestServer::start_with(Flavor::Zkserver, ServerOpts::default());
    for s in [&java, &ours] {
        let c = s.client();
        traffic(&c);
        c.close().expect("close");
    }
    let (j, o) = (mntr(&java.addr()), mntr(&ours.addr()));
    assert_same_keys("standalone", &j, &o);
    // In Java's order too: the order of its ConcurrentHashMaps.
    let order = |m: &[(String, String)]| m.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(order(&j), order(&o), "standalone mntr order");
    // Same meaning: what moved on Java moved here.
    assert_ne!(value(&o, "cnt_metrics_write_per_namespace"), "0");
    assert_ne!(value(&o, "cnt_metrics_read_per_namespace"), "0");
    assert_ne!(value(&o, "cnt_updatelatency"), "0");
    assert_ne!(value(&o, "cnt_readlatency"), "0");
    assert_ne!(value(&o, "bytes_received_count"), "0");
    assert_eq!(value(&o, "znode_count"), value(&j, "znode_count"));
    assert_eq!(value(&o, "server_state"), "standalone");
}

/// Pipelines, on one session, setData then reads of the same node, so the
/// reads wait in the CommitProcessor's session queue behind the write.
fn reads_behind_writes(c: &ZkClient) {
    let mut xids = Vec::new();
    for _ in 0..10 {
        let set = SetDataRequest { path: "/metrics".into(), data: Some(b"again".to_vec()), version: -1 };
        xids.push(c.send(op_code::SET_DATA, &set).expect("send setData"));
        for _ in 0..3 {
            let get = GetDataRequest { path: "/metrics".into(), watch: false };
            xids.push(c.send(op_code::GET_DATA, &get).expect("send getData"));
        }
    }
    for xid in xids {
        let reply = c.recv_timeout(DEADLINE).expect("reply");
        assert_eq!((reply.header.xid, reply.header.err), (xid, 0));
    }
}

/// A 3-node ensemble of `flavor`, settled, with traffic through the leader
/// and a follower; returns the leader's and a follower's mntr. Every ACK's
/// latency is recorded (zookeeper.leader.ackLoggingFrequency=1).
fn ensemble_mntr(flavor: Flavor) -> (Vec<(String, String)>, Vec<(String, String)>) {
    let mut ens = Ensemble::new(&[flavor, flavor, flavor], &[]);
    ens.set_system_property("zookeeper.leader.ackLoggingFrequency", "1");
    ens.start_all();
    let leader = ens.settled_leader(&[1, 2, 3]);
    let follower = [1, 2, 3].into_iter().find(|s| *s != leader).expect("a follower");
    let c = ens.client(follower);
    traffic(&c);
    reads_behind_writes(&c);
    c.close().expect("close");
    // Reads on the leader too, so its per-namespace read series exists.
    let c = ens.client(leader);
    c.get_data("/metrics", false).expect("get_data");
    c.close().expect("close");
    let l = mntr(&ens.node(leader).client_addr());
    let f = mntr(&ens.node(follower).client_addr());
    (l, f)
}

#[test]
fn ensemble_mntr_has_javas_keys_on_leader_and_follower() {
    let (jl, jf) = ensemble_mntr(Flavor::Java);
    let (ol, of) = ensemble_mntr(Flavor::Zkserver);
    // Sets gain a key per namespace read or written, per learner ACK: the
    // series of a set are compared by the set's name only.
    let set_free = |m: &[(String, String)]| -> Vec<(String, String)> {
        m.iter()
            .filter(|(k, _)| !k.ends_with("_per_namespace") && !k.ends_with("_ack_latency") && !k.contains("learner_handler_qp"))
            .cloned()
            .collect()
    };
    assert_same_keys("leader", &set_free(&jl), &set_free(&ol));
    assert_same_keys("follower", &set_free(&jf), &set_free(&of));
    assert_eq!(value(&ol, "peer_state"), "leading - broadcast");
    assert_eq!(value(&of, "peer_state"), "following - broadcast");
    assert_eq!(value(&ol, "quorum_size"), "3");
    assert_eq!(value(&ol, "synced_followers"), "2");
    assert_ne!(value(&ol, "proposal_count"), "0");
    assert_ne!(value(&ol, "commit_count"), "0");
    assert_ne!(value(&of, "learner_commit_received_count"), "0");
    assert_ne!(value(&of, "cnt_follower_sync_time"), "0");
    assert_ne!(value(&of, "cnt_election_time"), "0");
    for (flavor, l, f) in [("Java", &jl, &jf), ("zkserver", &ol, &of)] {
        // The reads queued behind their session's write, and were released
        // by its commit; each commit waited (0 ms or more) for the workers.
        for key in [
            "cnt_requests_in_session_queue",
            "cnt_pending_session_queue_size",
            "cnt_reads_after_write_in_session_queue",
            "cnt_reads_issued_from_session_queue",
            "cnt_session_queues_drained",
            "cnt_time_waiting_empty_pool_in_commit_processor_read_ms",
        ] {
            assert_ne!(value(f, key), "0", "{flavor} follower: {key}");
        }
        assert_ne!(value(f, "max_reads_after_write_in_session_queue"), "0", "{flavor}");
        // Each follower's ACKs, by sid.
        let acks = l.iter().filter(|(k, v)| k.starts_with("cnt_") && k.ends_with("_ack_latency") && v != "0").count();
        assert!(acks >= 2, "{flavor} leader: ack_latency for {acks} voters");
    }
}



/// Java's metric names for a standalone server (the fixture's "all" rows).
fn java_names() -> Vec<(String, String)> {
    let text = include_str!("fixtures/java_3.8_metric_names.tsv");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            (cols.get(2) == Some(&"all")).then(|| (cols[0].to_string(), cols[1].to_string()))
        })
        .collect()
}


#[test]
fn prometheus_metrics_cover_javas_names_and_move() {
    let (server, port) = prometheus_server();
    let mut first = None;
    assert!(
        wait_until(DEADLINE, || {
            first = TcpStream::connect(("127.0.0.1", port)).ok().map(|_| http_get(port, "/metrics"));
            first.is_some()
        }),
        "/metrics never answered"
    );
    let (status, body) = first.expect("first scrape");
    assert_eq!(status, 200);
    let (types, before) = parse_exposition(&body);

    // Coverage of Java's names, with Java's types.
    let names = java_names();
    let mut missing = Vec::new();
    for (name, kind) in &names {
        let want = match kind.as_str() {
            "counter" | "counter_set" => "counter",
            "gauge" | "gauge_set" => "gauge",
            _ => "summary",
        };
        match types.get(name) {
            Some(t) if t == want => {}
            _ => missing.push(name.clone()),
        }
    }
    let covered = names.len() - missing.len();
    let pct = covered as f64 * 100.0 / names.len() as f64;
    eprintln!("/metrics: {covered} of {} Java metric names ({pct:.1}%); missing {missing:?}", names.len());
    assert!(pct >= 95.0, "only {pct:.1}% of Java's names: missing {missing:?}");
    // Advanced summaries carry Java's three quantiles, basic ones the median.
    for q in ["0.5", "0.9", "0.99"] {
        assert!(before.contains_key(&format!("readlatency{{quantile=\"{q}\",}}")), "readlatency {q}");
    }
    assert!(before.contains_key("fsynctime{quantile=\"0.5\",}"));
    assert!(!before.contains_key("fsynctime{quantile=\"0.9\",}"));
    for p in ["process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds", "process_max_fds", "process_start_time_seconds", "process_virtual_memory_bytes"] {
        assert!(before.contains_key(p), "{p} missing");
    }
    assert!(before["process_resident_memory_bytes"] > 0.0);

    let c = server.client();
    traffic(&c);
    c.close().expect("close");
    let (_, body) = http_get(port, "/metrics");
    let (_, after) = parse_exposition(&body);
    for series in ["updatelatency_count", "readlatency_count", "fsynctime_count", "bytes_received_count", "packets_received", "prep_processor_request_queued", "sync_processor_request_queued"] {
        assert!(after[series] > before[series], "{series} did not move: {} -> {}", before[series], after[series]);
    }
    assert!(after.contains_key("write_per_namespace_count{key=\"metrics\",}"), "no per-namespace series");
    // Java's servlet answers only /metrics.
    assert_eq!(http_get(port, "/other").0, 404);
    // With this provider, mntr dumps its samples (Java's key format: no
    // trailing comma in the labels) after version and state.
    let m = mntr(&server.addr());
    assert_eq!((m[0].0.as_str(), m[1].0.as_str()), ("version", "server_state"));
    for key in ["fsynctime_count", "readlatency{quantile=\"0.99\"}", "znode_count", "process_open_fds"] {
        assert!(m.iter().any(|(k, _)| k == key), "mntr lacks {key}");
    }
}

#[test]
fn an_unknown_metrics_provider_refuses_start_up() {
    let mut s = TestServer::prepare(Flavor::Zkserver, ServerOpts::default().cfg("metricsProvider.className", "com.example.Nope"));
    let status = s.try_start().expect_err("started with an unknown provider");
    assert!(!status.success());
    assert!(s.log_tail(20).contains("metricsProvider.className"), "{}", s.log_tail(20));
}

/// The series a Grafana dashboard for Java's Prometheus provider queries:
/// the one derived from Grafana.com dashboard 10465 ("ZooKeeper Dashboard
/// for Prometheus metrics scraper", the one ZooKeeper's monitoring guide
/// points to), as shipped in a public Kubernetes application definition.
/// Summaries are queried by quantile, `_count` and `_sum`.
const DASHBOARD_SERIES: &[&str] = &[
    "uptime",
    "leader_uptime",
    "learners",
    "quorum_size",
    "synced_followers",
    "synced_non_voting_followers",
    "synced_observers",
    "open_file_descriptor_count",
    "max_file_descriptor_count",
    "election_time{quantile=\"0.5\",}",
    "election_time_count",
    "election_time_sum",
    "znode_count",
    "ephemerals_count",
    "packets_received",
    "packets_sent",
    "avg_latency",
    "min_latency",
    "max_latency",
    "proposal_latency{quantile=\"0.99\",}",
    "proposal_latency_count",
    "outstanding_requests",
    "approximate_data_size",
    "bytes_received_count",
    "global_sessions",
    "connection_drop_count",
    "connection_rejected",
    "server_write_committed_time_ms{quantile=\"0.99\",}",
    "local_write_committed_time_ms{quantile=\"0.99\",}",
    "local_write_committed_time_ms_count",
    "local_write_committed_time_ms_sum",
    "commit_count",
    "proposal_count",
];

/// Only a leader registers these gauges (LeaderZooKeeperServer).
const LEADER_ONLY: &[&str] = &["leader_uptime", "learners", "synced_followers", "synced_non_voting_followers"];

#[test]
fn an_ensembles_metrics_have_every_series_a_zookeeper_dashboard_queries() {
    let mut ens = Ensemble::new(&[Flavor::Zkserver, Flavor::Zkserver, Flavor::Zkserver], &[]);
    let mut ports = BTreeMap::new();
    for sid in 1..=3 {
        let port = free_port();
        ports.insert(sid, port);
        ens.set_cfg(sid, "metricsProvider.className", "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider");
        ens.set_cfg(sid, "metricsProvider.httpHost", "127.0.0.1");
        ens.set_cfg(sid, "metricsProvider.httpPort", &port.to_string());
    }
    ens.start_all();
    let leader = ens.settled_leader(&[1, 2, 3]);
    let follower = [1, 2, 3].into_iter().find(|s| *s != leader).expect("a follower");
    let c = ens.client(follower);
    traffic(&c);
    c.close().expect("close");
    for (sid, role) in [(leader, "leader"), (follower, "follower")] {
        let (status, body) = http_get(ports[&sid], "/metrics");
        assert_eq!(status, 200, "{role}");
        let (_, samples) = parse_exposition(&body);
        for series in DASHBOARD_SERIES {
            if role == "follower" && LEADER_ONLY.contains(series) {
                assert!(!samples.contains_key(*series), "a follower exports {series}");
                continue;
            }
            assert!(samples.contains_key(*series), "{role} lacks {series}");
        }
    }
    let (_, body) = http_get(ports[&leader], "/metrics");
    let (_, leader_samples) = parse_exposition(&body);
    assert_eq!(leader_samples["quorum_size"], 3.0);
    assert_eq!(leader_samples["learners"], 2.0);
    assert!(leader_samples["commit_count"] > 0.0);
    assert!(leader_samples["local_write_committed_time_ms_count"] + leader_samples["server_write_committed_time_ms_count"] > 0.0);
}


/// An observer's mntr after traffic through it.
fn observer_mntr(flavor: Flavor) -> Vec<(String, String)> {
    let mut ens = Ensemble::new(&[flavor, flavor, flavor], &[]);
    ens.make_observer(1);
    ens.start_all();
    ens.settled_leader(&[2, 3]);
    ens.wait_mode(1, "observer");
    let c = ens.client(1);
    traffic(&c);
    c.close().expect("close");
    mntr(&ens.node(1).client_addr())
}

#[test]
fn observer_mntr_has_javas_keys() {
    let java = observer_mntr(Flavor::Java);
    let ours = observer_mntr(Flavor::Zkserver);
    assert_same_keys("observer", &java, &ours);
    assert_eq!(value(&ours, "peer_state"), "observing - broadcast");
    assert_eq!(value(&ours, "observer_master_id"), value(&java, "observer_master_id"));
    assert_ne!(value(&ours, "cnt_observer_sync_time"), "0");
}

