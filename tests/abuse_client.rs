//! Abuse of the client port by clients that play unfair: storms of
//! connections reset before or after the server registers them, running
//! the server out of file descriptors, pipelining far more than the server
//! should hold while never reading a reply, and trickling a byte a second.
//! Each case is bounded in time, checks that other clients keep being
//! served, and cleans up its server even when it fails.

mod common;

use common::*;
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use zkserver::client::client_cnxn::handshake;
use zkserver::client::{ConnectOptions, ZkClient};
use zkserver::jute::multi::{MultiOperationRecord, Op};
use zkserver::jute::records::{AddWatchRequest, ConnectRequest, GetDataRequest, RequestHeader, SetDataRequest};
use zkserver::jute::Record;
use zkserver::zoo_defs::{add_watch_mode, ids, op_code, CreateMode};

const WAIT: Duration = Duration::from_secs(30);

/// Stops a process (SIGSTOP) until dropped (SIGCONT), so a failing test
/// never leaves its server frozen.
struct Paused(u32);

impl Paused {
    /// Returns once every thread of the process is stopped: SIGSTOP is
    /// delivered asynchronously, and on a loaded machine the AcceptThread
    /// could otherwise still accept connections meant to queue.
    fn new(pid: u32) -> Paused {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
        let paused = Paused(pid);
        let all_stopped = || {
            fs::read_dir(format!("/proc/{pid}/task")).is_ok_and(|tasks| {
                tasks.flatten().all(|t| {
                    // The state follows the ")" that closes the command name.
                    fs::read_to_string(t.path().join("stat"))
                        .ok()
                        .and_then(|st| st.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('T')))
                        .unwrap_or(true)
                })
            })
        };
        assert!(wait_until(Duration::from_secs(10), all_stopped), "pid {pid} did not stop");
        paused
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { libc::kill(self.0 as i32, libc::SIGCONT) };
    }
}

/// Closes a socket with a reset (SO_LINGER 0) instead of a FIN.
fn reset(sock: TcpStream) {
    let _ = socket2::SockRef::from(&sock).set_linger(Some(Duration::ZERO));
    drop(sock);
}

fn connect_request_frame() -> Vec<u8> {
    let req = ConnectRequest { protocol_version: 0, last_zxid_seen: 0, time_out: 30000, session_id: 0, passwd: vec![0; 16] };
    let mut body = req.to_bytes();
    body.push(0);
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend(body);
    frame
}

