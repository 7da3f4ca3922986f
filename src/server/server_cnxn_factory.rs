//! ServerCnxnFactory: what the rest of the server asks of the client port,
//! whatever kind of connection it accepts.
//! `server::nio_server_cnxn_factory::NioServerCnxnFactory` (plain TCP, its
//! own accept, selector, worker and expirer threads) is the one
//! implementation today. Its methods are called by the NIO workers and the
//! processor threads (sessions), the four-letter words (connections) and
//! the main or QuorumPeer thread (which server is behind the port,
//! shutdown).

use crate::server::server_cnxn::ServerCnxn;
use crate::server::zoo_keeper_server::ZooKeeperServer;
use std::net::SocketAddr;
use std::sync::Arc;

pub trait ServerCnxnFactory: Send + Sync {
    /// The address the port is bound to.
    fn local_address(&self) -> SocketAddr;

    /// setZooKeeperServer: new connections go to `zks`; the open ones,
    /// which belong to the previous server, are closed.
    fn set_zoo_keeper_server(&self, zks: Arc<ZooKeeperServer>);

    /// The server behind the client port now.
    fn zoo_keeper_server(&self) -> Arc<ZooKeeperServer>;

    /// addSession: the session now lives on `cnxn`, whose idle deadline
    /// becomes the session's timeout.
    fn add_session(&self, session_id: i64, cnxn: &Arc<dyn ServerCnxn>);

    /// closeSession: close the connection serving `session_id`, if any.
    fn close_session(&self, session_id: i64, reason: &str);

    /// Every open connection, oldest first (`cons`, `stat`, `dump`).
    fn connections(&self) -> Vec<Arc<dyn ServerCnxn>>;

    fn num_alive_connections(&self) -> usize;

    /// TLS handshakes begun and not yet finished (or failed).
    fn outstanding_tls_handshakes(&self) -> usize;
    /// reconfigure: a reconfig moved this server's client address: stop
    /// accepting on the old one and bind `addr` (open connections stay).
    /// When `addr` cannot be bound the old port stays open (Java closes
    /// it) and the error is returned.
    fn reconfigure(&self, addr: SocketAddr) -> std::io::Result<()>;

    /// Stops accepting, closes every connection, joins the threads.
    fn shutdown(&self);
}
