//! Writes the fuzz targets' seed corpora (fuzz/corpus/<target>/seed-*)
//! from real bytes: client connections of the project's client to a
//! running zkserver, recorded by a proxy; that server's snapshots and txn
//! logs; the SNAP stream a leader would send of the same database; quorum
//! packets and election messages made by the project's own serializers.
//! Ignored in normal runs; regenerate with
//!
//!   cargo test --test fuzz_seeds -- --ignored
//!
//! then minimize the corpora as README's Fuzzing section says.

mod common;

use common::{ServerOpts, TestServer};
use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use zkserver::client::ZkClient;
use zkserver::jute::multi::{MultiOperationRecord, Op};
use zkserver::jute::records::*;
use zkserver::jute::{OutputArchive, Record};
use zkserver::quorum::fast_leader_election::build_msg;
use zkserver::quorum::learner::Learner;
use zkserver::quorum::quorum_cnx_manager::{InitialMessage, PROTOCOL_VERSION_V1, PROTOCOL_VERSION_V2};
use zkserver::quorum::quorum_packet::{self as qp, packet, write_packet};
use zkserver::quorum::vote::ServerState;
use zkserver::server::auth::digest_authentication_provider::generate_digest;
use zkserver::server::persistence::file_txn_log::read_txns;
use zkserver::server::persistence::file_txn_snap_log::FileTxnSnapLog;
use zkserver::server::request::Request;
use zkserver::server::zk_database::{TxnLogSettings, ZkDatabase};
use zkserver::zoo_defs::op_code;

fn corpus(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    fs::create_dir_all(&dir).expect("create the corpus directory");
    dir
}

fn seed(target: &str, name: &str, bytes: &[u8]) {
    fs::write(corpus(target).join(format!("seed-{name}")), bytes).expect("write a seed");
}

/// A proxy in front of `server` that records what each client connection
/// sends, one byte string per connection.
struct Recorder {
    addr: String,
    sessions: Arc<Mutex<Vec<Arc<Mutex<Vec<u8>>>>>>,
}

impl Recorder {
    fn start(server: String) -> Recorder {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind the recorder");
        let addr = l.local_addr().expect("recorder address").to_string();
        let sessions: Arc<Mutex<Vec<Arc<Mutex<Vec<u8>>>>>> = Arc::default();
        let all = Arc::clone(&sessions);
        std::thread::spawn(move || {
            for client in l.incoming().flatten() {
                let Ok(upstream) = TcpStream::connect(&server) else { continue };
                let rec = Arc::new(Mutex::new(Vec::new()));
                all.lock().unwrap().push(Arc::clone(&rec));
                let (mut c_in, mut u_out) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                std::thread::spawn(move || {
                    let mut buf = [0u8; 65536];
                    while let Ok(n @ 1..) = c_in.read(&mut buf) {
                        rec.lock().unwrap().extend_from_slice(&buf[..n]);
                        if u_out.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = u_out.shutdown(Shutdown::Write);
                });
                let (mut u_in, mut c_out) = (upstream, client);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut u_in, &mut c_out);
                    let _ = c_out.shutdown(Shutdown::Write);
                });
            }
        });
        Recorder { addr, sessions }
    }

    /// Runs `ops` on a new session through the proxy, closes it and returns
    /// the bytes the client sent.
    fn record(&self, ops: impl FnOnce(&ZkClient)) -> Vec<u8> {
        let c = ZkClient::connect(&self.addr, 30000).expect("connect through the recorder");
        c.set_pinging(false);
        ops(&c);
        let _ = c.close();
        drop(c);
        std::thread::sleep(std::time::Duration::from_millis(100));
        let rec = Arc::clone(self.sessions.lock().unwrap().last().expect("a recorded session"));
        let bytes = rec.lock().unwrap().clone();
        bytes
    }
}

fn open_acl() -> Vec<Acl> {
    vec![Acl { perms: 31, id: Id::new("world", "anyone") }]
}

