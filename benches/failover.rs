//! Ensemble failover benchmarks: a 3-node localhost ensemble (fsync on,
//! tickTime=2000, initLimit=10, syncLimit=5 for both servers: the zoo.cfg of
//! `support::BenchEnsemble`) loses its leader to `kill -9`, and the bench
//! measures how soon the clients are served again, zkserver beside Java
//! ZooKeeper 3.8 in the same run.
//!
//!     cargo bench --bench failover                      # both scenarios, 10k sessions, ~5 min
//!     ZKBENCH_QUICK=1 cargo bench --bench failover      # storm of 500 sessions, 2 rounds
//!     ZKBENCH_FILTER=storm cargo bench --bench failover # one scenario (failover or storm)
//!
//! Scenarios:
//! - `failover`: one session on the leader writes steadily (setData, one in
//!   flight); the leader is killed; the figure is the time from the kill to
//!   the first write sent after the kill that is acknowledged (through a
//!   surviving node, same session id). Goal: ≤ 0.5× Java's.
//! - `storm`: N sessions (10 000; ZKBENCH_QUICK=1: 500) spread round-robin
//!   over the three nodes, idle and pinging; the leader is killed; the
//!   figure is the time from the kill until every session has been
//!   re-established with its own session id on a surviving node and has had
//!   one setData acknowledged there (also the median session). Goal: ≤ 0.5×
//!   Java's.
//!
//! Each kind keeps one ensemble for the whole run; rounds alternate
//! zkserver and Java, and between rounds the killed node is started again
//! on its dataDir and the ensemble waits until all three serve. The report
//! gives each kind's median over the rounds and the ratio zkserver/Java,
//! with the goal met or MISSED; the table goes to stdout, the figures to
//! target/bench/failover.json (failover-smoke.json for the smoke run).
//!
//! The client side is one thread multiplexing every session over
//! non-blocking sockets and epoll (edge-triggered). A session that loses its
//! connection reconnects as ZooKeeper's clients do: the next host of its
//! list (all three nodes, in order from the one it was on), with its session
//! id, password and last zxid seen; a host that refuses or drops it sends it
//! on to the next. Between attempts it waits 10 ms, doubling to at most
//! 100 ms, with ±50% jitter, so that the figures are the servers' rather
//! than the client's (Java's client waits up to 1 s at random before each
//! attempt, noise that would swamp both servers alike); an attempt that gets no
//! answer within timeout/3 (10 s, Java's connect timeout) is given up, as is
//! a connection silent for 2/3 of the timeout. Pings go every 10 s. The
//! bench raises RLIMIT_NOFILE to its hard limit (inherited by the servers)
//! and gives both servers maxClientCnxns=0, as all sessions come from
//! 127.0.0.1.
//!
//! Environment: ZKBENCH_QUICK=1, ZKBENCH_ONLY (zkserver or java),
//! ZKBENCH_FILTER (failover or storm), ZKBENCH_ROUNDS (default 3; quick 2),
//! ZKBENCH_SESSIONS (the storm's sessions), ZKBENCH_JAVA_HEAP_MB (default
//! 1000), ZKBENCH_KEEP=1.
//!
//! Run by `cargo test --benches` (no `--bench` argument) it does a smoke
//! run against zkserver only: one round of each scenario, the storm with
//! 200 sessions, in a few seconds.

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::fmt::Write as _;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use support::{env_flag, BenchEnsemble, Epoll, Kind};
use zkserver::client::ZkClient;
use zkserver::jute::records::{ConnectRequest, ConnectResponse, ReplyHeader, RequestHeader, SetDataRequest};
use zkserver::jute::{InputArchive, Record};
use zkserver::zoo_defs::{ids, op_code, xid, CreateMode};

const SESSION_TIMEOUT_MS: i32 = 30_000;
const PING_EVERY: Duration = Duration::from_secs(10);
const BACKOFF_FIRST: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_millis(100);
/// Connection attempts in progress at once while the sessions are first
/// opened (not timed); after the kill every session retries on its own.
const SETUP_CONNECTING: usize = 256;
const START_DEADLINE: Duration = Duration::from_secs(120);
const STOP_DEADLINE: Duration = Duration::from_secs(60);
const RECOVERY_DEADLINE: Duration = Duration::from_secs(120);
const WRITE_PATH: &str = "/zkbench-failover";
const MAX_FRAME: usize = 1 << 20;
const ENSEMBLE_SIZE: usize = 3;

