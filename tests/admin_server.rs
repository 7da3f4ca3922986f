//! The AdminServer side by side with Java 3.8's JettyAdminServer (Debian's
//! jars): the same zoo.cfg, the same requests, and zkserver's JSON must
//! carry at least Java's keys with the same JSON types (values differ: they
//! are two servers). Also the links page, an unknown command,
//! admin.enableServer=false, a port that cannot be bound, and the quorum
//! commands on a three-node ensemble of each.

mod common;

use common::ensemble::Ensemble;
use common::pki::{Pki, PASS};
use common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;
use zkserver::client::ZkClient;
use zkserver::zoo_defs::{ids, CreateMode};

/// Every command by primary name, and a few aliases.
const COMMANDS: &[&str] = &[
    "connection_stat_reset",
    "configuration",
    "connections",
    "hash",
    "dirs",
    "dump",
    "environment",
    "get_trace_mask",
    "initial_configuration",
    "is_read_only",
    "last_snapshot",
    "leader",
    "monitor",
    "observer_connection_stat_reset",
    "ruok",
    "set_trace_mask?traceMask=306",
    "server_stats",
    "stats",
    "stat_reset",
    "observers",
    "system_properties",
    "voting_view",
    "watches",
    "watches_by_path",
    "watch_summary",
    "zabstate",
    "set_trace_mask",
    "set_trace_mask?traceMask=x",
    "cons",
    "wchc",
    "mntr",
    "envi",
    "config",
];

/// The quorum commands compared on ensemble members.
const QUORUM_COMMANDS: &[&str] =
    &["leader", "voting_view", "zabstate", "observers", "observer_connection_stat_reset", "server_stats", "configuration"];

/// One HTTP/1.1 GET over a fresh connection: status, headers, body.
fn http_get(port: u16, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("connect to admin port {port}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read answer");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no header end in {text:?}"));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("status in {head:?}"));
    (status, head.to_string(), body.to_string())
}

fn get_json(port: u16, command: &str) -> Value {
    let (status, head, body) = http_get(port, &format!("/commands/{command}"));
    assert_eq!(status, 200, "{command}: {head}\n{body}");
    assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "{command}: {head}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{command}: not JSON ({e}): {body}"))
}

/// Objects whose keys are data (ids, times, paths), not field names.
const KEYED_BY_VALUE: &[&str] = &[
    ".expiry_time_to_session_ids",
    ".session_id_to_ephemeral_paths",
    ".session_id_to_watched_paths",
    ".path_to_session_ids",
];

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every key of `java` is in `ours` with a value of the same JSON type,
/// recursively (arrays: their first elements, when both have one).
fn same_shape(path: &str, java: &Value, ours: &Value, problems: &mut Vec<String>) {
    if kind(java) != kind(ours) {
        problems.push(format!("{path}: Java has {} {java}, zkserver {} {ours}", kind(java), kind(ours)));
        return;
    }
    match (java, ours) {
        // Maps keyed by session ids, times or paths: the keys are values.
        (Value::Object(j), Value::Object(o)) if KEYED_BY_VALUE.iter().any(|k| path.ends_with(k)) => {
            if j.is_empty() != o.is_empty() {
                problems.push(format!("{path}: Java has {} entries, zkserver {}", j.len(), o.len()));
            }
            if let (Some((jk, jv)), Some((ok, ov))) = (j.iter().next(), o.iter().next()) {
                if jk.parse::<i64>().is_ok() != ok.parse::<i64>().is_ok() {
                    problems.push(format!("{path}: Java's keys look like {jk}, zkserver's like {ok}"));
                }
                same_shape(&format!("{path}.<{jk}>"), jv, ov, problems);
            }
        }
        (Value::Object(j), Value::Object(o)) => {
            for (k, jv) in j {
                match o.get(k) {
                    Some(ov) => same_shape(&format!("{path}.{k}"), jv, ov, problems),
                    None => problems.push(format!("{path}.{k}: missing (Java: {jv})")),
                }
            }
        }
        (Value::Array(j), Value::Array(o)) => {
            if let (Some(jv), Some(ov)) = (j.first(), o.first()) {
                same_shape(&format!("{path}[0]"), jv, ov, problems);
            }
        }
        _ => {}
    }
}

