//! The cost of recording a metric on the hot path: nanoseconds per
//! `Counter::inc`, `Summary::add` and `SummarySet::add` (a key already
//! seen), one thread and two threads updating the same metric.
//!
//!     cargo bench --bench metrics
//!
//! Multiplied by the updates a request makes (the README's Metrics section
//! counts them from /metrics), this bounds what the metrics cost a request.

use std::hint::black_box;
use std::time::Instant;
use zkserver::server::metrics::{Counter, DetailLevel, Summary, SummarySet};

const N: u64 = 20_000_000;

fn time_per_op(threads: usize, f: impl Fn(u64) + Sync) -> f64 {
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for i in 0..N {
                    f(i);
                }
            });
        }
    });
    start.elapsed().as_nanos() as f64 / N as f64
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        // `cargo test --benches`: nothing to measure.
        return;
    }
    let counter = Counter::new("c");
    let summary = Summary::new("s", DetailLevel::Advanced);
    let set = SummarySet::new("set", DetailLevel::Basic);
    for threads in [1, 2] {
        let c = time_per_op(threads, |_| counter.inc());
        let s = time_per_op(threads, |i| summary.add(black_box((i & 1023) as i64)));
        let k = time_per_op(threads, |i| set.add(black_box("app"), black_box((i & 1023) as i64)));
        println!(
            "{threads} thread(s): Counter::inc {c:.1} ns, Summary::add {s:.1} ns, SummarySet::add {k:.1} ns (per update, per thread)"
        );
    }
}
