//! SaslQuorumAuthLearner: the dialing side of quorum SASL. With
//! `quorum.auth.learnerRequireSasl` true, a peer that opens an election
//! connection (after its initial message) or connects to its leader first
//! authenticates, with the mechanism of the JAAS QuorumLearner section:
//! DIGEST-MD5 as its `username`/`password` (an empty IN_PROGRESS packet,
//! the response to the server's challenge, then the server's SUCCESS with
//! rspauth, which is checked), or Kerberos GSSAPI with the tickets of its
//! keytab login towards `quorum.auth.kerberos.servicePrincipal`, `_HOST`
//! replaced by the host name of the member's server line (the first
//! packet carries the context token, the server's wrapped offer is
//! answered, then SUCCESS). With it false it sends nothing (the server side
//! lets that through unless it requires SASL). Runs on the dialing thread
//! (QuorumConnectionThread, QuorumPeer); every read is bounded by the
//! caller's deadline.

use crate::quorum::auth::quorum_auth::{
    self, Status, QUORUM_LEARNER_SASL_AUTH_REQUIRED, QUORUM_SERVER_PROTOCOL_NAME, QUORUM_SERVER_SASL_DIGEST,
};
use crate::quorum::unified_server_socket::UnifiedSocket;
use crate::server::auth::digest_md5_client::DigestMd5Client;
use crate::server::auth::gss_api::InitiatorCredential;
use crate::server::auth::gss_krb5_client::GssKrb5Client;
use crate::server::auth::kerberos_name::KerberosName;
use crate::server::zoo_keeper_sasl_server::digest_nonce;
use std::time::Instant;
use tracing::info;

/// SecurityUtils.QUORUM_HOSTNAME_PATTERN.
const QUORUM_HOSTNAME_PATTERN: &str = "_HOST";

/// What the learner logs in with (Java's Login on the QuorumLearner section).
#[derive(Debug)]
pub enum LearnerLogin {
    DigestMd5 { username: String, password: String },
    /// `server_realm`: zookeeper.server.realm, completing a service
    /// principal without a realm (else the learner's realm).
    Gssapi { credential: InitiatorCredential, service_principal: String, server_realm: Option<String> },
}

#[derive(Debug)]
pub struct SaslQuorumAuthLearner {
    require_sasl: bool,
    login: LearnerLogin,
}

/// One exchange's SASL client.
enum Negotiation<'a> {
    DigestMd5(DigestMd5Client),
    Gssapi(GssKrb5Client, &'a InitiatorCredential),
}

impl Negotiation<'_> {
    /// The first packet's token (hasInitialResponse: GSSAPI's first context
    /// token; DIGEST-MD5 has none and sends an empty one).
    fn initial_response(&mut self) -> Result<Vec<u8>, String> {
        match self {
            Negotiation::DigestMd5(_) => Ok(Vec::new()),
            Negotiation::Gssapi(sc, cred) => sc.evaluate_challenge(cred, b""),
        }
    }

    fn evaluate_challenge(&mut self, challenge: &[u8]) -> Result<Option<Vec<u8>>, String> {
        match self {
            Negotiation::DigestMd5(sc) => sc.evaluate_challenge(challenge),
            Negotiation::Gssapi(sc, cred) => sc.evaluate_challenge(cred, challenge).map(Some),
        }
    }

    fn is_complete(&self) -> bool {
        match self {
            Negotiation::DigestMd5(sc) => sc.is_complete(),
            Negotiation::Gssapi(sc, _) => sc.is_complete(),
        }
    }
}

/// SecurityUtils.getServerPrincipal: `service/_HOST` (exactly two
/// components, the second `_HOST`) becomes `service/<hostname lowercased>`;
/// anything else is taken as written.
pub fn server_principal(config: &str, hostname: &str) -> String {
    match config.split('/').collect::<Vec<_>>().as_slice() {
        [service, QUORUM_HOSTNAME_PATTERN] => format!("{service}/{}", hostname.to_lowercase()),
        _ => config.to_string(),
    }
}

impl SaslQuorumAuthLearner {
    pub fn new(require_sasl: bool, login: LearnerLogin) -> SaslQuorumAuthLearner {
        SaslQuorumAuthLearner { require_sasl, login }
    }

