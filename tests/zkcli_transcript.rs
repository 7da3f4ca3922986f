//! The operator's view: one scripted zkCli.sh session (Debian's ZooKeeper
//! 3.8 CLI) run against a fresh zkserver and a fresh Java 3.8 server with the
//! same options, its transcript normalised and required to be identical.
//!
//! The script touches every zkCli command that has a meaning against a
//! standalone server, their common error paths, and watch events. One CLI
//! JVM runs per server; the commands are fed through its stdin one at a
//! time. After each command the driver sends `printwatches` (which answers
//! `printwatches is on|off` from the CLI's main thread) as an end-of-output
//! marker and waits for it and for the number of watch events the step is
//! declared to trigger. Events are printed by the client's event thread, so
//! their position relative to the command's own output is a race; each
//! step's events are therefore taken out of its output and listed after it,
//! in the order they arrived.
//!
//! Normalised: ctime/mtime dates, zxids and session ids (placeholders
//! numbered in order of first appearance), the client port, and the SLF4J
//! start-up noise. Nothing else: the order of getEphemerals lists, of the
//! watch events a session close fires and of whoami's ids is Java's hash
//! order, which zkserver reproduces.
//!
//! Every zkCli 3.8 command is in the script (with `quit` last), with these
//! limits:
//! - `reconfig` can only be refused ("Reconfig is disabled"): a standalone
//!   server without reconfigEnabled; a real reconfig needs a quorum.
//! - `connect` reconnects to the same server: there is only one.
//! - `addauth` uses the digest scheme: sasl and x509 need a configured
//!   provider or TLS.
//! - there is no `multi` command in zkCli 3.8; `deleteall -b N` sends its
//!   deletes as multi ops of N.
//! - commands whose bad arguments crash the 3.8 CLI itself (e.g. `set -v x`,
//!   an uncaught NumberFormatException) are left out.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;

const ZKCLI: &str = "/usr/share/zookeeper/bin/zkCli.sh";
const HINT: &str = "apt-get install -y zookeeper";

/// How long one step may take (command output plus its watch events).
const STEP_DEADLINE: Duration = Duration::from_secs(20);

/// Marks a step whose output or events never completed.
const TIMED_OUT: &str = "<<timed out";

