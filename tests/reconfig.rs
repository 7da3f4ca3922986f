//! Dynamic reconfiguration (reconfigEnabled=true), side by side with Java
//! 3.8 where the behaviour is observable: the config version after the
//! first election (the NEWLEADER zxid), the files each node writes
//! (`zoo.cfg.dynamic.<version>` and zoo.cfg rewritten to point at it),
//! `/zookeeper/config`, and the reconfig request's rules and error codes.

mod common;

use common::ensemble::Ensemble;
use common::Flavor;
use std::collections::BTreeSet;
use zkserver::client::{ZkClient, ZkError};
use zkserver::jute::records::{GetDataResponse, ReconfigRequest};
use zkserver::jute::Record;
use zkserver::zoo_defs::{code, event_type, ids, op_code, CreateMode};
use std::fs;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(40);

const RECONFIG: (&str, &str) = ("reconfigEnabled", "true");

/// The lines of a file as a set (Java writes zoo.cfg in hash order).
fn line_set(text: &str) -> BTreeSet<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string).collect()
}

/// After the first election every node holds the membership with
/// version=100000000 in /zookeeper/config, has written
/// zoo.cfg.dynamic.100000000 (the server lines, no version) and has
/// rewritten zoo.cfg: the server lines moved out (clientPort stays, since
/// no server line names a client address), dynamicConfigFile added,
/// zoo.cfg.bak keeping the original.
fn first_election_versions_the_config(flavor: Flavor) {
    let mut ens = Ensemble::new(&[flavor, flavor, flavor], &[RECONFIG]);
    let originals: Vec<String> = ens.nodes.iter().map(|n| fs::read_to_string(n.cfg_path()).expect("zoo.cfg")).collect();
    ens.start_all();
    ens.settled_leader(&[1, 2, 3]);
    let servers: BTreeSet<String> =
        line_set(&originals[0]).into_iter().filter(|l| l.starts_with("server.")).collect();
    for (i, n) in ens.nodes.iter().enumerate() {
        let c = ens.client(n.sid);
        let mut config = None;
        common::wait_until(DEADLINE, || {
            config = c.get_data("/zookeeper/config", false).ok().and_then(|(d, _)| d);
            config.as_deref().is_some_and(|d| d.ends_with(b"version=100000000"))
        });
        let config = String::from_utf8(config.unwrap_or_default()).expect("utf-8");
        assert!(config.ends_with("\nversion=100000000"), "{flavor:?} node {}: {config:?}\n{}", n.sid, ens.logs());
        let members: BTreeSet<String> = line_set(&config).into_iter().filter(|l| l.starts_with("server.")).collect();
        // The client ports come from each node's static clientPort, which
        // the server lines do not carry.
        let want: BTreeSet<String> = servers.iter().map(|l| format!("{l}:participant")).collect();
        assert_eq!(members, want, "{flavor:?} node {}", n.sid);

        let dynamic = n.cfg_path().with_file_name("zoo.cfg.dynamic.100000000");
        let mut text = String::new();
        common::wait_until(DEADLINE, || {
            text = fs::read_to_string(&dynamic).unwrap_or_default();
            !text.is_empty()
        });
        assert_eq!(line_set(&text), members, "{flavor:?} node {}: {}", n.sid, dynamic.display());

        let cfg = line_set(&fs::read_to_string(n.cfg_path()).expect("zoo.cfg"));
        let mut want_cfg: BTreeSet<String> = line_set(&originals[i])
            .into_iter()
            .filter(|l| !l.starts_with("server."))
            .collect();
        want_cfg.insert(format!("dynamicConfigFile={}", dynamic.canonicalize().expect("canonical").display()));
        assert_eq!(cfg, want_cfg, "{flavor:?} node {}: zoo.cfg", n.sid);
        let bak = n.cfg_path().with_file_name("zoo.cfg.bak");
        assert_eq!(fs::read_to_string(&bak).ok().as_deref(), Some(originals[i].as_str()), "{flavor:?} node {}", n.sid);
        let _ = c.close();
    }
    // A restart reads the rewritten zoo.cfg and the dynamic file.
    ens.kill9(1);
    ens.start(1);
    let ok = common::wait_until(DEADLINE, || matches!(ens.mode(1).as_deref(), Some("leader" | "follower")));
    assert!(ok, "{flavor:?} node 1 does not come back from its rewritten zoo.cfg\n{}", ens.logs());
}

