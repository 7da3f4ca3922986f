//! Local sessions (localSessionsEnabled, localSessionsUpgradingEnabled) on
//! a 3-node ensemble, the same scenario on Java 3.8 and on zkserver: a
//! follower's new session is local (its id carries the follower's sid in
//! the top byte) and does not move to another server; creating an
//! ephemeral upgrades it to a global session (same id, now movable), or
//! fails with EPHEMERALONLOCALSESSION when upgrading is off; a local
//! session that goes silent expires on the server that owns it; mntr,
//! dump and cons show the sessions as Java shows them. A standalone
//! server ignores localSessionsEnabled.

mod common;

use common::ensemble::Ensemble;
use common::{assert_code, four_letter, wait_until, Flavor, ServerOpts, TestServer};
use std::time::Duration;
use zkserver::client::client_cnxn::{create_flag, ZkClient};
use zkserver::jute::multi::{MultiOperationRecord, MultiResponse, Op, OpResult};
use zkserver::jute::records::CreateTtlRequest;
use zkserver::jute::{InputArchive, OutputArchive};
use zkserver::zoo_defs::{code, ids, op_code, CreateMode};

const DEADLINE: Duration = Duration::from_secs(30);

/// mntr's value of `key` (without the `zk_` prefix) on `addr`.
fn mntr(addr: &str, key: &str) -> Option<String> {
    let out = four_letter(addr, "mntr").ok()?;
    let prefix = format!("zk_{key}\t");
    out.lines().find_map(|l| l.strip_prefix(prefix.as_str())).map(str::to_string)
}

/// Waits until mntr on `addr` reports (local_sessions, global_sessions).
#[track_caller]
fn wait_counts(ens: &Ensemble, addr: &str, local: u32, global: u32) {
    let want = (Some(local.to_string()), Some(global.to_string()));
    let mut last = (None, None);
    let ok = wait_until(DEADLINE, || {
        last = (mntr(addr, "local_sessions"), mntr(addr, "global_sessions"));
        last == want
    });
    assert!(ok, "{addr}: (local, global) sessions {last:?}, wanted {want:?}\n{}", ens.logs());
}

fn create(c: &ZkClient, path: &str, mode: CreateMode) -> Result<String, zkserver::client::ZkError> {
    c.create(path, Some(b"x"), &ids::open_acl_unsafe(), mode)
}

/// A multi creating `paths` with `modes`: the reply header's error and
/// each op's error (0 for success).
fn multi_create(c: &ZkClient, nodes: &[(&str, CreateMode)]) -> (i32, Vec<i32>) {
    let ops = nodes
        .iter()
        .map(|(path, mode)| Op::Create {
            op_type: op_code::CREATE,
            req: CreateTtlRequest {
                path: path.to_string(),
                data: None,
                acl: ids::open_acl_unsafe(),
                flags: create_flag(*mode),
                ttl: -1,
            },
        })
        .collect();
    let mut oa = OutputArchive::new();
    MultiOperationRecord { ops }.serialize(&mut oa);
    let reply = c.submit_bytes(op_code::MULTI, &oa.into_inner()).expect("multi reply");
    let rsp = MultiResponse::deserialize(&mut InputArchive::new(&reply.body)).expect("MultiResponse");
    let errs = rsp.results.iter().map(|r| if let OpResult::Error { err } = r { *err } else { 0 }).collect();
    (reply.header.err, errs)
}

/// An ensemble of `flavors` (sids 1, 2, 3) with local sessions on.
fn local_sessions_ensemble(flavors: &[Flavor], upgrading: bool) -> Ensemble {
    Ensemble::new(
        flavors,
        &[("localSessionsEnabled", "true"), ("localSessionsUpgradingEnabled", if upgrading { "true" } else { "false" })],
    )
}

/// A settled ensemble of `flavors` with local sessions on; returns it, the
/// leader and one follower.
fn ensemble(flavors: &[Flavor], upgrading: bool) -> (Ensemble, i64, i64) {
    let mut ens = local_sessions_ensemble(flavors, upgrading);
    ens.start_all();
    let leader = ens.settled_leader(&[1, 2, 3]);
    let follower = if leader == 1 { 2 } else { 1 };
    (ens, leader, follower)
}

/// The upgrade scenario on all three members (sids 1, 2, 3) of `flavors`,
/// the sessions made on a follower.
fn upgrade_scenario(flavors: &[Flavor]) {
    let (ens, leader, f) = ensemble(flavors, true);
    let other = [1, 2, 3].into_iter().find(|s| *s != leader && *s != f).expect("a third node");
    upgrade_on(&ens, leader, f, other, false);
}

