//! CommitProcessor: the `CommitProcessor:N` thread and its `CommitProcWork-i`
//! worker pool, between a quorum role's first processor and the
//! FinalRequestProcessor.
//!
//! `CommitProcessorCore` decides, without threads, locks or clocks, what
//! goes to the next processor and when. Requests arrive (`request_arrived`)
//! in the order this server received them; those that change state (and,
//! with `match_syncs`, syncs) wait for the leader's commit, which arrives
//! through `commit_arrived` in the leader's order and is matched with the
//! oldest waiting local write by (session, cxid). A read goes to the
//! workers unless an earlier write of its session is waiting, in which
//! case it waits behind that write and goes out right after it is applied.
//! Commits are applied one batch at a time (maxCommitBatchSize, default
//! 1), inline, and only once every request handed to the workers has
//! finished (`request_finished`); between batches at most
//! maxReadBatchSize + 1 reads go out (unbounded when negative, the
//! default, but then a commit that can be applied stops the reads).
//!
//! `CommitProcessor` is the driver: producers (the first processor's
//! thread, the Leader or Learner delivering commits) and the workers
//! leave their inputs on one shared queue; the CommitProcessor thread
//! moves them into the core, calls `step` and carries out its handoffs:
//! a request for a worker goes to worker `sessionId mod n` (so a
//! session's replies keep their order), a commit is applied on the
//! thread itself.

use crate::quorum::quorum_peer_config::system_properties::{available_cpus, SystemProperties};
use crate::quorum::quorum_peer_config::ConfigError;
use crate::server::request::Request;
use crate::server::request_processor::RequestProcessor;
use crate::zoo_defs::op_code;
use crate::server::zoo_keeper_server::ZooKeeperServer;
use crate::common::linked_blocking_queue::LinkedBlockingQueue;
use parking_lot::{Condvar, Mutex};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// What the CommitProcessor thread does with a request `step` released.
#[derive(Debug)]
pub enum Handoff {
    /// Give it to the session's worker (sendToNextProcessor). The core
    /// counts it in flight until `request_finished`.
    Worker(Request),
    /// Apply it now, on the CommitProcessor thread (processWrite): a
    /// committed write, with its txn.
    Apply(Request),
}

/// The CommitProcessor's matching and ordering (see the module doc).
pub struct CommitProcessorCore {
    /// queuedRequests: arrived and not yet looked at, in arrival order.
    queued: VecDeque<Request>,
    /// queuedWriteRequests: (session, cxid) of the arrived requests that
    /// wait for a commit, in arrival order (the order of their commits).
    queued_writes: VecDeque<(i64, i32)>,
    /// committedRequests: commits not yet applied, in the leader's order.
    committed: VecDeque<Request>,
    /// pendingRequests: per session, a waiting write and what arrived
    /// behind it.
    pending: HashMap<i64, VecDeque<Request>>,
    /// numRequestsProcessing: handed to the workers and not finished.
    in_flight: usize,
    /// A commit is ready and waits for the requests in flight to finish
    /// (waitForEmptyPool); no more reads go out meanwhile.
    commit_waiting_for_pool: bool,
    match_syncs: bool,
    max_read_batch_size: i32,
    max_commit_batch_size: NonZeroUsize,
    /// The session-queue figures of the turns since `take_figures`.
    figures: SessionQueueFigures,
}

/// The per-session queue figures Java's CommitProcessor samples, as the
/// core saw them; the thread records them in ServerMetrics.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SessionQueueFigures {
    /// requests_in_session_queue: a session queue's length as a request
    /// joins it, and as a committed write leaves its head.
    pub requests_in_session_queue: Vec<usize>,
    /// pending_session_queue_size: sessions with a queue when a local
    /// write's commit arrives.
    pub pending_session_queue_size: Vec<usize>,
    /// reads_after_write_in_session_queue: per drained session, the reads
    /// released behind its write.
    pub reads_after_write: Vec<usize>,
    /// session_queues_drained and reads_issued_from_session_queue: per
    /// commit batch, the sessions drained and the reads they released.
    pub drained: Vec<(usize, usize)>,
    /// concurrent_request_processing_in_commit_processor: the requests
    /// still with the workers when a commit had to wait for them.
    pub concurrent_when_commit_waits: Vec<usize>,
}

impl CommitProcessorCore {
    /// `match_syncs`: syncs wait for the leader's SYNC (a learner) instead
    /// of passing like reads (the leader). The batch sizes are
    /// zookeeper.commitProcessor.maxReadBatchSize (negative: no limit) and
    /// maxCommitBatchSize.
    pub fn new(match_syncs: bool, max_read_batch_size: i32, max_commit_batch_size: NonZeroUsize) -> Self {
        CommitProcessorCore {
            queued: VecDeque::new(),
            queued_writes: VecDeque::new(),
            committed: VecDeque::new(),
            pending: HashMap::new(),
            in_flight: 0,
            commit_waiting_for_pool: false,
            match_syncs,
            max_read_batch_size,
            max_commit_batch_size,
            figures: SessionQueueFigures::default(),
        }
    }

    /// The figures sampled since the last call.
    pub fn take_figures(&mut self) -> SessionQueueFigures {
        std::mem::take(&mut self.figures)
    }

