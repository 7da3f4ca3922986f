//! QuorumPeerConfig: reads zoo.cfg (and a dynamic config file when one is
//! named), applies `-D key=value` overrides, and resolves zoo.cfg's keys
//! (those Java's QuorumPeerConfig.parseProperties knows) into typed fields
//! with Java's defaults. It also plays ServerConfig's part for the
//! standalone server. Runs once, on the main thread, before anything binds.
//! With reconfigEnabled it also owns the files of dynamic reconfiguration:
//! `zoo.cfg.bak` at parse time, and `write_dynamic_config` /
//! `edit_static_config`, which the QuorumPeer calls (on whichever thread
//! brings a configuration into force) to write `zoo.cfg.dynamic.<version>`
//! (or `.next`) and point zoo.cfg at it.
//!
//! System properties. Java turns an unknown zoo.cfg key `k` into the system
//! property `zookeeper.k`. Those keys and the `-D` pairs go into one store,
//! [`SystemProperties`], from which each component reads its own settings
//! (`NioSettings`, `ZooKeeperServerSettings`, `CommitProcessorSettings`, ...,
//! gathered at start-up by `zoo_keeper_server_main::ServerSettings`), as
//! Java's components read theirs with System.getProperty. A `-D` value wins
//! over zoo.cfg; a `-D` whose name is a zoo.cfg key (e.g.
//! `-D clientPort=2182`) replaces that key's value from the file. The config
//! still refuses the security properties of features zkserver lacks, and
//! logs the properties no component reads.

mod properties;
mod quorum_server;
pub mod system_properties;

pub use quorum_server::{is_membership_key, HostPort, LearnerType, QuorumServer, QuorumSpec};
use system_properties::{normalize, SystemProperties};
use crate::common::x509_util::{SslSettings, X509Kind};
use crate::quorum::auth::quorum_auth::QuorumAuthSettings;
use crate::server::persistence::util::write_atomically;

use std::fmt;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::num::IntErrorKind;
use std::path::{Path, PathBuf};
use tracing::{error, info, warn};

/// Java's DefaultMetricsProvider, the only metrics provider we have.

/// ZooKeeperServer.DEFAULT_TICK_TIME.
pub const DEFAULT_TICK_TIME: i32 = 3000;

/// Java's minimum autopurge.snapRetainCount (PurgeTxnLog keeps at least 3).
pub const MIN_SNAP_RETAIN_COUNT: i32 = 3;

/// Java's QUORUM_CNXN_THREADS_SIZE_DEFAULT_VALUE: the default and the floor
/// of `quorum.cnxn.threads.size`.
pub const QUORUM_CNXN_THREADS_SIZE_DEFAULT: usize = 20;

/// Suffix of the file holding a proposed, not yet committed, dynamic config.
pub const NEXT_DYNAMIC_CONFIG_FILE_SUFFIX: &str = ".dynamic.next";

/// Why the configuration was refused. `Display` is one line that names the
/// key and the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// A file could not be read.
    Io { path: PathBuf, message: String },
    /// A key holds a value we cannot accept.
    BadValue { key: String, value: String, reason: String },
    /// A required key is missing or keys contradict each other.
    Invalid(String),
}

impl ConfigError {
    pub fn bad_value(key: &str, value: &str, reason: &str) -> ConfigError {
        ConfigError::BadValue { key: key.to_string(), value: value.to_string(), reason: reason.to_string() }
    }

    fn io(path: &Path, e: &std::io::Error) -> ConfigError {
        ConfigError::Io { path: path.to_path_buf(), message: e.to_string() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Io { path, message } => {
                write!(f, "cannot read {}: {message}", path.display())
            }
            // Debug quoting escapes any control character, keeping one line.
            ConfigError::BadValue { key, value, reason } => write!(f, "{key}: {value:?} {reason}"),
            ConfigError::Invalid(message) => f.write_str(&message.replace(['\n', '\r'], " ")),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Splits a `-D` argument `key=value` (blanks around both trimmed).
pub fn parse_override(arg: &str) -> Result<(String, String), ConfigError> {
    match arg.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(ConfigError::bad_value("-D", arg, "is not of the form key=value")),
    }
}

/// ZooKeeperServerConf: a server's configuration as `conf` and the admin
/// command configuration report it (the directories are the version-2
/// ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConf {
    pub client_port: i32,
    pub data_dir: PathBuf,
    pub data_log_dir: PathBuf,
    pub tick_time: i32,
    pub max_client_cnxns: i32,
    pub min_session_timeout: i32,
    pub max_session_timeout: i32,
    pub server_id: i64,
    pub client_port_listen_backlog: i32,
}

/// Which server is answering the `conf` four letter word: the lines after
/// the common part differ (ZooKeeperServer, QuorumZooKeeperServer and
/// ReadOnlyZooKeeperServer each have their own dumpConf).
#[derive(Debug, Clone, Copy)]
pub enum ConfView<'a> {
    /// The standalone ZooKeeperServer.
    Standalone,
    /// A leader, follower or observer, with the membership currently in force.
    Quorum(&'a QuorumSpec),
    /// The read-only server a partitioned peer runs.
    ReadOnly,
}

/// Integer.parseInt / Long.parseLong for a zoo.cfg value.
fn parse_number<T>(key: &str, value: &str) -> Result<T, ConfigError>
where
    T: std::str::FromStr<Err = std::num::ParseIntError>,
{
    value.parse::<T>().map_err(|e| match e.kind() {
        IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => ConfigError::bad_value(key, value, "is out of range"),
        _ => ConfigError::bad_value(key, value, "is not a number"),
    })
}

/// QuorumPeerConfig.parseBoolean: exactly true or false, any case.
fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(ConfigError::bad_value(key, value, "is not true or false"))
    }
}

fn port_in_range(key: &str, value: i32) -> Result<u16, ConfigError> {
    u16::try_from(value)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| ConfigError::bad_value(key, &value.to_string(), "is not a port (1-65535)"))
}