/// The session: each command with the number of watch events it triggers
/// in this session (events the CLI prints, so none while printwatches is
/// off). `{port}` is replaced by the server's client port.
const SCRIPT: &[(&str, usize)] = &[
    ("version", 0),
    ("whoami", 0),
    ("ls /", 0),
    ("ls -R /zookeeper", 0),
    ("nosuchcommand /x", 0),
    // create: plain, sequential, ephemeral, ephemeral-sequential, container,
    // TTL, and their errors.
    ("create /app data1", 0),
    ("create /app dup", 0),
    ("create /missing/child x", 0),
    ("create app x", 0),
    ("create /app/", 0),
    ("create -s /app/seq- a", 0),
    ("create -s /app/seq- b", 0),
    ("create -e /app/eph e1", 0),
    ("create -e -s /app/eseq- e2", 0),
    ("create /app/eph/kid x", 0),
    ("create /app/nodata", 0),
    ("get /app/nodata", 0),
    ("create -c /cont", 0),
    ("create /cont/c1 x", 0),
    ("create -c -e /bad", 0),
    ("create -c -s /bad", 0),
    ("create -t 600000 /ttl t", 0),
    ("create -s -t 600000 /ttlseq- t", 0),
    ("create -t 0 /ttl0 x", 0),
    ("create -t abc /ttlx x", 0),
    ("create -e -t 5 /ttle x", 0),
    ("create -c -t 5 /ttlc x", 0),
    ("stat /ttl", 0),
    ("stat /ttlseq-0000000000", 0),
    ("stat /cont", 0),
    ("stat /app/eph", 0),
    ("stat /nope", 0),
    ("stat", 0),
    // get / ls / set / stat
    ("get -s /app", 0),
    ("get /nope", 0),
    ("get /app extra", 0),
    ("ls -s /app", 0),
    ("ls -R /app", 0),
    ("ls /nope", 0),
    ("ls", 0),
    ("set /app data2", 0),
    ("set -s -v 1 /app data3", 0),
    ("set -v 99 /app bad", 0),
    ("set /nope x", 0),
    ("set /app", 0),
    // one-shot watches, triggered by this same session
    ("get -w /app", 0),
    ("set /app data4", 1),
    ("ls -w /app", 0),
    ("create /app/child c", 1),
    ("stat -w /newnode", 0),
    ("create /newnode n", 1),
    ("ls -s -w /app/child", 0),
    ("create /app/child/gc g", 1),
    ("ls -R -w /app", 0),
    ("create /app/child/gc2 g", 1),
    ("set /app/child/gc2 changed", 0),
    ("get -s -w /app/child/gc2", 0),
    ("delete /app/child/gc2", 1),
    ("printwatches", 0),
    ("printwatches off", 0),
    ("get -w /app", 0),
    ("set /app quiet", 0),
    ("printwatches on", 0),
    ("printwatches", 0),
    // persistent and persistent-recursive watches
    ("create /tree t", 0),
    ("addWatch -m PERSISTENT_RECURSIVE /tree", 0),
    ("create /tree/a a", 1),
    ("create /tree/a/b b", 1),
    ("set /tree/a/b b2", 1),
    ("delete /tree/a/b", 1),
    ("set /tree t2", 1),
    ("addWatch -m PERSISTENT /pw", 0),
    ("create /pw p", 1),
    ("create /pw/k k", 1),
    ("set /pw p2", 1),
    ("set /pw/k k2", 0),
    ("addWatch -m bogus /pw", 0),
    ("addWatch", 0),
    ("removewatches /pw", 1),
    ("set /pw p3", 0),
    ("removewatches /tree -a", 1),
    ("create /tree/c c", 0),
    ("removewatches /nowatch", 0),
    ("stat -w /app", 0),
    ("removewatches /app -c", 1),
    ("removewatches /app -d", 1),
    ("get -w /app", 0),
    ("ls -w /app", 0),
    ("removewatches /app -a", 2),
    ("removewatches /app -l", 0),
    ("removewatches", 0),
    // ACLs and auth
    ("getAcl /app", 0),
    ("getAcl -s /app", 0),
    ("getAcl /nope", 0),
    ("create /acl a", 0),
    ("setAcl -s /acl world:anyone:cdra", 0),
    ("set /acl b", 0),
    ("setAcl -v 5 /acl world:anyone:cdrwa", 0),
    ("setAcl -v 1 /acl world:anyone:cdrw", 0),
    ("setAcl /acl world:anyone:r", 0),
    ("getAcl -s /acl", 0),
    ("setAcl /acl world:anyone:cdrwa", 0),
    ("create /acl/kid k", 0),
    ("create /badacl x ip:notanip:cdrwa", 0),
    ("create /badacl x foo:bar:cdrwa", 0),
    ("setAcl /acl world:anyone", 0),
    ("setAcl /acl world:anyone:rxz", 0),
    ("getAcl /acl", 0),
    ("setAcl /nope world:anyone:r", 0),
    ("setAcl -R /acl world:anyone:cdrwa", 0),
    ("getAcl /acl/kid", 0),
    ("create /private p auth::cdrwa", 0),
    ("addauth digest alice:secret", 0),
    ("create /private p auth::cdrwa", 0),
    ("getAcl /private", 0),
    ("create /shared s digest:bob:0ezhUayTjEymfNB3K9C0+wkMLMo=:r,world:anyone:c", 0),
    ("getAcl /shared", 0),
    ("get /shared", 0),
    ("addauth digest bob:bobpw", 0),
    ("get /shared", 0),
    ("create /both b auth::cdrwa", 0),
    ("getAcl /both", 0),
    ("whoami", 0),
    ("addauth", 0),
    // quotas
    ("create /q q", 0),
    ("setquota -n 2 /q", 0),
    ("listquota /q", 0),
    ("create /q/a a", 0),
    ("create /q/b b", 0),
    ("listquota /q", 0),
    ("setquota -N 4 /q", 0),
    ("create /q/c c", 0),
    ("create /q/d d", 0),
    ("setquota -B 10 /q", 0),
    ("set /q 0123456789abc", 0),
    ("listquota /q", 0),
    ("setquota -b 1 /q", 0),
    ("setquota -n 0 /q", 0),
    ("setquota -n x /q", 0),
    ("setquota /q", 0),
    ("setquota -n 5 /q/a", 0),
    ("setquota -n 5 /zookeeper/quota", 0),
    ("setquota -n 1 /nope", 0),
    ("ls -R /zookeeper/quota", 0),
    ("get /zookeeper/quota/q/zookeeper_limits", 0),
    ("get /zookeeper/quota/q/zookeeper_stats", 0),
    ("delquota -N /q", 0),
    ("listquota /q", 0),
    ("create /q/d d", 0),
    ("delquota -B /q", 0),
    ("delquota /q", 0),
    ("listquota /q", 0),
    ("delquota /q", 0),
    ("listquota /nope", 0),
    ("ls -R /zookeeper", 0),
    // getEphemerals, getAllChildrenNumber, sync, config
    ("getEphemerals", 0),
    ("getEphemerals /app", 0),
    ("getEphemerals /app/e", 0),
    ("getEphemerals /nope", 0),
    ("getAllChildrenNumber /", 0),
    ("getAllChildrenNumber /app", 0),
    ("getAllChildrenNumber /q", 0),
    ("getAllChildrenNumber /nope", 0),
    ("getAllChildrenNumber", 0),
    ("sync /app", 0),
    ("sync /nope", 0),
    ("sync", 0),
    ("config", 0),
    ("config -s", 0),
    ("config -c", 0),
    ("config -w", 0),
    ("reconfig -remove 2", 0),
    ("reconfig", 0),
    // delete and deleteall (deleteall -b batches its deletes in multi ops)
    ("delete /app", 0),
    ("delete -v 9 /newnode", 0),
    ("delete -v 0 /newnode", 0),
    ("delete /nope", 0),
    ("delete /zookeeper", 0),
    ("delete /cont/c1", 0),
    ("ls -s /cont", 0),
    ("create /big b", 0),
    ("create /big/1 x", 0),
    ("create /big/1/a x", 0),
    ("create /big/1/b x", 0),
    ("create /big/2 x", 0),
    ("create /big/3 x", 0),
    ("create /big/3/c x", 0),
    ("getAllChildrenNumber /big", 0),
    ("deleteall /big -b 2", 0),
    ("ls /big", 0),
    ("deleteall /q -b x", 0),
    ("deleteall /q", 0),
    ("deleteall /nope", 0),
    ("deleteall /acl -b 1", 0),
    ("ls /", 0),
    // the shell's own commands
    ("history", 0),
    ("redo 2", 0),
    ("redo 99999", 0),
    ("redo -1", 0),
    // close and reconnect: a new session, without alice's auth or the old
    // ephemerals
    ("close", 3),
    ("ls /", 0),
    ("connect 127.0.0.1:{port}", 1),
    ("ls /app", 0),
    ("get /private", 0),
    ("getEphemerals", 0),
    ("whoami", 0),
];