#[test]
fn first_election_versions_the_config_java() {
    first_election_versions_the_config(Flavor::Java);
}

#[test]
fn first_election_versions_the_config_zkserver() {
    first_election_versions_the_config(Flavor::Zkserver);
}

/// kazoo's test harness: the super user "super" with password "test".
const SUPER_DIGEST: &str = "super:D/InIHSb7yEEbrWz8b9l71RjZJU=";

/// A 3-node ensemble as kazoo's harness configures one for ZooKeeper 3.5+:
/// reconfigEnabled=true and the super user's digest.
fn kazoo_ensemble(flavor: Flavor) -> Ensemble {
    let mut ens = Ensemble::new(&[flavor; 3], &[RECONFIG]);
    ens.set_system_property("zookeeper.DigestAuthenticationProvider.superDigest", SUPER_DIGEST);
    ens.start_all();
    ens.settled_leader(&[1, 2, 3]);
    ens
}

/// Runs kazoo's own TestReconfig (kazoo/tests/test_client.py) against
/// `hosts`: its harness is pointed at the running ensemble instead of the
/// Java cluster it would start, and pytest's two helpers it uses (raises,
/// skip) are supplied, as Debian ships kazoo's tests without pytest.
const KAZOO_TEST_RECONFIG: &str = r#"
import sys, types, unittest, unittest.mock, contextlib
sys.modules["mock"] = unittest.mock
pytest = types.ModuleType("pytest")
@contextlib.contextmanager
def raises(exc):
    try:
        yield
    except exc:
        return
    raise AssertionError("did not raise %s" % exc.__name__)
def skip(msg=""):
    raise unittest.SkipTest(msg)
pytest.raises, pytest.skip = raises, skip
sys.modules["pytest"] = pytest
import kazoo.testing.harness as harness
class Server:
    def __init__(self, address):
        self.address, self.running = address, True
servers = [Server(a) for a in sys.argv[1].split(",")]
harness.get_global_cluster = lambda: servers
from kazoo.tests.test_client import TestReconfig
suite = unittest.defaultTestLoader.loadTestsFromTestCase(TestReconfig)
result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
print("ran", result.testsRun, "failures", len(result.failures), "errors", len(result.errors), "skipped", len(result.skipped))
sys.exit(0 if result.wasSuccessful() else 1)
"#;

fn kazoo_test_reconfig(flavor: Flavor) {
    let ens = kazoo_ensemble(flavor);
    let hosts: Vec<String> = ens.nodes.iter().map(|n| n.client_addr()).collect();
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", KAZOO_TEST_RECONFIG, &hosts.join(",")])
        .output()
        .expect("run python3 (apt-get install -y python3-kazoo)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("ran 3 failures 0 errors 0 skipped 0"),
        "{flavor:?}: kazoo's TestReconfig failed:\n{stdout}\n{stderr}\n{}",
        ens.logs()
    );
}

#[test]
fn kazoo_test_reconfig_java() {
    kazoo_test_reconfig(Flavor::Java);
}

#[test]
fn kazoo_test_reconfig_zkserver() {
    kazoo_test_reconfig(Flavor::Zkserver);
}

