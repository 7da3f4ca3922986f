//! QuorumPeer: one member of a replicated ensemble. Owns the database, the
//! epoch files (`currentEpoch`, `acceptedEpoch` in dataDir/version-2), the
//! client port, the election (QuorumCnxManager + FastLeaderElection) and
//! the peer state, and runs the `QuorumPeer[myid=N](plain=..)(secure=..)`
//! main-loop thread: LOOKING runs an election; FOLLOWING, LEADING and
//! OBSERVING hand the thread to the role code (`Roles`) until it returns,
//! then the peer is LOOKING again. Between roles the client port serves
//! the peer's idle server, which answers like a Java peer that is not
//! synced: "This ZooKeeper instance is not currently serving requests";
//! with readonlymode.enabled an election that runs past the grace period
//! puts a read-only server there instead (`read_only_zoo_keeper_server`).
//! It also holds the configuration in force and the newest one seen
//! (Java's QV_LOCK), which reconfiguration changes through
//! `set_last_seen_quorum_verifier`, `set_quorum_verifier` and
//! `process_reconfig`, called by the role and election threads.

use crate::common::x509_util::X509Util;
use crate::quorum::auth::quorum_auth::QuorumPeerAuth;
use crate::quorum::unified_server_socket::QuorumSsl;
use crate::quorum::fast_leader_election::FastLeaderElection;
use crate::quorum::leader::Leader;
use crate::quorum::quorum_cnx_manager::{format_inet_addr, CnxSettings, QuorumCnxManager};
use crate::quorum::quorum_verifier::QuorumVerifier;
use crate::quorum::quorum_peer_config::{LearnerType, QuorumPeerConfig};
use crate::quorum::read_only_zoo_keeper_server::ReadOnlyServerManager;
use crate::quorum::vote::{ServerState, Vote};
use crate::server::jetty_admin_server::{self, JettyAdminServer};
use crate::server::nio_server_cnxn_factory::NioServerCnxnFactory;
use crate::server::server_cnxn_factory::ServerCnxnFactory;
use crate::server::persistence::file_txn_snap_log::FileTxnSnapLog;
use crate::server::zk_database::ZkDatabase;
use crate::server::zoo_keeper_server::ZooKeeperServer;
use crate::server::zoo_keeper_server_main::ServerSettings;
use parking_lot::Mutex;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::thread::JoinHandle;
use tracing::{info, warn};

/// The epoch of the last NEWLEADER this peer acknowledged.
pub const CURRENT_EPOCH_FILENAME: &str = "currentEpoch";
/// The epoch this peer last accepted from a prospective leader.
pub const ACCEPTED_EPOCH_FILENAME: &str = "acceptedEpoch";

/// The role code the main loop hands the thread to once an election has
/// decided. Each call returns when the role ends (the leader is lost, a
/// quorum is lost, or shutdown); the peer then looks for a leader again.
pub trait Roles: Send + Sync {
    /// LEADING: run the Leader until it loses its quorum.
    fn lead(&self, peer: &Arc<QuorumPeer>) -> io::Result<()>;
    /// FOLLOWING `leader`: sync with it, then follow.
    fn follow(&self, peer: &Arc<QuorumPeer>, leader: &Vote) -> io::Result<()>;
    /// OBSERVING `leader`.
    fn observe(&self, peer: &Arc<QuorumPeer>, leader: &Vote) -> io::Result<()>;
}

/// QuorumPeer.ZabState: the phase of Zab the peer is in (the admin command
/// zabstate shows it, lower-cased).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ZabState {
    Election = 0,
    Discovery = 1,
    Synchronization = 2,
    Broadcast = 3,
}

impl ZabState {
    pub fn name(self) -> &'static str {
        match self {
            ZabState::Election => "election",
            ZabState::Discovery => "discovery",
            ZabState::Synchronization => "synchronization",
            ZabState::Broadcast => "broadcast",
        }
    }

    fn from_u8(v: u8) -> ZabState {
        match v {
            1 => ZabState::Discovery,
            2 => ZabState::Synchronization,
            3 => ZabState::Broadcast,
            _ => ZabState::Election,
        }
    }
}

/// Why a peer could not start, sorted as QuorumPeerMain sorts exit codes.
#[derive(Debug)]
pub enum StartError {
    /// The data directories are unusable (UNABLE_TO_ACCESS_DATADIR).
    Datadir(String),
    /// The election port cannot be bound (UNABLE_TO_BIND_QUORUM_PORT).
    BindElection(String),
    /// Anything else (UNEXPECTED_ERROR).
    Other(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Datadir(m) | StartError::BindElection(m) | StartError::Other(m) => f.write_str(m),
        }
    }
}

/// Reads an epoch file: `Ok(None)` when it does not exist.
pub fn read_long_from_file(path: &Path) -> io::Result<Option<i64>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let line = text.lines().next().unwrap_or("");
    line.parse::<i64>()
        .map(Some)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("Found {line} in {}", path.display())))
}