// ---------------------------------------------------------------------------
// Sessions multiplexed over epoll

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No connection; the next attempt is due at the instant.
    Down(Instant),
    /// Non-blocking connect in progress.
    Connecting,
    /// ConnectRequest sent, waiting for the ConnectResponse.
    Handshaking,
    Ready,
    /// closeSession answered (or given up): no longer driven.
    Closed,
}

/// What the sessions write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writes {
    /// Always one setData in flight while connected.
    Steady,
    /// One setData on the first connection established after the kill.
    OnceAfterKill,
}

struct Session {
    /// Index into the driver's addresses of the host tried or used now.
    host: usize,
    sock: Option<Socket>,
    /// Bumped with every socket, so that a stale epoll event is ignored.
    generation: u32,
    phase: Phase,
    /// When the current phase began.
    since: Instant,
    id: i64,
    passwd: Vec<u8>,
    last_zxid: i64,
    next_xid: i32,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    /// The xid of the setData (or closeSession) in flight.
    in_flight: Option<i32>,
    /// When the setData in flight was sent.
    in_flight_sent: Instant,
    closing: bool,
    last_send: Instant,
    last_recv: Instant,
    backoff: Duration,
    /// When the current connection's handshake completed.
    connected_at: Option<Instant>,
    /// After the kill: re-established with its own id.
    reconnected_at: Option<Instant>,
    /// After the kill: a write sent after the kill acknowledged.
    written_at: Option<Instant>,
    writes: u64,
}

impl Session {
    fn new(host: usize, now: Instant) -> Session {
        Session {
            host,
            sock: None,
            generation: 0,
            phase: Phase::Down(now),
            since: now,
            id: 0,
            passwd: vec![0; 16],
            last_zxid: 0,
            next_xid: 1,
            rbuf: Vec::new(),
            wbuf: Vec::new(),
            in_flight: None,
            in_flight_sent: now,
            closing: false,
            last_send: now,
            last_recv: now,
            backoff: BACKOFF_FIRST,
            connected_at: None,
            reconnected_at: None,
            written_at: None,
            writes: 0,
        }
    }

    fn queue(&mut self, xid: i32, op: i32, body: &[u8]) {
        let mut frame = RequestHeader { xid, r#type: op }.to_bytes();
        frame.extend_from_slice(body);
        self.queue_frame(&frame);
    }

    fn queue_frame(&mut self, frame: &[u8]) {
        // Frames are far below i32::MAX.
        self.wbuf.extend_from_slice(&(frame.len() as i32).to_be_bytes());
        self.wbuf.extend_from_slice(frame);
        self.last_send = Instant::now();
    }

    fn take_xid(&mut self) -> i32 {
        let x = self.next_xid;
        self.next_xid = self.next_xid.wrapping_add(1).max(1);
        x
    }
}

/// Every session of a scenario, driven by one thread.
struct Driver {
    epoll: Epoll,
    addrs: Vec<SocketAddr>,
    sessions: Vec<Session>,
    writes: Writes,
    kill_at: Option<Instant>,
    /// Connection attempts allowed at once (set-up only).
    max_connecting: usize,
    value: Vec<u8>,
    rng: u64,
    /// After the kill: connection attempts, and those given up unanswered.
    attempts: u64,
    timeouts: u64,
}

impl Driver {
    /// `count` sessions, session `i` first on host `(first + i) % hosts`.
    fn new(addrs: Vec<SocketAddr>, count: usize, first: usize, writes: Writes) -> Result<Driver, String> {
        let now = Instant::now();
        let n = addrs.len();
        Ok(Driver {
            epoll: Epoll::new()?,
            sessions: (0..count).map(|i| Session::new((first + i) % n, now)).collect(),
            addrs,
            writes,
            kill_at: None,
            max_connecting: SETUP_CONNECTING,
            value: vec![b'x'; 100],
            rng: 0x9e37_79b9_7f4a_7c15,
            attempts: 0,
            timeouts: 0,
        })
    }

    fn jitter(&mut self, d: Duration) -> Duration {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let f = 0.5 + (self.rng >> 11) as f64 / (1u64 << 53) as f64;
        d.mul_f64(f)
    }

    /// Drops the connection and schedules the next host.
    fn lose(&mut self, i: usize) {
        let backoff = self.sessions[i].backoff;
        let wait = self.jitter(backoff);
        let n = self.addrs.len();
        let s = &mut self.sessions[i];
        s.sock = None;
        s.rbuf.clear();
        s.wbuf.clear();
        s.in_flight = None;
        s.connected_at = None;
        s.host = (s.host + 1) % n;
        s.backoff = (backoff * 2).min(BACKOFF_MAX);
        let now = Instant::now();
        s.phase = if s.closing { Phase::Closed } else { Phase::Down(now + wait) };
        s.since = now;
    }