/// Java's answer narrowed to what zkserver is held to: system_properties
/// only ZooKeeper's own properties (the rest are the JVM's); monitor only
/// the keys zkserver's mntr has (Java's metrics-provider keys are the
/// Prometheus work's, issue 13 item 2), which must include version and
/// server_state (ZooKeeperServer.dumpMonitorValues).
fn comparable(command: &str, java: &Value, ours: &Value) -> Value {
    let mut java = java.clone();
    if let Value::Object(m) = &mut java {
        if command.starts_with("system_properties") {
            m.retain(|k, _| k.starts_with("zookeeper.") || k == "command" || k == "error");
        }
        if command == "monitor" || command == "mntr" {
            assert!(ours.get("version").is_some() && ours.get("server_state").is_some(), "{ours}");
            m.retain(|k, _| ours.get(k).is_some());
        }
    }
    java
}

fn compare(label: &str, command: &str, java: &Value, ours: &Value, problems: &mut Vec<String>) {
    let java = comparable(command, java, ours);
    same_shape(&format!("{label} {command}"), &java, ours, problems);
}

/// Sessions, an ephemeral, data and child watches, and enough writes for a
/// digest entry (one every 128 txns), so the listings are not empty.
fn populate(addr: &str) -> ZkClient {
    let c = ZkClient::connect(addr, 30000).expect("connect");
    c.create("/eph", Some(b"e"), &ids::open_acl_unsafe(), CreateMode::Ephemeral).unwrap();
    for i in 0..130 {
        c.create(&format!("/n{i}"), Some(b""), &ids::open_acl_unsafe(), CreateMode::Persistent).unwrap();
    }
    c.get_data("/eph", true).unwrap();
    c.get_children("/", true).unwrap();
    c.exists("/absent", true).unwrap();
    c
}

fn admin_opts(admin_port: u16) -> ServerOpts {
    ServerOpts::default()
        .cfg("admin.enableServer", "true")
        .cfg("admin.serverPort", &admin_port.to_string())
        .cfg("admin.serverAddress", "127.0.0.1")
        .prop("zookeeper.test.marker", "x")
}

#[test]
fn every_command_answers_javas_keys_with_javas_types() {
    let (java_admin, our_admin) = (free_port(), free_port());
    let java = TestServer::start_with(Flavor::Java, admin_opts(java_admin));
    let ours = TestServer::start_with(Flavor::Zkserver, admin_opts(our_admin));
    let _jc = populate(&java.addr());
    let _oc = populate(&ours.addr());

    let mut problems = Vec::new();
    for command in COMMANDS {
        let j = get_json(java_admin, command);
        let o = get_json(our_admin, command);
        compare("standalone", command, &j, &o, &mut problems);
        // The same error text where Java has one.
        if let Some(e) = j.get("error").and_then(Value::as_str) {
            assert_eq!(o.get("error").and_then(Value::as_str), Some(e), "{command}: {o}");
        }
    }
    assert!(problems.is_empty(), "zkserver's answers differ from Java's:\n{}", problems.join("\n"));

    // The figures are the server's: a write shows in node_count, the
    // session in the connection and ephemeral listings.
    let o = get_json(our_admin, "stats");
    assert_eq!(o["node_count"], serde_json::json!(5 + 1 + 130), "{o}");
    let o = get_json(our_admin, "cons");
    assert_eq!(o["connections"].as_array().map(Vec::len), Some(1), "{o}");
    assert_eq!(o["connections"][0]["session_id"], serde_json::json!(_oc.session_id()), "{o}");
    let o = get_json(our_admin, "dump");
    assert_eq!(o["session_id_to_ephemeral_paths"][_oc.session_id().to_string()], serde_json::json!(["/eph"]), "{o}");
    let o = get_json(our_admin, "system_properties");
    assert_eq!(o["zookeeper.test.marker"], "x", "{o}");
    assert_eq!(o["zookeeper.admin.serverPort"], our_admin.to_string(), "{o}");
    let o = get_json(our_admin, "set_trace_mask?traceMask=12");
    assert_eq!(o["tracemask"], 12);
    assert_eq!(get_json(our_admin, "gtmk")["tracemask"], 12);
    assert_eq!(four_letter(&ours.addr(), "gtmk").unwrap(), "12");
    let o = get_json(our_admin, "initial_configuration");
    assert_eq!(o["initial_configuration"].as_str(), Some(std::fs::read_to_string(ours.cfg_path()).unwrap().as_str()));
}