/// Writes an epoch file atomically (a temp file synced, then renamed, then
/// the directory synced so the new name survives a crash), as Java's
/// AtomicFileWritingIdiom: the decimal number, no newline.
pub fn write_long_to_file(path: &Path, value: i64) -> io::Result<()> {
    crate::server::persistence::util::write_atomically(path, value.to_string().as_bytes())
}

/// Java's loadDataBase rules for the epoch files in `snap_dir`, given the
/// last zxid in the database: a missing file is created from the zxid's
/// epoch; a currentEpoch older than the zxid's epoch is only fixed by a
/// left-over `currentEpoch.tmp`; acceptedEpoch may not be below
/// currentEpoch. Returns (currentEpoch, acceptedEpoch).
pub fn load_epochs(snap_dir: &Path, last_zxid: i64) -> io::Result<(i64, i64)> {
    let epoch_of_zxid = last_zxid >> 32;
    let current_path = snap_dir.join(CURRENT_EPOCH_FILENAME);
    let mut current = match read_long_from_file(&current_path)? {
        Some(e) => e,
        None => {
            info!("{CURRENT_EPOCH_FILENAME} not found! Creating with a reasonably safe value of {epoch_of_zxid}");
            write_long_to_file(&current_path, epoch_of_zxid)?;
            epoch_of_zxid
        }
    };
    if epoch_of_zxid > current {
        let tmp = snap_dir.join(format!("{CURRENT_EPOCH_FILENAME}.tmp"));
        match read_long_from_file(&tmp)? {
            Some(e) => {
                info!("{} found. Setting current epoch to {e}.", tmp.display());
                write_long_to_file(&current_path, e)?;
                current = e;
            }
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("The current epoch, 0x{current:x}, is older than the last zxid, 0x{last_zxid:x}"),
                ))
            }
        }
    }
    let accepted_path = snap_dir.join(ACCEPTED_EPOCH_FILENAME);
    let accepted = match read_long_from_file(&accepted_path)? {
        Some(e) => e,
        None => {
            info!("{ACCEPTED_EPOCH_FILENAME} not found! Creating with a reasonably safe value of {epoch_of_zxid}");
            write_long_to_file(&accepted_path, epoch_of_zxid)?;
            epoch_of_zxid
        }
    };
    if accepted < current {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("The accepted epoch, 0x{accepted:x} is less than the current epoch, 0x{current:x}"),
        ));
    }
    Ok((current, accepted))
}

/// The configuration in force and the newest one seen (proposed by a
/// reconfig or carried by NEWLEADER, not yet in force); the same one when
/// no reconfig is in flight.
struct Verifiers {
    current: Arc<QuorumVerifier>,
    last_seen: Arc<QuorumVerifier>,
}

/// The members' election addresses, as QuorumCnxManager dials them.
pub fn election_view(qv: &QuorumVerifier) -> std::collections::BTreeMap<i64, Vec<crate::quorum::quorum_peer_config::HostPort>> {
    qv.all_members().iter().map(|(sid, s)| (*sid, s.election_addrs.clone())).collect()
}

/// A running ensemble member.
pub struct QuorumPeer {
    /// When the peer stopped serving (went LOOKING) and has not served
    /// since: the start of mntr's unavailable_time.
    unavailable_since: Mutex<Option<std::time::Instant>>,
    config: Arc<QuorumPeerConfig>,
    settings: Arc<ServerSettings>,
    my_id: i64,
    /// The peer's role in the configuration in force (a reconfig may turn
    /// an observer into a participant and back).
    learner_type: Mutex<LearnerType>,
    /// Java's QV_LOCK and the two verifiers it guards.
    verifiers: Mutex<Verifiers>,
    /// A committed reconfig changed this peer's role: when the role ends,
    /// the next one follows from the vote and the learner type instead of
    /// an election (Java's reconfigFlag).
    reconfig_flag: AtomicBool,
    state: Mutex<ServerState>,
    current_vote: Mutex<Vote>,
    zk_db: Arc<ZkDatabase>,
    snap_dir: PathBuf,
    current_epoch: AtomicI64,
    accepted_epoch: AtomicI64,
    /// The server the client port talks to; not started (not serving)
    /// until a role makes it serve.
    zks: Arc<ZooKeeperServer>,
    cnxn_factory: Option<Arc<dyn ServerCnxnFactory>>,
    /// The AdminServer (None when disabled or it could not start).
    admin_server: Option<Arc<JettyAdminServer>>,
    zab_state: AtomicU8,
    cnx_manager: Arc<QuorumCnxManager>,
    /// Quorum SASL (authServer and authLearner), used by the election
    /// connections, the LearnerHandlers and the learner.
    quorum_auth: Arc<QuorumPeerAuth>,
    /// sslQuorum / portUnification and the quorum X509Util.
    quorum_ssl: QuorumSsl,
    election: OnceLock<Arc<FastLeaderElection>>,
    roles: Box<dyn Roles>,
    running: AtomicBool,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The Leader while this peer leads (QuorumPeer.leader), for the
    /// WorkerReceiver to report voters that look again.
    leader: Mutex<Weak<Leader>>,
    /// An observer's learner masters (observerMasterPort).
    observer_masters: Mutex<ObserverMasters>,
}

