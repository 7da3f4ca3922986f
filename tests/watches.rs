//! One-shot watches: which operation arms which watch, which change fires
//! it with which event, and that a fired or orphaned watch stays quiet.

mod common;

use common::*;
use std::net::TcpStream;
use std::time::Duration;
use zkserver::client::client_cnxn::{handshake, read_frame, write_frame, MAX_FRAME};
use zkserver::client::{ConnectOptions, ZkClient};
use zkserver::jute::records::{ExistsRequest, GetDataRequest, GetDataResponse, ReplyHeader, RequestHeader, WatcherEvent};
use zkserver::jute::{InputArchive, Record};
use zkserver::watcher::WatchedEvent;
use zkserver::zoo_defs::{event_type, ids, keeper_state, op_code, CreateMode};

const WAIT: Duration = Duration::from_secs(10);
/// How long we listen to prove that no (further) event comes.
const QUIET: Duration = Duration::from_millis(700);

fn mk(c: &ZkClient, path: &str) {
    c.create(path, Some(b"d"), &ids::open_acl_unsafe(), CreateMode::Persistent).unwrap();
}

#[track_caller]
fn expect_event(c: &ZkClient, etype: i32, path: &str) {
    let ev = c.next_event(WAIT).unwrap_or_else(|| panic!("no event {etype} for {path}"));
    // Java sends notifications with zxid -1 and state SyncConnected.
    assert_eq!(
        ev,
        WatchedEvent { event_type: etype, state: keeper_state::SYNC_CONNECTED, path: path.into(), zxid: -1 }
    );
}

#[track_caller]
fn expect_quiet(c: &ZkClient) {
    if let Some(ev) = c.next_event(QUIET) {
        panic!("unexpected event {ev:?}");
    }
}

#[test]
fn data_watch_fires_once_on_change() {
    let s = TestServer::start_default();
    let (w, m) = (s.client(), s.client());
    mk(&m, "/d");
    w.get_data("/d", true).unwrap();
    m.set_data("/d", Some(b"1"), -1).unwrap();
    expect_event(&w, event_type::NODE_DATA_CHANGED, "/d");
    m.set_data("/d", Some(b"2"), -1).unwrap();
    expect_quiet(&w);
    // re-armed, a delete fires NodeDeleted
    w.get_data("/d", true).unwrap();
    m.delete("/d", -1).unwrap();
    expect_event(&w, event_type::NODE_DELETED, "/d");
    expect_quiet(&w);
}

#[test]
fn exists_watch_on_a_missing_node_fires_node_created() {
    let s = TestServer::start_default();
    let (w, m) = (s.client(), s.client());
    assert_eq!(w.exists("/later", true).unwrap(), None);
    mk(&m, "/later");
    expect_event(&w, event_type::NODE_CREATED, "/later");
    // on an existing node it fires on change and on delete
    assert!(w.exists("/later", true).unwrap().is_some());
    m.set_data("/later", None, -1).unwrap();
    expect_event(&w, event_type::NODE_DATA_CHANGED, "/later");
    w.exists("/later", true).unwrap();
    m.delete("/later", -1).unwrap();
    expect_event(&w, event_type::NODE_DELETED, "/later");
    expect_quiet(&w);
}

#[test]
fn failed_reads_arm_no_data_watch() {
    let s = TestServer::start_default();
    let (w, m) = (s.client(), s.client());
    assert!(w.get_data("/absent", true).is_err());
    assert!(w.get_children("/absent", true).is_err());
    mk(&m, "/absent");
    expect_quiet(&w);
}

