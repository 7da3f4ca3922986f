//! The snapshot a leader streams after SNAP, as a learner takes it in:
//! `read_snapshot_stream` off the socket, then the tree and sessions
//! deserialized into an empty database (`load_snapshot_stream`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use zkserver::quorum::learner::read_snapshot_stream;
use zkserver::jute::read_limit;
use zkserver_fuzz::{empty_database, set_alloc_limit};

fuzz_target!(|data: &[u8]| {
    // A learner reads every length within the jute read limit.
    set_alloc_limit(read_limit() + 64 * 1024);
    if let Ok(buf) = read_snapshot_stream(&mut &data[..], read_limit()) {
        let _ = empty_database().load_snapshot_stream(&buf, 1);
    }
});
