//! QuorumAuth: the quorum SASL wire format and the peer's two sides of it
//! (DIGEST-MD5 or Kerberos GSSAPI, as the JAAS sections say).
//! A learner (a peer dialing an election connection, or a follower or
//! observer connecting to its leader) authenticates before anything else
//! it sends; the server side (the peer accepting) checks it. Each message
//! is a QuorumAuthPacket record (long magic, int
//! status IN_PROGRESS 0 / SUCCESS 1 / ERROR -1, buffer token). A learner
//! without SASL sends none: the server side peeks at the first 8 bytes and
//! lets it through when it does not require SASL.
//!
//! `QuorumPeerAuth` is what QuorumPeer.initialize builds from zoo.cfg
//! (`quorum.auth.*`) and the JAAS file: the SASL server and learner when
//! `quorum.auth.enableSasl` is true, nothing (Java's NullQuorumAuthServer
//! and NullQuorumAuthLearner) otherwise. It runs on the thread that owns
//! the socket: a QuorumConnectionThread, a LearnerHandler, or the
//! QuorumPeer thread connecting to its leader.

use crate::common::deadline_reader::DeadlineReader;
use crate::common::jaas_configuration::{AppConfigurationEntry, JaasConfiguration};
use crate::quorum::auth::sasl_quorum_auth_learner::{LearnerLogin, SaslQuorumAuthLearner};
use crate::quorum::auth::sasl_quorum_auth_server::{SaslQuorumAuthServer, ServerLogin};
use crate::quorum::auth::sasl_quorum_server_callback_handler::SaslQuorumServerCallbackHandler;
use crate::quorum::quorum_peer_config::system_properties::SystemProperties;
use crate::server::auth::gss_api::{AcceptorCredential, InitiatorCredential};
use crate::server::zoo_keeper_sasl_server::{
    keytab_login, service_and_host, DIGEST_LOGIN_MODULE, JAAS_CONF_KEY, KRB5_LOGIN_MODULE,
};
use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use crate::quorum::unified_server_socket::UnifiedSocket;
use std::path::Path;
use std::time::{Duration, Instant};

pub const QUORUM_SASL_AUTH_ENABLED: &str = "quorum.auth.enableSasl";
pub const QUORUM_SERVER_SASL_AUTH_REQUIRED: &str = "quorum.auth.serverRequireSasl";
pub const QUORUM_LEARNER_SASL_AUTH_REQUIRED: &str = "quorum.auth.learnerRequireSasl";
pub const QUORUM_KERBEROS_SERVICE_PRINCIPAL: &str = "quorum.auth.kerberos.servicePrincipal";
pub const QUORUM_KERBEROS_SERVICE_PRINCIPAL_DEFAULT_VALUE: &str = "zkquorum/localhost";
pub const QUORUM_LEARNER_SASL_LOGIN_CONTEXT: &str = "quorum.auth.learner.saslLoginContext";
pub const QUORUM_LEARNER_SASL_LOGIN_CONTEXT_DEFAULT_VALUE: &str = "QuorumLearner";
pub const QUORUM_SERVER_SASL_LOGIN_CONTEXT: &str = "quorum.auth.server.saslLoginContext";
pub const QUORUM_SERVER_SASL_LOGIN_CONTEXT_DEFAULT_VALUE: &str = "QuorumServer";

/// The realm of a quorum service principal written without one.
pub const SERVER_REALM: &str = "zookeeper.server.realm";

/// Sasl.createSaslServer/Client's protocol and server name for the quorum.
pub const QUORUM_SERVER_PROTOCOL_NAME: &str = "zookeeper-quorum";
pub const QUORUM_SERVER_SASL_DIGEST: &str = "zk-quorum-sasl-md5";

/// Java's `-0xa0dbcafecafe1234L`: the literal is already a negative long,
/// so the magic on the wire is 0x5f2435013501edcc.
pub const QUORUM_AUTH_MAGIC_NUMBER: i64 = (0xa0db_cafe_cafe_1234u64 as i64).wrapping_neg();

/// The longest token accepted (jute.maxbuffer's default).
const MAX_TOKEN: usize = 0xfffff;


