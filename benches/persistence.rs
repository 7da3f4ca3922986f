//! The persistence benchmark (issue 3): loads N znodes of 100 bytes into
//! zkserver and then into Apache ZooKeeper 3.8 in the same run and reports,
//! side by side, the load rate, the resident memory while serving, the time
//! from restart to serving, the newest snapshot's size and the size of the
//! transaction logs.
//!
//!     cargo bench --bench persistence                 # 1,000,000 znodes
//!     ZKBENCH_NODES=20000 cargo bench --bench persistence
//!
//! Environment: ZKBENCH_NODES (default 1000000), ZKBENCH_ONLY (zkserver or
//! java: run one server, no ratios), ZKBENCH_JAVA_HEAP_MB (default 1000,
//! zkEnv.sh's ZK_SERVER_HEAP), ZKBENCH_SETTLE_SECS (how long a server idles
//! before its memory is read, default 5), ZKBENCH_RESTARTS (stop/start
//! cycles per server, default 5; the median is reported), ZKBENCH_KEEP=1
//! (keep each server's temp directory: zoo.cfg, dataDir, server.out),
//! ZKBENCH_AIM_RESTART_RATIO and ZKBENCH_AIM_RSS_RATIO (the zkserver/Java
//! aims for restart time and RSS after restart, default 0.333 and 0.25;
//! scripts/bench-large-tree.sh sets 0.15 and 0.2 for 10M znodes). The
//! table goes to stdout and the same figures to
//! target/bench/persistence.json (persistence-<N>.json for another
//! ZKBENCH_NODES).
//!
//! The tree is /bench/<shard>/<n> with 1000 nodes per shard, written by one
//! session with up to 500 create requests in flight. Each server gets a fresh
//! dataDir, the same zoo.cfg (forceSync, snapCount and preAllocSize at their
//! defaults) and a free port. After the load and a settle period the bench
//! reads VmRSS and VmHWM (the peak). Then come rounds of restarts, one per
//! server per round so that both meet the same machine load: stop with
//! SIGTERM, start again, measure from the spawn to the first getData that
//! returns the last node written, read VmRSS and VmHWM again after the
//! settle period. Both servers write a snapshot at start-up once the
//! database is loaded, so the newest snapshot afterwards holds the whole
//! tree.
//!
//! While a server loads, the bench deletes all but its two newest snapshots
//! every 2 s, as autopurge would (Java's autopurge.purgeInterval counts
//! hours, too coarse for a run): at the default snapCount, 10,000,000
//! znodes make a hundred snapshots of up to a GiB each, more than the
//! disk holds. The logs stay: a restart replays them after the newest
//! snapshot, and the bench reports their size.
//!
//! Run by `cargo test --benches` (no `--bench` argument) it does a quick
//! smoke run of 2000 znodes and writes no JSON.

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::{machine_load, BenchServer, Kind};
use zkserver::client::{ConnectOptions, ZkClient, ZkError};
use zkserver::jute::records::CreateRequest;
use zkserver::zoo_defs::{ids, op_code};

const DEFAULT_NODES: usize = 1_000_000;
const SMOKE_NODES: usize = 2_000;
const NODES_PER_SHARD: usize = 1000;
const VALUE_LEN: usize = 100;
/// Create requests in flight on the loading session (Java stops reading a
/// connection beyond globalOutstandingLimit, 1000 by default).
const IN_FLIGHT: usize = 500;
const DEFAULT_JAVA_HEAP_MB: u32 = 1000;
const DEFAULT_SETTLE: Duration = Duration::from_secs(5);
/// How long a restart may take before the bench gives up.
const RESTART_DEADLINE: Duration = Duration::from_secs(600);
const STOP_DEADLINE: Duration = Duration::from_secs(120);
const PROBE_INTERVAL: Duration = Duration::from_millis(10);
const DEFAULT_RESTARTS: usize = 5;
/// Snapshots a server keeps while it loads; the newest may be half
/// written, so two leave one whole.
const SNAPSHOTS_KEPT: usize = 2;
const PURGE_EVERY: Duration = Duration::from_secs(2);

