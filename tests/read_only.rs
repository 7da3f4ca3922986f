//! Read-only mode (readonlymode.enabled): a participant that loses its
//! quorum serves read-only clients after the grace period, refuses the
//! others, and hands back to a read-write server when the quorum returns.
//! Also kazoo's test_read_only scenario and the C client's
//! TestReadOnlyClient scenario, against zkserver.

mod common;

use common::ensemble::Ensemble;
use common::*;
use std::collections::BTreeSet;
use std::time::Duration;
use zkserver::client::{ConnectOptions, ZkClient};
use zkserver::zoo_defs::{code, ids, op_code, CreateMode};

const DEADLINE: Duration = Duration::from_secs(40);

fn thread_names(pid: u32) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    if let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for e in rd.flatten() {
            if let Ok(n) = std::fs::read_to_string(e.path().join("comm")) {
                names.insert(n.trim().to_string());
            }
        }
    }
    names
}

/// An admin command's JSON answer (GET /commands/<command>).
fn admin(port: u16, command: &str) -> serde_json::Value {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("admin port");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "GET /commands/{command} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("admin answer");
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{command}: not JSON ({e}): {raw}"))
}

fn read_only_opts() -> ConnectOptions {
    let mut o = ConnectOptions::new(10_000);
    o.read_only = Some(true);
    o.reply_timeout = Duration::from_secs(10);
    o
}

/// Waits until `addr` answers `isro` with `want`.
#[track_caller]
fn wait_isro(ens: &Ensemble, addr: &str, want: &str) {
    let mut last = String::new();
    let ok = wait_until(DEADLINE, || {
        last = four_letter(addr, "isro").unwrap_or_default();
        last == want
    });
    assert!(ok, "isro of {addr} is {last:?}, not {want:?}\n{}", ens.logs());
}

#[test]
fn a_lone_participant_serves_read_only_clients_until_its_quorum_returns() {
    lone_participant_scenario(Flavor::Zkserver, &[]);
}

/// With local sessions on, as Java's scenario below: the session made
/// while the ensemble had a quorum starts local and its ephemeral upgrades
/// it, and the read-only server's sessions are local as ever.
#[test]
fn with_local_sessions_a_lone_participant_serves_read_only_clients() {
    lone_participant_scenario(Flavor::Zkserver, &[("localSessionsEnabled", "true"), ("localSessionsUpgradingEnabled", "true")]);
}

/// The same scenario on Java 3.8: its read-only server makes no session
/// unless localSessionsEnabled (ZOOKEEPER-3863 turned it on for the C
/// client's test), and it refuses a global session's reconnection.
#[test]
fn java_serves_read_only_clients_with_local_sessions() {
    lone_participant_scenario(Flavor::Java, &[("localSessionsEnabled", "true"), ("localSessionsUpgradingEnabled", "true")]);
}

