//! observerMasterPort on real ensembles: an observer syncs from a
//! follower's ObserverMaster (not from the leader), reads what the
//! ensemble writes, writes, syncs and sessions with ephemerals through it
//! reach every server, and when the follower it uses dies it moves to
//! another one, losing nothing, its clients' sessions revalidated there:
//! zkserver observers through Java and zkserver followers, a Java observer
//! through zkserver followers, with Java and zkserver leaders; synced by
//! SNAP from a small commit cache; a reconfiguration activated through the
//! follower. Each node
//! listens on its own loopback address, so that every voter can serve the
//! same port.

mod common;

use common::ensemble::Ensemble;
use common::{closed_by_server, four_letter, free_port, raw_connect, wait_until, Flavor};
use std::io::Write;
use std::time::Duration;
use zkserver::client::ZkClient;
use zkserver::jute::records::{GetDataResponse, ReconfigRequest};
use zkserver::jute::Record;
use zkserver::quorum::quorum_packet::{self as qp, packet, write_packet};
use zkserver::zoo_defs::{ids, op_code, CreateMode};

const DEADLINE: Duration = Duration::from_secs(40);

/// One figure of node `sid`'s mntr, if it serves.
fn mntr(ens: &Ensemble, sid: i64, key: &str) -> Option<String> {
    let out = four_letter(&ens.node(sid).client_addr(), "mntr").ok()?;
    out.lines().find_map(|l| l.strip_prefix(&format!("zk_{key}\t")).map(str::to_string))
}

/// The voter observer `sid` syncs from, once it is one of `followers`.
#[track_caller]
fn wait_observer_master(ens: &Ensemble, sid: i64, followers: &[i64]) -> i64 {
    let mut seen = None;
    let ok = wait_until(DEADLINE, || {
        seen = mntr(ens, sid, "observer_master_id").and_then(|v| v.parse::<i64>().ok());
        seen.is_some_and(|m| followers.contains(&m))
    });
    assert!(ok, "observer {sid} syncs from {seen:?}, not one of {followers:?}\n{}", ens.logs());
    seen.unwrap_or(-1)
}

fn write(ens: &Ensemble, sid: i64, path: &str, acked: &mut Vec<(String, Vec<u8>)>) {
    ens.client(sid)
        .create(path, Some(b"v"), &ids::open_acl_unsafe(), CreateMode::Persistent)
        .unwrap_or_else(|e| panic!("create {path} through node {sid}: {e}\n{}", ens.logs()));
    acked.push((path.to_string(), b"v".to_vec()));
}

/// A session that outlives the observer's move to another master.
const SESSION_MS: i32 = 30_000;

/// Whether node `sid` holds `path`, after a sync.
fn has(ens: &Ensemble, sid: i64, path: &str) -> bool {
    let c = ens.client(sid);
    let _ = c.sync("/");
    let found = matches!(c.exists(path, false), Ok(Some(_)));
    let _ = c.close();
    found
}

/// Resumes session (`id`, `passwd`) on node `sid`, retried while the node
/// syncs again.
fn resume(ens: &Ensemble, sid: i64, id: i64, passwd: &[u8]) -> ZkClient {
    let addr = ens.node(sid).client_addr();
    let mut last = None;
    let mut out = None;
    let ok = wait_until(DEADLINE, || match ZkClient::connect_with_session(addr.as_str(), SESSION_MS, id, passwd) {
        Ok(c) => {
            out = Some(c);
            true
        }
        Err(e) => {
            last = Some(e);
            false
        }
    });
    assert!(ok, "session 0x{id:x} not resumed on node {sid}: {last:?}\n{}", ens.logs());
    out.unwrap_or_else(|| unreachable!())
}

/// A zkserver follower's ObserverMaster closes what is not an observer (a
/// follower's registration, a bogus packet); its observer stays synced.
fn assert_strangers_refused(ens: &Ensemble, master: i64, port: &str) {
    let addr = format!("{}:{port}", ens.node(master).host);
    let mut info = 2i64.to_be_bytes().to_vec();
    info.extend_from_slice(&qp::PROTOCOL_VERSION.to_be_bytes());
    info.extend_from_slice(&0i64.to_be_bytes());
    let mut followerinfo = Vec::new();
    write_packet(&mut followerinfo, &packet(qp::FOLLOWERINFO, 0, Some(info))).expect("encode");
    let mut oversized = qp::OBSERVERINFO.to_be_bytes().to_vec();
    oversized.extend_from_slice(&0i64.to_be_bytes());
    oversized.extend_from_slice(&i32::MAX.to_be_bytes());
    for (what, bytes) in [("a FOLLOWERINFO", followerinfo), ("an oversized length prefix", oversized)] {
        let mut s = raw_connect(&addr);
        let _ = s.write_all(&bytes);
        assert!(closed_by_server(&mut s, Duration::from_secs(20)), "{addr} kept the connection after {what}\n{}", ens.logs());
    }
    assert_eq!(mntr(ens, master, "synced_observers").as_deref(), Some("1"), "the observer left\n{}", ens.logs());
}

