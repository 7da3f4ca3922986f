//! The transaction log against Apache ZooKeeper 3.8 itself: Java's
//! TxnLogToolkit must read a log we wrote, we must read a log the Java server
//! wrote, and re-writing the Java server's txns with our writer must give the
//! very same file. `zkserver txn-log-toolkit` must print, repair and chop
//! logs (ours and the Java server's) exactly as Java's TxnLogToolkit does.
//!
//! Needs `java` and the Debian zookeeper jars (apt-get install zookeeper);
//! without them these tests fail, they do not skip.

mod common;

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Flavor, ServerOpts, TestServer};
use zkserver::jute::multi::{MultiOperationRecord, Op};
use zkserver::jute::records::{
    Acl, CheckVersionRequest, ConnectRequest, ConnectResponse, CreateRequest, CreateTtlRequest, DeleteRequest, Id,
    MultiHeader, ReplyHeader, RequestHeader, SetDataRequest,
};
use zkserver::jute::txn::*;
use zkserver::jute::{OutputArchive, Record};
use zkserver::server::persistence::file_txn_log::{read_txns, FileTxnLog, DEFAULT_PRE_ALLOC_SIZE};
use zkserver::server::persistence::file_txn_snap_log::FileTxnSnapLog;
use zkserver::server::data_tree::DataTree;
use zkserver::zoo_defs::{code, ids, op_code, perms, CreateMode};

fn java() -> Command {
    let mut cmd = Command::new("java");
    cmd.arg("-cp").arg(common::java_class_path());
    cmd
}

fn acl() -> Vec<Acl> {
    vec![Acl { perms: 31, id: Id::new("world", "anyone") }]
}