/// zoo.cfg keys QuorumPeerConfig.parseProperties handles itself (besides
/// `server.N`, `group*`, `weight*`, `version` and `metricsProvider.*`).
const CFG_KEYS: &[&str] = &[
    "dataDir",
    "dataLogDir",
    "clientPort",
    "localSessionsEnabled",
    "localSessionsUpgradingEnabled",
    "clientPortAddress",
    "secureClientPort",
    "secureClientPortAddress",
    "observerMasterPort",
    "clientPortListenBacklog",
    "tickTime",
    "maxClientCnxns",
    "minSessionTimeout",
    "maxSessionTimeout",
    "initLimit",
    "syncLimit",
    "connectToLearnerMasterLimit",
    "electionAlg",
    "quorumListenOnAllIPs",
    "peerType",
    "syncEnabled",
    "dynamicConfigFile",
    "autopurge.snapRetainCount",
    "autopurge.purgeInterval",
    "standaloneEnabled",
    "reconfigEnabled",
    "sslQuorum",
    "portUnification",
    "sslQuorumReloadCertFiles",
    "quorum.auth.enableSasl",
    "quorum.auth.serverRequireSasl",
    "quorum.auth.learnerRequireSasl",
    "quorum.auth.learner.saslLoginContext",
    "quorum.auth.server.saslLoginContext",
    "quorum.auth.kerberos.servicePrincipal",
    "quorum.cnxn.threads.size",
    "jvm.pause.info-threshold.ms",
    "jvm.pause.warn-threshold.ms",
    "jvm.pause.sleep.time.ms",
    "jvm.pause.monitor",
    "multiAddress.enabled",
    "multiAddress.reachabilityCheckTimeoutMs",
    "multiAddress.reachabilityCheckEnabled",
    "oraclePath",
];

fn is_cfg_key(key: &str) -> bool {
    CFG_KEYS.contains(&key) || is_membership_key(key) || key == "version" || key.starts_with("metricsProvider.")
}

/// System properties the components read into their settings (names
/// without the `zookeeper.` prefix): not reported as unknown.
const RESOLVED_PROPERTIES: &[&str] = &[
    "sessionRequireClientSASLAuth",
    "allowSaslFailedClients",
    "SASLAuthenticationProvider.superPassword",
    "letAnySaslUserDoX",
    "sasl.serverconfig",
    "kerberos.removeHostFromPrincipal",
    "server.realm",
    "kerberos.removeRealmFromPrincipal",
    "requireKerberosConfig",
    "security.auth_to_local",
    "java.security.auth.login.config",
    "java.security.krb5.realm",
    "java.security.krb5.conf",
    "java.security.krb5.kdc",
    "nio.numSelectorThreads",
    "nio.numWorkerThreads",
    "nio.directBufferBytes",
    "nio.shutdownTimeout",
    "nio.sessionlessCnxnTimeout",
    "maxCnxns",
    "clientTcpKeepAlive",
    "serverCnxnFactory",
    "client.portUnification",
    "netty.server.outstandingHandshake.limit",
    "client.certReload",
    "client.secure",
    "X509AuthenticationProvider.superUser",
    "globalOutstandingLimit",
    "snapCount",
    "snapSizeLimitInKb",
    "preAllocSize",
    "forceSync",
    "fsync.warningthresholdms",
    "txnLogSizeLimitInKb",
    "datadir.autocreate",
    "db.autocreate",
    "snapshot.trust.empty",
    "snapshot.compression.method",
    "snapshotSizeFactor",
    "commitLogCount",
    "flushDelay",
    "maxWriteQueuePollTime",
    "maxBatchSize",
    "intBufferStartingSizeBytes",
    "maxResponseCacheSize",
    "maxGetChildrenResponseCacheSize",
    "largeRequestMaxBytes",
    "largeRequestThreshold",
    "throttled_op_wait_time",
    "request_throttle_max_requests",
    "request_throttle_stall_time",
    "request_throttle_drop_stale",
    "request_throttler.shutdownTimeout",
    "request_stale_connection_check",
    "request_stale_latency_check",
    "connection_throttle_tokens",
    "connection_throttle_fill_time",
    "connection_throttle_fill_count",
    "connection_throttle_freeze_time",
    "connection_throttle_drop_increase",
    "connection_throttle_drop_decrease",
    "connection_throttle_decrease_ratio",
    "connection_throttle_weight_enabled",
    "connection_throttle_global_session_weight",
    "connection_throttle_local_session_weight",
    "connection_throttle_renew_session_weight",
    "4lw.commands.whitelist",
    "readonlymode.enabled",
    "jute.maxbuffer",
    "jute.maxbuffer.extrasize",
    "skipACL",
    "enableEagerACLCheck",
    "enforceQuota",
    "digest.enabled",
    "closeSessionTxn.enabled",
    "extendedTypesEnabled",
    "emulate353TTLNodes",
    "DigestAuthenticationProvider.superDigest",
    "DigestAuthenticationProvider.enabled",
    "DigestAuthenticationProvider.digestAlg",
    "enforce.auth.enabled",
    "enforce.auth.schemes",
    "admin.enableServer",
    "admin.serverAddress",
    "admin.serverPort",
    "admin.idleTimeout",
    "admin.commandURL",
    "admin.portUnification",
    "admin.forceHttps",
    "znode.container.checkIntervalMs",
    "znode.container.maxPerMinute",
    "znode.container.maxNeverUsedIntervalMs",
    "cnxTimeout",
    "tcpKeepAlive",
    "electionPortBindRetry",
    "fastleader.minNotificationInterval",
    "fastleader.maxNotificationInterval",
    "leaderConnectDelayDuringRetryMs",
    "leaderServes",
    "observer.syncEnabled",
    "commitProcessor.numWorkerThreads",
    "commitProcessor.shutdownTimeout",
    "commitProcessor.maxReadBatchSize",
    "commitProcessor.maxCommitBatchSize",
    "leader.maxConcurrentSnapSyncs",
    "leader.maxConcurrentDiffSyncs",
    "leader.closeSocketAsync",
    "leader.ackLoggingFrequency",
    "leader.nodelay",
    "forceSnapshotSync",
    "learner.asyncSending",
    "learner.closeSocketAsync",
    "follower.nodelay",
    "observer.reconnectDelayMs",
    "observer.election.DelayMs",
    "quorumCnxnTimeoutMs",
    "leader.maxTimeToWaitForEpoch",
    "testingonly.initialZxid",
    "forward_learner_requests_to_commit_processor_disabled",
    "observerMaster.sizeLimit",
    "follower.skipLearnerRequestToNextProcessor",
];

/// Java system properties (prefix-free) that we accept but do not act on:
/// exact names, then prefixes. Anything else unknown draws a warning.
const UNUSED_JAVA_PROPERTIES: &[&str] = &[
    "watchManagerName",
    "watcherCleanThreshold",
    "watcherCleanIntervalInSeconds",
    "watcherCleanThreadsNum",
    "maxInProcessingDeadWatchers",
    "bitHashCacheSize",
    "admin.httpVersion",
    "sasl.client.username",
    "messageTracker.",
    "pathStats.",
    "netty.",
    "jmx.",
    "root.logger",
    "tracelog.",
    "java.",
    "javax.",
    "jdk.",
    "sun.",
    "com.sun.management.",
];