/// A running ensemble whose observer syncs from a follower.
struct Observed {
    ens: Ensemble,
    leader: i64,
    /// The followers with observerMasterPort.
    followers: Vec<i64>,
    /// The one the observer syncs from.
    master: i64,
    /// observerMasterPort.
    port: String,
}

/// Voters 1-3 of `voters`, observer 4 of flavor `observer`; `masters` are
/// the voters given observerMasterPort (the observer has it too); the
/// voters `first` start, and settle, before the others; every node gets
/// the system properties `props` and the zoo.cfg lines `cfg`. Returns once
/// the observer syncs from a follower, which counts it, never from the
/// leader.
fn observed(
    voters: [Flavor; 3],
    observer: Flavor,
    masters: &[i64],
    first: &[i64],
    props: &[(&str, &str)],
    cfg: &[(&str, &str)],
    net: u8,
) -> Observed {
    let mut ens = Ensemble::new_on_hosts(&[voters[0], voters[1], voters[2], observer], cfg, net);
    for (k, v) in props {
        ens.set_system_property(k, v);
    }
    ens.make_observer(4);
    let port = free_port().to_string();
    for &sid in masters.iter().chain(&[4]) {
        ens.set_cfg(sid, "observerMasterPort", &port);
    }
    if !first.is_empty() {
        // A quorum of its own: from the same zxid, its highest sid leads.
        for &sid in first {
            ens.start(sid);
        }
        ens.settled_leader(first);
    }
    for sid in 1..=4 {
        if !first.contains(&sid) {
            ens.start(sid);
        }
    }
    let leader = ens.settled_leader(&[1, 2, 3]);
    let followers: Vec<i64> = masters.iter().copied().filter(|s| *s != leader).collect();
    assert_eq!(followers.len(), 2, "leader {leader} should be the voter without the key\n{}", ens.logs());
    let master = wait_observer_master(&ens, 4, &followers);
    ens.wait_mode(4, "observer");
    let ok = wait_until(DEADLINE, || mntr(&ens, master, "synced_observers").as_deref() == Some("1"));
    assert!(ok, "follower {master} does not count the observer: {:?}\n{}", mntr(&ens, master, "synced_observers"), ens.logs());
    assert_eq!(mntr(&ens, leader, "synced_observers").as_deref(), Some("0"), "the leader serves the observer");
    Observed { ens, leader, followers, master, port }
}

/// As `observed`; then writes, syncs, a session and its ephemeral through
/// the observer reach every server, and when its master dies the observer
/// moves to the other follower, losing nothing, the session revalidated.
fn observe_through_observer_masters(
    voters: [Flavor; 3],
    observer: Flavor,
    masters: &[i64],
    first: &[i64],
    props: &[(&str, &str)],
    net: u8,
) {
    let Observed { mut ens, leader, followers, master, port } =
        observed(voters, observer, masters, first, props, &[("maxSessionTimeout", "60000")], net);

    let mut acked = Vec::new();
    write(&ens, leader, "/om-leader", &mut acked);
    write(&ens, 4, "/om-observer", &mut acked);
    // assert_has_all syncs first: the observer's sync is answered through
    // its master.
    for sid in 1..=4 {
        ens.assert_has_all(sid, &acked);
    }
    // A session on the observer: its ephemeral is everywhere.
    let session = ZkClient::connect(ens.node(4).client_addr().as_str(), SESSION_MS).expect("session on the observer");
    session
        .create("/om-ephemeral", Some(b"e"), &ids::open_acl_unsafe(), CreateMode::Ephemeral)
        .unwrap_or_else(|e| panic!("ephemeral through the observer: {e}\n{}", ens.logs()));
    for sid in 1..=4 {
        assert!(has(&ens, sid, "/om-ephemeral"), "node {sid} lacks the observer's ephemeral\n{}", ens.logs());
    }
    let (id, passwd) = (session.session_id(), session.session_passwd().to_vec());
    session.disconnect();
    if ens.node(master).flavor == Flavor::Zkserver {
        assert_strangers_refused(&ens, master, &port);
    }

    // The follower it syncs from dies: it moves to the other one, and
    // nothing acknowledged is lost.
    ens.kill9(master);
    let other: Vec<i64> = followers.iter().copied().filter(|s| *s != master).collect();
    wait_observer_master(&ens, 4, &other);
    let ok = wait_until(DEADLINE, || mntr(&ens, other[0], "synced_observers").as_deref() == Some("1"));
    assert!(ok, "follower {} does not count the observer\n{}", other[0], ens.logs());
    write(&ens, 4, "/om-moved", &mut acked);
    for sid in [leader, other[0], 4] {
        ens.assert_has_all(sid, &acked);
    }
    // The session resumes on the observer (revalidated by the leader
    // through the new master) and still owns its ephemeral; closed, the
    // ephemeral goes everywhere.
    let session = resume(&ens, 4, id, &passwd);
    assert!(matches!(session.exists("/om-ephemeral", false), Ok(Some(_))), "the ephemeral is gone\n{}", ens.logs());
    session.close().unwrap_or_else(|e| panic!("close through the observer: {e}\n{}", ens.logs()));
    for sid in [leader, other[0], 4] {
        let ok = wait_until(DEADLINE, || !has(&ens, sid, "/om-ephemeral"));
        assert!(ok, "node {sid} keeps the closed session's ephemeral\n{}", ens.logs());
    }
}

