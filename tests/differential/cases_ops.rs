//! Single operations: every op on every kind of path (present, missing,
//! malformed, reserved), every version check, every create flag with every
//! create opcode (with and without extended types), TTLs, sequential
//! numbering, ephemeral and container nodes, getEphemerals,
//! getAllChildrenNumber and data sizes up to jute.maxbuffer.

use crate::exec::MAX_BUFFER;
use crate::script::*;
use zkserver::zoo_defs::{add_watch_mode, op_code, watcher_type};

/// ~/n (data "d") with child ~/n/c, and ephemeral ~/eph of session `s`.
fn fixture(sc: &mut Scenario, s: usize) {
    sc.reqs(s, [create("~/n", b"d"), create("~/n/c", b"c"), create_flags("~/eph", b"e", 1)]);
}

/// Paths inside the scenario's subtree, by kind.
const LOCAL_PATHS: &[(&str, &str)] = &[
    ("subtree", "~"),
    ("node", "~/n"),
    ("child", "~/n/c"),
    ("missing", "~/missing"),
    ("missing-parent", "~/missing/x"),
    ("trailing-slash", "~/n/"),
    ("double-slash", "~/n//x"),
    ("dot", "~/n/./x"),
    ("dotdot", "~/n/../x"),
    ("dot-last", "~/n/."),
    ("ephemeral", "~/eph"),
    ("under-ephemeral", "~/eph/x"),
    ("empty", ""),
    ("relative", "rel"),
    ("control-char", "~/n\u{1}"),
    ("nul", "~/n\u{0}x"),
    ("non-ascii", "~/\u{e9}t\u{e9}"),
];

/// Every single-path request, by name.
fn ops_on(path: &str) -> Vec<(&'static str, Req)> {
    vec![
        ("create", create(path, b"new")),
        ("create2", create2(path, b"new", 0)),
        ("delete", delete(path, -1)),
        ("exists", exists(path, true)),
        ("getData", get_data(path, true)),
        ("setData", set_data(path, b"set", -1)),
        ("getACL", get_acl(path)),
        ("setACL", set_acl(path, open(), -1)),
        ("getChildren", get_children(path, true)),
        ("getChildren2", get_children2(path, true)),
        ("check", check(path, -1)),
        ("sync", sync(path)),
        ("getAllChildrenNumber", all_children_number(path)),
        ("addWatch-persistent", add_watch(path, add_watch_mode::PERSISTENT)),
        ("addWatch-recursive", add_watch(path, add_watch_mode::PERSISTENT_RECURSIVE)),
        ("checkWatches", check_watches(path, watcher_type::ANY)),
        ("removeWatches", remove_watches(path, watcher_type::ANY)),
        ("getEphemerals", get_ephemerals(path)),
    ]
}

fn op_path_matrix(out: &mut Vec<Scenario>) {
    for (pname, path) in LOCAL_PATHS {
        for (oname, req) in ops_on(path) {
            // "" counts every node of the server, which depends on all the
            // scenarios before.
            if *pname == "empty" && oname == "getAllChildrenNumber" {
                continue;
            }
            let (mut sc, s) = Scenario::std(format!("op/{oname}/{pname}"));
            fixture(&mut sc, s);
            sc.req(s, req);
            sc.reqs(s, [get_children2("~", false), get_children2("~/n", false)]);
            out.push(sc);
        }
    }
    // The server's own nodes: only requests that cannot disturb other
    // scenarios (the root's Stat changes with every scenario, so it is not
    // read).
    let globals: &[(&str, &str, &[&str])] = &[
        (
            "root",
            "/",
            &["create", "create2", "delete", "setACL-readonly", "checkWatches", "removeWatches", "sync"],
        ),
        (
            "zookeeper",
            "/zookeeper",
            &[
                "create",
                "create2",
                "delete",
                "exists",
                "getData",
                "getACL",
                "getChildren",
                "getChildren2",
                "check",
            ],
        ),
        (
            "quota",
            "/zookeeper/quota",
            &["create", "delete", "getData", "getACL", "getChildren", "getAllChildrenNumber"],
        ),
        (
            "config",
            "/zookeeper/config",
            &["create", "delete", "getData", "getACL", "setData", "setACL-readonly"],
        ),
        ("quota-child", "/zookeeper/quota/x", &["create", "exists"]),
    ];
    for (pname, path, which) in globals {
        for name in *which {
            let req = match *name {
                "setACL-readonly" => set_acl(path, world(zkserver::zoo_defs::perms::READ), 12345),
                other => match ops_on(path).into_iter().find(|(n, _)| *n == other) {
                    Some((_, r)) => r,
                    None => panic!("no op {other}"),
                },
            };
            let (mut sc, s) = Scenario::std(format!("op/{name}/{pname}"));
            sc.req(s, req);
            out.push(sc);
        }
    }
}

