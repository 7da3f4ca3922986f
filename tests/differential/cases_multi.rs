//! multi and multiRead: every op kind succeeding and failing at every
//! position (all-or-nothing, per-op results, the failing op's code and
//! RUNTIMEINCONSISTENCY after it), ops that depend on earlier ops of the
//! same multi, mixed read/write lists, and multiRead's per-op errors.

use crate::script::*;
use zkserver::jute::multi::Op;
use zkserver::zoo_defs::{op_code, perms};

/// ~/a (v0, child ~/a/c), ~/b, ~/locked (no permissions for anyone).
fn fixture(sc: &mut Scenario, s: usize) {
    sc.reqs(
        s,
        [
            create("~/a", b"a"),
            create("~/a/c", b""),
            create("~/b", b"b"),
            create("~/locked", b""),
            create_flags("~/eph", b"", 1),
            set_acl("~/locked", world(0), -1),
        ],
    );
}

/// What the fixture looks like afterwards.
fn after(sc: &mut Scenario, s: usize) {
    sc.reqs(s, [get_children2("~", false), get_data("~/a", false), get_children("~/a", false)]);
}

fn ok_ops() -> Vec<(&'static str, Op)> {
    vec![
        ("create", m_create("~/n", b"n", 0)),
        ("create2", m_create2("~/n2", b"n2", 0)),
        ("create-seq", m_create("~/s-", b"", 2)),
        ("create2-eph", m_create2("~/e", b"", 1)),
        ("create-container", m_create_full(op_code::CREATE_CONTAINER, "~/k", b"", open(), 4, -1)),
        ("delete", m_delete("~/b", 0)),
        ("setData", m_set_data("~/a", b"x", 0)),
        ("check", m_check("~/a", 0)),
        ("check-any", m_check("~/b", -1)),
    ]
}

fn failing_ops() -> Vec<(&'static str, Op)> {
    vec![
        ("create-exists", m_create("~/a", b"", 0)),
        ("create-no-parent", m_create("~/x/y", b"", 0)),
        ("create-bad-path", m_create("~/a/", b"", 0)),
        ("create-under-ephemeral", m_create("~/eph/x", b"", 0)),
        ("create-invalid-acl", m_create_full(op_code::CREATE, "~/i", b"", vec![], 0, -1)),
        ("create-bad-flags", m_create("~/f", b"", 9)),
        ("create-no-auth", m_create("~/locked/x", b"", 0)),
        ("create-ttl-disabled", m_create_full(op_code::CREATE_TTL, "~/t", b"", open(), 5, 100)),
        ("delete-not-empty", m_delete("~/a", -1)),
        ("delete-missing", m_delete("~/missing", -1)),
        ("delete-bad-version", m_delete("~/b", 5)),
        ("setData-bad-version", m_set_data("~/a", b"", 7)),
        ("setData-missing", m_set_data("~/missing", b"", -1)),
        ("setData-no-auth", m_set_data("~/locked", b"", -1)),
        ("check-bad-version", m_check("~/a", 3)),
        ("check-missing", m_check("~/missing", -1)),
        ("check-no-auth", m_check("~/locked", -1)),
        ("check-bad-path", m_check("bad", -1)),
    ]
}

fn single_and_positions(out: &mut Vec<Scenario>) {
    for (name, op) in ok_ops().into_iter().chain(failing_ops()) {
        let (mut sc, s) = Scenario::std(format!("multi/single/{name}"));
        fixture(&mut sc, s);
        sc.req(s, Req::Multi(vec![op]));
        after(&mut sc, s);
        out.push(sc);
    }
    // A failing op first, in the middle and last, among ops that would
    // succeed.
    for (fname, f) in failing_ops() {
        for pos in 0..3 {
            let (mut sc, s) = Scenario::std(format!("multi/fail-at-{pos}/{fname}"));
            fixture(&mut sc, s);
            let mut ops = vec![m_create("~/n", b"n", 0), m_set_data("~/a", b"x", 0)];
            ops.insert(pos, f.clone());
            sc.req(s, Req::Multi(ops));
            after(&mut sc, s);
            out.push(sc);
        }
    }
    // Two ops in each order: later ops see the earlier ones' effects.
    let ok = ok_ops();
    for (n1, o1) in &ok {
        for (n2, o2) in &ok {
            let (mut sc, s) = Scenario::std(format!("multi/pair/{n1}+{n2}"));
            fixture(&mut sc, s);
            sc.req(s, Req::Multi(vec![o1.clone(), o2.clone()]));
            after(&mut sc, s);
            out.push(sc);
        }
    }
}

