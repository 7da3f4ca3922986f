//! UnifiedServerSocket / UnifiedSocket (and the SSLSocket a server dials
//! a peer with): a blocking quorum or election connection that is plain
//! TCP or TLS (rustls), used like a `TcpStream` by the threads that own it
//! (QuorumCnxManager's connection threads, SendWorker and RecvWorker; the
//! Learner's QuorumPeer and LearnerSender threads; LearnerHandler's
//! threads). With sslQuorum the accepting side runs TLS on every
//! connection, with portUnification too it peeks at the first bytes and
//! runs TLS only when they start a TLS handshake (so plain peers of a
//! rolling upgrade still get in). The AdminServer's HTTPS
//! (`server::http_server`, admin.forceHttps / admin.portUnification)
//! accepts its connections the same way, with its own server config.
//!
//! A TLS connection is split between a reading and a writing thread by
//! `try_clone`: the clones share the rustls connection under a short
//! lock never held across socket I/O. Reads take raw bytes from the socket
//! unlocked and feed them in; writes encrypt under the lock and go out
//! under a second lock that keeps records in order. The socket's read and
//! write timeouts and `shutdown` work as on a plain socket.

use crate::common::deadline_reader::{DeadlineReader, TimedSocket};
use crate::common::net_utils::canonical;
use crate::common::x509_util::{verify_peer_address, X509Util};
use crate::server::ssl_handler::TLS_HANDSHAKE_RECORD;
use parking_lot::Mutex;
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, Connection, ServerConfig, ServerConnection};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// sslQuorum and portUnification with the quorum X509Util: how quorum and
/// election connections are dialed and accepted (QuorumPeer's
/// isSslQuorum / shouldUsePortUnification / getX509Util). portUnification
/// without sslQuorum (a rolling upgrade's first step) accepts both and
/// dials plain; with it, dials TLS and still accepts plain (the second).
#[derive(Clone, Default)]
pub struct QuorumSsl {
    pub x509: Option<Arc<X509Util>>,
    pub ssl_quorum: bool,
    pub port_unification: bool,
}

impl std::fmt::Debug for QuorumSsl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuorumSsl")
            .field("ssl_quorum", &self.ssl_quorum)
            .field("port_unification", &self.port_unification)
            .finish()
    }
}

impl QuorumSsl {
    /// The dialing side's X509Util: with sslQuorum only.
    pub fn dial(&self) -> Option<&X509Util> {
        self.x509.as_deref().filter(|_| self.ssl_quorum)
    }

    /// An accepted connection: TLS, or plain, or (portUnification)
    /// whichever the peer starts.
    pub fn accept(&self, tcp: TcpStream) -> io::Result<UnifiedSocket> {
        match &self.x509 {
            Some(x509) if self.port_unification => UnifiedSocket::accept(tcp, x509, true),
            Some(x509) if self.ssl_quorum => UnifiedSocket::accept(tcp, x509, false),
            _ => Ok(UnifiedSocket::plain(tcp)),
        }
    }

    /// A dialed connection to `host`.
    pub fn connect(&self, tcp: TcpStream, host: &str) -> io::Result<UnifiedSocket> {
        UnifiedSocket::connect(tcp, self.dial(), host)
    }
}

struct TlsState {
    conn: Connection,
    /// Raw bytes read from the socket and not yet fed to `conn`.
    pending: Vec<u8>,
    /// Plaintext put back by `peek_exact`, read before `conn`'s.
    unread: Vec<u8>,
}

struct Tls {
    state: Mutex<TlsState>,
    /// Held while encrypted bytes go out, so records leave in order.
    write: Mutex<()>,
}

/// A quorum connection, plain or TLS.
pub struct UnifiedSocket {
    tcp: TcpStream,
    tls: Option<Arc<Tls>>,
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// The socket as the handshake sees it: reads bounded by the deadline.
struct HandshakeIo<'a> {
    reader: DeadlineReader<&'a TcpStream>,
    tcp: &'a TcpStream,
}

impl Read for HandshakeIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf)
    }
}

impl Write for HandshakeIo<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

impl UnifiedSocket {
    /// A plain connection.
    pub fn plain(tcp: TcpStream) -> UnifiedSocket {
        UnifiedSocket { tcp, tls: None }
    }