/// One reconfig request: the config now in force, or the error code.
fn reconfig(c: &ZkClient, joining: &str, leaving: &str, members: &str, from: i64) -> Result<String, i32> {
    // An empty argument is sent as null, as zkCli and kazoo do.
    let null_if_empty = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
    let req = ReconfigRequest {
        joining_servers: null_if_empty(joining),
        leaving_servers: null_if_empty(leaving),
        new_members: null_if_empty(members),
        cur_config_id: from,
    };
    let reply = c.submit(op_code::RECONFIG, &req).expect("reconfig reply");
    if reply.header.err != 0 {
        return Err(reply.header.err);
    }
    let rsp = GetDataResponse::from_bytes(&reply.body).expect("GetDataResponse");
    Ok(String::from_utf8(rsp.data.unwrap_or_default()).expect("utf-8"))
}

/// The `version=` of a config string.
fn version_of(config: &str) -> i64 {
    config.lines().find_map(|l| l.strip_prefix("version=")).and_then(|v| i64::from_str_radix(v, 16).ok()).unwrap_or(-1)
}

/// A session of the super user on node `sid`.
fn super_client(ens: &Ensemble, sid: i64) -> ZkClient {
    let c = ens.client(sid);
    c.add_auth("digest", b"super:test").expect("addauth");
    c
}

/// The `server.N=` line of a node with its client address and role.
fn server_line(ens: &Ensemble, sid: i64, role: &str) -> String {
    let n = ens.node(sid);
    format!("server.{sid}=127.0.0.1:{}:{}:{role};127.0.0.1:{}", n.quorum_port, n.election_port, n.client_port)
}

/// Waits until every running node in `sids`, after a sync, holds `config`
/// in /zookeeper/config.
#[track_caller]
fn assert_config_everywhere(ens: &Ensemble, sids: &[i64], config: &str) {
    for &sid in sids {
        let c = ens.client(sid);
        let mut last = None;
        let ok = common::wait_until(DEADLINE, || {
            let _ = c.sync("/");
            last = c.get_data("/zookeeper/config", false).ok().and_then(|(d, _)| d).map(|d| String::from_utf8_lossy(&d).into_owned());
            last.as_deref() == Some(config)
        });
        assert!(ok, "node {sid} holds {last:?}, not {config:?}\n{}", ens.logs());
        let dynamic = ens.node(sid).cfg_path().with_file_name(format!("zoo.cfg.dynamic.{:x}", version_of(config)));
        assert!(dynamic.exists(), "node {sid} has no {}", dynamic.display());
        let _ = c.close();
    }
}

/// Writes `/w<i>` through node `sid`, remembering it as acknowledged.
fn write(ens: &Ensemble, sid: i64, acked: &mut Vec<(String, Vec<u8>)>) {
    let c = ens.client(sid);
    let path = format!("/w{}", acked.len());
    let data = format!("via {sid}").into_bytes();
    let mut done = false;
    common::wait_until(DEADLINE, || {
        done = matches!(c.create(&path, Some(&data), &ids::open_acl_unsafe(), CreateMode::Persistent), Ok(_) | Err(ZkError::Keeper { code: code::NODE_EXISTS, .. }));
        done
    });
    assert!(done, "cannot write {path} through node {sid}\n{}", ens.logs());
    acked.push((path, data));
    let _ = c.close();
}

/// The reconfig rules' error codes, in Java's order: a non-super user is
/// refused NOAUTH only once the request is otherwise valid.
fn error_codes(ens: &Ensemble, via: i64) -> Vec<(&'static str, Result<String, i32>)> {
    let anyone = ens.client(via);
    let admin = super_client(ens, via);
    let config = anyone.get_data("/zookeeper/config", false).expect("config").0.unwrap_or_default();
    let version = version_of(&String::from_utf8_lossy(&config));
    let stranger = "server.9=127.0.0.1:1:2:participant;127.0.0.1:3";
    let out = vec![
        ("noauth", reconfig(&anyone, "", "3", "", -1)),
        ("bad spec", reconfig(&anyone, "some thing", "", "", -1)),
        ("no client port", reconfig(&admin, "server.9=127.0.0.1:1:2:participant", "", "", -1)),
        ("bad version", reconfig(&anyone, "", "3", "", version + 1)),
        ("one voter", reconfig(&admin, "", "", &server_line(ens, 1, "participant"), -1)),
        ("no synced quorum", reconfig(&admin, "", "", &format!("{},{stranger}", server_line(ens, 1, "participant")), -1)),
    ];
    let _ = (anyone.close(), admin.close());
    out
}

