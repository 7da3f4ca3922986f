//! NIOServerCnxn: one client connection, the `ServerCnxn` the NIO client
//! port makes: plain TCP, or TLS through its `SslHandler` (secure client
//! port, or a unified plain port whose client opened with a TLS handshake). Its socket is read and written only by an
//! NIOWorker thread, one at a time: the SelectorThread's epoll entry is
//! one-shot, so it stays parked while a worker holds the connection and is
//! re-armed (with the interest the connection needs now) when the worker is
//! done or when another thread queues a reply. Also the connection's Watcher:
//! watch events leave as xid -1 notifications.
//!
//! Memory a client can make the connection hold is bounded: the input
//! buffer holds at most one read chunk or the frame being read (whose length
//! is checked against jute.maxbuffer before a byte of its body is read),
//! none at all between frames (reads go into the worker's buffer), and
//! the connection stops reading while it has globalOutstandingLimit requests
//! in flight or `MAX_BYTES_HELD` bytes of requests in flight plus replies
//! not yet written, so a client that sends faster than it reads its replies
//! is held back by its own socket.

use crate::common::java_hash_order;
use crate::jute::records::{Acl, Id};
use crate::server::nio_server_cnxn_factory::{CnxnSlot, NioServerCnxnFactory, NioSettings, SelectorThread};
use crate::server::server_cnxn::{wall_ms, CnxnStats, ServerCnxn};
use crate::server::ssl_handler::SslHandler;
use crate::server::zoo_keeper_sasl_server::ZooKeeperSaslServer;
use crate::server::zoo_keeper_server::ZooKeeperServer;
use crate::watcher::{Notification, Watcher};
use crate::zoo_defs::perms;
use parking_lot::{Mutex, MutexGuard};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, Ordering};
use std::sync::{Arc, Weak};

/// The smallest read chunk, used when zookeeper.nio.directBufferBytes is 0.
const MIN_READ_CHUNK: usize = 4096;
/// Most reply buffers one writev(2) hands to the socket.
const WRITE_GATHER: usize = 64;
/// Most socket reads one turn of a worker makes on a connection before it
/// lets the others have the worker.
const READS_PER_TURN: usize = 8;
/// A connection stops reading requests while the requests it has in flight
/// plus its replies not yet written reach this many bytes; it reads again
/// once they drop below. A request of any allowed size is still taken
/// when the connection is under the mark, so this only limits pipelining.
pub const MAX_BYTES_HELD: usize = 8 << 20;
/// What a request in flight counts for against MAX_BYTES_HELD at least: a
/// reservation for its reply, whose size is not known yet. It keeps the
/// replies a connection can have coming at once to MAX_BYTES_HELD /
/// REPLY_RESERVE (128), so a client pipelining reads of large nodes
/// without reading the answers holds at most that many of them.
const REPLY_RESERVE: usize = 64 << 10;

/// Unwritten bytes past which a watch notification is not queued: the
/// client has not read for so long that its connection is shut down
/// instead (the client sees a disconnect, which tells it events may have
/// been missed, and reconnects). Replies alone stay far below it, since a
/// connection stops reading requests at MAX_BYTES_HELD; only events, which
/// come whether the client reads or not, could grow the queue without
/// bound, as they do in Java.
const MAX_UNREAD_BYTES: usize = 4 * MAX_BYTES_HELD;

/// Bytes queued for the client: a frame, or a part of one.
enum OutBytes {
    Own(Vec<u8>),
    /// Bytes other frames send too (a node's children listing, or a watch
    /// event's whole frame, shared by every connection told of it).
    Shared(Arc<[u8]>),
}

/// One buffer of the outgoing queue.
struct OutBuf {
    bytes: OutBytes,
    /// Whether the frame ends with this buffer (a packet is counted sent).
    ends_frame: bool,
}

impl OutBuf {
    fn frame(bytes: Vec<u8>) -> OutBuf {
        OutBuf { bytes: OutBytes::Own(bytes), ends_frame: true }
    }

    fn as_slice(&self) -> &[u8] {
        match &self.bytes {
            OutBytes::Own(v) => v,
            OutBytes::Shared(a) => a,
        }
    }
}

