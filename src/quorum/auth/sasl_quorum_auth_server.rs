//! SaslQuorumAuthServer: the accepting side of quorum SASL. On an accepted
//! election or learner socket, before anything else is read, it peeks for
//! a QuorumAuthPacket; a learner that sends one is put through the
//! mechanism of the JAAS QuorumServer section: DIGEST-MD5 (protocol
//! "zookeeper-quorum", realm "zk-quorum-sasl-md5") against the section's
//! users, or Kerberos GSSAPI accepting for the section's principal with
//! its keytab; either way the learner's id must be authorized
//! (SaslQuorumServerCallbackHandler: the members' hosts). Each token is
//! answered with IN_PROGRESS, then SUCCESS (with GSSAPI, a null token) or
//! ERROR. A learner that sends none, or fails, is refused
//! when `quorum.auth.serverRequireSasl` is true and let through (with a
//! warning) otherwise, as Java does during a rolling upgrade. Runs on the
//! thread that owns the socket (QuorumConnectionThread, LearnerHandler);
//! every read is bounded by the caller's deadline.

use crate::common::deadline_reader::DeadlineReader;
use crate::quorum::auth::quorum_auth::{
    self, Status, QUORUM_SERVER_PROTOCOL_NAME, QUORUM_SERVER_SASL_AUTH_REQUIRED, QUORUM_SERVER_SASL_DIGEST,
};
use crate::quorum::auth::sasl_quorum_server_callback_handler::SaslQuorumServerCallbackHandler;
use crate::server::auth::digest_md5_server::{DigestMd5Callbacks, DigestMd5Server};
use crate::server::auth::gss_api::AcceptorCredential;
use crate::server::auth::gss_krb5_server::GssKrb5Server;
use crate::server::zoo_keeper_sasl_server::digest_nonce;
use crate::quorum::unified_server_socket::UnifiedSocket;
use std::time::Instant;
use tracing::{error, info, warn};

/// Tokens a learner may send before the exchange must be over.
const MAX_RETRIES: u32 = 5;

/// What the server side logs in with (Java's Login on the QuorumServer
/// section).
#[derive(Debug)]
pub enum ServerLogin {
    DigestMd5,
    /// Kerberos: the section's principal and the acceptor credentials for it.
    Gssapi { principal: String, credential: AcceptorCredential },
}

#[derive(Debug)]
pub struct SaslQuorumAuthServer {
    require_sasl: bool,
    login: ServerLogin,
    callbacks: SaslQuorumServerCallbackHandler,
}

/// One exchange's SASL server.
enum Negotiation<'a> {
    DigestMd5(DigestMd5Server),
    Gssapi(GssKrb5Server, &'a AcceptorCredential),
}

impl Negotiation<'_> {
    /// evaluateResponse: the token for the learner (None: a null token).
    fn evaluate_response(
        &mut self,
        token: &[u8],
        callbacks: &SaslQuorumServerCallbackHandler,
    ) -> Result<Option<Vec<u8>>, String> {
        match self {
            Negotiation::DigestMd5(ss) => ss.evaluate_response(token, callbacks).map(Some),
            Negotiation::Gssapi(ss, cred) => ss.evaluate_response(token, cred, &|authn, authz| {
                callbacks.authorize(authn, authz).map_err(|_| format!("{authn} is not authorized to connect as {authz}"))
            }),
        }
    }

    fn is_complete(&self) -> bool {
        match self {
            Negotiation::DigestMd5(ss) => ss.is_complete(),
            Negotiation::Gssapi(ss, _) => ss.is_complete(),
        }
    }
}

/// How an exchange that did not succeed ended.
struct Failure {
    /// Whether the learner started SASL and should get an ERROR packet.
    reply: bool,
    why: String,
}

impl SaslQuorumAuthServer {
    pub fn new(require_sasl: bool, login: ServerLogin, callbacks: SaslQuorumServerCallbackHandler) -> SaslQuorumAuthServer {
        SaslQuorumAuthServer { require_sasl, login, callbacks }
    }

