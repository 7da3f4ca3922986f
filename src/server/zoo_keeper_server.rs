//! ZooKeeperServer: the server behind the client port. Shares the ZKDatabase,
//! owns the SessionTracker, the zxid counter and the outstanding-change
//! table, and turns connection bytes into Requests for the RequestThrottler,
//! which feeds the processor chain its `ServerRole` builds: `Standalone`
//! (PrepRequestProcessor -> SyncRequestProcessor -> FinalRequestProcessor)
//! or a quorum role's (Java's ZooKeeperServer subclasses). Its methods run
//! on the NIO worker threads (connect, packets), the SessionTracker thread
//! (expiry) and the processor threads.

use crate::jute::records::{Acl, AuthPacket, ConnectRequest, ConnectResponse, GetSaslRequest, Id, ReplyHeader, RequestHeader};
use crate::jute::txn::TxnBody;
use crate::jute::{InputArchive, OutputArchive, Record};
use crate::server::command::FourLetterWordSettings;
use crate::server::final_request_processor::FinalRequestProcessor;
use crate::server::large_requests::{LargeRequestSettings, LargeRequests};
use crate::server::prep_request_processor::PrepRequestProcessor;
use crate::server::request::Request;
use crate::server::request_processor::RequestProcessor;
use crate::server::blue_throttle::{BlueThrottle, BlueThrottleSettings};
use crate::server::request_throttler::{RequestThrottler, RequestThrottlerSettings};
use crate::server::server_cnxn::{InFlight, ServerCnxn};
use crate::server::server_cnxn_factory::ServerCnxnFactory;
use crate::server::server_stats::ServerStats;
use crate::server::session_tracker::{SessionExpirer, SessionTracker};
use crate::server::session_tracker_impl::SessionTrackerImpl;
use crate::server::sync_request_processor::SyncRequestProcessor;
use crate::server::zk_database::{TxnLogSettings, ZkDatabase};
use crate::server::zoo_keeper_sasl_server::ZooKeeperSaslServer;
use crate::zoo_defs::{code, op_code};
use crate::jute::records::StatPersisted;
use crate::server::auth;
use crate::server::data_tree::ProcessTxnResult;
use crate::quorum::commit_processor::CommitProcessorSettings;
use crate::quorum::quorum_peer_config::{ConfigError, QuorumPeerConfig};
use crate::server::data_node::EphemeralTypeSettings;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};
use crate::server::digest_calculator::NodeDigester;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Instant;

/// The server's settings: zoo.cfg's tickTime and session timeouts, the
/// system properties Java's ZooKeeperServer reads, and the settings of the
/// parts it creates, each read by its part.
#[derive(Debug, Clone)]
pub struct ZooKeeperServerSettings {
    /// myid in a quorum, 0 standalone.
    pub server_id: i64,
    pub tick_time: i32,
    pub min_session_timeout: i32,
    pub max_session_timeout: i32,
    /// zookeeper.globalOutstandingLimit (default 1000).
    pub global_outstanding_limit: i32,
    /// zookeeper.skipACL = `yes`.
    pub skip_acl: bool,
    /// zookeeper.enableEagerACLCheck: screen writes on the server a client
    /// is connected to before they are proposed (`auth_write_request`).
    pub enable_eager_acl_check: bool,
    /// zookeeper.enforceQuota: refuse writes past a quota's hard limits.
    pub enforce_quota: bool,
    /// The authentication providers' and AuthenticationHelper's settings.
    pub auth: auth::AuthSettings,
    /// zookeeper.closeSessionTxn.enabled (default true).
    pub close_session_txn_enabled: bool,
    /// zookeeper.digest.enabled (default true).
    pub digest_enabled: bool,
    /// EphemeralType's settings (TTL nodes).
    pub ephemeral_types: EphemeralTypeSettings,
    /// zookeeper.maxBatchSize: txns per group commit (default 1000).
    pub max_batch_size: usize,
    /// zookeeper.flushDelay (ms, default 0).
    pub flush_delay_ms: i64,
    /// zookeeper.maxWriteQueuePollTime (ms, default flushDelay / 3).
    pub max_write_queue_poll_time_ms: i64,
    /// zookeeper.intBufferStartingSizeBytes (default 1024, at least 32).
    pub int_buffer_starting_size_bytes: i32,
    /// zookeeper.maxResponseCacheSize (getData cache, default 400).
    pub max_response_cache_size: i32,
    /// zookeeper.maxGetChildrenResponseCacheSize (default 400).
    pub max_get_children_response_cache_size: i32,
    /// zookeeper.largeRequestThreshold and largeRequestMaxBytes.
    pub large_requests: LargeRequestSettings,
    /// zookeeper.throttled_op_wait_time (ms, default 0 = off).
    pub throttled_op_wait_time_ms: i32,
    /// The RequestThrottler's settings (zookeeper.request_throttle*).
    pub request_throttler: RequestThrottlerSettings,
    pub txn_log: TxnLogSettings,
    /// The CommitProcessor's settings, for the quorum roles' chains.
    pub commit_processor: CommitProcessorSettings,
    /// The connection throttle's settings (zookeeper.connection_throttle_*).
    pub conn_throttle: BlueThrottleSettings,
    /// zookeeper.snapCount: txns between snapshots (randomised as in Java;
    /// default 100000, at least 2).
    pub snap_count: i32,
    /// zookeeper.snapSizeLimitInKb in bytes: log bytes between snapshots (<= 0: off).
    pub snap_size_limit_bytes: i64,
    /// The four-letter words 4lw.commands.whitelist enables.
    pub four_letter_words: FourLetterWordSettings,
    /// The whole parsed configuration (for `conf`).
    pub config: Arc<QuorumPeerConfig>,
}

