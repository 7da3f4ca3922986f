//! The load driver (issue 6): runs the workloads of TOML files against
//! zkserver and against Apache ZooKeeper 3.8, started the same way on the
//! same machine, standalone or as 3-node localhost ensembles, and reports
//! for each workload and server the throughput, the p50/p99/p99.9 latency,
//! the servers' resident memory and CPU time per request, and the ratio
//! zkserver/Java of each figure.
//!
//!     cargo bench --bench load                          # benches/workloads/standalone.toml, ~13 min
//!     ZKBENCH_QUICK=1 cargo bench --bench load          # the same workloads scaled down, a minute or two
//!     cargo bench --bench load -- benches/workloads/ensemble.toml   # 3-node ensembles, ~4 min
//!     cargo bench --bench load -- a.toml b.toml         # several files in one run
//!     ZKBENCH_JAVA_HEAP_MB=3000 cargo bench --bench load -- benches/workloads/snapshot.toml
//!                                                       # write p99.9 while 1M-znode snapshots are written
//!
//! Environment: ZKBENCH_QUICK=1, ZKBENCH_ONLY (zkserver or java),
//! ZKBENCH_VERSUS=metrics (compare zkserver with itself running the
//! Prometheus provider, /metrics scraped every second, instead of Java),
//! ZKBENCH_FILTER (run only the workloads whose name contains it, or one
//! of its comma-separated parts),
//! ZKBENCH_JAVA_HEAP_MB (default 1000, zkEnv.sh's ZK_SERVER_HEAP),
//! ZKBENCH_KEEP=1 (keep each server's temp directory), ZKBENCH_TLS=1 (the
//! workloads' connections use TLS with a client certificate on each
//! server's secureClientPort; Java runs its Netty factory, as it must for
//! TLS; see "TLS" below). The table goes to
//! stdout, the same figures to target/bench/load.json (load-ensemble.json
//! for ensemble.toml: load, then a dash and the stem of each file other
//! than standalone.toml; load-tls.json and the like with ZKBENCH_TLS).
//!
//! TLS: each connection's socket is a loopback pair whose far end a
//! `tls-pump` thread carries over a rustls client connection to the
//! server, so the writer and reader threads stay as they are; the pumps
//! run on the same machine, cost both servers alike and add one local hop
//! to every latency. The tree is still created through the plain port's
//! client, the load itself over TLS.
//!
//! How it drives a server: each connection is a session of its own with a
//! writer thread and a reader thread over one socket. The writer keeps up to
//! `in_flight` requests outstanding (closed loop), or, with `rate_per_conn`,
//! sends on a fixed schedule (open loop: a fixed offered load, to compare
//! latency at equal load; latency is then counted from the scheduled send
//! time, so a server that falls behind is charged for the queueing). The
//! reader matches each reply to its request (a session's replies come in
//! order), checks it succeeded and records its latency in an HDR histogram.
//! Requests are encoded with the crate's jute records and framed with the
//! client's `write_frame`/`read_frame`; frames that are ready together go out
//! in one write.
//!
//! Each workload gets a fresh server (fresh dataDir, default zoo.cfg: fsync
//! on): the tree it needs is created first (not timed), then all
//! connections warm up together for `warmup_secs` and are measured for
//! `duration_secs`. Servers alternate per workload so that both meet the
//! same machine. Every reply must report success: an error fails the run.
//!
//! With `topology = "ensemble"` a workload gets a fresh 3-node ensemble
//! instead (see `support::BenchEnsemble`), measured once one node answers
//! `srvr` with "Mode: leader" and the others with "Mode: follower";
//! connection `i` goes to node `i % 3`; the tree is created through the
//! nodes and each is synced before the warm-up; RSS and CPU are the sums
//! over the three processes (each node's RSS is in the report and JSON).
//!
//! A workload may set `snap_count` (snapCount in every zoo.cfg) and
//! `expect_snapshot`: the dataDirs are listed at both edges of the measured
//! window and the run fails unless a new snapshot file (one started in the
//! window) appeared; snapshot.toml uses them to measure writes while a
//! snapshot of a large tree is written.
//!
//! Run by `cargo test --benches` (no `--bench` argument) it does a smoke run
//! against zkserver only of standalone.toml, ensemble.toml and
//! snapshot.toml, every
//! workload scaled down to a fraction of a second, and writes
//! target/bench/load-smoke.json.

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use parking_lot::{Condvar, Mutex};
use serde::Deserialize;
use support::{env_flag, BenchEnsemble, BenchServer, Kind};
use zkserver::client::client_cnxn::{handshake, read_frame, write_frame, MAX_FRAME};
use zkserver::client::{code_name, ConnectOptions, ZkClient};
use zkserver::jute::multi::{MultiOperationRecord, MultiResponse, Op, OpResult};
use zkserver::jute::records::{
    CreateRequest, ExistsRequest, GetAllChildrenNumberRequest, GetChildren2Request,
    GetChildrenRequest, GetDataRequest, GetEphemeralsRequest, ReplyHeader, RequestHeader,
    SetDataRequest,
};
use zkserver::jute::{InputArchive, OutputArchive, Record};
use zkserver::zoo_defs::{ids, op_code, CreateMode};

const DEFAULT_JAVA_HEAP_MB: u32 = 1000;
const SESSION_TIMEOUT_MS: i32 = 30_000;
/// How long a socket read or write may block before the run fails.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
const START_DEADLINE: Duration = Duration::from_secs(120);
const STOP_DEADLINE: Duration = Duration::from_secs(60);
/// Populating the tree: connections and requests in flight on each (4 x 200
/// stays under Java's globalOutstandingLimit of 1000).
const POPULATE_CONNECTIONS: usize = 4;
const POPULATE_IN_FLIGHT: usize = 200;
/// The writer sends what it has once this much is waiting.
const BATCH_BYTES: usize = 64 * 1024;
/// The histogram's range: 1 us to 2 minutes, 3 significant digits.
const HIST_LOW_NS: u64 = 1_000;
const HIST_HIGH_NS: u64 = 120_000_000_000;

const ROOT: &str = "/zkbench";
const NODES_PARENT: &str = "/zkbench/n";
const WIDE_PARENT: &str = "/zkbench/w";
const CREATE_PARENT: &str = "/zkbench/c";
const EPHEMERALS_PARENT: &str = "/zkbench/e";

// ---------------------------------------------------------------------------
// The workload file

/// One table of the workload file: `[defaults]` or a `[[workload]]`. Every
/// field a workload leaves out comes from `[defaults]`, then from the
/// built-in defaults.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    name: Option<String>,
    mix: Option<Mix>,
    /// Sessions, each with its own socket.
    connections: Option<usize>,
    /// Requests outstanding per connection (at most, in rate mode).
    in_flight: Option<usize>,
    warmup_secs: Option<f64>,
    duration_secs: Option<f64>,
    /// Bytes of every value written (populated nodes, setData, create, multi).
    value_size: Option<usize>,
    /// Nodes read and written by getData, setData, exists and multi.
    nodes: Option<usize>,
    /// Parents read by getChildren, and the children of each.
    wide_parents: Option<usize>,
    wide_children: Option<usize>,
    /// setData ops in each multi.
    multi_ops: Option<usize>,
    /// Ephemeral nodes each session creates (during the warm-up) and then
    /// lists with getEphemerals.
    ephemerals: Option<usize>,
    /// Requests per second per connection: a fixed offered load. Absent:
    /// closed loop, as fast as the window allows.
    rate_per_conn: Option<f64>,
    /// zkserver/Java throughput ratio the workload should reach (at least).
    target_throughput_ratio: Option<f64>,
    /// zkserver/Java p99 latency ratio the workload should reach (at most).
    target_p99_ratio: Option<f64>,
    /// zkserver/Java p99.9 latency ratio the workload should reach (at most).
    target_p999_ratio: Option<f64>,
    /// snapCount in every server's zoo.cfg (default: the servers' 100000).
    snap_count: Option<u64>,
    /// Whether a server must start a snapshot (a new snapshot file in its
    /// dataDir) during the measured window; the run fails otherwise.
    expect_snapshot: Option<bool>,
    /// zkserver/Java p50 latency ratio the workload should reach (at most).
    target_p50_ratio: Option<f64>,
    /// One server, or a 3-node localhost ensemble with the connections
    /// spread round-robin over its nodes.
    topology: Option<Topology>,
    /// Whether the smoke run (`cargo test`) includes the workload.
    smoke: Option<bool>,
}

/// What a workload runs against.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Topology {
    #[default]
    Standalone,
    Ensemble,
}

/// Members of an ensemble.
const ENSEMBLE_SIZE: usize = 3;

impl Topology {
    fn name(self) -> &'static str {
        match self {
            Topology::Standalone => "standalone",
            Topology::Ensemble => "ensemble",
        }
    }
}