    fn negotiation(&self) -> Result<Negotiation<'_>, String> {
        Ok(match &self.login {
            ServerLogin::DigestMd5 => Negotiation::DigestMd5(DigestMd5Server::new(
                QUORUM_SERVER_PROTOCOL_NAME,
                QUORUM_SERVER_SASL_DIGEST,
                digest_nonce()?,
            )),
            ServerLogin::Gssapi { credential, .. } => Negotiation::Gssapi(GssKrb5Server::new()?, credential),
        })
    }

    /// Ok: go on with the connection; Err: close it (logged here).
    pub fn authenticate(&self, sock: &UnifiedSocket, deadline: Instant) -> Result<(), String> {
        let remote = sock.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".to_string());
        let outcome = quorum_auth::with_deadline(sock, deadline, |input| self.exchange(sock, input, deadline));
        let failure = match outcome {
            Ok(true) => {
                info!("Successfully completed the authentication using SASL. learner addr: {remote}");
                return Ok(());
            }
            Ok(false) if !self.require_sasl => return Ok(()),
            Ok(false) => Failure { reply: false, why: "Learner not trying to authenticate and authentication is required".into() },
            Err(f) => f,
        };
        if failure.reply {
            let mut out = sock;
            if let Err(e) = quorum_auth::send(&mut out, Status::Error, Some(b"")) {
                warn!("Exception while sending failed status: {e}");
            }
        }
        if self.require_sasl {
            error!("Failed to authenticate using SASL, learner addr: {remote}: {}", failure.why);
            Err(format!("Failed to authenticate using SASL: {}", failure.why))
        } else {
            warn!("Failed to authenticate using SASL, learner addr: {remote}: {}", failure.why);
            warn!(
                "Maintaining learner connection despite SASL authentication failure. server addr: {remote}, \
                 {QUORUM_SERVER_SASL_AUTH_REQUIRED}: false"
            );
            Ok(())
        }
    }

    /// Ok(false): the learner sent no auth packet; Ok(true): authenticated.
    fn exchange(&self, sock: &UnifiedSocket, input: &mut DeadlineReader<&UnifiedSocket>, deadline: Instant) -> Result<bool, Failure> {
        let silent = |e: std::io::Error| Failure { reply: false, why: e.to_string() };
        let failed = |why: String| Failure { reply: true, why };
        if !quorum_auth::next_packet_is_auth(sock, deadline).map_err(silent)? {
            return Ok(false);
        }
        let mut out = sock;
        let mut token = quorum_auth::receive(input).map_err(silent)?.token;
        let mut ss = self.negotiation().map_err(failed)?;
        let mut tries = 0;
        loop {
            let Some(t) = token.as_deref() else { return Err(failed("the learner sent a null token".into())) };
            let challenge = ss.evaluate_response(t, &self.callbacks).map_err(failed)?;
            if ss.is_complete() {
                quorum_auth::send(&mut out, Status::Success, challenge.as_deref()).map_err(silent)?;
                return Ok(true);
            }
            tries += 1;
            if tries > MAX_RETRIES {
                return Err(failed(format!("retries={tries} exceeded")));
            }
            quorum_auth::send(&mut out, Status::InProgress, challenge.as_deref()).map_err(silent)?;
            token = quorum_auth::receive(input).map_err(silent)?.token;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::jaas_configuration::AppConfigurationEntry;
    use crate::quorum::auth::sasl_quorum_auth_learner::{LearnerLogin, SaslQuorumAuthLearner};
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    fn auth_server(require: bool) -> SaslQuorumAuthServer {
        let entry = AppConfigurationEntry {
            login_module_name: "org.apache.zookeeper.server.auth.DigestLoginModule".into(),
            control_flag: "required".into(),
            options: vec![("user_learner".into(), "s3cret".into())],
        };
        SaslQuorumAuthServer::new(require, ServerLogin::DigestMd5, SaslQuorumServerCallbackHandler::new(&[entry], Default::default()))
    }

    /// Runs the server side on an accepted socket while `learner` runs on
    /// the dialed one; returns both results and what the server side reads
    /// next.
    fn pair(
        require: bool,
        learner: impl FnOnce(&mut TcpStream) -> Result<(), String> + Send + 'static,
    ) -> (Result<(), String>, Result<(), String>, Vec<u8>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            let r = learner(&mut s);
            let _ = s.write_all(b"next");
            let _ = s.shutdown(std::net::Shutdown::Write);
            r
        });
        let (sock, _) = l.accept().unwrap();
        let r = auth_server(require).authenticate(&UnifiedSocket::plain(sock.try_clone().unwrap()), Instant::now() + Duration::from_secs(5));
        let mut rest = Vec::new();
        let _ = (&sock).read_to_end(&mut rest);
        (r, t.join().unwrap(), rest)
    }

    fn learner(password: &'static str) -> impl FnOnce(&mut TcpStream) -> Result<(), String> + Send {
        move |s| {
            let login = LearnerLogin::DigestMd5 { username: "learner".into(), password: password.into() };
            SaslQuorumAuthLearner::new(true, login).authenticate(
                &UnifiedSocket::plain(s.try_clone().unwrap()),
                "127.0.0.1",
                Instant::now() + Duration::from_secs(5),
            )
        }
    }

    #[test]
    fn the_right_password_passes_and_nothing_after_it_is_consumed() {
        let (server, learner, rest) = pair(true, learner("s3cret"));
        assert_eq!((server, learner), (Ok(()), Ok(())));
        assert_eq!(rest, b"next");
    }

    #[test]
    fn a_wrong_password_is_refused_on_both_sides() {
        let (server, learner, _) = pair(true, learner("wrong"));
        assert!(server.unwrap_err().contains("Mismatched response"));
        assert!(learner.unwrap_err().starts_with("Authentication failed against server addr"));
    }

    #[test]
    fn without_require_a_learner_without_sasl_passes_untouched() {
        let (server, _, rest) = pair(false, |s| s.write_all(b"ELECTION").map_err(|e| e.to_string()));
        assert_eq!(server, Ok(()));
        assert_eq!(rest, b"ELECTIONnext");
        let (server, _, _) = pair(true, |s| s.write_all(b"ELECTION").map_err(|e| e.to_string()));
        assert!(server.unwrap_err().contains("Learner not trying to authenticate"));
        // A failed exchange is let through too when not required.
        let (server, learner, _) = pair(false, learner("wrong"));
        assert_eq!(server, Ok(()));
        assert!(learner.is_err());
    }

    #[test]
    fn garbage_and_silence_are_errors_not_panics() {
        let garbage = |s: &mut TcpStream| {
            let mut p = Vec::new();
            quorum_auth::send(&mut p, Status::InProgress, Some(b"")).unwrap();
            quorum_auth::send(&mut p, Status::InProgress, Some(b"username=\"x\"\0\xff,,=")).unwrap();
            s.write_all(&p).map_err(|e| e.to_string())
        };
        let (server, _, _) = pair(true, garbage);
        assert!(server.is_err());
        let huge = |s: &mut TcpStream| {
            let mut p = quorum_auth::QUORUM_AUTH_MAGIC_NUMBER.to_be_bytes().to_vec();
            p.extend_from_slice(&[0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff]);
            s.write_all(&p).map_err(|e| e.to_string())
        };
        let (server, _, _) = pair(true, huge);
        assert!(server.unwrap_err().contains("Unreasonable length"));
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let _silent = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (sock, _) = l.accept().unwrap();
        let r = auth_server(true).authenticate(&UnifiedSocket::plain(sock.try_clone().unwrap()), Instant::now() + Duration::from_millis(200));
        assert!(r.unwrap_err().contains("did not complete in time"));
    }
}
