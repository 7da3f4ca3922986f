//! QuorumCnxManager: one TCP connection per pair of peers on the election
//! ports, carrying length-prefixed election messages.
//!
//! Threads: a listener per election address (`ListenerHandler-<addr>`)
//! that only accepts; per connected peer a `SendWorker:<sid>` draining that
//! peer's send queue (capacity 1, the oldest message dropped) with blocking
//! writes, and a `RecvWorker:<sid>` doing blocking reads into the one shared
//! receive queue (capacity 100; a sid that is not a member gets a quarter
//! of it at most, and 50 messages a second). Everything that may wait on the network
//! before a connection stands runs on a short-lived
//! `QuorumConnectionThread-[myid=N]-i` (Java's connectionExecutor): reading
//! an accepted socket's initial message (which must arrive whole within
//! tickTime × syncLimit; at most `quorum.cnxn.threads.size` sockets wait at
//! once, the oldest is closed to make room) and dialing a peer (one dial per
//! sid at a time, at most `quorum.cnxn.threads.size` at once). So a stranger
//! that trickles bytes or makes us dial addresses that never answer holds
//! up neither accepting nor the election.
//!
//! The manager remembers which peers it was ever connected to: one of them
//! with no connection now is lost (`lost_peers`), and the election stops
//! waiting for its vote.
//!
//! The connection rule: only a connection opened by the peer with the larger
//! sid stands. A peer that receives a connection from a smaller sid closes it
//! and dials back; a peer that dialed a larger sid closes its own socket
//! after sending the initial message (the other side dials back).
//!
//! Wire format as Java 3.8: the dialer first sends its initial message
//! (protocol version -65536, or -65535 with multiAddress.enabled; its sid;
//! the length and bytes of its election address `ip:port`, several joined
//! by `|` in version -65535; at most 2048 bytes, as Java's maxBuffer). A
//! first long >= 0 is an old peer's bare sid. Then every message is a
//! 4-byte big-endian length (1..=512 KiB) and bytes.
//!
//! A connection is not authenticated, so a stranger may claim any sid.
//! Dialing back a smaller sid goes to that member's configured election
//! address, never to the addresses the message names (a non-member is
//! dialed at the first one only), and the live connection to that sid
//! stays until the dial-back replaces it: Java drops it first and dials
//! the named addresses, which lets a stranger cut a peer off or take its
//! place. Connections from larger sids that are not members are capped at
//! `quorum.cnxn.threads.size` (Java has no cap). A stranger that claims a
//! larger member's sid still replaces that member's connection until the
//! member reconnects, as in Java, unless quorum SASL is required
//! (`quorum.auth.serverRequireSasl`): then every accepted socket must
//! authenticate (DIGEST-MD5, after its initial message and within
//! tickTime × syncLimit) before the connection rule applies, and every
//! dialed member is authenticated to the same way (QuorumAuth).
//!
//! With sslQuorum every connection is TLS (`unified_server_socket`): the
//! QuorumConnectionThread dialing runs the client handshake, checking the
//! peer's certificate, and the one reading an accepted socket runs the
//! server handshake (with portUnification, only if the peer starts one)
//! within the same tickTime × syncLimit, before the initial message; a peer
//! whose certificate does not verify is closed there and never counts.

use crate::common::deadline_reader::DeadlineReader;
use crate::quorum::auth::quorum_auth::QuorumPeerAuth;
use crate::quorum::unified_server_socket::{QuorumSsl, UnifiedSocket};
use crate::jute::StreamInput;
use crate::quorum::quorum_peer_config::system_properties::SystemProperties;
use crate::quorum::quorum_peer_config::{ConfigError, HostPort};
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::io::{self, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, error, info, warn};

/// The initial message's protocol version with one election address.
pub const PROTOCOL_VERSION_V1: i64 = -65536;
/// The initial message's protocol version with `|`-separated addresses.
pub const PROTOCOL_VERSION_V2: i64 = -65535;
/// The longest address string an initial message may carry.
pub const MAX_INITIAL_ADDRESS_BYTES: i32 = 2048;
/// The longest election message a peer may send.
pub const PACKET_MAX_SIZE: i32 = 512 * 1024;
/// Messages waiting for one peer: only the newest one matters.
const SEND_CAPACITY: usize = 1;
/// Messages received from all peers, not yet taken by the election.
const RECV_CAPACITY: usize = 100;
/// A peer that is not a member (an observer or joiner missing from our
/// view, or a stranger) may have at most this many messages in the receive
/// queue at once, so members always find room there, and its RecvWorker
/// passes on at most NON_MEMBER_RATE messages a second: enough for the few
/// notifications an election needs, too few for a flood to crowd out the
/// members or keep the WorkerReceiver answering it. Java has no such bound.
const NON_MEMBER_QUEUED: usize = RECV_CAPACITY / 4;
const NON_MEMBER_RATE: u32 = 50;
/// How long a SendWorker waits for a message before checking it should go on.
const SEND_POLL: Duration = Duration::from_millis(1000);
/// Pause between attempts to bind the election port.
const BIND_RETRY_PAUSE: Duration = Duration::from_millis(1000);

/// A bounded FIFO that drops its oldest element to make room (Java's
/// CircularBlockingQueue), with a blocking `poll`.
pub struct CircularBlockingQueue<T> {
    items: Mutex<VecDeque<T>>,
    available: Condvar,
    capacity: usize,
}

impl<T> CircularBlockingQueue<T> {
    pub fn new(capacity: usize) -> CircularBlockingQueue<T> {
        CircularBlockingQueue { items: Mutex::new(VecDeque::new()), available: Condvar::new(), capacity: capacity.max(1) }
    }

    /// Appends `item`; returns true when the oldest element was dropped for it.
    pub fn offer(&self, item: T) -> bool {
        let mut items = self.items.lock();
        let dropped = if items.len() >= self.capacity { items.pop_front().is_some() } else { false };
        items.push_back(item);
        self.available.notify_one();
        dropped
    }

    /// Appends `item` unless `limit` elements are already waiting; returns
    /// whether it went in. It never drops an element.
    pub fn offer_below(&self, item: T, limit: usize) -> bool {
        let mut items = self.items.lock();
        if items.len() >= limit.min(self.capacity) {
            return false;
        }
        items.push_back(item);
        self.available.notify_one();
        true
    }