#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    InProgress,
    Success,
    Error,
}

impl Status {
    fn code(self) -> i32 {
        match self {
            Status::InProgress => 0,
            Status::Success => 1,
            Status::Error => -1,
        }
    }

    /// Java's getStatus: an unknown code is an ERROR.
    pub fn from_code(code: i32) -> Status {
        match code {
            0 => Status::InProgress,
            1 => Status::Success,
            -1 => Status::Error,
            other => {
                tracing::error!("Unknown status:{other}!");
                Status::Error
            }
        }
    }
}

/// One QuorumAuthPacket as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumAuthPacket {
    pub status: Status,
    /// None: the jute null buffer (length -1).
    pub token: Option<Vec<u8>>,
}

/// Writes one QuorumAuthPacket (the null token as length -1).
pub fn send(out: &mut impl Write, status: Status, token: Option<&[u8]>) -> io::Result<()> {
    let mut buf = Vec::with_capacity(16 + token.map_or(0, <[u8]>::len));
    buf.extend_from_slice(&QUORUM_AUTH_MAGIC_NUMBER.to_be_bytes());
    buf.extend_from_slice(&status.code().to_be_bytes());
    match token {
        None => buf.extend_from_slice(&(-1i32).to_be_bytes()),
        Some(t) => {
            let len = i32::try_from(t.len()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "token too long"))?;
            buf.extend_from_slice(&len.to_be_bytes());
            buf.extend_from_slice(t);
        }
    }
    out.write_all(&buf)?;
    out.flush()
}

/// Reads one QuorumAuthPacket, exactly its bytes (nothing after it is
/// consumed); a token longer than jute.maxbuffer is refused unread.
pub fn receive(input: &mut impl Read) -> io::Result<QuorumAuthPacket> {
    let mut head = [0u8; 16];
    input.read_exact(&mut head)?;
    let status = Status::from_code(i32::from_be_bytes([head[8], head[9], head[10], head[11]]));
    let len = i32::from_be_bytes([head[12], head[13], head[14], head[15]]);
    let token = match len {
        -1 => None,
        n if n < -1 || n as usize > MAX_TOKEN => {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("Unreasonable length = {n}")))
        }
        n => {
            let mut t = Vec::new();
            input.take(n as u64).read_to_end(&mut t)?;
            if t.len() != n as usize {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            Some(t)
        }
    };
    Ok(QuorumAuthPacket { status, token })
}

/// nextPacketIsAuth: whether the next 8 bytes on `sock` are the magic
/// number, without consuming them (MSG_PEEK), waiting until `deadline`.
pub fn next_packet_is_auth(sock: &UnifiedSocket, deadline: Instant) -> io::Result<bool> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::Error::new(io::ErrorKind::TimedOut, "the handshake did not complete in time"));
    }
    sock.set_read_timeout(Some(left))?;
    let mut buf = [0u8; 8];
    match sock.peek_exact(&mut buf) {
        Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
            Err(io::Error::new(io::ErrorKind::TimedOut, "the handshake did not complete in time"))
        }
        Err(e) => Err(e),
        Ok(()) => Ok(i64::from_be_bytes(buf) == QUORUM_AUTH_MAGIC_NUMBER),
    }
}

/// Runs `exchange` with reads bounded by `deadline`, then puts the
/// socket's read timeout back as it was.
pub fn with_deadline<T>(
    sock: &UnifiedSocket,
    deadline: Instant,
    exchange: impl FnOnce(&mut DeadlineReader<&UnifiedSocket>) -> T,
) -> T {
    let before = sock.read_timeout().ok().flatten();
    let result = exchange(&mut DeadlineReader::new(sock, Some(deadline)));
    let _ = sock.set_read_timeout(before);
    result
}

/// The `quorum.auth.*` keys of zoo.cfg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumAuthSettings {
    pub enable_sasl: bool,
    pub server_require_sasl: bool,
    pub learner_require_sasl: bool,
    pub learner_login_context: String,
    pub server_login_context: String,
    pub kerberos_service_principal: String,
}