/// The voters an observer with observerMasterPort syncs from (Java's
/// observerMasters): each voter's first quorum host at that port, shuffled
/// whenever the configuration changes, tried in turn.
#[derive(Default)]
struct ObserverMasters {
    /// The configuration version the list was built from.
    version: Option<i64>,
    list: Vec<LearnerMaster>,
    next: usize,
    /// The one in use (getLearnerMasterId), -1 when none.
    current: Option<i64>,
}

/// A server an observer syncs from: the leader, or a voter's ObserverMaster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearnerMaster {
    pub sid: i64,
    pub addrs: Vec<crate::quorum::quorum_peer_config::HostPort>,
}

impl QuorumPeer {
    /// QuorumPeer.start: loads the database and the epochs, opens the client
    /// port, starts the election's listener and messenger, then the main
    /// loop thread.
    pub fn start(
        config: QuorumPeerConfig,
        settings: ServerSettings,
        roles: Box<dyn Roles>,
    ) -> Result<Arc<QuorumPeer>, StartError> {
        let my_id = config.server_id.ok_or_else(|| StartError::Other("myid file is missing".into()))?;
        let me = config
            .my_quorum_server()
            .cloned()
            .ok_or_else(|| StartError::Other(format!("My id {my_id} not in the peer list")))?;
        let verifier = |spec: &crate::quorum::quorum_peer_config::QuorumSpec| {
            Arc::new(QuorumVerifier::with_oracle(spec.clone(), config.oracle_path.as_deref()))
        };
        let quorum_verifier = verifier(&config.quorum_verifier);
        let last_seen = match &config.last_seen_quorum_verifier {
            Some(spec) if spec.version > quorum_verifier.version() => verifier(spec),
            _ => Arc::clone(&quorum_verifier),
        };

        // QuorumPeer.initialize, before anything starts: the quorum SASL
        // server and learner.
        let authz_hosts = config.quorum_verifier.servers.values().map(|s| s.hostname.clone()).collect();
        let quorum_auth = QuorumPeerAuth::initialize(&config.quorum_auth, config.properties(), authz_hosts)
            .map_err(StartError::Other)?;
        let quorum_auth = Arc::new(quorum_auth);
        // QuorumPeer's QuorumX509Util: the ssl.quorum stores, loaded now
        // (a bad store refuses start, naming it).
        let quorum_ssl = QuorumSsl {
            x509: match &config.quorum_ssl {
                Some(s) => Some(X509Util::start(s.clone()).map_err(StartError::Other)?),
                None => None,
            },
            ssl_quorum: config.ssl_quorum,
            port_unification: config.port_unification,
        };

        let snap_log = FileTxnSnapLog::new(&config.data_log_dir, &config.data_dir)
            .map_err(|e| StartError::Datadir(format!("cannot open the data directory: {e}")))?;
        let snap_dir = snap_log.data_dir().to_path_buf();
        let mut zks_settings = settings.zks.clone();
        zks_settings.server_id = my_id;
        let zk_db = Arc::new(ZkDatabase::new(
            snap_log,
            zks_settings.ephemeral_types.extended_types_enabled,
            zks_settings.digest_enabled,
        ));
        let (sessions, last_zxid) = zk_db
            .load_database(zks_settings.txn_log)
            .map_err(|e| StartError::Other(format!("Unable to load database on disk: {e}")))?;
        let (current_epoch, accepted_epoch) = load_epochs(&snap_dir, last_zxid)
            .map_err(|e| StartError::Other(format!("Unable to load database on disk: {e}")))?;
        info!(
            "loaded the database: last zxid 0x{last_zxid:x}, {} session(s); currentEpoch {current_epoch}, acceptedEpoch {accepted_epoch}",
            sessions.len()
        );

        let zks = ZooKeeperServer::new(zks_settings, Arc::clone(&zk_db), sessions);
        let cnxn_factory = if config.client_port_address.is_some() || config.secure_client_port_address.is_some() {
            Some(
                NioServerCnxnFactory::start(
                    config.client_port_address,
                    config.secure_client_port_address,
                    settings.nio.clone(),
                    Arc::clone(&zks),
                )
                .map_err(|e| StartError::Other(format!("cannot open the client port: {e}")))?
                    as Arc<dyn ServerCnxnFactory>,
            )
        } else {
            None
        };

        // As QuorumPeer.start: the AdminServer after the client port; a
        // failure to start it is logged and the peer goes on without it.
        let admin_server = match jetty_admin_server::create(&settings.admin, config.properties().clone()) {
            Ok(a) => a,
            Err(e) => {
                warn!("Problem starting AdminServer: {e}");
                None
            }
        };
        if let Some(a) = &admin_server {
            a.set_zoo_keeper_server(Some(Arc::clone(&zks)));
        }

        let cnx_settings = CnxSettings {
            my_sid: my_id,
            my_election_addrs: me.election_addrs.clone(),
            // Members of a reconfig in flight are dialed too.
            view: election_view(&quorum_verifier).into_iter().chain(election_view(&last_seen)).collect(),
            listen_on_all_ips: config.quorum_listen_on_all_ips,
            cnx_timeout_ms: settings.quorum_cnx.cnx_timeout_ms.max(1) as u64,
            socket_timeout_ms: match settings.quorum_cnx.quorum_cnxn_timeout_ms {
                ms if ms > 0 => ms as u64,
                _ => (i64::from(config.tick_time) * i64::from(config.sync_limit)).max(1) as u64,
            },
            tcp_keep_alive: settings.quorum_cnx.tcp_keep_alive,
            multi_address_enabled: config.multi_address_enabled,
            reachability_probe: config.reachability_probe(),
            bind_retry: settings.quorum_cnx.election_port_bind_retry,
            threads_size: config.quorum_cnxn_threads_size,
            auth: Arc::clone(&quorum_auth),
            tls: quorum_ssl.clone(),
        };
        let cnx_manager = QuorumCnxManager::new(cnx_settings);

        let peer = Arc::new(QuorumPeer {
            unavailable_since: Mutex::new(Some(std::time::Instant::now())),
            my_id,
            learner_type: Mutex::new(config.peer_type),
            verifiers: Mutex::new(Verifiers { current: quorum_verifier, last_seen }),
            reconfig_flag: AtomicBool::new(false),
            state: Mutex::new(ServerState::Looking),
            current_vote: Mutex::new(Vote::initial(my_id, last_zxid, current_epoch)),
            zk_db,
            snap_dir,
            current_epoch: AtomicI64::new(current_epoch),
            accepted_epoch: AtomicI64::new(accepted_epoch),
            zks,
            cnxn_factory,
            admin_server,
            zab_state: AtomicU8::new(ZabState::Election as u8),
            cnx_manager: Arc::clone(&cnx_manager),
            quorum_auth,
            quorum_ssl,
            election: OnceLock::new(),
            roles,
            running: AtomicBool::new(true),
            thread: Mutex::new(None),
            leader: Mutex::new(Weak::new()),
            observer_masters: Mutex::new(ObserverMasters::default()),
            config: Arc::new(config),
            settings: Arc::new(settings),
        });

        if let Err(e) = cnx_manager.start_listener() {
            peer.shutdown();
            return Err(StartError::BindElection(e.to_string()));
        }
        let election = FastLeaderElection::start(
            &peer,
            cnx_manager,
            peer.settings.election.min_notification_interval_ms.max(1) as u64,
            peer.settings.election.max_notification_interval_ms.max(1) as u64,
        )
        .map_err(|e| {
            peer.shutdown();
            StartError::Other(format!("cannot start leader election: {e}"))
        })?;
        let _ = peer.election.set(election);

        let plain = match &peer.cnxn_factory {
            Some(f) => format_inet_addr(&f.local_address()),
            None => "disabled".to_string(),
        };
        peer.init_config_in_zk_database();
        let runner = Arc::clone(&peer);
        let handle = crate::server::zoo_keeper_critical_thread::spawn(format!("QuorumPeer[myid={my_id}](plain={plain})(secure=disabled)"), move || runner.run())
            .map_err(|e| {
                peer.shutdown();
                StartError::Other(format!("cannot start the QuorumPeer thread: {e}"))
            })?;
        *peer.thread.lock() = Some(handle);
        Ok(peer)
    }

