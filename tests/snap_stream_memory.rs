//! Issue 10, item 9: a learner takes in a SNAP stream record by record,
//! never holding the stream whole. This binary counts every heap byte (its
//! own global allocator) and reads a 32 MiB snapshot stream into a
//! database: the heap's peak during the read may exceed what the read
//! leaves allocated (the new tree, not yet installed) by about one record,
//! not by the snapshot's size, as it did when the stream was buffered
//! before the tree was built.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use zkserver::jute::txn::{CreateTxn, TxnBody, TxnHeader};
use zkserver::jute::StreamInput;
use zkserver::server::persistence::file_txn_snap_log::FileTxnSnapLog;
use zkserver::server::zk_database::{TxnLogSettings, ZkDatabase};
use zkserver::zoo_defs::{ids, op_code};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let now = CURRENT.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= layout.size() {
            grew(new_size - layout.size());
        } else {
            CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const MIB: usize = 1 << 20;

fn database(dir: &std::path::Path) -> ZkDatabase {
    let db = ZkDatabase::new(FileTxnSnapLog::new(dir, dir).unwrap(), false, true);
    let settings =
        TxnLogSettings { pre_alloc_size: 0, force_sync: false, fsync_warning_threshold_ms: 1000, snapshot_trust_empty: false, snapshot_compression: Default::default() };
    db.load_database(settings).unwrap();
    db
}

#[test]
fn a_snap_stream_is_never_held_whole() {
    const NODES: usize = 128;
    const DATA: usize = 256 * 1024;
    let (leader_dir, learner_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // The leader's stream (32 MiB of node data), made and then its tree
    // dropped, so only the stream's bytes stay allocated.
    let stream = {
        let leader = database(leader_dir.path());
        for i in 0..NODES {
            let hdr = TxnHeader { client_id: 1, cxid: i as i32, zxid: i as i64 + 1, time: 5, r#type: op_code::CREATE };
            let txn = TxnBody::Create(CreateTxn {
                path: format!("/n{i}"),
                data: Some(vec![(i % 251) as u8; DATA]),
                acl: ids::open_acl_unsafe(),
                ephemeral: false,
                parent_c_version: i as i32 + 1,
            });
            leader.process_txn(&hdr, Some(&txn), None);
        }
        let mut out = Vec::new();
        leader.serialize_snapshot(&mut out).unwrap();
        out.extend_from_slice(&[0, 0, 0, 10]);
        out.extend_from_slice(b"BenWasHere");
        out
    };
    assert!(stream.len() > NODES * DATA);
    let learner = database(learner_dir.path());

    let mut r = &stream[..];
    let before = CURRENT.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let snapshot = learner.read_snapshot_stream(&mut r).unwrap();
    let (after, peak) = (CURRENT.load(Ordering::Relaxed), PEAK.load(Ordering::Relaxed));
    assert_eq!(StreamInput::new(&mut r).read_string().unwrap(), "BenWasHere");
    learner.install_snapshot(snapshot, NODES as i64).unwrap();
    assert_eq!(learner.data_tree().get_data("/n100", None).unwrap().0, Some(vec![100; DATA]));

    let (kept, transient) = (after - before, peak - after);
    eprintln!(
        "SNAP stream of {:.1} MiB: the read kept {:.1} MiB (the new tree) and held at most {:.2} MiB more meanwhile",
        stream.len() as f64 / MIB as f64,
        kept as f64 / MIB as f64,
        transient as f64 / MIB as f64
    );
    assert!(kept >= NODES * DATA, "the tree holds the data ({kept} bytes)");
    assert!(transient < 2 * MIB, "the read held {transient} bytes beyond the tree: the stream was buffered");
}
