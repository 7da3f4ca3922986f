//! `ZkClient`, one session over one TCP connection (in the spirit of Java's
//! ClientCnxn + ZooKeeper, without reconnection or watch re-registration).
//!
//! Threads: the caller's thread writes requests and waits for replies; a
//! reader thread ("zk-client-reader") owns the socket's read side and sorts
//! incoming frames into replies, watch notifications (xid -1) and ping
//! answers (xid -2); a ping thread ("zk-client-ping") sends a ping every
//! third of the negotiated timeout until the client is dropped or told to
//! stop. Requests may be pipelined: `send` several, then `recv` the replies
//! in order.
//!
//! Framing (both directions): a 4-byte big-endian length, then the body.
//! Connect: ConnectRequest + an optional readOnly byte; the answer is a
//! ConnectResponse + a readOnly byte. Requests: RequestHeader + body; replies:
//! ReplyHeader + a body that the server only sends when `err` is 0.

use super::keeper_exception::ZkError;
use crate::jute::records::*;
use crate::jute::{InputArchive, Record};
use crate::watcher::WatchedEvent;
use crate::zoo_defs::{code, op_code, xid, CreateMode};
use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, Sender};
use parking_lot::{Condvar, Mutex};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The largest frame the client accepts from a server. Anything longer is
/// treated as a corrupt stream rather than allocated.
pub const MAX_FRAME: usize = 64 * 1024 * 1024;

/// How to open a session.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The session timeout the client asks for, in milliseconds.
    pub session_timeout_ms: i32,
    /// 0 for a new session, or the id of a session to resume.
    pub session_id: i64,
    /// The session's password when resuming (16 bytes); empty for a new one.
    pub passwd: Vec<u8>,
    /// The last zxid this client has seen (the server refuses a client that
    /// has seen more than it has).
    pub last_zxid_seen: i64,
    /// The trailing readOnly byte; `None` sends none, as pre-3.3 clients did.
    pub read_only: Option<bool>,
    /// Whether the ping thread runs. Without pings a session expires after
    /// its timeout even though the socket stays open.
    pub ping: bool,
    /// How long any one call waits for its reply (also the connect and write
    /// timeout).
    pub reply_timeout: Duration,
    /// The xid of the first request. A client resuming its session on
    /// another server goes on from where its last connection stopped, as
    /// Java's ClientCnxn keeps one counter across reconnects: servers match
    /// a committed write to their own pending request by (session, xid),
    /// so two connections of one session must not reuse each other's xids.
    pub first_xid: i32,
}

impl ConnectOptions {
    /// A new session with the given timeout, pinging, readOnly byte false.
    pub fn new(session_timeout_ms: i32) -> ConnectOptions {
        ConnectOptions {
            session_timeout_ms,
            session_id: 0,
            passwd: Vec::new(),
            last_zxid_seen: 0,
            read_only: Some(false),
            ping: true,
            reply_timeout: Duration::from_secs(30),
            first_xid: 1,
        }
    }
}

/// What the server answered to a connect request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    pub response: ConnectResponse,
    /// The readOnly byte after the response, if the server sent one.
    pub read_only: Option<bool>,
}

/// Writes one frame: the body's length, then the body.
pub fn write_frame(w: &mut impl Write, body: &[u8]) -> io::Result<()> {
    let len = i32::try_from(body.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too long"))?;
    let mut buf = Vec::with_capacity(4 + body.len());
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(body);
    w.write_all(&buf)?;
    w.flush()
}

/// Reads one frame's body. A negative length or one above `max` is an
/// `InvalidData` error; a stream that ends is `UnexpectedEof`.
pub fn read_frame(r: &mut impl Read, max: usize) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = i32::from_be_bytes(len);
    if len < 0 || len as usize > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad frame length {len} from server"),
        ));
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body)?;
    Ok(body)
}

