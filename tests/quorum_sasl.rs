//! Quorum SASL (DIGEST-MD5 between peers, `quorum.auth.*`), on zkserver
//! alone and mixed with Java 3.8 nodes (the leader on either side), every
//! node given the JAAS file through `-Djava.security.auth.login.config`:
//! ensembles that require SASL elect and replicate; a peer with a wrong
//! password (zkserver or Java) is refused by zkserver and Java peers alike
//! and stays out while the others keep a quorum, and joins once its
//! password is right; Java's rolling-upgrade step
//! (enableSasl=true without require) takes a peer without SASL.

mod common;

use common::ensemble::Ensemble;
use common::{quorum_jaas as jaas, wait_until, Flavor, QUORUM_SASL_REQUIRED as REQUIRE};
use std::path::Path;
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
    let mut ens = with_jaas(flavors, REQUIRE, &good);
    ens.start_all();
    let leader = ens.settled_leader(&[1, 2, 3]);
    assert_eq!(ens.node(leader).flavor, flavors[2], "leader {leader} of the wrong kind\n{}", ens.logs());
    ens.replicates(&[1, 2, 3], "mixed");
    for sid in [1, 2, 3] {
        // Each node authenticated others and was authenticated itself.
        // (A dial-back may still be on its way once the writes are done.)
        for side in ["learner addr", "server addr"] {
            let line = format!("Successfully completed the authentication using SASL. {side}");
            let seen = wait_until(Duration::from_secs(20), || ens.node(sid).log().contains(&line));
            assert!(seen, "node {sid} lacks {line:?}\n{}", ens.logs());
        }
    }
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
