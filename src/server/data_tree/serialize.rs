//! Writing the tree as a snapshot holds it (Java's DataTree.serialize):
//! fuzzy, in short pieces under the read lock, the bytes written with the
//! lock released.
//!
//! Run by the SnapshotThread (and start-up's or NEWLEADER's snapshot) and
//! by a LearnerHandler sending a SNAP, beside the thread applying txns.

use super::DataTree;
use crate::jute::OutputArchive;
use crate::server::data_node::{ChildrenEpoch, DataNode};
use std::io::{self, Write};

/// The most nodes written under one hold of the read lock.
const PIECE_NODES: usize = 256;
/// The most children-table slots looked at under one hold of the read lock
/// (a node with a million children is listed in pieces of this many slots).
const PIECE_SLOTS: usize = 4096;
/// The most bytes gathered under one hold of the read lock.
const PIECE_BYTES: usize = 1 << 20;

/// The names of a node's children, packed into one string (one allocation
/// instead of one per name).
#[derive(Default)]
struct ChildNames {
    text: String,
    ends: Vec<usize>,
}

impl ChildNames {
    fn push(&mut self, name: &str) {
        self.text.push_str(name);
        self.ends.push(self.text.len());
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(self.ends.iter().copied()).map(|(s, e)| self.text.get(s..e).unwrap_or_default())
    }

    /// Drops names met more than once.
    fn dedup(&mut self) {
        let mut names: Vec<&str> = self.names().collect();
        names.sort_unstable();
        names.dedup();
        let mut unique = ChildNames { text: String::with_capacity(self.text.len()), ends: Vec::with_capacity(names.len()) };
        for name in names {
            unique.push(name);
        }
        *self = unique;
    }

    /// Moves the last name onto the end of `out`; false when none is left.
    fn pop_onto(&mut self, out: &mut String) -> bool {
        let Some(end) = self.ends.pop() else {
            return false;
        };
        let start = self.ends.last().copied().unwrap_or(0);
        out.push_str(self.text.get(start..end).unwrap_or_default());
        self.text.truncate(start);
        true
    }
}

/// A listing of a node's children under way, made slot by slot over
/// several holds of the lock (see `ChildrenEpoch`).
struct Listing {
    /// The node listed: its czxid (a node deleted and created again under
    /// the same path is another node) and its table's changes so far.
    czxid: i64,
    epoch: ChildrenEpoch,
    next_slot: usize,
    /// A name may have been met twice: drop the repeats at the end.
    may_repeat: bool,
}

impl Listing {
    fn of(node: &DataNode) -> Listing {
        Listing { czxid: node.czxid(), epoch: node.children_epoch(), next_slot: 0, may_repeat: false }
    }

    /// Lists up to `slots` more slots of `node` into `names`; returns how
    /// many it looked at and whether the listing is complete. A table
    /// rebuilt (or a node replaced) since the last piece is listed again
    /// from its first slot; `may_repeat` then says the names need
    /// `ChildNames::dedup` once complete.
    fn resume(&mut self, node: &DataNode, names: &mut ChildNames, slots: usize) -> (usize, bool) {
        let epoch = node.children_epoch();
        if epoch.moves != self.epoch.moves || node.czxid() != self.czxid {
            self.next_slot = 0;
            self.may_repeat = true;
        }
        if epoch.removals != self.epoch.removals {
            self.may_repeat = true;
        }
        self.epoch = epoch;
        self.czxid = node.czxid();
        let end = node.child_slots().min(self.next_slot.saturating_add(slots));
        for name in node.child_names_in(self.next_slot..end) {
            names.push(name);
        }
        let looked = end.saturating_sub(self.next_slot).max(1);
        self.next_slot = end;
        (looked, end >= node.child_slots())
    }
}

/// One level of the walk: a node written whose children are not all
/// written yet.
struct Level {
    /// The length of the node's path (a prefix of the walk's path).
    path_len: usize,
    /// Its children's names listed and not yet written.
    names: ChildNames,
    /// `Some` while its children are being listed; they are written once
    /// the listing is complete.
    listing: Option<Listing>,
}