/// What the selector and workers share about a connection's readiness.
struct IoState {
    outgoing: VecDeque<OutBuf>,
    /// Bytes of the front buffer already written.
    out_offset: usize,
    /// Bytes in `outgoing` not yet written.
    out_bytes: usize,
    /// False while a worker owns the connection (epoll entry parked).
    selectable: bool,
    /// False while waiting for session set-up, after a failed auth, or
    /// while the server is over globalOutstandingLimit (Java's
    /// disableRecv/enableRecv).
    recv_enabled: bool,
    /// Close once `outgoing` has drained (ServerCnxnFactory.closeConn).
    close_after_flush: bool,
    /// On its selector's pending-writes list (`SelectorThread::queue_write`),
    /// not yet taken off it.
    write_queued: bool,
    /// Requests taken from this connection and not yet finished.
    outstanding: i64,
    /// The bytes those requests count for (their frames, at least
    /// REPLY_RESERVE each).
    inflight_bytes: usize,
}

thread_local! {
    /// The buffer a worker reads a connection into while the connection
    /// holds no part of a frame (see `read_in`), so that an idle
    /// connection holds no read buffer.
    static READ_SCRATCH: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Incoming bytes not yet made into frames: between two turns of a worker,
/// only a frame not yet received whole, or frames held back; touched by the
/// owning worker only.
struct Incoming {
    buf: Vec<u8>,
    start: usize,
    initialized: bool,
}

pub struct NioServerCnxn {
    /// This connection, for the work it hands to the worker pool.
    me: Weak<NioServerCnxn>,
    id: u64,
    sock: TcpStream,
    remote: SocketAddr,
    selector: Weak<SelectorThread>,
    factory: Weak<NioServerCnxnFactory>,
    zks: Arc<ZooKeeperServer>,
    io: Mutex<IoState>,
    incoming: Mutex<Incoming>,
    /// Complete frames left unread because receiving was disabled.
    pending_frames: AtomicBool,
    closed: AtomicBool,
    /// A request of this connection was dropped (`set_invalid`).
    invalid: AtomicBool,
    /// Set once the socket was shut for MAX_UNREAD_BYTES unread.
    unread_shutdown: AtomicBool,
    /// This connection's place in the maxCnxns/maxClientCnxns counts,
    /// given back when it closes.
    slot: Mutex<Option<CnxnSlot>>,
    /// globalOutstandingLimit: most requests in flight before the
    /// connection stops reading.
    max_outstanding: i64,
    session_id: AtomicI64,
    session_timeout: AtomicI32,
    /// How much one read() may pull in (zookeeper.nio.directBufferBytes).
    read_chunk: usize,
    old_client: AtomicBool,
    auth_info: Mutex<Arc<[Id]>>,
    /// zooKeeperSaslServer: the SASL negotiation, from the first SASL packet.
    sasl_server: Mutex<Option<ZooKeeperSaslServer>>,
    established_wall_ms: i64,
    stats: Mutex<CnxnStats>,
    /// The TLS layer (secure port, or port unification); None on a plain
    /// port. Locked inside `incoming` or `io`, never the other way round.
    ssl: Option<Mutex<SslHandler>>,
    /// rustls holds plaintext not yet read into `incoming`.
    tls_buffered: AtomicBool,
    /// The TLS handshake (or port-unification detection) is under way and
    /// counted in the factory's outstanding handshakes.
    handshake_pending: AtomicBool,
    /// zookeeper.nio.sessionlessCnxnTimeout: the idle limit once a TLS
    /// handshake (which has a shorter one) is done.
    sessionless_timeout_ms: i32,
}

impl NioServerCnxn {
    pub fn new(
        id: u64,
        sock: TcpStream,
        remote: SocketAddr,
        selector: Weak<SelectorThread>,
        factory: Weak<NioServerCnxnFactory>,
        zks: Arc<ZooKeeperServer>,
        settings: &NioSettings,
        slot: CnxnSlot,
        ssl: Option<SslHandler>,
    ) -> Arc<NioServerCnxn> {
        // A TLS client must finish its handshake within
        // ssl.handshakeDetectionTimeoutMillis.
        let first_timeout = match &ssl {
            Some(h) if h.is_tls() => settings.ssl.handshake_timeout_ms.min(settings.sessionless_cnxn_timeout_ms),
            _ => settings.sessionless_cnxn_timeout_ms,
        };
        let max_outstanding = i64::from(zks.settings.global_outstanding_limit.max(1));
        Arc::new_cyclic(|me| NioServerCnxn {
            me: Weak::clone(me),
            id,
            sock,
            remote,
            selector,
            factory,
            zks,
            io: Mutex::new(IoState {
                outgoing: VecDeque::new(),
                out_offset: 0,
                out_bytes: 0,
                selectable: true,
                recv_enabled: true,
                close_after_flush: false,
                write_queued: false,
                outstanding: 0,
                inflight_bytes: 0,
            }),
            incoming: Mutex::new(Incoming { buf: Vec::new(), start: 0, initialized: false }),
            pending_frames: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            invalid: AtomicBool::new(false),
            unread_shutdown: AtomicBool::new(false),
            slot: Mutex::new(Some(slot)),
            max_outstanding,
            session_id: AtomicI64::new(0),
            session_timeout: AtomicI32::new(first_timeout),
            read_chunk: settings.direct_buffer_bytes.max(MIN_READ_CHUNK),
            old_client: AtomicBool::new(true),
            // Every connection is known by its address (IPAuthenticationProvider).
            auth_info: Mutex::new(Arc::from([Id::new("ip", &crate::common::net_utils::host_address(remote.ip()))])),
            sasl_server: Mutex::new(None),
            established_wall_ms: wall_ms(),
            stats: Mutex::new(CnxnStats::default()),
            handshake_pending: AtomicBool::new(ssl.is_some()),
            ssl: ssl.map(Mutex::new),
            tls_buffered: AtomicBool::new(false),
            sessionless_timeout_ms: settings.sessionless_cnxn_timeout_ms,
        })
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn fd(&self) -> i32 {
        self.sock.as_raw_fd()
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// packetReceived: a frame of `bytes` bytes (length prefix included).
    fn packet_received(&self, bytes: u64) {
        crate::server::server_metrics::metrics().bytes_received_count.add(bytes);
        self.stats.lock().packets_received += 1;
        self.zks.stats.incr_packets_received();
    }

    /// A whole buffer (one packet) has left the socket.
    fn packet_sent(&self) {
        self.stats.lock().packets_sent += 1;
        self.zks.stats.incr_packets_sent();
    }

    /// Queues the buffers of one frame (in order) and sees that it gets
    /// written: by the worker holding the connection; when it sits idle in
    /// the selector, by the selector thread for a watch event, at once for
    /// a lone reply (`server_cnxn::replying_now`), otherwise by a worker
    /// once the socket is writable.
    fn queue_frame(&self, parts: [Option<OutBuf>; 3]) {
        if self.is_closed() {
            return;
        }
        let len: usize = parts.iter().flatten().map(|b| b.as_slice().len()).sum();
        // Every frame sent is a reply or a watch event (xid -1), each
        // counted as Java's sendResponse counts it.
        let size = len as i64 - 4;
        let first = parts.iter().flatten().next().map_or(&[][..], OutBuf::as_slice);
        let notification = first.get(4..8) == Some(&(-1i32).to_be_bytes()[..]);
        if notification {
            crate::server::server_metrics::metrics().watch_bytes.add(size as u64);
        } else {
            crate::server::server_metrics::metrics().response_bytes.add(size as u64);
        }
        self.zks.stats.update_client_response_size(size);
        let mut io = self.io.lock();
        let was_empty = io.outgoing.is_empty();
        io.out_bytes = io.out_bytes.saturating_add(len);
        io.outgoing.extend(parts.into_iter().flatten());
        // With replies already queued, the parked entry was last armed
        // with EPOLLOUT (every re-arm is made under this lock from the
        // state of the moment) or the connection is on its selector's
        // pending-writes list, so only the first queued frame acts.
        if !(io.selectable && was_empty) {
            return;
        }
        if self.ssl.is_some() {
            self.rearm(&io);
            return;
        }
        if notification {
            // One of the many events a trigger may queue in a row: the
            // thread firing them only queues, and the selector writes
            // them in a batch, without an epoll re-arm or a wake-up each.
            if !io.write_queued {
                io.write_queued = true;
                drop(io);
                if let (Some(sel), Some(me)) = (self.selector.upgrade(), self.me.upgrade()) {
                    sel.queue_write(me);
                }
            }
            return;
        }
        if !crate::server::server_cnxn::write_now() {
            self.rearm(&io);
            return;
        }
        // Idle in the selector, armed for reading only: written from here.
        drop(io);
        self.write_while_idle();
    }

    /// Writes the queue from a thread that does not hold the connection
    /// while it sits idle in the selector, armed for reading only. What
    /// the socket does not take waits for write readiness (unless a worker
    /// took the connection meanwhile: it re-arms when done).
    fn write_while_idle(&self) {
        if let Err(e) = self.write_out() {
            self.close(&format!("write failed: {e}"));
            return;
        }
        let io = self.io.lock();
        if io.selectable && !io.outgoing.is_empty() {
            self.rearm(&io);
        }
    }

    /// Called by the SelectorThread for a connection it took off its
    /// pending-writes list: writes the queue, unless a worker holds the
    /// connection now (it writes it then).
    pub fn write_queued(&self) {
        let mut io = self.io.lock();
        io.write_queued = false;
        if !io.selectable || self.is_closed() {
            return;
        }
        drop(io);
        self.write_while_idle();
    }

    // ---- throttling ----

    /// Whether the connection is over its own limits: too many requests in
    /// flight, or too many bytes of requests and unwritten replies.
    fn over_limits(&self, io: &IoState) -> bool {
        io.outstanding >= self.max_outstanding || io.inflight_bytes.saturating_add(io.out_bytes) >= MAX_BYTES_HELD
    }

    /// Whether the connection may take another request now.
    fn may_read(&self, io: &IoState) -> bool {
        io.recv_enabled && !io.close_after_flush && !self.over_limits(io)
    }

    /// Puts a parked connection back to work after it became able to read:
    /// frames already buffered go to a worker at once (the socket may never
    /// become readable again), otherwise the epoll entry is re-armed.
    fn resume(&self, mut io: MutexGuard<'_, IoState>) {
        if !io.selectable || self.is_closed() {
            return;
        }
        if self.may_read(&io) && self.has_input_waiting() {
            io.selectable = false;
            drop(io);
            if let Some(me) = self.me.upgrade() {
                me.schedule_io(0);
            }
        } else {
            self.rearm(&io);
        }
    }

    // ---- TLS ----

    /// Input waits that epoll will not report: complete frames held back,
    /// or plaintext rustls has already decrypted.
    fn has_input_waiting(&self) -> bool {
        self.pending_frames.load(Ordering::Acquire) || self.tls_buffered.load(Ordering::Acquire)
    }

    /// Takes the connection out of the outstanding handshakes, once.
    fn end_handshake(&self) {
        if self.handshake_pending.swap(false, Ordering::AcqRel) {
            if let Some(f) = self.factory.upgrade() {
                f.handshake_ended();
            }
        }
    }

    fn tls_wants_write(&self) -> bool {
        self.ssl.as_ref().is_some_and(|s| s.lock().wants_write())
    }

    /// One read of the client's bytes: from the socket, or the plaintext
    /// of its TLS stream. A failed handshake or corrupt record is logged
    /// and fails the read; a finished handshake authenticates the client's
    /// certificate (Java's CertificateVerifier).
    fn transport_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(ssl) = &self.ssl else { return (&self.sock).read(buf) };
        let mut h = ssl.lock();
        let res = h.read(&self.sock, buf);
        self.tls_buffered.store(h.has_buffered_plaintext(), Ordering::Release);
        let done = h.take_handshaken();
        let settled = h.is_settled();
        drop(h);
        if settled {
            self.end_handshake();
        }
        if let Err(e) = &res {
            if e.kind() == io::ErrorKind::InvalidData {
                self.zks.stats.incr_auth_failed();
                crate::server::server_metrics::metrics().unsuccessful_handshake.inc();
                tracing::warn!("Unsuccessful TLS handshake or bad TLS record from {}: {e}", self.remote);
            }
        }
        if let Some(done) = done {
            self.verify_certificate(done.peer_chain).map_err(|e| io::Error::new(io::ErrorKind::PermissionDenied, e))?;
        }
        res
    }

    /// CertificateVerifier.operationComplete: after the handshake, the
    /// client's certificate (if it sent one; rustls already checked it
    /// against the trust store) becomes its ssl.authProvider identity.
    fn verify_certificate(&self, peer_chain: Vec<Vec<u8>>) -> Result<(), String> {
        tracing::debug!("Successful TLS handshake with {}", self.remote);
        self.set_session_timeout(self.sessionless_timeout_ms);
        self.touch();
        let Some(leaf) = peer_chain.first() else { return Ok(()) };
        let x509 = self.zks.settings.auth.providers.x509();
        let scheme = self.factory.upgrade().and_then(|f| f.ssl_auth_provider()).unwrap_or_else(|| "x509".to_string());
        let Some(x509) = x509.filter(|_| scheme == crate::server::auth::x509_authentication_provider::SCHEME) else {
            tracing::error!("X509 Auth provider not found: {scheme} (closing {})", self.remote);
            return Err(format!("X509 Auth provider not found: {scheme}"));
        };
        if let Err(e) = crate::server::auth::x509_authentication_provider::handle_authentication(
            self,
            leaf,
            x509.super_user.as_deref(),
        ) {
            self.zks.stats.incr_auth_failed();
            tracing::error!("Authentication failed for {}: {e}", self.remote);
            return Err(e);
        }
        Ok(())
    }

    // ---- output ----

    // ---- readiness ----

    /// Re-arms the one-shot epoll entry with what the connection needs now.
    /// Called with `io` locked, so the last re-arm always reflects the
    /// latest state.
    fn rearm(&self, io: &IoState) {
        if self.is_closed() {
            return;
        }
        let mut ev = 0u32;
        if self.may_read(io) {
            ev |= libc::EPOLLIN as u32;
        }
        if !io.outgoing.is_empty() || io.close_after_flush || self.tls_wants_write() {
            ev |= libc::EPOLLOUT as u32;
        }
        if let Some(sel) = self.selector.upgrade() {
            sel.rearm(self.fd(), self.id, ev);
        }
    }

    /// Called by the SelectorThread when epoll reported readiness: the
    /// entry is parked until a worker has done the I/O.
    pub fn mark_busy(&self) {
        self.io.lock().selectable = false;
    }

    pub fn schedule_io(self: &Arc<Self>, events: u32) {
        match self.factory.upgrade() {
            Some(f) => {
                let me = Arc::clone(self);
                f.schedule(Box::new(move || me.do_io(events)));
            }
            None => self.close("server shutting down"),
        }
    }

    /// doIO: runs on an NIOWorker thread. The connection's idle deadline
    /// moves on only when a whole request arrives or a reply makes
    /// progress, so a client trickling bytes that never complete a frame
    /// is closed when its (sessionless) timeout passes. Java moves it on
    /// any readiness, which lets such a client hold the connection for
    /// ever.
    pub fn do_io(self: &Arc<Self>, events: u32) {
        if self.is_closed() {
            return;
        }
        if events & (libc::EPOLLOUT as u32) != 0 {
            if let Err(e) = self.write_out() {
                self.close(&format!("write failed: {e}"));
                return;
            }
        }
        if let Err(reason) = self.read_in(events) {
            self.close(&reason);
            return;
        }
        if self.is_closed() {
            return;
        }
        // Replies produced while we read may be writable right away.
        if let Err(e) = self.write_out() {
            self.close(&format!("write failed: {e}"));
            return;
        }
        let mut io = self.io.lock();
        if io.close_after_flush && io.outgoing.is_empty() && !self.tls_wants_write() {
            drop(io);
            self.close("closed after the last reply");
            return;
        }
        if self.may_read(&io) && self.has_input_waiting() {
            drop(io);
            self.schedule_io(0);
            return;
        }
        io.selectable = true;
        self.rearm(&io);
    }

    /// Writes queued replies until the queue is empty or the socket is
    /// full, gathering up to WRITE_GATHER buffers per writev(2) (Java
    /// likewise copies several buffers into one direct buffer per write).
    fn write_out(&self) -> io::Result<()> {
        let mut io = self.io.lock();
        if let Some(ssl) = &self.ssl {
            ssl.lock().flush(&self.sock)?;
        }
        let mut progress = false;
        let res = loop {
            if io.outgoing.is_empty() {
                break Ok(());
            }
            let off = io.out_offset;
            let slices: Vec<io::IoSlice<'_>> = io
                .outgoing
                .iter()
                .take(WRITE_GATHER)
                .enumerate()
                .map(|(i, b)| {
                    let b = b.as_slice();
                    io::IoSlice::new(if i == 0 { b.get(off..).unwrap_or(&[]) } else { b })
                })
                .collect();
            let written = match &self.ssl {
                Some(ssl) => ssl.lock().write_vectored(&self.sock, &slices),
                None => (&self.sock).write_vectored(&slices),
            };
            match written {
                Ok(0) => break Err(io::Error::new(io::ErrorKind::WriteZero, "socket closed")),
                Ok(n) => {
                    drop(slices);
                    progress = true;
                    io.out_bytes = io.out_bytes.saturating_sub(n);
                    // Pops every buffer written whole; the offset marks
                    // how far into the next one the write got.
                    let mut left = off + n;
                    while let Some(front) = io.outgoing.front() {
                        let len = front.as_slice().len();
                        if left < len {
                            break;
                        }
                        left -= len;
                        if io.outgoing.pop_front().is_some_and(|b| b.ends_frame) {
                            self.packet_sent();
                        }
                    }
                    io.out_offset = left;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(e),
            }
        };
        drop(io);
        if progress {
            self.touch();
        }
        res
    }

    /// Pushes the connection's idle deadline out (touchCnxn).
    fn touch(&self) {
        if let Some(f) = self.factory.upgrade() {
            f.touch_cnxn(self);
        }
    }

    /// Handles the frames already buffered, then, on read readiness and
    /// while the connection may take requests, reads from the socket (a
    /// few times at most) and handles what arrived. Err(reason) closes the
    /// connection.
    ///
    /// A connection holding no bytes reads into the worker's READ_SCRATCH
    /// and keeps only what is left unhandled; one that holds part of a
    /// frame reads on into its own buffer, which it drops once empty.
    fn read_in(self: &Arc<Self>, events: u32) -> Result<(), String> {
        let mut inc = self.incoming.lock();
        let scratch = inc.buf.is_empty();
        if scratch {
            inc.buf = READ_SCRATCH.take();
            inc.start = 0;
        }
        let res = self.read_and_handle(&mut inc, events);
        let rest = inc.buf.get(inc.start..).unwrap_or(&[]);
        if scratch {
            let kept = rest.to_vec();
            let mut buf = std::mem::replace(&mut inc.buf, kept);
            buf.clear();
            // A large frame's buffer is not kept by the worker either.
            if buf.capacity() <= 2 * self.read_chunk {
                READ_SCRATCH.set(buf);
            }
            inc.start = 0;
        } else if rest.is_empty() {
            inc.buf = Vec::new();
            inc.start = 0;
        }
        res
    }

    fn read_and_handle(self: &Arc<Self>, inc: &mut Incoming, events: u32) -> Result<(), String> {
        if !self.handle_frames(inc)? {
            return Ok(());
        }
        let hangup = events & ((libc::EPOLLHUP | libc::EPOLLERR) as u32) != 0;
        let buffered = self.tls_buffered.load(Ordering::Acquire);
        if events & (libc::EPOLLIN as u32) == 0 && !hangup && !buffered {
            return Ok(());
        }
        for _ in 0..READS_PER_TURN {
            if !self.may_read(&self.io.lock()) {
                // A connection held back is not read; but a hang-up is
                // reported whatever the interest, and would wake us again
                // and again: nothing can be answered on it any more.
                if hangup {
                    return Err(format!("connection from {} reset while held back", self.remote));
                }
                return Ok(());
            }
            let (n, room) = self.read_some(inc)?;
            if n == 0 {
                return Ok(());
            }
            if !self.handle_frames(inc)? || n < room {
                return Ok(());
            }
        }
        Ok(())
    }

    /// One read(2) into the input buffer, of at most what it may hold: a
    /// read chunk, or the whole of the frame being read when that is larger
    /// (its length was checked against jute.maxbuffer by `handle_frames`).
    /// Returns the bytes read (0: nothing there now) and the room offered.
    fn read_some(&self, inc: &mut Incoming) -> Result<(usize, usize), String> {
        if inc.start > 0 {
            inc.buf.drain(..inc.start);
            inc.start = 0;
        }
        let have = inc.buf.len();
        let frame = match inc.buf.get(..4) {
            Some(h) => 4 + i32::from_be_bytes([h[0], h[1], h[2], h[3]]).max(0) as usize,
            None => 4,
        };
        let target = frame.max(self.read_chunk);
        let room = target.saturating_sub(have);
        if room == 0 {
            return Ok((0, 0));
        }
        inc.buf.resize(target, 0);
        loop {
            match self.transport_read(&mut inc.buf[have..]) {
                Ok(0) => {
                    inc.buf.truncate(have);
                    return Err(format!(
                        "Unable to read additional data from client, it probably closed the socket: address = {}, session = 0x{:x}",
                        self.remote,
                        self.session_id()
                    ));
                }
                Ok(n) => {
                    inc.buf.truncate(have + n);
                    return Ok((n, room));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    inc.buf.truncate(have);
                    return Ok((0, room));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    inc.buf.truncate(have);
                    return Err(format!("read failed: {e}"));
                }
            }
        }
    }

    /// Hands each complete frame in the buffer to the server while the
    /// connection may take requests. Returns false when reading must stop
    /// here: a four-letter word was answered, or a frame is held back until
    /// the connection may take it (`pending_frames`).
    fn handle_frames(self: &Arc<Self>, inc: &mut Incoming) -> Result<bool, String> {
        let max = crate::jute::max_buffer();
        let mut handled = false;
        let res = loop {
            let Some(h) = inc.buf.get(inc.start..inc.start + 4) else { break Ok(true) };
            let len = i32::from_be_bytes([h[0], h[1], h[2], h[3]]);
            if !inc.initialized {
                if let Some(cmd) = crate::server::command::four_letter_word(len) {
                    if cmd == "stmk" {
                        // The new mask follows the word as a big-endian long.
                        let Some(m) = inc.buf.get(inc.start + 4..inc.start + 12) else { break Ok(true) };
                        let mut mask = [0u8; 8];
                        mask.copy_from_slice(m);
                        if self.zks.settings.four_letter_words.is_enabled(cmd) {
                            crate::server::zoo_trace::set_trace_mask(i64::from_be_bytes(mask));
                        }
                    }
                    self.packet_received(4);
                    self.run_four_letter_word(cmd);
                    break Ok(false);
                }
            }
            if len < 0 || len as usize > max {
                if !inc.initialized && h[0] == 0x16 {
                    tracing::warn!(
                        "Len error {len} from {}: it looks like a TLS handshake, and this port does not take TLS \
                         (client.portUnification is off)",
                        self.remote
                    );
                }
                break Err(format!("Len error {len}"));
            }
            if let Err(e) = self.zks.large_requests.check_receiving(len as usize) {
                break Err(e);
            }
            let end = inc.start + 4 + len as usize;
            let Some(body) = inc.buf.get(inc.start + 4..end) else { break Ok(true) };
            if !self.may_read(&self.io.lock()) {
                self.pending_frames.store(true, Ordering::Release);
                break Ok(false);
            }
            let frame = body.to_vec();
            inc.start = end;
            handled = true;
            self.packet_received(4 + len as u64);
            let me: Arc<dyn ServerCnxn> = Arc::clone(self) as Arc<dyn ServerCnxn>;
            let r = if !inc.initialized {
                inc.initialized = true;
                self.zks.process_connect_request(&me, &frame)
            } else {
                self.zks.process_packet(&me, &frame)
            };
            if let Err(e) = r {
                break Err(e);
            }
        };
        if handled {
            self.touch();
        }
        if res == Ok(true) {
            self.pending_frames.store(false, Ordering::Release);
        }
        res
    }

    fn run_four_letter_word(self: &Arc<Self>, cmd: &'static str) {
        tracing::info!("Processing {} command from {}", cmd, self.remote);
        let out = match self.factory.upgrade() {
            Some(f) => crate::server::command::execute(cmd, &self.zks, &*f),
            None => String::new(),
        };
        self.send_buffer(out.into_bytes());
        self.send_close_after_flush();
    }
}

impl ServerCnxn for NioServerCnxn {
    fn remote_address(&self) -> SocketAddr {
        self.remote
    }

    fn set_session_id(&self, id: i64) {
        self.session_id.store(id, Ordering::Release)
    }

    fn session_timeout(&self) -> i32 {
        self.session_timeout.load(Ordering::Acquire)
    }

    fn set_session_timeout(&self, t: i32) {
        self.session_timeout.store(t, Ordering::Release)
    }

    fn is_old_client(&self) -> bool {
        self.old_client.load(Ordering::Acquire)
    }

    fn set_old_client(&self, old: bool) {
        self.old_client.store(old, Ordering::Release)
    }

    fn auth_info(&self) -> Arc<[Id]> {
        Arc::clone(&self.auth_info.lock())
    }

    fn add_auth_info(&self, id: Id) {
        let mut a = self.auth_info.lock();
        if !a.contains(&id) {
            let mut ids = a.to_vec();
            ids.push(id);
            java_hash_order::order_ids(&mut ids, |id| (&id.scheme, &id.id));
            *a = ids.into();
        }
    }

    fn sasl_server(&self) -> &Mutex<Option<ZooKeeperSaslServer>> {
        &self.sasl_server
    }

    fn outstanding_requests(&self) -> i64 {
        self.io.lock().outstanding
    }

    fn established_wall_ms(&self) -> i64 {
        self.established_wall_ms
    }

    fn stats(&self) -> CnxnStats {
        self.stats.lock().clone()
    }

    fn reset_stats(&self) {
        *self.stats.lock() = CnxnStats::default();
    }

    fn update_stats_for_response(&self, cxid: i32, zxid: i64, op: &'static str, latency_ms: u64) {
        self.stats.lock().record_response(cxid, zxid, op, latency_ms);
    }

    /// A request counts for at least REPLY_RESERVE bytes. As in Java,
    /// reading stops while the server is over globalOutstandingLimit.
    fn incr_outstanding_and_check_throttle(&self, frame_bytes: usize) {
        let mut io = self.io.lock();
        io.outstanding += 1;
        io.inflight_bytes = io.inflight_bytes.saturating_add(frame_bytes.max(REPLY_RESERVE));
        if self.zks.should_throttle(io.outstanding) {
            io.recv_enabled = false;
        }
    }

    /// Reads again if the request was what held the connection back.
    fn decr_outstanding_and_check_throttle(&self, frame_bytes: usize) {
        let mut io = self.io.lock();
        let could_read = self.may_read(&io);
        io.outstanding = (io.outstanding - 1).max(0);
        io.inflight_bytes = io.inflight_bytes.saturating_sub(frame_bytes.max(REPLY_RESERVE));
        if !io.recv_enabled && !self.zks.should_throttle(io.outstanding) {
            io.recv_enabled = true;
        }
        if !could_read && self.may_read(&io) {
            self.resume(io);
        }
    }

    fn disable_recv(&self) {
        self.io.lock().recv_enabled = false;
    }

    fn enable_recv(&self) {
        let mut io = self.io.lock();
        if io.recv_enabled {
            return;
        }
        io.recv_enabled = true;
        self.resume(io);
    }

    /// Queues the frame and asks for write readiness.
    fn send_buffer(&self, bytes: Vec<u8>) {
        self.queue_frame([Some(OutBuf::frame(bytes)), None, None]);
    }

    fn send_shared(&self, head: Vec<u8>, shared: Arc<[u8]>, tail: Vec<u8>) {
        let tail = (!tail.is_empty()).then(|| OutBuf::frame(tail));
        let shared = OutBuf { bytes: OutBytes::Shared(shared), ends_frame: tail.is_none() };
        self.queue_frame([Some(OutBuf { bytes: OutBytes::Own(head), ends_frame: false }), Some(shared), tail]);
    }

    fn send_close_after_flush(&self) {
        let mut io = self.io.lock();
        io.close_after_flush = true;
        if io.selectable {
            self.rearm(&io);
        }
    }

    fn set_invalid(&self) {
        if !self.invalid.swap(true, Ordering::AcqRel) && !self.is_closed() {
            self.send_close_after_flush();
        }
    }

    fn is_invalid(&self) -> bool {
        self.invalid.load(Ordering::Acquire)
    }

    /// Also takes it off its selector and shuts the socket.
    fn close(&self, reason: &str) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::debug!("Closed socket connection for client {} (session 0x{:x}): {}", self.remote, self.session_id(), reason);
        if let Some(sel) = self.selector.upgrade() {
            sel.deregister(self.fd(), self.id);
        }
        if let Some(f) = self.factory.upgrade() {
            f.remove_cnxn(self);
        }
        self.zks.zk_db().data_tree().remove_cnxn(self.id);
        self.end_handshake();
        let _ = self.sock.shutdown(std::net::Shutdown::Both);
        drop(self.slot.lock().take());
    }
}

impl Watcher for NioServerCnxn {
    fn watcher_id(&self) -> u64 {
        self.id
    }

    fn session_id(&self) -> i64 {
        self.session_id.load(Ordering::Acquire)
    }

    fn is_stale(&self) -> bool {
        self.is_closed()
    }

    /// A watch fired: send the event as a notification (xid -1, zxid -1),
    /// unless this connection's identities may not READ the node it is
    /// about (CVE-2024-23944: a persistent-recursive watch, or one set
    /// again on reconnect, would otherwise name nodes the client cannot
    /// read). The frame is the one every connection told of this event
    /// shares.
    fn process(&self, n: &Notification, node_acl: Option<&[Acl]>) {
        if let Some(acl) = node_acl {
            let readable = self.zks.check_acl(acl, perms::READ, &self.auth_info.lock()).is_ok();
            if !readable {
                tracing::debug!(
                    "Not delivering event {:?} to 0x{:x} (filtered by ACL)",
                    n.event(),
                    self.session_id()
                );
                return;
            }
        }
        let unread = self.io.lock().out_bytes;
        if unread >= MAX_UNREAD_BYTES {
            if !self.unread_shutdown.swap(true, Ordering::AcqRel) {
                tracing::warn!(
                    "Closing connection to {} (session 0x{:x}): {unread} bytes of replies and notifications unread",
                    self.remote,
                    self.session_id()
                );
                // Not close(): this runs while the tree fires its watches.
                // The shut socket wakes the selector, whose worker closes it.
                let _ = self.sock.shutdown(std::net::Shutdown::Both);
            }
            return;
        }
        self.queue_frame([Some(OutBuf { bytes: OutBytes::Shared(n.frame()), ends_frame: true }), None, None]);
    }
}
