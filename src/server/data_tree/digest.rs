//! The tree digest (Java's DataTree digest bookkeeping and NodeHashMap's
//! running digest; each node's CRC is `server::digest_calculator`): the
//! wrapping sum kept up to date by every change, the digest after each
//! txn compared with the one it was logged with (compareDigest), the
//! digest a loaded snapshot recorded (compareSnapshotDigests), and the
//! every-128th-zxid log the `hash` four-letter word lists.
//!
//! Updated by the thread applying txns (Final, or the loader at start-up)
//! under the tree's write lock; read by the request and four-letter-word
//! threads, and by the SnapshotThread writing a snapshot's digest.

use super::{resolve, DataTree, NodeInfo, TreeInner};
use crate::jute::txn::{TxnDigest, TxnHeader};
use crate::jute::{InputArchive, JuteError, OutputArchive};
use crate::server::data_node::DataNode;
use crate::server::digest_calculator::{calculate_digest, NodeDigester, DIGEST_VERSION};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use tracing::{error, warn};

/// A node's digest as the tree holds it.
pub(super) fn node_digest(enabled: bool, path: &str, node: &DataNode) -> i64 {
    calculate_digest(enabled, path, node.data(), &node.stat())
}

/// The tree digest after one txn (DataTree.ZxidDigest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZxidDigest {
    pub zxid: i64,
    pub digest_version: i32,
    pub digest: i64,
}

impl ZxidDigest {
    /// What a snapshot holds when no txn has been applied yet.
    pub const EMPTY: ZxidDigest = ZxidDigest { zxid: 0, digest_version: DIGEST_VERSION, digest: 0 };

    pub fn serialize(&self, oa: &mut OutputArchive) {
        oa.write_long(self.zxid);
        oa.write_int(self.digest_version);
        oa.write_long(self.digest);
    }

    /// Reads one; version 1 stored the digest as a hex string.
    pub fn deserialize(ia: &mut InputArchive<'_>) -> Result<ZxidDigest, JuteError> {
        let zxid = ia.read_long()?;
        let digest_version = ia.read_int()?;
        let digest = if digest_version < 2 {
            let text = ia.read_string()?;
            u64::from_str_radix(&text, 16).map_or(0, |v| v as i64)
        } else {
            ia.read_long()?
        };
        Ok(ZxidDigest { zxid, digest_version, digest })
    }
}

/// How many digests the `hash` four-letter word can show, and which zxids
/// are recorded (every multiple of 128).
const DIGEST_LOG_LIMIT: usize = 1024;
const DIGEST_LOG_INTERVAL: i64 = 128;

/// The digest bookkeeping beside the tree (taken inside the tree's write
/// lock when a txn is applied, alone by readers).
#[derive(Default)]
pub(super) struct DigestState {
    /// The digest a loaded snapshot recorded, until replay reaches its zxid
    /// (the tree is "fuzzy" until then and nothing is compared).
    from_loaded_snapshot: Option<ZxidDigest>,
    /// The digest after the newest applied txn.
    last_processed: Option<ZxidDigest>,
    /// Digests at zxids that are multiples of 128, oldest first.
    log: VecDeque<ZxidDigest>,
    first_mismatch_reported: bool,
}

impl TreeInner {
    /// The tree digest computed from scratch (the incremental one must
    /// always equal it).
    pub(super) fn full_digest(&self) -> i64 {
        let mut sum = 0i64;
        let mut stack = vec![(String::new(), &self.root)];
        while let Some((path, node)) = stack.pop() {
            sum = sum.wrapping_add(node_digest(self.digest_enabled, &path, node));
            for child in node.children() {
                stack.push((format!("{path}/{}", child.name()), child));
            }
        }
        sum
    }

    /// Replaces digest `old` with `new` in the tree digest.
    pub(super) fn swap_digest(&mut self, old: i64, new: i64) {
        self.digest = self.digest.wrapping_sub(old).wrapping_add(new);
    }
}

