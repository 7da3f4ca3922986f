//! The tree's registries of ephemeral nodes by session, container nodes
//! and TTL nodes (Java's DataTree ephemerals, containers and ttls), kept
//! as nodes come and go and read by closeSession, the ContainerManager
//! and the dump and mntr four-letter words.
//!
//! Updated under the tree's write lock by the thread applying txns (or
//! loading a snapshot); read by the request, ContainerManagerTask and
//! four-letter-word threads.

use super::{DataTree, TreeInner};
use crate::common::java_hash_order::JavaHashSet;
use crate::server::data_node::EphemeralType;
use std::collections::BTreeMap;
use std::sync::Arc;

impl TreeInner {
    fn ephemeral_type(&self, owner: i64) -> EphemeralType {
        EphemeralType::get(owner, self.extended_types)
    }

    pub(super) fn track(&mut self, path: &str, owner: i64) {
        match self.ephemeral_type(owner) {
            EphemeralType::Container => {
                self.containers.insert(path.into());
            }
            EphemeralType::Ttl => {
                self.ttls.insert(path.into());
            }
            EphemeralType::Normal => {
                self.ephemerals.entry(owner).or_default().insert(path);
            }
            EphemeralType::Void => {}
        }
    }

    pub(super) fn untrack(&mut self, path: &str, owner: i64) {
        match self.ephemeral_type(owner) {
            EphemeralType::Container => {
                self.containers.remove(path);
            }
            EphemeralType::Ttl => {
                self.ttls.remove(path);
            }
            EphemeralType::Normal => {
                if let Some(set) = self.ephemerals.get_mut(&owner) {
                    set.remove(path);
                }
            }
            EphemeralType::Void => {}
        }
    }
}

impl DataTree {
    /// A copy of one session's ephemeral paths, iterating as the copy Java
    /// hands out (`HashSet.clone`): closeSession's starting point.
    pub fn ephemeral_set(&self, session_id: i64) -> JavaHashSet {
        self.inner.read().ephemerals.get(&session_id).map(JavaHashSet::java_clone).unwrap_or_default()
    }

    /// The ephemeral paths of one session, in the order Java's getEphemerals
    /// lists them (its `HashSet.clone`'s order), shared until the session's
    /// ephemerals next change.
    pub fn get_ephemerals(&self, session_id: i64) -> Arc<[Box<str>]> {
        self.inner.read().ephemerals.get(&session_id).map_or_else(|| Arc::from([]), JavaHashSet::clone_ordered)
    }

    /// Every session that has (or had, until its close) ephemerals, with its
    /// paths sorted (the "dump" four-letter word).
    pub fn ephemerals_by_session(&self) -> BTreeMap<i64, Vec<String>> {
        let inner = self.inner.read();
        inner
            .ephemerals
            .iter()
            .map(|(&session, set)| {
                let mut paths: Vec<String> = set.ordered().into_iter().map(str::to_string).collect();
                paths.sort_unstable();
                (session, paths)
            })
            .collect()
    }