    /// Takes the oldest element, waiting up to `timeout` for one.
    pub fn poll(&self, timeout: Duration) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let mut items = self.items.lock();
        loop {
            if let Some(item) = items.pop_front() {
                return Some(item);
            }
            if self.available.wait_until(&mut items, deadline).timed_out() {
                return items.pop_front();
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.items.lock().is_empty()
    }
}

/// An election message and the sid of the peer it came from.
#[derive(Debug, Clone)]
pub struct Message {
    pub buffer: Vec<u8>,
    pub sid: i64,
}

/// Why an initial message was refused.
#[derive(Debug)]
pub enum InitialMessageError {
    /// The socket failed or closed before the message was complete.
    Io(io::Error),
    /// The bytes are not an initial message.
    Invalid(String),
}

impl std::fmt::Display for InitialMessageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InitialMessageError::Io(e) => write!(f, "{e}"),
            InitialMessageError::Invalid(m) => f.write_str(m),
        }
    }
}

impl From<io::Error> for InitialMessageError {
    fn from(e: io::Error) -> InitialMessageError {
        InitialMessageError::Io(e)
    }
}

/// What a connecting peer says first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialMessage {
    pub sid: i64,
    /// Its election addresses (wildcard ones left out, as Java does); empty
    /// for an old peer that sends only its sid.
    pub election_addrs: Vec<HostPort>,
}

impl InitialMessage {
    /// The bytes a peer with `sid` and election address string `addrs`
    /// (already `|`-joined) sends first.
    pub fn encode(protocol_version: i64, sid: i64, addrs: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(20 + addrs.len());
        out.extend_from_slice(&protocol_version.to_be_bytes());
        out.extend_from_slice(&sid.to_be_bytes());
        out.extend_from_slice(&(addrs.len() as i32).to_be_bytes());
        out.extend_from_slice(addrs.as_bytes());
        out
    }

    /// Reads an initial message (or an old peer's bare sid) through jute's
    /// [`StreamInput`]. The address length is not a jute buffer's: as in
    /// Java's InitialMessage.parse, 0 and every negative length (-1
    /// included) are refused, and so is one above
    /// [`MAX_INITIAL_ADDRESS_BYTES`], before anything is allocated.
    pub fn read_from(r: &mut impl Read) -> Result<InitialMessage, InitialMessageError> {
        let mut input = StreamInput::with_limit(r, MAX_INITIAL_ADDRESS_BYTES as usize);
        let version = input.read_long()?;
        if version >= 0 {
            return Ok(InitialMessage { sid: version, election_addrs: Vec::new() });
        }
        if version != PROTOCOL_VERSION_V1 && version != PROTOCOL_VERSION_V2 {
            return Err(InitialMessageError::Invalid(format!("Got unrecognized protocol version {version}")));
        }
        let sid = input.read_long()?;
        let len = input.read_int()?;
        if len <= 0 || len > MAX_INITIAL_ADDRESS_BYTES {
            return Err(InitialMessageError::Invalid(format!("Unreasonable buffer length: {len}")));
        }
        let bytes = input.read_bytes(len as usize)?;
        let text = String::from_utf8_lossy(&bytes);
        let mut election_addrs = Vec::new();
        for addr in text.split('|').filter(|a| !a.is_empty()) {
            let hp = parse_host_port(addr)
                .ok_or_else(|| InitialMessageError::Invalid(format!("Badly formed address: {addr}")))?;
            let wildcard = hp.host.parse::<IpAddr>().map(|ip| ip.is_unspecified()).unwrap_or(false);
            if !wildcard {
                election_addrs.push(hp);
            }
        }
        Ok(InitialMessage { sid, election_addrs })
    }
}

/// `host:port` or `[v6]:port`.
fn parse_host_port(s: &str) -> Option<HostPort> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        (host, after.strip_prefix(':')?)
    } else {
        let mut parts = s.split(':');
        let (host, port) = (parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        (host, port)
    };
    if host.is_empty() {
        return None;
    }
    Some(HostPort { host: host.to_string(), port: port.parse().ok()? })
}

pub use crate::common::net_utils::format_inet_addr;

/// An election address as this peer announces it: resolved to its first
/// address, or as written when it does not resolve.
fn announce(hp: &HostPort) -> String {
    match hp.resolve().ok().and_then(|v| v.into_iter().next()) {
        Some(a) => format_inet_addr(&a),
        None => hp.to_string(),
    }
}

/// The system properties QuorumCnxManager reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumCnxManagerSettings {
    /// zookeeper.cnxTimeout: election connect timeout (ms, default 5000).
    pub cnx_timeout_ms: i32,
    /// zookeeper.tcpKeepAlive on quorum sockets.
    pub tcp_keep_alive: bool,
    /// zookeeper.electionPortBindRetry (default 3; 0 = forever).
    pub election_port_bind_retry: i32,
    /// zookeeper.quorumCnxnTimeoutMs: how long an election connection's
    /// initial message may take (ms); <= 0 (the default, -1) means
    /// tickTime × syncLimit (QuorumPeer.createCnxnManager).
    pub quorum_cnxn_timeout_ms: i32,
}

impl QuorumCnxManagerSettings {
    pub fn read(props: &SystemProperties) -> Result<QuorumCnxManagerSettings, ConfigError> {
        Ok(QuorumCnxManagerSettings {
            cnx_timeout_ms: props.decimal_int("zookeeper.cnxTimeout", 5000)?,
            tcp_keep_alive: props.boolean("zookeeper.tcpKeepAlive", false),
            election_port_bind_retry: props.int("zookeeper.electionPortBindRetry", 3)?,
            quorum_cnxn_timeout_ms: props.int("zookeeper.quorumCnxnTimeoutMs", -1)?,
        })
    }
}

/// The manager's settings, from QuorumPeerConfig and the system properties.
#[derive(Debug, Clone)]
pub struct CnxSettings {
    pub my_sid: i64,
    /// This peer's election addresses (from its `server.N` line).
    pub my_election_addrs: Vec<HostPort>,
    /// Every member's election addresses (voters and observers) at start;
    /// a reconfiguration replaces it (`set_view`).
    pub view: BTreeMap<i64, Vec<HostPort>>,
    /// `quorumListenOnAllIPs`: bind the election port on the wildcard address.
    pub listen_on_all_ips: bool,
    /// `zookeeper.cnxTimeout`: connect timeout (ms).
    pub cnx_timeout_ms: u64,
    /// zookeeper.quorumCnxnTimeoutMs, else tickTime × syncLimit: how long
    /// the initial message may take (ms).
    pub socket_timeout_ms: u64,
    /// `zookeeper.tcpKeepAlive`.
    pub tcp_keep_alive: bool,
    /// `multiAddress.enabled`: send protocol version 2 with all addresses.
    pub multi_address_enabled: bool,
    /// The reachability probe of a peer's several addresses (see
    /// `QuorumPeerConfig::reachability_probe`).
    pub reachability_probe: Option<Duration>,
    /// `zookeeper.electionPortBindRetry` (0 = retry forever).
    pub bind_retry: i32,
    /// `quorum.cnxn.threads.size`: the most dials, and the most accepted
    /// sockets still sending their initial message, at one time.
    pub threads_size: usize,
    /// Quorum SASL: authServer for accepted sockets, authLearner for dialed ones.
    pub auth: Arc<QuorumPeerAuth>,
    /// sslQuorum / portUnification: how connections are made TLS.
    pub tls: QuorumSsl,
}

