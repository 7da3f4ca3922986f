//! The integration-test harness: starts a server in a temp directory on a
//! free port and stops it again, even when the test panics.
//!
//! `ZK_TEST_SERVER=java` runs Apache ZooKeeper 3.8 (the Debian jars) instead
//! of our `zkserver` binary (the default, `ZK_TEST_SERVER=zkserver`), with
//! the same zoo.cfg, so every suite can be checked against the Java server,
//! which is the specification.
//!
//! Each test binary compiles this module on its own and uses a part of it;
//! so do the benchmarks (benches/support builds its servers on it), which
//! is why what a test and a bench both need (free ports, four-letter words,
//! a child that dies with us, a log's tail, /proc readings) lives here once.
#![allow(dead_code)]

pub mod ensemble;
pub mod kdc;
pub mod partition;
pub mod pki;
pub mod prometheus;

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use zkserver::client::{ZkClient, ZkError};
use zkserver::jute::records::{Acl, Stat};

/// How long a server may take to answer `ruok` after being launched.
pub const START_DEADLINE: Duration = Duration::from_secs(20);

/// Which server the tests run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Zkserver,
    Java,
}

/// `ZK_TEST_SERVER`: `java` or `zkserver` (the default).
pub fn flavor() -> Flavor {
    match std::env::var("ZK_TEST_SERVER").as_deref() {
        Ok("java") => Flavor::Java,
        Ok("zkserver") | Ok("") | Err(_) => Flavor::Zkserver,
        Ok(other) => panic!("ZK_TEST_SERVER={other}: expected java or zkserver"),
    }
}

/// Ports handed out in this process, so two tests never get the same one.
static PORTS: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A currently free TCP port on 127.0.0.1, never the same twice in one
/// test process.
pub fn free_port() -> u16 {
    let mut used = PORTS.lock().unwrap_or_else(|e| e.into_inner());
    let used = used.get_or_insert_with(HashSet::new);
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = l.local_addr().expect("local_addr").port();
        if used.insert(port) {
            return port;
        }
    }
}