/// A zkCli.sh process with stderr merged into stdout (so the order of the
/// two is kept), the position up to which its output has been taken, and
/// the shell state the marker's output depends on.
struct Cli {
    io: Interactive,
    pos: usize,
    print_watches: bool,
    connected: bool,
}

impl Cli {
    fn start(addr: &str) -> Cli {
        // 2>&1 inside the child: one pipe, so error lines stay in order with
        // the rest of the output. A lighter JIT and GC keep the JVM start
        // cheap.
        assert!(std::path::Path::new(ZKCLI).exists(), "{ZKCLI} is missing: install it with `{HINT}`");
        let io = Interactive::spawn(
            "/bin/sh",
            &[
                "-c",
                "CLIENT_JVMFLAGS='-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto' exec \"$0\" \"$@\" 2>&1",
                ZKCLI,
                "-server",
                addr,
            ],
            HINT,
        );
        Cli { io, pos: 0, print_watches: true, connected: true }
    }

    /// Waits until the output after `pos` satisfies `done` and returns it
    /// (advancing `pos`), or what there is with a note if it never does.
    fn take_until(&mut self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let pos = self.pos;
        let io = &self.io;
        let ok = wait_until(STEP_DEADLINE, || done(&io.transcript()[pos..]));
        let all = self.io.transcript();
        self.pos = all.len();
        let mut chunk = all[pos..].to_string();
        if !ok {
            chunk.push_str(&format!("{TIMED_OUT} waiting for {what}>>\n"));
        }
        chunk
    }