/// delete, setData, setACL and check against a node at version 2 /
/// aversion 2, with matching, stale, future, wildcard and odd versions.
fn versions(out: &mut Vec<Scenario>) {
    for v in [-1, 0, 2, 3, -2, i32::MAX, i32::MIN] {
        let ops: Vec<(&str, Req)> = vec![
            ("delete", delete("~/v", v)),
            ("setData", set_data("~/v", b"x", v)),
            ("setACL", set_acl("~/v", open(), v)),
            ("check", check("~/v", v)),
        ];
        for (oname, req) in ops {
            let (mut sc, s) = Scenario::std(format!("version/{oname}/{v}"));
            sc.reqs(
                s,
                [
                    create("~/v", b"0"),
                    set_data("~/v", b"1", 0),
                    set_data("~/v", b"2", 1),
                    set_acl("~/v", open(), 0),
                    set_acl("~/v", open(), 1),
                ],
            );
            sc.req(s, req);
            sc.req(s, exists("~/v", false));
            out.push(sc);
        }
    }
}

/// Every flag with every create opcode; what the node looks like after.
fn create_flags_matrix(out: &mut Vec<Scenario>) {
    let ops = [
        ("create", op_code::CREATE),
        ("create2", op_code::CREATE2),
        ("createContainer", op_code::CREATE_CONTAINER),
        ("createTTL", op_code::CREATE_TTL),
    ];
    for group in [Group::Std, Group::Ext] {
        for (oname, op) in ops {
            for flags in -1..=7 {
                // Java 3.8 checks the ttl only when the flags name a TTL
                // mode; createTTL with other flags and a ttl out of range
                // passes Prep and then kills Java's SyncThread (the whole
                // server exits), so those combinations cannot be compared.
                let ttls: &[i64] = if op != op_code::CREATE_TTL {
                    &[-1]
                } else if flags == 5 || flags == 6 {
                    &[-1, 0, 1, 1000, (1 << 40) - 1, 1 << 40]
                } else {
                    &[1, 1000]
                };
                for &ttl in ttls {
                    let ttl_name =
                        if op == op_code::CREATE_TTL { format!("/ttl{ttl}") } else { String::new() };
                    let mut sc = Scenario::new(group, format!("flags/{group:?}/{oname}/{flags}{ttl_name}"));
                    let s = sc.connect();
                    let other = sc.connect();
                    sc.req(s, create("~/p", b"p"));
                    sc.req(s, create_full(op, "~/p/x", Some(b"v"), open(), flags, ttl));
                    sc.reqs(
                        s,
                        [
                            get_children2("~/p", false),
                            get_data("~/p/x", false),
                            get_data("~/p/x0000000000", false),
                            get_ephemerals("~"),
                            // A second one: sequential names count on.
                            create_full(op, "~/p/x", None, open(), flags, ttl),
                            get_children("~/p", false),
                            // Children of it.
                            create("~/p/x/child", b""),
                            create("~/p/x0000000000/child", b""),
                        ],
                    );
                    sc.step(Step::Close { s });
                    sc.req(other, get_children2("~/p", false));
                    out.push(sc);
                }
            }
        }
    }
}

