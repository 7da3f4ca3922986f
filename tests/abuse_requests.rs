//! Requests a client may send but must not get away with: opcodes only a
//! server may originate, and writes whose txn no server could read back.
//! Each test fails on the code before its fix.

mod common;

use common::ensemble::Ensemble;
use common::{wait_until, Flavor, ServerOpts, TestServer};
use std::time::{Duration, Instant};
use zkserver::client::ZkClient;
use zkserver::jute::multi::{MultiOperationRecord, Op};
use zkserver::jute::records::{Acl, CreateTtlRequest, Id};
use zkserver::jute::{OutputArchive, Record};
use zkserver::server::auth::digest_authentication_provider::generate_digest;
use zkserver::zoo_defs::{code, ids, op_code, perms, CreateMode};

/// An ACL only `alice:secret` may use.
fn alice_only() -> Vec<Acl> {
    vec![Acl { perms: perms::ALL, id: Id { scheme: "digest".into(), id: generate_digest("alice:secret") } }]
}

/// deleteContainer (op 20) with a bare path as its body: what the
/// ContainerManager posts to Prep. From a client it must never delete.
fn delete_container_as_client(c: &ZkClient, path: &str) -> i32 {
    c.submit_bytes(op_code::DELETE_CONTAINER, path.as_bytes()).expect("op 20 answered").header.err
}

/// A client of a follower used to delete any childless, non-ephemeral node,
/// ACL-protected or not: the leader rebuilt the forwarded request without
/// a connection and took that for the ContainerManager's own request. Java
/// answers BADARGUMENTS and keeps the node.
#[test]
fn delete_container_through_a_follower_or_the_leader_is_refused() {
    let mut ens = Ensemble::new(&[Flavor::Zkserver; 3], &[]);
    ens.start_all();
    let leader = ens.settled_leader(&[1, 2, 3]);
    let follower = [1, 2, 3].into_iter().find(|s| *s != leader).unwrap_or(1);

    let owner = ens.client(leader);
    owner.add_auth("digest", b"alice:secret").expect("addauth");
    owner.create("/guarded", Some(b"keep"), &alice_only(), CreateMode::Persistent).expect("create /guarded");
    owner.create("/plain", Some(b"keep"), &ids::open_acl_unsafe(), CreateMode::Persistent).expect("create /plain");
    owner.create("/box", None, &ids::open_acl_unsafe(), CreateMode::Container).expect("create /box");

    for sid in [follower, leader] {
        let intruder = ens.client(sid);
        for path in ["/guarded", "/plain", "/box"] {
            let err = delete_container_as_client(&intruder, path);
            assert_eq!(err, code::BAD_ARGUMENTS, "op 20 on {path} through node {sid}\n{}", ens.logs());
        }
        // The connection stays usable, as with any refused request.
        intruder.sync("/").expect("sync after the refusals");
        let _ = intruder.close();
    }
    for sid in [1, 2, 3] {
        let c = ens.client(sid);
        c.add_auth("digest", b"alice:secret").expect("addauth");
        c.sync("/").expect("sync");
        for path in ["/guarded", "/plain", "/box"] {
            assert!(c.exists(path, false).expect("exists").is_some(), "node {sid} lost {path}\n{}", ens.logs());
        }
        let _ = c.close();
    }
}

/// createSession (op -10) is the server's own request. Java 3.8 takes it
/// from a client too and re-tracks the client's session with whatever
/// timeout it names, so the session and its ephemerals outlive the client
/// by as long as it likes. zkserver refuses it like an unknown opcode.
#[test]
fn a_client_cannot_recreate_its_session_with_a_longer_timeout() {
    let server = TestServer::start(ServerOpts::default().tick_time(500));
    let c = ZkClient::connect(server.addr().as_str(), 4000).expect("connect");
    c.create("/eph", None, &ids::open_acl_unsafe(), CreateMode::Ephemeral).expect("create /eph");
    let week_ms: i32 = 7 * 24 * 3600 * 1000;
    let reply = c.submit_bytes(op_code::CREATE_SESSION, &week_ms.to_be_bytes()).expect("answered");
    assert_eq!(reply.header.err, code::UNIMPLEMENTED, "createSession from a client");
    c.disconnect();

    // The session still expires on its negotiated timeout (4 s), taking
    // its ephemeral with it.
    let observer = server.client();
    let started = Instant::now();
    let gone = wait_until(Duration::from_secs(30), || observer.exists("/eph", false).ok() == Some(None));
    assert!(gone, "the ephemeral outlived its 4 s session for {:?}\n{}", started.elapsed(), server.log_tail(40));
}

