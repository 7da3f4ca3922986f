//! Environment: the process's facts that the `envi` word, the admin command
//! environment and the start-up log print, in Java's keys and order. Where
//! Java reports a JVM fact, zkserver reports its own nearest one:
//! - `java.version` and `java.vendor`: the Rust compiler that built it;
//! - `java.home`: the directory holding the executable, `java.class.path`
//!   the executable itself, `java.library.path` `LD_LIBRARY_PATH`;
//! - `os.memory.total`: the resident set (the memory the process holds, as
//!   the JVM's total heap is), `os.memory.max`: the most it may hold (the
//!   cgroup's memory.max, else the machine's memory), `os.memory.free`: what
//!   it could still take (max less total, capped by the machine's
//!   MemAvailable), all in whole MB as Java prints them.
//! Read on the calling thread (a worker, the admin server's, or main at
//! start-up, which logs them as Java's "Server environment:" lines).

use std::path::Path;

/// Java's value for a fact it cannot find.
const NA: &str = "<NA>";

/// Environment.list: each fact, in Java's order.
pub fn list() -> Vec<(&'static str, String)> {
    let (os, release, arch) = uname();
    let (user, home) = passwd_entry();
    let exe = std::env::current_exe().ok();
    let memory = Memory::read();
    vec![
        ("zookeeper.version", crate::server::command::full_version()),
        ("host.name", read_trimmed("/proc/sys/kernel/hostname").unwrap_or_else(|| NA.into())),
        ("java.version", env!("ZKSERVER_RUSTC_VERSION").to_string()),
        ("java.vendor", "The Rust Project (rustc)".to_string()),
        ("java.home", exe.as_deref().and_then(Path::parent).map_or_else(|| NA.into(), |p| p.display().to_string())),
        ("java.class.path", exe.as_deref().map_or_else(|| NA.into(), |p| p.display().to_string())),
        ("java.library.path", std::env::var("LD_LIBRARY_PATH").unwrap_or_else(|_| NA.into())),
        ("java.io.tmpdir", std::env::temp_dir().display().to_string()),
        ("java.compiler", NA.into()),
        ("os.name", os),
        ("os.arch", arch),
        ("os.version", release),
        ("user.name", user.unwrap_or_else(|| std::env::var("USER").unwrap_or_else(|_| NA.into()))),
        ("user.home", home.unwrap_or_else(|| std::env::var("HOME").unwrap_or_else(|_| NA.into()))),
        ("user.dir", std::env::current_dir().map_or_else(|_| NA.into(), |p| p.display().to_string())),
        ("os.memory.free", format!("{}MB", memory.free / MB)),
        ("os.memory.max", format!("{}MB", memory.max / MB)),
        ("os.memory.total", format!("{}MB", memory.total / MB)),
    ]
}

const MB: u64 = 1024 * 1024;

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn c_string(b: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = b.iter().take_while(|c| **c != 0).map(|c| *c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// os.name, os.version and os.arch, from uname(2).
fn uname() -> (String, String, String) {
    // SAFETY: utsname is plain bytes; all zeroes is a valid value.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uname fills the struct we own.
    if unsafe { libc::uname(&mut u) } != 0 {
        return (NA.into(), NA.into(), NA.into());
    }
    (c_string(&u.sysname), c_string(&u.release), c_string(&u.machine))
}

/// The effective user's name and home directory from the password
/// database, as the JVM reads user.name and user.home.
fn passwd_entry() -> (Option<String>, Option<String>) {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: passwd is plain data; all zeroes is a valid value.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer refers to memory we own for the whole call, and
    // buf's length is passed with it.
    let rc = unsafe { libc::getpwuid_r(libc::geteuid(), &mut pw, buf.as_mut_ptr(), buf.len(), &mut found) };
    if rc != 0 || found.is_null() {
        return (None, None);
    }
    // SAFETY: on success pw_name and pw_dir point at NUL-terminated strings
    // inside buf, which is still alive.
    let field = |p: *const libc::c_char| {
        (!p.is_null()).then(|| unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy().into_owned())
    };
    (field(pw.pw_name), field(pw.pw_dir))
}

/// The memory figures, in bytes.
struct Memory {
    free: u64,
    max: u64,
    total: u64,
}

impl Memory {
    fn read() -> Memory {
        let total = resident_bytes();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let machine = meminfo_kib(&meminfo, "MemTotal:").map(|k| k * 1024);
        let available = meminfo_kib(&meminfo, "MemAvailable:").map_or(u64::MAX, |k| k * 1024);
        let cgroup = read_trimmed("/sys/fs/cgroup/memory.max").and_then(|s| s.parse::<u64>().ok());
        let max = match (cgroup, machine) {
            (Some(c), Some(m)) => c.min(m),
            (c, m) => c.or(m).unwrap_or(total),
        };
        Memory { free: max.saturating_sub(total).min(available), max, total }
    }
}

/// A `Key:   123 kB` line of /proc/meminfo, in KiB.
fn meminfo_kib(meminfo: &str, key: &str) -> Option<u64> {
    meminfo.lines().find_map(|l| l.strip_prefix(key))?.split_whitespace().next()?.parse().ok()
}

/// The resident set size of this process, in bytes.
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(0) as u64;
    pages * page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_facts_are_the_processs_own() {
        let facts = list();
        let get = |k: &str| facts.iter().find(|(key, _)| *key == k).map(|(_, v)| v.clone()).unwrap();
        assert!(get("java.version").starts_with("rustc "), "{}", get("java.version"));
        assert_eq!(get("os.name"), "Linux");
        let exe = std::env::current_exe().unwrap();
        assert_eq!(get("java.class.path"), exe.display().to_string());
        assert_eq!(get("java.home"), exe.parent().unwrap().display().to_string());
        let mb = |k: &str| get(k).strip_suffix("MB").unwrap().parse::<u64>().unwrap();
        assert!(mb("os.memory.total") > 0, "a running test holds memory");
        assert!(mb("os.memory.max") >= mb("os.memory.total"));
        assert!(mb("os.memory.free") <= mb("os.memory.max") - mb("os.memory.total"));
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            assert_eq!((get("user.name"), get("user.home")), ("root".to_string(), "/root".to_string()));
        }
    }

    #[test]
    fn meminfo_lines_read_as_kib() {
        let m = "MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   2000 kB\n";
        assert_eq!(meminfo_kib(m, "MemTotal:"), Some(24_000_000));
        assert_eq!(meminfo_kib(m, "MemAvailable:"), Some(2000));
        assert_eq!(meminfo_kib(m, "Missing:"), None);
    }
}