fn dependent(out: &mut Vec<Scenario>) {
    let lists: Vec<(&str, Vec<Op>)> = vec![
        (
            "create-then-child",
            vec![m_create("~/n", b"", 0), m_create("~/n/c", b"", 0), m_create2("~/n/c/d", b"", 0)],
        ),
        ("create-then-delete", vec![m_create("~/n", b"", 0), m_delete("~/n", 0)]),
        (
            "create-delete-create",
            vec![m_create("~/n", b"1", 0), m_delete("~/n", -1), m_create2("~/n", b"2", 0)],
        ),
        ("delete-then-create", vec![m_delete("~/b", -1), m_create2("~/b", b"again", 0)]),
        (
            "setData-then-check",
            vec![m_set_data("~/a", b"1", 0), m_check("~/a", 1), m_set_data("~/a", b"2", 1)],
        ),
        ("setData-then-stale-check", vec![m_set_data("~/a", b"1", 0), m_check("~/a", 0)]),
        ("delete-child-then-parent", vec![m_delete("~/a/c", -1), m_delete("~/a", -1)]),
        ("delete-parent-then-child", vec![m_delete("~/a", -1), m_delete("~/a/c", -1)]),
        ("create-twice", vec![m_create("~/n", b"", 0), m_create("~/n", b"", 0)]),
        ("seq-twice", vec![m_create2("~/s-", b"", 2), m_create2("~/s-", b"", 2), m_create("~/s-", b"", 3)]),
        ("create-under-new-ephemeral", vec![m_create("~/e", b"", 1), m_create("~/e/c", b"", 0)]),
        ("check-created", vec![m_create("~/n", b"", 0), m_check("~/n", 0), m_check("~/n", 1)]),
        ("delete-twice", vec![m_delete("~/b", -1), m_delete("~/b", -1)]),
        ("set-deleted", vec![m_delete("~/b", -1), m_set_data("~/b", b"", -1)]),
        ("many", (0..20).map(|i| m_create(&format!("~/m{i}"), b"", 0)).collect()),
        ("many-then-fail", {
            let mut v: Vec<Op> = (0..10).map(|i| m_create(&format!("~/m{i}"), b"", 0)).collect();
            v.push(m_check("~/missing", -1));
            v.push(m_create("~/last", b"", 0));
            v
        }),
        ("empty", vec![]),
    ];
    for (name, ops) in lists {
        let (mut sc, s) = Scenario::std(format!("multi/list/{name}"));
        fixture(&mut sc, s);
        sc.req(s, Req::Multi(ops));
        after(&mut sc, s);
        sc.req(s, get_ephemerals("~"));
        out.push(sc);
    }
    // TTL ops in a multi where extended types are on.
    let mut sc = Scenario::new(Group::Ext, "multi/ttl-enabled");
    let s = sc.connect();
    fixture(&mut sc, s);
    sc.req(
        s,
        Req::Multi(vec![
            m_create_full(op_code::CREATE_TTL, "~/t", b"", open(), 5, 100),
            m_create_full(op_code::CREATE_TTL, "~/t/", b"", open(), 6, 100),
            m_create_full(op_code::CREATE_TTL, "~/u", b"", open(), 5, 0),
        ]),
    );
    sc.req(s, Req::Multi(vec![m_create_full(op_code::CREATE_TTL, "~/t", b"", open(), 5, 100)]));
    after(&mut sc, s);
    out.push(sc);
}

/// multiRead answers every op on its own: errors do not spoil the others.
fn multi_read(out: &mut Vec<Scenario>) {
    let lists: Vec<(&str, Vec<Op>)> = vec![
        ("getData", vec![m_get_data("~/a")]),
        ("getChildren", vec![m_get_children("~/a")]),
        ("both", vec![m_get_data("~/a"), m_get_children("~"), m_get_data("~/b")]),
        ("missing-between", vec![m_get_data("~/a"), m_get_data("~/missing"), m_get_children("~/a")]),
        ("no-auth-between", vec![m_get_children("~/locked"), m_get_data("~/locked"), m_get_data("~/b")]),
        ("bad-path", vec![m_get_data("bad"), m_get_children("~/a/")]),
        ("empty", vec![]),
        ("with-check", vec![m_get_data("~/a"), m_check("~/a", 0)]),
        ("with-create", vec![m_get_data("~/a"), m_create("~/n", b"", 0)]),
        ("only-write", vec![m_set_data("~/a", b"", -1)]),
    ];
    for (name, ops) in lists {
        let (mut sc, s) = Scenario::std(format!("multiRead/{name}"));
        fixture(&mut sc, s);
        sc.req(s, Req::MultiRead(ops));
        after(&mut sc, s);
        out.push(sc);
    }
    // multi with read ops in it.
    let lists: Vec<(&str, Vec<Op>)> = vec![
        ("read-op-in-multi", vec![m_get_data("~/a")]),
        ("write-then-read", vec![m_set_data("~/a", b"", -1), m_get_data("~/a")]),
        ("read-then-write", vec![m_get_children("~/a"), m_create("~/n", b"", 0)]),
    ];
    for (name, ops) in lists {
        let (mut sc, s) = Scenario::std(format!("multi/mixed/{name}"));
        fixture(&mut sc, s);
        sc.req(s, Req::Multi(ops));
        after(&mut sc, s);
        out.push(sc);
    }
    // A multi whose list has an opcode that is not allowed in it.
    for (name, op) in [("getACL", op_code::GET_ACL), ("sync", op_code::SYNC), ("unknown", 99)] {
        let (mut sc, s) = Scenario::std(format!("multi/bad-op/{name}"));
        fixture(&mut sc, s);
        let mut body = Vec::new();
        body.extend_from_slice(&op.to_be_bytes());
        body.push(0); // done = false
        body.extend_from_slice(&(-1i32).to_be_bytes());
        body.extend_from_slice(&2i32.to_be_bytes());
        body.extend_from_slice(b"/x");
        sc.req(s, Req::Raw { op: op_code::MULTI, body });
        out.push(sc);
    }
    // ACL on an op inside a multi applies per op.
    let (mut sc, s) = Scenario::std("multi/acl-per-op");
    fixture(&mut sc, s);
    sc.req(s, create_acl("~/r", world(perms::READ)));
    sc.req(s, Req::Multi(vec![m_check("~/r", 0), m_set_data("~/r", b"", -1)]));
    sc.req(s, Req::Multi(vec![m_check("~/r", 0), m_create("~/r/c", b"", 0)]));
    sc.req(s, Req::MultiRead(vec![m_get_data("~/r"), m_get_children("~/r")]));
    out.push(sc);
}

pub fn scenarios() -> Vec<Scenario> {
    let mut out = Vec::new();
    single_and_positions(&mut out);
    dependent(&mut out);
    multi_read(&mut out);
    out
}