impl DataTree {
    /// After a txn: while a loaded snapshot's digest is pending, check it
    /// when its zxid comes up; otherwise remember the digest (and log every
    /// 128th), and compare it with the txn's own.
    pub(super) fn record_digest(&self, hdr: &TxnHeader, tree_digest: i64, logged: Option<&TxnDigest>) {
        let zxid = hdr.zxid;
        let mut st = self.digests.lock();
        if let Some(pending) = st.from_loaded_snapshot {
            self.compare_snapshot_digest(&mut st, pending, zxid, tree_digest);
        } else {
            let zd = ZxidDigest { zxid, digest_version: DIGEST_VERSION, digest: tree_digest };
            st.last_processed = Some(zd);
            if zxid % DIGEST_LOG_INTERVAL == 0 {
                st.log.push_back(zd);
                if st.log.len() > DIGEST_LOG_LIMIT {
                    st.log.pop_front();
                }
            }
        }
        let Some(logged) = logged else { return };
        if st.from_loaded_snapshot.is_some() || logged.version != DIGEST_VERSION {
            return;
        }
        if logged.tree_digest != tree_digest {
            self.digest_mismatches.fetch_add(1, Ordering::Relaxed);
            crate::server::server_metrics::metrics().digest_mismatches_count.inc();
            if !st.first_mismatch_reported {
                st.first_mismatch_reported = true;
                error!(
                    "First digest mismatch on txn 0x{:x} (type {}): expected digest is {}, actual digest is {}",
                    zxid, hdr.r#type, logged.tree_digest, tree_digest
                );
            } else {
                warn!("Digests are not matching at zxid 0x{zxid:x}");
            }
        }
    }

    /// compareSnapshotDigests: at the snapshot digest's own zxid the tree
    /// must match it; either way the comparison is over then.
    fn compare_snapshot_digest(&self, st: &mut DigestState, pending: ZxidDigest, zxid: i64, tree_digest: i64) {
        if zxid == pending.zxid {
            if pending.digest_version != DIGEST_VERSION {
                tracing::info!(
                    "Digest version changed, local: {}, new: {}, skip comparing digest now.",
                    pending.digest_version,
                    DIGEST_VERSION
                );
            } else if tree_digest != pending.digest {
                self.digest_mismatches.fetch_add(1, Ordering::Relaxed);
                crate::server::server_metrics::metrics().digest_mismatches_count.inc();
                error!("Digests are not matching at the snapshot's zxid 0x{zxid:x}");
            }
            st.from_loaded_snapshot = None;
        } else if pending.zxid != 0 && zxid > pending.zxid {
            warn!("The txn 0x{:x} of snapshot digest does not exist.", pending.zxid);
        }
    }

    /// The tree digest now (0 when digests are off).
    pub fn tree_digest(&self) -> i64 {
        self.inner.read().digest
    }

    /// zookeeper.digest.enabled, as this tree was built.
    pub fn digest_enabled(&self) -> bool {
        self.inner.read().digest_enabled
    }

    /// The digest node `path` would have with `data` (Prep's precalculation
    /// starts from this).
    pub fn digester(&self, path: &str, data: Option<&[u8]>) -> NodeDigester {
        NodeDigester::new(self.digest_enabled(), path, data)
    }

    /// How many txns (or snapshot digests) did not match the tree.
    pub fn digest_mismatches(&self) -> u64 {
        self.digest_mismatches.load(Ordering::Relaxed)
    }

    /// The recorded digests, oldest first (the `hash` four-letter word).
    pub fn digest_log(&self) -> Vec<ZxidDigest> {
        self.digests.lock().log.iter().copied().collect()
    }

    /// The digest pending from a loaded snapshot, if replay has not reached
    /// its zxid.
    pub fn digest_from_loaded_snapshot(&self) -> Option<ZxidDigest> {
        self.digests.lock().from_loaded_snapshot
    }

    /// serializeZxidDigest: writes the newest txn's digest after a
    /// snapshot's seal; false (nothing written) when digests are off.
    pub fn serialize_zxid_digest(&self, oa: &mut OutputArchive) -> bool {
        if !self.digest_enabled() {
            return false;
        }
        self.digests.lock().last_processed.unwrap_or(ZxidDigest::EMPTY).serialize(oa);
        true
    }

    /// Records the digest read from a snapshot taken at `snap_zxid`, to be
    /// checked when replay reaches its zxid. An empty digest, or one older
    /// than the snapshot, is not checked.
    pub fn set_digest_from_snapshot(&self, zd: ZxidDigest, snap_zxid: i64) {
        let mut st = self.digests.lock();
        st.from_loaded_snapshot = None;
        if zd.zxid <= 0 {
            tracing::info!("The digest value is empty in snapshot");
            return;
        }
        tracing::info!(
            "The digest in the snapshot has digest version of {}, with zxid as 0x{:x}, and digest value as {}",
            zd.digest_version,
            zd.zxid,
            zd.digest
        );
        if zd.zxid < snap_zxid {
            tracing::info!(
                "The zxid of snapshot digest 0x{:x} is smaller than the known snapshot highest zxid, \
                 the snapshot started with zxid 0x{:x}. It will be invalid to use this snapshot digest \
                 associated with this zxid, will ignore comparing it.",
                zd.zxid,
                snap_zxid
            );
            return;
        }
        st.from_loaded_snapshot = Some(zd);
    }