/// Security properties (prefix-free; a trailing '.' makes a prefix) of
/// features zkserver does not have: start-up is refused when one is set
/// (when `only_true`, only when set to true, since false leaves the feature
/// off in Java too), so that no security setting is silently ignored.
const UNSUPPORTED_SECURITY_PROPERTIES: &[(&str, &str, bool)] = &[
    ("kerberos.canonicalizeHostNames", "it is for quorum SASL with Kerberos, which zkserver has not", true),
    ("ensembleAuthName", "zkserver has no EnsembleAuthenticationProvider", false),
    ("audit.enable", "zkserver has no audit log", true),
    ("audit.impl.class", "zkserver has no audit log", false),
];

/// Why `name` (any prefix form) names a security feature zkserver lacks,
/// and whether only a true value is refused.
fn unsupported_security_property(name: &str) -> Option<(&'static str, bool)> {
    let n = normalize(name);
    UNSUPPORTED_SECURITY_PROPERTIES
        .iter()
        .find(|(p, _, _)| if p.ends_with('.') { n.starts_with(p) } else { n == *p })
        .map(|&(_, why, only_true)| (why, only_true))
}

/// Refuses every security property of a feature zkserver lacks.
fn refuse_unsupported_security_properties(props: &SystemProperties) -> Result<(), ConfigError> {
    for (k, v) in props.all_pairs() {
        if let Some((why, only_true)) = unsupported_security_property(k) {
            if !only_true || v.eq_ignore_ascii_case("true") {
                return Err(ConfigError::bad_value(k, v, &format!("is not supported: {why}")));
            }
        }
    }
    Ok(())
}

fn is_unused_java_property(name: &str) -> bool {
    let n = normalize(name);
    UNUSED_JAVA_PROPERTIES.iter().any(|p| if p.ends_with('.') { n.starts_with(p) } else { n == *p })
}

/// The configuration zoo.cfg gives (the keys Java's
/// QuorumPeerConfig.parseProperties knows, each field documented with its
/// key), and the system properties, from which each component reads its
/// own settings.
#[derive(Debug, Clone)]
pub struct QuorumPeerConfig {
    /// The zoo.cfg path as given on the command line.
    pub config_file: PathBuf,
    /// `tickTime` (ms, default 3000).
    pub tick_time: i32,
    /// `dataDir`, made absolute against the current directory (snapshots live
    /// in its `version-2`).
    pub data_dir: PathBuf,
    /// `dataLogDir` (default: `dataDir`), made absolute.
    pub data_log_dir: PathBuf,
    /// `clientPortAddress` + `clientPort` (wildcard address when only the port
    /// is set), or this server's `;client` part of its `server.N` line. `None`
    /// when no client port is configured.
    pub client_port_address: Option<SocketAddr>,
    /// `secureClientPortAddress` + `secureClientPort`: the TLS client port
    /// (wildcard address when only the port is set). `None` when unset.
    pub secure_client_port_address: Option<SocketAddr>,
    /// `maxClientCnxns`: connections per client IP, 0 = unlimited (default 60).
    pub max_client_cnxns: i32,
    /// `minSessionTimeout` (ms); -1 in zoo.cfg means 2 × tickTime.
    pub min_session_timeout: i32,
    /// `maxSessionTimeout` (ms); -1 in zoo.cfg means 20 × tickTime.
    pub max_session_timeout: i32,
    /// `clientPortListenBacklog` (-1 = the OS default).
    pub client_port_listen_backlog: i32,
    /// `localSessionsEnabled`.
    pub local_sessions_enabled: bool,
    /// `localSessionsUpgradingEnabled`.
    pub local_sessions_upgrading_enabled: bool,
    /// `initLimit` (ticks; required in quorum mode).
    pub init_limit: i32,
    /// `syncLimit` (ticks; required in quorum mode).
    pub sync_limit: i32,
    /// `connectToLearnerMasterLimit` (ticks, 0 = unset).
    pub connect_to_learner_master_limit: i32,
    /// `electionAlg` (only 3, fast leader election, is accepted).
    pub election_alg: i32,
    /// `quorumListenOnAllIPs`.
    pub quorum_listen_on_all_ips: bool,
    /// The id from `dataDir/myid`, when that file exists.
    pub server_id: Option<i64>,
    /// The membership: `server.N`, `group.N`, `weight.N`, `version` from
    /// zoo.cfg or from the dynamic config file.
    pub quorum_verifier: QuorumSpec,
    /// The membership in `<zoo.cfg>.dynamic.next` (a reconfig in flight).
    pub last_seen_quorum_verifier: Option<QuorumSpec>,
    /// `peerType`, corrected to what this server's `server.N` line says.
    pub peer_type: LearnerType,
    /// `observerMasterPort` (0: none): an observer connects to a voter at
    /// this port (its ObserverMaster) instead of to the leader; a follower
    /// serves observers there.
    pub observer_master_port: i32,
    /// `syncEnabled` (observers log txns); the system property
    /// `zookeeper.observer.syncEnabled` overrides it when set
    /// (`LearnerSettings`).
    pub sync_enabled: bool,
    /// `dynamicConfigFile`.
    pub dynamic_config_file: Option<PathBuf>,
    /// `autopurge.snapRetainCount` (at least 3).
    pub snap_retain_count: i32,
    /// `autopurge.purgeInterval` (hours; <= 0 disables purging).
    pub purge_interval: i32,
    /// `standaloneEnabled` (default true).
    pub standalone_enabled: bool,
    /// `reconfigEnabled` (default false).
    pub reconfig_enabled: bool,
    /// `multiAddress.enabled` (or system property `zookeeper.multiAddress.enabled`).
    pub multi_address_enabled: bool,
    /// `multiAddress.reachabilityCheckEnabled` (default true): with several
    /// addresses for a server, each is first probed (a TCP connect within
    /// `multiAddress.reachabilityCheckTimeoutMs`, where Java sends an ICMP
    /// echo) before one is dialed for good.
    pub multi_address_reachability_check_enabled: bool,
    /// `multiAddress.reachabilityCheckTimeoutMs` (default 1000).
    pub multi_address_reachability_check_timeout_ms: i32,
    /// `oraclePath`: the oracle file of a two-voter ensemble (QuorumOracleMaj).
    pub oracle_path: Option<PathBuf>,
    /// `jvm.pause.monitor`: run the pause monitor (detects process stalls).
    pub jvm_pause_monitor_to_run: bool,
    /// `jvm.pause.info-threshold.ms` (default 1000).
    pub jvm_pause_info_threshold_ms: i64,
    /// `jvm.pause.warn-threshold.ms` (default 10000).
    pub jvm_pause_warn_threshold_ms: i64,
    /// `jvm.pause.sleep.time.ms` (default 500).
    pub jvm_pause_sleep_time_ms: i64,
    /// `quorum.cnxn.threads.size`: how many election connections may be
    /// dialed, and how many may be sending their initial message, at once
    /// (Java's floor and default: 20).
    pub quorum_cnxn_threads_size: usize,
    /// The `quorum.auth.*` keys (quorum SASL).
    pub quorum_auth: QuorumAuthSettings,
    /// `sslQuorum`: quorum and election connections are dialed with TLS
    /// and accepted only with it (unless portUnification).
    pub ssl_quorum: bool,
    /// `portUnification`: quorum and election ports accept TLS and plain.
    pub port_unification: bool,
    /// `sslQuorumReloadCertFiles`: reload the ssl.quorum stores on change.
    pub ssl_quorum_reload_cert_files: bool,
    /// The `ssl.quorum.*` settings, read when sslQuorum or portUnification is on.
    pub quorum_ssl: Option<SslSettings>,
    /// The zoo.cfg file as read, whole (Java's initialConfig, which the
    /// admin command initial_configuration shows).
    pub initial_config: String,