/// Relative weights of the operations a workload sends.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Mix {
    get_data: Option<f64>,
    set_data: Option<f64>,
    create: Option<f64>,
    exists: Option<f64>,
    get_children: Option<f64>,
    get_children2: Option<f64>,
    all_children_number: Option<f64>,
    get_ephemerals: Option<f64>,
    multi: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkloadFile {
    #[serde(default)]
    defaults: Spec,
    workload: Vec<Spec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpKind {
    GetData,
    SetData,
    Create,
    Exists,
    GetChildren,
    GetChildren2,
    AllChildrenNumber,
    GetEphemerals,
    Multi,
}

impl OpKind {
    fn name(self) -> &'static str {
        match self {
            OpKind::GetData => "getData",
            OpKind::SetData => "setData",
            OpKind::Create => "create",
            OpKind::Exists => "exists",
            OpKind::GetChildren => "getChildren",
            OpKind::GetChildren2 => "getChildren2",
            OpKind::AllChildrenNumber => "getAllChildrenNumber",
            OpKind::GetEphemerals => "getEphemerals",
            OpKind::Multi => "multi",
        }
    }

    /// Whether the op reads or writes the populated nodes /zkbench/n/<i>
    /// (getAllChildrenNumber counts them).
    fn uses_nodes(self) -> bool {
        matches!(
            self,
            OpKind::GetData | OpKind::SetData | OpKind::Exists | OpKind::Multi | OpKind::AllChildrenNumber
        )
    }

    /// Whether the op reads the wide parents /zkbench/w/<j>.
    fn uses_wide(self) -> bool {
        matches!(self, OpKind::GetChildren | OpKind::GetChildren2)
    }
}

/// A workload with every parameter resolved and checked.
#[derive(Debug, Clone)]
struct Workload {
    name: String,
    /// Ops with their cumulative weights, the last being the total.
    mix: Vec<(OpKind, f64)>,
    connections: usize,
    in_flight: usize,
    warmup: Duration,
    duration: Duration,
    value_size: usize,
    nodes: usize,
    wide_parents: usize,
    wide_children: usize,
    multi_ops: usize,
    ephemerals: usize,
    rate_per_conn: Option<f64>,
    target_throughput_ratio: Option<f64>,
    target_p99_ratio: Option<f64>,
    target_p999_ratio: Option<f64>,
    snap_count: Option<u64>,
    expect_snapshot: bool,
    target_p50_ratio: Option<f64>,
    topology: Topology,
    smoke: bool,
}

/// Largest value accepted: Java's jute.maxbuffer is 1 MiB for the whole
/// request.
const MAX_VALUE_SIZE: usize = 1_000_000;

impl Workload {
    fn resolve(w: &Spec, d: &Spec) -> Result<Workload, String> {
        let name = w.name.clone().ok_or("a [[workload]] has no name")?;
        let err = |what: &str| format!("workload {name}: {what}");
        let mix_spec = w.mix.as_ref().or(d.mix.as_ref()).ok_or_else(|| err("no mix"))?;
        let weights = [
            (OpKind::GetData, mix_spec.get_data),
            (OpKind::SetData, mix_spec.set_data),
            (OpKind::Create, mix_spec.create),
            (OpKind::Exists, mix_spec.exists),
            (OpKind::GetChildren, mix_spec.get_children),
            (OpKind::GetChildren2, mix_spec.get_children2),
            (OpKind::AllChildrenNumber, mix_spec.all_children_number),
            (OpKind::GetEphemerals, mix_spec.get_ephemerals),
            (OpKind::Multi, mix_spec.multi),
        ];
        let mut mix = Vec::new();
        let mut total = 0.0;
        for (op, weight) in weights {
            let Some(weight) = weight else { continue };
            if !(weight >= 0.0 && weight.is_finite()) {
                return Err(err(&format!("{} has weight {weight}", op.name())));
            }
            if weight > 0.0 {
                total += weight;
                mix.push((op, total));
            }
        }
        if mix.is_empty() {
            return Err(err("the mix has no op with a positive weight"));
        }
        let secs = |v: Option<f64>, dv: Option<f64>, default: f64, what: &str| {
            let s = v.or(dv).unwrap_or(default);
            if s.is_finite() && s >= 0.0 {
                Ok(Duration::from_secs_f64(s))
            } else {
                Err(err(&format!("{what} = {s}")))
            }
        };
        let wl = Workload {
            mix,
            connections: w.connections.or(d.connections).unwrap_or(16),
            in_flight: w.in_flight.or(d.in_flight).unwrap_or(32),
            warmup: secs(w.warmup_secs, d.warmup_secs, 3.0, "warmup_secs")?,
            duration: secs(w.duration_secs, d.duration_secs, 15.0, "duration_secs")?,
            value_size: w.value_size.or(d.value_size).unwrap_or(100),
            nodes: w.nodes.or(d.nodes).unwrap_or(10_000),
            wide_parents: w.wide_parents.or(d.wide_parents).unwrap_or(4),
            wide_children: w.wide_children.or(d.wide_children).unwrap_or(1000),
            multi_ops: w.multi_ops.or(d.multi_ops).unwrap_or(4),
            ephemerals: w.ephemerals.or(d.ephemerals).unwrap_or(1000),
            rate_per_conn: w.rate_per_conn.or(d.rate_per_conn),
            target_throughput_ratio: w.target_throughput_ratio.or(d.target_throughput_ratio),
            target_p99_ratio: w.target_p99_ratio.or(d.target_p99_ratio),
            target_p999_ratio: w.target_p999_ratio.or(d.target_p999_ratio),
            snap_count: w.snap_count.or(d.snap_count),
            expect_snapshot: w.expect_snapshot.or(d.expect_snapshot).unwrap_or(false),
            target_p50_ratio: w.target_p50_ratio.or(d.target_p50_ratio),
            topology: w.topology.or(d.topology).unwrap_or_default(),
            smoke: w.smoke.or(d.smoke).unwrap_or(true),
            name: name.clone(),
        };
        if wl.connections == 0 || wl.in_flight == 0 {
            return Err(err("connections and in_flight must be at least 1"));
        }
        if wl.duration.is_zero() {
            return Err(err("duration_secs must be positive"));
        }
        if wl.value_size > MAX_VALUE_SIZE {
            return Err(err(&format!("value_size above {MAX_VALUE_SIZE}")));
        }
        if wl.uses_wide() && (wl.wide_parents == 0 || wl.wide_children == 0) {
            return Err(err("getChildren needs wide_parents and wide_children"));
        }
        if wl.mix.iter().any(|(op, _)| op.uses_nodes()) && wl.nodes == 0 {
            return Err(err("nodes must be at least 1"));
        }
        if wl.snap_count.is_some_and(|n| n < 2) {
            return Err(err("snap_count must be at least 2 (Java raises it to 2)"));
        }
        if wl.uses(OpKind::Multi) && wl.multi_ops == 0 {
            return Err(err("multi_ops must be at least 1"));
        }
        if let Some(r) = wl.rate_per_conn {
            if !(r > 0.0 && r.is_finite()) {
                return Err(err(&format!("rate_per_conn = {r}")));
            }
        }
        Ok(wl)
    }

    fn uses(&self, op: OpKind) -> bool {
        self.mix.iter().any(|(o, _)| *o == op)
    }

    fn uses_wide(&self) -> bool {
        self.mix.iter().any(|(o, _)| o.uses_wide())
    }

    /// Server processes the workload runs against.
    fn servers(&self) -> usize {
        match self.topology {
            Topology::Standalone => 1,
            Topology::Ensemble => ENSEMBLE_SIZE,
        }
    }

    /// Scales the workload down for a quick or smoke run.
    fn scale_down(&mut self, mode: Mode) {
        let (warmup, duration, nodes, children, conns, window, ephemerals) = match mode {
            Mode::Full => return,
            Mode::Quick => (0.5, 1.0, 2000, 200, usize::MAX, usize::MAX, 100),
            // An ensemble keeps a connection on each of its nodes.
            Mode::Smoke => (0.05, 0.15, 100, 20, self.servers().max(2), 8, 10),
        };
        self.ephemerals = self.ephemerals.min(ephemerals);
        self.warmup = self.warmup.min(Duration::from_secs_f64(warmup));
        self.duration = self.duration.min(Duration::from_secs_f64(duration));
        self.nodes = self.nodes.min(nodes);
        self.wide_children = self.wide_children.min(children);
        self.connections = self.connections.min(conns);
        self.in_flight = self.in_flight.min(window);
        // The shorter window still has to see a snapshot start.
        if self.expect_snapshot {
            let snap = if mode == Mode::Quick { 500 } else { 2 };
            self.snap_count = self.snap_count.map(|n| n.min(snap));
        }
    }

    /// "getData 90%, setData 10%".
    fn mix_text(&self) -> String {
        let total = self.mix.last().map_or(1.0, |(_, t)| *t);
        let mut prev = 0.0;
        let parts: Vec<String> = self
            .mix
            .iter()
            .map(|(op, cum)| {
                let share = (cum - prev) / total * 100.0;
                prev = *cum;
                format!("{} {share:.0}%", op.name())
            })
            .collect();
        parts.join(", ")
    }