impl ZooKeeperServerSettings {
    /// Reads the server's system properties and has each part it creates
    /// read its own (server id 0: standalone).
    pub fn read(config: &QuorumPeerConfig) -> Result<ZooKeeperServerSettings, ConfigError> {
        let props = config.properties();
        let global_outstanding_limit = props.int("zookeeper.globalOutstandingLimit", 1000)?;
        let mut snap_count = props.int("zookeeper.snapCount", 100_000)?;
        if snap_count < 2 {
            tracing::warn!("SnapCount should be 2 or more. Now, snapCount is reset to 2");
            snap_count = 2;
        }
        let snap_size_kb = props.long("zookeeper.snapSizeLimitInKb", 4_194_304)?;
        if snap_size_kb <= 0 {
            tracing::info!("zookeeper.snapSizeLimitInKb set to a non-positive value {snap_size_kb}; disabling feature");
        }
        let flush_delay_ms = props.long("zookeeper.flushDelay", 0)?;
        let max_write_queue_poll_time_ms = props.long("zookeeper.maxWriteQueuePollTime", flush_delay_ms / 3)?;
        let max_batch_size = props.int("zookeeper.maxBatchSize", 1000)?;
        let int_buffer_starting_size_bytes = props.int("zookeeper.intBufferStartingSizeBytes", 1024)?;
        if int_buffer_starting_size_bytes < 32 {
            return Err(props.refused("zookeeper.intBufferStartingSizeBytes", "must be at least 32"));
        }
        Ok(ZooKeeperServerSettings {
            server_id: 0,
            tick_time: config.tick_time,
            min_session_timeout: config.min_session_timeout,
            max_session_timeout: config.max_session_timeout,
            global_outstanding_limit,
            skip_acl: props.equals("zookeeper.skipACL", "yes") == Some(true),
            enable_eager_acl_check: props.boolean("zookeeper.enableEagerACLCheck", false),
            enforce_quota: props.boolean("zookeeper.enforceQuota", false),
            auth: auth::AuthSettings::read(props, config.secure_client_port_address.is_some())?,
            close_session_txn_enabled: props.boolean("zookeeper.closeSessionTxn.enabled", true),
            digest_enabled: props.boolean("zookeeper.digest.enabled", true),
            ephemeral_types: EphemeralTypeSettings::read(props),
            max_batch_size: max_batch_size.max(1) as usize,
            flush_delay_ms,
            max_write_queue_poll_time_ms,
            int_buffer_starting_size_bytes,
            max_response_cache_size: props.int("zookeeper.maxResponseCacheSize", 400)?,
            max_get_children_response_cache_size: props.int("zookeeper.maxGetChildrenResponseCacheSize", 400)?,
            large_requests: LargeRequestSettings::read(props)?,
            throttled_op_wait_time_ms: props.int("zookeeper.throttled_op_wait_time", 0)?,
            request_throttler: RequestThrottlerSettings::read(props)?,
            txn_log: TxnLogSettings::read(props)?,
            commit_processor: CommitProcessorSettings::read(props)?,
            conn_throttle: BlueThrottleSettings::read(props)?,
            snap_count,
            snap_size_limit_bytes: snap_size_kb.saturating_mul(1024),
            four_letter_words: FourLetterWordSettings::read(props),
            config: Arc::new(config.clone()),
        })
    }
}

/// One pending change PrepRequestProcessor has promised but the tree has
/// not applied yet (ZooKeeperServer.ChangeRecord). `stat == None` marks a
/// deletion.
#[derive(Debug, Clone)]
pub struct ChangeRecord {
    pub zxid: i64,
    pub path: String,
    pub stat: Option<StatPersisted>,
    pub child_count: i32,
    /// Shared by the copies Prep makes of a record it changes again.
    pub acl: Arc<[Acl]>,
    /// Length of the node's (promised) data: the quota check of setData
    /// needs the size it replaces.
    pub data_len: usize,
    /// The node's path and data, hashed for its digest under a new stat.
    pub digester: NodeDigester,
    /// The node's digest and the tree digest once this change is applied.
    pub digest: PrecalculatedDigest,
}

/// Digests Prep works out before a change is applied
/// (ZooKeeperServer.PrecalculatedDigest); all 0 when digests are off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrecalculatedDigest {
    pub node_digest: i64,
    pub tree_digest: i64,
}

/// outstandingChanges and outstandingChangesForPath: both hold the same
/// records, shared.
#[derive(Default)]
pub struct OutstandingChanges {
    pub queue: VecDeque<Arc<ChangeRecord>>,
    pub for_path: HashMap<String, Arc<ChangeRecord>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    Initial = 0,
    Running = 1,
    Shutdown = 2,
}

/// What a server's role decides: the hooks Java's ZooKeeperServer
/// subclasses (LeaderZooKeeperServer, FollowerZooKeeperServer, ...) override.
pub trait ServerRole: Send + Sync {
    /// setupRequestProcessors: builds the role's chain and returns its first
    /// processor, the one the RequestThrottler feeds.
    fn setup_request_processors(&self, zks: &Arc<ZooKeeperServer>) -> std::io::Result<Arc<dyn RequestProcessor>>;

    /// revalidateSession: a client reconnects to `session_id` with the right
    /// password; decide whether the session still lives and answer it with
    /// `finish_session_init` (now or later).
    fn revalidate_session(&self, zks: &Arc<ZooKeeperServer>, cnxn: &Arc<dyn ServerCnxn>, session_id: i64, timeout: i32) {
        let valid = zks.session_tracker().touch_session(session_id, timeout);
        zks.finish_session_init(cnxn, valid);
    }

    /// getState: the Mode srvr/stat/mntr report.
    fn state(&self) -> &'static str;

    /// A read-only server (Java's ReadOnlyZooKeeperServer): it takes only
    /// clients that asked for read-only, tells them so in the
    /// ConnectResponse, and `isro` answers "ro".
    fn is_read_only(&self) -> bool {
        false
    }

    /// setLocalSessionFlag: marks a request whose session lives only on
    /// this server (`Request::local_session`), before the chain sees it.
    fn set_local_session_flag(&self, _req: &mut Request) {}

    /// The role's additions to dumpMonitorValues (peer_state,
    /// observer_master_id), printed right after server_state.
    fn monitor_values(&self) -> Vec<(&'static str, crate::server::metrics::monitor::Value)> {
        Vec::new()
    }

