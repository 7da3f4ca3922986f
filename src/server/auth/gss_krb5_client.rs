//! The GSSAPI (Kerberos V5) SASL client mechanism (RFC 4752) as the JDK's
//! GssKrb5Client runs it for a ZooKeeper quorum learner: an initial
//! response (the first gss_init_sec_context token, no mutual
//! authentication asked for, as with qop "auth"), more context tokens while
//! the acceptor sends any; then the server's wrapped 4-byte offer
//! (security layer bit mask, its max receive buffer) is unwrapped, "auth"
//! (no security layer) is chosen when offered, and the answer is wrapped
//! without confidentiality: the chosen layer, the client's max receive
//! buffer (65536) and the authorization id (the learner's principal). A
//! sans-I/O core, one per connection, fed each server token by the thread
//! that dials the peer (a QuorumConnectionThread or the QuorumPeer thread
//! connecting to its leader).

use crate::server::auth::gss_api::{InitContext, InitiatorCredential};
use crate::server::auth::gss_krb5_server::{NO_PROTECTION, RECV_MAX_BUF_SIZE};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Security context not established yet.
    Initiating,
    /// Established: the next non-empty challenge is the server's offer.
    FinalHandshake,
    Complete,
    Failed,
}

#[derive(Debug)]
pub struct GssKrb5Client {
    ctx: InitContext,
    stage: Stage,
    authorization_id: String,
}

impl GssKrb5Client {
    /// A negotiation with the acceptor `protocol@server_name` (the service
    /// principal's two parts), asking to act as `authorization_id`.
    pub fn new(protocol: &str, server_name: &str, authorization_id: &str) -> Result<GssKrb5Client, String> {
        let ctx = InitContext::new(protocol, server_name).map_err(|e| format!("Failure to initialize security context: {e}"))?;
        Ok(GssKrb5Client { ctx, stage: Stage::Initiating, authorization_id: authorization_id.to_string() })
    }

    pub fn is_complete(&self) -> bool {
        self.stage == Stage::Complete
    }

    /// evaluateChallenge (the initial response is the answer to an empty
    /// challenge): the token for the server.
    pub fn evaluate_challenge(&mut self, cred: &InitiatorCredential, challenge: &[u8]) -> Result<Vec<u8>, String> {
        let stage = std::mem::replace(&mut self.stage, Stage::Failed);
        match stage {
            Stage::Initiating => {
                let out = self.ctx.step(cred, challenge)?;
                self.stage = if self.ctx.is_established() { Stage::FinalHandshake } else { Stage::Initiating };
                Ok(out)
            }
            Stage::FinalHandshake if challenge.is_empty() => {
                self.stage = Stage::FinalHandshake;
                Ok(Vec::new())
            }
            Stage::FinalHandshake => self.final_handshake(challenge),
            Stage::Complete => Err("GSSAPI authentication already complete".to_string()),
            Stage::Failed => Err("GSSAPI negotiation already failed".to_string()),
        }
    }

    fn final_handshake(&mut self, challenge: &[u8]) -> Result<Vec<u8>, String> {
        let offer = self.ctx.unwrap(challenge).map_err(|e| format!("Final handshake failed: {e}"))?;
        let choice = security_layer_choice(&offer, &self.authorization_id)?;
        let wrapped = self.ctx.wrap(&choice).map_err(|e| format!("Final handshake failed: {e}"))?;
        self.stage = Stage::Complete;
        Ok(wrapped)
    }
}

/// The answer to the server's unwrapped offer (security layer bit mask,
/// its max receive buffer in 3 bytes): "auth" (no security layer) when
/// offered, the client's max receive buffer, the authorization id.
fn security_layer_choice(offer: &[u8], authorization_id: &str) -> Result<Vec<u8>, String> {
    let [layers, _, _, _] = offer else {
        return Err(format!("Final handshake failed: the server's offer has {} bytes, not 4", offer.len()));
    };
    if layers & NO_PROTECTION == 0 {
        return Err(format!(
            "No common protection layer between client and server (server offers 0x{layers:02x}, client wants auth)"
        ));
    }
    let [_, a, b, c] = RECV_MAX_BUF_SIZE.to_be_bytes();
    let mut choice = vec![NO_PROTECTION, a, b, c];
    choice.extend_from_slice(authorization_id.as_bytes());
    Ok(choice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_choice_is_auth_with_the_jdk_buffer_and_the_authorization_id() {
        // What the JDK's GssKrb5Server offers ZooKeeper: auth only, 65536.
        let choice = security_layer_choice(&[1, 1, 0, 0], "learner/h@R").unwrap();
        assert_eq!(choice, b"\x01\x01\x00\x00learner/h@R");
        // Auth among others is still chosen.
        assert_eq!(security_layer_choice(&[7, 0, 0x10, 0], "").unwrap(), [1, 1, 0, 0]);
        let e = security_layer_choice(&[6, 1, 0, 0], "x").unwrap_err();
        assert!(e.starts_with("No common protection layer"), "{e}");
        for bad in [&[][..], &[1, 1, 0], &[1, 1, 0, 0, 0]] {
            assert!(security_layer_choice(bad, "x").unwrap_err().contains("not 4"));
        }
    }
}
