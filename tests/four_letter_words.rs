//! Four-letter words: the layout ZooKeeper 3.8 prints for each (line keys,
//! their order, fixed texts), with the values that vary normalised away, and
//! the whitelist refusal.

mod common;

use common::*;
use std::time::Duration;
use zkserver::client::ZkClient;
use zkserver::zoo_defs::{ids, CreateMode};

fn word(s: &TestServer, cmd: &str) -> String {
    four_letter(&s.addr(), cmd).unwrap_or_else(|e| panic!("{cmd}: {e}"))
}

/// `key: value` lines as pairs, in order.
fn colon_pairs(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(|l| {
            let (k, v) = l.split_once(": ").unwrap_or_else(|| panic!("no ': ' in {l:?}"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn keys(pairs: &[(String, String)]) -> Vec<&str> {
    pairs.iter().map(|(k, _)| k.as_str()).collect()
}

fn value<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("no {key}"))
}

/// srvr's lines after the version line (also the tail of stat).
const STATS_KEYS: [&str; 8] =
    ["Latency min/avg/max", "Received", "Sent", "Connections", "Outstanding", "Zxid", "Mode", "Node count"];

#[track_caller]
fn check_version(v: &str) {
    assert!(v.starts_with("3.8."), "version {v:?} does not claim 3.8");
    assert!(v.contains(", built on "), "version {v:?} lacks the build date");
}

/// Checks srvr's output: the version line, then the stats block.
#[track_caller]
fn check_srvr(pairs: &[(String, String)], zxid: i64, nodes: usize) {
    assert_eq!(pairs[0].0, "Zookeeper version");
    check_version(&pairs[0].1);
    check_stats_block(&pairs[1..], zxid, nodes);
}

#[track_caller]
fn check_stats_block(pairs: &[(String, String)], zxid: i64, nodes: usize) {
    assert_eq!(keys(pairs), STATS_KEYS);
    let lat: Vec<&str> = value(pairs, "Latency min/avg/max").split('/').collect();
    assert_eq!(lat.len(), 3);
    assert!(lat[0].parse::<u64>().is_ok() && lat[2].parse::<u64>().is_ok(), "{lat:?}");
    assert!(lat[1].parse::<f64>().is_ok(), "{lat:?}");
    for k in ["Received", "Sent", "Connections", "Outstanding", "Node count"] {
        assert!(value(pairs, k).parse::<u64>().is_ok(), "{k}: {}", value(pairs, k));
    }
    assert_eq!(value(pairs, "Outstanding"), "0");
    assert_eq!(value(pairs, "Zxid"), format!("0x{zxid:x}"));
    assert_eq!(value(pairs, "Mode"), "standalone");
    assert_eq!(value(pairs, "Node count"), nodes.to_string());
}

#[test]
fn ruok_answers_imok_without_newline() {
    let s = TestServer::start_default();
    assert_eq!(word(&s, "ruok"), "imok");
}

#[test]
fn srvr_layout() {
    let s = TestServer::start_default();
    let out = word(&s, "srvr");
    assert!(out.ends_with('\n'));
    // a fresh tree: /, /zookeeper, /zookeeper/config, /zookeeper/quota + the root alias
    check_srvr(&colon_pairs(&out), 0, 5);
    assert_eq!(value(&colon_pairs(&out), "Connections"), "1", "only the 4lw connection itself");
    let c = s.client();
    c.create("/x", None, &ids::open_acl_unsafe(), CreateMode::Persistent).unwrap();
    let pairs = colon_pairs(&word(&s, "srvr"));
    check_srvr(&pairs, c.last_zxid(), 6);
    assert_eq!(value(&pairs, "Connections"), "2");
}

#[test]
fn stat_layout_lists_clients_between_version_and_stats() {
    let s = TestServer::start_default();
    let c = s.client();
    c.create("/x", None, &ids::open_acl_unsafe(), CreateMode::Persistent).unwrap();
    let out = word(&s, "stat");
    let (head, stats) = out.split_once("\n\n").expect("blank line after the client list");
    let mut lines = head.lines();
    check_version(lines.next().unwrap().strip_prefix("Zookeeper version: ").expect("version line"));
    assert_eq!(lines.next(), Some("Clients:"));
    let clients: Vec<&str> = lines.collect();
    assert_eq!(clients.len(), 2, "our session and the 4lw connection: {clients:?}");
    for l in &clients {
        let rest = l.strip_prefix(" /127.0.0.1:").unwrap_or_else(|| panic!("client line {l:?}"));
        let (port, rest) = rest.split_once('[').unwrap();
        assert!(port.parse::<u16>().is_ok());
        let (_interest, rest) = rest.split_once("](queued=").unwrap();
        assert!(rest.contains(",recved=") && rest.contains(",sent=") && rest.ends_with(')'), "{l}");
    }
    // the stats after the blank line are srvr's, without the version line
    check_stats_block(&colon_pairs(stats), c.last_zxid(), 6);
}

#[test]
fn conf_layout() {
    let s = TestServer::start_default();
    let out = word(&s, "conf");
    let pairs: Vec<(&str, &str)> = out.lines().map(|l| l.split_once('=').expect("key=value")).collect();
    let ks: Vec<&str> = pairs.iter().map(|p| p.0).collect();
    assert_eq!(
        ks,
        [
            "clientPort",
            "secureClientPort",
            "dataDir",
            "dataDirSize",
            "dataLogDir",
            "dataLogSize",
            "tickTime",
            "maxClientCnxns",
            "minSessionTimeout",
            "maxSessionTimeout",
            "clientPortListenBacklog",
            "serverId",
        ]
    );
    let get = |k: &str| pairs.iter().find(|p| p.0 == k).unwrap().1;
    let version_dir = s.data_dir().join("version-2").display().to_string();
    assert_eq!(get("clientPort"), s.port.to_string());
    assert_eq!(get("secureClientPort"), "-1");
    assert_eq!(get("dataDir"), version_dir);
    assert_eq!(get("dataLogDir"), version_dir);
    assert!(get("dataDirSize").parse::<u64>().is_ok());
    assert!(get("dataLogSize").parse::<u64>().is_ok());
    assert_eq!(get("tickTime"), "2000");
    assert_eq!(get("maxClientCnxns"), "60");
    assert_eq!(get("minSessionTimeout"), "4000");
    assert_eq!(get("maxSessionTimeout"), "40000");
    assert_eq!(get("clientPortListenBacklog"), "-1");
    assert_eq!(get("serverId"), "0");
}

#[test]
fn cons_layout() {
    let s = TestServer::start_default();
    let c = s.client();
    c.exists("/", false).unwrap();
    let out = word(&s, "cons");
    assert!(out.ends_with("\n\n"), "cons ends with a blank line: {out:?}");
    let lines: Vec<&str> = out.trim_end().lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let ours = lines
        .iter()
        .find(|l| l.contains(&format!(",sid=0x{:x},", c.session_id())))
        .unwrap_or_else(|| panic!("our session in {out}"));
    let inner = ours.split_once("](").unwrap().1.strip_suffix(')').unwrap();
    let ks: Vec<&str> = inner.split(',').map(|kv| kv.split_once('=').unwrap().0).collect();
    assert_eq!(
        ks,
        [
            "queued", "recved", "sent", "sid", "lop", "est", "to", "lcxid", "lzxid", "lresp", "llat",
            "minlat", "avglat", "maxlat"
        ]
    );
    assert!(inner.contains(",to=30000,"), "{inner}");
    assert!(inner.contains(",lop=EXIS,"), "{inner}");
    assert!(inner.contains(",lcxid=0x1,"), "{inner}");
    // the 4lw connection has no session yet
    let other = lines.iter().find(|l| !l.contains(",sid=")).expect("4lw connection line");
    assert!(other.ends_with("](queued=0,recved=1,sent=0)"), "{other}");
}

#[test]
fn envi_layout() {
    let s = TestServer::start_default();
    let out = word(&s, "envi");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("Environment:"));
    let ks: Vec<&str> = lines.map(|l| l.split_once('=').expect("key=value").0).collect();
    assert_eq!(
        ks,
        [
            "zookeeper.version",
            "host.name",
            "java.version",
            "java.vendor",
            "java.home",
            "java.class.path",
            "java.library.path",
            "java.io.tmpdir",
            "java.compiler",
            "os.name",
            "os.arch",
            "os.version",
            "user.name",
            "user.home",
            "user.dir",
            "os.memory.free",
            "os.memory.max",
            "os.memory.total",
        ]
    );
    check_version(out.lines().nth(1).unwrap().strip_prefix("zookeeper.version=").unwrap());
    assert!(out.contains("\nos.name=Linux\n"));
    assert!(out.contains("\njava.version=rustc ") && !out.contains("\nos.memory.total=0MB"), "{out}");
}

#[test]
fn mntr_layout() {
    let s = TestServer::start_default();
    let c = s.client();
    c.create("/e", Some(b"12345"), &ids::open_acl_unsafe(), CreateMode::Ephemeral).unwrap();
    c.get_data("/e", true).unwrap();
    let out = word(&s, "mntr");
    let pairs: Vec<(&str, &str)> = out.lines().map(|l| l.split_once('\t').expect("key<TAB>value")).collect();
    assert!(pairs.iter().all(|(k, _)| k.starts_with("zk_")));
    // version and state come first; the metrics follow in hash order, so
    // only their presence is checked
    assert_eq!(pairs[0].0, "zk_version");
    check_version(pairs[0].1);
    assert_eq!(pairs[1], ("zk_server_state", "standalone"));
    let get = |k: &str| pairs.iter().find(|p| p.0 == k).unwrap_or_else(|| panic!("mntr lacks {k}")).1;
    for k in [
        "zk_avg_latency",
        "zk_max_latency",
        "zk_min_latency",
        "zk_packets_received",
        "zk_packets_sent",
        "zk_num_alive_connections",
        "zk_outstanding_requests",
        "zk_znode_count",
        "zk_watch_count",
        "zk_ephemerals_count",
        "zk_approximate_data_size",
        "zk_open_file_descriptor_count",
        "zk_max_file_descriptor_count",
        "zk_global_sessions",
        "zk_local_sessions",
        "zk_uptime",
    ] {
        assert!(get(k).parse::<f64>().is_ok(), "{k}={}", get(k));
    }
    assert_eq!(get("zk_znode_count"), "6");
    assert_eq!(get("zk_ephemerals_count"), "1");
    assert_eq!(get("zk_watch_count"), "1");
    assert_eq!(get("zk_global_sessions"), "1");
    assert_eq!(get("zk_num_alive_connections"), "2");
    assert_eq!(get("zk_outstanding_requests"), "0");
}

#[test]
fn isro_dirs_crst_srst() {
    let s = TestServer::start_default();
    assert_eq!(word(&s, "isro"), "rw");
    let dirs = word(&s, "dirs");
    let pairs = colon_pairs(&dirs);
    assert_eq!(keys(&pairs), ["datadir_size", "logdir_size"]);
    assert!(pairs.iter().all(|(_, v)| v.parse::<u64>().is_ok()));
    assert_eq!(word(&s, "crst"), "Connection stats reset.\n");
    assert_eq!(word(&s, "srst"), "Server stats reset.\n");
}

#[test]
fn watch_summaries() {
    let s = TestServer::start_default();
    assert_eq!(word(&s, "wchs"), "0 connections watching 0 paths\nTotal watches:0\n");
    assert_eq!(word(&s, "wchc"), "\n");
    assert_eq!(word(&s, "wchp"), "\n");
    let open = ids::open_acl_unsafe();
    let a = s.client();
    let b = s.client();
    a.create("/w", None, &open, CreateMode::Persistent).unwrap();
    a.get_data("/w", true).unwrap();
    a.get_children("/w", true).unwrap();
    a.exists("/nx", true).unwrap();
    b.get_data("/w", true).unwrap();
    assert_eq!(word(&s, "wchs"), "2 connections watching 2 paths\nTotal watches:3\n");

    // wchc: per session, its paths; wchp: per path, its sessions. Both end
    // with a blank line; the order inside is hash order, so compare as sets.
    let sid = |c: &ZkClient| format!("0x{:x}", c.session_id());
    let mut wchc = parse_groups(&word(&s, "wchc"));
    wchc.sort();
    let mut expected =
        vec![(sid(&a), vec!["/nx".to_string(), "/w".to_string()]), (sid(&b), vec!["/w".to_string()])];
    expected.sort();
    assert_eq!(wchc, expected);
    let mut wchp = parse_groups(&word(&s, "wchp"));
    wchp.sort();
    let mut both = vec![sid(&a), sid(&b)];
    both.sort();
    assert_eq!(wchp, vec![("/nx".to_string(), vec![sid(&a)]), ("/w".to_string(), both)]);
}

/// Parses "head\n\titem\n\titem\nhead\n\titem\n\n" into sorted groups.
fn parse_groups(text: &str) -> Vec<(String, Vec<String>)> {
    assert!(text.ends_with("\n\n"), "{text:?}");
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.trim_end().lines() {
        if let Some(item) = line.strip_prefix('\t') {
            groups.last_mut().expect("item before head").1.push(item.to_string());
        } else {
            groups.push((line.to_string(), Vec::new()));
        }
    }
    for g in &mut groups {
        g.1.sort();
    }
    groups
}

#[test]
fn words_outside_the_whitelist_are_refused() {
    let s = TestServer::start(ServerOpts::default().cfg("4lw.commands.whitelist", "ruok, srvr,stat"));
    assert_eq!(word(&s, "ruok"), "imok");
    assert!(word(&s, "srvr").starts_with("Zookeeper version: "));
    assert!(word(&s, "stat").contains("\nClients:\n"));
    for cmd in ["conf", "cons", "mntr", "envi", "wchs", "isro", "dump", "crst"] {
        assert_eq!(word(&s, cmd), format!("{cmd} is not executed because it is not in the whitelist.\n"));
    }
}

#[test]
fn an_unknown_word_gets_no_answer() {
    let s = TestServer::start_default();
    // "xxxx" is read as a frame length far above jute.maxbuffer
    assert_eq!(word(&s, "xxxx"), "");
    assert_server_serves(&s.addr());
}

#[test]
fn hash_lists_the_tree_digest_at_every_128th_zxid() {
    use zkserver::jute::records::CreateRequest;
    use zkserver::zoo_defs::op_code;
    let s = TestServer::start_default();
    assert_eq!(word(&s, "hash"), "", "nothing logged before zxid 0x80");
    let c = s.client();
    // The session is zxid 1; 130 pipelined creates take the zxid to 0x83.
    for i in 0..130 {
        let req = CreateRequest { path: format!("/h{i}"), data: Some(vec![i as u8; 10]), acl: ids::open_acl_unsafe(), flags: 0 };
        c.send(op_code::CREATE, &req).unwrap();
    }
    for _ in 0..130 {
        assert_eq!(c.recv().unwrap().header.err, 0);
    }
    let hash = word(&s, "hash");
    let lines: Vec<&str> = hash.lines().collect();
    assert_eq!(lines.len(), 1, "{hash:?}");
    let (zxid, digest) = lines[0].split_once(": ").unwrap();
    assert_eq!(zxid, "80");
    assert!(digest.parse::<i64>().is_ok(), "{hash:?}");
    // Every txn's logged digest matched the tree it produced.
    let mntr = word(&s, "mntr");
    assert!(mntr.lines().any(|l| l == "zk_digest_mismatches_count\t0"), "{mntr}");
}

/// Sends stmk with `mask` as the big-endian long that follows the word, as
/// Java's clients do, and returns the answer.
fn stmk(s: &TestServer, mask: i64) -> String {
    use std::io::{Read, Write};
    let mut c = raw_connect(&s.addr());
    let mut msg = b"stmk".to_vec();
    msg.extend_from_slice(&mask.to_be_bytes());
    c.write_all(&msg).unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    out
}

/// The zookeeper.trace lines in the log that mention `path`.
fn trace_lines(s: &TestServer, path: &str) -> Vec<String> {
    let log = std::fs::read_to_string(s.log_path()).unwrap_or_default();
    let needle = format!("reqpath:{path}");
    log.lines().filter(|l| l.contains("zookeeper.trace") && l.ends_with(&needle)).map(str::to_string).collect()
}

/// stmk sets ZooTrace's mask and it decides which trace lines are written:
/// with the request bit set, each create is traced as it enters
/// PrepRequestProcessor ('P') and FinalRequestProcessor ('E'), in Java's
/// Request.toString layout; with the mask 0, none is. Java writes these
/// lines only when its logger is at TRACE, as zkserver does.
#[test]
fn stmk_decides_which_requests_are_traced() {
    let s = TestServer::start_with(Flavor::Zkserver, ServerOpts::default().prop("zookeeper.console.threshold", "TRACE"));
    assert_eq!(word(&s, "gtmk"), "306", "Java's default mask");
    let c = s.client();
    c.create("/traced", None, &ids::open_acl_unsafe(), CreateMode::Persistent).unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || trace_lines(&s, "/traced").len() == 2),
        "expected a P and an E line: {:?}",
        trace_lines(&s, "/traced")
    );
    let lines = trace_lines(&s, "/traced");
    assert!(lines[0].contains(":Psessionid:0x") && lines[0].contains(" type:create cxid:0x"), "{lines:?}");
    assert!(lines[1].contains(":Esessionid:0x") && lines[1].contains(" txntype:1 reqpath:/traced"), "{lines:?}");

    assert_eq!(stmk(&s, 0), "0");
    assert_eq!(word(&s, "gtmk"), "0");
    c.create("/quiet", None, &ids::open_acl_unsafe(), CreateMode::Persistent).unwrap();
    // The request bit back on: the next create is traced; the one before it,
    // which was answered first, never was.
    assert_eq!(stmk(&s, 2), "2");
    c.create("/traced-again", None, &ids::open_acl_unsafe(), CreateMode::Persistent).unwrap();
    assert!(wait_until(Duration::from_secs(10), || trace_lines(&s, "/traced-again").len() == 2));
    assert_eq!(trace_lines(&s, "/quiet"), Vec::<String>::new());
}

/// A stmk outside the whitelist is refused and leaves the mask alone.
#[test]
fn stmk_outside_the_whitelist_leaves_the_mask() {
    let s = TestServer::start_with(Flavor::Zkserver, ServerOpts::default().cfg("4lw.commands.whitelist", "ruok, srvr, gtmk"));
    assert_eq!(stmk(&s, 0), "stmk is not executed because it is not in the whitelist.\n");
    assert_eq!(word(&s, "gtmk"), "306");
}
