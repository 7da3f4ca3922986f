//! Server processes for the benchmarks: zkserver (the binary cargo built
//! for this bench) or Apache ZooKeeper 3.8 launched the way zkServer.sh
//! launches it, each in its own temp directory on a free 127.0.0.1 port,
//! standalone (`BenchServer`) or as a localhost ensemble (`BenchEnsemble`).
//! Dropping either kills its processes (also when the bench panics), and
//! the kernel kills them if the bench process dies without unwinding.
//!
//! Built on the tests' harness (tests/common/mod.rs, compiled into each
//! bench as `common`) for free ports, four-letter words, children that die
//! with the bench, log tails and /proc readings. The servers themselves
//! stay apart from the tests' `TestServer`: the tests' harness tunes Java
//! for quick start-up (small heap, C1 only, serial GC, the jars it needs),
//! while a benchmark must run Java as it is deployed (Debian's zkEnv.sh
//! class path, zkServer.sh's flags).
//!
//! Each bench uses only part of this module.
#![allow(dead_code)]

use crate::common::{die_with_parent, four_letter_within, free_port, log_tail, JAVA_STARTED};
use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which server a `BenchServer` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Zkserver,
    Java,
    /// zkserver with the Prometheus provider on and /metrics scraped
    /// every second while it runs (ZKBENCH_VERSUS=metrics): the overhead
    /// of the metrics, against plain `Zkserver` in the same run.
    ZkserverMetrics,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Zkserver => "zkserver",
            Kind::Java => "java",
            Kind::ZkserverMetrics => "zkserver+prom",
        }
    }
}

/// The class path of Debian's zkEnv.sh (/etc/zookeeper/conf plus
/// zookeeper.jar, whose manifest names the other jars) with slf4j-simple
/// added: without a binding Java would log nothing, and the bench reads its
/// log when something goes wrong.
pub fn java_class_path() -> Result<String, String> {
    let jars = [
        "/usr/share/java/zookeeper.jar",
        "/usr/share/java/slf4j-simple.jar",
    ];
    for j in jars {
        if !Path::new(j).exists() {
            return Err(format!("{j} is missing: apt-get install -y zookeeper"));
        }
    }
    Ok(format!("/etc/zookeeper/conf:{}", jars.join(":")))
}

/// The JVM flags zkServer.sh passes when started with `start` or
/// `start-foreground`: JMX on and local only (Debian's zkEnv.sh sets
/// JMXLOCALONLY=true), and `-Xmx<heap_mb>m` as upstream zkEnv.sh's
/// ZK_SERVER_HEAP (1000 by default; Debian's zkEnv.sh sets no heap, which
/// leaves the JVM's default of a quarter of RAM).
pub fn java_flags(log_dir: &Path, heap_mb: u32) -> Vec<String> {
    vec![
        format!("-Dzookeeper.log.dir={}", log_dir.display()),
        "-Dzookeeper.log.file=zookeeper-bench-server.log".to_string(),
        "-XX:+HeapDumpOnOutOfMemoryError".to_string(),
        "-XX:OnOutOfMemoryError=kill -9 %p".to_string(),
        format!("-Xmx{heap_mb}m"),
        "-Dcom.sun.management.jmxremote".to_string(),
        "-Dcom.sun.management.jmxremote.local.only=true".to_string(),
    ]
}

/// One server with its own directory (zoo.cfg, dataDir, log) and port.
pub struct BenchServer {
    pub kind: Kind,
    pub port: u16,
    zkserver_bin: PathBuf,
    java_heap_mb: u32,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// Length of the log when the running process was spawned.
    log_start: u64,
    /// The /metrics port (ZkserverMetrics only).
    metrics_port: Option<u16>,
    /// Ends the thread scraping /metrics while the process runs.
    scraper_stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// The TLS client port, once `enable_tls` opened one.
    pub secure_port: Option<u16>,
}