#[test]
fn links_page_unknown_command_and_other_paths_answer_as_java() {
    let (java_admin, our_admin) = (free_port(), free_port());
    let _java = TestServer::start_with(Flavor::Java, admin_opts(java_admin));
    let _ours = TestServer::start_with(Flavor::Zkserver, admin_opts(our_admin));

    for path in ["/commands", "/commands/"] {
        let (js, _, jb) = http_get(java_admin, path);
        let (os, _, ob) = http_get(our_admin, path);
        assert_eq!((js, os), (200, 200), "{path}");
        assert_eq!(ob, jb, "{path}: the links differ");
        assert_eq!(ob.matches("<br/>").count(), 26, "{ob}");
    }

    let j = get_json(java_admin, "no_such_command");
    let o = get_json(our_admin, "no_such_command");
    assert_eq!(o, j);
    assert_eq!(o["error"], "Unknown command: no_such_command");

    // Outside the command URL: 404 from both.
    assert_eq!(http_get(java_admin, "/elsewhere").0, 404);
    assert_eq!(http_get(our_admin, "/elsewhere").0, 404);

    // Keep-alive: two requests on one connection, both answered.
    let mut s = TcpStream::connect(("127.0.0.1", our_admin)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET /commands/ruok HTTP/1.1\r\nHost: x\r\n\r\nGET /commands/ruok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    assert_eq!(raw.matches("HTTP/1.1 200 OK").count(), 2, "{raw}");
}

#[test]
fn idle_connections_are_closed_after_the_idle_timeout() {
    let port = free_port();
    let _ours = TestServer::start_with(Flavor::Zkserver, admin_opts(port).cfg("admin.idleTimeout", "500"));
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 1];
    // Nothing sent: the server closes the connection (EOF) on its own.
    assert_eq!(s.read(&mut buf).unwrap_or(0), 0);
    assert!(started.elapsed() < Duration::from_secs(8), "closed only after {:?}", started.elapsed());
}

#[test]
fn disabled_admin_server_binds_nothing() {
    for flavor in [Flavor::Java, Flavor::Zkserver] {
        let port = free_port();
        let opts = ServerOpts::default().cfg("admin.enableServer", "false").cfg("admin.serverPort", &port.to_string());
        let s = TestServer::start_with(flavor, opts);
        assert!(is_serving(&s.addr()));
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "{flavor:?}: admin port {port} is open");
    }
}

#[test]
fn an_admin_port_that_cannot_be_bound_refuses_start_up_as_java() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    for flavor in [Flavor::Java, Flavor::Zkserver] {
        let mut s = TestServer::prepare(flavor, admin_opts(port));
        let status = s.try_start().expect_err("started although the admin port is taken");
        // ExitCode.ERROR_STARTING_ADMIN_SERVER.
        assert_eq!(status.code(), Some(4), "{flavor:?}: {}", s.log_tail(20));
    }
    // A port out of range is refused the same way.
    let mut s = TestServer::prepare(Flavor::Zkserver, admin_opts(0).cfg("admin.serverPort", "70000"));
    assert_eq!(s.try_start().expect_err("started on port 70000").code(), Some(4));
    drop(taken);
}

/// A three-node ensemble of `flavor` with an admin port each; returns it
/// with the ports and the leader's sid once settled.
fn ensemble_with_admin(flavor: Flavor) -> (Ensemble, Vec<u16>, i64) {
    let mut ens = Ensemble::new(&[flavor; 3], &[]);
    let mut ports = Vec::new();
    for sid in 1..=3 {
        let p = free_port();
        ens.set_cfg(sid, "admin.enableServer", "true");
        ens.set_cfg(sid, "admin.serverPort", &p.to_string());
        ens.set_cfg(sid, "admin.serverAddress", "127.0.0.1");
        ports.push(p);
    }
    ens.start_all();
    let leader = ens.settled_leader(&[1, 2, 3]);
    (ens, ports, leader)
}

fn quorum_answers(ports: &[u16], leader: i64) -> Vec<(String, Value)> {
    let follower = if leader == 1 { 2 } else { 1 };
    let mut out = Vec::new();
    for (role, sid) in [("leader", leader), ("follower", follower)] {
        for command in QUORUM_COMMANDS {
            out.push((format!("{role} {command}"), get_json(ports[sid as usize - 1], command)));
        }
    }
    out
}