/// One node left of three: read-only service, then the hand-over. On Java
/// a global session may not come back read-only.
fn lone_participant_scenario(flavor: Flavor, extra: &[(&str, &str)]) {
    let mut ens = Ensemble::new(&[flavor; 3], extra);
    ens.set_system_property("readonlymode.enabled", "true");
    let mut admin_ports = Vec::new();
    for sid in 1..=3 {
        let p = free_port();
        ens.set_cfg(sid, "admin.enableServer", "true");
        ens.set_cfg(sid, "admin.serverPort", &p.to_string());
        ens.set_cfg(sid, "admin.serverAddress", "127.0.0.1");
        admin_ports.push(p);
    }
    ens.start_all();
    // The leader is left alone: it must notice that its quorum is gone
    // (syncLimit ticks) before its election can run out of time.
    let lone = ens.settled_leader(&[1, 2, 3]);
    let others: Vec<i64> = [1, 2, 3].into_iter().filter(|s| *s != lone).collect();
    let addr = ens.node(lone).client_addr();
    let admin_port = admin_ports[lone as usize - 1];
    assert_eq!(four_letter(&addr, "isro").unwrap(), "rw");
    assert_eq!(admin(admin_port, "is_read_only")["read_only"], false);
    let rw = ens.client(lone);
    rw.create("/ro", Some(b"before"), &ids::open_acl_unsafe(), CreateMode::Persistent).unwrap();
    // A session made while the ensemble had a quorum, global (an
    // ephemeral upgrades a Java local session).
    let global = ens.client(lone);
    global.create("/g", None, &ids::open_acl_unsafe(), CreateMode::Ephemeral).unwrap();
    let (global_id, global_pw) = (global.session_id(), global.session_passwd().to_vec());
    global.disconnect();

    for s in &others {
        ens.kill9(*s);
    }
    wait_isro(&ens, &addr, "ro");
    assert_eq!(ens.mode(lone).as_deref(), Some("read-only"));
    for word in ["srvr", "stat"] {
        let out = four_letter(&addr, word).unwrap();
        let second = out.lines().nth(1).unwrap_or_default();
        assert_eq!(second, "READ-ONLY mode; serving only read-only clients", "{word}:\n{out}");
        assert!(out.contains("\nMode: read-only\n"), "{word}:\n{out}");
    }
    let mntr = four_letter(&addr, "mntr").unwrap();
    assert!(mntr.contains("zk_server_state\tread-only\n"), "{mntr}");
    // conf: the peer's id and quorum settings, without the membership.
    let conf = four_letter(&addr, "conf").unwrap();
    assert!(conf.contains(&format!("\nserverId={lone}\ninitLimit=10\nsyncLimit=5\nelectionAlg=3\n")), "{conf}");
    assert!(conf.ends_with("peerType=0\n"), "{conf}");
    // The AdminServer follows the server behind the client port.
    assert_eq!(admin(admin_port, "is_read_only")["read_only"], true);
    assert_eq!(admin(admin_port, "srvr")["read_only"], true);
    assert_eq!(admin(admin_port, "configuration")["server_id"], lone);

    // The read-only server's chain, by name (Linux keeps 15 bytes of
    // ReadOnlyRequestProcessor:1).
    let names = thread_names(ens.pid(lone).expect("pid"));
    let expected: &[&str] = match flavor {
        Flavor::Zkserver => &["ReadOnlyRequest", "ProcessThread", "SessionTracker", "ReqThrottler"],
        Flavor::Java => &["ReadOnlyRequest", "SessionTracker"],
    };
    for t in expected {
        assert!(names.contains(*t), "no {t} thread among {names:?}");
    }

    // A read-only client: reads work, writes and sync get NOTREADONLY.
    let ro = ZkClient::connect_with(addr.as_str(), &read_only_opts()).expect("read-only session");
    assert_eq!(ro.server_read_only(), Some(true), "the ConnectResponse says read-only");
    assert_eq!(ro.session_id() >> 56, lone, "a local session id from this server's range");
    assert_eq!(ro.get_data("/ro", false).unwrap().0.as_deref(), Some(&b"before"[..]));
    assert!(ro.exists("/ro", false).unwrap().is_some());
    assert!(ro.get_children("/", false).unwrap().contains(&"ro".to_string()));
    assert_code(ro.create("/new", None, &ids::open_acl_unsafe(), CreateMode::Persistent), code::NOT_READONLY);
    assert_code(ro.set_data("/ro", Some(b"x"), -1), code::NOT_READONLY);
    assert_code(ro.delete("/ro", -1), code::NOT_READONLY);
    assert_code(ro.set_acl("/ro", &ids::open_acl_unsafe(), -1), code::NOT_READONLY);
    assert_code(ro.sync("/ro"), code::NOT_READONLY);
    // multi: an empty one is enough to be refused before it is parsed.
    let mut multi = Vec::new();
    multi.extend_from_slice(&(-1i32).to_be_bytes());
    multi.push(1);
    multi.extend_from_slice(&(-1i32).to_be_bytes());
    let reply = ro.submit_bytes(op_code::MULTI, &multi).unwrap();
    assert_eq!(reply.header.err, code::NOT_READONLY);
    // The session still reads after the refusals.
    assert_eq!(ro.get_data("/ro", false).unwrap().0.as_deref(), Some(&b"before"[..]));

    // Local sessions end as any other: closed by their client, or expired
    // by the read-only server's SessionTracker.
    let closer = ZkClient::connect_with(addr.as_str(), &read_only_opts()).expect("read-only session");
    closer.close().expect("closeSession of a local session");
    let mut short = read_only_opts();
    short.session_timeout_ms = 1000;
    short.ping = false;
    let quiet = ZkClient::connect_with(addr.as_str(), &short).expect("read-only session");
    let expiring = format!("Expiring session 0x{:x},", quiet.session_id());
    let expired = wait_until(DEADLINE, || ens.node(lone).log().contains(&expiring));
    assert!(expired, "the quiet read-only session did not expire\n{}", ens.logs());
    let mut resume = read_only_opts();
    resume.session_id = quiet.session_id();
    resume.passwd = quiet.session_passwd().to_vec();
    let e = ZkClient::connect_with(addr.as_str(), &resume).err().expect("an expired session was resumed");
    assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied, "{e}");

    // A client that did not ask for read-only, or sent no readOnly byte
    // (an old client), is closed without an answer.
    assert!(ZkClient::connect(addr.as_str(), 10_000).is_err(), "a read-write client was taken");
    let mut old = read_only_opts();
    old.read_only = None;
    assert!(ZkClient::connect_with(addr.as_str(), &old).is_err(), "an old client was taken");

    // The global session may come back to read (Java 3.8 refuses it).
    let mut back = read_only_opts();
    back.session_id = global_id;
    back.passwd = global_pw;
    back.first_xid = 100;
    match flavor {
        Flavor::Zkserver => {
            let g = ZkClient::connect_with(addr.as_str(), &back).expect("global session, read-only");
            assert_eq!(g.session_id(), global_id);
            assert_eq!(g.get_data("/ro", false).unwrap().0.as_deref(), Some(&b"before"[..]));
            g.disconnect();
        }
        Flavor::Java => {
            assert!(ZkClient::connect_with(addr.as_str(), &back).is_err(), "Java took a global session back");
        }
    }
    let (ro_id, ro_pw) = (ro.session_id(), ro.session_passwd().to_vec());

    // The quorum returns: the read-only server goes, its clients are cut
    // off, and the node serves read-write again.
    for s in &others {
        ens.start(*s);
    }
    let ok = wait_until(DEADLINE, || matches!(ens.mode(lone).as_deref(), Some("leader" | "follower")));
    assert!(ok, "node {lone} did not rejoin: {:?}\n{}", ens.mode(lone), ens.logs());
    assert_eq!(four_letter(&addr, "isro").unwrap(), "rw");
    assert_eq!(admin(admin_port, "is_read_only")["read_only"], false);
    let cut = wait_until(DEADLINE, || ro.exists("/ro", false).is_err());
    assert!(cut, "the read-only connection survived the hand-over");
    assert!(!thread_names(ens.pid(lone).expect("pid")).contains("ReadOnlyRequest"));
    let rw = ens.client(lone);
    rw.set_data("/ro", Some(b"after"), -1).unwrap();
    // The read-only session was never logged: read-write servers do not
    // know it.
    let mut again = ConnectOptions::new(10_000);
    again.session_id = ro_id;
    again.passwd = ro_pw;
    let e = ZkClient::connect_with(addr.as_str(), &again).err().expect("the read-only session is unknown");
    assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied, "{e}");
    let log = ens.node(lone).log();
    assert!(log.contains("Attempting to start ReadOnlyZooKeeperServer"), "no start attempt logged");
    assert!(log.contains("Read-only server started"), "no start logged");
    if flavor == Flavor::Java {
        assert!(log.contains("Refusing global session reconnection in RO mode"), "{log}");
    }
}