    fn describe(&self) -> String {
        let load = match self.rate_per_conn {
            Some(r) => format!(
                "fixed offered load {:.0} ops/s ({} conns x {r:.0}/s, at most {} in flight each)",
                r * self.connections as f64,
                self.connections,
                self.in_flight
            ),
            None => format!("{} conns x {} in flight", self.connections, self.in_flight),
        };
        let mut tree = Vec::new();
        if self.mix.iter().any(|(op, _)| op.uses_nodes()) {
            tree.push(format!("{} nodes", self.nodes));
        }
        if self.uses_wide() {
            tree.push(format!("{} parents x {} children", self.wide_parents, self.wide_children));
        }
        if self.uses(OpKind::GetEphemerals) {
            tree.push(format!("{} ephemerals per session, created in the warm-up", self.ephemerals));
        }
        if self.uses(OpKind::Multi) {
            tree.push(format!("{} setData per multi", self.multi_ops));
        }
        let topology = match self.topology {
            Topology::Standalone => "standalone".to_string(),
            Topology::Ensemble => format!(
                "{ENSEMBLE_SIZE}-node ensemble, conns round-robin over the nodes, RSS and CPU summed over them"
            ),
        };
        let snap = match (self.snap_count, self.expect_snapshot) {
            (Some(n), true) => format!("; snapCount {n}, a snapshot must start in the window"),
            (Some(n), false) => format!("; snapCount {n}"),
            (None, true) => "; a snapshot must start in the window".to_string(),
            (None, false) => String::new(),
        };
        format!(
            "{topology}; {}; {load}; values {} B; {}; {:.1} s after {:.1} s warm-up{snap}",
            self.mix_text(),
            self.value_size,
            if tree.is_empty() { "empty tree".to_string() } else { tree.join(", ") },
            self.duration.as_secs_f64(),
            self.warmup.as_secs_f64()
        )
    }
}

/// The workloads of every file, in order; names must differ across files.
fn load_workloads(paths: &[PathBuf], mode: Mode, filter: Option<&str>) -> Result<Vec<Workload>, String> {
    let mut names = Vec::new();
    let mut out = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let file: WorkloadFile =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        for spec in &file.workload {
            let mut w = Workload::resolve(spec, &file.defaults)?;
            if names.contains(&w.name) {
                return Err(format!("{}: a second workload named {}", path.display(), w.name));
            }
            names.push(w.name.clone());
            let filtered_out =
                filter.is_some_and(|f| !f.split(',').any(|part| w.name.contains(part.trim())));
            if filtered_out || (mode == Mode::Smoke && !w.smoke) {
                continue;
            }
            w.scale_down(mode);
            out.push(w);
        }
    }
    if out.is_empty() {
        return Err(format!("{}: no workload to run", files_text(paths)));
    }
    Ok(out)
}

fn files_text(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    names.join(", ")
}

// ---------------------------------------------------------------------------
// Settings

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `cargo bench`: the file as written.
    Full,
    /// `ZKBENCH_QUICK=1`: short phases, small trees.
    Quick,
    /// Without `--bench` (`cargo test`): zkserver only, a fraction of a
    /// second per workload.
    Smoke,
}

struct Settings {
    mode: Mode,
    workload_files: Vec<PathBuf>,
    workloads: Vec<Workload>,
    kinds: Vec<Kind>,
    java_heap_mb: u32,
    keep_dirs: bool,
    zkserver_bin: PathBuf,
    json_out: PathBuf,
    /// ZKBENCH_TLS=1: the certificates the servers and the load use.
    tls: Option<Arc<common::pki::Pki>>,
}

impl Settings {
    fn from_env() -> Result<Settings, String> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let bench_mode = args.iter().any(|a| a == "--bench");
        let mode = match (bench_mode, env_flag("ZKBENCH_QUICK")) {
            (false, _) => Mode::Smoke,
            (true, true) => Mode::Quick,
            (true, false) => Mode::Full,
        };
        // cargo bench passes its own flags; workload files are the
        // arguments ending in .toml. By default standalone.toml, and for the
        // smoke run ensemble.toml too.
        let mut workload_files: Vec<PathBuf> =
            args.iter().filter(|a| a.ends_with(".toml")).map(PathBuf::from).collect();
        if workload_files.is_empty() {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/workloads");
            workload_files.push(dir.join("standalone.toml"));
            if mode == Mode::Smoke {
                workload_files.push(dir.join("ensemble.toml"));
                workload_files.push(dir.join("snapshot.toml"));
            }
        }
        let filter = std::env::var("ZKBENCH_FILTER").ok().filter(|f| !f.is_empty());
        let workloads = load_workloads(&workload_files, mode, filter.as_deref())?;
        let versus_metrics = match std::env::var("ZKBENCH_VERSUS").as_deref() {
            Ok("metrics") => true,
            Ok("") | Ok("java") | Err(_) => false,
            Ok(other) => return Err(format!("ZKBENCH_VERSUS={other}: expected java or metrics")),
        };
        let kinds = match (mode, std::env::var("ZKBENCH_ONLY").as_deref()) {
            (Mode::Smoke, _) | (_, Ok("zkserver")) => vec![Kind::Zkserver],
            _ if versus_metrics => vec![Kind::Zkserver, Kind::ZkserverMetrics],
            (_, Ok("java")) => vec![Kind::Java],
            (_, Ok("")) | (_, Err(_)) => vec![Kind::Zkserver, Kind::Java],
            (_, Ok(other)) => {
                return Err(format!("ZKBENCH_ONLY={other}: expected zkserver or java"))
            }
        };
        let java_heap_mb = match std::env::var("ZKBENCH_JAVA_HEAP_MB") {
            Ok(v) if !v.trim().is_empty() => v
                .trim()
                .parse()
                .map_err(|_| format!("ZKBENCH_JAVA_HEAP_MB={v}: not a number"))?,
            _ => DEFAULT_JAVA_HEAP_MB,
        };
        // Cargo builds the binary with this bench's profile (release under
        // `cargo bench`) and tells us where it is.
        let zkserver_bin = PathBuf::from(env!("CARGO_BIN_EXE_zkserver"));
        if !zkserver_bin.exists() {
            return Err(format!("{} is missing: cargo build --bin zkserver", zkserver_bin.display()));
        }
        let target = zkserver_bin
            .parent()
            .and_then(Path::parent)
            .ok_or_else(|| format!("no target directory above {}", zkserver_bin.display()))?;
        // load.json for standalone.toml, load-ensemble.json for
        // ensemble.toml, load-smoke.json for the smoke run.
        let json_name = if mode == Mode::Smoke {
            "load-smoke.json".to_string()
        } else {
            let stems: String = workload_files
                .iter()
                .filter_map(|f| f.file_stem()?.to_str())
                .filter(|stem| *stem != "standalone")
                .map(|stem| format!("-{stem}"))
                .collect();
            let tls = if env_flag("ZKBENCH_TLS") { "-tls" } else { "" };
            format!("load{stems}{tls}.json")
        };
        let tls = if env_flag("ZKBENCH_TLS") {
            let pki = Arc::new(common::pki::Pki::new());
            let _ = TLS_CLIENT.set(tls_client_config(&pki)?);
            Some(pki)
        } else {
            None
        };
        Ok(Settings {
            mode,
            workload_files,
            workloads,
            kinds,
            java_heap_mb,
            keep_dirs: env_flag("ZKBENCH_KEEP"),
            json_out: target.join("bench").join(json_name),
            zkserver_bin,
            tls,
        })
    }
}

// ---------------------------------------------------------------------------
// One connection: writer and reader threads over a pipelined session

/// A small xorshift64* generator: the driver needs cheap uniform picks,
/// not cryptographic ones.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in 0..n (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Counts free places in a connection's window. The writer takes one per
/// request, the reader gives it back with the reply; `close` wakes a
/// waiting writer for good when the reader stops.
struct Window {
    state: Mutex<(usize, bool)>,
    freed: Condvar,
}

impl Window {
    fn new(size: usize) -> Window {
        Window { state: Mutex::new((size, false)), freed: Condvar::new() }
    }

    /// Takes a place if one is free, without waiting.
    fn try_take(&self) -> bool {
        let mut s = self.state.lock();
        if s.0 > 0 {
            s.0 -= 1;
            true
        } else {
            false
        }
    }

    /// Waits for a free place; false once the window is closed.
    fn take(&self) -> bool {
        let mut s = self.state.lock();
        while s.0 == 0 && !s.1 {
            self.freed.wait(&mut s);
        }
        if s.1 {
            return false;
        }
        s.0 -= 1;
        true
    }

    fn give(&self) {
        self.state.lock().0 += 1;
        self.freed.notify_one();
    }

    fn close(&self) {
        self.state.lock().1 = true;
        self.freed.notify_all();
    }
}

/// A request sent and not yet answered.
struct Pending {
    xid: i32,
    op: i32,
    /// When it was sent, or, at a fixed rate, when it was due.
    sent: Instant,
}

