//! Abuse of the peer ports of a running 3-node zkserver ensemble by
//! strangers that speak the election and quorum protocols badly or not at
//! all: garbage, bogus sids, absurd lengths and protocol versions, dial-back
//! storms and slowloris connections. In every case the bad connection is
//! closed, the ensemble keeps its leader and epoch, writes keep
//! committing, and elections and learner syncs still work (a follower
//! restarted while the abuse goes on rejoins). Processes are killed when
//! the ensemble drops, even when a test fails.

mod common;

use common::ensemble::{probe_vote, Ensemble};
use common::{assert_server_serves, closed_by_server, four_letter, Flavor};
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};
use zkserver::quorum::quorum_cnx_manager::{InitialMessage, PROTOCOL_VERSION_V1, PROTOCOL_VERSION_V2};

const SIDS: [i64; 3] = [1, 2, 3];
/// tickTime 500 × syncLimit 5 (the election socket timeout) and × initLimit
/// 10 (the learner handshake timeout) in the ensemble's zoo.cfg, plus room
/// for a loaded machine.
const CLOSE_DEADLINE: Duration = Duration::from_secs(20);

fn ensemble() -> Ensemble {
    let mut ens = Ensemble::new(&[Flavor::Zkserver; 3], &[]);
    ens.start_all();
    ens
}

/// The settled leader and the epoch of its last zxid.
fn leader_and_epoch(ens: &Ensemble) -> (i64, i64) {
    let leader = ens.settled_leader(&SIDS);
    let srvr = four_letter(&ens.node(leader).client_addr(), "srvr").expect("srvr");
    let zxid = srvr
        .lines()
        .find_map(|l| l.strip_prefix("Zxid: 0x"))
        .and_then(|z| i64::from_str_radix(z.trim(), 16).ok())
        .unwrap_or_else(|| panic!("no zxid in srvr: {srvr}"));
    (leader, zxid >> 32)
}

/// The ensemble has the same leader in the same epoch, every member
/// serves, and a write through each member commits.
#[track_caller]
fn assert_unshaken(ens: &Ensemble, before: (i64, i64)) {
    assert_eq!(leader_and_epoch(ens), before, "leader or epoch changed\n{}", ens.logs());
    for sid in SIDS {
        assert_server_serves(&ens.node(sid).client_addr());
    }
    assert_eq!(leader_and_epoch(ens), before, "leader or epoch changed\n{}", ens.logs());
}

fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_nodelay(true).expect("nodelay");
    s
}

/// Sends `bytes` on a new connection and asserts the server closes it.
#[track_caller]
fn assert_closed_after(addr: &str, what: &str, bytes: &[u8], ens: &Ensemble) {
    let mut s = connect(addr);
    // The server may close before everything is written.
    let _ = s.write_all(bytes);
    assert!(closed_by_server(&mut s, CLOSE_DEADLINE), "{addr} kept the connection after {what}\n{}", ens.logs());
}

