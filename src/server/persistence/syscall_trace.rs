//! Test support: the file-system calls one thread makes, as strace(1) sees
//! them, so tests can check that a directory is fsynced after a file in it
//! is created, renamed or removed (nothing else makes that observable short
//! of pulling the power).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// Runs `f` on this thread with strace attached to it alone and returns
/// `f`'s result and the calls it made, one strace line each (`-y`: file
/// descriptors shown with their paths).
pub(crate) fn traced<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    let out = tempfile::NamedTempFile::new().expect("strace output file");
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    let mut strace = Command::new("strace")
        .args(["-y", "-e", "trace=openat,fsync,fdatasync,rename,renameat,renameat2,unlink,unlinkat,ftruncate"])
        .arg("-o")
        .arg(out.path())
        .args(["-p", &tid.to_string()])
        .stderr(Stdio::piped())
        .spawn()
        .expect("these tests need strace(1) installed");
    // strace says "Process N attached" once it traces the thread.
    let mut stderr = BufReader::new(strace.stderr.take().expect("piped"));
    let mut line = String::new();
    while !line.contains("attached") {
        line.clear();
        let n = stderr.read_line(&mut line).expect("strace's stderr");
        assert!(n > 0, "strace could not attach to thread {tid}");
    }
    let result = f();
    // SIGINT makes strace detach and exit.
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(strace.id() as libc::pid_t, libc::SIGINT) };
    strace.wait().expect("strace exits");
    let text = std::fs::read_to_string(out.path()).expect("strace output");
    (result, text.lines().map(str::to_owned).collect())
}

/// Asserts that after the last call in `calls` that `changed` (a rename,
/// unlink, creating openat, ...) a directory fsync of `dir` follows.
#[track_caller]
pub(crate) fn assert_dir_synced_after(calls: &[String], changed: impl Fn(&str) -> bool, dir: &std::path::Path) {
    let Some(at) = calls.iter().rposition(|c| changed(c)) else {
        panic!("no such call among:\n{}", calls.join("\n"));
    };
    let dir = dir.canonicalize().expect("the directory exists");
    let dir_fd = format!("<{}>)", dir.display());
    assert!(
        calls[at + 1..].iter().any(|c| c.starts_with("fsync(") && c.contains(&dir_fd)),
        "{} is not fsynced after `{}`; calls:\n{}",
        dir.display(),
        calls[at],
        calls.join("\n")
    );
}