    /// The main loop.
    fn run(self: Arc<Self>) {
        while self.is_running() {
            match self.peer_state() {
                ServerState::Looking => {
                    info!("LOOKING");
                    let Some(election) = self.election.get() else { break };
                    let m = crate::server::server_metrics::metrics();
                    m.looking_count.inc();
                    self.unavailable_since.lock().get_or_insert_with(std::time::Instant::now);
                    // readonlymode.enabled: serve read-only clients if the
                    // election is still running after the grace period.
                    let read_only = if self.settings.read_only.enabled {
                        info!("Attempting to start ReadOnlyZooKeeperServer");
                        ReadOnlyServerManager::start(&self)
                            .map_err(|e| warn!("FAILED to start ReadOnlyZooKeeperServer: {e}"))
                            .ok()
                    } else {
                        None
                    };
                    let started = std::time::Instant::now();
                    let decided = election.look_for_leader();
                    if decided.is_some() {
                        // The election's length (Java's end_fle - start_fle).
                        m.election_time.add(started.elapsed().as_millis() as i64);
                    }
                    if let Some(m) = read_only {
                        m.stop(&self);
                    }
                    if let Some(vote) = decided {
                        self.set_current_vote(vote);
                        info!(
                            "Election decided: leader is server {} (zxid 0x{:x}, peer epoch 0x{:x}, election round 0x{:x}); my state is {}",
                            vote.id,
                            vote.zxid,
                            vote.peer_epoch,
                            vote.election_epoch,
                            self.peer_state()
                        );
                    }
                }
                ServerState::Following => {
                    info!("FOLLOWING");
                    let leader = self.current_vote();
                    self.after_role(self.roles.follow(&self, &leader));
                }
                ServerState::Leading => {
                    info!("LEADING");
                    self.after_role(self.roles.lead(&self));
                }
                ServerState::Observing => {
                    info!("OBSERVING");
                    let leader = self.current_vote();
                    self.after_role(self.roles.observe(&self, &leader));
                    // Spreads the observers' return to the election.
                    if self.is_running() {
                        crate::quorum::learner::observer_delay(&self, self.settings.learner.observer_election_delay_ms);
                    }
                }
            }
        }
        warn!("QuorumPeer main thread exited");
    }

