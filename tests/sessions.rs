//! Sessions: creation and timeout negotiation, closing, expiry of a silent
//! client, re-attaching on a new socket, and the refusals (wrong password,
//! a client from the future).

mod common;

use common::*;
use std::time::{Duration, Instant};
use zkserver::client::client_cnxn::handshake;
use zkserver::client::{ConnectOptions, ZkClient};
use zkserver::zoo_defs::{event_type, ids, CreateMode};

const WAIT: Duration = Duration::from_secs(15);

fn negotiated(addr: &str, asked: i32) -> i32 {
    let mut s = raw_connect(addr);
    let hs = handshake(&mut s, &ConnectOptions::new(asked)).expect("handshake");
    hs.response.time_out
}

#[test]
fn timeout_is_clamped_to_two_and_twenty_ticks_by_default() {
    let s = TestServer::start_default(); // tickTime 2000
    assert_eq!(negotiated(&s.addr(), 1), 4000);
    assert_eq!(negotiated(&s.addr(), 3999), 4000);
    assert_eq!(negotiated(&s.addr(), 10000), 10000);
    assert_eq!(negotiated(&s.addr(), 40000), 40000);
    assert_eq!(negotiated(&s.addr(), 10_000_000), 40000);
    assert_eq!(negotiated(&s.addr(), -5), 4000);
}

#[test]
fn timeout_is_clamped_to_the_configured_bounds() {
    let s = TestServer::start(
        ServerOpts::default().cfg("minSessionTimeout", "5000").cfg("maxSessionTimeout", "8000"),
    );
    assert_eq!(negotiated(&s.addr(), 1000), 5000);
    assert_eq!(negotiated(&s.addr(), 6000), 6000);
    assert_eq!(negotiated(&s.addr(), 100000), 8000);
    let c = ZkClient::connect(s.addr(), 7000).unwrap();
    assert_eq!(c.negotiated_timeout(), 7000);
    assert_eq!(c.session_passwd().len(), 16);
    assert_ne!(c.session_id(), 0);
}

#[test]
fn the_read_only_byte_is_optional_and_always_answered_false() {
    let s = TestServer::start_default();
    let mut opts = ConnectOptions::new(30000);
    for asked in [Some(false), Some(true)] {
        opts.read_only = asked;
        let mut sock = raw_connect(&s.addr());
        let hs = handshake(&mut sock, &opts).unwrap();
        assert_eq!(hs.response.time_out, 30000);
        assert_eq!(hs.read_only, Some(false), "a read-write server answers readOnly=false");
    }
    // a client that sends no readOnly byte gets none back
    opts.read_only = None;
    let mut sock = raw_connect(&s.addr());
    let hs = handshake(&mut sock, &opts).unwrap();
    assert_eq!((hs.response.time_out, hs.read_only), (30000, None));
    // a read-only client is served normally by a read-write server
    opts.read_only = Some(true);
    let c = ZkClient::connect_with(s.addr(), &opts).unwrap();
    c.create("/ro-client", None, &ids::open_acl_unsafe(), CreateMode::Persistent).unwrap();
}

#[test]
fn session_ids_are_distinct() {
    let s = TestServer::start_default();
    let a = s.client();
    let b = s.client();
    assert_ne!(a.session_id(), b.session_id());
    assert_ne!(a.session_passwd(), b.session_passwd());
}

#[test]
fn close_session_removes_ephemerals_and_tells_watchers() {
    let s = TestServer::start_default();
    let owner = s.client();
    let w = s.client();
    let open = ids::open_acl_unsafe();
    owner.create("/e1", None, &open, CreateMode::Ephemeral).unwrap();
    let seq = owner.create("/e-", None, &open, CreateMode::EphemeralSequential).unwrap();
    w.create("/mine", None, &open, CreateMode::Ephemeral).unwrap();
    w.exists("/e1", true).unwrap();
    w.get_children("/", true).unwrap();
    owner.close().unwrap();
    let mut got = [w.next_event(WAIT).expect("event"), w.next_event(WAIT).expect("event")];
    got.sort_by_key(|e| e.event_type);
    assert_eq!((got[0].event_type, got[0].path.as_str()), (event_type::NODE_DELETED, "/e1"));
    assert_eq!((got[1].event_type, got[1].path.as_str()), (event_type::NODE_CHILDREN_CHANGED, "/"));
    assert_eq!(w.exists("/e1", false).unwrap(), None);
    assert_eq!(w.exists(&seq, false).unwrap(), None);
    assert!(w.exists("/mine", false).unwrap().is_some(), "other sessions keep theirs");
    // the closed session cannot be resumed
    let err = ZkClient::connect_with_session(s.addr(), 30000, owner.session_id(), owner.session_passwd());
    assert_eq!(err.err().map(|e| e.kind()), Some(std::io::ErrorKind::PermissionDenied));
}

