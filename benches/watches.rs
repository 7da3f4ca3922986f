//! The watch benchmark: what many watches cost a server, zkserver beside
//! Apache ZooKeeper 3.8 in the same run.
//!
//!     ZKBENCH_JAVA_HEAP_MB=8000 cargo bench --bench watches   # 10M watches, 10k sessions
//!     ZKBENCH_QUICK=1 cargo bench --bench watches            # 1/100 of that, about a minute
//!     ZKBENCH_WATCH_SCALE=10 cargo bench --bench watches     # 1/10
//!
//! Three phases, each on a fresh server of each kind:
//! - memory, 10k sessions x 1k paths: 1000 nodes, every session sets an
//!   exists watch on each (10M watches); the server's VmRSS once they are
//!   set, its growth over the RSS with the sessions open and no watch, and
//!   the watch count `wchs` reports (checked against the expected one);
//! - memory, 100 sessions x 100k paths: the same with 100,000 nodes;
//! - fan-out: 10k sessions watch one node, another session sets it; the
//!   time from sending the setData to the last watcher's notification
//!   arriving (and to the median one), the median over `FANOUT_ROUNDS`
//!   rounds (watches are one-shot: each round sets them again).
//!
//! Aims: RSS at most 0.1 of Java's in both memory phases, the last
//! notification at least 3x sooner than Java's (ratio <= 0.33).
//!
//! The driver does not spend a thread per session: a few threads open the
//! sessions and pipeline each session's requests in turn (blocking
//! sockets), and during the fan-out the sockets are non-blocking and
//! watched by `RECV_THREADS` epoll loops, each stamping the arrival of
//! every notification. The bench raises its RLIMIT_NOFILE to the hard
//! limit, which the servers inherit (the JVM raises its own to the hard
//! limit too); each zoo.cfg sets maxClientCnxns=0 (Java allows 60
//! connections per address by default), a maxSessionTimeout that keeps
//! idle sessions alive through the longest phase, and whitelists wchs.
//!
//! Environment: ZKBENCH_QUICK=1 (scale 1/100), ZKBENCH_WATCH_SCALE=N
//! (scale 1/N), ZKBENCH_FILTER (the phases to run, comma separated:
//! many_sessions, many_paths, fanout), ZKBENCH_ONLY (zkserver or java), ZKBENCH_JAVA_HEAP_MB
//! (default 8000: Java holds 10M watches in hash maps), ZKBENCH_KEEP=1.
//! The table goes to stdout and the figures to target/bench/watches.json.
//!
//! Run by `cargo test --benches` (no `--bench` argument) it does a smoke
//! run at scale 1/1000 against zkserver only, in seconds, and writes no
//! JSON.

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::fmt::Write as _;
use std::io::{BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::{machine_load, BenchServer, Epoll, Kind};
use zkserver::client::client_cnxn::{handshake, read_frame, write_frame, MAX_FRAME};
use zkserver::client::{code_name, ConnectOptions, ZkClient};
use zkserver::jute::records::{
    CreateRequest, ExistsRequest, ReplyHeader, RequestHeader, WatcherEvent,
};
use zkserver::jute::{InputArchive, Record};
use zkserver::zoo_defs::{ids, op_code, CreateMode};

/// Long enough that sessions idle while the others set their watches
/// stay alive (the servers cap it at maxSessionTimeout, set to match).
const SESSION_TIMEOUT_MS: i32 = 1_800_000;
const IO_TIMEOUT: Duration = Duration::from_secs(300);
const START_DEADLINE: Duration = Duration::from_secs(180);
const STOP_DEADLINE: Duration = Duration::from_secs(120);
const DEFAULT_JAVA_HEAP_MB: u32 = 8000;
/// Threads opening sessions and setting watches.
const SETUP_THREADS: usize = 4;
/// Threads waiting for the fan-out's notifications, each on its own epoll.
const RECV_THREADS: usize = 2;
/// Requests a session keeps outstanding while pipelining (with
/// `SETUP_THREADS` sessions at a time this stays within Java's
/// globalOutstandingLimit of 1000).
const PIPELINE: usize = 250;
const FANOUT_ROUNDS: usize = 5;
const SETTLE: Duration = Duration::from_secs(2);
const ROOT: &str = "/zkwatch";
const HOT: &str = "/zkwatch/hot";
/// ZooKeeper's EventType.NodeDataChanged.
const NODE_DATA_CHANGED: i32 = 3;

/// Full-scale shapes: (sessions, paths) for the memory phases, and the
/// watchers of the fan-out.
/// The first shape scales its sessions, the second its paths.
const MEMORY_SHAPES: [(usize, usize); 2] = [(10_000, 1_000), (100, 100_000)];
/// The names ZKBENCH_FILTER knows the memory shapes by.
const MEMORY_PHASES: [&str; 2] = ["many_sessions", "many_paths"];
const FANOUT_PHASE: &str = "fanout";
const FANOUT_WATCHERS: usize = 10_000;
const TARGET_RSS_RATIO: f64 = 0.1;
const TARGET_FANOUT_RATIO: f64 = 1.0 / 3.0;

struct Settings {
    /// Every count is divided by this (1: full scale).
    scale: usize,
    kinds: Vec<Kind>,
    java_heap_mb: u32,
    zkserver_bin: PathBuf,
    keep: bool,
    rounds: usize,
    json_out: Option<PathBuf>,
    /// The phases ZKBENCH_FILTER names (all when empty).
    phases: Vec<String>,
}

/// ZKBENCH_FILTER's phase names, each checked.
fn phases_from_env() -> Result<Vec<String>, String> {
    let filter = std::env::var("ZKBENCH_FILTER").unwrap_or_default();
    let phases: Vec<String> = filter.split(',').map(str::trim).filter(|p| !p.is_empty()).map(String::from).collect();
    match phases.iter().find(|p| !MEMORY_PHASES.contains(&p.as_str()) && p.as_str() != FANOUT_PHASE) {
        Some(bad) => Err(format!("ZKBENCH_FILTER={filter}: unknown phase {bad} (expected many_sessions, many_paths or fanout)")),
        None => Ok(phases),
    }
}

impl Settings {
    fn from_env() -> Result<Settings, String> {
        let bench_mode = std::env::args().any(|a| a == "--bench");
        let parse = |name: &str| -> Result<Option<u64>, String> {
            match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => {
                    v.trim().parse().map(Some).map_err(|_| format!("{name}={v}: not a number"))
                }
                _ => Ok(None),
            }
        };
        let quick = std::env::var("ZKBENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let scale = match (bench_mode, parse("ZKBENCH_WATCH_SCALE")?) {
            (false, _) => 1000,
            (true, Some(n)) if n >= 1 => n as usize,
            (true, Some(_)) => return Err("ZKBENCH_WATCH_SCALE must be at least 1".to_string()),
            (true, None) if quick => 100,
            (true, None) => 1,
        };
        let kinds = match (bench_mode, std::env::var("ZKBENCH_ONLY").as_deref()) {
            (false, _) | (_, Ok("zkserver")) => vec![Kind::Zkserver],
            (_, Ok("java")) => vec![Kind::Java],
            (_, Ok("")) | (_, Err(_)) => vec![Kind::Zkserver, Kind::Java],
            (_, Ok(other)) => return Err(format!("ZKBENCH_ONLY={other}: expected zkserver or java")),
        };
        let java_heap_mb = parse("ZKBENCH_JAVA_HEAP_MB")?.map_or(DEFAULT_JAVA_HEAP_MB, |v| v as u32);
        let zkserver_bin = PathBuf::from(env!("CARGO_BIN_EXE_zkserver"));
        let json_out = if bench_mode {
            let target = zkserver_bin
                .parent()
                .and_then(Path::parent)
                .ok_or_else(|| format!("no target directory above {}", zkserver_bin.display()))?;
            Some(target.join("bench").join("watches.json"))
        } else {
            None
        };
        Ok(Settings {
            scale,
            kinds,
            java_heap_mb,
            zkserver_bin,
            keep: std::env::var("ZKBENCH_KEEP").is_ok_and(|v| v == "1"),
            rounds: if bench_mode { FANOUT_ROUNDS } else { 2 },
            json_out,
            phases: phases_from_env()?,
        })
    }

    /// Whether ZKBENCH_FILTER lets phase `name` run.
    fn runs(&self, name: &str) -> bool {
        self.phases.is_empty() || self.phases.iter().any(|p| p == name)
    }

    fn scaled(&self, n: usize) -> usize {
        (n / self.scale).max(1)
    }
}

