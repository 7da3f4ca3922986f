//! Quorum SASL (`quorum.auth.*`), on zkserver alone and mixed with Java
//! 3.8 nodes (the leader on either side), every node given the JAAS file
//! through `-Djava.security.auth.login.config`. DIGEST-MD5: ensembles that
//! require SASL elect and replicate; a peer with a wrong password (zkserver
//! or Java) is refused by zkserver and Java peers alike and stays out while
//! the others keep a quorum, and joins once its password is right; Java's
//! rolling-upgrade step (enableSasl=true without require) takes a peer
//! without SASL. Kerberos (GSSAPI, against a KDC the test starts): the same
//! for zkserver alone (with `zkquorum/_HOST`) and mixed with Java, a
//! learner whose principal names a host outside the server list is refused
//! by zkserver and Java alike, and a keytab without the learner's principal
//! refuses start-up.

mod common;

use common::ensemble::Ensemble;
use common::kdc::Kdc;
use common::{quorum_jaas as jaas, wait_until, Flavor, QUORUM_SASL_REQUIRED as REQUIRE};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn with_jaas(flavors: &[Flavor], extra: &[(&str, &str)], file: &Path) -> Ensemble {
    let mut ens = Ensemble::new(flavors, extra);
    ens.set_system_property("java.security.auth.login.config", file.to_str().expect("utf-8 path"));
    ens
}

#[test]
fn zkserver_ensemble_requiring_sasl_refuses_a_wrong_password_then_takes_the_right_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = jaas(&dir, "good.conf", "peer-pw");
    let bad = jaas(&dir, "bad.conf", "not-the-pw");
    let mut ens = with_jaas(&[Flavor::Zkserver; 3], REQUIRE, &good);
    ens.node_mut(3).system_properties = vec![("java.security.auth.login.config".into(), bad.display().to_string())];
    ens.start_all();

    // Sid 3 would lead; refused, it leaves 1 and 2 to form the quorum.
    assert_eq!(ens.settled_leader(&[1, 2]), 2);
    ens.replicates(&[1, 2], "two");
    let refused = wait_until(Duration::from_secs(20), || {
        let logs = ens.node(1).log() + &ens.node(2).log();
        logs.contains("Failed to authenticate using SASL") && logs.contains("Mismatched response")
    });
    assert!(refused, "no refusal logged\n{}", ens.logs());
    assert!(ens.node(3).log().contains("Authentication failed against server addr"), "{}", ens.logs());
    assert_eq!(ens.mode(3), None, "node 3 serves without authenticating\n{}", ens.logs());
    assert!(ens.node_mut(3).is_running());

    // With the right password it joins (as a follower: 2 leads already).
    ens.kill9(3);
    ens.node_mut(3).system_properties = vec![("java.security.auth.login.config".into(), good.display().to_string())];
    ens.start(3);
    ens.wait_mode(3, "follower");
    ens.replicates(&[1, 2, 3], "three");
}

/// A mixed ensemble requiring SASL; the two higher sids, one of which
/// leads, are of one flavor.
fn mixed(flavors: &[Flavor; 3]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = jaas(&dir, "good.conf", "peer-pw");
    authenticates_both_ways(with_jaas(flavors, REQUIRE, &good), flavors[2]);
}

/// Starts `ens`, whose leader must be of flavor `leader_flavor`, and checks
/// that it replicates and that each node authenticated others and was
/// authenticated itself.
fn authenticates_both_ways(mut ens: Ensemble, leader_flavor: Flavor) -> Ensemble {
    ens.start_all();
    let leader = ens.settled_leader(&[1, 2, 3]);
    assert_eq!(ens.node(leader).flavor, leader_flavor, "leader {leader} of the wrong kind\n{}", ens.logs());
    ens.replicates(&[1, 2, 3], "mixed");
    for sid in [1, 2, 3] {
        // Every node dials (a learner towards the leader, or an election
        // connection the higher sid keeps), so it was authenticated; every
        // node is dialed by a higher sid or by learners, so it
        // authenticated others, except sid 3 when it follows: the others
        // may find its election connection already there and never dial.
        // (A dial-back may still be on its way once the writes are done.)
        let sides: &[&str] = if sid == 3 && sid != leader { &["server addr"] } else { &["learner addr", "server addr"] };
        for side in sides {
            let line = format!("Successfully completed the authentication using SASL. {side}");
            let seen = wait_until(Duration::from_secs(20), || ens.node(sid).log().contains(&line));
            assert!(seen, "node {sid} lacks {line:?}\n{}", ens.logs());
        }
    }
    ens
}

#[test]
fn mixed_ensemble_with_a_zkserver_leader() {
    // Any two of them include a zkserver node with the higher sid.
    mixed(&[Flavor::Java, Flavor::Zkserver, Flavor::Zkserver]);
}

#[test]
fn mixed_ensemble_with_a_java_leader() {
    mixed(&[Flavor::Zkserver, Flavor::Java, Flavor::Java]);
}

