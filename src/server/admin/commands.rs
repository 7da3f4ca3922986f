//! Commands: every AdminServer command of Java 3.8, by primary name and
//! aliases, and `run_command`, which runs one against a ZooKeeperServer.
//! Each answers the keys Java's command puts, with the same JSON types
//! (numbers where Java has a long or int, strings, booleans, lists,
//! objects keyed by strings). The figures come from the same places the
//! four-letter words read (`server::command`), so the text and the JSON
//! never disagree.
//!
//! Where Java reports JVM facts zkserver has its own: system_properties
//! lists the property store (the `-D` pairs and the zoo.cfg keys that are
//! not configuration keys, as Java's QuorumPeerConfig turns them into
//! `zookeeper.*` system properties); environment is the `envi` word's list.

use crate::quorum::quorum_peer_config::system_properties::SystemProperties;
use crate::quorum::quorum_peer_config::{ConfView, HostPort, LearnerType};
use crate::server::admin::command_response::CommandResponse;
use crate::server::command::{self as fourlw, ConnectionInfo, Figure};
use crate::server::persistence::file_snap;
use crate::server::zoo_keeper_server::ZooKeeperServer;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

pub use crate::server::admin::json_outputter::CONTENT_TYPE as JSON_CONTENT_TYPE;

/// The keyword arguments of a request (`?key=value`).
pub type Kwargs = HashMap<String, String>;

/// What a command may read besides its server.
pub struct Context<'a> {
    pub zks: Option<&'a Arc<ZooKeeperServer>>,
    pub props: &'a SystemProperties,
    pub kwargs: &'a Kwargs,
}

type Run = fn(&mut CommandResponse, &Context<'_>);

/// One command (Java's CommandBase): its names, primary first, and
/// whether it needs a running server.
pub struct Command {
    pub names: &'static [&'static str],
    pub server_required: bool,
    run: Run,
}

impl Command {
    pub fn primary_name(&self) -> &'static str {
        self.names[0]
    }
}

/// Every command, in the order Java registers them.
pub static COMMANDS: &[Command] = &[
    Command { names: &["connection_stat_reset", "crst"], server_required: true, run: cnxn_stat_reset },
    Command { names: &["configuration", "conf", "config"], server_required: true, run: conf },
    Command { names: &["connections", "cons"], server_required: true, run: cons },
    Command { names: &["hash"], server_required: true, run: digest },
    Command { names: &["dirs"], server_required: true, run: dirs },
    Command { names: &["dump"], server_required: true, run: dump },
    Command { names: &["environment", "env", "envi"], server_required: false, run: env },
    Command { names: &["get_trace_mask", "gtmk"], server_required: false, run: get_trace_mask },
    Command { names: &["initial_configuration", "icfg"], server_required: true, run: initial_configuration },
    Command { names: &["is_read_only", "isro"], server_required: true, run: is_read_only },
    Command { names: &["last_snapshot", "lsnp"], server_required: true, run: last_snapshot },
    Command { names: &["leader", "lead"], server_required: true, run: leader },
    Command { names: &["monitor", "mntr"], server_required: false, run: monitor },
    Command {
        names: &["observer_connection_stat_reset", "orst"],
        server_required: true,
        run: observer_cnxn_stat_reset,
    },
    Command { names: &["ruok"], server_required: true, run: ruok },
    Command { names: &["set_trace_mask", "stmk"], server_required: false, run: set_trace_mask },
    Command { names: &["server_stats", "srvr"], server_required: true, run: srvr },
    Command { names: &["stats", "stat"], server_required: true, run: stat },
    Command { names: &["stat_reset", "srst"], server_required: true, run: stat_reset },
    Command { names: &["observers", "obsr"], server_required: true, run: observers },
    Command { names: &["system_properties", "sysp"], server_required: false, run: system_properties },
    Command { names: &["voting_view"], server_required: true, run: voting_view },
    Command { names: &["watches", "wchc"], server_required: true, run: watches },
    Command { names: &["watches_by_path", "wchp"], server_required: true, run: watches_by_path },
    Command { names: &["watch_summary", "wchs"], server_required: true, run: watch_summary },
    Command { names: &["zabstate"], server_required: false, run: zab_state },
];