// ---------------------------------------------------------------------------
// Sessions

/// One open session: its socket, a reader over it and its next xid.
struct Session {
    input: BufReader<TcpStream>,
    xid: i32,
}

impl Session {
    fn open(addr: &str) -> Result<Session, String> {
        let mut s = TcpStream::connect(addr).map_err(|e| format!("connect to {addr}: {e}"))?;
        let setup = |s: &TcpStream| {
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(IO_TIMEOUT))?;
            s.set_write_timeout(Some(IO_TIMEOUT))
        };
        setup(&s).map_err(|e| format!("socket options: {e}"))?;
        let hs = handshake(&mut s, &ConnectOptions::new(SESSION_TIMEOUT_MS))
            .map_err(|e| format!("handshake with {addr}: {e}"))?;
        if hs.response.time_out <= 0 {
            return Err(format!("{addr} refused the session"));
        }
        Ok(Session { input: BufReader::with_capacity(64 * 1024, s), xid: 1 })
    }

    fn stream(&self) -> &TcpStream {
        self.input.get_ref()
    }

    /// Sends the requests `PIPELINE` at a time and reads every reply,
    /// failing on any error code.
    fn pipeline(&mut self, requests: impl Iterator<Item = (i32, Vec<u8>)>) -> Result<(), String> {
        let mut requests = requests.peekable();
        let mut batch = Vec::with_capacity(64 * 1024);
        while requests.peek().is_some() {
            batch.clear();
            let first = self.xid;
            for (op, body) in requests.by_ref().take(PIPELINE) {
                let mut frame = RequestHeader { xid: self.xid, r#type: op }.to_bytes();
                frame.extend_from_slice(&body);
                write_frame(&mut batch, &frame).map_err(|e| format!("encode: {e}"))?;
                self.xid += 1;
            }
            self.stream().write_all(&batch).map_err(|e| format!("send: {e}"))?;
            for xid in first..self.xid {
                let frame = read_frame(&mut self.input, MAX_FRAME).map_err(|e| format!("reply to xid {xid}: {e}"))?;
                let hdr = ReplyHeader::from_bytes(&frame).map_err(|e| format!("reply header: {e}"))?;
                if hdr.xid != xid || hdr.err != 0 {
                    return Err(format!("xid {xid} answered xid {} err {}", hdr.xid, code_name(hdr.err)));
                }
            }
        }
        Ok(())
    }
}