#[test]
fn quorum_commands_answer_with_the_ensembles_facts() {
    let java = {
        let (_ens, ports, leader) = ensemble_with_admin(Flavor::Java);
        quorum_answers(&ports, leader)
    };
    let (ens, ports, leader) = ensemble_with_admin(Flavor::Zkserver);
    let ours = quorum_answers(&ports, leader);
    let mut problems = Vec::new();
    for ((label, j), (_, o)) in java.iter().zip(&ours) {
        let command = label.split(' ').nth(1).unwrap_or("");
        compare(label, command, j, o, &mut problems);
        assert_eq!(o["error"], Value::Null, "{label}: {o}");
    }
    assert!(problems.is_empty(), "zkserver's answers differ from Java's:\n{}", problems.join("\n"));

    // The facts: every member names the same leader; the view has the
    // three voters; each member is voting and broadcasting.
    for sid in 1..=3i64 {
        let port = ports[sid as usize - 1];
        let l = get_json(port, "leader");
        assert_eq!(l["is_leader"], Value::Bool(sid == leader), "{sid}: {l}");
        assert_eq!(l["leader_id"], leader, "{sid}: {l}");
        assert_eq!(l["leader_ip"], "127.0.0.1", "{sid}: {l}");
        let v = get_json(port, "voting_view");
        let view = v["current_config"].as_object().expect("current_config");
        assert_eq!(view.keys().cloned().collect::<Vec<_>>(), ["1", "2", "3"], "{v}");
        let me = ens.node(sid);
        assert_eq!(view[&sid.to_string()]["election_addresses"], serde_json::json!([me.election_addr()]), "{v}");
        let z = get_json(port, "zabstate");
        assert_eq!(z["zabstate"], "broadcast", "{sid}: {z}");
        assert_eq!(z["myid"], sid, "{z}");
        assert_eq!(z["voting"], true, "{z}");
        assert_eq!(z["is_leader"], Value::Bool(sid == leader), "{z}");
        let o = get_json(port, "observers");
        assert_eq!(o["synced_observers"], 0, "{o}");
        let c = get_json(port, "configuration");
        assert_eq!(c["server_id"], sid, "{c}");
    }
    let s = get_json(ports[leader as usize - 1], "server_stats");
    assert!(s.get("proposal_stats").is_some(), "the leader reports its proposal sizes: {s}");
}

