//! WorkerService: the pool of `NIOWorker-i` threads (Java:
//! "NIOWorkerThread-i") that do connections' socket I/O and request
//! decoding. One shared queue; any idle worker takes the next item. A
//! worker that finds a backlog runs as SCHED_BATCH meanwhile
//! (`common::batch_scheduling`).

use crate::common::batch_scheduling::BatchScheduling;
use crossbeam_channel::{unbounded, Sender};
use parking_lot::Mutex;
use std::thread::JoinHandle;

pub type WorkRequest = Box<dyn FnOnce() + Send>;

pub struct WorkerService {
    queue: Mutex<Option<Sender<WorkRequest>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl WorkerService {
    pub fn start(name: &str, n: usize) -> std::io::Result<WorkerService> {
        let (tx, rx) = unbounded::<WorkRequest>();
        let mut threads = Vec::with_capacity(n);
        for i in 0..n.max(1) {
            let rx = rx.clone();
            threads.push(crate::server::zoo_keeper_critical_thread::spawn(format!("{name}-{i}"), move || {
                let mut scheduling = BatchScheduling::default();
                while let Ok(work) = rx.recv() {
                    scheduling.took_here(rx.len() + 1);
                    // A bug in one connection's handling must not shrink the
                    // pool: log it and keep serving (Java's workers catch
                    // and log exceptions the same way).
                    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).is_err() {
                        tracing::error!("unexpected panic in a worker; the connection is left to expire");
                    }
                }
            })?);
        }
        Ok(WorkerService { queue: Mutex::new(Some(tx)), threads: Mutex::new(threads) })
    }

    pub fn schedule(&self, work: WorkRequest) {
        if let Some(q) = self.queue.lock().as_ref() {
            let _ = q.send(work);
        }
    }

    /// Lets queued work finish, then stops the threads.
    pub fn stop(&self) {
        self.queue.lock().take();
        for h in self.threads.lock().drain(..) {
            let _ = h.join();
        }
    }
}
