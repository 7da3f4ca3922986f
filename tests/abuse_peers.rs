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
use common::{assert_server_serves, closed_by_server, four_letter, wait_until, Flavor};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zkserver::quorum::quorum_cnx_manager::{InitialMessage, PROTOCOL_VERSION_V1, PROTOCOL_VERSION_V2};
use zkserver::quorum::quorum_packet::{self as qp, packet, write_packet};
use zkserver::jute::records::QuorumPacket;
use zkserver::quorum::vote::ServerState;

const SIDS: [i64; 3] = [1, 2, 3];
/// tickTime 500 × syncLimit 5 (the election socket timeout) and × initLimit
/// 10 (the learner handshake timeout) in the ensemble's zoo.cfg, plus room
/// for a loaded machine.
const CLOSE_DEADLINE: Duration = Duration::from_secs(20);
/// How long a node may take to answer an election probe on a loaded machine.
const PROBE_DEADLINE: Duration = Duration::from_secs(15);
/// How long a restarted follower may take to rejoin.
const REJOIN_DEADLINE: Duration = Duration::from_secs(40);

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

/// Sends each case's bytes on a connection of its own (all at once, so
/// the handshake timeouts run side by side) and asserts the server closes
/// every one.
#[track_caller]
fn assert_all_closed(addr: &str, cases: Vec<(String, Vec<u8>)>, ens: &Ensemble) {
    let mut open: Vec<(String, TcpStream)> = Vec::new();
    for (what, bytes) in cases {
        let mut s = connect(addr);
        // The server may close before everything is written.
        let _ = s.write_all(&bytes);
        open.push((what, s));
    }
    let start = Instant::now();
    for (what, mut s) in open {
        let left = CLOSE_DEADLINE.saturating_sub(start.elapsed()).max(Duration::from_millis(100));
        assert!(closed_by_server(&mut s, left), "{addr} kept the connection after {what}\n{}", ens.logs());
    }
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
    let mut state_before = None;
    wait_until(PROBE_DEADLINE, || {
        state_before = probe_vote(&target);
        state_before.is_some()
    });
    let state_before = state_before.expect("node 3 answers a probe");
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
        // The old listener was stuck for 128 × cnxTimeout (5 s).
        let answered = wait_until(PROBE_DEADLINE, || probe_vote(&target) == Some(state_before));
        assert!(answered, "node 3's election port stalled after sid {sid}\n{}", ens.logs());
    }
    assert_unshaken(&ens, before);
    // Elections still work: a restarted follower rejoins the same leader.
    let follower = if before.0 == 1 { 2 } else { 1 };
    restart_and_rejoin(&mut ens, follower, "after the attack");
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
        let mut cases: Vec<(String, Vec<u8>)> = cases.into_iter().map(|(w, b)| (w.to_string(), b)).collect();
        // A live peer's sid, larger and smaller than the node's own: the
        // stranger's connection ends at its first bad frame.
        for claimed in SIDS.iter().copied().filter(|s| *s != sid) {
            cases.push((format!("live peer {claimed}'s sid, then a huge frame length"), [hello(claimed), frame(i32::MAX, b"")].concat()));
        }
        assert_all_closed(&addr, cases, &ens);
    }
    assert_unshaken(&ens, before);
    let follower = if before.0 == 1 { 2 } else { 1 };
    restart_and_rejoin(&mut ens, follower, "after the attack");
    assert_unshaken(&ens, before);
}

fn learner_info(sid: i64) -> Vec<u8> {
    let mut d = sid.to_be_bytes().to_vec();
    d.extend_from_slice(&qp::PROTOCOL_VERSION.to_be_bytes());
    d.extend_from_slice(&0i64.to_be_bytes());
    d
}

fn packet_bytes(p: &QuorumPacket) -> Vec<u8> {
    let mut out = Vec::new();
    write_packet(&mut out, p).expect("encode packet");
    out
}