impl BenchServer {
    /// Prepares (does not start) a standalone server: a temp directory
    /// holding zoo.cfg and an empty dataDir. The configuration is the same
    /// for both kinds and leaves forceSync, snapCount and preAllocSize at
    /// their defaults; the AdminServer is off (it would want port 8080) and
    /// `srvr` is whitelisted for the node count.
    /// With `keep` the directory survives the server for inspection.
    pub fn new(
        kind: Kind,
        zkserver_bin: &Path,
        java_heap_mb: u32,
        keep: bool,
    ) -> Result<BenchServer, String> {
        BenchServer::prepare(kind, zkserver_bin, java_heap_mb, keep, free_port(), None)
    }

    /// The directory, dataDir and zoo.cfg of a server on `port`. `member`
    /// makes it a member of an ensemble: its myid and the `server.N` lines
    /// (with the ensemble settings of zoo_sample.cfg) are written too.
    fn prepare(
        kind: Kind,
        zkserver_bin: &Path,
        java_heap_mb: u32,
        keep: bool,
        port: u16,
        member: Option<(u32, &str)>,
    ) -> Result<BenchServer, String> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("zkbench-{}-", kind.name()))
            .disable_cleanup(keep)
            .tempdir()
            .map_err(|e| format!("cannot create a temp dir: {e}"))?;
        let s = BenchServer {
            kind,
            port,
            zkserver_bin: zkserver_bin.to_path_buf(),
            java_heap_mb,
            dir,
            child: None,
            log_start: 0,
            metrics_port: (kind == Kind::ZkserverMetrics).then(free_port),
            scraper_stop: None,
            secure_port: None,
        };
        fs::create_dir_all(s.data_dir()).map_err(|e| format!("cannot create the dataDir: {e}"))?;
        let mut cfg = format!(
            "tickTime=2000\ndataDir={}\nclientPort={}\nadmin.enableServer=false\n4lw.commands.whitelist=srvr\n",
            s.data_dir().display(),
            port
        );
        if let Some(port) = s.metrics_port {
            cfg.push_str(&format!(
                "metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider\n\
                 metricsProvider.httpHost=127.0.0.1\nmetricsProvider.httpPort={port}\n"
            ));
        }
        if let Some((myid, servers)) = member {
            fs::write(s.data_dir().join("myid"), format!("{myid}\n"))
                .map_err(|e| format!("cannot write myid: {e}"))?;
            cfg.push_str("initLimit=10\nsyncLimit=5\n");
            cfg.push_str(servers);
        }
        fs::write(s.cfg_path(), cfg).map_err(|e| format!("cannot write zoo.cfg: {e}"))?;
        Ok(s)
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Adds a TLS client port to the (not yet started) server, with the
    /// same zoo.cfg keys for both kinds: the key store `server.p12` and
    /// trust store `ca.pem` of `pki`, client certificates required and
    /// authenticated by the x509 provider, and Java on its Netty factory
    /// (which it needs for TLS).
    pub fn enable_tls(&mut self, pki: &crate::common::pki::Pki) -> Result<(), String> {
        let port = free_port();
        let cfg = format!(
            "secureClientPort={port}\nserverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n\
             authProvider.x509=org.apache.zookeeper.server.auth.X509AuthenticationProvider\n\
             ssl.keyStore.location={}\nssl.keyStore.password={}\nssl.trustStore.location={}\n",
            pki.path("server.p12"),
            crate::common::pki::PASS,
            pki.path("ca.pem"),
        );
        self.append_cfg(&cfg)?;
        self.secure_port = Some(port);
        Ok(())
    }

    /// Appends `lines` (each ending in a newline) to the zoo.cfg of the
    /// not yet started server; both kinds read the same keys.
    pub fn append_cfg(&mut self, lines: &str) -> Result<(), String> {
        let mut f = OpenOptions::new()
            .append(true)
            .open(self.cfg_path())
            .map_err(|e| format!("cannot open zoo.cfg: {e}"))?;
        std::io::Write::write_all(&mut f, lines.as_bytes()).map_err(|e| format!("cannot write zoo.cfg: {e}"))
    }

    /// The TLS client port's address, with `enable_tls`.
    pub fn secure_addr(&self) -> Option<String> {
        self.secure_port.map(|p| format!("127.0.0.1:{p}"))
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn cfg_path(&self) -> PathBuf {
        self.dir.path().join("zoo.cfg")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.out")
    }

    /// The running process's id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Launches the process (its stdout and stderr appended to
    /// `log_path`) and returns at once.
    pub fn spawn(&mut self) -> Result<(), String> {
        if self.child.is_some() {
            return Err("server already running".to_string());
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| format!("cannot open the server log: {e}"))?;
        self.log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        let log2 = log
            .try_clone()
            .map_err(|e| format!("cannot clone the log handle: {e}"))?;
        let mut cmd = match self.kind {
            Kind::Zkserver | Kind::ZkserverMetrics => {
                let mut c = Command::new(&self.zkserver_bin);
                c.arg(self.cfg_path());
                c
            }
            Kind::Java => {
                let mut c = Command::new("java");
                c.args(java_flags(self.dir.path(), self.java_heap_mb));
                // Only the format of the log lines: wall-clock times to line
                // up with the bench's own timings.
                c.args([
                    "-Dorg.slf4j.simpleLogger.showDateTime=true",
                    "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
                ]);
                let mut cp = java_class_path()?;
                if self.secure_port.is_some() {
                    // Netty's SslHandler needs netty-codec (and its
                    // transport netty-resolver), which zookeeper.jar's
                    // manifest leaves out: Debian's class path cannot
                    // serve TLS as it is.
                    cp.push_str(":/usr/share/java/netty-codec.jar:/usr/share/java/netty-resolver.jar");
                }
                c.arg("-cp").arg(cp);
                c.arg("org.apache.zookeeper.server.quorum.QuorumPeerMain");
                c.arg(self.cfg_path());
                c
            }
        };
        // A heap dump on OutOfMemoryError lands in the temp dir and goes with it.
        cmd.current_dir(self.dir.path());
        cmd.stdin(Stdio::null()).stdout(log).stderr(log2);
        die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot launch {}: {e}", self.kind.name()))?;
        self.child = Some(child);
        if let Some(port) = self.metrics_port {
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            self.scraper_stop = Some(std::sync::Arc::clone(&stop));
            std::thread::spawn(move || scrape_every_second(port, &stop));
        }
        Ok(())
    }

    /// Whether a client may be sent to the server now without harm. Always
    /// for zkserver, which binds its port only once its database is loaded.
    /// Java accepts connections while it loads and mishandles them (an NPE
    /// in ZooKeeperServer.removeCnxn leaves the socket open, so the client
    /// waits for its timeout), which would charge Java for the probe's own
    /// timeout: it is probed only after it logs that its processors run.
    pub fn may_probe(&self) -> bool {
        match self.kind {
            Kind::Zkserver | Kind::ZkserverMetrics => true,
            Kind::Java => {
                let mut text = Vec::new();
                let read = File::open(self.log_path()).and_then(|mut f| {
                    use std::io::{Seek, SeekFrom};
                    f.seek(SeekFrom::Start(self.log_start))?;
                    f.read_to_end(&mut text)
                });
                read.is_ok() && String::from_utf8_lossy(&text).contains(JAVA_STARTED)
            }
        }
    }

    /// An error describing how the process ended, if it has.
    pub fn check_alive(&mut self) -> Result<(), String> {
        let Some(child) = self.child.as_mut() else {
            return Err(format!("{} is not running", self.kind.name()));
        };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                self.child = None;
                Err(format!(
                    "{} exited ({status}); log tail:\n{}",
                    self.kind.name(),
                    self.log_tail(40)
                ))
            }
            Err(e) => Err(format!("cannot poll {}: {e}", self.kind.name())),
        }
    }

    /// SIGTERM, then waits up to `deadline` for the process to exit; returns
    /// how long it took. Kills it (and fails) if it does not exit in time.
    pub fn stop(&mut self, deadline: Duration) -> Result<Duration, String> {
        let start = Instant::now();
        self.terminate()?;
        self.wait_exit(start, deadline)
    }

    /// SIGKILL (a crash: no shutdown of any kind) and reaps the process;
    /// returns the instant the signal was sent. `spawn` starts it again on
    /// the same dataDir and ports.
    pub fn kill9(&mut self) -> Result<Instant, String> {
        self.stop_scraper();
        let Some(mut child) = self.child.take() else {
            return Err(format!("{} is not running", self.kind.name()));
        };
        let at = Instant::now();
        child.kill().map_err(|e| format!("cannot kill {}: {e}", self.kind.name()))?;
        let _ = child.wait();
        Ok(at)
    }

    /// Sends SIGTERM and returns at once.
    pub fn terminate(&mut self) -> Result<(), String> {
        self.stop_scraper();
        let Some(child) = self.child.as_ref() else {
            return Err(format!("{} is not running", self.kind.name()));
        };
        // SAFETY: kill(2) on our own child's pid, which we have not reaped.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        Ok(())
    }

    /// After `terminate`: waits until `start + deadline` for the process to
    /// exit and returns the time since `start`. Kills it (and fails) if it
    /// does not exit in time.
    pub fn wait_exit(&mut self, start: Instant, deadline: Duration) -> Result<Duration, String> {
        let Some(mut child) = self.child.take() else {
            return Err(format!("{} is not running", self.kind.name()));
        };
        loop {
            match child.try_wait() {
                Ok(Some(_)) => return Ok(start.elapsed()),
                Ok(None) if start.elapsed() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "{} ignored SIGTERM for {deadline:?}",
                        self.kind.name()
                    ));
                }
            }
        }
    }

    fn stop_scraper(&mut self) {
        if let Some(stop) = self.scraper_stop.take() {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// The last `n` lines of the server's output.
    pub fn log_tail(&self, n: usize) -> String {
        log_tail(&self.log_path(), n)
    }
}

/// What a Prometheus server does, harder: GET /metrics every second (a
/// scrape interval is 15 s by default) until `stop`.
fn scrape_every_second(port: u16, stop: &std::sync::atomic::AtomicBool) {
    use std::io::Write;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        std::thread::sleep(Duration::from_secs(1));
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink);
        }
    }
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        self.stop_scraper();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A localhost ensemble of one kind: every member a `BenchServer` with its
/// own directory, myid, client port and quorum and election ports, all on
/// 127.0.0.1. Dropping it kills every member.
pub struct BenchEnsemble {
    pub kind: Kind,
    /// Members in sid order (node `i` has myid `i + 1`).
    pub nodes: Vec<BenchServer>,
}

