//! ZooKeeperServerMain: runs a standalone server from a parsed config on the
//! `main` thread: starts the PurgeTask, opens the data directory, loads the
//! database, starts the server, the client port and the ContainerManager,
//! then waits for SIGINT/SIGTERM and shuts everything down in reverse order.

use crate::jute::JuteSettings;
use crate::quorum::fast_leader_election::FastLeaderElectionSettings;
use crate::quorum::leader::LeaderSettings;
use crate::quorum::learner::LearnerSettings;
use crate::quorum::quorum_cnx_manager::QuorumCnxManagerSettings;
use crate::quorum::quorum_peer_config::{ConfigError, QuorumPeerConfig};
use crate::quorum::read_only_zoo_keeper_server::ReadOnlyModeSettings;
use crate::server::container_manager::{ContainerManager, ContainerSettings};
use crate::server::datadir_cleanup_manager::DatadirCleanupManager;
use crate::server::jetty_admin_server::{self, AdminServerSettings, JettyAdminServer};
use crate::server::nio_server_cnxn_factory::{NioServerCnxnFactory, NioSettings};
use crate::server::server_cnxn_factory::ServerCnxnFactory;
use crate::server::persistence::file_txn_snap_log::FileTxnSnapLog;
use crate::server::zk_database::{ZkDatabase, ZkDatabaseSettings};
use crate::server::zoo_keeper_server::{ZooKeeperServer, ZooKeeperServerSettings};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Every component's settings, each read by its component from the system
/// properties (and the zoo.cfg values it is given), all at start-up so that
/// a bad value refuses start-up before anything runs.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub nio: NioSettings,
    /// The ZooKeeperServer's, with those of the parts it creates.
    pub zks: ZooKeeperServerSettings,
    pub zk_database: ZkDatabaseSettings,
    pub container: ContainerSettings,
    pub jute: JuteSettings,
    pub admin: AdminServerSettings,
    pub quorum_cnx: QuorumCnxManagerSettings,
    pub election: FastLeaderElectionSettings,
    pub learner: LearnerSettings,
    pub leader: LeaderSettings,
    /// readonlymode.enabled (a participant's read-only server).
    pub read_only: ReadOnlyModeSettings,
    /// The metricsProvider.* keys.
    pub metrics: crate::server::metrics::prometheus::MetricsProviderSettings,
}

impl ServerSettings {
    pub fn read(config: &QuorumPeerConfig) -> Result<ServerSettings, ConfigError> {
        let props = config.properties();
        Ok(ServerSettings {
            nio: NioSettings::read(props, config.max_client_cnxns, config.client_port_listen_backlog)?,
            zks: ZooKeeperServerSettings::read(config)?,
            zk_database: ZkDatabaseSettings::read(props)?,
            container: ContainerSettings::read(props)?,
            jute: JuteSettings::read(props)?,
            admin: AdminServerSettings::read(props)?,
            quorum_cnx: QuorumCnxManagerSettings::read(props)?,
            election: FastLeaderElectionSettings::read(props)?,
            learner: LearnerSettings::read(props)?,
            leader: LeaderSettings::read(props)?,
            read_only: ReadOnlyModeSettings::read(props),
            metrics: crate::server::metrics::prometheus::MetricsProviderSettings::read(props)?,
        })
    }

    /// Logs the settings, after QuorumPeerConfig::log_config's lines.
    pub fn log(&self) {
        for (k, v) in crate::environment::list() {
            tracing::info!("Server environment:{k}={v}");
        }
        let zks = &self.zks;
        tracing::info!(
            "NIO: {} selector thread(s), {} worker thread(s), {}s sessionless connection timeout, maxCnxns={}",
            self.nio.num_selector_threads,
            self.nio.num_worker_threads,
            self.nio.sessionless_cnxn_timeout_ms / 1000,
            self.nio.max_cnxns
        );
        tracing::info!(
            "snapCount={} snapSizeLimitInKb={} preAllocSize={}KB forceSync={} globalOutstandingLimit={}",
            zks.snap_count,
            zks.snap_size_limit_bytes / 1024,
            zks.txn_log.pre_alloc_size / 1024,
            if zks.txn_log.force_sync { "yes" } else { "no" },
            zks.global_outstanding_limit
        );
        tracing::info!(
            "jute.maxbuffer={} request_throttle_max_requests={} skipACL={} digest.enabled={} closeSessionTxn.enabled={}",
            self.jute.max_buffer,
            zks.request_throttler.max_requests,
            if zks.skip_acl { "yes" } else { "no" },
            zks.digest_enabled,
            zks.close_session_txn_enabled
        );
        tracing::info!(
            "enabled four letter word commands: {}",
            zks.four_letter_words.enabled().collect::<Vec<_>>().join(", ")
        );
        tracing::info!(
            "admin.enableServer={} (admin.serverAddress={} admin.serverPort={})",
            self.admin.enable_server, self.admin.server_address, self.admin.server_port
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
    /// The AdminServer could not start (Java's AdminServerException).
    AdminServer(String),
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
            RunError::Datadir(msg) | RunError::AdminServer(msg) | RunError::Other(msg) => f.write_str(msg),
        }
    }
}