#[test]
fn admin_threads_are_named_and_end_with_their_connections() {
    let port = free_port();
    let s = TestServer::start_with(Flavor::Zkserver, admin_opts(port));
    let pid = s.pid().expect("pid");
    let names = || admin_thread_names(pid);
    assert_eq!(names(), ["AdminServer-0"], "only the acceptor before any request");
    let mut held = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(held, "GET /commands/ruok HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    held.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 512];
    assert!(held.read(&mut buf).unwrap() > 0);
    assert!(wait_until(Duration::from_secs(10), || names().len() == 2), "a thread for the kept-alive connection: {:?}", names());
    drop(held);
    assert!(wait_until(Duration::from_secs(10), || names().len() == 1), "its thread ends with it: {:?}", names());
}

/// Two voters and an observer (sid 3) of `flavor`, each with an admin
/// port; returns them once the observer serves, with the leader's sid.
fn ensemble_with_observer(flavor: Flavor) -> (Ensemble, Vec<u16>, i64) {
    let mut ens = Ensemble::new(&[flavor; 3], &[]);
    let observer = ens.node(3);
    let line = format!("{}:{}:{}:observer", observer.host, observer.quorum_port, observer.election_port);
    let mut ports = Vec::new();
    for sid in 1..=3 {
        let p = free_port();
        ens.set_cfg(sid, "server.3", &line);
        ens.set_cfg(sid, "admin.enableServer", "true");
        ens.set_cfg(sid, "admin.serverPort", &p.to_string());
        ports.push(p);
    }
    ens.set_cfg(3, "peerType", "observer");
    ens.start_all();
    let leader = ens.settled_leader(&[1, 2]);
    ens.wait_mode(3, "observer");
    (ens, ports, leader)
}

#[test]
fn the_leader_lists_its_observers_and_resets_their_counts() {
    let observers = |ports: &[u16], leader: i64| {
        let port = ports[leader as usize - 1];
        // The observer syncs a moment after it serves: wait for the list.
        let mut last = Value::Null;
        let listed = wait_until(Duration::from_secs(20), || {
            last = get_json(port, "observers");
            last["synced_observers"] == 1
        });
        assert!(listed, "the leader lists no observer: {last}");
        last
    };
    let java = {
        let (_ens, ports, leader) = ensemble_with_observer(Flavor::Java);
        (observers(&ports, leader), get_json(ports[2], "zabstate"), get_json(ports[2], "voting_view"))
    };
    let (_ens, ports, leader) = ensemble_with_observer(Flavor::Zkserver);
    let ours = (observers(&ports, leader), get_json(ports[2], "zabstate"), get_json(ports[2], "voting_view"));
    let mut problems = Vec::new();
    compare("leader", "observers", &java.0, &ours.0, &mut problems);
    compare("observer", "zabstate", &java.1, &ours.1, &mut problems);
    compare("observer", "voting_view", &java.2, &ours.2, &mut problems);
    assert!(problems.is_empty(), "zkserver's answers differ from Java's:\n{}", problems.join("\n"));

    // Both report the last zxid sent to the synced observer (NEWLEADER,
    // UPTODATE and pings carry the epoch's). The bytes still queued, by
    // LearnerHandler.packetSize: Java 3.8 subtracts the sync's packets,
    // which it never added, and goes negative (-191 seen); ours does not.
    for (flavor, listing) in [("Java", &java.0), ("zkserver", &ours.0)] {
        let o = &listing["observers"][0];
        assert!(o["last_zxid"].as_i64().is_some_and(|z| z >> 32 >= 1), "{flavor}: {o}");
        assert!(o["queued_packets_size"].as_i64().is_some(), "{flavor}: {o}");
    }
    assert!(ours.0["observers"][0]["queued_packets_size"].as_i64().is_some_and(|n| n >= 0), "{}", ours.0);
    let listed = &ours.0["observers"][0];
    assert_eq!(listed["sid"], 3, "{}", ours.0);
    assert!(listed["remote_socket_address"].as_str().is_some_and(|a| a.starts_with("/127.0.0.1:")), "{listed}");
    // The observer does not vote, and the voting view leaves it out.
    assert_eq!(ours.1["voting"], false, "{}", ours.1);
    assert_eq!(ours.1["zabstate"], "broadcast", "{}", ours.1);
    let view: Vec<&String> = ours.2["current_config"].as_object().expect("current_config").keys().collect();
    assert_eq!(view, ["1", "2"], "{}", ours.2);

    // orst zeroes the observer's packet counts on the leader.
    let port = ports[leader as usize - 1];
    assert_eq!(get_json(port, "orst")["error"], Value::Null);
    let after = get_json(port, "observers");
    let counts = &after["observers"][0];
    assert!(counts["packets_received"].as_u64().is_some_and(|n| n <= 2), "{after}");
    assert!(counts["requests"].as_u64() == Some(0), "{after}");
}

/// admin_opts with HTTPS (`mode`: admin.forceHttps or admin.portUnification)
/// on the key and trust stores of Java's QuorumX509Util keys.
fn https_opts(pki: &Pki, admin_port: u16, mode: &str) -> ServerOpts {
    admin_opts(admin_port)
        .cfg(mode, "true")
        .prop("zookeeper.ssl.quorum.keyStore.location", &pki.path("server.p12"))
        .prop("zookeeper.ssl.quorum.keyStore.password", PASS)
        .prop("zookeeper.ssl.quorum.trustStore.location", &pki.path("truststore.p12"))
        .prop("zookeeper.ssl.quorum.trustStore.password", PASS)
}

/// One GET with curl, trusting the test CA: status, headers, body, or
/// curl's complaint when no HTTP answer came.
fn curl(pki: &Pki, url: &str) -> Result<(u16, String, String), String> {
    let out = Command::new("curl")
        .args(["-sS", "-i", "--max-time", "20", "--cacert", &pki.path("ca.pem"), url])
        .output()
        .unwrap_or_else(|e| panic!("cannot run curl: {e} (apt-get install -y curl)"));
    if !out.status.success() {
        return Err(format!("curl {url}: {} {}", out.status, String::from_utf8_lossy(&out.stderr).trim()));
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| format!("no header end in {text:?}"))?;
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| format!("status in {head:?}"))?;
    Ok((status, head.to_string(), body.to_string()))
}

