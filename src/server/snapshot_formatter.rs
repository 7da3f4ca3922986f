//! SnapshotFormatter (zkSnapShotToolkit.sh): prints a snapshot file the way
//! Java's tool does: every znode depth-first from "/" with its stat (and
//! its data in base64 with `-d`), the sessions with their ephemeral counts,
//! and the last zxid; or, with `-json`, the tree in ncdu's JSON export
//! format. Times are printed in UTC, as Java prints them with
//! -Duser.timezone=UTC. Runs on the main thread of `zkserver
//! snapshot-formatter`.
//!
//! Java walks children and sessions in the iteration order of its HashSet
//! and HashMap, which follows from the keys' hash codes and the order the
//! snapshot lists them in; `java_hash_order` reproduces it, so the output
//! matches Java's line for line.

use crate::common::civil_date::civil_from_days;
use crate::jute::records::FileHeader;
use crate::jute::{InputArchive, JuteError, Record};
use crate::server::data_node::DataNode;
use crate::server::data_tree::DataTree;
use crate::server::persistence::{file_snap, snap_stream};
use crate::server::persistence::util::{get_zxid_from_name, SNAPSHOT_FILE_PREFIX};
use crate::server::reference_counted_acl_cache::ReferenceCountedAclCache;
use base64::Engine;
use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::hash::Hash;
use std::path::Path;

/// java.util.Date.toString in UTC: "Mon Nov 23 16:01:34 UTC 2026".
pub fn java_date_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        d,
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        y
    )
}

fn hex(out: &mut String, name: &str, v: i64) {
    let _ = writeln!(out, "  {name} = {:#016x}", v as u64);
}

/// Java's String.hashCode (over UTF-16 code units).
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// Java's Long.hashCode.
pub fn java_long_hash(v: i64) -> i32 {
    (v ^ ((v as u64) >> 32) as i64) as i32
}

/// The order in which a java.util.HashMap (or HashSet) made with
/// `initial_capacity` iterates `keys`, put in the order given with their
/// Java hash codes; a repeated key keeps its first place.
///
/// Iteration goes bucket by bucket and, within a bucket, in insertion order
/// (growing the table keeps that order). The table doubles once it is more
/// than 3/4 full, and also when a bucket already holding 8 keys gets
/// another while the table has fewer than 64 buckets. In a table of 64 or
/// more such a bucket becomes a red-black tree in Java, whose order is not
/// reproduced here: it keeps insertion order (it takes 9 keys colliding in
/// one bucket, which names or session ids practically never do).
pub fn java_hash_order<K: Clone + Eq + Hash>(keys: &[(K, i32)], initial_capacity: usize) -> Vec<K> {
    const TREEIFY_THRESHOLD: usize = 8;
    const MIN_TREEIFY_CAPACITY: usize = 64;
    let mut seen = HashSet::with_capacity(keys.len());
    let mut placed: Vec<(K, usize)> = Vec::with_capacity(keys.len());
    let mut capacity = initial_capacity.max(1).next_power_of_two();
    let mut bucket_sizes = vec![0usize; capacity];
    for (key, hash) in keys {
        if !seen.insert(key.clone()) {
            continue;
        }
        let h = *hash as u32;
        let spread = (h ^ (h >> 16)) as usize;
        let bucket = spread & (capacity - 1);
        let mut doublings = 0;
        if bucket_sizes[bucket] >= TREEIFY_THRESHOLD && capacity < MIN_TREEIFY_CAPACITY {
            doublings += 1;
        }
        placed.push((key.clone(), spread));
        if placed.len() > (capacity << doublings) * 3 / 4 {
            doublings += 1;
        }
        if doublings > 0 {
            capacity <<= doublings;
            bucket_sizes = vec![0; capacity];
            for (_, spread) in &placed {
                bucket_sizes[spread & (capacity - 1)] += 1;
            }
        } else {
            bucket_sizes[bucket] += 1;
        }
    }
    placed.sort_by_key(|(_, spread)| spread & (capacity - 1));
    placed.into_iter().map(|(key, _)| key).collect()
}

/// The order a snapshot lists things in, which decides Java's iteration
/// order: the sessions, and for each parent path its children's names.
struct FileOrder {
    sessions: Vec<i64>,
    children: HashMap<String, Vec<String>>,
}

