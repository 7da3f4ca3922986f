//! Sessions and the connection: the readOnly connect byte, lastZxidSeen
//! checks, resuming with a bad password or an unknown id, ephemerals across
//! a reconnect, the auth packet (AUTHFAILED), whoAmI, the SASL packet,
//! unknown opcodes, and request ordering (pipelined replies in xid order,
//! a read after a write sees it, across sessions after sync) plus a few
//! recipes written out by hand.

use crate::exec::SUPER_AUTH;
use crate::script::*;
use zkserver::zoo_defs::{add_watch_mode, op_code};

fn connecting(out: &mut Vec<Scenario>) {
    for (name, ro) in [("absent", None), ("false", Some(false)), ("true", Some(true))] {
        let mut sc = Scenario::new(Group::Std, format!("connect/readonly-byte-{name}"));
        let s = sc.connect_with(ro, 0);
        sc.reqs(s, [create("~/x", b""), get_data("~/x", false), Req::WhoAmI]);
        out.push(sc);
    }
    // A client that has seen a zxid from the future is refused.
    let mut sc = Scenario::new(Group::Std, "connect/last-zxid-from-the-future");
    sc.connect_with(Some(false), 0x7fff_0000_0000_0000);
    let s = sc.connect();
    sc.req(s, exists("~", false));
    out.push(sc);

    let mut sc = Scenario::new(Group::Std, "connect/resume");
    let (s, o) = (sc.connect(), sc.connect());
    sc.reqs(
        s,
        [create_flags("~/e", b"", 1), get_data("~", true), add_watch("~/e", add_watch_mode::PERSISTENT)],
    );
    sc.step(Step::Reconnect { s, bad_passwd: false });
    sc.reqs(o, [exists("~/e", false), set_data("~", b"1", -1)]);
    sc.reqs(s, [get_ephemerals("~"), Req::WhoAmI, set_data("~/e", b"mine", -1)]);
    sc.step(Step::Disconnect { s });
    sc.reqs(o, [exists("~/e", false)]);
    sc.step(Step::Reconnect { s, bad_passwd: false });
    sc.step(Step::Close { s });
    sc.reqs(o, [exists("~/e", false)]);
    sc.step(Step::Reconnect { s, bad_passwd: false });
    out.push(sc);

    let mut sc = Scenario::new(Group::Std, "connect/resume-bad-password");
    let (s, o) = (sc.connect(), sc.connect());
    sc.req(s, create_flags("~/e", b"", 1));
    sc.step(Step::Reconnect { s, bad_passwd: true });
    sc.req(o, exists("~/e", false));
    sc.step(Step::Reconnect { s, bad_passwd: false });
    sc.req(s, exists("~/e", false));
    out.push(sc);

    let mut sc = Scenario::new(Group::Std, "connect/resume-unknown-session");
    let s = sc.connect();
    sc.step(Step::ResumeUnknown { s: 1 });
    sc.req(s, exists("~", false));
    out.push(sc);

    // Auth is per connection: a resumed session starts without it.
    let mut sc = Scenario::new(Group::Std, "connect/auth-not-carried-over");
    let s = sc.connect();
    sc.reqs(s, [digest_auth("u1:pw"), create_acl("~/x", vec![acl(31, "auth", "")]), Req::WhoAmI]);
    sc.step(Step::Reconnect { s, bad_passwd: false });
    sc.reqs(s, [Req::WhoAmI, get_data("~/x", false), digest_auth("u1:pw"), get_data("~/x", false)]);
    out.push(sc);
}