/// Membership changes through node `via` (super user): error codes, a
/// node removed and re-added, one turned observer and back, the leader
/// removed; each change is in every node's /zookeeper/config and dynamic
/// file, a watch on /zookeeper/config fires, and every acknowledged write
/// is on every node at the end. The node removed and re-added (and made
/// an observer) is the first of `movable` that neither leads nor is `via`.
fn membership_changes(flavors: [Flavor; 3], via: i64, movable: &[i64]) {
    let mut ens = Ensemble::new(&flavors, &[RECONFIG]);
    ens.set_system_property("zookeeper.DigestAuthenticationProvider.superDigest", SUPER_DIGEST);
    ens.start_all();
    let first_leader = ens.settled_leader(&[1, 2, 3]);
    let moved = *movable.iter().find(|s| **s != first_leader && **s != via).expect("a node to move");
    let all = [1, 2, 3];
    let mut acked = Vec::new();
    write(&ens, via, &mut acked);

    let codes: Vec<(&str, Option<i32>)> = error_codes(&ens, via).into_iter().map(|(k, r)| (k, r.err())).collect();
    assert_eq!(
        codes,
        [
            ("noauth", Some(code::NO_AUTH)),
            ("bad spec", Some(code::BAD_ARGUMENTS)),
            ("no client port", Some(code::BAD_ARGUMENTS)),
            ("bad version", Some(code::BAD_VERSION)),
            ("one voter", Some(code::BAD_ARGUMENTS)),
            ("no synced quorum", Some(code::NEW_CONFIG_NO_QUORUM)),
        ],
        "{flavors:?} via {via}\n{}",
        ens.logs()
    );

    let admin = super_client(&ens, via);
    let watcher = ens.client(if via == 1 { 2 } else { 1 });
    watcher.get_data("/zookeeper/config", true).expect("watch /zookeeper/config");

    // Remove `moved`, then add it back (incremental, with -v).
    let config = reconfig(&admin, "", &moved.to_string(), "", -1).expect("remove");
    assert!(!config.contains(&format!("server.{moved}=")), "{config}");
    assert_config_everywhere(&ens, &all, &config);
    let event = watcher.next_event(DEADLINE).expect("a watch on /zookeeper/config fires");
    assert_eq!((event.event_type, event.path.as_str()), (event_type::NODE_DATA_CHANGED, "/zookeeper/config"));
    write(&ens, via, &mut acked);
    let config = reconfig(&admin, &server_line(&ens, moved, "participant"), "", "", version_of(&config)).expect("re-add");
    assert!(config.contains(&server_line(&ens, moved, "participant")), "{config}");
    assert_config_everywhere(&ens, &all, &config);
    write(&ens, moved, &mut acked);

    // Turn the moved node into an observer (non-incremental) and back.
    let members: Vec<String> =
        all.iter().map(|&s| server_line(&ens, s, if s == moved { "observer" } else { "participant" })).collect();
    let config = reconfig(&admin, "", "", &members.join(","), -1).expect("-members");
    assert_config_everywhere(&ens, &all, &config);
    ens.wait_mode(moved, "observer");
    write(&ens, moved, &mut acked);
    let config = reconfig(&admin, &server_line(&ens, moved, "participant"), "", "", -1).expect("participant again");
    assert_config_everywhere(&ens, &all, &config);
    ens.wait_mode(moved, "follower");
    write(&ens, via, &mut acked);
    let _ = admin.close();

    // Remove the leader: the others elect a new one and keep every write.
    let leader = ens.settled_leader(&all);
    let rest: Vec<i64> = all.iter().copied().filter(|s| *s != leader).collect();
    // The node asked may leave its role (its leader changes) before it
    // answers, closing the session: Java's too. The outcome is read back.
    let admin = super_client(&ens, rest[0]);
    let req = ReconfigRequest { leaving_servers: Some(leader.to_string()), cur_config_id: -1, ..Default::default() };
    let answer = admin.submit(op_code::RECONFIG, &req);
    assert!(answer.as_ref().map_or(true, |r| r.header.err == 0), "{answer:?}");
    let _ = admin.close();
    let mut modes = Vec::new();
    let ok = common::wait_until(DEADLINE, || {
        modes = rest.iter().map(|s| ens.mode(*s)).collect();
        modes.iter().any(|m| m.as_deref() == Some("leader"))
    });
    assert!(ok, "no new leader among {rest:?}: {modes:?}\n{}", ens.logs());
    let c = ens.client(rest[1]);
    let mut config = String::new();
    common::wait_until(DEADLINE, || {
        let _ = c.sync("/");
        config = c.get_data("/zookeeper/config", false).ok().and_then(|(d, _)| d).map(|d| String::from_utf8_lossy(&d).into_owned()).unwrap_or_default();
        !config.is_empty() && !config.contains(&format!("server.{leader}="))
    });
    assert!(!config.contains(&format!("server.{leader}=")), "{config}");
    let _ = c.close();
    assert_config_everywhere(&ens, &rest, &config);
    write(&ens, rest[1], &mut acked);
    // The removed leader goes on as a non-voting follower (Java's
    // "non-voting participant") and holds every write too.
    for sid in all {
        ens.assert_has_all(sid, &acked);
    }
    // /zookeeper/config is outside the tree digest: no node saw a mismatch.
    for sid in all {
        let mntr = common::four_letter(&ens.node(sid).client_addr(), "mntr").unwrap_or_default();
        assert!(mntr.contains("zk_digest_mismatches_count\t0\n"), "node {sid}: {mntr}");
    }
    // A restart reads the newest dynamic file zoo.cfg now points at.
    ens.kill9(moved);
    ens.start(moved);
    ens.assert_has_all(moved, &acked);
    assert_config_everywhere(&ens, &[moved], &config);
}

