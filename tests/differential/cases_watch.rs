//! Watches: every way to set one (getData, exists on present and absent
//! nodes, getChildren(2), addWatch persistent and persistent-recursive)
//! against every change that could fire it; checkWatches/removeWatches for
//! every watcher type against every registration; setWatches/setWatches2
//! after a reconnect, with changes made while the session was away.

use crate::script::*;
use zkserver::zoo_defs::{add_watch_mode, watcher_type};

/// ~/w (data) with child ~/w/c and grandchild ~/w/c/g.
fn fixture(sc: &mut Scenario, s: usize) {
    sc.reqs(s, [create("~/w", b"w"), create("~/w/c", b"c"), create("~/w/c/g", b"g")]);
}

fn registrations() -> Vec<(&'static str, Vec<Req>)> {
    vec![
        ("getData", vec![get_data("~/w", true)]),
        ("exists", vec![exists("~/w", true)]),
        ("exists-absent", vec![exists("~/absent", true)]),
        ("getChildren", vec![get_children("~/w", true)]),
        ("getChildren2", vec![get_children2("~/w", true)]),
        ("child-getData", vec![get_data("~/w/c", true)]),
        ("persistent", vec![add_watch("~/w", add_watch_mode::PERSISTENT)]),
        ("recursive", vec![add_watch("~/w", add_watch_mode::PERSISTENT_RECURSIVE)]),
        ("persistent-absent", vec![add_watch("~/absent", add_watch_mode::PERSISTENT)]),
        ("recursive-absent", vec![add_watch("~/absent", add_watch_mode::PERSISTENT_RECURSIVE)]),
        ("data-and-child", vec![get_data("~/w", true), get_children("~/w", true)]),
        ("persistent-and-data", vec![add_watch("~/w", add_watch_mode::PERSISTENT), get_data("~/w", true)]),
        (
            "recursive-and-persistent",
            vec![
                add_watch("~/w", add_watch_mode::PERSISTENT_RECURSIVE),
                add_watch("~/w", add_watch_mode::PERSISTENT),
            ],
        ),
        ("recursive-on-subtree", vec![add_watch("~", add_watch_mode::PERSISTENT_RECURSIVE)]),
    ]
}

/// Changes made by the other session (a list of steps' requests); `None`
/// for the session close case handled separately.
fn triggers() -> Vec<(&'static str, Vec<Req>)> {
    vec![
        ("setData", vec![set_data("~/w", b"1", -1)]),
        ("setData-same", vec![set_data("~/w", b"w", -1)]),
        ("create-child", vec![create("~/w/new", b"")]),
        ("create-grandchild", vec![create("~/w/c/new", b"")]),
        ("setData-child", vec![set_data("~/w/c", b"1", -1)]),
        ("setData-grandchild", vec![set_data("~/w/c/g", b"1", -1)]),
        ("delete-grandchild", vec![delete("~/w/c/g", -1)]),
        ("create-absent", vec![create("~/absent", b"")]),
        ("create-absent-and-child", vec![create("~/absent", b""), create("~/absent/x", b"")]),
        ("setACL", vec![set_acl("~/w", open(), -1)]),
        ("delete-all", vec![delete("~/w/c/g", -1), delete("~/w/c", -1), delete("~/w", -1)]),
        ("multi", vec![Req::Multi(vec![m_set_data("~/w", b"m", -1), m_create("~/w/m", b"", 0)])]),
        ("failed-multi", vec![Req::Multi(vec![m_set_data("~/w", b"m", -1), m_create("~/w/c", b"", 0)])]),
        ("failed-setData", vec![set_data("~/w", b"1", 99)]),
        ("sync-and-reads", vec![sync("~/w"), get_data("~/w", false), get_children("~/w", false)]),
        ("ephemeral-child", vec![create_flags("~/w/e", b"", 1)]),
        ("create-seq-child", vec![create_flags("~/w/s-", b"", 2)]),
    ]
}

