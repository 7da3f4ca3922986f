//! The snapshot a leader streams after SNAP, as a learner takes it in:
//! `read_snapshot_stream` off the socket, then the tree and sessions
//! deserialized into an empty database (`load_snapshot_stream`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use zkserver::quorum::learner::read_snapshot_stream;
use zkserver_fuzz::{empty_database, set_alloc_limit, JUTE_MAX_BUFFER};

fuzz_target!(|data: &[u8]| {
    // A learner reads every length within 2 x jute.maxbuffer.
    let max = 2 * JUTE_MAX_BUFFER;
    set_alloc_limit(max + 64 * 1024);
    if let Ok(buf) = read_snapshot_stream(&mut &data[..], max) {
        let _ = empty_database().load_snapshot_stream(&buf, 1, max);
    }
});