    /// The role's server is behind the client port (Java's ZAB state
    /// BROADCAST): the time since the peer went LOOKING counts as
    /// unavailable_time, and as leader_unavailable_time on a leader.
    pub fn serving_started(&self) {
        if let Some(since) = self.unavailable_since.lock().take() {
            let ms = since.elapsed().as_millis() as i64;
            let m = crate::server::server_metrics::metrics();
            m.unavailable_time.add(ms);
            if self.peer_state() == ServerState::Leading {
                m.leader_unavailable_time.add(ms);
            }
        }
    }

    /// A role ended (updateServerState): look for a leader again, or, when
    /// a reconfig changed this peer's role, take the role it gave.
    fn after_role(&self, result: io::Result<()>) {
        if let Err(e) = result {
            warn!("Unexpected exception: {e}");
        }
        if !self.is_running() {
            return;
        }
        if !self.reconfig_flag.swap(false, Ordering::AcqRel) {
            self.set_peer_state(ServerState::Looking);
            warn!("PeerState set to LOOKING");
            return;
        }
        let state = if self.current_vote().id == self.my_id {
            ServerState::Leading
        } else if self.learner_type() == LearnerType::Observer {
            ServerState::Observing
        } else {
            ServerState::Following
        };
        self.set_peer_state(state);
    }

    /// Stops the main loop, the election and the client port. Returns once
    /// the main-loop thread has ended (unless called from it).
    pub fn shutdown(&self) {
        self.running.store(false, Ordering::Release);
        match self.election.get() {
            Some(e) => e.shutdown(),
            None => self.cnx_manager.halt(),
        }
        if let Some(f) = &self.cnxn_factory {
            f.shutdown();
        }
        if let Some(a) = &self.admin_server {
            a.shutdown();
        }
        let handle = self.thread.lock().take();
        if let Some(h) = handle {
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
        self.zks.shutdown();
    }

    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    pub fn id(&self) -> i64 {
        self.my_id
    }

    pub fn config(&self) -> &Arc<QuorumPeerConfig> {
        &self.config
    }

    /// The components' settings, read from the system properties at start-up.
    pub fn settings(&self) -> &ServerSettings {
        &self.settings
    }

    /// Writes the membership in force into /zookeeper/config, as every
    /// Java peer does at start-up, after each sync with a leader and when
    /// a reconfig takes effect.
    pub fn init_config_in_zk_database(&self) {
        let qv = self.quorum_verifier();
        self.zk_db.init_config_in_zk_database(&qv.config_string(), qv.version());
    }

    pub fn learner_type(&self) -> LearnerType {
        *self.learner_type.lock()
    }

    /// The configuration in force.
    pub fn quorum_verifier(&self) -> Arc<QuorumVerifier> {
        Arc::clone(&self.verifiers.lock().current)
    }

    /// The newest configuration seen (a reconfig in flight, when it differs
    /// from the one in force).
    pub fn last_seen_quorum_verifier(&self) -> Arc<QuorumVerifier> {
        Arc::clone(&self.verifiers.lock().last_seen)
    }

    pub fn is_reconfig_enabled(&self) -> bool {
        self.config.reconfig_enabled
    }

    /// QuorumPeer.configFromString: a membership as a NEWLEADER packet, a
    /// reconfig txn or a notification carries it.
    pub fn config_from_string(&self, text: &[u8]) -> io::Result<Arc<QuorumVerifier>> {
        let text = String::from_utf8_lossy(text);
        let spec = crate::quorum::quorum_peer_config::parse_dynamic_config(&text, self.config.multi_address_enabled)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad configuration: {e}")))?;
        Ok(Arc::new(QuorumVerifier::with_oracle(spec, self.config.oracle_path.as_deref())))
    }

    /// setLastSeenQuorumVerifier: a configuration proposed (by a reconfig
    /// or NEWLEADER) becomes the last seen one, its new members are
    /// dialed, and with `write_to_disk` it goes to `<zoo.cfg>.dynamic.next`.
    /// Nothing happens with reconfigEnabled=false, as in Java.
    pub fn set_last_seen_quorum_verifier(&self, qv: Arc<QuorumVerifier>, write_to_disk: bool) {
        if !self.is_reconfig_enabled() {
            info!("Dynamic reconfig is disabled, we don't store the last seen config.");
            return;
        }
        {
            let mut v = self.verifiers.lock();
            if v.last_seen.version() > qv.version() {
                tracing::error!(
                    "setLastSeenQuorumVerifier called with stale config {:x}. Current version: {:x}",
                    qv.version(),
                    v.last_seen.version()
                );
            }
            if v.last_seen.version() == qv.version() {
                return;
            }
            v.last_seen = Arc::clone(&qv);
        }
        let mut view = election_view(&self.quorum_verifier());
        view.extend(election_view(&qv));
        self.cnx_manager.set_view(view);
        if write_to_disk {
            let next = self.config.next_dynamic_config_filename();
            if let Err(e) = crate::quorum::quorum_peer_config::write_dynamic_config(&next, qv.spec(), true) {
                tracing::error!("Error writing next dynamic config file to disk {}: {e}", next.display());
            }
        }
    }

    /// setQuorumVerifier: `qv` comes into force unless an equal or newer
    /// version already is; with `write_to_disk` it is written to
    /// `<zoo.cfg>.dynamic.<version>` and zoo.cfg is pointed at it (the
    /// membership moved out). Returns the configuration it replaced.
    pub fn set_quorum_verifier(&self, qv: Arc<QuorumVerifier>, write_to_disk: bool) -> Arc<QuorumVerifier> {
        let mut v = self.verifiers.lock();
        if v.current.version() >= qv.version() {
            tracing::debug!("Not setting the configuration {:x}: {:x} is in force", qv.version(), v.current.version());
            return Arc::clone(&v.current);
        }
        let prev = std::mem::replace(&mut v.current, Arc::clone(&qv));
        if qv.version() > v.last_seen.version() {
            v.last_seen = Arc::clone(&qv);
        }
        if write_to_disk {
            let dynamic = self.config.dynamic_config_filename(qv.version());
            let erase_client = qv
                .all_members()
                .get(&self.my_id)
                .is_some_and(|s| s.client_addr.is_some() && !s.client_addr_from_static);
            let written = crate::quorum::quorum_peer_config::write_dynamic_config(&dynamic, qv.spec(), false)
                .and_then(|()| {
                    crate::quorum::quorum_peer_config::edit_static_config(&self.config.config_file, &dynamic, erase_client)
                });
            if let Err(e) = written {
                tracing::error!("Error writing the dynamic config file {}: {e}", dynamic.display());
            }
        }
        if qv.version() == v.last_seen.version() {
            let next = self.config.next_dynamic_config_filename();
            match fs::remove_file(&next) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => warn!("cannot delete {}: {e}", next.display()),
            }
        }
        prev
    }

