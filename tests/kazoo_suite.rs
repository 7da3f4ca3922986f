//! kazoo's own test suite (Debian's python3-kazoo, run with pytest) against
//! 3-node zkserver ensembles. kazoo's harness starts its ensembles itself
//! with `java ... QuorumPeerMain zoo.cfg`; a stand-in `java` on its PATH
//! (tests/fixtures/java-shim.sh) runs zkserver with the same zoo.cfg
//! and -D properties instead. Every test must pass (kazoo skips three of
//! its own: two need a server it cannot start here, one an old version).
//! Java 3.8.0 fails test_read_only under the same harness.

mod common;

use common::wait_until;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const PYTHON: &str = "/usr/bin/python3";
const KAZOO_TESTS: &str = "/usr/lib/python3/dist-packages/kazoo/tests";

/// Stops every server the shim started that is still running.
struct ShimServers(std::path::PathBuf);

impl Drop for ShimServers {
    fn drop(&mut self) {
        let pids = std::fs::read_to_string(&self.0).unwrap_or_default();
        for pid in pids.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            // SAFETY: kill has no memory preconditions; a pid that already
            // exited (or was reused by nothing of ours) just fails.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

#[test]
fn kazoos_own_suite_passes_on_zkserver_ensembles() {
    for module in ["kazoo", "pytest", "mock", "objgraph"] {
        let ok = Command::new(PYTHON).args(["-c", &format!("import {module}")]).status().is_ok_and(|s| s.success());
        assert!(ok, "{PYTHON} cannot import {module}: apt-get install -y python3-kazoo python3-pytest python3-mock python3-objgraph");
    }
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let shim = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/java-shim.sh");
    std::fs::copy(&shim, bin.join("java")).unwrap();
    let pids = dir.path().join("pids");
    let _servers = ShimServers(pids.clone());
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut child = Command::new(PYTHON)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE", KAZOO_TESTS])
        .current_dir(dir.path())
        .env("PATH", path)
        .env("ZKSERVER_BIN", env!("CARGO_BIN_EXE_zkserver"))
        .env("JAVA_SHIM_PIDS", &pids)
        // The harness wants a version and a class path; the shim ignores
        // the class path.
        .env("ZOOKEEPER_VERSION", "3.8.0")
        .env("ZOOKEEPER_CLASSPATH", "/usr/share/java/zookeeper.jar")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run pytest");
    let out_file = child.stdout.take().unwrap();
    let err_file = child.stderr.take().unwrap();
    let stdout = std::thread::spawn(move || std::io::read_to_string(out_file).unwrap_or_default());
    let stderr = std::thread::spawn(move || std::io::read_to_string(err_file).unwrap_or_default());
    // The suite takes about four minutes here; a hang fails it.
    let finished = wait_until(Duration::from_secs(1200), || child.try_wait().is_ok_and(|s| s.is_some()));
    if !finished {
        let _ = child.kill();
    }
    let status = child.wait().expect("wait for pytest");
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let summary: Vec<&str> =
        stdout.lines().filter(|l| l.starts_with("FAILED") || l.starts_with("ERROR") || l.contains(" passed")).collect();
    assert!(
        finished && status.success(),
        "kazoo's suite failed ({status}, finished: {finished}):\n{}\n--- last output ---\n{}\n{}",
        summary.join("\n"),
        stdout.lines().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n"),
        stderr.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n"),
    );
}
