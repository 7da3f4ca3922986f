//! Quorum TLS (sslQuorum with Java's ssl.quorum.* keys, portUnification)
//! on zkserver alone and mixed with Java 3.8 nodes (the leader on either
//! side): ensembles elect and replicate over TLS election and quorum
//! connections, with quorum SASL (DIGEST-MD5, and Kerberos) inside them; a peer whose certificate comes from another CA is refused
//! and stays out while the others keep a quorum; a rolling upgrade's
//! middle step (portUnification everywhere, sslQuorum on some nodes) works;
//! certificates that name a peer's host name but not its address pass
//! hostnameVerification by reverse lookup, on both sides, as in Java; with
//! sslQuorumReloadCertFiles running nodes take new certificates from a new
//! CA, so a node restarted with only the new ones rejoins.

mod common;

use common::ensemble::Ensemble;
use common::kdc::Kdc;
use common::pki::{openssl, Pki, PASS};
use common::{quorum_jaas, wait_until, Flavor, QUORUM_SASL_REQUIRED};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;
use zkserver::common::x509_util::{SslSettings, X509Kind, X509Util};
use zkserver::quorum::quorum_peer_config::system_properties::SystemProperties;
use zkserver::quorum::unified_server_socket::{QuorumSsl, UnifiedSocket};

