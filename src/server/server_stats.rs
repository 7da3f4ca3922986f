//! ServerStats: the request counters and latency figures that `srvr`,
//! `stat` and `mntr` report. Updated by the FinalRequestProcessor (latency)
//! and the connection workers (packets); read by four-letter-word workers.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
struct Latency {
    min: u64,
    max: u64,
    total: u64,
    count: u64,
}

#[derive(Default)]
pub struct ServerStats {
    packets_received: AtomicU64,
    packets_sent: AtomicU64,
    fsync_threshold_exceeded: AtomicU64,
    latency: Mutex<Latency>,
}

impl ServerStats {
    pub fn new() -> ServerStats {
        ServerStats::default()
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
    pub fn update_latency(&self, ms: u64) {
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
        *self.latency.lock() = Latency::default();
    }
}