fn auth_packets(out: &mut Vec<Scenario>) {
    let cases: &[(&str, &str, &[u8])] = &[
        ("digest", "digest", b"u1:pw"),
        ("digest-no-colon", "digest", b"nocolon"),
        ("digest-empty", "digest", b""),
        ("digest-two-colons", "digest", b"a:b:c"),
        ("digest-binary", "digest", &[0xff, 0xfe, b':', 0]),
        ("super", "digest", SUPER_AUTH.as_bytes()),
        ("ip", "ip", b"10.0.0.1"),
        ("unknown-scheme", "foo", b"bar"),
        ("world", "world", b"anyone"),
        ("empty-scheme", "", b"x"),
        ("sasl-scheme", "sasl", b"x"),
        ("super-scheme", "super", b"x"),
    ];
    for (name, scheme, bytes) in cases {
        let (mut sc, s) = Scenario::std(format!("auth/{name}"));
        sc.req(s, Req::Auth { scheme: scheme.to_string(), auth: bytes.to_vec() });
        sc.reqs(s, [Req::WhoAmI, create("~/after", b""), digest_auth("u2:pw"), Req::WhoAmI]);
        out.push(sc);
    }
    // The same identity twice, and several.
    let (mut sc, s) = Scenario::std("auth/repeated-and-several");
    sc.reqs(
        s,
        [
            Req::WhoAmI,
            digest_auth("u1:pw"),
            digest_auth("u1:pw"),
            digest_auth("u2:pw"),
            auth("ip", ""),
            Req::WhoAmI,
        ],
    );
    out.push(sc);
    // Auth packets pipelined between requests: each request is checked with
    // the ids the connection had when it was read.
    let (mut sc, s) = Scenario::std("auth/pipelined");
    let u1 = zkserver::server::auth::digest_authentication_provider::generate_digest("u1:pw");
    sc.req(s, create_acl("~/x", vec![acl(31, "digest", &u1)]));
    sc.pipeline(
        s,
        vec![
            get_data("~/x", false),
            digest_auth("u1:pw"),
            get_data("~/x", false),
            set_data("~/x", b"1", -1),
            digest_auth("u2:pw"),
            Req::WhoAmI,
        ],
    );
    out.push(sc);
}

fn misc_requests(out: &mut Vec<Scenario>) {
    // SASL without a SASL server configured.
    for (name, token) in [("empty", &b""[..]), ("bytes", &b"\x01\x02hello"[..])] {
        let (mut sc, s) = Scenario::std(format!("sasl/{name}"));
        sc.reqs(s, [Req::Sasl { token: token.to_vec() }, exists("~", false)]);
        out.push(sc);
    }
    // Opcodes a client may not send, and unknown ones.
    for (name, op) in [
        ("notification", op_code::NOTIFICATION),
        ("unknown-50", 50),
        ("unknown-999", 999),
        ("createSession", op_code::CREATE_SESSION),
        ("reconfig", op_code::RECONFIG),
        ("deleteContainer", op_code::DELETE_CONTAINER),
        ("ping-with-xid", op_code::PING),
        ("error", op_code::ERROR),
    ] {
        let (mut sc, s) = Scenario::std(format!("raw/op/{name}"));
        sc.req(
            s,
            Req::Raw {
                op,
                body: {
                    let mut b = 2i32.to_be_bytes().to_vec();
                    b.extend_from_slice(b"/x");
                    b
                },
            },
        );
        sc.req(s, exists("~", false));
        out.push(sc);
    }
    // Bodies that do not decode.
    for (name, op, body) in [
        ("create-truncated", op_code::CREATE, vec![0, 0, 0, 9, b'/']),
        ("getData-empty", op_code::GET_DATA, vec![]),
        ("setData-negative-length", op_code::SET_DATA, vec![0, 0, 0, 2, b'/', b'x', 0xff, 0xff, 0xff, 0xf0]),
        ("exists-huge-string", op_code::EXISTS, vec![0x7f, 0, 0, 0]),
        ("multi-truncated", op_code::MULTI, vec![0, 0, 0, 1]),
    ] {
        let (mut sc, s) = Scenario::std(format!("raw/bad-body/{name}"));
        sc.req(s, Req::Raw { op, body });
        sc.req(s, exists("~", false));
        out.push(sc);
    }
    // whoAmI with no auth; sync on various paths.
    let (mut sc, s) = Scenario::std("whoAmI/plain");
    sc.req(s, Req::WhoAmI);
    out.push(sc);
    let (mut sc, s) = Scenario::std("sync/paths");
    sc.req(s, create("~/x", b""));
    for p in ["~", "~/x", "~/missing", "/", "", "bad", "~/x/"] {
        sc.req(s, sync(p));
    }
    out.push(sc);
}

