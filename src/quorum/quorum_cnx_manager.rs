//! QuorumCnxManager: one TCP connection per pair of peers on the election
//! ports, carrying length-prefixed election messages.
//!
//! Threads: a listener per election address (`ListenerHandler-<addr>`)
//! accepting connections and reading their initial message; per connected
//! peer a `SendWorker:<sid>` draining that peer's send queue (capacity 1,
//! the oldest message dropped) with blocking writes, and a `RecvWorker:<sid>`
//! doing blocking reads into the one shared receive queue (capacity 100).
//! Dialing (`connect_one`) runs on whichever thread asks: the election's
//! WorkerSender, or the listener when it dials a peer back.
//!
//! The connection rule: only a connection opened by the peer with the larger
//! sid stands. A peer that receives a connection from a smaller sid closes it
//! and dials back; a peer that dialed a larger sid closes its own socket
//! after sending the initial message (the other side dials back).
//!
//! Wire format as Java 3.8: the dialer first sends its initial message
//! (protocol version -65536, or -65535 with multiAddress.enabled; its sid;
//! the length and bytes of its election address `ip:port`, several joined
//! by `|` in version -65535). A first long >= 0 is an old peer's bare sid.
//! Then every message is a 4-byte big-endian length (1..=512 KiB) and bytes.

use crate::quorum::quorum_peer_config::HostPort;
use parking_lot::{Condvar, Mutex};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{self, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
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

    /// Reads an initial message (or an old peer's bare sid).
    pub fn read_from(r: &mut impl Read) -> Result<InitialMessage, InitialMessageError> {
        let version = read_i64(r)?;
        if version >= 0 {
            return Ok(InitialMessage { sid: version, election_addrs: Vec::new() });
        }
        if version != PROTOCOL_VERSION_V1 && version != PROTOCOL_VERSION_V2 {
            return Err(InitialMessageError::Invalid(format!("Got unrecognized protocol version {version}")));
        }
        let sid = read_i64(r)?;
        let len = read_i32(r)?;
        if len <= 0 || len > MAX_INITIAL_ADDRESS_BYTES {
            return Err(InitialMessageError::Invalid(format!("Unreasonable buffer length: {len}")));
        }
        let mut bytes = vec![0u8; len as usize];
        r.read_exact(&mut bytes)?;
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

fn read_i64(r: &mut impl Read) -> io::Result<i64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(i64::from_be_bytes(b))
}

fn read_i32(r: &mut impl Read) -> io::Result<i32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(i32::from_be_bytes(b))
}

/// An address as Java's NetUtils.formatInetAddr prints a resolved one
/// (`ip:port`, IPv6 in brackets and uncompressed).
pub fn format_inet_addr(addr: &SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V4(ip) => format!("{ip}:{}", addr.port()),
        IpAddr::V6(ip) => {
            let segs: Vec<String> = ip.segments().iter().map(|s| format!("{s:x}")).collect();
            format!("[{}]:{}", segs.join(":"), addr.port())
        }
    }
}

/// An election address as this peer announces it: resolved to its first
/// address, or as written when it does not resolve.
fn announce(hp: &HostPort) -> String {
    match hp.resolve().ok().and_then(|v| v.into_iter().next()) {
        Some(a) => format_inet_addr(&a),
        None => hp.to_string(),
    }
}