    /// The sessions that have (or had, until their close) ephemerals, sorted.
    pub fn sessions_with_ephemerals(&self) -> Vec<i64> {
        let mut v: Vec<i64> = self.inner.read().ephemerals.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// Number of ephemeral nodes.
    pub fn ephemerals_count(&self) -> usize {
        self.inner.read().ephemerals.values().map(JavaHashSet::len).sum()
    }

    /// Container node paths, sorted.
    pub fn containers(&self) -> Vec<String> {
        let mut v: Vec<String> = self.inner.read().containers.iter().map(|p| p.to_string()).collect();
        v.sort_unstable();
        v
    }

    /// TTL node paths, sorted.
    pub fn ttls(&self) -> Vec<String> {
        let mut v: Vec<String> = self.inner.read().ttls.iter().map(|p| p.to_string()).collect();
        v.sort_unstable();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::data_tree::tests::*;
    
    use crate::jute::txn::{CloseSessionTxn, CreateContainerTxn, CreateTtlTxn, DeleteTxn, TxnBody, TxnHeader};
    
    
    
    
    
    
    
    use crate::zoo_defs::{code, ids, op_code};
    
    

    #[test]
    fn ephemerals_and_close_session() {
        let t = DataTree::new();
        create(&t, "/e", 1);
        let eph = |path: &str, session: i64, zxid: i64| {
            let h = TxnHeader { client_id: session, ..hdr(op_code::CREATE, zxid) };
            t.process_txn(&h, Some(&TxnBody::Create(create_txn(path, b"", true, -1))))
        };
        eph("/e/a", 0x55, 2);
        eph("/e/b", 0x55, 3);
        eph("/e/c", 0x66, 4);
        eph("/e/d", 0x77, 5);
        assert_eq!(stat(&t, "/e/a").ephemeral_owner, 0x55);
        assert_eq!(t.get_ephemerals(0x55).iter().map(|p| &**p).collect::<Vec<_>>(), ["/e/a", "/e/b"]);
        assert_eq!(t.sessions_with_ephemerals(), [0x55, 0x66, 0x77]);
        assert_eq!(t.ephemerals_count(), 4);
        assert!(t.get_ephemerals(0x99).is_empty());

        // Deleting the only ephemeral of a session keeps its (empty) entry.
        delete(&t, "/e/d", 6);
        let by_session = t.ephemerals_by_session();
        assert_eq!(by_session.len(), 3);
        assert_eq!(by_session[&0x77], Vec::<String>::new());

        // closeSession without a body: the tree's own list.
        let close = TxnHeader { client_id: 0x66, ..hdr(op_code::CLOSE_SESSION, 7) };
        assert_eq!(t.process_txn(&close, None).err, code::OK);
        assert!(t.node_info("/e/c").is_none());
        assert_eq!(t.ephemerals_by_session().len(), 2);

        // closeSession naming paths: those go (whoever owns them), then the
        // session's remaining ones.
        create(&t, "/e/p", 8);
        let close = TxnHeader { client_id: 0x55, ..hdr(op_code::CLOSE_SESSION, 9) };
        let body = TxnBody::CloseSession(CloseSessionTxn {
            paths2_delete: vec!["/e/a".into(), "/e/p".into(), "/e/zz".into()],
        });
        assert_eq!(t.process_txn(&close, Some(&body)).err, code::OK);
        assert!(sorted_children(&t, "/e").is_empty());
        assert_eq!(t.ephemerals_count(), 0);
        assert_eq!(t.ephemerals_by_session().keys().copied().collect::<Vec<_>>(), [0x77]);
        let e = t.node_info("/e").unwrap().stat;
        assert_eq!(e.pzxid, 9);
        assert_eq!(t.last_processed_zxid(), 9);
    }

    #[test]
    fn containers_and_ttls() {
        let t = DataTree::with_settings(true, true);
        assert!(t.extended_types_enabled() && !DataTree::new().extended_types_enabled());
        let body = TxnBody::CreateContainer(CreateContainerTxn {
            path: "/c".into(),
            data: Some(b"d".to_vec()),
            acl: ids::open_acl_unsafe(),
            parent_c_version: -1,
        });
        let rc = t.process_txn(&hdr(op_code::CREATE_CONTAINER, 1), Some(&body));
        assert_eq!(rc.stat.unwrap().ephemeral_owner, 0);
        assert_eq!(t.node_info("/c").unwrap().stat.ephemeral_owner, EphemeralType::CONTAINER_EPHEMERAL_OWNER);
        assert_eq!(t.containers(), ["/c"]);
        let body = TxnBody::CreateTtl(CreateTtlTxn {
            path: "/c/t".into(),
            data: None,
            acl: ids::open_acl_unsafe(),
            parent_c_version: -1,
            ttl: 500,
        });
        let rc = t.process_txn(&hdr(op_code::CREATE_TTL, 2), Some(&body));
        assert_eq!((rc.err, rc.stat.unwrap().ephemeral_owner), (code::OK, 0));
        let owner = t.node_info("/c/t").unwrap().stat.ephemeral_owner;
        assert_eq!(EphemeralType::ttl_value(owner), 500);
        assert_eq!(t.ttls(), ["/c/t"]);
        assert_eq!(t.ephemerals_count(), 0);
        let del = TxnBody::Delete(DeleteTxn { path: "/c/t".into() });
        t.process_txn(&hdr(op_code::DELETE, 3), Some(&del));
        let del = TxnBody::Delete(DeleteTxn { path: "/c".into() });
        assert_eq!(t.process_txn(&hdr(op_code::DELETE_CONTAINER, 4), Some(&del)).err, code::OK);
        assert!(t.containers().is_empty() && t.ttls().is_empty());
    }
}