impl Default for QuorumAuthSettings {
    fn default() -> QuorumAuthSettings {
        QuorumAuthSettings {
            enable_sasl: false,
            server_require_sasl: false,
            learner_require_sasl: false,
            learner_login_context: QUORUM_LEARNER_SASL_LOGIN_CONTEXT_DEFAULT_VALUE.to_string(),
            server_login_context: QUORUM_SERVER_SASL_LOGIN_CONTEXT_DEFAULT_VALUE.to_string(),
            kerberos_service_principal: QUORUM_KERBEROS_SERVICE_PRINCIPAL_DEFAULT_VALUE.to_string(),
        }
    }
}

/// The peer's quorum authentication: SASL server and learner, or neither.
#[derive(Debug, Default)]
pub struct QuorumPeerAuth {
    server: Option<SaslQuorumAuthServer>,
    learner: Option<SaslQuorumAuthLearner>,
}

impl QuorumPeerAuth {
    /// QuorumPeer.initialize: with SASL enabled, the JAAS file
    /// (`java.security.auth.login.config`) must have both sections. Each
    /// section's mechanism follows from its login modules, as Java's Login
    /// decides from the Subject: a Krb5LoginModule entry makes it GSSAPI
    /// (the keytab login is done here, so a wrong keytab or principal stops
    /// start-up as in Java), DigestLoginModule entries DIGEST-MD5.
    /// `authz_hosts` are the members' host names. An error names what is
    /// missing or wrong; start-up stops on it.
    pub fn initialize(
        settings: &QuorumAuthSettings,
        props: &SystemProperties,
        authz_hosts: BTreeSet<String>,
    ) -> Result<QuorumPeerAuth, String> {
        if !settings.enable_sasl {
            return Ok(QuorumPeerAuth::default());
        }
        let Some(file) = props.string(JAAS_CONF_KEY) else {
            return Err(format!("{QUORUM_SASL_AUTH_ENABLED}=true needs the JAAS file that {JAAS_CONF_KEY} names"));
        };
        let jaas = JaasConfiguration::read(Path::new(&file)).map_err(|e| format!("{JAAS_CONF_KEY}={file}: {e}"))?;
        // The section's entries and its Krb5LoginModule entry, if any.
        let section = |name: &str, key: &str| -> Result<(&[AppConfigurationEntry], Option<&AppConfigurationEntry>), String> {
            let entries = jaas.entries(name).filter(|e| !e.is_empty()).ok_or_else(|| {
                format!(
                    "Failed to initialize authentication mechanism using SASL: SASL-authentication failed because \
                     the specified JAAS configuration section '{name}' ({key}) could not be found in {file}."
                )
            })?;
            let mut kerberos = None;
            for e in entries {
                match e.login_module_name.as_str() {
                    DIGEST_LOGIN_MODULE => {}
                    KRB5_LOGIN_MODULE => kerberos = Some(e),
                    other => {
                        return Err(format!(
                            "section '{name}' of {file}: login module {other} is not available (zkserver has \
                             {DIGEST_LOGIN_MODULE} and {KRB5_LOGIN_MODULE})"
                        ))
                    }
                }
            }
            Ok((entries, kerberos))
        };
        let (server_entries, server_krb) = section(&settings.server_login_context, QUORUM_SERVER_SASL_LOGIN_CONTEXT)?;
        let (learner_entries, learner_krb) =
            section(&settings.learner_login_context, QUORUM_LEARNER_SASL_LOGIN_CONTEXT)?;

        let callbacks = SaslQuorumServerCallbackHandler::new(server_entries, authz_hosts);
        let server_login = match server_krb {
            Some(entry) => acceptor_login(entry, props)
                .map_err(|e| format!("section '{}' of {file}: {e}", settings.server_login_context))?,
            None => ServerLogin::DigestMd5,
        };
        let learner_login = match learner_krb {
            Some(entry) => initiator_login(entry, props, &settings.kerberos_service_principal)
                .map_err(|e| format!("section '{}' of {file}: {e}", settings.learner_login_context))?,
            None => {
                let option = |key: &str| learner_entries.iter().rev().find_map(|e| e.option(key));
                let (Some(username), Some(password)) = (option("username"), option("password")) else {
                    return Err(format!(
                        "section '{}' of {file}: {DIGEST_LOGIN_MODULE} needs username and password options",
                        settings.learner_login_context
                    ));
                };
                LearnerLogin::DigestMd5 { username: username.to_string(), password: password.to_string() }
            }
        };
        let accepting = match &server_login {
            ServerLogin::DigestMd5 => format!("DIGEST-MD5 with {} user(s)", callbacks.user_count()),
            ServerLogin::Gssapi { principal, .. } => format!("GSSAPI as {principal}"),
        };
        let learning = match &learner_login {
            LearnerLogin::DigestMd5 { username, .. } => format!("DIGEST-MD5 as {username}"),
            LearnerLogin::Gssapi { credential, service_principal, .. } => {
                format!("GSSAPI as {} towards {service_principal}", credential.principal())
            }
        };
        tracing::info!(
            "Quorum SASL: accepting learners with {accepting} from section '{}', learning with {learning} from \
             section '{}' of {file}; serverRequireSasl={}, learnerRequireSasl={}",
            settings.server_login_context,
            settings.learner_login_context,
            settings.server_require_sasl,
            settings.learner_require_sasl
        );
        Ok(QuorumPeerAuth {
            server: Some(SaslQuorumAuthServer::new(settings.server_require_sasl, server_login, callbacks)),
            learner: Some(SaslQuorumAuthLearner::new(settings.learner_require_sasl, learner_login)),
        })
    }
}

