//! ZooKeeperServerMain: runs a standalone server from a parsed config on the
//! `main` thread: starts the PurgeTask, opens the data directory, loads the
//! database, starts the server, the client port and the ContainerManager,
//! then waits for SIGINT/SIGTERM and shuts everything down in reverse order.

use crate::jute::JuteSettings;
use crate::quorum::commit_processor::CommitProcessorSettings;
use crate::quorum::fast_leader_election::FastLeaderElectionSettings;
use crate::quorum::leader::LeaderSettings;
use crate::quorum::learner::LearnerSettings;
use crate::quorum::quorum_cnx_manager::QuorumCnxManagerSettings;
use crate::quorum::quorum_peer_config::{ConfigError, QuorumPeerConfig};
use crate::server::command::FourLetterWordSettings;
use crate::server::auth::AuthSettings;
use crate::server::blue_throttle::BlueThrottleSettings;
use crate::server::container_manager::{ContainerManager, ContainerSettings};
use crate::server::datadir_cleanup_manager::DatadirCleanupManager;
use crate::server::nio_server_cnxn_factory::{NioServerCnxnFactory, NioSettings};
use crate::server::persistence::file_txn_snap_log::FileTxnSnapLog;
use crate::server::request_throttler::RequestThrottlerSettings;
use crate::server::zk_database::{TxnLogSettings, ZkDatabase, ZkDatabaseSettings};
use crate::server::zoo_keeper_server::{ZooKeeperServer, ZooKeeperServerSettings};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// The server settings a config and the components' settings give (server
/// id 0: standalone).
pub fn settings_from(config: &QuorumPeerConfig, server_settings: &ServerSettings) -> ZooKeeperServerSettings {
    ZooKeeperServerSettings {
        server_id: 0,
        tick_time: config.tick_time,
        min_session_timeout: config.min_session_timeout,
        max_session_timeout: config.max_session_timeout,
        global_outstanding_limit: config.global_outstanding_limit,
        skip_acl: config.skip_acl,
        enable_eager_acl_check: config.enable_eager_acl_check,
        enforce_quota: config.enforce_quota,
        auth: server_settings.auth.clone(),
        close_session_txn_enabled: config.close_session_txn_enabled,
        extended_types_enabled: config.extended_types_enabled,
        max_batch_size: config.max_batch_size.max(1) as usize,
        request_throttler: server_settings.request_throttler.clone(),
        txn_log: server_settings.txn_log,
        snap_count: config.snap_count.max(2),
        snap_size_limit_bytes: config.snap_size_limit_bytes,
        conn_throttle: server_settings.conn_throttle.clone(),
        commit_processor: server_settings.commit_processor.clone(),
        four_letter_words: server_settings.four_letter_words.clone(),
        config: Arc::new(config.clone()),
    }
}

/// Every component's settings, each read by its component from the system
/// properties (and the zoo.cfg values it is given), all at start-up so that
/// a bad value refuses start-up before anything runs.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub nio: NioSettings,
    pub container: ContainerSettings,
    pub conn_throttle: BlueThrottleSettings,
    pub request_throttler: RequestThrottlerSettings,
    pub txn_log: TxnLogSettings,
    pub zk_database: ZkDatabaseSettings,
    pub commit_processor: CommitProcessorSettings,
    pub quorum_cnx: QuorumCnxManagerSettings,
    pub election: FastLeaderElectionSettings,
    pub learner: LearnerSettings,
    pub leader: LeaderSettings,
    pub four_letter_words: FourLetterWordSettings,
    pub jute: JuteSettings,
    pub auth: AuthSettings,
}

impl ServerSettings {
    pub fn read(config: &QuorumPeerConfig) -> Result<ServerSettings, ConfigError> {
        let props = config.properties();
        Ok(ServerSettings {
            nio: NioSettings::read(props, config.max_client_cnxns, config.client_port_listen_backlog)?,
            container: ContainerSettings::read(props)?,
            conn_throttle: BlueThrottleSettings::read(props)?,
            request_throttler: RequestThrottlerSettings::read(props)?,
            txn_log: TxnLogSettings::read(props)?,
            zk_database: ZkDatabaseSettings::read(props)?,
            commit_processor: CommitProcessorSettings::read(props)?,
            quorum_cnx: QuorumCnxManagerSettings::read(props)?,
            election: FastLeaderElectionSettings::read(props)?,
            learner: LearnerSettings::read(props)?,
            leader: LeaderSettings::read(props)?,
            four_letter_words: FourLetterWordSettings::read(props),
            jute: JuteSettings::read(props)?,
            auth: AuthSettings::read(props)?,
        })
    }