    fn start_connect(&mut self, i: usize) -> Result<(), String> {
        let addr = self.addrs[self.sessions[i].host];
        self.attempts += 1;
        let sock = Socket::new(Domain::IPV4, Type::STREAM, None).map_err(|e| format!("socket: {e}"))?;
        sock.set_nonblocking(true).map_err(|e| format!("non-blocking: {e}"))?;
        let _ = sock.set_nodelay(true);
        // Given-up sockets reset rather than linger in TIME_WAIT: the storm
        // makes many attempts and the local port range is finite.
        let _ = sock.set_linger(Some(Duration::ZERO));
        match sock.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(_) => {
                self.lose(i);
                return Ok(());
            }
        }
        let s = &mut self.sessions[i];
        s.generation = s.generation.wrapping_add(1);
        let token = (u64::from(s.generation) << 32) | i as u64;
        self.epoll.add(sock.as_raw_fd(), libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET, token)?;
        s.sock = Some(sock);
        s.phase = Phase::Connecting;
        s.since = Instant::now();
        Ok(())
    }

    /// Writes what is queued; a full socket waits for the next EPOLLOUT.
    fn flush(&mut self, i: usize) {
        let s = &mut self.sessions[i];
        let Some(sock) = s.sock.as_ref() else { return };
        let mut sock: &Socket = sock;
        let mut written = 0;
        let mut failed = false;
        while written < s.wbuf.len() {
            match sock.write(&s.wbuf[written..]) {
                Ok(0) => {
                    failed = true;
                    break;
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        s.wbuf.drain(..written);
        if failed {
            self.lose(i);
        }
    }

    fn send_write(&mut self, i: usize) -> Result<(), String> {
        let body = SetDataRequest { path: WRITE_PATH.to_string(), data: Some(self.value.clone()), version: -1 }
            .to_bytes();
        let s = &mut self.sessions[i];
        let x = s.take_xid();
        s.in_flight = Some(x);
        s.in_flight_sent = Instant::now();
        s.queue(x, op_code::SET_DATA, &body);
        Ok(())
    }

    /// Whether the session should have a setData in flight now.
    fn wants_write(&self, i: usize) -> bool {
        let s = &self.sessions[i];
        s.phase == Phase::Ready
            && !s.closing
            && s.in_flight.is_none()
            && match self.writes {
                Writes::Steady => true,
                Writes::OnceAfterKill => self.kill_at.is_some() && s.written_at.is_none(),
            }
    }

    fn on_event(&mut self, token: u64) -> Result<(), String> {
        let i = (token & 0xffff_ffff) as usize;
        let Some(s) = self.sessions.get(i) else { return Ok(()) };
        if s.generation != (token >> 32) as u32 || s.sock.is_none() {
            return Ok(());
        }
        if s.phase == Phase::Connecting {
            let failed = match s.sock.as_ref().map(Socket::take_error) {
                Some(Ok(None)) => false,
                _ => true,
            };
            // Still connecting and no error: EPOLLOUT has not come yet.
            if failed {
                self.lose(i);
                return Ok(());
            }
            let s = &mut self.sessions[i];
            if s.sock.as_ref().and_then(|k| k.peer_addr().ok()).is_none() {
                return Ok(());
            }
            let req = ConnectRequest {
                protocol_version: 0,
                last_zxid_seen: s.last_zxid,
                time_out: SESSION_TIMEOUT_MS,
                session_id: s.id,
                passwd: s.passwd.clone(),
            };
            let mut body = req.to_bytes();
            body.push(0); // readOnly false
            s.queue_frame(&body);
            s.phase = Phase::Handshaking;
            s.since = Instant::now();
        }
        self.flush(i);
        self.read(i)
    }

    fn read(&mut self, i: usize) -> Result<(), String> {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let s = &mut self.sessions[i];
            let Some(sock) = s.sock.as_ref() else { return Ok(()) };
            let mut sock: &Socket = sock;
            match sock.read(&mut buf) {
                Ok(0) => {
                    self.lose(i);
                    return Ok(());
                }
                Ok(n) => {
                    s.rbuf.extend_from_slice(&buf[..n]);
                    s.last_recv = Instant::now();
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.lose(i);
                    return Ok(());
                }
            }
        }
        loop {
            let s = &mut self.sessions[i];
            if s.rbuf.len() < 4 {
                break;
            }
            let len = i32::from_be_bytes([s.rbuf[0], s.rbuf[1], s.rbuf[2], s.rbuf[3]]);
            if len < 0 || len as usize > MAX_FRAME {
                return Err(format!("bad frame length {len} from {}", self.addrs[s.host]));
            }
            if s.rbuf.len() < 4 + len as usize {
                break;
            }
            let frame: Vec<u8> = s.rbuf.drain(..4 + len as usize).skip(4).collect();
            self.on_frame(i, &frame)?;
            if self.sessions[i].sock.is_none() {
                return Ok(());
            }
        }
        if self.wants_write(i) {
            self.send_write(i)?;
        }
        self.flush(i);
        Ok(())
    }

    fn on_frame(&mut self, i: usize, frame: &[u8]) -> Result<(), String> {
        let kill_at = self.kill_at;
        let host = self.addrs[self.sessions[i].host];
        let s = &mut self.sessions[i];
        let now = Instant::now();
        if s.phase == Phase::Handshaking {
            let rsp = ConnectResponse::deserialize(&mut InputArchive::new(frame))
                .map_err(|e| format!("ConnectResponse from {host}: {e}"))?;
            if rsp.time_out <= 0 {
                return Err(format!("{host} expired session 0x{:x}", s.id));
            }
            if s.id != 0 && rsp.session_id != s.id {
                return Err(format!("{host} answered session 0x{:x} with 0x{:x}", s.id, rsp.session_id));
            }
            if s.id != 0 && kill_at.is_some() && s.reconnected_at.is_none() {
                s.reconnected_at = Some(now);
            }
            s.id = rsp.session_id;
            s.passwd = rsp.passwd;
            s.phase = Phase::Ready;
            s.since = now;
            s.backoff = BACKOFF_FIRST;
            s.connected_at = Some(now);
            return Ok(());
        }
        let mut ia = InputArchive::new(frame);
        let hdr = ReplyHeader::deserialize(&mut ia).map_err(|e| format!("reply header from {host}: {e}"))?;
        if hdr.zxid > 0 {
            s.last_zxid = s.last_zxid.max(hdr.zxid);
        }
        if hdr.xid == xid::PING || hdr.xid == xid::NOTIFICATION || Some(hdr.xid) != s.in_flight {
            return Ok(());
        }
        s.in_flight = None;
        if s.closing {
            s.sock = None;
            s.phase = Phase::Closed;
            return Ok(());
        }
        if hdr.err != 0 {
            return Err(format!("setData through {host} failed: {}", zkserver::client::code_name(hdr.err)));
        }
        s.writes += 1;
        // A write sent before the kill may still be acknowledged by the
        // dying leader's quorum; only one sent after it counts.
        let after_kill = kill_at.is_some_and(|k| s.in_flight_sent > k);
        if after_kill && s.written_at.is_none() {
            s.written_at = Some(now);
        }
        Ok(())
    }

    /// Timers: due reconnects, given-up attempts, pings, silent connections.
    fn tick(&mut self) -> Result<(), String> {
        let now = Instant::now();
        let connect_timeout = Duration::from_millis(SESSION_TIMEOUT_MS as u64) / self.addrs.len() as u32;
        let read_timeout = Duration::from_millis(SESSION_TIMEOUT_MS as u64 * 2 / 3);
        let mut connecting = self
            .sessions
            .iter()
            .filter(|s| matches!(s.phase, Phase::Connecting | Phase::Handshaking))
            .count();
        for i in 0..self.sessions.len() {
            let s = &self.sessions[i];
            match s.phase {
                Phase::Down(due) if due <= now && connecting < self.max_connecting => {
                    connecting += 1;
                    self.start_connect(i)?;
                }
                Phase::Connecting | Phase::Handshaking if now - s.since > connect_timeout => {
                    self.timeouts += 1;
                    self.lose(i);
                }
                Phase::Ready if now - s.last_recv > read_timeout => self.lose(i),
                Phase::Ready if now - s.last_send > PING_EVERY => {
                    self.sessions[i].queue(xid::PING, op_code::PING, &[]);
                    self.flush(i);
                }
                Phase::Ready if self.wants_write(i) => {
                    self.send_write(i)?;
                    self.flush(i);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Drives the sessions until `done` holds or `deadline` passes.
    fn run_until(&mut self, deadline: Duration, what: &str, done: impl Fn(&Driver) -> bool) -> Result<(), String> {
        let end = Instant::now() + deadline;
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
        let mut last_tick = Instant::now();
        loop {
            if done(self) {
                return Ok(());
            }
            if Instant::now() >= end {
                return Err(format!("{what}: not done after {deadline:?} ({})", self.summary()));
            }
            let ready = self.epoll.wait(&mut events, Duration::from_millis(5))?;
            for ev in &events[..ready] {
                self.on_event(ev.u64)?;
            }
            if last_tick.elapsed() >= Duration::from_millis(5) {
                self.tick()?;
                last_tick = Instant::now();
            }
        }
    }

    fn count(&self, f: impl Fn(&Session) -> bool) -> usize {
        self.sessions.iter().filter(|s| f(s)).count()
    }

    fn summary(&self) -> String {
        format!(
            "{} sessions: {} ready, {} reconnected, {} written after the kill",
            self.sessions.len(),
            self.count(|s| s.phase == Phase::Ready),
            self.count(|s| s.reconnected_at.is_some()),
            self.count(|s| s.written_at.is_some())
        )
    }

    /// Opens every session (not timed).
    fn establish(&mut self) -> Result<(), String> {
        let deadline = START_DEADLINE + Duration::from_millis(self.sessions.len() as u64 * 20);
        self.run_until(deadline, "opening the sessions", |d| d.count(|s| s.phase == Phase::Ready) == d.sessions.len())?;
        self.max_connecting = usize::MAX;
        Ok(())
    }

    /// Closes every session with closeSession (not timed; sessions that do
    /// not answer within the deadline are left to expire).
    fn close_all(&mut self) {
        for i in 0..self.sessions.len() {
            let s = &mut self.sessions[i];
            s.closing = true;
            if s.phase == Phase::Ready {
                let x = s.take_xid();
                s.in_flight = Some(x);
                s.queue(x, op_code::CLOSE_SESSION, &[]);
                self.flush(i);
            } else {
                s.sock = None;
                s.phase = Phase::Closed;
            }
        }
        let _ = self.run_until(STOP_DEADLINE, "closing", |d| d.count(|s| s.phase != Phase::Closed) == 0);
    }
}

// ---------------------------------------------------------------------------
// Scenarios

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Failover,
    Storm,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Failover => "failover",
            Scenario::Storm => "storm",
        }
    }
}

/// One round's figures, in milliseconds from the kill.
#[derive(Debug, Clone, Copy)]
struct Round {
    /// The last session re-established with its own id.
    reconnected_ms: f64,
    /// The median session written after the kill.
    median_written_ms: f64,
    /// The last session written after the kill (the scenario's figure).
    all_written_ms: f64,
    /// Which node (1-based) was killed.
    killed: usize,
    /// Connection attempts after the kill, and those that got no answer
    /// within the connect timeout.
    attempts: u64,
    timeouts: u64,
    load: f64,
}

fn ms_since(kill: Instant, t: Option<Instant>) -> f64 {
    t.map_or(f64::NAN, |t| t.saturating_duration_since(kill).as_secs_f64() * 1e3)
}

fn load_1m() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// One kind's ensemble, kept across rounds.
struct Cluster {
    ensemble: BenchEnsemble,
    leader: usize,
}

impl Cluster {
    fn start(kind: Kind, s: &Settings) -> Result<Cluster, String> {
        let mut ensemble = BenchEnsemble::new(kind, &s.zkserver_bin, s.java_heap_mb, s.keep_dirs, ENSEMBLE_SIZE)?;
        ensemble.append_cfg("maxClientCnxns=0\n")?;
        ensemble.spawn()?;
        let leader = ensemble.wait_ready(START_DEADLINE)?;
        let c = ZkClient::connect(ensemble.nodes[leader].addr(), SESSION_TIMEOUT_MS)
            .map_err(|e| format!("connect: {e}"))?;
        c.create(WRITE_PATH, Some(b"0"), &ids::open_acl_unsafe(), CreateMode::Persistent)
            .map_err(|e| format!("create {WRITE_PATH}: {e:?}"))?;
        let _ = c.close();
        Ok(Cluster { ensemble, leader })
    }

    fn addrs(&self) -> Result<Vec<SocketAddr>, String> {
        self.ensemble
            .nodes
            .iter()
            .map(|n| n.addr().parse().map_err(|e| format!("{}: {e}", n.addr())))
            .collect()
    }

    /// One round: open the sessions, kill the leader, wait until every
    /// session is served again, close them, restart the killed node.
    fn round(&mut self, scenario: Scenario, sessions: usize) -> Result<Round, String> {
        let addrs = self.addrs()?;
        let (count, first, writes) = match scenario {
            Scenario::Failover => (1, self.leader, Writes::Steady),
            Scenario::Storm => (sessions, 0, Writes::OnceAfterKill),
        };
        let mut d = Driver::new(addrs, count, first, writes)?;
        d.establish()?;
        if scenario == Scenario::Failover {
            // Writes flow before the kill.
            d.run_until(Duration::from_secs(30), "writing before the kill", |d| d.sessions[0].writes >= 20)?;
        }
        let killed = self.leader;
        let kill_at = self.ensemble.nodes[killed].kill9()?;
        d.kill_at = Some(kill_at);
        (d.attempts, d.timeouts) = (0, 0);
        let recovered = d.run_until(RECOVERY_DEADLINE, "recovering", |d| {
            d.count(|s| s.written_at.is_some()) == d.sessions.len()
        });
        let load = load_1m();
        if let Err(e) = recovered {
            return Err(format!("{e}\n{}", self.ensemble.log_tails(20)));
        }
        let mut written: Vec<f64> = d.sessions.iter().map(|s| ms_since(kill_at, s.written_at)).collect();
        written.sort_by(f64::total_cmp);
        let reconnected = d
            .sessions
            .iter()
            .map(|s| ms_since(kill_at, s.reconnected_at.or(s.connected_at)))
            .fold(0.0, f64::max);
        let round = Round {
            reconnected_ms: reconnected,
            median_written_ms: written[written.len() / 2],
            all_written_ms: written[written.len() - 1],
            killed: killed + 1,
            attempts: d.attempts,
            timeouts: d.timeouts,
            load,
        };
        d.close_all();
        drop(d);
        self.ensemble.nodes[killed].spawn()?;
        self.leader = self.ensemble.wait_ready(START_DEADLINE)?;
        Ok(round)
    }
}

// ---------------------------------------------------------------------------
// Settings, report

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Full,
    Quick,
    Smoke,
}

struct Settings {
    mode: Mode,
    scenarios: Vec<Scenario>,
    kinds: Vec<Kind>,
    rounds: usize,
    sessions: usize,
    java_heap_mb: u32,
    keep_dirs: bool,
    zkserver_bin: PathBuf,
    json_out: PathBuf,
    nofile: u64,
}

/// The goal: zkserver's time at most this fraction of Java's.
const GOAL_RATIO: f64 = 0.5;

fn env_number(name: &str) -> Result<Option<usize>, String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => {
            v.trim().parse().map(Some).map_err(|_| format!("{name}={v}: not a number"))
        }
        _ => Ok(None),
    }
}

