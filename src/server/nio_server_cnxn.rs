//! NIOServerCnxn: one client connection. Its socket is read and written only
//! by an NIOWorker thread, one at a time: the SelectorThread's epoll entry is
//! one-shot, so it stays parked while a worker holds the connection and is
//! re-armed (with the interest the connection needs now) when the worker is
//! done or when another thread queues a reply. Also the connection's Watcher:
//! watch events leave as xid -1 notifications.

use crate::common::java_hash_order;
use crate::jute::records::{Id, ReplyHeader};
use crate::jute::{OutputArchive, Record};
use crate::server::nio_server_cnxn_factory::{NioServerCnxnFactory, NioSettings, SelectorThread};
use crate::server::watcher::{WatchedEvent, Watcher};
use crate::server::zoo_defs::xid;
use crate::server::zoo_keeper_server::ZooKeeperServer;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The smallest read chunk, used when zookeeper.nio.directBufferBytes is 0.
const MIN_READ_CHUNK: usize = 4096;
/// Most reply buffers one writev(2) hands to the socket.
const WRITE_GATHER: usize = 64;

/// What the selector and workers share about a connection's readiness.
struct IoState {
    outgoing: VecDeque<Vec<u8>>,
    /// Bytes of the front buffer already written.
    out_offset: usize,
    /// False while a worker owns the connection (epoll entry parked).
    selectable: bool,
    /// False while throttled or waiting for session set-up.
    recv_enabled: bool,
    /// Close once `outgoing` has drained (ServerCnxnFactory.closeConn).
    close_after_flush: bool,
}

/// Incoming bytes not yet made into frames; touched by the owning worker only.
struct Incoming {
    buf: Vec<u8>,
    start: usize,
    initialized: bool,
}

/// Per-connection figures for the `cons` four-letter word.
#[derive(Default, Clone)]
pub struct CnxnStats {
    pub packets_received: u64,
    pub packets_sent: u64,
    pub last_cxid: i32,
    pub last_zxid: i64,
    pub last_op: &'static str,
    pub last_response_time_ms: i64,
    pub last_latency: u64,
    pub min_latency: u64,
    pub max_latency: u64,
    pub total_latency: u64,
    pub count: u64,
}

pub struct NioServerCnxn {
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
    session_id: AtomicI64,
    session_timeout: AtomicI32,
    /// How much one read() may pull in (zookeeper.nio.directBufferBytes).
    read_chunk: usize,
    old_client: AtomicBool,
    outstanding: AtomicI64,
    auth_info: Mutex<Vec<Id>>,
    pub established: Instant,
    established_wall_ms: i64,
    stats: Mutex<CnxnStats>,
}

