//! ServerCnxn: what the server asks of one client connection, whatever
//! carries its bytes. `server::nio_server_cnxn::NioServerCnxn` (plain TCP or
//! TLS on the NIO threads) is the one implementation today; a simulated
//! connection would be another. The server, its request processors, the
//! watch tables, the four-letter words and the auth providers hold
//! connections as `Arc<dyn ServerCnxn>` and never see the transport.
//!
//! The methods are called from whichever thread holds the connection: the
//! worker that read the request, the processor thread that answers it, the
//! thread that fires a watch. Each implementation makes them safe to call
//! from any of them.

use crate::jute::records::{Id, ReplyHeader};
use crate::jute::{OutputArchive, Record};
use crate::server::zoo_keeper_sasl_server::ZooKeeperSaslServer;
use crate::watcher::Watcher;
use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

thread_local! {
    static WRITE_NOW: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` (a request processor answering a request) with leave for the
/// replies it queues to be written to their sockets at once, on this
/// thread, when their connection is idle in the selector. For a caller
/// with nothing else waiting (its queue empty): a lone request's reply
/// then skips the wake-ups of the selector and of a worker. Under load the
/// caller does not ask, and replies go through the workers, gathered.
pub fn replying_now<R>(f: impl FnOnce() -> R) -> R {
    WRITE_NOW.with(|w| w.set(true));
    let r = f();
    WRITE_NOW.with(|w| w.set(false));
    r
}

/// Whether this thread is inside `replying_now`.
pub fn write_now() -> bool {
    WRITE_NOW.with(Cell::get)
}

/// One client connection (Java's ServerCnxn). As in Java it is also the
/// Watcher its client's watches are set with: `watcher_id` is the
/// connection's serial number, `session_id` the session it serves (0
/// before one is set up), and `is_stale` is true once it is closed.
pub trait ServerCnxn: Watcher {
    fn remote_address(&self) -> SocketAddr;

    /// The session now served by this connection (connect request).
    fn set_session_id(&self, id: i64);
    fn session_timeout(&self) -> i32;
    fn set_session_timeout(&self, timeout: i32);

    /// Whether the client's ConnectRequest lacked the readOnly flag, so its
    /// ConnectResponse must too.
    fn is_old_client(&self) -> bool;
    fn set_old_client(&self, old: bool);

    /// The ids the connection is authenticated as.
    fn auth_info(&self) -> Arc<[Id]>;
    /// Adds an id the connection authenticated as; the list stays in the
    /// order Java's set of them iterates (whoAmI, "auth" ACLs).
    fn add_auth_info(&self, id: Id);

    /// The connection's SASL negotiation (Java's zooKeeperSaslServer),
    /// created by the first SASL packet; only the worker serving the
    /// connection's packets takes the lock.
    fn sasl_server(&self) -> &parking_lot::Mutex<Option<ZooKeeperSaslServer>>;

    /// Requests taken from the connection and not yet finished.
    fn outstanding_requests(&self) -> i64;
    /// When the connection was accepted, in wall-clock ms (`cons` est=).
    fn established_wall_ms(&self) -> i64;
    /// The connection's figures for `cons`.
    fn stats(&self) -> CnxnStats;
    /// resetStats (`crst`).
    fn reset_stats(&self);
    /// updateStatsForResponse: what `cons` shows about the last reply,
    /// which took `latency_ms` since the request came.
    fn update_stats_for_response(&self, cxid: i32, zxid: i64, op: &'static str, latency_ms: u64);

    /// incrOutstandingAndCheckThrottle: a request of `frame_bytes` bytes
    /// enters the pipeline (see `InFlight`, which pairs it with the decr).
    fn incr_outstanding_and_check_throttle(&self, frame_bytes: usize);
    /// decrOutstandingAndCheckThrottle: the request of `frame_bytes` bytes
    /// finished; the connection may read again.
    fn decr_outstanding_and_check_throttle(&self, frame_bytes: usize);

    /// disableRecv: take no more requests from the connection for now.
    fn disable_recv(&self);
    /// enableRecv: take requests again.
    fn enable_recv(&self);

    /// sendBuffer: queue one whole frame for the client.
    fn send_buffer(&self, bytes: Vec<u8>);
    /// Queues one whole frame made of `head`, then `shared` (bytes other
    /// frames send too, such as a node's children listing: queued without
    /// a copy), then `tail`.
    fn send_shared(&self, head: Vec<u8>, shared: Arc<[u8]>, tail: Vec<u8>);
    /// sendCloseSession: close once everything queued has been written.
    fn send_close_after_flush(&self);
    /// close: forget the connection everywhere and end it. The session (if
    /// any) lives on until it expires or is closed.
    fn close(&self, reason: &str);
    /// setInvalid: a request of this connection was dropped, so none after
    /// it may run (their order would break); the connection closes once
    /// what is queued has been written.
    fn set_invalid(&self);
    fn is_invalid(&self) -> bool;

    /// sendResponse with a body of `shared` bytes followed by `tail`.
    fn send_response_shared(&self, hdr: &ReplyHeader, shared: Arc<[u8]>, tail: &[u8]) {
        let mut head = OutputArchive::with_capacity(20);
        head.write_int(-1);
        hdr.serialize(&mut head);
        let len = head.len() - 4 + shared.len() + tail.len();
        head.patch_int(0, i32::try_from(len).unwrap_or(i32::MAX));
        self.send_shared(head.into_inner(), shared, tail.to_vec());
    }

    /// sendResponse: a reply header and body as one frame.
    fn send_response(&self, hdr: &ReplyHeader, body: Option<&[u8]>) {
        let mut frame = reply_archive(body.map_or(0, <[u8]>::len));
        if let Some(b) = body {
            frame.write_raw(b);
        }
        self.send_reply(hdr, frame);
    }

    /// sendResponse for a body serialised into `frame` (from
    /// `reply_archive`) after its blank head: the length and `hdr` are
    /// written in place, and that buffer is what the connection sends.
    fn send_reply(&self, hdr: &ReplyHeader, mut frame: OutputArchive) {
        let len = frame.len().saturating_sub(4);
        frame.patch_int(0, i32::try_from(len).unwrap_or(i32::MAX));
        // ReplyHeader's jute layout: xid, zxid, err.
        frame.patch_int(4, hdr.xid);
        frame.patch_long(8, hdr.zxid);
        frame.patch_int(16, hdr.err);
        self.send_buffer(frame.into_inner());
    }
}

/// A reply frame starts with its length and the ReplyHeader.
const REPLY_HEAD_LEN: usize = 4 + 16;

/// An archive for one reply's body, with room for `body_capacity` bytes
/// and the frame's head left blank for `ServerCnxn::send_reply`: the body
/// is serialised once, into the buffer that goes out.
pub fn reply_archive(body_capacity: usize) -> OutputArchive {
    let mut frame = OutputArchive::with_capacity(REPLY_HEAD_LEN + body_capacity);
    frame.write_raw(&[0; REPLY_HEAD_LEN]);
    frame
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

impl CnxnStats {
    /// Counts a reply to the request with `cxid` that took `lat` ms.
    pub fn record_response(&mut self, cxid: i32, zxid: i64, op: &'static str, lat: u64) {
        if cxid >= 0 {
            self.last_cxid = cxid;
        }
        self.last_zxid = zxid;
        self.last_op = op;
        self.last_response_time_ms = wall_ms();
        self.last_latency = lat;
        if self.count == 0 || lat < self.min_latency {
            self.min_latency = lat;
        }
        self.max_latency = self.max_latency.max(lat);
        self.total_latency += lat;
        self.count += 1;
    }
}

/// The wall clock in ms since the epoch.
pub fn wall_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A request's share of its connection's in-flight limits. It travels with
/// the Request through the processors and is given back when the request
/// is dropped, whether answered or dropped on the way, so the count cannot
/// leak and hold a connection back for good.
pub struct InFlight {
    cnxn: Arc<dyn ServerCnxn>,
    frame_bytes: usize,
}

impl InFlight {
    /// A request of `frame_bytes` bytes taken from `cnxn` enters the pipeline.
    pub fn new(cnxn: Arc<dyn ServerCnxn>, frame_bytes: usize) -> InFlight {
        cnxn.incr_outstanding_and_check_throttle(frame_bytes);
        InFlight { cnxn, frame_bytes }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.cnxn.decr_outstanding_and_check_throttle(self.frame_bytes);
    }
}
