//! SyncRequestProcessor: the `SyncThread:N` thread. Appends each txn to the
//! transaction log and group-commits: it keeps appending while requests are
//! queued and fsyncs once when the queue runs dry or the batch reaches
//! zookeeper.maxBatchSize, then hands the batch, in order, to the next
//! processor. Requests without a txn pass straight through when nothing is
//! waiting for a flush, else queue behind the batch to keep order.

use crate::server::request::Request;
use crate::server::request_processor::RequestProcessor;
use crate::server::zoo_keeper_server::ZooKeeperServer;
use crossbeam_channel::{unbounded, Receiver, Sender, TryRecvError};
use parking_lot::Mutex;
use std::sync::Arc;
use std::thread::JoinHandle;

/// ExitCode.UNEXPECTED_ERROR: a critical thread failed.
const EXIT_UNEXPECTED_ERROR: i32 = 1;

pub struct SyncRequestProcessor {
    queued: Sender<Option<Request>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    next: Arc<dyn RequestProcessor>,
}

impl SyncRequestProcessor {
    pub fn start(zks: Arc<ZooKeeperServer>, next: Arc<dyn RequestProcessor>) -> std::io::Result<Arc<Self>> {
        let (tx, rx) = unbounded();
        let n = Arc::clone(&next);
        let name = format!("SyncThread:{}", zks.settings.server_id);
        let h = std::thread::Builder::new().name(name).spawn(move || run(zks, n, rx))?;
        Ok(Arc::new(SyncRequestProcessor { queued: tx, thread: Mutex::new(Some(h)), next }))
    }
}

impl RequestProcessor for SyncRequestProcessor {
    fn process_request(&self, request: Request) {
        let _ = self.queued.send(Some(request));
    }

    fn shutdown(&self) {
        let _ = self.queued.send(None);
        if let Some(h) = self.thread.lock().take() {
            let _ = h.join();
        }
        self.next.shutdown();
    }
}

fn flush(zks: &ZooKeeperServer, next: &Arc<dyn RequestProcessor>, to_flush: &mut Vec<Request>) -> bool {
    if to_flush.is_empty() {
        return true;
    }
    if let Err(e) = zks.zk_db().commit() {
        // Nothing in this batch is durable: acknowledging it would lie.
        tracing::error!("Severe unrecoverable error, exiting: fsync of the transaction log failed: {e}");
        return false;
    }
    for r in to_flush.drain(..) {
        next.process_request(r);
    }
    true
}

fn run(zks: Arc<ZooKeeperServer>, next: Arc<dyn RequestProcessor>, rx: Receiver<Option<Request>>) {
    let max_batch = zks.settings.max_batch_size.max(1);
    let mut to_flush: Vec<Request> = Vec::new();
    loop {
        let item = if to_flush.is_empty() {
            match rx.recv() {
                Ok(i) => i,
                Err(_) => break,
            }
        } else {
            match rx.try_recv() {
                Ok(i) => i,
                Err(TryRecvError::Empty) => {
                    if !flush(&zks, &next, &mut to_flush) {
                        std::process::exit(EXIT_UNEXPECTED_ERROR);
                    }
                    continue;
                }
                Err(TryRecvError::Disconnected) => break,
            }
        };
        let Some(req) = item else { break };
        match req.log_entry() {
            Some(entry) => match zks.zk_db().append(&entry) {
                Ok(_) => to_flush.push(req),
                Err(e) => {
                    tracing::error!("Severe unrecoverable error, exiting: cannot append to the transaction log: {e}");
                    std::process::exit(EXIT_UNEXPECTED_ERROR);
                }
            },
            None => {
                if to_flush.is_empty() {
                    next.process_request(req);
                } else {
                    to_flush.push(req);
                }
                continue;
            }
        }
        if to_flush.len() >= max_batch && !flush(&zks, &next, &mut to_flush) {
            std::process::exit(EXIT_UNEXPECTED_ERROR);
        }
    }
    if !flush(&zks, &next, &mut to_flush) {
        std::process::exit(EXIT_UNEXPECTED_ERROR);
    }
    tracing::info!("SyncRequestProcessor exited!");
}
