//! ACLs: every op against every world permission (plus skipACL), the digest,
//! auth, ip (address and CIDR) and super schemes against each way a session
//! can have authenticated, 3.8's getACL redaction, and invalid ACLs on
//! create and setACL.

use crate::exec::SUPER_AUTH;
use crate::script::*;
use zkserver::jute::records::Acl;
use zkserver::server::auth::digest_authentication_provider::generate_digest;
use zkserver::zoo_defs::{add_watch_mode, perms, watcher_type};

/// ~/p with children ~/p/c and ~/p/del, then ~/p's ACL set to `acl` by
/// session `s`.
fn restricted(sc: &mut Scenario, s: usize, acl: Vec<Acl>) {
    sc.reqs(s, [create("~/p", b"p"), create("~/p/c", b"c"), create("~/p/del", b""), set_acl("~/p", acl, -1)]);
}

/// Every request an ACL could guard, on ~/p.
fn guarded_ops() -> Vec<(&'static str, Req)> {
    vec![
        ("getData", get_data("~/p", false)),
        ("exists", exists("~/p", true)),
        ("getChildren", get_children("~/p", true)),
        ("getChildren2", get_children2("~/p", false)),
        ("setData", set_data("~/p", b"x", -1)),
        ("create", create("~/p/new", b"")),
        ("create-ephemeral", create_flags("~/p/eph", b"", 1)),
        ("delete", delete("~/p/del", -1)),
        ("getACL", get_acl("~/p")),
        ("setACL", set_acl("~/p", open(), -1)),
        ("check", check("~/p", -1)),
        ("multi-check", Req::Multi(vec![m_check("~/p", -1)])),
        ("multi-setData", Req::Multi(vec![m_set_data("~/p", b"m", -1)])),
        ("multi-create", Req::Multi(vec![m_create("~/p/m", b"", 0)])),
        ("multi-delete", Req::Multi(vec![m_delete("~/p/del", -1)])),
        ("multiRead", Req::MultiRead(vec![m_get_data("~/p"), m_get_children("~/p"), m_get_data("~/p/c")])),
        ("sync", sync("~/p")),
        ("addWatch", add_watch("~/p", add_watch_mode::PERSISTENT)),
        ("addWatch-recursive", add_watch("~/p", add_watch_mode::PERSISTENT_RECURSIVE)),
        ("checkWatches", check_watches("~/p", watcher_type::ANY)),
        ("removeWatches", remove_watches("~/p", watcher_type::ANY)),
        ("getAllChildrenNumber", all_children_number("~/p")),
        ("getEphemerals", get_ephemerals("~/p")),
        ("child-getData", get_data("~/p/c", false)),
        ("child-setData", set_data("~/p/c", b"x", -1)),
    ]
}

/// world:anyone with no permission, each single one, and all but each one.
fn perm_variants() -> Vec<(String, i32)> {
    let mut v = vec![("none".to_string(), 0)];
    for (n, p) in [
        ("read", perms::READ),
        ("write", perms::WRITE),
        ("create", perms::CREATE),
        ("delete", perms::DELETE),
        ("admin", perms::ADMIN),
    ] {
        v.push((format!("only-{n}"), p));
        v.push((format!("all-but-{n}"), perms::ALL & !p));
    }
    v
}

fn world_perms(out: &mut Vec<Scenario>) {
    for group in [Group::Std, Group::SkipAcl] {
        for (pname, p) in perm_variants() {
            if group == Group::SkipAcl && !matches!(pname.as_str(), "none" | "only-read") {
                continue;
            }
            for (oname, req) in guarded_ops() {
                let mut sc = Scenario::new(group, format!("acl/world/{group:?}/{pname}/{oname}"));
                let owner = sc.connect();
                restricted(&mut sc, owner, world(p));
                let s = sc.connect();
                sc.req(s, req);
                out.push(sc);
            }
        }
    }
}

fn digest_id(user_pw: &str) -> String {
    generate_digest(user_pw)
}