/// Polls `cond` every 20 ms until it holds or `deadline` passes; returns
/// whether it held.
pub fn wait_until(deadline: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends a four-letter word and returns everything the server writes
/// before closing the connection (empty if it closes at once).
pub fn four_letter(addr: &str, cmd: &str) -> std::io::Result<String> {
    four_letter_within(addr, cmd, Duration::from_secs(10))
}

/// `four_letter` giving up after `timeout` without an answer.
pub fn four_letter_within(addr: &str, cmd: &str, timeout: Duration) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr.parse().map_err(std::io::Error::other)?, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.write_all(cmd.as_bytes())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Whether the server at `addr` serves clients: `ruok` answers `imok` (the
/// process is up) and `srvr` prints its statistics rather than "not currently
/// serving requests" (Java answers `imok` before its request processors run).
pub fn is_serving(addr: &str) -> bool {
    four_letter(addr, "ruok").map(|r| r == "imok").unwrap_or(false)
        && four_letter(addr, "srvr").map(|r| r.starts_with("Zookeeper version:")).unwrap_or(false)
}

/// Asserts that `res` failed with the server error `code` (`code::*`).
#[track_caller]
pub fn assert_code<T: std::fmt::Debug>(res: Result<T, ZkError>, code: i32) {
    match res {
        Ok(v) => panic!("expected error {code} ({}), got Ok({v:?})", zkserver::client::code_name(code)),
        Err(e) => assert_eq!(e.code(), code, "expected {}, got {e}", zkserver::client::code_name(code)),
    }
}

/// Options for a test server.
#[derive(Debug, Clone)]
pub struct ServerOpts {
    pub tick_time: u32,
    /// Extra zoo.cfg lines (key, value), written after the defaults.
    pub cfg: Vec<(String, String)>,
    /// System properties: `-Dk=v` for Java, `-D k=v` for zkserver.
    pub props: Vec<(String, String)>,
    /// Environment variables of the server process.
    pub env: Vec<(String, String)>,
}

impl Default for ServerOpts {
    fn default() -> ServerOpts {
        ServerOpts { tick_time: 2000, cfg: Vec::new(), props: Vec::new(), env: Vec::new() }
    }
}

impl ServerOpts {
    pub fn cfg(mut self, key: &str, value: &str) -> ServerOpts {
        self.cfg.push((key.to_string(), value.to_string()));
        self
    }

    pub fn prop(mut self, key: &str, value: &str) -> ServerOpts {
        self.props.push((key.to_string(), value.to_string()));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> ServerOpts {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn tick_time(mut self, ms: u32) -> ServerOpts {
        self.tick_time = ms;
        self
    }
}

/// The Java server's class path, as in the reference notes.
pub fn java_class_path() -> String {
    let wanted = [
        "zookeeper-3.8.0.jar",
        "zookeeper-jute.jar",
        "slf4j-api.jar",
        "slf4j-simple.jar",
        "metrics-core.jar",
        "commons-cli.jar",
        "commons-io.jar",
        "snappy-java.jar",
        // JettyAdminServer's (loaded only when admin.enableServer is not
        // false; the test configurations turn it off unless a test wants it).
        "jetty9-server.jar",
        "jetty9-servlet.jar",
        "jetty9-http.jar",
        "jetty9-io.jar",
        "jetty9-util.jar",
        "jetty9-security.jar",
        "jetty9-util-ajax.jar",
        "servlet-api.jar",
        "jackson-core.jar",
        "jackson-databind.jar",
        "jackson-annotations.jar",
    ];
    let mut jars: Vec<String> = wanted.iter().map(|j| format!("/usr/share/java/{j}")).collect();
    for j in &jars {
        assert!(Path::new(j).exists(), "{j} missing: apt-get install -y zookeeper");
    }
    let mut netty: Vec<String> = fs::read_dir("/usr/share/java")
        .expect("read /usr/share/java")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("netty-") && n.ends_with("-4.1.48.Final.jar"))
        .map(|n| format!("/usr/share/java/{n}"))
        .collect();
    netty.sort();
    jars.extend(netty);
    jars.join(":")
}

/// The line Java logs once its request processors run, i.e. once the
/// database is loaded and the start-up snapshot written.
pub const JAVA_STARTED: &str = "PrepRequestProcessor (sid:";

/// Has the kernel kill `cmd`'s process when this one dies without running
/// its Drop (a panic that aborts, a SIGKILL), so no server outlives a test
/// or bench.
pub fn die_with_parent(cmd: &mut Command) {
    // SAFETY: only prctl(2), which is async-signal-safe, runs between fork
    // and exec (after a uid change, which would clear it).
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
}

/// The last `n` lines of a log file ("" if it cannot be read).
pub fn log_tail(path: &Path, n: usize) -> String {
    let mut text = String::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A field of /proc/<pid>/status in KiB (VmRSS, VmHWM, ...).
pub fn proc_status_kib(pid: u32, field: &str) -> Result<u64, String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("cannot read /proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no {field} in /proc/{pid}/status"))
}

/// How many times `needle` occurs in the file (0 if it cannot be read).
fn count_in_file(path: &Path, needle: &str) -> usize {
    fs::read_to_string(path).map(|t| t.matches(needle).count()).unwrap_or(0)
}

/// A server process with its own temp dir and port. Dropping it kills the
/// process; if the test is panicking, the tail of the server's log is
/// printed first.
pub struct TestServer {
    pub port: u16,
    pub flavor: Flavor,
    opts: ServerOpts,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl TestServer {
    /// Starts a server and waits until it serves (see `is_serving`).
    pub fn start(opts: ServerOpts) -> TestServer {
        TestServer::start_with(flavor(), opts)
    }

    /// A server of the given kind, whatever ZK_TEST_SERVER says (for tests
    /// that hand one data directory between Java and zkserver).
    pub fn start_with(flavor: Flavor, opts: ServerOpts) -> TestServer {
        let mut s = TestServer::prepare(flavor, opts);
        s.launch();
        s
    }

    /// A server with its temp dir, port and zoo.cfg in place but not
    /// launched, so the test can fill the data directory first; then
    /// `start_again` or `try_start`.
    pub fn prepare(flavor: Flavor, opts: ServerOpts) -> TestServer {
        let dir = tempfile::Builder::new().prefix("zktest").tempdir().expect("tempdir");
        let s = TestServer { port: free_port(), flavor, opts, dir, child: None };
        fs::create_dir_all(s.data_dir()).expect("create dataDir");
        s.write_cfg();
        s
    }

    /// Stops the server (SIGTERM) and starts the other kind on the same
    /// data directory and port.
    pub fn switch_to(&mut self, flavor: Flavor) {
        self.stop();
        self.flavor = flavor;
        self.launch();
    }

    /// A server with the default options.
    pub fn start_default() -> TestServer {
        TestServer::start(ServerOpts::default())
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The server process's id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn cfg_path(&self) -> PathBuf {
        self.dir.path().join("zoo.cfg")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// A new session with a 30 s timeout.
    pub fn client(&self) -> ZkClient {
        ZkClient::connect(self.addr(), 30000).expect("connect to test server")
    }

    fn write_cfg(&self) {
        let mut cfg = format!(
            "tickTime={}\ndataDir={}\nclientPort={}\nadmin.enableServer=false\n4lw.commands.whitelist=*\n",
            self.opts.tick_time,
            self.data_dir().display(),
            self.port
        );
        for (k, v) in &self.opts.cfg {
            cfg.push_str(&format!("{k}={v}\n"));
        }
        fs::write(self.cfg_path(), cfg).expect("write zoo.cfg");
    }

    fn launch(&mut self) {
        if let Err(status) = self.try_start() {
            panic!("server exited during start-up ({status}); log:\n{}", self.log_tail(60));
        }
    }

    /// Launches the server (not running) and waits until it serves; `Err`
    /// with its exit status when it gives up during start-up instead (a
    /// refusal the test expects). Panics if it neither serves nor exits
    /// within `START_DEADLINE`.
    pub fn try_start(&mut self) -> Result<(), std::process::ExitStatus> {
        assert!(self.child.is_none(), "server still running");
        let log =
            OpenOptions::new().create(true).append(true).open(self.log_path()).expect("open server log");
        let mut cmd = match self.flavor {
            Flavor::Zkserver => {
                let mut c = Command::new(env!("CARGO_BIN_EXE_zkserver"));
                for (k, v) in &self.opts.props {
                    c.arg("-D").arg(format!("{k}={v}"));
                }
                c.arg(self.cfg_path());
                c
            }
            Flavor::Java => {
                let mut c = Command::new("java");
                c.args([
                    "-Xmx256m",
                    "-XX:+UseSerialGC",
                    "-XX:TieredStopAtLevel=1",
                    "-Xshare:auto",
                    "-Dorg.slf4j.simpleLogger.showDateTime=true",
                ]);
                for (k, v) in &self.opts.props {
                    c.arg(format!("-D{k}={v}"));
                }
                c.arg("-cp").arg(java_class_path());
                c.arg("org.apache.zookeeper.server.quorum.QuorumPeerMain");
                c.arg(self.cfg_path());
                c
            }
        };
        cmd.envs(self.opts.env.iter().map(|(k, v)| (k, v)));
        cmd.stdin(Stdio::null()).stdout(log.try_clone().expect("clone log handle")).stderr(log);
        die_with_parent(&mut cmd);
        let java_starts_before = count_in_file(&self.log_path(), JAVA_STARTED);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot launch {:?}: {e}", self.flavor));
        self.child = Some(child);
        let addr = self.addr();
        let log_path = self.log_path();
        let flavor = self.flavor;
        let mut exited = None;
        let up = wait_until(START_DEADLINE, || {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    exited = Some(status);
                    return true;
                }
            }
            // Java 3.8 mishandles a 4lw that arrives before its database is
            // loaded (an NPE leaves the socket open and stalls the selector
            // for 10 s), so probe it only once it has logged the end of its
            // start-up.
            if flavor == Flavor::Java && count_in_file(&log_path, JAVA_STARTED) <= java_starts_before {
                return false;
            }
            is_serving(&addr)
        });
        if let Some(status) = exited {
            self.child = None;
            return Err(status);
        }
        assert!(up, "server not answering ruok within {START_DEADLINE:?}; log:\n{}", self.log_tail(60));
        Ok(())
    }

    /// Whether the server process is running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// SIGTERM, then waits up to 20 s for the process to exit (SIGKILL after
    /// that).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let exited = wait_until(Duration::from_secs(20), || matches!(child.try_wait(), Ok(Some(_))));
            if !exited {
                let _ = child.kill();
                let _ = child.wait();
                panic!("server ignored SIGTERM for 20 s; log:\n{}", self.log_tail(40));
            }
        }
    }

    /// SIGKILL: the process gets no chance to flush or clean up.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops (SIGTERM) if running, then starts again on the same port with
    /// the same data directory.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// Starts again after `stop` or `kill9`.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "server still running");
        self.launch();
    }

    /// The last `n` lines of the server's output.
    pub fn log_tail(&self, n: usize) -> String {
        log_tail(&self.log_path(), n)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- {:?} server on port {} (log {}), last lines ----\n{}\n----",
                self.flavor,
                self.port,
                self.log_path().display(),
                self.log_tail(60)
            );
        }
        self.kill9();
    }
}

