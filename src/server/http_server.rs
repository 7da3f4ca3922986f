//! HttpServer: the small HTTP/1.1 server both HTTP endpoints run on, the
//! part Jetty plays in Java (the AdminServer's `server::jetty_admin_server`
//! and the Prometheus provider's `server::metrics::prometheus` each run an
//! embedded Jetty `Server` there). A server is a thread-name prefix, a bind
//! address, an idle timeout, a connection limit and a handler mapping a
//! request (method, path still percent-encoded, query) to a response
//! (status, reason, content type, body), and optionally TLS: HTTPS only,
//! or HTTP and HTTPS on the one port (Jetty's SslConnectionFactory, and
//! ZooKeeper's UnifiedConnectionFactory, which looks at the first byte).
//!
//! Threads. Jetty's QueuedThreadPool `qtp<hash>-<n>` threads take turns
//! accepting, selecting and running the servlet. Here `<prefix>-0` blocks
//! in accept() and starts one `<prefix>-<n>` thread (n = 1, 2, ...) per
//! connection, which reads requests, runs the handler and writes answers,
//! keeping the connection for HTTP/1.1 keep-alive until the client closes
//! it or it is idle for the idle timeout (Jetty's connector idle timeout,
//! also the deadline of every read and write). With TLS the connection
//! thread first tells TLS from plain (port unification) and runs the
//! handshake, which must end within the TLS handshake timeout however
//! slowly its bytes come (`quorum::unified_server_socket` does both, as
//! for quorum connections); a failed or late handshake closes that
//! connection only. At most `max_connections`
//! (Jetty's default pool size is `MAX_CONNECTIONS`, 200) are served at
//! once; more are closed at once.
//!
//! Protocol. Request lines and headers are limited to `MAX_HEADER_BYTES`
//! (431 past it, as Jetty's requestHeaderSize); bodies are read and thrown
//! away (up to `MAX_BODY_BYTES`, 413 past it; chunked ones get 411); a
//! malformed request gets 400 and the connection closes. HEAD answers the
//! GET's headers without the body. A handler that panics gets 500 and the
//! connection closes, as the servlet container answers an exception.
//!
//! Why not an HTTP crate: tiny_http (synchronous, thread based) was the
//! candidate, but it gives no way to bound a connection's idle time or the
//! number of connection threads (each connection holds one of its unnamed
//! threads for as long as the client keeps it open), so any client could
//! pin threads for ever where Jetty closes them after its idle timeout.
//! The subset needed here (GET with a query string, keep-alive,
//! fixed-length answers) is small enough to serve directly over
//! `std::net`, with deadlines on every read and write, and TLS (rustls)
//! wraps the same streams.

use crate::quorum::unified_server_socket::UnifiedSocket;
use crate::server::metrics::Counter;
use parking_lot::Mutex;
use rustls::ServerConfig;
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tracing::{info, warn};

/// Connections served at once by default (Jetty QueuedThreadPool's
/// default maximum).
pub const MAX_CONNECTIONS: usize = 200;
/// Jetty's default connector idle timeout (ms).
pub const DEFAULT_IDLE_TIMEOUT_MS: u64 = 30_000;
/// The most a request line plus headers may take (Jetty's default
/// requestHeaderSize); longer gets 431 and the connection is closed.
const MAX_HEADER_BYTES: usize = 8192;
/// The most request body bytes read and discarded (handlers take none).
const MAX_BODY_BYTES: u64 = 1 << 20;

/// One parsed request: method, path (still percent-encoded) and query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    keep_alive: bool,
}

/// A handler's answer. For HEAD the body is left out, its length kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub reason: &'static str,
    pub content_type: Option<&'static str>,
    pub body: String,
}

impl HttpResponse {
    pub fn new(status: u16, reason: &'static str, content_type: &'static str, body: impl Into<String>) -> HttpResponse {
        HttpResponse { status, reason, content_type: Some(content_type), body: body.into() }
    }
}

/// What answers the requests.
pub type Handler = dyn Fn(&HttpRequest) -> HttpResponse + Send + Sync;

/// How a server runs.
#[derive(Clone)]
pub struct HttpServerConfig {
    /// Thread names are `<prefix>-0` (the acceptor) and `<prefix>-<n>`.
    pub thread_prefix: String,
    /// None: no idle timeout (Jetty's 0 or less).
    pub idle_timeout: Option<Duration>,
    pub max_connections: usize,
    /// None: plain HTTP only.
    pub tls: Option<HttpsConfig>,
}