/// One live connection to a peer, shared by its SendWorker and RecvWorker.
struct Connection {
    sid: i64,
    /// Tells this connection from a later one to the same sid.
    id: u64,
    stream: TcpStream,
    running: AtomicBool,
}

/// The connection manager. Shared (`Arc`) by the election threads, its own
/// workers and the QuorumPeer.
pub struct QuorumCnxManager {
    settings: CnxSettings,
    /// The members' election addresses in force (the last seen
    /// configuration's, as Java's connectNewPeers keeps them).
    view: RwLock<Arc<BTreeMap<i64, Vec<HostPort>>>>,
    /// The live connection per peer (Java's senderWorkerMap).
    connections: Mutex<HashMap<i64, Arc<Connection>>>,
    /// Every peer a connection ever stood to: those of them without one
    /// now are lost (`lost_peers`).
    ever_connected: Mutex<BTreeSet<i64>>,
    /// Per-peer outgoing queues (queueSendMap); kept across reconnects.
    send_queues: Mutex<HashMap<i64, Arc<CircularBlockingQueue<Vec<u8>>>>>,
    /// The last message handed to each peer's socket, resent on reconnect.
    last_message_sent: Mutex<HashMap<i64, Vec<u8>>>,
    recv_queue: CircularBlockingQueue<Message>,
    /// Sids being dialed now (Java's inprogressConnections).
    dialing: Mutex<HashSet<i64>>,
    /// Dialing threads running.
    dials_running: AtomicUsize,
    /// Accepted sockets whose initial message is being read, oldest first,
    /// each with the id its reading thread knows it by.
    handshakes: Mutex<VecDeque<(u64, TcpStream)>>,
    /// Numbers the QuorumConnectionThreads.
    next_thread_index: AtomicU64,
    listeners: Mutex<Vec<TcpListener>>,
    next_connection_id: AtomicU64,
    /// Ids handed to observers that announce Java's OBSERVER_ID.
    observer_counter: AtomicI64,
    shutdown: AtomicBool,
}

/// The sid an observer with no id of its own announces (Long.MAX_VALUE).
const OBSERVER_ID: i64 = i64::MAX;

impl QuorumCnxManager {
    pub fn new(settings: CnxSettings) -> Arc<QuorumCnxManager> {
        Arc::new(QuorumCnxManager {
            view: RwLock::new(Arc::new(settings.view.clone())),
            settings,
            connections: Mutex::new(HashMap::new()),
            ever_connected: Mutex::new(BTreeSet::new()),
            send_queues: Mutex::new(HashMap::new()),
            last_message_sent: Mutex::new(HashMap::new()),
            recv_queue: CircularBlockingQueue::new(RECV_CAPACITY),
            dialing: Mutex::new(HashSet::new()),
            dials_running: AtomicUsize::new(0),
            handshakes: Mutex::new(VecDeque::new()),
            next_thread_index: AtomicU64::new(1),
            listeners: Mutex::new(Vec::new()),
            next_connection_id: AtomicU64::new(1),
            observer_counter: AtomicI64::new(-1),
            shutdown: AtomicBool::new(false),
        })
    }

    /// The members' election addresses in force.
    pub fn view(&self) -> Arc<BTreeMap<i64, Vec<HostPort>>> {
        Arc::clone(&self.view.read())
    }

    /// A new configuration's members (QuorumPeer.connectNewPeers): members
    /// that were not in the view are dialed.
    pub fn set_view(self: &Arc<Self>, view: BTreeMap<i64, Vec<HostPort>>) {
        let old = std::mem::replace(&mut *self.view.write(), Arc::new(view.clone()));
        for sid in view.keys() {
            if *sid != self.settings.my_sid && !old.contains_key(sid) {
                self.connect_one(*sid);
            }
        }
    }

    pub fn my_sid(&self) -> i64 {
        self.settings.my_sid
    }

    /// Binds every election address (retrying `electionPortBindRetry` times,
    /// a second apart) and starts a listener thread for each. An error means
    /// this peer cannot take part in elections (Java then exits with
    /// UNABLE_TO_BIND_QUORUM_PORT).
    pub fn start_listener(self: &Arc<Self>) -> io::Result<()> {
        for hp in &self.settings.my_election_addrs {
            let listener = self.bind_with_retry(hp)?;
            let local = listener.local_addr()?;
            info!("{} is accepting connections now, my election bind port: {}", self.settings.my_sid, local);
            let accept_side = listener.try_clone()?;
            self.listeners.lock().push(listener);
            let mgr = Arc::clone(self);
            crate::server::zoo_keeper_critical_thread::spawn(format!("ListenerHandler-{}", format_inet_addr(&local)), move || mgr.accept_loop(accept_side))?;
        }
        Ok(())
    }

    fn bind_with_retry(&self, hp: &HostPort) -> io::Result<TcpListener> {
        let mut failures = 0;
        loop {
            match self.bind(hp) {
                Ok(l) => return Ok(l),
                Err(e) => {
                    failures += 1;
                    error!("Exception while listening to address {hp}: {e}");
                    if self.settings.bind_retry > 0 && failures >= self.settings.bind_retry {
                        error!(
                            "As I'm leaving the listener thread after {failures} errors. I won't be able to participate \
                             in leader election any longer: {hp}. Use zookeeper.electionPortBindRetry property to \
                             increase retry count."
                        );
                        return Err(io::Error::new(e.kind(), format!("cannot bind the election address {hp}: {e}")));
                    }
                    std::thread::sleep(BIND_RETRY_PAUSE);
                }
            }
        }
    }