fn entry(zxid: i64, ty: i32, txn: Option<TxnBody>, digest: bool) -> TxnLogEntry {
    TxnLogEntry {
        hdr: TxnHeader { client_id: 0x1000, cxid: zxid as i32, zxid, time: 1_700_000_000_000, r#type: ty },
        txn,
        digest: digest.then_some(TxnDigest { version: 2, tree_digest: zxid * 1_000_003 }),
    }
}

#[test]
fn java_txn_log_toolkit_reads_our_log() {
    let dir = tempfile::tempdir().unwrap();
    let entries = vec![
        entry(
            1,
            op_code::CREATE_SESSION,
            Some(TxnBody::CreateSession(CreateSessionTxn { time_out: 30000 })),
            true,
        ),
        entry(
            2,
            op_code::CREATE,
            Some(TxnBody::Create(CreateTxn {
                path: "/ours-create".into(),
                data: Some(b"v".to_vec()),
                acl: acl(),
                ephemeral: false,
                parent_c_version: 1,
            })),
            true,
        ),
        entry(
            3,
            op_code::CREATE2,
            Some(TxnBody::Create(CreateTxn {
                path: "/ours-create2".into(),
                data: None,
                acl: acl(),
                ephemeral: true,
                parent_c_version: 2,
            })),
            false,
        ),
        entry(
            4,
            op_code::CREATE_TTL,
            Some(TxnBody::CreateTtl(CreateTtlTxn {
                path: "/ours-ttl".into(),
                data: Some(vec![]),
                acl: acl(),
                parent_c_version: 3,
                ttl: 5000,
            })),
            true,
        ),
        entry(
            5,
            op_code::CREATE_CONTAINER,
            Some(TxnBody::CreateContainer(CreateContainerTxn {
                path: "/ours-container".into(),
                data: Some(b"c".to_vec()),
                acl: acl(),
                parent_c_version: 4,
            })),
            true,
        ),
        entry(
            6,
            op_code::SET_DATA,
            Some(TxnBody::SetData(SetDataTxn {
                path: "/ours-create".into(),
                data: Some(b"w".to_vec()),
                version: 1,
            })),
            true,
        ),
        entry(
            7,
            op_code::SET_ACL,
            Some(TxnBody::SetAcl(SetAclTxn { path: "/ours-create".into(), acl: acl(), version: 1 })),
            true,
        ),
        entry(
            8,
            op_code::MULTI,
            Some(TxnBody::Multi(MultiTxn {
                txns: vec![
                    Txn {
                        r#type: op_code::DELETE,
                        data: DeleteTxn { path: "/ours-multi".into() }.to_bytes(),
                    },
                    Txn { r#type: op_code::ERROR, data: ErrorTxn { err: code::OK }.to_bytes() },
                ],
            })),
            true,
        ),
        entry(9, op_code::ERROR, Some(TxnBody::Error(ErrorTxn { err: code::NO_NODE })), true),
        entry(10, op_code::DELETE, Some(TxnBody::Delete(DeleteTxn { path: "/ours-create2".into() })), true),
        entry(
            11,
            op_code::CLOSE_SESSION,
            Some(TxnBody::CloseSession(CloseSessionTxn { paths2_delete: vec!["/ours-eph".into()] })),
            true,
        ),
    ];
    let mut log = FileTxnLog::new(dir.path(), DEFAULT_PRE_ALLOC_SIZE, true, 1000);
    for e in &entries {
        log.append(e).unwrap();
    }
    log.commit().unwrap();
    log.close().unwrap();

    let out = java()
        .arg("org.apache.zookeeper.server.persistence.TxnLogToolkit")
        .arg(dir.path().join("log.1"))
        .stdin(Stdio::null())
        .output()
        .expect("cannot run java: install a JRE");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "TxnLogToolkit failed:\n{stdout}\n{stderr}");
    assert!(!stdout.contains("CRC ERROR"), "{stdout}");
    assert!(stdout.contains(&format!("EOF reached after {} txns.", entries.len())), "{stdout}");
    for path in ["/ours-create,", "/ours-create2", "/ours-ttl", "/ours-container", "/ours-multi", "/ours-eph"]
    {
        assert!(stdout.contains(path), "{path} missing from:\n{stdout}");
    }
    for (zxid, name) in [(1, "createSession"), (6, "setData"), (8, "multi"), (11, "closeSession")] {
        assert!(stdout.contains(&format!("zxid 0x{zxid:x} {name}")), "txn {zxid} missing from:\n{stdout}");
    }
}

/// A Java server child process, killed when dropped.
struct JavaServer {
    child: Child,
    port: u16,
}

impl JavaServer {
    fn start(data_dir: &Path, work: &Path) -> JavaServer {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cfg = work.join("zoo.cfg");
        std::fs::write(
            &cfg,
            format!(
                "tickTime=2000\ndataDir={}\nclientPort={port}\nmaxClientCnxns=0\n\
                 admin.enableServer=false\n4lw.commands.whitelist=*\n",
                data_dir.display()
            ),
        )
        .unwrap();
        let log = File::create(work.join("server.out")).unwrap();
        let child = java()
            .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("cannot run java: install a JRE");
        let server = JavaServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !server.is_serving() {
            assert!(Instant::now() < deadline, "the Java server did not start; see {}", work.display());
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// `srvr` answers with the server's mode once it serves clients (`ruok`
    /// already says imok while the database is still loading). A probe that
    /// arrives too early can be left unanswered with the socket open (Java
    /// 3.8 hits an NPE), so it gives up after a while and is retried.
    fn is_serving(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let mut reply = String::new();
        s.set_read_timeout(Some(Duration::from_secs(2))).is_ok()
            && s.write_all(b"srvr").is_ok()
            && s.read_to_string(&mut reply).is_ok()
            && reply.contains("Mode: ")
    }
}

impl Drop for JavaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Just enough of the client protocol to make the server log some txns.
struct Session {
    sock: TcpStream,
    xid: i32,
}

impl Session {
    fn connect(port: u16) -> Session {
        let mut sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: 30000,
            session_id: 0,
            passwd: vec![0; 16],
        };
        let mut body = req.to_bytes();
        body.push(0); // readOnly = false
        send(&mut sock, &body);
        let resp = ConnectResponse::from_bytes(&recv(&mut sock)).unwrap();
        assert_ne!(resp.session_id, 0);
        Session { sock, xid: 0 }
    }

    /// Sends one request and returns the reply's error code.
    fn call(&mut self, op: i32, body: &[u8]) -> i32 {
        self.xid += 1;
        let mut oa = OutputArchive::new();
        RequestHeader { xid: self.xid, r#type: op }.serialize(&mut oa);
        oa.write_raw(body);
        send(&mut self.sock, oa.as_slice());
        let reply = ReplyHeader::from_bytes(&recv(&mut self.sock)).unwrap();
        assert_eq!(reply.xid, self.xid);
        reply.err
    }
}

fn send(sock: &mut TcpStream, body: &[u8]) {
    sock.write_all(&(body.len() as i32).to_be_bytes()).unwrap();
    sock.write_all(body).unwrap();
}

fn recv(sock: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 4];
    sock.read_exact(&mut len).unwrap();
    let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
    sock.read_exact(&mut buf).unwrap();
    buf
}

fn create_req(path: &str, data: &[u8], flags: i32) -> CreateRequest {
    CreateRequest { path: path.into(), data: Some(data.to_vec()), acl: acl(), flags }
}

fn multi_body(ops: &[(i32, Vec<u8>)]) -> Vec<u8> {
    let mut oa = OutputArchive::new();
    for (op, body) in ops {
        MultiHeader { r#type: *op, done: false, err: -1 }.serialize(&mut oa);
        oa.write_raw(body);
    }
    MultiHeader { r#type: -1, done: true, err: -1 }.serialize(&mut oa);
    oa.into_inner()
}

fn same_contents(a: &Path, b: &Path) -> bool {
    let (fa, fb) = (File::open(a).unwrap(), File::open(b).unwrap());
    if fa.metadata().unwrap().len() != fb.metadata().unwrap().len() {
        return false;
    }
    let (mut ra, mut rb) = (BufReader::new(fa), BufReader::new(fb));
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = ra.read(&mut ba).unwrap();
        if n == 0 {
            return true;
        }
        rb.read_exact(&mut bb[..n]).unwrap();
        if ba[..n] != bb[..n] {
            return false;
        }
    }
}

#[test]
fn we_read_and_rewrite_identically_a_log_the_java_server_wrote() {
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("data");
    {
        let server = JavaServer::start(&data_dir, work.path());
        let mut s = Session::connect(server.port);
        assert_eq!(s.call(op_code::CREATE, &create_req("/x", b"y", 0).to_bytes()), code::OK);
        assert_eq!(s.call(op_code::CREATE2, &create_req("/x/c", b"1", 1).to_bytes()), code::OK);
        assert_eq!(s.call(op_code::CREATE_CONTAINER, &create_req("/box", b"", 4).to_bytes()), code::OK);
        let set = SetDataRequest { path: "/x".into(), data: Some(b"z".to_vec()), version: -1 };
        assert_eq!(s.call(op_code::SET_DATA, &set.to_bytes()), code::OK);
        let ok_multi = multi_body(&[
            (op_code::CREATE, create_req("/m", b"m", 0).to_bytes()),
            (op_code::DELETE, DeleteRequest { path: "/m".into(), version: -1 }.to_bytes()),
        ]);
        assert_eq!(s.call(op_code::MULTI, &ok_multi), code::OK);
        let bad_multi = multi_body(&[
            (op_code::CHECK, CheckVersionRequest { path: "/x".into(), version: 99 }.to_bytes()),
            (op_code::CREATE, create_req("/never", b"", 0).to_bytes()),
        ]);
        assert_eq!(s.call(op_code::MULTI, &bad_multi), code::OK);
        assert_eq!(
            s.call(op_code::DELETE, &DeleteRequest { path: "/nope".into(), version: -1 }.to_bytes()),
            code::NO_NODE
        );
        assert_eq!(s.call(op_code::CLOSE_SESSION, &[]), code::OK);
        // Every reply above came after the txn's fsync: the log is complete.
    }

    let java_dir = data_dir.join("version-2");
    let entries: Vec<TxnLogEntry> = read_txns(&java_dir, 0).unwrap().map(|e| e.unwrap()).collect();
    let types: Vec<i32> = entries.iter().map(|e| e.hdr.r#type).collect();
    assert_eq!(
        types,
        [
            op_code::CREATE_SESSION,
            op_code::CREATE,
            op_code::CREATE2,
            op_code::CREATE_CONTAINER,
            op_code::SET_DATA,
            op_code::MULTI,
            op_code::MULTI,
            op_code::ERROR,
            op_code::CLOSE_SESSION,
        ]
    );
    assert_eq!(entries.iter().map(|e| e.hdr.zxid).collect::<Vec<_>>(), (1..=9).collect::<Vec<_>>());
    // Java 3.8 logs the tree digest after every txn but a plain error txn.
    for e in &entries {
        assert_eq!(e.digest.is_some(), e.hdr.r#type != op_code::ERROR, "{e:?}");
    }
    match &entries[2].txn {
        Some(TxnBody::Create(c)) => {
            assert!(c.path == "/x/c" && c.ephemeral && c.data.as_deref() == Some(&b"1"[..]))
        }
        other => panic!("unexpected {other:?}"),
    }
    match &entries[6].txn {
        Some(TxnBody::Multi(m)) => assert!(m.txns.iter().all(|t| t.r#type == op_code::ERROR)),
        other => panic!("unexpected {other:?}"),
    }
    match &entries[8].txn {
        Some(TxnBody::CloseSession(c)) => assert_eq!(c.paths2_delete, ["/x/c"]),
        other => panic!("unexpected {other:?}"),
    }

    // Our DataTree, fed Java's txns, reaches the tree digest Java logged
    // after each one (and a wrong digest is noticed).
    let dt = DataTree::new();
    for e in &entries {
        dt.process_txn_checked(&e.hdr, e.txn.as_ref(), e.digest.as_ref());
        if let Some(d) = &e.digest {
            assert_eq!((d.version, d.tree_digest), (2, dt.tree_digest()), "after {e:?}");
        }
    }
    assert_eq!(dt.digest_mismatches(), 0);
    let mut wrong = entries[8].clone();
    wrong.hdr.zxid = 10;
    wrong.digest = Some(TxnDigest { version: 2, tree_digest: dt.tree_digest() + 1 });
    dt.process_txn_checked(&wrong.hdr, wrong.txn.as_ref(), wrong.digest.as_ref());
    assert_eq!(dt.digest_mismatches(), 1);

    // The same data directory through FileTxnSnapLog's replay.
    let fts = FileTxnSnapLog::new(&data_dir, &data_dir).unwrap();
    let mut replayed = 0;
    assert_eq!(fts.restore(&mut |_| replayed += 1).unwrap(), 9);
    assert_eq!(replayed, 9);

    // Our writer, fed the same txns, produces Java's file byte for byte
    // (header, entries, and the 64 MiB preallocation).
    let ours: PathBuf = work.path().join("ours");
    std::fs::create_dir(&ours).unwrap();
    let mut log = FileTxnLog::new(&ours, DEFAULT_PRE_ALLOC_SIZE, true, 1000);
    for e in &entries {
        log.append(e).unwrap();
    }
    log.commit().unwrap();
    log.close().unwrap();
    assert!(same_contents(&java_dir.join("log.1"), &ours.join("log.1")), "our log.1 differs from Java's");
}

// ---- zkserver txn-log-toolkit against Java's TxnLogToolkit ----

/// Runs `cmd` in `dir` with `stdin` as its standard input.
fn run_in(mut cmd: Command, dir: &Path, stdin: &[u8]) -> Output {
    let mut child = cmd
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run the tool (java needs: apt-get install zookeeper)");
    // The tool may exit before reading everything (an abort).
    let _ = child.stdin.take().expect("stdin").write_all(stdin);
    child.wait_with_output().expect("wait for the tool")
}

/// Java's TxnLogToolkit, printing in the en_US locale and UTC, as ours does.
fn java_toolkit(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut cmd = Command::new("java");
    cmd.env("LC_ALL", "C.UTF-8")
        .args(["-Duser.timezone=UTC", "-Duser.language=en", "-Duser.country=US", "-Dfile.encoding=UTF-8"])
        .arg("-cp")
        .arg(common::java_class_path())
        .arg("org.apache.zookeeper.server.persistence.TxnLogToolkit")
        .args(args);
    run_in(cmd, dir, stdin)
}

fn our_toolkit(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zkserver"));
    cmd.arg("txn-log-toolkit").args(args);
    run_in(cmd, dir, stdin)
}

/// Both tools with the same arguments, each in its own directory; asserts
/// they print the same bytes and exit alike; returns the output.
fn both_toolkits(java_dir: &Path, our_dir: &Path, args: &[&str], stdin: &[u8]) -> String {
    let java = java_toolkit(java_dir, args, stdin);
    let ours = our_toolkit(our_dir, args, stdin);
    let (j, o) = (String::from_utf8_lossy(&java.stdout), String::from_utf8_lossy(&ours.stdout));
    assert_eq!(
        java.status.code(),
        ours.status.code(),
        "{args:?}: exit status\n--- java stderr\n{}\n--- our stderr\n{}",
        String::from_utf8_lossy(&java.stderr),
        String::from_utf8_lossy(&ours.stderr)
    );
    for (n, (jl, ol)) in j.split_inclusive('\n').zip(o.split_inclusive('\n')).enumerate() {
        assert_eq!(ol, jl, "{args:?}: line {} differs\n--- java\n{j}\n--- ours\n{o}", n + 1);
    }
    assert_eq!(java.stdout, ours.stdout, "{args:?}\n--- java\n{j}\n--- ours\n{o}");
    o.into_owned()
}

fn ok(reply: zkserver::client::Reply) {
    assert_eq!(reply.header.err, code::OK, "request failed");
}

/// Makes the server log every kind of txn it writes: sessions opened and
/// closed (with and without ephemerals), every create flavour, setData
/// (also to null), setACL with digest and ip ids, delete, a multi that
/// commits and one that fails, and plain error txns. Paths and data carry
/// the characters both tools escape or decode specially.
fn log_every_txn_type(s: &TestServer) {
    let open = ids::open_acl_unsafe();
    let c = s.client();
    c.create("/tk", Some(b"root"), &open, CreateMode::Persistent).unwrap();
    c.create2("/tk/eph", Some(b"bin\n\xff\x00 %,}\xed\xa0\x80"), &open, CreateMode::Ephemeral).unwrap();
    let seq = c.create("/tk/seq-", None, &open, CreateMode::PersistentSequential).unwrap();
    let odd = "/tk/odd,name}%\u{e9}";
    c.create(odd, Some("\u{e9}t\u{e9}".as_bytes()), &open, CreateMode::Persistent).unwrap();
    let container = CreateRequest { path: "/tk/box".into(), data: Some(b"c".to_vec()), acl: open.clone(), flags: 4 };
    ok(c.submit(op_code::CREATE_CONTAINER, &container).unwrap());
    let ttl = CreateTtlRequest { path: "/tk/ttl".into(), data: Some(b"t".to_vec()), acl: open.clone(), flags: 5, ttl: 60_000 };
    ok(c.submit(op_code::CREATE_TTL, &ttl).unwrap());
    c.set_data("/tk", Some(b"changed"), 0).unwrap();
    c.set_data(&seq, None, -1).unwrap();
    c.add_auth("digest", b"user:pw").unwrap();
    let acl = vec![
        Acl { perms: perms::ALL, id: Id::new("auth", "") },
        Acl { perms: perms::READ, id: Id::new("ip", "127.0.0.1") },
        Acl { perms: perms::READ | perms::WRITE, id: Id::new("digest", "other:x,y}%=") },
    ];
    c.set_acl(odd, &acl, -1).unwrap();
    c.delete(odd, -1).unwrap();
    let create = |path: &str, data: &[u8]| Op::Create {
        op_type: op_code::CREATE,
        req: CreateTtlRequest { path: path.into(), data: Some(data.to_vec()), acl: open.clone(), flags: 0, ttl: -1 },
    };
    let multi = |ops: Vec<Op>| {
        let mut oa = OutputArchive::new();
        MultiOperationRecord { ops }.serialize(&mut oa);
        c.submit_bytes(op_code::MULTI, oa.as_slice()).unwrap()
    };
    ok(multi(vec![
        create("/tk/m", b"m"),
        Op::SetData(SetDataRequest { path: "/tk/m".into(), data: Some(b"n".to_vec()), version: 0 }),
        Op::Check(CheckVersionRequest { path: "/tk".into(), version: 1 }),
        Op::Delete(DeleteRequest { path: "/tk/m".into(), version: -1 }),
    ]));
    // Java answers a failed multi with OK in the header and the errors in
    // the results; the log gets the create, then error txns.
    ok(multi(vec![
        create("/tk/never", b"x"),
        Op::Check(CheckVersionRequest { path: "/tk".into(), version: 99 }),
        Op::SetData(SetDataRequest { path: "/tk".into(), data: Some(b"y".to_vec()), version: -1 }),
    ]));
    common::assert_code(c.delete("/tk/nope", -1), code::NO_NODE);
    common::assert_code(c.create("/tk", None, &open, CreateMode::Persistent), code::NODE_EXISTS);
    common::assert_code(c.set_data("/tk", None, 42), code::BAD_VERSION);
    let c2 = s.client();
    c2.create("/tk/e2", None, &open, CreateMode::Ephemeral).unwrap();
    c2.create("/tk/e3", None, &open, CreateMode::Ephemeral).unwrap();
    c2.close().unwrap();
    c.close().unwrap();
}

/// A data directory's transaction logs, copied into `dest` (the server's
/// directory goes away with it).
fn copy_logs(s: &TestServer, dest: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for e in std::fs::read_dir(s.data_dir().join("version-2")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("log.") {
            std::fs::copy(e.path(), dest.join(&name)).unwrap();
            names.push(name);
        }
    }
    names.sort();
    assert!(!names.is_empty(), "no transaction log written");
    names
}

fn server_with_every_txn_type(flavor: Flavor) -> TestServer {
    let opts = ServerOpts::default().prop("zookeeper.extendedTypesEnabled", "true");
    let mut s = TestServer::start_with(flavor, opts);
    log_every_txn_type(&s);
    s.stop();
    s
}

#[test]
fn txn_log_toolkit_dumps_what_java_dumps() {
    for flavor in [Flavor::Zkserver, Flavor::Java] {
        let s = server_with_every_txn_type(flavor);
        let dir = tempfile::tempdir().unwrap();
        for log in copy_logs(&s, dir.path()) {
            let text = both_toolkits(dir.path(), dir.path(), &[&log], b"");
            // -d is the default mode; asking for it changes nothing.
            assert_eq!(both_toolkits(dir.path(), dir.path(), &["-d", &log], b""), text);
            assert!(text.starts_with("ZooKeeper Transactional Log File with dbid 0 txnlog format version 2\n"));
            assert!(text.ends_with(" txns.\n"), "{text}");
            assert!(!text.contains("CRC ERROR"), "{text}");
            for op in [
                "createSession", "create", "create2", "createContainer", "createTtl", "setData", "setACL",
                "delete", "multi", "error", "closeSession",
            ] {
                assert!(text.contains(&format!(" {op} ")), "{flavor:?}: no {op} txn in\n{text}");
            }
            for sample in ["'digest,'user:", "'ip,'127.0.0.1", "odd%2Cname%7D%25", ";error:", "check:", "v{'/tk/e"] {
                assert!(text.contains(sample), "{flavor:?}: {sample} missing from\n{text}");
            }
        }
    }
}

/// Offsets of the log's entries: (offset of the checksum, entry length).
fn entry_offsets(log: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 16;
    while at + 12 <= log.len() {
        let len = i32::from_be_bytes(log[at + 8..at + 12].try_into().unwrap());
        if len <= 0 {
            break;
        }
        out.push((at, len as usize));
        at += 12 + len as usize + 1;
    }
    out
}

/// A server's log, and two damaged copies with three bad checksums each:
/// one with three stored checksums changed, one with two stored checksums
/// changed and a byte of a third entry's txn.
fn damaged_logs() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let s = server_with_every_txn_type(Flavor::Zkserver);
    let dir = tempfile::tempdir().unwrap();
    let name = copy_logs(&s, dir.path()).remove(0);
    let good = std::fs::read(dir.path().join(name)).unwrap();
    let entries = entry_offsets(&good);
    assert!(entries.len() > 10, "{} entries", entries.len());
    let mut crcs = good.clone();
    for i in [2, 5, 8] {
        crcs[entries[i].0 + 7] ^= 0x5a;
    }
    let mut bytes = crcs.clone();
    bytes[entries[8].0 + 7] ^= 0x5a;
    let (at, len) = entries[8];
    bytes[at + 12 + len - 1] ^= 0x55;
    (good, crcs, bytes)
}

#[test]
fn txn_log_toolkit_crc_errors_and_recovery_match_java() {
    let (good, crcs, bytes) = damaged_logs();
    let (jd, od) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (j, o) = (jd.path(), od.path());
    for d in [j, o] {
        std::fs::write(d.join("log.1"), &crcs).unwrap();
        std::fs::write(d.join("log.2"), &bytes).unwrap();
    }
    // Dump: each bad entry is printed twice, first as a CRC ERROR.
    for log in ["log.1", "log.2"] {
        let text = both_toolkits(j, o, &[log], b"");
        assert_eq!(text.matches("CRC ERROR - ").count(), 3, "{text}");
    }

    // Recovery without questions: the same report and the same repaired
    // file, which is the log before the damage, byte for byte.
    let text = both_toolkits(j, o, &["-r", "-y", "log.1"], b"");
    assert_eq!(text.matches("CRC FIXED - ").count(), 3, "{text}");
    assert!(text.ends_with("Recovery file log.1.fixed has been written with 3 fixed CRC error(s)\n"), "{text}");
    assert!(same_contents(&j.join("log.1.fixed"), &o.join("log.1.fixed")), "the .fixed files differ");
    std::fs::write(o.join("good"), &good).unwrap();
    assert!(same_contents(&o.join("log.1.fixed"), &o.join("good")), "recovery did not restore the log");
    // A second recovery refuses to overwrite the first one's file.
    both_toolkits(j, o, &["--recover", "--yes", "log.1"], b"");
    for d in [j, o] {
        std::fs::remove_file(d.join("log.1.fixed")).unwrap();
    }

    // Interactive and verbose: an unclear answer is asked again, "n" keeps
    // the bad checksum, "Yes" fixes it, "a" aborts (exit status 0).
    let text = both_toolkits(j, o, &["-r", "-v", "log.1"], b"maybe\nn\nYes\na\n");
    assert_eq!(text.matches("Would you like to fix it (Yes/No/Abort) ? ").count(), 4, "{text}");
    assert!(same_contents(&j.join("log.1.fixed"), &o.join("log.1.fixed")), "the aborted .fixed files differ");
    let partial = String::from_utf8_lossy(&our_toolkit(o, &["log.1.fixed"], b"").stdout).into_owned();
    assert_eq!(partial.matches("CRC ERROR - ").count(), 1, "{partial}");

    // Chopping refuses a log with a bad checksum, in the same words.
    let text = both_toolkits(j, o, &["-c", "-z", "20", "log.2"], b"");
    assert!(text.contains("Got exception: CRC doesn't match "), "{text}");
}

#[test]
fn txn_log_toolkit_chops_like_java() {
    let s = server_with_every_txn_type(Flavor::Zkserver);
    let (jd, od) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (j, o) = (jd.path(), od.path());
    let log = copy_logs(&s, j).remove(0);
    std::fs::copy(j.join(&log), o.join(&log)).unwrap();
    let whole = both_toolkits(j, o, &[&log], b"");
    let txns = whole.lines().filter(|l| l.contains(" zxid 0x")).count();
    let middle = txns as i64 / 2 + 1;

    // Java's Long.decode syntax: the same zxid in hex names the same file.
    let text = both_toolkits(j, o, &["--chop", "--zxid", &format!("{:#x}", middle), &log], b"");
    assert!(text.contains(&format!("Chopping at {middle:x} new log has {middle} records")), "{text}");
    let chopped = format!("{log}.chopped{middle}");
    assert!(same_contents(&j.join(&chopped), &o.join(&chopped)), "the chopped logs differ");
    let dump = both_toolkits(j, o, &[&chopped], b"");
    assert!(dump.ends_with(&format!("EOF reached after {middle} txns.\n")), "{dump}");
    // The chopped log is the head of the whole one.
    let head: Vec<&str> = whole.lines().take(1 + middle as usize).collect();
    assert_eq!(dump.lines().take(1 + middle as usize).collect::<Vec<_>>(), head);

    // A zxid past the end: nothing chopped, reported the same way.
    let text = both_toolkits(j, o, &["-c", "-z", "999", &log], b"");
    assert!(text.contains("Got exception: Failed to chop"), "{text}");
    // Without -c, -z is ignored: a dump.
    assert_eq!(both_toolkits(j, o, &["-z", "3", &log], b""), whole);
}

#[test]
fn txn_log_toolkit_rejects_what_java_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("snapshot.0"), b"ZKSN\0\0\0\x02\xff\xff\xff\xff\xff\xff\xff\xff").unwrap();
    for args in [&["no-such-log"][..], &["snapshot.0"]] {
        let java = java_toolkit(d, args, b"");
        let ours = our_toolkit(d, args, b"");
        assert_eq!(ours.status.code(), java.status.code(), "{args:?}");
        assert_ne!(ours.status.code(), Some(0), "{args:?}");
        let (je, oe) = (String::from_utf8_lossy(&java.stderr), String::from_utf8_lossy(&ours.stderr));
        let java_line = je.lines().find(|l| !l.starts_with('[')).unwrap_or_default();
        assert_eq!(oe.trim_end(), java_line, "{args:?}");
    }
}