/// Garbage and bogus packets on the leader's quorum port: each such
/// connection is closed, the leader keeps leading and its followers stay.
#[test]
fn quorum_port_garbage_and_bogus_learners_are_closed() {
    let ens = ensemble();
    let before = leader_and_epoch(&ens);
    let addr = format!("127.0.0.1:{}", ens.node(before.0).quorum_port);
    let header = |t: i32, len: i32| {
        let mut b = t.to_be_bytes().to_vec();
        b.extend_from_slice(&0i64.to_be_bytes());
        b.extend_from_slice(&len.to_be_bytes());
        b
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("random bytes", vec![0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d]),
        ("an HTTP request", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("an oversized length prefix", header(qp::FOLLOWERINFO, i32::MAX)),
        ("a length prefix past jute.maxbuffer", header(qp::FOLLOWERINFO, 64 << 20)),
        ("a huge auth-info count", [header(qp::FOLLOWERINFO, -1), i32::MAX.to_be_bytes().to_vec()].concat()),
        ("a PING first", packet_bytes(&packet(qp::PING, 0, None))),
        ("a FOLLOWERINFO without data", packet_bytes(&packet(qp::FOLLOWERINFO, 0, None))),
        ("a FOLLOWERINFO with a short body", packet_bytes(&packet(qp::FOLLOWERINFO, 0, Some(vec![1, 2, 3])))),
        ("a FOLLOWERINFO with an unknown sid", packet_bytes(&packet(qp::FOLLOWERINFO, 0, Some(learner_info(99))))),
        ("a FOLLOWERINFO with a negative sid", packet_bytes(&packet(qp::FOLLOWERINFO, 0, Some(learner_info(-3))))),
        ("an OBSERVERINFO with the leader's sid", packet_bytes(&packet(qp::OBSERVERINFO, 0, Some(learner_info(before.0))))),
    ];
    let mut cases: Vec<(String, Vec<u8>)> = cases.into_iter().map(|(w, b)| (w.to_string(), b)).collect();
    // A live follower's sid: the leader answers LEADERINFO and, with no
    // ACKEPOCH, drops the impostor after initLimit; the real one stays.
    for sid in SIDS.iter().copied().filter(|s| *s != before.0) {
        let fi = packet_bytes(&packet(qp::FOLLOWERINFO, qp::make_zxid(before.1, 0), Some(learner_info(sid))));
        cases.push((format!("a FOLLOWERINFO with follower {sid}'s sid"), fi.clone()));
        cases.push((format!("follower {sid}'s sid, then a huge ACKEPOCH"), [fi.clone(), header(qp::ACKEPOCH, i32::MAX)].concat()));
        // An impostor that acknowledges the epoch with absurd zxids is
        // synced (DIFF, TRUNC or SNAP), then dropped for not acking
        // NEWLEADER.
        for (epoch, zxid) in [(i32::MAX, i64::MAX), (i32::MIN, i64::MIN), (-1, -1), (0, 0), (before.1 as i32, i64::MAX)] {
            let ack = packet_bytes(&packet(qp::ACKEPOCH, zxid, Some(epoch.to_be_bytes().to_vec())));
            cases.push((format!("follower {sid}'s sid, then an ACKEPOCH of epoch {epoch}, zxid {zxid:#x}"), [fi.clone(), ack].concat()));
        }
    }
    assert_all_closed(&addr, cases, &ens);
    assert_unshaken(&ens, before);
    let mntr = four_letter(&ens.node(before.0).client_addr(), "mntr").expect("mntr");
    assert!(mntr.contains("zk_synced_followers\t2"), "the followers left:\n{mntr}");
}

/// A stranger holding `count` connections to `addr` open for as long as it
/// runs: half never write a byte, half trickle `prefix` a byte a second.
/// Each connection the server closes is opened again at once, so the
/// pressure lasts. Records how long the server let each connection live.
struct Slowloris {
    stop: Arc<AtomicBool>,
    /// Connections the server has closed so far.
    closed: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<(usize, Duration)>>,
}

impl Slowloris {
    fn start(addr: String, count: usize, prefix: Vec<u8>) -> Slowloris {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let closed_count = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&closed_count);
        let thread = std::thread::spawn(move || {
            // (socket, opened at, bytes written, trickles); none while the
            // node is down.
            let open = |i: usize| {
                let s = TcpStream::connect(&addr).ok()?;
                s.set_nonblocking(true).ok()?;
                Some((s, Instant::now(), 0usize, i % 2 == 1))
            };
            let mut conns: Vec<Option<(TcpStream, Instant, usize, bool)>> = (0..count).map(open).collect();
            let (mut closed, mut longest) = (0usize, Duration::ZERO);
            while !flag.load(Ordering::Relaxed) {
                for (i, slot) in conns.iter_mut().enumerate() {
                    let Some(c) = slot else {
                        *slot = open(i);
                        continue;
                    };
                    let mut buf = [0u8; 4096];
                    let gone = match c.0.read(&mut buf) {
                        Ok(0) => true,
                        Ok(_) => false,
                        Err(e) => e.kind() != ErrorKind::WouldBlock,
                    };
                    if gone {
                        closed += 1;
                        counter.fetch_add(1, Ordering::Relaxed);
                        longest = longest.max(c.1.elapsed());
                        *slot = open(i);
                    } else if c.3 && c.2 < prefix.len() && c.0.write(&prefix[c.2..c.2 + 1]).unwrap_or(0) == 1 {
                        c.2 += 1;
                    }
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            for c in conns.iter().flatten() {
                longest = longest.max(c.1.elapsed());
            }
            (closed, longest)
        });
        Slowloris { stop, closed: closed_count, thread: Some(thread) }
    }

    /// How many connections the server has closed so far.
    fn closed(&self) -> usize {
        self.closed.load(Ordering::Relaxed)
    }

    /// Stops; returns how many connections the server closed and the
    /// longest time one stayed open.
    fn finish(mut self) -> (usize, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().map(|t| t.join().expect("slowloris thread")).unwrap_or_default()
    }
}

impl Drop for Slowloris {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// How many threads of process `pid` are LearnerHandlers.
fn learner_handler_threads(pid: u32) -> usize {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("task dir");
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .filter(|name| name.starts_with("LearnerHandler"))
        .count()
}

/// Many slowloris connections, kept up for the whole test, on every
/// election port and on the leader's quorum port: a restarted follower
/// still wins its way back in (election and learner sync) within a bound,
/// writes commit, and the server closes every such connection on a
/// handshake timeout rather than holding it for ever.
#[test]
fn slowloris_on_the_peer_ports_does_not_stop_elections_or_syncs() {
    let mut ens = ensemble();
    let before = leader_and_epoch(&ens);
    let follower = if before.0 == 1 { 2 } else { 1 };
    let mut attackers = Vec::new();
    let started = Instant::now();
    for sid in SIDS {
        let hello = InitialMessage::encode(PROTOCOL_VERSION_V1, 1, "127.0.0.1:1");
        attackers.push(("election", sid, Slowloris::start(ens.node(sid).election_addr(), 40, hello)));
    }
    let fi = packet_bytes(&packet(qp::FOLLOWERINFO, 0, Some(learner_info(follower))));
    let quorum = format!("127.0.0.1:{}", ens.node(before.0).quorum_port);
    attackers.push(("quorum", before.0, Slowloris::start(quorum, 100, fi)));
    // Wait until every port's handshake timeout has come round once.
    let timed_out = wait_until(CLOSE_DEADLINE + Duration::from_secs(10), || attackers.iter().all(|a| a.2.closed() > 0));
    assert!(timed_out, "a node held every slowloris connection past its handshake deadline");
    // At most 64 learner sockets wait for their first packet; each has a
    // LearnerHandler thread, as do the two followers. The attacker reopens
    // what was closed in bursts, and an evicted handler takes a moment to
    // exit on a loaded machine, so the bound must hold between bursts.
    let pid = ens.pid(before.0).expect("leader pid");
    let mut seen = Vec::new();
    let bounded = wait_until(Duration::from_secs(15), || {
        let handlers = learner_handler_threads(pid);
        seen.push(handlers);
        handlers <= 64 + 2 + 4
    });
    assert!(bounded, "the leader never ran fewer than {:?} LearnerHandler threads", seen.iter().min());
    for _ in 0..2 {
        restart_and_rejoin(&mut ens, follower, "under slowloris");
        assert_unshaken(&ens, before);
    }
    let following = wait_until(PROBE_DEADLINE, || {
        probe_vote(&ens.node(follower).election_addr()).map(|v| v.0) == Some(ServerState::Following)
    });
    assert!(following, "node {follower} does not say it follows");
    // Keep the pressure on past CLOSE_DEADLINE, so that a server without a
    // handshake deadline shows it by holding a trickler that long.
    let attack_time = CLOSE_DEADLINE + Duration::from_secs(10);
    std::thread::sleep(attack_time.saturating_sub(started.elapsed()));
    for (port, sid, attacker) in attackers {
        let (closed, longest) = attacker.finish();
        assert!(closed > 0, "node {sid} closed no slowloris connection on its {port} port");
        assert!(longest < CLOSE_DEADLINE, "node {sid} held a slowloris connection on its {port} port for {longest:?}");
    }
    assert_unshaken(&ens, before);
}

/// Kills `follower`, starts it again and waits until it follows.
#[track_caller]
fn restart_and_rejoin(ens: &mut Ensemble, follower: i64, under: &str) {
    ens.kill9(follower);
    ens.start(follower);
    let rejoined = wait_until(REJOIN_DEADLINE, || ens.mode(follower).as_deref() == Some("follower"));
    assert!(rejoined, "node {follower} did not rejoin {under}\n{}", ens.logs());
}

/// A LOOKING notification (the 40-byte form) from `sid` voting for itself,
/// framed.
fn notification_frame(sid: i64) -> Vec<u8> {
    let mut note = (ServerState::Looking as i32).to_be_bytes().to_vec();
    for v in [sid, 0i64, 1, 0] {
        note.extend_from_slice(&v.to_be_bytes());
    }
    note.extend_from_slice(&[0; 4]);
    frame(note.len() as i32, &note)
}

/// A stranger (a sid no member has) floods a node's election port with
/// notifications as fast as it can, reading and dropping the answers.
/// Returns how many frames it wrote.
fn flood(addr: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut sent = 0u64;
        let burst: Vec<u8> = (0..256).flat_map(|_| notification_frame(99)).collect();
        while !stop.load(Ordering::Relaxed) {
            let Ok(mut s) = TcpStream::connect(&addr) else {
                std::thread::sleep(Duration::from_millis(100));
                continue;
            };
            let _ = s.write_all(&InitialMessage::encode(PROTOCOL_VERSION_V1, 99, "127.0.0.1:1"));
            let mut r = s.try_clone().expect("clone");
            let drain = std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                while matches!(r.read(&mut buf), Ok(n) if n > 0) {}
            });
            while !stop.load(Ordering::Relaxed) && s.write_all(&burst).is_ok() {
                sent += 256;
            }
            let _ = s.shutdown(std::net::Shutdown::Both);
            let _ = drain.join();
        }
        sent
    })
}