impl FileOrder {
    /// Reads the order from a snapshot `file_snap::load` has accepted.
    fn read(buf: &[u8]) -> Result<FileOrder, JuteError> {
        let mut ia = InputArchive::new(buf);
        FileHeader::deserialize(&mut ia)?;
        let count = ia.read_int()?;
        let mut sessions = Vec::new();
        for _ in 0..count.max(0) {
            sessions.push(ia.read_long()?);
            ia.read_int()?;
        }
        ReferenceCountedAclCache::new().deserialize(&mut ia)?;
        let mut children: HashMap<String, Vec<String>> = HashMap::new();
        loop {
            let path = ia.read_string()?;
            if path == "/" {
                break;
            }
            DataNode::deserialize(&mut ia)?;
            if let Some((parent, name)) = path.rsplit_once('/') {
                let parent = if parent.is_empty() { "/" } else { parent };
                children.entry(parent.to_string()).or_default().push(name.to_string());
            }
        }
        Ok(FileOrder { sessions, children })
    }

    /// The children of `path` in the order Java's DataNode (a HashSet made
    /// with capacity 8, filled in file order) iterates them.
    fn children(&self, path: &str) -> Vec<String> {
        let listed = self.children.get(path).map(Vec::as_slice).unwrap_or_default();
        let keyed: Vec<(String, i32)> = listed.iter().map(|c| (c.clone(), java_string_hash(c))).collect();
        java_hash_order(&keyed, 8)
    }

    /// The sessions in the order of SnapshotFormatter's `new HashMap<>()`.
    fn sessions(&self) -> Vec<i64> {
        let keyed: Vec<(i64, i32)> = self.sessions.iter().map(|&s| (s, java_long_hash(s))).collect();
        java_hash_order(&keyed, 16)
    }
}