/// When a connection sends and which replies it measures.
#[derive(Debug, Clone, Copy)]
struct Timing {
    /// When the first request goes out.
    start: Instant,
    /// Requests sent from here on are measured.
    measure_from: Instant,
    /// No request is sent from here on; `None`: until the source runs dry.
    end: Option<Instant>,
    /// Requests per second, scheduled from `start + offset`.
    rate: Option<f64>,
    offset: Duration,
}

/// What one connection measured.
struct ConnStats {
    hist: Histogram<u64>,
    /// Replies to measured requests.
    measured: u64,
    /// Replies of any phase.
    replies: u64,
    /// Failed requests (and failed ops inside multis) by error code.
    errors: BTreeMap<i32, u64>,
}

impl ConnStats {
    fn new() -> Result<ConnStats, String> {
        Ok(ConnStats {
            hist: Histogram::new_with_bounds(HIST_LOW_NS, HIST_HIGH_NS, 3)
                .map_err(|e| format!("histogram: {e:?}"))?,
            measured: 0,
            replies: 0,
            errors: BTreeMap::new(),
        })
    }

    fn merge(&mut self, other: &ConnStats) -> Result<(), String> {
        self.hist.add(&other.hist).map_err(|e| format!("histogram: {e:?}"))?;
        self.measured += other.measured;
        self.replies += other.replies;
        for (code, n) in &other.errors {
            *self.errors.entry(*code).or_default() += n;
        }
        Ok(())
    }
}

/// With ZKBENCH_TLS: how the load's connections speak TLS.
static TLS_CLIENT: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();

/// A TLS client config trusting the PKI's CA and presenting client1's
/// certificate, as the tests' Java and kazoo clients do.
fn tls_client_config(pki: &common::pki::Pki) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(pki.path("ca.pem")).map_err(|e| format!("ca.pem: {e}"))? {
        roots.add(c.map_err(|e| format!("ca.pem: {e}"))?).map_err(|e| format!("ca.pem: {e}"))?;
    }
    let chain = CertificateDer::pem_file_iter(pki.path("client1.pem"))
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("client1.pem: {e}"))?;
    let key = PrivateKeyDer::from_pem_file(pki.path("client1.key")).map_err(|e| format!("client1.key: {e}"))?;
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .map_err(|e| format!("TLS client: {e}"))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| format!("client certificate: {e}"))?;
    Ok(Arc::new(config))
}

/// A TCP connection to `addr`, or with ZKBENCH_TLS the near end of a
/// loopback pair whose far end a `tls-pump` thread carries over TLS to
/// `addr`.
fn open_socket(addr: &str) -> Result<TcpStream, String> {
    let sock = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    let server = TcpStream::connect_timeout(&sock, IO_TIMEOUT).map_err(|e| format!("connect to {addr}: {e}"))?;
    let Some(config) = TLS_CLIENT.get() else { return Ok(server) };
    let pair = || -> std::io::Result<(TcpStream, TcpStream)> {
        let l = TcpListener::bind("127.0.0.1:0")?;
        let near = TcpStream::connect(l.local_addr()?)?;
        let (far, _) = l.accept()?;
        for s in [&near, &far, &server] {
            s.set_nodelay(true)?;
        }
        Ok((near, far))
    };
    let (near, far) = pair().map_err(|e| format!("loopback pair: {e}"))?;
    let name = rustls::pki_types::ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
    let mut tls = rustls::ClientConnection::new(Arc::clone(config), name).map_err(|e| format!("TLS: {e}"))?;
    tls.set_buffer_limit(None);
    std::thread::Builder::new()
        .name("tls-pump".to_string())
        .spawn(move || tls_pump(tls, server, far))
        .map_err(|e| format!("cannot spawn a TLS pump: {e}"))?;
    Ok(near)
}

/// Carries bytes between `app` (plaintext, the bench's side) and `net`
/// (TLS, the server's side) until either side closes or fails; what the
/// server sent before it closed still reaches `app` (a closeSession reply).
fn tls_pump(mut tls: rustls::ClientConnection, net: TcpStream, app: TcpStream) {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    if net.set_nonblocking(true).is_err() || app.set_nonblocking(true).is_err() {
        return;
    }
    let mut to_app: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let would_block = |e: &std::io::Error| e.kind() == std::io::ErrorKind::WouldBlock;
    let mut server_done = false;
    while !server_done {
        let net_ev = libc::POLLIN | if tls.wants_write() { libc::POLLOUT } else { 0 };
        let app_ev = libc::POLLIN | if to_app.is_empty() { 0 } else { libc::POLLOUT };
        let mut fds = [
            libc::pollfd { fd: net.as_raw_fd(), events: net_ev, revents: 0 },
            libc::pollfd { fd: app.as_raw_fd(), events: app_ev, revents: 0 },
        ];
        // SAFETY: two valid pollfds that outlive the call.
        if unsafe { libc::poll(fds.as_mut_ptr(), 2, 1000) } < 0 {
            return;
        }
        if fds[0].revents != 0 {
            match tls.read_tls(&mut &net) {
                Ok(0) => server_done = true,
                Ok(_) => {
                    if tls.process_new_packets().is_err() {
                        server_done = true;
                    }
                    loop {
                        match tls.reader().read(&mut buf) {
                            Ok(0) => {
                                server_done = true;
                                break;
                            }
                            Ok(n) => to_app.extend_from_slice(&buf[..n]),
                            Err(e) if would_block(&e) => break,
                            Err(_) => {
                                server_done = true;
                                break;
                            }
                        }
                    }
                }
                Err(e) if would_block(&e) => {}
                Err(_) => server_done = true,
            }
        }
        if fds[1].revents != 0 && !server_done {
            match (&app).read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    if tls.writer().write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
                Err(e) if would_block(&e) => {}
                Err(_) => return,
            }
        }
        while !to_app.is_empty() && !server_done {
            match (&app).write(&to_app) {
                Ok(n) => {
                    to_app.drain(..n);
                }
                Err(e) if would_block(&e) => break,
                Err(_) => return,
            }
        }
        while tls.wants_write() && !server_done {
            match tls.write_tls(&mut &net) {
                Ok(_) => {}
                Err(e) if would_block(&e) => break,
                Err(_) => return,
            }
        }
    }
    if app.set_nonblocking(false).is_ok() {
        let _ = (&app).write_all(&to_app);
    }
}

/// Opens a session on its own socket.
fn connect(addr: &str) -> Result<TcpStream, String> {
    let mut stream = open_socket(addr)?;
    let setup = |s: &TcpStream| {
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(IO_TIMEOUT))?;
        s.set_write_timeout(Some(IO_TIMEOUT))
    };
    setup(&stream).map_err(|e| format!("socket options: {e}"))?;
    let hs = handshake(&mut stream, &ConnectOptions::new(SESSION_TIMEOUT_MS))
        .map_err(|e| format!("handshake with {addr}: {e}"))?;
    if hs.response.time_out <= 0 {
        return Err(format!("{addr} refused the session"));
    }
    Ok(stream)
}

/// Drives one connected session: `source` yields (op code, request body)
/// until it returns `None` or `timing.end` passes; returns once every
/// request sent is answered, then closes the session.
fn drive(
    stream: TcpStream,
    timing: Timing,
    window: usize,
    mut source: impl FnMut() -> Option<(i32, Vec<u8>)> + Send,
) -> Result<ConnStats, String> {
    let win = Window::new(window);
    let (pending_tx, pending_rx) = crossbeam_channel::unbounded::<Pending>();
    let read_half = stream.try_clone().map_err(|e| format!("clone the socket: {e}"))?;
    // Whichever side fails first explains the other's failure (a socket
    // shut down under it), so only the first error is reported.
    let first_error = OnceLock::new();
    let fail = |e: String| {
        let _ = first_error.set(e);
        // Frees a writer waiting for the window or blocked on the socket,
        // and a reader waiting for a reply.
        win.close();
        let _ = stream.shutdown(Shutdown::Both);
    };
    let next_xid = std::thread::scope(|scope| {
        let (win, fail) = (&win, &fail);
        let reader = scope.spawn(move || match read_replies(read_half, pending_rx, win, timing) {
            Ok(stats) => Some(stats),
            Err(e) => {
                fail(e);
                None
            }
        });
        let written = write_requests(&stream, pending_tx, win, timing, &mut source);
        if let Err(e) = &written {
            fail(e.clone());
        }
        let read = reader.join().unwrap_or_else(|_| {
            fail("the reader panicked".to_string());
            None
        });
        written.ok().zip(read)
    });
    let (next_xid, stats) = match (next_xid, first_error.into_inner()) {
        (Some(done), None) => done,
        (_, Some(e)) => return Err(e),
        (None, None) => return Err("a connection failed without an error".to_string()),
    };
    close_session(&stream, next_xid)?;
    Ok(stats)
}