    fn bind(&self, hp: &HostPort) -> io::Result<TcpListener> {
        let addr = if self.settings.listen_on_all_ips {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), hp.port)
        } else {
            hp.resolve()?
                .into_iter()
                .next()
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{hp} does not resolve")))?
        };
        crate::common::net_utils::bind_listener(addr, 50, true)
    }

    fn accept_loop(self: Arc<Self>, listener: TcpListener) {
        while !self.shutdown.load(Ordering::Acquire) {
            match listener.accept() {
                Ok((sock, remote)) => {
                    let remote = crate::common::net_utils::canonical(remote);
                    if self.shutdown.load(Ordering::Acquire) {
                        break;
                    }
                    info!("Received connection request from {remote}");
                    self.receive_connection_async(sock, remote);
                }
                Err(e) => {
                    if self.shutdown.load(Ordering::Acquire) {
                        break;
                    }
                    error!("Exception while accepting election connections: {e}");
                    std::thread::sleep(BIND_RETRY_PAUSE);
                }
            }
        }
        info!("Leaving listener");
    }

    fn set_sock_opts(&self, sock: &TcpStream) -> io::Result<()> {
        sock.set_nodelay(true)?;
        socket2::SockRef::from(sock).set_keepalive(self.settings.tcp_keep_alive)?;
        sock.set_read_timeout(Some(self.socket_timeout()))
    }

    /// tickTime × syncLimit: how long an initial message may take.
    fn socket_timeout(&self) -> Duration {
        Duration::from_millis(self.settings.socket_timeout_ms.max(1))
    }

    /// Starts a QuorumConnectionThread running `task`.
    fn spawn_connection_thread(&self, task: impl FnOnce() + Send + 'static) -> io::Result<()> {
        let index = self.next_thread_index.fetch_add(1, Ordering::Relaxed);
        let name = format!("QuorumConnectionThread-[myid={}]-{index}", self.settings.my_sid);
        crate::server::zoo_keeper_critical_thread::spawn(name, task).map(|_| ())
    }

    /// Reads an accepted socket's initial message on a connection thread
    /// (Java's receiveConnectionAsync), closing the oldest socket still at
    /// that stage when `threads_size` already are.
    fn receive_connection_async(self: &Arc<Self>, sock: TcpStream, remote: SocketAddr) {
        if let Err(e) = self.set_sock_opts(&sock) {
            warn!("Cannot set options on the election connection from {remote}: {e}");
            close(&sock);
            return;
        }
        let Ok(handle) = sock.try_clone() else {
            warn!("Cannot use the election connection from {remote}");
            close(&sock);
            return;
        };
        let id = self.next_connection_id.fetch_add(1, Ordering::Relaxed);
        let evicted = {
            let mut waiting = self.handshakes.lock();
            waiting.push_back((id, handle));
            if waiting.len() > self.settings.threads_size.max(1) {
                waiting.pop_front()
            } else {
                None
            }
        };
        if let Some((_, oldest)) = evicted {
            let from = oldest.peer_addr().map(|a| a.to_string()).unwrap_or_default();
            warn!(
                "{} election connections are still sending their initial message: closing the oldest, from {from}",
                self.settings.threads_size
            );
            close(&oldest);
        }
        let mgr = Arc::clone(self);
        let started = self.spawn_connection_thread(move || mgr.handle_connection(&sock, remote, id));
        if let Err(e) = started {
            error!("Exception handling connection, addr: {remote}, closing server connection: {e}");
            self.handshakes.lock().retain(|(i, s)| {
                if *i == id {
                    close(s);
                }
                *i != id
            });
        }
    }

    /// An accepted socket (handshake `id`): read who it is and keep it, or
    /// close it and dial back (smaller sid), per the connection rule.
    fn handle_connection(self: &Arc<Self>, tcp: &TcpStream, remote: SocketAddr, id: u64) {
        let deadline = Instant::now() + self.socket_timeout();
        // sslQuorum: the TLS handshake (or, with portUnification, the
        // check for one) comes first, within the socket timeout.
        let sock = match tcp.try_clone().and_then(|t| self.settings.tls.accept(t)) {
            Ok(s) => s,
            Err(e) => {
                self.handshakes.lock().retain(|(i, _)| *i != id);
                warn!("Failed the TLS handshake of the election connection from {remote}, closing it: {e}");
                close(tcp);
                return;
            }
        };
        let sock = &sock;
        let init = InitialMessage::read_from(&mut DeadlineReader::new(sock, Some(deadline)));
        // Quorum SASL (authServer.authenticate) before the connection rule,
        // while the socket still counts among the handshakes.
        let auth = match init {
            Ok(_) => self.settings.auth.authenticate_server(sock, self.socket_timeout()),
            Err(_) => Ok(()),
        };
        self.handshakes.lock().retain(|(i, _)| *i != id);
        let init = match init {
            Ok(m) => m,
            Err(InitialMessageError::Io(e)) => {
                warn!("Exception reading or writing challenge from {remote}: {e}");
                close(sock.tcp());
                return;
            }
            Err(InitialMessageError::Invalid(m)) => {
                error!("Initial message parsing error from {remote}! {m}");
                close(sock.tcp());
                return;
            }
        };
        if let Err(e) = auth {
            error!("Exception handling connection, addr: {remote}, closing server connection: {e}");
            close(sock.tcp());
            return;
        }
        let mut sid = init.sid;
        if sid == OBSERVER_ID {
            sid = self.observer_counter.fetch_sub(1, Ordering::AcqRel);
            info!("Setting arbitrary identifier to observer: {sid}");
        }
        let my_sid = self.settings.my_sid;
        if sid < my_sid {
            // Dial back, leaving any connection to `sid` in place until the
            // new one replaces it: the claim may be a stranger's.
            debug!("Create new connection to server: {sid}");
            close(sock.tcp());
            match self.view().get(&sid) {
                Some(addrs) => self.connect_async(sid, addrs.clone(), true),
                None if !init.election_addrs.is_empty() => {
                    self.connect_async(sid, init.election_addrs[..1].to_vec(), true)
                }
                None => self.connect_one(sid),
            };
        } else if sid == my_sid {
            warn!("We got a connection request from a server with our own ID. This should be either a configuration error, or a bug.");
            close(sock.tcp());
        } else if !self.view().contains_key(&sid) && self.non_member_connections() >= self.settings.threads_size {
            warn!(
                "Closing the election connection from {remote}, sid {sid}: not a member, and {} non-members are connected",
                self.settings.threads_size
            );
            close(sock.tcp());
        } else {
            match sock.try_clone() {
                Ok(s) => self.start_workers(sid, s),
                Err(e) => {
                    warn!("Cannot use the election connection from {remote}: {e}");
                    close(sock.tcp());
                }
            }
        }
    }

    /// Connections standing to sids that are not members.
    fn non_member_connections(&self) -> usize {
        let view = self.view();
        self.connections.lock().keys().filter(|sid| !view.contains_key(sid)).count()
    }

    /// Queues `msg` for `sid` (looped straight back when `sid` is us) and
    /// makes sure a connection to it is being made.
    pub fn to_send(self: &Arc<Self>, sid: i64, msg: Vec<u8>) {
        if sid == self.settings.my_sid {
            self.add_to_recv_queue(Message { buffer: msg, sid });
            return;
        }
        let queue = self.send_queue(sid);
        if queue.offer(msg) {
            debug!("Send queue to {sid} was full: dropped its oldest message");
        }
        self.connect_one(sid);
    }

    fn send_queue(&self, sid: i64) -> Arc<CircularBlockingQueue<Vec<u8>>> {
        Arc::clone(
            self.send_queues.lock().entry(sid).or_insert_with(|| Arc::new(CircularBlockingQueue::new(SEND_CAPACITY))),
        )
    }

    fn add_to_recv_queue(&self, msg: Message) {
        if self.recv_queue.offer(msg) {
            debug!("Receive queue full: dropped its oldest message");
        }
    }

    /// The next received message, waiting up to `timeout`.
    pub fn poll_recv_queue(&self, timeout: Duration) -> Option<Message> {
        self.recv_queue.poll(timeout)
    }

    /// Has `sid` dialed at its configured election address unless
    /// connected; returns at once (the dial runs on a connection thread).
    /// False when `sid` is unknown and not connected, or the dial could not
    /// be started.
    pub fn connect_one(self: &Arc<Self>, sid: i64) -> bool {
        match self.view().get(&sid) {
            Some(addrs) => self.connect_async(sid, addrs.clone(), false),
            None => {
                let connected = self.is_connected(sid);
                if !connected {
                    warn!("Invalid server id: {sid} ");
                }
                connected
            }
        }
    }

    /// Starts dialing `sid` at `addrs` on a connection thread unless a dial
    /// to it is under way or (without `replace`) a connection stands (Java's
    /// initiateConnectionAsync). Non-members may not take the last slots,
    /// which are kept for members.
    fn connect_async(self: &Arc<Self>, sid: i64, addrs: Vec<HostPort>, replace: bool) -> bool {
        if !replace && self.is_connected(sid) {
            debug!("There is a connection already for server {sid}");
            return true;
        }
        if self.shutdown.load(Ordering::Acquire) {
            return false;
        }
        if !self.dialing.lock().insert(sid) {
            debug!("Connection request to server id: {sid} is already in progress, so skipping this request");
            return true;
        }
        let mut limit = self.settings.threads_size.max(1);
        if !self.view().contains_key(&sid) {
            limit = limit.saturating_sub(self.view().len());
        }
        if self.dials_running.fetch_add(1, Ordering::AcqRel) >= limit {
            self.dials_running.fetch_sub(1, Ordering::AcqRel);
            self.dialing.lock().remove(&sid);
            warn!("Not dialing server {sid}: {limit} election connections are being dialed already");
            return false;
        }
        let mgr = Arc::clone(self);
        let started = self.spawn_connection_thread(move || {
            if replace || !mgr.is_connected(sid) {
                mgr.initiate_connection(sid, &addrs);
            }
            mgr.dialing.lock().remove(&sid);
            mgr.dials_running.fetch_sub(1, Ordering::AcqRel);
        });
        if let Err(e) = started {
            self.dials_running.fetch_sub(1, Ordering::AcqRel);
            self.dialing.lock().remove(&sid);
            error!("Exception while submitting quorum connection request for server {sid}: {e}");
            return false;
        }
        true
    }

    /// Dials `sid` at the first of `addrs` that answers (cnxTimeout each),
    /// then runs the initial exchange. With several addresses and the
    /// reachability check on, each is probed first within the probe's
    /// timeout, and only if none answers is the first dialed with
    /// cnxTimeout (MultipleAddresses.getReachableOrOne).
    fn initiate_connection(self: &Arc<Self>, sid: i64, addrs: &[HostPort]) {
        let timeout = Duration::from_millis(self.settings.cnx_timeout_ms.max(1));
        let mut last_err = None;
        let passes: Vec<(&[HostPort], Duration)> = match self.settings.reachability_probe {
            Some(probe) if addrs.len() > 1 => vec![(addrs, probe.min(timeout)), (&addrs[..1], timeout)],
            _ => vec![(addrs, timeout)],
        };
        for (addrs, timeout) in passes {
            for hp in addrs {
                let resolved = match hp.resolve() {
                    Ok(v) => v,
                    Err(e) => {
                        last_err = Some(e);
                        continue;
                    }
                };
                for addr in resolved {
                    if self.shutdown.load(Ordering::Acquire) {
                        return;
                    }
                    match TcpStream::connect_timeout(&addr, timeout) {
                        Ok(sock) => {
                            self.start_connection(sid, sock, &hp.host);
                            return;
                        }
                        Err(e) => last_err = Some(e),
                    }
                }
            }
        }
        let list = addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>().join("|");
        match last_err {
            Some(e) => warn!("Cannot open channel to {sid} at election address {list}: {e}"),
            None => warn!("Cannot open channel to {sid}: no election address"),
        }
    }

    /// A socket we dialed: announce ourselves, then keep it only if our sid
    /// is the larger.
    fn start_connection(self: &Arc<Self>, sid: i64, tcp: TcpStream, host: &str) {
        let version = if self.settings.multi_address_enabled { PROTOCOL_VERSION_V2 } else { PROTOCOL_VERSION_V1 };
        let addrs: Vec<String> = if version == PROTOCOL_VERSION_V2 {
            self.settings.my_election_addrs.iter().map(announce).collect()
        } else {
            self.settings.my_election_addrs.first().map(announce).into_iter().collect()
        };
        let hello = InitialMessage::encode(version, self.settings.my_sid, &addrs.join("|"));
        // sslQuorum: an SSLSocket, the peer's certificate checked.
        let sock = self
            .set_sock_opts(&tcp)
            .and_then(|_| self.settings.tls.connect(tcp.try_clone()?, host));
        let sent = sock.and_then(|mut sock| {
            sock.write_all(&hello)?;
            sock.flush()?;
            Ok(sock)
        });
        let sock = match sent {
            Ok(s) if s.is_tls() => {
                info!("SSL handshake complete with {} - sid {sid}", s.peer_addr().map(|a| a.to_string()).unwrap_or_default());
                s
            }
            Ok(s) => s,
            Err(e) => {
                warn!("Ignoring exception reading or writing challenge: {e}");
                close(&tcp);
                return;
            }
        };
        // Quorum SASL (authLearner.authenticate) towards members, before
        // the connection rule: the other side authenticates either way.
        // (The member's host name, the last address's as Java's
        // QuorumServer.hostname, fills in a Kerberos `_HOST`.)
        if let Some(host) = self.view().get(&sid).and_then(|addrs| addrs.last()).map(|hp| hp.host.clone()) {
            if let Err(e) = self.settings.auth.authenticate_learner(&sock, &host, self.socket_timeout()) {
                warn!("Exception while connecting, id: {sid}, closing learner connection: {e}");
                close(&tcp);
                return;
            }
        }
        if sid > self.settings.my_sid {
            info!(
                "Have smaller server identifier, so dropping the connection: (myId:{} --> sid:{})",
                self.settings.my_sid, sid
            );
            close(&tcp);
            return;
        }
        debug!("Have larger server identifier, so keeping the connection: (myId:{} --> sid:{sid})", self.settings.my_sid);
        self.start_workers(sid, sock);
    }

    /// Replaces any connection to `sid` with this one and starts its two
    /// worker threads.
    fn start_workers(self: &Arc<Self>, sid: i64, sock: UnifiedSocket) {
        let (writer, stream) = match (sock.try_clone(), sock.tcp().try_clone()) {
            (Ok(w), Ok(t)) => (w, t),
            (Err(e), _) | (_, Err(e)) => {
                warn!("Cannot use the election connection to {sid}: {e}");
                close(sock.tcp());
                return;
            }
        };
        let reader = BufReader::new(sock);
        let conn = Arc::new(Connection {
            sid,
            id: self.next_connection_id.fetch_add(1, Ordering::Relaxed),
            stream,
            running: AtomicBool::new(true),
        });
        let old = {
            let mut map = self.connections.lock();
            // Checked under the lock `halt` collects connections with: a
            // dial that ends after `halt` leaves nothing running.
            if self.shutdown.load(Ordering::Acquire) {
                drop(map);
                close(&conn.stream);
                return;
            }
            self.ever_connected.lock().insert(sid);
            map.insert(sid, Arc::clone(&conn))
        };
        if let Some(old) = old {
            self.finish(&old);
        }
        let queue = self.send_queue(sid);
        let (mgr, c) = (Arc::clone(self), Arc::clone(&conn));
        let send = crate::server::zoo_keeper_critical_thread::spawn(format!("SendWorker:{sid}"), move || mgr.send_worker(c, queue, writer));
        let (mgr, c) = (Arc::clone(self), Arc::clone(&conn));
        let recv = send.and_then(|_| {
            crate::server::zoo_keeper_critical_thread::spawn(format!("RecvWorker:{sid}"), move || mgr.recv_worker(c, reader))
        });
        if let Err(e) = recv {
            error!("Cannot start the workers for server {sid}: {e}");
            self.finish(&conn);
        }
    }

    /// Closes a connection (both workers end) and forgets it, unless a newer
    /// connection to the same sid has taken its place.
    fn finish(&self, conn: &Connection) {
        if !conn.running.swap(false, Ordering::AcqRel) {
            return;
        }
        debug!("Calling finish for {}", conn.sid);
        close(&conn.stream);
        let mut map = self.connections.lock();
        if map.get(&conn.sid).map(|c| c.id) == Some(conn.id) {
            map.remove(&conn.sid);
        }
    }

    /// SendWorker: resend the last message if nothing newer waits (the peer
    /// may have missed it when the old connection broke), then write what
    /// the queue gives until the connection ends.
    fn send_worker(self: Arc<Self>, conn: Arc<Connection>, queue: Arc<CircularBlockingQueue<Vec<u8>>>, mut out: UnifiedSocket) {
        let sid = conn.sid;
        if queue.is_empty() {
            let last = self.last_message_sent.lock().get(&sid).cloned();
            if let Some(msg) = last {
                debug!("Attempting to send lastMessage to sid={sid}");
                if let Err(e) = write_frame(&mut out, &msg) {
                    error!("Failed to send last message. Shutting down thread. sid={sid}: {e}");
                    self.finish(&conn);
                }
            }
        }
        while conn.running.load(Ordering::Acquire) && !self.shutdown.load(Ordering::Acquire) {
            let Some(msg) = queue.poll(SEND_POLL) else { continue };
            self.last_message_sent.lock().insert(sid, msg.clone());
            if let Err(e) = write_frame(&mut out, &msg) {
                warn!("Exception when using channel: for id {sid} my id = {}: {e}", self.settings.my_sid);
                break;
            }
        }
        self.finish(&conn);
        warn!("Send worker leaving thread id {sid} my id = {}", self.settings.my_sid);
    }

    /// RecvWorker: length-prefixed messages into the receive queue, read
    /// through jute's [`StreamInput`] bounded by [`PACKET_MAX_SIZE`].
    fn recv_worker(self: Arc<Self>, conn: Arc<Connection>, input: BufReader<UnifiedSocket>) {
        let mut input = StreamInput::with_limit(input, PACKET_MAX_SIZE as usize);
        let sid = conn.sid;
        // Wait as long as the peer stays connected.
        if let Err(e) = conn.stream.set_read_timeout(None) {
            warn!("Cannot clear the read timeout of the connection to {sid}: {e}");
        }
        let member = self.view().contains_key(&sid);
        let (mut window_start, mut in_window) = (Instant::now(), 0u32);
        while conn.running.load(Ordering::Acquire) && !self.shutdown.load(Ordering::Acquire) {
            let len = match input.read_int() {
                Ok(n) => n,
                Err(e) => {
                    if conn.running.load(Ordering::Acquire) {
                        warn!("Connection broken for id {sid}, my id = {}: {e}", self.settings.my_sid);
                    }
                    break;
                }
            };
            if len <= 0 || len > PACKET_MAX_SIZE {
                warn!("Received packet with invalid packet: {len} from {sid}");
                break;
            }
            let buf = match input.read_bytes(len as usize) {
                Ok(buf) => buf,
                Err(e) => {
                    warn!("Connection broken for id {sid}, my id = {}: {e}", self.settings.my_sid);
                    break;
                }
            };
            if member {
                self.add_to_recv_queue(Message { buffer: buf, sid });
                continue;
            }
            let now = Instant::now();
            if now.duration_since(window_start) >= Duration::from_secs(1) {
                (window_start, in_window) = (now, 0);
            }
            in_window += 1;
            if in_window > NON_MEMBER_RATE || !self.recv_queue.offer_below(Message { buffer: buf, sid }, NON_MEMBER_QUEUED) {
                debug!("Dropped a message from {sid}, which is not a member");
            }
        }
        debug!("Interrupting SendWorker thread from RecvWorker. sid: {sid}. myId: {}", self.settings.my_sid);
        self.finish(&conn);
    }

    /// The peers whose connection broke and has not been made again: a
    /// peer never connected is not among them. The election stops waiting
    /// for their votes.
    pub fn lost_peers(&self) -> BTreeSet<i64> {
        let connections = self.connections.lock();
        self.ever_connected.lock().iter().copied().filter(|sid| !connections.contains_key(sid)).collect()
    }

    /// Whether some peer's queue is empty, i.e. the last round of messages
    /// went out to at least one peer (Java's haveDelivered).
    pub fn have_delivered(&self) -> bool {
        self.send_queues.lock().values().any(|q| q.is_empty())
    }

    /// Dials every peer we have queued messages for.
    pub fn connect_all(self: &Arc<Self>) {
        let sids: Vec<i64> = self.send_queues.lock().keys().copied().collect();
        for sid in sids {
            self.connect_one(sid);
        }
    }

    /// Whether a connection to `sid` stands now.
    pub fn is_connected(&self, sid: i64) -> bool {
        self.connections.lock().contains_key(&sid)
    }

    /// Stops listening and closes every connection; the workers end.
    pub fn halt(&self) {
        self.shutdown.store(true, Ordering::Release);
        for l in self.listeners.lock().drain(..) {
            // SAFETY: shutdown(2) on a socket we own wakes the thread blocked
            // in accept() on it; the fd stays valid until `l` drops.
            unsafe {
                libc::shutdown(l.as_raw_fd(), libc::SHUT_RDWR);
            }
        }
        for (_, sock) in self.handshakes.lock().drain(..) {
            close(&sock);
        }
        let conns: Vec<Arc<Connection>> = self.connections.lock().values().cloned().collect();
        for c in conns {
            self.finish(&c);
        }
    }
}

