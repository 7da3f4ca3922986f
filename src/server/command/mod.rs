//! The four-letter words (FourLetterCommands and the *Command classes): a
//! new connection whose first four bytes spell a command gets the command's
//! text and is closed. Runs on the NIOWorker that read the bytes.

use crate::quorum::quorum_peer_config::system_properties::SystemProperties;
use crate::quorum::quorum_peer_config::ConfView;
use crate::server::server_cnxn::ServerCnxn;
use crate::server::server_cnxn_factory::ServerCnxnFactory;
use crate::server::zoo_keeper_server::ZooKeeperServer;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Every word Java knows, in Java's order.
pub const ALL_COMMANDS: [&str; 18] = [
    "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "ruok", "stmk", "srst", "srvr", "stat", "wchc",
    "wchp", "wchs", "mntr", "isro", "hash",
];

/// Every four letter word Java knows (FourLetterCommands.cmd2String): what
/// `4lw.commands.whitelist=*` enables.
pub const FOUR_LETTER_WORDS: &[&str] = &[
    "conf",
    "cons",
    "crst",
    "dirs",
    "dump",
    "envi",
    "gtmk",
    "ruok",
    "stmk",
    "srst",
    "srvr",
    "stat",
    "wchc",
    "wchp",
    "wchs",
    "mntr",
    "isro",
    "hash",
    "telnet close",
];

/// The words FourLetterCommands lets run, from the system properties it
/// reads: `srvr` always; `isro` when readonlymode.enabled; then the
/// comma-separated zookeeper.4lw.commands.whitelist, where `*` means every
/// known word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FourLetterWordSettings {
    enabled: BTreeSet<String>,
}

impl FourLetterWordSettings {
    pub fn read(props: &SystemProperties) -> FourLetterWordSettings {
        let whitelist = props.string("zookeeper.4lw.commands.whitelist");
        let mut enabled = BTreeSet::new();
        for cmd in whitelist.as_deref().unwrap_or("").split(',').map(str::trim) {
            if cmd == "*" {
                enabled.extend(FOUR_LETTER_WORDS.iter().map(|c| c.to_string()));
                break;
            }
            if !cmd.is_empty() {
                enabled.insert(cmd.to_string());
            }
        }
        if props.boolean("readonlymode.enabled", false) {
            enabled.insert("isro".to_string());
        }
        enabled.insert("srvr".to_string());
        FourLetterWordSettings { enabled }
    }

    /// FourLetterCommands.isEnabled.
    pub fn is_enabled(&self, cmd: &str) -> bool {
        self.enabled.contains(cmd)
    }

    /// The enabled words, sorted.
    pub fn enabled(&self) -> impl Iterator<Item = &str> {
        self.enabled.iter().map(String::as_str)
    }
}

pub const ZK_NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";

/// The word whose four ASCII bytes, read as a big-endian int, are `len`.
pub fn four_letter_word(len: i32) -> Option<&'static str> {
    let b = len.to_be_bytes();
    ALL_COMMANDS.iter().copied().find(|c| c.as_bytes() == b)
}

/// Java's Double.toString for the figures 4lw print.
pub fn java_double(v: f64) -> String {
    let s = format!("{v}");
    if s.contains('.') || s.contains('e') || !v.is_finite() {
        s
    } else {
        format!("{s}.0")
    }
}

/// The version line srvr/stat/envi show.
pub fn full_version() -> String {
    format!("3.8.0-zkserver-{}, built on {}", env!("CARGO_PKG_VERSION"), env!("ZKSERVER_BUILD_DATE"))
}

