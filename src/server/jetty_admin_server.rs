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
//! commandURL, idleTimeout, and HTTPS: admin.forceHttps (HTTPS only) or
//! admin.portUnification (HTTP and HTTPS on the one port, told apart by
//! the first byte; forceHttps wins when both are set). HTTPS takes the
//! key and trust stores of the QuorumX509Util keys, as Java does
//! (`x509_util::admin_server_config`: no client certificate asked for),
//! answers over TLS carry Jetty's Strict-Transport-Security header, and
//! plain connections on a unified port count in `insecure_admin_count`.
//! When the stores cannot be loaded Java's AdminServerFactory logs it and
//! the server runs without an AdminServer; so does zkserver. A connection
//! has ssl.quorum.handshakeDetectionTimeoutMillis (default 5000 ms) to
//! send its first byte and again to finish its TLS handshake (Jetty bounds
//! each read of it by the idle timeout). (Java 3.8 reads no
//! admin.maxOutputSize; like any key it does not know, it is only logged.)
//!
//! The HTTP layer is `server::http_server` (Jetty's part in Java), with
//! the thread-name prefix `AdminServer`: `AdminServer-0` accepts on the
//! admin port and one `AdminServer-<n>` thread per connection (at most
//! `http_server::MAX_CONNECTIONS`, Jetty's default pool size) runs any
//! TLS handshake, reads requests and runs commands, keeping the connection
//! until the client closes it or it is idle for admin.idleTimeout ms
//! (Jetty's connector idle timeout). This module is the CommandServlet:
//! the handler.

use crate::common::x509_util;
use crate::quorum::quorum_peer_config::system_properties::SystemProperties;
use crate::quorum::quorum_peer_config::ConfigError;
use crate::server::admin::commands;
use crate::server::http_server::{
    self, percent_decode, HttpRequest, HttpResponse, HttpServer, HttpServerConfig, HttpsConfig,
};
use crate::server::zoo_keeper_server::ZooKeeperServer;
use parking_lot::RwLock;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tracing::{error, info, warn};

/// Connections served at once (Jetty QueuedThreadPool's default maximum).
pub const MAX_CONNECTIONS: usize = http_server::MAX_CONNECTIONS;
/// What Java's SecureRequestCustomizer adds to every HTTPS answer
/// (DEFAULT_STS_MAX_AGE, a day, with includeSubDomains).
const STRICT_TRANSPORT_SECURITY: &str = "Strict-Transport-Security: max-age=86400; includeSubDomains";

/// Which connector Java's constructor builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminHttps {
    /// Plain HTTP (neither key set).
    Off,
    /// zookeeper.admin.portUnification: HTTP and HTTPS on the one port.
    PortUnification,
    /// zookeeper.admin.forceHttps: HTTPS only.
    Forced,
}

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
    /// zookeeper.admin.forceHttps, zookeeper.admin.portUnification.
    pub https: AdminHttps,
    /// zookeeper.ssl.quorum.handshakeDetectionTimeoutMillis (ms, default
    /// 5000; read with HTTPS only).
    pub handshake_timeout_ms: i32,
}

impl AdminServerSettings {
    pub fn read(props: &SystemProperties) -> Result<AdminServerSettings, ConfigError> {
        AdminServerSettings {
            enable_server: props.equals("zookeeper.admin.enableServer", "false") != Some(true),
            server_address: props.string_or("zookeeper.admin.serverAddress", "0.0.0.0"),
            server_port: props.int("zookeeper.admin.serverPort", 8080)?,
            idle_timeout_ms: props.int("zookeeper.admin.idleTimeout", 30000)?,
            command_url: props.string_or("zookeeper.admin.commandURL", "/commands"),
            https: match (
                props.boolean("zookeeper.admin.forceHttps", false),
                props.boolean("zookeeper.admin.portUnification", false),
            ) {
                (true, _) => AdminHttps::Forced,
                (false, true) => AdminHttps::PortUnification,
                (false, false) => AdminHttps::Off,
            },
            handshake_timeout_ms: 5000,
        }
        .with_handshake_timeout(props)
    }

