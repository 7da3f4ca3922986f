//! Hostile or broken input on the client port. Each case checks what the
//! server does with the offending connection (as ZooKeeper 3.8 does) and
//! then that another client is still served.

mod common;

use common::*;
use std::io::Write;
use std::time::Duration;
use zkserver::client::client_cnxn::{handshake, read_frame, write_frame};
use zkserver::client::{ConnectOptions, ZkClient, ZkError};
use zkserver::jute::records::{ExistsRequest, ReplyHeader, RequestHeader};
use zkserver::jute::Record;
use zkserver::zoo_defs::{code, ids, op_code, CreateMode};

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn garbage_as_the_first_frame_closes_the_connection() {
    let s = TestServer::start_default();
    let mut sock = raw_connect(&s.addr());
    write_frame(&mut sock, &[0xde; 40]).unwrap();
    assert!(closed_by_server(&mut sock, WAIT));
    assert_server_serves(&s.addr());
}

#[test]
fn a_truncated_connect_request_closes_the_connection() {
    let s = TestServer::start_default();
    let mut sock = raw_connect(&s.addr());
    write_frame(&mut sock, &[0, 0, 0, 0, 0, 0]).unwrap();
    assert!(closed_by_server(&mut sock, WAIT));
    assert_server_serves(&s.addr());
}

#[test]
fn a_frame_longer_than_jute_maxbuffer_closes_the_connection() {
    let s = TestServer::start_default();
    // before the handshake
    let mut sock = raw_connect(&s.addr());
    sock.write_all(&0x10_0000i32.to_be_bytes()).unwrap();
    assert!(closed_by_server(&mut sock, WAIT));
    // after it
    let mut sock = raw_connect(&s.addr());
    handshake(&mut sock, &ConnectOptions::new(30000)).unwrap();
    sock.write_all(&i32::MAX.to_be_bytes()).unwrap();
    assert!(closed_by_server(&mut sock, WAIT));
    assert_server_serves(&s.addr());
}

#[test]
fn jute_maxbuffer_is_configurable() {
    let s = TestServer::start(ServerOpts::default().prop("jute.maxbuffer", "1000"));
    let c = s.client();
    let big = vec![b'x'; 2000];
    let res = c.create("/big", Some(&big), &ids::open_acl_unsafe(), CreateMode::Persistent);
    assert!(matches!(res, Err(ZkError::Io(_))), "a 2000-byte frame must cost the connection: {res:?}");
    assert_server_serves(&s.addr());
}

#[test]
fn a_negative_length_closes_the_connection() {
    let s = TestServer::start_default();
    let mut sock = raw_connect(&s.addr());
    sock.write_all(&(-1i32).to_be_bytes()).unwrap();
    assert!(closed_by_server(&mut sock, WAIT));
    let mut sock = raw_connect(&s.addr());
    handshake(&mut sock, &ConnectOptions::new(30000)).unwrap();
    sock.write_all(&(-20i32).to_be_bytes()).unwrap();
    assert!(closed_by_server(&mut sock, WAIT));
    assert_server_serves(&s.addr());
}

#[test]
fn an_unknown_opcode_is_answered_unimplemented_then_closed() {
    let s = TestServer::start_default();
    let c = s.client();
    let reply = c.submit_bytes(999, &[]).unwrap();
    assert_eq!(reply.header.err, code::UNIMPLEMENTED);
    assert_eq!(reply.header.zxid, -1);
    assert!(reply.body.is_empty());
    assert!(c.recv_timeout(WAIT).is_err(), "connection closed after UNIMPLEMENTED");
    // the session itself survives the dropped connection
    let back = ZkClient::connect_with_session(s.addr(), 30000, c.session_id(), c.session_passwd())
        .expect("session still valid");
    back.close().unwrap();
    assert_server_serves(&s.addr());
}

