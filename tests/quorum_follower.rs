//! zkserver as a follower (and observer) of a Java 3.8 leader: the Java
//! nodes hold the higher sids so one of them leads. The zkserver node must
//! sync (SNAP when empty, DIFF after missing a few writes), serve reads of
//! what was written through Java nodes, forward its clients' writes, drop a
//! closed session's ephemerals everywhere, take over a session from a Java
//! node, and say "Mode: follower"/"observer".

mod common;

use common::ensemble::Ensemble;
use common::{four_letter, is_serving, wait_until, Flavor};
use std::time::Duration;
use zkserver::client::client_cnxn::ZkClient;
use zkserver::zoo_defs::{ids, CreateMode};

const DEADLINE: Duration = Duration::from_secs(40);

/// Makes Java leaders sync an empty learner by SNAP (no DIFF from the
/// txn log): QuorumPeerConfig turns the key into zookeeper.snapshotSizeFactor.
const NO_TXNLOG_DIFF: (&str, &str) = ("snapshotSizeFactor", "0");

#[track_caller]
fn wait_serving(ens: &Ensemble, sid: i64) {
    let addr = ens.node(sid).client_addr();
    assert!(wait_until(DEADLINE, || is_serving(&addr)), "node {sid} does not serve\n{}", ens.logs());
}

fn client(ens: &Ensemble, sid: i64) -> ZkClient {
    ZkClient::connect(ens.node(sid).client_addr(), 6000).expect("connect")
}

fn create(c: &ZkClient, path: &str, data: &[u8], mode: CreateMode) {
    c.create(path, Some(data), &ids::open_acl_unsafe(), mode).unwrap_or_else(|e| panic!("create {path}: {e}"));
}

/// Data of `path` as seen through node `sid`, after a sync.
fn read_synced(ens: &Ensemble, sid: i64, path: &str) -> Option<Vec<u8>> {
    let c = client(ens, sid);
    c.sync(path).expect("sync");
    c.get_data(path, false).ok().and_then(|(d, _)| d)
}

/// Starts the Java nodes 2 and 3 and waits for them to serve.
fn java_pair(zk_flavors: &[Flavor], extra: &[(&str, &str)]) -> Ensemble {
    let mut flavors = zk_flavors.to_vec();
    flavors.extend([Flavor::Java, Flavor::Java]);
    let mut ens = Ensemble::new(&flavors, extra);
    let n = flavors.len() as i64;
    ens.start(n - 1);
    ens.start(n);
    wait_serving(&ens, n - 1);
    wait_serving(&ens, n);
    ens
}

#[test]
fn zkserver_follows_a_java_leader() {
    let mut ens = java_pair(&[Flavor::Zkserver], &[NO_TXNLOG_DIFF]);
    let j = client(&ens, 3);
    create(&j, "/before", b"written before the follower joined", CreateMode::Persistent);

    // SNAP: the empty zkserver node loads the leader's snapshot.
    ens.start(1);
    wait_serving(&ens, 1);
    assert_eq!(ens.mode(1).as_deref(), Some("follower"));
    assert!(ens.node(1).log().contains("Getting a snapshot from leader"), "{}", ens.logs());
    assert_eq!(read_synced(&ens, 1, "/before").as_deref(), Some(&b"written before the follower joined"[..]));

    // Writes through the zkserver node reach the Java nodes.
    let z = client(&ens, 1);
    create(&z, "/from-zk", b"forwarded", CreateMode::Persistent);
    z.set_data("/before", Some(b"changed through zk"), -1).expect("setData through the follower");
    for sid in [2, 3] {
        assert_eq!(read_synced(&ens, sid, "/from-zk").as_deref(), Some(&b"forwarded"[..]), "node {sid}");
        assert_eq!(read_synced(&ens, sid, "/before").as_deref(), Some(&b"changed through zk"[..]), "node {sid}");
    }
    // Writes through Java show on the zkserver node.
    create(&j, "/from-java", b"j", CreateMode::Persistent);
    assert_eq!(read_synced(&ens, 1, "/from-java").as_deref(), Some(&b"j"[..]));

    // Ephemerals of a zkserver session vanish everywhere when it closes.
    let e = client(&ens, 1);
    create(&e, "/eph", b"", CreateMode::Ephemeral);
    for sid in [1, 2, 3] {
        let c = client(&ens, sid);
        c.sync("/eph").expect("sync");
        assert!(c.exists("/eph", false).expect("exists").is_some(), "node {sid} misses /eph");
    }
    e.close().expect("close");
    for sid in [1, 2, 3] {
        let c = client(&ens, sid);
        c.sync("/eph").expect("sync");
        assert!(c.exists("/eph", false).expect("exists").is_none(), "node {sid} still has /eph");
    }

    // A session moves from a Java node to the zkserver node and back.
    let moving = client(&ens, 2);
    create(&moving, "/moving-eph", b"", CreateMode::Ephemeral);
    let (id, pw) = (moving.session_id(), moving.session_passwd().to_vec());
    moving.disconnect();
    let on_zk = ZkClient::connect_with_session(ens.node(1).client_addr(), 6000, id, &pw).expect("resume on zk");
    assert_eq!(on_zk.session_id(), id);
    create(&on_zk, "/moved", b"", CreateMode::Persistent);
    on_zk.disconnect();
    let back = ZkClient::connect_with_session(ens.node(3).client_addr(), 6000, id, &pw).expect("resume on java");
    assert!(back.exists("/moving-eph", false).expect("exists").is_some());
    back.close().expect("close");
    // A wrong password is refused by the leader's answer to REVALIDATE too.
    assert!(ZkClient::connect_with_session(ens.node(1).client_addr(), 6000, id, &[0u8; 16]).is_err());

    // DIFF: the zkserver node misses a few writes while down.
    ens.kill9(1);
    for i in 0..5 {
        create(&j, &format!("/missed-{i}"), b"m", CreateMode::Persistent);
    }
    ens.start(1);
    wait_serving(&ens, 1);
    assert!(ens.node(1).log().contains("Getting a diff from the leader"), "{}", ens.logs());
    for i in 0..5 {
        assert_eq!(read_synced(&ens, 1, &format!("/missed-{i}")).as_deref(), Some(&b"m"[..]));
    }
    assert_eq!(read_synced(&ens, 1, "/from-zk").as_deref(), Some(&b"forwarded"[..]));
    let mntr = four_letter(&ens.node(1).client_addr(), "mntr").unwrap_or_default();
    assert!(mntr.contains("zk_server_state\tfollower"), "{mntr}");
}


