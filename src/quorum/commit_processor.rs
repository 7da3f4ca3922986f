//! CommitProcessor: the `CommitProcessor:N` thread and its `CommitProcWork-i`
//! worker pool, between a quorum role's first processor and the
//! FinalRequestProcessor. Requests arrive in `process_request`; those that
//! change state (and, with `match_syncs`, syncs) wait until the leader's
//! commit for them arrives through `commit`. Reads go to the worker pool,
//! one worker per session (sessionId modulo the pool size) so a session's
//! replies keep their order; a read queues behind an earlier pending write
//! of its own session and is released once that write is applied. Commits
//! are applied one at a time on the CommitProcessor thread, after the reads
//! in flight have finished, in the order the leader committed them.

use crate::server::request::Request;
use crate::server::request_processor::RequestProcessor;
use crate::server::zoo_defs::op_code;
use crate::server::zoo_keeper_server::ZooKeeperServer;
use crossbeam_channel::{unbounded, Sender};
use parking_lot::{Condvar, Mutex};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// What the two producers leave for the CommitProcessor thread.
#[derive(Default)]
struct Queues {
    /// queuedRequests: every request, in arrival order.
    queued: VecDeque<Request>,
    /// committedRequests: the leader's commits, in zxid order.
    committed: VecDeque<Request>,
}

/// The worker pool: one channel per worker, and a count of the requests
/// handed out and not finished (numRequestsProcessing).
struct Workers {
    senders: Vec<Sender<Request>>,
    threads: Vec<JoinHandle<()>>,
}

struct Shared {
    queues: Mutex<Queues>,
    wake: Condvar,
    stopped: AtomicBool,
    in_flight: Mutex<usize>,
    idle: Condvar,
    next: Arc<dyn RequestProcessor>,
    match_syncs: bool,
}

pub struct CommitProcessor {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// zookeeper.commitProcessor.numWorkerThreads' default: one per core.
fn default_worker_count() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

impl CommitProcessor {
    /// Starts the CommitProcessor thread and its worker pool in front of
    /// `next`. `match_syncs`: syncs wait for their SYNC from the leader
    /// (learners), instead of passing like reads (the leader).
    pub fn start(
        zks: Arc<ZooKeeperServer>,
        next: Arc<dyn RequestProcessor>,
        match_syncs: bool,
    ) -> io::Result<Arc<CommitProcessor>> {
        let shared = Arc::new(Shared {
            queues: Mutex::new(Queues::default()),
            wake: Condvar::new(),
            stopped: AtomicBool::new(false),
            in_flight: Mutex::new(0),
            idle: Condvar::new(),
            next,
            match_syncs,
        });
        let mut workers = Workers { senders: Vec::new(), threads: Vec::new() };
        for i in 0..default_worker_count() {
            let (tx, rx) = unbounded::<Request>();
            let sh = Arc::clone(&shared);
            workers.threads.push(crate::server::zoo_keeper_critical_thread::spawn(format!("CommitProcWork-{i}"), move || {
                while let Ok(req) = rx.recv() {
                    sh.next.process_request(req);
                    let mut n = sh.in_flight.lock();
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        sh.idle.notify_all();
                    }
                }
            })?);
            workers.senders.push(tx);
        }
        let sh = Arc::clone(&shared);
        let name = format!("CommitProcessor:{}", zks.settings.server_id);
        let thread = crate::server::zoo_keeper_critical_thread::spawn(name, move || run(sh, workers))?;
        Ok(Arc::new(CommitProcessor { shared, thread: Mutex::new(Some(thread)) }))
    }

    /// commit: the leader committed `req` (a txn from a COMMIT or INFORM,
    /// or a sync answered by SYNC). A local request waiting for it takes
    /// its txn and is answered; otherwise `req` itself is applied.
    pub fn commit(&self, req: Request) {
        if self.shared.stopped.load(Ordering::Acquire) {
            return;
        }
        self.shared.queues.lock().committed.push_back(req);
        self.shared.wake.notify_all();
    }
}

impl RequestProcessor for CommitProcessor {
    fn process_request(&self, req: Request) {
        if self.shared.stopped.load(Ordering::Acquire) {
            return;
        }
        self.shared.queues.lock().queued.push_back(req);
        self.shared.wake.notify_all();
    }