/// Commands.getCommand: by primary name or alias.
pub fn get_command(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.names.contains(&name))
}

/// The primary names, sorted (the links page's order).
pub fn primary_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = COMMANDS.iter().map(Command::primary_name).collect();
    names.sort_unstable();
    names
}

/// Commands.runCommand: an unknown name, or a command that needs a
/// server when none is serving, is answered with an error entry.
pub fn run_command(
    name: &str,
    zks: Option<&Arc<ZooKeeperServer>>,
    props: &SystemProperties,
    kwargs: &Kwargs,
) -> CommandResponse {
    let Some(command) = get_command(name) else {
        return CommandResponse::with_error(name, &format!("Unknown command: {name}"));
    };
    let serving = zks.is_some_and(|z| z.is_running());
    if command.server_required && !serving {
        return CommandResponse::with_error(name, fourlw::ZK_NOT_SERVING);
    }
    let mut response = CommandResponse::new(command.primary_name());
    (command.run)(&mut response, &Context { zks, props, kwargs });
    response
}

/// The server a server-required command runs on (run_command checked it).
fn server<'a>(ctx: &Context<'a>) -> &'a Arc<ZooKeeperServer> {
    ctx.zks.expect("run_command checks that a server is serving")
}

/// How Jackson writes an InetSocketAddress: "ip:port", IPv6 in brackets
/// and in full (`[0:0:0:0:0:0:0:1]:port`, from Inet6Address.toString).
fn socket_address(a: SocketAddr) -> String {
    crate::common::net_utils::format_inet_addr(&a)
}

/// QuorumServer's address as Java's admin views print it: host:port.
fn host_port(a: &HostPort) -> String {
    format!("{}:{}", a.delimited_host(), a.port)
}

/// ServerCnxn.getConnectionInfo.
fn connection_map(i: &ConnectionInfo, brief: bool) -> Value {
    let mut m = Map::new();
    m.insert("remote_socket_address".into(), socket_address(i.remote).into());
    m.insert("interest_ops".into(), i.interest_ops.into());
    m.insert("outstanding_requests".into(), i.outstanding_requests.into());
    m.insert("packets_received".into(), i.packets_received.into());
    m.insert("packets_sent".into(), i.packets_sent.into());
    if !brief {
        m.insert("session_id".into(), i.session_id.into());
        m.insert("last_operation".into(), i.last_operation.into());
        m.insert("established".into(), i.established.into());
        m.insert("session_timeout".into(), i.session_timeout.into());
        m.insert("last_cxid".into(), i.last_cxid.into());
        m.insert("last_zxid".into(), i.last_zxid.into());
        m.insert("last_response_time".into(), i.last_response_time.into());
        m.insert("last_latency".into(), i.last_latency.into());
        m.insert("min_latency".into(), i.min_latency.into());
        m.insert("avg_latency".into(), i.avg_latency.into());
        m.insert("max_latency".into(), i.max_latency.into());
    }
    Value::Object(m)
}

/// ServerCnxnFactory.getAllConnectionInfo.
fn all_connection_info(zks: &Arc<ZooKeeperServer>, brief: bool) -> Value {
    let cnxns = zks.cnxn_factory().map(|f| f.connections()).unwrap_or_default();
    Value::Array(cnxns.iter().map(|c| connection_map(&ConnectionInfo::of(&**c), brief)).collect())
}

fn cnxn_stat_reset(_r: &mut CommandResponse, ctx: &Context<'_>) {
    if let Some(f) = server(ctx).cnxn_factory() {
        for c in f.connections() {
            c.reset_stats();
        }
    }
}

fn conf_view(zks: &ZooKeeperServer) -> Option<Arc<crate::quorum::quorum_peer::QuorumPeer>> {
    zks.role().quorum_peer()
}