fn https_json(pki: &Pki, port: u16, command: &str) -> (String, Value) {
    let (status, head, body) = curl(pki, &format!("https://127.0.0.1:{port}/commands/{command}")).unwrap();
    assert_eq!(status, 200, "{command}: {head}\n{body}");
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{command}: not JSON ({e}): {body}"));
    (head.to_ascii_lowercase(), json)
}

/// What comes on `s` until the server closes it (None: still open after
/// 20 s).
fn read_until_closed(s: &mut TcpStream) -> Option<Vec<u8>> {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => return None,
            Err(_) => return Some(got),
        }
    }
}

/// A plain HTTP request on a raw socket: what came back before the server
/// closed it.
fn plain_request_answer(port: u16) -> Option<Vec<u8>> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the admin port");
    // One write: the server may answer the first bytes with an alert and
    // close before a later piece of a formatted write gets through.
    let request = format!("GET /commands/ruok HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    let _ = s.write_all(request.as_bytes());
    read_until_closed(&mut s)
}

/// What a plain HTTP request on an HTTPS-only port gets, from Java's
/// Jetty and from zkserver alike: a TLS alert record, then the close.
fn assert_tls_alert_and_close(flavor: Flavor, port: u16) {
    let answer = plain_request_answer(port).unwrap_or_else(|| panic!("{flavor:?}: plain HTTP left open"));
    assert!(!answer.starts_with(b"HTTP/"), "{flavor:?}: plain HTTP answered: {}", String::from_utf8_lossy(&answer));
    assert_eq!(answer.first(), Some(&0x15), "{flavor:?}: not a TLS alert: {answer:?}");
}

/// The names of a zkserver process's AdminServer threads.
fn admin_thread_names(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("task dir")
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("comm")).ok())
        .map(|n| n.trim().to_string())
        .filter(|n| n.starts_with("AdminServer-"))
        .collect()
}

#[test]
fn force_https_serves_commands_over_tls_only_as_java() {
    let pki = Pki::new();
    let (java_admin, our_admin) = (free_port(), free_port());
    let _java = TestServer::start_with(Flavor::Java, https_opts(&pki, java_admin, "admin.forceHttps"));
    let _ours = TestServer::start_with(Flavor::Zkserver, https_opts(&pki, our_admin, "admin.forceHttps"));
    let mut problems = Vec::new();
    for command in ["ruok", "stats", "mntr", "no_such_command"] {
        let (jh, j) = https_json(&pki, java_admin, command);
        let (oh, o) = https_json(&pki, our_admin, command);
        compare("https", command, &j, &o, &mut problems);
        // Jetty's SecureRequestCustomizer header, with Java's max age.
        for head in [&jh, &oh] {
            assert!(head.contains("strict-transport-security: max-age=86400; includeSubDomains".to_ascii_lowercase().as_str()), "{head}");
        }
    }
    assert!(problems.is_empty(), "zkserver's answers differ from Java's:\n{}", problems.join("\n"));
    for (flavor, port) in [(Flavor::Java, java_admin), (Flavor::Zkserver, our_admin)] {
        assert_tls_alert_and_close(flavor, port);
        let e = curl(&pki, &format!("http://127.0.0.1:{port}/commands/ruok")).expect_err("plain HTTP answered");
        assert!(e.contains("HTTP/0.9"), "{flavor:?}: {e}");
        // Still serving over TLS, and two requests share one kept-alive
        // TLS connection (curl's num_connects: 1, then 0).
        let url = format!("https://127.0.0.1:{port}/commands/ruok");
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "20", "--cacert", &pki.path("ca.pem"), "-w", "\nconnects=%{num_connects}\n", &url, &url])
            .output()
            .expect("run curl");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{flavor:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(text.matches("\"command\" : \"ruok\"").count(), 2, "{flavor:?}: {text}");
        assert!(text.contains("connects=1") && text.contains("connects=0"), "{flavor:?}: {text}");
    }
}