/// The pieces of a running standalone server, for tests and `run`.
pub struct StandaloneServer {
    pub zks: Arc<ZooKeeperServer>,
    pub cnxn_factory: Arc<dyn ServerCnxnFactory>,
    pub purge: DatadirCleanupManager,
    pub container_manager: ContainerManager,
    /// None when admin.enableServer=false.
    pub admin_server: Option<Arc<JettyAdminServer>>,
    /// The start-up snapshot's SnapshotThread while it may still run (see
    /// `start`); shutdown waits for it.
    startup_snapshot: parking_lot::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl StandaloneServer {
    /// runFromConfig up to the point where clients are served.
    pub fn start(config: &QuorumPeerConfig, server_settings: &ServerSettings) -> Result<StandaloneServer, RunError> {
        if config.client_port_address.is_none() && config.secure_client_port_address.is_none() {
            return Err("neither clientPort nor secureClientPort is set: a standalone server needs one".to_string().into());
        }
        let purge = DatadirCleanupManager::start(
            &config.data_log_dir,
            &config.data_dir,
            config.snap_retain_count,
            config.purge_interval,
        )
        .map_err(|e| format!("cannot start the purge task: {e}"))?;
        let snap_log = FileTxnSnapLog::new(&config.data_log_dir, &config.data_dir)
            .map_err(|e| RunError::Datadir(format!("cannot open the data directory: {e}")))?;
        let settings = server_settings.zks.clone();
        let zk_db = Arc::new(ZkDatabase::new(
            snap_log,
            settings.ephemeral_types.extended_types_enabled,
            settings.digest_enabled,
        ));
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
        // clean snapshot. Java writes it before serving, which at 10M
        // znodes is half of a restart. It is needed before serving only
        // when dead sessions' ephemerals went: that removal is in no log,
        // and a write replayed over the old snapshot could meet a node that
        // should be gone. Otherwise the tree is the newest snapshot plus
        // the logs, which a crash before the new snapshot would replay
        // again, so it is written on a SnapshotThread once clients are
        // served.
        let killed = zk_db.kill_dead_sessions(&sessions);
        if killed {
            zk_db.take_snapshot(false).map_err(|e| format!("cannot write the start-up snapshot: {e}"))?;
        }
        let zks = ZooKeeperServer::new(settings, zk_db, sessions);
        // As ZooKeeperServerMain: the AdminServer starts before the client
        // port, and a failure to start it ends start-up.
        let admin_server =
            jetty_admin_server::create(&server_settings.admin, config.properties().clone()).map_err(RunError::AdminServer)?;
        if let Some(a) = &admin_server {
            a.set_zoo_keeper_server(Some(Arc::clone(&zks)));
        }
        zks.startup().map_err(|e| format!("cannot start the server: {e}"))?;
        let cnxn_factory: Arc<dyn ServerCnxnFactory> = NioServerCnxnFactory::start(
            config.client_port_address,
            config.secure_client_port_address,
            server_settings.nio.clone(),
            Arc::clone(&zks),
        )
        .map_err(|e| format!("cannot open the client port: {e}"))?;
        let prep = zks.prep_processor().ok_or_else(|| RunError::Other("the request processors did not start".into()))?;
        let container_manager = ContainerManager::start(Arc::clone(zks.zk_db()), prep, server_settings.container)
            .map_err(|e| format!("cannot start the container manager: {e}"))?;
        let startup_snapshot = if killed {
            None
        } else {
            Some(
                crate::server::sync_request_processor::snapshot_in_background(&zks, || {})
                    .map_err(|e| format!("cannot start the start-up snapshot: {e}"))?,
            )
        };
        Ok(StandaloneServer {
            zks,
            cnxn_factory,
            purge,
            container_manager,
            admin_server,
            startup_snapshot: parking_lot::Mutex::new(startup_snapshot),
        })
    }

    pub fn shutdown(&self) {
        self.container_manager.stop();
        self.cnxn_factory.shutdown();
        if let Some(h) = self.startup_snapshot.lock().take() {
            let _ = h.join();
        }
        self.zks.shutdown();
        self.purge.shutdown();
        if let Some(a) = &self.admin_server {
            a.shutdown();
        }
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
    let provider = match start_metrics_provider(&settings, &server.cnxn_factory) {
        Ok(p) => p,
        Err(e) => {
            server.shutdown();
            return Err(RunError::Other(e));
        }
    };
    while !STOP.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
    tracing::info!("shutting down");
    if let Some(p) = provider {
        p.stop();
    }
    server.shutdown();
    Ok(())
}

/// Starts the Prometheus provider when zoo.cfg asks for it.
pub fn start_metrics_provider(
    settings: &ServerSettings,
    factory: &Arc<dyn ServerCnxnFactory>,
) -> Result<Option<crate::server::metrics::prometheus::PrometheusMetricsProvider>, String> {
    if !settings.metrics.prometheus {
        return Ok(None);
    }
    crate::server::metrics::prometheus::PrometheusMetricsProvider::start(&settings.metrics, Arc::downgrade(factory)).map(Some)
}
