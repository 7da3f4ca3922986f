//! A 3-node (or n-node) ensemble on 127.0.0.1 (or ::1) for integration tests: each
//! node is a zkserver or a Java 3.8 server with its own temp dataDir, myid
//! file and free client/quorum/election ports. Nodes are launched and
//! stopped one by one; dropping the ensemble kills every process (printing
//! the tail of each log when the test is panicking).
//!
//! `probe_vote` asks a node for its vote over the election protocol itself,
//! as an outside server would: it connects to the node's election port with
//! a sid no member has, sends a notification, and reads the node's answer
//! (Java and zkserver both answer a non-member with their current vote and
//! state).

use super::{die_with_parent, free_port, java_class_path, log_tail, Flavor};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use zkserver::quorum::fast_leader_election::Notification;
use zkserver::quorum::quorum_cnx_manager::{InitialMessage, PROTOCOL_VERSION_V1};
use zkserver::quorum::vote::ServerState;

/// One member: its ports, directory and process.
pub struct Node {
    pub sid: i64,
    pub flavor: Flavor,
    /// The loopback address its ports are bound on.
    pub host: String,
    /// The uid it runs as, when not ours (see `Ensemble::new_apart`).
    pub uid: Option<u32>,
    pub client_port: u16,
    pub quorum_port: u16,
    pub election_port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// System properties (`-Dkey=value`) it is launched with, for settings
    /// Java reads only from the command line (readonlymode.enabled).
    pub system_properties: Vec<(String, String)>,
}

impl Node {
    pub fn client_addr(&self) -> String {
        format!("{}:{}", self.host, self.client_port)
    }