/// What this run does, from the environment.
struct Settings {
    nodes: usize,
    kinds: Vec<Kind>,
    java_heap_mb: u32,
    settle: Duration,
    /// Stop/start cycles; the restart time reported is their median.
    restarts: usize,
    /// Aims for zkserver/Java: restart time and RSS after restart, at most.
    aim_restart_ratio: f64,
    aim_rss_ratio: f64,
    keep_dirs: bool,
    zkserver_bin: PathBuf,
    /// Where the JSON goes; `None` in a smoke run.
    json_out: Option<PathBuf>,
}

fn env_parse<T: std::str::FromStr>(name: &str) -> Result<Option<T>, String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("{name}={v}: not a valid value")),
        _ => Ok(None),
    }
}

impl Settings {
    fn from_env() -> Result<Settings, String> {
        let bench_mode = std::env::args().any(|a| a == "--bench");
        let default_nodes = if bench_mode {
            DEFAULT_NODES
        } else {
            SMOKE_NODES
        };
        let nodes = env_parse("ZKBENCH_NODES")?.unwrap_or(default_nodes);
        if nodes == 0 {
            return Err("ZKBENCH_NODES must be at least 1".to_string());
        }
        let kinds = match std::env::var("ZKBENCH_ONLY").as_deref() {
            Ok("zkserver") => vec![Kind::Zkserver],
            Ok("java") => vec![Kind::Java],
            Ok("") | Err(_) => vec![Kind::Zkserver, Kind::Java],
            Ok(other) => return Err(format!("ZKBENCH_ONLY={other}: expected zkserver or java")),
        };
        let java_heap_mb = env_parse("ZKBENCH_JAVA_HEAP_MB")?.unwrap_or(DEFAULT_JAVA_HEAP_MB);
        let settle = env_parse::<f64>("ZKBENCH_SETTLE_SECS")?
            .map(Duration::from_secs_f64)
            .unwrap_or(if bench_mode {
                DEFAULT_SETTLE
            } else {
                Duration::from_millis(500)
            });
        // Cargo builds the binary with this bench's profile (release under
        // `cargo bench`) and tells us where it is.
        let zkserver_bin = PathBuf::from(env!("CARGO_BIN_EXE_zkserver"));
        if !zkserver_bin.exists() {
            return Err(format!(
                "{} is missing: cargo build --release --bin zkserver",
                zkserver_bin.display()
            ));
        }
        let json_out = if bench_mode {
            let target = zkserver_bin
                .parent()
                .and_then(Path::parent)
                .ok_or_else(|| format!("no target directory above {}", zkserver_bin.display()))?;
            // Another tree size gets its own file beside the 1M one.
            let name = if nodes == DEFAULT_NODES {
                "persistence.json".to_string()
            } else {
                format!("persistence-{nodes}.json")
            };
            Some(target.join("bench").join(name))
        } else {
            None
        };
        let restarts =
            env_parse("ZKBENCH_RESTARTS")?.unwrap_or(if bench_mode { DEFAULT_RESTARTS } else { 1 });
        if restarts == 0 {
            return Err("ZKBENCH_RESTARTS must be at least 1".to_string());
        }
        let keep_dirs = matches!(
            std::env::var("ZKBENCH_KEEP").as_deref(),
            Ok("1") | Ok("yes") | Ok("true")
        );
        let aim_restart_ratio = env_parse("ZKBENCH_AIM_RESTART_RATIO")?.unwrap_or(1.0 / 3.0);
        let aim_rss_ratio = env_parse("ZKBENCH_AIM_RSS_RATIO")?.unwrap_or(0.25);
        Ok(Settings {
            nodes,
            kinds,
            java_heap_mb,
            settle,
            restarts,
            aim_restart_ratio,
            aim_rss_ratio,
            keep_dirs,
            zkserver_bin,
            json_out,
        })
    }
}

fn shard_path(shard: usize) -> String {
    format!("/bench/{shard}")
}

fn node_path(i: usize) -> String {
    format!("/bench/{}/{}", i / NODES_PER_SHARD, i % NODES_PER_SHARD)
}

/// Node `i`'s 100-byte value: its number, padded.
fn node_value(i: usize) -> Vec<u8> {
    format!("{i:.>width$}", width = VALUE_LEN).into_bytes()
}