#[test]
fn zkserver_observes_a_java_leader() {
    let mut flavors = vec![Flavor::Zkserver];
    flavors.extend([Flavor::Java, Flavor::Java]);
    let mut ens = Ensemble::new(&flavors, &[]);
    ens.make_observer(1);
    ens.start(2);
    ens.start(3);
    wait_serving(&ens, 2);
    wait_serving(&ens, 3);
    let j = client(&ens, 2);
    create(&j, "/seen", b"before", CreateMode::Persistent);

    ens.start(1);
    wait_serving(&ens, 1);
    assert_eq!(ens.mode(1).as_deref(), Some("observer"));
    assert_eq!(read_synced(&ens, 1, "/seen").as_deref(), Some(&b"before"[..]));
    // INFORMs keep it current; its writes go through the leader.
    create(&j, "/informed", b"i", CreateMode::Persistent);
    assert_eq!(read_synced(&ens, 1, "/informed").as_deref(), Some(&b"i"[..]));
    let o = client(&ens, 1);
    create(&o, "/from-observer", b"o", CreateMode::Persistent);
    o.set_data("/seen", Some(b"after"), -1).expect("setData through the observer");
    for sid in [2, 3] {
        assert_eq!(read_synced(&ens, sid, "/from-observer").as_deref(), Some(&b"o"[..]), "node {sid}");
        assert_eq!(read_synced(&ens, sid, "/seen").as_deref(), Some(&b"after"[..]), "node {sid}");
    }
    let mntr = four_letter(&ens.node(1).client_addr(), "mntr").unwrap_or_default();
    assert!(mntr.contains("zk_server_state\tobserver"), "{mntr}");
}

#[test]
fn two_zkservers_follow_one_java_leader() {
    let mut ens = Ensemble::new(&[Flavor::Zkserver, Flavor::Zkserver, Flavor::Java], &[]);
    ens.start(3);
    ens.start(1);
    wait_serving(&ens, 3);
    wait_serving(&ens, 1);
    ens.start(2);
    wait_serving(&ens, 2);
    assert_eq!(ens.mode(3).as_deref(), Some("leader"));
    assert_eq!(ens.mode(1).as_deref(), Some("follower"));
    assert_eq!(ens.mode(2).as_deref(), Some("follower"));
    for (i, sid) in [1i64, 2, 3].iter().enumerate() {
        let c = client(&ens, *sid);
        create(&c, &format!("/w{i}"), format!("via {sid}").as_bytes(), CreateMode::Persistent);
    }
    for sid in [1, 2, 3] {
        for (i, via) in [1i64, 2, 3].iter().enumerate() {
            let want = format!("via {via}");
            assert_eq!(read_synced(&ens, sid, &format!("/w{i}")).as_deref(), Some(want.as_bytes()), "node {sid}");
        }
    }
    // The leader dies: both followers notice (socket error or syncLimit
    // without a PING), end the role and look for a leader again.
    ens.kill9(3);
    for sid in [1, 2] {
        assert!(
            wait_until(DEADLINE, || ens.node(sid).log().contains("PeerState set to LOOKING")),
            "node {sid} did not go back to LOOKING\n{}",
            ens.logs()
        );
    }
}