    pub fn election_addr(&self) -> String {
        format!("{}:{}", self.host, self.election_port)
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

    /// Everything the node has logged (all its runs).
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = File::open(self.log_path()) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    fn log_tail(&self, n: usize) -> String {
        log_tail(&self.log_path(), n)
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// The exit status once the process has ended on its own.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }
}

/// How long an election or a role change may take on a loaded machine.
const ROLE_DEADLINE: Duration = Duration::from_secs(40);

/// A set of nodes sharing one server list.
pub struct Ensemble {
    pub nodes: Vec<Node>,
}

impl Ensemble {
    /// Prepares one node per flavor (sids 1, 2, ...), not launched. `extra`
    /// lines go into every zoo.cfg.
    pub fn new(flavors: &[Flavor], extra: &[(&str, &str)]) -> Ensemble {
        Self::build(flavors, extra, |_| ("127.0.0.1".to_string(), None))
    }

    /// As `new`, on the IPv6 loopback: `server.N=[::1]:q:e` lines and
    /// `clientPortAddress=[::1]`; `client_addr` is `[::1]:port`.
    pub fn new_ipv6(flavors: &[Flavor], extra: &[(&str, &str)]) -> Ensemble {
        Self::build(flavors, extra, |_| ("[::1]".to_string(), None))
    }

    /// As `new`, but node N binds its ports on 127.0.`net`.N, so that every
    /// node can listen on the same port (observerMasterPort is one port for
    /// all voters).
    pub fn new_on_hosts(flavors: &[Flavor], extra: &[(&str, &str)], net: u8) -> Ensemble {
        Self::build(flavors, extra, |sid| (format!("127.0.{net}.{sid}"), None))
    }

    /// As `new`, but node N binds its ports on 127.0.`net`.N and runs as
    /// uid `uid_base` + N, so that the packets it sends can be told apart
    /// from the others' (a peer dials from 127.0.0.1 whatever address it
    /// listens on; an iptables SNAT rule on the uid gives it its own
    /// source address, see the fault suite's nemesis).
    pub fn new_apart(flavors: &[Flavor], extra: &[(&str, &str)], net: u8, uid_base: u32) -> Ensemble {
        let ens = Self::build(flavors, extra, |sid| (format!("127.0.{net}.{sid}"), Some(uid_base + sid as u32)));
        for n in &ens.nodes {
            let uid = n.uid.expect("uid");
            for entry in walk_dir(n.dir.path()) {
                std::os::unix::fs::lchown(&entry, Some(uid), Some(uid)).expect("chown node dir");
            }
        }
        ens
    }

    fn build(flavors: &[Flavor], extra: &[(&str, &str)], place: impl Fn(i64) -> (String, Option<u32>)) -> Ensemble {
        let mut nodes = Vec::new();
        for (i, flavor) in flavors.iter().enumerate() {
            let dir = tempfile::Builder::new().prefix("zkens").tempdir().expect("tempdir");
            let sid = i as i64 + 1;
            let (host, uid) = place(sid);
            nodes.push(Node {
                sid,
                flavor: *flavor,
                host,
                uid,
                client_port: free_port(),
                quorum_port: free_port(),
                election_port: free_port(),
                dir,
                child: None,
                system_properties: Vec::new(),
            });
        }
        let servers: String = nodes
            .iter()
            .map(|n| format!("server.{}={}:{}:{}\n", n.sid, n.host, n.quorum_port, n.election_port))
            .collect();
        for n in &nodes {
            fs::create_dir_all(n.data_dir()).expect("create dataDir");
            fs::write(n.data_dir().join("myid"), format!("{}\n", n.sid)).expect("write myid");
            let mut cfg = format!(
                "tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={}\nadmin.enableServer=false\n\
                 4lw.commands.whitelist=*\nclientPortAddress={}\n{servers}",
                n.data_dir().display(),
                n.client_port,
                n.host
            );
            for (k, v) in extra {
                cfg.push_str(&format!("{k}={v}\n"));
            }
            fs::write(n.cfg_path(), cfg).expect("write zoo.cfg");
        }
        Ensemble { nodes }
    }

    pub fn node(&self, sid: i64) -> &Node {
        self.nodes.iter().find(|n| n.sid == sid).expect("no such sid")
    }

    /// Marks node `sid` as an observer in every node's zoo.cfg (`:observer`
    /// on its server line, and peerType=observer in its own), before the
    /// nodes start.
    pub fn make_observer(&self, sid: i64) {
        let n = self.node(sid);
        let line = format!("server.{sid}={}:{}:{}", n.host, n.quorum_port, n.election_port);
        for n in &self.nodes {
            let cfg = std::fs::read_to_string(n.cfg_path()).expect("read zoo.cfg");
            let mut cfg = cfg.replace(&format!("{line}\n"), &format!("{line}:observer\n"));
            if n.sid == sid {
                cfg.push_str("peerType=observer\n");
            }
            std::fs::write(n.cfg_path(), cfg).expect("write zoo.cfg");
        }
    }

    /// Sets `key` in node `sid`'s zoo.cfg (replacing an earlier value), for
    /// settings that differ between members; takes effect at its next start.
    pub fn set_cfg(&self, sid: i64, key: &str, value: &str) {
        let path = self.node(sid).cfg_path();
        let old = fs::read_to_string(&path).expect("read zoo.cfg");
        let prefix = format!("{key}=");
        let mut cfg: String = old.lines().filter(|l| !l.starts_with(&prefix)).map(|l| format!("{l}\n")).collect();
        cfg.push_str(&format!("{key}={value}\n"));
        fs::write(&path, cfg).expect("write zoo.cfg");
    }

    /// Launches every node with `-Dkey=value` from its next start.
    pub fn set_system_property(&mut self, key: &str, value: &str) {
        for n in &mut self.nodes {
            n.system_properties.push((key.to_string(), value.to_string()));
        }
    }

    pub fn node_mut(&mut self, sid: i64) -> &mut Node {
        self.nodes.iter_mut().find(|n| n.sid == sid).expect("no such sid")
    }

    /// Launches a node (without waiting for anything).
    pub fn start(&mut self, sid: i64) {
        let node = self.node_mut(sid);
        assert!(node.child.is_none(), "node {sid} is running");
        let log = OpenOptions::new().create(true).append(true).open(node.log_path()).expect("open log");
        let mut cmd = match node.flavor {
            Flavor::Zkserver => {
                // ZKSERVER_BIN: another build of the same source (e.g. a
                // release build, to compare with the debug one).
                let bin = std::env::var_os("ZKSERVER_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_zkserver").into());
                let mut c = Command::new(bin);
                c.args(node.system_properties.iter().map(|(k, v)| format!("-D{k}={v}")));
                c.arg(node.cfg_path());
                c
            }
            Flavor::Java => {
                let mut c = Command::new("java");
                if node.uid.is_some() {
                    // No hsperfdata directory for a uid without a name.
                    c.arg("-XX:-UsePerfData");
                }
                c.args([
                    "-Xmx256m",
                    "-XX:+UseSerialGC",
                    "-XX:TieredStopAtLevel=1",
                    "-Xshare:auto",
                    "-Dorg.slf4j.simpleLogger.showDateTime=true",
                ]);
                c.args(node.system_properties.iter().map(|(k, v)| format!("-D{k}={v}")));
                c.arg("-cp").arg(java_class_path());
                c.arg("org.apache.zookeeper.server.quorum.QuorumPeerMain");
                c.arg(node.cfg_path());
                c
            }
        };
        cmd.stdin(Stdio::null()).stdout(log.try_clone().expect("clone log")).stderr(log);
        if let Some(uid) = node.uid {
            cmd.uid(uid).gid(uid);
        }
        die_with_parent(&mut cmd);
        node.child = Some(cmd.spawn().unwrap_or_else(|e| panic!("cannot launch node {sid}: {e}")));
    }

    pub fn start_all(&mut self) {
        let sids: Vec<i64> = self.nodes.iter().map(|n| n.sid).collect();
        for sid in sids {
            self.start(sid);
        }
    }

    /// The process id of a running node.
    pub fn pid(&self, sid: i64) -> Option<u32> {
        self.node(sid).child.as_ref().map(|c| c.id())
    }

    /// SIGKILL, and waits for the process to be gone.
    pub fn kill9(&mut self, sid: i64) {
        if let Some(mut c) = self.node_mut(sid).child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The tails of every node's log, for failure messages.
    /// A session on node `sid`, retried while the node comes up.
    #[track_caller]
    pub fn client(&self, sid: i64) -> zkserver::client::ZkClient {
        let addr = self.node(sid).client_addr();
        let mut last = None;
        let mut out = None;
        super::wait_until(Duration::from_secs(40), || match zkserver::client::ZkClient::connect(addr.as_str(), 10_000) {
            Ok(c) => {
                out = Some(c);
                true
            }
            Err(e) => {
                last = Some(e);
                false
            }
        });
        out.unwrap_or_else(|| panic!("no session on node {sid}: {last:?}\n{}", self.logs()))
    }

    /// Asserts that node `sid`, after a sync, holds every acknowledged
    /// (path, data) write in `acked`.
    #[track_caller]
    pub fn assert_has_all(&self, sid: i64, acked: &[(String, Vec<u8>)]) {
        let c = self.client(sid);
        c.sync("/").expect("sync");
        for (path, data) in acked {
            let got = c.get_data(path, false).map(|(d, _)| d.unwrap_or_default());
            assert_eq!(got.as_ref().ok(), Some(data), "node {sid} lost {path}: {got:?}\n{}", self.logs());
        }
        let _ = c.close();
    }

    /// Creates a node through each of `sids` and checks each sees them all.
    #[track_caller]
    pub fn replicates(&self, sids: &[i64], tag: &str) {
        let mut acked = Vec::new();
        for sid in sids {
            let c = self.client(*sid);
            let path = format!("/{tag}-{sid}");
            let acl = zkserver::zoo_defs::ids::open_acl_unsafe();
            c.create(&path, Some(tag.as_bytes()), &acl, zkserver::zoo_defs::CreateMode::Persistent)
                .unwrap_or_else(|e| panic!("create {path} through node {sid}: {e}\n{}", self.logs()));
            acked.push((path, tag.as_bytes().to_vec()));
            let _ = c.close();
        }
        for sid in sids {
            self.assert_has_all(*sid, &acked);
        }
    }

    /// The Mode line of node `sid`'s `srvr` ("leader", "follower",
    /// "observer", "standalone"), if it serves.
    pub fn mode(&self, sid: i64) -> Option<String> {
        let out = super::four_letter(&self.node(sid).client_addr(), "srvr").ok()?;
        out.lines().find_map(|l| l.strip_prefix("Mode: ")).map(str::to_string)
    }

    /// Waits (up to 40 s) until node `sid` serves in mode `want`.
    #[track_caller]
    pub fn wait_mode(&self, sid: i64, want: &str) {
        let mut last = None;
        let ok = super::wait_until(ROLE_DEADLINE, || {
            last = self.mode(sid);
            last.as_deref() == Some(want)
        });
        assert!(ok, "node {sid} is not {want} (last mode {last:?})\n{}", self.logs());
    }

    /// Waits (up to 40 s) until exactly one of `sids` leads and the others
    /// follow; returns the leader.
    #[track_caller]
    pub fn settled_leader(&self, sids: &[i64]) -> i64 {
        let mut last: Vec<Option<String>> = Vec::new();
        let ok = super::wait_until(ROLE_DEADLINE, || {
            last = sids.iter().map(|s| self.mode(*s)).collect();
            last.iter().filter(|m| m.as_deref() == Some("leader")).count() == 1
                && last.iter().filter(|m| m.as_deref() == Some("follower")).count() == sids.len() - 1
        });
        assert!(ok, "no settled leader among {sids:?}: {last:?}\n{}", self.logs());
        let i = last.iter().position(|m| m.as_deref() == Some("leader")).unwrap_or(0);
        sids[i]
    }

    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("---- node {} ({:?}) ----\n{}\n", n.sid, n.flavor, n.log_tail(40)))
            .collect()
    }
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
        let sids: Vec<i64> = self.nodes.iter().map(|n| n.sid).collect();
        for sid in sids {
            self.kill9(sid);
        }
    }
}