fn watch_matrix(out: &mut Vec<Scenario>) {
    for (rname, regs) in registrations() {
        for (tname, trig) in triggers() {
            let mut sc = Scenario::new(Group::Std, format!("watch/{rname}/{tname}"));
            let (w, m) = (sc.connect(), sc.connect());
            fixture(&mut sc, m);
            sc.reqs(w, regs.clone());
            sc.reqs(m, trig);
            // Fires again? One-shot watches do not, persistent ones do.
            sc.reqs(m, [set_data("~/w", b"2", -1), create("~/w/again", b""), create("~/absent", b"")]);
            sc.reqs(
                w,
                [check_watches("~/w", watcher_type::ANY), check_watches("~/absent", watcher_type::ANY)],
            );
            out.push(sc);
        }
        // The change is the other session ending: its ephemeral child goes.
        let mut sc = Scenario::new(Group::Std, format!("watch/{rname}/close-owner-of-ephemeral"));
        let (w, m) = (sc.connect(), sc.connect());
        fixture(&mut sc, m);
        sc.req(m, create_flags("~/w/e", b"", 1));
        sc.reqs(w, regs.clone());
        sc.step(Step::Close { s: m });
        out.push(sc);
        // The watching session's own change fires its own watch too.
        let (mut sc, w) = Scenario::std(format!("watch/{rname}/own-change"));
        fixture(&mut sc, w);
        sc.reqs(w, regs.clone());
        sc.reqs(w, [set_data("~/w", b"1", -1), create("~/w/x", b""), create("~/absent", b"")]);
        out.push(sc);
        // Watches belong to the connection: after a disconnect nothing fires.
        let mut sc = Scenario::new(Group::Std, format!("watch/{rname}/dropped-on-disconnect"));
        let (w, m) = (sc.connect(), sc.connect());
        fixture(&mut sc, m);
        sc.reqs(w, regs.clone());
        sc.step(Step::Reconnect { s: w, bad_passwd: false });
        sc.reqs(m, [set_data("~/w", b"1", -1), create("~/w/x", b""), create("~/absent", b"")]);
        sc.req(w, check_watches("~/w", watcher_type::ANY));
        out.push(sc);
    }
}

/// checkWatches and removeWatches with each watcher type against each set
/// of registrations, then the changes that show which watches remain.
fn remove_matrix(out: &mut Vec<Scenario>) {
    let regs: Vec<(&str, Vec<Req>)> = vec![
        ("none", vec![]),
        ("data", vec![get_data("~/w", true)]),
        ("exists", vec![exists("~/w", true)]),
        ("exists-absent", vec![exists("~/absent", true)]),
        ("child", vec![get_children("~/w", true)]),
        ("data-child", vec![get_data("~/w", true), get_children("~/w", true)]),
        ("persistent", vec![add_watch("~/w", add_watch_mode::PERSISTENT)]),
        ("recursive", vec![add_watch("~/w", add_watch_mode::PERSISTENT_RECURSIVE)]),
        ("persistent-data", vec![add_watch("~/w", add_watch_mode::PERSISTENT), get_data("~/w", true)]),
        ("other-session-only", vec![]),
    ];
    for (rname, reg) in regs {
        for wtype in [watcher_type::CHILDREN, watcher_type::DATA, watcher_type::ANY, 0, 4] {
            for remove in [false, true] {
                let verb = if remove { "removeWatches" } else { "checkWatches" };
                let mut sc = Scenario::new(Group::Std, format!("{verb}/{rname}/type{wtype}"));
                let (w, m) = (sc.connect(), sc.connect());
                fixture(&mut sc, m);
                if rname == "other-session-only" {
                    sc.reqs(m, [get_data("~/w", true), get_children("~/w", true)]);
                }
                sc.reqs(w, reg.clone());
                for path in ["~/w", "~/absent"] {
                    let req = if remove { remove_watches(path, wtype) } else { check_watches(path, wtype) };
                    sc.req(w, req);
                }
                sc.reqs(m, [set_data("~/w", b"1", -1), create("~/w/x", b""), create("~/absent", b"")]);
                out.push(sc);
            }
        }
    }
    // The same watch set twice is one watch; removal takes it.
    let (mut sc, w) = Scenario::std("removeWatches/duplicate-registrations");
    fixture(&mut sc, w);
    sc.reqs(
        w,
        [
            get_data("~/w", true),
            exists("~/w", true),
            get_data("~/w", true),
            remove_watches("~/w", watcher_type::DATA),
            remove_watches("~/w", watcher_type::DATA),
            set_data("~/w", b"1", -1),
        ],
    );
    out.push(sc);
}