/// The figures measured for one server.
#[derive(Debug, Default, Clone)]
struct Figures {
    /// Creates sent (N leaves plus /bench and the shards).
    creates: usize,
    load_secs: f64,
    rss_loaded_kib: u64,
    hwm_loaded_kib: u64,
    node_count: u64,
    /// The median of `stops` and of `restarts`.
    stop_secs: f64,
    restart_secs: f64,
    stops: Vec<f64>,
    restarts: Vec<f64>,
    rss_restarted_kib: u64,
    /// VmHWM of the restarted process: its peak while loading the database.
    hwm_restarted_kib: u64,
    snapshot_bytes: u64,
    snapshot_files: usize,
    log_bytes: u64,
    log_allocated_bytes: u64,
    log_files: usize,
}

impl Figures {
    fn load_rate(&self) -> f64 {
        if self.load_secs > 0.0 {
            self.creates as f64 / self.load_secs
        } else {
            0.0
        }
    }
}

/// Creates /bench, the shards and `nodes` leaves over one session, keeping
/// up to IN_FLIGHT requests outstanding; every create must succeed.
/// Returns the number of creates.
fn load(addr: &str, nodes: usize) -> Result<usize, String> {
    let client = ZkClient::connect(addr, 30000).map_err(|e| format!("connect to {addr}: {e}"))?;
    let shards = nodes.div_ceil(NODES_PER_SHARD);
    let total = 1 + shards + nodes;
    let (tx, rx) = crossbeam_channel::bounded::<i32>(IN_FLIGHT);
    let result = std::thread::scope(|scope| {
        let client = &client;
        let sender = scope.spawn(move || -> Result<(), String> {
            let acl = ids::open_acl_unsafe();
            let create = |path: String, data: Option<Vec<u8>>| -> Result<(), String> {
                let req = CreateRequest {
                    path,
                    data,
                    acl: acl.clone(),
                    flags: 0,
                };
                let xid = client
                    .send(op_code::CREATE, &req)
                    .map_err(|e| format!("send: {e}"))?;
                // Blocks while IN_FLIGHT requests wait for replies; fails
                // only when the receiving side gave up.
                tx.send(xid)
                    .map_err(|_| "the reply reader stopped".to_string())
            };
            create("/bench".to_string(), None)?;
            for shard in 0..shards {
                create(shard_path(shard), None)?;
                for i in shard * NODES_PER_SHARD..((shard + 1) * NODES_PER_SHARD).min(nodes) {
                    create(node_path(i), Some(node_value(i)))?;
                }
            }
            Ok(())
        });
        let received = receive_replies(client, rx, total);
        if received.is_err() {
            // Unblocks a sender stuck writing to the socket.
            client.disconnect();
        }
        let sent = sender
            .join()
            .map_err(|_| "the sender thread panicked".to_string())?;
        received.and(sent)
    });
    result?;
    client
        .close()
        .map_err(|e| format!("close the loading session: {e}"))?;
    Ok(total)
}

/// Reads `total` replies in order; each must answer the next request sent
/// and report success. Dropping `sent` on return releases the sender.
fn receive_replies(
    client: &ZkClient,
    sent: crossbeam_channel::Receiver<i32>,
    total: usize,
) -> Result<(), String> {
    for n in 0..total {
        let reply = client
            .recv()
            .map_err(|e| format!("reply {n} of {total}: {e}"))?;
        let xid = sent
            .recv()
            .map_err(|_| format!("reply {n} of {total} arrived for no request"))?;
        if reply.header.xid != xid {
            return Err(format!(
                "reply for xid {} where {xid} was next",
                reply.header.xid
            ));
        }
        if reply.header.err != 0 {
            return Err(format!(
                "create {n} of {total} failed: {}",
                zkserver::client::code_name(reply.header.err)
            ));
        }
    }
    Ok(())
}

/// One attempt to read `path` on a new session: `Ok(true)` when it returns
/// `expected`, `Ok(false)` when the server is not serving yet (connection
/// refused or closed), an error when a serving server gives a wrong answer.
fn probe(addr: &str, path: &str, expected: &[u8]) -> Result<bool, String> {
    let mut opts = ConnectOptions::new(30000);
    opts.reply_timeout = Duration::from_secs(5);
    opts.ping = false;
    let Ok(client) = ZkClient::connect_with(addr, &opts) else {
        return Ok(false);
    };
    match client.get_data(path, false) {
        Ok((data, _)) if data.as_deref() == Some(expected) => {
            let _ = client.close();
            Ok(true)
        }
        Ok((data, _)) => Err(format!(
            "{path} came back as {:?}",
            data.map(|d| String::from_utf8_lossy(&d).into_owned())
        )),
        Err(ZkError::Io(_)) => Ok(false),
        Err(e) => Err(format!("getData {path} after restart: {e}")),
    }
}