/// The QuorumServer section's Kerberos login: acceptor credentials for its
/// `service/host@REALM` principal from its keytab.
fn acceptor_login(entry: &AppConfigurationEntry, props: &SystemProperties) -> Result<ServerLogin, String> {
    let (keytab, principal) = keytab_login(entry, props)?;
    service_and_host(principal)?;
    let credential = AcceptorCredential::acquire(principal, keytab)?;
    Ok(ServerLogin::Gssapi { principal: principal.to_string(), credential })
}

/// The QuorumLearner section's Kerberos login: the principal's tickets from
/// its keytab, towards `service_principal` (which must name a service and a
/// host, `_HOST` allowed).
fn initiator_login(
    entry: &AppConfigurationEntry,
    props: &SystemProperties,
    service_principal: &str,
) -> Result<LearnerLogin, String> {
    let (keytab, principal) = keytab_login(entry, props)?;
    service_and_host(service_principal).map_err(|e| format!("{QUORUM_KERBEROS_SERVICE_PRINCIPAL}: {e}"))?;
    let credential = InitiatorCredential::acquire(principal, keytab)?;
    let server_realm = props.string(SERVER_REALM);
    Ok(LearnerLogin::Gssapi { credential, service_principal: service_principal.to_string(), server_realm })
}

impl QuorumPeerAuth {
    /// authServer.authenticate on an accepted socket, reads bounded by
    /// `timeout`. Err: close the connection (the reason is logged here).
    pub fn authenticate_server(&self, sock: &UnifiedSocket, timeout: Duration) -> Result<(), String> {
        match &self.server {
            None => Ok(()),
            Some(s) => s.authenticate(sock, Instant::now() + timeout),
        }
    }