/// The ssl.quorum.* system properties for `keystore` (PKCS12) and the CA.
fn quorum_tls_props(pki: &Pki, keystore: &str) -> Vec<(String, String)> {
    [
        ("zookeeper.ssl.quorum.keyStore.location", pki.path(keystore)),
        ("zookeeper.ssl.quorum.keyStore.password", PASS.to_string()),
        ("zookeeper.ssl.quorum.trustStore.location", pki.path("truststore.jks")),
        ("zookeeper.ssl.quorum.trustStore.password", PASS.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn tls_ensemble(pki: &Pki, flavors: &[Flavor], extra: &[(&str, &str)]) -> Ensemble {
    let mut ens = Ensemble::new(flavors, extra);
    for (k, v) in quorum_tls_props(pki, "server.p12") {
        ens.set_system_property(&k, &v);
    }
    ens
}

/// Whether some line of node `sid`'s log contains `what` (within 20 s).
fn logged(ens: &Ensemble, sid: i64, what: &str) -> bool {
    wait_until(Duration::from_secs(20), || ens.node(sid).log().contains(what))
}

/// Writes `n` bytes on one handle while the other reads `n`, returning
/// what was read.
fn exchange(sock: UnifiedSocket, n: usize) -> Vec<u8> {
    let mut w = sock.try_clone().expect("clone");
    let writer = std::thread::spawn(move || {
        let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
        w.write_all(&data).expect("write");
        w.flush().expect("flush");
    });
    let mut got = vec![0u8; n];
    let mut r = sock;
    r.read_exact(&mut got).expect("read");
    writer.join().expect("writer");
    got
}

#[test]
fn a_tls_connection_split_between_threads_carries_data_both_ways_at_once() {
    let pki = Pki::new();
    let ssl = quorum_x509(&pki, "server.p12");
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let dialer = ssl.clone();
    // Both sides write more than the socket buffers hold before reading.
    const N: usize = 4 << 20;
    let client = std::thread::spawn(move || {
        let tcp = TcpStream::connect(addr).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        exchange(dialer.connect(tcp, "127.0.0.1").expect("client handshake"), N)
    });
    let (tcp, _) = l.accept().expect("accept");
    tcp.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let sock = ssl.accept(tcp).expect("server handshake");
    assert!(sock.is_tls());
    let expected: Vec<u8> = (0..N).map(|i| (i % 251) as u8).collect();
    assert!(exchange(sock, N) == expected, "the server read other bytes");
    assert!(client.join().expect("client") == expected, "the client read other bytes");
}

/// X509Util for the quorum with `keystore` (PKCS12).
fn quorum_x509(pki: &Pki, keystore: &str) -> QuorumSsl {
    let props = SystemProperties::new(quorum_tls_props(pki, keystore), Vec::new());
    let x509 = X509Util::start(SslSettings::read(&props, X509Kind::Quorum).expect("settings")).expect("stores");
    QuorumSsl { x509: Some(x509), ssl_quorum: true, port_unification: false }
}

/// One quorum TLS connection from 127.0.0.1 to 127.0.0.1, dialed as
/// `host`, the acceptor presenting `acceptor`'s certificate and the dialer
/// `dialer`'s: how each side's handshake and host check ended.
fn handshake(pki: &Pki, acceptor: &str, dialer: &str, host: &'static str) -> (Result<(), String>, Result<(), String>) {
    let (a, d) = (quorum_x509(pki, acceptor), quorum_x509(pki, dialer));
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let client = std::thread::spawn(move || {
        let tcp = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        let sock = d.connect(tcp, host).map_err(|e| e.to_string())?;
        // The acceptor checks the host after the handshake: wait for its verdict.
        let mut buf = [0u8; 1];
        match (&sock).read(&mut buf) {
            Ok(1) => Ok(()),
            other => Err(format!("closed by the acceptor: {other:?}")),
        }
    });
    let (tcp, _) = l.accept().expect("accept");
    tcp.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let accepted = a.accept(tcp).map_err(|e| e.to_string()).and_then(|sock| (&sock).write_all(b"!").map_err(|e| e.to_string()));
    (accepted, client.join().expect("dialer"))
}

#[test]
fn a_certificate_for_the_peers_host_name_or_address_passes_on_both_sides() {
    let pki = Pki::new();
    for (name, san) in [("byname", "DNS:localhost"), ("byaddress", "IP:127.0.0.1"), ("elsewhere", "DNS:elsewhere.invalid")] {
        pki.leaf_for(name, "ca", &format!("/CN={name}"), san);
        pki.pkcs12(name);
    }
    // The dialer's certificate names localhost, not 127.0.0.1: the
    // acceptor finds the name by reverse lookup; and the same for the
    // acceptor's certificate on the dialing side.
    assert_eq!(handshake(&pki, "server.p12", "byname.p12", "127.0.0.1"), (Ok(()), Ok(())));
    assert_eq!(handshake(&pki, "byname.p12", "server.p12", "127.0.0.1"), (Ok(()), Ok(())));
    // Dialing "localhost", a certificate for its address alone will do.
    assert_eq!(handshake(&pki, "byaddress.p12", "server.p12", "localhost"), (Ok(()), Ok(())));
    // A certificate for another host is refused by either side.
    let (accepted, dialed) = handshake(&pki, "server.p12", "elsewhere.p12", "127.0.0.1");
    let e = accepted.expect_err("the acceptor took a certificate for elsewhere.invalid");
    assert!(e.contains("not for its address 127.0.0.1: nor for its host name localhost"), "{e}");
    assert!(dialed.is_err());
    for host in ["127.0.0.1", "localhost"] {
        let (_, dialed) = handshake(&pki, "elsewhere.p12", "server.p12", host);
        let e = dialed.expect_err("the dialer took a certificate for elsewhere.invalid");
        assert!(e.contains("not valid for name"), "{host}: {e}");
    }
}

#[test]
fn an_ensemble_on_127_0_0_1_with_certificates_for_localhost_forms_with_java() {
    let pki = Pki::new();
    pki.leaf_for("byname", "ca", "/CN=byname", "DNS:localhost");
    pki.pkcs12("byname");
    let mut ens = Ensemble::new(&[Flavor::Zkserver, Flavor::Java, Flavor::Zkserver], &[("sslQuorum", "true")]);
    for (k, v) in quorum_tls_props(&pki, "byname.p12") {
        ens.set_system_property(&k, &v);
    }
    ens.set_system_property("zookeeper.ssl.quorum.hostnameVerification", "true");
    ens.start_all();
    ens.settled_leader(&[1, 2, 3]);
    ens.replicates(&[1, 2, 3], "byname");
    for sid in [1, 3] {
        assert!(!ens.node(sid).log().contains("Failed the TLS handshake"), "node {sid}\n{}", ens.logs());
    }
}

#[test]
fn running_nodes_reload_replaced_quorum_certificates_so_a_restarted_node_rejoins() {
    let pki = Pki::new();
    let mut ens = tls_ensemble(&pki, &[Flavor::Zkserver; 3], &[("sslQuorum", "true"), ("sslQuorumReloadCertFiles", "true")]);
    ens.start_all();
    let leader = ens.settled_leader(&[1, 2, 3]);
    ens.replicates(&[1, 2, 3], "before");
    // Every node's certificate and trust store are replaced by ones of a
    // new CA alone (each file swapped in by a rename, as a deploy would).
    pki.ca("ca2");
    pki.leaf("renewed", "ca2", "/CN=localhost");
    pki.pkcs12("renewed");
    pki.trust_store("truststore-ca2.jks", "JKS", "ca2");
    let d = pki.dir.path();
    std::fs::rename(d.join("renewed.p12"), d.join("server.p12")).unwrap();
    std::fs::rename(d.join("truststore-ca2.jks"), d.join("truststore.jks")).unwrap();
    for sid in [1, 2, 3] {
        assert!(logged(&ens, sid, "Reloaded the quorum TLS key and trust stores"), "node {sid}\n{}", ens.logs());
    }
    // A follower restarted now knows only the new CA: it rejoins only if
    // the leader and the other follower present and accept the new
    // certificates on the connections they make and take from now on
    // (without sslQuorumReloadCertFiles it stays out).
    let follower = [1, 2, 3].into_iter().find(|&s| s != leader).expect("a follower");
    ens.kill9(follower);
    ens.start(follower);
    ens.wait_mode(follower, "follower");
    ens.replicates(&[1, 2, 3], "after");
}

#[test]
fn zkserver_ensemble_over_tls_refuses_a_foreign_certificate_then_takes_a_good_one() {
    let pki = Pki::new();
    openssl(
        pki.dir.path(),
        &[
            "pkcs12", "-export", "-in", "stranger.pem", "-inkey", "stranger.key", "-out", "stranger.p12", "-passout",
            &format!("pass:{PASS}"), "-name", "stranger",
        ],
    );
    let mut ens = tls_ensemble(&pki, &[Flavor::Zkserver; 3], &[("sslQuorum", "true")]);
    ens.node_mut(3).system_properties = quorum_tls_props(&pki, "stranger.p12");
    ens.start_all();

    // Sid 3 would lead; refused, it leaves 1 and 2 to form the quorum.
    assert_eq!(ens.settled_leader(&[1, 2]), 2);
    ens.replicates(&[1, 2], "two");
    assert!(logged(&ens, 1, "Failed the TLS handshake"), "no refusal logged\n{}", ens.logs());
    assert_eq!(ens.mode(3), None, "node 3 serves with a foreign certificate\n{}", ens.logs());
    assert!(ens.node_mut(3).is_running());

    ens.kill9(3);
    ens.node_mut(3).system_properties = quorum_tls_props(&pki, "server.p12");
    ens.start(3);
    ens.wait_mode(3, "follower");
    ens.replicates(&[1, 2, 3], "three");
}

/// A mixed ensemble over quorum TLS, with quorum SASL required on top;
/// the two higher sids, one of which leads, are of one flavor.
fn mixed(flavors: &[Flavor; 3]) {
    let pki = Pki::new();
    let jaas = quorum_jaas(&pki.dir, "jaas.conf", "peer-pw");
    let extra: Vec<(&str, &str)> = [("sslQuorum", "true")].into_iter().chain(QUORUM_SASL_REQUIRED.iter().copied()).collect();
    let mut ens = tls_ensemble(&pki, flavors, &extra);
    ens.set_system_property("java.security.auth.login.config", jaas.to_str().expect("utf-8 path"));
    ens.start_all();
    let leader = ens.settled_leader(&[1, 2, 3]);
    assert_eq!(ens.node(leader).flavor, flavors[2], "leader {leader} of the wrong kind\n{}", ens.logs());
    ens.replicates(&[1, 2, 3], "mixed");
    for sid in [1, 2, 3] {
        // Every node dialed a peer over TLS (the highest sid only when a
        // dial-back came first, so it is not asked).
        if sid < 3 {
            assert!(logged(&ens, sid, "SSL handshake complete with"), "node {sid}\n{}", ens.logs());
        }
        assert!(!ens.node(sid).log().contains("Failed the TLS handshake"), "node {sid}\n{}", ens.logs());
        // Each node authenticated a peer that dialed it, except sid 3 when
        // it follows: the others may find its election connection already
        // there and never dial it.
        if sid == 3 && sid != leader {
            continue;
        }
        let sasl = "Successfully completed the authentication using SASL. learner addr";
        assert!(logged(&ens, sid, sasl), "node {sid} lacks {sasl:?}\n{}", ens.logs());
    }
}

#[test]
fn mixed_ensemble_over_tls_with_a_zkserver_leader() {
    mixed(&[Flavor::Java, Flavor::Zkserver, Flavor::Zkserver]);
}

#[test]
fn mixed_ensemble_over_tls_with_a_java_leader() {
    mixed(&[Flavor::Zkserver, Flavor::Java, Flavor::Java]);
}

/// Quorum Kerberos inside quorum TLS, Java and zkserver mixed: the
/// GSSAPI exchange runs over the TLS connections both ways.
#[test]
fn kerberos_inside_tls_mixed_with_java() {
    let pki = Pki::new();
    let kdc = Kdc::start(&[("quorum.keytab", &["zkquorum/localhost", "learner/127.0.0.1"])]);
    let jaas = pki.dir.path().join("krb.conf");
    let text = kdc.jaas_section("QuorumServer", "quorum.keytab", "zkquorum/localhost")
        + &kdc.jaas_section("QuorumLearner", "quorum.keytab", "learner/127.0.0.1");
    std::fs::write(&jaas, text).expect("write jaas");
    let extra: Vec<(&str, &str)> = [("sslQuorum", "true")].into_iter().chain(QUORUM_SASL_REQUIRED.iter().copied()).collect();
    let mut ens = tls_ensemble(&pki, &[Flavor::Java, Flavor::Zkserver, Flavor::Zkserver], &extra);
    ens.set_system_property("java.security.auth.login.config", jaas.to_str().expect("utf-8 path"));
    ens.set_system_property("java.security.krb5.conf", &kdc.path("krb5.conf"));
    ens.start_all();
    ens.settled_leader(&[1, 2, 3]);
    ens.replicates(&[1, 2, 3], "krb-tls");
    for sid in [1, 2] {
        assert!(logged(&ens, sid, "SSL handshake complete with"), "node {sid}\n{}", ens.logs());
        let sasl = "Successfully completed the authentication using SASL. learner addr";
        assert!(logged(&ens, sid, sasl), "node {sid} lacks {sasl:?}\n{}", ens.logs());
        assert!(logged(&ens, sid, "QuorumLearner will use GSSAPI as SASL mechanism."), "node {sid}\n{}", ens.logs());
    }
}

#[test]
fn port_unification_lets_plain_and_tls_nodes_work_together() {
    // A rolling upgrade's middle step: every node accepts both; node 1
    // still dials plain, 2 and 3 dial TLS.
    let pki = Pki::new();
    let mut ens = tls_ensemble(&pki, &[Flavor::Zkserver, Flavor::Zkserver, Flavor::Java], &[("portUnification", "true")]);
    for sid in [2, 3] {
        ens.set_cfg(sid, "sslQuorum", "true");
    }
    ens.start_all();
    let leader = ens.settled_leader(&[1, 2, 3]);
    ens.replicates(&[1, 2, 3], "unified");
    // Node 1 follows over a plain connection, which the leader's unified
    // socket (zkserver's or Java's) takes, and the TLS nodes dial TLS.
    let plain = match ens.node(leader).flavor {
        Flavor::Zkserver => "Accepted plain (non-TLS) quorum connection",
        Flavor::Java => "Accepted plaintext connection from",
    };
    assert!(logged(&ens, leader, plain), "leader {leader}\n{}", ens.logs());
    assert!(logged(&ens, 3, "SSL handshake complete with"), "{}", ens.logs());
}