/// Every path under `dir`, itself included.
fn walk_dir(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk_dir(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Probe sids: above any member's, and new for each probe so a node never
/// resends a stale answer meant for an earlier probe.
static PROBE_SID: AtomicI64 = AtomicI64::new(1_000_000);

/// A node's vote as it answers a non-member: (its state, its leader).
/// `None` when it does not answer within a few seconds.
pub fn probe_vote(election_addr: &str) -> Option<(ServerState, i64)> {
    let sid = PROBE_SID.fetch_add(1, Ordering::Relaxed);
    let mut s = TcpStream::connect_timeout(&election_addr.parse().ok()?, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.write_all(&InitialMessage::encode(PROTOCOL_VERSION_V1, sid, "127.0.0.1:1")).ok()?;
    // A LOOKING notification in the 40-byte form, whose last four bytes
    // receivers ignore (no version, no config).
    let mut note = Vec::new();
    note.extend_from_slice(&(ServerState::Looking as i32).to_be_bytes());
    for v in [sid, 0i64, 1, 0] {
        note.extend_from_slice(&v.to_be_bytes());
    }
    note.extend_from_slice(&[0; 4]);
    let mut frame = (note.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&note);
    s.write_all(&frame).ok()?;
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let len = usize::try_from(i32::from_be_bytes(len)).ok().filter(|l| *l <= 512 * 1024)?;
    let mut buf = vec![0u8; len];
    s.read_exact(&mut buf).ok()?;
    let n = Notification::parse(&buf, 0).ok()?;
    Some((ServerState::from_wire(n.state)?, n.leader))
}

/// The decided states a node logged, in order ("Peer state changed: x",
/// as both Java and zkserver log it; Java's later " - broadcast" parts
/// are dropped).
pub fn logged_states(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| l.split("Peer state changed: ").nth(1))
        .map(|rest| rest.split(" - ").next().unwrap_or("").trim().to_string())
        .collect()
}
