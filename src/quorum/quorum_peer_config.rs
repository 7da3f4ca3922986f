//! QuorumPeerConfig: reads zoo.cfg (and a dynamic config file when one is
//! named), applies `-D key=value` overrides, and resolves every setting the
//! server honours, both zoo.cfg keys and Java system properties, into typed
//! fields with Java's defaults. It also plays ServerConfig's part for the
//! standalone server. Runs once, on the main thread, before anything binds.
//!
//! System properties. Java turns an unknown zoo.cfg key `k` into the system
//! property `zookeeper.k`. We keep one store holding the `-D` pairs and those
//! unknown zoo.cfg keys, and a lookup of a property name accepts it with or
//! without the `zookeeper.` prefix (so `jute.maxbuffer`,
//! `zookeeper.jute.maxbuffer`, `nio.numSelectorThreads` and
//! `zookeeper.nio.numSelectorThreads` all work, in zoo.cfg and as `-D`).
//! A `-D` value wins over zoo.cfg; a `-D` whose name is a zoo.cfg key
//! (e.g. `-D clientPort=2182`) replaces that key's value from the file.
//!
//! Where Java silently falls back to a default for an unparsable number in a
//! system property, we refuse it: a typo should not go unnoticed.

mod properties;
mod quorum_server;

pub use quorum_server::{is_membership_key, HostPort, LearnerType, QuorumServer, QuorumSpec};

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::num::IntErrorKind;
use std::path::{Path, PathBuf};
use tracing::{error, info, warn};

/// Java's DefaultMetricsProvider, the only metrics provider we have.
pub const DEFAULT_METRICS_PROVIDER: &str = "org.apache.zookeeper.metrics.impl.DefaultMetricsProvider";

/// ZooKeeperServer.DEFAULT_TICK_TIME.
pub const DEFAULT_TICK_TIME: i32 = 3000;

/// Java's minimum autopurge.snapRetainCount (PurgeTxnLog keeps at least 3).
pub const MIN_SNAP_RETAIN_COUNT: i32 = 3;

/// Java's QUORUM_CNXN_THREADS_SIZE_DEFAULT_VALUE: the default and the floor
/// of `quorum.cnxn.threads.size`.
pub const QUORUM_CNXN_THREADS_SIZE_DEFAULT: usize = 20;

/// Suffix of the file holding a proposed, not yet committed, dynamic config.
pub const NEXT_DYNAMIC_CONFIG_FILE_SUFFIX: &str = ".dynamic.next";

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
    fn bad_value(key: &str, value: &str, reason: &str) -> ConfigError {
        ConfigError::BadValue { key: key.to_string(), value: value.to_string(), reason: reason.to_string() }
    }

    fn io(path: &Path, e: &std::io::Error) -> ConfigError {
        ConfigError::Io { path: path.to_path_buf(), message: e.to_string() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Io { path, message } => write!(f, "cannot read {}: {message}", path.display()),
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

/// The `-D` pairs and the zoo.cfg keys QuorumPeerConfig does not know.
#[derive(Debug, Clone, Default)]
struct PropertyStore {
    /// `-D` pairs in command-line order (a later one wins).
    overrides: Vec<(String, String)>,
    /// Unknown zoo.cfg keys as written (Java prefixes them with `zookeeper.`).
    file: Vec<(String, String)>,
}

/// A property name without its `zookeeper.` prefix.
fn normalize(name: &str) -> &str {
    name.strip_prefix("zookeeper.").unwrap_or(name)
}

impl PropertyStore {
    /// Finds a property: `-D` before zoo.cfg; within each, the exact name
    /// before the other form (with/without `zookeeper.`).
    fn lookup(&self, name: &str) -> Option<(&str, &str)> {
        for list in [&self.overrides, &self.file] {
            let exact = list.iter().rev().find(|(k, _)| k == name);
            let other = || list.iter().rev().find(|(k, _)| normalize(k) == normalize(name));
            if let Some((k, v)) = exact.or_else(other) {
                return Some((k.as_str(), v.as_str()));
            }
        }
        None
    }

    /// Every (key, value), `-D` pairs first.
    fn all_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.overrides.iter().chain(self.file.iter()).map(|(k, v)| (k.as_str(), v.as_str()))
    }

    fn all_keys(&self) -> impl Iterator<Item = (&str, bool)> {
        self.overrides.iter().map(|(k, _)| (k.as_str(), true)).chain(self.file.iter().map(|(k, _)| (k.as_str(), false)))
    }
}

/// Java's Integer.decode / Long.decode: optional sign, then `0x`, `0X` or
/// `#` for hex, a leading `0` for octal, else decimal.
fn java_decode(s: &str) -> Option<i64> {
    let (negative, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (radix, digits) = if let Some(d) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        (16, d)
    } else if let Some(d) = body.strip_prefix('#') {
        (16, d)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || digits.starts_with(['-', '+']) {
        return None;
    }
    let magnitude = i128::from_str_radix(digits, radix).ok()?;
    let value = if negative { -magnitude } else { magnitude };
    i64::try_from(value).ok()
}

/// Typed reads of system properties with Java's parsing rules.
struct Props<'a> {
    store: &'a PropertyStore,
}

impl Props<'_> {
    fn string(&self, name: &str) -> Option<String> {
        self.store.lookup(name).map(|(_, v)| v.to_string())
    }

    fn string_or(&self, name: &str, default: &str) -> String {
        self.string(name).unwrap_or_else(|| default.to_string())
    }

    /// Long.getLong: Java's decode syntax.
    fn long(&self, name: &str, default: i64) -> Result<i64, ConfigError> {
        match self.store.lookup(name) {
            None => Ok(default),
            Some((k, v)) => java_decode(v).ok_or_else(|| ConfigError::bad_value(k, v, "is not a number")),
        }
    }

    /// Integer.getInteger: Java's decode syntax, 32-bit range.
    fn int(&self, name: &str, default: i32) -> Result<i32, ConfigError> {
        match self.store.lookup(name) {
            None => Ok(default),
            Some((k, v)) => {
                let n = java_decode(v).ok_or_else(|| ConfigError::bad_value(k, v, "is not a number"))?;
                i32::try_from(n).map_err(|_| ConfigError::bad_value(k, v, "is out of range for a 32-bit integer"))
            }
        }
    }

    /// Long.parseLong on the raw value (decimal only).
    fn decimal_long(&self, name: &str, default: i64) -> Result<i64, ConfigError> {
        match self.store.lookup(name) {
            None => Ok(default),
            Some((k, v)) => parse_number::<i64>(k, v),
        }
    }

    fn double(&self, name: &str, default: f64) -> Result<f64, ConfigError> {
        match self.store.lookup(name) {
            None => Ok(default),
            Some((k, v)) => v
                .parse::<f64>()
                .ok()
                .filter(|d| d.is_finite())
                .ok_or_else(|| ConfigError::bad_value(k, v, "is not a number")),
        }
    }

    /// Boolean.parseBoolean(getProperty(name, default)): "true" in any case
    /// is true, anything else false (we warn about values that are neither).
    fn boolean(&self, name: &str, default: bool) -> bool {
        match self.store.lookup(name) {
            None => default,
            Some((k, v)) => {
                if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") {
                    warn!("{k}={v:?} is neither true nor false; taken as false");
                }
                v.eq_ignore_ascii_case("true")
            }
        }
    }

    /// Properties Java compares with one literal: `equals(literal)` when set.
    fn equals(&self, name: &str, literal: &str) -> Option<bool> {
        self.store.lookup(name).map(|(_, v)| v == literal)
    }
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