    /// Whether a commit is waiting for the workers to finish (Java's
    /// waitForEmptyPool).
    pub fn waiting_for_pool(&self) -> bool {
        self.commit_waiting_for_pool
    }

    /// needCommit: whether the request waits for the leader's commit.
    fn need_commit(&self, req: &Request) -> bool {
        use op_code::*;
        if req.throttled {
            // Answered THROTTLEDOP, like a read, without a txn.
            return false;
        }
        match req.op_type {
            CREATE | CREATE2 | CREATE_TTL | CREATE_CONTAINER | DELETE | DELETE_CONTAINER | SET_DATA | RECONFIG
            | MULTI | SET_ACL | CHECK => true,
            SYNC => self.match_syncs,
            CREATE_SESSION | CLOSE_SESSION => !req.local_session,
            _ => false,
        }
    }

    /// processRequest: a request arrived from the previous processor.
    pub fn request_arrived(&mut self, req: Request) {
        if self.need_commit(&req) {
            self.queued_writes.push_back((req.session_id, req.cxid));
        }
        self.queued.push_back(req);
    }

    /// commit: the leader committed `req` (a txn from a COMMIT or INFORM,
    /// the leader's own proposal, or a sync answered by SYNC).
    pub fn commit_arrived(&mut self, req: Request) {
        self.committed.push_back(req);
    }

    /// (reads, writes) arrived and not yet sorted: the queue figures Java
    /// samples each turn.
    pub fn queue_figures(&self) -> (usize, usize) {
        let writes = self.queued.iter().filter(|r| self.need_commit(r)).count();
        (self.queued.len() - writes, writes)
    }

    /// A request handed out as `Handoff::Worker` has been processed.
    pub fn request_finished(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// Whether `step` has anything to do: requests or commits to look at,
    /// or, while a commit waits for the workers, an empty pool.
    pub fn has_work(&self) -> bool {
        if self.commit_waiting_for_pool {
            self.in_flight == 0
        } else {
            !self.queued.is_empty() || !self.committed.is_empty()
        }
    }

    /// One turn of the CommitProcessor's loop: the handoffs to carry out,
    /// in order. First the arrived requests are sorted (reads out, writes
    /// and what queues behind them held) until a commit can be applied;
    /// if one is waiting, the commits are applied once nothing is in
    /// flight (until then `step` returns nothing more, whatever arrives),
    /// followed by the reads their sessions held behind them.
    pub fn step(&mut self) -> Vec<Handoff> {
        let mut out = Vec::new();
        if !self.commit_waiting_for_pool {
            let commit_waiting = self.sort_arrived(&mut out);
            if !commit_waiting {
                return out;
            }
            self.commit_waiting_for_pool = true;
            if self.in_flight > 0 {
                self.figures.concurrent_when_commit_waits.push(self.in_flight);
            }
        }
        if self.in_flight > 0 {
            return out;
        }
        self.commit_waiting_for_pool = false;
        self.apply_commits(&mut out);
        out
    }

    /// The first half of a turn; true if a commit is waiting.
    fn sort_arrived(&mut self, out: &mut Vec<Handoff>) -> bool {
        let mut to_process = self.queued.len();
        let mut reads = 0i64;
        while to_process > 0 && (self.max_read_batch_size < 0 || reads <= i64::from(self.max_read_batch_size)) {
            let Some(req) = self.queued.pop_front() else { break };
            to_process -= 1;
            if self.need_commit(&req) || self.pending.contains_key(&req.session_id) {
                let q = self.pending.entry(req.session_id).or_default();
                q.push_back(req);
                self.figures.requests_in_session_queue.push(q.len());
            } else {
                reads += 1;
                self.to_worker(req, out);
            }
            // Without a read batch size, stop feeding the workers as soon
            // as a write waits and a commit is there: commits of local
            // writes come in the order the writes arrived, so that commit
            // is for this server's oldest waiting write or for another
            // server's, and either can be applied.
            if self.max_read_batch_size < 0 && !self.pending.is_empty() && !self.committed.is_empty() {
                return true;
            }
        }
        !self.committed.is_empty()
    }

    /// The second half: up to maxCommitBatchSize commits, in order, each a
    /// local write (which takes the commit's txn) or another server's.
    fn apply_commits(&mut self, out: &mut Vec<Handoff>) {
        let mut sessions_to_drain: Vec<i64> = Vec::new();
        let mut budget = self.max_commit_batch_size.get();
        while budget > 0 {
            let Some(commit) = self.committed.front() else { break };
            let key = (commit.session_id, commit.cxid);
            let is_local = self.queued_writes.front() == Some(&key);
            let mut local = None;
            if is_local {
                // The oldest local write: it must be at the head of its
                // session's queue; if it has not been sorted out of the
                // arrived requests yet, the commit waits for the next turn.
                self.figures.pending_session_queue_size.push(self.pending.len());
                let queue = self.pending.get(&key.0);
                let ready = match queue.and_then(|q| q.front()) {
                    Some(head) => self.need_commit(head),
                    None => false,
                };
                if !ready {
                    break;
                }
                self.figures.requests_in_session_queue.push(queue.map_or(0, VecDeque::len));
                local = self.pending.get_mut(&key.0).and_then(|q| q.pop_front());
                self.queued_writes.pop_front();
                if !sessions_to_drain.contains(&key.0) {
                    sessions_to_drain.push(key.0);
                }
            }
            let Some(commit) = self.committed.pop_front() else { break };
            budget -= 1;
            let req = match local {
                Some(mut l) => {
                    l.hdr = commit.hdr;
                    l.txn = commit.txn;
                    l.txn_digest = commit.txn_digest;
                    l.zxid = commit.zxid;
                    l
                }
                None => commit,
            };
            out.push(Handoff::Apply(req));
        }
        // The reads each applied write held back go out now, before any
        // later write of their session.
        let mut released = 0;
        for &sid in &sessions_to_drain {
            let Some(mut q) = self.pending.remove(&sid) else { continue };
            let mut reads = 0;
            while q.front().is_some_and(|r| !self.need_commit(r)) {
                if let Some(r) = q.pop_front() {
                    self.to_worker(r, out);
                    reads += 1;
                }
            }
            self.figures.reads_after_write.push(reads);
            released += reads;
            if !q.is_empty() {
                self.pending.insert(sid, q);
            }
        }
        self.figures.drained.push((sessions_to_drain.len(), released));
    }

    fn to_worker(&mut self, req: Request, out: &mut Vec<Handoff>) {
        self.in_flight += 1;
        out.push(Handoff::Worker(req));
    }
}

/// What the producers and the workers leave for the CommitProcessor
/// thread, moved into the core on its next turn.
#[derive(Default)]
struct Inbox {
    /// Requests from the previous processor, in arrival order.
    requests: VecDeque<Request>,
    /// The leader's commits, in its order.
    commits: VecDeque<Request>,
    /// Worker handoffs finished since the last turn.
    finished: usize,
}

struct Shared {
    inbox: Mutex<Inbox>,
    wake: Condvar,
    stopped: AtomicBool,
    next: Arc<dyn RequestProcessor>,
}

/// The zookeeper.commitProcessor.* system properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitProcessorSettings {
    /// zookeeper.commitProcessor.numWorkerThreads (default ncpu; 0: reads
    /// run on the CommitProcessor thread).
    pub num_worker_threads: i32,
    /// zookeeper.commitProcessor.shutdownTimeout (ms, default 5000).
    pub shutdown_timeout_ms: i64,
    /// zookeeper.commitProcessor.maxReadBatchSize (default -1).
    pub max_read_batch_size: i32,
    /// zookeeper.commitProcessor.maxCommitBatchSize (default 1).
    pub max_commit_batch_size: i32,
}

