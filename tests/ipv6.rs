//! IPv6 as Java 3.8 serves it. With no clientPortAddress the client port
//! listens on the IPv6 wildcard and takes `::1` and `127.0.0.1` alike;
//! `cons`/`stat` write an IPv6 peer as Java's InetSocketAddress does on
//! the JDK installed here (`/[0:0:0:0:0:0:0:1]:port`; before JDK 14
//! without the brackets). zkCli.sh (`-server [::1]:port`) and the C
//! client (`::1:port`) work against it. Ensembles whose `server.N` lines
//! and clientPortAddress are `[::1]` elect, replicate and fail over, all
//! zkserver and mixed with Java nodes (leader on either side), and every
//! node shows the same membership. The AdminServer answers on ::1 too.
//! Where the process cannot make an IPv6 socket, the wildcard falls back
//! to 0.0.0.0, as Java's does.
//!
//! These need the IPv6 loopback; a machine without it fails them (with a
//! line saying so) rather than skipping.

mod common;

use common::ensemble::Ensemble;
use common::*;
use std::io::{Read, Write};
use zkserver::client::ZkClient;
use zkserver::zoo_defs::{ids, CreateMode};

const ZKCLI: &str = "/usr/share/zookeeper/bin/zkCli.sh";
const CLI_MT: &str = "/usr/lib/zookeeper/bin/cli_mt";

fn require_ipv6_loopback() {
    assert!(
        std::net::TcpListener::bind("[::1]:0").is_ok(),
        "this machine has no IPv6 loopback (::1): `ip -6 addr` shows none; enable it (sysctl net.ipv6.conf.lo.disable_ipv6=0)"
    );
}

fn v6(port: u16) -> String {
    format!("[::1]:{port}")
}

/// The `cons` line of the connection with session `sid`.
fn cons_line(addr: &str, sid: i64) -> String {
    let cons = four_letter(addr, "cons").expect("cons");
    cons.lines()
        .find(|l| l.contains(&format!("sid=0x{sid:x},")))
        .unwrap_or_else(|| panic!("no connection with session 0x{sid:x} in:\n{cons}"))
        .to_string()
}

#[test]
fn the_wildcard_client_port_takes_ipv6_and_ipv4_as_java_does() {
    require_ipv6_loopback();
    for flavor in [Flavor::Java, Flavor::Zkserver] {
        let s = TestServer::start_with(flavor, ServerOpts::default());
        let six = ZkClient::connect(v6(s.port), 30000).unwrap_or_else(|e| panic!("{flavor:?} on ::1: {e}"));
        let four = ZkClient::connect(s.addr(), 30000).unwrap_or_else(|e| panic!("{flavor:?} on 127.0.0.1: {e}"));
        six.create("/six", Some(b"over v6"), &ids::open_acl_unsafe(), CreateMode::Persistent).unwrap();
        assert_eq!(four.get_data("/six", false).unwrap().0.as_deref(), Some(&b"over v6"[..]));

        // An IPv6 peer in full, unbracketed; an IPv4 peer as IPv4, not as
        // the ::ffff: form the dual-stack socket reports.
        let line = cons_line(&s.addr(), six.session_id());
        assert!(line.starts_with(" /[0:0:0:0:0:0:0:1]:"), "{flavor:?}: {line}");
        let line = cons_line(&v6(s.port), four.session_id());
        assert!(line.starts_with(" /127.0.0.1:"), "{flavor:?}: {line}");
        let stat = four_letter(&v6(s.port), "stat").unwrap();
        assert!(stat.lines().any(|l| l.starts_with(" /[0:0:0:0:0:0:0:1]:")), "{flavor:?}: {stat}");
        assert!(stat.lines().any(|l| l.starts_with(" /127.0.0.1:")), "{flavor:?}: {stat}");
        six.close().unwrap();
        four.close().unwrap();
    }
}

/// A shared object that makes every IPv6 socket() fail with EAFNOSUPPORT,
/// as on a kernel without IPv6, for a process started with it in
/// LD_PRELOAD. Built with the C compiler into `dir`.
fn no_ipv6_preload(dir: &std::path::Path) -> std::path::PathBuf {
    let src = dir.join("noipv6.c");
    let lib = dir.join("libnoipv6.so");
    std::fs::write(
        &src,
        r#"#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/socket.h>
int socket(int domain, int type, int protocol) {
    static int (*real)(int, int, int);
    if (domain == AF_INET6) { errno = EAFNOSUPPORT; return -1; }
    if (!real) real = (int (*)(int, int, int))dlsym(RTLD_NEXT, "socket");
    return real(domain, type, protocol);
}
"#,
    )
    .unwrap();
    let out = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .arg("-ldl")
        .output()
        .expect("run cc (apt-get install -y gcc)");
    assert!(out.status.success(), "cc failed: {}", String::from_utf8_lossy(&out.stderr));
    lib
}

