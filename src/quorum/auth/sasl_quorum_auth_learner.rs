//! SaslQuorumAuthLearner: the dialing side of quorum SASL. With
//! `quorum.auth.learnerRequireSasl` true, a peer that opens an election
//! connection (after its initial message) or connects to its leader first
//! authenticates with DIGEST-MD5 as the JAAS QuorumLearner section's
//! `username`/`password`: an empty IN_PROGRESS packet, the response to the
//! server's challenge, then the server's SUCCESS with rspauth, which is
//! checked. With it false it sends nothing (the server side lets that
//! through unless it requires SASL). Runs on the dialing thread
//! (QuorumConnectionThread, QuorumPeer); every read is bounded by the
//! caller's deadline.

use crate::quorum::auth::quorum_auth::{
    self, Status, QUORUM_LEARNER_SASL_AUTH_REQUIRED, QUORUM_SERVER_PROTOCOL_NAME, QUORUM_SERVER_SASL_DIGEST,
};
use crate::server::auth::digest_md5_client::DigestMd5Client;
use crate::server::zoo_keeper_sasl_server::digest_nonce;
use crate::quorum::unified_server_socket::UnifiedSocket;
use std::time::Instant;
use tracing::info;

#[derive(Debug)]
pub struct SaslQuorumAuthLearner {
    require_sasl: bool,
    username: String,
    password: String,
}

impl SaslQuorumAuthLearner {
    pub fn new(require_sasl: bool, username: &str, password: &str) -> SaslQuorumAuthLearner {
        SaslQuorumAuthLearner { require_sasl, username: username.to_string(), password: password.to_string() }
    }

    /// Ok: authenticated (or SASL not required); Err: close the connection.
    pub fn authenticate(&self, sock: &UnifiedSocket, deadline: Instant) -> Result<(), String> {
        if !self.require_sasl {
            info!("Skipping SASL authentication as {QUORUM_LEARNER_SASL_AUTH_REQUIRED}=false");
            return Ok(());
        }
        let remote = sock.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".to_string());
        let cnonce = digest_nonce()?;
        let mut sc = DigestMd5Client::new(&self.username, &self.password, QUORUM_SERVER_PROTOCOL_NAME, QUORUM_SERVER_SASL_DIGEST, cnonce);
        let failed = || format!("Authentication failed against server addr: {remote}");
        let status = quorum_auth::with_deadline(sock, deadline, |input| -> Result<Status, String> {
            let mut out = sock;
            let io = |e: std::io::Error| format!("{}: {e}", failed());
            quorum_auth::send(&mut out, Status::InProgress, Some(b"")).map_err(io)?;
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