#[test]
fn rolling_upgrade_enable_without_require_takes_a_peer_without_sasl() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = jaas(&dir, "good.conf", "peer-pw");
    // Node 1 (Java) has no quorum SASL yet; 2 and 3 have it enabled but
    // not required, as the first step of Java's rolling upgrade.
    let mut ens = with_jaas(&[Flavor::Java, Flavor::Zkserver, Flavor::Zkserver], &[], &good);
    for sid in [2, 3] {
        ens.set_cfg(sid, "quorum.auth.enableSasl", "true");
    }
    ens.start_all();
    ens.settled_leader(&[1, 2, 3]);
    ens.replicates(&[1, 2, 3], "upgrade");
    assert!(ens.node(3).log().contains("Skipping SASL authentication as quorum.auth.learnerRequireSasl=false"));
}

/// Sid 3 (`wrong`'s flavor) learns with a wrong password among a Java node
/// and a zkserver node: both refuse it (logged), and they keep a quorum.
fn wrong_password_beside_java(wrong: Flavor) {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = jaas(&dir, "good.conf", "peer-pw");
    let bad = jaas(&dir, "bad.conf", "not-the-pw");
    let mut ens = with_jaas(&[Flavor::Java, Flavor::Zkserver, wrong], REQUIRE, &good);
    ens.node_mut(3).system_properties = vec![("java.security.auth.login.config".into(), bad.display().to_string())];
    ens.start_all();
    assert_eq!(ens.settled_leader(&[1, 2]), 2);
    ens.replicates(&[1, 2], "pair");
    for sid in [1, 2] {
        let refused = wait_until(Duration::from_secs(20), || {
            ens.node(sid).log().contains("Failed to authenticate using SASL")
        });
        assert!(refused, "node {sid} logged no refusal\n{}", ens.logs());
    }
    assert_eq!(ens.mode(3), None, "node 3 serves without authenticating\n{}", ens.logs());
}

#[test]
fn a_zkserver_peer_with_a_wrong_password_is_refused_by_java_and_zkserver() {
    wrong_password_beside_java(Flavor::Zkserver);
}

#[test]
fn a_java_peer_with_a_wrong_password_is_refused_by_java_and_zkserver() {
    wrong_password_beside_java(Flavor::Java);
}

/// The KDC of the Kerberos tests: the quorum's service principals (the
/// default zkquorum/localhost, and zkquorum/_HOST for the server lines'
/// host 127.0.0.1) and the learners' principal (host 127.0.0.1) in
/// quorum.keytab, a learner on a host outside the server list in
/// stranger.keytab.
fn quorum_kdc() -> Kdc {
    Kdc::start(&[
        ("quorum.keytab", &["zkquorum/localhost", "zkquorum/127.0.0.1", "learner/127.0.0.1"]),
        ("stranger.keytab", &["learner/myhost"]),
    ])
}

/// A JAAS file accepting as `service` and learning as `learner` with the
/// keys of `keytab`.
fn krb_jaas(kdc: &Kdc, dir: &tempfile::TempDir, name: &str, service: &str, keytab: &str, learner: &str) -> PathBuf {
    let path = dir.path().join(name);
    let text = kdc.jaas_section("QuorumServer", "quorum.keytab", service)
        + &kdc.jaas_section("QuorumLearner", keytab, learner);
    std::fs::write(&path, text).expect("write jaas");
    path
}

/// What the JDK's GSSAPI server, and zkserver's, say when the
/// authorization callback refuses the stranger.
const STRANGER_REFUSED: &str =
    "learner/myhost@KAZOOTEST.ORG is not authorized to connect as learner/myhost@KAZOOTEST.ORG";

/// Quorum Kerberos required, the default service principal spelled out.
const REQUIRE_KRB: &[(&str, &str)] = &[
    ("quorum.auth.enableSasl", "true"),
    ("quorum.auth.learnerRequireSasl", "true"),
    ("quorum.auth.serverRequireSasl", "true"),
    ("quorum.auth.kerberos.servicePrincipal", "zkquorum/localhost"),
];

fn with_krb(flavors: &[Flavor], kdc: &Kdc, jaas: &Path) -> Ensemble {
    let mut ens = with_jaas(flavors, REQUIRE_KRB, jaas);
    ens.set_system_property("java.security.krb5.conf", &kdc.path("krb5.conf"));
    ens
}

fn set_jaas(ens: &mut Ensemble, sid: i64, kdc: &Kdc, jaas: &Path) {
    ens.node_mut(sid).system_properties = vec![
        ("java.security.auth.login.config".into(), jaas.display().to_string()),
        ("java.security.krb5.conf".into(), kdc.path("krb5.conf")),
    ];
}