fn conf(r: &mut CommandResponse, ctx: &Context<'_>) {
    let zks = server(ctx);
    let peer = conf_view(zks);
    let qv = peer.as_ref().map(|p| p.quorum_verifier());
    let view = match &qv {
        Some(qv) => ConfView::Quorum(qv.spec()),
        None if zks.is_read_only() => ConfView::ReadOnly,
        None => ConfView::Standalone,
    };
    let c = zks.settings.config.server_conf(view);
    r.put("client_port", c.client_port);
    r.put("data_dir", c.data_dir.display().to_string());
    r.put("data_log_dir", c.data_log_dir.display().to_string());
    r.put("tick_time", c.tick_time);
    r.put("max_client_cnxns", c.max_client_cnxns);
    r.put("min_session_timeout", c.min_session_timeout);
    r.put("max_session_timeout", c.max_session_timeout);
    r.put("server_id", c.server_id);
    r.put("client_port_listen_backlog", c.client_port_listen_backlog);
}

fn cons(r: &mut CommandResponse, ctx: &Context<'_>) {
    r.put("connections", all_connection_info(server(ctx), false));
    // zkserver has no secure client port.
    r.put("secure_connections", json!([]));
}

fn digest(r: &mut CommandResponse, ctx: &Context<'_>) {
    let log = server(ctx).zk_db().data_tree().digest_log();
    let digests: Vec<Value> =
        log.iter().map(|d| json!({"zxid": d.zxid, "digest_version": d.digest_version, "digest": d.digest})).collect();
    r.put("digests", digests);
}

fn dirs(r: &mut CommandResponse, ctx: &Context<'_>) {
    let zks = server(ctx);
    r.put("datadir_size", zks.data_dir_size());
    r.put("logdir_size", zks.log_dir_size());
}

fn dump(r: &mut CommandResponse, ctx: &Context<'_>) {
    let zks = server(ctx);
    let expiry: Map<String, Value> =
        zks.session_tracker().session_expiry_map().into_iter().map(|(t, ids)| (t.to_string(), json!(ids))).collect();
    r.put("expiry_time_to_session_ids", expiry);
    let ephemerals: Map<String, Value> = zks
        .zk_db()
        .data_tree()
        .ephemerals_by_session()
        .into_iter()
        .map(|(sid, paths)| (sid.to_string(), json!(paths)))
        .collect();
    r.put("session_id_to_ephemeral_paths", ephemerals);
}

fn env(r: &mut CommandResponse, _ctx: &Context<'_>) {
    for (k, v) in crate::environment::list() {
        r.put(k, v);
    }
}

fn get_trace_mask(r: &mut CommandResponse, _ctx: &Context<'_>) {
    r.put("tracemask", crate::server::zoo_trace::trace_mask());
}

fn initial_configuration(r: &mut CommandResponse, ctx: &Context<'_>) {
    r.put("initial_configuration", server(ctx).settings.config.initial_config.clone());
}

fn is_read_only(r: &mut CommandResponse, ctx: &Context<'_>) {
    r.put("read_only", server(ctx).is_read_only());
}

fn last_snapshot(r: &mut CommandResponse, ctx: &Context<'_>) {
    let dir = server(ctx).zk_db().snap_log().data_dir().to_path_buf();
    let newest = file_snap::find_n_valid_snapshots(&dir, 1).ok().and_then(|v| v.into_iter().next());
    let (zxid, timestamp) = match newest {
        Some((zxid, path)) => {
            let secs = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(-1, |d| d.as_secs() as i64);
            (zxid, secs)
        }
        None => (-1, -1),
    };
    r.put("zxid", format!("{zxid:x}"));
    r.put("timestamp", timestamp);
}

fn leader(r: &mut CommandResponse, ctx: &Context<'_>) {
    let zks = server(ctx);
    match zks.role().quorum_peer() {
        Some(peer) => {
            r.put("is_leader", zks.role().leader().is_some());
            r.put("leader_id", peer.leader_id());
            r.put("leader_ip", peer.leader_address().unwrap_or_default());
        }
        None => r.put("error", "server is not initialized"),
    }
}

fn figure(v: Figure) -> Value {
    match v {
        Figure::Long(i) => i.into(),
        Figure::Double(f) => f.into(),
        Figure::Text(s) => s.into(),
        Figure::Null => Value::Null,
    }
}

fn monitor(r: &mut CommandResponse, ctx: &Context<'_>) {
    let Some(zks) = ctx.zks else {
        r.put("error", fourlw::ZK_NOT_SERVING);
        return;
    };
    let factory = zks.cnxn_factory();
    for (k, v) in fourlw::monitor_values(zks, factory.as_deref()) {
        r.put(&k, figure(v));
    }
}