fn wall_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
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
    ) -> NioServerCnxn {
        NioServerCnxn {
            id,
            sock,
            remote,
            selector,
            factory,
            zks,
            io: Mutex::new(IoState {
                outgoing: VecDeque::new(),
                out_offset: 0,
                selectable: true,
                recv_enabled: true,
                close_after_flush: false,
            }),
            incoming: Mutex::new(Incoming { buf: Vec::new(), start: 0, initialized: false }),
            pending_frames: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            session_id: AtomicI64::new(0),
            session_timeout: AtomicI32::new(settings.sessionless_cnxn_timeout_ms),
            read_chunk: settings.direct_buffer_bytes.max(MIN_READ_CHUNK),
            old_client: AtomicBool::new(true),
            outstanding: AtomicI64::new(0),
            // Every connection is known by its address (IPAuthenticationProvider).
            auth_info: Mutex::new(vec![Id::new("ip", &remote.ip().to_string())]),
            established: Instant::now(),
            established_wall_ms: wall_ms(),
            stats: Mutex::new(CnxnStats::default()),
        }
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn fd(&self) -> i32 {
        self.sock.as_raw_fd()
    }

    pub fn remote_address(&self) -> SocketAddr {
        self.remote
    }

    pub fn session_id(&self) -> i64 {
        self.session_id.load(Ordering::Acquire)
    }

    pub fn set_session_id(&self, id: i64) {
        self.session_id.store(id, Ordering::Release)
    }

    pub fn session_timeout(&self) -> i32 {
        self.session_timeout.load(Ordering::Acquire)
    }

    pub fn set_session_timeout(&self, t: i32) {
        self.session_timeout.store(t, Ordering::Release)
    }

    pub fn set_old_client(&self, old: bool) {
        self.old_client.store(old, Ordering::Release)
    }

    pub fn is_old_client(&self) -> bool {
        self.old_client.load(Ordering::Acquire)
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub fn auth_info(&self) -> Vec<Id> {
        self.auth_info.lock().clone()
    }

    /// Adds an id the connection authenticated as; the list stays in the
    /// order Java's set of them iterates (whoAmI, "auth" ACLs).
    pub fn add_auth_info(&self, id: Id) {
        let mut a = self.auth_info.lock();
        if !a.contains(&id) {
            a.push(id);
            java_hash_order::order_ids(&mut a, |id| (&id.scheme, &id.id));
        }
    }

    pub fn outstanding_requests(&self) -> i64 {
        self.outstanding.load(Ordering::Relaxed)
    }

    pub fn established_wall_ms(&self) -> i64 {
        self.established_wall_ms
    }

    pub fn stats(&self) -> CnxnStats {
        self.stats.lock().clone()
    }

    pub fn reset_stats(&self) {
        *self.stats.lock() = CnxnStats::default();
    }

    /// Records what `cons` shows about the last reply (updateStatsForResponse).
    pub fn update_status_for_response(&self, cxid: i32, zxid: i64, op: &'static str, start: Instant) {
        let lat = start.elapsed().as_millis() as u64;
        let mut s = self.stats.lock();
        if cxid >= 0 {
            s.last_cxid = cxid;
        }
        s.last_zxid = zxid;
        s.last_op = op;
        s.last_response_time_ms = wall_ms();
        s.last_latency = lat;
        if s.count == 0 || lat < s.min_latency {
            s.min_latency = lat;
        }
        s.max_latency = s.max_latency.max(lat);
        s.total_latency += lat;
        s.count += 1;
    }

    fn packet_received(&self) {
        self.stats.lock().packets_received += 1;
        self.zks.stats.incr_packets_received();
    }

    /// A whole buffer (one packet) has left the socket.
    fn packet_sent(&self) {
        self.stats.lock().packets_sent += 1;
        self.zks.stats.incr_packets_sent();
    }

    // ---- throttling ----

    /// incrOutstandingAndCheckThrottle: stop reading while the server is
    /// over its global outstanding limit.
    pub fn incr_outstanding_and_check_throttle(&self) {
        let n = self.outstanding.fetch_add(1, Ordering::AcqRel) + 1;
        if self.zks.should_throttle(n) {
            self.disable_recv();
        }
    }

    fn decr_outstanding_and_check_throttle(self: &Arc<Self>) {
        let n = self.outstanding.fetch_sub(1, Ordering::AcqRel) - 1;
        if n < 0 {
            self.outstanding.store(0, Ordering::Release);
        }
        if !self.zks.should_throttle(n.max(0)) {
            self.enable_recv();
        }
    }

    pub fn disable_recv(&self) {
        self.io.lock().recv_enabled = false;
    }

    /// enableRecv: resume reading; frames already buffered are handed to a
    /// worker at once, since the socket may never become readable again.
    pub fn enable_recv(self: &Arc<Self>) {
        let mut io = self.io.lock();
        if io.recv_enabled {
            return;
        }
        io.recv_enabled = true;
        if io.selectable && !self.is_closed() {
            if self.pending_frames.load(Ordering::Acquire) {
                io.selectable = false;
                drop(io);
                self.schedule_io(0);
            } else {
                self.rearm(&io);
            }
        }
    }

    // ---- output ----

    /// sendBuffer: queue bytes for the socket and ask for write readiness.
    pub fn send_buffer(&self, bytes: Vec<u8>) {
        if self.is_closed() {
            return;
        }
        let mut io = self.io.lock();
        let was_empty = io.outgoing.is_empty();
        io.outgoing.push_back(bytes);
        // With replies already queued, the parked entry was last armed
        // with EPOLLOUT (every re-arm is made under this lock from the
        // state of the moment), so only the first queued reply re-arms.
        if io.selectable && was_empty {
            self.rearm(&io);
        }
    }

    /// sendResponse: a reply header and body as one frame.
    pub fn send_response(self: &Arc<Self>, hdr: &ReplyHeader, body: Option<&[u8]>) {
        let mut oa = OutputArchive::with_capacity(32 + body.map(|b| b.len()).unwrap_or(0));
        oa.write_int(-1);
        hdr.serialize(&mut oa);
        if let Some(b) = body {
            oa.write_raw(b);
        }
        let len = oa.len() as i32 - 4;
        oa.patch_int(0, len);
        self.send_buffer(oa.into_inner());
        if hdr.xid != xid::NOTIFICATION {
            self.decr_outstanding_and_check_throttle();
        }
    }

    /// sendCloseSession: close once everything queued has been written.
    pub fn send_close_after_flush(&self) {
        let mut io = self.io.lock();
        io.close_after_flush = true;
        if io.selectable {
            self.rearm(&io);
        }
    }

    // ---- readiness ----

    /// Re-arms the one-shot epoll entry with what the connection needs now.
    /// Called with `io` locked, so the last re-arm always reflects the
    /// latest state.
    fn rearm(&self, io: &IoState) {
        if self.is_closed() {
            return;
        }
        let mut ev = 0u32;
        if io.recv_enabled && !io.close_after_flush {
            ev |= libc::EPOLLIN as u32;
        }
        if !io.outgoing.is_empty() || io.close_after_flush {
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

    /// doIO: runs on an NIOWorker thread.
    pub fn do_io(self: &Arc<Self>, events: u32) {
        if self.is_closed() {
            return;
        }
        if let Some(f) = self.factory.upgrade() {
            f.touch_cnxn(self);
        }
        if events & (libc::EPOLLOUT as u32) != 0 {
            if let Err(e) = self.write_out() {
                self.close(&format!("write failed: {e}"));
                return;
            }
        }
        if events & ((libc::EPOLLIN | libc::EPOLLHUP | libc::EPOLLERR) as u32) != 0 || events == 0 {
            if let Err(reason) = self.read_in(events != 0) {
                self.close(&reason);
                return;
            }
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
        if io.close_after_flush && io.outgoing.is_empty() {
            drop(io);
            self.close("closed after the last reply");
            return;
        }
        if io.recv_enabled && self.pending_frames.load(Ordering::Acquire) {
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
        while !io.outgoing.is_empty() {
            let off = io.out_offset;
            let slices: Vec<io::IoSlice<'_>> = io
                .outgoing
                .iter()
                .take(WRITE_GATHER)
                .enumerate()
                .map(|(i, b)| io::IoSlice::new(if i == 0 { b.get(off..).unwrap_or(&[]) } else { b }))
                .collect();
            match (&self.sock).write_vectored(&slices) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "socket closed")),
                Ok(n) => {
                    drop(slices);
                    // Pops every buffer written whole; the offset marks
                    // how far into the next one the write got.
                    let mut left = off + n;
                    while let Some(front) = io.outgoing.front() {
                        if left < front.len() {
                            break;
                        }
                        left -= front.len();
                        io.outgoing.pop_front();
                        self.packet_sent();
                    }
                    io.out_offset = left;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads what the socket has and handles every complete frame while
    /// receiving is enabled. Err(reason) closes the connection.
    fn read_in(self: &Arc<Self>, socket_ready: bool) -> Result<(), String> {
        let mut inc = self.incoming.lock();
        if socket_ready {
            loop {
                if inc.start > 0 && inc.start == inc.buf.len() {
                    inc.buf.clear();
                    inc.start = 0;
                }
                let old = inc.buf.len();
                inc.buf.resize(old + self.read_chunk, 0);
                match (&self.sock).read(&mut inc.buf[old..]) {
                    Ok(0) => {
                        inc.buf.truncate(old);
                        return Err(format!(
                            "Unable to read additional data from client, it probably closed the socket: address = {}, session = 0x{:x}",
                            self.remote,
                            self.session_id()
                        ));
                    }
                    Ok(n) => {
                        inc.buf.truncate(old + n);
                        if n < self.read_chunk {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        inc.buf.truncate(old);
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => inc.buf.truncate(old),
                    Err(e) => return Err(format!("read failed: {e}")),
                }
            }
        }
        let max = crate::jute::max_buffer();
        loop {
            let avail = inc.buf.len() - inc.start;
            if avail < 4 {
                break;
            }
            let s = inc.start;
            let len = i32::from_be_bytes([inc.buf[s], inc.buf[s + 1], inc.buf[s + 2], inc.buf[s + 3]]);
            if !inc.initialized {
                if let Some(cmd) = crate::server::command::four_letter_word(len) {
                    drop(inc);
                    self.packet_received();
                    self.run_four_letter_word(cmd);
                    return Ok(());
                }
            }
            if len < 0 || len as usize > max {
                return Err(format!("Len error {len}"));
            }
            if avail < 4 + len as usize {
                break;
            }
            if !self.io.lock().recv_enabled {
                self.pending_frames.store(true, Ordering::Release);
                return Ok(());
            }
            let frame: Vec<u8> = inc.buf[s + 4..s + 4 + len as usize].to_vec();
            inc.start = s + 4 + len as usize;
            self.packet_received();
            if !inc.initialized {
                inc.initialized = true;
                self.zks.process_connect_request(self, &frame)?;
            } else {
                self.zks.process_packet(self, &frame)?;
            }
        }
        self.pending_frames.store(false, Ordering::Release);
        if inc.start == inc.buf.len() {
            inc.buf.clear();
            inc.start = 0;
        }
        Ok(())
    }

    fn run_four_letter_word(self: &Arc<Self>, cmd: &'static str) {
        tracing::info!("Processing {} command from {}", cmd, self.remote);
        let out = match self.factory.upgrade() {
            Some(f) => crate::server::command::execute(cmd, &self.zks, &f),
            None => String::new(),
        };
        self.send_buffer(out.into_bytes());
        self.send_close_after_flush();
    }

    /// close: forget the connection everywhere and shut the socket. The
    /// session (if any) lives on until it expires or is closed.
    pub fn close(&self, reason: &str) {
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
        let _ = self.sock.shutdown(std::net::Shutdown::Both);
    }
}

impl Watcher for NioServerCnxn {
    fn watcher_id(&self) -> u64 {
        self.id
    }

    fn session_id(&self) -> i64 {
        NioServerCnxn::session_id(self)
    }

    fn is_stale(&self) -> bool {
        self.is_closed()
    }

    /// A watch fired: send the event as a notification (xid -1, zxid -1).
    fn process(&self, event: &WatchedEvent) {
        let hdr = ReplyHeader { xid: xid::NOTIFICATION, zxid: -1, err: 0 };
        let mut oa = OutputArchive::with_capacity(64);
        oa.write_int(-1);
        hdr.serialize(&mut oa);
        event.to_wire().serialize(&mut oa);
        let len = oa.len() as i32 - 4;
        oa.patch_int(0, len);
        self.send_buffer(oa.into_inner());
    }
}
