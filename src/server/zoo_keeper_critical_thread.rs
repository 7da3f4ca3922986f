//! ZooKeeperCriticalThread: starts the threads the server cannot live
//! without (every thread of the server: the request processors, the
//! SessionTracker, the QuorumPeer and its election and replication
//! threads, the NIO threads and worker pools). A panic in one of them
//! logs "Severe unrecoverable error" with the thread's name and ends the
//! whole process with Java's ExitCode.UNEXPECTED_ERROR, so a supervisor
//! restarts it instead of it staying half alive, accepting work that
//! nobody drains.

use crate::server::exit_code;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread::JoinHandle;


/// Spawns thread `name` running `f`; a panic in `f` ends the process.
pub fn spawn<F, T>(name: String, f: F) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let thread_name = name.clone();
    std::thread::Builder::new().name(name).spawn(move || match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            tracing::error!("Severe unrecoverable error, from thread : {thread_name}: {why}");
            crate::server::server_metrics::metrics().unrecoverable_error_count.inc();
            tracing::info!("Thread {thread_name} exits, error code {}", exit_code::UNEXPECTED_ERROR);
            exit_code::exit(exit_code::UNEXPECTED_ERROR);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Set in the child process the test below starts.
    const CHILD: &str = "ZKSERVER_CRITICAL_THREAD_CHILD";

    /// Runs in a child process only: a critical thread panics.
    #[test]
    fn panicking_child() {
        if std::env::var_os(CHILD).is_none() {
            return;
        }
        let h = spawn("ProcessThread".into(), || panic!("boom in the processor")).expect("spawn");
        let _ = h.join();
        // Not reached: the panic ends the process with exit code 1.
        std::process::exit(0);
    }

    /// The test binary runs `panicking_child` again in a child process, and
    /// that process must end with exit code 1 and say which thread failed.
    #[test]
    fn a_panic_in_a_critical_thread_ends_the_process_with_java_s_code() {
        let exe = std::env::current_exe().expect("current_exe");
        let out = std::process::Command::new(exe)
            .args(["--exact", "server::zoo_keeper_critical_thread::tests::panicking_child", "--nocapture"])
            .env(CHILD, "1")
            .env("RUST_LOG", "info")
            .output()
            .expect("run the child");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(i32::from(exit_code::UNEXPECTED_ERROR)), "{text}");
        assert!(text.contains("boom in the processor"), "{text}");
    }
}