/// A stranger flooding every election port with notifications crowds the
/// shared receive queue (100 messages, the oldest dropped): members'
/// notifications must still get through, so a restarted follower rejoins.
#[test]
fn a_notification_flood_from_a_stranger_does_not_stop_elections() {
    let mut ens = ensemble();
    let before = leader_and_epoch(&ens);
    let follower = if before.0 == 1 { 2 } else { 1 };
    let stop = Arc::new(AtomicBool::new(false));
    let floods: Vec<_> = SIDS.iter().map(|sid| flood(ens.node(*sid).election_addr(), Arc::clone(&stop))).collect();
    for _ in 0..2 {
        restart_and_rejoin(&mut ens, follower, "under a notification flood");
    }
    assert_unshaken(&ens, before);
    stop.store(true, Ordering::Relaxed);
    let sent: u64 = floods.into_iter().map(|f| f.join().expect("flood thread")).sum();
    assert!(sent > 10_000, "the flood sent only {sent} notifications");
}

/// An impostor that claims a follower's sid, acknowledges the epoch with a
/// zxid older than anything the leader logged (so it is sent a SNAP) and
/// then never reads: the LearnerHandler streaming the snapshot must give
/// up within initLimit rather than sit on the write for ever.
#[test]
fn a_learner_that_stops_reading_a_snap_is_dropped() {
    let ens = ensemble();
    let c = ens.client(1);
    let big = vec![b'x'; 900_000];
    for i in 0..24 {
        c.create(&format!("/big-{i}"), Some(&big), &zkserver::zoo_defs::ids::open_acl_unsafe(), zkserver::zoo_defs::CreateMode::Persistent)
            .expect("create a big node");
    }
    let before = leader_and_epoch(&ens);
    let follower = if before.0 == 1 { 2 } else { 1 };
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    sock.set_recv_buffer_size(4096).expect("small receive buffer");
    let quorum: SocketAddr = format!("127.0.0.1:{}", ens.node(before.0).quorum_port).parse().expect("addr");
    sock.connect(&quorum.into()).expect("connect to the quorum port");
    let mut s: TcpStream = sock.into();
    let local = s.local_addr().expect("local addr");
    let fi = packet_bytes(&packet(qp::FOLLOWERINFO, qp::make_zxid(before.1, 0), Some(learner_info(follower))));
    let ack = packet_bytes(&packet(qp::ACKEPOCH, i64::MIN, Some((-1i32).to_be_bytes().to_vec())));
    s.write_all(&[fi, ack].concat()).expect("handshake");
    let goodbye = format!("GOODBYE /{local}");
    let leader_log = || ens.node(before.0).log();
    assert!(
        wait_until(Duration::from_secs(60), || leader_log().contains("Sending snapshot")),
        "the impostor was not sent a SNAP\n{}",
        ens.logs()
    );
    assert!(
        wait_until(CLOSE_DEADLINE, || leader_log().contains(&goodbye)),
        "the leader still streams a SNAP to an impostor that does not read\n{}",
        ens.logs()
    );
    drop(s);
    assert_unshaken(&ens, before);
}