/// Whether a socket listens on `port` at the IPv4 wildcard (`/proc/net/tcp`)
/// and whether one listens on it for IPv6 (`/proc/net/tcp6`).
fn listeners(port: u16) -> (bool, bool) {
    let listening = |file: &str, wildcard: &str| {
        std::fs::read_to_string(file).unwrap_or_default().lines().skip(1).any(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.get(3) == Some(&"0A") && cols.get(1).is_some_and(|a| a.ends_with(&format!(":{port:04X}")) && (wildcard.is_empty() || a.starts_with(wildcard)))
        })
    };
    (listening("/proc/net/tcp", "00000000:"), listening("/proc/net/tcp6", ""))
}

/// Without IPv6 (every IPv6 socket refused, as by a kernel built without
/// it) the wildcard client port falls back to 0.0.0.0 and serves IPv4
/// clients, as Java does when its JVM finds no IPv6.
#[test]
fn without_ipv6_the_wildcard_falls_back_to_ipv4_as_java_does() {
    let dir = tempfile::tempdir().unwrap();
    let lib = no_ipv6_preload(dir.path());
    for flavor in [Flavor::Java, Flavor::Zkserver] {
        let s = TestServer::start_with(flavor, ServerOpts::default().env("LD_PRELOAD", lib.to_str().unwrap()));
        let c = s.client();
        c.create("/four", Some(b"v4 only"), &ids::open_acl_unsafe(), CreateMode::Persistent).unwrap();
        assert_eq!(listeners(s.port), (true, false), "{flavor:?}: the client port should listen on 0.0.0.0 only");
        assert!(std::net::TcpStream::connect(v6(s.port)).is_err(), "{flavor:?} took a connection on ::1");
        c.close().unwrap();
    }
}

/// The AdminServer's `connections` over ::1 (its default address is the
/// wildcard, which Jetty binds for IPv6 too): the remote address as
/// Jackson writes an IPv6 InetSocketAddress.
#[test]
fn the_admin_server_answers_on_ipv6_and_shows_ipv6_peers_as_java_does() {
    require_ipv6_loopback();
    for flavor in [Flavor::Java, Flavor::Zkserver] {
        let admin = free_port();
        let opts = ServerOpts::default().cfg("admin.enableServer", "true").cfg("admin.serverPort", &admin.to_string());
        let s = TestServer::start_with(flavor, opts);
        let six = ZkClient::connect(v6(s.port), 30000).unwrap();
        let four = ZkClient::connect(s.addr(), 30000).unwrap();
        let mut http = std::net::TcpStream::connect(v6(admin)).unwrap_or_else(|e| panic!("{flavor:?} admin on ::1: {e}"));
        http.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
        write!(http, "GET /commands/connections HTTP/1.1\r\nHost: [::1]:{admin}\r\nConnection: close\r\n\r\n").unwrap();
        let mut raw = String::new();
        http.read_to_string(&mut raw).unwrap();
        let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{flavor:?}: {e}: {raw}"));
        let remotes: Vec<String> = json["connections"]
            .as_array()
            .unwrap_or_else(|| panic!("{flavor:?}: {json}"))
            .iter()
            .map(|c| c["remote_socket_address"].as_str().unwrap_or_default().to_string())
            .collect();
        assert!(remotes.iter().any(|r| r.starts_with("[0:0:0:0:0:0:0:1]:")), "{flavor:?}: {remotes:?}");
        assert!(remotes.iter().any(|r| r.starts_with("127.0.0.1:")), "{flavor:?}: {remotes:?}");
        six.close().unwrap();
        four.close().unwrap();
    }
}