/// HTTPS on a server's port.
#[derive(Clone)]
pub struct HttpsConfig {
    pub server_config: Arc<ServerConfig>,
    /// True: HTTPS only (Jetty's SslConnectionFactory); false: plain HTTP
    /// too, told apart by the first byte (UnifiedConnectionFactory).
    pub only_tls: bool,
    /// How long a connection has to send its first byte and then to finish
    /// its handshake.
    pub handshake_timeout: Duration,
    /// Counts the connections port unification serves in plain HTTP.
    pub plain_connections: Option<&'static Counter>,
    /// A header line (`Name: value`) every answer over TLS carries.
    pub secure_header: Option<String>,
}

impl HttpServerConfig {
    /// A millisecond idle timeout as Jetty reads one: 0 or less is none.
    pub fn idle_timeout_ms(ms: i64) -> Option<Duration> {
        u64::try_from(ms).ok().filter(|&ms| ms > 0).map(Duration::from_millis)
    }
}

/// A running server: its acceptor and connection threads.
pub struct HttpServer {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Mutex<Option<JoinHandle<()>>>,
}

/// What the acceptor and the connection threads share.
struct Shared {
    config: HttpServerConfig,
    handler: Box<Handler>,
    running: AtomicBool,
    /// Open connections, by number, so shutdown can close them.
    connections: Mutex<HashMap<u64, TcpStream>>,
    live: AtomicUsize,
    next_thread: AtomicU64,
}

/// Binds host:port (an IP address, or a name resolved to its first
/// address) with SO_REUSEADDR, as Jetty's ServerConnector does; the IPv4
/// wildcard binds the dual-stack one, as Java does
/// (`net_utils::bind_listener`).
pub fn bind(host: &str, port: u16) -> io::Result<TcpListener> {
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let ip: IpAddr = match host.parse() {
        Ok(ip) => ip,
        Err(_) => std::net::ToSocketAddrs::to_socket_addrs(&(host, port))?
            .next()
            .map(|a| a.ip())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))?,
    };
    // Jetty on 0.0.0.0 (the default) takes IPv6 clients too.
    crate::common::net_utils::bind_listener(SocketAddr::new(ip, port), 50, true)
}

impl HttpServer {
    /// Starts serving `listener` (see `bind`) with `handler`.
    pub fn start(
        listener: TcpListener,
        config: HttpServerConfig,
        handler: impl Fn(&HttpRequest) -> HttpResponse + Send + Sync + 'static,
    ) -> io::Result<HttpServer> {
        let local_addr = listener.local_addr()?;
        let name = format!("{}-0", config.thread_prefix);
        let shared = Arc::new(Shared {
            config,
            handler: Box::new(handler),
            running: AtomicBool::new(true),
            connections: Mutex::new(HashMap::new()),
            live: AtomicUsize::new(0),
            next_thread: AtomicU64::new(1),
        });
        let accept_shared = Arc::clone(&shared);
        let acceptor = std::thread::Builder::new().name(name).spawn(move || accept_loop(listener, accept_shared))?;
        Ok(HttpServer { local_addr, shared, acceptor: Mutex::new(Some(acceptor)) })
    }

    /// The address bound (the port is the real one when 0 was asked for).
    pub fn local_address(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting and closes every open connection (a handler running
    /// finishes, its answer is lost). False when already stopped.
    pub fn shutdown(&self) -> bool {
        if !self.shared.running.swap(false, Ordering::AcqRel) {
            return false;
        }
        // Wake the acceptor with a connection of our own.
        let wake = match self.local_addr.ip() {
            ip if ip.is_unspecified() => SocketAddr::new(
                if ip.is_ipv4() { IpAddr::from([127, 0, 0, 1]) } else { IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]) },
                self.local_addr.port(),
            ),
            _ => self.local_addr,
        };
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        if let Some(h) = self.acceptor.lock().take() {
            let _ = h.join();
        }
        for (_, s) in self.shared.connections.lock().drain() {
            let _ = s.shutdown(Shutdown::Both);
        }
        true
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut last_error_log: Option<std::time::Instant> = None;
    while shared.running.load(Ordering::Acquire) {
        let sock = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) => {
                // EMFILE and the like: log at most once a second, pause.
                if last_error_log.map_or(true, |t| t.elapsed() >= Duration::from_secs(1)) {
                    warn!("{} accept failed: {e}", shared.config.thread_prefix);
                    last_error_log = Some(std::time::Instant::now());
                }
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if !shared.running.load(Ordering::Acquire) {
            break;
        }
        if shared.live.load(Ordering::Acquire) >= shared.config.max_connections {
            let _ = sock.shutdown(Shutdown::Both);
            continue;
        }
        let n = shared.next_thread.fetch_add(1, Ordering::Relaxed);
        let Ok(registered) = sock.try_clone() else {
            continue;
        };
        shared.connections.lock().insert(n, registered);
        shared.live.fetch_add(1, Ordering::AcqRel);
        let conn_shared = Arc::clone(&shared);
        let spawned =
            std::thread::Builder::new().name(format!("{}-{n}", shared.config.thread_prefix)).spawn(move || {
                let _done = Deregister { shared: &conn_shared, n };
                let _ = serve_connection(sock, &conn_shared);
            });
        if spawned.is_err() {
            drop(Deregister { shared: &shared, n });
        }
    }
}

/// Forgets a connection when its thread ends, however it ends.
struct Deregister<'a> {
    shared: &'a Shared,
    n: u64,
}