fn create(path: &str, data: &[u8], flags: i32) -> CreateRequest {
    CreateRequest { path: path.into(), data: Some(data.to_vec()), acl: open_acl(), flags }
}

/// Client sessions, each recorded as one client_frame seed.
fn client_sessions(rec: &Recorder) {
    let sessions: Vec<(&str, Box<dyn FnOnce(&ZkClient)>)> = vec![
        ("connect-close", Box::new(|_| {})),
        (
            "create-read-write-delete",
            Box::new(|c| {
                let _ = c.submit_bytes(op_code::CREATE, &create("/a", b"x", 0).to_bytes());
                let _ = c.submit_bytes(op_code::CREATE2, &create("/a/s-", b"", 2).to_bytes());
                let _ = c.submit_bytes(op_code::EXISTS, &ExistsRequest { path: "/a".into(), watch: true }.to_bytes());
                let _ = c.submit_bytes(op_code::GET_DATA, &GetDataRequest { path: "/a".into(), watch: true }.to_bytes());
                let set = SetDataRequest { path: "/a".into(), data: Some(b"yz".to_vec()), version: 0 };
                let _ = c.submit_bytes(op_code::SET_DATA, &set.to_bytes());
                let _ = c.submit_bytes(op_code::GET_CHILDREN2, &GetChildren2Request { path: "/a".into(), watch: true }.to_bytes());
                let _ = c.submit_bytes(op_code::CHECK, &CheckVersionRequest { path: "/a".into(), version: 1 }.to_bytes());
                let _ = c.submit_bytes(op_code::DELETE, &DeleteRequest { path: "/a".into(), version: -1 }.to_bytes());
            }),
        ),
        (
            "ephemeral-container-ttl",
            Box::new(|c| {
                let _ = c.submit_bytes(op_code::CREATE, &create("/e", b"", 1).to_bytes());
                let _ = c.submit_bytes(op_code::CREATE_CONTAINER, &create("/c", b"", 4).to_bytes());
                let ttl = CreateTtlRequest { path: "/t".into(), data: None, acl: open_acl(), flags: 5, ttl: 1000 };
                let _ = c.submit_bytes(op_code::CREATE_TTL, &ttl.to_bytes());
                let _ = c.submit_bytes(op_code::GET_EPHEMERALS, &GetEphemeralsRequest { prefix_path: "/".into() }.to_bytes());
                let _ = c.submit_bytes(op_code::GET_ALL_CHILDREN_NUMBER, &GetAllChildrenNumberRequest { path: "/".into() }.to_bytes());
            }),
        ),
        (
            "auth-acl",
            Box::new(|c| {
                let _ = c.add_auth("digest", b"user:secret");
                let acl = vec![Acl { perms: 31, id: Id::new("digest", &generate_digest("user:secret")) }];
                let _ = c.submit_bytes(
                    op_code::CREATE,
                    &CreateRequest { path: "/p".into(), data: None, acl: acl.clone(), flags: 0 }.to_bytes(),
                );
                let auth = vec![Acl { perms: 1, id: Id::new("auth", "") }];
                let _ = c.submit_bytes(op_code::SET_ACL, &SetAclRequest { path: "/p".into(), acl: auth, version: -1 }.to_bytes());
                let _ = c.submit_bytes(op_code::GET_ACL, &GetAclRequest { path: "/p".into() }.to_bytes());
                let _ = c.submit_bytes(op_code::WHO_AM_I, &[]);
            }),
        ),
        (
            "multi-sync-watches",
            Box::new(|c| {
                let multi = MultiOperationRecord {
                    ops: vec![
                        Op::Create {
                            op_type: op_code::CREATE,
                            req: CreateTtlRequest { path: "/m".into(), data: None, acl: open_acl(), flags: 0, ttl: -1 },
                        },
                        Op::SetData(SetDataRequest { path: "/m".into(), data: Some(b"1".to_vec()), version: 0 }),
                        Op::Check(CheckVersionRequest { path: "/m".into(), version: 1 }),
                        Op::Delete(DeleteRequest { path: "/m".into(), version: 1 }),
                    ],
                };
                let mut oa = OutputArchive::new();
                multi.serialize(&mut oa);
                let _ = c.submit_bytes(op_code::MULTI, oa.as_slice());
                let _ = c.submit_bytes(op_code::SYNC, &SyncRequest { path: "/".into() }.to_bytes());
                let _ = c.submit_bytes(op_code::ADD_WATCH, &AddWatchRequest { path: "/".into(), mode: 1 }.to_bytes());
                let sw = SetWatches2 {
                    relative_zxid: 1,
                    data_watches: vec!["/a".into()],
                    exist_watches: vec!["/b".into()],
                    child_watches: vec!["/".into()],
                    persistent_watches: vec!["/p".into()],
                    persistent_recursive_watches: vec!["/".into()],
                };
                let _ = c.submit_bytes(op_code::SET_WATCHES2, &sw.to_bytes());
            }),
        ),
    ];
    for (name, ops) in sessions {
        seed("client_frame", name, &rec.record(ops));
    }
}

