//! NIOServerCnxnFactory: the client ports, the `ServerCnxnFactory` the
//! server runs behind; its connections are `NioServerCnxn`s. It serves the
//! plain client port and the TLS secureClientPort (Java runs a second,
//! Netty, factory for that one; here both share the selectors, workers,
//! limits and connection table, so `cons` and the session map see every
//! client). With zookeeper.client.portUnification the plain port also takes
//! TLS clients (see `ssl_handler`). Threads:
//! - `NIOAcceptThread` (Java "NIOServerCxnFactory.AcceptThread"), and
//!   `NIOSecureAcceptThread` for the secure port: accept(),
//!   enforce zookeeper.maxCnxns in all and maxClientCnxns per client IP,
//!   hand sockets round-robin to the selector threads. An accept error
//!   (EMFILE, ...) is logged and accepting pauses 10 ms, as Java's does.
//! - `NIOSelector-i` (Java "NIOServerCxnFactory.SelectorThread-i"): an epoll
//!   set of one-shot entries; a ready connection is parked and handed to the
//!   worker pool, which re-arms it when done. It also writes the watch
//!   events other threads queued on its idle connections (its
//!   pending-writes list), a batch per wake-up; a large batch it shares
//!   with the workers.
//! - `NIOWorker-i` (WorkerService): the connections' I/O.
//! - `CnxnExpirer` (Java "ConnnectionExpirer"): closes connections idle past
//!   their session timeout (zookeeper.nio.sessionlessCnxnTimeout before a
//!   session exists, ssl.handshakeDetectionTimeoutMillis before a TLS
//!   handshake on the secure port is done).
//! - `FileChangeWatcher` (with zookeeper.client.certReload): see `X509Util`.
//!
//! A quorum peer swaps the ZooKeeperServer behind the port as its role
//! changes (`set_zoo_keeper_server`); connections made before the swap are
//! closed, and clients reconnect to the new server.

use crate::common::batch_scheduling::BatchScheduling;
use crate::common::time::current_elapsed_time;
use crate::common::x509_util::{SslSettings, X509Kind, X509Util};
use crate::quorum::quorum_peer_config::system_properties::{available_cpus, SystemProperties};
use crate::quorum::quorum_peer_config::ConfigError;
use crate::server::expiry_queue::ExpiryQueue;
use crate::server::nio_server_cnxn::NioServerCnxn;
use crate::server::server_cnxn::ServerCnxn;
use crate::server::server_cnxn_factory::ServerCnxnFactory;
use crate::server::ssl_handler::SslHandler;
use crate::server::worker_service::{WorkRequest, WorkerService};
use crate::server::zoo_keeper_server::ZooKeeperServer;
use crate::watcher::Watcher;
use crossbeam_channel::{unbounded, Receiver, Sender};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

/// Sizing and limits: the system properties NIOServerCnxnFactory reads
/// (zookeeper.nio.*, zookeeper.maxCnxns) and zoo.cfg's maxClientCnxns and
/// clientPortListenBacklog, which its configure is given.
#[derive(Debug, Clone)]
pub struct NioSettings {
    /// zookeeper.nio.numSelectorThreads (default max(1, √(ncpu/2))).
    pub num_selector_threads: usize,
    /// zookeeper.nio.numWorkerThreads (default 2 × ncpu).
    pub num_worker_threads: usize,
    /// maxClientCnxns: connections per client IP, 0 = unlimited.
    pub max_client_cnxns: i32,
    /// zookeeper.maxCnxns: connections in all, 0 = unlimited.
    pub max_cnxns: i32,
    /// zookeeper.nio.sessionlessCnxnTimeout (ms, default 10000).
    pub sessionless_cnxn_timeout_ms: i32,
    /// clientPortListenBacklog as configured (-1: unset); the port listens
    /// with `client_listen_backlog()`.
    pub listen_backlog: i32,
    /// zookeeper.nio.directBufferBytes: the size of one socket read.
    pub direct_buffer_bytes: usize,
    /// zookeeper.nio.shutdownTimeout (ms, default 5000).
    pub shutdown_timeout_ms: i64,
    /// zookeeper.clientTcpKeepAlive.
    pub client_tcp_keep_alive: bool,
    /// zookeeper.client.portUnification: the plain port also takes TLS.
    pub port_unification: bool,
    /// zookeeper.netty.server.outstandingHandshake.limit: most TLS
    /// handshakes at once (connections over it are closed); <= 0: no limit.
    pub outstanding_handshake_limit: i32,
    /// The zookeeper.ssl.* keys (used when a port takes TLS).
    pub ssl: SslSettings,
}