    /// The gauges the role registers beside the server's (quorum_size,
    /// the leader's learner and proposal figures, synced_observers); one
    /// named like a server's gauge replaces it.
    fn gauges(&self) -> Vec<(&'static str, crate::server::metrics::monitor::Value)> {
        Vec::new()
    }

    /// Lines srvr/stat print after "Node count" (each ending in '\n').
    fn stat_extra(&self) -> String {
        String::new()
    }

    /// Stops what the role runs beside the chain (called after the chain
    /// has shut down).
    fn shutdown(&self) {}

    /// QuorumZooKeeperServer.self: the peer a leader, follower or observer
    /// serves for (None for a standalone server).
    fn quorum_peer(&self) -> Option<Arc<crate::quorum::quorum_peer::QuorumPeer>> {
        None
    }

    /// LeaderZooKeeperServer.getLeader (None for the other roles).
    fn leader(&self) -> Option<Arc<crate::quorum::leader::Leader>> {
        None
    }

    /// A follower's ObserverMaster (None for the other roles, and for a
    /// follower without observerMasterPort).
    fn observer_master(&self) -> Option<Arc<crate::quorum::observer_master::ObserverMaster>> {
        None
    }
}

/// The standalone chain: Prep -> Sync -> Final.
pub struct Standalone;

impl ServerRole for Standalone {
    fn setup_request_processors(&self, zks: &Arc<ZooKeeperServer>) -> std::io::Result<Arc<dyn RequestProcessor>> {
        let final_processor: Arc<dyn RequestProcessor> = Arc::new(FinalRequestProcessor::new(Arc::clone(zks)));
        let sync = SyncRequestProcessor::start(Arc::clone(zks), final_processor)?;
        let prep: Arc<dyn RequestProcessor> = PrepRequestProcessor::start(Arc::clone(zks), sync)?;
        Ok(prep)
    }

    fn state(&self) -> &'static str {
        "standalone"
    }
}

pub struct ZooKeeperServer {
    pub settings: ZooKeeperServerSettings,
    zk_db: Arc<ZkDatabase>,
    session_tracker: Arc<dyn SessionTracker>,
    role: Arc<dyn ServerRole>,
    hzxid: AtomicI64,
    pub outstanding_changes: Mutex<OutstandingChanges>,
    first_processor: OnceLock<Arc<RequestThrottler>>,
    /// The chain's first processor (Java's firstProcessor), where internal
    /// requests enter without passing the throttler.
    prep_processor: OnceLock<Arc<dyn RequestProcessor>>,
    cnxn_factory: OnceLock<Weak<dyn ServerCnxnFactory>>,
    pub stats: ServerStats,
    state: AtomicU8,
    /// Requests handed to the chain and not yet answered (inProcess).
    in_process: AtomicI64,
    started: Instant,
    /// The bytes large requests hold (currentLargeRequestBytes).
    pub large_requests: LargeRequests,
    /// The connection throttle a ConnectRequest must pass (connThrottle).
    conn_throttle: BlueThrottle,
}

/// java.util.Random, as Java seeds and draws it: session passwords must be
/// the ones a Java server would hand out for the same session id.
struct JavaRandom {
    seed: u64,
}

impl JavaRandom {
    const MULT: u64 = 0x5DEECE66D;
    const MASK: u64 = (1 << 48) - 1;

    fn new(seed: i64) -> JavaRandom {
        JavaRandom { seed: (seed as u64 ^ Self::MULT) & Self::MASK }
    }

    fn next_int(&mut self) -> i32 {
        self.seed = (self.seed.wrapping_mul(Self::MULT).wrapping_add(0xB)) & Self::MASK;
        (self.seed >> 16) as i32
    }

    fn next_bytes(&mut self, out: &mut [u8]) {
        let mut i = 0;
        while i < out.len() {
            let mut rnd = self.next_int();
            let n = (out.len() - i).min(4);
            for _ in 0..n {
                out[i] = rnd as u8;
                rnd >>= 8;
                i += 1;
            }
        }
    }
}

const SUPER_SECRET: i64 = 0xB341_5C00;

/// The password the server gives session `id` (ZooKeeperServer.generatePasswd).
pub fn generate_passwd(id: i64) -> Vec<u8> {
    let mut p = vec![0u8; 16];
    JavaRandom::new(id ^ SUPER_SECRET).next_bytes(&mut p);
    p
}

impl ZooKeeperServer {
    /// Builds the standalone server around a loaded database and its
    /// restored sessions.
    pub fn new(
        settings: ZooKeeperServerSettings,
        zk_db: Arc<ZkDatabase>,
        sessions: HashMap<i64, i32>,
    ) -> Arc<ZooKeeperServer> {
        let session_tracker = SessionTrackerImpl::new(settings.tick_time, settings.server_id, sessions);
        Self::with_role(settings, zk_db, session_tracker, Arc::new(Standalone))
    }

    /// Builds a server whose chain and session handling `role` decides.
    pub fn with_role(
        settings: ZooKeeperServerSettings,
        zk_db: Arc<ZkDatabase>,
        session_tracker: Arc<dyn SessionTracker>,
        role: Arc<dyn ServerRole>,
    ) -> Arc<ZooKeeperServer> {
        let zxid = zk_db.last_processed_zxid();
        let conn_throttle = BlueThrottle::new(settings.conn_throttle.clone());
        let large_requests = LargeRequests::new(settings.large_requests);
        Arc::new(ZooKeeperServer {
            settings,
            zk_db,
            session_tracker,
            role,
            hzxid: AtomicI64::new(zxid),
            outstanding_changes: Mutex::new(OutstandingChanges::default()),
            first_processor: OnceLock::new(),
            prep_processor: OnceLock::new(),
            cnxn_factory: OnceLock::new(),
            stats: ServerStats::new(),
            state: AtomicU8::new(State::Initial as u8),
            in_process: AtomicI64::new(0),
            started: Instant::now(),
            large_requests,
            conn_throttle,
        })
    }