#[test]
fn a_quick_election_never_starts_the_read_only_server() {
    // The grace period (max(2 s, tickTime)) outlasts an election that finds
    // its quorum.
    let mut ens = Ensemble::new(&[Flavor::Zkserver; 3], &[]);
    ens.set_system_property("readonlymode.enabled", "true");
    ens.start_all();
    ens.settled_leader(&[1, 2, 3]);
    let log = ens.node(1).log();
    assert!(log.contains("Attempting to start ReadOnlyZooKeeperServer"));
    assert!(log.contains("Interrupted while attempting to start ReadOnlyZooKeeperServer, not started"), "{log}");
    assert!(!log.contains("Read-only server started"));
}

#[test]
fn without_readonlymode_a_lone_participant_serves_nobody() {
    let mut ens = Ensemble::new(&[Flavor::Zkserver; 3], &[]);
    ens.start(1);
    let addr = ens.node(1).client_addr();
    assert!(wait_until(DEADLINE, || four_letter(&addr, "ruok").map(|r| r == "imok").unwrap_or(false)));
    // isro is off without readonlymode.enabled (the whitelist is * here).
    assert_eq!(four_letter(&addr, "isro").unwrap(), "null");
    assert!(ZkClient::connect_with(addr.as_str(), &read_only_opts()).is_err());
    assert!(!ens.node(1).log().contains("ReadOnlyZooKeeperServer"));
}

