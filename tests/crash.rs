//! Crash safety: kill -9 the server many times in the middle of a stream of
//! writes; after each restart every write that was acknowledged is there
//! (durability: replies only after fsync), with snapshots and log rolls
//! happening along the way.

mod common;

use common::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zkserver::zoo_defs::{ids, CreateMode};

#[test]
fn kill_9_mid_stream_loses_no_acknowledged_write() {
    let mut s = TestServer::start(ServerOpts::default().cfg("snapCount", "40"));
    let acked: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    for round in 0..6 {
        let c = s.client();
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let acked = Arc::clone(&acked);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let open = ids::open_acl_unsafe();
                let mut i = 0;
                while !stop.load(Ordering::Acquire) && i < 5000 {
                    let path = format!("/r{round}-{i}");
                    match c.create(&path, Some(path.as_bytes()), &open, CreateMode::Persistent) {
                        Ok(_) => acked.lock().unwrap().push(path),
                        Err(_) => break, // the server died under us
                    }
                    i += 1;
                }
            })
        };
        // Let a varying number of writes through, then pull the plug.
        let target = 30 + round * 25;
        let base = acked.lock().unwrap().len();
        assert!(
            wait_until(Duration::from_secs(30), || acked.lock().unwrap().len() >= base + target),
            "writes are acknowledged"
        );
        s.kill9();
        stop.store(true, Ordering::Release);
        writer.join().unwrap();
        s.start_again();
        let c = s.client();
        let acked_now = acked.lock().unwrap().clone();
        for p in &acked_now {
            let (data, _) = c.get_data(p, false).unwrap_or_else(|e| panic!("round {round}: acknowledged {p} lost: {e}"));
            assert_eq!(data.as_deref(), Some(p.as_bytes()));
        }
        c.close().unwrap();
    }
}