impl Settings {
    fn from_env() -> Result<Settings, String> {
        let bench = std::env::args().any(|a| a == "--bench");
        let mode = match (bench, env_flag("ZKBENCH_QUICK")) {
            (false, _) => Mode::Smoke,
            (true, true) => Mode::Quick,
            (true, false) => Mode::Full,
        };
        let filter = std::env::var("ZKBENCH_FILTER").unwrap_or_default();
        let scenarios: Vec<Scenario> = [Scenario::Failover, Scenario::Storm]
            .into_iter()
            .filter(|s| filter.is_empty() || filter.split(',').any(|f| s.name().contains(f.trim())))
            .collect();
        if scenarios.is_empty() {
            return Err(format!("ZKBENCH_FILTER={filter}: expected failover or storm"));
        }
        let kinds = match (mode, std::env::var("ZKBENCH_ONLY").as_deref()) {
            (Mode::Smoke, _) | (_, Ok("zkserver")) => vec![Kind::Zkserver],
            (_, Ok("java")) => vec![Kind::Java],
            (_, Ok("")) | (_, Err(_)) => vec![Kind::Zkserver, Kind::Java],
            (_, Ok(other)) => return Err(format!("ZKBENCH_ONLY={other}: expected zkserver or java")),
        };
        let (rounds, sessions) = match mode {
            Mode::Full => (3, 10_000),
            Mode::Quick => (2, 500),
            Mode::Smoke => (1, 200),
        };
        let rounds = env_number("ZKBENCH_ROUNDS")?.unwrap_or(rounds).max(1);
        let sessions = env_number("ZKBENCH_SESSIONS")?.unwrap_or(sessions).max(1);
        let java_heap_mb = env_number("ZKBENCH_JAVA_HEAP_MB")?.map_or(1000, |m| m as u32);
        let zkserver_bin = PathBuf::from(env!("CARGO_BIN_EXE_zkserver"));
        let target = zkserver_bin
            .parent()
            .and_then(Path::parent)
            .ok_or_else(|| format!("no target directory above {}", zkserver_bin.display()))?;
        let json_name = if mode == Mode::Smoke { "failover-smoke.json" } else { "failover.json" };
        // Each session is a socket here and one on a server; the storm's
        // servers hold all of them between two nodes.
        let nofile = support::raise_nofile_limit()?;
        if scenarios.contains(&Scenario::Storm) && (nofile as usize) < sessions + 1000 {
            return Err(format!(
                "RLIMIT_NOFILE is {nofile}, too low for {sessions} sessions: raise the hard limit (ulimit -Hn) or set ZKBENCH_SESSIONS"
            ));
        }
        Ok(Settings {
            mode,
            scenarios,
            kinds,
            rounds,
            sessions,
            java_heap_mb,
            keep_dirs: env_flag("ZKBENCH_KEEP"),
            json_out: target.join("bench").join(json_name),
            zkserver_bin,
            nofile,
        })
    }
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

struct Outcome {
    scenario: Scenario,
    rounds: Vec<(Kind, Round)>,
}

impl Outcome {
    fn median(&self, k: Kind, get: fn(&Round) -> f64) -> Option<f64> {
        let v: Vec<f64> = self.rounds.iter().filter(|(kind, _)| *kind == k).map(|(_, r)| get(r)).collect();
        (!v.is_empty()).then(|| median(&v))
    }