#[test]
fn zkcli_and_the_c_client_on_ipv6_loopback() {
    require_ipv6_loopback();
    let s = TestServer::start_with(Flavor::Zkserver, ServerOpts::default());
    let addr = v6(s.port);
    let mut cli = Interactive::spawn(ZKCLI, &["-server", &addr], "apt-get install -y zookeeper");
    cli.expect("WatchedEvent state:SyncConnected type:None path:null");
    cli.send("create /cli6 hello");
    cli.expect("Created /cli6");
    cli.send("get /cli6");
    cli.expect("hello");
    cli.send("quit");
    cli.finish();

    // The C client takes an IPv6 host without brackets (its testIPV6).
    let c_addr = format!("::1:{}", s.port);
    let mut cli = Interactive::spawn(CLI_MT, &[&c_addr], "apt-get install -y zookeeper-bin");
    cli.expect("Watcher SESSION_EVENT state = CONNECTED_STATE");
    cli.send("get /cli6");
    cli.expect("/cli6: rc = 0\n value_len = 5\nhello\n");
    cli.send("create /c6");
    cli.expect("[/c6]: rc = 0\n");
    cli.send("quit");
    cli.expect("Quitting...");
    cli.finish();
    assert!(s.client().exists("/c6", false).unwrap().is_some());
}

/// The membership part of `conf` (after "membership: ").
fn membership(addr: &str) -> String {
    let conf = four_letter(addr, "conf").expect("conf");
    conf.split("membership: \n").nth(1).unwrap_or_else(|| panic!("no membership in conf:\n{conf}")).to_string()
}

/// Elects, writes through every node, checks every node holds every write
/// and shows the same membership and /zookeeper/config, then kills the
/// leader and does it again with the two left.
fn ensemble_on_ipv6(flavors: &[Flavor]) {
    require_ipv6_loopback();
    let mut ens = Ensemble::new_ipv6(flavors, &[]);
    ens.start_all();
    let all = [1, 2, 3];
    let leader = ens.settled_leader(&all);
    let mut acked = Vec::new();
    for sid in all {
        let c = ens.client(sid);
        let path = format!("/v6-{sid}");
        c.create(&path, Some(path.as_bytes()), &ids::open_acl_unsafe(), CreateMode::Persistent).unwrap();
        acked.push((path.clone(), path.into_bytes()));
        let _ = c.close();
    }
    for sid in all {
        ens.assert_has_all(sid, &acked);
    }
    let first = membership(&ens.node(1).client_addr());
    // Java writes an IPv6 literal in full.
    assert!(first.contains("=[0:0:0:0:0:0:0:1]:"), "{first}");
    let config = |sid: i64| {
        let c = ens.client(sid);
        c.sync("/").unwrap();
        let data = c.get_data("/zookeeper/config", false).unwrap().0.unwrap_or_default();
        let _ = c.close();
        String::from_utf8_lossy(&data).to_string()
    };
    // Every node's conf has Java's keys in Java's order.
    let keys = |sid: i64| -> Vec<String> {
        let conf = four_letter(&ens.node(sid).client_addr(), "conf").expect("conf");
        conf.lines().map(|l| l.split('=').next().unwrap_or_default().to_string()).collect()
    };
    for sid in [2, 3] {
        assert_eq!(keys(sid), keys(1), "{flavors:?}: node {sid}'s conf keys");
    }
    let config1 = config(1);
    for sid in [2, 3] {
        assert_eq!(membership(&ens.node(sid).client_addr()), first, "{flavors:?}: node {sid}'s conf");
        assert_eq!(config(sid), config1, "{flavors:?}: node {sid}'s /zookeeper/config");
    }

    ens.kill9(leader);
    let rest: Vec<i64> = all.iter().copied().filter(|s| *s != leader).collect();
    let second = ens.settled_leader(&rest);
    let c = ens.client(second);
    c.create("/after", Some(b"failover"), &ids::open_acl_unsafe(), CreateMode::Persistent).unwrap();
    acked.push(("/after".to_string(), b"failover".to_vec()));
    let _ = c.close();
    for sid in &rest {
        ens.assert_has_all(*sid, &acked);
    }
    ens.start(leader);
    ens.wait_mode(leader, "follower");
    ens.assert_has_all(leader, &acked);
}

#[test]
fn a_zkserver_ensemble_on_ipv6_elects_replicates_and_fails_over() {
    ensemble_on_ipv6(&[Flavor::Zkserver, Flavor::Zkserver, Flavor::Zkserver]);
}

/// sid 3 leads first: a zkserver leader with a Java follower, then (sid 2)
/// another zkserver.
#[test]
fn a_mixed_ensemble_on_ipv6_with_a_zkserver_leader() {
    ensemble_on_ipv6(&[Flavor::Java, Flavor::Zkserver, Flavor::Zkserver]);
}

/// sid 3 leads first: a Java leader with a zkserver follower, then (sid 2)
/// another Java node.
#[test]
fn a_mixed_ensemble_on_ipv6_with_a_java_leader() {
    ensemble_on_ipv6(&[Flavor::Zkserver, Flavor::Java, Flavor::Java]);
}