/// System properties resolved into typed fields below (names without the
/// `zookeeper.` prefix), plus a few read on demand.
const RESOLVED_PROPERTIES: &[&str] = &[
    "nio.numSelectorThreads",
    "nio.numWorkerThreads",
    "nio.directBufferBytes",
    "nio.shutdownTimeout",
    "nio.sessionlessCnxnTimeout",
    "maxCnxns",
    "clientTcpKeepAlive",
    "serverCnxnFactory",
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
    "server.realm",
    "leader.ackLoggingFrequency",
    "leader.maxTimeToWaitForEpoch",
    "leader.closeSocketAsync",
    "learner.asyncSending",
    "learner.closeSocketAsync",
    "forceSnapshotSync",
    "observer.reconnectDelayMs",
    "observer.election.DelayMs",
    "observerMaster.sizeLimit",
    "quorumCnxnTimeoutMs",
    "testingonly.initialZxid",
    "follower.nodelay",
    "leader.nodelay",
    "learner.skipLearnerRequestToNextProcessor",
    "forward_learner_requests_to_commit_processor_disabled",
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

const NO_SASL: &str = "zkserver has no SASL";
const NO_TLS: &str = "zkserver has no TLS";

/// Security properties (prefix-free; a trailing '.' makes a prefix) of
/// features zkserver does not have: start-up is refused when one is set
/// (when `only_true`, only when set to true, since false leaves the feature
/// off in Java too), so that no security setting is silently ignored.
const UNSUPPORTED_SECURITY_PROPERTIES: &[(&str, &str, bool)] = &[
    ("sessionRequireClientSASLAuth", NO_SASL, true),
    ("allowSaslFailedClients", NO_SASL, true),
    ("superUser", NO_SASL, false),
    ("SASLAuthenticationProvider.superPassword", NO_SASL, false),
    ("letAnySaslUserDoX", NO_SASL, false),
    ("sasl.serverconfig", NO_SASL, false),
    ("java.security.auth.login.config", NO_SASL, false),
    ("requireKerberosConfig", NO_SASL, true),
    ("security.auth_to_local", NO_SASL, false),
    ("kerberos.canonicalizeHostNames", NO_SASL, true),
    ("X509AuthenticationProvider.superUser", NO_TLS, false),
    ("ssl.", NO_TLS, false),
    ("client.secure", NO_TLS, true),
    ("client.portUnification", NO_TLS, true),
    ("admin.portUnification", NO_TLS, true),
    ("admin.forceHttps", NO_TLS, true),
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

/// `zookeeper.authProvider.<anything>` names a provider class to load.
fn is_auth_provider_property(name: &str) -> bool {
    normalize(name).starts_with("authProvider.")
}

fn is_unused_java_property(name: &str) -> bool {
    let n = normalize(name);
    UNUSED_JAVA_PROPERTIES.iter().any(|p| if p.ends_with('.') { n.starts_with(p) } else { n == *p })
}

fn available_cpus() -> i32 {
    std::thread::available_parallelism().map(|n| i32::try_from(n.get()).unwrap_or(i32::MAX)).unwrap_or(1)
}

/// The whole server configuration. Fields are documented with the zoo.cfg
/// key or Java system property they come from.
#[derive(Debug, Clone)]
pub struct QuorumPeerConfig {
    // ----- zoo.cfg (QuorumPeerConfig.parseProperties) -----
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
    /// `observerMasterPort` (unset when <= 0).
    pub observer_master_port: Option<u16>,
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
    /// `syncEnabled` (observers log txns); the system property
    /// `zookeeper.observer.syncEnabled` overrides it when set.
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
    /// `metricsProvider.className`.
    pub metrics_provider_class_name: String,
    /// The other `metricsProvider.*` keys, without the prefix.
    pub metrics_provider_configuration: BTreeMap<String, String>,
    /// `multiAddress.enabled` (or system property `zookeeper.multiAddress.enabled`).
    pub multi_address_enabled: bool,
    /// `multiAddress.reachabilityCheckEnabled` (default true).
    pub multi_address_reachability_check_enabled: bool,
    /// `multiAddress.reachabilityCheckTimeoutMs` (default 1000).
    pub multi_address_reachability_check_timeout_ms: i32,
    /// `oraclePath` (QuorumOracleMaj for two-server ensembles).
    pub oracle_path: Option<PathBuf>,
    /// `jvm.pause.monitor`: run the pause monitor (detects process stalls).
    pub jvm_pause_monitor_to_run: bool,
    /// `jvm.pause.info-threshold.ms` (default 1000).
    pub jvm_pause_info_threshold_ms: i64,
    /// `jvm.pause.warn-threshold.ms` (default 10000).
    pub jvm_pause_warn_threshold_ms: i64,
    /// `jvm.pause.sleep.time.ms` (default 500).
    pub jvm_pause_sleep_time_ms: i64,

    // ----- NIOServerCnxnFactory / ServerCnxnFactory -----
    /// `zookeeper.nio.numSelectorThreads` (default max(1, √(ncpu/2))).
    pub nio_num_selector_threads: i32,
    /// `zookeeper.nio.numWorkerThreads` (default 2 × ncpu; 0 = no pool).
    pub nio_num_worker_threads: i32,
    /// `zookeeper.nio.directBufferBytes` (default 64 KiB).
    pub nio_direct_buffer_bytes: i32,
    /// `zookeeper.nio.shutdownTimeout` (ms, default 5000).
    pub nio_shutdown_timeout_ms: i64,
    /// `zookeeper.nio.sessionlessCnxnTimeout` (ms, default 10000).
    pub nio_sessionless_cnxn_timeout_ms: i32,
    /// `zookeeper.maxCnxns`: total client connections, 0 = unlimited.
    pub max_cnxns: i32,
    /// `zookeeper.clientTcpKeepAlive`.
    pub client_tcp_keep_alive: bool,
    /// `zookeeper.serverCnxnFactory` as given (we always run the NIO design).
    pub server_cnxn_factory: Option<String>,

    // ----- ZooKeeperServer, processors, persistence -----
    /// `zookeeper.globalOutstandingLimit` (default 1000).
    pub global_outstanding_limit: i32,
    /// `zookeeper.snapCount` (default 100000, at least 2).
    pub snap_count: i32,
    /// `zookeeper.snapSizeLimitInKb` × 1024 (default 4 GiB; <= 0 disables).
    pub snap_size_limit_bytes: i64,
    /// `zookeeper.preAllocSize` × 1024 (KiB in the property, default 64 MiB).
    pub pre_alloc_size_bytes: i64,
    /// `zookeeper.forceSync`: fsync the txn log unless it is `no`.
    pub force_sync: bool,
    /// `zookeeper.fsync.warningthresholdms`, else `fsync.warningthresholdms`
    /// (default 1000).
    pub fsync_warning_threshold_ms: i64,
    /// `zookeeper.txnLogSizeLimitInKb` × 1024, or -1 (no limit) when <= 0.
    pub txn_log_size_limit_bytes: i64,
    /// `zookeeper.datadir.autocreate` (default true).
    pub datadir_autocreate: bool,
    /// `zookeeper.db.autocreate` (default true).
    pub db_autocreate: bool,
    /// `zookeeper.snapshot.trust.empty`.
    pub snapshot_trust_empty: bool,
    /// `zookeeper.snapshotSizeFactor` (default 0.33; > 1 falls back to it).
    pub snapshot_size_factor: f64,
    /// `zookeeper.commitLogCount` (default and minimum 500).
    pub commit_log_count: i32,
    /// `zookeeper.flushDelay` (ms, default 0).
    pub flush_delay_ms: i64,
    /// `zookeeper.maxWriteQueuePollTime` (ms, default flushDelay / 3).
    pub max_write_queue_poll_time_ms: i64,
    /// `zookeeper.maxBatchSize` (default 1000).
    pub max_batch_size: i32,
    /// `zookeeper.intBufferStartingSizeBytes` (default 1024, at least 32).
    pub int_buffer_starting_size_bytes: i32,
    /// `zookeeper.maxResponseCacheSize` (getData cache, default 400).
    pub max_response_cache_size: i32,
    /// `zookeeper.maxGetChildrenResponseCacheSize` (default 400).
    pub max_get_children_response_cache_size: i32,
    /// `zookeeper.largeRequestMaxBytes` (default 100 MiB).
    pub large_request_max_bytes: i32,
    /// `zookeeper.largeRequestThreshold` (default -1 = off).
    pub large_request_threshold: i32,
    /// `zookeeper.throttled_op_wait_time` (ms, default 0 = off).
    pub throttled_op_wait_time_ms: i32,
    /// `zookeeper.request_throttle_max_requests` (default 0 = off).
    pub request_throttle_max_requests: i32,
    /// `zookeeper.request_throttle_stall_time` (ms, default 100).
    pub request_throttle_stall_time_ms: i32,
    /// `zookeeper.request_throttle_drop_stale` (default true).
    pub request_throttle_drop_stale: bool,
    /// `zookeeper.request_throttler.shutdownTimeout` (ms, default 10000).
    pub request_throttler_shutdown_timeout_ms: i32,
    /// `zookeeper.request_stale_connection_check` (default true).
    pub request_stale_connection_check: bool,
    /// `zookeeper.request_stale_latency_check` (default false).
    pub request_stale_latency_check: bool,

    // ----- BlueThrottle (connection throttling) -----
    /// `zookeeper.connection_throttle_tokens` (default 0 = off).
    pub connection_throttle_tokens: i32,
    /// `zookeeper.connection_throttle_fill_time` (ms, default 1).
    pub connection_throttle_fill_time_ms: i32,
    /// `zookeeper.connection_throttle_fill_count` (default 1).
    pub connection_throttle_fill_count: i32,
    /// `zookeeper.connection_throttle_freeze_time` (ms, default -1 = off).
    pub connection_throttle_freeze_time_ms: i32,
    /// `zookeeper.connection_throttle_drop_increase` (default 0.02).
    pub connection_throttle_drop_increase: f64,
    /// `zookeeper.connection_throttle_drop_decrease` (default 0.002).
    pub connection_throttle_drop_decrease: f64,
    /// `zookeeper.connection_throttle_decrease_ratio` (default 0).
    pub connection_throttle_decrease_ratio: f64,
    /// `zookeeper.connection_throttle_weight_enabled`.
    pub connection_throttle_weight_enabled: bool,
    /// `zookeeper.connection_throttle_global_session_weight` (default 3).
    pub connection_throttle_global_session_weight: i32,
    /// `zookeeper.connection_throttle_local_session_weight` (default 1).
    pub connection_throttle_local_session_weight: i32,
    /// `zookeeper.connection_throttle_renew_session_weight` (default 2).
    pub connection_throttle_renew_session_weight: i32,

    // ----- commands, wire, ACLs, node types -----
    /// `zookeeper.4lw.commands.whitelist` (zoo.cfg `4lw.commands.whitelist`)
    /// as given; see [`QuorumPeerConfig::is_four_letter_word_enabled`].
    pub four_letter_word_whitelist: Option<String>,
    /// `readonlymode.enabled`.
    pub read_only_mode_enabled: bool,
    /// `jute.maxbuffer` (default 0xfffff).
    pub jute_max_buffer: i32,
    /// `zookeeper.jute.maxbuffer.extrasize` (default: jute.maxbuffer).
    pub jute_max_buffer_extra_size: i32,
    /// `zookeeper.skipACL` = `yes`.
    pub skip_acl: bool,
    /// `zookeeper.enableEagerACLCheck`.
    pub enable_eager_acl_check: bool,
    /// `zookeeper.enforceQuota`.
    pub enforce_quota: bool,
    /// `zookeeper.digest.enabled` (default true).
    pub digest_enabled: bool,
    /// `zookeeper.closeSessionTxn.enabled` (default true).
    pub close_session_txn_enabled: bool,
    /// `zookeeper.extendedTypesEnabled` (TTL nodes).
    pub extended_types_enabled: bool,
    /// `zookeeper.emulate353TTLNodes`.
    pub emulate_353_ttl_nodes: bool,
    /// `zookeeper.DigestAuthenticationProvider.superDigest` (`super:<base64 sha1>`).
    pub super_digest: Option<String>,
    /// `zookeeper.DigestAuthenticationProvider.enabled` (default true), or a
    /// `zookeeper.authProvider.*` naming the digest provider's class.
    pub digest_auth_enabled: bool,
    /// `zookeeper.enforce.auth.enabled`.
    pub enforce_auth_enabled: bool,
    /// `zookeeper.enforce.auth.schemes`, split at ',' and trimmed.
    pub enforce_auth_schemes: Vec<String>,

    // ----- AdminServer -----
    /// `zookeeper.admin.enableServer` (zoo.cfg `admin.enableServer`): on
    /// unless exactly `false`.
    pub admin_enable_server: bool,
    /// `zookeeper.admin.serverAddress` (default 0.0.0.0).
    pub admin_server_address: String,
    /// `zookeeper.admin.serverPort` (default 8080).
    pub admin_server_port: i32,
    /// `zookeeper.admin.idleTimeout` (ms, default 30000).
    pub admin_idle_timeout_ms: i32,
    /// `zookeeper.admin.commandURL` (default /commands).
    pub admin_command_url: String,

    // ----- ContainerManager -----
    /// `znode.container.checkIntervalMs` (default 60000).
    pub container_check_interval_ms: i32,
    /// `znode.container.maxPerMinute` (default 10000).
    pub container_max_per_minute: i32,
    /// `znode.container.maxNeverUsedIntervalMs` (default 0 = never).
    pub container_max_never_used_interval_ms: i64,

    // ----- quorum -----
    /// `zookeeper.cnxTimeout`: election connect timeout (ms, default 5000).
    pub cnx_timeout_ms: i32,
    /// `zookeeper.tcpKeepAlive` on quorum sockets.
    pub tcp_keep_alive: bool,
    /// `zookeeper.electionPortBindRetry` (default 3; 0 = forever).
    pub election_port_bind_retry: i32,
    /// `quorum.cnxn.threads.size`: how many election connections may be
    /// dialed, and how many may be sending their initial message, at once
    /// (Java's floor and default: 20).
    pub quorum_cnxn_threads_size: usize,
    /// `zookeeper.fastleader.minNotificationInterval` (ms, default 200).
    pub fast_leader_min_notification_interval_ms: i32,
    /// `zookeeper.fastleader.maxNotificationInterval` (ms, default 60000).
    pub fast_leader_max_notification_interval_ms: i32,
    /// `zookeeper.leaderConnectDelayDuringRetryMs`: pause between a
    /// learner's tries to reach the leader (ms, default 100).
    pub leader_connect_delay_during_retry_ms: i32,
    /// `zookeeper.leaderServes`: the leader takes clients unless `no`.
    pub leader_serves: bool,
    /// `zookeeper.commitProcessor.numWorkerThreads` (default ncpu).
    pub commit_processor_num_worker_threads: i32,
    /// `zookeeper.commitProcessor.shutdownTimeout` (ms, default 5000).
    pub commit_processor_shutdown_timeout_ms: i64,
    /// `zookeeper.commitProcessor.maxReadBatchSize` (default -1).
    pub commit_processor_max_read_batch_size: i32,
    /// `zookeeper.commitProcessor.maxCommitBatchSize` (default 1).
    pub commit_processor_max_commit_batch_size: i32,
    /// `zookeeper.leader.maxConcurrentSnapSyncs` (default 10).
    pub leader_max_concurrent_snap_syncs: i32,
    /// `zookeeper.leader.maxConcurrentDiffSyncs` (default 100).
    pub leader_max_concurrent_diff_syncs: i32,

    properties: PropertyStore,
    enabled_four_letter_words: BTreeSet<String>,
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
    quorum_enable_sasl: bool,
    quorum_server_require_sasl: bool,
    quorum_learner_require_sasl: bool,
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

        let mut store = PropertyStore::default();
        for (key, value) in overrides {
            let (key, value) = (key.trim(), value.trim());
            let cfg_key = if is_cfg_key(key) { Some(key) } else { Some(normalize(key)).filter(|k| is_cfg_key(k)) };
            match cfg_key {
                Some(cfg_key) => match pairs.iter_mut().find(|(k, _)| k == cfg_key) {
                    Some(entry) => entry.1 = value.to_string(),
                    None => pairs.push((cfg_key.to_string(), value.to_string())),
                },
                None => store.overrides.push((key.to_string(), value.to_string())),
            }
        }

        let config = Self::parse_properties(path, &pairs, store)?;
        config.log_unknown_properties();
        Ok(config)
    }

    /// The zoo.cfg keys, then the system properties, then the membership.
    fn parse_properties(
        path: &Path,
        pairs: &[(String, String)],
        mut store: PropertyStore,
    ) -> Result<QuorumPeerConfig, ConfigError> {
        let cpus = available_cpus();
        let mut c = QuorumPeerConfig::with_defaults(path, cpus);
        let mut raw = RawCfg {
            data_dir: None,
            data_log_dir: None,
            client_port: 0,
            client_port_address: None,
            secure_client_port: 0,
            secure_client_port_address: None,
            observer_master_port: 0,
            quorum_enable_sasl: false,
            quorum_server_require_sasl: false,
            quorum_learner_require_sasl: false,
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
                "sslQuorum" => {
                    if parse_bool(k, v)? {
                        return Err(ConfigError::bad_value(k, v, "is not supported: zkserver has no TLS"));
                    }
                }
                "portUnification" => {
                    if parse_bool(k, v)? {
                        return Err(ConfigError::bad_value(k, v, "is not supported: zkserver has no TLS"));
                    }
                }
                "sslQuorumReloadCertFiles" => {
                    parse_bool(k, v)?;
                }
                _ if is_membership_key(k) && has_dynamic_file => {
                    return Err(ConfigError::Invalid(format!(
                        "{k}: must be in the dynamic config file when dynamicConfigFile is set"
                    )));
                }
                // Membership keys are read by QuorumSpec::from_pairs below.
                _ if is_membership_key(k) || k == "version" => {}
                "quorum.auth.enableSasl" => raw.quorum_enable_sasl = parse_bool(k, v)?,
                "quorum.auth.serverRequireSasl" => raw.quorum_server_require_sasl = parse_bool(k, v)?,
                "quorum.auth.learnerRequireSasl" => raw.quorum_learner_require_sasl = parse_bool(k, v)?,
                "quorum.auth.learner.saslLoginContext"
                | "quorum.auth.server.saslLoginContext"
                | "quorum.auth.kerberos.servicePrincipal" => {
                    info!("{k} is accepted but unused (no quorum SASL in zkserver)");
                }
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
                "metricsProvider.className" => c.metrics_provider_class_name = v.to_string(),
                _ if k.starts_with("metricsProvider.") => {
                    c.metrics_provider_configuration.insert(k["metricsProvider.".len()..].to_string(), v.to_string());
                }
                "multiAddress.enabled" => c.multi_address_enabled = parse_bool(k, v)?,
                "multiAddress.reachabilityCheckTimeoutMs" => {
                    c.multi_address_reachability_check_timeout_ms = parse_number(k, v)?
                }
                "multiAddress.reachabilityCheckEnabled" => {
                    c.multi_address_reachability_check_enabled = parse_bool(k, v)?
                }
                "oraclePath" => c.oracle_path = Some(PathBuf::from(v)),
                _ => store.file.push((key.clone(), value.clone())),
            }
        }

        if raw.quorum_enable_sasl {
            return Err(ConfigError::bad_value(
                "quorum.auth.enableSasl",
                "true",
                "is not supported: zkserver has no quorum SASL",
            ));
        }
        if raw.quorum_server_require_sasl || raw.quorum_learner_require_sasl {
            let key = if raw.quorum_server_require_sasl {
                "quorum.auth.serverRequireSasl"
            } else {
                "quorum.auth.learnerRequireSasl"
            };
            return Err(ConfigError::Invalid(format!("{key}: cannot be true while quorum.auth.enableSasl is false")));
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
        if raw.secure_client_port != 0 {
            return Err(ConfigError::bad_value(
                "secureClientPort",
                &raw.secure_client_port.to_string(),
                "is not supported: zkserver has no TLS",
            ));
        }
        if raw.secure_client_port_address.is_some() {
            return Err(ConfigError::Invalid(
                "secureClientPortAddress is set but secureClientPort is not set".to_string(),
            ));
        }
        if raw.observer_master_port > 0 {
            c.observer_master_port = Some(port_in_range("observerMasterPort", raw.observer_master_port)?);
        }

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
        if c.metrics_provider_class_name != DEFAULT_METRICS_PROVIDER {
            warn!(
                "metricsProvider.className {} is not available; metrics are served by the built-in provider (mntr)",
                c.metrics_provider_class_name
            );
        }

        c.properties = store;
        c.resolve_system_properties(cpus)?;

        match c.dynamic_config_file.clone() {
            None => {
                let spec = QuorumSpec::from_pairs(pairs, c.multi_address_enabled, false)?;
                c.setup_quorum_peer_config(spec)?;
            }
            Some(dynamic) => {
                let spec = c.read_dynamic_file(&dynamic)?;
                c.setup_quorum_peer_config(spec)?;
                c.last_seen_quorum_verifier = c.read_next_dynamic_file()?;
            }
        }
        Ok(c)
    }

    fn with_defaults(path: &Path, cpus: i32) -> QuorumPeerConfig {
        QuorumPeerConfig {
            config_file: path.to_path_buf(),
            tick_time: DEFAULT_TICK_TIME,
            data_dir: PathBuf::new(),
            data_log_dir: PathBuf::new(),
            client_port_address: None,
            observer_master_port: None,
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
            sync_enabled: true,
            dynamic_config_file: None,
            snap_retain_count: 3,
            purge_interval: 0,
            standalone_enabled: true,
            reconfig_enabled: false,
            metrics_provider_class_name: DEFAULT_METRICS_PROVIDER.to_string(),
            metrics_provider_configuration: BTreeMap::new(),
            multi_address_enabled: false,
            multi_address_reachability_check_enabled: true,
            multi_address_reachability_check_timeout_ms: 1000,
            oracle_path: None,
            jvm_pause_monitor_to_run: false,
            jvm_pause_info_threshold_ms: 1000,
            jvm_pause_warn_threshold_ms: 10000,
            jvm_pause_sleep_time_ms: 500,
            nio_num_selector_threads: ((cpus as f32 / 2.0).sqrt() as i32).max(1),
            nio_num_worker_threads: cpus.saturating_mul(2),
            nio_direct_buffer_bytes: 64 * 1024,
            nio_shutdown_timeout_ms: 5000,
            nio_sessionless_cnxn_timeout_ms: 10000,
            max_cnxns: 0,
            client_tcp_keep_alive: false,
            server_cnxn_factory: None,
            global_outstanding_limit: 1000,
            snap_count: 100_000,
            snap_size_limit_bytes: 4_194_304 * 1024,
            pre_alloc_size_bytes: 65536 * 1024,
            force_sync: true,
            fsync_warning_threshold_ms: 1000,
            txn_log_size_limit_bytes: -1,
            datadir_autocreate: true,
            db_autocreate: true,
            snapshot_trust_empty: false,
            snapshot_size_factor: 0.33,
            commit_log_count: 500,
            flush_delay_ms: 0,
            max_write_queue_poll_time_ms: 0,
            max_batch_size: 1000,
            int_buffer_starting_size_bytes: 1024,
            max_response_cache_size: 400,
            max_get_children_response_cache_size: 400,
            large_request_max_bytes: 100 * 1024 * 1024,
            large_request_threshold: -1,
            throttled_op_wait_time_ms: 0,
            request_throttle_max_requests: 0,
            request_throttle_stall_time_ms: 100,
            request_throttle_drop_stale: true,
            request_throttler_shutdown_timeout_ms: 10000,
            request_stale_connection_check: true,
            request_stale_latency_check: false,
            connection_throttle_tokens: 0,
            connection_throttle_fill_time_ms: 1,
            connection_throttle_fill_count: 1,
            connection_throttle_freeze_time_ms: -1,
            connection_throttle_drop_increase: 0.02,
            connection_throttle_drop_decrease: 0.002,
            connection_throttle_decrease_ratio: 0.0,
            connection_throttle_weight_enabled: false,
            connection_throttle_global_session_weight: 3,
            connection_throttle_local_session_weight: 1,
            connection_throttle_renew_session_weight: 2,
            four_letter_word_whitelist: None,
            read_only_mode_enabled: false,
            jute_max_buffer: 0xfffff,
            jute_max_buffer_extra_size: 0xfffff,
            skip_acl: false,
            enable_eager_acl_check: false,
            enforce_quota: false,
            digest_enabled: true,
            close_session_txn_enabled: true,
            extended_types_enabled: false,
            emulate_353_ttl_nodes: false,
            super_digest: None,
            digest_auth_enabled: true,
            enforce_auth_enabled: false,
            enforce_auth_schemes: Vec::new(),
            admin_enable_server: true,
            admin_server_address: "0.0.0.0".to_string(),
            admin_server_port: 8080,
            admin_idle_timeout_ms: 30000,
            admin_command_url: "/commands".to_string(),
            container_check_interval_ms: 60000,
            container_max_per_minute: 10000,
            container_max_never_used_interval_ms: 0,
            cnx_timeout_ms: 5000,
            tcp_keep_alive: false,
            election_port_bind_retry: 3,
            quorum_cnxn_threads_size: QUORUM_CNXN_THREADS_SIZE_DEFAULT,
            fast_leader_min_notification_interval_ms: 200,
            fast_leader_max_notification_interval_ms: 60000,
            leader_connect_delay_during_retry_ms: 100,
            leader_serves: true,
            commit_processor_num_worker_threads: cpus,
            commit_processor_shutdown_timeout_ms: 5000,
            commit_processor_max_read_batch_size: -1,
            commit_processor_max_commit_batch_size: 1,
            leader_max_concurrent_snap_syncs: 10,
            leader_max_concurrent_diff_syncs: 100,
            properties: PropertyStore::default(),
            enabled_four_letter_words: BTreeSet::new(),
        }
    }

    /// Reads every system property the server honours, with the checks Java
    /// applies (some values are raised to a minimum with a warning, some are
    /// refused).
    fn resolve_system_properties(&mut self, cpus: i32) -> Result<(), ConfigError> {
        let store = self.properties.clone();
        let p = Props { store: &store };

        self.nio_num_selector_threads = p.int("zookeeper.nio.numSelectorThreads", self.nio_num_selector_threads)?;
        if self.nio_num_selector_threads < 1 {
            return Err(self.bad_property("zookeeper.nio.numSelectorThreads", "must be at least 1"));
        }
        self.nio_num_worker_threads = p.int("zookeeper.nio.numWorkerThreads", cpus.saturating_mul(2))?;
        self.nio_direct_buffer_bytes = p.int("zookeeper.nio.directBufferBytes", 64 * 1024)?;
        self.nio_shutdown_timeout_ms = p.long("zookeeper.nio.shutdownTimeout", 5000)?;
        self.nio_sessionless_cnxn_timeout_ms = p.int("zookeeper.nio.sessionlessCnxnTimeout", 10000)?;
        if self.nio_sessionless_cnxn_timeout_ms <= 0 {
            return Err(self.bad_property("zookeeper.nio.sessionlessCnxnTimeout", "must be positive"));
        }
        self.max_cnxns = p.int("zookeeper.maxCnxns", 0)?;
        if self.max_cnxns < 0 {
            warn!("maxCnxns should be greater than or equal to 0, using default value 0.");
            self.max_cnxns = 0;
        }
        self.client_tcp_keep_alive = p.boolean("zookeeper.clientTcpKeepAlive", false);
        self.server_cnxn_factory = p.string("zookeeper.serverCnxnFactory");
        if let Some(factory) = &self.server_cnxn_factory {
            info!("zookeeper.serverCnxnFactory={factory} is accepted; zkserver always uses its NIO-style factory");
        }

        self.global_outstanding_limit = p.int("zookeeper.globalOutstandingLimit", 1000)?;
        self.snap_count = p.int("zookeeper.snapCount", 100_000)?;
        if self.snap_count < 2 {
            warn!("SnapCount should be 2 or more. Now, snapCount is reset to 2");
            self.snap_count = 2;
        }
        let snap_size_kb = p.long("zookeeper.snapSizeLimitInKb", 4_194_304)?;
        if snap_size_kb <= 0 {
            info!("zookeeper.snapSizeLimitInKb set to a non-positive value {snap_size_kb}; disabling feature");
        }
        self.snap_size_limit_bytes = snap_size_kb.saturating_mul(1024);
        self.pre_alloc_size_bytes = p.decimal_long("zookeeper.preAllocSize", 65536)?.saturating_mul(1024);
        self.force_sync = p.equals("zookeeper.forceSync", "no") != Some(true);
        self.fsync_warning_threshold_ms = p.long("zookeeper.fsync.warningthresholdms", 1000)?;
        let txn_log_kb = p.long("zookeeper.txnLogSizeLimitInKb", -1)?;
        self.txn_log_size_limit_bytes = if txn_log_kb > 0 { txn_log_kb.saturating_mul(1024) } else { -1 };
        self.datadir_autocreate = p.boolean("zookeeper.datadir.autocreate", true);
        self.db_autocreate = p.boolean("zookeeper.db.autocreate", true);
        self.snapshot_trust_empty = p.boolean("zookeeper.snapshot.trust.empty", false);
        if let Some((k, v)) = store.lookup("zookeeper.snapshot.compression.method") {
            match v.to_ascii_lowercase().as_str() {
                "" => {}
                "gz" | "snappy" => {
                    return Err(ConfigError::bad_value(k, v, "is not supported: snapshots are written uncompressed"))
                }
                _ => warn!("{k}={v:?} is not a known method; snapshots are written uncompressed"),
            }
        }
        self.snapshot_size_factor = p.double("zookeeper.snapshotSizeFactor", 0.33)?;
        if self.snapshot_size_factor > 1.0 {
            warn!("The configured zookeeper.snapshotSizeFactor is invalid, going to use the default 0.33");
            self.snapshot_size_factor = 0.33;
        }
        self.commit_log_count = p.int("zookeeper.commitLogCount", 500)?;
        if self.commit_log_count < 500 {
            warn!(
                "The configured commitLogCount {} is less than the recommended 500, going to use the recommended one",
                self.commit_log_count
            );
            self.commit_log_count = 500;
        }
        self.flush_delay_ms = p.long("zookeeper.flushDelay", 0)?;
        self.max_write_queue_poll_time_ms = p.long("zookeeper.maxWriteQueuePollTime", self.flush_delay_ms / 3)?;
        self.max_batch_size = p.int("zookeeper.maxBatchSize", 1000)?;
        self.int_buffer_starting_size_bytes = p.int("zookeeper.intBufferStartingSizeBytes", 1024)?;
        if self.int_buffer_starting_size_bytes < 32 {
            return Err(self.bad_property("zookeeper.intBufferStartingSizeBytes", "must be at least 32"));
        }
        self.max_response_cache_size = p.int("zookeeper.maxResponseCacheSize", 400)?;
        self.max_get_children_response_cache_size = p.int("zookeeper.maxGetChildrenResponseCacheSize", 400)?;
        self.large_request_max_bytes = p.int("zookeeper.largeRequestMaxBytes", 100 * 1024 * 1024)?;
        self.large_request_threshold = p.int("zookeeper.largeRequestThreshold", -1)?;
        self.throttled_op_wait_time_ms = p.int("zookeeper.throttled_op_wait_time", 0)?;
        self.request_throttle_max_requests = p.int("zookeeper.request_throttle_max_requests", 0)?;
        self.request_throttle_stall_time_ms = p.int("zookeeper.request_throttle_stall_time", 100)?;
        self.request_throttle_drop_stale = p.boolean("zookeeper.request_throttle_drop_stale", true);
        self.request_throttler_shutdown_timeout_ms = p.int("zookeeper.request_throttler.shutdownTimeout", 10000)?;
        self.request_stale_connection_check = p.boolean("zookeeper.request_stale_connection_check", true);
        self.request_stale_latency_check = p.boolean("zookeeper.request_stale_latency_check", false);

        self.connection_throttle_tokens = p.int("zookeeper.connection_throttle_tokens", 0)?;
        self.connection_throttle_fill_time_ms = p.int("zookeeper.connection_throttle_fill_time", 1)?;
        self.connection_throttle_fill_count = p.int("zookeeper.connection_throttle_fill_count", 1)?;
        self.connection_throttle_freeze_time_ms = p.int("zookeeper.connection_throttle_freeze_time", -1)?;
        self.connection_throttle_drop_increase = p.double("zookeeper.connection_throttle_drop_increase", 0.02)?;
        self.connection_throttle_drop_decrease = p.double("zookeeper.connection_throttle_drop_decrease", 0.002)?;
        self.connection_throttle_decrease_ratio = p.double("zookeeper.connection_throttle_decrease_ratio", 0.0)?;
        self.connection_throttle_weight_enabled = p.boolean("zookeeper.connection_throttle_weight_enabled", false);
        self.connection_throttle_global_session_weight =
            p.int("zookeeper.connection_throttle_global_session_weight", 3)?;
        self.connection_throttle_local_session_weight =
            p.int("zookeeper.connection_throttle_local_session_weight", 1)?;
        self.connection_throttle_renew_session_weight =
            p.int("zookeeper.connection_throttle_renew_session_weight", 2)?;

        self.four_letter_word_whitelist = p.string("zookeeper.4lw.commands.whitelist");
        self.read_only_mode_enabled = p.boolean("readonlymode.enabled", false);
        self.enabled_four_letter_words =
            enabled_four_letter_words(self.four_letter_word_whitelist.as_deref(), self.read_only_mode_enabled);
        self.jute_max_buffer = p.int("jute.maxbuffer", 0xfffff)?;
        if self.jute_max_buffer < 0 {
            return Err(self.bad_property("jute.maxbuffer", "must not be negative"));
        }
        self.jute_max_buffer_extra_size = p.int("zookeeper.jute.maxbuffer.extrasize", self.jute_max_buffer)?;
        self.skip_acl = p.equals("zookeeper.skipACL", "yes") == Some(true);
        self.enable_eager_acl_check = p.boolean("zookeeper.enableEagerACLCheck", false);
        self.enforce_quota = p.boolean("zookeeper.enforceQuota", false);
        self.digest_enabled = p.boolean("zookeeper.digest.enabled", true);
        self.close_session_txn_enabled = p.boolean("zookeeper.closeSessionTxn.enabled", true);
        self.extended_types_enabled = p.boolean("zookeeper.extendedTypesEnabled", false);
        self.emulate_353_ttl_nodes = p.boolean("zookeeper.emulate353TTLNodes", false);
        self.super_digest = p.string("zookeeper.DigestAuthenticationProvider.superDigest");
        self.digest_auth_enabled = p.boolean("zookeeper.DigestAuthenticationProvider.enabled", true);
        if let Some((k, v)) = store.lookup("zookeeper.DigestAuthenticationProvider.digestAlg") {
            if !v.eq_ignore_ascii_case("SHA1") && !v.eq_ignore_ascii_case("SHA-1") {
                return Err(ConfigError::bad_value(k, v, "is not supported (only SHA1)"));
            }
        }
        self.resolve_security_properties(&store)?;

        self.admin_enable_server = p.equals("zookeeper.admin.enableServer", "false") != Some(true);
        self.admin_server_address = p.string_or("zookeeper.admin.serverAddress", "0.0.0.0");
        self.admin_server_port = p.int("zookeeper.admin.serverPort", 8080)?;
        self.admin_idle_timeout_ms = p.int("zookeeper.admin.idleTimeout", 30000)?;
        self.admin_command_url = p.string_or("zookeeper.admin.commandURL", "/commands");

        self.container_check_interval_ms = p.int("znode.container.checkIntervalMs", 60000)?;
        if self.container_check_interval_ms <= 0 {
            return Err(self.bad_property("znode.container.checkIntervalMs", "must be positive"));
        }
        self.container_max_per_minute = p.int("znode.container.maxPerMinute", 10000)?;
        self.container_max_never_used_interval_ms = p.long("znode.container.maxNeverUsedIntervalMs", 0)?;

        self.cnx_timeout_ms = match store.lookup("zookeeper.cnxTimeout") {
            None => 5000,
            Some((k, v)) => parse_number(k, v)?,
        };
        self.tcp_keep_alive = p.boolean("zookeeper.tcpKeepAlive", false);
        self.election_port_bind_retry = p.int("zookeeper.electionPortBindRetry", 3)?;
        self.fast_leader_min_notification_interval_ms = p.int("zookeeper.fastleader.minNotificationInterval", 200)?;
        self.fast_leader_max_notification_interval_ms = p.int("zookeeper.fastleader.maxNotificationInterval", 60000)?;
        self.leader_connect_delay_during_retry_ms = p.int("zookeeper.leaderConnectDelayDuringRetryMs", 100)?;
        self.leader_serves = p.equals("zookeeper.leaderServes", "no") != Some(true);
        if store.lookup("zookeeper.observer.syncEnabled").is_some() {
            self.sync_enabled = p.boolean("zookeeper.observer.syncEnabled", true);
        }
        self.commit_processor_num_worker_threads = p.int("zookeeper.commitProcessor.numWorkerThreads", cpus)?;
        self.commit_processor_shutdown_timeout_ms = p.long("zookeeper.commitProcessor.shutdownTimeout", 5000)?;
        self.commit_processor_max_read_batch_size = p.int("zookeeper.commitProcessor.maxReadBatchSize", -1)?;
        self.commit_processor_max_commit_batch_size = p.int("zookeeper.commitProcessor.maxCommitBatchSize", 1)?;
        self.leader_max_concurrent_snap_syncs = p.int("zookeeper.leader.maxConcurrentSnapSyncs", 10)?;
        self.leader_max_concurrent_diff_syncs = p.int("zookeeper.leader.maxConcurrentDiffSyncs", 100)?;
        Ok(())
    }

    /// The authentication settings (ProviderRegistry, AuthenticationHelper)
    /// and the refusal of every security property of a feature zkserver
    /// lacks.
    fn resolve_security_properties(&mut self, store: &PropertyStore) -> Result<(), ConfigError> {
        for (k, v) in store.all_pairs() {
            if let Some((why, only_true)) = unsupported_security_property(k) {
                if !only_true || v.eq_ignore_ascii_case("true") {
                    return Err(ConfigError::bad_value(k, v, &format!("is not supported: {why}")));
                }
            }
            if is_auth_provider_property(k) {
                match v {
                    crate::server::auth::IP_PROVIDER_CLASS => {}
                    crate::server::auth::DIGEST_PROVIDER_CLASS => self.digest_auth_enabled = true,
                    _ => {
                        return Err(ConfigError::bad_value(
                            k,
                            v,
                            "is not supported: zkserver's authentication providers are ip and digest",
                        ))
                    }
                }
            }
        }
        let p = Props { store };
        self.enforce_auth_enabled = p.boolean("zookeeper.enforce.auth.enabled", false);
        self.enforce_auth_schemes = p
            .string("zookeeper.enforce.auth.schemes")
            .map(|s| s.split(',').map(|scheme| scheme.trim().to_string()).collect())
            .unwrap_or_default();
        info!(
            "zookeeper.enforce.auth.enabled = {}, zookeeper.enforce.auth.schemes = {:?}",
            self.enforce_auth_enabled, self.enforce_auth_schemes
        );
        if self.enforce_auth_enabled {
            if self.enforce_auth_schemes.is_empty() {
                return Err(self.bad_property(
                    "zookeeper.enforce.auth.enabled",
                    "needs zookeeper.enforce.auth.schemes to be configured",
                ));
            }
            let providers = crate::server::auth::ProviderRegistry::new(self.digest_auth_enabled);
            if let Some(missing) = self.enforce_auth_schemes.iter().find(|s| !providers.is_registered(s)) {
                return Err(self.bad_property(
                    "zookeeper.enforce.auth.schemes",
                    &format!("names authentication scheme {missing:?}, which is not available"),
                ));
            }
        }
        Ok(())
    }

    /// A refused system property, named as the user wrote it.
    fn bad_property(&self, name: &str, reason: &str) -> ConfigError {
        match self.properties.lookup(name) {
            Some((k, v)) => ConfigError::bad_value(k, v, reason),
            None => ConfigError::Invalid(format!("{name}: {reason}")),
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

    /// `<zoo.cfg>.dynamic.next`, when present: the last proposed membership.
    fn read_next_dynamic_file(&self) -> Result<Option<QuorumSpec>, ConfigError> {
        let mut name = self.config_file.clone().into_os_string();
        name.push(NEXT_DYNAMIC_CONFIG_FILE_SUFFIX);
        let next = PathBuf::from(name);
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
        let Some(id) = self.server_id else { return Ok(()) };
        let static_addr = self.client_port_address;
        let Some(qs) = self.quorum_verifier.servers.get_mut(&id) else { return Ok(()) };
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

    /// True when this is a standalone server (ZooKeeperServerMain): no
    /// ensemble of two or more participants, and `standaloneEnabled` is true.
    pub fn is_standalone(&self) -> bool {
        !self.is_distributed()
    }

    /// Looks up any system property (prefixed/unprefixed/zoo.cfg forms) — for code that needs a rarely used key.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.lookup(name).map(|(_, v)| v)
    }

    /// FourLetterCommands.isEnabled: `srvr` always; `isro` when
    /// readonlymode.enabled; then the comma-separated whitelist, where `*`
    /// means every known command.
    pub fn is_four_letter_word_enabled(&self, cmd: &str) -> bool {
        self.enabled_four_letter_words.contains(cmd)
    }

    /// This server's own `server.N` entry, in quorum mode.
    pub fn my_quorum_server(&self) -> Option<&QuorumServer> {
        self.server_id.and_then(|id| self.quorum_verifier.servers.get(&id))
    }

    /// The `conf` four letter word's output, in the order and format of
    /// Java's dumpConf (ZooKeeperServer, then QuorumZooKeeperServer or
    /// ReadOnlyZooKeeperServer). Directory sizes are read from disk now.
    pub fn dump_conf(&self, view: ConfView<'_>) -> String {
        let snap_dir = self.data_dir.join("version-2");
        let log_dir = self.data_log_dir.join("version-2");
        let (client_port, max_cnxns) = match self.client_port_address {
            Some(a) => (i32::from(a.port()), self.max_client_cnxns),
            None => (-1, -1),
        };
        let server_id = match view {
            ConfView::Quorum(_) => self.server_id.unwrap_or(-1),
            ConfView::Standalone | ConfView::ReadOnly => 0,
        };
        let mut out = String::new();
        let mut line = |k: &str, v: &dyn fmt::Display| out.push_str(&format!("{k}={v}\n"));
        line("clientPort", &client_port);
        line("secureClientPort", &-1);
        line("dataDir", &snap_dir.display());
        // Java reports the txn log directory's size as dataDirSize and the
        // snapshot directory's as dataLogSize; we keep its output.
        line("dataDirSize", &dir_size(&log_dir));
        line("dataLogDir", &log_dir.display());
        line("dataLogSize", &dir_size(&snap_dir));
        line("tickTime", &self.tick_time);
        line("maxClientCnxns", &max_cnxns);
        line("minSessionTimeout", &self.min_session_timeout);
        line("maxSessionTimeout", &self.max_session_timeout);
        line("clientPortListenBacklog", &self.client_port_listen_backlog);
        line("serverId", &server_id);
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
        info!(
            "NIO: {} selector thread(s), {} worker thread(s), {}s sessionless connection timeout, maxCnxns={}",
            self.nio_num_selector_threads,
            self.nio_num_worker_threads,
            self.nio_sessionless_cnxn_timeout_ms / 1000,
            self.max_cnxns
        );
        info!(
            "snapCount={} snapSizeLimitInKb={} preAllocSize={}KB forceSync={} globalOutstandingLimit={}",
            self.snap_count,
            self.snap_size_limit_bytes / 1024,
            self.pre_alloc_size_bytes / 1024,
            if self.force_sync { "yes" } else { "no" },
            self.global_outstanding_limit
        );
        info!(
            "jute.maxbuffer={} request_throttle_max_requests={} skipACL={} digest.enabled={} closeSessionTxn.enabled={}",
            self.jute_max_buffer,
            self.request_throttle_max_requests,
            if self.skip_acl { "yes" } else { "no" },
            self.digest_enabled,
            self.close_session_txn_enabled
        );
        info!(
            "enabled four letter word commands: {}",
            self.enabled_four_letter_words.iter().cloned().collect::<Vec<_>>().join(", ")
        );
        info!(
            "admin.enableServer={} (admin.serverAddress={} admin.serverPort={})",
            self.admin_enable_server, self.admin_server_address, self.admin_server_port
        );
    }

    /// Reports properties that nothing reads: Java ones we do not act on at
    /// info, anything else at warn.
    fn log_unknown_properties(&self) {
        for (key, from_command_line) in self.properties.all_keys() {
            let shown = if from_command_line { format!("-D {key}") } else { key.to_string() };
            if RESOLVED_PROPERTIES.contains(&normalize(key))
                || unsupported_security_property(key).is_some()
                || is_auth_provider_property(key)
            {
                continue;
            }
            if crate::common::logging::KEYS.contains(&key) {
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

fn enabled_four_letter_words(whitelist: Option<&str>, read_only: bool) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    for cmd in whitelist.unwrap_or("").split(',').map(str::trim) {
        if cmd == "*" {
            set.extend(FOUR_LETTER_WORDS.iter().map(|c| c.to_string()));
            break;
        }
        if !cmd.is_empty() {
            set.insert(cmd.to_string());
        }
    }
    if read_only {
        set.insert("isro".to_string());
    }
    set.insert("srvr".to_string());
    set
}

/// Total size of the files under a path (0 when it does not exist).
/// Symbolic links are not followed into directories.
fn dir_size(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else { return 0 };
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