/// What `srvr` says of a member's role, from its "Mode: " line.
fn srvr_mode(answer: &str) -> Option<&str> {
    answer.lines().find_map(|l| l.strip_prefix("Mode: ")).map(str::trim)
}

impl BenchEnsemble {
    /// Prepares (does not start) `size` members of `kind` sharing one
    /// server list; each zoo.cfg is the standalone one plus initLimit,
    /// syncLimit and the `server.N` lines.
    pub fn new(
        kind: Kind,
        zkserver_bin: &Path,
        java_heap_mb: u32,
        keep: bool,
        size: usize,
    ) -> Result<BenchEnsemble, String> {
        // Every port is taken before any is released, so that none repeats.
        let listeners = (0..size * 3)
            .map(|_| TcpListener::bind("127.0.0.1:0"))
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(|e| format!("no free port: {e}"))?;
        let ports = listeners
            .iter()
            .map(|l| l.local_addr().map(|a| a.port()))
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(|e| format!("no free port: {e}"))?;
        drop(listeners);
        let servers: String = ports
            .chunks(3)
            .zip(1..)
            .map(|(p, sid)| format!("server.{sid}=127.0.0.1:{}:{}\n", p[1], p[2]))
            .collect();
        let nodes = ports
            .chunks(3)
            .zip(1..)
            .map(|(p, sid)| {
                BenchServer::prepare(kind, zkserver_bin, java_heap_mb, keep, p[0], Some((sid, &servers)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(BenchEnsemble { kind, nodes })
    }

    /// Launches every member and returns at once.
    pub fn spawn(&mut self) -> Result<(), String> {
        self.nodes.iter_mut().try_for_each(BenchServer::spawn)
    }

    /// Waits until one member answers `srvr` with "Mode: leader" and every
    /// other with "Mode: follower" (both servers say so only once they
    /// serve clients); returns the leader's index. Fails if a member exits
    /// or the deadline passes.
    pub fn wait_ready(&mut self, deadline: Duration) -> Result<usize, String> {
        let end = Instant::now() + deadline;
        loop {
            let mut modes = Vec::with_capacity(self.nodes.len());
            for n in &mut self.nodes {
                n.check_alive()?;
                // A short timeout: a member busy electing may hold the probe.
                let answer = four_letter_within(&n.addr(), "srvr", Duration::from_secs(2));
                modes.push(match &answer {
                    Ok(a) => srvr_mode(a).unwrap_or("not serving").to_string(),
                    Err(e) => format!("srvr to {}: {e}", n.addr()),
                });
            }
            let leaders: Vec<usize> =
                (0..modes.len()).filter(|&i| modes[i] == "leader").collect();
            let followers = modes.iter().filter(|m| *m == "follower").count();
            if let [leader] = leaders[..] {
                if followers + 1 == modes.len() {
                    return Ok(leader);
                }
            }
            if Instant::now() >= end {
                let states: Vec<String> = modes
                    .iter()
                    .zip(1..)
                    .map(|(m, sid)| format!("node {sid}: {m}"))
                    .collect();
                return Err(format!(
                    "{} ensemble not serving after {deadline:?} ({})",
                    self.kind.name(),
                    states.join("; ")
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Appends lines to every (not yet started) member's zoo.cfg.
    pub fn append_cfg(&mut self, lines: &str) -> Result<(), String> {
        self.nodes.iter_mut().try_for_each(|n| n.append_cfg(lines))
    }

    /// An error describing the first member that has ended.
    pub fn check_alive(&mut self) -> Result<(), String> {
        self.nodes.iter_mut().zip(1..).try_for_each(|(n, sid)| {
            n.check_alive().map_err(|e| format!("node {sid}: {e}"))
        })
    }

    /// SIGTERM to every member at once, then waits up to `deadline` for
    /// all to exit; returns the time the last one took. Every member is
    /// stopped even if one fails; the first failure is returned.
    pub fn stop(&mut self, deadline: Duration) -> Result<Duration, String> {
        let start = Instant::now();
        let mut longest = Duration::ZERO;
        let mut first_err = None;
        for (n, sid) in self.nodes.iter_mut().zip(1..) {
            if let Err(e) = n.terminate() {
                first_err.get_or_insert(format!("node {sid}: {e}"));
            }
        }
        for (n, sid) in self.nodes.iter_mut().zip(1..) {
            if n.pid().is_none() {
                continue;
            }
            match n.wait_exit(start, deadline) {
                Ok(d) => longest = longest.max(d),
                Err(e) => {
                    first_err.get_or_insert(format!("node {sid}: {e}"));
                }
            }
        }
        first_err.map_or(Ok(longest), Err)
    }

    /// The last `n` lines of each member's output, headed by its sid.
    pub fn log_tails(&self, n: usize) -> String {
        self.nodes
            .iter()
            .zip(1..)
            .map(|(s, sid)| format!("---- node {sid} ----\n{}\n", s.log_tail(n)))
            .collect()
    }
}

/// CPU time (user + system, all threads) a process has used so far, in
/// seconds, from /proc/<pid>/stat.
pub fn proc_cpu_secs(pid: u32) -> Result<f64, String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("cannot read /proc/{pid}/stat: {e}"))?;
    // The command name in parentheses may hold spaces; the fields after it
    // start with the state (field 3), so utime and stime (fields 14 and 15)
    // are the 12th and 13th.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    let (Some(utime), Some(stime)) = (ticks(11), ticks(12)) else {
        return Err(format!("no CPU times in /proc/{pid}/stat"));
    };
    // SAFETY: sysconf only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz <= 0 {
        return Err("sysconf(_SC_CLK_TCK) failed".to_string());
    }
    Ok((utime + stime) as f64 / hz as f64)
}

/// Whether the environment variable is set to 1, yes or true.
pub fn env_flag(name: &str) -> bool {
    matches!(std::env::var(name).as_deref(), Ok("1") | Ok("yes") | Ok("true"))
}

/// The 1-minute load average and the CPU count: figures mean little on a
/// busy machine, so reports say how busy it was.
pub fn machine_load() -> String {
    let load = fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".to_string());
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("load average {load} on {cpus} CPU(s)")
}

/// The files of `dir` whose names start with `prefix`, with the hex zxid
/// after the prefix, apparent size and bytes allocated on disk (the logs
/// are preallocated sparsely, so the two differ).
pub fn data_files(dir: &Path, prefix: &str) -> Result<Vec<DataFile>, String> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(zxid) = name
            .strip_prefix(prefix)
            .and_then(|z| i64::from_str_radix(z, 16).ok())
        else {
            continue;
        };
        let md = e
            .metadata()
            .map_err(|err| format!("cannot stat {name}: {err}"))?;
        out.push(DataFile {
            zxid,
            bytes: md.len(),
            allocated: md.blocks() * 512,
        });
    }
    out.sort_by_key(|f| f.zxid);
    Ok(out)
}

/// One snapshot or log file.
#[derive(Debug, Clone, Copy)]
pub struct DataFile {
    pub zxid: i64,
    pub bytes: u64,
    pub allocated: u64,
}

/// Raises this process's soft RLIMIT_NOFILE to its hard limit (servers it
/// launches inherit it), so that thousands of sessions fit; returns the
/// limit now in force.
pub fn raise_nofile_limit() -> Result<u64, String> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(format!("getrlimit: {}", std::io::Error::last_os_error()));
        }
        if lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(format!("setrlimit: {}", std::io::Error::last_os_error()));
            }
        }
    }
    Ok(lim.rlim_cur as u64)
}