    /// The dialing side: with the quorum X509Util, runs the TLS handshake
    /// (checking the peer's certificate and, with hostnameVerification,
    /// that it names `host` or the address connected to) within the
    /// socket's timeouts.
    pub fn connect(tcp: TcpStream, x509: Option<&X509Util>, host: &str) -> io::Result<UnifiedSocket> {
        let Some(x509) = x509 else {
            return Ok(UnifiedSocket::plain(tcp));
        };
        let dial = x509
            .client_config()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no quorum TLS client config"))?;
        let name = ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']').to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{host}: {e}")))?;
        let config = dial.to(&name, canonical(tcp.peer_addr()?).ip());
        let conn = ClientConnection::new(config, name).map_err(tls_error)?;
        UnifiedSocket::handshake(tcp, Connection::Client(conn), None)
    }

    /// The accepting side: TLS, or with `unified` whichever the peer
    /// starts, within ssl.quorum.handshakeDetectionTimeoutMillis.
    fn accept(tcp: TcpStream, x509: &X509Util, unified: bool) -> io::Result<UnifiedSocket> {
        let timeout = Duration::from_millis(x509.settings.handshake_timeout_ms.max(1) as u64);
        let sock = UnifiedSocket::accept_tls(tcp, x509.server_config(), unified, timeout)?;
        if !sock.is_tls() {
            tracing::info!("Accepted plain (non-TLS) quorum connection from {:?}", sock.tcp.peer_addr().ok());
        } else if x509.settings.hostname_verification {
            sock.verify_peer_address()?;
        }
        Ok(sock)
    }

    /// An accepted connection that runs TLS with `config`, or with
    /// `unified` whichever the peer starts (UnifiedSocket.detectMode: a TLS
    /// record of type handshake opens a TLS connection; neither a plain
    /// quorum connection, whose first byte is a number's high byte, nor an
    /// HTTP request starts with that byte). The first byte is awaited for at
    /// most `timeout`, and then the handshake must end within `timeout`
    /// however its bytes trickle in; the socket's own read timeout is kept
    /// for what follows.
    pub fn accept_tls(tcp: TcpStream, config: Arc<ServerConfig>, unified: bool, timeout: Duration) -> io::Result<UnifiedSocket> {
        let previous = tcp.read_timeout()?;
        if unified && !UnifiedSocket::starts_tls(&tcp, timeout)? {
            return Ok(UnifiedSocket::plain(tcp));
        }
        let conn = ServerConnection::new(config).map_err(tls_error)?;
        let sock = UnifiedSocket::handshake(tcp, Connection::Server(conn), Some(Instant::now() + timeout))?;
        sock.tcp.set_read_timeout(previous)?;
        Ok(sock)
    }

    /// Whether the first byte, awaited for at most `timeout`, starts a TLS
    /// handshake record (false when the peer closed without sending one).
    fn starts_tls(tcp: &TcpStream, timeout: Duration) -> io::Result<bool> {
        let previous = tcp.read_timeout()?;
        tcp.set_read_timeout(Some(timeout))?;
        let mut head = [0u8; 1];
        let n = tcp.peek(&mut head);
        tcp.set_read_timeout(previous)?;
        Ok(n? == 1 && head[0] == TLS_HANDSHAKE_RECORD)
    }

    /// Runs the handshake: within the socket's timeouts, and with a
    /// deadline, also within that however slowly the peer's bytes come.
    fn handshake(tcp: TcpStream, mut conn: Connection, deadline: Option<Instant>) -> io::Result<UnifiedSocket> {
        let mut io = HandshakeIo { reader: DeadlineReader::new(&tcp, deadline), tcp: &tcp };
        while conn.is_handshaking() {
            conn.complete_io(&mut io)?;
        }
        while conn.wants_write() {
            conn.write_tls(&mut io)?;
        }
        let tls = Tls { state: Mutex::new(TlsState { conn, pending: Vec::new(), unread: Vec::new() }), write: Mutex::new(()) };
        Ok(UnifiedSocket { tcp, tls: Some(Arc::new(tls)) })
    }

    /// ZKTrustManager.checkClientTrusted's host check on the accepting side.
    fn verify_peer_address(&self) -> io::Result<()> {
        let ip = self.tcp.peer_addr()?.ip();
        let Some(tls) = &self.tls else { return Ok(()) };
        let state = tls.state.lock();
        match state.conn.peer_certificates().and_then(|c| c.first()) {
            Some(cert) => verify_peer_address(cert, ip).map_err(|e| io::Error::new(io::ErrorKind::PermissionDenied, e)),
            // ssl.quorum.clientAuth=none or want without a certificate.
            None => Ok(()),
        }
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Ends a TLS connection cleanly (close_notify); nothing on a plain one.
    pub fn send_close_notify(&self) -> io::Result<()> {
        let Some(tls) = &self.tls else { return Ok(()) };
        tls.state.lock().conn.send_close_notify();
        self.flush_tls(tls, true)
    }

    /// Another handle on the same connection (for the other thread).
    pub fn try_clone(&self) -> io::Result<UnifiedSocket> {
        Ok(UnifiedSocket { tcp: self.tcp.try_clone()?, tls: self.tls.clone() })
    }

    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.tcp.shutdown(how)
    }

    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.tcp.set_read_timeout(t)
    }

    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.tcp.read_timeout()
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.peer_addr()
    }

    /// Sends what the TLS connection has queued, in order.
    fn flush_tls(&self, tls: &Tls, wait: bool) -> io::Result<()> {
        let _order = if wait {
            tls.write.lock()
        } else {
            match tls.write.try_lock() {
                Some(g) => g,
                // The writing thread holds it and sends the queue next.
                None => return Ok(()),
            }
        };
        self.send_queued(tls)
    }

    /// With `tls.write` held.
    fn send_queued(&self, tls: &Tls) -> io::Result<()> {
        loop {
            let mut out = Vec::new();
            {
                let mut st = tls.state.lock();
                while st.conn.wants_write() {
                    st.conn.write_tls(&mut out)?;
                }
            }
            if out.is_empty() {
                return Ok(());
            }
            (&self.tcp).write_all(&out)?;
        }
    }
}

