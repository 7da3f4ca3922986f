//! The transaction log against Apache ZooKeeper 3.8 itself: Java's
//! TxnLogToolkit must read a log we wrote, we must read a log the Java server
//! wrote, and re-writing the Java server's txns with our writer must give the
//! very same file.
//!
//! Needs `java` and the Debian zookeeper jars (apt-get install zookeeper);
//! without them these tests fail, they do not skip.

mod common;

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use zkserver::jute::records::{
    Acl, CheckVersionRequest, ConnectRequest, ConnectResponse, CreateRequest, DeleteRequest, Id, MultiHeader,
    ReplyHeader, RequestHeader, SetDataRequest,
};
use zkserver::jute::txn::*;
use zkserver::jute::{OutputArchive, Record};
use zkserver::server::persistence::file_txn_log::{read_txns, FileTxnLog, DEFAULT_PRE_ALLOC_SIZE};
use zkserver::server::persistence::file_txn_snap_log::FileTxnSnapLog;
use zkserver::server::data_tree::DataTree;
use zkserver::server::zoo_defs::{code, op_code};

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
        let deadline = Instant::now() + Duration::from_secs(15);
        while !server.is_serving() {
            assert!(Instant::now() < deadline, "the Java server did not start; see {}", work.display());
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// `srvr` answers with the server's mode once it serves clients (`ruok`
    /// already says imok while the database is still loading).
    fn is_serving(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let mut reply = String::new();
        s.write_all(b"srvr").is_ok() && s.read_to_string(&mut reply).is_ok() && reply.contains("Mode: ")
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