/// An epoll instance over the bench's client sockets, closed on drop (the
/// benches that multiplex thousands of sessions on a few threads).
pub struct Epoll(i32);

impl Epoll {
    pub fn new() -> Result<Epoll, String> {
        // SAFETY: epoll_create1 takes no pointer.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(format!("epoll_create1: {}", std::io::Error::last_os_error()));
        }
        Ok(Epoll(fd))
    }

    /// Watches `fd` for `events` (libc::EPOLL* bits), reported as `token`.
    pub fn add(&self, fd: i32, events: i32, token: u64) -> Result<(), String> {
        let mut ev = libc::epoll_event { events: events as u32, u64: token };
        // SAFETY: `ev` outlives the call; `fd` is an open socket.
        if unsafe { libc::epoll_ctl(self.0, libc::EPOLL_CTL_ADD, fd, &mut ev) } != 0 {
            return Err(format!("epoll_ctl: {}", std::io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Waits up to `timeout` and fills the front of `events`; returns how
    /// many (0 when interrupted).
    pub fn wait(&self, events: &mut [libc::epoll_event], timeout: Duration) -> Result<usize, String> {
        let cap = i32::try_from(events.len()).unwrap_or(i32::MAX);
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: `events` has room for `cap` entries.
        let n = unsafe { libc::epoll_wait(self.0, events.as_mut_ptr(), cap, ms) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            return if e.kind() == std::io::ErrorKind::Interrupted { Ok(0) } else { Err(format!("epoll_wait: {e}")) };
        }
        Ok(n as usize)
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: our own epoll fd, closed once.
        unsafe { libc::close(self.0) };
    }
}
