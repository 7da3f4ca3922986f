//! The GSSAPI (Kerberos V5) SASL server mechanism (RFC 4752) as the JDK's
//! GssKrb5Server runs it for ZooKeeper: the client's tokens go to
//! gss_accept_sec_context until the context is established; then the
//! server sends a wrapped 4-byte offer (security layers: "auth" only;
//! max buffer 65536), the client answers with a wrapped choice and an
//! optional authorization id, and the client's principal is authorized
//! through the caller's AuthorizeCallback (the client port's Kerberos name
//! rules, or the quorum's authorized hosts). A sans-I/O state machine over
//! one GSS context, driven by the NIO worker serving the connection or the
//! thread owning a quorum socket.

use crate::server::auth::gss_api::{AcceptContext, AcceptorCredential};

/// The AuthorizeCallback: (authentication id, authorization id) to the
/// authorized id, or why the client is refused.
pub type Authorize<'a> = &'a dyn Fn(&str, &str) -> Result<String, String>;

/// RFC 4752's security layer bit for "no security layer" (qop "auth").
pub(crate) const NO_PROTECTION: u8 = 1;
/// The security layers offered: NO_PROTECTION only (ZooKeeper sets no
/// javax.security.sasl.qop).
const ALL_QOP: u8 = NO_PROTECTION;
/// The JDK's default receive buffer (javax.security.sasl.maxbuf), sent in
/// the handshake by server and client.
pub(crate) const RECV_MAX_BUF_SIZE: u32 = 65536;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Accepting,
    /// Established: the client's (empty) token draws the offer.
    Offer,
    /// The offer is out: the client's wrapped choice completes it.
    Choice,
    Complete,
    Failed,
}

#[derive(Debug)]
pub struct GssKrb5Server {
    ctx: AcceptContext,
    stage: Stage,
    authorization_id: Option<String>,
}

impl GssKrb5Server {
    pub fn new() -> Result<GssKrb5Server, String> {
        Ok(GssKrb5Server { ctx: AcceptContext::new()?, stage: Stage::Accepting, authorization_id: None })
    }

    /// evaluateResponse: the next token for the client (None once
    /// complete), or why the negotiation failed.
    pub fn evaluate_response(
        &mut self,
        token: &[u8],
        cred: &AcceptorCredential,
        authorize: Authorize,
    ) -> Result<Option<Vec<u8>>, String> {
        let stage = std::mem::replace(&mut self.stage, Stage::Failed);
        match stage {
            Stage::Accepting => {
                let out = self.ctx.accept(cred, token)?;
                if !self.ctx.is_established() {
                    self.stage = Stage::Accepting;
                    Ok(Some(out))
                } else if out.is_empty() {
                    self.offer(&[]).map(Some)
                } else {
                    self.stage = Stage::Offer;
                    Ok(Some(out))
                }
            }
            Stage::Offer => self.offer(token).map(Some),
            Stage::Choice => self.choice(token, authorize).map(|()| None),
            Stage::Complete => Err("SASL authentication already complete".to_string()),
            Stage::Failed => Err("GSSAPI negotiation already failed".to_string()),
        }
    }

    pub fn is_complete(&self) -> bool {
        self.stage == Stage::Complete
    }

    pub fn authorization_id(&self) -> Option<&str> {
        self.authorization_id.as_deref()
    }

    fn offer(&mut self, token: &[u8]) -> Result<Vec<u8>, String> {
        if !token.is_empty() {
            return Err("Handshake expecting no response data from server".to_string());
        }
        let [_, a, b, c] = RECV_MAX_BUF_SIZE.to_be_bytes();
        let wrapped = self.ctx.wrap(&[ALL_QOP, a, b, c]).map_err(|e| format!("Problem wrapping handshake1: {e}"))?;
        self.stage = Stage::Choice;
        Ok(wrapped)
    }

    fn choice(&mut self, token: &[u8], authorize: Authorize) -> Result<(), String> {
        let plain = self.ctx.unwrap(token).map_err(|e| format!("Final handshake step failed: {e}"))?;
        let Some(&selected) = plain.first() else {
            return Err("Final handshake step failed: empty response".to_string());
        };
        if plain.len() < 4 {
            return Err(format!("Final handshake step failed: {} bytes where 4 or more were expected", plain.len()));
        }
        if selected & ALL_QOP == 0 {
            return Err(format!("Client selected unsupported protection: {selected}"));
        }
        let peer = self.ctx.peer().unwrap_or_default().to_string();
        let authzid =
            if plain.len() > 4 { String::from_utf8_lossy(&plain[4..]).into_owned() } else { peer.clone() };
        self.authorization_id = Some(authorize(&peer, &authzid)?);
        self.stage = Stage::Complete;
        Ok(())
    }
}