/// Node `f`'s local session upgrades (through a create2, or a multi
/// with an ephemeral among its creates) and moves to node `other`; another
/// expires on `f` unknown to `leader`.
fn upgrade_on(ens: &Ensemble, leader: i64, f: i64, other: i64, via_multi: bool) {
    let f_addr = ens.node(f).client_addr();

    // A local session: the follower's sid in the top byte, counted as
    // local there and nowhere else.
    let c = ens.client(f);
    let (id, pw) = (c.session_id(), c.session_passwd().to_vec());
    assert_eq!(id >> 56, f, "session 0x{id:x} from follower {f}");
    wait_counts(ens, &f_addr, 1, 0);
    let dump = four_letter(&f_addr, "dump").expect("dump");
    assert!(dump.contains("Local Session Sets (") && dump.contains(&format!("\t0x{id:x}\n")), "{dump}");
    assert!(dump.contains("Global Sessions(0):"), "{dump}");
    // Buckets print their time as Java's Date does ("... UTC 2026").
    let bucket = dump.lines().find(|l| l.contains(" expire at ")).unwrap_or_default();
    assert!(bucket.contains(" UTC ") && bucket.ends_with(':'), "{dump}");
    let cons = four_letter(&f_addr, "cons").expect("cons");
    assert!(cons.contains(&format!("sid=0x{id:x}")), "{cons}");
    // It writes through the leader like any session.
    create(&c, "/plain", CreateMode::Persistent).expect("a persistent node from a local session");
    // It does not move: the other servers do not know it.
    for s in [leader, other] {
        let moved = ZkClient::connect_with_session(ens.node(s).client_addr(), 6000, id, &pw);
        assert!(moved.is_err(), "local session 0x{id:x} moved to node {s}");
    }
    // Still alive on its own server.
    assert!(c.exists("/plain", false).expect("exists").is_some());

    // The first ephemeral upgrades it: same id, global everywhere.
    if via_multi {
        let done = multi_create(&c, &[("/m", CreateMode::Persistent), ("/eph", CreateMode::Ephemeral)]);
        assert_eq!(done, (0, vec![0, 0]));
    } else {
        let (_, stat) = c.create2("/eph", Some(b"e"), &ids::open_acl_unsafe(), CreateMode::Ephemeral).expect("upgrade");
        assert_eq!(stat.ephemeral_owner, id);
    }
    assert!(ens.node(f).log().contains(&format!("Upgrading session 0x{id:x}")), "{}", ens.logs());
    wait_counts(ens, &f_addr, 0, 1);
    let dump = four_letter(&f_addr, "dump").expect("dump");
    assert!(dump.contains(&format!("Global Sessions(1):\n0x{id:x}\t")), "{dump}");
    // A global session moves; its ephemeral stays with it.
    c.disconnect();
    let moved = ZkClient::connect_with_session(ens.node(other).client_addr(), 6000, id, &pw)
        .unwrap_or_else(|e| panic!("upgraded session 0x{id:x} did not move to node {other}: {e}\n{}", ens.logs()));
    moved.sync("/eph").expect("sync");
    assert_eq!(moved.exists("/eph", false).expect("exists").map(|s| s.ephemeral_owner), Some(id));
    moved.close().expect("close");
    let w = ens.client(leader);
    w.sync("/eph").expect("sync");
    assert!(w.exists("/eph", false).expect("exists").is_none(), "closing the upgraded session drops its ephemeral");

    // A silent local session expires on its server, which alone knew it.
    let silent = ZkClient::connect(f_addr.as_str(), 1000).expect("short session");
    let (sid2, pw2) = (silent.session_id(), silent.session_passwd().to_vec());
    assert_eq!(sid2 >> 56, f);
    silent.disconnect();
    wait_counts(ens, &f_addr, 0, 0);
    assert!(ens.node(f).log().contains(&format!("Expiring session 0x{sid2:x}")), "{}", ens.logs());
    assert!(!ens.node(leader).log().contains(&format!("0x{sid2:x}")), "the leader heard of a local session");
    assert!(ZkClient::connect_with_session(f_addr.as_str(), 1000, sid2, &pw2).is_err(), "expired local session came back");
}

#[test]
fn a_local_session_upgrades_on_its_first_ephemeral_as_java() {
    for flavor in [Flavor::Java, Flavor::Zkserver] {
        upgrade_scenario(&[flavor; 3]);
    }
}

/// Mixed ensembles: a zkserver follower's local session upgrades through
/// a Java leader, a Java follower's through a zkserver leader (the highest
/// sid leads a fresh ensemble; the scenario copes with any leader).
#[test]
fn local_sessions_upgrade_across_java_and_zkserver() {
    use Flavor::{Java, Zkserver};
    for flavors in [[Zkserver, Java, Java], [Java, Java, Zkserver]] {
        upgrade_scenario(&flavors);
    }
}