/// Waits `settle`, then reads the server's VmRSS and VmHWM (KiB).
fn settled_memory(server: &mut BenchServer, settle: Duration) -> Result<(u64, u64), String> {
    std::thread::sleep(settle);
    server.check_alive()?;
    let pid = server.pid().ok_or("no pid")?;
    Ok((
        common::proc_status_kib(pid, "VmRSS")?,
        common::proc_status_kib(pid, "VmHWM")?,
    ))
}

/// The "Node count:" line of `srvr`.
fn node_count(addr: &str) -> Result<u64, String> {
    let srvr = common::four_letter(addr, "srvr").map_err(|e| format!("srvr to {addr}: {e}"))?;
    srvr.lines()
        .find_map(|l| l.strip_prefix("Node count:"))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| format!("no node count in srvr's answer: {srvr:?}"))
}

/// One server through the run, with what has been measured so far.
struct Run {
    server: BenchServer,
    f: Figures,
}

impl Run {
    fn name(&self) -> &'static str {
        self.server.kind.name()
    }

    /// `e` with the tail of the server's log, and a hint when Java ran out
    /// of heap.
    fn with_log(&self, e: String) -> String {
        let log = self.server.log_tail(30);
        let hint = if log.contains("OutOfMemoryError") {
            "\nJava ran out of heap: raise ZKBENCH_JAVA_HEAP_MB"
        } else {
            ""
        };
        format!("{e}{hint}\n{} log tail:\n{log}", self.name())
    }
}

/// The wall-clock time of day, to find the moment in the servers' logs.
fn stamp() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let ms = t.as_millis() % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03} UTC",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// Starts a server, loads the tree and measures the load and the memory
/// of the loaded server; leaves it running.
fn load_phase(kind: Kind, s: &Settings) -> Result<Run, String> {
    let server = BenchServer::new(kind, &s.zkserver_bin, s.java_heap_mb, s.keep_dirs)?;
    let mut run = Run {
        server,
        f: Figures::default(),
    };
    let addr = run.server.addr();
    eprintln!(
        "[{}] starting on {addr}, dataDir {}",
        kind.name(),
        run.server.data_dir().display()
    );
    run.server.spawn()?;
    wait_serving(&mut run.server, None)?;

    eprintln!("[{}] loading {} znodes", kind.name(), s.nodes);
    let version2 = run.server.data_dir().join("version-2");
    let start = Instant::now();
    let loaded = std::thread::scope(|scope| {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let purger = scope.spawn(move || -> Result<(), String> {
            while stopped.recv_timeout(PURGE_EVERY).is_err_and(|e| e.is_timeout()) {
                purge_snapshots(&version2)?;
            }
            Ok(())
        });
        let loaded = load(&addr, s.nodes);
        drop(stop);
        let purged = purger.join().map_err(|_| "the snapshot purger panicked".to_string())?;
        purged.and(loaded)
    });
    run.f.creates = loaded.map_err(|e| run.with_log(e))?;
    run.f.load_secs = start.elapsed().as_secs_f64();
    eprintln!(
        "[{}] loaded in {:.1} s ({:.0} creates/s)",
        kind.name(),
        run.f.load_secs,
        run.f.load_rate()
    );
    (run.f.rss_loaded_kib, run.f.hwm_loaded_kib) = settled_memory(&mut run.server, s.settle)?;
    run.f.node_count = node_count(&addr)?;
    Ok(run)
}

/// Deletes all but the SNAPSHOTS_KEPT newest snapshots in `version2`.
fn purge_snapshots(version2: &Path) -> Result<(), String> {
    if !version2.exists() {
        return Ok(());
    }
    let snaps = support::data_files(version2, "snapshot.")?;
    for old in snaps.iter().rev().skip(SNAPSHOTS_KEPT) {
        let path = version2.join(format!("snapshot.{:x}", old.zxid));
        // Gone already is fine; anything else is the disk failing the bench.
        if let Err(e) = std::fs::remove_file(&path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(format!("cannot delete {}: {e}", path.display()));
            }
        }
    }
    Ok(())
}