    properties: SystemProperties,
}

/// Values of zoo.cfg keys gathered in one pass before they are checked.
struct RawCfg {
    data_dir: Option<String>,
    data_log_dir: Option<String>,
    client_port: i32,
    client_port_address: Option<String>,
    secure_client_port: i32,
    secure_client_port_address: Option<String>,
    observer_master_port: i32,
}

impl QuorumPeerConfig {
    /// Parses the file with -D overrides applied (pairs in command-line order).
    pub fn parse(path: &Path, overrides: &[(String, String)]) -> Result<QuorumPeerConfig, ConfigError> {
        info!("Reading configuration from: {}", path.display());
        let bytes = fs::read(path).map_err(|e| ConfigError::io(path, &e))?;
        let mut pairs: Vec<(String, String)> = properties::load(&properties::decode(&bytes))
            .map_err(|e| ConfigError::Invalid(e.to_string()))?
            .into_iter()
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();

        let mut system_overrides = Vec::new();
        for (key, value) in overrides {
            let (key, value) = (key.trim(), value.trim());
            let cfg_key = if is_cfg_key(key) { Some(key) } else { Some(normalize(key)).filter(|k| is_cfg_key(k)) };
            match cfg_key {
                Some(cfg_key) => match pairs.iter_mut().find(|(k, _)| k == cfg_key) {
                    Some(entry) => entry.1 = value.to_string(),
                    None => pairs.push((cfg_key.to_string(), value.to_string())),
                },
                None => system_overrides.push((key.to_string(), value.to_string())),
            }
        }

        let mut config = Self::parse_properties(path, &pairs, system_overrides)?;
        config.initial_config = String::from_utf8_lossy(&bytes).into_owned();
        config.log_unknown_properties();
        Ok(config)
    }