    /// After a snapshot is loaded at `snap_zxid`: a digest taken at exactly
    /// that zxid is checked at once.
    pub fn compare_snapshot_digest_at_load(&self, snap_zxid: i64) {
        let tree_digest = self.tree_digest();
        let mut st = self.digests.lock();
        if let Some(pending) = st.from_loaded_snapshot {
            self.compare_snapshot_digest(&mut st, pending, snap_zxid, tree_digest);
        }
    }

    /// `node_info` of an existing node with its digester (its path and
    /// data hashed), from one lookup.
    pub fn node_info_and_digester(&self, path: &str) -> Option<(NodeInfo, NodeDigester)> {
        let inner = self.inner.read();
        let node = resolve(&inner.root, path)?;
        Some((inner.info_of(node, path), NodeDigester::new(inner.digest_enabled, path, node.data())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::data_tree::tests::*;
    use crate::jute::records::StatPersisted;
    use crate::jute::txn::{DeleteTxn, ErrorTxn, SetAclTxn, SetDataTxn, TxnBody, TxnDigest};
    use crate::jute::{InputArchive, OutputArchive};
    
    use crate::server::digest_calculator::{calculate_digest, DIGEST_VERSION};
    
    
    
    
    use crate::zoo_defs::{code, ids, op_code};
    
    

    #[test]
    fn tree_digest_follows_every_change_and_survives_a_snapshot() {
        let t = DataTree::new();
        // The fresh tree counts "/" (as "") and /zookeeper only.
        let zero = StatPersisted::default();
        let fresh = calculate_digest(true, "", Some(b""), &zero).wrapping_add(calculate_digest(true, "/zookeeper", None, &zero));
        assert_eq!(digest_is_consistent(&t), fresh);
        let mut zxid = 0;
        let mut step = |f: &dyn Fn(&DataTree, i64)| {
            zxid += 1;
            let before = t.tree_digest();
            f(&t, zxid);
            let after = digest_is_consistent(&t);
            (before, after)
        };
        step(&|t, z| assert_eq!(create(t, "/a", z).err, code::OK));
        step(&|t, z| assert_eq!(create(t, "/a/b", z).err, code::OK));
        step(&|t, z| assert_eq!(set_data(t, "/a/b", b"payload", 1, z).err, code::OK));
        step(&|t, z| assert_eq!(set_data(t, "/", b"root data", 1, z).err, code::OK));
        step(&|t, z| {
            let acl = TxnBody::SetAcl(SetAclTxn { path: "/a".into(), acl: ids::read_acl_unsafe(), version: 1 });
            assert_eq!(t.process_txn(&hdr(op_code::SET_ACL, z), Some(&acl)).err, code::OK);
        });
        step(&|t, z| {
            let eph = TxnBody::Create(create_txn("/a/e", b"x", true, -1));
            assert_eq!(t.process_txn(&hdr(op_code::CREATE, z), Some(&eph)).err, code::OK);
        });
        step(&|t, z| {
            let subs = vec![
                sub(op_code::CREATE, &create_txn("/m", b"1", false, -1)),
                sub(op_code::SET_DATA, &SetDataTxn { path: "/m".into(), data: None, version: 1 }),
                sub(op_code::DELETE, &DeleteTxn { path: "/a/b".into() }),
            ];
            assert_eq!(multi(t, subs, z).err, code::OK);
        });
        // A failed multi and a create that finds its node leave it alone
        // (but for the parent catching up).
        let (before, after) = step(&|t, z| {
            let subs = vec![
                sub(op_code::CREATE, &create_txn("/never", b"", false, -1)),
                sub(op_code::ERROR, &ErrorTxn { err: code::BAD_VERSION }),
            ];
            multi(t, subs, z);
        });
        assert_eq!(before, after);
        step(&|t, z| assert_eq!(create(t, "/a", z).err, code::NODE_EXISTS));
        step(&|t, z| {
            t.process_txn(&hdr(op_code::CLOSE_SESSION, z), None);
        });
        assert!(t.get_ephemerals(SESSION).is_empty());
        // Quota bookkeeping under /zookeeper/ never moves the digest.
        let before = t.tree_digest();
        step(&|t, z| assert_eq!(create(t, "/zookeeper/quota/m", z).err, code::OK));
        step(&|t, z| assert_eq!(create(t, "/zookeeper/quota/m/zookeeper_limits", z).err, code::OK));
        step(&|t, z| assert_eq!(create(t, "/zookeeper/quota/m/zookeeper_stats", z).err, code::OK));
        step(&|t, z| assert_eq!(set_data(t, "/m", b"grown", 2, z).err, code::OK));
        assert_ne!(before, t.tree_digest(), "/m itself counts");

        let mut bytes = Vec::new();
        t.serialize(&mut bytes).unwrap();
        let back = DataTree::new();
        back.deserialize(&mut InputArchive::new(&bytes)).unwrap();
        assert_eq!(digest_is_consistent(&back), t.tree_digest());

        let off = DataTree::with_settings(false, false);
        assert_eq!(create(&off, "/a", 1).err, code::OK);
        assert_eq!(off.tree_digest(), 0);
        assert!(!off.serialize_zxid_digest(&mut OutputArchive::new()));
    }

    #[test]
    fn digest_log_keeps_every_128th_zxid_and_mismatches_are_counted() {
        let t = DataTree::new();
        for z in 1..=300 {
            create(&t, &format!("/n{z}"), z);
        }
        let log = t.digest_log();
        assert_eq!(log.iter().map(|d| d.zxid).collect::<Vec<_>>(), [128, 256]);
        let right = TxnDigest { version: DIGEST_VERSION, tree_digest: 0 };
        let h = hdr(op_code::CREATE, 301);
        let body = TxnBody::Create(create_txn("/x", b"", false, -1));
        t.process_txn_checked(&h, Some(&body), Some(&right));
        assert_eq!(t.digest_mismatches(), 1);
        let expected = TxnDigest { version: DIGEST_VERSION, tree_digest: t.tree_digest() };
        let h = hdr(op_code::SET_DATA, 302);
        let same = TxnBody::SetData(SetDataTxn { path: "/x".into(), data: Some(b"v".to_vec()), version: 1 });
        // Work out the digest the change will leave, then apply it checked.
        let shadow = DataTree::new();
        let mut bytes = Vec::new();
        t.serialize(&mut bytes).unwrap();
        shadow.deserialize(&mut InputArchive::new(&bytes)).unwrap();
        shadow.process_txn(&h, Some(&same));
        let good = TxnDigest { version: DIGEST_VERSION, tree_digest: shadow.tree_digest() };
        assert_ne!(good, expected);
        t.process_txn_checked(&h, Some(&same), Some(&good));
        assert_eq!(t.digest_mismatches(), 1, "a right digest is not a mismatch");
        // Another digest version is not compared.
        let other = TxnDigest { version: 1, tree_digest: 5 };
        t.process_txn_checked(&hdr(op_code::CREATE, 303), Some(&TxnBody::Create(create_txn("/y", b"", false, -1))), Some(&other));
        assert_eq!(t.digest_mismatches(), 1);
    }

    #[test]
    fn a_snapshot_digest_is_checked_when_replay_reaches_its_zxid() {
        let t = DataTree::new();
        create(&t, "/a", 1);
        let at2 = {
            let probe = DataTree::new();
            create(&probe, "/a", 1);
            create(&probe, "/b", 2);
            probe.tree_digest()
        };
        t.set_digest_from_snapshot(ZxidDigest { zxid: 2, digest_version: DIGEST_VERSION, digest: at2 }, 1);
        t.compare_snapshot_digest_at_load(1);
        assert!(t.digest_from_loaded_snapshot().is_some(), "still fuzzy until zxid 2");
        create(&t, "/b", 2);
        assert!(t.digest_from_loaded_snapshot().is_none());
        assert_eq!(t.digest_mismatches(), 0);
        // A wrong one is counted; an empty or older one is ignored.
        t.set_digest_from_snapshot(ZxidDigest { zxid: 3, digest_version: DIGEST_VERSION, digest: 1 }, 2);
        create(&t, "/c", 3);
        assert_eq!(t.digest_mismatches(), 1);
        t.set_digest_from_snapshot(ZxidDigest::EMPTY, 3);
        assert!(t.digest_from_loaded_snapshot().is_none());
        t.set_digest_from_snapshot(ZxidDigest { zxid: 2, digest_version: DIGEST_VERSION, digest: 1 }, 3);
        assert!(t.digest_from_loaded_snapshot().is_none());
    }

    #[test]
    fn zxid_digest_round_trip_and_version_1_hex() {
        let zd = ZxidDigest { zxid: 0x1234, digest_version: 2, digest: 987654321 };
        let mut oa = OutputArchive::new();
        zd.serialize(&mut oa);
        assert_eq!(oa.as_slice().len(), 20);
        assert_eq!(ZxidDigest::deserialize(&mut InputArchive::new(oa.as_slice())).unwrap(), zd);
        let mut v1 = OutputArchive::new();
        v1.write_long(7);
        v1.write_int(1);
        v1.write_string("ff");
        let back = ZxidDigest::deserialize(&mut InputArchive::new(v1.as_slice())).unwrap();
        assert_eq!(back, ZxidDigest { zxid: 7, digest_version: 1, digest: 255 });
    }
}
