//! SyncRequestProcessor: the `SyncThread:N` thread. Appends each txn to the
//! transaction log and group-commits: it keeps appending while requests are
//! queued and fsyncs once when the queue runs dry or the batch reaches
//! zookeeper.maxBatchSize, then hands the batch, in order, to the next
//! processor. Every ~snapCount txns (randomised so servers of an ensemble
//! do not snapshot together) it rolls the log and starts the
//! `SnapshotThread` (Java "Snapshot Thread") unless one is still running. Requests without a txn pass straight through when nothing is
//! waiting for a flush, else queue behind the batch to keep order.

use crate::server::request::Request;
use crate::server::request_processor::RequestProcessor;
use crate::server::server_cnxn::replying_now;
use crate::server::zoo_keeper_server::ZooKeeperServer;
use crate::common::linked_blocking_queue::LinkedBlockingQueue;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::collections::VecDeque;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::server::exit_code;

pub struct SyncRequestProcessor {
    /// queuedRequests; `None` stops the thread.
    queued: Arc<LinkedBlockingQueue<Option<Request>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    next: Arc<dyn RequestProcessor>,
}

impl SyncRequestProcessor {
    pub fn start(zks: Arc<ZooKeeperServer>, next: Arc<dyn RequestProcessor>) -> std::io::Result<Arc<Self>> {
        let queued = Arc::new(LinkedBlockingQueue::new());
        let q = Arc::clone(&queued);
        let n = Arc::clone(&next);
        let name = format!("SyncThread:{}", zks.settings.server_id);
        let h = crate::server::zoo_keeper_critical_thread::spawn(name, move || {
            run(zks, n, &q);
            q.close();
        })?;
        Ok(Arc::new(SyncRequestProcessor { queued, thread: Mutex::new(Some(h)), next }))
    }
}

impl RequestProcessor for SyncRequestProcessor {
    fn process_request(&self, mut request: Request) {
        crate::server::server_metrics::metrics().sync_processor_queued.inc();
        request.queued_at = std::time::Instant::now();
        self.queued.put(Some(request));
    }

    fn shutdown(&self) {
        self.queued.put(None);
        if let Some(h) = self.thread.lock().take() {
            let _ = h.join();
        }
        self.next.shutdown();
    }
}

/// Makes the batch durable and passes it on. `idle`: nothing else is
/// queued, so a batch of one may be answered straight to its socket.
fn flush(zks: &ZooKeeperServer, next: &Arc<dyn RequestProcessor>, to_flush: &mut Vec<Request>, idle: bool) -> bool {
    if to_flush.is_empty() {
        return true;
    }
    let m = crate::server::server_metrics::metrics();
    m.batch_size.add(to_flush.len() as i64);
    let started = std::time::Instant::now();
    let result = zks.zk_db().commit();
    // One clock read for the whole batch.
    let flushed = std::time::Instant::now();
    m.sync_processor_flush_time.add(flushed.saturating_duration_since(started).as_millis() as i64);
    if let Err(e) = result {
        // Nothing in this batch is durable: acknowledging it would lie.
        tracing::error!("Severe unrecoverable error, exiting: fsync of the transaction log failed: {e}");
        return false;
    }
    let alone = idle && to_flush.len() == 1;
    for r in to_flush.drain(..) {
        m.sync_processor_queue_and_flush_time.add(flushed.saturating_duration_since(r.queued_at).as_millis() as i64);
        if alone {
            replying_now(|| next.process_request(r));
        } else {
            next.process_request(r);
        }
    }
    true
}

/// A small xorshift generator for the snapshot jitter (Java uses
/// ThreadLocalRandom; only the spread matters).
struct Jitter(u64);

impl Jitter {
    fn new() -> Jitter {
        let seed = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
        Jitter(seed | 1)
    }

    /// A number in [0, bound) (0 when bound <= 0).
    fn below(&mut self, bound: i64) -> i64 {
        if bound <= 0 {
            return 0;
        }
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound as u64) as i64
    }
}

/// When to snapshot next (shouldSnapshot / resetSnapshotStats).
struct SnapshotSchedule {
    snap_count: i64,
    snap_size: i64,
    rand_roll: i64,
    rand_size: i64,
    log_count: i64,
    jitter: Jitter,
}

impl SnapshotSchedule {
    fn new(snap_count: i64, snap_size: i64) -> SnapshotSchedule {
        let mut s = SnapshotSchedule { snap_count, snap_size, rand_roll: 0, rand_size: 0, log_count: 0, jitter: Jitter::new() };
        s.reset();
        s
    }

    fn reset(&mut self) {
        self.rand_roll = self.jitter.below(self.snap_count / 2);
        self.rand_size = self.jitter.below(self.snap_size / 2);
        self.log_count = 0;
    }

    fn should_snapshot(&self, log_size: u64) -> bool {
        self.log_count > self.snap_count / 2 + self.rand_roll
            || (self.snap_size > 0 && log_size as i64 > self.snap_size / 2 + self.rand_size)
    }
}