/// The writer's side of `drive`: sends until the source runs dry or the
/// time is up, then drops `pending` so that the reader stops once every
/// request is answered. Returns the next unused xid.
fn write_requests(
    stream: &TcpStream,
    pending: crossbeam_channel::Sender<Pending>,
    win: &Window,
    timing: Timing,
    source: &mut impl FnMut() -> Option<(i32, Vec<u8>)>,
) -> Result<i32, String> {
    let mut out = stream;
    let mut batch = Vec::with_capacity(BATCH_BYTES + 4096);
    let mut flush = |batch: &mut Vec<u8>| -> Result<(), String> {
        if !batch.is_empty() {
            out.write_all(batch).map_err(|e| format!("send: {e}"))?;
            batch.clear();
        }
        Ok(())
    };
    let mut xid: i32 = 1;
    let mut sent: u64 = 0;
    loop {
        let due = timing
            .rate
            .map(|r| timing.start + timing.offset + Duration::from_secs_f64(sent as f64 / r));
        let now = Instant::now();
        if timing.end.is_some_and(|end| due.unwrap_or(now) >= end) {
            break;
        }
        if let Some(due) = due.filter(|d| *d > now) {
            flush(&mut batch)?;
            std::thread::sleep(due - now);
        }
        if !win.try_take() {
            flush(&mut batch)?;
            if !win.take() {
                // The reader failed; its error is the one reported.
                return Ok(xid);
            }
        }
        let Some((op, body)) = source() else {
            win.give();
            break;
        };
        let mut frame = RequestHeader { xid, r#type: op }.to_bytes();
        frame.extend_from_slice(&body);
        write_frame(&mut batch, &frame).map_err(|e| format!("encode: {e}"))?;
        let stamp = due.unwrap_or_else(Instant::now);
        if pending.send(Pending { xid, op, sent: stamp }).is_err() {
            return Ok(xid);
        }
        xid = xid.wrapping_add(1).max(1);
        sent += 1;
        if batch.len() >= BATCH_BYTES {
            flush(&mut batch)?;
        }
    }
    flush(&mut batch)?;
    Ok(xid)
}

/// Reads replies in order until the writer is done and every request is
/// answered.
fn read_replies(
    stream: TcpStream,
    pending: crossbeam_channel::Receiver<Pending>,
    win: &Window,
    timing: Timing,
) -> Result<ConnStats, String> {
    let mut stats = ConnStats::new()?;
    let mut input = BufReader::with_capacity(256 * 1024, stream);
    while let Ok(p) = pending.recv() {
        let frame = read_frame(&mut input, MAX_FRAME).map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                format!("no reply to xid {} within {IO_TIMEOUT:?}: the server stalled", p.xid)
            }
            _ => format!("reply to xid {}: {e}", p.xid),
        })?;
        let done = Instant::now();
        win.give();
        let mut ia = InputArchive::new(&frame);
        let hdr = ReplyHeader::deserialize(&mut ia).map_err(|e| format!("reply header: {e}"))?;
        if hdr.xid != p.xid {
            return Err(format!("reply for xid {} where {} was next", hdr.xid, p.xid));
        }
        stats.replies += 1;
        if hdr.err != 0 {
            *stats.errors.entry(hdr.err).or_default() += 1;
        } else if p.op == op_code::MULTI {
            let rsp = MultiResponse::deserialize(&mut ia)
                .map_err(|e| format!("multi response: {e:?}"))?;
            for r in rsp.results {
                if let OpResult::Error { err } = r {
                    *stats.errors.entry(err).or_default() += 1;
                }
            }
        }
        let before_end = !matches!(timing.end, Some(end) if p.sent >= end);
        if p.sent >= timing.measure_from && before_end {
            let ns = u64::try_from(done.saturating_duration_since(p.sent).as_nanos())
                .unwrap_or(u64::MAX);
            stats.hist.saturating_record(ns.max(HIST_LOW_NS));
            stats.measured += 1;
        }
    }
    Ok(stats)
}