fn observer_cnxn_stat_reset(_r: &mut CommandResponse, ctx: &Context<'_>) {
    let role = server(ctx).role();
    if let Some(leader) = role.leader() {
        for h in leader.learners().iter().filter(|h| h.is_observer()) {
            h.reset_stats();
        }
    } else if let Some(om) = role.observer_master() {
        for h in om.observers() {
            h.reset_stats();
        }
    }
}

fn ruok(_r: &mut CommandResponse, _ctx: &Context<'_>) {}

fn set_trace_mask(r: &mut CommandResponse, ctx: &Context<'_>) {
    let Some(arg) = ctx.kwargs.get("traceMask") else {
        r.put("error", "setTraceMask requires long traceMask argument");
        return;
    };
    match arg.parse::<i64>() {
        Ok(mask) => {
            crate::server::zoo_trace::set_trace_mask(mask);
            r.put("tracemask", mask);
        }
        Err(_) => r.put("error", format!("setTraceMask requires long traceMask argument, got {arg}")),
    }
}

/// BufferStats as Jackson writes it. zkserver does not yet measure client
/// response or proposal sizes per buffer, so a never-set figure is -1, as
/// in Java before the first response.
fn buffer_stats(last: i64, min: i64, max: i64) -> Value {
    json!({"last_buffer_size": last, "min_buffer_size": min, "max_buffer_size": max})
}

/// SrvrCommand: the version, ServerStats (as Jackson writes its getters)
/// and the node count.
fn srvr(r: &mut CommandResponse, ctx: &Context<'_>) {
    let zks = server(ctx);
    let (min, avg, max) = zks.stats.latency();
    let alive = zks.cnxn_factory().map_or(0, |f| f.num_alive_connections());
    r.put("version", fourlw::full_version());
    r.put("read_only", zks.is_read_only());
    r.put(
        "server_stats",
        json!({
            "packets_sent": zks.stats.packets_sent(),
            "packets_received": zks.stats.packets_received(),
            "fsync_threshold_exceed_count": zks.stats.fsync_threshold_exceeded(),
            "client_response_stats": buffer_stats(-1, -1, -1),
            "data_dir_size": zks.data_dir_size(),
            "log_dir_size": zks.log_dir_size(),
            "provider_null": false,
            "server_state": zks.server_state(),
            "last_processed_zxid": zks.zk_db().last_processed_zxid(),
            "outstanding_requests": zks.outstanding_requests(),
            "avg_latency": avg,
            "max_latency": max,
            "min_latency": min,
            "num_alive_client_connections": alive,
            "uptime": zks.uptime_ms() as u64,
            "auth_failed_count": 0,
            "non_mtlsremote_conn_count": 0,
            "non_mtlslocal_conn_count": 0,
        }),
    );
    r.put("client_response", buffer_stats(-1, -1, -1));
    if let Some(leader) = zks.role().leader() {
        let p = leader.proposal_stats();
        r.put("proposal_stats", buffer_stats(p.last, p.min, p.max));
    }
    r.put("node_count", zks.zk_db().data_tree().node_count());
}

fn stat(r: &mut CommandResponse, ctx: &Context<'_>) {
    srvr(r, ctx);
    r.put("connections", all_connection_info(server(ctx), true));
    r.put("secure_connections", json!([]));
}

fn stat_reset(_r: &mut CommandResponse, ctx: &Context<'_>) {
    server(ctx).stats.reset();
}

/// SyncedObserverConsCommand: a leader's observers, or those of a
/// follower's ObserverMaster (LearnerHandler's getLearnerHandlerInfo
/// each). zkserver keeps no per-learner byte count of queued packets nor
/// the last zxid sent, so those read 0 and -1 (the value Java starts and
/// resets them with).
fn observers(r: &mut CommandResponse, ctx: &Context<'_>) {
    let role = server(ctx).role();
    let (synced, handlers) = match (role.leader(), role.observer_master()) {
        (Some(leader), _) => {
            let handlers: Vec<_> = leader.learners().into_iter().filter(|h| h.is_observer()).collect();
            (leader.observing_learners(), handlers)
        }
        (None, Some(om)) => {
            let handlers = om.observers();
            (handlers.len(), handlers)
        }
        (None, None) => (0, Vec::new()),
    };
    let observers: Vec<Value> = handlers
        .iter()
        .map(|h| {
            json!({
                // LearnerHandler.getRemoteAddress: the socket's toString.
                "remote_socket_address": fourlw::java_socket_address(h.remote_address()),
                "sid": h.sid(),
                "established": h.established_ms(),
                "queued_packets": h.queued_packets(),
                "queued_packets_size": h.queued_packets_size(),
                "packets_received": h.packets_received(),
                "packets_sent": h.packets_sent(),
                "requests": h.requests_received(),
                "last_zxid": h.last_zxid(),
            })
        })
        .collect();
    r.put("synced_observers", synced);
    r.put("observers", observers);
}

/// System.getProperties, sorted: here the property store, each key as
/// Java would hold it (zoo.cfg's unknown keys with the `zookeeper.`
/// prefix QuorumPeerConfig gives them; `-D` keys as written; `-D` wins).
fn system_properties(r: &mut CommandResponse, ctx: &Context<'_>) {
    let mut sorted: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    for (k, v) in ctx.props.file_pairs() {
        let key = if k.starts_with("zookeeper.") { k.to_string() } else { format!("zookeeper.{k}") };
        sorted.insert(key, v.to_string());
    }
    for (k, v) in ctx.props.override_pairs() {
        sorted.insert(k.to_string(), v.to_string());
    }
    for (k, v) in sorted {
        r.put(&k, v);
    }
}

/// VotingViewCommand: the voting members, by id.
fn voting_view(r: &mut CommandResponse, ctx: &Context<'_>) {
    let mut view = Map::new();
    if let Some(peer) = server(ctx).role().quorum_peer() {
        for (sid, s) in peer.quorum_verifier().all_members() {
            if !peer.quorum_verifier().is_voter(*sid) {
                continue;
            }
            view.insert(
                sid.to_string(),
                json!({
                    "server_addresses": s.addrs.iter().map(host_port).collect::<Vec<_>>(),
                    "election_addresses": s.election_addrs.iter().map(host_port).collect::<Vec<_>>(),
                    "client_address": s.client_addr.as_ref().map(host_port).unwrap_or_default(),
                    "learner_type": if s.peer_type == LearnerType::Participant { "participant" } else { "observer" },
                }),
            );
        }
    }
    r.put("current_config", view);
}

fn watches(r: &mut CommandResponse, ctx: &Context<'_>) {
    let by_session: Map<String, Value> = server(ctx)
        .zk_db()
        .data_tree()
        .watches_by_session()
        .into_iter()
        .map(|(sid, paths)| (sid.to_string(), json!(paths)))
        .collect();
    r.put("session_id_to_watched_paths", by_session);
}

fn watches_by_path(r: &mut CommandResponse, ctx: &Context<'_>) {
    let by_path: Map<String, Value> =
        server(ctx).zk_db().data_tree().watches_by_path().into_iter().map(|(p, ids)| (p, json!(ids))).collect();
    r.put("path_to_session_ids", by_path);
}

fn watch_summary(r: &mut CommandResponse, ctx: &Context<'_>) {
    let s = server(ctx).zk_db().data_tree().watches_summary();
    r.put("num_connections", s.num_connections);
    r.put("num_paths", s.num_paths);
    r.put("num_total_watches", s.total_watches);
}

/// MultipleAddresses as Jackson writes its getters. zkserver does not
/// probe reachability, so every address counts as reachable.
fn multiple_addresses(addrs: &[HostPort]) -> Value {
    let all: Vec<String> = addrs.iter().map(host_port).collect();
    let first = all.first().cloned().unwrap_or_default();
    let mut ports: Vec<u16> = Vec::new();
    for a in addrs {
        if !ports.contains(&a.port) {
            ports.push(a.port);
        }
    }
    json!({
        "empty": addrs.is_empty(),
        "all_addresses": all,
        "all_reachable_addresses": all,
        "one": first,
        "reachable_address": first,
        "wildcard_addresses": ports.iter().map(|p| format!("0.0.0.0:{p}")).collect::<Vec<_>>(),
        "all_ports": ports,
        "all_host_strings": addrs.iter().map(|a| a.host.clone()).collect::<Vec<_>>(),
        "all_reachable_addresses_or_all": all,
        "reachable_or_one": first,
    })
}

/// ZabStateCommand.
fn zab_state(r: &mut CommandResponse, ctx: &Context<'_>) {
    let peer = ctx.zks.and_then(|z| z.role().quorum_peer());
    let (Some(zks), Some(peer)) = (ctx.zks, peer) else {
        r.put("voting", false);
        r.put("zabstate", "");
        return;
    };
    let me = peer.config().my_quorum_server().cloned();
    let voting = me.is_some() && peer.quorum_verifier().is_voter(peer.id());
    let (quorum, election) = me.map(|s| (s.addrs, s.election_addrs)).unwrap_or_default();
    let client =
        peer.cnxn_factory().map(|f| f.local_address()).or(peer.config().client_port_address).map(socket_address);
    let zxid = zks.zk_db().last_processed_zxid();
    r.put("myid", peer.id());
    r.put("is_leader", zks.role().leader().is_some());
    r.put("quorum_address", multiple_addresses(&quorum));
    r.put("election_address", multiple_addresses(&election));
    r.put("client_address", client.map_or(Value::Null, Value::String));
    r.put("voting", voting);
    r.put("last_zxid", format!("0x{zxid:x}"));
    r.put("zab_epoch", zxid >> 32);
    r.put("zab_counter", zxid & 0xffff_ffff);
    r.put("zabstate", peer.zab_state().name());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_java_name_and_alias_resolves_to_its_primary_name() {
        let java = [
            ("connection_stat_reset", "crst"),
            ("configuration", "conf"),
            ("configuration", "config"),
            ("connections", "cons"),
            ("environment", "env"),
            ("environment", "envi"),
            ("get_trace_mask", "gtmk"),
            ("initial_configuration", "icfg"),
            ("is_read_only", "isro"),
            ("last_snapshot", "lsnp"),
            ("leader", "lead"),
            ("monitor", "mntr"),
            ("observer_connection_stat_reset", "orst"),
            ("set_trace_mask", "stmk"),
            ("server_stats", "srvr"),
            ("stats", "stat"),
            ("stat_reset", "srst"),
            ("observers", "obsr"),
            ("system_properties", "sysp"),
            ("watches", "wchc"),
            ("watches_by_path", "wchp"),
            ("watch_summary", "wchs"),
        ];
        for (primary, alias) in java {
            assert_eq!(get_command(alias).map(Command::primary_name), Some(primary), "{alias}");
            assert_eq!(get_command(primary).map(Command::primary_name), Some(primary));
        }
        for single in ["hash", "dirs", "dump", "ruok", "voting_view", "zabstate"] {
            assert_eq!(get_command(single).map(Command::primary_name), Some(single));
        }
        assert_eq!(COMMANDS.len(), 26);
    }

    #[test]
    fn without_a_server_only_the_server_free_commands_run() {
        let props = SystemProperties::default();
        let kw = Kwargs::new();
        let r = run_command("nope", None, &props, &kw);
        assert_eq!(r.error(), Some("Unknown command: nope"));
        assert_eq!(r.command(), "nope");
        let r = run_command("stat", None, &props, &kw);
        assert_eq!(r.error(), Some(fourlw::ZK_NOT_SERVING));
        let r = run_command("zabstate", None, &props, &kw);
        assert_eq!(r.error(), None);
        assert_eq!(r.get("zabstate"), Some(&json!("")));
        let r = run_command("envi", None, &props, &kw);
        assert_eq!(r.command(), "environment");
        assert!(r.get("zookeeper.version").is_some());
    }

    #[test]
    fn set_trace_mask_needs_a_long() {
        let props = SystemProperties::default();
        let r = run_command("stmk", None, &props, &Kwargs::new());
        assert_eq!(r.get("error"), Some(&json!("setTraceMask requires long traceMask argument")));
        let kw: Kwargs = [("traceMask".to_string(), "x".to_string())].into();
        let r = run_command("stmk", None, &props, &kw);
        assert_eq!(r.get("error"), Some(&json!("setTraceMask requires long traceMask argument, got x")));
    }
}
