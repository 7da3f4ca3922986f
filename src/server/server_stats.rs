//! ServerStats: the request counters and latency figures that `srvr`,
//! `stat` and `mntr` report. Updated by the FinalRequestProcessor (latency)
//! and the connection workers (packets); read by four-letter-word workers.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Request latencies: count, total, min and max, each a relaxed atomic
/// (no lock on the reply path).
struct Latency {
    count: AtomicU64,
    total: AtomicU64,
    min: AtomicU64,
    max: AtomicU64,
}

impl Latency {
    fn new() -> Latency {
        Latency { count: AtomicU64::new(0), total: AtomicU64::new(0), min: AtomicU64::new(u64::MAX), max: AtomicU64::new(0) }
    }

    fn reset(&self) {
        self.count.store(0, Ordering::Relaxed);
        self.total.store(0, Ordering::Relaxed);
        self.min.store(u64::MAX, Ordering::Relaxed);
        self.max.store(0, Ordering::Relaxed);
    }
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
    latency: Latency,
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
            latency: Latency::new(),
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
        let l = &self.latency;
        if ms < l.min.load(Ordering::Relaxed) {
            l.min.fetch_min(ms, Ordering::Relaxed);
        }
        if ms > l.max.load(Ordering::Relaxed) {
            l.max.fetch_max(ms, Ordering::Relaxed);
        }
        l.total.fetch_add(ms, Ordering::Relaxed);
        l.count.fetch_add(1, Ordering::Relaxed);
    }

    /// (min, avg, max) in ms, as Java prints them (avg with a fraction).
    pub fn latency(&self) -> (u64, f64, u64) {
        let (total, count) = self.latency_total_and_count();
        if count == 0 {
            return (0, 0.0, 0);
        }
        let min = self.latency.min.load(Ordering::Relaxed);
        (min.min(self.latency.max.load(Ordering::Relaxed)), total as f64 / count as f64, self.latency.max.load(Ordering::Relaxed))
    }

    pub fn latency_total_and_count(&self) -> (u64, u64) {
        (self.latency.total.load(Ordering::Relaxed), self.latency.count.load(Ordering::Relaxed))
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
        self.latency.reset();
    }
}

impl Default for ServerStats {
    fn default() -> ServerStats {
        ServerStats::new()
    }
}