    fn with_handshake_timeout(mut self, props: &SystemProperties) -> Result<AdminServerSettings, ConfigError> {
        if self.https != AdminHttps::Off {
            let key = "zookeeper.ssl.quorum.handshakeDetectionTimeoutMillis";
            self.handshake_timeout_ms = props.int(key, self.handshake_timeout_ms)?;
            if self.handshake_timeout_ms <= 0 {
                return Err(props.refused(key, "must be positive"));
            }
        }
        Ok(self)
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
    server: HttpServer,
    state: Arc<State>,
}

/// What the handler reads.
struct State {
    command_url: String,
    zks: RwLock<Option<Arc<ZooKeeperServer>>>,
    props: SystemProperties,
}

/// AdminServerFactory.createAdminServer, then start: None when
/// admin.enableServer is false, or (logged) when HTTPS is asked for and its
/// stores cannot be loaded, as Java then runs a DummyAdminServer. `props`
/// is the system property store (the command system_properties lists it).
/// An Err is start's failure, Java's AdminServerException: the standalone
/// server gives up start-up on it, a quorum peer logs it and goes on
/// without an admin server.
pub fn create(settings: &AdminServerSettings, props: SystemProperties) -> Result<Option<Arc<JettyAdminServer>>, String> {
    if !settings.enable_server {
        return Ok(None);
    }
    let tls = match settings.https {
        AdminHttps::Off => None,
        https => match x509_util::admin_server_config(&props) {
            Ok(server_config) => {
                info!("Loaded the AdminServer's TLS key and trust stores (ssl.quorum.keyStore, ssl.quorum.trustStore)");
                Some(HttpsConfig {
                    server_config,
                    only_tls: https == AdminHttps::Forced,
                    handshake_timeout: Duration::from_millis(settings.handshake_timeout_ms.max(1) as u64),
                    plain_connections: Some(&crate::server::server_metrics::metrics().insecure_admin),
                    secure_header: Some(STRICT_TRANSPORT_SECURITY.to_string()),
                })
            }
            Err(e) => {
                error!("Failed to load authentication certificates for admin server: {e}");
                warn!("Unable to start JettyAdminServer: running without an AdminServer");
                return Ok(None);
            }
        },
    };
    JettyAdminServer::start(settings, props, tls).map(Some)
}

impl JettyAdminServer {
    /// JettyAdminServer.start: binds serverAddress:serverPort and starts the
    /// acceptor.
    fn start(settings: &AdminServerSettings, props: SystemProperties, tls: Option<HttpsConfig>) -> Result<Arc<JettyAdminServer>, String> {
        let failed = |e: io::Error| format!("{}: {e}", settings.problem("starting"));
        let port = u16::try_from(settings.server_port).map_err(|_| {
            failed(io::Error::new(io::ErrorKind::InvalidInput, format!("port out of range:{}", settings.server_port)))
        })?;
        let listener = http_server::bind(&settings.server_address, port).map_err(failed)?;
        let state = Arc::new(State { command_url: settings.command_url.clone(), zks: RwLock::new(None), props });
        let config = HttpServerConfig {
            thread_prefix: "AdminServer".into(),
            idle_timeout: HttpServerConfig::idle_timeout_ms(settings.idle_timeout_ms.into()),
            max_connections: MAX_CONNECTIONS,
            tls,
        };
        let handler_state = Arc::clone(&state);
        let server = HttpServer::start(listener, config, move |req| answer(req, &handler_state)).map_err(failed)?;
        info!(
            "Started AdminServer on address {}, port {} and command URL {}",
            settings.server_address,
            server.local_address().port(),
            settings.command_url
        );
        Ok(Arc::new(JettyAdminServer { settings: settings.clone(), server, state }))
    }

    /// The address bound (the port is the real one when 0 was asked for).
    pub fn local_address(&self) -> SocketAddr {
        self.server.local_address()
    }

    /// setZooKeeperServer: the server commands run against from now on.
    pub fn set_zoo_keeper_server(&self, zks: Option<Arc<ZooKeeperServer>>) {
        *self.state.zks.write() = zks;
    }

    /// JettyAdminServer.shutdown: stops accepting and closes every open
    /// connection (a command running finishes, its answer is lost).
    pub fn shutdown(&self) {
        if self.server.shutdown() {
            info!("Stopped AdminServer on port {}", self.local_address().port());
        }
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

/// The answer to one request (CommandServlet.doGet, and the container's
/// 404/405/403 around it).
fn answer(req: &HttpRequest, state: &State) -> HttpResponse {
    const TEXT: &str = "text/plain;charset=utf-8";
    let base = state.command_url.trim_end_matches('/');
    let rest = if req.path == base { Some("") } else { req.path.strip_prefix(base).and_then(|r| r.strip_prefix('/')) };
    let Some(rest) = rest else {
        return HttpResponse::new(404, "Not Found", TEXT, "Not Found\n");
    };
    match req.method.as_str() {
        "GET" | "HEAD" => {}
        "TRACE" => return HttpResponse::new(403, "Forbidden", TEXT, "Forbidden\n"),
        _ => return HttpResponse::new(405, "Method Not Allowed", TEXT, "HTTP method not supported\n"),
    }
    if rest.is_empty() {
        // No command named: a link to each, as Java's servlet prints them.
        let mut body = String::new();
        for name in commands::primary_names() {
            body.push_str(&format!("<a href=\"{}/{name}\">{name}</a>\n<br/>\n", state.command_url));
        }
        return HttpResponse::new(200, "OK", "text/html;charset=utf-8", body);
    }
    let name = percent_decode(rest);
    let kwargs = http_server::parse_query(&req.query);
    let zks = state.zks.read().clone();
    let response = commands::run_command(&name, zks.as_ref(), &state.props, &kwargs);
    HttpResponse::new(200, "OK", commands::JSON_CONTENT_TYPE, response.to_json())
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
        assert_eq!((s.https, s.handshake_timeout_ms), (AdminHttps::Off, 5000));
        let s = read(&[("admin.enableServer", "false"), ("admin.serverPort", "9090")]).unwrap();
        assert!(!s.enable_server);
        assert_eq!(s.server_port, 9090);
        // Only exactly "false" disables the admin server, as in Java.
        assert!(read(&[("admin.enableServer", "no")]).unwrap().enable_server);
        // forceHttps wins over portUnification, as in Java's constructor.
        let s = read(&[("admin.portUnification", "true"), ("zookeeper.admin.forceHttps", "TRUE")]).unwrap();
        assert_eq!(s.https, AdminHttps::Forced);
        let s = read(&[("admin.portUnification", "true"), ("ssl.quorum.handshakeDetectionTimeoutMillis", "700")]).unwrap();
        assert_eq!((s.https, s.handshake_timeout_ms), (AdminHttps::PortUnification, 700));
        // The TLS timeout is read only for HTTPS.
        assert!(read(&[("ssl.quorum.handshakeDetectionTimeoutMillis", "0")]).is_ok());
        assert_eq!(
            read(&[("admin.forceHttps", "true"), ("ssl.quorum.handshakeDetectionTimeoutMillis", "0")]).unwrap_err().to_string(),
            "ssl.quorum.handshakeDetectionTimeoutMillis: \"0\" must be positive"
        );
        assert_eq!(
            read(&[("admin.serverPort", "x")]).unwrap_err().to_string(),
            "admin.serverPort: \"x\" is not a number"
        );
    }
}
