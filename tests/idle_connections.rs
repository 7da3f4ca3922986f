//! What an idle client connection costs the server: with a thousand
//! sessions open and nothing to read, the server's resident memory grows by
//! a few KiB per session (its connection, session and buffers), not by a
//! read buffer each.

mod common;

use common::*;
use zkserver::client::client_cnxn::{handshake, read_frame, write_frame, MAX_FRAME};
use zkserver::client::ConnectOptions;
use zkserver::jute::records::{ExistsRequest, ReplyHeader, RequestHeader};
use zkserver::jute::Record;
use zkserver::zoo_defs::op_code;

const SESSIONS: usize = 1000;
/// RSS growth per idle session allowed (it is about 1 KiB; a 64 KiB read
/// buffer kept per connection would be far over).
const MAX_KIB_PER_SESSION: u64 = 16;

/// Raises this process's open-file limit to its hard limit (the server,
/// started after, inherits it); returns the new soft limit.
fn raise_nofile_limit() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a live rlimit struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        lim.rlim_cur = lim.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            return 0;
        }
    }
    lim.rlim_cur
}

fn rss_kib(s: &TestServer) -> u64 {
    proc_status_kib(s.pid().expect("server pid"), "VmRSS").expect("VmRSS")
}

/// Opens a session and has it make one request, so that its connection
/// has read and answered, then leaves it idle.
fn open_and_use(addr: &str) -> std::net::TcpStream {
    let mut sock = raw_connect(addr);
    handshake(&mut sock, &ConnectOptions::new(60_000)).expect("handshake");
    let mut frame = RequestHeader { xid: 1, r#type: op_code::EXISTS }.to_bytes();
    frame.extend_from_slice(&ExistsRequest { path: "/".into(), watch: false }.to_bytes());
    write_frame(&mut sock, &frame).expect("send");
    let reply = read_frame(&mut sock, MAX_FRAME).expect("reply");
    let hdr = ReplyHeader::from_bytes(&reply).expect("reply header");
    assert_eq!((hdr.xid, hdr.err), (1, 0));
    sock
}

#[test]
fn an_idle_session_costs_the_server_a_few_kib() {
    if raise_nofile_limit() < SESSIONS as u64 + 200 {
        eprintln!("skipped: the open-file limit is too low for {SESSIONS} sessions");
        return;
    }
    let s = TestServer::start_with(Flavor::Zkserver, ServerOpts::default().cfg("maxClientCnxns", "0"));
    let addr = s.addr();
    // Warm up: the worker threads' own buffers and the tables' first growth.
    let warm: Vec<_> = (0..50).map(|_| open_and_use(&addr)).collect();
    let before = rss_kib(&s);
    let idle: Vec<_> = (0..SESSIONS).map(|_| open_and_use(&addr)).collect();
    // Every session has had its reply: the server is done with them.
    let after = rss_kib(&s);
    let per_session = after.saturating_sub(before) / SESSIONS as u64;
    eprintln!("RSS {before} KiB -> {after} KiB with {SESSIONS} more idle sessions: {per_session} KiB each");
    assert!(
        per_session <= MAX_KIB_PER_SESSION,
        "{per_session} KiB of RSS per idle session (at most {MAX_KIB_PER_SESSION} expected)"
    );
    drop((warm, idle));
}