/// Schemes other than world against sessions authenticated in each way.
fn identities(out: &mut Vec<Scenario>) {
    let acls: Vec<(&str, Vec<Acl>)> = vec![
        ("digest-u1", vec![acl(perms::ALL, "digest", &digest_id("u1:pw"))]),
        (
            "digest-u1-world-read",
            vec![acl(perms::ALL, "digest", &digest_id("u1:pw")), acl(perms::READ, "world", "anyone")],
        ),
        ("auth", vec![acl(perms::ALL, "auth", "")]),
        ("ip-exact", vec![acl(perms::ALL, "ip", "127.0.0.1")]),
        ("ip-cidr8", vec![acl(perms::ALL, "ip", "127.0.0.0/8")]),
        ("ip-cidr32", vec![acl(perms::ALL, "ip", "127.0.0.1/32")]),
        ("ip-cidr0", vec![acl(perms::ALL, "ip", "10.1.2.3/0")]),
        ("ip-other", vec![acl(perms::ALL, "ip", "10.0.0.0/8")]),
        ("ip-other-read", vec![acl(perms::READ, "ip", "127.0.0.1"), acl(perms::ALL, "ip", "10.0.0.1")]),
        ("super-digest", vec![acl(perms::ALL, "digest", &digest_id(SUPER_AUTH))]),
    ];
    let auths: &[(&str, &[&str])] = &[
        ("none", &[]),
        ("u1", &["u1:pw"]),
        ("u1-wrong", &["u1:wrong"]),
        ("u2", &["u2:pw"]),
        ("u2-u1", &["u2:pw", "u1:pw"]),
        ("super", &[SUPER_AUTH]),
        ("super-wrong", &["super:wrong"]),
    ];
    let ops = || {
        vec![
            ("getData", get_data("~/p", false)),
            ("setData", set_data("~/p", b"x", -1)),
            ("create", create("~/p/new", b"")),
            ("delete", delete("~/p/del", -1)),
            ("getACL", get_acl("~/p")),
            ("setACL", set_acl("~/p", world(perms::READ), -1)),
        ]
    };
    for (aname, acl) in &acls {
        for (uname, users) in auths {
            for (oname, req) in ops() {
                let (mut sc, owner) = Scenario::std(format!("acl/id/{aname}/{uname}/{oname}"));
                sc.req(owner, digest_auth("u1:pw"));
                restricted(&mut sc, owner, acl.clone());
                sc.req(owner, get_acl("~/p"));
                let s = sc.connect();
                for u in *users {
                    sc.req(s, digest_auth(u));
                }
                sc.req(s, req);
                out.push(sc);
            }
        }
    }
    // ip auth adds the client's address as an id; whoAmI shows it.
    let (mut sc, s) = Scenario::std("acl/id/ip-auth");
    sc.reqs(
        s,
        [
            auth("ip", "ignored"),
            Req::WhoAmI,
            create_acl("~/x", vec![acl(perms::ALL, "ip", "127.0.0.1")]),
            get_data("~/x", false),
            get_acl("~/x"),
        ],
    );
    out.push(sc);
    // The owner of an `auth` ACL can act; another user cannot, super can.
    let mut sc = Scenario::new(Group::Std, "acl/auth-scheme-owners");
    let (a, b, c) = (sc.connect(), sc.connect(), sc.connect());
    sc.reqs(
        a,
        [digest_auth("ua:1"), digest_auth("ub:2"), create_acl("~/x", vec![acl(perms::ALL, "auth", "")])],
    );
    sc.reqs(a, [get_acl("~/x"), get_data("~/x", false)]);
    sc.reqs(b, [digest_auth("ub:2"), get_data("~/x", false), get_acl("~/x"), set_data("~/x", b"b", -1)]);
    sc.reqs(c, [digest_auth(SUPER_AUTH), get_acl("~/x"), delete("~/x", -1), Req::WhoAmI]);
    out.push(sc);
}

/// ACL lists a server must refuse (or fix up), on create and on setACL,
/// with and without authentication.
fn invalid_acls(out: &mut Vec<Scenario>) {
    let cases: Vec<(&str, Vec<Acl>)> = vec![
        ("empty", vec![]),
        ("unknown-scheme", vec![acl(perms::ALL, "foo", "bar")]),
        ("digest-no-colon", vec![acl(perms::ALL, "digest", "nocolon")]),
        ("digest-two-colons", vec![acl(perms::ALL, "digest", "a:b:c")]),
        ("digest-empty", vec![acl(perms::ALL, "digest", "")]),
        ("world-somebody", vec![acl(perms::ALL, "world", "somebody")]),
        ("perms-extra-bit", vec![acl(0x40 | perms::READ, "world", "anyone")]),
        ("perms-minus-one", vec![acl(-1, "world", "anyone")]),
        ("ip-bad-octet", vec![acl(perms::ALL, "ip", "300.1.1.1")]),
        ("ip-bad-mask", vec![acl(perms::ALL, "ip", "127.0.0.1/33")]),
        ("ip-negative-mask", vec![acl(perms::ALL, "ip", "127.0.0.1/-1")]),
        ("ip-word", vec![acl(perms::ALL, "ip", "abc")]),
        ("ip-short", vec![acl(perms::ALL, "ip", "127.0.1")]),
        ("ip-v6", vec![acl(perms::ALL, "ip", "::1")]),
        ("auth-no-auth", vec![acl(perms::ALL, "auth", "")]),
        ("auth-with-id", vec![acl(perms::ALL, "auth", "someone")]),
        ("super", vec![acl(perms::ALL, "super", "")]),
        ("sasl", vec![acl(perms::ALL, "sasl", "someone")]),
        ("duplicates", vec![acl(perms::ALL, "world", "anyone"), acl(perms::ALL, "world", "anyone")]),
        (
            "same-id-two-perms",
            vec![acl(perms::READ, "world", "anyone"), acl(perms::WRITE, "world", "anyone")],
        ),
        ("one-bad-of-two", vec![acl(perms::ALL, "world", "anyone"), acl(perms::ALL, "ip", "bad")]),
    ];
    for group in [Group::Std, Group::SkipAcl] {
        for (name, list) in &cases {
            for authed in [false, true] {
                let mut sc = Scenario::new(group, format!("acl/invalid/{group:?}/{name}/authed-{authed}"));
                let s = sc.connect();
                if authed {
                    sc.req(s, digest_auth("u1:pw"));
                }
                sc.reqs(
                    s,
                    [
                        create_acl("~/x", list.clone()),
                        get_acl("~/x"),
                        create("~/y", b""),
                        set_acl("~/y", list.clone(), -1),
                        get_acl("~/y"),
                        Req::Multi(vec![m_create_full(
                            zkserver::zoo_defs::op_code::CREATE,
                            "~/z",
                            b"",
                            list.clone(),
                            0,
                            -1,
                        )]),
                    ],
                );
                out.push(sc);
            }
        }
    }
}

pub fn scenarios() -> Vec<Scenario> {
    let mut out = Vec::new();
    world_perms(&mut out);
    identities(&mut out);
    invalid_acls(&mut out);
    out
}