/// One stop/start cycle: the stop time, the time to serve the last node
/// again, and the memory of the restarted server.
fn restart_once(run: &mut Run, s: &Settings) -> Result<(), String> {
    let last = node_path(s.nodes - 1);
    let last_value = node_value(s.nodes - 1);
    let stop = run.server.stop(STOP_DEADLINE)?.as_secs_f64();
    eprintln!(
        "[{}] stopped in {stop:.2} s; restarting at {}",
        run.name(),
        stamp()
    );
    let start = Instant::now();
    run.server.spawn()?;
    wait_serving(&mut run.server, Some((&last, &last_value))).map_err(|e| run.with_log(e))?;
    let restart = start.elapsed().as_secs_f64();
    eprintln!("[{}] serving again after {restart:.2} s", run.name());
    run.f.stops.push(stop);
    run.f.restarts.push(restart);
    (run.f.rss_restarted_kib, run.f.hwm_restarted_kib) = settled_memory(&mut run.server, s.settle)?;
    Ok(())
}

/// Checks that the restarts lost no node, measures the data directory and
/// stops the server.
fn finish(mut run: Run) -> Result<(Kind, Figures), String> {
    let f = &mut run.f;
    f.stop_secs = median(&f.stops);
    f.restart_secs = median(&f.restarts);
    let count_after = node_count(&run.server.addr())?;
    if count_after != f.node_count {
        return Err(format!(
            "{}: {} nodes before the restarts, {count_after} after",
            run.server.kind.name(),
            f.node_count
        ));
    }
    let version2 = run.server.data_dir().join("version-2");
    let snaps = support::data_files(&version2, "snapshot.")?;
    let logs = support::data_files(&version2, "log.")?;
    f.snapshot_bytes = snaps.last().map_or(0, |f| f.bytes);
    f.snapshot_files = snaps.len();
    f.log_bytes = logs.iter().map(|f| f.bytes).sum();
    f.log_allocated_bytes = logs.iter().map(|f| f.allocated).sum();
    f.log_files = logs.len();
    run.server.stop(STOP_DEADLINE)?;
    Ok((run.server.kind, run.f))
}