    /// The SASL client for a member whose server line names `hostname`.
    fn negotiation(&self, hostname: &str) -> Result<Negotiation<'_>, String> {
        match &self.login {
            LearnerLogin::DigestMd5 { username, password } => {
                info!("QuorumLearner will use DIGEST-MD5 as SASL mechanism.");
                Ok(Negotiation::DigestMd5(DigestMd5Client::new(
                    username,
                    password,
                    QUORUM_SERVER_PROTOCOL_NAME,
                    QUORUM_SERVER_SASL_DIGEST,
                    digest_nonce()?,
                )))
            }
            LearnerLogin::Gssapi { credential, service_principal, server_realm } => {
                // As Java: the realm only completes the name for splitting;
                // the acceptor is asked for as service@host.
                let mut principal = server_principal(service_principal, hostname);
                if !principal.contains('@') {
                    let own = credential.principal().rsplit_once('@').map(|(_, r)| r);
                    principal = format!("{principal}@{}", server_realm.as_deref().or(own).unwrap_or_default());
                }
                let bad = || format!("the quorum service principal {principal:?} is not of the form service/host@REALM");
                let name = KerberosName::parse(&principal).ok_or_else(bad)?;
                let host = name.host_name.as_deref().ok_or_else(bad)?;
                info!("QuorumLearner will use GSSAPI as SASL mechanism.");
                let sc = GssKrb5Client::new(&name.service_name, host, credential.principal())?;
                Ok(Negotiation::Gssapi(sc, credential))
            }
        }
    }

    /// Ok: authenticated (or SASL not required); Err: close the connection.
    pub fn authenticate(&self, sock: &UnifiedSocket, hostname: &str, deadline: Instant) -> Result<(), String> {
        if !self.require_sasl {
            info!("Skipping SASL authentication as {QUORUM_LEARNER_SASL_AUTH_REQUIRED}=false");
            return Ok(());
        }
        let remote = sock.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".to_string());
        let mut sc = self.negotiation(hostname)?;
        let failed = || format!("Authentication failed against server addr: {remote}");
        let status = quorum_auth::with_deadline(sock, deadline, |input| -> Result<Status, String> {
            let mut out = sock;
            let io = |e: std::io::Error| format!("{}: {e}", failed());
            let first = sc.initial_response()?;
            quorum_auth::send(&mut out, Status::InProgress, Some(&first)).map_err(io)?;
            let mut packet = quorum_auth::receive(input).map_err(io)?;
            while !sc.is_complete() {
                let token = |p: &quorum_auth::QuorumAuthPacket| {
                    p.token.clone().ok_or_else(|| {
                        "Error in authenticating with a Zookeeper Quorum member: the quorum member's saslToken is null."
                            .to_string()
                    })
                };
                match packet.status {
                    Status::Success => {
                        if sc.evaluate_challenge(&token(&packet)?)?.is_some() {
                            return Err("Protocol error: attempting to send response after completion".to_string());
                        }
                    }
                    Status::InProgress => {
                        let response = sc.evaluate_challenge(&token(&packet)?)?;
                        quorum_auth::send(&mut out, Status::InProgress, response.as_deref()).map_err(io)?;
                        packet = quorum_auth::receive(input).map_err(io)?;
                    }
                    Status::Error => return Err(failed()),
                }
            }
            Ok(packet.status)
        })?;
        if status != Status::Success {
            return Err(format!("{}, qpStatus: {status:?}", failed()));
        }
        info!("Successfully completed the authentication using SASL. server addr: {remote}, status: SUCCESS");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_pattern_as_security_utils() {
        assert_eq!(server_principal("zkquorum/_HOST", "Node1.Example.COM"), "zkquorum/node1.example.com");
        // Only exactly service/_HOST is replaced.
        assert_eq!(server_principal("zkquorum/_HOST@EXAMPLE.COM", "h"), "zkquorum/_HOST@EXAMPLE.COM");
        assert_eq!(server_principal("zkquorum/localhost", "h"), "zkquorum/localhost");
        assert_eq!(server_principal("a/_HOST/b", "h"), "a/_HOST/b");
    }
}