/// Runs `cmd` (already known to be a four-letter word) and returns its output.
pub fn execute(cmd: &str, zks: &Arc<ZooKeeperServer>, factory: &dyn ServerCnxnFactory) -> String {
    if !zks.settings.four_letter_words.is_enabled(cmd) {
        return format!("{cmd} is not executed because it is not in the whitelist.\n");
    }
    if cmd == "ruok" {
        return "imok".to_string();
    }
    if cmd == "isro" {
        // IsroCommand: "null" when no server is running behind the port.
        return match (zks.is_running(), zks.is_read_only()) {
            (false, _) => "null",
            (true, true) => "ro",
            (true, false) => "rw",
        }
        .to_string();
    }
    if !zks.is_running() {
        return format!("{ZK_NOT_SERVING}\n");
    }
    match cmd {
        "srvr" | "stat" => stat(cmd == "stat", zks, factory),
        "cons" => {
            let mut out = String::new();
            for c in factory.connections() {
                out.push_str(&connection_info(&*c, false));
                out.push('\n');
            }
            out.push('\n');
            out
        }
        "crst" => {
            for c in factory.connections() {
                c.reset_stats();
            }
            "Connection stats reset.\n".to_string()
        }
        "srst" => {
            // ServerStats.reset resets every ServerMetrics figure too.
            zks.stats.reset();
            crate::server::server_metrics::metrics().reset_all();
            "Server stats reset.\n".to_string()
        }
        "conf" => {
            // QuorumZooKeeperServer.dumpConf adds the quorum settings and
            // the membership to what a standalone server prints;
            // ReadOnlyZooKeeperServer's adds the settings only.
            let peer = zks.role().quorum_peer();
            let qv = peer.as_ref().map(|p| p.quorum_verifier());
            let view = match &qv {
                _ if zks.is_read_only() => ConfView::ReadOnly,
                Some(qv) => ConfView::Quorum(qv.spec()),
                None => ConfView::Standalone,
            };
            zks.settings.config.dump_conf(view)
        }
        "envi" => envi(),
        "dirs" => format!("datadir_size: {}\nlogdir_size: {}\n", zks.data_dir_size(), zks.log_dir_size()),
        "wchs" => format!("{}\n", zks.zk_db().data_tree().dump_watches_summary()),
        "wchc" => format!("{}\n", zks.zk_db().data_tree().dump_watches(false)),
        "wchp" => format!("{}\n", zks.zk_db().data_tree().dump_watches(true)),
        "dump" => dump(zks, factory),
        "mntr" => crate::server::metrics::monitor::mntr_text(zks, Some(factory)),
        // ZooTrace's text trace mask; the connection has already set it
        // from the long that follows stmk.
        "gtmk" | "stmk" => crate::server::zoo_trace::trace_mask().to_string(),
        // DigestCommand: the tree digest at every 128th zxid, oldest first.
        "hash" => zks.zk_db().data_tree().digest_log().iter().map(|d| format!("{:x}: {}\n", d.zxid, d.digest)).collect(),
        _ => format!("{cmd} is not executed because it is not in the whitelist.\n"),
    }
}

/// How Java prints a peer's InetSocketAddress (`/127.0.0.1:port`,
/// `/[0:0:0:0:0:0:0:1]:port`): `common::net_utils::java_socket_address`.
pub fn java_socket_address(a: std::net::SocketAddr) -> String {
    crate::common::net_utils::java_socket_address(a)
}

/// ServerCnxn's connection figures, read once for both the text `cons`/
/// `stat` lines (dumpConnectionInfo) and the admin commands' connection
/// maps (getConnectionInfo).
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    pub remote: std::net::SocketAddr,
    /// Java's interest ops: 1 (OP_READ) while the connection is open.
    pub interest_ops: i32,
    pub outstanding_requests: i64,
    pub packets_received: u64,
    pub packets_sent: u64,
    pub session_id: i64,
    pub last_operation: &'static str,
    /// When the connection was accepted, ms since the epoch.
    pub established: i64,
    pub session_timeout: i32,
    pub last_cxid: i64,
    pub last_zxid: i64,
    pub last_response_time: i64,
    pub last_latency: u64,
    pub min_latency: u64,
    pub avg_latency: u64,
    pub max_latency: u64,
}

impl ConnectionInfo {
    pub fn of(c: &dyn ServerCnxn) -> ConnectionInfo {
        let st = c.stats();
        ConnectionInfo {
            remote: c.remote_address(),
            interest_ops: if c.is_stale() { 0 } else { 1 },
            outstanding_requests: c.outstanding_requests(),
            packets_received: st.packets_received,
            packets_sent: st.packets_sent,
            session_id: c.session_id(),
            last_operation: if st.last_op.is_empty() { "NA" } else { st.last_op },
            established: c.established_wall_ms(),
            session_timeout: c.session_timeout(),
            last_cxid: i64::from(st.last_cxid),
            last_zxid: st.last_zxid,
            last_response_time: st.last_response_time_ms,
            last_latency: st.last_latency,
            min_latency: st.min_latency,
            avg_latency: st.total_latency.checked_div(st.count).unwrap_or(0),
            max_latency: st.max_latency,
        }
    }
}

