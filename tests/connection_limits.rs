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
