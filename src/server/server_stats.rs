//! ServerStats: the request counters and latency figures that `srvr`,
//! `stat` and `mntr` report. Updated by the FinalRequestProcessor (latency)
//! and the connection workers (packets); read by four-letter-word workers.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

#[derive(Default)]
struct Latency {
    min: u64,
    max: u64,
    total: u64,
    count: u64,
}

pub struct ServerStats {
    packets_received: AtomicU64,
    packets_sent: AtomicU64,
    fsync_threshold_exceeded: AtomicU64,
    auth_failed: AtomicU64,
    /// BufferStats of the replies sent to clients: last, min, max (-1
    /// until the first).
    last_response_size: AtomicI64,
    min_response_size: AtomicI64,
    max_response_size: AtomicI64,
    latency: Mutex<Latency>,
}

impl ServerStats {
    pub fn new() -> ServerStats {
        ServerStats {
            packets_received: AtomicU64::new(0),
            packets_sent: AtomicU64::new(0),
            fsync_threshold_exceeded: AtomicU64::new(0),
            auth_failed: AtomicU64::new(0),
            last_response_size: AtomicI64::new(-1),
            min_response_size: AtomicI64::new(-1),
            max_response_size: AtomicI64::new(-1),
            latency: Mutex::new(Latency::default()),
        }
    }

    /// incrementAuthFailedCount: an auth packet refused.
    pub fn incr_auth_failed(&self) {
        self.auth_failed.fetch_add(1, Ordering::Relaxed);
    }

    pub fn auth_failed_count(&self) -> u64 {
        self.auth_failed.load(Ordering::Relaxed)
    }

    /// BufferStats.setLastBufferSize: one reply of `size` bytes went to a
    /// client.
    pub fn update_client_response_size(&self, size: i64) {
        self.last_response_size.store(size, Ordering::Relaxed);
        let min = self.min_response_size.load(Ordering::Relaxed);
        if min == -1 || size < min {
            self.min_response_size.store(size, Ordering::Relaxed);
        }
        if size > self.max_response_size.load(Ordering::Relaxed) {
            self.max_response_size.store(size, Ordering::Relaxed);
        }
    }

    /// (last, min, max) reply sizes, -1 before the first.
    pub fn client_response_sizes(&self) -> (i64, i64, i64) {
        (
            self.last_response_size.load(Ordering::Relaxed),
            self.min_response_size.load(Ordering::Relaxed),
            self.max_response_size.load(Ordering::Relaxed),
        )
    }

    pub fn incr_packets_received(&self) {
        self.packets_received.fetch_add(1, Ordering::Relaxed);
    }

    pub fn incr_packets_sent(&self) {
        self.packets_sent.fetch_add(1, Ordering::Relaxed);
    }

    pub fn incr_fsync_threshold_exceeded(&self) {
        self.fsync_threshold_exceeded.fetch_add(1, Ordering::Relaxed);
    }

    pub fn packets_received(&self) -> u64 {
        self.packets_received.load(Ordering::Relaxed)
    }

    pub fn packets_sent(&self) -> u64 {
        self.packets_sent.load(Ordering::Relaxed)
    }

    pub fn fsync_threshold_exceeded(&self) -> u64 {
        self.fsync_threshold_exceeded.load(Ordering::Relaxed)
    }

    /// Records one request's latency in ms (ServerStats.updateLatency).
    /// A request with a txn (a write) also counts in updatelatency, any
    /// other in readlatency (ServerMetrics).
    pub fn update_latency(&self, ms: u64, is_write: bool) {
        let m = crate::server::server_metrics::metrics();
        if is_write {
            m.update_latency.add(ms as i64);
        } else {
            m.read_latency.add(ms as i64);
        }
        let mut l = self.latency.lock();
        if l.count == 0 || ms < l.min {
            l.min = ms;
        }
        if ms > l.max {
            l.max = ms;
        }
        l.total += ms;
        l.count += 1;
    }

    /// (min, avg, max) in ms, as Java prints them (avg with a fraction).
    pub fn latency(&self) -> (u64, f64, u64) {
        let l = self.latency.lock();
        if l.count == 0 {
            return (0, 0.0, 0);
        }
        (l.min, l.total as f64 / l.count as f64, l.max)
    }

    pub fn latency_total_and_count(&self) -> (u64, u64) {
        let l = self.latency.lock();
        (l.total, l.count)
    }

    /// srst: zero the counters.
    pub fn reset(&self) {
        self.packets_received.store(0, Ordering::Relaxed);
        self.packets_sent.store(0, Ordering::Relaxed);
        self.fsync_threshold_exceeded.store(0, Ordering::Relaxed);
        self.auth_failed.store(0, Ordering::Relaxed);
        self.last_response_size.store(-1, Ordering::Relaxed);
        self.min_response_size.store(-1, Ordering::Relaxed);
        self.max_response_size.store(-1, Ordering::Relaxed);
        *self.latency.lock() = Latency::default();
    }
}

impl Default for ServerStats {
    fn default() -> ServerStats {
        ServerStats::new()
    }
}