    /// The zoo.cfg keys, then the system properties, then the membership.
    fn parse_properties(
        path: &Path,
        pairs: &[(String, String)],
        system_overrides: Vec<(String, String)>,
    ) -> Result<QuorumPeerConfig, ConfigError> {
        let mut unknown_keys = Vec::new();
        let mut c = QuorumPeerConfig::with_defaults(path);
        let mut raw = RawCfg {
            data_dir: None,
            data_log_dir: None,
            client_port: 0,
            client_port_address: None,
            secure_client_port: 0,
            secure_client_port_address: None,
            observer_master_port: 0,
        };
        let has_dynamic_file = pairs.iter().any(|(k, _)| k == "dynamicConfigFile");
        for (key, value) in pairs {
            let (k, v) = (key.as_str(), value.as_str());
            match k {
                "dataDir" => raw.data_dir = Some(v.to_string()),
                "dataLogDir" => raw.data_log_dir = Some(v.to_string()),
                "clientPort" => raw.client_port = parse_number(k, v)?,
                "localSessionsEnabled" => c.local_sessions_enabled = parse_bool(k, v)?,
                "localSessionsUpgradingEnabled" => c.local_sessions_upgrading_enabled = parse_bool(k, v)?,
                "clientPortAddress" => raw.client_port_address = Some(v.to_string()),
                "secureClientPort" => raw.secure_client_port = parse_number(k, v)?,
                "secureClientPortAddress" => raw.secure_client_port_address = Some(v.to_string()),
                "observerMasterPort" => raw.observer_master_port = parse_number(k, v)?,
                "clientPortListenBacklog" => c.client_port_listen_backlog = parse_number(k, v)?,
                "tickTime" => c.tick_time = parse_number(k, v)?,
                "maxClientCnxns" => c.max_client_cnxns = parse_number(k, v)?,
                "minSessionTimeout" => c.min_session_timeout = parse_number(k, v)?,
                "maxSessionTimeout" => c.max_session_timeout = parse_number(k, v)?,
                "initLimit" => c.init_limit = parse_number(k, v)?,
                "syncLimit" => c.sync_limit = parse_number(k, v)?,
                "connectToLearnerMasterLimit" => c.connect_to_learner_master_limit = parse_number(k, v)?,
                "electionAlg" => {
                    c.election_alg = parse_number(k, v)?;
                    if c.election_alg != 3 {
                        return Err(ConfigError::bad_value(k, v, "is not supported (only 3)"));
                    }
                }
                "quorumListenOnAllIPs" => c.quorum_listen_on_all_ips = parse_bool(k, v)?,
                "peerType" => {
                    c.peer_type = LearnerType::parse(v)
                        .ok_or_else(|| ConfigError::bad_value(k, v, "is not observer or participant"))?
                }
                "syncEnabled" => c.sync_enabled = parse_bool(k, v)?,
                "dynamicConfigFile" => c.dynamic_config_file = Some(PathBuf::from(v)),
                "autopurge.snapRetainCount" => c.snap_retain_count = parse_number(k, v)?,
                "autopurge.purgeInterval" => c.purge_interval = parse_number(k, v)?,
                "standaloneEnabled" => c.standalone_enabled = parse_bool(k, v)?,
                "reconfigEnabled" => c.reconfig_enabled = parse_bool(k, v)?,
                "sslQuorum" => c.ssl_quorum = parse_bool(k, v)?,
                "portUnification" => c.port_unification = parse_bool(k, v)?,
                "sslQuorumReloadCertFiles" => c.ssl_quorum_reload_cert_files = parse_bool(k, v)?,
                _ if is_membership_key(k) && has_dynamic_file => {
                    return Err(ConfigError::Invalid(format!(
                        "{k}: must be in the dynamic config file when dynamicConfigFile is set"
                    )));
                }
                // Membership keys are read by QuorumSpec::from_pairs below.
                _ if is_membership_key(k) || k == "version" => {}
                "quorum.auth.enableSasl" => c.quorum_auth.enable_sasl = parse_bool(k, v)?,
                "quorum.auth.serverRequireSasl" => c.quorum_auth.server_require_sasl = parse_bool(k, v)?,
                "quorum.auth.learnerRequireSasl" => c.quorum_auth.learner_require_sasl = parse_bool(k, v)?,
                "quorum.auth.learner.saslLoginContext" => c.quorum_auth.learner_login_context = v.to_string(),
                "quorum.auth.server.saslLoginContext" => c.quorum_auth.server_login_context = v.to_string(),
                "quorum.auth.kerberos.servicePrincipal" => c.quorum_auth.kerberos_service_principal = v.to_string(),
                "quorum.cnxn.threads.size" => {
                    // As Java: only a size above the default counts.
                    let size = parse_number::<i32>(k, v)?;
                    c.quorum_cnxn_threads_size = usize::try_from(size).unwrap_or(0).max(QUORUM_CNXN_THREADS_SIZE_DEFAULT);
                    info!("quorum.cnxn.threads.size set to {}", c.quorum_cnxn_threads_size);
                }
                "jvm.pause.info-threshold.ms" => c.jvm_pause_info_threshold_ms = parse_number(k, v)?,
                "jvm.pause.warn-threshold.ms" => c.jvm_pause_warn_threshold_ms = parse_number(k, v)?,
                "jvm.pause.sleep.time.ms" => c.jvm_pause_sleep_time_ms = parse_number(k, v)?,
                "jvm.pause.monitor" => c.jvm_pause_monitor_to_run = parse_bool(k, v)?,
                // Read by the metrics provider's settings from the store.
                _ if k.starts_with("metricsProvider.") => unknown_keys.push((key.clone(), value.clone())),
                "multiAddress.enabled" => c.multi_address_enabled = parse_bool(k, v)?,
                "multiAddress.reachabilityCheckTimeoutMs" => {
                    c.multi_address_reachability_check_timeout_ms = parse_number(k, v)?
                }
                "multiAddress.reachabilityCheckEnabled" => {
                    c.multi_address_reachability_check_enabled = parse_bool(k, v)?
                }
                "oraclePath" => c.oracle_path = Some(PathBuf::from(v)),
                _ => unknown_keys.push((key.clone(), value.clone())),
            }
        }

        // As Java: requiring SASL needs it enabled, and a server that
        // requires it must authenticate as a learner too, or it could not
        // join its own ensemble.
        let qa = &c.quorum_auth;
        for (required, key) in [
            (qa.server_require_sasl, "quorum.auth.serverRequireSasl"),
            (qa.learner_require_sasl, "quorum.auth.learnerRequireSasl"),
        ] {
            if required && !qa.enable_sasl {
                return Err(ConfigError::Invalid(format!("quorum.auth.enableSasl is disabled, so cannot enable {key}")));
            }
        }
        if qa.server_require_sasl && !qa.learner_require_sasl {
            return Err(ConfigError::Invalid(
                "quorum.auth.learnerRequireSasl is disabled, so cannot enable quorum.auth.serverRequireSasl".to_string(),
            ));
        }

        if c.snap_retain_count < MIN_SNAP_RETAIN_COUNT {
            warn!("Invalid autopurge.snapRetainCount: {}. Defaulting to {MIN_SNAP_RETAIN_COUNT}", c.snap_retain_count);
            c.snap_retain_count = MIN_SNAP_RETAIN_COUNT;
        }

        let data_dir = match raw.data_dir.as_deref() {
            None => return Err(ConfigError::Invalid("dataDir is not set".to_string())),
            Some("") => return Err(ConfigError::bad_value("dataDir", "", "is empty")),
            Some(d) => d,
        };
        c.data_dir = absolute("dataDir", data_dir)?;
        c.data_log_dir = match raw.data_log_dir.as_deref() {
            None => c.data_dir.clone(),
            Some("") => return Err(ConfigError::bad_value("dataLogDir", "", "is empty")),
            Some(d) => absolute("dataLogDir", d)?,
        };

        c.client_port_address =
            client_address("clientPort", "clientPortAddress", raw.client_port, raw.client_port_address.as_deref())?;
        c.secure_client_port_address = client_address(
            "secureClientPort",
            "secureClientPortAddress",
            raw.secure_client_port,
            raw.secure_client_port_address.as_deref(),
        )?;
        c.observer_master_port = raw.observer_master_port;

        if c.tick_time == 0 {
            return Err(ConfigError::Invalid("tickTime is not set".to_string()));
        }
        if c.tick_time < 0 {
            return Err(ConfigError::bad_value("tickTime", &c.tick_time.to_string(), "must be positive"));
        }
        if c.min_session_timeout == -1 {
            c.min_session_timeout = c.tick_time.saturating_mul(2);
        }
        if c.max_session_timeout == -1 {
            c.max_session_timeout = c.tick_time.saturating_mul(20);
        }
        if c.min_session_timeout > c.max_session_timeout {
            return Err(ConfigError::Invalid(format!(
                "minSessionTimeout ({}) must not be larger than maxSessionTimeout ({})",
                c.min_session_timeout, c.max_session_timeout
            )));
        }
        c.properties = SystemProperties::new(system_overrides, unknown_keys);
        refuse_unsupported_security_properties(&c.properties)?;
        if c.ssl_quorum || c.port_unification {
            let mut ssl = SslSettings::read(&c.properties, X509Kind::Quorum)?;
            ssl.cert_reload = c.ssl_quorum_reload_cert_files;
            c.quorum_ssl = Some(ssl);
        }

        match c.dynamic_config_file.clone() {
            None => {
                let spec = QuorumSpec::from_pairs(pairs, c.multi_address_enabled, false)?;
                c.setup_quorum_peer_config(spec)?;
                // Java keeps the original zoo.cfg as zoo.cfg.bak before a
                // reconfigurable ensemble first rewrites it.
                if c.is_distributed() && c.reconfig_enabled {
                    let mut bak = c.config_file.clone().into_os_string();
                    bak.push(".bak");
                    let bak = PathBuf::from(bak);
                    let bytes = fs::read(path).map_err(|e| ConfigError::io(path, &e))?;
                    write_atomically(&bak, &bytes).map_err(|e| ConfigError::io(&bak, &e))?;
                }
            }
            Some(dynamic) => {
                let spec = c.read_dynamic_file(&dynamic)?;
                c.setup_quorum_peer_config(spec)?;
                c.last_seen_quorum_verifier = c.read_next_dynamic_file()?;
            }
        }
        if c.observer_master_port > i32::from(u16::MAX) {
            return Err(ConfigError::bad_value("observerMasterPort", &c.observer_master_port.to_string(), "is not a port number"));
        }
        Ok(c)
    }

