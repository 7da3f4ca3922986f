//! ZooKeeperServerMain: runs a standalone server from a parsed config on the
//! `main` thread: starts the PurgeTask, opens the data directory, loads the
//! database, starts the server, the client port and the ContainerManager,
//! then waits for SIGINT/SIGTERM and shuts everything down in reverse order.

use crate::quorum::quorum_peer_config::QuorumPeerConfig;
use crate::server::command::ALL_COMMANDS;
use crate::server::container_manager::{ContainerManager, ContainerSettings};
use crate::server::datadir_cleanup_manager::DatadirCleanupManager;
use crate::server::nio_server_cnxn_factory::{NioServerCnxnFactory, NioSettings};
use crate::server::server_cnxn_factory::ServerCnxnFactory;
use crate::server::persistence::file_txn_snap_log::FileTxnSnapLog;
use crate::server::zk_database::{TxnLogSettings, ZkDatabase};
use crate::server::zoo_keeper_server::{ZooKeeperServer, ZooKeeperServerSettings};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// The four-letter words enabled by the whitelist (FourLetterCommands.isEnabled).
fn enabled_words(config: &QuorumPeerConfig) -> HashSet<String> {
    ALL_COMMANDS.iter().filter(|c| config.is_four_letter_word_enabled(c)).map(|c| c.to_string()).collect()
}

/// The server settings a config gives (server id 0: standalone).
pub fn settings_from(config: &QuorumPeerConfig) -> ZooKeeperServerSettings {
    ZooKeeperServerSettings {
        server_id: 0,
        tick_time: config.tick_time,
        min_session_timeout: config.min_session_timeout,
        max_session_timeout: config.max_session_timeout,
        global_outstanding_limit: config.global_outstanding_limit,
        skip_acl: config.skip_acl,
        enable_eager_acl_check: config.enable_eager_acl_check,
        enforce_quota: config.enforce_quota,
        super_digest: config.super_digest.clone(),
        auth_providers: crate::server::auth::ProviderRegistry::new(config.digest_auth_enabled),
        enforce_auth_schemes: config.enforce_auth_enabled.then(|| config.enforce_auth_schemes.clone()),
        close_session_txn_enabled: config.close_session_txn_enabled,
        extended_types_enabled: config.extended_types_enabled,
        max_batch_size: config.max_batch_size.max(1) as usize,
        request_throttle_max_requests: config.request_throttle_max_requests,
        request_throttle_stall_time_ms: config.request_throttle_stall_time_ms.max(0) as u64,
        request_throttle_drop_stale: config.request_throttle_drop_stale,
        txn_log: TxnLogSettings {
            pre_alloc_size: config.pre_alloc_size_bytes.max(0) as u64,
            force_sync: config.force_sync,
            fsync_warning_threshold_ms: config.fsync_warning_threshold_ms.max(0) as u64,
            snapshot_trust_empty: config.snapshot_trust_empty,
        },
        snap_count: config.snap_count.max(2),
        snap_size_limit_bytes: config.snap_size_limit_bytes,
        four_letter_words: enabled_words(config),
        config: Arc::new(config.clone()),
    }
}

/// The client port's settings a config gives.
pub fn nio_settings_from(config: &QuorumPeerConfig) -> NioSettings {
    NioSettings {
        num_selector_threads: config.nio_num_selector_threads.max(1) as usize,
        num_worker_threads: config.nio_num_worker_threads.max(1) as usize,
        max_client_cnxns: config.max_client_cnxns,
        max_cnxns: config.max_cnxns,
        sessionless_cnxn_timeout_ms: config.nio_sessionless_cnxn_timeout_ms,
        listen_backlog: config.client_port_listen_backlog,
        direct_buffer_bytes: config.nio_direct_buffer_bytes.max(0) as usize,
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
    pub cnxn_factory: Arc<dyn ServerCnxnFactory>,
    pub purge: DatadirCleanupManager,
    pub container_manager: ContainerManager,
}

impl StandaloneServer {
    /// runFromConfig up to the point where clients are served.
    pub fn start(config: &QuorumPeerConfig) -> Result<StandaloneServer, RunError> {
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
        let settings = settings_from(config);
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
        let cnxn_factory: Arc<dyn ServerCnxnFactory> =
            NioServerCnxnFactory::start(client_addr, nio_settings_from(config), Arc::clone(&zks))
                .map_err(|e| format!("cannot bind the client port {client_addr}: {e}"))?;
        let prep = zks.prep_processor().ok_or_else(|| RunError::Other("the request processors did not start".into()))?;
        let container_settings = ContainerSettings {
            check_interval_ms: config.container_check_interval_ms.max(1) as u64,
            max_per_minute: config.container_max_per_minute,
            max_never_used_interval_ms: config.container_max_never_used_interval_ms,
        };
        let container_manager = ContainerManager::start(Arc::clone(zks.zk_db()), prep, container_settings)
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
pub fn run(config: QuorumPeerConfig) -> Result<(), RunError> {
    // SAFETY: installs a handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    let server = StandaloneServer::start(&config)?;
    tracing::info!("serving clients on {}", server.cnxn_factory.local_address());
    while !STOP.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
    tracing::info!("shutting down");
    server.shutdown();
    Ok(())
}