fn ordering(out: &mut Vec<Scenario>) {
    let (mut sc, s) = Scenario::std("order/pipeline-write-read");
    sc.pipeline(
        s,
        vec![
            create("~/a", b"1"),
            get_data("~/a", false),
            set_data("~/a", b"2", 0),
            get_data("~/a", false),
            exists("~/a", false),
            delete("~/a", 1),
            exists("~/a", false),
            get_children("~", false),
        ],
    );
    out.push(sc);

    let (mut sc, s) = Scenario::std("order/pipeline-with-errors");
    sc.pipeline(
        s,
        vec![
            create("~/a", b""),
            create("~/a", b""),
            get_data("~/missing", false),
            set_data("~/a", b"x", 5),
            Req::Multi(vec![m_create("~/b", b"", 0), m_create("~/a", b"", 0)]),
            get_children("~", false),
            sync("~"),
            Req::MultiRead(vec![m_get_data("~/a"), m_get_data("~/b")]),
            delete("~/a", -1),
            check("~/a", -1),
        ],
    );
    out.push(sc);

    let (mut sc, s) = Scenario::std("order/pipeline-many");
    sc.pipeline(
        s,
        (0..60).map(|i| create_flags("~/n-", &[i as u8], if i % 2 == 0 { 2 } else { 3 })).collect(),
    );
    sc.pipeline(s, (0..60).map(|i| get_data(&format!("~/n-{i:010}"), i % 3 == 0)).collect());
    sc.req(s, get_children2("~", false));
    let o = sc.connect();
    sc.pipeline(o, (0..60).map(|i| delete(&format!("~/n-{i:010}"), -1)).collect());
    out.push(sc);

    // Two sessions: a read after another session's write (and sync).
    let mut sc = Scenario::new(Group::Std, "order/cross-session");
    let (a, b) = (sc.connect(), sc.connect());
    sc.req(a, create("~/x", b"0"));
    for i in 1..6u8 {
        sc.req(a, set_data("~/x", &[b'0' + i], -1));
        sc.reqs(b, [sync("~/x"), get_data("~/x", i % 2 == 0)]);
    }
    sc.pipeline(a, vec![set_data("~/x", b"p", -1), get_data("~/x", true), set_data("~/x", b"q", -1)]);
    sc.pipeline(b, vec![get_data("~/x", false), exists("~/x", true)]);
    out.push(sc);
}

/// Common recipes, written out as a client library would run them.
fn recipes(out: &mut Vec<Scenario>) {
    // Lock: ephemeral sequential nodes; each waiter watches its predecessor.
    let mut sc = Scenario::new(Group::Std, "recipe/lock");
    let (a, b, c) = (sc.connect(), sc.connect(), sc.connect());
    sc.req(a, create("~/lock", b""));
    for s in [a, b, c] {
        sc.req(s, create2("~/lock/guid-lock-", b"", 3));
    }
    sc.req(b, exists("~/lock/guid-lock-0000000000", true));
    sc.req(c, exists("~/lock/guid-lock-0000000001", true));
    sc.req(a, get_children("~/lock", false));
    sc.step(Step::Close { s: a });
    sc.req(b, get_children("~/lock", false));
    sc.step(Step::Disconnect { s: b });
    sc.step(Step::Reconnect { s: b, bad_passwd: false });
    sc.req(b, delete("~/lock/guid-lock-0000000001", -1));
    sc.req(c, get_children2("~/lock", false));
    out.push(sc);

    // Queue: producers append sequential nodes, a consumer takes the lowest.
    let mut sc = Scenario::new(Group::Std, "recipe/queue");
    let (p, q) = (sc.connect(), sc.connect());
    sc.req(p, create("~/q", b""));
    sc.req(q, get_children("~/q", true));
    for i in 0..4u8 {
        sc.req(p, create_flags("~/q/item-", &[b'a' + i], 2));
    }
    sc.reqs(q, [get_children("~/q", true), get_data("~/q/item-0000000000", false)]);
    sc.req(q, Req::Multi(vec![m_delete("~/q/item-0000000000", 0), m_delete("~/q/item-0000000001", 0)]));
    sc.req(q, Req::Multi(vec![m_delete("~/q/item-0000000001", 0), m_delete("~/q/item-0000000002", 0)]));
    sc.req(q, get_children2("~/q", false));
    out.push(sc);

    // Configuration: a persistent recursive watch follows a whole subtree.
    let mut sc = Scenario::new(Group::Std, "recipe/config-tree");
    let (w, m) = (sc.connect(), sc.connect());
    sc.req(w, add_watch("~", add_watch_mode::PERSISTENT_RECURSIVE));
    sc.reqs(
        m,
        [
            create("~/cfg", b"{}"),
            create("~/cfg/db", b"host"),
            set_data("~/cfg/db", b"host2", 0),
            Req::Multi(vec![m_create("~/cfg/cache", b"", 0), m_set_data("~/cfg", b"{1}", 0)]),
            delete("~/cfg/db", -1),
        ],
    );
    sc.req(w, remove_watches("~", 3));
    sc.req(m, set_data("~/cfg", b"{2}", -1));
    out.push(sc);
}

pub fn scenarios() -> Vec<Scenario> {
    let mut out = Vec::new();
    connecting(&mut out);
    auth_packets(&mut out);
    misc_requests(&mut out);
    ordering(&mut out);
    recipes(&mut out);
    out
}