impl CommitProcessorSettings {
    pub fn read(props: &SystemProperties) -> Result<CommitProcessorSettings, ConfigError> {
        Ok(CommitProcessorSettings {
            num_worker_threads: props.int("zookeeper.commitProcessor.numWorkerThreads", available_cpus())?,
            shutdown_timeout_ms: props.long("zookeeper.commitProcessor.shutdownTimeout", 5000)?,
            max_read_batch_size: props.int("zookeeper.commitProcessor.maxReadBatchSize", -1)?,
            max_commit_batch_size: props.int("zookeeper.commitProcessor.maxCommitBatchSize", 1)?,
        })
    }
}

pub struct CommitProcessor {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl CommitProcessor {
    /// Starts the CommitProcessor thread and its worker pool
    /// (zookeeper.commitProcessor.numWorkerThreads; none: reads run on the
    /// CommitProcessor thread) in front of `next`. `match_syncs`: syncs
    /// wait for their SYNC from the leader (learners), instead of passing
    /// like reads (the leader).
    pub fn start(
        zks: Arc<ZooKeeperServer>,
        next: Arc<dyn RequestProcessor>,
        match_syncs: bool,
    ) -> io::Result<Arc<CommitProcessor>> {
        let settings = &zks.settings.commit_processor;
        let max_commit_batch_size = usize::try_from(settings.max_commit_batch_size)
            .ok()
            .and_then(NonZeroUsize::new)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "maxCommitBatchSize must be positive, was {}",
                        settings.max_commit_batch_size
                    ),
                )
            })?;
        let max_read_batch_size = settings.max_read_batch_size;
        tracing::info!(
            "Configuring CommitProcessor with readBatchSize {} commitBatchSize {}",
            max_read_batch_size,
            max_commit_batch_size
        );
        let core = CommitProcessorCore::new(match_syncs, max_read_batch_size, max_commit_batch_size);
        let shared = Arc::new(Shared {
            inbox: Mutex::new(Inbox::default()),
            wake: Condvar::new(),
            stopped: AtomicBool::new(false),
            next,
        });
        let worker_count = usize::try_from(settings.num_worker_threads).unwrap_or(0);
        let mut workers = Vec::new();
        let mut threads = Vec::new();
        for i in 0..worker_count {
            let queue = Arc::new(LinkedBlockingQueue::<Option<Request>>::new());
            let q = Arc::clone(&queue);
            let sh = Arc::clone(&shared);
            threads.push(crate::server::zoo_keeper_critical_thread::spawn(format!("CommitProcWork-{i}"), move || {
                let m = crate::server::server_metrics::metrics();
                while let Some(req) = q.take() {
                    let started = std::time::Instant::now();
                    sh.next.process_request(req);
                    m.read_final_proc_time.add(started.elapsed().as_millis() as i64);
                    sh.inbox.lock().finished += 1;
                    sh.wake.notify_all();
                }
                q.close();
            })?);
            workers.push(queue);
        }
        let sh = Arc::clone(&shared);
        let name = format!("CommitProcessor:{}", zks.settings.server_id);
        let thread = crate::server::zoo_keeper_critical_thread::spawn(name, move || {
            run(&sh, core, &workers);
            for w in &workers {
                w.put(None);
            }
            for h in threads {
                let _ = h.join();
            }
            tracing::info!("CommitProcessor exited loop!");
        })?;
        Ok(Arc::new(CommitProcessor { shared, thread: Mutex::new(Some(thread)) }))
    }

    /// commit: the leader committed `req` (a txn from a COMMIT or INFORM,
    /// or a sync answered by SYNC). A local request waiting for it takes
    /// its txn and is answered; otherwise `req` itself is applied.
    pub fn commit(&self, mut req: Request) {
        if self.shared.stopped.load(Ordering::Acquire) {
            return;
        }
        crate::server::server_metrics::metrics().commits_queued.inc();
        req.queued_at = std::time::Instant::now();
        self.shared.inbox.lock().commits.push_back(req);
        self.shared.wake.notify_all();
    }
}