impl Drop for Deregister<'_> {
    fn drop(&mut self) {
        self.shared.connections.lock().remove(&self.n);
        self.shared.live.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Tells TLS from plain and runs the handshake (with TLS), then serves the
/// requests; a TLS connection ends with close_notify.
fn serve_connection(sock: TcpStream, shared: &Shared) -> io::Result<()> {
    sock.set_read_timeout(shared.config.idle_timeout)?;
    sock.set_write_timeout(shared.config.idle_timeout)?;
    let _ = sock.set_nodelay(true);
    let sock = match &shared.config.tls {
        None => UnifiedSocket::plain(sock),
        Some(tls) => {
            let peer = sock.peer_addr().map_or_else(|e| e.to_string(), |a| a.to_string());
            match UnifiedSocket::accept_tls(sock, Arc::clone(&tls.server_config), !tls.only_tls, tls.handshake_timeout) {
                Ok(s) => {
                    if !s.is_tls() {
                        if let Some(c) = tls.plain_connections {
                            c.inc();
                        }
                    }
                    s
                }
                Err(e) => {
                    info!("{}: closing the connection from {peer}: no TLS handshake: {e}", shared.config.thread_prefix);
                    return Ok(());
                }
            }
        }
    };
    let secure_header = shared.config.tls.as_ref().and_then(|t| t.secure_header.as_deref()).filter(|_| sock.is_tls());
    let mut writer = Answers { out: sock.try_clone()?, extra_header: secure_header };
    serve_requests(&mut BufReader::new(sock), &mut writer, shared)?;
    writer.out.send_close_notify()
}

/// Reads requests and answers them until the client closes, asks to close,
/// sends something unparsable, or stays idle past the timeout.
fn serve_requests(reader: &mut BufReader<UnifiedSocket>, writer: &mut Answers<'_>, shared: &Shared) -> io::Result<()> {
    while shared.running.load(Ordering::Acquire) {
        let req = match read_request(reader) {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(()),
            Err(Status(code, reason)) => {
                writer.write(code, reason, None, b"", false, false)?;
                return Ok(());
            }
        };
        let head = req.method == "HEAD";
        // A handler that fails unexpectedly gets a 500, as the servlet
        // container answers an exception; the connection is closed.
        let answered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (shared.handler)(&req)));
        let Ok(r) = answered else {
            writer.write(500, "Server Error", None, b"", false, false)?;
            return Ok(());
        };
        writer.write(r.status, r.reason, r.content_type, r.body.as_bytes(), req.keep_alive, head)?;
        if !req.keep_alive {
            return Ok(());
        }
    }
    Ok(())
}