/// Sends a ConnectRequest on `stream` and reads the answer. The caller owns
/// the socket's timeouts. Used by `ZkClient::connect_with` and by tests that
/// need to see the raw handshake.
pub fn handshake(stream: &mut TcpStream, opts: &ConnectOptions) -> io::Result<Handshake> {
    let req = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: opts.last_zxid_seen,
        time_out: opts.session_timeout_ms,
        session_id: opts.session_id,
        passwd: if opts.passwd.is_empty() { vec![0; 16] } else { opts.passwd.clone() },
    };
    let mut body = req.to_bytes();
    if let Some(ro) = opts.read_only {
        body.push(ro as u8);
    }
    write_frame(stream, &body)?;
    let frame = read_frame(stream, MAX_FRAME)?;
    let mut ia = InputArchive::new(&frame);
    let response = ConnectResponse::deserialize(&mut ia).map_err(invalid_data)?;
    let read_only = if ia.remaining() > 0 { Some(ia.read_bool().map_err(invalid_data)?) } else { None };
    Ok(Handshake { response, read_only })
}

fn invalid_data(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// One reply frame: its header and the body bytes after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub header: ReplyHeader,
    pub body: Vec<u8>,
}

/// Stops the ping thread: the flag plus a condvar to wake it at once.
struct PingControl {
    stopped: Mutex<bool>,
    wake: Condvar,
}