    /// Logs the settings, after QuorumPeerConfig::log_config's lines.
    pub fn log(&self, config: &QuorumPeerConfig) {
        tracing::info!(
            "NIO: {} selector thread(s), {} worker thread(s), {}s sessionless connection timeout, maxCnxns={}",
            self.nio.num_selector_threads,
            self.nio.num_worker_threads,
            self.nio.sessionless_cnxn_timeout_ms / 1000,
            self.nio.max_cnxns
        );
        tracing::info!(
            "snapCount={} snapSizeLimitInKb={} preAllocSize={}KB forceSync={} globalOutstandingLimit={}",
            config.snap_count,
            config.snap_size_limit_bytes / 1024,
            self.txn_log.pre_alloc_size / 1024,
            if self.txn_log.force_sync { "yes" } else { "no" },
            config.global_outstanding_limit
        );
        tracing::info!(
            "jute.maxbuffer={} request_throttle_max_requests={} skipACL={} digest.enabled={} closeSessionTxn.enabled={}",
            self.jute.max_buffer,
            self.request_throttler.max_requests,
            if config.skip_acl { "yes" } else { "no" },
            config.digest_enabled,
            config.close_session_txn_enabled
        );
        tracing::info!(
            "enabled four letter word commands: {}",
            self.four_letter_words.enabled().collect::<Vec<_>>().join(", ")
        );
    }
}

/// Why the standalone server could not start or stopped on an error, sorted
/// as Java's ZooKeeperServerMain sorts its exit codes.
#[derive(Debug)]
pub enum RunError {
    /// The data directories are unusable: they cannot be created or written,
    /// or one holds the other's files (Java's DatadirException).
    Datadir(String),
    /// Any other failure.
    Other(String),
}

impl From<String> for RunError {
    fn from(msg: String) -> RunError {
        RunError::Other(msg)
    }
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Datadir(msg) | RunError::Other(msg) => f.write_str(msg),
        }
    }
}

/// The pieces of a running standalone server, for tests and `run`.
pub struct StandaloneServer {
    pub zks: Arc<ZooKeeperServer>,
    pub cnxn_factory: Arc<NioServerCnxnFactory>,
    pub purge: DatadirCleanupManager,
    pub container_manager: ContainerManager,
}

impl StandaloneServer {
    /// runFromConfig up to the point where clients are served.
    pub fn start(config: &QuorumPeerConfig, server_settings: &ServerSettings) -> Result<StandaloneServer, RunError> {
        let client_addr: SocketAddr = config
            .client_port_address
            .ok_or_else(|| "clientPort is not set: a standalone server needs one".to_string())?;
        let purge = DatadirCleanupManager::start(
            &config.data_log_dir,
            &config.data_dir,
            config.snap_retain_count,
            config.purge_interval,
        )
        .map_err(|e| format!("cannot start the purge task: {e}"))?;
        let snap_log = FileTxnSnapLog::new(&config.data_log_dir, &config.data_dir)
            .map_err(|e| RunError::Datadir(format!("cannot open the data directory: {e}")))?;
        let settings = settings_from(config, server_settings);
        let zk_db = Arc::new(ZkDatabase::new(snap_log, settings.extended_types_enabled, config.digest_enabled));
        let started = std::time::Instant::now();
        let (sessions, zxid) =
            zk_db.load_database(settings.txn_log).map_err(|e| format!("cannot load the database: {e}"))?;
        tracing::info!(
            "loaded the database in {} ms: last zxid 0x{:x}, {} session(s)",
            started.elapsed().as_millis(),
            zxid,
            sessions.len()
        );
        // As Java's loadData: drop dead sessions' ephemerals, then take a
        // clean snapshot before serving.
        zk_db.kill_dead_sessions(&sessions);
        zk_db.take_snapshot(false).map_err(|e| format!("cannot write the start-up snapshot: {e}"))?;
        let zks = ZooKeeperServer::new(settings, zk_db, sessions);
        zks.startup().map_err(|e| format!("cannot start the server: {e}"))?;
        let cnxn_factory = NioServerCnxnFactory::start(client_addr, server_settings.nio.clone(), Arc::clone(&zks))
            .map_err(|e| format!("cannot bind the client port {client_addr}: {e}"))?;
        let prep = zks.prep_processor().ok_or_else(|| RunError::Other("the request processors did not start".into()))?;
        let container_manager = ContainerManager::start(Arc::clone(zks.zk_db()), prep, server_settings.container)
            .map_err(|e| format!("cannot start the container manager: {e}"))?;
        Ok(StandaloneServer { zks, cnxn_factory, purge, container_manager })
    }

    pub fn shutdown(&self) {
        self.container_manager.stop();
        self.cnxn_factory.shutdown();
        self.zks.shutdown();
        self.purge.shutdown();
    }
}

/// Runs the standalone server until SIGINT or SIGTERM.
pub fn run(config: QuorumPeerConfig, settings: ServerSettings) -> Result<(), RunError> {
    // SAFETY: installs a handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    let server = StandaloneServer::start(&config, &settings)?;
    tracing::info!("serving clients on {}", server.cnxn_factory.local_address());
    while !STOP.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
    tracing::info!("shutting down");
    server.shutdown();
    Ok(())
}