    /// processReconfig: brings `qv` into force (written to disk, in
    /// /zookeeper/config, in the election's view) and reports whether this
    /// peer must leave its role: its own role changed, or its leader is no
    /// longer the right one (`suggested_leader`, the leader the reconfig
    /// designates, when given). Nothing happens with reconfigEnabled=false.
    pub fn process_reconfig(&self, qv: Arc<QuorumVerifier>, suggested_leader: Option<i64>, zxid: Option<i64>) -> bool {
        if !self.is_reconfig_enabled() {
            tracing::debug!("Reconfig feature is disabled, skip reconfig processing.");
            return false;
        }
        let prev = self.set_quorum_verifier(Arc::clone(&qv), true);
        self.init_config_in_zk_database();
        // Java's QuorumMaj.equals: the same members, whatever the version.
        if prev.version() >= qv.version() || prev.all_members() == qv.all_members() {
            return false;
        }
        self.cnx_manager.set_view(election_view(&qv));
        if let Some(election) = self.election.get() {
            election.reconfigure(self.learner_type_in(&qv), &qv);
        }
        // A client address that moved: the port is rebound there (open
        // connections stay).
        let mine = qv.all_members().get(&self.my_id).and_then(|s| s.client_addr.clone());
        let before = prev.all_members().get(&self.my_id).and_then(|s| s.client_addr.clone());
        if let (Some(new), Some(factory)) = (mine, &self.cnxn_factory) {
            if before.as_ref() != Some(&new) {
                match new.resolve().ok().and_then(|a| a.into_iter().next()) {
                    Some(addr) if addr != factory.local_address() => {
                        if let Err(e) = factory.reconfigure(addr) {
                            warn!("The client port stays at {}: {e}", factory.local_address());
                        }
                    }
                    Some(_) => {}
                    None => warn!("The new client address {new} cannot be resolved; the client port stays"),
                }
            }
        }
        let role_change = self.update_learner_type(&qv);
        let leader_change = match suggested_leader {
            Some(leader) => self.update_vote(leader, zxid.unwrap_or(0)),
            None => {
                self.reconfig_flag.store(false, Ordering::Release);
                let leader = self.current_vote().id;
                let addr = |q: &QuorumVerifier| {
                    q.is_voter(leader).then(|| q.all_members().get(&leader).map(|s| s.addrs.clone())).flatten()
                };
                let (before, after) = (addr(&prev), addr(&qv));
                before.is_none() || before != after
            }
        };
        role_change || leader_change
    }

    /// This peer's role in `qv` (a server not in it keeps its own).
    fn learner_type_in(&self, qv: &QuorumVerifier) -> LearnerType {
        match qv.all_members().get(&self.my_id) {
            Some(s) => s.peer_type,
            None => self.learner_type(),
        }
    }