impl NioSettings {
    /// The backlog the client port listens with. An explicit
    /// clientPortListenBacklog is honoured. Unset, Java's ServerSocket
    /// listens with 50; we listen with the kernel's limit
    /// (net.core.somaxconn, which caps what listen() is given), because in
    /// a reconnect storm thousands of sessions arrive at once, an accept
    /// queue of 50 overflows, and every dropped SYN is retried only after
    /// the kernel's 1 s and then 3 s.
    pub fn client_listen_backlog(&self) -> i32 {
        if self.listen_backlog > 0 {
            self.listen_backlog
        } else {
            i32::MAX
        }
    }

    /// NIOServerCnxnFactory.configure's reads of the system properties, with
    /// the zoo.cfg values it is given.
    pub fn read(props: &SystemProperties, max_client_cnxns: i32, listen_backlog: i32) -> Result<NioSettings, ConfigError> {
        let cpus = available_cpus();
        let num_selector_threads =
            props.int("zookeeper.nio.numSelectorThreads", ((cpus as f32 / 2.0).sqrt() as i32).max(1))?;
        if num_selector_threads < 1 {
            return Err(props.refused("zookeeper.nio.numSelectorThreads", "must be at least 1"));
        }
        let num_worker_threads = props.int("zookeeper.nio.numWorkerThreads", cpus.saturating_mul(2))?;
        let direct_buffer_bytes = props.int("zookeeper.nio.directBufferBytes", 64 * 1024)?;
        let shutdown_timeout_ms = props.long("zookeeper.nio.shutdownTimeout", 5000)?;
        let sessionless_cnxn_timeout_ms = props.int("zookeeper.nio.sessionlessCnxnTimeout", 10000)?;
        if sessionless_cnxn_timeout_ms <= 0 {
            return Err(props.refused("zookeeper.nio.sessionlessCnxnTimeout", "must be positive"));
        }
        let mut max_cnxns = props.int("zookeeper.maxCnxns", 0)?;
        if max_cnxns < 0 {
            tracing::warn!("maxCnxns should be greater than or equal to 0, using default value 0.");
            max_cnxns = 0;
        }
        let client_tcp_keep_alive = props.boolean("zookeeper.clientTcpKeepAlive", false);
        if let Some(factory) = props.string("zookeeper.serverCnxnFactory") {
            tracing::info!(
                "zookeeper.serverCnxnFactory={factory} is accepted; zkserver always uses its NIO-style factory, \
                 which serves TLS itself"
            );
        }
        let port_unification = props.boolean("zookeeper.client.portUnification", false);
        let outstanding_handshake_limit = props.int("zookeeper.netty.server.outstandingHandshake.limit", -1)?;
        let ssl = SslSettings::read(props, X509Kind::Client)?;
        Ok(NioSettings {
            num_selector_threads: num_selector_threads as usize,
            num_worker_threads: num_worker_threads.max(0) as usize,
            max_client_cnxns,
            max_cnxns,
            sessionless_cnxn_timeout_ms,
            listen_backlog,
            direct_buffer_bytes: direct_buffer_bytes.max(0) as usize,
            shutdown_timeout_ms,
            client_tcp_keep_alive,
            port_unification,
            outstanding_handshake_limit,
            ssl,
        })
    }
}

const WAKE_TOKEN: u64 = u64::MAX;
/// The fewest pending writes a selector hands a worker at once: fewer are
/// not worth the hand-off.
const MIN_WRITES_HANDED_OFF: usize = 256;

/// A socket an AcceptThread handed to a selector: its peer as accept()
/// reported it (getpeername fails once a queued connection is reset), its
/// place in the connection counts, and whether it came to the secure port.
type Accepted = (TcpStream, SocketAddr, CnxnSlot, bool);

/// How many connections are open in all and per client IP.
#[derive(Default)]
struct CnxnCounts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// One accepted connection's place in the counts maxCnxns and
/// maxClientCnxns limit. Taken at accept and given back when dropped, so
/// every way a connection ends (refused at registration, reset while
/// queued, closed, left over at shutdown) frees its place.
pub struct CnxnSlot {
    factory: Weak<NioServerCnxnFactory>,
    ip: IpAddr,
}

impl CnxnSlot {
    /// A place no factory counts, for a connection built without being
    /// accepted (the client-frame fuzz target drives one directly).
    pub fn uncounted(ip: IpAddr) -> CnxnSlot {
        CnxnSlot { factory: Weak::new(), ip }
    }
}