fn node_types(out: &mut Vec<Scenario>) {
    // Sequential numbering follows the parent's cversion.
    let (mut sc, s) = Scenario::std("seq/numbering");
    sc.reqs(
        s,
        [
            create("~/q", b""),
            create_flags("~/q/a-", b"", 2),
            create_flags("~/q/a-", b"", 2),
            create("~/q/plain", b""),
            delete("~/q/plain", -1),
            create_flags("~/q/b-", b"", 2),
            create_flags("~/q/", b"", 2),
            create_flags("~/q/e-", b"", 3),
            delete("~/q/a-0000000000", -1),
            create_flags("~/q/a-", b"", 2),
            get_children2("~/q", false),
            create_flags("~/q/c/", b"", 2),
            create_flags("~/q/a-0000000001", b"", 0),
        ],
    );
    out.push(sc);

    // Ephemeral nodes cannot have children, whatever the child's type.
    for flags in 0..=6 {
        let mut sc = Scenario::new(Group::Ext, format!("ephemeral/child-flags-{flags}"));
        let s = sc.connect();
        sc.req(s, create_flags("~/e", b"", 1));
        sc.req(s, create_full(op_code::CREATE, "~/e/c", Some(b""), open(), flags, -1));
        sc.req(s, create_full(op_code::CREATE_TTL, "~/e/t", Some(b""), open(), flags, 100));
        sc.req(s, create_full(op_code::CREATE_CONTAINER, "~/e/k", Some(b""), open(), flags, -1));
        out.push(sc);
    }

    // Another session's ephemerals, and what closing does to them.
    let mut sc = Scenario::new(Group::Std, "ephemeral/owners-and-close");
    let (a, b) = (sc.connect(), sc.connect());
    sc.reqs(a, [create_flags("~/a1", b"", 1), create_flags("~/a2-", b"", 3), create("~/dir", b"")]);
    sc.reqs(b, [create_flags("~/dir/b1", b"", 1), get_ephemerals("~"), get_ephemerals("/")]);
    sc.reqs(a, [get_ephemerals("~"), exists("~/dir/b1", true), get_children2("~", true)]);
    sc.step(Step::Close { s: b });
    sc.reqs(a, [exists("~/dir/b1", false), get_children2("~/dir", false), delete("~/a1", 0)]);
    sc.step(Step::Close { s: a });
    let c = sc.connect();
    sc.reqs(c, [get_children2("~", false), get_ephemerals("~")]);
    out.push(sc);

    // getEphemerals prefixes.
    for (i, prefix) in
        ["/", "~", "~/", "~/e", "~/e1", "~/e1/", "~/x", "", "e", "~/d", "~/d/"].iter().enumerate()
    {
        let (mut sc, s) = Scenario::std(format!("getEphemerals/prefix-{i}"));
        sc.reqs(
            s,
            [
                create_flags("~/e1", b"", 1),
                create_flags("~/e10", b"", 1),
                create_flags("~/x", b"", 1),
                create("~/d", b""),
                create_flags("~/d/e", b"", 1),
                get_ephemerals(prefix),
            ],
        );
        out.push(sc);
    }

    // Containers: the type shows in ephemeralOwner; they stay until the
    // (disabled) sweep.
    let (mut sc, s) = Scenario::std("container/lifecycle");
    sc.reqs(
        s,
        [
            create_full(op_code::CREATE_CONTAINER, "~/c", Some(b"x"), open(), 4, -1),
            exists("~/c", false),
            create("~/c/a", b""),
            create_flags("~/c/e", b"", 1),
            create_full(op_code::CREATE_CONTAINER, "~/c/inner", None, open(), 4, -1),
            delete("~/c/a", -1),
            get_children2("~/c", false),
            set_data("~/c", b"y", -1),
            get_ephemerals("~"),
            delete("~/c", -1),
            delete("~/c/e", -1),
            delete("~/c/inner", -1),
            delete("~/c", -1),
            exists("~/c", false),
        ],
    );
    out.push(sc);

    // TTL nodes: stats and children.
    let mut sc = Scenario::new(Group::Ext, "ttl/lifecycle");
    let s = sc.connect();
    sc.reqs(
        s,
        [
            create_full(op_code::CREATE_TTL, "~/t", Some(b"x"), open(), 5, 60000),
            create_full(op_code::CREATE_TTL, "~/t/", Some(b"x"), open(), 6, 1),
            create_full(op_code::CREATE_TTL, "~/t/seq-", None, open(), 6, 3_600_000),
            get_children2("~/t", false),
            set_data("~/t", b"y", 0),
            get_data("~/t", false),
            create_flags("~/t/plain", b"", 0),
            create_flags("~/t/eph", b"", 1),
            get_ephemerals("~"),
            Req::Multi(vec![m_create_full(op_code::CREATE_TTL, "~/m", b"", open(), 5, 10)]),
            Req::Multi(vec![m_create_full(op_code::CREATE_TTL, "~/m2", b"", open(), 0, 10)]),
            Req::Multi(vec![m_create_full(op_code::CREATE_TTL, "~/m3", b"", open(), 5, 0)]),
            exists("~/m", false),
        ],
    );
    out.push(sc);

    // The order children and ephemerals are listed in: Java's hash-set
    // order, through the set's growth, removals and re-creations.
    let (mut sc, s) = Scenario::std("children/java-order");
    sc.req(s, create("~/p", b""));
    sc.reqs(s, (0..40).map(|i| create_flags(&format!("~/p/c{i}"), b"", if i % 3 == 0 { 1 } else { 0 })));
    sc.reqs(s, [get_children("~/p", false), get_ephemerals("~/p")]);
    sc.reqs(s, (0..40).step_by(4).map(|i| delete(&format!("~/p/c{i}"), -1)));
    sc.reqs(s, [create("~/p/c4", b""), create("~/p/Aa", b""), create("~/p/BB", b"")]);
    sc.reqs(s, [get_children2("~/p", false), get_children("~/p", false), get_ephemerals("/")]);
    out.push(sc);

    // getAllChildrenNumber counts the whole subtree below the node.
    let (mut sc, s) = Scenario::std("getAllChildrenNumber/nested");
    sc.reqs(
        s,
        [
            create("~/a", b""),
            create("~/a/b", b""),
            create("~/a/b/c", b""),
            create("~/a/b/d", b""),
            create_flags("~/a/e", b"", 1),
            all_children_number("~"),
            all_children_number("~/a"),
            all_children_number("~/a/b"),
            all_children_number("~/a/b/c"),
            all_children_number("/zookeeper"),
        ],
    );
    out.push(sc);
}