#[test]
fn port_unification_serves_http_and_https_on_one_port_as_java() {
    let pki = Pki::new();
    for flavor in [Flavor::Java, Flavor::Zkserver] {
        let port = free_port();
        let _s = TestServer::start_with(flavor, https_opts(&pki, port, "admin.portUnification"));
        let (head, tls) = https_json(&pki, port, "stats");
        assert!(head.contains("strict-transport-security"), "{flavor:?}: {head}");
        let (status, head, body) = http_get(port, "/commands/stats");
        assert_eq!(status, 200, "{flavor:?}: {head}\n{body}");
        assert!(!head.to_ascii_lowercase().contains("strict-transport-security"), "{flavor:?}: {head}");
        let plain: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(plain["server_stats"]["server_state"], tls["server_stats"]["server_state"], "{flavor:?}");
        let (status, _, _) = curl(&pki, &format!("http://127.0.0.1:{port}/commands/ruok")).unwrap();
        assert_eq!(status, 200, "{flavor:?}");
        // Two plain connections so far, counted as Java's
        // UnifiedConnectionFactory counts them (asked over TLS, which
        // does not count).
        let (_, mntr) = https_json(&pki, port, "mntr");
        assert_eq!(mntr["insecure_admin_count"], 2, "{flavor:?}: {mntr}");
    }
}

#[test]
fn garbage_and_stalled_handshakes_close_only_their_connection() {
    let pki = Pki::new();
    for flavor in [Flavor::Java, Flavor::Zkserver] {
        let port = free_port();
        // Jetty closes a stalled handshake after its idle timeout;
        // zkserver after ssl.quorum.handshakeDetectionTimeoutMillis, which
        // also bounds the wait for a first byte.
        let opts = https_opts(&pki, port, "admin.portUnification")
            .cfg("admin.idleTimeout", "3000")
            .prop("zookeeper.ssl.quorum.handshakeDetectionTimeoutMillis", "1000");
        let s = TestServer::start_with(flavor, opts);
        // A handshake record holding a ClientHello of junk: an alert,
        // then the close.
        let mut garbage = TcpStream::connect(("127.0.0.1", port)).unwrap();
        garbage.write_all(b"\x16\x03\x01\x00\x08\x01\x00\x00\x04\xde\xad\xbe\xef").unwrap();
        let answer = read_until_closed(&mut garbage).unwrap_or_else(|| panic!("{flavor:?}: garbage left open"));
        assert_eq!(answer.first(), Some(&0x15), "{flavor:?}: not a TLS alert: {answer:?}");
        // A ClientHello's first bytes, then nothing.
        let mut stalled = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stalled.write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03").unwrap();
        let mut silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
        // Meanwhile both kinds of request are served.
        assert_eq!(https_json(&pki, port, "ruok").1["command"], "ruok", "{flavor:?}");
        assert_eq!(http_get(port, "/commands/ruok").0, 200, "{flavor:?}");
        assert!(closed_by_server(&mut stalled, Duration::from_secs(20)), "{flavor:?}: stalled handshake left open");
        // A connection that sends nothing: Java's UnifiedConnectionFactory
        // waits for its first byte with no deadline (ReadAheadEndpoint spins
        // on fill), so only zkserver closes it.
        if flavor == Flavor::Zkserver {
            assert!(closed_by_server(&mut silent, Duration::from_secs(20)), "silent connection left open");
        }
        drop(silent);
        assert_eq!(https_json(&pki, port, "ruok").1["command"], "ruok", "{flavor:?}");
        if flavor == Flavor::Zkserver {
            let pid = s.pid().expect("pid");
            assert!(
                wait_until(Duration::from_secs(10), || admin_thread_names(pid).len() == 1),
                "the connection threads end with their connections: {:?}",
                admin_thread_names(pid)
            );
        }
    }
}

#[test]
fn https_without_key_stores_runs_without_an_admin_server_as_java() {
    for flavor in [Flavor::Java, Flavor::Zkserver] {
        let port = free_port();
        let s = TestServer::start_with(flavor, admin_opts(port).cfg("admin.forceHttps", "true"));
        assert!(is_serving(&s.addr()), "{flavor:?}");
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "{flavor:?}: admin port {port} is open");
        if flavor == Flavor::Zkserver {
            let log = s.log_tail(50);
            assert!(log.contains("zookeeper.ssl.quorum.keyStore.location is not set"), "{log}");
            assert!(log.contains("Unable to start JettyAdminServer"), "{log}");
        }
    }
}