impl Drop for CnxnSlot {
    fn drop(&mut self) {
        if let Some(f) = self.factory.upgrade() {
            let mut c = f.counts.lock();
            c.total = c.total.saturating_sub(1);
            if let Some(n) = c.per_ip.get_mut(&self.ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    c.per_ip.remove(&self.ip);
                }
            }
        }
    }
}

/// Idle connections with output another thread queued, for the selector
/// thread to write.
#[derive(Default)]
struct PendingWrites {
    cnxns: Vec<Arc<NioServerCnxn>>,
    /// The selector is writing a batch, and looks at the list again
    /// before it sleeps: nobody needs to wake it.
    draining: bool,
}

/// One selector thread's epoll set.
pub struct SelectorThread {
    epfd: OwnedFd,
    wake: OwnedFd,
    accepted_tx: Sender<Accepted>,
    accepted_rx: Receiver<Accepted>,
    cnxns: Mutex<HashMap<u64, Arc<NioServerCnxn>>>,
    pending_writes: Mutex<PendingWrites>,
}

fn cvt(r: i32) -> io::Result<i32> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl SelectorThread {
    fn new() -> io::Result<SelectorThread> {
        // SAFETY: plain syscalls; the returned fds are owned right away.
        let epfd = unsafe { OwnedFd::from_raw_fd(cvt(libc::epoll_create1(libc::EPOLL_CLOEXEC))?) };
        let wake = unsafe { OwnedFd::from_raw_fd(cvt(libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC))?) };
        let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: WAKE_TOKEN };
        // SAFETY: both fds are valid and `ev` outlives the call.
        cvt(unsafe { libc::epoll_ctl(epfd.as_raw_fd(), libc::EPOLL_CTL_ADD, wake.as_raw_fd(), &mut ev) })?;
        let (accepted_tx, accepted_rx) = unbounded();
        Ok(SelectorThread {
            epfd,
            wake,
            accepted_tx,
            accepted_rx,
            cnxns: Mutex::new(HashMap::new()),
            pending_writes: Mutex::new(PendingWrites::default()),
        })
    }

    fn wakeup(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our eventfd.
        unsafe { libc::write(self.wake.as_raw_fd(), &one as *const u64 as *const libc::c_void, 8) };
    }

    fn ctl(&self, op: i32, fd: i32, token: u64, events: u32) -> io::Result<()> {
        let mut ev = libc::epoll_event { events: events | libc::EPOLLONESHOT as u32, u64: token };
        // SAFETY: fd belongs to a live connection; `ev` outlives the call.
        cvt(unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), op, fd, &mut ev) }).map(|_| ())
    }

    /// Puts a connection on the pending-writes list. Only the first of a
    /// batch wakes the thread (one eventfd write), and none while it is
    /// still writing the previous batch.
    pub fn queue_write(&self, cnxn: Arc<NioServerCnxn>) {
        let mut p = self.pending_writes.lock();
        p.cnxns.push(cnxn);
        let wake = p.cnxns.len() == 1 && !p.draining;
        drop(p);
        if wake {
            self.wakeup();
        }
    }

    /// Writes the connections on the pending-writes list, batch after
    /// batch, until it is empty. A large batch (a fan-out to thousands of
    /// watchers) is shared with the worker pool, so that its writes go out
    /// on every core; a small one is written here.
    fn write_pending(&self, factory: &NioServerCnxnFactory) {
        loop {
            let mut batch = {
                let mut p = self.pending_writes.lock();
                if p.cnxns.is_empty() {
                    p.draining = false;
                    return;
                }
                p.draining = true;
                std::mem::take(&mut p.cnxns)
            };
            let share = batch.len().div_ceil(factory.settings.num_worker_threads + 1).max(MIN_WRITES_HANDED_OFF);
            while batch.len() > share {
                let part = batch.split_off(batch.len() - share);
                factory.schedule(Box::new(move || part.iter().for_each(|c| c.write_queued())));
            }
            for c in batch {
                c.write_queued();
            }
        }
    }

    /// Re-arms a parked connection's one-shot entry.
    pub fn rearm(&self, fd: i32, token: u64, events: u32) {
        if let Err(e) = self.ctl(libc::EPOLL_CTL_MOD, fd, token, events) {
            tracing::debug!("epoll re-arm of connection {token} failed: {e}");
        }
    }

    pub fn deregister(&self, fd: i32, token: u64) {
        self.cnxns.lock().remove(&token);
        // SAFETY: removing an fd from our own epoll set; a null event is allowed.
        unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut()) };
    }

    fn run(self: Arc<Self>, factory: Weak<NioServerCnxnFactory>) {
        let mut events: Vec<libc::epoll_event> = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
        // Many connections ready at once is a backlog, as for a stage's
        // queue: no preempting the worker that woke us meanwhile.
        let mut scheduling = BatchScheduling::default();
        loop {
            let Some(f) = factory.upgrade() else { break };
            if f.stopped.load(Ordering::Acquire) {
                break;
            }
            drop(f);
            // SAFETY: `events` has room for the count we pass.
            let n = unsafe {
                libc::epoll_wait(self.epfd.as_raw_fd(), events.as_mut_ptr(), events.len() as i32, 1000)
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    tracing::warn!("epoll_wait failed: {e}");
                }
                continue;
            }
            scheduling.took_here(n as usize);
            for ev in &events[..n as usize] {
                let token = ev.u64;
                let flags = ev.events;
                if token == WAKE_TOKEN {
                    let mut buf = 0u64;
                    // SAFETY: reads 8 bytes into a live u64 from our eventfd.
                    unsafe { libc::read(self.wake.as_raw_fd(), &mut buf as *mut u64 as *mut libc::c_void, 8) };
                    continue;
                }
                let cnxn = self.cnxns.lock().get(&token).cloned();
                if let Some(c) = cnxn {
                    c.mark_busy();
                    c.schedule_io(flags);
                }
            }
            let Some(f) = factory.upgrade() else { break };
            self.write_pending(&f);
            while let Ok((sock, remote, slot, secure)) = self.accepted_rx.try_recv() {
                f.register(&self, sock, remote, slot, secure);
            }
        }
        // Close what is left.
        let left: Vec<_> = self.cnxns.lock().values().cloned().collect();
        for c in left {
            c.close("server shutting down");
        }
    }
}