#[test]
fn child_watch_fires_on_create_and_delete_of_a_child() {
    let s = TestServer::start_default();
    let (w, m) = (s.client(), s.client());
    mk(&m, "/parent");
    w.get_children("/parent", true).unwrap();
    mk(&m, "/parent/a");
    expect_event(&w, event_type::NODE_CHILDREN_CHANGED, "/parent");
    // one-shot: a second child goes unnoticed
    mk(&m, "/parent/b");
    expect_quiet(&w);
    w.get_children2("/parent", true).unwrap();
    m.delete("/parent/a", -1).unwrap();
    expect_event(&w, event_type::NODE_CHILDREN_CHANGED, "/parent");
    // data changes of the parent or of a child do not fire child watches
    w.get_children("/parent", true).unwrap();
    m.set_data("/parent", Some(b"x"), -1).unwrap();
    m.set_data("/parent/b", Some(b"x"), -1).unwrap();
    expect_quiet(&w);
    // deleting the watched parent fires NodeDeleted on it
    m.delete("/parent/b", -1).unwrap();
    expect_event(&w, event_type::NODE_CHILDREN_CHANGED, "/parent");
    w.get_children("/parent", true).unwrap();
    m.delete("/parent", -1).unwrap();
    expect_event(&w, event_type::NODE_DELETED, "/parent");
    expect_quiet(&w);
}

#[test]
fn a_child_change_does_not_fire_the_parents_data_watch() {
    let s = TestServer::start_default();
    let (w, m) = (s.client(), s.client());
    mk(&m, "/p");
    w.get_data("/p", true).unwrap();
    w.exists("/p", true).unwrap();
    mk(&m, "/p/c");
    m.delete("/p/c", -1).unwrap();
    expect_quiet(&w);
}

#[test]
fn one_event_per_client_however_often_the_watch_was_set() {
    let s = TestServer::start_default();
    let (w, m) = (s.client(), s.client());
    mk(&m, "/n");
    w.get_data("/n", true).unwrap();
    w.get_data("/n", true).unwrap();
    w.exists("/n", true).unwrap();
    m.set_data("/n", None, -1).unwrap();
    expect_event(&w, event_type::NODE_DATA_CHANGED, "/n");
    expect_quiet(&w);
    // a delete fires the data and the child watch of a node, but a client
    // holding both hears NodeDeleted once
    w.get_data("/n", true).unwrap();
    w.get_children("/n", true).unwrap();
    m.delete("/n", -1).unwrap();
    expect_event(&w, event_type::NODE_DELETED, "/n");
    expect_quiet(&w);
}

#[test]
fn every_watching_client_is_told() {
    let s = TestServer::start_default();
    let m = s.client();
    mk(&m, "/shared");
    let watchers: Vec<ZkClient> = (0..3).map(|_| s.client()).collect();
    for w in &watchers {
        w.get_data("/shared", true).unwrap();
    }
    m.set_data("/shared", Some(b"new"), -1).unwrap();
    for w in &watchers {
        expect_event(w, event_type::NODE_DATA_CHANGED, "/shared");
    }
}

#[test]
fn the_writer_sees_its_own_event_before_its_reply() {
    let s = TestServer::start_default();
    let c = s.client();
    mk(&c, "/self");
    c.get_data("/self", true).unwrap();
    c.set_data("/self", Some(b"x"), -1).unwrap();
    // The notification was on the wire before the reply: it is already queued.
    let ev = c.next_event(Duration::ZERO).expect("event queued before the setData reply");
    assert_eq!((ev.event_type, ev.path.as_str()), (event_type::NODE_DATA_CHANGED, "/self"));
}

#[test]
fn watches_of_a_closed_connection_are_dropped() {
    let s = TestServer::start_default();
    let m = s.client();
    mk(&m, "/orphan");
    let w = ZkClient::connect(s.addr(), 30000).unwrap();
    let (sid, pw) = (w.session_id(), w.session_passwd().to_vec());
    w.get_data("/orphan", true).unwrap();
    w.exists("/orphan-missing", true).unwrap();
    assert!(four_letter(&s.addr(), "wchs").unwrap().ends_with("Total watches:2\n"));
    w.disconnect();
    assert!(
        wait_until(WAIT, || four_letter(&s.addr(), "wchs").unwrap().ends_with("Total watches:0\n")),
        "watches outlived their connection"
    );
    m.set_data("/orphan", Some(b"x"), -1).unwrap();
    mk(&m, "/orphan-missing");
    // the session lives on, but its watches did not survive the socket
    let back = ZkClient::connect_with_session(s.addr(), 30000, sid, &pw).unwrap();
    assert_eq!(back.session_id(), sid);
    expect_quiet(&back);
}