#[test]
fn a_silent_client_expires_and_loses_its_ephemerals() {
    let s = TestServer::start(ServerOpts::default().tick_time(500)); // min timeout 1000
    let mut opts = ConnectOptions::new(1000);
    opts.ping = false;
    let silent = ZkClient::connect_with(s.addr(), &opts).unwrap();
    assert_eq!(silent.negotiated_timeout(), 1000);
    silent.create("/lease", None, &ids::open_acl_unsafe(), CreateMode::Ephemeral).unwrap();
    let w = s.client();
    assert!(w.exists("/lease", true).unwrap().is_some());
    let start = Instant::now();
    let ev = w.next_event(WAIT).expect("NodeDeleted after expiry");
    assert_eq!((ev.event_type, ev.path.as_str()), (event_type::NODE_DELETED, "/lease"));
    assert!(start.elapsed() >= Duration::from_millis(500), "expired too early: {:?}", start.elapsed());
    // the server also closes the expired session's socket
    assert!(silent.recv_timeout(WAIT).is_err());
    let err = ZkClient::connect_with_session(s.addr(), 1000, silent.session_id(), silent.session_passwd());
    assert_eq!(err.err().map(|e| e.kind()), Some(std::io::ErrorKind::PermissionDenied));
}

#[test]
fn a_raw_socket_that_goes_silent_expires_too() {
    let s = TestServer::start(ServerOpts::default().tick_time(500));
    let w = s.client();
    let mut sock = raw_connect(&s.addr());
    let hs = handshake(&mut sock, &ConnectOptions::new(1000)).unwrap();
    assert_eq!(hs.response.time_out, 1000);
    let sid = hs.response.session_id;
    assert!(
        four_letter(&s.addr(), "dump").unwrap().contains(&format!("0x{sid:x}")),
        "session listed by dump"
    );
    assert!(closed_by_server(&mut sock, WAIT), "server closes the expired session's socket");
    assert!(
        wait_until(WAIT, || !four_letter(&s.addr(), "dump").unwrap().contains(&format!("0x{sid:x}"))),
        "session gone from dump"
    );
    drop(w);
}

#[test]
fn pings_keep_a_short_session_alive() {
    let s = TestServer::start(ServerOpts::default().tick_time(500));
    let c = ZkClient::connect(s.addr(), 1000).unwrap();
    c.create("/kept", None, &ids::open_acl_unsafe(), CreateMode::Ephemeral).unwrap();
    let w = s.client();
    let end = Instant::now() + Duration::from_secs(4);
    while Instant::now() < end {
        assert!(w.exists("/kept", false).unwrap().is_some(), "session expired despite pings");
        std::thread::sleep(Duration::from_millis(200));
    }
    c.close().unwrap();
}

#[test]
fn reattaching_on_a_new_socket_keeps_the_session() {
    let s = TestServer::start_default();
    let first = s.client();
    let (sid, pw) = (first.session_id(), first.session_passwd().to_vec());
    first.create("/mine", Some(b"x"), &ids::open_acl_unsafe(), CreateMode::Ephemeral).unwrap();
    first.disconnect();
    let again = ZkClient::connect_with_session(s.addr(), 30000, sid, &pw).unwrap();
    assert_eq!(again.session_id(), sid);
    assert_eq!(again.session_passwd(), &pw[..]);
    assert_eq!(again.negotiated_timeout(), 30000);
    let st = again.exists("/mine", false).unwrap().expect("ephemeral survived the socket");
    assert_eq!(st.ephemeral_owner, sid);
    again.close().unwrap();
    let w = s.client();
    assert_eq!(w.exists("/mine", false).unwrap(), None);
}

#[test]
fn reattaching_closes_the_sessions_old_socket() {
    let s = TestServer::start_default();
    let first = s.client();
    first.create("/x", None, &ids::open_acl_unsafe(), CreateMode::Ephemeral).unwrap();
    let again =
        ZkClient::connect_with_session(s.addr(), 30000, first.session_id(), first.session_passwd()).unwrap();
    assert!(first.recv_timeout(WAIT).is_err(), "old connection closed by the server");
    assert!(again.exists("/x", false).unwrap().is_some());
}

#[test]
fn a_wrong_password_is_refused_with_an_empty_answer() {
    let s = TestServer::start_default();
    let owner = s.client();
    owner.create("/owned", None, &ids::open_acl_unsafe(), CreateMode::Ephemeral).unwrap();
    let mut opts = ConnectOptions::new(30000);
    opts.session_id = owner.session_id();
    opts.passwd = vec![9; 16];
    let mut sock = raw_connect(&s.addr());
    let hs = handshake(&mut sock, &opts).unwrap();
    assert_eq!(hs.response.protocol_version, 0);
    assert_eq!(hs.response.time_out, 0);
    assert_eq!(hs.response.session_id, 0);
    assert_eq!(hs.response.passwd, vec![0; 16]);
    assert_eq!(hs.read_only, Some(false));
    assert!(closed_by_server(&mut sock, WAIT));
    // Java drops the session's current connection before it checks the
    // password, but the session itself lives on for its rightful owner.
    assert!(owner.recv_timeout(WAIT).is_err(), "owner's socket closed");
    let back =
        ZkClient::connect_with_session(s.addr(), 30000, owner.session_id(), owner.session_passwd()).unwrap();
    assert!(back.exists("/owned", false).unwrap().is_some());
    assert!(ZkClient::connect_with_session(s.addr(), 30000, 0x7777, &[1; 16]).is_err());
    back.close().unwrap();
}

#[test]
fn a_client_that_has_seen_a_newer_zxid_is_turned_away() {
    let s = TestServer::start_default();
    let mut opts = ConnectOptions::new(30000);
    opts.last_zxid_seen = 1 << 40;
    let mut sock = raw_connect(&s.addr());
    assert!(handshake(&mut sock, &opts).is_err(), "no ConnectResponse, just a close");
    assert_server_serves(&s.addr());
}