/// A session sets watches, disconnects, changes happen, it comes back and
/// re-registers with setWatches (or setWatches2).
fn set_watches(out: &mut Vec<Scenario>) {
    // (name, watch to set before, list kind in setWatches)
    #[derive(Clone, Copy, PartialEq)]
    enum Kind {
        Data,
        Exist,
        ExistAbsent,
        Child,
        Persistent,
        Recursive,
    }
    let kinds = [
        ("data", Kind::Data),
        ("exist", Kind::Exist),
        ("exist-absent", Kind::ExistAbsent),
        ("child", Kind::Child),
        ("persistent", Kind::Persistent),
        ("recursive", Kind::Recursive),
    ];
    let changes: Vec<(&str, Vec<Req>)> = vec![
        ("nothing", vec![]),
        ("setData", vec![set_data("~/w", b"1", -1)]),
        ("create", vec![create("~/absent", b""), create("~/w/new", b"")]),
        ("delete", vec![delete("~/w/c/g", -1), delete("~/w/c", -1), delete("~/w", -1)]),
        ("grandchild", vec![set_data("~/w/c/g", b"1", -1)]),
    ];
    for (kname, kind) in kinds {
        for (cname, change) in &changes {
            for v2 in [false, true] {
                if !v2 && matches!(kind, Kind::Persistent | Kind::Recursive) {
                    continue;
                }
                for rel in [Rel::LastSeen, Rel::Zero] {
                    let ver = if v2 { "setWatches2" } else { "setWatches" };
                    let mut sc = Scenario::new(Group::Std, format!("{ver}/{kname}/{cname}/{rel:?}"));
                    let (w, m) = (sc.connect(), sc.connect());
                    fixture(&mut sc, m);
                    let path = if kind == Kind::ExistAbsent { "~/absent" } else { "~/w" };
                    let reg = match kind {
                        Kind::Data => get_data(path, true),
                        Kind::Exist | Kind::ExistAbsent => exists(path, true),
                        Kind::Child => get_children(path, true),
                        Kind::Persistent => add_watch(path, add_watch_mode::PERSISTENT),
                        Kind::Recursive => add_watch(path, add_watch_mode::PERSISTENT_RECURSIVE),
                    };
                    sc.req(w, reg);
                    sc.step(Step::Disconnect { s: w });
                    sc.reqs(m, change.clone());
                    sc.step(Step::Reconnect { s: w, bad_passwd: false });
                    let p = vec![path.to_string()];
                    let list = |k: Kind| if kind == k { p.clone() } else { vec![] };
                    sc.req(
                        w,
                        Req::SetWatches {
                            v2,
                            rel,
                            data: list(Kind::Data),
                            exist: if matches!(kind, Kind::Exist | Kind::ExistAbsent) {
                                p.clone()
                            } else {
                                vec![]
                            },
                            child: list(Kind::Child),
                            persistent: list(Kind::Persistent),
                            recursive: list(Kind::Recursive),
                        },
                    );
                    // Later changes reach the re-registered watch.
                    sc.reqs(
                        m,
                        [create("~/later", b""), create("~/absent", b""), set_data("~/absent", b"2", -1)],
                    );
                    sc.reqs(m, [create("~/w", b""), set_data("~/w", b"3", -1), create("~/w/later", b"")]);
                    sc.req(w, check_watches(path, watcher_type::ANY));
                    out.push(sc);
                }
            }
        }
    }
    // Everything at once, on a session that never went away, and lists
    // naming nodes that do not exist.
    let mut sc = Scenario::new(Group::Std, "setWatches2/all-lists-no-disconnect");
    let (w, m) = (sc.connect(), sc.connect());
    fixture(&mut sc, m);
    sc.req(
        w,
        Req::SetWatches {
            v2: true,
            rel: Rel::LastSeen,
            data: vec!["~/w".into(), "~/nope".into()],
            exist: vec!["~/absent".into(), "~/w/c".into()],
            child: vec!["~/w".into(), "~/nope".into()],
            persistent: vec!["~/w/c".into()],
            recursive: vec!["~/w".into(), "~/nope2".into()],
        },
    );
    sc.reqs(
        m,
        [
            set_data("~/w", b"1", -1),
            create("~/absent", b""),
            set_data("~/w/c/g", b"1", -1),
            delete("~/w/c/g", -1),
        ],
    );
    sc.reqs(m, [create("~/nope", b""), create("~/nope2", b""), create("~/nope2/x", b"")]);
    out.push(sc);
    // Old-style setWatches with zxid 0 against changed nodes; and a
    // setWatches sent with the normal xid flow after other requests.
    let mut sc = Scenario::new(Group::Std, "setWatches/zero-zxid-everything-changed");
    let (w, m) = (sc.connect(), sc.connect());
    fixture(&mut sc, m);
    sc.reqs(m, [set_data("~/w", b"1", -1), create("~/w/x", b"")]);
    sc.req(
        w,
        Req::SetWatches {
            v2: false,
            rel: Rel::Zero,
            data: vec!["~/w".into(), "~/gone".into()],
            exist: vec!["~/w/x".into(), "~/gone".into()],
            child: vec!["~/w".into(), "~/gone".into()],
            persistent: vec![],
            recursive: vec![],
        },
    );
    out.push(sc);
}

pub fn scenarios() -> Vec<Scenario> {
    let mut out = Vec::new();
    watch_matrix(&mut out);
    remove_matrix(&mut out);
    set_watches(&mut out);
    out
}
