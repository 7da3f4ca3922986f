//! A snapshot file (snapshot.<zxid>) as the server restores it:
//! `file_snap::load` into an empty tree. An input that starts with the
//! gzip or snappy-java magic is stored as `snapshot.1.gz` or
//! `snapshot.1.snappy`, so the decompressors are fuzzed too.

#![no_main]

use libfuzzer_sys::fuzz_target;
use zkserver::server::data_tree::DataTree;
use zkserver::server::persistence::file_snap;
use zkserver::jute::read_limit;
use zkserver_fuzz::{scratch_dir, set_alloc_limit};

/// At most how many bytes one input byte may stand for once decompressed:
/// deflate's limit (258 bytes from a 2-bit code) rounded up; snappy-java's
/// blocks are held to 32 by the reader.
const MAX_EXPANSION: usize = 1032;

fuzz_target!(|data: &[u8]| {
    // The reader's window (1 MiB) grows only for a file larger than it;
    // records are within the jute read limit. A compressed file may hold
    // far more than its size, and the window and the session map grow
    // with what it really holds, so the bound scales with that (still no
    // allocation sized by a length field).
    let (name, bound) = if data.starts_with(&[0x1f, 0x8b]) {
        ("snapshot.1.gz", data.len() * MAX_EXPANSION * 4)
    } else if data.starts_with(b"\x82SNAPPY\0") {
        ("snapshot.1.snappy", data.len() * 32 * 4)
    } else {
        ("snapshot.1", 0)
    };
    set_alloc_limit((read_limit() + 64 * 1024).max(bound));
    let path = scratch_dir().join(name);
    std::fs::write(&path, data).expect("write the snapshot");
    let _ = file_snap::load(&DataTree::new(), &path);
});