const KAZOO_SCENARIO: &str = r#"
import sys, threading, time, uuid
from kazoo.client import KazooClient
from kazoo.exceptions import NotReadOnlyCallError
from kazoo.protocol.states import KeeperState

# kazoo/tests/test_connection.py, TestReadOnlyMode: a chrooted client with
# read_only=True, as the harness makes it.
hosts = sys.argv[1] + "/kazootests" + uuid.uuid4().hex
client = KazooClient(hosts=hosts, timeout=15, read_only=True)
client.start()
client.ensure_path("/")
states = []
ev = threading.Event()

@client.add_listener
def listen(state):
    states.append(state)
    if client.client_state == KeeperState.CONNECTED_RO:
        ev.set()

print("stop 2 3", flush=True)
sys.stdin.readline()
ev.wait(6)
print("connected_ro", ev.is_set(), client.client_state, flush=True)
assert ev.is_set()
assert client.client_state == KeeperState.CONNECTED_RO
assert client.get_children('/') == []
try:
    client.create('/fred')
    print("create succeeded", flush=True)
except NotReadOnlyCallError:
    print("NotReadOnlyCallError", flush=True)
# Wait for a ping
time.sleep(15)
print("after the pings", client.client_state, flush=True)
client.remove_listener(listen)
print("start 2 3", flush=True)
sys.stdin.readline()
# Beyond the kazoo test: the client finds the read-write ensemble again.
back = threading.Event()
client.add_listener(lambda s: back.set() if client.client_state == KeeperState.CONNECTED else None)
if client.client_state != KeeperState.CONNECTED:
    back.wait(60)
print("back", client.client_state, flush=True)
client.retry(client.create, '/fred')
print("created", client.exists('/fred') is not None, flush=True)
client.stop()
client.close()
print("done", flush=True)
"#;

/// kazoo's harness: tickTime=2000, initLimit=4, syncLimit=2 (later keys
/// win), -Dreadonlymode.enabled=true; the scenario up to the point where
/// the two nodes are stopped.
fn kazoo_until_stopped(flavor: Flavor) -> (Ensemble, Interactive) {
    let mut ens = Ensemble::new(&[flavor; 3], &[("tickTime", "2000"), ("initLimit", "4"), ("syncLimit", "2")]);
    ens.set_system_property("readonlymode.enabled", "true");
    ens.start_all();
    ens.settled_leader(&[1, 2, 3]);
    let hosts: Vec<String> = (1..=3).map(|s| ens.node(s).client_addr()).collect();
    let mut py = Interactive::spawn("/usr/bin/python3", &["-u", "-c", KAZOO_SCENARIO, &hosts.join(",")], "apt-get install -y python3-kazoo");
    py.expect("stop 2 3\n");
    ens.kill9(2);
    ens.kill9(3);
    py.send("stopped");
    (ens, py)
}