impl RequestProcessor for CommitProcessor {
    fn process_request(&self, mut req: Request) {
        if self.shared.stopped.load(Ordering::Acquire) {
            return;
        }
        req.queued_at = std::time::Instant::now();
        self.shared.inbox.lock().requests.push_back(req);
        self.shared.wake.notify_all();
    }

    fn shutdown(&self) {
        tracing::info!("Shutting down");
        {
            let _inbox = self.shared.inbox.lock();
            self.shared.stopped.store(true, Ordering::Release);
            self.shared.wake.notify_all();
        }
        if let Some(h) = self.thread.lock().take() {
            let _ = h.join();
        }
        self.shared.next.shutdown();
    }
}

/// Records a turn's session-queue figures, and the time a commit waited
/// for the workers (time_waiting_empty_pool_in_commit_processor_read_ms:
/// 0 for a commit that found them idle, as Java's waitForEmptyPool adds).
fn record_figures(f: SessionQueueFigures, pool_wait: &mut Option<std::time::Instant>, was_waiting: bool, waiting: bool) {
    let m = crate::server::server_metrics::metrics();
    for n in f.requests_in_session_queue {
        m.requests_in_session_queue.add(n as i64);
    }
    for n in f.pending_session_queue_size {
        m.pending_session_queue_size.add(n as i64);
    }
    for n in f.reads_after_write {
        m.reads_after_write_in_session_queue.add(n as i64);
    }
    for (sessions, reads) in &f.drained {
        m.session_queues_drained.add(*sessions as i64);
        m.read_issued_from_session_queue.add(*reads as i64);
    }
    for n in f.concurrent_when_commit_waits {
        m.concurrent_request_processing_in_commit_processor.add(n as i64);
    }
    if waiting && !was_waiting {
        *pool_wait = Some(std::time::Instant::now());
    }
    // A batch of commits was applied: the wait (if any) is over.
    if !f.drained.is_empty() {
        let waited = pool_wait.take().map_or(0, |t| t.elapsed().as_millis() as i64);
        m.time_waiting_empty_pool_in_commit_processor_read.add(waited);
    }
}