    fn ratio(&self, get: fn(&Round) -> f64) -> Option<f64> {
        let (z, j) = (self.median(Kind::Zkserver, get)?, self.median(Kind::Java, get)?);
        (j > 0.0).then(|| z / j)
    }

    fn sessions(&self, s: &Settings) -> usize {
        match self.scenario {
            Scenario::Failover => 1,
            Scenario::Storm => s.sessions,
        }
    }
}

/// Figures of the report: label, JSON key, reading.
const ROWS: [(&str, &str, fn(&Round) -> f64); 3] = [
    ("kill -> all written ms", "all_written_ms", |r| r.all_written_ms),
    ("kill -> median written ms", "median_written_ms", |r| r.median_written_ms),
    ("kill -> all reconnected ms", "reconnected_ms", |r| r.reconnected_ms),
];

fn cell(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{v:.0}"))
}

fn report(s: &Settings, outcomes: &[Outcome], load_before: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nfailover benchmark ({:?} run): 3-node localhost ensembles, fsync on, tickTime=2000 initLimit=10 syncLimit=5, \
         kill -9 of the leader, medians of {} round(s) per server, Java -Xmx{}m per node, RLIMIT_NOFILE {}",
        s.mode, s.rounds, s.java_heap_mb, s.nofile
    );
    let _ = writeln!(out, "machine: {load_before} before the run, {} after", support::machine_load());
    let _ = writeln!(
        out,
        "\n{:<22} {:<28} {:>10} {:>10} {:>15}",
        "scenario", "figure (median)", "zkserver", "java", "zkserver/java"
    );
    for o in outcomes {
        for (i, (label, _, get)) in ROWS.iter().enumerate() {
            let name = if i == 0 { format!("{} ({})", o.scenario.name(), o.sessions(s)) } else { String::new() };
            let _ = writeln!(
                out,
                "{name:<22} {label:<28} {:>10} {:>10} {:>15}",
                cell(o.median(Kind::Zkserver, *get)),
                cell(o.median(Kind::Java, *get)),
                o.ratio(*get).map_or("-".to_string(), |r| format!("{r:.3}"))
            );
        }
        for (k, r) in &o.rounds {
            let _ = writeln!(
                out,
                "{:<22} note: {} round: killed node {}, all written {:.0} ms, {} connection attempts ({} unanswered), load {:.2}",
                "",
                k.name(),
                r.killed,
                r.all_written_ms,
                r.attempts,
                r.timeouts,
                r.load
            );
        }
    }
    if s.kinds.len() == 2 {
        let _ = writeln!(out, "\ngoals (zkserver/java, kill -> all written):");
        for o in outcomes {
            let r = o.ratio(ROWS[0].2);
            let _ = writeln!(
                out,
                "  {:<22} <= {GOAL_RATIO}: {} ({})",
                o.scenario.name(),
                r.map_or("-".to_string(), |r| format!("{r:.2}")),
                match r {
                    Some(r) if r <= GOAL_RATIO => "met",
                    Some(_) => "MISSED",
                    None => "not measured",
                }
            );
        }
    }
    out
}

