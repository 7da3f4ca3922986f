//! SslHandler: the TLS layer of one client connection on the secure client
//! port, and, with client.portUnification, Netty's DualModeSslHandler on the
//! plain port (the first byte decides: a TLS handshake record starts with
//! 0x16, which no ZooKeeper frame or four-letter word does). It sits between
//! the `NioServerCnxn` and its non-blocking socket and is driven by the
//! NIOWorker that holds the connection, exactly like a plain socket:
//! `read` gives plaintext (or WouldBlock), `write_vectored` takes plaintext,
//! and rustls turns one into the other with read_tls/write_tls on the
//! socket. Handshake and alert records it must send are flushed as soon as
//! they are made; what the socket cannot take yet waits in rustls (bounded
//! by its buffer limit) and `wants_write` asks the selector for EPOLLOUT.

use crate::common::x509_util::X509Util;
use rustls::ServerConnection;
use std::io::{self, IoSlice, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

/// The TLS bytes rustls may hold for a connection before it takes no more
/// plaintext (the connection's reply queue holds the rest).
const TLS_BUFFER_LIMIT: usize = 256 << 10;
/// Most socket reads one `read` makes while they yield no plaintext.
const RECORD_READS_PER_CALL: usize = 16;
/// A TLS connection's first record has this content type (handshake),
/// its first byte.
pub const TLS_HANDSHAKE_RECORD: u8 = 0x16;

enum State {
    /// Port unification: nothing read yet.
    Detect(Arc<X509Util>),
    /// Port unification chose plaintext.
    Plain,
    Tls(Box<ServerConnection>),
}

/// A finished handshake, for the connection to act on (x509 auth).
pub struct Handshaken {
    /// The client's certificate chain, leaf first (empty when none was sent).
    pub peer_chain: Vec<Vec<u8>>,
}

pub struct SslHandler {
    state: State,
    handshaken: bool,
    /// Set when the handshake finished, until `take_handshaken`.
    just_handshaken: bool,
}

impl SslHandler {
    /// A connection on the secure client port: TLS from the first byte.
    pub fn tls(x509: &X509Util) -> io::Result<SslHandler> {
        Ok(SslHandler { state: State::Tls(new_connection(x509)?), handshaken: false, just_handshaken: false })
    }

    /// A connection on a unified plain port: TLS or not, by its first byte.
    pub fn detect(x509: Arc<X509Util>) -> SslHandler {
        SslHandler { state: State::Detect(x509), handshaken: false, just_handshaken: false }
    }

    /// Whether the handshake is over, or port unification chose plaintext.
    pub fn is_settled(&self) -> bool {
        self.handshaken || matches!(self.state, State::Plain)
    }

    /// Whether this connection speaks TLS (so far as is known).
    pub fn is_tls(&self) -> bool {
        matches!(self.state, State::Tls(_))
    }

    /// Plaintext into `buf`, as a socket read would: Ok(0) at end of
    /// stream, WouldBlock when there is nothing now. Err(InvalidData) for a
    /// failed handshake or a corrupt record (the alert is sent first).
    pub fn read(&mut self, sock: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        if let State::Detect(x509) = &self.state {
            let n = (&*sock).read(buf)?;
            if n == 0 || buf[0] != TLS_HANDSHAKE_RECORD {
                self.state = State::Plain;
                return Ok(n);
            }
            let mut conn = new_connection(x509)?;
            let mut first = &buf[..n];
            while !first.is_empty() {
                if conn.read_tls(&mut first)? == 0 {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "TLS records too large to buffer"));
                }
                process(&mut conn, sock)?;
            }
            self.state = State::Tls(conn);
        }
        let conn = match &mut self.state {
            State::Tls(c) => c,
            _ => return (&*sock).read(buf),
        };
        // Records that carry no plaintext (handshake, alerts, empty data)
        // are taken a few at a time, so one client cannot keep the worker;
        // the socket, still readable, brings the connection back.
        for _ in 0..RECORD_READS_PER_CALL {
            match conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            match conn.read_tls(&mut &*sock) {
                Ok(0) => return Ok(0),
                Ok(_) => {
                    process(conn, sock)?;
                    if !self.handshaken && !conn.is_handshaking() {
                        self.handshaken = true;
                        self.just_handshaken = true;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Err(io::ErrorKind::WouldBlock.into())
    }

    /// Whether rustls holds plaintext not yet read (so the connection must
    /// be read again without waiting for the socket).
    pub fn has_buffered_plaintext(&mut self) -> bool {
        match &mut self.state {
            State::Tls(c) => c.process_new_packets().map(|s| s.plaintext_bytes_to_read() > 0).unwrap_or(false),
            _ => false,
        }
    }

    /// The handshake that finished since the last call, if any.
    pub fn take_handshaken(&mut self) -> Option<Handshaken> {
        if !std::mem::take(&mut self.just_handshaken) {
            return None;
        }
        let State::Tls(c) = &self.state else { return None };
        let peer_chain = c.peer_certificates().map(|certs| certs.iter().map(|c| c.to_vec()).collect()).unwrap_or_default();
        Some(Handshaken { peer_chain })
    }

    /// Takes plaintext for the client as a socket write would (WouldBlock
    /// when rustls holds all it may), then sends what it can.
    pub fn write_vectored(&mut self, sock: &TcpStream, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let conn = match &mut self.state {
            State::Tls(c) => c,
            _ => return (&*sock).write_vectored(bufs),
        };
        flush_tls(conn, sock)?;
        let n = conn.writer().write_vectored(bufs)?;
        flush_tls(conn, sock)?;
        if n == 0 && bufs.iter().any(|b| !b.is_empty()) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    /// Sends the TLS bytes rustls holds, as far as the socket takes them.
    pub fn flush(&mut self, sock: &TcpStream) -> io::Result<()> {
        match &mut self.state {
            State::Tls(c) => flush_tls(c, sock),
            _ => Ok(()),
        }
    }

    /// Whether TLS bytes wait for the socket to take them.
    pub fn wants_write(&self) -> bool {
        match &self.state {
            State::Tls(c) => c.wants_write(),
            _ => false,
        }
    }
}

fn new_connection(x509: &X509Util) -> io::Result<Box<ServerConnection>> {
    let mut c = ServerConnection::new(x509.server_config()).map_err(io::Error::other)?;
    c.set_buffer_limit(Some(TLS_BUFFER_LIMIT));
    Ok(Box::new(c))
}

/// Processes the records read; on a TLS error sends the alert rustls made
/// and fails with InvalidData.
fn process(conn: &mut ServerConnection, sock: &TcpStream) -> io::Result<()> {
    if let Err(e) = conn.process_new_packets() {
        let _ = flush_tls(conn, sock);
        return Err(io::Error::new(io::ErrorKind::InvalidData, e));
    }
    flush_tls(conn, sock)
}

/// write_tls until rustls has nothing left or the socket is full.
fn flush_tls(conn: &mut ServerConnection, sock: &TcpStream) -> io::Result<()> {
    while conn.wants_write() {
        match conn.write_tls(&mut &*sock) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