/// Null, empty, binary and large data; requests around jute.maxbuffer.
fn data_sizes(out: &mut Vec<Scenario>) {
    let (mut sc, s) = Scenario::std("data/null-empty-binary");
    sc.reqs(
        s,
        [
            create_full(op_code::CREATE, "~/null", None, open(), 0, -1),
            create("~/empty", b""),
            create("~/bin", &[0, 1, 2, 255, 254, b'"']),
            get_data("~/null", false),
            get_data("~/empty", false),
            get_data("~/bin", false),
            Req::SetData { path: "~/empty".into(), data: None, version: -1 },
            get_data("~/empty", false),
        ],
    );
    out.push(sc);

    // A request frame is refused (and the connection closed) once it is
    // longer than jute.maxbuffer; the header and path take the rest.
    for (name, len) in [
        ("well-below", MAX_BUFFER / 2),
        ("just-below", MAX_BUFFER - 64),
        ("at", MAX_BUFFER),
        ("above", MAX_BUFFER + 1),
        ("far-above", MAX_BUFFER * 3),
    ] {
        let data = vec![b'z'; len];
        for (oname, req) in [
            ("create", create("~/big", &data)),
            ("setData", set_data("~/small", &data, -1)),
            ("multi", Req::Multi(vec![m_create("~/big", &data, 0)])),
        ] {
            let (mut sc, s) = Scenario::std(format!("maxbuffer/{oname}/{name}"));
            sc.req(s, create("~/small", b""));
            sc.req(s, req);
            let other = sc.connect();
            sc.reqs(other, [get_children2("~", false), exists("~/small", false)]);
            out.push(sc);
        }
    }
    // A reply longer than jute.maxbuffer: the server still sends it.
    let (mut sc, s) = Scenario::std("maxbuffer/big-reply");
    sc.req(s, create("~/p", b""));
    let name = "n".repeat(700);
    let mut creates = Vec::new();
    for i in 0..100 {
        creates.push(create(&format!("~/p/{i:03}{name}"), b""));
    }
    sc.pipeline(s, creates);
    sc.reqs(s, [get_children("~/p", false), all_children_number("~/p")]);
    sc.req(s, get_data("~/p", false));
    out.push(sc);
    // Many ops in one multi, past the limit together.
    let (mut sc, s) = Scenario::std("maxbuffer/multi-many-ops");
    let ops: Vec<_> = (0..30).map(|i| m_create(&format!("~/m{i}"), &[b'q'; 2500], 0)).collect();
    sc.req(s, Req::Multi(ops));
    let other = sc.connect();
    sc.req(other, get_children("~", false));
    out.push(sc);
}

pub fn scenarios() -> Vec<Scenario> {
    let mut out = Vec::new();
    op_path_matrix(&mut out);
    versions(&mut out);
    create_flags_matrix(&mut out);
    node_types(&mut out);
    data_sizes(&mut out);
    out
}