    fn with_defaults(path: &Path) -> QuorumPeerConfig {
        QuorumPeerConfig {
            config_file: path.to_path_buf(),
            tick_time: DEFAULT_TICK_TIME,
            data_dir: PathBuf::new(),
            data_log_dir: PathBuf::new(),
            client_port_address: None,
            secure_client_port_address: None,
            max_client_cnxns: 60,
            min_session_timeout: -1,
            max_session_timeout: -1,
            client_port_listen_backlog: -1,
            local_sessions_enabled: false,
            local_sessions_upgrading_enabled: false,
            init_limit: 0,
            sync_limit: 0,
            connect_to_learner_master_limit: 0,
            election_alg: 3,
            quorum_listen_on_all_ips: false,
            server_id: None,
            quorum_verifier: QuorumSpec::default(),
            last_seen_quorum_verifier: None,
            peer_type: LearnerType::Participant,
            observer_master_port: 0,
            sync_enabled: true,
            dynamic_config_file: None,
            snap_retain_count: 3,
            purge_interval: 0,
            standalone_enabled: true,
            reconfig_enabled: false,
            multi_address_enabled: false,
            multi_address_reachability_check_enabled: true,
            multi_address_reachability_check_timeout_ms: 1000,
            oracle_path: None,
            jvm_pause_monitor_to_run: false,
            jvm_pause_info_threshold_ms: 1000,
            jvm_pause_warn_threshold_ms: 10000,
            jvm_pause_sleep_time_ms: 500,
            quorum_cnxn_threads_size: QUORUM_CNXN_THREADS_SIZE_DEFAULT,
            quorum_auth: QuorumAuthSettings::default(),
            ssl_quorum: false,
            port_unification: false,
            ssl_quorum_reload_cert_files: false,
            quorum_ssl: None,
            initial_config: String::new(),
            properties: SystemProperties::default(),
        }
    }

    /// Reads the file named by `dynamicConfigFile`: only membership keys; its
    /// version is the hex suffix of the file name.
    fn read_dynamic_file(&self, file: &Path) -> Result<QuorumSpec, ConfigError> {
        let bytes = fs::read(file).map_err(|e| ConfigError::io(file, &e))?;
        let pairs = properties::load(&properties::decode(&bytes))
            .map_err(|e| ConfigError::Invalid(format!("{}: {e}", file.display())))?;
        if pairs.iter().any(|(k, _)| k.trim() == "version") {
            return Err(ConfigError::Invalid(format!(
                "{}: a dynamic config file must not hold a version key (the version is the file name's suffix)",
                file.display()
            )));
        }
        let mut spec = QuorumSpec::from_pairs(&pairs, self.multi_address_enabled, true)?;
        spec.version = version_from_filename(file).unwrap_or(0);
        Ok(spec)
    }

    /// `<zoo.cfg>.dynamic.<version in hex>`: where a membership in force is
    /// written (QuorumPeer.makeDynamicConfigFilename).
    pub fn dynamic_config_filename(&self, version: i64) -> PathBuf {
        let mut name = self.config_file.clone().into_os_string();
        name.push(format!(".dynamic.{version:x}"));
        PathBuf::from(name)
    }

    /// `<zoo.cfg>.dynamic.next`: where a proposed membership is written.
    pub fn next_dynamic_config_filename(&self) -> PathBuf {
        let mut name = self.config_file.clone().into_os_string();
        name.push(NEXT_DYNAMIC_CONFIG_FILE_SUFFIX);
        PathBuf::from(name)
    }

    /// `<zoo.cfg>.dynamic.next`, when present: the last proposed membership.
    fn read_next_dynamic_file(&self) -> Result<Option<QuorumSpec>, ConfigError> {
        let next = self.next_dynamic_config_filename();
        if !next.exists() {
            return Ok(None);
        }
        let text = match fs::read(&next) {
            Ok(bytes) => properties::decode(&bytes),
            Err(e) => {
                warn!("cannot read {}: {e}; no last seen quorum verifier", next.display());
                return Ok(None);
            }
        };
        let pairs = properties::load(&text).map_err(|e| ConfigError::Invalid(format!("{}: {e}", next.display())))?;
        Ok(Some(QuorumSpec::from_pairs(&pairs, self.multi_address_enabled, false)?))
    }

    /// Checks the membership, reads myid, settles the client address and
    /// peer type, and checks what a quorum needs.
    fn setup_quorum_peer_config(&mut self, spec: QuorumSpec) -> Result<(), ConfigError> {
        let participants = spec.voting_members().count();
        let observers = spec.observing_members().count();
        if participants == 0 {
            if !self.standalone_enabled {
                return Err(ConfigError::Invalid(
                    "standaloneEnabled is false, so at least one participant server.N line is required".to_string(),
                ));
            }
            if observers > 0 {
                return Err(ConfigError::Invalid("observers without participants is an invalid configuration".into()));
            }
        } else if participants == 1 && self.standalone_enabled {
            error!("Invalid configuration, only one server specified (ignoring)");
            if observers > 0 {
                return Err(ConfigError::Invalid(
                    "observers need at least two participants (or standaloneEnabled=false)".to_string(),
                ));
            }
        } else if participants <= 2 {
            warn!("No server failure will be tolerated. You need at least 3 servers.");
        } else if participants % 2 == 0 {
            warn!("Non-optimal configuration, consider an odd number of servers.");
        }
        self.quorum_verifier = spec;
        self.setup_my_id()?;
        self.setup_client_port()?;
        self.setup_peer_type();
        self.check_validity()
    }

    fn myid_path(&self) -> PathBuf {
        self.data_dir.join("myid")
    }

    fn setup_my_id(&mut self) -> Result<(), ConfigError> {
        let path = self.myid_path();
        if !path.is_file() {
            return Ok(());
        }
        let bytes = fs::read(&path).map_err(|e| ConfigError::io(&path, &e))?;
        let text = properties::decode(&bytes);
        let first = text.lines().next().unwrap_or("").trim();
        let id = first
            .parse::<i64>()
            .map_err(|_| ConfigError::Invalid(format!("{}: {first:?} is not a server id", path.display())))?;
        self.server_id = Some(id);
        Ok(())
    }