#[test]
fn kerberos_zkserver_ensemble_refuses_a_stranger_and_a_wrong_keytab_then_takes_the_right_learner() {
    let kdc = quorum_kdc();
    let dir = tempfile::tempdir().expect("tempdir");
    // Each learner asks for zkquorum/<the dialed member's host>.
    let service = "zkquorum/127.0.0.1";
    let good = krb_jaas(&kdc, &dir, "good.conf", service, "quorum.keytab", "learner/127.0.0.1");
    let stranger = krb_jaas(&kdc, &dir, "stranger.conf", service, "stranger.keytab", "learner/myhost");
    let wrong_keytab = krb_jaas(&kdc, &dir, "wrong-keytab.conf", service, "stranger.keytab", "learner/127.0.0.1");
    let mut ens = with_krb(&[Flavor::Zkserver; 3], &kdc, &good);
    for sid in [1, 2, 3] {
        ens.set_cfg(sid, "quorum.auth.kerberos.servicePrincipal", "zkquorum/_HOST");
    }
    set_jaas(&mut ens, 3, &kdc, &stranger);
    ens.start_all();

    // Sid 3 authenticates (its tickets are good) but its host is not a
    // member's: refused, it leaves 1 and 2 to form the quorum.
    assert_eq!(ens.settled_leader(&[1, 2]), 2);
    ens.replicates(&[1, 2], "two");
    let refused = wait_until(Duration::from_secs(20), || {
        let logs = ens.node(1).log() + &ens.node(2).log();
        logs.contains("SASL authorization completed, myhost is not authorized to connect")
            && logs.contains(STRANGER_REFUSED)
    });
    assert!(refused, "no refusal logged\n{}", ens.logs());
    assert!(ens.node(3).log().contains("Authentication failed against server addr"), "{}", ens.logs());
    assert_eq!(ens.mode(3), None, "node 3 serves without authenticating\n{}", ens.logs());
    assert!(ens.node_mut(3).is_running());

    // A keytab without the learner's keys: the login fails at start-up.
    ens.kill9(3);
    set_jaas(&mut ens, 3, &kdc, &wrong_keytab);
    ens.start(3);
    let exited = wait_until(Duration::from_secs(20), || ens.node_mut(3).exit_status().is_some());
    assert!(exited, "node 3 started with a wrong keytab\n{}", ens.logs());
    let log = ens.node(3).log();
    assert!(log.contains("section 'QuorumLearner'") && log.contains("stranger.keytab"), "{log}");
    ens.kill9(3);

    // With the right principal it joins (as a follower: 2 leads already).
    set_jaas(&mut ens, 3, &kdc, &good);
    ens.start(3);
    ens.wait_mode(3, "follower");
    ens.replicates(&[1, 2, 3], "three");
    // Every node dialed with GSSAPI; 1 and 2 were dialed (sid 3, the
    // highest, may find its connections already there).
    for sid in [1, 2, 3] {
        let log = ens.node(sid).log();
        assert!(log.contains("QuorumLearner will use GSSAPI as SASL mechanism."), "node {sid}\n{log}");
        let accepted = "Successfully authenticated learner: authenticationID=learner/127.0.0.1@KAZOOTEST.ORG";
        assert!(sid == 3 || log.contains(accepted), "node {sid}\n{log}");
    }
}

/// A mixed ensemble requiring Kerberos whose two higher sids, one of which
/// leads, are of flavor `flavors[2]`: it authenticates both ways; then sid
/// 1 (of the other flavor) comes back with a principal naming a host
/// outside the server list, and the two others refuse it and keep their
/// quorum.
fn kerberos_mixed(flavors: &[Flavor; 3]) {
    let kdc = quorum_kdc();
    let dir = tempfile::tempdir().expect("tempdir");
    let good = krb_jaas(&kdc, &dir, "good.conf", "zkquorum/localhost", "quorum.keytab", "learner/127.0.0.1");
    let stranger = krb_jaas(&kdc, &dir, "stranger.conf", "zkquorum/localhost", "stranger.keytab", "learner/myhost");
    let mut ens = authenticates_both_ways(with_krb(flavors, &kdc, &good), flavors[2]);
    ens.kill9(1);
    set_jaas(&mut ens, 1, &kdc, &stranger);
    ens.start(1);
    let refused = wait_until(Duration::from_secs(30), || {
        (ens.node(2).log() + &ens.node(3).log()).contains(STRANGER_REFUSED)
    });
    assert!(refused, "no refusal logged\n{}", ens.logs());
    ens.replicates(&[2, 3], "pair");
    assert_eq!(ens.mode(1), None, "node 1 serves without authenticating\n{}", ens.logs());
}

#[test]
fn kerberos_mixed_ensemble_with_a_zkserver_leader_refuses_a_java_stranger() {
    kerberos_mixed(&[Flavor::Java, Flavor::Zkserver, Flavor::Zkserver]);
}

#[test]
fn kerberos_mixed_ensemble_with_a_java_leader_refuses_a_zkserver_stranger() {
    kerberos_mixed(&[Flavor::Zkserver, Flavor::Java, Flavor::Java]);
}
