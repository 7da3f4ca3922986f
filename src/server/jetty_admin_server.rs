//! JettyAdminServer: the AdminServer, an HTTP server that runs the
//! commands of `server::admin::commands` (Java's Commands) and answers in
//! JSON. `GET <commandURL>` lists a link to every command; `GET
//! <commandURL>/<name or alias>?key=value` runs one and answers 200 with
//! the command's map as JSON (`application/json`), errors included (an
//! unknown command, or a server that is not serving, is an "error" entry,
//! not an HTTP status). Only GET (and HEAD) run commands, as Java's servlet
//! has only doGet; other methods get 405, TRACE 403 (Java constrains it);
//! paths outside the command URL get 404.
//!
//! Settings are Java's system properties (zoo.cfg `admin.*`, or
//! `-Dzookeeper.admin.*`): enableServer, serverAddress, serverPort,
//! commandURL, idleTimeout. HTTPS (admin.portUnification,
//! admin.forceHttps, ssl.*) is refused at start-up by the configuration,
//! naming the key, until zkserver has TLS. (Java 3.8 reads no
//! admin.maxOutputSize; like any key it does not know, it is only logged.)
//!
//! Threads. Java runs the admin server in Jetty's QueuedThreadPool, whose
//! `qtp<hash>-<n>` threads take turns accepting, selecting and running the
//! servlet. Here `AdminServer-0` blocks in accept() on the admin port and
//! starts one `AdminServer-<n>` thread (n = 1, 2, ...) per connection,
//! which reads requests, runs commands and writes answers, keeping the
//! connection for HTTP/1.1 keep-alive until the client closes it or it is
//! idle for admin.idleTimeout ms (Jetty's connector idle timeout). At most
//! `MAX_CONNECTIONS` (Jetty's default pool size, 200) connections are
//! served at once; more are closed at once.
//!
//! Why not an HTTP crate: tiny_http (synchronous, thread based) was the
//! candidate, but it gives no way to bound a connection's idle time or the
//! number of connection threads (each connection holds one of its unnamed
//! threads for as long as the client keeps it open), so any client could
//! pin threads for ever where Jetty closes them after idleTimeout. The
//! subset needed here (GET with a query string, keep-alive, fixed-length
//! answers) is small enough to serve directly over `std::net`, with
//! deadlines on every read and write; TLS can later wrap the same streams.

use crate::quorum::quorum_peer_config::system_properties::SystemProperties;
use crate::quorum::quorum_peer_config::ConfigError;
use crate::server::admin::commands;
use crate::server::zoo_keeper_server::ZooKeeperServer;
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tracing::{info, warn};

/// Connections served at once (Jetty QueuedThreadPool's default maximum).
pub const MAX_CONNECTIONS: usize = 200;
/// The most a request line plus headers may take (Jetty's default
/// requestHeaderSize); longer gets 431 and the connection is closed.
const MAX_HEADER_BYTES: usize = 8192;
/// The most request body bytes read and discarded (commands take none).
const MAX_BODY_BYTES: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminServerSettings {
    /// zookeeper.admin.enableServer (zoo.cfg `admin.enableServer`): on
    /// unless exactly `false`.
    pub enable_server: bool,
    /// zookeeper.admin.serverAddress (default 0.0.0.0).
    pub server_address: String,
    /// zookeeper.admin.serverPort (default 8080).
    pub server_port: i32,
    /// zookeeper.admin.idleTimeout (ms, default 30000).
    pub idle_timeout_ms: i32,
    /// zookeeper.admin.commandURL (default /commands).
    pub command_url: String,
}

impl AdminServerSettings {
    pub fn read(props: &SystemProperties) -> Result<AdminServerSettings, ConfigError> {
        Ok(AdminServerSettings {
            enable_server: props.equals("zookeeper.admin.enableServer", "false") != Some(true),
            server_address: props.string_or("zookeeper.admin.serverAddress", "0.0.0.0"),
            server_port: props.int("zookeeper.admin.serverPort", 8080)?,
            idle_timeout_ms: props.int("zookeeper.admin.idleTimeout", 30000)?,
            command_url: props.string_or("zookeeper.admin.commandURL", "/commands"),
        })
    }

    /// What JettyAdminServer.start's failure says (Java's
    /// AdminServerException message).
    fn problem(&self, what: &str) -> String {
        format!(
            "Problem {what} AdminServer on address {}, port {} and command URL {}",
            self.server_address, self.server_port, self.command_url
        )
    }
}