fn child_path(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

fn data_of(dt: &DataTree, path: &str) -> Option<Vec<u8>> {
    dt.get_data(path, None).map(|(d, _)| d).unwrap_or(None)
}

/// Prints one node and its subtree; returns the largest mzxid/pzxid seen.
fn print_znode(dt: &DataTree, order: &FileOrder, name: &str, dump_data: bool, out: &mut String) -> i64 {
    out.push_str("----\n");
    let Some(info) = dt.node_info(name) else { return 0 };
    let st = &info.stat;
    let _ = writeln!(out, "{name}");
    hex(out, "cZxid", st.czxid);
    let _ = writeln!(out, "  ctime = {}", java_date_utc(st.ctime));
    hex(out, "mZxid", st.mzxid);
    let _ = writeln!(out, "  mtime = {}", java_date_utc(st.mtime));
    hex(out, "pZxid", st.pzxid);
    let _ = writeln!(out, "  cversion = {}", st.cversion);
    let _ = writeln!(out, "  dataVersion = {}", st.version);
    let _ = writeln!(out, "  aclVersion = {}", st.aversion);
    hex(out, "ephemeralOwner", st.ephemeral_owner);
    let mut zxid = st.mzxid.max(st.pzxid);
    let data = data_of(dt, name);
    if dump_data {
        let text = data.map(|d| base64::engine::general_purpose::STANDARD.encode(d)).unwrap_or_default();
        let _ = writeln!(out, "  data = {text}");
    } else {
        let _ = writeln!(out, "  dataLength = {}", data.map(|d| d.len()).unwrap_or(0));
    }
    for child in order.children(name) {
        zxid = zxid.max(print_znode(dt, order, &child_path(name, &child), dump_data, out));
    }
    zxid
}

/// Loads the snapshot at `path` into a tree and reads its listing order.
fn load(path: &Path) -> Result<(DataTree, HashMap<i64, i32>, FileOrder), String> {
    let dt = DataTree::new();
    let sessions = file_snap::load(&dt, path).map_err(|e| e.to_string())?;
    let buf = snap_stream::read_uncompressed(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let order = FileOrder::read(&buf).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((dt, sessions, order))
}

/// The whole report for the snapshot at `path`.
pub fn format(path: &Path, dump_data: bool) -> Result<String, String> {
    let (dt, sessions, order) = load(path)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let file_zxid = get_zxid_from_name(name, SNAPSHOT_FILE_PREFIX).unwrap_or(-1);
    let mut out = format!("ZNode Details (count={}):\n", dt.node_count());
    let dt_zxid = print_znode(&dt, &order, "/", dump_data, &mut out);
    out.push_str("----\n");
    out.push_str("Session Details (sid, timeout, ephemeralCount):\n");
    for sid in order.sessions() {
        let timeout = sessions.get(&sid).copied().unwrap_or_default();
        let _ = writeln!(out, "{:#016x}, {}, {}", sid as u64, timeout, dt.get_ephemerals(sid).len());
    }
    let _ = write!(out, "----\nLast zxid: 0x{:x}\n", file_zxid.max(dt_zxid));
    Ok(out)
}

/// A string as Jackson's JsonStringEncoder.quoteAsString escapes it: quote,
/// backslash and control characters; everything else as is.
fn json_quote(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

/// One node of the JSON export and its subtree: `{..}` for a leaf, `[{..},
/// child, ..]` for a node with children. `ino` numbers nodes from 1001 in
/// the order printed.
fn print_znode_json(dt: &DataTree, order: &FileOrder, full_path: &str, ino: &mut u64, out: &mut String) {
    let name = match full_path.rsplit_once('/') {
        Some((_, last)) if full_path != "/" => last,
        _ => full_path,
    };
    out.push(',');
    let data_len = data_of(dt, full_path).map_or(0, |d| d.len());
    *ino += 1;
    let mut node = String::from("{\"name\":\"");
    json_quote(name, &mut node);
    let _ = write!(node, "\",\"asize\":{data_len},\"dsize\":{data_len},\"dev\":0,\"ino\":{ino}}}");
    let children = order.children(full_path);
    if children.is_empty() {
        out.push_str(&node);
    } else {
        out.push('[');
        out.push_str(&node);
        for child in children {
            print_znode_json(dt, order, &child_path(full_path, &child), ino, out);
        }
        out.push(']');
    }
}

/// The `-json` report for the snapshot at `path`: ncdu's export format
/// (https://dev.yorhel.nl/ncdu/jsonfmt) with a znode's data length as its
/// size, stamped `timestamp_ms`; no newline at the end, as Java's.
pub fn format_json(path: &Path, timestamp_ms: i64) -> Result<String, String> {
    let (dt, _, order) = load(path)?;
    let mut out = format!(
        "[1,0,{{\"progname\":\"SnapshotFormatter.java\",\"progver\":\"0.01\",\"timestamp\":{timestamp_ms}}}"
    );
    let mut ino = 1000;
    print_znode_json(&dt, &order, "/", &mut ino, &mut out);
    out.push(']');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hashes() {
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("zookeeper"), 1_600_681_804);
        assert_eq!(java_string_hash("\u{1f600}"), 1_772_899);
        assert_eq!(java_long_hash(0x100_0000_0001), 0x101);
        assert_eq!(java_long_hash(-1), 0);
    }

    #[test]
    fn hash_order_is_by_bucket_then_insertion() {
        // Capacity 8: buckets are the low 3 bits of the spread hash.
        // (Expected orders as printed by Java's HashSet for the same keys.)
        let keys = [("a", 9), ("b", 1), ("c", 2), ("d", 17), ("a", 0)];
        assert_eq!(java_hash_order(&keys, 8), ["a", "b", "d", "c"]);
        // The 7th key grows the table to 16, where 1 and 17 still share a bucket.
        let keys: Vec<(i32, i32)> = vec![(1, 1), (2, 17), (3, 3), (4, 4), (5, 5), (6, 6), (7, 0)];
        assert_eq!(java_hash_order(&keys, 8), [7, 1, 2, 3, 4, 5, 6]);
        // A 9th key in one bucket of a small table doubles it instead of
        // making a tree, though the size alone (9 of 16) would not.
        let keys: Vec<(i32, i32)> = (0..9).map(|i| (i, i * 16)).collect();
        assert_eq!(java_hash_order(&keys, 16), [0, 2, 4, 6, 8, 1, 3, 5, 7]);
        // High hash bits are folded in: 0x10000 lands in bucket 1.
        assert_eq!(java_hash_order(&[(1, 0x10000), (0, 0)], 16), [0, 1]);
    }

    #[test]
    fn json_strings_escape_like_jackson() {
        let mut out = String::new();
        json_quote("a\"b\\c\n\u{1}\u{7f}é", &mut out);
        assert_eq!(out, "a\\\"b\\\\c\\n\\u0001\u{7f}é");
    }

    #[test]
    fn dates_read_like_java() {
        assert_eq!(java_date_utc(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(java_date_utc(1_795_449_706_075), "Mon Nov 23 16:01:46 UTC 2026");
    }
}