pub struct NioServerCnxnFactory {
    /// This factory, as the server's link back to its port.
    me: Weak<NioServerCnxnFactory>,
    settings: NioSettings,
    /// The client port's address and listener (the plain port's, or the
    /// secure one's when it is the only one) and whether it is the secure
    /// one; a reconfig may move it.
    listener: RwLock<(SocketAddr, Arc<TcpListener>, bool)>,
    /// The NIOAcceptThread of the current listener.
    accept_thread: Mutex<Option<JoinHandle<()>>>,
    /// The secure client port's listener beside a plain one.
    secure_listener: Option<Arc<TcpListener>>,
    /// The TLS settings and config, when a port takes TLS.
    x509: Option<Arc<X509Util>>,
    /// TLS (or not yet detected) connections whose handshake is not over.
    outstanding_handshakes: AtomicUsize,
    zks: RwLock<Arc<ZooKeeperServer>>,
    selectors: Vec<Arc<SelectorThread>>,
    workers: WorkerService,
    next_selector: AtomicUsize,
    next_cnxn_id: AtomicU64,
    cnxns: Mutex<HashMap<u64, Arc<NioServerCnxn>>>,
    counts: Mutex<CnxnCounts>,
    session_map: Mutex<HashMap<i64, Arc<dyn ServerCnxn>>>,
    /// Connections by idle deadline, polled by the CnxnExpirer thread.
    cnxn_expiry_queue: Mutex<ExpiryQueue<u64>>,
    stopped: AtomicBool,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl NioServerCnxnFactory {
    /// configure + start: binds the client port (`addr`) and the secure
    /// client port (`secure_addr`), whichever are set, loads the TLS stores
    /// when a port takes TLS, and starts every thread.
    pub fn start(
        addr: Option<SocketAddr>,
        secure_addr: Option<SocketAddr>,
        settings: NioSettings,
        zks: Arc<ZooKeeperServer>,
    ) -> io::Result<Arc<Self>> {
        let mut listeners = Vec::new();
        for (a, secure) in [(addr, false), (secure_addr, true)] {
            if let Some(a) = a {
                let l = crate::common::net_utils::bind_listener(a, settings.client_listen_backlog(), true)
                    .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {a}: {e}")))?;
                listeners.push((Arc::new(l), secure));
            }
        }
        let mut listeners = listeners.into_iter();
        let Some((first, first_secure)) = listeners.next() else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "neither clientPort nor secureClientPort is set"));
        };
        let local_address = first.local_addr()?;
        let secure_listener = listeners.next().map(|(l, _)| l);
        let x509 = if secure_addr.is_some() || (addr.is_some() && settings.port_unification) {
            Some(X509Util::start(settings.ssl.clone()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?)
        } else {
            if settings.ssl.key_store.is_some() {
                tracing::warn!(
                    "zookeeper.ssl.keyStore.location is set, but neither secureClientPort nor \
                     zookeeper.client.portUnification is: no client port takes TLS"
                );
            }
            None
        };
        let mut selectors = Vec::new();
        for _ in 0..settings.num_selector_threads.max(1) {
            selectors.push(Arc::new(SelectorThread::new()?));
        }
        let workers = WorkerService::start("NIOWorker", settings.num_worker_threads.max(1))?;
        let factory = Arc::new_cyclic(|me| NioServerCnxnFactory {
            me: Weak::clone(me),
            cnxn_expiry_queue: Mutex::new(ExpiryQueue::new(
                settings.sessionless_cnxn_timeout_ms.max(1) as u64,
                current_elapsed_time(),
            )),
            settings,
            listener: RwLock::new((local_address, first, first_secure)),
            accept_thread: Mutex::new(None),
            secure_listener,
            x509,
            outstanding_handshakes: AtomicUsize::new(0),
            zks: RwLock::new(Arc::clone(&zks)),
            selectors,
            workers,
            next_selector: AtomicUsize::new(0),
            next_cnxn_id: AtomicU64::new(1),
            cnxns: Mutex::new(HashMap::new()),
            counts: Mutex::new(CnxnCounts::default()),
            session_map: Mutex::new(HashMap::new()),
            stopped: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
        });
        zks.set_cnxn_factory(Weak::clone(&factory.me) as Weak<dyn ServerCnxnFactory>);
        let mut threads = Vec::new();
        for (i, sel) in factory.selectors.iter().enumerate() {
            let sel = Arc::clone(sel);
            let weak = Arc::downgrade(&factory);
            threads.push(crate::server::zoo_keeper_critical_thread::spawn(format!("NIOSelector-{i}"), move || sel.run(weak))?);
        }
        factory.start_accepting()?;
        if let Some(l) = &factory.secure_listener {
            let weak = Arc::downgrade(&factory);
            let listener = Arc::clone(l);
            tracing::info!("binding to secure client port {}", listener.local_addr()?);
            threads.push(crate::server::zoo_keeper_critical_thread::spawn("NIOSecureAcceptThread".into(), move || {
                accept_loop(weak, listener, true, false)
            })?);
        }
        let weak = Arc::downgrade(&factory);
        threads.push(crate::server::zoo_keeper_critical_thread::spawn("CnxnExpirer".into(), move || expirer_loop(weak))?);
        *factory.threads.lock() = threads;
        tracing::info!(
            "serving on {} ({} selector thread(s), {} worker threads, {}s sessionless connection timeout)",
            local_address,
            factory.selectors.len(),
            factory.settings.num_worker_threads,
            factory.settings.sessionless_cnxn_timeout_ms / 1000
        );
        Ok(factory)
    }

    /// Starts the NIOAcceptThread (or NIOSecureAcceptThread) on the
    /// current listener.
    fn start_accepting(self: &Arc<Self>) -> io::Result<()> {
        let weak = Arc::downgrade(self);
        let (addr, listener, secure) = {
            let l = self.listener.read();
            (l.0, Arc::clone(&l.1), l.2)
        };
        let name = if secure { "NIOSecureAcceptThread" } else { "NIOAcceptThread" };
        tracing::info!("binding to {} port {addr}", if secure { "secure client" } else { "client" });
        let handle = crate::server::zoo_keeper_critical_thread::spawn(name.into(), move || {
            accept_loop(weak, listener, secure, true)
        })?;
        *self.accept_thread.lock() = Some(handle);
        Ok(())
    }

    /// Wakes the accept thread blocked on `listener` (which is no longer
    /// current, or the factory has stopped) and waits for it to end.
    fn stop_accepting(&self, listener: &TcpListener) {
        // SAFETY: shutting down our own listening socket wakes a blocked accept().
        unsafe { libc::shutdown(listener.as_raw_fd(), libc::SHUT_RDWR) };
        let handle = self.accept_thread.lock().take();
        if let Some(h) = handle {
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
    }

    /// The server new connections talk to.
    pub fn zoo_keeper_server(&self) -> Arc<ZooKeeperServer> {
        Arc::clone(&self.zks.read())
    }

    pub fn schedule(&self, work: WorkRequest) {
        self.workers.schedule(work);
    }

    /// ssl.authProvider: the scheme a TLS client's certificate
    /// authenticates with (None when no port takes TLS).
    pub fn ssl_auth_provider(&self) -> Option<String> {
        self.x509.as_ref().map(|x| x.settings.auth_provider.clone())
    }

    /// The secure client port's address, when it is open.
    pub fn secure_local_address(&self) -> Option<SocketAddr> {
        let l = self.listener.read();
        if l.2 {
            return Some(l.0);
        }
        self.secure_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Takes a place for a new connection from `ip`, or says why not
    /// (limitTotalNumberOfCnxns, then maxClientCnxns).
    fn take_slot(self: &Arc<Self>, ip: IpAddr) -> Result<CnxnSlot, String> {
        let mut c = self.counts.lock();
        let max_total = self.settings.max_cnxns;
        if max_total > 0 && c.total >= max_total as usize {
            return Err(format!("Too many connections {} - max is {}", c.total, max_total));
        }
        let max = self.settings.max_client_cnxns;
        let count = c.per_ip.get(&ip).copied().unwrap_or(0);
        if max > 0 && count >= max as usize {
            return Err(format!("Too many connections from {ip} - max is {max}"));
        }
        c.per_ip.insert(ip, count + 1);
        c.total += 1;
        Ok(CnxnSlot { factory: Arc::downgrade(self), ip })
    }

    /// Called on a selector thread for a socket the AcceptThread handed it.
    /// On any failure the socket is closed and `slot` given back.
    fn register(
        self: &Arc<Self>,
        sel: &Arc<SelectorThread>,
        sock: TcpStream,
        remote: SocketAddr,
        slot: CnxnSlot,
        secure: bool,
    ) {
        if let Err(e) = sock.set_nonblocking(true) {
            tracing::warn!("cannot register connection from {remote}: {e}");
            return;
        }
        let ssl = match &self.x509 {
            Some(x) if secure => match SslHandler::tls(x) {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::warn!("cannot start TLS with {remote}: {e}");
                    return;
                }
            },
            Some(x) if self.settings.port_unification => Some(SslHandler::detect(Arc::clone(x))),
            _ => None,
        };
        if ssl.is_some() {
            let limit = self.settings.outstanding_handshake_limit;
            let before = self.outstanding_handshakes.fetch_add(1, Ordering::AcqRel);
            if limit > 0 && before >= limit as usize {
                self.outstanding_handshakes.fetch_sub(1, Ordering::AcqRel);
                crate::server::server_metrics::metrics().tls_handshake_exceeded.inc();
                tracing::warn!(
                    "Closing connection from {remote}: {before} TLS handshakes are under way \
                     (zookeeper.netty.server.outstandingHandshake.limit={limit})"
                );
                return;
            }
        }
        let _ = sock.set_nodelay(true);
        let id = self.next_cnxn_id.fetch_add(1, Ordering::Relaxed);
        let cnxn = NioServerCnxn::new(
            id,
            sock,
            remote,
            Arc::downgrade(sel),
            Arc::downgrade(self),
            self.zoo_keeper_server(),
            &self.settings,
            slot,
            ssl,
        );
        self.cnxns.lock().insert(id, Arc::clone(&cnxn));
        sel.cnxns.lock().insert(id, Arc::clone(&cnxn));
        self.touch_cnxn(&*cnxn);
        if let Err(e) = sel.ctl(libc::EPOLL_CTL_ADD, cnxn.fd(), id, libc::EPOLLIN as u32) {
            tracing::warn!("cannot watch connection from {remote}: {e}");
            cnxn.close("epoll registration failed");
        }
    }

    /// A connection's handshake (or port-unification detection) is over,
    /// however it ended.
    pub fn handshake_ended(&self) {
        self.outstanding_handshakes.fetch_sub(1, Ordering::AcqRel);
    }

    /// touchCnxn: push the connection's idle deadline out.
    pub fn touch_cnxn(&self, cnxn: &dyn ServerCnxn) {
        self.cnxn_expiry_queue.lock().update(cnxn.watcher_id(), cnxn.session_timeout().max(0) as u64, current_elapsed_time());
    }

    /// removeCnxn: forget a closed connection.
    pub fn remove_cnxn(&self, cnxn: &NioServerCnxn) {
        if self.cnxns.lock().remove(&cnxn.id()).is_none() {
            return;
        }
        self.cnxn_expiry_queue.lock().remove(&cnxn.id());
        let sid = cnxn.session_id();
        let mut sm = self.session_map.lock();
        if sm.get(&sid).map(|c| c.watcher_id()) == Some(cnxn.id()) {
            sm.remove(&sid);
        }
    }
}