#[test]
fn membership_changes_java() {
    membership_changes([Flavor::Java; 3], 1, &[2, 3]);
}

#[test]
fn membership_changes_zkserver() {
    membership_changes([Flavor::Zkserver; 3], 1, &[2, 3]);
}

/// Mixed: a super user on a zkserver node removes and re-adds a Java node
/// (and makes it an observer and back), then removes the leader.
#[test]
fn membership_changes_through_zkserver_mixed() {
    membership_changes([Flavor::Zkserver, Flavor::Java, Flavor::Java], 1, &[2, 3]);
}

/// Mixed: the same through a Java node, moving zkserver nodes.
#[test]
fn membership_changes_through_java_mixed() {
    membership_changes([Flavor::Java, Flavor::Zkserver, Flavor::Zkserver], 1, &[2, 3]);
}

/// A reconfig that gives a node another client port: it serves there, and
/// stops accepting on the old one.
fn client_port_moves(flavor: Flavor) {
    let mut ens = kazoo_ensemble(flavor);
    let leader = ens.settled_leader(&[1, 2, 3]);
    let moved = if leader == 3 { 2 } else { 3 };
    let old = ens.node(moved).client_addr();
    let port = common::free_port();
    let n = ens.node(moved);
    let line = format!("server.{moved}=127.0.0.1:{}:{}:participant;127.0.0.1:{port}", n.quorum_port, n.election_port);
    let admin = super_client(&ens, leader);
    let config = reconfig(&admin, &line, "", "", -1).expect("move the client port");
    assert!(config.contains(&line), "{config}");
    let new = format!("127.0.0.1:{port}");
    let ok = common::wait_until(DEADLINE, || common::four_letter(&new, "ruok").is_ok_and(|r| r == "imok"));
    assert!(ok, "{flavor:?}: node {moved} does not serve on {new}\n{}", ens.logs());
    let ok = common::wait_until(DEADLINE, || std::net::TcpStream::connect(&old).is_err());
    assert!(ok, "{flavor:?}: node {moved} still accepts on {old}");
    let c = ZkClient::connect(new.as_str(), 10_000).expect("session on the new port");
    c.sync("/").expect("sync");
    let _ = (c.close(), admin.close());
    // zoo.cfg lost its clientPort (the server line names the address now):
    // a restart serves on the new port.
    let cfg = fs::read_to_string(ens.node(moved).cfg_path()).expect("zoo.cfg");
    assert!(!cfg.contains("clientPort="), "{flavor:?}: {cfg}");
    ens.kill9(moved);
    ens.start(moved);
    let ok = common::wait_until(DEADLINE, || common::four_letter(&new, "ruok").is_ok_and(|r| r == "imok"));
    assert!(ok, "{flavor:?}: restarted node {moved} does not serve on {new}\n{}", ens.logs());
}