#[test]
fn events_carry_the_full_path() {
    let s = TestServer::start_default();
    let (w, m) = (s.client(), s.client());
    mk(&m, "/a");
    mk(&m, "/a/b");
    mk(&m, "/a/b/c");
    w.get_data("/a/b/c", true).unwrap();
    w.get_children("/a/b", true).unwrap();
    m.delete("/a/b/c", -1).unwrap();
    let mut got: Vec<(i32, String)> = (0..2)
        .map(|_| {
            let e = w.next_event(WAIT).expect("event");
            (e.event_type, e.path)
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (event_type::NODE_DELETED, "/a/b/c".to_string()),
            (event_type::NODE_CHILDREN_CHANGED, "/a/b".to_string()),
        ]
    );
}

/// One raw session of `many_watchers_see_their_event_before_any_later_reply`.
struct RawSession {
    sock: TcpStream,
}

impl RawSession {
    fn open(addr: &str) -> RawSession {
        let mut sock = raw_connect(addr);
        sock.set_read_timeout(Some(WAIT)).expect("read timeout");
        handshake(&mut sock, &ConnectOptions::new(30_000)).expect("handshake");
        RawSession { sock }
    }

    fn send(&mut self, xid: i32, op: i32, body: &impl Record) {
        let mut frame = RequestHeader { xid, r#type: op }.to_bytes();
        frame.extend_from_slice(&body.to_bytes());
        write_frame(&mut self.sock, &frame).expect("send");
    }

    /// The next frame: its reply header and the rest.
    fn next(&mut self) -> (ReplyHeader, Vec<u8>) {
        let frame = read_frame(&mut self.sock, MAX_FRAME).expect("a frame within the deadline");
        let mut ia = InputArchive::new(&frame);
        let hdr = ReplyHeader::deserialize(&mut ia).expect("reply header");
        let pos = ia.position();
        (hdr, frame[pos..].to_vec())
    }
}

/// ZooKeeper's ordering guarantee with many watchers on one node: each
/// connection gets its NodeDataChanged event before the reply to any
/// request it sent after the write that fired it, and before any reply
/// showing the new data, even for requests that raced the write.
#[test]
fn many_watchers_see_their_event_before_any_later_reply() {
    const WATCHERS: usize = 300;
    let s = TestServer::start(ServerOpts::default().cfg("maxClientCnxns", "0"));
    let writer = s.client();
    mk(&writer, "/hot");
    let mut sessions: Vec<RawSession> = (0..WATCHERS).map(|_| RawSession::open(&s.addr())).collect();
    for w in &mut sessions {
        w.send(1, op_code::EXISTS, &ExistsRequest { path: "/hot".into(), watch: true });
        let (hdr, _) = w.next();
        assert_eq!((hdr.xid, hdr.err), (1, 0), "exists with a watch");
    }
    let read = GetDataRequest { path: "/hot".into(), watch: false };
    // Reads racing the write, then reads sent once it is answered.
    for w in &mut sessions {
        w.send(2, op_code::GET_DATA, &read);
    }
    writer.set_data("/hot", Some(b"new"), -1).unwrap();
    for w in &mut sessions {
        w.send(3, op_code::GET_DATA, &read);
    }
    for (i, w) in sessions.iter_mut().enumerate() {
        let mut told = false;
        loop {
            let (hdr, body) = w.next();
            let mut ia = InputArchive::new(&body);
            if hdr.xid == -1 {
                let ev = WatcherEvent::deserialize(&mut ia).expect("watcher event");
                assert_eq!((ev.r#type, ev.path.as_str()), (event_type::NODE_DATA_CHANGED, "/hot"), "watcher {i}");
                assert!(!told, "watcher {i} was told twice");
                told = true;
                continue;
            }
            assert_eq!(hdr.err, 0, "watcher {i}: xid {}", hdr.xid);
            let reply = GetDataResponse::deserialize(&mut ia).expect("getData reply");
            let new = reply.stat.version == 1;
            assert!(told || !new, "watcher {i} saw the new data (xid {}) before its event", hdr.xid);
            assert!(hdr.xid == 2 || new, "watcher {i}: a read sent after the write saw the old data");
            if hdr.xid == 3 {
                break;
            }
        }
        assert!(told, "watcher {i} got no event");
    }
}