/// A connected session. Dropping it closes the socket without closing the
/// session (the server expires it later); call `close` for a clean end.
pub struct ZkClient {
    /// Shared by callers and the ping thread; one whole frame per lock.
    writer: Arc<Mutex<TcpStream>>,
    replies: Receiver<io::Result<Reply>>,
    events: Receiver<WatchedEvent>,
    pongs: Receiver<ReplyHeader>,
    next_xid: AtomicI32,
    /// The largest zxid seen in a reply header (set by the reader thread).
    last_zxid: Arc<AtomicI64>,
    session_id: i64,
    passwd: Vec<u8>,
    negotiated_timeout: i32,
    read_only: Option<bool>,
    reply_timeout: Duration,
    ping: Arc<PingControl>,
    pinging: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl ZkClient {
    /// Opens a new session.
    pub fn connect(addr: impl ToSocketAddrs, session_timeout_ms: i32) -> io::Result<ZkClient> {
        Self::connect_with(addr, &ConnectOptions::new(session_timeout_ms))
    }

    /// Resumes an existing session on a new connection.
    pub fn connect_with_session(
        addr: impl ToSocketAddrs,
        session_timeout_ms: i32,
        session_id: i64,
        passwd: &[u8],
    ) -> io::Result<ZkClient> {
        let mut opts = ConnectOptions::new(session_timeout_ms);
        opts.session_id = session_id;
        opts.passwd = passwd.to_vec();
        Self::connect_with(addr, &opts)
    }

    /// Connects with explicit options. Fails with `PermissionDenied` when
    /// the server refuses the session (it answers timeout 0, as it does for
    /// an expired session or a wrong password).
    pub fn connect_with(addr: impl ToSocketAddrs, opts: &ConnectOptions) -> io::Result<ZkClient> {
        let addr = first_addr(addr)?;
        let mut stream = TcpStream::connect_timeout(&addr, opts.reply_timeout)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(opts.reply_timeout))?;
        stream.set_write_timeout(Some(opts.reply_timeout))?;
        let hs = handshake(&mut stream, opts)?;
        if hs.response.time_out <= 0 {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("server refused session 0x{:x}: expired or wrong password", opts.session_id),
            ));
        }
        // The reader blocks until data or shutdown; writes keep their timeout.
        stream.set_read_timeout(None)?;
        let reader_stream = stream.try_clone()?;
        let writer = Arc::new(Mutex::new(stream));

        let (reply_tx, replies) = unbounded();
        let (event_tx, events) = unbounded();
        let (pong_tx, pongs) = unbounded();
        let last_zxid = Arc::new(AtomicI64::new(opts.last_zxid_seen));
        let mut threads = Vec::new();
        {
            let sinks =
                Sinks { replies: reply_tx, events: event_tx, pongs: pong_tx, last_zxid: last_zxid.clone() };
            threads.push(
                std::thread::Builder::new()
                    .name("zk-client-reader".into())
                    .spawn(move || read_loop(reader_stream, sinks))?,
            );
        }

        let ping = Arc::new(PingControl { stopped: Mutex::new(false), wake: Condvar::new() });
        let pinging = Arc::new(AtomicBool::new(opts.ping));
        let interval = Duration::from_millis((hs.response.time_out as u64 / 3).max(1));
        {
            let ping = ping.clone();
            let pinging = pinging.clone();
            let writer = writer.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("zk-client-ping".into())
                    .spawn(move || ping_loop(writer, ping, pinging, interval))?,
            );
        }

        Ok(ZkClient {
            writer,
            replies,
            events,
            pongs,
            next_xid: AtomicI32::new(opts.first_xid),
            last_zxid,
            session_id: hs.response.session_id,
            passwd: hs.response.passwd,
            negotiated_timeout: hs.response.time_out,
            read_only: hs.read_only,
            reply_timeout: opts.reply_timeout,
            ping,
            pinging,
            threads,
        })
    }

    pub fn session_id(&self) -> i64 {
        self.session_id
    }

    pub fn session_passwd(&self) -> &[u8] {
        &self.passwd
    }

    /// The session timeout the server granted, in milliseconds.
    pub fn negotiated_timeout(&self) -> i32 {
        self.negotiated_timeout
    }

    /// The readOnly byte of the connect answer (`None` if it was absent).
    pub fn server_read_only(&self) -> Option<bool> {
        self.read_only
    }

    /// The zxid of the newest reply that carried one (Java's lastZxid): after
    /// a write returns, the zxid of that write.
    pub fn last_zxid(&self) -> i64 {
        self.last_zxid.load(Ordering::SeqCst)
    }

    /// Stops (or restarts) the background pings; the socket stays open.
    pub fn set_pinging(&self, on: bool) {
        self.pinging.store(on, Ordering::SeqCst);
    }

    // ---- raw protocol ----

    /// Sends one request frame with an explicit xid and a raw body.
    pub fn send_with_xid(&self, xid: i32, op: i32, body: &[u8]) -> io::Result<()> {
        let mut frame = RequestHeader { xid, r#type: op }.to_bytes();
        frame.extend_from_slice(body);
        self.send_frame(&frame)
    }

    /// Sends a frame whose body is `frame` exactly (no request header added).
    pub fn send_frame(&self, frame: &[u8]) -> io::Result<()> {
        write_frame(&mut *self.writer.lock(), frame)
    }

    /// The xid the next request will carry.
    pub fn next_xid(&self) -> i32 {
        self.next_xid.load(Ordering::SeqCst)
    }

    /// Sends a request with the next xid; returns that xid. Pair with `recv`.
    pub fn send(&self, op: i32, body: &impl Record) -> io::Result<i32> {
        self.send_bytes(op, &body.to_bytes())
    }

    /// `send` with a body given as bytes (which need not be a valid record).
    pub fn send_bytes(&self, op: i32, body: &[u8]) -> io::Result<i32> {
        let xid = self.next_xid.fetch_add(1, Ordering::SeqCst);
        self.send_with_xid(xid, op, body)?;
        Ok(xid)
    }

    /// The next reply (not a notification, not a ping answer), waiting at
    /// most the reply timeout.
    pub fn recv(&self) -> io::Result<Reply> {
        self.recv_timeout(self.reply_timeout)
    }

    /// `recv` with an explicit wait.
    pub fn recv_timeout(&self, timeout: Duration) -> io::Result<Reply> {
        match self.replies.recv_timeout(timeout) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => {
                Err(io::Error::new(io::ErrorKind::TimedOut, "no reply from server"))
            }
            Err(RecvTimeoutError::Disconnected) => {
                Err(io::Error::new(io::ErrorKind::ConnectionAborted, "connection closed"))
            }
        }
    }

    /// Sends a request and waits for its reply, which must carry its xid.
    pub fn submit(&self, op: i32, body: &impl Record) -> io::Result<Reply> {
        self.submit_bytes(op, &body.to_bytes())
    }

    /// `submit` with a raw body.
    pub fn submit_bytes(&self, op: i32, body: &[u8]) -> io::Result<Reply> {
        let xid = self.send_bytes(op, body)?;
        let reply = self.recv()?;
        if reply.header.xid != xid {
            return Err(invalid_data(format!("reply xid {} for request xid {xid}", reply.header.xid)));
        }
        Ok(reply)
    }

    /// The next watch notification, waiting at most `timeout`.
    pub fn next_event(&self, timeout: Duration) -> Option<WatchedEvent> {
        self.events.recv_timeout(timeout).ok()
    }

    /// Sends a ping now and waits for a ping answer; returns its header
    /// (xid -2, zxid = the server's last processed zxid).
    pub fn ping(&self) -> Result<ReplyHeader, ZkError> {
        while self.pongs.try_recv().is_ok() {}
        self.send_with_xid(xid::PING, op_code::PING, &[])?;
        self.pongs
            .recv_timeout(self.reply_timeout)
            .map_err(|_| ZkError::Io(io::Error::new(io::ErrorKind::TimedOut, "no ping answer")))
    }

    // ---- typed operations ----

    fn call<R: Record>(&self, op: i32, req: &impl Record, path: &str) -> Result<R, ZkError> {
        let body = self.call_body(op, req, path)?;
        Ok(R::from_bytes(&body)?)
    }

    fn call_body(&self, op: i32, req: &impl Record, path: &str) -> Result<Vec<u8>, ZkError> {
        let reply = self.submit(op, req)?;
        if reply.header.err != 0 {
            return Err(ZkError::Keeper { code: reply.header.err, path: path.to_string() });
        }
        Ok(reply.body)
    }

    /// Creates a node; returns its actual path (with the sequence suffix).
    pub fn create(
        &self,
        path: &str,
        data: Option<&[u8]>,
        acl: &[Acl],
        mode: CreateMode,
    ) -> Result<String, ZkError> {
        let req = create_request(path, data, acl, mode);
        // As Java's client: containers go as createContainer.
        let op = if mode.is_container() { op_code::CREATE_CONTAINER } else { op_code::CREATE };
        let rsp: CreateResponse = self.call(op, &req, path)?;
        Ok(rsp.path)
    }

    /// Creates a node and returns its path and Stat.
    pub fn create2(
        &self,
        path: &str,
        data: Option<&[u8]>,
        acl: &[Acl],
        mode: CreateMode,
    ) -> Result<(String, Stat), ZkError> {
        let req = create_request(path, data, acl, mode);
        let rsp: Create2Response = self.call(op_code::CREATE2, &req, path)?;
        Ok((rsp.path, rsp.stat))
    }

    /// Deletes a node; `version` -1 matches any version.
    pub fn delete(&self, path: &str, version: i32) -> Result<(), ZkError> {
        let req = DeleteRequest { path: path.to_string(), version };
        self.call_body(op_code::DELETE, &req, path).map(|_| ())
    }

    /// The node's Stat, or `None` if it does not exist (a watch set on a
    /// missing node fires NodeCreated).
    pub fn exists(&self, path: &str, watch: bool) -> Result<Option<Stat>, ZkError> {
        let req = ExistsRequest { path: path.to_string(), watch };
        match self.call::<ExistsResponse>(op_code::EXISTS, &req, path) {
            Ok(rsp) => Ok(Some(rsp.stat)),
            Err(e) if e.code() == code::NO_NODE => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The node's data (`None` if it was stored as null) and Stat.
    pub fn get_data(&self, path: &str, watch: bool) -> Result<(Option<Vec<u8>>, Stat), ZkError> {
        let req = GetDataRequest { path: path.to_string(), watch };
        let rsp: GetDataResponse = self.call(op_code::GET_DATA, &req, path)?;
        Ok((rsp.data, rsp.stat))
    }

    pub fn set_data(&self, path: &str, data: Option<&[u8]>, version: i32) -> Result<Stat, ZkError> {
        let req = SetDataRequest { path: path.to_string(), data: data.map(<[u8]>::to_vec), version };
        let rsp: SetDataResponse = self.call(op_code::SET_DATA, &req, path)?;
        Ok(rsp.stat)
    }

    pub fn get_children(&self, path: &str, watch: bool) -> Result<Vec<String>, ZkError> {
        let req = GetChildrenRequest { path: path.to_string(), watch };
        let rsp: GetChildrenResponse = self.call(op_code::GET_CHILDREN, &req, path)?;
        Ok(rsp.children)
    }

    pub fn get_children2(&self, path: &str, watch: bool) -> Result<(Vec<String>, Stat), ZkError> {
        let req = GetChildren2Request { path: path.to_string(), watch };
        let rsp: GetChildren2Response = self.call(op_code::GET_CHILDREN2, &req, path)?;
        Ok((rsp.children, rsp.stat))
    }

    pub fn get_acl(&self, path: &str) -> Result<(Vec<Acl>, Stat), ZkError> {
        let req = GetAclRequest { path: path.to_string() };
        let rsp: GetAclResponse = self.call(op_code::GET_ACL, &req, path)?;
        Ok((rsp.acl, rsp.stat))
    }

    pub fn set_acl(&self, path: &str, acl: &[Acl], version: i32) -> Result<Stat, ZkError> {
        let req = SetAclRequest { path: path.to_string(), acl: acl.to_vec(), version };
        let rsp: SetAclResponse = self.call(op_code::SET_ACL, &req, path)?;
        Ok(rsp.stat)
    }

    /// Waits until the server has applied every write before this call;
    /// returns the path the server echoes.
    pub fn sync(&self, path: &str) -> Result<String, ZkError> {
        let req = SyncRequest { path: path.to_string() };
        let rsp: SyncResponse = self.call(op_code::SYNC, &req, path)?;
        Ok(rsp.path)
    }

    /// Adds authentication (xid -4). A refused one answers AUTHFAILED and
    /// the server then closes the connection.
    pub fn add_auth(&self, scheme: &str, auth: &[u8]) -> Result<(), ZkError> {
        let pkt = AuthPacket { r#type: 0, scheme: scheme.to_string(), auth: auth.to_vec() };
        self.send_with_xid(xid::AUTH, op_code::AUTH, &pkt.to_bytes())?;
        let reply = self.recv()?;
        if reply.header.xid != xid::AUTH {
            return Err(ZkError::Io(invalid_data(format!(
                "reply xid {} for an auth packet",
                reply.header.xid
            ))));
        }
        if reply.header.err != 0 {
            return Err(ZkError::Keeper { code: reply.header.err, path: String::new() });
        }
        Ok(())
    }

    /// Closes the session (closeSession) and then the connection. The
    /// session's ephemeral nodes go with it.
    pub fn close(&self) -> Result<(), ZkError> {
        let reply = self.submit_bytes(op_code::CLOSE_SESSION, &[]);
        self.disconnect();
        let reply = reply?;
        if reply.header.err != 0 {
            return Err(ZkError::Keeper { code: reply.header.err, path: String::new() });
        }
        Ok(())
    }

    /// Drops the connection without closing the session, as a crashed
    /// client would. Later calls fail with a connection error.
    pub fn disconnect(&self) {
        *self.ping.stopped.lock() = true;
        self.ping.wake.notify_all();
        let _ = self.writer.lock().shutdown(Shutdown::Both);
    }
}

impl Drop for ZkClient {
    fn drop(&mut self) {
        self.disconnect();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn create_request(path: &str, data: Option<&[u8]>, acl: &[Acl], mode: CreateMode) -> CreateRequest {
    CreateRequest {
        path: path.to_string(),
        data: data.map(<[u8]>::to_vec),
        acl: acl.to_vec(),
        flags: create_flag(mode),
    }
}

/// CreateMode.toFlag.
pub fn create_flag(mode: CreateMode) -> i32 {
    match mode {
        CreateMode::Persistent => 0,
        CreateMode::Ephemeral => 1,
        CreateMode::PersistentSequential => 2,
        CreateMode::EphemeralSequential => 3,
        CreateMode::Container => 4,
        CreateMode::PersistentWithTtl => 5,
        CreateMode::PersistentSequentialWithTtl => 6,
    }
}

fn first_addr(addr: impl ToSocketAddrs) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to connect to"))
}

/// Where the reader thread puts what it reads.
struct Sinks {
    replies: Sender<io::Result<Reply>>,
    events: Sender<WatchedEvent>,
    pongs: Sender<ReplyHeader>,
    last_zxid: Arc<AtomicI64>,
}

/// The reader thread: sorts frames until the stream ends or breaks, then
/// passes the error to whoever waits for a reply.
fn read_loop(mut stream: TcpStream, sinks: Sinks) {
    let Sinks { replies, events, pongs, last_zxid } = sinks;
    loop {
        let frame = match read_frame(&mut stream, MAX_FRAME) {
            Ok(f) => f,
            Err(e) => {
                let _ = replies.send(Err(e));
                return;
            }
        };
        let mut ia = InputArchive::new(&frame);
        let header = match ReplyHeader::deserialize(&mut ia) {
            Ok(h) => h,
            Err(e) => {
                let _ = replies.send(Err(invalid_data(format!("bad reply header: {e}"))));
                return;
            }
        };
        match header.xid {
            xid::NOTIFICATION => match WatcherEvent::deserialize(&mut ia) {
                Ok(ev) => {
                    let _ = events.send(WatchedEvent {
                        event_type: ev.r#type,
                        state: ev.state,
                        path: ev.path,
                        zxid: header.zxid,
                    });
                }
                Err(e) => {
                    let _ = replies.send(Err(invalid_data(format!("bad notification: {e}"))));
                    return;
                }
            },
            xid::PING => {
                let _ = pongs.send(header);
            }
            _ => {
                if header.zxid > 0 {
                    last_zxid.fetch_max(header.zxid, Ordering::SeqCst);
                }
                let body = frame.get(ia.position()..).unwrap_or_default().to_vec();
                if replies.send(Ok(Reply { header, body })).is_err() {
                    return;
                }
            }
        }
    }
}

/// The ping thread: one ping per interval while pinging is on, until stopped.
fn ping_loop(
    writer: Arc<Mutex<TcpStream>>,
    ctl: Arc<PingControl>,
    pinging: Arc<AtomicBool>,
    interval: Duration,
) {
    let ping = RequestHeader { xid: xid::PING, r#type: op_code::PING }.to_bytes();
    loop {
        {
            let mut stopped = ctl.stopped.lock();
            if !*stopped {
                ctl.wake.wait_for(&mut stopped, interval);
            }
            if *stopped {
                return;
            }
        }
        if pinging.load(Ordering::SeqCst) && write_frame(&mut *writer.lock(), &ping).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn frames_round_trip_and_bad_lengths_are_errors() {
        let mut buf = Vec::new();
        write_frame(&mut buf, b"abc").unwrap();
        assert_eq!(buf, [0, 0, 0, 3, b'a', b'b', b'c']);
        assert_eq!(read_frame(&mut Cursor::new(&buf), 16).unwrap(), b"abc");
        let neg = [0xff, 0xff, 0xff, 0xff];
        assert_eq!(read_frame(&mut Cursor::new(&neg), 16).unwrap_err().kind(), io::ErrorKind::InvalidData);
        let big = [0, 0, 1, 0];
        assert_eq!(read_frame(&mut Cursor::new(&big), 16).unwrap_err().kind(), io::ErrorKind::InvalidData);
        let short = [0, 0, 0, 5, 1];
        assert_eq!(
            read_frame(&mut Cursor::new(&short), 16).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    }

    /// A fake server on a local socket: answers the handshake, one request
    /// with a notification before the reply, then a garbage frame.
    #[test]
    fn client_sorts_replies_events_and_survives_garbage() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let req = read_frame(&mut s, MAX_FRAME).unwrap();
            let creq = ConnectRequest::from_bytes(&req).unwrap();
            assert_eq!(creq.time_out, 6000);
            assert_eq!(req.last(), Some(&0u8), "readOnly byte");
            let mut rsp = ConnectResponse {
                protocol_version: 0,
                time_out: 4000,
                session_id: 0x1234,
                passwd: vec![7; 16],
            }
            .to_bytes();
            rsp.push(0);
            write_frame(&mut s, &rsp).unwrap();
            // getData request -> notification, then the reply.
            let req = read_frame(&mut s, MAX_FRAME).unwrap();
            let hdr = RequestHeader::from_bytes(&req).unwrap();
            assert_eq!(hdr.r#type, op_code::GET_DATA);
            let mut ev = ReplyHeader { xid: -1, zxid: -1, err: 0 }.to_bytes();
            ev.extend(WatcherEvent { r#type: 3, state: 3, path: "/x".into() }.to_bytes());
            write_frame(&mut s, &ev).unwrap();
            let mut reply = ReplyHeader { xid: hdr.xid, zxid: 5, err: 0 }.to_bytes();
            reply.extend(GetDataResponse { data: Some(b"hi".to_vec()), stat: Stat::default() }.to_bytes());
            write_frame(&mut s, &reply).unwrap();
            // exists -> an error reply without body.
            let req = read_frame(&mut s, MAX_FRAME).unwrap();
            let hdr = RequestHeader::from_bytes(&req).unwrap();
            let reply = ReplyHeader { xid: hdr.xid, zxid: 5, err: -101 }.to_bytes();
            write_frame(&mut s, &reply).unwrap();
            // getChildren -> a reply whose body is truncated.
            let req = read_frame(&mut s, MAX_FRAME).unwrap();
            let hdr = RequestHeader::from_bytes(&req).unwrap();
            let mut reply = ReplyHeader { xid: hdr.xid, zxid: 5, err: 0 }.to_bytes();
            reply.extend([0, 0, 0, 9]);
            write_frame(&mut s, &reply).unwrap();
            // anything else -> a frame too short for a header.
            let _ = read_frame(&mut s, MAX_FRAME).unwrap();
            write_frame(&mut s, &[1, 2]).unwrap();
        });
        let c = ZkClient::connect(addr, 6000).unwrap();
        assert_eq!(c.session_id(), 0x1234);
        assert_eq!(c.negotiated_timeout(), 4000);
        assert_eq!(c.session_passwd(), &[7; 16]);
        assert_eq!(c.server_read_only(), Some(false));
        let (data, _) = c.get_data("/x", true).unwrap();
        assert_eq!(data.as_deref(), Some(&b"hi"[..]));
        assert_eq!(c.last_zxid(), 5);
        let ev = c.next_event(Duration::from_secs(5)).unwrap();
        assert_eq!((ev.event_type, ev.path.as_str(), ev.zxid), (3, "/x", -1));
        assert_eq!(c.exists("/x", false).unwrap(), None);
        assert_eq!(c.get_children("/x", false).unwrap_err().code(), code::MARSHALLING_ERROR);
        let err = c.sync("/").unwrap_err();
        assert!(matches!(err, ZkError::Io(_)), "{err}");
        server.join().unwrap();
    }

    #[test]
    fn refused_session_is_an_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let _ = read_frame(&mut s, MAX_FRAME).unwrap();
            let mut rsp =
                ConnectResponse { protocol_version: 0, time_out: 0, session_id: 0, passwd: vec![0; 16] }
                    .to_bytes();
            rsp.push(0);
            write_frame(&mut s, &rsp).unwrap();
        });
        let err = ZkClient::connect_with_session(addr, 6000, 42, &[1; 16]).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        server.join().unwrap();
    }
}