    /// startup: starts the session tracker and the processor chain
    /// (RequestThrottler -> the role's chain).
    pub fn startup(self: &Arc<Self>) -> std::io::Result<()> {
        Arc::clone(&self.session_tracker).start(Arc::clone(self) as Arc<dyn SessionExpirer>)?;
        let first = self.role.setup_request_processors(self)?;
        let _ = self.prep_processor.set(Arc::clone(&first));
        let throttler = RequestThrottler::start(Arc::clone(self), first)?;
        let _ = self.first_processor.set(throttler);
        self.state.store(State::Running as u8, Ordering::Release);
        Ok(())
    }

    /// The role this server plays.
    pub fn role(&self) -> &Arc<dyn ServerRole> {
        &self.role
    }

    /// getState: "standalone", "leader", "follower", "observer" or
    /// "read-only".
    pub fn server_state(&self) -> &'static str {
        self.role.state()
    }

    /// Whether this is a read-only server (`isro`; Java asks
    /// `instanceof ReadOnlyZooKeeperServer`). A server that is not running
    /// serves nobody: callers check `is_running` first, as Java's isro does.
    pub fn is_read_only(&self) -> bool {
        self.role.is_read_only()
    }

    /// setServerCnxnFactory: the client port this server is behind (set
    /// once, by the port).
    pub fn set_cnxn_factory(&self, f: Weak<dyn ServerCnxnFactory>) {
        let _ = self.cnxn_factory.set(f);
    }

    /// getConnectionDropChance: the connection throttle's drop chance.
    pub fn connection_drop_chance(&self) -> f64 {
        self.conn_throttle.drop_chance()
    }

    pub fn cnxn_factory(&self) -> Option<Arc<dyn ServerCnxnFactory>> {
        self.cnxn_factory.get().and_then(|w| w.upgrade())
    }

    /// The first processor after the throttler (Java's firstProcessor):
    /// the ContainerManager posts its deletes here. `None` before startup.
    pub fn prep_processor(&self) -> Option<Arc<dyn RequestProcessor>> {
        self.prep_processor.get().cloned()
    }

    pub fn zk_db(&self) -> &Arc<ZkDatabase> {
        &self.zk_db
    }

    pub fn session_tracker(&self) -> &Arc<dyn SessionTracker> {
        &self.session_tracker
    }

    pub fn is_running(&self) -> bool {
        self.state.load(Ordering::Acquire) == State::Running as u8
    }

    pub fn uptime_ms(&self) -> u128 {
        self.started.elapsed().as_millis()
    }

    /// The last zxid handed out.
    pub fn get_zxid(&self) -> i64 {
        self.hzxid.load(Ordering::Acquire)
    }

    /// setZxid: a new leader starts handing out zxids of its epoch.
    pub fn set_zxid(&self, zxid: i64) {
        self.hzxid.store(zxid, Ordering::Release);
    }

    /// Hands out the next zxid (PrepRequestProcessor only).
    pub fn get_next_zxid(&self) -> i64 {
        self.hzxid.fetch_add(1, Ordering::AcqRel) + 1
    }

    pub fn in_process(&self) -> i64 {
        self.in_process.load(Ordering::Relaxed)
    }

    pub fn outstanding_requests(&self) -> i64 {
        self.in_process() + self.first_processor.get().map(|t| t.queued() as i64).unwrap_or(0)
    }

    /// shouldThrottle: stop reading from a connection with requests in
    /// flight while the server holds more than globalOutstandingLimit.
    pub fn should_throttle(&self, outstanding_on_cnxn: i64) -> bool {
        let limit = self.settings.global_outstanding_limit as i64;
        let inflight = self.first_processor.get().map(|t| t.inflight() as i64).unwrap_or(0);
        if limit < inflight || limit < self.in_process() {
            return outstanding_on_cnxn > 0;
        }
        false
    }

    // ---- connection side (NIO worker threads) ----

    /// processConnectRequest: the first frame of a client connection.
    pub fn process_connect_request(self: &Arc<Self>, cnxn: &Arc<dyn ServerCnxn>, buf: &[u8]) -> Result<(), String> {
        // A quorum peer's server takes sessions only once its role serves.
        if !self.is_running() {
            return Err("ZooKeeperServer not running".to_string());
        }
        self.process_connect_request_to(cnxn, buf, |req| self.submit_request(req))
    }

    /// processConnectRequest of a running server, with the createSession
    /// request handed to `submit` (the RequestThrottler in
    /// `process_connect_request`; the fuzz targets run Prep inline).
    pub fn process_connect_request_to(
        self: &Arc<Self>,
        cnxn: &Arc<dyn ServerCnxn>,
        buf: &[u8],
        submit: impl FnOnce(Request),
    ) -> Result<(), String> {
        let mut ia = InputArchive::new(buf);
        let req = ConnectRequest::deserialize(&mut ia).map_err(|e| format!("bad connect request: {e}"))?;
        // A standalone server ignores localSessionsEnabled (its sessions are
        // all global), as Java's does.
        let need = self.conn_throttle.tokens_needed(req.session_id, self.session_tracker.is_local_sessions_enabled());
        let m = crate::server::server_metrics::metrics();
        if !self.conn_throttle.check_limit(need) {
            m.connection_rejected.inc();
            tracing::warn!(
                "Closing connection from {} (session 0x{:x}): the connection throttle rejected it",
                cnxn.remote_address(),
                req.session_id
            );
            return Err("Connection throttle rejected connection".to_string());
        }
        m.connection_token_deficit.add(self.conn_throttle.deficit());
        m.connection_request_count.inc();
        // Old clients do not send the readOnly flag.
        let read_only = match ia.read_bool() {
            Ok(b) => {
                cnxn.set_old_client(false);
                b
            }
            Err(_) => {
                cnxn.set_old_client(true);
                false
            }
        };
        if !read_only && self.role.is_read_only() {
            tracing::info!("Refusing session request for not-read-only client {}", cnxn.remote_address());
            return Err(format!("Refusing session request for not-read-only client {}", cnxn.remote_address()));
        }
        let last_zxid = self.zk_db.last_processed_zxid();
        if req.last_zxid_seen > last_zxid {
            return Err(format!(
                "Refusing session request for client {} as it has seen zxid 0x{:x} our last zxid is 0x{:x} client must try another server",
                cnxn.remote_address(),
                req.last_zxid_seen,
                last_zxid
            ));
        }
        let timeout = req
            .time_out
            .max(self.settings.min_session_timeout)
            .min(self.settings.max_session_timeout);
        cnxn.set_session_timeout(timeout);
        cnxn.disable_recv();
        if req.session_id == 0 {
            let id = self.session_tracker.create_session(timeout);
            cnxn.set_session_id(id);
            let mut body = OutputArchive::with_capacity(4);
            body.write_int(timeout);
            tracing::debug!("new session 0x{:x} timeout {} for {}", id, timeout, cnxn.remote_address());
            submit(Request::new(
                Some(Arc::clone(cnxn)),
                id,
                0,
                op_code::CREATE_SESSION,
                body.into_inner(),
                Vec::new(),
            ));
        } else {
            let id = req.session_id;
            if let Some(f) = self.cnxn_factory() {
                f.close_session(id, "client reconnected");
            }
            cnxn.set_session_id(id);
            crate::server::server_metrics::metrics().connection_revalidate_count.inc();
            if !req.passwd.is_empty() && req.passwd == generate_passwd(id) {
                self.role.revalidate_session(self, cnxn, id, timeout);
            } else {
                self.finish_session_init(cnxn, false);
            }
        }
        Ok(())
    }

    /// finishSessionInit: answers the connect request; an invalid session
    /// gets zeros and the connection closes after the reply.
    pub fn finish_session_init(&self, cnxn: &Arc<dyn ServerCnxn>, valid: bool) {
        let id = cnxn.session_id();
        if !valid {
            tracing::info!("Invalid session 0x{:x} for client {}, probably expired", id, cnxn.remote_address());
        }
        let rsp = ConnectResponse {
            protocol_version: 0,
            time_out: if valid { cnxn.session_timeout() } else { 0 },
            session_id: if valid { id } else { 0 },
            passwd: if valid { generate_passwd(id) } else { vec![0u8; 16] },
        };
        let mut oa = OutputArchive::with_capacity(64);
        oa.write_int(-1);
        rsp.serialize(&mut oa);
        if !cnxn.is_old_client() {
            oa.write_bool(self.role.is_read_only());
        }
        let len = oa.len() as i32 - 4;
        oa.patch_int(0, len);
        cnxn.send_buffer(oa.into_inner());
        if valid {
            if let Some(f) = self.cnxn_factory() {
                f.add_session(id, cnxn);
            }
            cnxn.enable_recv();
        } else {
            cnxn.send_close_after_flush();
        }
    }

    /// processPacket: a request frame on an established connection.
    pub fn process_packet(self: &Arc<Self>, cnxn: &Arc<dyn ServerCnxn>, buf: &[u8]) -> Result<(), String> {
        self.process_packet_to(cnxn, buf, |req| self.submit_request(req))
    }

    /// processPacket with the request handed to `submit` instead of the
    /// RequestThrottler (the fuzz targets run Prep inline).
    pub fn process_packet_to(
        self: &Arc<Self>,
        cnxn: &Arc<dyn ServerCnxn>,
        buf: &[u8],
        submit: impl FnOnce(Request),
    ) -> Result<(), String> {
        let mut ia = InputArchive::new(buf);
        let h = RequestHeader::deserialize(&mut ia).map_err(|e| format!("bad request header: {e}"))?;
        let body = &buf[ia.position()..];
        match h.r#type {
            op_code::AUTH => {
                let pkt = AuthPacket::from_bytes(body).map_err(|e| format!("bad auth packet: {e}"))?;
                let ok = self.settings.auth.providers.handle_authentication(
                    self.settings.auth.super_digest.as_deref(),
                    &**cnxn,
                    &pkt.scheme,
                    &pkt.auth,
                );
                let err = if ok { code::OK } else { code::AUTH_FAILED };
                if !ok {
                    self.stats.incr_auth_failed();
                }
                if ok {
                    tracing::info!("Session 0x{:x}: auth success for scheme {}", cnxn.session_id(), pkt.scheme);
                } else {
                    tracing::warn!("Authentication failed for scheme: {}", pkt.scheme);
                }
                cnxn.send_response(&ReplyHeader { xid: h.xid, zxid: 0, err }, None);
                if !ok {
                    cnxn.send_close_after_flush();
                    cnxn.disable_recv();
                }
            }
            op_code::SASL => {
                let req = GetSaslRequest::from_bytes(body).map_err(|e| format!("bad sasl packet: {e}"))?;
                self.process_sasl(cnxn, h.xid, &req.token);
            }
            _ if !self.enforce_authentication(cnxn, h.xid) => {}
            op_code::CREATE_SESSION => {
                // Only the server creates sessions, from a ConnectRequest.
                // A client's createSession would re-track its own session
                // with any timeout it names (Java 3.8 lets it, so its
                // ephemerals can outlive it by weeks): refused like an
                // unknown opcode.
                tracing::warn!(
                    "Refusing createSession from the client of session 0x{:x} at {}: only the server creates sessions",
                    cnxn.session_id(),
                    cnxn.remote_address()
                );
                answer_unimplemented(cnxn, h.xid, 0);
            }
            _ => {
                let mut req = Request::new(
                    Some(Arc::clone(cnxn)),
                    cnxn.session_id(),
                    h.xid,
                    h.r#type,
                    body.to_vec(),
                    cnxn.auth_info(),
                );
                req.in_flight = Some(InFlight::new(Arc::clone(cnxn), buf.len()));
                req.large_request = self.large_requests.admit(body.len())?;
                submit(req);
            }
        }
        Ok(())
    }

    /// processSasl: feeds the client's token to the connection's SASL
    /// negotiation and answers SetSASLResponse with the next server token.
    /// On success the connection gains the id ("sasl", authorization id),
    /// and ("super", "") too when a zookeeper.superUser property names it.
    /// On failure it is answered AUTHFAILED (SESSIONCLOSEDREQUIRESASLAUTH
    /// when SASL is required) and closed, unless
    /// zookeeper.allowSaslFailedClients lets it stay. Without a SASL login
    /// the answer is OK with no token, as Java's.
    fn process_sasl(&self, cnxn: &Arc<dyn ServerCnxn>, xid: i32, token: &[u8]) {
        let answer = |err: i32, token: Option<Vec<u8>>| {
            let mut oa = OutputArchive::with_capacity(8 + token.as_ref().map_or(0, Vec::len));
            oa.write_nullable_buffer(&token);
            cnxn.send_response(&ReplyHeader { xid, zxid: 0, err }, Some(oa.as_slice()));
        };
        let auth = &self.settings.auth;
        let Some(login) = &auth.sasl_login else {
            tracing::error!("SASL packet from {} but SASL is not configured", cnxn.remote_address());
            return answer(code::OK, None);
        };
        let outcome = {
            let mut slot = cnxn.sasl_server().lock();
            let server = match slot.as_mut() {
                Some(s) => Ok(s),
                None => ZooKeeperSaslServer::new(login).map(|s| slot.insert(s)),
            };
            server.and_then(|s| Ok((s.evaluate_response(token, login)?, s.authorization_id().map(str::to_string))))
        };
        match outcome {
            Ok((response, authorization_id)) => {
                if let Some(id) = authorization_id {
                    let session = cnxn.session_id();
                    tracing::info!("Session 0x{session:x}: adding SASL authorization for authorizationID: {id}");
                    cnxn.add_auth_info(Id::new("sasl", &id));
                    if auth.is_sasl_super_user(&id) {
                        cnxn.add_auth_info(Id::new("super", ""));
                        tracing::info!("Session 0x{session:x}: Authenticated Id '{id}' as super user");
                    }
                }
                answer(code::OK, response);
            }
            Err(e) => {
                tracing::warn!("Client {} failed to SASL authenticate: {e}", cnxn.remote_address());
                let required = auth.is_sasl_auth_required();
                if auth.allow_sasl_failed_clients && !required {
                    tracing::warn!("Maintaining client connection despite SASL authentication failure.");
                    return answer(code::OK, None);
                }
                let err = if required {
                    tracing::warn!(
                        "Closing client connection due to server requires client SASL authentication, but client \
                         SASL authentication has failed, or client is not configured with SASL authentication."
                    );
                    code::SESSION_CLOSED_REQUIRE_SASL_AUTH
                } else {
                    tracing::warn!("Closing client connection due to SASL authentication failure.");
                    code::AUTH_FAILED
                };
                answer(err, None);
                cnxn.send_close_after_flush();
                cnxn.disable_recv();
            }
        }
    }

    /// AuthenticationHelper.enforceAuthentication: with enforce.auth on, a
    /// connection holding no id of an enforced scheme gets
    /// SESSIONCLOSEDREQUIRESASLAUTH for its request and is closed. True when
    /// the request may go on.
    fn enforce_authentication(&self, cnxn: &Arc<dyn ServerCnxn>, xid: i32) -> bool {
        let Some(schemes) = &self.settings.auth.enforce_auth_schemes else { return true };
        let ids = cnxn.auth_info();
        if ids.iter().any(|id| schemes.contains(&id.scheme)) {
            return true;
        }
        let held: Vec<&str> = ids.iter().map(|id| id.scheme.as_str()).collect();
        tracing::error!(
            "Client authentication scheme(s) {held:?} does not match with any of the expected authentication \
             scheme {schemes:?}, closing session."
        );
        cnxn.send_response(&ReplyHeader { xid, zxid: 0, err: code::SESSION_CLOSED_REQUIRE_SASL_AUTH }, None);
        cnxn.send_close_after_flush();
        cnxn.disable_recv();
        false
    }

    /// submitRequest: hands a request to the RequestThrottler.
    pub fn submit_request(&self, req: Request) {
        match self.first_processor.get() {
            Some(t) => t.submit_request(req),
            None => tracing::warn!("dropping {:?}: server not started", req),
        }
    }

    /// submitRequestNow: called by the RequestThrottler thread.
    pub fn submit_request_now(&self, prep: &Arc<dyn RequestProcessor>, mut req: Request) {
        if let Some(c) = &req.cnxn {
            if !self.session_tracker.touch_session(c.session_id(), c.session_timeout()) {
                tracing::debug!("Dropping request {:?}: no session", req);
                return;
            }
        }
        if Request::is_valid(req.op_type) {
            self.role.set_local_session_flag(&mut req);
            if req.cnxn.is_some() {
                self.in_process.fetch_add(1, Ordering::AcqRel);
            }
            prep.process_request(req);
        } else {
            tracing::warn!("Received packet at server of unknown type {}", req.op_type);
            if let Some(c) = &req.cnxn {
                answer_unimplemented(c, req.cxid, req.zxid);
            }
        }
    }

    pub fn dec_in_process(&self) {
        self.in_process.fetch_sub(1, Ordering::AcqRel);
    }

    /// processTxn(Request): session bookkeeping, apply to the tree, retire
    /// the outstanding change records up to this zxid.
    ///
    /// The tree is applied without the outstanding-changes lock, so Prep
    /// goes on preparing meanwhile: until the records are retired right
    /// after, Prep reads them rather than the node, and a node with no
    /// record is not one this txn changes.
    pub fn process_txn(&self, req: &Request) -> ProcessTxnResult {
        if req.op_type == op_code::CLOSE_SESSION {
            self.session_tracker.remove_session(req.session_id);
        }
        let hdr = match &req.hdr {
            Some(h) => h,
            None => return ProcessTxnResult::default(),
        };
        let rc = self.zk_db.process_txn(hdr, req.txn.as_ref(), req.txn_digest.as_ref());
        let retired = {
            let mut oc = self.outstanding_changes.lock();
            let mut retired = 0u64;
            while oc.queue.front().is_some_and(|front| front.zxid <= hdr.zxid) {
                if let Some(cr) = oc.queue.pop_front() {
                    retired += 1;
                    if oc.for_path.get(&cr.path).is_some_and(|c| Arc::ptr_eq(c, &cr)) {
                        oc.for_path.remove(&cr.path);
                    }
                }
            }
            retired
        };
        crate::server::server_metrics::metrics().outstanding_changes_removed.add(retired);
        if req.is_quorum() {
            if let Some(entry) = req.log_entry() {
                self.zk_db.add_committed_proposal(entry);
            }
        }
        // Committed once the database holds it (Java commits first): a
        // learner's table asks the database, and an upgraded session must
        // never be neither local nor upgrading nor committed there.
        if let (op_code::CREATE_SESSION, Some(TxnBody::CreateSession(t))) = (req.op_type, &req.txn) {
            self.session_tracker.commit_session(req.session_id, t.time_out);
        }
        rc
    }

    /// takeSnapshot: the committed sessions and the (fuzzy) tree.
    pub fn take_snapshot(&self) {
        let started = std::time::Instant::now();
        match self.zk_db.take_snapshot(false) {
            Ok(()) => crate::server::server_metrics::metrics().snapshot_time.add(started.elapsed().as_millis() as i64),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => tracing::info!("{e}"),
            Err(e) => tracing::error!("Severe unrecoverable error, failed to take snapshot: {e}"),
        }
    }

    /// checkACL: NOAUTH unless one of the node's ACL entries grants `perm`
    /// to one of the caller's ids.
    pub fn check_acl(&self, acl: &[Acl], perm: i32, ids: &[Id]) -> Result<(), i32> {
        if self.settings.skip_acl || acl.is_empty() {
            return Ok(());
        }
        if ids.iter().any(|i| i.scheme == "super") {
            return Ok(());
        }
        for a in acl {
            if a.perms & perm == 0 {
                continue;
            }
            if a.id.scheme == "world" && a.id.id == "anyone" {
                return Ok(());
            }
            let providers = &self.settings.auth.providers;
            if ids.iter().any(|i| i.scheme == a.id.scheme && providers.matches(&a.id.scheme, &i.id, &a.id.id)) {
                return Ok(());
            }
        }
        Err(code::NO_AUTH)
    }

    /// fixupACL: de-duplicates, expands "auth" into the caller's
    /// authenticated ids, and refuses malformed ACLs (INVALIDACL).
    pub fn fixup_acl(&self, auth_info: &[Id], acls: &[Acl]) -> Result<Vec<Acl>, i32> {
        let providers = &self.settings.auth.providers;
        let mut uniq: Vec<&Acl> = Vec::with_capacity(acls.len());
        for a in acls {
            if !uniq.contains(&a) {
                uniq.push(a);
            }
        }
        if uniq.is_empty() {
            return Err(code::INVALID_ACL);
        }
        let mut rv = Vec::with_capacity(uniq.len());
        for a in uniq {
            if a.id.scheme == "world" && a.id.id == "anyone" {
                rv.push(a.clone());
            } else if a.id.scheme == "auth" {
                let mut valid = false;
                for cid in auth_info {
                    if providers.is_authenticated(&cid.scheme) {
                        valid = true;
                        rv.push(Acl { perms: a.perms, id: cid.clone() });
                    }
                }
                if !valid {
                    return Err(code::INVALID_ACL);
                }
            } else {
                if !providers.is_valid(&a.id.scheme, &a.id.id) {
                    return Err(code::INVALID_ACL);
                }
                rv.push(a.clone());
            }
        }
        Ok(rv)
    }

    /// authWriteRequest (zookeeper.enableEagerACLCheck): a quorum server's
    /// first processor screens create, delete, setData and setACL against
    /// its own copy of the ACLs before anything is proposed, and answers a
    /// refusal itself (zxid 0), so a doomed write costs the ensemble no
    /// proposal and no zxid. Anything it cannot judge (a missing node, a
    /// malformed path or body) passes on for Prep to answer. False means
    /// the request was answered here and must go no further.
    pub fn auth_write_request(&self, req: &Request) -> bool {
        if !self.settings.enable_eager_acl_check {
            return true;
        }
        let Err(err) = self.eager_acl_check(req) else {
            return true;
        };
        tracing::debug!("Request failed the eager ACL check with {err}: {req:?}");
        self.dec_in_process();
        if let Some(c) = &req.cnxn {
            c.send_response(&ReplyHeader { xid: req.cxid, zxid: 0, err }, None);
        }
        false
    }

    /// effectiveACLPath and effectiveACLPerms, then checkACL.
    fn eager_acl_check(&self, req: &Request) -> Result<(), i32> {
        use crate::jute::records::{CreateRequest, DeleteRequest, SetAclRequest, SetDataRequest};
        use crate::server::prep_request_processor::parent_of;
        use crate::zoo_defs::perms;
        // Java's parentPath: no parent for a path without '/', with a NUL
        // or naming a node the server owns.
        let parent = |path: &str| {
            if path.contains('\0') || crate::server::data_tree::DataTree::is_special_path(path) {
                None
            } else {
                parent_of(path).map(str::to_string)
            }
        };
        let (path, perm) = match req.op_type {
            op_code::CREATE | op_code::CREATE2 => match CreateRequest::from_bytes(&req.request) {
                Ok(r) => {
                    self.fixup_acl(&req.auth_info, &r.acl)?;
                    (parent(&r.path), perms::CREATE)
                }
                Err(_) => (None, 0),
            },
            op_code::DELETE => match DeleteRequest::from_bytes(&req.request) {
                Ok(r) => (parent(&r.path), perms::DELETE),
                Err(_) => (None, 0),
            },
            op_code::SET_DATA => match SetDataRequest::from_bytes(&req.request) {
                Ok(r) => (Some(r.path), perms::WRITE),
                Err(_) => (None, 0),
            },
            op_code::SET_ACL => match SetAclRequest::from_bytes(&req.request) {
                Ok(r) => {
                    self.fixup_acl(&req.auth_info, &r.acl)?;
                    (Some(r.path), perms::ADMIN)
                }
                Err(_) => (None, 0),
            },
            _ => (None, 0),
        };
        match path.and_then(|p| self.zk_db.data_tree().node_info(&p)) {
            Some(node) => self.check_acl(&node.acl, perm, &req.auth_info),
            None => Ok(()),
        }
    }

    /// getDataDirSize (Java measures the transaction-log directory here).
    pub fn data_dir_size(&self) -> u64 {
        dir_size(self.zk_db.snap_log().data_log_dir())
    }

    /// getLogDirSize (Java measures the snapshot directory here).
    pub fn log_dir_size(&self) -> u64 {
        dir_size(self.zk_db.snap_log().data_dir())
    }

    /// Stops the server for good: the chain, then the database's log.
    pub fn shutdown(&self) {
        self.shutdown_with(true);
    }

    /// shutdown(fullyShutDown): stops the session tracker, the chain and
    /// what the role runs beside it. `fully` also closes the database; a
    /// quorum role's server passes false, keeping the database for the next
    /// role and applying to it what the log holds beyond the tree.
    pub fn shutdown_with(&self, fully: bool) {
        if self.state.swap(State::Shutdown as u8, Ordering::AcqRel) == State::Shutdown as u8 {
            return;
        }
        self.session_tracker.shutdown();
        if let Some(t) = self.first_processor.get() {
            t.shutdown();
        }
        self.role.shutdown();
        if fully {
            self.zk_db.close();
        } else if let Err(e) = self.zk_db.fast_forward_database() {
            tracing::error!("Error updating DB from the transaction log: {e}");
        }
    }
}

