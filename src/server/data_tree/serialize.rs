//! Writing the tree as a snapshot holds it (Java's DataTree.serialize):
//! fuzzy, a batch of nodes at a time under the read lock, the bytes
//! written with the lock released.
//!
//! Run by the SnapshotThread (and start-up's or NEWLEADER's snapshot) and
//! by a LearnerHandler sending a SNAP, beside the thread applying txns.

use super::DataTree;
use crate::jute::OutputArchive;
use crate::server::data_node::DataNode;
use std::io::{self, Write};

/// The names of a node's children, packed into one string (snapshot
/// writing lists them per node; one allocation instead of one per name).
struct ChildNames {
    text: String,
    ends: Vec<usize>,
}

impl ChildNames {
    fn of(node: &DataNode) -> ChildNames {
        let mut names = ChildNames { text: String::new(), ends: Vec::with_capacity(node.num_children()) };
        for name in node.child_names() {
            names.text.push_str(name);
            names.ends.push(names.text.len());
        }
        names
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

impl DataTree {
    /// Writes the tree as a Java snapshot holds it after the file header:
    /// the ACL table, then (path, node) for every node, depth first, the
    /// root as "", then the end marker "/". Like Java's this is fuzzy: the
    /// read lock is held for a batch of nodes (or bytes) at a time and
    /// nothing is written under it, so txns applied meanwhile may or may not
    /// show. A node's children are listed when the node is written;
    /// children created later are missed and deleted ones skipped (replay
    /// of the log from the snapshot's zxid repairs both, as in Java).
    pub fn serialize<W: Write>(&self, out: &mut W) -> io::Result<()> {
        const BATCH_NODES: usize = 1000;
        const BATCH_BYTES: usize = 1 << 20;
        let mut oa = OutputArchive::with_capacity(BATCH_BYTES + 64 * 1024);
        // The walk: `path` is the path of the last node written; `open`
        // has, per level of the walk, the path length of that level's node
        // (a prefix of `path`) and the names of its children still to write.
        let mut path = String::new();
        let mut open: Vec<(usize, ChildNames)> = Vec::new();
        {
            let inner = self.inner.read();
            inner.acl_cache.serialize(&mut oa);
            oa.write_string("");
            inner.root.serialize(&mut oa);
            open.push((0, ChildNames::of(&inner.root)));
        }
        while !open.is_empty() {
            {
                let inner = self.inner.read();
                // Find the open levels' nodes again (one lookup per level);
                // a level whose node went away meanwhile is dropped, with
                // everything under it.
                let mut nodes: Vec<&DataNode> = vec![&inner.root];
                for level in 1..open.len() {
                    let (start, end) = (open[level - 1].0 + 1, open[level].0);
                    let found = nodes.last().and_then(|n| n.child(path.get(start..end).unwrap_or_default()));
                    match found {
                        Some(n) => nodes.push(n),
                        None => {
                            open.truncate(level);
                            break;
                        }
                    }
                }
                let mut written = 0;
                while written < BATCH_NODES && oa.len() < BATCH_BYTES {
                    let (Some((len, names)), Some(&parent)) = (open.last_mut(), nodes.last()) else {
                        break;
                    };
                    path.truncate(*len);
                    path.push('/');
                    if !names.pop_onto(&mut path) {
                        open.pop();
                        nodes.pop();
                        continue;
                    }
                    let Some(child) = parent.child(path.get(*len + 1..).unwrap_or_default()) else {
                        continue; // deleted since its parent was written
                    };
                    oa.write_string(&path);
                    child.serialize(&mut oa);
                    written += 1;
                    if child.num_children() > 0 {
                        open.push((path.len(), ChildNames::of(child)));
                        nodes.push(child);
                    }
                }
            }
            out.write_all(oa.as_slice())?;
            oa.clear();
        }
        oa.write_string("/");
        out.write_all(oa.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    
    use crate::server::data_tree::tests::*;
    
    
    use crate::jute::InputArchive;
    
    use crate::server::data_tree::CONFIG_NODE;
    
    
    
    
    
    use crate::zoo_defs::code;
    use std::io::{self, Write};
    

    /// Writes to memory, and at the first write (the first batch, written
    /// with the lock released) deletes both /x and /y with their children.
    struct DeleteMidway<'a> {
        tree: &'a DataTree,
        out: Vec<u8>,
        fired: bool,
    }

    impl Write for DeleteMidway<'_> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if !self.fired {
                self.fired = true;
                let mut zxid = 10_000;
                for top in ["/x", "/y"] {
                    for i in 0..2500 {
                        zxid += 1;
                        assert_eq!(delete(self.tree, &format!("{top}/{i}"), zxid).err, code::OK);
                    }
                    zxid += 1;
                    assert_eq!(delete(self.tree, top, zxid).err, code::OK);
                }
            }
            self.out.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
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
        let mut w = DeleteMidway { tree: &t, out: Vec::new(), fired: false };
        t.serialize(&mut w).unwrap();
        assert_eq!(t.node_count(), 5);
        let back = DataTree::new();
        back.deserialize(&mut InputArchive::new(&w.out)).unwrap();
        // Whichever of /x and /y the walk met first was being written when
        // both went away: it keeps the children written before, the rest
        // of its subtree is dropped; the other one is skipped altogether.
        let present: Vec<&str> = ["/x", "/y"].into_iter().filter(|p| back.stat_node(p, None).is_ok()).collect();
        assert_eq!(present.len(), 1, "{present:?}");
        let written = back.get_all_children_number(present[0]);
        assert!((990..1000).contains(&written), "{written}");
        assert!(back.stat_node(CONFIG_NODE, None).is_ok());
        assert_eq!(back.node_count(), 5 + 1 + written as usize);
    }

    #[test]
    fn serialize_spans_batches() {
        let t = DataTree::new();
        create(&t, "/n", 1);
        for i in 0..2500 {
            create(&t, &format!("/n/{i}"), 2 + i);
        }
        let mut bytes = Vec::new();
        t.serialize(&mut bytes).unwrap();
        let back = DataTree::new();
        back.deserialize(&mut InputArchive::new(&bytes)).unwrap();
        assert_eq!(back.node_count(), t.node_count());
        assert_eq!(back.get_all_children_number("/n"), 2500);
        assert_eq!(back.stat_node("/n", None), t.stat_node("/n", None));
    }
}