/// ServerCnxn.dumpConnectionInfo.
pub fn connection_info(c: &dyn ServerCnxn, brief: bool) -> String {
    let i = ConnectionInfo::of(c);
    let mut out = format!(
        " {}[{}](queued={},recved={},sent={}",
        java_socket_address(i.remote),
        i.interest_ops,
        i.outstanding_requests,
        i.packets_received,
        i.packets_sent
    );
    if !brief && i.session_id != 0 {
        out.push_str(&format!(
            ",sid=0x{:x},lop={},est={},to={}",
            i.session_id, i.last_operation, i.established, i.session_timeout
        ));
        if i.last_cxid >= 0 {
            out.push_str(&format!(",lcxid=0x{:x}", i.last_cxid));
        }
        out.push_str(&format!(
            ",lzxid=0x{:x},lresp={},llat={},minlat={},avglat={},maxlat={}",
            i.last_zxid, i.last_response_time, i.last_latency, i.min_latency, i.avg_latency, i.max_latency
        ));
    }
    out.push(')');
    out
}

/// EnvCommand.
fn envi() -> String {
    let mut out = String::from("Environment:\n");
    for (k, v) in crate::environment::list() {
        out.push_str(&format!("{k}={v}\n"));
    }
    out
}

/// DumpCommand.
fn dump(zks: &Arc<ZooKeeperServer>, factory: &dyn ServerCnxnFactory) -> String {
    let mut out = String::from("SessionTracker dump:\n");
    out.push_str(&zks.session_tracker().dump_sessions());
    out.push_str("ephemeral nodes dump:\n");
    let eph = zks.zk_db().data_tree().ephemerals_by_session();
    out.push_str(&format!("Sessions with Ephemerals ({}):\n", eph.len()));
    for (sid, paths) in eph {
        out.push_str(&format!("0x{:x}:\n", sid));
        for p in paths {
            out.push_str(&format!("\t{p}\n"));
        }
    }
    out.push_str("Connections dump:\n");
    let cnxns = factory.connections();
    out.push_str(&format!("Connections Sets (1)/({}):\n", cnxns.len()));
    for c in cnxns {
        out.push_str(&format!("{}\n", connection_info(&*c, true)));
    }
    out
}

/// What mntr prints and the admin command monitor returns, typed as
/// Java's sink receives it (see `server::metrics::monitor`).
pub use crate::server::metrics::monitor::{monitor_values, Value as Figure};

/// srvr and stat (StatCommand): the version, the clients (stat only), the
/// server figures (ServerStats.toString) and the node count.
fn stat(with_clients: bool, zks: &Arc<ZooKeeperServer>, factory: &dyn ServerCnxnFactory) -> String {
    let mut out = format!("Zookeeper version: {}\n", full_version());
    if zks.is_read_only() {
        out.push_str("READ-ONLY mode; serving only read-only clients\n");
    }
    if with_clients {
        out.push_str("Clients:\n");
        for c in factory.connections() {
            out.push_str(&connection_info(&*c, true));
            out.push('\n');
        }
        out.push('\n');
    }
    let (min, avg, max) = zks.stats.latency();
    out.push_str(&format!("Latency min/avg/max: {}/{}/{}\n", min, java_double(avg), max));
    out.push_str(&format!("Received: {}\n", zks.stats.packets_received()));
    out.push_str(&format!("Sent: {}\n", zks.stats.packets_sent()));
    out.push_str(&format!("Connections: {}\n", factory.num_alive_connections()));
    out.push_str(&format!("Outstanding: {}\n", zks.outstanding_requests()));
    out.push_str(&format!("Zxid: 0x{:x}\n", zks.zk_db().last_processed_zxid()));
    out.push_str(&format!("Mode: {}\n", zks.server_state()));
    out.push_str(&format!("Node count: {}\n", zks.zk_db().data_tree().node_count()));
    out.push_str(&zks.role().stat_extra());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whitelist_enables_words() {
        let read = |pairs: &[(&str, &str)]| FourLetterWordSettings::read(&SystemProperties::of(pairs));
        let s = read(&[]);
        assert!(s.is_enabled("srvr"));
        assert!(!s.is_enabled("ruok"));
        assert!(!s.is_enabled("isro"));

        let s = read(&[("4lw.commands.whitelist", "stat, ruok,,")]);
        assert!(s.is_enabled("stat") && s.is_enabled("ruok") && s.is_enabled("srvr"));
        assert!(!s.is_enabled("conf"));
        assert_eq!(s.enabled().collect::<Vec<_>>(), ["ruok", "srvr", "stat"]);

        let s = read(&[("zookeeper.4lw.commands.whitelist", "*")]);
        for cmd in FOUR_LETTER_WORDS {
            assert!(s.is_enabled(cmd), "{cmd}");
        }
        assert!(!s.is_enabled("nope"));

        assert!(read(&[("readonlymode.enabled", "true")]).is_enabled("isro"));
    }
}
