//! scripts/zkServer.sh, as an operator runs it: start, status, stop and
//! restart of a real zkserver process, its pid file and rolled log, and
//! `status` answering exactly as Debian's Java zkServer.sh answers about
//! the same server.

mod common;

use common::{four_letter, free_port, wait_until};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// A configuration directory and the environment the script reads.
struct Service {
    dir: tempfile::TempDir,
    port: u16,
    jvm_flags: String,
}

impl Service {
    fn new(cfg: impl FnOnce(&Path, u16) -> String) -> Service {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        std::fs::create_dir_all(dir.path().join("conf")).expect("conf dir");
        std::fs::write(dir.path().join("conf/zoo.cfg"), cfg(dir.path(), port)).expect("zoo.cfg");
        Service { dir, port, jvm_flags: String::new() }
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("conf")
    }

    fn logs(&self) -> PathBuf {
        self.dir.path().join("logs")
    }

    fn run(&self, args: &[&str]) -> Output {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/zkServer.sh");
        Command::new(script)
            .args(args)
            .env("ZOOCFGDIR", self.conf())
            .env("ZOO_LOG_DIR", self.logs())
            .env("ZOO_LOG_FILE", "zk.log")
            .env("ZKSERVER_BIN", env!("CARGO_BIN_EXE_zkserver"))
            .env("SERVER_JVMFLAGS", &self.jvm_flags)
            .output()
            .expect("run zkServer.sh")
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.path().join("data/zookeeper_server.pid")
    }

    fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.pid_file()).ok()?.trim().parse().ok()
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            // SAFETY: kill(2) with a pid this test started.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

/// What Debian's Java zkServer.sh prints for `status` of this zoo.cfg.
fn java_status(cfg: &Path) -> Output {
    Command::new("/usr/share/zookeeper/bin/zkServer.sh")
        .args(["status", cfg.to_str().expect("utf-8 path")])
        .output()
        .expect("Debian's zkServer.sh (apt-get install zookeeper)")
}

fn standalone_cfg(dir: &Path, port: u16) -> String {
    format!("tickTime=2000\ndataDir={}/data\nclientPort={port}\nadmin.enableServer=false\n", dir.display())
}

#[test]
fn start_status_restart_stop() {
    let mut svc = Service::new(standalone_cfg);
    svc.jvm_flags = "-Xmx512m -Dzookeeper.log.maxfilesize=1KB -Dzookeeper.log.maxbackupindex=2".into();
    let started = svc.run(&["start"]);
    assert!(started.status.success() && stdout(&started).contains("STARTED"), "{started:?}");
    assert!(String::from_utf8_lossy(&started.stderr).contains("JVM flag -Xmx512m has no meaning for zkserver"));
    let pid = svc.pid().expect("pid file");
    assert!(wait_until(Duration::from_secs(30), || four_letter(&svc.addr(), "srvr").is_ok()), "not serving");

    let status = svc.run(&["status"]);
    assert!(status.status.success(), "{status:?}");
    let expected = format!("Client port found: {}. Client address: localhost. Client SSL: false.\nMode: standalone\n", svc.port);
    assert_eq!(stdout(&status), expected);
    let java = java_status(&svc.conf().join("zoo.cfg"));
    assert_eq!(stdout(&java), expected, "Debian's zkServer.sh says otherwise: {java:?}");

    // A second start refuses while the first runs.
    let again = svc.run(&["start"]);
    assert!(!again.status.success() && stdout(&again).contains(&format!("already running as process {pid}")));

    // The log is a file rolled at 1 KB with two backups.
    let log = svc.logs().join("zk.log");
    assert!(wait_until(Duration::from_secs(30), || svc.logs().join("zk.log.2").exists()), "no rolled log");
    assert!(!svc.logs().join("zk.log.3").exists());
    assert!(std::fs::metadata(&log).expect("zk.log").len() <= 4096);

    let restarted = svc.run(&["restart"]);
    assert!(restarted.status.success(), "{restarted:?}");
    assert!(!alive(pid), "the old process outlived restart");
    let new_pid = svc.pid().expect("pid file after restart");
    assert!(wait_until(Duration::from_secs(30), || svc.run(&["status"]).status.success()), "not serving after restart");

    let stopped = svc.run(&["stop"]);
    assert!(stopped.status.success() && stdout(&stopped).contains("STOPPED"), "{stopped:?}");
    assert!(!alive(new_pid), "stop returned before the server exited");
    assert!(!svc.pid_file().exists());
    let status = svc.run(&["status"]);
    assert_eq!(status.status.code(), Some(1));
    assert!(stdout(&status).ends_with("Error contacting service. It is probably not running.\n"));
    let java = java_status(&svc.conf().join("zoo.cfg"));
    assert_eq!((stdout(&java), java.status.code()), (stdout(&status), Some(1)));
}

/// The client port given only on the server's own `server.N` line, as a
/// dynamic-config style zoo.cfg has it: both scripts find it through myid.
#[test]
fn status_finds_the_port_on_the_server_line() {
    let svc = Service::new(|dir, port| {
        std::fs::create_dir_all(dir.join("data")).expect("data dir");
        std::fs::write(dir.join("data/myid"), "1\n").expect("myid");
        format!(
            "tickTime=2000\ndataDir={}/data\nadmin.enableServer=false\nserver.1=127.0.0.1:{}:{};127.0.0.1:{port}\n",
            dir.display(),
            free_port(),
            free_port()
        )
    });
    let started = svc.run(&["start"]);
    assert!(started.status.success(), "{started:?}");
    assert!(wait_until(Duration::from_secs(30), || four_letter(&svc.addr(), "srvr").is_ok()), "not serving");
    let ours = svc.run(&["status"]);
    let java = java_status(&svc.conf().join("zoo.cfg"));
    assert!(ours.status.success(), "{ours:?}");
    assert!(stdout(&ours).contains(&format!("Client port found: {}. Client address: 127.0.0.1.", svc.port)), "{ours:?}");
    assert_eq!(stdout(&ours), stdout(&java));
    assert!(svc.run(&["stop"]).status.success());
}

#[test]
fn a_bad_configuration_fails_to_start() {
    let svc = Service::new(|dir, port| format!("tickTime=zero\ndataDir={}/data\nclientPort={port}\n", dir.display()));
    let started = svc.run(&["start"]);
    assert_eq!(started.status.code(), Some(1), "{started:?}");
    assert!(stdout(&started).contains("FAILED TO START"), "{started:?}");
    assert!(!svc.pid_file().exists());
    let out = std::fs::read_dir(svc.logs())
        .expect("log dir")
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".out"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .unwrap_or_default();
    assert!(out.contains("tickTime"), "the .out file does not say why: {out}");
}