fn json_num(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.1}")
    } else {
        "null".to_string()
    }
}

fn json(s: &Settings, outcomes: &[Outcome], load_before: &str) -> String {
    let scenarios: Vec<String> = outcomes
        .iter()
        .map(|o| {
            let servers: Vec<String> = s
                .kinds
                .iter()
                .map(|&k| {
                    let medians: Vec<String> = ROWS
                        .iter()
                        .map(|(_, key, get)| format!("\"{key}\": {}", o.median(k, *get).map_or("null".into(), json_num)))
                        .collect();
                    let rounds: Vec<String> = o
                        .rounds
                        .iter()
                        .filter(|(kind, _)| *kind == k)
                        .map(|(_, r)| {
                            format!(
                                "{{\"killed_node\": {}, \"all_written_ms\": {}, \"median_written_ms\": {}, \"reconnected_ms\": {}, \"attempts\": {}, \"unanswered\": {}, \"load_1m\": {}}}",
                                r.killed,
                                json_num(r.all_written_ms),
                                json_num(r.median_written_ms),
                                json_num(r.reconnected_ms),
                                r.attempts,
                                r.timeouts,
                                json_num(r.load)
                            )
                        })
                        .collect();
                    format!("\"{}\": {{{}, \"rounds\": [{}]}}", k.name(), medians.join(", "), rounds.join(", "))
                })
                .collect();
            let ratios: Vec<String> = ROWS
                .iter()
                .filter_map(|(_, key, get)| Some(format!("\"{key}\": {}", json_num(o.ratio(*get)?))))
                .collect();
            let r = o.ratio(ROWS[0].2);
            format!(
                "    {{\"scenario\": \"{}\", \"sessions\": {}, \"servers\": {{{}}}, \"ratio_zkserver_over_java\": {{{}}}, \
                 \"goal\": {{\"what\": \"all_written_ms <=\", \"target\": {GOAL_RATIO}, \"ratio\": {}, \"met\": {}}}}}",
                o.scenario.name(),
                o.sessions(s),
                servers.join(", "),
                ratios.join(", "),
                r.map_or("null".into(), json_num),
                r.map_or("null".into(), |r| (r <= GOAL_RATIO).to_string())
            )
        })
        .collect();
    format!(
        "{{\n  \"machine_before\": \"{load_before}\",\n  \"machine_after\": \"{}\",\n  \"mode\": \"{:?}\",\n  \
         \"rounds\": {},\n  \"tick_time_ms\": 2000, \"init_limit\": 10, \"sync_limit\": 5,\n  \"scenarios\": [\n{}\n  ]\n}}\n",
        support::machine_load(),
        s.mode,
        s.rounds,
        scenarios.join(",\n")
    )
}

