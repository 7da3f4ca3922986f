//! The snapshot a leader streams after SNAP, as a learner takes it in:
//! `ZkDatabase::read_snapshot_stream` straight off the stream (sessions,
//! ACL table, nodes, one record at a time) into an empty database, the
//! signature string after it, then `install_snapshot`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use zkserver::jute::{read_limit, StreamInput};
use zkserver_fuzz::{empty_database, set_alloc_limit};

fuzz_target!(|data: &[u8]| {
    // A learner reads every length within the jute read limit.
    set_alloc_limit(read_limit() + 64 * 1024);
    let db = empty_database();
    let mut stream = data;
    if let Ok(snapshot) = db.read_snapshot_stream(&mut stream) {
        if StreamInput::new(&mut stream).read_string().is_ok() {
            let _ = db.install_snapshot(snapshot, 1);
        }
    }
});