impl Level {
    fn new(path_len: usize, node: &DataNode) -> Level {
        Level { path_len, names: ChildNames::default(), listing: Some(Listing::of(node)) }
    }
}

impl DataTree {
    /// Writes the tree as a Java snapshot holds it after the file header:
    /// the ACL table, then (path, node) for every node, depth first, the
    /// root as "", then the end marker "/". Like Java's this is fuzzy: the
    /// read lock is held for a short piece of the walk at a time (at most
    /// `PIECE_NODES` nodes, `PIECE_SLOTS` slots of children tables and
    /// `PIECE_BYTES` bytes) and nothing is written under it, so a waiting
    /// writer gets the lock between two pieces and txns applied meanwhile
    /// may or may not show. A node's children are listed (in pieces for a
    /// large table) before any of them is written; children created later
    /// may be missed and deleted ones are skipped (replay of the log from
    /// the snapshot's zxid repairs both, as in Java). Every node that
    /// exists throughout the walk is written exactly once, each node record
    /// as it stood at one moment.
    pub fn serialize<W: Write>(&self, out: &mut W) -> io::Result<()> {
        self.serialize_in_pieces(out, || {})
    }

    /// `serialize`, calling `between_pieces` each time the lock has been
    /// released (tests change the tree there).
    fn serialize_in_pieces<W: Write>(&self, out: &mut W, mut between_pieces: impl FnMut()) -> io::Result<()> {
        let mut oa = OutputArchive::with_capacity(PIECE_BYTES + 64 * 1024);
        // `path` is the path of the last node written; `open` has a level
        // per node on the way down to it.
        let mut path = String::new();
        let mut open: Vec<Level> = Vec::new();
        // The listing just completed met some name twice.
        let mut dedup = false;
        {
            let inner = self.inner.read();
            inner.acl_cache.serialize(&mut oa);
            oa.write_string("");
            inner.root.serialize(&mut oa);
            open.push(Level::new(0, &inner.root));
        }
        while !open.is_empty() {
            {
                let inner = self.inner.read();
                // Find the open levels' nodes again (one lookup per level);
                // a level whose node went away meanwhile is dropped, with
                // everything under it.
                let mut nodes: Vec<&DataNode> = vec![&inner.root];
                for level in 1..open.len() {
                    let (start, end) = (open[level - 1].path_len + 1, open[level].path_len);
                    let found = nodes.last().and_then(|n| n.child(path.get(start..end).unwrap_or_default()));
                    match found {
                        Some(n) => nodes.push(n),
                        None => {
                            open.truncate(level);
                            break;
                        }
                    }
                }
                let (mut nodes_left, mut slots_left) = (PIECE_NODES, PIECE_SLOTS);
                while nodes_left > 0 && slots_left > 0 && oa.len() < PIECE_BYTES {
                    let (Some(level), Some(&parent)) = (open.last_mut(), nodes.last()) else {
                        break;
                    };
                    if let Some(listing) = &mut level.listing {
                        let (looked, done) = listing.resume(parent, &mut level.names, slots_left);
                        slots_left = slots_left.saturating_sub(looked);
                        if done {
                            dedup = listing.may_repeat;
                            level.listing = None;
                            if dedup {
                                break; // sorted out with the lock released
                            }
                        }
                        continue;
                    }
                    path.truncate(level.path_len);
                    path.push('/');
                    if !level.names.pop_onto(&mut path) {
                        open.pop();
                        nodes.pop();
                        continue;
                    }
                    let Some(child) = parent.child(path.get(level.path_len + 1..).unwrap_or_default()) else {
                        continue; // deleted since its parent was listed
                    };
                    oa.write_string(&path);
                    child.serialize(&mut oa);
                    nodes_left -= 1;
                    if child.num_children() > 0 {
                        open.push(Level::new(path.len(), child));
                        nodes.push(child);
                    }
                }
            }
            if std::mem::take(&mut dedup) {
                if let Some(level) = open.last_mut() {
                    level.names.dedup();
                }
            }
            out.write_all(oa.as_slice())?;
            oa.clear();
            between_pieces();
        }
        oa.write_string("/");
        out.write_all(oa.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::txn::{DeleteTxn, SetDataTxn, TxnBody, TxnHeader};
    use crate::jute::InputArchive;
    use crate::server::data_tree::tests::*;
    use crate::server::data_tree::CONFIG_NODE;
    use crate::zoo_defs::{code, op_code};

    /// Takes a snapshot while `meddle` changes the tree each time the walk
    /// has released the lock (as the thread applying txns would, taking it
    /// between two pieces), and loads it into a new tree. `meddle` is told
    /// how many pieces came before.
    fn snapshot_while(t: &DataTree, mut meddle: impl FnMut(&DataTree, usize)) -> DataTree {
        let mut out = Vec::new();
        let mut pieces = 0;
        t.serialize_in_pieces(&mut out, || {
            meddle(t, pieces);
            pieces += 1;
        })
        .unwrap();
        let back = DataTree::new();
        back.deserialize(&mut InputArchive::new(&out)).unwrap();
        back
    }

    #[test]
    fn serialize_resumes_after_the_tree_changed() {
        let t = DataTree::new();
        let mut zxid = 0;
        for top in ["/x", "/y"] {
            zxid += 1;
            create(&t, top, zxid);
            for i in 0..2500 {
                zxid += 1;
                create(&t, &format!("{top}/{i}"), zxid);
            }
        }
        // At the first piece written both /x and /y go with their children.
        let back = snapshot_while(&t, |t, piece| {
            if piece == 0 {
                let mut zxid = 10_000;
                for top in ["/x", "/y"] {
                    for i in 0..2500 {
                        zxid += 1;
                        assert_eq!(delete(t, &format!("{top}/{i}"), zxid).err, code::OK);
                    }
                    zxid += 1;
                    assert_eq!(delete(t, top, zxid).err, code::OK);
                }
            }
        });
        assert_eq!(t.node_count(), 5);
        // Whatever of /x and /y the first piece reached was written, with
        // at most a piece of children; nothing of them after it.
        let written: usize = ["/x", "/y"]
            .into_iter()
            .filter(|p| back.stat_node(p, None).is_ok())
            .map(|p| 1 + back.get_all_children_number(p) as usize)
            .sum();
        assert!(written <= 2 + PIECE_NODES, "{written}");
        assert!(back.stat_node(CONFIG_NODE, None).is_ok());
        assert_eq!(back.node_count(), 5 + written);
    }

    #[test]
    fn serialize_spans_pieces() {
        let t = DataTree::new();
        create(&t, "/n", 1);
        for i in 0..2500 {
            create(&t, &format!("/n/{i}"), 2 + i);
        }
        let back = snapshot_while(&t, |_, _| {});
        assert_eq!(back.node_count(), t.node_count());
        assert_eq!(back.get_all_children_number("/n"), 2500);
        assert_eq!(back.stat_node("/n", None), t.stat_node("/n", None));
    }

    /// Applies txns to the live tree as the server does (a create carries
    /// the parent's next cversion) and keeps them for the replay.
    struct Txns {
        zxid: i64,
        log: Vec<(TxnHeader, TxnBody)>,
    }

    impl Txns {
        fn apply(&mut self, t: &DataTree, ty: i32, body: TxnBody) -> i32 {
            self.zxid += 1;
            let hdr = hdr(ty, self.zxid);
            let err = t.process_txn(&hdr, Some(&body)).err;
            self.log.push((hdr, body));
            err
        }

        fn create(&mut self, t: &DataTree, path: &str) {
            let parent = path.rsplit_once('/').map_or("/", |(p, _)| if p.is_empty() { "/" } else { p });
            let cversion = t.node_info(parent).map_or(0, |i| i.stat.cversion) + 1;
            let body = TxnBody::Create(create_txn(path, b"c", false, cversion));
            assert_eq!(self.apply(t, op_code::CREATE, body), code::OK, "create {path}");
        }

        fn delete(&mut self, t: &DataTree, path: &str) {
            let body = TxnBody::Delete(DeleteTxn { path: path.into() });
            assert_eq!(self.apply(t, op_code::DELETE, body), code::OK, "delete {path}");
        }

        fn set_data(&mut self, t: &DataTree, path: &str) {
            let version = t.node_info(path).map_or(0, |i| i.stat.version) + 1;
            let data = format!("v{}", self.zxid).into_bytes();
            let body = TxnBody::SetData(SetDataTxn { path: path.into(), data: Some(data), version });
            assert_eq!(self.apply(t, op_code::SET_DATA, body), code::OK, "setData {path}");
        }
    }

    /// A fuzzy snapshot taken while txns change the tree between its
    /// pieces -- a large parent growing (its table rebuilt mid-listing),
    /// children deleted, some created again under the same name, data set,
    /// whole subtrees coming and going -- and then the txns of the walk
    /// replayed on it (each one after the zxid the snapshot is named for)
    /// give the live tree back, digest and all.
    #[test]
    fn fuzzy_snapshot_and_replay_restore_the_tree() {
        let t = DataTree::new();
        let mut txns = Txns { zxid: 0, log: Vec::new() };
        txns.create(&t, "/big");
        for i in 0..20_000 {
            txns.create(&t, &format!("/big/c{i}"));
        }
        for s in 0..50 {
            txns.create(&t, &format!("/big/s{s}"));
            for i in 0..20 {
                txns.create(&t, &format!("/big/s{s}/k{i}"));
            }
        }
        let snapshot_zxid = txns.zxid;
        txns.log.clear();
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let mut created = 0;
        let back = snapshot_while(&t, |t, piece| {
            // /big is the root's only child but /zookeeper: its listing
            // starts in the first piece and takes several.
            // Enough new children for /big's table to grow, then enough
            // gone for it to shrink: each rebuild moves the children to
            // other slots.
            if piece == 1 {
                for i in 0..10_000 {
                    txns.create(t, &format!("/big/n{i}"));
                }
            }
            if piece == 3 {
                for i in 0..16_000 {
                    let c = format!("/big/c{i}");
                    if t.stat_node(&c, None).is_ok() {
                        txns.delete(t, &c);
                    }
                }
            }
            for _ in 0..40 {
                let c = format!("/big/c{}", next(20_000));
                match next(5) {
                    0 if t.stat_node(&c, None).is_ok() => {
                        txns.delete(t, &c);
                        if next(2) == 0 {
                            txns.create(t, &c);
                        }
                    }
                    1 if t.stat_node(&c, None).is_ok() => txns.set_data(t, &c),
                    2 => {
                        let s = format!("/big/s{}", next(50));
                        if let Some(k) = t.peek_children(&s).and_then(|k| k.into_iter().next()) {
                            txns.delete(t, &format!("{s}/{k}"));
                        } else if t.stat_node(&s, None).is_ok() {
                            txns.delete(t, &s);
                        }
                    }
                    3 => {
                        created += 1;
                        let s = format!("/big/t{created}");
                        txns.create(t, &s);
                        txns.create(t, &format!("{s}/leaf"));
                    }
                    _ => txns.set_data(t, "/big"),
                }
            }
        });
        assert!(t.stat_node("/big/c0", None).is_err(), "the walk ended before the children went");
        for (hdr, body) in &txns.log {
            assert!(hdr.zxid > snapshot_zxid);
            back.process_txn(hdr, Some(body));
        }
        assert_eq!(back.node_count(), t.node_count());
        assert_eq!(digest_is_consistent(&back), digest_is_consistent(&t));
        assert_eq!(sorted_children(&back, "/big"), sorted_children(&t, "/big"));
    }

    /// Children deleted and created again under the same name while their
    /// parent is listed may be met in their old slot and their new one:
    /// each is still written once.
    #[test]
    fn names_met_twice_are_written_once() {
        let t = DataTree::new();
        let mut txns = Txns { zxid: 0, log: Vec::new() };
        txns.create(&t, "/p");
        for i in 0..10_000 {
            txns.create(&t, &format!("/p/c{i}"));
        }
        let back = snapshot_while(&t, |t, _| {
            for i in (0..10_000).step_by(7) {
                let c = format!("/p/c{i}");
                txns.delete(t, &c);
                txns.create(t, &c);
            }
        });
        for (hdr, body) in &txns.log[10_001..] {
            back.process_txn(hdr, Some(body));
        }
        assert_eq!(digest_is_consistent(&back), digest_is_consistent(&t));
    }
}