    /// updateLearnerType: whether the peer's role changed (an observer
    /// turned participant or back; a server left out of the configuration
    /// goes on as a non-voting participant, as in Java). A change sets the
    /// reconfig flag: the next role follows from it without an election.
    fn update_learner_type(&self, qv: &QuorumVerifier) -> bool {
        let mut lt = self.learner_type.lock();
        let (want, what) = if qv.all_members().get(&self.my_id).is_some_and(|s| s.peer_type == LearnerType::Observer) {
            (LearnerType::Observer, "an observer")
        } else if qv.is_voter(self.my_id) {
            (LearnerType::Participant, "a voting participant")
        } else {
            (LearnerType::Participant, "a non-voting participant")
        };
        if *lt == want {
            return false;
        }
        info!("Becoming {what}");
        *lt = want;
        self.reconfig_flag.store(true, Ordering::Release);
        true
    }

    /// updateVote: the reconfig designates `leader`; a peer whose vote
    /// names another one moves its vote there and must leave its role.
    fn update_vote(&self, leader: i64, zxid: i64) -> bool {
        let mut vote = self.current_vote();
        if vote.id == leader {
            return false;
        }
        vote.id = leader;
        vote.zxid = zxid;
        self.set_current_vote(vote);
        true
    }

    pub fn peer_state(&self) -> ServerState {
        *self.state.lock()
    }

    /// Sets the state, logging a decided one as Java does ("Peer state
    /// changed: following").
    pub fn set_peer_state(&self, state: ServerState) {
        *self.state.lock() = state;
        if state == ServerState::Looking {
            self.set_zab_state(ZabState::Election);
        }
        if state != ServerState::Looking {
            info!("Peer state changed: {}", state.name().to_ascii_lowercase());
        }
    }

    /// setZabState.
    pub fn set_zab_state(&self, state: ZabState) {
        self.zab_state.store(state as u8, Ordering::Release);
    }

    pub fn zab_state(&self) -> ZabState {
        ZabState::from_u8(self.zab_state.load(Ordering::Acquire))
    }

    /// getDetailedPeerState: "following - broadcast" and the like (mntr's
    /// peer_state).
    pub fn detailed_peer_state(&self) -> String {
        let state = match self.peer_state() {
            ServerState::Looking => "looking",
            ServerState::Following => "following",
            ServerState::Leading => "leading",
            ServerState::Observing => "observing",
        };
        format!("{state} - {}", self.zab_state().name())
    }

    /// setZooKeeperServer: the server behind the client port and the
    /// AdminServer from now on (a role's once it serves, the idle one when
    /// the role ends).
    pub fn set_zoo_keeper_server(&self, zks: &Arc<ZooKeeperServer>) {
        if let Some(f) = &self.cnxn_factory {
            f.set_zoo_keeper_server(Arc::clone(zks));
        }
        if let Some(a) = &self.admin_server {
            a.set_zoo_keeper_server(Some(Arc::clone(zks)));
        }
    }

    pub fn admin_server(&self) -> Option<&Arc<JettyAdminServer>> {
        self.admin_server.as_ref()
    }

    /// The Leader while this peer leads (set by `lead` for its duration).
    pub fn leader(&self) -> Option<Arc<Leader>> {
        self.leader.lock().upgrade()
    }

    pub fn set_leader(&self, leader: Weak<Leader>) {
        *self.leader.lock() = leader;
    }

    /// findLearnerMaster: the server an observer syncs from. With
    /// observerMasterPort, the next voter of the (shuffled) list at that
    /// port, the reconnect delay waited only once every one has been tried;
    /// otherwise, after the reconnect delay, the leader (None for `leader`:
    /// the caller resolves the leader's quorum addresses).
    pub fn find_learner_master(&self, leader: i64) -> Option<LearnerMaster> {
        let port = self.config.observer_master_port;
        let use_masters = port > 0 && self.learner_type() == LearnerType::Observer;
        let delay = self.settings.learner.observer_reconnect_delay_ms;
        let mut om = self.observer_masters.lock();
        if use_masters {
            let qv = self.quorum_verifier();
            if om.version != Some(qv.version()) {
                let mut list: Vec<LearnerMaster> = qv
                    .voting_ids()
                    .into_iter()
                    .filter_map(|sid| {
                        let host = qv.all_members().get(&sid)?.addrs.first()?.host.clone();
                        let port = u16::try_from(port).ok()?;
                        Some(LearnerMaster { sid, addrs: vec![crate::quorum::quorum_peer_config::HostPort { host, port }] })
                    })
                    .collect();
                let shown: Vec<String> = list.iter().map(|m| format!("{}:{}", m.addrs[0].delimited_host(), port)).collect();
                info!("Updated learner master list to be {},", shown.join(","));
                for i in (1..list.len()).rev() {
                    let j = (crate::quorum::learner::random_u64() % (i as u64 + 1)) as usize;
                    list.swap(i, j);
                }
                *om = ObserverMasters { version: Some(qv.version()), list, next: 0, current: None };
            }
        }
        if !use_masters || om.list.is_empty() {
            drop(om);
            crate::quorum::learner::observer_delay(self, delay);
            self.observer_masters.lock().current = Some(leader);
            return None;
        }
        if om.next >= om.list.len() {
            om.next = 0;
            drop(om);
            crate::quorum::learner::observer_delay(self, delay);
            om = self.observer_masters.lock();
        }
        let master = om.list.get(om.next).cloned();
        om.next += 1;
        om.current = master.as_ref().map(|m| m.sid);
        master
    }