    fn setup_client_port(&mut self) -> Result<(), ConfigError> {
        let Some(id) = self.server_id else {
            return Ok(());
        };
        let static_addr = self.client_port_address;
        let Some(qs) = self.quorum_verifier.servers.get_mut(&id) else {
            return Ok(());
        };
        match (&qs.client_addr, static_addr) {
            (Some(dynamic), static_addr) => {
                let resolved = dynamic.resolve().ok().and_then(|v| v.into_iter().next()).ok_or_else(|| {
                    ConfigError::Invalid(format!("server.{id}: client address {dynamic} cannot be resolved"))
                })?;
                if let Some(s) = static_addr {
                    let differs = if s.ip().is_unspecified() { s.port() != resolved.port() } else { s != resolved };
                    if differs {
                        return Err(ConfigError::Invalid(format!(
                            "server.{id}: client address {dynamic} differs from clientPort/clientPortAddress {s}"
                        )));
                    }
                }
                self.client_port_address = Some(resolved);
            }
            (None, Some(s)) => {
                qs.client_addr = Some(HostPort { host: s.ip().to_string(), port: s.port() });
                qs.client_addr_from_static = true;
            }
            (None, None) => {}
        }
        Ok(())
    }

    fn setup_peer_type(&mut self) {
        let by_list = match self.server_id.and_then(|id| self.quorum_verifier.servers.get(&id)) {
            Some(qs) => qs.peer_type,
            None => LearnerType::Participant,
        };
        if by_list != self.peer_type {
            warn!(
                "Peer type from servers list ({}) doesn't match peerType ({}). Defaulting to servers list.",
                by_list.name(),
                self.peer_type.name()
            );
            self.peer_type = by_list;
        }
    }

    fn check_validity(&self) -> Result<(), ConfigError> {
        if !self.is_distributed() {
            return Ok(());
        }
        if self.init_limit == 0 {
            return Err(ConfigError::Invalid("initLimit is not set".to_string()));
        }
        if self.sync_limit == 0 {
            return Err(ConfigError::Invalid("syncLimit is not set".to_string()));
        }
        // A myid absent from the server list passes here, as in Java; the
        // quorum peer refuses it when it starts ("My id N not in the peer list").
        if self.server_id.is_none() {
            return Err(ConfigError::Invalid(format!("myid file is missing ({})", self.myid_path().display())));
        }
        Ok(())
    }

    /// Java's isDistributed: more than one participant, or
    /// `standaloneEnabled=false`.
    fn is_distributed(&self) -> bool {
        !self.standalone_enabled || self.quorum_verifier.voting_members().count() > 1
    }

    /// How long a probe of one of several addresses may take, when the
    /// reachability check is on (multiAddress.enabled and
    /// multiAddress.reachabilityCheckEnabled).
    pub fn reachability_probe(&self) -> Option<std::time::Duration> {
        (self.multi_address_enabled && self.multi_address_reachability_check_enabled).then(|| {
            std::time::Duration::from_millis(u64::try_from(self.multi_address_reachability_check_timeout_ms).unwrap_or(0).max(1))
        })
    }

    /// True when this is a standalone server (ZooKeeperServerMain): no
    /// ensemble of two or more participants, and `standaloneEnabled` is true.
    pub fn is_standalone(&self) -> bool {
        !self.is_distributed()
    }

    /// The system properties: the `-D` pairs and the zoo.cfg keys this
    /// struct does not hold, from which each component reads its settings.
    pub fn properties(&self) -> &SystemProperties {
        &self.properties
    }

    /// This server's own `server.N` entry, in quorum mode.
    pub fn my_quorum_server(&self) -> Option<&QuorumServer> {
        self.server_id.and_then(|id| self.quorum_verifier.servers.get(&id))
    }

    /// ZooKeeperServer.getConf: the figures `conf` prints first and the
    /// admin command configuration returns.
    pub fn server_conf(&self, view: ConfView<'_>) -> ServerConf {
        let (client_port, max_client_cnxns) = match self.client_port_address {
            Some(a) => (i32::from(a.port()), self.max_client_cnxns),
            None => (-1, -1),
        };
        ServerConf {
            client_port,
            data_dir: self.data_dir.join("version-2"),
            data_log_dir: self.data_log_dir.join("version-2"),
            tick_time: self.tick_time,
            max_client_cnxns,
            min_session_timeout: self.min_session_timeout,
            max_session_timeout: self.max_session_timeout,
            // The read-only server answers with its peer's id, as the
            // quorum roles' servers do.
            server_id: match view {
                ConfView::Quorum(_) | ConfView::ReadOnly => self.server_id.unwrap_or(-1),
                ConfView::Standalone => 0,
            },
            client_port_listen_backlog: self.client_port_listen_backlog,
        }
    }

    /// The `conf` four letter word's output, in the order and format of
    /// Java's dumpConf (ZooKeeperServer, then QuorumZooKeeperServer or
    /// ReadOnlyZooKeeperServer). Directory sizes are read from disk now.
    pub fn dump_conf(&self, view: ConfView<'_>) -> String {
        let c = self.server_conf(view);
        let mut out = String::new();
        let mut line = |k: &str, v: &dyn fmt::Display| out.push_str(&format!("{k}={v}\n"));
        line("clientPort", &c.client_port);
        line("secureClientPort", &-1);
        line("dataDir", &c.data_dir.display());
        // Java reports the txn log directory's size as dataDirSize and the
        // snapshot directory's as dataLogSize; we keep its output.
        line("dataDirSize", &dir_size(&c.data_log_dir));
        line("dataLogDir", &c.data_log_dir.display());
        line("dataLogSize", &dir_size(&c.data_dir));
        line("tickTime", &c.tick_time);
        line("maxClientCnxns", &c.max_client_cnxns);
        line("minSessionTimeout", &c.min_session_timeout);
        line("maxSessionTimeout", &c.max_session_timeout);
        line("clientPortListenBacklog", &c.client_port_listen_backlog);
        line("serverId", &c.server_id);
        if matches!(view, ConfView::Standalone) {
            return out;
        }
        let ports = |addrs: &[HostPort]| {
            let mut seen: Vec<u16> = Vec::new();
            for a in addrs {
                if !seen.contains(&a.port) {
                    seen.push(a.port);
                }
            }
            seen.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("|")
        };
        let me = self.my_quorum_server();
        line("initLimit", &self.init_limit);
        line("syncLimit", &self.sync_limit);
        line("electionAlg", &self.election_alg);
        line("electionPort", &me.map(|s| ports(&s.election_addrs)).unwrap_or_default());
        line("quorumPort", &me.map(|s| ports(&s.addrs)).unwrap_or_default());
        line("peerType", &(self.peer_type as i32));
        if let ConfView::Quorum(spec) = view {
            out.push_str("membership: \n");
            out.push_str(&spec.to_config_string());
        }
        out
    }