#[test]
fn client_port_moves_java() {
    client_port_moves(Flavor::Java);
}

#[test]
fn client_port_moves_zkserver() {
    client_port_moves(Flavor::Zkserver);
}

/// Without reconfigEnabled every reconfig is RECONFIGDISABLED, super user
/// or not, on an ensemble and on a standalone server; a standalone server
/// with it cannot reconfigure (UNIMPLEMENTED), as in Java.
fn disabled_and_standalone(flavor: Flavor) -> Vec<(&'static str, Option<i32>)> {
    let super_prop = ("zookeeper.DigestAuthenticationProvider.superDigest", SUPER_DIGEST);
    let mut ens = Ensemble::new(&[flavor; 3], &[]);
    ens.set_system_property(super_prop.0, super_prop.1);
    ens.start_all();
    ens.settled_leader(&[1, 2, 3]);
    let admin = super_client(&ens, 1);
    let mut out = vec![("ensemble, disabled", reconfig(&admin, "", "3", "", -1).err())];
    drop(ens);
    for (name, enabled) in [("standalone, disabled", "false"), ("standalone, enabled", "true")] {
        let opts = common::ServerOpts::default().cfg("reconfigEnabled", enabled).prop(super_prop.0, super_prop.1);
        let s = common::TestServer::start_with(flavor, opts);
        let c = s.client();
        c.add_auth("digest", b"super:test").expect("addauth");
        out.push((name, reconfig(&c, "", "3", "", -1).err()));
    }
    out
}

#[test]
fn disabled_and_standalone_beside_java() {
    let want = [
        ("ensemble, disabled", Some(code::RECONFIG_DISABLED)),
        ("standalone, disabled", Some(code::RECONFIG_DISABLED)),
        ("standalone, enabled", Some(code::UNIMPLEMENTED)),
    ];
    assert_eq!(disabled_and_standalone(Flavor::Java), want);
    assert_eq!(disabled_and_standalone(Flavor::Zkserver), want);
}

