//! SnapshotFormatter (zkSnapShotToolkit.sh): prints a snapshot file the way
//! Java's tool does: every znode depth-first from "/" with its stat (and
//! its data in base64 with `-d`), the sessions with their ephemeral counts,
//! and the last zxid. Times are printed in UTC, as Java prints them with
//! -Duser.timezone=UTC.

use crate::common::civil_date::civil_from_days;
use crate::server::data_tree::DataTree;
use crate::server::persistence::file_snap;
use crate::server::persistence::util::{get_zxid_from_name, SNAPSHOT_FILE_PREFIX};
use base64::Engine;
use std::fmt::Write;
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

/// Prints one node and its subtree; returns the largest mzxid/pzxid seen.
fn print_znode(dt: &DataTree, name: &str, dump_data: bool, out: &mut String) -> i64 {
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
    let data = dt.get_data(name, None).map(|(d, _)| d).unwrap_or(None);
    if dump_data {
        let text = data.map(|d| base64::engine::general_purpose::STANDARD.encode(d)).unwrap_or_default();
        let _ = writeln!(out, "  data = {text}");
    } else {
        let _ = writeln!(out, "  dataLength = {}", data.map(|d| d.len()).unwrap_or(0));
    }
    let children = dt.get_children(name, None).map(|(c, _)| c).unwrap_or_default();
    for child in children {
        let path = if name == "/" { format!("/{child}") } else { format!("{name}/{child}") };
        zxid = zxid.max(print_znode(dt, &path, dump_data, out));
    }
    zxid
}

/// The whole report for the snapshot at `path`.
pub fn format(path: &Path, dump_data: bool) -> Result<String, String> {
    let dt = DataTree::new();
    let sessions = file_snap::load(&dt, path).map_err(|e| e.to_string())?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let file_zxid = get_zxid_from_name(name, SNAPSHOT_FILE_PREFIX).unwrap_or(-1);
    let mut out = format!("ZNode Details (count={}):\n", dt.node_count());
    let dt_zxid = print_znode(&dt, "/", dump_data, &mut out);
    out.push_str("----\n");
    out.push_str("Session Details (sid, timeout, ephemeralCount):\n");
    for (sid, timeout) in &sessions {
        let _ = writeln!(out, "{:#016x}, {}, {}", *sid as u64, timeout, dt.get_ephemerals(*sid).len());
    }
    let _ = write!(out, "----\nLast zxid: 0x{:x}\n", file_zxid.max(dt_zxid));
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_read_like_java() {
        assert_eq!(super::java_date_utc(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(super::java_date_utc(1_795_449_706_075), "Mon Nov 23 16:01:46 UTC 2026");
    }
}