/// Rolls the log and starts a snapshot unless the previous one still runs.
fn start_snapshot(zks: &Arc<ZooKeeperServer>, running: &Arc<AtomicBool>) {
    if let Err(e) = zks.zk_db().roll_log() {
        tracing::error!("Severe unrecoverable error, exiting: cannot roll the transaction log: {e}");
        exit_code::exit(exit_code::UNEXPECTED_ERROR);
    }
    if running.swap(true, Ordering::AcqRel) {
        tracing::warn!("Too busy to snap, skipping");
        return;
    }
    let r = Arc::clone(running);
    if let Err(e) = snapshot_in_background(zks, move || r.store(false, Ordering::Release)) {
        tracing::error!("cannot start the snapshot thread: {e}");
        running.store(false, Ordering::Release);
    }
}

/// Starts a `SnapshotThread` that writes a snapshot at low priority and
/// then calls `done`.
pub fn snapshot_in_background(
    zks: &Arc<ZooKeeperServer>,
    done: impl FnOnce() + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    let z = Arc::clone(zks);
    crate::server::zoo_keeper_critical_thread::spawn("SnapshotThread".into(), move || {
        yield_to_requests();
        z.take_snapshot();
        done();
    })
}

/// Lowers the calling thread's CPU priority (nice 10) and puts the disk
/// writes it starts in the idle I/O class, so that on a busy machine the
/// request threads run first and the transaction log's writes and fsyncs
/// reach the disk first; the SnapshotThread's walk (about a second of CPU
/// for a million znodes) and its writeback take what they leave. The
/// snapshot may then take longer; one that is still running when the next
/// is due makes that one skip, as it always has.
fn yield_to_requests() {
    /// ioprio_set(2): IOPRIO_WHO_PROCESS (a thread id), IOPRIO_CLASS_IDLE.
    const IOPRIO_WHO_PROCESS: libc::c_long = 1;
    const IOPRIO_IDLE: libc::c_long = 3 << 13;
    // SAFETY: gettid, setpriority and ioprio_set on this thread's own id
    // touch nothing else; on Linux both take a thread id for that thread
    // alone.
    let (cpu, io) = unsafe {
        let tid = libc::syscall(libc::SYS_gettid);
        (
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10),
            libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, tid, IOPRIO_IDLE),
        )
    };
    if cpu != 0 || io != 0 {
        tracing::debug!("cannot lower the snapshot thread's priority: {}", std::io::Error::last_os_error());
    }
}

/// The thread's loop: takes everything queued at once, appends the txns
/// in order and flushes when the queue has run dry or the batch is full.
fn run(zks: Arc<ZooKeeperServer>, next: Arc<dyn RequestProcessor>, queue: &LinkedBlockingQueue<Option<Request>>) {
    let max_batch = zks.settings.max_batch_size.max(1);
    let mut to_flush: Vec<Request> = Vec::new();
    let mut schedule =
        SnapshotSchedule::new(i64::from(zks.settings.snap_count), zks.settings.snap_size_limit_bytes);
    let snapshot_running = Arc::new(AtomicBool::new(false));
    let mut batch: VecDeque<Option<Request>> = VecDeque::new();
    loop {
        if batch.is_empty() {
            if to_flush.is_empty() {
                queue.drain_blocking(&mut batch);
            } else if queue.drain_to(&mut batch) == 0 {
                if !flush(&zks, &next, &mut to_flush, true) {
                    exit_code::exit(exit_code::UNEXPECTED_ERROR);
                }
                continue;
            }
        }
        let Some(Some(req)) = batch.pop_front() else { break };
        let m = crate::server::server_metrics::metrics();
        m.sync_processor_queue_size.add(batch.len() as i64);
        let started = std::time::Instant::now();
        m.sync_processor_queue_time.add(started.saturating_duration_since(req.queued_at).as_millis() as i64);
        match req.log_entry() {
            Some(entry) => match zks.zk_db().append(entry) {
                Ok(_) => {
                    schedule.log_count += 1;
                    m.sync_process_time.add(started.elapsed().as_millis() as i64);
                    if schedule.should_snapshot(zks.zk_db().txn_log_size()) {
                        schedule.reset();
                        start_snapshot(&zks, &snapshot_running);
                    }
                    to_flush.push(req)
                }
                Err(e) => {
                    tracing::error!("Severe unrecoverable error, exiting: cannot append to the transaction log: {e}");
                    exit_code::exit(exit_code::UNEXPECTED_ERROR);
                }
            },
            None => {
                if to_flush.is_empty() && batch.is_empty() && queue.is_empty() {
                    replying_now(|| next.process_request(req));
                } else if to_flush.is_empty() {
                    next.process_request(req);
                } else {
                    to_flush.push(req);
                }
                continue;
            }
        }
        if to_flush.len() >= max_batch && !flush(&zks, &next, &mut to_flush, false) {
            exit_code::exit(exit_code::UNEXPECTED_ERROR);
        }
    }
    if !flush(&zks, &next, &mut to_flush, false) {
        exit_code::exit(exit_code::UNEXPECTED_ERROR);
    }
    tracing::info!("SyncRequestProcessor exited!");
}