/// The median of some samples (the mean of the middle two for an even
/// count).
fn median(samples: &[f64]) -> f64 {
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Polls until the node `expected.0` reads as `expected.1` (or, with
/// `None`, until the server accepts a session), failing if the process exits or
/// RESTART_DEADLINE passes. See `BenchServer::may_probe` for when Java is
/// first probed.
fn wait_serving(server: &mut BenchServer, expected: Option<(&str, &[u8])>) -> Result<(), String> {
    let addr = server.addr();
    let end = Instant::now() + RESTART_DEADLINE;
    loop {
        server.check_alive()?;
        let up = server.may_probe()
            && match expected {
                Some((path, value)) => probe(&addr, path, value)?,
                None => ZkClient::connect(&addr, 30000)
                    .map(|c| c.close().is_ok())
                    .unwrap_or(false),
            };
        if up {
            return Ok(());
        }
        if Instant::now() >= end {
            return Err(format!(
                "{} not serving after {RESTART_DEADLINE:?}",
                server.kind.name()
            ));
        }
        std::thread::sleep(PROBE_INTERVAL);
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// A row of the report: its label, its JSON key for the ratio, its unit and
/// how to read the figure.
struct Row {
    label: &'static str,
    key: &'static str,
    unit: &'static str,
    get: fn(&Figures) -> f64,
}

const ROWS: [Row; 11] = [
    Row {
        label: "load rate",
        key: "load_rate",
        unit: "creates/s",
        get: Figures::load_rate,
    },
    Row {
        label: "load time",
        key: "load_secs",
        unit: "s",
        get: |f| f.load_secs,
    },
    Row {
        label: "RSS after load",
        key: "rss_loaded",
        unit: "MiB",
        get: |f| f.rss_loaded_kib as f64 / 1024.0,
    },
    Row {
        label: "peak RSS during load",
        key: "peak_rss",
        unit: "MiB",
        get: |f| f.hwm_loaded_kib as f64 / 1024.0,
    },
    Row {
        label: "stop (SIGTERM to exit)",
        key: "stop_secs",
        unit: "s, median",
        get: |f| f.stop_secs,
    },
    Row {
        label: "restart to serving",
        key: "restart_secs",
        unit: "s, median",
        get: |f| f.restart_secs,
    },
    Row {
        label: "RSS after restart",
        key: "rss_restarted",
        unit: "MiB",
        get: |f| f.rss_restarted_kib as f64 / 1024.0,
    },
    Row {
        label: "peak RSS during restart",
        key: "peak_rss_restart",
        unit: "MiB",
        get: |f| f.hwm_restarted_kib as f64 / 1024.0,
    },
    Row {
        label: "newest snapshot",
        key: "snapshot_bytes",
        unit: "MiB",
        get: |f| f.snapshot_bytes as f64 / MIB,
    },
    Row {
        label: "txn logs (apparent)",
        key: "log_bytes",
        unit: "MiB",
        get: |f| f.log_bytes as f64 / MIB,
    },
    Row {
        label: "txn logs (on disk)",
        key: "log_allocated_bytes",
        unit: "MiB",
        get: |f| f.log_allocated_bytes as f64 / MIB,
    },
];

fn fmt_figure(v: f64) -> String {
    if v >= 1000.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn report(s: &Settings, results: &[(Kind, Figures)], load_before: &str) -> String {
    let get = |k: Kind| results.iter().find(|(kind, _)| *kind == k).map(|(_, f)| f);
    let (zk, java) = (get(Kind::Zkserver), get(Kind::Java));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\npersistence benchmark: {} znodes of {VALUE_LEN} bytes (+{} parents), {IN_FLIGHT} creates in flight, \
         {} restart(s), Java -Xmx{}m",
        s.nodes,
        s.nodes.div_ceil(NODES_PER_SHARD) + 1,
        s.restarts,
        s.java_heap_mb
    );
    let _ = writeln!(
        out,
        "machine: {load_before} before the run, {} after",
        machine_load()
    );
    let _ = writeln!(
        out,
        "{:<24} {:>10} {:>14} {:>14} {:>14}",
        "figure", "unit", "zkserver", "java", "zkserver/java"
    );
    for row in &ROWS {
        let get = row.get;
        let cell = |f: Option<&Figures>| {
            f.map(|f| fmt_figure(get(f)))
                .unwrap_or_else(|| "-".to_string())
        };
        let ratio = match (zk, java) {
            (Some(z), Some(j)) if get(j) > 0.0 => format!("{:.3}", get(z) / get(j)),
            _ => "-".to_string(),
        };
        let _ = writeln!(
            out,
            "{:<24} {:>10} {:>14} {:>14} {ratio:>14}",
            row.label,
            row.unit,
            cell(zk),
            cell(java)
        );
    }
    let files = |f: Option<&Figures>| {
        f.map(|f| {
            format!(
                "{} snapshot(s), {} log(s), {} nodes",
                f.snapshot_files, f.log_files, f.node_count
            )
        })
        .unwrap_or_else(|| "-".to_string())
    };
    let _ = writeln!(out, "files: zkserver {}; java {}", files(zk), files(java));
    if let Some((restart, mem)) = aim_ratios(zk, java) {
        let _ = writeln!(
            out,
            "targets: restart {restart:.3} of Java's time, {:.2}x faster (aim <= {:.3}: {}); RSS after restart {mem:.3} of Java's (aim <= {:.3}: {})",
            1.0 / restart,
            s.aim_restart_ratio,
            if restart <= s.aim_restart_ratio { "met" } else { "MISSED" },
            s.aim_rss_ratio,
            if mem <= s.aim_rss_ratio { "met" } else { "MISSED" }
        );
    }
    out
}

/// zkserver/Java restart time and RSS after restart, with both servers run.
fn aim_ratios(zk: Option<&Figures>, java: Option<&Figures>) -> Option<(f64, f64)> {
    let (z, j) = (zk?, java?);
    Some((
        z.restart_secs / j.restart_secs,
        z.rss_restarted_kib as f64 / j.rss_restarted_kib as f64,
    ))
}

fn json_list(samples: &[f64]) -> String {
    let items: Vec<String> = samples.iter().map(|v| format!("{v:.3}")).collect();
    format!("[{}]", items.join(", "))
}

fn json(s: &Settings, results: &[(Kind, Figures)], load_before: &str) -> String {
    let mut out = String::from("{\n");
    let _ = writeln!(out, "  \"machine_before\": \"{load_before}\",");
    let _ = writeln!(out, "  \"machine_after\": \"{}\",", machine_load());
    let _ = writeln!(out, "  \"nodes\": {},", s.nodes);
    let _ = writeln!(out, "  \"value_bytes\": {VALUE_LEN},");
    let _ = writeln!(out, "  \"in_flight\": {IN_FLIGHT},");
    let _ = writeln!(out, "  \"java_heap_mb\": {},", s.java_heap_mb);
    let _ = writeln!(out, "  \"settle_secs\": {},", s.settle.as_secs_f64());
    let server = |f: &Figures| {
        format!(
            "{{\"creates\": {}, \"load_secs\": {:.3}, \"load_rate_per_sec\": {:.1}, \"rss_loaded_kib\": {}, \
             \"peak_rss_kib\": {}, \"node_count\": {}, \"stop_secs\": {:.3}, \"restart_secs\": {:.3}, \
             \"stops\": {}, \"restarts\": {}, \"rss_restarted_kib\": {}, \"peak_rss_restart_kib\": {}, \"snapshot_bytes\": {}, \"snapshot_files\": {}, \"log_bytes\": {}, \
             \"log_allocated_bytes\": {}, \"log_files\": {}}}",
            f.creates,
            f.load_secs,
            f.load_rate(),
            f.rss_loaded_kib,
            f.hwm_loaded_kib,
            f.node_count,
            f.stop_secs,
            f.restart_secs,
            json_list(&f.stops),
            json_list(&f.restarts),
            f.rss_restarted_kib,
            f.hwm_restarted_kib,
            f.snapshot_bytes,
            f.snapshot_files,
            f.log_bytes,
            f.log_allocated_bytes,
            f.log_files
        )
    };
    let entries: Vec<String> = results
        .iter()
        .map(|(k, f)| format!("    \"{}\": {}", k.name(), server(f)))
        .collect();
    let _ = writeln!(out, "  \"servers\": {{\n{}\n  }},", entries.join(",\n"));
    let ratios: Vec<String> = match results {
        [(Kind::Zkserver, z), (Kind::Java, j)] => ROWS
            .iter()
            .filter(|row| (row.get)(j) > 0.0)
            .map(|row| format!("    \"{}\": {:.4}", row.key, (row.get)(z) / (row.get)(j)))
            .collect(),
        _ => Vec::new(),
    };
    let _ = write!(
        out,
        "  \"ratio_zkserver_over_java\": {{\n{}\n  }}",
        ratios.join(",\n")
    );
    let zk = results.iter().find(|(k, _)| *k == Kind::Zkserver).map(|(_, f)| f);
    let java = results.iter().find(|(k, _)| *k == Kind::Java).map(|(_, f)| f);
    if let Some((restart, mem)) = aim_ratios(zk, java) {
        let _ = write!(
            out,
            ",\n  \"aims\": {{\"restart_ratio_at_most\": {:.4}, \"restart_met\": {}, \"rss_ratio_at_most\": {:.4}, \"rss_met\": {}}}",
            s.aim_restart_ratio,
            restart <= s.aim_restart_ratio,
            s.aim_rss_ratio,
            mem <= s.aim_rss_ratio
        );
    }
    out.push_str("\n}\n");
    out
}

fn run() -> Result<(), String> {
    let s = Settings::from_env()?;
    eprintln!("zkserver binary: {}", s.zkserver_bin.display());
    let load_before = machine_load();
    let mut runs = Vec::new();
    for &kind in &s.kinds {
        runs.push(load_phase(kind, &s)?);
    }
    // Rounds of one restart per server, so that both meet the same
    // conditions when the machine's load changes during the run.
    for _ in 0..s.restarts {
        for run in &mut runs {
            restart_once(run, &s)?;
        }
    }
    let results = runs
        .into_iter()
        .map(finish)
        .collect::<Result<Vec<_>, _>>()?;
    print!("{}", report(&s, &results, &load_before));
    if let Some(path) = &s.json_out {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        std::fs::write(path, json(&s, &results, &load_before))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("persistence bench failed: {e}");
        std::process::exit(1);
    }
}