fn write_frame(out: &mut UnifiedSocket, msg: &[u8]) -> io::Result<()> {
    let len = i32::try_from(msg.len())
        .ok()
        .filter(|l| *l > 0 && *l <= PACKET_MAX_SIZE)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("message of {} bytes", msg.len())))?;
    let mut frame = Vec::with_capacity(4 + msg.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(msg);
    out.write_all(&frame)?;
    out.flush()
}

fn close(sock: &TcpStream) {
    let _ = sock.shutdown(std::net::Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_as_java_and_parse_cnx_timeout_as_a_decimal() {
        let s = QuorumCnxManagerSettings::read(&SystemProperties::of(&[])).unwrap();
        assert_eq!(
            s,
            QuorumCnxManagerSettings {
                cnx_timeout_ms: 5000,
                tcp_keep_alive: false,
                election_port_bind_retry: 3,
                quorum_cnxn_timeout_ms: -1
            }
        );
        let s = QuorumCnxManagerSettings::read(&SystemProperties::of(&[
            ("cnxTimeout", "700"),
            ("zookeeper.quorumCnxnTimeoutMs", "900"),
        ]))
        .unwrap();
        assert_eq!((s.cnx_timeout_ms, s.quorum_cnxn_timeout_ms), (700, 900));
        let e = QuorumCnxManagerSettings::read(&SystemProperties::of(&[("zookeeper.cnxTimeout", "0x10")]));
        assert_eq!(e.unwrap_err().to_string(), "zookeeper.cnxTimeout: \"0x10\" is not a number");
    }

    #[test]
    fn initial_message_bytes() {
        let b = InitialMessage::encode(PROTOCOL_VERSION_V1, 3, "127.0.0.1:3888");
        assert_eq!(&b[..8], &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0], "-65536");
        assert_eq!(&b[8..16], &3i64.to_be_bytes());
        assert_eq!(&b[16..20], &14i32.to_be_bytes());
        assert_eq!(&b[20..], b"127.0.0.1:3888");
        let m = InitialMessage::read_from(&mut &b[..]).unwrap();
        assert_eq!(m, InitialMessage { sid: 3, election_addrs: vec![HostPort { host: "127.0.0.1".into(), port: 3888 }] });
    }

    #[test]
    fn initial_message_variants() {
        // An old peer sends only its sid.
        let m = InitialMessage::read_from(&mut &7i64.to_be_bytes()[..]).unwrap();
        assert_eq!(m, InitialMessage { sid: 7, election_addrs: vec![] });
        let b = InitialMessage::encode(PROTOCOL_VERSION_V2, 2, "0.0.0.0:1|[0:0:0:0:0:0:0:1]:2|h:3");
        let m = InitialMessage::read_from(&mut &b[..]).unwrap();
        let hosts: Vec<String> = m.election_addrs.iter().map(|a| a.to_string()).collect();
        assert_eq!(hosts, vec!["[0:0:0:0:0:0:0:1]:2", "h:3"], "wildcard addresses are dropped");
    }

    #[test]
    fn bad_initial_messages() {
        let err = |b: Vec<u8>| InitialMessage::read_from(&mut &b[..]).unwrap_err().to_string();
        assert!(err((-5i64).to_be_bytes().to_vec()).contains("unrecognized protocol version -5"));
        let mut b = InitialMessage::encode(PROTOCOL_VERSION_V1, 1, "h:1");
        b[16..20].copy_from_slice(&5000i32.to_be_bytes());
        assert!(err(b).contains("Unreasonable buffer length: 5000"));
        let mut b = InitialMessage::encode(PROTOCOL_VERSION_V1, 1, "h:1");
        b[16..20].copy_from_slice(&0i32.to_be_bytes());
        assert!(err(b).contains("Unreasonable buffer length: 0"));
        // Not a jute buffer: -1 is no null here, but refused like every
        // other negative length, with the initial message's own words.
        for len in [-1, -2, i32::MIN] {
            let mut b = InitialMessage::encode(PROTOCOL_VERSION_V1, 1, "h:1");
            b[16..20].copy_from_slice(&len.to_be_bytes());
            assert!(err(b).contains(&format!("Unreasonable buffer length: {len}")));
        }
        assert!(err(InitialMessage::encode(PROTOCOL_VERSION_V1, 1, "h:x")).contains("Badly formed address: h:x"));
        assert!(err(InitialMessage::encode(PROTOCOL_VERSION_V1, 1, "h")).contains("Badly formed"));
        let b = InitialMessage::encode(PROTOCOL_VERSION_V1, 1, "h:12");
        assert!(matches!(InitialMessage::read_from(&mut &b[..b.len() - 1]), Err(InitialMessageError::Io(_))));
    }

    #[test]
    fn circular_queue_drops_oldest() {
        let q = CircularBlockingQueue::new(2);
        assert!(!q.offer(1));
        assert!(!q.offer(2));
        assert!(q.offer(3));
        assert_eq!(q.poll(Duration::ZERO), Some(2));
        assert_eq!(q.poll(Duration::ZERO), Some(3));
        assert_eq!(q.poll(Duration::from_millis(10)), None);
        assert!(q.is_empty());
    }

    #[test]
    fn java_address_format() {
        assert_eq!(format_inet_addr(&"127.0.0.1:3888".parse().unwrap()), "127.0.0.1:3888");
        assert_eq!(format_inet_addr(&"[::1]:3888".parse().unwrap()), "[0:0:0:0:0:0:0:1]:3888");
    }

    fn local(port: u16) -> HostPort {
        HostPort { host: "127.0.0.1".into(), port }
    }

    /// A manager with sid 3 listening on a free port, whose view has sid 1
    /// at `peer1`.
    fn manager(peer1: u16, threads_size: usize, socket_timeout_ms: u64) -> (Arc<QuorumCnxManager>, String) {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut view = BTreeMap::new();
        view.insert(1, vec![local(peer1)]);
        view.insert(3, vec![local(port)]);
        let mgr = QuorumCnxManager::new(CnxSettings {
            my_sid: 3,
            my_election_addrs: vec![local(port)],
            view,
            listen_on_all_ips: false,
            cnx_timeout_ms: 5000,
            socket_timeout_ms,
            tcp_keep_alive: false,
            multi_address_enabled: false,
            reachability_probe: None,
            bind_retry: 3,
            threads_size,
            auth: Arc::default(),
            tls: QuorumSsl::default(),
        });
        mgr.start_listener().unwrap();
        (mgr, format!("127.0.0.1:{port}"))
    }

    /// The sid in the initial message read from `sock`.
    fn hello_sid(sock: &mut TcpStream) -> i64 {
        sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        InitialMessage::read_from(sock).unwrap().sid
    }

    /// The next connection to `l`, failing the test after 10 s.
    fn accept_within(l: &TcpListener) -> TcpStream {
        l.set_nonblocking(true).unwrap();
        let mut sock = None;
        wait_for("a connection", || {
            sock = l.accept().ok().map(|(s, _)| s);
            sock.is_some()
        });
        let sock = sock.unwrap();
        sock.set_nonblocking(false).unwrap();
        sock
    }

    fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
        let end = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < end, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_smaller_sid_is_dialed_back_at_its_configured_address_only() {
        let peer1 = TcpListener::bind("127.0.0.1:0").unwrap();
        let (mgr, addr) = manager(peer1.local_addr().unwrap().port(), 20, 5000);
        // A claim of sid 1 naming 2048 bytes of addresses nobody listens on.
        let many = vec!["127.0.0.1:1"; 2048 / 12].join("|");
        let mut claim = TcpStream::connect(&addr).unwrap();
        claim.write_all(&InitialMessage::encode(PROTOCOL_VERSION_V2, 1, &many)).unwrap();
        let mut first = accept_within(&peer1);
        assert_eq!(hello_sid(&mut first), 3);
        wait_for("the dial-back to stand", || mgr.is_connected(1));
        // A claim that comes while the dial is still under way is dropped.
        wait_for("the dial to end", || mgr.dialing.lock().is_empty());
        // A second claim leaves the standing connection in place until the
        // new dial-back replaces it.
        let mut claim = TcpStream::connect(&addr).unwrap();
        claim.write_all(&InitialMessage::encode(PROTOCOL_VERSION_V1, 1, "127.0.0.1:1")).unwrap();
        let mut second = accept_within(&peer1);
        assert!(mgr.is_connected(1));
        assert_eq!(hello_sid(&mut second), 3);
        let mut buf = [0u8; 1];
        first.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        assert_eq!(first.read(&mut buf).unwrap_or(0), 0, "the replaced connection is closed");
        assert!(mgr.is_connected(1));
        mgr.halt();
    }

    #[test]
    fn a_trickled_initial_message_is_cut_off_at_the_socket_timeout() {
        let (mgr, addr) = manager(1, 20, 300);
        let mut s = TcpStream::connect(&addr).unwrap();
        let start = Instant::now();
        let hello = InitialMessage::encode(PROTOCOL_VERSION_V1, 7, "127.0.0.1:1");
        // A byte every 200 ms: the whole message would take 6.8 s.
        s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let mut closed = false;
        for b in &hello {
            let _ = s.write_all(&[*b]);
            let mut buf = [0u8; 1];
            closed = match s.read(&mut buf) {
                Ok(_) => true,
                Err(e) => !matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut),
            };
            if closed {
                break;
            }
        }
        assert!(closed, "the trickle was read to its end");
        assert!(start.elapsed() < Duration::from_secs(5), "closed after {:?}", start.elapsed());
        mgr.halt();
    }

    #[test]
    fn the_oldest_silent_connection_makes_room() {
        let (mgr, addr) = manager(1, 2, 60_000);
        let mut silent: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(&addr).unwrap()).collect();
        silent[0].set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(silent[0].read(&mut buf).unwrap_or(0), 0, "the oldest is closed");
        // A peer still gets through: sid 7 is larger, so it is kept.
        let mut peer = TcpStream::connect(&addr).unwrap();
        peer.write_all(&InitialMessage::encode(PROTOCOL_VERSION_V1, 7, "127.0.0.1:1")).unwrap();
        wait_for("sid 7's connection", || mgr.is_connected(7));
        drop(silent);
        mgr.halt();
    }

    /// A peer is lost once its connection broke, until it connects again;
    /// a peer never connected is not lost.
    #[test]
    fn a_peer_whose_connection_broke_is_lost_until_it_reconnects() {
        let (mgr, addr) = manager(1, 20, 5000);
        let hello = InitialMessage::encode(PROTOCOL_VERSION_V1, 7, "127.0.0.1:1");
        let mut peer = TcpStream::connect(&addr).unwrap();
        peer.write_all(&hello).unwrap();
        wait_for("sid 7's connection", || mgr.is_connected(7));
        assert!(mgr.lost_peers().is_empty(), "connected, and sid 1 never was");
        drop(peer);
        wait_for("sid 7 lost", || mgr.lost_peers() == BTreeSet::from([7]));
        let mut again = TcpStream::connect(&addr).unwrap();
        again.write_all(&hello).unwrap();
        wait_for("sid 7 back", || mgr.lost_peers().is_empty());
        mgr.halt();
    }
}