fn ping_frame() -> Vec<u8> {
    let mut f = 8i32.to_be_bytes().to_vec();
    f.extend(RequestHeader { xid: -2, r#type: op_code::PING }.to_bytes());
    f
}

fn request_frame(xid: i32, op: i32, body: &impl Record) -> Vec<u8> {
    let mut b = RequestHeader { xid, r#type: op }.to_bytes();
    b.extend(body.to_bytes());
    let mut frame = (b.len() as i32).to_be_bytes().to_vec();
    frame.extend(b);
    frame
}

/// Whether a new session can be opened and answers a read.
fn serves(addr: &str) -> bool {
    ZkClient::connect(addr, 30000).map(|c| c.exists("/", false).map(|s| s.is_some()).unwrap_or(false)).unwrap_or(false)
}

fn log_text(s: &TestServer) -> String {
    fs::read_to_string(s.log_path()).unwrap_or_default()
}

/// A connection whose peer resets it while it waits in the accept queue
/// cannot be registered (getpeername fails with ENOTCONN); one reset later
/// is closed on its first read. Either way its place in maxClientCnxns must
/// be given back: before, each reset-while-queued connection leaked one, and
/// after maxClientCnxns of them the IP was refused until a restart.
#[test]
fn connect_and_reset_storms_leave_max_client_cnxns_intact() {
    const N: usize = 10;
    let s = TestServer::start(ServerOpts::default().cfg("maxClientCnxns", &N.to_string()));
    let addr: SocketAddr = s.addr().parse().unwrap();
    let pid = s.pid().expect("server pid");
    // Resets while queued: the server is frozen while the kernel completes
    // the handshakes (all 40 fit in the accept queue), and every one is
    // reset before the server gets to accept it.
    for _ in 0..3 {
        {
            let _frozen = Paused::new(pid);
            let socks: Vec<TcpStream> =
                (0..40).filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()).collect();
            assert!(socks.len() >= 10, "only {} connections queued while the server was frozen", socks.len());
            socks.into_iter().for_each(reset);
        }
        // The queue drains before the next round.
        assert!(wait_until(WAIT, || four_letter(&s.addr(), "ruok").is_ok_and(|r| r == "imok")));
    }
    // Resets racing the running server, half after a connect request.
    let hello = connect_request_frame();
    for i in 0..300 {
        if let Ok(mut sock) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            if i % 2 == 0 {
                let _ = sock.write_all(&hello);
            }
            reset(sock);
        }
    }
    // That IP can still open N sessions, and each is served.
    let mut clients: Vec<ZkClient> = Vec::new();
    let all = wait_until(WAIT, || {
        while clients.len() < N {
            match ZkClient::connect(s.addr(), 30000) {
                Ok(c) => clients.push(c),
                Err(_) => return false,
            }
        }
        true
    });
    assert!(all, "only {} of {N} connections accepted after the storm: the per-IP count leaked", clients.len());
    for c in &clients {
        assert!(c.exists("/", false).expect("exists").is_some());
    }
    // ... and the limit itself still holds.
    let mut extra = raw_connect(&s.addr());
    assert!(closed_by_server(&mut extra, Duration::from_secs(10)), "connection {} from one IP not refused", N + 1);
}

fn open_fds(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// Connections that complete their handshake while the server is frozen,
/// tried one after another until the first that does not within
/// `patience` (the accept queue is full: the kernel drops its SYN), or
/// `most` of them.
fn queued_while_frozen(pid: u32, addr: &SocketAddr, most: usize, patience: Duration) -> usize {
    let _frozen = Paused::new(pid);
    let mut socks = Vec::new();
    while socks.len() < most {
        match TcpStream::connect_timeout(addr, patience) {
            Ok(s) => socks.push(s),
            Err(_) => break,
        }
    }
    let n = socks.len();
    socks.into_iter().for_each(reset);
    n
}

/// A reconnect storm meets a busy server. With clientPortListenBacklog
/// unset, Java's client port listens with a backlog of 50, so the 52nd
/// session to arrive before the server accepts has its SYN dropped and
/// retries only after the kernel's 1 s, then 3 s: the tail of a storm of
/// thousands. zkserver listens with the kernel's limit (net.core.somaxconn)
/// instead, and every one of them waits in the queue. An explicit
/// clientPortListenBacklog is still honoured.
#[test]
fn a_storm_waits_in_the_accept_queue_and_an_explicit_backlog_is_honoured() {
    let somaxconn: usize = fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .expect("net.core.somaxconn");
    let storm = 200.min(somaxconn);
    assert!(storm > 51, "net.core.somaxconn is {somaxconn}: too small to tell our backlog from Java's 50");
    let s = TestServer::start_default();
    let addr: SocketAddr = s.addr().parse().unwrap();
    let queued = queued_while_frozen(s.pid().expect("server pid"), &addr, storm, Duration::from_secs(10));
    assert_eq!(queued, storm, "a frozen server's accept queue held {queued} of {storm} connections");
    assert!(wait_until(WAIT, || serves(&s.addr())), "not serving after the storm");

    const BACKLOG: usize = 5;
    let s = TestServer::start(ServerOpts::default().cfg("clientPortListenBacklog", &BACKLOG.to_string()));
    let addr: SocketAddr = s.addr().parse().unwrap();
    let queued = queued_while_frozen(s.pid().expect("server pid"), &addr, 4 * BACKLOG, Duration::from_millis(500));
    // The kernel holds one more than the backlog.
    assert!(
        (1..=BACKLOG + 1).contains(&queued),
        "with clientPortListenBacklog={BACKLOG} a frozen server's accept queue held {queued} connections"
    );
    assert!(wait_until(WAIT, || serves(&s.addr())), "not serving after the queue filled");
}

/// Sets the running process's soft RLIMIT_NOFILE (what `prlimit --pid
/// --nofile=n:` does), leaving the hard limit so it can be raised again.
fn set_nofile(pid: u32, n: u64) {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: prlimit(2) on our own child's pid, reading into `lim`, then
    // writing a valid rlimit.
    let rc = unsafe {
        libc::prlimit(pid as i32, libc::RLIMIT_NOFILE, std::ptr::null(), &mut lim);
        lim.rlim_cur = n;
        libc::prlimit(pid as i32, libc::RLIMIT_NOFILE, &lim, std::ptr::null_mut())
    };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
}

/// With its descriptors used up, accept() fails (EMFILE) while connections
/// wait in the backlog. The AcceptThread must log, pause and keep trying,
/// as Java's does; before, it gave up for good the first time it could not
/// duplicate the listening socket (which it did before every accept), and
/// the server never accepted again.
#[test]
fn running_out_of_descriptors_then_serving_again() {
    let s = TestServer::start_default();
    let pid = s.pid().expect("server pid");
    let limit = open_fds(pid) as u64 + 16;
    set_nofile(pid, limit);
    let addr: SocketAddr = s.addr().parse().unwrap();
    let socks: Vec<TcpStream> =
        (0..60).filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()).collect();
    assert!(
        wait_until(WAIT, || log_text(&s).contains("Too many open files")),
        "the server never ran out of descriptors (limit {limit}, {} connections)",
        socks.len()
    );
    drop(socks);
    assert!(wait_until(WAIT, || serves(&s.addr())), "not serving again after the descriptors came back");
    // Now with no descriptor free at all (a new one must be numbered below
    // the limit, and 0-2 are taken), as when other threads take the last
    // ones: even a dup() of the listener fails. Then the limit is raised.
    let errors = log_text(&s).matches("Too many open files").count();
    let mut old = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: prlimit(2) reading our own child's limit into `old`.
    unsafe { libc::prlimit(pid as i32, libc::RLIMIT_NOFILE, std::ptr::null(), &mut old) };
    set_nofile(pid, 3);
    let waiting = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("queued connection");
    assert!(
        wait_until(WAIT, || log_text(&s).matches("Too many open files").count() > errors),
        "no accept error logged with no descriptor free (is the accept thread gone?)"
    );
    set_nofile(pid, old.rlim_cur);
    drop(waiting);
    assert!(wait_until(WAIT, || serves(&s.addr())), "not serving again after the limit was raised");
    assert_server_serves(&s.addr());
}

/// VmRSS of a process in KiB, 0 once it is gone.
fn vm_rss_kib(pid: u32) -> u64 {
    proc_status_kib(pid, "VmRSS").unwrap_or(0)
}

/// A raw session that writes `frames` over and over until `stop` (or
/// `limit` bytes), never reading a reply; returns the bytes it got out.
fn flood(addr: &str, frames: &[u8], limit: u64, stop: &AtomicBool, sent: &AtomicU64) {
    let mut sock = raw_connect(addr);
    handshake(&mut sock, &ConnectOptions::new(30000)).expect("handshake");
    sock.set_write_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut off = 0;
    while !stop.load(Ordering::Acquire) && sent.load(Ordering::Relaxed) < limit {
        match sock.write(&frames[off..]) {
            Ok(n) => {
                sent.fetch_add(n as u64, Ordering::Relaxed);
                off = (off + n) % frames.len();
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
            Err(e) => panic!("flood connection failed: {e}"),
        }
    }
}

/// Two clients pipeline requests and never read a reply: one asks for a
/// 256 KiB node again and again (each tiny request would queue 256 KiB of
/// reply), the other sends 64 KiB setData requests, hundreds of MiB of
/// them (64 KiB, because the server keeps the last 500 txns in memory for
/// learners' DIFF syncs, as Java does: 32 MiB of them here). The server must stop reading from each once it holds its share
/// (requests in flight plus unwritten replies) so their own sockets hold
/// them back, while a third client keeps being served.
///
/// The bound, 200 MiB of resident memory, is about ten times what the
/// server uses here when idle, and over twice what the limits allow the
/// two connections plus those kept txns (8 MiB of requests and replies
/// each, at most 128 queued replies of 256 KiB, 32 MiB of txns); before the limits the getData
/// client alone drove the server past it within a second. Java queues
/// every reply of a client that does not read (and reads until 1000
/// requests are in flight server-wide), so it has no such bound.
#[test]
fn clients_that_never_read_cannot_grow_the_server() {
    const BOUND_KIB: u64 = 200 * 1024;
    let s = TestServer::start_default();
    let pid = s.pid().expect("server pid");
    let c = s.client();
    let acl = ids::open_acl_unsafe();
    c.create("/big", Some(&vec![b'b'; 256 << 10]), &acl, CreateMode::Persistent).unwrap();
    c.create("/w", None, &acl, CreateMode::Persistent).unwrap();
    let gets: Vec<u8> = (1..=1000)
        .flat_map(|i| request_frame(i, op_code::GET_DATA, &GetDataRequest { path: "/big".into(), watch: false }))
        .collect();
    let sets: Vec<u8> =
        request_frame(1, op_code::SET_DATA, &SetDataRequest { path: "/w".into(), data: Some(vec![b's'; 64 << 10]), version: -1 });
    let stop = AtomicBool::new(false);
    let (got, set) = (AtomicU64::new(0), AtomicU64::new(0));
    let mut peak = 0;
    let mut served = 0;
    std::thread::scope(|scope| {
        let stop = &stop;
        let _stop_on_exit = StopOnDrop(stop);
        scope.spawn(|| flood(&s.addr(), &gets, u64::MAX, stop, &got));
        scope.spawn(|| flood(&s.addr(), &sets, 400 << 20, stop, &set));
        let end = Instant::now() + Duration::from_secs(20);
        while Instant::now() < end {
            let rss = vm_rss_kib(pid);
            peak = peak.max(rss);
            assert!(rss < BOUND_KIB, "server RSS {rss} KiB passed {BOUND_KIB} KiB");
            let t = Instant::now();
            assert!(c.exists("/big", false).expect("another client's read").is_some());
            c.set_data("/w", Some(b"probe"), -1).expect("another client's write");
            assert!(t.elapsed() < Duration::from_secs(10), "another client waited {:?}", t.elapsed());
            served += 1;
            std::thread::sleep(Duration::from_millis(100));
        }
        stop.store(true, Ordering::Release);
    });
    let (got, set) = (got.load(Ordering::Relaxed), set.load(Ordering::Relaxed));
    eprintln!(
        "peak RSS {} MiB; getData flood {} KiB sent, setData flood {} MiB sent; {served} probes served",
        peak / 1024,
        got / 1024,
        set >> 20
    );
    // Not vacuous: the getData flood asked for far more than the bound
    // (each 30-byte request is 256 KiB of reply) and the setData flood
    // pushed more through than the server may hold.
    assert!(got / 30 * 256 > BOUND_KIB, "the getData flood sent only {got} bytes");
    assert!(set > 32 << 20, "the setData flood sent only {set} bytes");
    assert_server_serves(&s.addr());
}

struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Whether the server has closed `sock` (EOF or an error on a
/// non-blocking read).
fn gone(sock: &mut TcpStream) -> bool {
    let mut b = [0u8; 64];
    sock.set_nonblocking(true).unwrap();
    let r = sock.read(&mut b);
    sock.set_nonblocking(false).unwrap();
    match r {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != ErrorKind::WouldBlock,
    }
}

/// Slowloris: connections that send one byte a second. One never finishes
/// its connect request; the server must close it once the sessionless
/// connection timeout passes. Java pushes a connection's deadline out on
/// every readiness, so there a byte a second keeps it open for ever; here
/// only a whole request (or a reply leaving) does. The other has a session
/// (4 s timeout, no pings) and trickles a ping; it is closed once its
/// session timeout passes, as in Java. Meanwhile another client is served.
#[test]
fn slowloris_connections_are_closed_when_their_timeout_passes() {
    let s = TestServer::start(ServerOpts::default().prop("zookeeper.nio.sessionlessCnxnTimeout", "3000"));
    let c = s.client();
    let mut sessionless = raw_connect(&s.addr());
    let sessionless_bytes = connect_request_frame();
    let mut with_session = raw_connect(&s.addr());
    let hs = handshake(&mut with_session, &ConnectOptions::new(4000)).expect("handshake");
    assert_eq!(hs.response.time_out, 4000);
    let ping = ping_frame();
    let start = Instant::now();
    let mut closed: [Option<Duration>; 2] = [None, None];
    for i in 0.. {
        assert!(start.elapsed() < Duration::from_secs(25), "still open after 25 s: {closed:?}");
        for (k, (sock, bytes)) in
            [(&mut sessionless, &sessionless_bytes), (&mut with_session, &ping)].into_iter().enumerate()
        {
            if closed[k].is_none() {
                let b = bytes[i % bytes.len()];
                if sock.write_all(&[b]).is_err() || gone(sock) {
                    closed[k] = Some(start.elapsed());
                }
            }
        }
        if closed.iter().all(Option::is_some) {
            break;
        }
        assert!(c.exists("/", false).expect("another client is served").is_some());
        // The attack's pace, not a wait for a condition.
        std::thread::sleep(Duration::from_secs(1));
    }
    eprintln!("closed after {closed:?}");
    // Closed by their timeouts, not by anything sooner.
    assert!(closed.iter().all(|t| t.is_some_and(|t| t >= Duration::from_secs(2))), "{closed:?}");
    assert_server_serves(&s.addr());
}

/// A client sets a persistent-recursive watch on `/` and then never reads,
/// while another writes: every change is an event queued for it whether it
/// reads or not, so the limits on requests in flight do not bound its
/// queue. Java queues events until the session ends, and keeps reading the
/// client's pings, so a client that pings and never reads holds them for
/// ever. zkserver stops reading such a client (so it ends at its session
/// timeout at the latest, here 5 minutes) and shuts its connection once
/// 32 MiB are unread. Here 96 MiB of events (~1 KiB each) are made; the
/// server must stay under 120 MiB resident (it peaks near 70; without the
/// cut it passed 120 after 83 MiB of events), shut the watcher's socket,
/// log why, and go on serving.
#[test]
fn a_watcher_that_never_reads_is_disconnected_before_its_events_grow_the_server() {
    const BOUND_KIB: u64 = 120 * 1024;
    const EVENTS_BYTES: usize = 96 << 20;
    let s = TestServer::start(ServerOpts::default().cfg("forceSync", "no").cfg("maxSessionTimeout", "300000"));
    let pid = s.pid().expect("server pid");
    let c = s.client();
    let long = format!("/{}", "n".repeat(1000));
    c.create(&long, None, &ids::open_acl_unsafe(), CreateMode::Persistent).unwrap();

    let mut watcher = raw_connect(&s.addr());
    handshake(&mut watcher, &ConnectOptions::new(300_000)).expect("handshake");
    let add = AddWatchRequest { path: "/".into(), mode: add_watch_mode::PERSISTENT_RECURSIVE };
    watcher.write_all(&request_frame(1, op_code::ADD_WATCH, &add)).unwrap();
    let mut reply = [0u8; 20];
    watcher.read_exact(&mut reply).expect("addWatch reply");
    assert_eq!(&reply[4..8], &1i32.to_be_bytes(), "the addWatch reply");
    assert_eq!(&reply[16..20], &0i32.to_be_bytes(), "addWatch succeeded");

    // Each multi changes the long-named node 50 times: 50 events of ~1 KiB
    // for the watcher, in a txn small enough that the 500 the server keeps
    // for learners stay small.
    let multi = {
        let ops = (0..50).map(|_| Op::SetData(SetDataRequest { path: long.clone(), data: None, version: -1 })).collect();
        let mut oa = zkserver::jute::OutputArchive::new();
        MultiOperationRecord { ops }.serialize(&mut oa);
        oa.into_inner()
    };
    let per_multi = 50 * (long.len() + 32);
    let mut peak = 0;
    let mut made = 0;
    while made < EVENTS_BYTES {
        let r = c.submit_bytes(op_code::MULTI, &multi).expect("multi");
        assert_eq!(r.header.err, 0, "multi");
        made += per_multi;
        if made % (per_multi * 100) == 0 {
            let rss = vm_rss_kib(pid);
            peak = peak.max(rss);
            assert!(rss < BOUND_KIB, "server RSS {rss} KiB passed {BOUND_KIB} KiB after {} MiB of events", made >> 20);
        }
    }
    // What the watcher can still read is what was queued before the
    // server gave up on it, then EOF.
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 20];
    watcher.set_read_timeout(Some(WAIT)).unwrap();
    loop {
        match watcher.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the watcher's connection is still open after {} MiB: {e}", got >> 20),
        }
    }
    eprintln!("peak RSS {} MiB; {} MiB of events made, {} MiB read by the watcher", peak >> 10, made >> 20, got >> 20);
    assert!(got < 48 << 20, "the watcher read {} MiB: the queue was not cut at 32 MiB", got >> 20);
    assert!(log_text(&s).contains("unread"), "the server says why it closed the watcher");
    assert_server_serves(&s.addr());
}