    /// authLearner.authenticate on a socket we dialed to the member whose
    /// server line names `hostname`, reads bounded by `timeout`. Err: close
    /// the connection (the reason is logged here).
    pub fn authenticate_learner(&self, sock: &UnifiedSocket, hostname: &str, timeout: Duration) -> Result<(), String> {
        match &self.learner {
            None => Ok(()),
            Some(l) => l.authenticate(sock, hostname, Instant::now() + timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_as_jute_writes_them() {
        let mut b = Vec::new();
        send(&mut b, Status::InProgress, Some(b"")).unwrap();
        assert_eq!(b, [0x5f, 0x24, 0x35, 0x01, 0x35, 0x01, 0xed, 0xcc, 0, 0, 0, 0, 0, 0, 0, 0]);
        let mut b = Vec::new();
        send(&mut b, Status::Success, None).unwrap();
        assert_eq!(&b[8..], [0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(receive(&mut &b[..]).unwrap(), QuorumAuthPacket { status: Status::Success, token: None });
        let mut b = Vec::new();
        send(&mut b, Status::Error, Some(b"xy")).unwrap();
        assert_eq!(receive(&mut &b[..]).unwrap(), QuorumAuthPacket { status: Status::Error, token: Some(b"xy".to_vec()) });
    }

    #[test]
    fn bad_packets_are_errors() {
        let mut b = QUORUM_AUTH_MAGIC_NUMBER.to_be_bytes().to_vec();
        b.extend_from_slice(&7i32.to_be_bytes());
        let mut long = b.clone();
        long.extend_from_slice(&i32::MAX.to_be_bytes());
        assert!(receive(&mut &long[..]).is_err());
        let mut short = b.clone();
        short.extend_from_slice(&10i32.to_be_bytes());
        short.extend_from_slice(b"abc");
        assert!(receive(&mut &short[..]).is_err());
        let mut neg = b.clone();
        neg.extend_from_slice(&(-2i32).to_be_bytes());
        assert!(receive(&mut &neg[..]).is_err());
        let mut odd = b;
        odd.extend_from_slice(&0i32.to_be_bytes());
        assert_eq!(receive(&mut &odd[..]).unwrap().status, Status::Error);
    }

    fn initialize(jaas: Option<&str>) -> Result<QuorumPeerAuth, String> {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let mut pairs = Vec::new();
        if let Some(text) = jaas {
            f.write_all(text.as_bytes()).unwrap();
            pairs.push((JAAS_CONF_KEY.to_string(), f.path().to_str().unwrap().to_string()));
        }
        let settings = QuorumAuthSettings { enable_sasl: true, ..QuorumAuthSettings::default() };
        QuorumPeerAuth::initialize(&settings, &SystemProperties::new(pairs, Vec::new()), BTreeSet::new())
    }

    #[test]
    fn start_up_needs_both_digest_sections() {
        const SERVER: &str = "QuorumServer { org.apache.zookeeper.server.auth.DigestLoginModule required user_a=\"p\"; };\n";
        const LEARNER: &str =
            "QuorumLearner { org.apache.zookeeper.server.auth.DigestLoginModule required username=\"a\" password=\"p\"; };\n";
        let auth = initialize(Some(&format!("{SERVER}{LEARNER}"))).unwrap();
        assert!(auth.server.is_some() && auth.learner.is_some());
        assert!(initialize(None).unwrap_err().contains("java.security.auth.login.config"));
        assert!(initialize(Some(SERVER)).unwrap_err().contains("'QuorumLearner'"));
        assert!(initialize(Some(LEARNER)).unwrap_err().contains("'QuorumServer'"));
        let no_password = LEARNER.replace(" password=\"p\"", "");
        assert!(initialize(Some(&format!("{SERVER}{no_password}"))).unwrap_err().contains("username and password"));
        for (krb, wanted) in [
            ("QuorumLearner { com.sun.security.auth.module.Krb5LoginModule required; };\n", "useKeyTab=true"),
            (
                "QuorumLearner { com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true principal=\"l\"; };\n",
                "no keyTab",
            ),
            (
                "QuorumLearner { com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab=\"/k\"; };\n",
                "no principal",
            ),
            ("QuorumLearner { com.example.Other required; };\n", "com.example.Other is not available"),
        ] {
            let e = initialize(Some(&format!("{SERVER}{krb}"))).unwrap_err();
            assert!(e.contains("section 'QuorumLearner'") && e.contains(wanted), "{e}");
        }
        let krb_server = "QuorumServer { com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true \
                          keyTab=\"/k\" principal=\"zkquorum@R\"; };\n";
        let e = initialize(Some(&format!("{krb_server}{LEARNER}"))).unwrap_err();
        assert!(e.contains("section 'QuorumServer'") && e.contains("service/host@REALM"), "{e}");
        assert!(QuorumPeerAuth::initialize(
            &QuorumAuthSettings::default(),
            &SystemProperties::new(Vec::new(), Vec::new()),
            BTreeSet::new()
        )
        .unwrap()
        .server
        .is_none());
    }
}