    /// Runs one command and returns its output with its `events` watch
    /// events listed after it.
    fn step(&mut self, cmd: &str, events: usize) -> String {
        self.io.send(cmd);
        self.io.send("printwatches");
        match cmd {
            "printwatches on" => self.print_watches = true,
            "printwatches off" => self.print_watches = false,
            "close" => self.connected = false,
            _ if cmd.starts_with("connect ") => self.connected = true,
            _ => {}
        }
        // The marker prints its state and then, without a session, that it
        // is not connected.
        let marker = format!(
            "printwatches is {}\n{}",
            if self.print_watches { "on" } else { "off" },
            if self.connected { "" } else { "Not connected\n" }
        );
        let markers = if cmd == "printwatches" { 2 } else { 1 };
        // The event thread may print between the marker's two lines, so the
        // marker is looked for with the events taken out, as it is below.
        let chunk = self.take_until(&format!("the marker and {events} event(s)"), |out| {
            split_events(out).0.matches(&marker).count() >= markers && complete_events(out) >= events
        });
        let (mut text, evs) = split_events(&chunk);
        if let Some(at) = text.rfind(&marker) {
            text.replace_range(at..at + marker.len(), "");
        }
        render(cmd, &text, &evs)
    }
}

/// How many whole `WatchedEvent` lines `out` holds.
fn complete_events(out: &str) -> usize {
    out.match_indices("\nWatchedEvent ").filter(|(at, _)| out[at + 1..].contains('\n')).count()
}

/// Takes the watcher's output ("\nWATCHER::" and "\nWatchedEvent ..."
/// lines, each one println of the event thread) out of `chunk`; returns the
/// rest and the events in order.
fn split_events(chunk: &str) -> (String, Vec<String>) {
    let mut rest = chunk.replace("\nWATCHER::\n", "");
    let mut events = Vec::new();
    while let Some(at) = rest.find("\nWatchedEvent ") {
        let Some(len) = rest[at + 1..].find('\n') else { break };
        events.push(rest[at + 1..at + 1 + len].to_string());
        rest.replace_range(at..at + 2 + len, "");
    }
    (rest, events)
}

/// One step as it appears in the transcript.
fn render(cmd: &str, text: &str, events: &[String]) -> String {
    let mut out = format!("> {cmd}\n");
    for line in text.lines() {
        if !line.starts_with("SLF4J: ") {
            out.push_str(line);
            out.push('\n');
        }
    }
    for e in events {
        out.push_str(&format!("[event] {e}\n"));
    }
    out
}