/// A create whose ACL is "auth" gets one ACL entry per identity the session
/// holds. Three self-granted digest identities of ~900 KB each turned a
/// small request into a txn of several MiB: followers refused the PROPOSAL
/// and the leader could not replay its own log. The txn is now refused in
/// Prep (BADARGUMENTS); nothing is logged, and every node restarts.
#[test]
fn a_txn_larger_than_any_reader_accepts_is_refused_and_every_node_restarts() {
    let mut ens = Ensemble::new(&[Flavor::Zkserver; 3], &[]);
    ens.start_all();
    let leader = ens.settled_leader(&[1, 2, 3]);
    let follower = [1, 2, 3].into_iter().find(|s| *s != leader).unwrap_or(1);

    for sid in [follower, leader] {
        let c = ens.client(sid);
        for who in ['a', 'b', 'c'] {
            let user: String = std::iter::repeat(who).take(900_000).collect();
            c.add_auth("digest", format!("{user}:pw").as_bytes()).expect("addauth");
        }
        let auth_acl = vec![Acl { perms: perms::ALL, id: Id { scheme: "auth".into(), id: String::new() } }];
        let err = c.create("/huge", None, &auth_acl, CreateMode::Persistent).expect_err("a txn of several MiB");
        assert_eq!(err.code(), code::BAD_ARGUMENTS, "through node {sid}: {err}\n{}", ens.logs());
        let path = format!("/after-{sid}");
        c.create(&path, Some(b"ok"), &ids::open_acl_unsafe(), CreateMode::Persistent)
            .unwrap_or_else(|e| panic!("write after the refusal through node {sid}: {e}\n{}", ens.logs()));
        let _ = c.close();
    }
    let acked: Vec<(String, Vec<u8>)> = [follower, leader].iter().map(|s| (format!("/after-{s}"), b"ok".to_vec())).collect();

    for sid in [1, 2, 3] {
        ens.kill9(sid);
    }
    ens.start_all();
    ens.settled_leader(&[1, 2, 3]);
    for sid in [1, 2, 3] {
        ens.assert_has_all(sid, &acked);
        let c = ens.client(sid);
        assert!(c.exists("/huge", false).expect("exists").is_none(), "node {sid} has /huge");
        let _ = c.close();
    }
}

/// The body of a multi of plain creates.
fn multi_of_creates(creates: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let ops = creates
        .iter()
        .map(|(path, data)| Op::Create {
            op_type: op_code::CREATE,
            req: CreateTtlRequest {
                path: path.to_string(),
                data: Some(data.clone()),
                acl: ids::open_acl_unsafe(),
                flags: 0,
                ttl: -1,
            },
        })
        .collect();
    let mut oa = OutputArchive::new();
    MultiOperationRecord { ops }.serialize(&mut oa);
    oa.into_inner()
}

/// With jute.maxbuffer raised to 4 MiB, txns were still decoded with the
/// 1 MiB default and the log was read with a fixed 2 MiB entry limit: a
/// multi whose second create carried 2.5 MiB was applied only in part (the
/// first create), and the server could not read its log back. Every
/// reader now uses the configured bound, and a multi is applied whole or
/// not at all.
#[test]
fn a_raised_jute_maxbuffer_holds_for_txns_multis_and_the_log() {
    let mut server = TestServer::start(ServerOpts::default().prop("jute.maxbuffer", "4194304"));
    let c = server.client();
    let big = vec![b'x'; 2_500_000];
    let body = multi_of_creates(&[("/small", b"s".to_vec()), ("/big", big.clone())]);
    let reply = c.submit_bytes(op_code::MULTI, &body).expect("multi answered");
    assert_eq!(reply.header.err, code::OK, "multi\n{}", server.log_tail(40));
    c.create("/plain-big", Some(&big), &ids::open_acl_unsafe(), CreateMode::Persistent).expect("create of 2.5 MiB");
    for path in ["/small", "/big", "/plain-big"] {
        assert!(c.exists(path, false).expect("exists").is_some(), "{path} missing before restart");
    }
    drop(c);
    server.restart();
    let c = server.client();
    for (path, len) in [("/small", 1), ("/big", big.len()), ("/plain-big", big.len())] {
        let st = c.exists(path, false).expect("exists").unwrap_or_else(|| panic!("{path} lost by the restart"));
        assert_eq!(st.data_length as usize, len, "{path}");
    }
}

/// A standalone server refuses op 20 from its own clients too, whatever
/// the body: a bare path or a well-formed DeleteRequest.
#[test]
fn delete_container_with_a_delete_request_body_is_refused_standalone() {
    let server = TestServer::start(ServerOpts::default());
    let c = server.client();
    c.create("/p", None, &ids::open_acl_unsafe(), CreateMode::Persistent).expect("create");
    let body = zkserver::jute::records::DeleteRequest { path: "/p".into(), version: -1 }.to_bytes();
    let reply = c.submit_bytes(op_code::DELETE_CONTAINER, &body).expect("answered");
    assert_eq!(reply.header.err, code::BAD_ARGUMENTS);
    assert_eq!(delete_container_as_client(&c, "/p"), code::BAD_ARGUMENTS);
    assert!(c.exists("/p", false).expect("exists").is_some());
}