/// An observer's sessions are local too, and upgrade the same way (here
/// through a multi).
#[test]
fn an_observers_local_session_upgrades_as_java() {
    for flavor in [Flavor::Java, Flavor::Zkserver] {
        let mut ens = local_sessions_ensemble(&[flavor; 3], true);
        ens.make_observer(3);
        ens.start_all();
        let leader = ens.settled_leader(&[1, 2]);
        ens.wait_mode(3, "observer");
        let follower = if leader == 1 { 2 } else { 1 };
        upgrade_on(&ens, leader, 3, follower, true);
    }
}

/// With upgrading off, on a follower and on the leader of `flavors`;
/// returns what a multi with an ephemeral among its creates got on each.
fn no_upgrade_scenario(flavors: &[Flavor]) -> Vec<(i32, Vec<i32>)> {
    let (ens, leader, f) = ensemble(flavors, false);
    let mut multis = Vec::new();
    for s in [f, leader] {
        let flavor = ens.node(s).flavor;
        let c = ens.client(s);
        assert_eq!(c.session_id() >> 56, s, "{flavor:?} node {s}");
        assert_code(create(&c, &format!("/eph{s}"), CreateMode::Ephemeral), code::EPHEMERAL_ON_LOCAL_SESSION);
        assert_code(create(&c, &format!("/seq{s}-"), CreateMode::EphemeralSequential), code::EPHEMERAL_ON_LOCAL_SESSION);
        // The session lives on, still local.
        let path = format!("/p{s}");
        create(&c, &path, CreateMode::Persistent).expect("persistent create");
        let (m, me) = (format!("/m{s}"), format!("/me{s}"));
        multis.push(multi_create(&c, &[(m.as_str(), CreateMode::Persistent), (me.as_str(), CreateMode::Ephemeral)]));
        assert!(c.exists(&m, false).expect("exists").is_none(), "a failed multi left {m}");
        assert_eq!(mntr(&ens.node(s).client_addr(), "local_sessions").as_deref(), Some("1"), "{flavor:?} node {s}");
        assert_eq!(mntr(&ens.node(s).client_addr(), "global_sessions").as_deref(), Some("0"), "{flavor:?} node {s}");
        if s == leader {
            let dump = four_letter(&ens.node(s).client_addr(), "dump").expect("dump");
            // The local session in the local section, no global ones (a
            // touched session may leave an empty set behind in both).
            let local = dump.split_once("Global Session Sets (").map(|(l, _)| l).unwrap_or_default();
            assert!(local.starts_with("SessionTracker dump:\nLocal Session Sets ("), "{flavor:?}:\n{dump}");
            assert!(local.contains(&format!("\t0x{:x}\n", c.session_id())), "{flavor:?}:\n{dump}");
            assert!(dump.contains("Global Session Sets (0)/(0):\n"), "{flavor:?}:\n{dump}");
        }
        c.close().expect("close");
    }
    multis
}

#[test]
fn without_upgrading_an_ephemeral_on_a_local_session_fails_as_java() {
    let java = no_upgrade_scenario(&[Flavor::Java; 3]);
    assert_eq!(no_upgrade_scenario(&[Flavor::Zkserver; 3]), java, "multi outcomes on a follower and the leader");
}

/// The same across flavors: the leader refuses a follower's ephemeral as
/// its session is not global, the follower reports EPHEMERALONLOCALSESSION.
#[test]
fn without_upgrading_mixed_ensembles_refuse_ephemerals_alike() {
    use Flavor::{Java, Zkserver};
    // What Java 3.8 answers alone: the leader's own local session learns
    // EPHEMERALONLOCALSESSION in its multi, a follower's learns that the
    // leader knows no such global session.
    let java = vec![(0, vec![0, code::SESSION_EXPIRED]), (0, vec![0, code::EPHEMERAL_ON_LOCAL_SESSION])];
    assert_eq!(no_upgrade_scenario(&[Zkserver, Java, Java]), java, "zkserver follower, Java leader");
    assert_eq!(no_upgrade_scenario(&[Java, Java, Zkserver]), java, "Java follower, zkserver leader");
}

#[test]
fn a_standalone_server_ignores_local_sessions_as_java() {
    for flavor in [Flavor::Java, Flavor::Zkserver] {
        let s = TestServer::start_with(flavor, ServerOpts::default().cfg("localSessionsEnabled", "true"));
        let c = s.client();
        create(&c, "/eph", CreateMode::Ephemeral).expect("an ephemeral on a standalone session");
        assert_eq!(mntr(&s.addr(), "local_sessions").as_deref(), Some("0"), "{flavor:?}");
        assert_eq!(mntr(&s.addr(), "global_sessions").as_deref(), Some("1"), "{flavor:?}");
    }
}