/// Replaces what differs between two correct runs: dates, zxids, session
/// ids and the port.
fn normalise(transcript: &str, port: u16) -> String {
    let mut zxids: HashMap<String, usize> = HashMap::new();
    let mut sessions: HashMap<String, usize> = HashMap::new();
    let mut out = String::new();
    for line in transcript.replace(&port.to_string(), "<port>").lines() {
        let line = match line.split_once(" = ") {
            Some((key @ ("ctime" | "mtime"), _)) => format!("{key} = <date>"),
            Some((key @ ("cZxid" | "mZxid" | "pZxid"), v)) => {
                let n = zxids.len();
                format!("{key} = <zxid{}>", zxids.entry(v.to_string()).or_insert(n))
            }
            // Clients see a session's id here, or 0 (TTL and container
            // owners read as 0).
            Some(("ephemeralOwner", v)) if v != "0x0" => {
                let n = sessions.len();
                format!("ephemeralOwner = <session{}>", sessions.entry(v.to_string()).or_insert(n))
            }
            _ => line.to_string(),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The whole scripted session against `s`, normalised.
fn session(s: &TestServer) -> String {
    let mut cli = Cli::start(&s.addr());
    let prelude = cli.take_until("the connection", |out| {
        out.contains("JLine support is disabled\n") && complete_events(out) >= 1
    });
    let (text, evs) = split_events(&prelude);
    let mut transcript = render("(start)", &text, &evs);
    for (cmd, events) in SCRIPT {
        let cmd = cmd.replace("{port}", &s.port.to_string());
        transcript.push_str(&cli.step(&cmd, *events));
        if transcript.contains(TIMED_OUT) {
            // Later output would land in the wrong steps: stop here (the
            // CLI is killed on drop) and let the diff show this step.
            return normalise(&transcript, s.port);
        }
    }
    // `quit` closes the session and exits at once, so whether the Closed
    // event gets printed first is a race: it is dropped.
    cli.io.send("quit");
    cli.io.finish();
    let (text, _) = split_events(&cli.io.transcript()[cli.pos..]);
    transcript.push_str(&render("quit", &text, &[]));
    normalise(&transcript, s.port)
}

/// A line diff (longest common subsequence), `-` for `a` only, `+` for `b`
/// only, with two lines of context around each change.
fn diff(a: &str, b: &str) -> String {
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let mut ops = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            ops.push(('+', b[j]));
            j += 1;
        } else {
            ops.push(('-', a[i]));
            i += 1;
        }
    }
    let near_change =
        |k: usize| ops[k.saturating_sub(2)..(k + 3).min(ops.len())].iter().any(|(op, _)| *op != ' ');
    let mut out = String::new();
    let mut skipped = false;
    for (k, (op, line)) in ops.iter().enumerate() {
        if near_change(k) {
            out.push_str(&format!("{op} {line}\n"));
            skipped = false;
        } else if !skipped {
            out.push_str("  ...\n");
            skipped = true;
        }
    }
    out
}

/// The server options both runs use: TTL nodes on, quotas enforced, and
/// the container sweep far enough away that it never runs mid-script.
fn opts() -> ServerOpts {
    ServerOpts::default()
        .prop("zookeeper.extendedTypesEnabled", "true")
        .prop("zookeeper.enforceQuota", "true")
        .prop("znode.container.checkIntervalMs", "3600000")
}

#[test]
fn zkcli_session_is_identical_on_zkserver_and_java() {
    let java = {
        let s = TestServer::start_with(Flavor::Java, opts());
        session(&s)
    };
    let ours = {
        let s = TestServer::start_with(Flavor::Zkserver, opts());
        session(&s)
    };
    assert!(!java.contains(TIMED_OUT), "the script's event counts are wrong for Java:\n{java}");
    // The script did what it says on the reference server (so an
    // agreement is not one on a broken session).
    for expected in [
        "> create /app data1\nCreated /app\n",
        "Node already exists: /app\n",
        "Created /app/eseq-0000000003\n",
        "Created /ttlseq-0000000003\n",
        "TTLs cannot be used with Ephemeral znodes\n",
        "version No is not valid : /app\n",
        "Insufficient permission : /acl\n",
        "Acl is not valid : /badacl\n",
        "Node not empty: /app\n",
        "Quota has exceeded : /q/d\n",
        "[event] WatchedEvent state:SyncConnected type:NodeDataChanged path:/tree/a/b\n",
        "Sync is OK\n",
        "KeeperErrorCode = Reconfig is disabled\n",
        "> getEphemerals /app\n[/app/eseq-0000000003, /app/eph]\n",
        "> get /shared\ns\n",
        "Output stat for /q count=4,bytes=4\n",
        "> ls /\nNot connected\n",
    ] {
        assert!(java.contains(expected), "Java transcript lacks {expected:?}:\n{java}");
    }
    if java != ours {
        panic!(
            "zkCli.sh transcripts differ (- Java 3.8, + zkserver):\n{}\n---- full zkserver transcript ----\n{ours}",
            diff(&java, &ours)
        );
    }
}
