//! A txn-log file (log.<zxid>) as the server replays it: every entry
//! `read_txns` yields, the torn tail included.

#![no_main]

use libfuzzer_sys::fuzz_target;
use zkserver::jute::read_limit;
use zkserver::server::persistence::file_txn_log;
use zkserver_fuzz::{scratch_dir, set_alloc_limit};

fuzz_target!(|data: &[u8]| {
    // An entry is at most the jute read limit.
    set_alloc_limit(read_limit() + 64 * 1024);
    let dir = scratch_dir().join("log");
    std::fs::create_dir_all(&dir).expect("create the log directory");
    std::fs::write(dir.join("log.1"), data).expect("write the log");
    if let Ok(it) = file_txn_log::read_txns(&dir, 0) {
        for entry in it {
            if entry.is_err() {
                break;
            }
        }
    }
});