/// Strangers that use up what the election port has to give: connections
/// kept for sids no member has (capped at quorum.cnxn.threads.size, 20,
/// beyond which they are closed), and dial-backs to non-member sids at
/// addresses that never answer (each holds a dialing thread for
/// cnxTimeout; the last slots are kept for members). A follower restarted
/// meanwhile still rejoins.
#[test]
fn strangers_cannot_use_up_the_election_port() {
    let mut ens = ensemble();
    let before = leader_and_epoch(&ens);
    let follower = if before.0 == 1 { 2 } else { 1 };
    // Non-member connections, 30 per node: at most 20 stay.
    let mut kept = Vec::new();
    for sid in SIDS {
        let addr = ens.node(sid).election_addr();
        let mut conns: Vec<TcpStream> = (0..30)
            .map(|i| {
                let mut s = connect(&addr);
                s.write_all(&InitialMessage::encode(PROTOCOL_VERSION_V1, 1000 + i, "127.0.0.1:1")).expect("hello");
                s
            })
            .collect();
        let start = Instant::now();
        let wait = |start: Instant| Duration::from_secs(3).saturating_sub(start.elapsed()).max(Duration::from_millis(10));
        let closed = conns.iter_mut().map(|s| closed_by_server(s, wait(start))).filter(|c| *c).count();
        assert!(closed >= 10, "node {sid} kept {} of 30 non-member connections\n{}", 30 - closed, ens.logs());
        kept.extend(conns);
    }
    // Dial-back claims for ever new non-member sids at a blackhole.
    let hole = Blackhole::new();
    let stop = Arc::new(AtomicBool::new(false));
    let claims = Arc::new(AtomicI64::new(0));
    let claimers: Vec<_> = SIDS
        .iter()
        .map(|sid| {
            let (addr, stop, port) = (ens.node(*sid).election_addr(), Arc::clone(&stop), hole.port);
            let claims = Arc::clone(&claims);
            std::thread::spawn(move || {
                let mut claimed = 0i64;
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(mut s) = TcpStream::connect(&addr) {
                        let hello = InitialMessage::encode(PROTOCOL_VERSION_V1, -10 - claimed, &format!("127.0.0.1:{port}"));
                        let _ = s.write_all(&hello);
                        claimed += 1;
                        claims.fetch_add(1, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
        })
        .collect();
    // The restart comes once the leader's dialing budget is used up.
    let budget_used =
        wait_until(REJOIN_DEADLINE, || ens.node(before.0).log().contains("election connections are being dialed already"));
    assert!(budget_used, "the dial budget was never reached\n{}", ens.logs());
    let claimed_at_restart = claims.load(Ordering::Relaxed);
    restart_and_rejoin(&mut ens, follower, "while strangers held the election port");
    assert_unshaken(&ens, before);
    // The claimers kept the dial budget busy through the restart. How many
    // claims fit in it depends on how fast the restart is, so only that they
    // went on is checked (a count of 60 failed once elections got faster).
    let still_claiming = wait_until(REJOIN_DEADLINE, || claims.load(Ordering::Relaxed) > claimed_at_restart + 3);
    stop.store(true, Ordering::Relaxed);
    for c in claimers {
        c.join().expect("claimer");
    }
    assert!(still_claiming, "the strangers stopped claiming at {claimed_at_restart} claims");
    drop(kept);
}