impl UnifiedSocket {
    fn read_tls(&self, tls: &Tls, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut needs_flush = false;
            let mut fed = false;
            {
                let mut guard = tls.state.lock();
                let st = &mut *guard;
                if !st.unread.is_empty() {
                    let n = buf.len().min(st.unread.len());
                    buf[..n].copy_from_slice(&st.unread[..n]);
                    st.unread.drain(..n);
                    return Ok(n);
                }
                match st.conn.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                if !st.pending.is_empty() {
                    let mut rd = &st.pending[..];
                    let n = st.conn.read_tls(&mut rd)?;
                    st.pending.drain(..n);
                    fed = true;
                    let processed = st.conn.process_new_packets();
                    needs_flush = st.conn.wants_write();
                    if let Err(e) = processed {
                        drop(guard);
                        // The alert, if it can go at once.
                        let _ = self.flush_tls(tls, false);
                        return Err(tls_error(e));
                    }
                }
            }
            if needs_flush {
                self.flush_tls(tls, false)?;
            }
            if !fed {
                // Nothing buffered: wait for the socket.
                let mut raw = [0u8; 16 * 1024];
                let n = (&self.tcp).read(&mut raw)?;
                if n == 0 {
                    return Ok(0);
                }
                tls.state.lock().pending.extend_from_slice(&raw[..n]);
            }
        }
    }

    /// nextPacketIsAuth's peek: the next `buf.len()` bytes, left to be read
    /// again, waiting at most the socket's read timeout.
    pub fn peek_exact(&self, buf: &mut [u8]) -> io::Result<()> {
        let Some(tls) = &self.tls else {
            loop {
                // SAFETY: the pointer and length describe `buf`, which lives
                // across the call; the descriptor is the open socket here.
                let n = unsafe {
                    libc::recv(self.tcp.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), libc::MSG_PEEK | libc::MSG_WAITALL)
                };
                if n < 0 {
                    let e = io::Error::last_os_error();
                    if e.kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    return Err(e);
                }
                if (n as usize) < buf.len() {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                return Ok(());
            }
        };
        let mut got = 0;
        let outcome = loop {
            if got == buf.len() {
                break Ok(());
            }
            match self.read_tls(tls, &mut buf[got..]) {
                Ok(0) => break Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => got += n,
                Err(e) => break Err(e),
            }
        };
        let mut st = tls.state.lock();
        st.unread.splice(0..0, buf[..got].iter().copied());
        outcome
    }
}

impl Read for &UnifiedSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.tls {
            Some(tls) => self.read_tls(tls, buf),
            None => (&self.tcp).read(buf),
        }
    }
}

impl Read for UnifiedSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl TimedSocket for UnifiedSocket {
    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.tcp.set_read_timeout(t)
    }

    fn read_shared(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut s = self;
        s.read(buf)
    }
}

impl Write for &UnifiedSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(tls) = &self.tls else {
            return (&self.tcp).write(buf);
        };
        let _order = tls.write.lock();
        let n = tls.state.lock().conn.writer().write(buf)?;
        self.send_queued(tls)?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &self.tls {
            Some(tls) => self.flush_tls(tls, true),
            None => (&self.tcp).flush(),
        }
    }
}

impl Write for UnifiedSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self).flush()
    }
}