/// The running admin server (Java's JettyAdminServer with its Jetty
/// Server). Commands run against the ZooKeeperServer last set with
/// `set_zoo_keeper_server`: a standalone server's for its whole life, a
/// quorum peer's current role's once it serves (its idle server between
/// roles, which is not running, so commands that need a server answer
/// "This ZooKeeper instance is not currently serving requests").
pub struct JettyAdminServer {
    settings: AdminServerSettings,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Mutex<Option<JoinHandle<()>>>,
}

/// What the acceptor and the connection threads share.
struct Shared {
    command_url: String,
    idle_timeout: Option<Duration>,
    zks: RwLock<Option<Arc<ZooKeeperServer>>>,
    props: SystemProperties,
    running: AtomicBool,
    /// Open connections, by number, so shutdown can close them.
    connections: Mutex<HashMap<u64, TcpStream>>,
    live: AtomicUsize,
    next_thread: AtomicU64,
}

impl JettyAdminServer {
    /// JettyAdminServer.start: binds serverAddress:serverPort and starts the
    /// acceptor. `props` is the system property store the command
    /// system_properties lists. A failure is Java's AdminServerException:
    /// the standalone server gives up start-up on it, a quorum peer logs it
    /// and goes on without an admin server.
    pub fn start(settings: &AdminServerSettings, props: SystemProperties) -> Result<Arc<JettyAdminServer>, String> {
        let bind = || -> io::Result<TcpListener> {
            let port = u16::try_from(settings.server_port).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("port out of range:{}", settings.server_port))
            })?;
            let ip: IpAddr = match settings.server_address.parse() {
                Ok(ip) => ip,
                Err(_) => std::net::ToSocketAddrs::to_socket_addrs(&(settings.server_address.as_str(), port))?
                    .next()
                    .map(|a| a.ip())
                    .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))?,
            };
            // Jetty on 0.0.0.0 (the default) takes IPv6 clients too.
            crate::common::net_utils::bind_listener(SocketAddr::new(ip, port), 50, true)
        };
        let listener = bind().map_err(|e| format!("{}: {e}", settings.problem("starting")))?;
        let local_addr = listener.local_addr().map_err(|e| format!("{}: {e}", settings.problem("starting")))?;
        let shared = Arc::new(Shared {
            command_url: settings.command_url.clone(),
            idle_timeout: u64::try_from(settings.idle_timeout_ms).ok().filter(|&ms| ms > 0).map(Duration::from_millis),
            zks: RwLock::new(None),
            props,
            running: AtomicBool::new(true),
            connections: Mutex::new(HashMap::new()),
            live: AtomicUsize::new(0),
            next_thread: AtomicU64::new(1),
        });
        let accept_shared = Arc::clone(&shared);
        let acceptor = std::thread::Builder::new()
            .name("AdminServer-0".into())
            .spawn(move || accept_loop(listener, accept_shared))
            .map_err(|e| format!("{}: {e}", settings.problem("starting")))?;
        info!(
            "Started AdminServer on address {}, port {} and command URL {}",
            settings.server_address,
            local_addr.port(),
            settings.command_url
        );
        Ok(Arc::new(JettyAdminServer {
            settings: settings.clone(),
            local_addr,
            shared,
            acceptor: Mutex::new(Some(acceptor)),
        }))
    }

    /// The address bound (the port is the real one when 0 was asked for).
    pub fn local_address(&self) -> SocketAddr {
        self.local_addr
    }

    /// setZooKeeperServer: the server commands run against from now on.
    pub fn set_zoo_keeper_server(&self, zks: Option<Arc<ZooKeeperServer>>) {
        *self.shared.zks.write() = zks;
    }

    /// JettyAdminServer.shutdown: stops accepting and closes every open
    /// connection (a command running finishes, its answer is lost).
    pub fn shutdown(&self) {
        if !self.shared.running.swap(false, Ordering::AcqRel) {
            return;
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
        info!("Stopped AdminServer on port {}", self.local_addr.port());
    }

    pub fn settings(&self) -> &AdminServerSettings {
        &self.settings
    }
}