fn frame(len: i32, body: &[u8]) -> Vec<u8> {
    let mut f = len.to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

/// A listening socket whose accept queue is full, so that a connection
/// attempt to it hangs until the dialer's timeout: a stand-in, on
/// 127.0.0.1, for an address that drops SYNs.
struct Blackhole {
    port: u16,
    _listener: TcpListener,
    _queued: Vec<TcpStream>,
}

impl Blackhole {
    fn new() -> Blackhole {
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
        let addr: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        sock.bind(&addr.into()).expect("bind");
        sock.listen(0).expect("listen");
        let listener: TcpListener = sock.into();
        let target = listener.local_addr().expect("local addr");
        let mut queued = Vec::new();
        for _ in 0..16 {
            match TcpStream::connect_timeout(&target, Duration::from_millis(300)) {
                Ok(s) => queued.push(s),
                Err(_) => {
                    return Blackhole { port: target.port(), _listener: listener, _queued: queued };
                }
            }
        }
        panic!("could not fill the accept queue of {target}");
    }
}

/// Issue 10 item 8: one connection that claims a live peer's smaller sid
/// and lists as many unreachable addresses as the message can hold used
/// to make the listener dial each of them in turn (cnxTimeout apiece),
/// holding the dial lock, after dropping the live connection to that
/// peer. The node must keep answering on its election port at once.
#[test]
fn election_port_dial_back_storm_does_not_stall_the_listener() {
    let mut ens = ensemble();
    let before = leader_and_epoch(&ens);
    let target = ens.node(3).election_addr();
    let state_before = probe_vote(&target).expect("node 3 answers a probe");
    let hole = Blackhole::new();
    let one = format!("127.0.0.1:{}", hole.port);
    let many = vec![one.as_str(); 2048 / (one.len() + 1)].join("|");
    for (version, sid, addrs) in [
        (PROTOCOL_VERSION_V2, 1, many.as_str()),
        (PROTOCOL_VERSION_V2, 2, many.as_str()),
        (PROTOCOL_VERSION_V1, 1, one.as_str()),
        // Sids no member has: dialed back at the one address given.
        (PROTOCOL_VERSION_V2, -7, many.as_str()),
        (PROTOCOL_VERSION_V1, i64::MIN, one.as_str()),
    ] {
        let mut s = connect(&target);
        s.write_all(&InitialMessage::encode(version, sid, addrs)).expect("initial message");
        assert!(closed_by_server(&mut s, CLOSE_DEADLINE), "node 3 kept a smaller sid's connection\n{}", ens.logs());
        let started = Instant::now();
        let answered = probe_vote(&target);
        assert_eq!(answered, Some(state_before), "node 3's election port stalled after sid {sid}\n{}", ens.logs());
        assert!(started.elapsed() < Duration::from_secs(3), "the probe took {:?}", started.elapsed());
    }
    assert_unshaken(&ens, before);
    // Elections still work: a restarted follower rejoins the same leader.
    let follower = if before.0 == 1 { 2 } else { 1 };
    ens.kill9(follower);
    ens.start(follower);
    ens.wait_mode(follower, "follower");
    assert_unshaken(&ens, before);
}

/// Garbage, bogus sids and absurd lengths and versions on every member's
/// election port: each such connection is closed, the ensemble is unmoved.
#[test]
fn election_port_garbage_and_bogus_sids_are_closed() {
    let mut ens = ensemble();
    let before = leader_and_epoch(&ens);
    for sid in SIDS {
        let addr = ens.node(sid).election_addr();
        let hello = |from: i64| InitialMessage::encode(PROTOCOL_VERSION_V1, from, "127.0.0.1:1");
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("random bytes", vec![0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09]),
            ("an HTTP request", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
            ("protocol version -1", (-1i64).to_be_bytes().to_vec()),
            ("protocol version i64::MIN", i64::MIN.to_be_bytes().to_vec()),
            ("protocol version -65534", InitialMessage::encode(-65534, 99, "127.0.0.1:1")),
            ("a negative address length", {
                let mut b = hello(99);
                b.truncate(16);
                b.extend_from_slice(&(-1i32).to_be_bytes());
                b
            }),
            ("a huge address length", {
                let mut b = hello(99);
                b.truncate(16);
                b.extend_from_slice(&i32::MAX.to_be_bytes());
                b
            }),
            ("an address without a port", InitialMessage::encode(PROTOCOL_VERSION_V1, 99, "127.0.0.1")),
            ("a bad port", InitialMessage::encode(PROTOCOL_VERSION_V1, 99, "127.0.0.1:99999")),
            ("its own sid", hello(sid)),
            ("an unknown sid, then a negative frame length", [hello(99), frame(-5, b"")].concat()),
            ("an unknown sid, then a zero frame length", [hello(99), frame(0, b"")].concat()),
            ("an unknown sid, then a huge frame length", [hello(99), frame(i32::MAX, b"x")].concat()),
            ("an old peer's bare sid, then a huge frame length", [99i64.to_be_bytes().to_vec(), frame(1 << 30, b"")].concat()),
        ];
        for (what, bytes) in cases {
            assert_closed_after(&addr, what, &bytes, &ens);
        }
        // A live peer's sid, larger and smaller than the node's own: the
        // stranger's connection ends at its first bad frame.
        for claimed in SIDS.iter().copied().filter(|s| *s != sid) {
            assert_closed_after(&addr, "a live peer's sid, then a huge frame length", &[hello(claimed), frame(i32::MAX, b"")].concat(), &ens);
        }
    }
    assert_unshaken(&ens, before);
    let follower = if before.0 == 1 { 2 } else { 1 };
    ens.kill9(follower);
    ens.start(follower);
    ens.wait_mode(follower, "follower");
    assert_unshaken(&ens, before);
}
