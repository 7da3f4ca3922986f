//! The register workload: several client threads, each with one session at
//! a time, on a few keys (/jepsen/kN). Each round a client reads a key with
//! sync + getData, then tries to replace it, expecting the version it read,
//! with setData(version) or with multi(check(version), setData(-1)). Every
//! value written is unique. Each operation is recorded with its invocation
//! and completion times and its outcome; after an indeterminate outcome
//! the client drops its session and opens a new one on the next node, so a
//! late reply can never be taken for another request's.

use super::checker::{Kind, Op, Outcome, Reg, Served};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use zkserver::client::{ConnectOptions, ZkClient, ZkError};
use zkserver::jute::multi::{MultiOperationRecord, MultiResponse, Op as MultiOp, OpResult};
use zkserver::jute::records::{CheckVersionRequest, SetDataRequest};
use zkserver::jute::{InputArchive, OutputArchive};
use zkserver::zoo_defs::{code, op_code};

/// How long a client waits for any reply before it calls the operation
/// indeterminate.
pub const OP_TIMEOUT: Duration = Duration::from_secs(3);
const SESSION_TIMEOUT_MS: i32 = 4000;

pub fn key_path(key: usize) -> String {
    format!("/jepsen/k{key}")
}

/// A value read that no client can have written: absent or unparsable data.
pub const GARBAGE: u64 = u64::MAX;

/// A shared clock and the history recorded against it.
pub struct History {
    start: Instant,
    ops: Mutex<Vec<Op>>,
}

impl History {
    pub fn new() -> Arc<History> {
        Arc::new(History { start: Instant::now(), ops: Mutex::new(Vec::new()) })
    }

    pub fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    pub fn at(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.start).as_nanos() as u64
    }

    pub fn record(&self, op: Op) {
        self.ops.lock().unwrap().push(op);
    }

    pub fn ops(&self) -> Vec<Op> {
        self.ops.lock().unwrap().clone()
    }
}

pub fn connect(addr: &str) -> Option<ZkClient> {
    let mut opts = ConnectOptions::new(SESSION_TIMEOUT_MS);
    opts.reply_timeout = OP_TIMEOUT;
    ZkClient::connect_with(addr, &opts).ok()
}

/// Creates /jepsen and the keys at value 0 (version 0).
pub fn setup(c: &ZkClient, keys: usize) {
    use zkserver::jute::records::Acl;
    let open: Vec<Acl> = zkserver::zoo_defs::ids::open_acl_unsafe();
    c.create("/jepsen", None, &open, zkserver::zoo_defs::CreateMode::Persistent).expect("create /jepsen");
    for k in 0..keys {
        c.create(&key_path(k), Some(b"0"), &open, zkserver::zoo_defs::CreateMode::Persistent)
            .expect("create key");
    }
}

/// sync + getData as one read (any error leaves its outcome unknown).
pub fn read(c: &ZkClient, key: usize) -> Result<Reg, ZkError> {
    let path = key_path(key);
    c.sync(&path)?;
    let (data, stat) = c.get_data(&path, false)?;
    let value = data.and_then(|d| std::str::from_utf8(&d).ok()?.parse().ok()).unwrap_or(GARBAGE);
    Ok(Reg { value, version: stat.version })
}

fn classify(code: i32) -> Outcome {
    if code == code::BAD_VERSION {
        Outcome::Failed
    } else {
        Outcome::Unknown
    }
}

fn cas_set_data(c: &ZkClient, key: usize, expect: i32, value: u64) -> Outcome {
    match c.set_data(&key_path(key), Some(value.to_string().as_bytes()), expect) {
        Ok(_) => Outcome::Ok,
        Err(e) => classify(e.code()),
    }
}

fn cas_multi(c: &ZkClient, key: usize, expect: i32, value: u64) -> Outcome {
    let path = key_path(key);
    let ops = vec![
        MultiOp::Check(CheckVersionRequest { path: path.clone(), version: expect }),
        MultiOp::SetData(SetDataRequest { path, data: Some(value.to_string().into_bytes()), version: -1 }),
    ];
    let mut oa = OutputArchive::new();
    MultiOperationRecord { ops }.serialize(&mut oa);
    let Ok(reply) = c.submit_bytes(op_code::MULTI, &oa.into_inner()) else { return Outcome::Unknown };
    let results = MultiResponse::deserialize(&mut InputArchive::new(&reply.body)).map(|r| r.results);
    match results.as_deref() {
        Ok([OpResult::Check, OpResult::SetData { .. }]) if reply.header.err == code::OK => Outcome::Ok,
        Ok([OpResult::Error { err }, ..]) if *err == code::BAD_VERSION => Outcome::Failed,
        _ => classify(reply.header.err),
    }
}

/// A small deterministic generator (xorshift64*), one per client.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// The client threads, running until `stop`.
pub struct Workload {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Workload {
    /// `nodes`: each node's sid and client address.
    pub fn start(history: &Arc<History>, nodes: &[(i64, String)], clients: usize, keys: usize, seed: u64) -> Workload {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..clients)
            .map(|id| {
                let (history, nodes, stop) = (history.clone(), nodes.to_vec(), stop.clone());
                std::thread::spawn(move || client_loop(id, &history, &nodes, keys, &stop, seed))
            })
            .collect();
        Workload { stop, threads }
    }

    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        self.halt();
    }
}

fn client_loop(id: usize, history: &History, nodes: &[(i64, String)], keys: usize, stop: &AtomicBool, seed: u64) {
    let mut rng = Rng::new(seed ^ (id as u64 + 1) << 17);
    let mut node = id % nodes.len();
    let mut session: Option<ZkClient> = None;
    let mut written = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let Some(c) = session.as_ref() else {
            session = connect(&nodes[node].1);
            if session.is_none() {
                node = (node + 1) % nodes.len();
                std::thread::sleep(Duration::from_millis(100));
            }
            continue;
        };
        let key = rng.below(keys as u64) as usize;
        let served = Served { node: nodes[node].0, session: c.session_id() };
        let invoke = history.now();
        let seen = match read(c, key) {
            Ok(seen) => seen,
            Err(_) => {
                // An unknown read constrains nothing: not recorded.
                session = None;
                node = (node + 1) % nodes.len();
                continue;
            }
        };
        history.record(Op { key, process: id, invoke, complete: history.now(), kind: Kind::Read { seen }, outcome: Outcome::Ok, served });
        written += 1;
        let value = ((id as u64 + 1) << 40) | written;
        let invoke = history.now();
        let outcome = if rng.below(2) == 0 {
            cas_set_data(c, key, seen.version, value)
        } else {
            cas_multi(c, key, seen.version, value)
        };
        let kind = Kind::Cas { expect: seen.version, value };
        history.record(Op { key, process: id, invoke, complete: history.now(), kind, outcome, served });
        if outcome == Outcome::Unknown {
            session = None;
            node = (node + 1) % nodes.len();
        }
    }
}