/// UnimplementedRequestProcessor: answers UNIMPLEMENTED, then closes the
/// connection.
fn answer_unimplemented(cnxn: &Arc<dyn ServerCnxn>, xid: i32, zxid: i64) {
    cnxn.send_response(&ReplyHeader { xid, zxid, err: code::UNIMPLEMENTED }, None);
    cnxn.send_close_after_flush();
}

fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).filter_map(|e| e.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

impl SessionExpirer for ZooKeeperServer {
    /// expire: queue a closeSession for the session (ZooKeeperServer.close).
    fn expire(&self, session_id: i64, _timeout: i32) {
        self.submit_request(Request::internal(session_id, op_code::CLOSE_SESSION, Vec::new()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The settings a zoo.cfg holding only a dataDir gives, with these `-D`s.
    fn settings_with(overrides: &[(&str, &str)]) -> Result<ZooKeeperServerSettings, String> {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("zoo.cfg");
        std::fs::write(&cfg, format!("dataDir={}\n", dir.path().join("data").display())).unwrap();
        let overrides: Vec<(String, String)> = overrides.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let config = QuorumPeerConfig::parse(&cfg, &overrides).unwrap();
        ZooKeeperServerSettings::read(&config).map_err(|e| e.to_string())
    }

    #[test]
    fn settings_default_as_java() {
        let s = settings_with(&[]).unwrap();
        assert_eq!((s.server_id, s.tick_time, s.min_session_timeout, s.max_session_timeout), (0, 3000, 6000, 60000));
        assert_eq!(s.global_outstanding_limit, 1000);
        assert_eq!(s.snap_count, 100000);
        assert_eq!(s.snap_size_limit_bytes, 4_194_304 * 1024);
        assert_eq!(s.max_batch_size, 1000);
        assert_eq!((s.flush_delay_ms, s.max_write_queue_poll_time_ms), (0, 0));
        assert_eq!(s.int_buffer_starting_size_bytes, 1024);
        assert!(!s.skip_acl && !s.enforce_quota && !s.enable_eager_acl_check);
        assert!(!s.ephemeral_types.extended_types_enabled);
        assert!(s.digest_enabled && s.close_session_txn_enabled);
    }

    #[test]
    fn settings_follow_java_rules() {
        let s = settings_with(&[
            ("skipACL", "yes"),
            ("snapCount", "1"),
            ("snapSizeLimitInKb", "-1"),
            ("flushDelay", "30"),
            ("extendedTypesEnabled", "true"),
            ("enforceQuota", "true"),
            ("digest.enabled", "false"),
            ("closeSessionTxn.enabled", "false"),
            ("zookeeper.maxBatchSize", "5"),
        ])
        .unwrap();
        assert!(s.skip_acl);
        assert_eq!(s.snap_count, 2, "Java raises snapCount to 2");
        assert_eq!(s.snap_size_limit_bytes, -1024);
        assert_eq!((s.flush_delay_ms, s.max_write_queue_poll_time_ms), (30, 10));
        assert!(s.ephemeral_types.extended_types_enabled && s.enforce_quota);
        assert!(!s.digest_enabled && !s.close_session_txn_enabled);
        assert_eq!(s.max_batch_size, 5);

        assert_eq!(settings_with(&[("zookeeper.snapCount", "lots")]).unwrap_err(), "zookeeper.snapCount: \"lots\" is not a number");
        assert_eq!(settings_with(&[("snapCount", "1e5")]).unwrap_err(), "snapCount: \"1e5\" is not a number");
        assert_eq!(
            settings_with(&[("intBufferStartingSizeBytes", "16")]).unwrap_err(),
            "intBufferStartingSizeBytes: \"16\" must be at least 32"
        );
        // The parts the server creates read theirs too.
        assert_eq!(
            settings_with(&[("zookeeper.request_throttle_stall_time", "x")]).unwrap_err(),
            "zookeeper.request_throttle_stall_time: \"x\" is not a number"
        );
    }

    #[test]
    fn java_random_matches_java() {
        // new java.util.Random(42).nextInt() == -1170105035
        let mut r = JavaRandom::new(42);
        assert_eq!(r.next_int(), -1170105035);
        assert_eq!(r.next_int(), 234785527);
    }
}
