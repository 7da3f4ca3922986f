//! What recording the metrics costs a request, bounded from two figures:
//! - nanoseconds per `Counter::inc`, `Summary::add` and `SummarySet::add`
//!   (a key already seen), one thread and two threads updating the same
//!   metric;
//! - how many updates a getData and a setData make, counted on a running
//!   zkserver from its Prometheus /metrics before and after 1000 of each
//!   (counters and summary observation counts, plus one each for the two
//!   byte counters a request moves and the per-namespace set).
//!
//!     cargo bench --bench metrics
//!
//! The product of the two is the recording time per request; the README's
//! Metrics section sets it against the server CPU a request costs.

#[path = "../tests/common/mod.rs"]
mod common;

use common::prometheus::{http_get, metric_updates, parse_exposition, prometheus_server};
use std::hint::black_box;
use std::net::TcpStream;
use std::time::{Duration, Instant};
use zkserver::server::metrics::{Counter, DetailLevel, Summary, SummarySet};
use zkserver::zoo_defs::{ids, CreateMode};

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

/// Updates per getData and per setData, counted on a running server.
fn updates_per_request() -> (f64, f64) {
    let (server, port) = prometheus_server();
    assert!(common::wait_until(Duration::from_secs(30), || TcpStream::connect(("127.0.0.1", port)).is_ok()));
    let c = server.client();
    c.create("/n", Some(b"v"), &ids::open_acl_unsafe(), CreateMode::Persistent).expect("create");
    let scrape = || metric_updates(&parse_exposition(&http_get(port, "/metrics").1));
    let per_request = |op: &dyn Fn()| {
        let before = scrape();
        for _ in 0..1000 {
            op();
        }
        // + bytes_received_count and response_bytes (one update each for
        // bytes) and the per-namespace set, which metric_updates leaves out.
        (scrape() - before) / 1000.0 + 3.0
    };
    let reads = per_request(&|| {
        c.get_data("/n", false).expect("get_data");
    });
    let writes = per_request(&|| {
        c.set_data("/n", Some(b"w"), -1).expect("set_data");
    });
    (reads, writes)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        // `cargo test --benches`: nothing to measure.
        return;
    }
    let counter = Counter::new("c");
    let summary = Summary::new("s", DetailLevel::Advanced);
    let set = SummarySet::new("set", DetailLevel::Basic);
    let mut one_thread = (0.0, 0.0, 0.0);
    for threads in [1, 2] {
        let c = time_per_op(threads, |_| counter.inc());
        let s = time_per_op(threads, |i| summary.add(black_box((i & 1023) as i64)));
        let k = time_per_op(threads, |i| set.add(black_box("app"), black_box((i & 1023) as i64)));
        println!(
            "{threads} thread(s): Counter::inc {c:.1} ns, Summary::add {s:.1} ns, SummarySet::add {k:.1} ns (per update, per thread)"
        );
        if threads == 1 {
            one_thread = (c, s, k);
        }
    }
    let (reads, writes) = updates_per_request();
    // The dearest update bounds each one.
    let dearest = one_thread.0.max(one_thread.1).max(one_thread.2);
    println!(
        "updates per request: getData {reads:.1}, setData {writes:.1}; at most {:.2} µs and {:.2} µs of recording",
        reads * dearest / 1000.0,
        writes * dearest / 1000.0
    );
}