#[test]
fn opcode_zero_is_not_a_request_either() {
    let s = TestServer::start_default();
    let c = s.client();
    let reply = c.submit_bytes(op_code::NOTIFICATION, &[]).unwrap();
    assert_eq!(reply.header.err, code::UNIMPLEMENTED);
    assert!(c.recv_timeout(WAIT).is_err());
    assert_server_serves(&s.addr());
}

#[test]
fn a_request_body_that_does_not_decode_gets_marshalling_error() {
    let s = TestServer::start_default();
    let c = s.client();
    // a path length that runs past the frame
    let reply = c.submit_bytes(op_code::GET_DATA, &[0, 0, 0, 50, 1]).unwrap();
    assert_eq!(reply.header.err, code::MARSHALLING_ERROR);
    assert!(reply.body.is_empty());
    // a write with a truncated body
    let reply = c.submit_bytes(op_code::CREATE, &[0, 0, 0, 1, b'/']).unwrap();
    assert_eq!(reply.header.err, code::MARSHALLING_ERROR);
    // an empty body
    let reply = c.submit_bytes(op_code::EXISTS, &[]).unwrap();
    assert_eq!(reply.header.err, code::MARSHALLING_ERROR);
    // the connection carries on
    assert!(c.exists("/", false).unwrap().is_some());
    assert_server_serves(&s.addr());
}

#[test]
fn trailing_bytes_after_a_request_are_ignored() {
    let s = TestServer::start_default();
    let c = s.client();
    let mut body = ExistsRequest { path: "/".into(), watch: false }.to_bytes();
    body.extend_from_slice(&[9, 9, 9, 9, 9]);
    let reply = c.submit_bytes(op_code::EXISTS, &body).unwrap();
    assert_eq!(reply.header.err, 0);
    assert!(c.exists("/zookeeper", false).unwrap().is_some());
}

#[test]
fn a_connection_dropped_mid_frame_is_forgotten() {
    let s = TestServer::start_default();
    // mid-handshake
    let mut sock = raw_connect(&s.addr());
    sock.write_all(&[0, 0, 0, 45, 0, 0, 0, 0, 0]).unwrap();
    hang_up(&sock);
    // mid-request, after a handshake
    let mut sock = raw_connect(&s.addr());
    handshake(&mut sock, &ConnectOptions::new(30000)).unwrap();
    let mut partial = 100i32.to_be_bytes().to_vec();
    partial.extend(RequestHeader { xid: 1, r#type: op_code::CREATE }.to_bytes());
    sock.write_all(&partial).unwrap();
    hang_up(&sock);
    // mid-length
    let mut sock = raw_connect(&s.addr());
    sock.write_all(&[0, 0]).unwrap();
    hang_up(&sock);
    assert_server_serves(&s.addr());
}

#[test]
fn a_request_split_across_many_writes_is_reassembled() {
    let s = TestServer::start_default();
    let mut sock = raw_connect(&s.addr());
    handshake(&mut sock, &ConnectOptions::new(30000)).unwrap();
    let mut frame = RequestHeader { xid: 7, r#type: op_code::EXISTS }.to_bytes();
    frame.extend(ExistsRequest { path: "/zookeeper".into(), watch: false }.to_bytes());
    let mut bytes = (frame.len() as i32).to_be_bytes().to_vec();
    bytes.extend(frame);
    for b in bytes {
        sock.write_all(&[b]).unwrap();
        sock.flush().unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    let reply = read_frame(&mut sock, 1 << 20).unwrap();
    let hdr = ReplyHeader::from_bytes(&reply).unwrap();
    assert_eq!((hdr.xid, hdr.err), (7, 0));
}

#[test]
fn many_half_open_connections_do_not_starve_the_server() {
    let s = TestServer::start_default();
    let socks: Vec<_> = (0..20)
        .map(|_| {
            let mut sock = raw_connect(&s.addr());
            sock.write_all(&[0, 0, 0, 44]).unwrap();
            sock
        })
        .collect();
    assert_server_serves(&s.addr());
    drop(socks);
}