impl Drop for JettyAdminServer {
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
                    warn!("AdminServer accept failed: {e}");
                    last_error_log = Some(std::time::Instant::now());
                }
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if !shared.running.load(Ordering::Acquire) {
            break;
        }
        if shared.live.load(Ordering::Acquire) >= MAX_CONNECTIONS {
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
        let spawned = std::thread::Builder::new().name(format!("AdminServer-{n}")).spawn(move || {
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

/// One parsed request: method, path (still percent-encoded) and query.
struct HttpRequest {
    method: String,
    path: String,
    query: String,
    keep_alive: bool,
}

/// Reads requests and answers them until the client closes, asks to close,
/// sends something unparsable, or stays idle past the timeout.
fn serve_connection(sock: TcpStream, shared: &Shared) -> io::Result<()> {
    sock.set_read_timeout(shared.idle_timeout)?;
    sock.set_write_timeout(shared.idle_timeout)?;
    let _ = sock.set_nodelay(true);
    let mut writer = sock.try_clone()?;
    let mut reader = BufReader::new(sock);
    while shared.running.load(Ordering::Acquire) {
        let req = match read_request(&mut reader) {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(()),
            Err(Status(code, reason)) => {
                write_response(&mut writer, code, reason, None, b"", false, false)?;
                return Ok(());
            }
        };
        let head = req.method == "HEAD";
        // A command that fails unexpectedly gets a 500, as the servlet
        // container answers an exception; the connection is closed.
        let answered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| answer(&req, shared)));
        let Ok((code, reason, content_type, body)) = answered else {
            write_response(&mut writer, 500, "Server Error", None, b"", false, false)?;
            return Ok(());
        };
        write_response(&mut writer, code, reason, content_type, body.as_bytes(), req.keep_alive, head)?;
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
fn read_request(reader: &mut BufReader<TcpStream>) -> Result<Option<HttpRequest>, Status> {
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
            // Commands take no body; a chunked one is not worth decoding.
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
fn read_line(reader: &mut BufReader<TcpStream>, out: &mut Vec<u8>, limit: usize) -> io::Result<usize> {
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

/// The answer to one request: status, reason, content type, body.
fn answer(req: &HttpRequest, shared: &Shared) -> (u16, &'static str, Option<&'static str>, String) {
    let base = shared.command_url.trim_end_matches('/');
    let rest = if req.path == base { Some("") } else { req.path.strip_prefix(base).and_then(|r| r.strip_prefix('/')) };
    let Some(rest) = rest else {
        return (404, "Not Found", Some("text/plain;charset=utf-8"), "Not Found\n".into());
    };
    match req.method.as_str() {
        "GET" | "HEAD" => {}
        "TRACE" => return (403, "Forbidden", Some("text/plain;charset=utf-8"), "Forbidden\n".into()),
        _ => {
            return (405, "Method Not Allowed", Some("text/plain;charset=utf-8"), "HTTP method not supported\n".into())
        }
    }
    if rest.is_empty() {
        // No command named: a link to each, as Java's servlet prints them.
        let mut body = String::new();
        for name in commands::primary_names() {
            body.push_str(&format!("<a href=\"{}/{name}\">{name}</a>\n<br/>\n", shared.command_url));
        }
        return (200, "OK", Some("text/html;charset=utf-8"), body);
    }
    let name = percent_decode(rest);
    let kwargs = parse_query(&req.query);
    let zks = shared.zks.read().clone();
    let response = commands::run_command(&name, zks.as_ref(), &shared.props, &kwargs);
    (200, "OK", Some(commands::JSON_CONTENT_TYPE), response.to_json())
}

/// The request's parameters, the first value of each (as Java's servlet
/// takes `getParameterMap()`'s first).
fn parse_query(query: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.entry(percent_decode(&k.replace('+', " "))).or_insert_with(|| percent_decode(&v.replace('+', " ")));
    }
    out
}

fn percent_decode(s: &str) -> String {
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

fn write_response(
    w: &mut TcpStream,
    code: u16,
    reason: &str,
    content_type: Option<&str>,
    body: &[u8],
    keep_alive: bool,
    head: bool,
) -> io::Result<()> {
    let mut out = format!("HTTP/1.1 {code} {reason}\r\n");
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
    w.write_all(&bytes)?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_as_java() {
        let read = |pairs: &[(&str, &str)]| AdminServerSettings::read(&SystemProperties::of(pairs));
        let s = read(&[]).unwrap();
        assert!(s.enable_server);
        assert_eq!((s.server_address.as_str(), s.server_port, s.idle_timeout_ms), ("0.0.0.0", 8080, 30000));
        assert_eq!(s.command_url, "/commands");
        let s = read(&[("admin.enableServer", "false"), ("admin.serverPort", "9090")]).unwrap();
        assert!(!s.enable_server);
        assert_eq!(s.server_port, 9090);
        // Only exactly "false" disables the admin server, as in Java.
        assert!(read(&[("admin.enableServer", "no")]).unwrap().enable_server);
        assert_eq!(
            read(&[("admin.serverPort", "x")]).unwrap_err().to_string(),
            "admin.serverPort: \"x\" is not a number"
        );
    }

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
}
