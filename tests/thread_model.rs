//! The server's threads mirror the Java server's, by name: what
//! `ls /proc/<pid>/task/*/comm` shows. Under ZK_TEST_SERVER=java the same
//! check reads the JVM's (truncated) names of the twin threads.

mod common;

use common::{flavor, Flavor, TestServer};
use std::collections::BTreeSet;

fn thread_names(pid: u32) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/task")).expect("task dir").flatten() {
        if let Ok(n) = std::fs::read_to_string(e.path().join("comm")) {
            names.insert(n.trim().to_string());
        }
    }
    names
}

#[test]
fn threads_are_named_after_their_java_twins() {
    let s = TestServer::start_default();
    // one session so every per-connection path has run once
    let c = s.client();
    c.exists("/", false).unwrap();
    let pid = s.pid().expect("server pid");
    let names = thread_names(pid);
    let expected: &[&str] = match flavor() {
        Flavor::Zkserver => &[
            "NIOAcceptThread",
            "NIOSelector-0",
            "NIOWorker-0",
            "CnxnExpirer",
            "SessionTracker",
            "ReqThrottler",
            "ProcessThread",
            "SyncThread:0",
        ],
        // Linux keeps the first 15 bytes of the JVM's thread names.
        Flavor::Java => &["NIOServerCxnFac", "SessionTracker", "RequestThrottle", "ProcessThread(s", "SyncThread:0"],
    };
    for want in expected {
        assert!(names.contains(*want), "no thread named {want:?} in {names:?}");
    }
    if flavor() == Flavor::Zkserver {
        let workers = names.iter().filter(|n| n.starts_with("NIOWorker-")).count();
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        assert_eq!(workers, 2 * cores, "2 x ncpu workers: {names:?}");
        let selectors = names.iter().filter(|n| n.starts_with("NIOSelector-")).count();
        let want = ((cores as f64 / 2.0).sqrt() as usize).max(1);
        assert_eq!(selectors, want, "max(1, sqrt(ncpu/2)) selectors: {names:?}");
    }
    c.close().unwrap();
}