impl ServerCnxnFactory for NioServerCnxnFactory {
    fn local_address(&self) -> SocketAddr {
        self.listener.read().0
    }

    /// Moves the client port (the plain one; the secure one when it is the
    /// only one); a secure port beside a plain one stays where it is.
    fn reconfigure(&self, addr: SocketAddr) -> io::Result<()> {
        let Some(me) = self.me.upgrade() else { return Ok(()) };
        let listener = crate::common::net_utils::bind_listener(addr, self.settings.client_listen_backlog(), true).map_err(|e| {
            tracing::error!("Error reconfiguring client port to {addr}: {e}");
            e
        })?;
        let local = listener.local_addr()?;
        // The new listener is current before the old accept thread wakes,
        // so that it sees it must end.
        let old = {
            let mut l = self.listener.write();
            let secure = l.2;
            std::mem::replace(&mut *l, (local, Arc::new(listener), secure)).1
        };
        self.stop_accepting(&old);
        me.start_accepting()
    }

    fn zoo_keeper_server(&self) -> Arc<ZooKeeperServer> {
        NioServerCnxnFactory::zoo_keeper_server(self)
    }

    fn set_zoo_keeper_server(&self, zks: Arc<ZooKeeperServer>) {
        zks.set_cnxn_factory(Weak::clone(&self.me) as Weak<dyn ServerCnxnFactory>);
        *self.zks.write() = zks;
        for c in self.connections() {
            c.close("the server behind the client port changed");
        }
    }