    fn shutdown(&self) {
        tracing::info!("Shutting down");
        self.shared.stopped.store(true, Ordering::Release);
        self.shared.wake.notify_all();
        if let Some(h) = self.thread.lock().take() {
            let _ = h.join();
        }
        self.shared.next.shutdown();
    }
}

impl Shared {
    /// needCommit: whether the request waits for the leader's commit.
    fn need_commit(&self, req: &Request) -> bool {
        use op_code::*;
        match req.op_type {
            CREATE | CREATE2 | CREATE_TTL | CREATE_CONTAINER | DELETE | DELETE_CONTAINER | SET_DATA | RECONFIG
            | MULTI | SET_ACL | CHECK => true,
            SYNC => self.match_syncs,
            CREATE_SESSION | CLOSE_SESSION => true,
            _ => false,
        }
    }

    /// Hands a read to its session's worker.
    fn to_worker(&self, workers: &Workers, req: Request) {
        let n = workers.senders.len().max(1);
        let i = (req.session_id as u64 % n as u64) as usize;
        *self.in_flight.lock() += 1;
        match workers.senders.get(i) {
            Some(tx) => {
                if let Err(e) = tx.send(req) {
                    // The worker is gone (shutdown): drop the request.
                    *self.in_flight.lock() -= 1;
                    tracing::debug!("dropping {:?}: commit worker stopped", e.0);
                }
            }
            None => {
                *self.in_flight.lock() -= 1;
                self.next.process_request(req);
            }
        }
    }

    /// waitForEmptyPool: until every read handed out has been answered.
    fn wait_for_empty_pool(&self) {
        let mut n = self.in_flight.lock();
        while *n > 0 {
            self.idle.wait(&mut n);
        }
    }
}

/// The CommitProcessor thread's loop.
fn run(sh: Arc<Shared>, workers: Workers) {
    // Per session, the requests held behind a write waiting for its commit.
    let mut pending: HashMap<i64, VecDeque<Request>> = HashMap::new();
    // (session, cxid) of the local requests waiting for a commit, in the
    // order they arrived: the order the leader commits them in.
    let mut waiting_writes: VecDeque<(i64, i32)> = VecDeque::new();
    loop {
        // Both queues are taken together: a commit of a local request is
        // always taken with or after that request.
        let (queued, committed) = {
            let mut q = sh.queues.lock();
            while q.queued.is_empty() && q.committed.is_empty() && !sh.stopped.load(Ordering::Acquire) {
                sh.wake.wait(&mut q);
            }
            if sh.stopped.load(Ordering::Acquire) {
                break;
            }
            (std::mem::take(&mut q.queued), std::mem::take(&mut q.committed))
        };
        for req in queued {
            let needs = sh.need_commit(&req);
            if needs || pending.contains_key(&req.session_id) {
                if needs {
                    waiting_writes.push_back((req.session_id, req.cxid));
                }
                pending.entry(req.session_id).or_default().push_back(req);
            } else {
                sh.to_worker(&workers, req);
            }
        }
        if committed.is_empty() {
            continue;
        }
        for c in committed {
            if sh.stopped.load(Ordering::Acquire) {
                break;
            }
            // As Java: each commit waits for the reads in flight, and the
            // reads its session held behind it go out right after it, so
            // they see this write and not the next one.
            sh.wait_for_empty_pool();
            let mut drain = None;
            let req = if waiting_writes.front() == Some(&(c.session_id, c.cxid)) {
                waiting_writes.pop_front();
                match pending.get_mut(&c.session_id).and_then(|q| q.pop_front()) {
                    Some(mut local) => {
                        local.hdr = c.hdr;
                        local.txn = c.txn;
                        local.txn_digest = c.txn_digest;
                        local.zxid = c.zxid;
                        drain = Some(local.session_id);
                        local
                    }
                    None => c,
                }
            } else {
                c
            };
            sh.next.process_request(req);
            if let Some(sid) = drain {
                if let Some(q) = pending.get_mut(&sid) {
                    while q.front().map(|r| !sh.need_commit(r)).unwrap_or(false) {
                        if let Some(r) = q.pop_front() {
                            sh.to_worker(&workers, r);
                        }
                    }
                    if q.is_empty() {
                        pending.remove(&sid);
                    }
                }
            }
        }
    }
    drop(workers.senders);
    for h in workers.threads {
        let _ = h.join();
    }
    tracing::info!("CommitProcessor exited loop!");
}