fn run() -> Result<(), String> {
    let s = Settings::from_env()?;
    let load_before = support::machine_load();
    eprintln!(
        "zkserver binary: {}; {:?} run, {} round(s), storm of {} sessions; {load_before}",
        s.zkserver_bin.display(),
        s.mode,
        s.rounds,
        s.sessions
    );
    let mut clusters = Vec::new();
    for &k in &s.kinds {
        eprintln!("[{}] starting a 3-node ensemble", k.name());
        clusters.push((k, Cluster::start(k, &s).map_err(|e| format!("{}: {e}", k.name()))?));
    }
    let mut outcomes = Vec::new();
    for &scenario in &s.scenarios {
        let mut rounds = Vec::new();
        for n in 0..s.rounds {
            for (k, c) in clusters.iter_mut() {
                let r = c
                    .round(scenario, s.sessions)
                    .map_err(|e| format!("{} round {} / {}: {e}", scenario.name(), n + 1, k.name()))?;
                eprintln!(
                    "[{}] {} round {}: killed node {}, all reconnected {:.0} ms, all written {:.0} ms (median {:.0} ms), {} attempts ({} unanswered), load {:.2}",
                    k.name(),
                    scenario.name(),
                    n + 1,
                    r.killed,
                    r.reconnected_ms,
                    r.all_written_ms,
                    r.median_written_ms,
                    r.attempts,
                    r.timeouts,
                    r.load
                );
                rounds.push((*k, r));
            }
        }
        outcomes.push(Outcome { scenario, rounds });
    }
    for (k, c) in clusters.iter_mut() {
        c.ensemble.stop(STOP_DEADLINE).map_err(|e| format!("stopping {}: {e}", k.name()))?;
    }
    print!("{}", report(&s, &outcomes, &load_before));
    if let Some(dir) = s.json_out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::write(&s.json_out, json(&s, &outcomes, &load_before))
        .map_err(|e| format!("cannot write {}: {e}", s.json_out.display()))?;
    println!("wrote {}", s.json_out.display());
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("failover bench failed: {e}");
        std::process::exit(1);
    }
}