    /// A connection that closed while its session was being set up is not
    /// added: its close (which marks it closed before taking this lock in
    /// `remove_cnxn`) would not find it, and the map would hold it and its
    /// socket until the session ends.
    fn add_session(&self, session_id: i64, cnxn: &Arc<dyn ServerCnxn>) {
        let mut sm = self.session_map.lock();
        if !cnxn.is_stale() {
            sm.insert(session_id, Arc::clone(cnxn));
        }
        drop(sm);
        self.touch_cnxn(&**cnxn);
    }

    fn close_session(&self, session_id: i64, reason: &str) {
        let c = self.session_map.lock().remove(&session_id);
        if let Some(c) = c {
            c.close(reason);
        }
    }

    fn connections(&self) -> Vec<Arc<dyn ServerCnxn>> {
        let mut v: Vec<Arc<NioServerCnxn>> = self.cnxns.lock().values().cloned().collect();
        v.sort_by_key(|c| c.id());
        v.into_iter().map(|c| c as Arc<dyn ServerCnxn>).collect()
    }

    fn num_alive_connections(&self) -> usize {
        self.cnxns.lock().len()
    }

    fn outstanding_tls_handshakes(&self) -> usize {
        self.outstanding_handshakes.load(Ordering::Acquire)
    }

    fn shutdown(&self) {
        if self.stopped.swap(true, Ordering::AcqRel) {
            return;
        }
        let current = Arc::clone(&self.listener.read().1);
        self.stop_accepting(&current);
        if let Some(l) = &self.secure_listener {
            // SAFETY: shutting down our own listening socket wakes a blocked accept().
            unsafe { libc::shutdown(l.as_raw_fd(), libc::SHUT_RDWR) };
        }
        if let Some(x) = &self.x509 {
            x.shutdown();
        }
        for s in &self.selectors {
            s.wakeup();
        }
        for h in self.threads.lock().drain(..) {
            let _ = h.join();
        }
        for c in self.connections() {
            c.close("server shutting down");
        }
        self.workers.stop();
    }
}