/// A raw socket to the server, with a read timeout, for tests that speak
/// bytes rather than records.
pub fn raw_connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("read timeout");
    s.set_nodelay(true).expect("nodelay");
    s
}

/// Whether the server closed `s`: a read returns EOF or a reset (not a
/// timeout) within `deadline`. Any bytes that arrive first are skipped.
pub fn closed_by_server(s: &mut TcpStream, deadline: Duration) -> bool {
    s.set_read_timeout(Some(deadline)).expect("read timeout");
    let mut buf = [0u8; 4096];
    let end = Instant::now() + deadline;
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {
                if Instant::now() >= end {
                    return false;
                }
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// Shuts down both directions of a raw socket, ignoring errors.
pub fn hang_up(s: &TcpStream) {
    let _ = s.shutdown(Shutdown::Both);
}

/// Proof that the server still serves: a fresh session can create, read and
/// delete a node.
pub fn assert_server_serves(addr: &str) {
    use zkserver::zoo_defs::{ids, CreateMode};
    let c = ZkClient::connect(addr, 30000).expect("a new client can still connect");
    let path = format!("/alive-{}", free_port());
    c.create(&path, Some(b"ok"), &ids::open_acl_unsafe(), CreateMode::Persistent).expect("create");
    assert_eq!(c.get_data(&path, false).expect("get").0.as_deref(), Some(&b"ok"[..]));
    c.delete(&path, -1).expect("delete");
    c.close().expect("close");
}

/// The current time in ms since the epoch (for ctime/mtime bounds).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Asserts the Stat fields every freshly created, never modified node has.
#[track_caller]
pub fn assert_fresh_stat(st: &Stat, data_len: i32, ephemeral_owner: i64) {
    assert_eq!(st.czxid, st.mzxid, "czxid == mzxid on creation: {st:?}");
    assert_eq!(st.czxid, st.pzxid, "pzxid == czxid on creation: {st:?}");
    assert_eq!(st.ctime, st.mtime, "ctime == mtime on creation: {st:?}");
    assert_eq!((st.version, st.cversion, st.aversion), (0, 0, 0), "{st:?}");
    assert_eq!(st.ephemeral_owner, ephemeral_owner, "{st:?}");
    assert_eq!(st.data_length, data_len, "{st:?}");
    assert_eq!(st.num_children, 0, "{st:?}");
}

/// A command-line tool driven through its stdin, its stdout and stderr
/// gathered into one transcript (for the zkCli.sh and cli_mt interop tests).
pub struct Interactive {
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    out: std::sync::Arc<Mutex<String>>,
    /// How much of the transcript `expect` has consumed.
    seen: usize,
    name: String,
}

impl Interactive {
    /// Starts `program args...`; fails the test (not skips it) if the tool
    /// is missing.
    pub fn spawn(program: &str, args: &[&str], install_hint: &str) -> Interactive {
        assert!(Path::new(program).exists(), "{program} is missing: install it with `{install_hint}`");
        let mut cmd = Command::new(program);
        cmd.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        die_with_parent(&mut cmd);
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        let out = std::sync::Arc::new(Mutex::new(String::new()));
        let pipes: Vec<Box<dyn Read + Send>> = vec![
            Box::new(child.stdout.take().expect("stdout")),
            Box::new(child.stderr.take().expect("stderr")),
        ];
        for mut pipe in pipes {
            let out = out.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
                    o.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        let stdin = child.stdin.take();
        Interactive { child, stdin, out, seen: 0, name: program.to_string() }
    }

    /// Sends one line.
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}")
            .and_then(|_| stdin.flush())
            .unwrap_or_else(|e| panic!("{} stdin: {e}; transcript:\n{}", self.name, self.transcript()));
    }

    /// Waits (up to 20 s) until `text` appears after what earlier calls
    /// consumed; returns the transcript from there up to and including it.
    #[track_caller]
    pub fn expect(&mut self, text: &str) -> String {
        let mut found = None;
        let ok = wait_until(Duration::from_secs(20), || {
            let o = self.out.lock().unwrap_or_else(|e| e.into_inner());
            found =
                o[self.seen..].find(text).map(|i| (o[self.seen..self.seen + i + text.len()].to_string(), i));
            found.is_some()
        });
        if !ok {
            panic!("{} never printed {text:?}; transcript:\n{}", self.name, self.transcript());
        }
        let (chunk, i) = found.unwrap_or_default();
        self.seen += i + text.len();
        chunk
    }

    /// Everything the tool printed so far.
    pub fn transcript(&self) -> String {
        self.out.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Closes stdin and waits (up to 20 s) for the tool to exit.
    pub fn finish(&mut self) {
        self.stdin = None;
        let child = &mut self.child;
        if !wait_until(Duration::from_secs(20), || matches!(child.try_wait(), Ok(Some(_)))) {
            panic!("{} did not exit; transcript:\n{}", self.name, self.transcript());
        }
    }
}

impl Drop for Interactive {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- {} transcript ----\n{}\n----", self.name, self.transcript());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every node with its data, Stat and ACL.
pub type Tree = BTreeMap<String, (Option<Vec<u8>>, Stat, Vec<Acl>)>;

/// Reads the whole tree through `c`.
pub fn walk(c: &ZkClient) -> Tree {
    let mut tree = Tree::new();
    let mut todo = vec!["/".to_string()];
    while let Some(path) = todo.pop() {
        let (data, stat) = c.get_data(&path, false).expect("getData");
        let (acl, _) = c.get_acl(&path).expect("getACL");
        for child in c.get_children(&path, false).expect("getChildren") {
            todo.push(if path == "/" { format!("/{child}") } else { format!("{path}/{child}") });
        }
        tree.insert(path, (data, stat, acl));
    }
    tree
}

/// The zoo.cfg keys of an ensemble that requires quorum SASL.
pub const QUORUM_SASL_REQUIRED: &[(&str, &str)] = &[
    ("quorum.auth.enableSasl", "true"),
    ("quorum.auth.learnerRequireSasl", "true"),
    ("quorum.auth.serverRequireSasl", "true"),
];

/// The sections Java's quorum SASL reads, with `password` for the learner.
pub fn quorum_jaas(dir: &tempfile::TempDir, name: &str, password: &str) -> PathBuf {
    let path = dir.path().join(name);
    let text = format!(
        "QuorumServer {{\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  user_peer=\"peer-pw\";\n}};\n\
         QuorumLearner {{\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  username=\"peer\"\n  \
         password=\"{password}\";\n}};\n"
    );
    std::fs::write(&path, text).expect("write jaas");
    path
}