#[test]
fn kazoo_test_read_only_scenario() {
    let (mut ens, mut py) = kazoo_until_stopped(Flavor::Zkserver);
    py.expect("connected_ro True CONNECTED_RO\n");
    py.expect("NotReadOnlyCallError\n");
    // kazoo sleeps 15 s here, pinging the read-only server.
    let out = expect_within(&mut py, "start 2 3\n", Duration::from_secs(60));
    assert!(out.contains("after the pings CONNECTED_RO"), "{out}");
    ens.start(2);
    ens.start(3);
    py.send("started");
    let out = expect_within(&mut py, "done\n", Duration::from_secs(90));
    assert!(out.contains("back CONNECTED\n") && out.contains("created True\n"), "{out}");
}

/// Java 3.8 fails kazoo's test_read_only: kazoo keeps the (global) session
/// it had before the quorum went and reconnects with it, which Java's
/// read-only server refuses ("Refusing global session reconnection in RO
/// mode"), so the client never gets CONNECTED_RO. (A new session would not
/// do either: kazoo's harness does not set localSessionsEnabled.)
#[test]
fn java_fails_kazoo_test_read_only_by_refusing_the_global_session() {
    let (ens, mut py) = kazoo_until_stopped(Flavor::Java);
    py.expect("connected_ro False");
    let log = ens.node(1).log();
    assert!(log.contains("Read-only server started"), "{log}");
    assert!(log.contains("Refusing global session reconnection in RO mode"), "{log}");
}

/// `Interactive::expect` with a longer deadline, for steps that wait on an
/// election.
#[track_caller]
fn expect_within(it: &mut Interactive, text: &str, deadline: Duration) -> String {
    let ok = wait_until(deadline, || it.transcript().contains(text));
    assert!(ok, "never printed {text:?}; transcript:\n{}", it.transcript());
    it.expect(text)
}

#[test]
fn c_client_test_read_only_client_scenario() {
    // TestReadOnlyClient.cc: one node of a three-node ensemble, started alone
    // with readonlymode.enabled, serves a client connecting with
    // ZOO_READONLY (cli_mt -r): "/" reads, a create gets ZNOTREADONLY.
    let mut ens = Ensemble::new(&[Flavor::Zkserver; 3], &[("readonlymode.enabled", "true")]);
    ens.start(1);
    let addr = ens.node(1).client_addr();
    wait_isro(&ens, &addr, "ro");
    let mut cli = Interactive::spawn("/usr/lib/zookeeper/bin/cli_mt", &["-r", "-h", &addr], "apt-get install -y zookeeper-bin");
    cli.expect("state = READONLY_STATE");
    cli.send("get /");
    cli.expect("/: rc = 0\n");
    cli.send("create /test");
    cli.expect("[/test]: rc = -119\n");
    cli.send("quit");
    cli.finish();
}

#[test]
fn java_client_zkcli_read_only() {
    // zkCli.sh -r: the Java client's canBeReadOnly, CONNECTEDREADONLY.
    let mut ens = Ensemble::new(&[Flavor::Zkserver; 3], &[]);
    ens.set_system_property("readonlymode.enabled", "true");
    ens.start(1);
    let addr = ens.node(1).client_addr();
    wait_isro(&ens, &addr, "ro");
    let mut cli = Interactive::spawn(
        "/bin/sh",
        &[
            "-c",
            "CLIENT_JVMFLAGS='-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto' exec \"$0\" \"$@\" 2>&1",
            "/usr/share/zookeeper/bin/zkCli.sh",
            "-server",
            &addr,
            "-r",
        ],
        "apt-get install -y zookeeper",
    );
    expect_within(&mut cli, "state:ConnectedReadOnly", Duration::from_secs(60));
    cli.send("ls /");
    cli.expect("[zookeeper]");
    cli.send("create /x");
    cli.expect("Not a read-only call");
    cli.send("quit");
    cli.finish();
}