/// Sends closeSession and waits for its answer, so that the server drops
/// the session now rather than at its timeout.
fn close_session(stream: &TcpStream, xid: i32) -> Result<(), String> {
    let mut s = stream;
    write_frame(&mut s, &RequestHeader { xid, r#type: op_code::CLOSE_SESSION }.to_bytes())
        .map_err(|e| format!("closeSession: {e}"))?;
    let frame = read_frame(&mut s, MAX_FRAME).map_err(|e| format!("closeSession reply: {e}"))?;
    let hdr = ReplyHeader::from_bytes(&frame).map_err(|e| format!("closeSession reply: {e}"))?;
    if hdr.xid != xid || hdr.err != 0 {
        return Err(format!("closeSession answered xid {} err {}", hdr.xid, code_name(hdr.err)));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Requests

fn node_path(i: usize) -> String {
    format!("{NODES_PARENT}/{i}")
}

fn wide_path(j: usize) -> String {
    format!("{WIDE_PARENT}/{j}")
}

fn value(size: usize) -> Vec<u8> {
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

fn create_body(path: String, data: Option<Vec<u8>>) -> Vec<u8> {
    CreateRequest { path, data, acl: ids::open_acl_unsafe(), flags: 0 }.to_bytes()
}

/// Generates one connection's requests for a workload.
struct RequestSource {
    w: Arc<Workload>,
    conn: usize,
    rng: Rng,
    value: Vec<u8>,
    created: u64,
    /// Ephemerals this session has created so far (getEphemerals).
    ephemerals_created: usize,
}

impl RequestSource {
    fn next(&mut self) -> (i32, Vec<u8>) {
        let total = self.w.mix.last().map_or(0.0, |(_, t)| *t);
        let pick = self.rng.unit() * total;
        let op = self
            .w
            .mix
            .iter()
            .find(|(_, cum)| pick < *cum)
            .or(self.w.mix.last())
            .map_or(OpKind::GetData, |(op, _)| *op);
        if self.w.uses(OpKind::GetEphemerals) && self.ephemerals_created < self.w.ephemerals {
            // The session's ephemerals come first, within the warm-up.
            self.ephemerals_created += 1;
            let path = format!("{EPHEMERALS_PARENT}/{}-{:06}", self.conn, self.ephemerals_created);
            let body = CreateRequest {
                path,
                data: Some(self.value.clone()),
                acl: ids::open_acl_unsafe(),
                // CreateMode.EPHEMERAL.
                flags: 1,
            };
            return (op_code::CREATE, body.to_bytes());
        }
        let nodes = self.w.nodes.max(1);
        match op {
            OpKind::GetData => {
                let path = node_path(self.rng.below(nodes));
                (op_code::GET_DATA, GetDataRequest { path, watch: false }.to_bytes())
            }
            OpKind::Exists => {
                let path = node_path(self.rng.below(nodes));
                (op_code::EXISTS, ExistsRequest { path, watch: false }.to_bytes())
            }
            OpKind::SetData => (op_code::SET_DATA, self.set_data().to_bytes()),
            OpKind::Create => {
                self.created += 1;
                let path = format!("{CREATE_PARENT}/{}-{}", self.conn, self.created);
                (op_code::CREATE, create_body(path, Some(self.value.clone())))
            }
            OpKind::GetChildren => {
                let path = wide_path(self.rng.below(self.w.wide_parents.max(1)));
                (op_code::GET_CHILDREN, GetChildrenRequest { path, watch: false }.to_bytes())
            }
            OpKind::GetChildren2 => {
                let path = wide_path(self.rng.below(self.w.wide_parents.max(1)));
                (op_code::GET_CHILDREN2, GetChildren2Request { path, watch: false }.to_bytes())
            }
            OpKind::AllChildrenNumber => {
                let path = NODES_PARENT.to_string();
                (op_code::GET_ALL_CHILDREN_NUMBER, GetAllChildrenNumberRequest { path }.to_bytes())
            }
            OpKind::GetEphemerals => {
                let prefix_path = "/".to_string();
                (op_code::GET_EPHEMERALS, GetEphemeralsRequest { prefix_path }.to_bytes())
            }
            OpKind::Multi => {
                let ops = (0..self.w.multi_ops).map(|_| Op::SetData(self.set_data())).collect();
                let mut oa = OutputArchive::new();
                MultiOperationRecord { ops }.serialize(&mut oa);
                (op_code::MULTI, oa.into_inner())
            }
        }
    }

    fn set_data(&mut self) -> SetDataRequest {
        let path = node_path(self.rng.below(self.w.nodes.max(1)));
        SetDataRequest { path, data: Some(self.value.clone()), version: -1 }
    }
}

// ---------------------------------------------------------------------------
// Running a workload against one server

/// The figures of one workload on one server.
#[derive(Debug, Clone, Default)]
struct Figures {
    ops: u64,
    secs: f64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    max_ms: f64,
    /// VmRSS at the end, summed over the servers (one unless an ensemble).
    rss_kib: u64,
    /// VmHWM (each process's own peak) summed over the servers.
    hwm_kib: u64,
    rss_kib_per_server: Vec<u64>,
    hwm_kib_per_server: Vec<u64>,
    /// The index of an ensemble's leader among its servers.
    leader: Option<usize>,
    /// Server CPU time (user + system, summed over the servers) during the
    /// measured phase.
    server_cpu_secs: f64,
    /// This driver's own CPU time during the measured phase.
    driver_cpu_secs: f64,
    populate_secs: f64,
    populated: usize,
    /// Snapshot files the servers started writing during the measured
    /// phase (summed over the servers).
    snapshots_in_window: usize,
}

impl Figures {
    fn ops_per_sec(&self) -> f64 {
        if self.secs > 0.0 {
            self.ops as f64 / self.secs
        } else {
            0.0
        }
    }

    fn cpu_us_per_op(cpu_secs: f64, ops: u64) -> f64 {
        if ops > 0 {
            cpu_secs * 1e6 / ops as f64
        } else {
            0.0
        }
    }
}

/// Runs `n` connections, connection `i` to `addrs[i % addrs.len()]`, each
/// driven by its own source, and merges what they measured.
fn run_connections<S>(
    addrs: &[String],
    n: usize,
    window: usize,
    timing: impl Fn(usize) -> Timing + Sync,
    sources: Vec<S>,
) -> Result<ConnStats, String>
where
    S: FnMut() -> Option<(i32, Vec<u8>)> + Send,
{
    // Every session is open before the first request goes out.
    if addrs.is_empty() {
        return Err("no server to connect to".to_string());
    }
    let streams =
        (0..n).map(|i| connect(&addrs[i % addrs.len()])).collect::<Result<Vec<_>, _>>()?;
    let results: Vec<Result<ConnStats, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = streams
            .into_iter()
            .zip(sources)
            .enumerate()
            .map(|(i, (stream, source))| {
                let t = timing(i);
                std::thread::Builder::new()
                    .name(format!("zkbench-conn-{i}"))
                    .spawn_scoped(scope, move || drive(stream, t, window, source))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h {
                Ok(h) => h.join().unwrap_or_else(|_| Err("a connection panicked".to_string())),
                Err(e) => Err(format!("cannot spawn a connection thread: {e}")),
            })
            .collect()
    });
    let mut total = ConnStats::new()?;
    for r in results {
        total.merge(&r?)?;
    }
    Ok(total)
}

/// Fails on any error reply, naming the codes.
fn check_errors(stats: &ConnStats, phase: &str) -> Result<(), String> {
    if stats.errors.is_empty() {
        return Ok(());
    }
    let list: Vec<String> =
        stats.errors.iter().map(|(code, n)| format!("{} x{n}", code_name(*code))).collect();
    Err(format!("{phase}: requests failed: {}", list.join(", ")))
}

/// Creates the tree the workload reads and writes (not timed as part of
/// the workload) through the servers of `addrs`, and waits until each of
/// them has it; returns the number of nodes created.
fn populate(addrs: &[String], load_addrs: &[String], w: &Workload) -> Result<usize, String> {
    let first = addrs.first().ok_or("no server to populate")?;
    let client =
        ZkClient::connect(first.as_str(), SESSION_TIMEOUT_MS).map_err(|e| format!("connect: {e}"))?;
    let acl = ids::open_acl_unsafe();
    let mut parents = vec![ROOT.to_string(), NODES_PARENT.to_string(), CREATE_PARENT.to_string()];
    if w.uses(OpKind::GetEphemerals) {
        parents.push(EPHEMERALS_PARENT.to_string());
    }
    let wide = if w.uses_wide() { w.wide_parents } else { 0 };
    if wide > 0 {
        parents.push(WIDE_PARENT.to_string());
        parents.extend((0..wide).map(wide_path));
    }
    for p in &parents {
        client
            .create(p, None, &acl, CreateMode::Persistent)
            .map_err(|e| format!("create {p}: {e}"))?;
    }
    let _ = client.close();
    let nodes = if w.mix.iter().any(|(op, _)| op.uses_nodes()) { w.nodes } else { 0 };
    let leaves = nodes + wide * w.wide_children;
    let next = Arc::new(AtomicUsize::new(0));
    let data = value(w.value_size);
    let sources: Vec<_> = (0..POPULATE_CONNECTIONS)
        .map(|_| {
            let next = Arc::clone(&next);
            let data = data.clone();
            let children = w.wide_children.max(1);
            move || {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= leaves {
                    return None;
                }
                let body = if i < nodes {
                    create_body(node_path(i), Some(data.clone()))
                } else {
                    let k = i - nodes;
                    create_body(format!("{}/child-{:06}", wide_path(k / children), k % children), None)
                };
                Some((op_code::CREATE, body))
            }
        })
        .collect();
    let start = Instant::now();
    let timing = |_: usize| Timing { start, measure_from: start, end: None, rate: None, offset: Duration::ZERO };
    let stats = run_connections(load_addrs, POPULATE_CONNECTIONS, POPULATE_IN_FLIGHT, timing, sources)?;
    check_errors(&stats, "populate")?;
    if stats.replies != leaves as u64 {
        return Err(format!("populate: {} replies for {leaves} creates", stats.replies));
    }
    if addrs.len() > 1 {
        // An ensemble member serves reads from its own copy, which may
        // trail the leader: a sync brings each up to date before the reads.
        for addr in addrs {
            let c = ZkClient::connect(addr.as_str(), SESSION_TIMEOUT_MS)
                .map_err(|e| format!("connect to {addr}: {e}"))?;
            c.sync(ROOT).map_err(|e| format!("sync on {addr}: {e}"))?;
            let _ = c.close();
        }
    }
    Ok(parents.len() + leaves)
}

/// The servers one workload runs against.
enum Deployment {
    Standalone(BenchServer),
    Ensemble(BenchEnsemble),
}

impl Deployment {
    fn new(kind: Kind, w: &Workload, s: &Settings) -> Result<Deployment, String> {
        Ok(match w.topology {
            Topology::Standalone => Deployment::Standalone(BenchServer::new(
                kind,
                &s.zkserver_bin,
                s.java_heap_mb,
                s.keep_dirs,
            )?),
            Topology::Ensemble => Deployment::Ensemble(BenchEnsemble::new(
                kind,
                &s.zkserver_bin,
                s.java_heap_mb,
                s.keep_dirs,
                ENSEMBLE_SIZE,
            )?),
        })
    }

    /// Appends `lines` to every server's zoo.cfg (before they start).
    fn append_cfg(&mut self, lines: &str) -> Result<(), String> {
        match self {
            Deployment::Standalone(server) => server.append_cfg(lines),
            Deployment::Ensemble(e) => e.append_cfg(lines),
        }
    }

    /// The newest snapshot's zxid in each server's dataDir (-1: none).
    fn newest_snapshots(&self) -> Result<Vec<i64>, String> {
        self.servers()
            .iter()
            .map(|s| {
                let dir = s.data_dir().join("version-2");
                if !dir.exists() {
                    return Ok(-1);
                }
                Ok(support::data_files(&dir, "snapshot.")?.last().map_or(-1, |f| f.zxid))
            })
            .collect()
    }

    /// How many snapshot files with a zxid above `since` (per server) the
    /// dataDirs hold.
    fn snapshots_since(&self, since: &[i64]) -> Result<usize, String> {
        let mut n = 0;
        for (s, &after) in self.servers().iter().zip(since) {
            let dir = s.data_dir().join("version-2");
            n += support::data_files(&dir, "snapshot.")?.iter().filter(|f| f.zxid > after).count();
        }
        Ok(n)
    }

    fn servers(&self) -> &[BenchServer] {
        match self {
            Deployment::Standalone(server) => std::slice::from_ref(server),
            Deployment::Ensemble(e) => &e.nodes,
        }
    }

    /// Gives every server a TLS client port (before they start).
    fn enable_tls(&mut self, pki: &common::pki::Pki) -> Result<(), String> {
        match self {
            Deployment::Standalone(server) => server.enable_tls(pki),
            Deployment::Ensemble(e) => e.nodes.iter_mut().try_for_each(|n| n.enable_tls(pki)),
        }
    }

    fn spawn(&mut self) -> Result<(), String> {
        match self {
            Deployment::Standalone(server) => server.spawn(),
            Deployment::Ensemble(e) => e.spawn(),
        }
    }

    /// Waits until clients may be sent; returns the leader's index in an
    /// ensemble.
    fn wait_serving(&mut self) -> Result<Option<usize>, String> {
        match self {
            Deployment::Standalone(server) => wait_serving(server).map(|()| None),
            Deployment::Ensemble(e) => e.wait_ready(START_DEADLINE).map(Some),
        }
    }

    fn check_alive(&mut self) -> Result<(), String> {
        match self {
            Deployment::Standalone(server) => server.check_alive(),
            Deployment::Ensemble(e) => e.check_alive(),
        }
    }

    fn stop(&mut self) -> Result<Duration, String> {
        match self {
            Deployment::Standalone(server) => server.stop(STOP_DEADLINE),
            Deployment::Ensemble(e) => e.stop(STOP_DEADLINE),
        }
    }

    fn log_tail(&self, n: usize) -> String {
        match self {
            Deployment::Standalone(server) => server.log_tail(n),
            Deployment::Ensemble(e) => e.log_tails(n),
        }
    }

    fn pids(&self) -> Result<Vec<u32>, String> {
        self.servers().iter().map(|s| s.pid().ok_or_else(|| "a server has no pid".to_string())).collect()
    }
}

fn wait_serving(server: &mut BenchServer) -> Result<(), String> {
    let end = Instant::now() + START_DEADLINE;
    loop {
        server.check_alive()?;
        if server.may_probe() {
            if let Ok(c) = ZkClient::connect(server.addr(), SESSION_TIMEOUT_MS) {
                let _ = c.close();
                return Ok(());
            }
        }
        if Instant::now() >= end {
            return Err(format!("{} not serving after {START_DEADLINE:?}", server.kind.name()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// CPU time the processes have used so far, summed.
fn cpu_secs_sum(pids: &[u32]) -> Result<f64, String> {
    pids.iter().map(|&p| support::proc_cpu_secs(p)).sum()
}

/// Starts fresh servers, populates, runs the workload, reads the memory,
/// stops the servers.
fn run_workload(kind: Kind, w: &Arc<Workload>, s: &Settings) -> Result<Figures, String> {
    let mut servers = Deployment::new(kind, w, s)?;
    if let Some(pki) = &s.tls {
        servers.enable_tls(pki)?;
    }
    if let Some(n) = w.snap_count {
        servers.append_cfg(&format!("snapCount={n}\n"))?;
    }
    servers.spawn()?;
    let result = measure(&mut servers, w);
    let result = result.map_err(|e| {
        let log = servers.log_tail(30);
        let hint = if log.contains("OutOfMemoryError") {
            "\nJava ran out of heap: raise ZKBENCH_JAVA_HEAP_MB"
        } else {
            ""
        };
        format!("{} / {}: {e}{hint}\n{} log tail:\n{log}", w.name, kind.name(), kind.name())
    })?;
    servers.stop()?;
    Ok(result)
}

fn measure(servers: &mut Deployment, w: &Arc<Workload>) -> Result<Figures, String> {
    let leader = servers.wait_serving()?;
    let addrs: Vec<String> = servers.servers().iter().map(BenchServer::addr).collect();
    // The load's connections: the TLS ports with ZKBENCH_TLS.
    let load_addrs: Vec<String> =
        servers.servers().iter().map(|s| s.secure_addr().unwrap_or_else(|| s.addr())).collect();
    let pids = servers.pids()?;
    let mut f = Figures { leader, ..Figures::default() };
    let t = Instant::now();
    f.populated = populate(&addrs, &load_addrs, w)?;
    f.populate_secs = t.elapsed().as_secs_f64();

    let sources: Vec<_> = (0..w.connections)
        .map(|conn| {
            let mut src = RequestSource {
                w: Arc::clone(w),
                conn,
                rng: Rng::new(conn as u64 + 1),
                value: value(w.value_size),
                created: 0,
                ephemerals_created: 0,
            };
            move || Some(src.next())
        })
        .collect();
    // Starts shortly after all sessions are open.
    let start = Instant::now() + Duration::from_millis(100) + w.connections as u32 * Duration::from_millis(2);
    let measure_from = start + w.warmup;
    let end = measure_from + w.duration;
    let conns = w.connections as f64;
    let timing = |i: usize| Timing {
        start,
        measure_from,
        end: Some(end),
        rate: w.rate_per_conn,
        // Spreads the connections' schedules over one interval.
        offset: w
            .rate_per_conn
            .map_or(Duration::ZERO, |r| Duration::from_secs_f64(i as f64 / conns / r)),
    };
    // Samples CPU times at the edges of the measured phase from here while
    // the connections run.
    // and the snapshots started in it.
    let outcome = std::thread::scope(|scope| {
        let (pids, servers) = (&pids, &*servers);
        let sampler = scope.spawn(move || -> Result<(f64, f64, usize), String> {
            let now = Instant::now();
            std::thread::sleep(measure_from.saturating_duration_since(now));
            let snaps = servers.newest_snapshots()?;
            let (s0, d0) = (cpu_secs_sum(pids)?, support::proc_cpu_secs(std::process::id())?);
            std::thread::sleep(end.saturating_duration_since(Instant::now()));
            let (s1, d1) = (cpu_secs_sum(pids)?, support::proc_cpu_secs(std::process::id())?);
            Ok((s1 - s0, d1 - d0, servers.snapshots_since(&snaps)?))
        });
        let stats = run_connections(&load_addrs, w.connections, w.in_flight, timing, sources);
        let cpu = sampler.join().unwrap_or_else(|_| Err("the CPU sampler panicked".to_string()));
        stats.and_then(|st| cpu.map(|c| (st, c)))
    });
    let (stats, (server_cpu, driver_cpu, snapshots)) = outcome?;
    f.snapshots_in_window = snapshots;
    if w.expect_snapshot && snapshots == 0 {
        return Err("no snapshot started during the measured window: lower snap_count or lengthen duration_secs".to_string());
    }
    check_errors(&stats, "workload")?;
    servers.check_alive()?;
    let q = |quantile: f64| stats.hist.value_at_quantile(quantile) as f64 / 1e6;
    f.ops = stats.measured;
    f.secs = w.duration.as_secs_f64();
    f.p50_ms = q(0.5);
    f.p99_ms = q(0.99);
    f.p999_ms = q(0.999);
    f.max_ms = stats.hist.max() as f64 / 1e6;
    f.server_cpu_secs = server_cpu;
    f.driver_cpu_secs = driver_cpu;
    for &pid in &pids {
        f.rss_kib_per_server.push(common::proc_status_kib(pid, "VmRSS")?);
        f.hwm_kib_per_server.push(common::proc_status_kib(pid, "VmHWM")?);
    }
    f.rss_kib = f.rss_kib_per_server.iter().sum();
    f.hwm_kib = f.hwm_kib_per_server.iter().sum();
    Ok(f)
}

// ---------------------------------------------------------------------------
// Report

/// A figure of the report: label, JSON key, how to read it, and whether
/// more is better (for the ratio's reading).
struct Row {
    label: &'static str,
    key: &'static str,
    get: fn(&Figures) -> f64,
}

const ROWS: [Row; 8] = [
    Row { label: "ops/s", key: "ops_per_sec", get: Figures::ops_per_sec },
    Row { label: "p50 ms", key: "p50_ms", get: |f| f.p50_ms },
    Row { label: "p99 ms", key: "p99_ms", get: |f| f.p99_ms },
    Row { label: "p99.9 ms", key: "p999_ms", get: |f| f.p999_ms },
    Row { label: "RSS MiB", key: "rss_mib", get: |f| f.rss_kib as f64 / 1024.0 },
    Row { label: "peak RSS MiB", key: "peak_rss_mib", get: |f| f.hwm_kib as f64 / 1024.0 },
    Row {
        label: "server CPU us/op",
        key: "server_cpu_us_per_op",
        get: |f| Figures::cpu_us_per_op(f.server_cpu_secs, f.ops),
    },
    Row {
        label: "driver CPU us/op",
        key: "driver_cpu_us_per_op",
        get: |f| Figures::cpu_us_per_op(f.driver_cpu_secs, f.ops),
    },
];

struct Outcome {
    workload: Arc<Workload>,
    results: Vec<(Kind, Figures)>,
}

impl Outcome {
    fn get(&self, k: Kind) -> Option<&Figures> {
        self.results.iter().find(|(kind, _)| *kind == k).map(|(_, f)| f)
    }

    /// What zkserver is compared with: Java, or with ZKBENCH_VERSUS=metrics
    /// zkserver with its Prometheus provider on.
    fn other(&self) -> Kind {
        if self.get(Kind::ZkserverMetrics).is_some() {
            Kind::ZkserverMetrics
        } else {
            Kind::Java
        }
    }

    fn ratio(&self, get: fn(&Figures) -> f64) -> Option<f64> {
        let (z, j) = (self.get(Kind::Zkserver)?, self.get(self.other())?);
        (get(j) > 0.0).then(|| get(z) / get(j))
    }

    /// Each target with the measured ratio and whether it is met (unknown
    /// unless both servers ran).
    fn targets(&self) -> Vec<(&'static str, f64, Option<f64>, Option<bool>)> {
        let mut out = Vec::new();
        if let Some(t) = self.workload.target_throughput_ratio {
            let r = self.ratio(Figures::ops_per_sec);
            out.push(("throughput >=", t, r, r.map(|r| r >= t)));
        }
        if let Some(t) = self.workload.target_p99_ratio {
            let r = self.ratio(|f| f.p99_ms);
            out.push(("p99 <=", t, r, r.map(|r| r <= t)));
        }
        if let Some(t) = self.workload.target_p999_ratio {
            let r = self.ratio(|f| f.p999_ms);
            out.push(("p99.9 <=", t, r, r.map(|r| r <= t)));
        }
        if let Some(t) = self.workload.target_p50_ratio {
            let r = self.ratio(|f| f.p50_ms);
            out.push(("p50 <=", t, r, r.map(|r| r <= t)));
        }
        out
    }
}

fn fmt_figure(v: f64) -> String {
    if v >= 1000.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

fn report(s: &Settings, outcomes: &[Outcome], load_before: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nload benchmark: {} ({:?} run), Java -Xmx{}m per server, fsync on (default zoo.cfg){}",
        files_text(&s.workload_files),
        s.mode,
        s.java_heap_mb,
        if s.tls.is_some() {
            ", load over TLS 1.2 with client certificates (secureClientPort; Java on Netty)"
        } else {
            ""
        }
    );
    let _ = writeln!(out, "machine: {load_before} before the run, {} after", support::machine_load());
    for o in outcomes {
        let _ = writeln!(out, "  {}: {}", o.workload.name, o.workload.describe());
    }
    let other = outcomes.first().map_or(Kind::Java, Outcome::other).name();
    let _ = writeln!(
        out,
        "\n{:<24} {:<18} {:>12} {:>12} {:>14}",
        "workload",
        "figure",
        "zkserver",
        other,
        format!("zkserver/{other}")
    );
    for o in outcomes {
        for (i, row) in ROWS.iter().enumerate() {
            let cell = |k: Kind| o.get(k).map_or("-".to_string(), |f| fmt_figure((row.get)(f)));
            let ratio = o.ratio(row.get).map_or("-".to_string(), |r| format!("{r:.3}"));
            let _ = writeln!(
                out,
                "{:<24} {:<18} {:>12} {:>12} {ratio:>14}",
                if i == 0 { o.workload.name.as_str() } else { "" },
                row.label,
                cell(Kind::Zkserver),
                cell(o.other())
            );
        }
        if o.workload.topology == Topology::Ensemble {
            for (k, f) in &o.results {
                let per_node: Vec<String> =
                    f.rss_kib_per_server.iter().map(|kib| format!("{:.0}", *kib as f64 / 1024.0)).collect();
                let _ = writeln!(
                    out,
                    "{:<24} note: {} RSS MiB per node {} (leader: node {})",
                    "",
                    k.name(),
                    per_node.join(" / "),
                    f.leader.map_or("?".to_string(), |i| (i + 1).to_string())
                );
            }
        }
        if o.workload.expect_snapshot || o.workload.snap_count.is_some() {
            for (k, f) in &o.results {
                let _ = writeln!(
                    out,
                    "{:<24} note: {} started {} snapshot(s) in the measured window",
                    "",
                    k.name(),
                    f.snapshots_in_window
                );
            }
        }
        if let Some(rate) = o.workload.rate_per_conn {
            let offered = rate * o.workload.connections as f64;
            for (k, f) in &o.results {
                if f.ops_per_sec() < 0.95 * offered {
                    let _ = writeln!(
                        out,
                        "{:<24} note: {} served {:.0} of {offered:.0} ops/s offered: not at equal load",
                        "",
                        k.name(),
                        f.ops_per_sec()
                    );
                }
            }
        }
    }
    let targets: Vec<String> = outcomes
        .iter()
        .flat_map(|o| {
            o.targets().into_iter().map(move |(what, t, r, met)| {
                format!(
                    "  {:<24} {what} {t}: {} ({})",
                    o.workload.name,
                    r.map_or("-".to_string(), |r| format!("{r:.2}")),
                    match met {
                        Some(true) => "met",
                        Some(false) => "MISSED",
                        None => "not measured",
                    }
                )
            })
        })
        .collect();
    if !targets.is_empty() && s.kinds.len() == 2 && s.kinds.contains(&Kind::Java) {
        // A miss is reported, never an error: the run still succeeds.
        let met = outcomes
            .iter()
            .flat_map(Outcome::targets)
            .filter(|(_, _, _, met)| *met == Some(true))
            .count();
        let _ = writeln!(
            out,
            "\ntargets (zkserver/java): {met} of {} met\n{}",
            targets.len(),
            targets.join("\n")
        );
    }
    out
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A float as JSON (which has no NaN or infinity).
fn json_num(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.4}")
    } else {
        "null".to_string()
    }
}

fn json(s: &Settings, outcomes: &[Outcome], load_before: &str) -> String {
    let mut out = String::from("{\n");
    let _ = writeln!(out, "  \"machine_before\": {},", json_str(load_before));
    let _ = writeln!(out, "  \"machine_after\": {},", json_str(&support::machine_load()));
    let files: Vec<String> =
        s.workload_files.iter().map(|f| json_str(&f.display().to_string())).collect();
    let _ = writeln!(out, "  \"workload_files\": [{}],", files.join(", "));
    let _ = writeln!(out, "  \"mode\": \"{:?}\",", s.mode);
    let _ = writeln!(out, "  \"java_heap_mb\": {},", s.java_heap_mb);
    let workloads: Vec<String> = outcomes
        .iter()
        .map(|o| {
            let w = &o.workload;
            let servers: Vec<String> = o
                .results
                .iter()
                .map(|(k, f)| {
                    let figures: Vec<String> = ROWS
                        .iter()
                        .map(|row| format!("\"{}\": {}", row.key, json_num((row.get)(f))))
                        .collect();
                    let list = |v: &[u64]| {
                        v.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
                    };
                    format!(
                        "\"{}\": {{\"ops\": {}, \"secs\": {}, {}, \"max_ms\": {}, \"rss_kib\": {}, \"peak_rss_kib\": {}, \
                         \"rss_kib_per_server\": [{}], \"peak_rss_kib_per_server\": [{}], \"leader_node\": {}, \
                         \"server_cpu_secs\": {}, \"driver_cpu_secs\": {}, \"populated_nodes\": {}, \"populate_secs\": {}, \
                         \"snapshots_in_window\": {}}}",
                        k.name(),
                        f.ops,
                        json_num(f.secs),
                        figures.join(", "),
                        json_num(f.max_ms),
                        f.rss_kib,
                        f.hwm_kib,
                        list(&f.rss_kib_per_server),
                        list(&f.hwm_kib_per_server),
                        f.leader.map_or("null".to_string(), |i| (i + 1).to_string()),
                        json_num(f.server_cpu_secs),
                        json_num(f.driver_cpu_secs),
                        f.populated,
                        json_num(f.populate_secs),
                        f.snapshots_in_window
                    )
                })
                .collect();
            let ratios: Vec<String> = ROWS
                .iter()
                .filter_map(|row| Some(format!("\"{}\": {}", row.key, json_num(o.ratio(row.get)?))))
                .collect();
            let targets: Vec<String> = o
                .targets()
                .into_iter()
                .map(|(what, t, r, met)| {
                    format!(
                        "{{\"what\": {}, \"target\": {}, \"ratio\": {}, \"met\": {}}}",
                        json_str(what),
                        json_num(t),
                        r.map_or("null".to_string(), json_num),
                        met.map_or("null".to_string(), |m| m.to_string())
                    )
                })
                .collect();
            format!(
                "    {{\"name\": {}, \"topology\": \"{}\", \"servers_per_run\": {}, \"mix\": {}, \"connections\": {}, \"in_flight\": {}, \"rate_per_conn\": {}, \
                 \"warmup_secs\": {}, \"duration_secs\": {}, \"value_size\": {}, \"nodes\": {}, \"wide_parents\": {}, \
                 \"wide_children\": {}, \"multi_ops\": {}, \"snap_count\": {},\n     \"servers\": {{{}}},\n     \
                 \"ratio_zkserver_over_java\": {{{}}},\n     \"targets\": [{}]}}",
                json_str(&w.name),
                w.topology.name(),
                w.servers(),
                json_str(&w.mix_text()),
                w.connections,
                w.in_flight,
                w.rate_per_conn.map_or("null".to_string(), json_num),
                json_num(w.warmup.as_secs_f64()),
                json_num(w.duration.as_secs_f64()),
                w.value_size,
                w.nodes,
                w.wide_parents,
                w.wide_children,
                w.multi_ops,
                w.snap_count.map_or("null".to_string(), |n| n.to_string()),
                servers.join(", "),
                ratios.join(", "),
                targets.join(", ")
            )
        })
        .collect();
    let _ = writeln!(out, "  \"workloads\": [\n{}\n  ]", workloads.join(",\n"));
    out.push_str("}\n");
    out
}

fn run() -> Result<(), String> {
    let s = Settings::from_env()?;
    eprintln!(
        "zkserver binary: {}; workloads: {} ({:?} run)",
        s.zkserver_bin.display(),
        files_text(&s.workload_files),
        s.mode
    );
    let load_before = support::machine_load();
    let mut outcomes = Vec::new();
    for w in &s.workloads {
        let w = Arc::new(w.clone());
        let mut results = Vec::new();
        for &kind in &s.kinds {
            eprintln!("[{}] {}: {}", kind.name(), w.name, w.describe());
            let f = run_workload(kind, &w, &s)?;
            eprintln!(
                "[{}] {}: {:.0} ops/s, p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, RSS {} MiB",
                kind.name(),
                w.name,
                f.ops_per_sec(),
                f.p50_ms,
                f.p99_ms,
                f.p999_ms,
                f.rss_kib / 1024
            );
            results.push((kind, f));
        }
        outcomes.push(Outcome { workload: w, results });
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
        eprintln!("load bench failed: {e}");
        std::process::exit(1);
    }
}