/// The manager's settings, from QuorumPeerConfig.
#[derive(Debug, Clone)]
pub struct CnxSettings {
    pub my_sid: i64,
    /// This peer's election addresses (from its `server.N` line).
    pub my_election_addrs: Vec<HostPort>,
    /// Every member's election addresses (voters and observers).
    pub view: BTreeMap<i64, Vec<HostPort>>,
    /// `quorumListenOnAllIPs`: bind the election port on the wildcard address.
    pub listen_on_all_ips: bool,
    /// `zookeeper.cnxTimeout`: connect timeout (ms).
    pub cnx_timeout_ms: u64,
    /// tickTime × syncLimit: how long the initial message may take (ms).
    pub socket_timeout_ms: u64,
    /// `zookeeper.tcpKeepAlive`.
    pub tcp_keep_alive: bool,
    /// `multiAddress.enabled`: send protocol version 2 with all addresses.
    pub multi_address_enabled: bool,
    /// `zookeeper.electionPortBindRetry` (0 = retry forever).
    pub bind_retry: i32,
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
    /// The live connection per peer (Java's senderWorkerMap).
    connections: Mutex<HashMap<i64, Arc<Connection>>>,
    /// Per-peer outgoing queues (queueSendMap); kept across reconnects.
    send_queues: Mutex<HashMap<i64, Arc<CircularBlockingQueue<Vec<u8>>>>>,
    /// The last message handed to each peer's socket, resent on reconnect.
    last_message_sent: Mutex<HashMap<i64, Vec<u8>>>,
    recv_queue: CircularBlockingQueue<Message>,
    /// Serialises dialing (Java's synchronized connectOne).
    connect_lock: Mutex<()>,
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
            settings,
            connections: Mutex::new(HashMap::new()),
            send_queues: Mutex::new(HashMap::new()),
            last_message_sent: Mutex::new(HashMap::new()),
            recv_queue: CircularBlockingQueue::new(RECV_CAPACITY),
            connect_lock: Mutex::new(()),
            listeners: Mutex::new(Vec::new()),
            next_connection_id: AtomicU64::new(1),
            observer_counter: AtomicI64::new(-1),
            shutdown: AtomicBool::new(false),
        })
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
        let sock = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, None)?;
        sock.set_reuse_address(true)?;
        sock.bind(&addr.into())?;
        sock.listen(50)?;
        Ok(sock.into())
    }

    fn accept_loop(self: Arc<Self>, listener: TcpListener) {
        while !self.shutdown.load(Ordering::Acquire) {
            match listener.accept() {
                Ok((sock, remote)) => {
                    if self.shutdown.load(Ordering::Acquire) {
                        break;
                    }
                    info!("Received connection request from {remote}");
                    self.handle_connection(sock);
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
        sock.set_read_timeout(Some(Duration::from_millis(self.settings.socket_timeout_ms.max(1))))
    }

    /// An accepted socket: read who it is and keep it, or close it and dial
    /// back (smaller sid), per the connection rule.
    fn handle_connection(self: &Arc<Self>, sock: TcpStream) {
        if let Err(e) = self.set_sock_opts(&sock) {
            warn!("Cannot set options on an election connection: {e}");
            return;
        }
        let mut reader = match sock.try_clone() {
            Ok(s) => BufReader::new(s),
            Err(e) => {
                warn!("Cannot use an election connection: {e}");
                return;
            }
        };
        let init = match InitialMessage::read_from(&mut reader) {
            Ok(m) => m,
            Err(InitialMessageError::Io(e)) => {
                warn!("Exception reading or writing challenge: {e}");
                close(&sock);
                return;
            }
            Err(InitialMessageError::Invalid(m)) => {
                error!("Initial message parsing error! {m}");
                close(&sock);
                return;
            }
        };
        let mut sid = init.sid;
        if sid == OBSERVER_ID {
            sid = self.observer_counter.fetch_sub(1, Ordering::AcqRel);
            info!("Setting arbitrary identifier to observer: {sid}");
        }
        let my_sid = self.settings.my_sid;
        if sid < my_sid {
            // The peer may still think its old connection is up: drop ours
            // to it before dialing back.
            let old = self.connections.lock().get(&sid).cloned();
            if let Some(old) = old {
                self.finish(&old);
            }
            debug!("Create new connection to server: {sid}");
            close(&sock);
            if init.election_addrs.is_empty() {
                self.connect_one(sid);
            } else {
                self.connect_one_to(sid, &init.election_addrs);
            }
        } else if sid == my_sid {
            warn!("We got a connection request from a server with our own ID. This should be either a configuration error, or a bug.");
            close(&sock);
        } else {
            self.start_workers(sid, sock, reader);
        }
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

    /// Dials `sid` at its configured election address unless connected.
    pub fn connect_one(self: &Arc<Self>, sid: i64) -> bool {
        let Some(addrs) = self.settings.view.get(&sid).cloned() else {
            if !self.connections.lock().contains_key(&sid) {
                warn!("Invalid server id: {sid} ");
            }
            return self.connections.lock().contains_key(&sid);
        };
        self.connect_one_to(sid, &addrs)
    }

    /// Dials `sid` at `addrs` unless a connection to it already stands.
    pub fn connect_one_to(self: &Arc<Self>, sid: i64, addrs: &[HostPort]) -> bool {
        let _serial = self.connect_lock.lock();
        if self.connections.lock().contains_key(&sid) {
            debug!("There is a connection already for server {sid}");
            return true;
        }
        if self.shutdown.load(Ordering::Acquire) {
            return false;
        }
        let timeout = Duration::from_millis(self.settings.cnx_timeout_ms.max(1));
        let mut last_err = None;
        for hp in addrs {
            let resolved = match hp.resolve() {
                Ok(v) => v,
                Err(e) => {
                    last_err = Some(e);
                    continue;
                }
            };
            for addr in resolved {
                match TcpStream::connect_timeout(&addr, timeout) {
                    Ok(sock) => return self.initiate_connection(sid, sock),
                    Err(e) => last_err = Some(e),
                }
            }
        }
        let list = addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>().join("|");
        match last_err {
            Some(e) => warn!("Cannot open channel to {sid} at election address {list}: {e}"),
            None => warn!("Cannot open channel to {sid}: no election address"),
        }
        false
    }

    /// A socket we dialed: announce ourselves, then keep it only if our sid
    /// is the larger.
    fn initiate_connection(self: &Arc<Self>, sid: i64, mut sock: TcpStream) -> bool {
        let version = if self.settings.multi_address_enabled { PROTOCOL_VERSION_V2 } else { PROTOCOL_VERSION_V1 };
        let addrs: Vec<String> = if version == PROTOCOL_VERSION_V2 {
            self.settings.my_election_addrs.iter().map(announce).collect()
        } else {
            self.settings.my_election_addrs.first().map(announce).into_iter().collect()
        };
        let hello = InitialMessage::encode(version, self.settings.my_sid, &addrs.join("|"));
        let sent = self.set_sock_opts(&sock).and_then(|_| sock.write_all(&hello)).and_then(|_| sock.flush());
        if let Err(e) = sent {
            warn!("Ignoring exception reading or writing challenge: {e}");
            close(&sock);
            return false;
        }
        if sid > self.settings.my_sid {
            info!(
                "Have smaller server identifier, so dropping the connection: (myId:{} --> sid:{})",
                self.settings.my_sid, sid
            );
            close(&sock);
            return false;
        }
        debug!("Have larger server identifier, so keeping the connection: (myId:{} --> sid:{sid})", self.settings.my_sid);
        match sock.try_clone() {
            Ok(r) => {
                self.start_workers(sid, sock, BufReader::new(r));
                true
            }
            Err(e) => {
                warn!("Cannot use the election connection to {sid}: {e}");
                close(&sock);
                false
            }
        }
    }

    /// Replaces any connection to `sid` with this one and starts its two
    /// worker threads.
    fn start_workers(self: &Arc<Self>, sid: i64, sock: TcpStream, reader: BufReader<TcpStream>) {
        let writer = match sock.try_clone() {
            Ok(w) => w,
            Err(e) => {
                warn!("Cannot use the election connection to {sid}: {e}");
                close(&sock);
                return;
            }
        };
        let conn = Arc::new(Connection {
            sid,
            id: self.next_connection_id.fetch_add(1, Ordering::Relaxed),
            stream: sock,
            running: AtomicBool::new(true),
        });
        let old = self.connections.lock().insert(sid, Arc::clone(&conn));
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
    fn send_worker(self: Arc<Self>, conn: Arc<Connection>, queue: Arc<CircularBlockingQueue<Vec<u8>>>, mut out: TcpStream) {
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

    /// RecvWorker: length-prefixed messages into the receive queue.
    fn recv_worker(self: Arc<Self>, conn: Arc<Connection>, mut input: BufReader<TcpStream>) {
        let sid = conn.sid;
        // Wait as long as the peer stays connected.
        if let Err(e) = conn.stream.set_read_timeout(None) {
            warn!("Cannot clear the read timeout of the connection to {sid}: {e}");
        }
        while conn.running.load(Ordering::Acquire) && !self.shutdown.load(Ordering::Acquire) {
            let len = match read_i32(&mut input) {
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
            let mut buf = vec![0u8; len as usize];
            if let Err(e) = input.read_exact(&mut buf) {
                warn!("Connection broken for id {sid}, my id = {}: {e}", self.settings.my_sid);
                break;
            }
            self.add_to_recv_queue(Message { buffer: buf, sid });
        }
        debug!("Interrupting SendWorker thread from RecvWorker. sid: {sid}. myId: {}", self.settings.my_sid);
        self.finish(&conn);
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
        let conns: Vec<Arc<Connection>> = self.connections.lock().values().cloned().collect();
        for c in conns {
            self.finish(&c);
        }
    }
}

fn write_frame(out: &mut TcpStream, msg: &[u8]) -> io::Result<()> {
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
}