    /// Logs the resolved configuration (at start-up, like Java's banner of
    /// settings).
    pub fn log_config(&self) {
        info!(
            "config file {}, mode {}",
            self.config_file.display(),
            if self.is_standalone() { "standalone" } else { "quorum" }
        );
        info!("dataDir={} dataLogDir={}", self.data_dir.display(), self.data_log_dir.display());
        match self.client_port_address {
            Some(a) => info!("clientPortAddress is {a}"),
            None => info!("clientPort is not set"),
        }
        info!(
            "tickTime={} minSessionTimeout={} maxSessionTimeout={} maxClientCnxns={} clientPortListenBacklog={}",
            self.tick_time,
            self.min_session_timeout,
            self.max_session_timeout,
            self.max_client_cnxns,
            self.client_port_listen_backlog
        );
        info!(
            "autopurge.snapRetainCount={} autopurge.purgeInterval={} localSessionsEnabled={}",
            self.snap_retain_count, self.purge_interval, self.local_sessions_enabled
        );
        if let Some(id) = self.server_id {
            info!("myid={id} peerType={}", self.peer_type.name());
        }
        if !self.is_standalone() {
            info!(
                "initLimit={} syncLimit={} electionAlg={} standaloneEnabled={} reconfigEnabled={}",
                self.init_limit, self.sync_limit, self.election_alg, self.standalone_enabled, self.reconfig_enabled
            );
            for (sid, qs) in &self.quorum_verifier.servers {
                info!("server.{sid}={}", qs.to_config_value());
            }
        }
    }

    /// Reports properties that nothing reads: Java ones we do not act on at
    /// info, anything else at warn.
    fn log_unknown_properties(&self) {
        for (key, from_command_line) in self.properties.all_keys() {
            let shown = if from_command_line { format!("-D {key}") } else { key.to_string() };
            if RESOLVED_PROPERTIES.contains(&normalize(key))
                || normalize(key).starts_with("ssl.")
                || key.starts_with("metricsProvider.")
                || unsupported_security_property(key).is_some()
                || crate::server::auth::is_auth_provider_property(key)
                || normalize(key) == "superUser"
                || normalize(key).starts_with("superUser.")
            {
                continue;
            }
            if crate::common::logging::KEYS.iter().any(|k| normalize(k) == normalize(key)) {
                if !from_command_line {
                    info!("{key} in zoo.cfg has no effect: the log is set up before zoo.cfg is read, so pass it as -D{key}");
                }
                continue;
            }
            if is_unused_java_property(key) {
                info!("{shown} is accepted but unused by zkserver");
            } else {
                warn!("{shown} is not a known configuration key; ignored");
            }
        }
    }
}

/// QuorumPeer.configFromString: a membership as `/zookeeper/config`, a
/// NEWLEADER packet or a reconfig txn carries it (`server.N` lines and a
/// hex `version`).
pub fn parse_dynamic_config(text: &str, multi_address_enabled: bool) -> Result<QuorumSpec, ConfigError> {
    let pairs = properties::load(text).map_err(|e| ConfigError::Invalid(e.to_string()))?;
    QuorumSpec::from_pairs(&pairs, multi_address_enabled, false)
}

/// QuorumPeerConfig.writeDynamicConfig: the membership's lines, sorted,
/// joined by newlines (no trailing one); the `version` line only when
/// `keep_version` (the `.next` file keeps it, a `.dynamic.<version>` file
/// has it in its name).
pub fn write_dynamic_config(path: &Path, spec: &QuorumSpec, keep_version: bool) -> std::io::Result<()> {
    let text = spec.to_config_string();
    let mut lines: Vec<&str> =
        text.lines().filter(|l| keep_version || !l.trim_start().starts_with("version")).collect();
    lines.sort_unstable();
    write_atomically(path, lines.join("\n").as_bytes())
}

/// QuorumPeerConfig.editStaticConfig: rewrites zoo.cfg without the
/// membership keys (server, group, weight), peerType and the old
/// dynamicConfigFile, and without clientPort/clientPortAddress when
/// `erase_client` (the server line carries the client address), then
/// points dynamicConfigFile at `dynamic_file` (canonical path). Java
/// writes the keys in its hash table's order; this keeps the file's.
pub fn edit_static_config(config_file: &Path, dynamic_file: &Path, erase_client: bool) -> std::io::Result<()> {
    let bytes = fs::read(config_file)?;
    let pairs = properties::load(&properties::decode(&bytes))
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    let mut kept: Vec<(String, String)> = Vec::new();
    for (k, v) in pairs {
        let (k, v) = (k.trim().to_string(), v.trim().to_string());
        let dropped = k.starts_with("server.")
            || k.starts_with("group")
            || k.starts_with("weight")
            || k.starts_with("dynamicConfigFile")
            || k.starts_with("peerType")
            || (erase_client && k.starts_with("clientPort"));
        if dropped {
            continue;
        }
        match kept.iter_mut().find(|(key, _)| *key == k) {
            Some(entry) => entry.1 = v,
            None => kept.push((k, v)),
        }
    }
    let mut out: String = kept.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    out.push_str(&format!("dynamicConfigFile={}\n", fs::canonicalize(dynamic_file)?.display()));
    write_atomically(config_file, out.as_bytes())
}

/// The version encoded as the hex suffix after the last '.' of a dynamic
/// config file name (`zoo.cfg.dynamic.100000000`), if any.
pub fn version_from_filename(path: &Path) -> Option<i64> {
    let name = path.file_name()?.to_str()?;
    let (_, suffix) = name.rsplit_once('.')?;
    i64::from_str_radix(suffix, 16).ok()
}

fn absolute(key: &str, dir: &str) -> Result<PathBuf, ConfigError> {
    std::path::absolute(dir).map_err(|e| ConfigError::bad_value(key, dir, &format!("cannot be made absolute: {e}")))
}

/// The client listen address from a port and an optional host (resolved
/// now, as Java's InetAddress.getByName does).
fn client_address(
    port_key: &str,
    address_key: &str,
    port: i32,
    address: Option<&str>,
) -> Result<Option<SocketAddr>, ConfigError> {
    if port == 0 {
        info!("{port_key} is not set");
        if address.is_some() {
            return Err(ConfigError::Invalid(format!("{address_key} is set but {port_key} is not set")));
        }
        return Ok(None);
    }
    let port = port_in_range(port_key, port)?;
    match address {
        None => Ok(Some(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port))),
        Some(host) => {
            let host_only = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
            (host_only, port)
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .map(Some)
                .ok_or_else(|| ConfigError::bad_value(address_key, host, "cannot be resolved"))
        }
    }
}

/// Total size of the files under a path (0 when it does not exist).
/// Symbolic links are not followed into directories.
fn dir_size(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.file_type().is_symlink() {
        return fs::metadata(path).ok().filter(|m| m.is_file()).map_or(0, |m| m.len());
    }
    if !meta.is_dir() {
        return meta.len();
    }
    match fs::read_dir(path) {
        Ok(entries) => entries.flatten().map(|e| dir_size(&e.path())).sum(),
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests;