/// The CommitProcessor thread's loop: wait until the core has work, move
/// the inbox into it (requests before commits: a local write's commit
/// never overtakes the write), take one turn, carry out its handoffs.
fn run(sh: &Shared, mut core: CommitProcessorCore, workers: &[Arc<LinkedBlockingQueue<Option<Request>>>]) {
    let m = crate::server::server_metrics::metrics();
    // When the waiting commit began to wait for the workers.
    let mut pool_wait: Option<std::time::Instant> = None;
    loop {
        {
            let mut inbox = sh.inbox.lock();
            loop {
                if sh.stopped.load(Ordering::Acquire) {
                    return;
                }
                if !inbox.commits.is_empty() {
                    m.commits_queued_in_commit_processor.add(inbox.commits.len() as i64);
                }
                for req in inbox.requests.drain(..) {
                    core.request_arrived(req);
                }
                for req in inbox.commits.drain(..) {
                    core.commit_arrived(req);
                }
                for _ in 0..std::mem::take(&mut inbox.finished) {
                    core.request_finished();
                }
                if core.has_work() {
                    break;
                }
                sh.wake.wait(&mut inbox);
            }
        }
        let (reads, writes) = core.queue_figures();
        m.reads_queued_in_commit_processor.add(reads as i64);
        m.writes_queued_in_commit_processor.add(writes as i64);
        let was_waiting = core.waiting_for_pool();
        let handoffs = core.step();
        record_figures(core.take_figures(), &mut pool_wait, was_waiting, core.waiting_for_pool());
        let writes = handoffs.iter().filter(|h| matches!(h, Handoff::Apply(_))).count();
        if writes > 0 {
            m.writes_issued_in_commit_proc.add(writes as i64);
        }
        if writes < handoffs.len() {
            m.reads_issued_in_commit_proc.add((handoffs.len() - writes) as i64);
        }
        let batch_started = std::time::Instant::now();
        for handoff in handoffs {
            if sh.stopped.load(Ordering::Acquire) {
                return;
            }
            match handoff {
                Handoff::Apply(req) => {
                    // From its arrival here (or its commit's) to applied.
                    let waited = req.queued_at.elapsed().as_millis() as i64;
                    m.write_commitproc_time.add(waited);
                    if req.cnxn.is_some() {
                        m.local_write_committed_time.add(waited);
                    } else {
                        m.server_write_committed_time.add(waited);
                    }
                    let started = std::time::Instant::now();
                    sh.next.process_request(req);
                    let took = started.elapsed().as_millis() as i64;
                    m.write_final_proc_time.add(took);
                    m.commit_process_time.add(took);
                }
                Handoff::Worker(req) => {
                    m.read_commitproc_time.add(req.queued_at.elapsed().as_millis() as i64);
                    let worker = usize::try_from(req.session_id.rem_euclid(workers.len().max(1) as i64)).unwrap_or(0);
                    match workers.get(worker) {
                        Some(queue) => queue.put(Some(req)),
                        None => {
                            sh.next.process_request(req);
                            core.request_finished();
                        }
                    }
                }
            }
        }
        if writes > 0 {
            m.write_batch_time_in_commit_processor.add(batch_started.elapsed().as_millis() as i64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use op_code::{CREATE, GET_DATA, SET_DATA, SYNC};

    #[test]
    fn settings_default_as_java_and_name_a_bad_key() {
        let s = CommitProcessorSettings::read(&SystemProperties::of(&[])).unwrap();
        assert_eq!(
            s,
            CommitProcessorSettings {
                num_worker_threads: available_cpus(),
                shutdown_timeout_ms: 5000,
                max_read_batch_size: -1,
                max_commit_batch_size: 1
            }
        );
        let e = CommitProcessorSettings::read(&SystemProperties::of(&[("commitProcessor.maxReadBatchSize", "x")]));
        assert_eq!(e.unwrap_err().to_string(), "commitProcessor.maxReadBatchSize: \"x\" is not a number");
    }

    fn req(session: i64, cxid: i32, op: i32) -> Request {
        Request::new(None, session, cxid, op, Vec::new(), Vec::new())
    }

    /// The leader's commit of (session, cxid), as a learner builds it from
    /// a COMMIT: a separate request carrying the txn's zxid.
    fn commit(session: i64, cxid: i32, zxid: i64) -> Request {
        Request { zxid, ..req(session, cxid, CREATE) }
    }

    fn core(max_read_batch_size: i32, max_commit_batch_size: usize) -> CommitProcessorCore {
        let batch = NonZeroUsize::new(max_commit_batch_size).expect("positive");
        CommitProcessorCore::new(false, max_read_batch_size, batch)
    }

    /// What a handoff did, to compare in tests: ('R', ...) went to a
    /// worker, ('W', ...) was applied.
    fn seen(h: &[Handoff]) -> Vec<(char, i64, i32)> {
        h.iter()
            .map(|h| match h {
                Handoff::Worker(r) => ('R', r.session_id, r.cxid),
                Handoff::Apply(r) => ('W', r.session_id, r.cxid),
            })
            .collect()
    }

    /// One pass of Java's run() loop: a turn, the workers finishing what
    /// it handed them, and, when a commit was waiting for them, the rest
    /// of the turn.
    fn run_once(c: &mut CommitProcessorCore) -> Vec<(char, i64, i32)> {
        let mut out = seen(&c.step());
        for _ in 0..c.in_flight {
            c.request_finished();
        }
        if c.commit_waiting_for_pool {
            out.extend(seen(&c.step()));
            for _ in 0..c.in_flight {
                c.request_finished();
            }
        }
        out
    }

    #[test]
    fn a_read_before_its_sessions_committed_write_goes_first_and_the_write_waits_for_it() {
        // committedAndUncommittedOfTheSameSessionRaceTest.
        let mut c = core(-1, 1);
        c.request_arrived(req(0, 0, GET_DATA));
        c.request_arrived(req(0, 1, SET_DATA));
        c.commit_arrived(commit(0, 1, 1));
        assert_eq!(seen(&c.step()), vec![('R', 0, 0)]);
        // The write waits for the read in flight, whatever arrives.
        c.request_arrived(req(5, 0, GET_DATA));
        assert!(!c.has_work());
        assert!(c.step().is_empty());
        c.request_finished();
        assert!(c.has_work());
        let applied = c.step();
        assert_eq!(seen(&applied), vec![('W', 0, 1)]);
        match &applied[0] {
            Handoff::Apply(r) => assert_eq!((r.op_type, r.zxid), (SET_DATA, 1), "the local request, with the commit's zxid"),
            Handoff::Worker(_) => unreachable!(),
        }
        assert_eq!(seen(&c.step()), vec![('R', 5, 0)]);
    }

    #[test]
    fn the_session_queue_figures_are_sampled_where_javas_are() {
        let mut c = core(-1, 1);
        // A read in flight on session 9, so the commit waits for the pool.
        c.request_arrived(req(9, 0, GET_DATA));
        c.request_arrived(req(1, 0, SET_DATA));
        c.request_arrived(req(1, 1, GET_DATA));
        c.request_arrived(req(1, 2, GET_DATA));
        assert_eq!(seen(&c.step()), vec![('R', 9, 0)]);
        c.commit_arrived(commit(1, 0, 1));
        assert!(c.step().is_empty());
        assert!(c.waiting_for_pool());
        c.request_finished();
        assert_eq!(seen(&c.step()), vec![('W', 1, 0), ('R', 1, 1), ('R', 1, 2)]);
        assert!(!c.waiting_for_pool());
        assert_eq!(
            c.take_figures(),
            SessionQueueFigures {
                // The write and two reads joining session 1's queue, then
                // the queue as its write's commit arrives.
                requests_in_session_queue: vec![1, 2, 3, 3],
                pending_session_queue_size: vec![1],
                reads_after_write: vec![2],
                drained: vec![(1, 2)],
                concurrent_when_commit_waits: vec![1],
            }
        );
        assert_eq!(c.take_figures(), SessionQueueFigures::default());
    }

    #[test]
    fn reads_go_out_unless_a_write_of_their_session_waits() {
        // processAsMuchUncommittedRequestsAsPossibleTest: sessions 1..=5,
        // each with `session` reads, a write, and a read.
        let mut c = core(-1, 1);
        let mut expected = Vec::new();
        for s in 1..=5i64 {
            for cxid in 1..=s as i32 {
                c.request_arrived(req(s, cxid, GET_DATA));
                expected.push(('R', s, cxid));
            }
            c.request_arrived(req(s, s as i32 + 1, CREATE));
            c.request_arrived(req(s, s as i32 + 2, GET_DATA));
        }
        assert_eq!(run_once(&mut c), expected);
        assert_eq!(c.pending.len(), 5);
        assert!(c.queued.is_empty());
    }

    #[test]
    fn a_commit_releases_its_write_then_the_reads_queued_behind_it() {
        // processAllFollowingUncommittedAfterFirstCommitTest.
        let mut c = core(-1, 1);
        c.request_arrived(req(1, 1, CREATE));
        for cxid in 2..=5 {
            c.request_arrived(req(1, cxid, GET_DATA));
        }
        assert_eq!(run_once(&mut c), vec![]);
        assert!(c.queued.is_empty());
        assert_eq!(c.pending.get(&1).map(VecDeque::len), Some(5));
        assert_eq!(c.queued_writes.len(), 1);
        c.commit_arrived(commit(1, 1, 1));
        assert_eq!(run_once(&mut c), vec![('W', 1, 1), ('R', 1, 2), ('R', 1, 3), ('R', 1, 4), ('R', 1, 5)]);
        assert!(c.committed.is_empty() && c.pending.is_empty() && c.queued_writes.is_empty());
    }

    #[test]
    fn a_commit_batch_stops_at_a_write_still_behind_reads_of_its_session() {
        // processAllWritesMaxBatchSize.
        let mut c = core(-1, 2);
        c.request_arrived(req(1, 1, CREATE));
        c.request_arrived(req(2, 1, CREATE));
        for cxid in 2..=5 {
            c.request_arrived(req(1, cxid, GET_DATA));
            c.request_arrived(req(2, cxid, GET_DATA));
        }
        c.request_arrived(req(2, 6, CREATE));
        assert_eq!(run_once(&mut c), vec![]);
        assert!(c.queued.is_empty());
        assert!(c.pending.contains_key(&1) && c.pending.contains_key(&2));

        c.commit_arrived(commit(1, 1, 1));
        c.commit_arrived(commit(2, 1, 2));
        c.commit_arrived(commit(2, 6, 3));
        c.max_commit_batch_size = NonZeroUsize::new(3).expect("positive");
        // Session 2's second write is behind four reads: the batch ends
        // before it, and the reads of both sessions go out.
        let out = run_once(&mut c);
        assert_eq!(out[..2], [('W', 1, 1), ('W', 2, 1)]);
        let mut reads = out[2..].to_vec();
        reads.sort_unstable();
        let mut expected: Vec<_> = (2..=5).flat_map(|x| [('R', 1, x), ('R', 2, x)]).collect();
        expected.sort_unstable();
        assert_eq!(reads, expected);
        assert_eq!(c.committed.front().map(|r| (r.session_id, r.cxid)), Some((2, 6)));
        assert_eq!(c.pending.get(&2).and_then(|q| q.front()).map(|r| r.cxid), Some(6));
        assert_eq!(c.queued_writes.front(), Some(&(2, 6)));

        // A read of session 1, and a write of session 2 already committed:
        // the read goes out and stops the sorting (a write waits and a
        // commit is there), the old write is applied, and the new one's
        // commit waits because the write has not been sorted yet.
        c.request_arrived(req(1, 7, GET_DATA));
        c.request_arrived(req(2, 7, CREATE));
        c.commit_arrived(commit(2, 7, 4));
        assert_eq!(run_once(&mut c), vec![('R', 1, 7), ('W', 2, 6)]);
        assert_eq!(c.committed.len(), 1);
        assert!(c.pending.is_empty());
        assert_eq!(c.queued_writes.front(), Some(&(2, 7)));

        assert_eq!(run_once(&mut c), vec![('W', 2, 7)]);
        assert!(c.committed.is_empty() && c.pending.is_empty() && c.queued_writes.is_empty() && c.queued.is_empty());
    }

    #[test]
    fn endless_reads_do_not_starve_other_servers_commits() {
        // noStarvationOfNonLocalCommittedRequestsTest: 42 new reads before
        // every turn, ten commits of another server's writes.
        let mut c = core(-1, 1);
        for i in 0..10 {
            c.commit_arrived(commit(51, i + 1, i as i64 + 1));
        }
        let mut applied = Vec::new();
        let mut read_id = 0;
        for _ in 0..10 {
            for _ in 0..42 {
                read_id += 1;
                c.request_arrived(req(i64::from(read_id % 50), read_id, GET_DATA));
            }
            applied.extend(run_once(&mut c).into_iter().filter(|h| h.0 == 'W'));
        }
        assert_eq!(applied, (1..=10).map(|x| ('W', 51, x)).collect::<Vec<_>>());
    }

    #[test]
    fn many_commits_do_not_starve_reads() {
        // noStarvationOfReadRequestsTest: a committed local write, a read,
        // a hundred commits from other servers, fifty more reads.
        let mut c = core(-1, 1);
        c.request_arrived(req(3, 1, CREATE));
        c.commit_arrived(commit(3, 1, 1));
        c.request_arrived(req(1, 0, GET_DATA));
        c.commit_arrived(commit(0x99, 2, 2));
        for cxid in 3..102 {
            c.commit_arrived(commit(8, cxid, i64::from(cxid)));
        }
        for cxid in 1..=50 {
            c.request_arrived(req(5, cxid, GET_DATA));
        }
        assert_eq!(run_once(&mut c), vec![('W', 3, 1)]);
        let second = run_once(&mut c);
        assert_eq!(second.len(), 52);
        assert_eq!(second[..51], [vec![('R', 1, 0)], (1..=50).map(|x| ('R', 5, x)).collect()].concat());
        assert_eq!(second[51], ('W', 0x99, 2));
        assert_eq!(c.committed.len(), 99);
    }

    #[test]
    fn a_commit_from_the_sessions_previous_connection_is_applied_as_anothers() {
        // noCrashOnCommittedRequestsOfUnseenRequestTest: the session's
        // write waits; a commit for a lower cxid of the same session
        // (sent before a reconnect) comes first.
        let (s, first) = (0x123456, 0x100);
        let mut c = core(-1, 1);
        c.request_arrived(req(s, first, CREATE));
        for cxid in first + 1..=first + 10 {
            c.request_arrived(req(s, cxid, GET_DATA));
        }
        assert_eq!(run_once(&mut c), vec![]);
        c.commit_arrived(commit(s, first - 2, 1));
        c.commit_arrived(commit(s, first, 2));
        assert_eq!(run_once(&mut c), vec![('W', s, first - 2)]);
        let rest = run_once(&mut c);
        let expected: Vec<_> = std::iter::once(('W', s, first)).chain((first + 1..=first + 10).map(|x| ('R', s, x))).collect();
        assert_eq!(rest, expected);
    }

    #[test]
    fn commits_are_applied_in_the_leaders_order_even_out_of_cxid_order() {
        // noCrashOnOutofOrderCommittedRequestTest: a commit for a higher
        // cxid of the waiting session (from its next connection) first.
        let (s, last) = (0x123456, 0x100);
        let mut c = core(-1, 1);
        c.request_arrived(req(s, last, CREATE));
        for cxid in last..=last + 10 {
            c.request_arrived(req(s, cxid, GET_DATA));
        }
        assert_eq!(run_once(&mut c), vec![]);
        c.commit_arrived(commit(s, last + 10, 1));
        c.commit_arrived(commit(s, last, 2));
        assert_eq!(run_once(&mut c), vec![('W', s, last + 10)]);
        let rest = run_once(&mut c);
        assert_eq!(rest.len(), 12);
        assert_eq!(rest[0], ('W', s, last));
    }

    #[test]
    fn a_read_batch_size_lets_that_many_reads_and_one_more_pass_before_commits() {
        // maxReadBatchSize 2: up to three reads a turn, and a waiting write
        // with its commit does not cut the batch short.
        let mut c = core(2, 1);
        c.request_arrived(req(1, 1, CREATE));
        c.commit_arrived(commit(1, 1, 1));
        for s in 10..15 {
            c.request_arrived(req(s, 1, GET_DATA));
        }
        assert_eq!(run_once(&mut c), vec![('R', 10, 1), ('R', 11, 1), ('R', 12, 1), ('W', 1, 1)]);
        assert_eq!(run_once(&mut c), vec![('R', 13, 1), ('R', 14, 1)]);
        // Without a limit the waiting write and its commit stop the reads
        // at once.
        let mut c = core(-1, 1);
        c.request_arrived(req(1, 1, CREATE));
        c.commit_arrived(commit(1, 1, 1));
        for s in 10..15 {
            c.request_arrived(req(s, 1, GET_DATA));
        }
        assert_eq!(run_once(&mut c), vec![('W', 1, 1)]);
        assert_eq!(c.queued.len(), 5);
    }

    #[test]
    fn a_commit_batch_applies_up_to_its_size_a_turn() {
        let mut c = core(-1, 2);
        for z in 1..=5 {
            c.commit_arrived(commit(9, z, i64::from(z)));
        }
        assert_eq!(run_once(&mut c), vec![('W', 9, 1), ('W', 9, 2)]);
        assert_eq!(run_once(&mut c), vec![('W', 9, 3), ('W', 9, 4)]);
        assert_eq!(run_once(&mut c), vec![('W', 9, 5)]);
        assert!(!c.has_work());
    }

    #[test]
    fn a_learners_sync_waits_for_the_leaders_sync_and_a_leaders_passes() {
        let mut learner = CommitProcessorCore::new(true, -1, NonZeroUsize::MIN);
        learner.request_arrived(req(1, 1, SYNC));
        learner.request_arrived(req(1, 2, GET_DATA));
        assert_eq!(run_once(&mut learner), vec![]);
        learner.commit_arrived(req(1, 1, SYNC));
        assert_eq!(run_once(&mut learner), vec![('W', 1, 1), ('R', 1, 2)]);

        let mut leader = core(-1, 1);
        leader.request_arrived(req(1, 1, SYNC));
        leader.request_arrived(req(1, 2, GET_DATA));
        assert_eq!(run_once(&mut leader), vec![('R', 1, 1), ('R', 1, 2)]);
    }

    /// A small deterministic generator for the randomised test.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    #[test]
    fn random_workloads_keep_writes_alone_in_zxid_order_and_sessions_in_order() {
        // CommitProcessorTest's invariants under random interleavings of
        // clients (25% writes), other servers' writes, the leader's
        // commits and workers finishing: a write is applied only with no
        // read in flight, writes in zxid order with none missing, each
        // session's requests in cxid order, and everything is done once
        // the inputs stop.
        for seed in 1..=200u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let mut c = core(if seed % 3 == 0 { 4 } else { -1 }, 1 + (seed % 2) as usize);
            let mut next_cxid = [0i32; 4];
            let mut next_zxid = 1i64;
            let mut proposals: VecDeque<(i64, i32, i64)> = VecDeque::new();
            let mut workers: Vec<VecDeque<Request>> = (0..3).map(|_| VecDeque::new()).collect();
            let mut last_cxid: HashMap<i64, i32> = HashMap::new();
            let mut applied_zxid = 0i64;
            let mut issued = 0usize;
            let mut done = 0usize;
            let mut record = |r: &Request, done: &mut usize| {
                if r.session_id < 4 {
                    let prev = last_cxid.insert(r.session_id, r.cxid).unwrap_or(0);
                    assert!(r.cxid > prev, "seed {seed}: session {} saw cxid {} after {prev}", r.session_id, r.cxid);
                    *done += 1;
                }
            };
            for tick in 0..4000 {
                let inputs_open = tick < 3000;
                match rng.below(5) {
                    0 if inputs_open => {
                        let s = rng.below(4) as usize;
                        next_cxid[s] += 1;
                        let write = rng.below(4) == 0;
                        if write {
                            proposals.push_back((s as i64, next_cxid[s], next_zxid));
                            next_zxid += 1;
                        }
                        c.request_arrived(req(s as i64, next_cxid[s], if write { CREATE } else { GET_DATA }));
                        issued += 1;
                    }
                    1 if inputs_open => {
                        proposals.push_back((100, rng.below(1000) as i32, next_zxid));
                        next_zxid += 1;
                    }
                    2 => {
                        if let Some((s, cxid, zxid)) = proposals.pop_front() {
                            c.commit_arrived(commit(s, cxid, zxid));
                        }
                    }
                    3 => {
                        let w = rng.below(3) as usize;
                        if let Some(r) = workers[w].pop_front() {
                            record(&r, &mut done);
                            c.request_finished();
                        }
                    }
                    _ => {
                        if !c.has_work() {
                            continue;
                        }
                        for h in c.step() {
                            match h {
                                Handoff::Apply(r) => {
                                    let busy: usize = workers.iter().map(VecDeque::len).sum();
                                    assert_eq!(busy, 0, "seed {seed}: a write applied with reads in flight");
                                    assert_eq!(r.zxid, applied_zxid + 1, "seed {seed}: zxid order");
                                    applied_zxid = r.zxid;
                                    record(&r, &mut done);
                                }
                                Handoff::Worker(r) => {
                                    assert!(r.session_id < 4);
                                    workers[(r.session_id % 3) as usize].push_back(r);
                                }
                            }
                        }
                    }
                }
            }
            // Inputs have stopped: deliver every commit, finish all work.
            while let Some((s, cxid, zxid)) = proposals.pop_front() {
                c.commit_arrived(commit(s, cxid, zxid));
            }
            for _ in 0..100_000 {
                for w in &mut workers {
                    while let Some(r) = w.pop_front() {
                        record(&r, &mut done);
                        c.request_finished();
                    }
                }
                if !c.has_work() {
                    break;
                }
                for h in c.step() {
                    match h {
                        Handoff::Apply(r) => {
                            assert_eq!(r.zxid, applied_zxid + 1, "seed {seed}: zxid order");
                            applied_zxid = r.zxid;
                            record(&r, &mut done);
                        }
                        Handoff::Worker(r) => workers[(r.session_id % 3) as usize].push_back(r),
                    }
                }
            }
            assert_eq!(applied_zxid, next_zxid - 1, "seed {seed}: every commit applied");
            assert_eq!(done, issued, "seed {seed}: every request processed");
            assert!(c.pending.is_empty() && c.queued.is_empty() && c.queued_writes.is_empty());
        }
    }
}
