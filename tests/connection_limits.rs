//! maxClientCnxns: the per-IP connection cap is enforced at accept time.

mod common;

use common::*;
use std::time::Duration;
use zkserver::client::ZkClient;

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn a_third_connection_from_one_ip_is_closed() {
    let s = TestServer::start(ServerOpts::default().cfg("maxClientCnxns", "2"));
    let a = s.client();
    let b = s.client();
    // the third is accepted by the kernel, then closed by the server before
    // anything is read
    let mut third = raw_connect(&s.addr());
    assert!(closed_by_server(&mut third, WAIT), "third connection from 127.0.0.1 not closed");
    assert!(ZkClient::connect(s.addr(), 30000).is_err());
    // four-letter words count too
    assert_eq!(four_letter(&s.addr(), "ruok").unwrap_or_default(), "");
    // the first two are served
    assert!(a.exists("/", false).unwrap().is_some());
    assert!(b.exists("/", false).unwrap().is_some());
    // a freed slot can be reused
    a.close().unwrap();
    let mut c = None;
    assert!(
        wait_until(WAIT, || {
            c = ZkClient::connect(s.addr(), 30000).ok();
            c.is_some()
        }),
        "slot not freed after a close"
    );
    assert!(c.unwrap().exists("/", false).unwrap().is_some());
}

#[test]
fn zero_means_unlimited() {
    let s = TestServer::start(ServerOpts::default().cfg("maxClientCnxns", "0"));
    let clients: Vec<ZkClient> = (0..70).map(|_| s.client()).collect();
    for c in &clients {
        assert!(c.exists("/", false).unwrap().is_some());
    }
}

/// zookeeper.maxCnxns caps connections in all, whichever IP they come from
/// (Java's limitTotalNumberOfCnxns); a closed one frees its place.
#[test]
fn max_cnxns_caps_connections_in_all() {
    let s = TestServer::start(ServerOpts::default().prop("zookeeper.maxCnxns", "3"));
    let a = s.client();
    let b = s.client();
    let c = s.client();
    let mut fourth = raw_connect(&s.addr());
    assert!(closed_by_server(&mut fourth, WAIT), "a fourth connection was not refused");
    assert!(ZkClient::connect(s.addr(), 30000).is_err());
    for cl in [&a, &b, &c] {
        assert!(cl.exists("/", false).unwrap().is_some());
    }
    a.close().unwrap();
    drop(a);
    let mut d = None;
    assert!(
        wait_until(WAIT, || {
            d = ZkClient::connect(s.addr(), 30000).ok();
            d.is_some()
        }),
        "place not freed after a close"
    );
    assert!(d.unwrap().exists("/", false).unwrap().is_some());
}

/// zookeeper.connection_throttle_tokens: each ConnectRequest takes a token
/// from a bucket refilled at fill_count per fill_time ms; without one the
/// connection is closed (Java's BlueThrottle). Four-letter words do not
/// connect and are not throttled.
#[test]
fn the_connection_throttle_refuses_connects_beyond_its_tokens() {
    let s = TestServer::start(
        ServerOpts::default()
            .prop("zookeeper.connection_throttle_tokens", "3")
            .prop("zookeeper.connection_throttle_fill_time", "600000"),
    );
    let clients: Vec<ZkClient> = (0..3).map(|_| s.client()).collect();
    assert!(ZkClient::connect(s.addr(), 30000).is_err(), "a fourth connect passed a bucket of three");
    assert_eq!(four_letter(&s.addr(), "ruok").unwrap(), "imok");
    for c in &clients {
        assert!(c.exists("/", false).unwrap().is_some());
    }
}

/// With zookeeper.connection_throttle_weight_enabled the bucket holds
/// tokens × the global session weight, a new session costs the global
/// weight and a renewed one the renew weight: with weights 4 and 1 and two
/// tokens, one new session and four renewals pass, a fifth renewal does
/// not (without weights only one renewal would).
#[test]
fn connection_throttle_weights_price_new_and_renewed_sessions() {
    use zkserver::client::ConnectOptions;
    let s = TestServer::start(
        ServerOpts::default()
            .prop("zookeeper.connection_throttle_tokens", "2")
            .prop("zookeeper.connection_throttle_fill_time", "600000")
            .prop("zookeeper.connection_throttle_weight_enabled", "true")
            .prop("zookeeper.connection_throttle_global_session_weight", "4")
            .prop("zookeeper.connection_throttle_renew_session_weight", "1"),
    );
    let first = s.client();
    let mut opts = ConnectOptions::new(30000);
    opts.session_id = first.session_id();
    opts.passwd = first.session_passwd().to_vec();
    for i in 0..4 {
        let c = ZkClient::connect_with(s.addr(), &opts).unwrap_or_else(|e| panic!("renewal {} refused: {e}", i + 1));
        assert!(c.exists("/", false).unwrap().is_some());
    }
    assert!(ZkClient::connect_with(s.addr(), &opts).is_err(), "a fifth renewal passed");
}