/// Runs `f` on every session, the sessions split over `SETUP_THREADS`.
fn for_each_session(
    sessions: &mut [Session],
    f: impl Fn(&mut Session) -> Result<(), String> + Sync,
) -> Result<(), String> {
    let per = sessions.len().div_ceil(SETUP_THREADS).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = sessions
            .chunks_mut(per)
            .map(|chunk| scope.spawn(|| chunk.iter_mut().try_for_each(&f)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a setup thread panicked".to_string())))
            .collect()
    })
}

/// Opens `n` sessions over `SETUP_THREADS` threads.
fn open_sessions(addr: &str, n: usize) -> Result<Vec<Session>, String> {
    let per = n.div_ceil(SETUP_THREADS).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .step_by(per)
            .map(|from| {
                scope.spawn(move || (from..(from + per).min(n)).map(|_| Session::open(addr)).collect::<Result<Vec<_>, _>>())
            })
            .collect();
        let mut all = Vec::with_capacity(n);
        for h in handles {
            all.extend(h.join().unwrap_or_else(|_| Err("a connecting thread panicked".to_string()))?);
        }
        Ok(all)
    })
}

fn node_path(i: usize) -> String {
    format!("{ROOT}/n/{i}")
}

fn exists_watch(path: String) -> (i32, Vec<u8>) {
    (op_code::EXISTS, ExistsRequest { path, watch: true }.to_bytes())
}