/// Quorum packets as the leader and a learner write them, in the order of
/// a sync and after it.
fn quorum_packets(entries: &[zkserver::jute::txn::TxnLogEntry]) {
    let mut epoch = OutputArchive::new();
    epoch.write_int(1);
    let info = LearnerInfo { serverid: 2, protocol_version: qp::PROTOCOL_VERSION, config_version: 0 };
    let mut touches = OutputArchive::new();
    touches.write_long(0x1000_0000_0001);
    touches.write_int(30000);
    let mut revalidate = OutputArchive::new();
    revalidate.write_long(0x1000_0000_0001);
    revalidate.write_int(30000);
    let mut answer = revalidate.as_slice()[..8].to_vec();
    answer.push(1);
    let req = Request::new(None, 0x1000_0000_0001, 7, op_code::CREATE, create("/q", b"v", 0).to_bytes(), vec![Id::new("digest", "u:x")]);
    let config = b"server.1=127.0.0.1:2888:3888:participant\nversion=100000000".to_vec();

    let mut learner = vec![
        packet(qp::FOLLOWERINFO, 1 << 32, Some(info.to_bytes())),
        packet(qp::ACKEPOCH, 0x1_0000_0005, Some(epoch.into_inner())),
        packet(qp::ACK, 0x2_0000_0000, None),
        packet(qp::PING, 0x2_0000_0001, Some(touches.into_inner())),
        packet(qp::REVALIDATE, -1, Some(revalidate.into_inner())),
        Learner::request_packet(&req),
    ];
    learner.push(packet(qp::OBSERVERINFO, 1 << 32, Some(info.to_bytes())));
    let mut leader = vec![
        packet(qp::LEADERINFO, 2 << 32, Some(qp::PROTOCOL_VERSION.to_be_bytes().to_vec())),
        packet(qp::DIFF, 0x1_0000_0005, None),
    ];
    for e in entries {
        leader.push(packet(qp::PROPOSAL, e.hdr.zxid, Some(e.to_bytes())));
        leader.push(packet(qp::COMMIT, e.hdr.zxid, None));
    }
    if let Some(e) = entries.first() {
        leader.push(packet(qp::INFORM, e.hdr.zxid, Some(e.to_bytes())));
    }
    leader.extend([
        packet(qp::NEWLEADER, 2 << 32, Some(config)),
        packet(qp::UPTODATE, -1, None),
        packet(qp::PING, 2 << 32, None),
        packet(qp::REVALIDATE, -1, Some(answer)),
        packet(qp::SYNC, -1, None),
        packet(qp::TRUNC, 0x1_0000_0002, None),
    ]);
    let stream = |ps: &[QuorumPacket]| {
        let mut out = Vec::new();
        for p in ps {
            write_packet(&mut out, p).expect("serialize a packet");
        }
        out
    };
    seed("quorum_packet", "learner-stream", &stream(&learner));
    seed("quorum_packet", "leader-stream", &stream(&leader));
    for p in learner.iter().chain(&leader) {
        seed("quorum_packet", &format!("{}-{:x}", qp::type_name(p.r#type), p.zxid), &stream(std::slice::from_ref(p)));
    }
}

/// Notifications in every state and format, and initial messages.
fn election_messages() {
    let config = b"server.1=127.0.0.1:2888:3888:participant\nserver.2=127.0.0.1:2889:3889:participant\nversion=0";
    for (i, state) in [ServerState::Looking, ServerState::Following, ServerState::Leading, ServerState::Observing]
        .into_iter()
        .enumerate()
    {
        let msg = build_msg(state, 2, 0x1_0000_0003, 5, 1, config);
        seed("election", &format!("notification-{}", state.name()), &msg);
        if i == 0 {
            // The 28- and 40-byte forms of older servers.
            seed("election", "notification-28", &msg[..28]);
            seed("election", "notification-40", &msg[..40]);
        }
    }
    seed("election", "initial-v1", &InitialMessage::encode(PROTOCOL_VERSION_V1, 3, "127.0.0.1:3888"));
    seed("election", "initial-v2", &InitialMessage::encode(PROTOCOL_VERSION_V2, 3, "127.0.0.1:3888|[::1]:3889|0.0.0.0:3890"));
    seed("election", "initial-old-sid", &3i64.to_be_bytes());
}

fn files_named(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read the data directory")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix)))
        .collect();
    v.sort();
    v
}

#[test]
#[ignore = "writes fuzz/corpus; run by hand to regenerate the seeds"]
fn write_seed_corpora() {
    // Small preallocation and frequent snapshots: several small files.
    let mut server = TestServer::start(
        ServerOpts::default().prop("zookeeper.preAllocSize", "8").prop("zookeeper.snapCount", "4"),
    );
    let rec = Recorder::start(server.addr());
    client_sessions(&rec);
    server.stop();

    let version2 = server.data_dir().join("version-2");
    for path in files_named(&version2, "snapshot.") {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        seed("snapshot_file", &name, &fs::read(&path).unwrap());
    }
    for path in files_named(&version2, "log.") {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        seed("txn_log_file", &name, &fs::read(&path).unwrap());
    }
    // The newest snapshot again, stored as gz and as snappy-java would
    // store it: the target reads inputs with either magic that way.
    if let Some(newest) = files_named(&version2, "snapshot.").last() {
        use zkserver::server::persistence::snap_stream::{SnapOutput, StreamMode};
        let name = newest.file_name().unwrap().to_string_lossy().into_owned();
        for mode in [StreamMode::Gzip, StreamMode::Snappy] {
            let mut out = SnapOutput::new(Vec::new(), mode);
            out.write_all(&fs::read(newest).unwrap()).unwrap();
            seed("snapshot_file", &format!("{name}{}", mode.file_extension()), &out.finish().unwrap());
        }
    }

    let entries: Vec<_> = read_txns(&version2, 0).expect("read the logs").flatten().take(12).collect();
    quorum_packets(&entries);
    election_messages();

    // The SNAP stream a leader with this database sends.
    let snap_log = FileTxnSnapLog::new(&server.data_dir(), &server.data_dir()).expect("open the data directory");
    let db = ZkDatabase::new(snap_log, true, true);
    let settings = TxnLogSettings { pre_alloc_size: 8192, force_sync: false, fsync_warning_threshold_ms: 1000, snapshot_trust_empty: false, snapshot_compression: Default::default() };
    db.load_database(settings).expect("load the database");
    let mut stream = Vec::new();
    db.serialize_snapshot(&mut stream).expect("serialize the snapshot");
    seed("snap_stream", "leader-snapshot", &stream);
}