/// The AcceptThread's loop. It owns a handle on the listener, so nothing
/// here needs a new descriptor: when accept() itself fails (EMFILE, ENFILE,
/// ENOBUFS, ...) the error is logged (at most once a second) and accepting
/// pauses 10 ms to let descriptors free up, as Java's pauseAccept does; the
/// loop ends when the factory stops or (`movable`) a reconfig replaced the
/// listener.
fn accept_loop(factory: Weak<NioServerCnxnFactory>, listener: Arc<TcpListener>, secure: bool, movable: bool) {
    let mut errors = RateLimitedLog::new(Duration::from_secs(1));
    loop {
        // An IPv4 peer on the dual-stack wildcard is seen as IPv4, as Java sees it.
        let accepted = listener.accept().map(|(s, a)| (s, crate::common::net_utils::canonical(a)));
        let Some(f) = factory.upgrade() else { break };
        // Stopped, or a reconfig moved the port to another listener.
        if f.stopped.load(Ordering::Acquire) || (movable && !Arc::ptr_eq(&f.listener.read().1, &listener)) {
            break;
        }
        match accepted {
            Ok((sock, addr)) => match f.take_slot(addr.ip()) {
                Ok(slot) => {
                    tracing::debug!("Accepted socket connection from {}", addr);
                    let i = f.next_selector.fetch_add(1, Ordering::Relaxed) % f.selectors.len();
                    let sel = &f.selectors[i];
                    let _ = sel.accepted_tx.send((sock, addr, slot, secure));
                    sel.wakeup();
                }
                Err(why) => {
                    // Over maxCnxns or maxClientCnxns.
                    crate::server::server_metrics::metrics().connection_rejected.inc();
                    errors.warn(&format!("Error accepting new connection: {why}"));
                    let _ = sock.shutdown(std::net::Shutdown::Both);
                }
            },
            Err(e) => {
                errors.warn(&format!("Error accepting new connection: {e}"));
                drop(f);
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Logs a recurring warning at most once per `every`, saying how many were
/// left out in between (Java's RateLogger for accept errors).
struct RateLimitedLog {
    every: Duration,
    last: Option<std::time::Instant>,
    skipped: u64,
}

impl RateLimitedLog {
    fn new(every: Duration) -> RateLimitedLog {
        RateLimitedLog { every, last: None, skipped: 0 }
    }

    fn warn(&mut self, msg: &str) {
        let now = std::time::Instant::now();
        if self.last.is_some_and(|t| now.duration_since(t) < self.every) {
            self.skipped += 1;
            return;
        }
        if self.skipped > 0 {
            tracing::warn!("{msg} ({} more like it in the last {:?})", self.skipped, self.every);
        } else {
            tracing::warn!("{msg}");
        }
        self.last = Some(now);
        self.skipped = 0;
    }
}

/// The ConnectionExpirerThread's loop.
fn expirer_loop(factory: Weak<NioServerCnxnFactory>) {
    loop {
        let Some(f) = factory.upgrade() else { break };
        if f.stopped.load(Ordering::Acquire) {
            break;
        }
        let now = current_elapsed_time();
        let wait = f.cnxn_expiry_queue.lock().wait_time(now);
        if wait > 0 {
            drop(f);
            std::thread::sleep(Duration::from_millis(wait.min(100)));
            continue;
        }
        let expired = f.cnxn_expiry_queue.lock().poll(now);
        for id in expired {
            let c = f.cnxns.lock().get(&id).cloned();
            if let Some(c) = c {
                tracing::info!("Closing idle connection from {} (session 0x{:x})", c.remote_address(), c.session_id());
                if c.session_id() == 0 {
                    crate::server::server_metrics::metrics().sessionless_connections_expired.inc();
                }
                c.close("connection expired");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<NioSettings, String> {
        NioSettings::read(&SystemProperties::of(pairs), 60, -1).map_err(|e| e.to_string())
    }

    #[test]
    fn settings_default_as_java() {
        let s = read(&[]).unwrap();
        let cpus = available_cpus();
        assert_eq!(s.num_selector_threads, ((cpus as f32 / 2.0).sqrt() as usize).max(1));
        assert_eq!(s.num_worker_threads, 2 * cpus as usize);
        assert_eq!(s.direct_buffer_bytes, 65536);
        assert_eq!(s.shutdown_timeout_ms, 5000);
        assert_eq!(s.sessionless_cnxn_timeout_ms, 10000);
        assert_eq!((s.max_cnxns, s.max_client_cnxns, s.listen_backlog), (0, 60, -1));
        assert!(!s.client_tcp_keep_alive);
    }

    #[test]
    fn settings_follow_java_rules() {
        let s = read(&[("nio.numSelectorThreads", "4"), ("zookeeper.nio.numWorkerThreads", "3"), ("maxCnxns", "-4")])
            .unwrap();
        assert_eq!((s.num_selector_threads, s.num_worker_threads), (4, 3));
        assert_eq!(s.max_cnxns, 0, "a negative maxCnxns falls back to 0");
        assert_eq!(read(&[("nio.numSelectorThreads", "0")]).unwrap_err(), "nio.numSelectorThreads: \"0\" must be at least 1");
        assert_eq!(
            read(&[("zookeeper.nio.numWorkerThreads", "9999999999")]).unwrap_err(),
            "zookeeper.nio.numWorkerThreads: \"9999999999\" is out of range for a 32-bit integer"
        );
        assert_eq!(
            read(&[("zookeeper.nio.sessionlessCnxnTimeout", "0")]).unwrap_err(),
            "zookeeper.nio.sessionlessCnxnTimeout: \"0\" must be positive"
        );
    }
}