/// zkCli.sh's `reconfig` (-remove, -add, -file with -v) and `config`
/// against a zkserver ensemble.
#[test]
fn zkcli_reconfig_and_config() {
    let ens = kazoo_ensemble(Flavor::Zkserver);
    let leader = ens.settled_leader(&[1, 2, 3]);
    let moved = if leader == 3 { 2 } else { 3 };
    let addr = ens.node(leader).client_addr();
    let mut cli = common::Interactive::spawn("/usr/share/zookeeper/bin/zkCli.sh", &["-server", &addr], "apt-get install -y zookeeper");
    cli.expect("WatchedEvent state:SyncConnected type:None path:null");
    cli.send(&format!("reconfig -remove {moved}"));
    cli.expect("Insufficient permission");
    cli.send("addauth digest super:test");
    cli.send(&format!("reconfig -remove {moved}"));
    let out = cli.expect("Committed new configuration:");
    assert!(!out.contains("Error"), "{out}");
    cli.send("config");
    let out = cli.expect("version=");
    assert!(!out.contains(&format!("server.{moved}=")), "{out}");
    let members: Vec<String> = [1, 2, 3].iter().map(|&s| server_line(&ens, s, "participant")).collect();
    let file = ens.node(1).cfg_path().with_file_name("members.cfg");
    fs::write(&file, members.join("\n")).expect("write members file");
    cli.send(&format!("reconfig -file {} -v 1", file.display()));
    cli.expect("version No is not valid");
    cli.send(&format!("reconfig -file {}", file.display()));
    cli.expect("Committed new configuration:");
    cli.send("config");
    let out = cli.expect("version=");
    assert!(out.contains(&server_line(&ens, moved, "participant")), "{out}");
    cli.send("quit");
    cli.finish();
    assert_config_everywhere(&ens, &[1, 2, 3], &{
        let c = ens.client(leader);
        let data = c.get_data("/zookeeper/config", false).expect("config").0.unwrap_or_default();
        String::from_utf8(data).expect("utf-8")
    });
}

/// RECONFIGINPROGRESS: a reconfig adding a voter is held in flight (one of
/// the three followers it needs is stopped with SIGSTOP after Prep found
/// it synced), so a second one is refused; once the follower runs again
/// the first commits.
fn reconfig_in_progress(flavor: Flavor) -> Option<i32> {
    let ens = kazoo_ensemble(flavor);
    let leader = ens.settled_leader(&[1, 2, 3]);
    let frozen = if leader == 3 { 2 } else { 3 };
    let first = super_client(&ens, leader);
    let second = super_client(&ens, leader);
    let joiner = format!("server.4=127.0.0.1:{}:{}:participant;127.0.0.1:{}", common::free_port(), common::free_port(), common::free_port());
    let pid = ens.pid(frozen).expect("pid") as i32;
    // SAFETY: signals to a child process of this test.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let req = ReconfigRequest { joining_servers: Some(joiner), cur_config_id: -1, ..Default::default() };
    let xid = first.send(op_code::RECONFIG, &req).expect("send the first reconfig");
    let leader_addr = ens.node(leader).client_addr();
    let in_flight = |n: usize| {
        let want = format!("zk_outstanding_requests\t{n}\n");
        common::wait_until(DEADLINE, || common::four_letter(&leader_addr, "mntr").is_ok_and(|m| m.contains(&want)))
    };
    // The refusal is an error txn, committed in order after the first: its
    // reply comes only once the follower runs again.
    let first_in = in_flight(1);
    let second_xid = second.send(op_code::RECONFIG, &req).expect("send the second reconfig");
    let both_in = first_in && in_flight(2);
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    assert!(both_in, "{flavor:?}: the two reconfigs never were both in flight");
    let reply = first.recv().expect("the first reconfig's reply");
    assert_eq!((reply.header.xid, reply.header.err), (xid, 0), "{flavor:?}: the first reconfig commits\n{}", ens.logs());
    let reply = second.recv().expect("the second reconfig's reply");
    assert_eq!(reply.header.xid, second_xid);
    Some(reply.header.err).filter(|e| *e != 0)
}

#[test]
fn reconfig_in_progress_beside_java() {
    assert_eq!(reconfig_in_progress(Flavor::Java), Some(code::RECONFIG_IN_PROGRESS));
    assert_eq!(reconfig_in_progress(Flavor::Zkserver), Some(code::RECONFIG_IN_PROGRESS));
}
