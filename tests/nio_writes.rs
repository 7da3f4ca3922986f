//! Replies far larger than the socket's buffers, pipelined and read slowly:
//! the server must hit a full socket, keep its place inside a reply and
//! resume there, so that every reply arrives whole and in order. Among them
//! getChildren2 replies, which go out in parts (header, the parent's shared
//! listing, Stat).

mod common;

use common::*;
use std::io::Read;
use zkserver::client::client_cnxn::{handshake, read_frame, write_frame, MAX_FRAME};
use zkserver::client::ConnectOptions;
use zkserver::jute::records::{
    GetChildren2Request, GetChildren2Response, GetDataRequest, GetDataResponse, ReplyHeader, RequestHeader,
};
use zkserver::jute::{InputArchive, Record};
use zkserver::zoo_defs::{ids, op_code, CreateMode};

/// Node `i`'s value: about 900 KB (under jute.maxbuffer), different per node.
fn value(i: usize) -> Vec<u8> {
    (0..900_000).map(|k| ((k * 7 + i * 13) % 251) as u8).collect()
}

/// The children of /wide: 300 long names, about 62 KB listed.
fn child_names() -> Vec<String> {
    (0..300).map(|i| format!("c{i:03}-{}", "x".repeat(200))).collect()
}

/// Every third request lists /wide; the others read /big<n>.
fn lists_children(x: usize) -> bool {
    x % 3 == 2
}

#[test]
fn large_pipelined_replies_survive_a_full_socket() {
    const NODES: usize = 4;
    const REQUESTS: usize = 24;
    let s = TestServer::start_default();
    let c = s.client();
    let acl = ids::open_acl_unsafe();
    for i in 0..NODES {
        c.create(&format!("/big{i}"), Some(&value(i)), &acl, CreateMode::Persistent).expect("create");
    }
    c.create("/wide", None, &acl, CreateMode::Persistent).expect("create /wide");
    for name in child_names() {
        c.create(&format!("/wide/{name}"), None, &acl, CreateMode::Persistent).expect("create a child");
    }
    c.close().expect("close");

    let mut sock = raw_connect(&s.addr());
    handshake(&mut sock, &ConnectOptions::new(30000)).expect("handshake");
    // About 21 MB of replies asked for at once: far more than the socket
    // buffers hold, so the server's writes stop part-way.
    for x in 0..REQUESTS {
        let frame = if lists_children(x) {
            let mut f = RequestHeader { xid: x as i32 + 1, r#type: op_code::GET_CHILDREN2 }.to_bytes();
            f.extend_from_slice(&GetChildren2Request { path: "/wide".into(), watch: false }.to_bytes());
            f
        } else {
            let mut f = RequestHeader { xid: x as i32 + 1, r#type: op_code::GET_DATA }.to_bytes();
            f.extend_from_slice(&GetDataRequest { path: format!("/big{}", x % NODES), watch: false }.to_bytes());
            f
        };
        write_frame(&mut sock, &frame).expect("send");
    }
    // Read the first reply a few bytes at a time so the server meets a
    // full socket more than once, then the rest frame by frame.
    let mut head = [0u8; 4];
    sock.read_exact(&mut head).expect("length");
    let len = i32::from_be_bytes(head) as usize;
    let mut first = Vec::with_capacity(len);
    let mut chunk = [0u8; 997];
    while first.len() < len {
        let want = chunk.len().min(len - first.len());
        sock.read_exact(&mut chunk[..want]).expect("slow read");
        first.extend_from_slice(&chunk[..want]);
    }
    let mut frames = vec![first];
    for _ in 1..REQUESTS {
        frames.push(read_frame(&mut sock, MAX_FRAME).expect("reply"));
    }
    for (x, frame) in frames.iter().enumerate() {
        let mut ia = InputArchive::new(frame);
        let hdr = ReplyHeader::deserialize(&mut ia).expect("header");
        assert_eq!((hdr.xid, hdr.err), (x as i32 + 1, 0), "reply {x}");
        if lists_children(x) {
            let mut rsp = GetChildren2Response::deserialize(&mut ia).expect("body");
            assert_eq!(rsp.stat.num_children, 300, "stat of reply {x}");
            rsp.children.sort();
            assert_eq!(rsp.children, child_names(), "children in reply {x}");
        } else {
            let rsp = GetDataResponse::deserialize(&mut ia).expect("body");
            assert_eq!(rsp.data.as_deref(), Some(&value(x % NODES)[..]), "data of reply {x}");
        }
        assert_eq!(ia.remaining(), 0, "trailing bytes in reply {x}");
    }
}