#[test]
fn a_zkserver_observer_syncs_from_java_followers_observer_masters() {
    // All three voters have the key; whichever leads, the observer uses a
    // follower.
    observe_through_observer_masters([Flavor::Java; 3], Flavor::Zkserver, &[1, 2, 3], &[], &[], 211);
}

#[test]
fn a_java_follower_relays_a_zkserver_observer_to_a_zkserver_leader() {
    // From the same zxid the highest sid, zkserver 3 (without the key),
    // leads; the observer's requests reach it through a Java follower.
    observe_through_observer_masters([Flavor::Java, Flavor::Java, Flavor::Zkserver], Flavor::Zkserver, &[1, 2], &[], &[], 212);
}

#[test]
fn a_zkserver_observer_syncs_from_zkserver_followers_observer_masters() {
    observe_through_observer_masters([Flavor::Zkserver; 3], Flavor::Zkserver, &[1, 2, 3], &[], &[], 213);
}

#[test]
fn a_java_observer_syncs_from_zkserver_followers_observer_masters() {
    // Java 3 (without the key) leads, elected by 1 before 2 starts; the
    // Java observer syncs from, and writes through, the zkserver
    // followers.
    observe_through_observer_masters([Flavor::Zkserver, Flavor::Zkserver, Flavor::Java], Flavor::Java, &[1, 2], &[1, 3], &[], 214);
}

#[test]
fn a_zkserver_observer_syncs_by_snapshot_from_a_small_cache() {
    // Every sync a SNAP streamed from the follower's tree, and a cache of
    // recent commits kept to a few packets: the observer still gets
    // everything, through either follower.
    let props = [("zookeeper.forceSnapshotSync", "true"), ("zookeeper.observerMaster.sizeLimit", "1024")];
    observe_through_observer_masters([Flavor::Zkserver; 3], Flavor::Zkserver, &[1, 2, 3], &[], &props, 215);
}

#[test]
fn a_reconfig_reaches_the_observer_through_its_master() {
    // reconfigEnabled: the follower turns the leader's COMMITANDACTIVATE
    // into INFORMANDACTIVATE for its observer, which takes the new
    // configuration and stays with its master.
    let props = [("zookeeper.DigestAuthenticationProvider.superDigest", "super:D/InIHSb7yEEbrWz8b9l71RjZJU=")];
    let Observed { ens, leader, master, .. } =
        observed([Flavor::Zkserver; 3], Flavor::Zkserver, &[1, 2, 3], &[], &props, &[("reconfigEnabled", "true")], 216);
    let moved = ens.node(master);
    let line = format!(
        "server.{}={}:{}:{}:participant;{}:{}",
        moved.sid,
        moved.host,
        moved.quorum_port,
        moved.election_port,
        moved.host,
        free_port()
    );
    let admin = ens.client(leader);
    admin.add_auth("digest", b"super:test").expect("addauth");
    let req = ReconfigRequest { joining_servers: Some(line.clone()), leaving_servers: None, new_members: None, cur_config_id: -1 };
    let reply = admin.submit(op_code::RECONFIG, &req).expect("reconfig reply");
    assert_eq!(reply.header.err, 0, "reconfig refused\n{}", ens.logs());
    let config = GetDataResponse::from_bytes(&reply.body).expect("GetDataResponse").data.unwrap_or_default();
    assert!(String::from_utf8_lossy(&config).contains(&line), "{}", String::from_utf8_lossy(&config));
    let observer = ens.client(4);
    let mut last = None;
    let ok = wait_until(DEADLINE, || {
        let _ = observer.sync("/");
        last = observer.get_data("/zookeeper/config", false).ok().and_then(|(d, _)| d);
        last.as_deref() == Some(config.as_slice())
    });
    assert!(ok, "the observer holds {:?}\n{}", last.map(|d| String::from_utf8_lossy(&d).into_owned()), ens.logs());
    // Activated, not only applied: it wrote the new dynamic file.
    let text = String::from_utf8_lossy(&config).into_owned();
    let version = text.lines().find_map(|l| l.strip_prefix("version=")).unwrap_or_default();
    let dynamic = ens.node(4).cfg_path().with_file_name(format!("zoo.cfg.dynamic.{version}"));
    assert!(wait_until(DEADLINE, || dynamic.exists()), "the observer has no {}\n{}", dynamic.display(), ens.logs());
    assert_eq!(mntr(&ens, 4, "observer_master_id"), Some(master.to_string()), "the observer left its master\n{}", ens.logs());
    let mut acked = Vec::new();
    write(&ens, 4, "/om-after-reconfig", &mut acked);
    ens.assert_has_all(leader, &acked);
}