/// Creates /zkwatch, /zkwatch/n with `nodes` children and /zkwatch/hot.
fn create_tree(addr: &str, nodes: usize) -> Result<(), String> {
    let client = ZkClient::connect(addr, 30_000).map_err(|e| format!("connect: {e}"))?;
    let acl = ids::open_acl_unsafe();
    for p in [ROOT.to_string(), format!("{ROOT}/n"), HOT.to_string()] {
        client.create(&p, Some(b"v"), &acl, CreateMode::Persistent).map_err(|e| format!("create {p}: {e}"))?;
    }
    let _ = client.close();
    let mut s = Session::open(addr)?;
    s.pipeline((0..nodes).map(|i| {
        let req = CreateRequest { path: node_path(i), data: Some(b"v".to_vec()), acl: acl.clone(), flags: 0 };
        (op_code::CREATE, req.to_bytes())
    }))
}

// ---------------------------------------------------------------------------
// Servers

fn start(kind: Kind, s: &Settings) -> Result<BenchServer, String> {
    let mut server = BenchServer::new(kind, &s.zkserver_bin, s.java_heap_mb, s.keep)?;
    server.append_cfg(&format!(
        "maxClientCnxns=0\nmaxSessionTimeout={SESSION_TIMEOUT_MS}\n4lw.commands.whitelist=srvr,wchs\n"
    ))?;
    server.spawn()?;
    let end = Instant::now() + START_DEADLINE;
    loop {
        server.check_alive()?;
        if server.may_probe() {
            if let Ok(c) = ZkClient::connect(server.addr(), 30_000) {
                let _ = c.close();
                return Ok(server);
            }
        }
        if Instant::now() >= end {
            return Err(format!("{} not serving after {START_DEADLINE:?}", kind.name()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn rss_kib(server: &BenchServer) -> Result<u64, String> {
    common::proc_status_kib(server.pid().ok_or("the server has no pid")?, "VmRSS")
}

/// The "Total watches:" figure of `wchs`.
fn total_watches(server: &BenchServer) -> Result<u64, String> {
    let text = common::four_letter_within(&server.addr(), "wchs", Duration::from_secs(30))
        .map_err(|e| format!("wchs: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("Total watches:"))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| format!("wchs answered {text:?}"))
}

/// Runs `phase` on a fresh server of `kind`, with the log tail on failure.
fn with_server<T>(kind: Kind, s: &Settings, phase: impl FnOnce(&mut BenchServer) -> Result<T, String>) -> Result<T, String> {
    let mut server = start(kind, s)?;
    let out = phase(&mut server).and_then(|v| server.check_alive().map(|()| v));
    let out = out.map_err(|e| {
        let log = server.log_tail(30);
        let hint = if log.contains("OutOfMemoryError") { "\nJava ran out of heap: raise ZKBENCH_JAVA_HEAP_MB" } else { "" };
        format!("{}: {e}{hint}\nlog tail:\n{log}", kind.name())
    })?;
    server.stop(STOP_DEADLINE)?;
    Ok(out)
}

// ---------------------------------------------------------------------------
// Memory phases

#[derive(Debug, Clone, Copy, Default)]
struct Memory {
    watches: u64,
    rss_kib: u64,
    /// RSS with the sessions open and no watch yet.
    base_rss_kib: u64,
    register_secs: f64,
}

fn memory(server: &mut BenchServer, sessions: usize, paths: usize) -> Result<Memory, String> {
    let addr = server.addr();
    create_tree(&addr, paths)?;
    let mut all = open_sessions(&addr, sessions)?;
    std::thread::sleep(SETTLE);
    let base_rss_kib = rss_kib(server)?;
    let t = Instant::now();
    for_each_session(&mut all, |s| s.pipeline((0..paths).map(|i| exists_watch(node_path(i)))))?;
    let register_secs = t.elapsed().as_secs_f64();
    let watches = total_watches(server)?;
    let expected = (sessions * paths) as u64;
    if watches != expected {
        return Err(format!("wchs counts {watches} watches where {expected} were set"));
    }
    std::thread::sleep(SETTLE);
    Ok(Memory { watches, rss_kib: rss_kib(server)?, base_rss_kib, register_secs })
}

// ---------------------------------------------------------------------------
// Fan-out

#[derive(Debug, Clone, Copy, Default)]
struct Fanout {
    /// Medians over the rounds, from sending the setData.
    last_ms: f64,
    median_ms: f64,
}

/// One epoll instance over a shard of the sessions' sockets, each
/// reported by its index.
fn shard_epoll(sessions: &[Session]) -> Result<Epoll, String> {
    let ep = Epoll::new()?;
    for (i, s) in sessions.iter().enumerate() {
        ep.add(s.stream().as_raw_fd(), libc::EPOLLIN, i as u64)?;
    }
    Ok(ep)
}

/// Waits on `shard`'s (non-blocking) sockets until each has delivered a
/// NodeDataChanged notification; returns when each arrived.
fn await_notifications(shard: &mut [Session], deadline: Instant) -> Result<Vec<Instant>, String> {
    let ep = shard_epoll(shard)?;
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let mut bufs: Vec<Vec<u8>> = vec![Vec::new(); shard.len()];
    let mut arrived: Vec<Option<Instant>> = vec![None; shard.len()];
    let mut left = shard.len();
    let mut chunk = [0u8; 4096];
    while left > 0 {
        let now = Instant::now();
        if now >= deadline {
            return Err(format!("{left} watchers got no notification"));
        }
        let n = ep.wait(&mut events, deadline - now)?;
        let stamp = Instant::now();
        for ev in &events[..n] {
            let i = ev.u64 as usize;
            let (Some(session), Some(buf)) = (shard.get(i), bufs.get_mut(i)) else { continue };
            loop {
                match session.stream().read(&mut chunk) {
                    Ok(0) => return Err(format!("watcher {i}: the server closed the connection")),
                    Ok(k) => buf.extend_from_slice(&chunk[..k]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(format!("watcher {i}: {e}")),
                }
            }
            while buf.len() >= 4 {
                let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
                let len = usize::try_from(len).map_err(|_| format!("watcher {i}: bad frame length {len}"))?;
                if buf.len() < 4 + len {
                    break;
                }
                let frame: Vec<u8> = buf.drain(..4 + len).skip(4).collect();
                let mut ia = InputArchive::new(&frame);
                let hdr = ReplyHeader::deserialize(&mut ia).map_err(|e| format!("watcher {i}: {e}"))?;
                let ev = WatcherEvent::deserialize(&mut ia).map_err(|e| format!("watcher {i}: {e}"))?;
                if hdr.xid != -1 || ev.r#type != NODE_DATA_CHANGED || ev.path != HOT {
                    return Err(format!("watcher {i}: unexpected frame xid {} {ev:?}", hdr.xid));
                }
                if arrived[i].replace(stamp).is_none() {
                    left -= 1;
                }
            }
        }
    }
    Ok(arrived.into_iter().flatten().collect())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn fanout(server: &mut BenchServer, watchers: usize, rounds: usize) -> Result<Fanout, String> {
    let addr = server.addr();
    create_tree(&addr, 0)?;
    let mut all = open_sessions(&addr, watchers)?;
    let setter = ZkClient::connect(addr.as_str(), 30_000).map_err(|e| format!("connect: {e}"))?;
    let (mut lasts, mut medians) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        for_each_session(&mut all, |s| {
            s.stream().set_nonblocking(false).map_err(|e| format!("blocking: {e}"))?;
            s.pipeline(std::iter::once(exists_watch(HOT.to_string())))?;
            s.stream().set_nonblocking(true).map_err(|e| format!("non-blocking: {e}"))
        })?;
        let per = watchers.div_ceil(RECV_THREADS).max(1);
        let deadline = Instant::now() + IO_TIMEOUT;
        let barrier = std::sync::Barrier::new(all.len().div_ceil(per) + 1);
        let (sent, arrivals) = std::thread::scope(|scope| -> Result<(Instant, Vec<Instant>), String> {
            let handles: Vec<_> = all
                .chunks_mut(per)
                .map(|shard| {
                    let barrier = &barrier;
                    scope.spawn(move || {
                        barrier.wait();
                        await_notifications(shard, deadline)
                    })
                })
                .collect();
            barrier.wait();
            let sent = Instant::now();
            let set = setter.set_data(HOT, Some(format!("round {round}").as_bytes()), -1);
            let mut arrivals = Vec::with_capacity(watchers);
            for h in handles {
                arrivals.extend(h.join().unwrap_or_else(|_| Err("a receiving thread panicked".to_string()))?);
            }
            set.map_err(|e| format!("setData: {e}"))?;
            Ok((sent, arrivals))
        })?;
        let mut ms: Vec<f64> = arrivals.iter().map(|a| a.saturating_duration_since(sent).as_secs_f64() * 1e3).collect();
        lasts.push(ms.iter().copied().fold(0.0, f64::max));
        medians.push(median(&mut ms));
    }
    let _ = setter.close();
    Ok(Fanout { last_ms: median(&mut lasts), median_ms: median(&mut medians) })
}

// ---------------------------------------------------------------------------
// Report

#[derive(Debug, Default)]
struct Results {
    memory: [Memory; 2],
    fanout: Fanout,
}

struct Row {
    label: String,
    key: String,
    get: Box<dyn Fn(&Results) -> f64>,
    /// The aim for zkserver/Java, at most.
    target: Option<f64>,
}

fn rows(s: &Settings) -> Vec<Row> {
    let mut rows = Vec::new();
    for (i, &(sessions, paths)) in MEMORY_SHAPES.iter().enumerate() {
        // Both shapes may have the same counts at a small scale.
        let key = MEMORY_PHASES[i];
        if !s.runs(key) {
            continue;
        }
        let (sessions, paths) = (s.scaled_sessions(i, sessions), s.scaled_paths(i, paths));
        let tag = format!("{} {sessions} sessions x {paths} paths", ["A", "B"][i]);
        let mib = |kib: u64| kib as f64 / 1024.0;
        rows.push(Row { label: format!("{tag}: watches (wchs)"), key: format!("{key}_watches"), get: Box::new(move |r| r.memory[i].watches as f64), target: None });
        rows.push(Row { label: format!("{tag}: RSS MiB"), key: format!("{key}_rss_mib"), get: Box::new(move |r| mib(r.memory[i].rss_kib)), target: Some(TARGET_RSS_RATIO) });
        rows.push(Row {
            label: format!("{tag}: RSS growth MiB"),
            key: format!("{key}_rss_growth_mib"),
            get: Box::new(move |r| mib(r.memory[i].rss_kib.saturating_sub(r.memory[i].base_rss_kib))),
            target: None,
        });
        rows.push(Row { label: format!("{tag}: set secs"), key: format!("{key}_register_secs"), get: Box::new(move |r| r.memory[i].register_secs), target: None });
    }
    if !s.runs(FANOUT_PHASE) {
        return rows;
    }
    let w = s.scaled(FANOUT_WATCHERS);
    rows.push(Row { label: format!("fan-out {w} watchers: last ms"), key: "fanout_last_ms".to_string(), get: Box::new(|r| r.fanout.last_ms), target: Some(TARGET_FANOUT_RATIO) });
    rows.push(Row { label: format!("fan-out {w} watchers: median ms"), key: "fanout_median_ms".to_string(), get: Box::new(|r| r.fanout.median_ms), target: None });
    rows
}

impl Settings {
    /// The paths of memory shape `i` at this scale: the 10k-session shape
    /// scales its sessions, the 100-session one its paths, so that both
    /// keep the same number of watches.
    fn scaled_paths(&self, i: usize, paths: usize) -> usize {
        if i == 0 { paths } else { self.scaled(paths) }
    }

    fn scaled_sessions(&self, i: usize, sessions: usize) -> usize {
        if i == 0 { self.scaled(sessions) } else { sessions }
    }
}

fn fmt(v: f64) -> String {
    if v >= 100.0 { format!("{v:.0}") } else { format!("{v:.2}") }
}

fn report(s: &Settings, results: &[(Kind, Results)], load_before: &str) -> (String, String) {
    let get = |k: Kind| results.iter().find(|(kind, _)| *kind == k).map(|(_, r)| r);
    let rows = rows(s);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nwatch benchmark at scale 1/{}, Java -Xmx{}m; machine: {load_before} before, {} after",
        s.scale,
        s.java_heap_mb,
        machine_load()
    );
    let _ = writeln!(out, "{:<44} {:>12} {:>12} {:>14} {:>16}", "figure", "zkserver", "java", "zkserver/java", "aim");
    let mut json_rows = Vec::new();
    for row in &rows {
        let (z, j) = (get(Kind::Zkserver).map(&row.get), get(Kind::Java).map(&row.get));
        let ratio = z.zip(j).and_then(|(z, j)| (j > 0.0).then(|| z / j));
        let aim = match (row.target, ratio) {
            (Some(t), Some(r)) => format!("<= {t:.2}: {}", if r <= t { "met" } else { "MISSED" }),
            (Some(t), None) => format!("<= {t:.2}: -"),
            (None, _) => String::new(),
        };
        let cell = |v: Option<f64>| v.map_or("-".to_string(), fmt);
        let _ = writeln!(
            out,
            "{:<44} {:>12} {:>12} {:>14} {aim:>16}",
            row.label,
            cell(z),
            cell(j),
            ratio.map_or("-".to_string(), |r| format!("{r:.3}"))
        );
        let num = |v: Option<f64>| v.map_or("null".to_string(), |v| format!("{v:.4}"));
        json_rows.push(format!(
            "    \"{}\": {{\"zkserver\": {}, \"java\": {}, \"ratio\": {}, \"target_ratio_at_most\": {}, \"met\": {}}}",
            row.key,
            num(z),
            num(j),
            num(ratio),
            num(row.target),
            match (row.target, ratio) {
                (Some(t), Some(r)) => (r <= t).to_string(),
                _ => "null".to_string(),
            }
        ));
    }
    let json = format!(
        "{{\n  \"scale_divisor\": {},\n  \"java_heap_mb\": {},\n  \"fanout_rounds\": {},\n  \"machine_before\": \"{load_before}\",\n  \"machine_after\": \"{}\",\n  \"figures\": {{\n{}\n  }}\n}}\n",
        s.scale,
        s.java_heap_mb,
        s.rounds,
        machine_load(),
        json_rows.join(",\n")
    );
    (out, json)
}

fn run() -> Result<(), String> {
    let s = Settings::from_env()?;
    let fds = support::raise_nofile_limit()?;
    let need = s.scaled(FANOUT_WATCHERS).max(s.scaled(MEMORY_SHAPES[0].0)) as u64 + 100;
    if fds < need {
        return Err(format!("RLIMIT_NOFILE is {fds}, the sessions need {need}: raise the hard limit (ulimit -Hn)"));
    }
    let load_before = machine_load();
    let mut results: Vec<(Kind, Results)> = s.kinds.iter().map(|&k| (k, Results::default())).collect();
    // Phase by phase, both kinds in turn, so that both meet the same machine.
    for (i, &(sessions, paths)) in MEMORY_SHAPES.iter().enumerate() {
        if !s.runs(MEMORY_PHASES[i]) {
            continue;
        }
        let (sessions, paths) = (s.scaled_sessions(i, sessions), s.scaled_paths(i, paths));
        for (kind, r) in &mut results {
            eprintln!("[{}] {sessions} sessions x {paths} paths ({})", kind.name(), machine_load());
            r.memory[i] = with_server(*kind, &s, |server| memory(server, sessions, paths))?;
            eprintln!("[{}]   {:?}", kind.name(), r.memory[i]);
        }
    }
    let watchers = s.scaled(FANOUT_WATCHERS);
    if s.runs(FANOUT_PHASE) {
        for (kind, r) in &mut results {
            eprintln!("[{}] fan-out to {watchers} watchers ({})", kind.name(), machine_load());
            r.fanout = with_server(*kind, &s, |server| fanout(server, watchers, s.rounds))?;
            eprintln!("[{}]   {:?}", kind.name(), r.fanout);
        }
    }
    let (table, json) = report(&s, &results, &load_before);
    print!("{table}");
    if let Some(path) = &s.json_out {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        std::fs::write(path, json).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("watches bench failed: {e}");
        std::process::exit(1);
    }
}