    /// getLearnerMasterId: the server this observer syncs from, -1 when
    /// none.
    pub fn learner_master_id(&self) -> i64 {
        self.observer_masters.lock().current.unwrap_or(-1)
    }

    /// The observer lost its learner master.
    pub fn clear_learner_master(&self) {
        self.observer_masters.lock().current = None;
    }

    /// getLeaderId: the decided leader's id, -1 while LOOKING.
    pub fn leader_id(&self) -> i64 {
        if self.peer_state() == ServerState::Looking {
            -1
        } else {
            self.current_vote().id
        }
    }

    /// getLeaderAddress: the leader's quorum hosts joined by '|' (None
    /// while LOOKING).
    pub fn leader_address(&self) -> Option<String> {
        let id = self.leader_id();
        let qv = self.quorum_verifier();
        let server = qv.all_members().get(&id)?;
        Some(server.addrs.iter().map(|a| a.host.clone()).collect::<Vec<_>>().join("|"))
    }

    /// The vote this peer stands by: its own proposal before the first
    /// election, then the decided one.
    pub fn current_vote(&self) -> Vote {
        *self.current_vote.lock()
    }

    pub fn set_current_vote(&self, v: Vote) {
        *self.current_vote.lock() = v;
    }

    pub fn zk_db(&self) -> &Arc<ZkDatabase> {
        &self.zk_db
    }

    /// The (not yet serving) server behind the client port.
    pub fn zk_server(&self) -> &Arc<ZooKeeperServer> {
        &self.zks
    }

    pub fn cnxn_factory(&self) -> Option<&Arc<dyn ServerCnxnFactory>> {
        self.cnxn_factory.as_ref()
    }

    pub fn quorum_auth(&self) -> &QuorumPeerAuth {
        &self.quorum_auth
    }

    /// How quorum connections are dialed and accepted (sslQuorum).
    pub fn quorum_ssl(&self) -> &QuorumSsl {
        &self.quorum_ssl
    }

    pub fn cnx_manager(&self) -> &Arc<QuorumCnxManager> {
        &self.cnx_manager
    }

    /// The last zxid in the database (getLastLoggedZxid).
    pub fn last_logged_zxid(&self) -> i64 {
        self.zk_db.last_processed_zxid()
    }

    pub fn current_epoch(&self) -> i64 {
        self.current_epoch.load(Ordering::Acquire)
    }

    /// Records a new current epoch in memory and in `currentEpoch`.
    pub fn set_current_epoch(&self, e: i64) -> io::Result<()> {
        write_long_to_file(&self.snap_dir.join(CURRENT_EPOCH_FILENAME), e)?;
        self.current_epoch.store(e, Ordering::Release);
        Ok(())
    }

    pub fn accepted_epoch(&self) -> i64 {
        self.accepted_epoch.load(Ordering::Acquire)
    }

    /// Records a new accepted epoch in memory and in `acceptedEpoch`.
    pub fn set_accepted_epoch(&self, e: i64) -> io::Result<()> {
        write_long_to_file(&self.snap_dir.join(ACCEPTED_EPOCH_FILENAME), e)?;
        self.accepted_epoch.store(e, Ordering::Release);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::persistence::syscall_trace::{assert_dir_synced_after, traced};

    #[test]
    fn epoch_files_created_from_the_zxid() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load_epochs(dir.path(), 0x3_0000_0007).unwrap(), (3, 3));
        assert_eq!(fs::read_to_string(dir.path().join("currentEpoch")).unwrap(), "3");
        assert_eq!(fs::read_to_string(dir.path().join("acceptedEpoch")).unwrap(), "3");
        let (result, calls) = traced(|| write_long_to_file(&dir.path().join("acceptedEpoch"), 5));
        result.unwrap();
        assert_eq!(load_epochs(dir.path(), 0x3_0000_0007).unwrap(), (3, 5));
        assert_dir_synced_after(&calls, |c| c.starts_with("rename") && c.contains("acceptedEpoch.tmp"), dir.path());
    }

    #[test]
    fn epoch_rules() {
        let dir = tempfile::tempdir().unwrap();
        write_long_to_file(&dir.path().join("currentEpoch"), 1).unwrap();
        let e = load_epochs(dir.path(), 0x2_0000_0000).unwrap_err().to_string();
        assert!(e.contains("The current epoch, 0x1, is older than the last zxid, 0x200000000"), "{e}");
        fs::write(dir.path().join("currentEpoch.tmp"), "2").unwrap();
        assert_eq!(load_epochs(dir.path(), 0x2_0000_0000).unwrap().0, 2);
        write_long_to_file(&dir.path().join("currentEpoch"), 4).unwrap();
        let e = load_epochs(dir.path(), 0).unwrap_err().to_string();
        assert!(e.contains("The accepted epoch, 0x2 is less than the current epoch, 0x4"), "{e}");
        fs::write(dir.path().join("acceptedEpoch"), "x\n").unwrap();
        let e = load_epochs(dir.path(), 0).unwrap_err().to_string();
        assert!(e.contains("Found x in"), "{e}");
    }
}