/// An HTTP error to answer before closing.
struct Status(u16, &'static str);

/// Reads one request: `Ok(None)` when the connection ended (or idled out)
/// before a request began.
fn read_request(reader: &mut BufReader<impl Read>) -> Result<Option<HttpRequest>, Status> {
    let mut head_bytes = 0usize;
    let mut line = Vec::new();
    // The request line; blank lines before it are allowed (RFC 9112 2.2).
    let request_line = loop {
        line.clear();
        match read_line(reader, &mut line, MAX_HEADER_BYTES) {
            Ok(0) => return Ok(None),
            Ok(n) => head_bytes += n,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return Err(Status(431, "Request Header Fields Too Large"))
            }
            Err(_) => return Ok(None),
        }
        let text = String::from_utf8_lossy(&line).trim_end_matches(['\r', '\n']).to_string();
        if !text.is_empty() {
            break text;
        }
    };
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Status(400, "Bad Request"));
    };
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Err(Status(400, "Bad Request")),
    };
    let mut keep_alive = http11;
    let mut content_length: u64 = 0;
    loop {
        line.clear();
        match read_line(reader, &mut line, MAX_HEADER_BYTES.saturating_sub(head_bytes)) {
            Ok(0) => return Ok(None),
            Ok(n) => head_bytes += n,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return Err(Status(431, "Request Header Fields Too Large"))
            }
            Err(_) => return Ok(None),
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            break;
        }
        let Some((name, value)) = text.split_once(':') else {
            return Err(Status(400, "Bad Request"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            let v = value.to_ascii_lowercase();
            if v.split(',').any(|t| t.trim() == "close") {
                keep_alive = false;
            } else if v.split(',').any(|t| t.trim() == "keep-alive") {
                keep_alive = true;
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            content_length = value.parse().map_err(|_| Status(400, "Bad Request"))?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Handlers take no body; a chunked one is not worth decoding.
            return Err(Status(411, "Length Required"));
        }
    }
    if content_length > MAX_BODY_BYTES {
        return Err(Status(413, "Payload Too Large"));
    }
    if content_length > 0 && io::copy(&mut reader.by_ref().take(content_length), &mut io::sink()).is_err() {
        return Ok(None);
    }
    // An absolute-form target (http://host/path) keeps only its path.
    let target = match target.find("://") {
        Some(i) => target[i + 3..].find('/').map_or("/", |j| &target[i + 3 + j..]),
        None => target,
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Ok(Some(HttpRequest { method: method.to_string(), path: path.to_string(), query: query.to_string(), keep_alive }))
}

/// Reads up to and including '\n', at most `limit` bytes (InvalidData
/// past it).
fn read_line(reader: &mut BufReader<impl Read>, out: &mut Vec<u8>, limit: usize) -> io::Result<usize> {
    let mut total = 0;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(total);
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if total + take > limit {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "header too large"));
        }
        out.extend_from_slice(&buf[..take]);
        reader.consume(take);
        total += take;
        if done {
            return Ok(total);
        }
    }
}

/// The request's parameters, the first value of each (as a servlet's
/// `getParameterMap()` lists them, taking the first).
pub fn parse_query(query: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.entry(percent_decode(&k.replace('+', " "))).or_insert_with(|| percent_decode(&v.replace('+', " ")));
    }
    out
}

/// %XX decoding; a `%` not followed by two hex digits stays as it is.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 3 <= b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where a connection's answers go.
struct Answers<'a> {
    out: UnifiedSocket,
    /// A header line every answer carries (`HttpsConfig::secure_header`).
    extra_header: Option<&'a str>,
}

impl Answers<'_> {
    fn write(
        &mut self,
        code: u16,
        reason: &str,
        content_type: Option<&str>,
        body: &[u8],
        keep_alive: bool,
        head: bool,
    ) -> io::Result<()> {
        let mut out = format!("HTTP/1.1 {code} {reason}\r\n");
        if let Some(h) = self.extra_header {
            out.push_str(&format!("{h}\r\n"));
        }
        if let Some(ct) = content_type {
            out.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
        if !keep_alive {
            out.push_str("Connection: close\r\n");
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        if !head {
            bytes.extend_from_slice(body);
        }
        self.out.write_all(&bytes)?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn queries_and_paths_are_decoded() {
        let q = parse_query("traceMask=12&a=%2Fx+y&a=second&flag");
        assert_eq!(q["traceMask"], "12");
        assert_eq!(q["a"], "/x y");
        assert_eq!(q["flag"], "");
        assert_eq!(percent_decode("wat%63hes"), "watches");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    /// An idle keep-alive connection is closed after the idle timeout, and
    /// its thread ends with it.
    #[test]
    fn idle_connections_are_closed_after_the_idle_timeout() {
        let config = HttpServerConfig {
            thread_prefix: "IdleTestHttp".into(),
            idle_timeout: Some(Duration::from_millis(300)),
            max_connections: MAX_CONNECTIONS,
            tls: None,
        };
        let server = HttpServer::start(bind("127.0.0.1", 0).unwrap(), config, |req| {
            HttpResponse::new(200, "OK", "text/plain", req.path.clone())
        })
        .unwrap();
        let mut s = TcpStream::connect(server.local_address()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let expected = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\n/metrics";
        let mut got = vec![0u8; expected.len()];
        s.read_exact(&mut got).unwrap();
        assert_eq!(got, expected, "{}", String::from_utf8_lossy(&got));
        // Kept alive, then idle: the server closes it (EOF) soon after
        // the timeout.
        let idle_from = Instant::now();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).unwrap();
        let idled = idle_from.elapsed();
        assert!(rest.is_empty(), "{rest:?}");
        assert!(idled >= Duration::from_millis(250) && idled < Duration::from_secs(5), "{idled:?}");
        let deadline = Instant::now() + Duration::from_secs(5);
        while server.shared.live.load(Ordering::Acquire) != 0 {
            assert!(Instant::now() < deadline, "the connection thread outlived its connection");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(server.shutdown());
    }
}
