//! The DIGEST-MD5 SASL client mechanism (RFC 2831) as the JDK's
//! DigestMD5Client runs it for a ZooKeeper quorum learner: initial
//! authentication only, qop "auth" only, algorithm md5-sess. A sans-I/O
//! core, one per connection, fed each server token by the thread that
//! dials the peer (a QuorumConnectionThread or the QuorumPeer thread
//! connecting to its leader).
//!
//! The exchange: no initial response; the server's digest-challenge
//! (realm, nonce, qop, charset, algorithm) draws the digest-response
//! (username, realm, nonce, a fresh cnonce, nc=00000001, digest-uri
//! `protocol/server_name`, response); the server's `rspauth=…` is checked
//! and completes the exchange. Anything else is an error; parsing is
//! bounded (2048-byte challenges, as the JDK) and never panics.

use crate::server::auth::digest_md5_server::{parse_directives, response_value, write_quoted};

/// The JDK's MAX_CHALLENGE_LENGTH.
const MAX_CHALLENGE_LENGTH: usize = 2048;

/// The directives of a digest-challenge the client looks at.
const CHALLENGE_DIRECTIVES: &[&str] = &["realm", "qop", "algorithm", "nonce", "stale", "maxbuf", "charset", "cipher"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Waiting for the digest-challenge.
    Challenge,
    /// The digest-response is out: waiting for rspauth.
    RspAuth,
    /// Authenticated.
    Complete,
    /// Failed: any further challenge is an error.
    Over,
}

/// One connection's DIGEST-MD5 negotiation, client side.
#[derive(Debug)]
pub struct DigestMd5Client {
    step: Step,
    username: String,
    password: String,
    digest_uri: String,
    cnonce: Vec<u8>,
    /// The rspauth the server must send, once the response is out.
    expected_rspauth: String,
}

impl DigestMd5Client {
    /// `protocol` and `server_name` as given to Sasl.createSaslClient
    /// ("zookeeper-quorum", "zk-quorum-sasl-md5"); `cnonce` is the client's
    /// random nonce (already in a printable form).
    pub fn new(username: &str, password: &str, protocol: &str, server_name: &str, cnonce: Vec<u8>) -> DigestMd5Client {
        DigestMd5Client {
            step: Step::Challenge,
            username: username.to_string(),
            password: password.to_string(),
            digest_uri: format!("{protocol}/{server_name}"),
            cnonce,
            expected_rspauth: String::new(),
        }
    }

    /// evaluateChallenge: the next token for the server (None once the
    /// server's rspauth has been checked), or why the negotiation failed.
    pub fn evaluate_challenge(&mut self, challenge: &[u8]) -> Result<Option<Vec<u8>>, String> {
        if challenge.len() > MAX_CHALLENGE_LENGTH {
            self.step = Step::Over;
            return Err(format!(
                "DIGEST-MD5: Invalid digest-challenge length. Got:  {} Expected < {MAX_CHALLENGE_LENGTH}",
                challenge.len()
            ));
        }
        match self.step {
            Step::Challenge => {
                self.step = Step::Over;
                let response = self.digest_response(challenge)?;
                self.step = Step::RspAuth;
                Ok(Some(response))
            }
            Step::RspAuth => {
                self.step = Step::Over;
                let d = parse_directives(challenge, &["rspauth"])?;
                match d[0].as_deref() {
                    Some(r) if r == self.expected_rspauth.as_bytes() => {
                        self.step = Step::Complete;
                        Ok(None)
                    }
                    Some(_) => Err("DIGEST-MD5: Mismatched response value".to_string()),
                    None => Err("DIGEST-MD5: Authentication failed: no rspauth from the server".to_string()),
                }
            }
            Step::Complete | Step::Over => Err("DIGEST-MD5: Client at illegal state".to_string()),
        }
    }

    pub fn is_complete(&self) -> bool {
        self.step == Step::Complete
    }

    fn digest_response(&mut self, challenge: &[u8]) -> Result<Vec<u8>, String> {
        let d = parse_directives(challenge, CHALLENGE_DIRECTIVES)?;
        let get = |name: &str| CHALLENGE_DIRECTIVES.iter().position(|k| *k == name).and_then(|i| d[i].as_deref());
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let violation = |what: &str| Err(format!("DIGEST-MD5: Digest-challenge format violation : {what}"));
        let Some(nonce) = get("nonce").map(<[u8]>::to_vec) else {
            return violation("Missing nonce directive.");
        };
        match get("algorithm") {
            None => return violation("algorithm directive missing"),
            Some(a) if !a.eq_ignore_ascii_case(b"md5-sess") => {
                return violation(&format!("Invalid value for 'algorithm' directive: {}", text(a)))
            }
            Some(_) => {}
        }
        let qops = get("qop").map(text).unwrap_or_else(|| "auth".to_string());
        if !qops.split(',').any(|q| q.trim() == "auth") {
            return Err("DIGEST-MD5: No common protection layer between client and server".to_string());
        }
        let utf8 = match get("charset") {
            None => false,
            Some(c) if c.eq_ignore_ascii_case(b"utf-8") => true,
            Some(c) => return violation(&format!("Invalid charset: {}", text(c))),
        };
        let realm = get("realm").map(text).unwrap_or_default();
        let response = response_value(
            "AUTHENTICATE",
            &self.digest_uri,
            "auth",
            &self.username,
            &realm,
            &self.password,
            &nonce,
            &self.cnonce,
            None,
        );
        self.expected_rspauth = response_value(
            "",
            &self.digest_uri,
            "auth",
            &self.username,
            &realm,
            &self.password,
            &nonce,
            &self.cnonce,
            None,
        );
        let mut out = Vec::with_capacity(256);
        if utf8 {
            out.extend_from_slice(b"charset=utf-8,");
        }
        out.extend_from_slice(b"username=\"");
        write_quoted(&mut out, self.username.as_bytes());
        out.extend_from_slice(b"\",realm=\"");
        write_quoted(&mut out, realm.as_bytes());
        out.extend_from_slice(b"\",nonce=\"");
        write_quoted(&mut out, &nonce);
        out.extend_from_slice(b"\",nc=00000001,cnonce=\"");
        write_quoted(&mut out, &self.cnonce);
        out.extend_from_slice(b"\",digest-uri=\"");
        write_quoted(&mut out, self.digest_uri.as_bytes());
        out.extend_from_slice(b"\",maxbuf=65536,response=");
        out.extend_from_slice(response.as_bytes());
        out.extend_from_slice(b",qop=auth");
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::auth::digest_md5_server::{DigestMd5Callbacks, DigestMd5Server};

    struct Users;
    impl DigestMd5Callbacks for Users {
        fn password(&self, user: &str) -> Option<&str> {
            (user == "learner").then_some("s3cret")
        }
        fn authorize(&self, authn: &str, authz: &str) -> Result<String, String> {
            if authn == authz {
                Ok(authz.to_string())
            } else {
                Err("not authorized".to_string())
            }
        }
    }

    fn run(password: &str) -> Result<(), String> {
        let mut server = DigestMd5Server::new("zookeeper-quorum", "zk-quorum-sasl-md5", b"N0nce+/=".to_vec());
        let mut client =
            DigestMd5Client::new("learner", password, "zookeeper-quorum", "zk-quorum-sasl-md5", b"cn0nce".to_vec());
        let challenge = server.evaluate_response(b"", &Users)?;
        let response = client.evaluate_challenge(&challenge)?.ok_or("no response")?;
        let rspauth = server.evaluate_response(&response, &Users)?;
        assert!(server.is_complete());
        assert_eq!(client.evaluate_challenge(&rspauth)?, None);
        assert!(client.is_complete());
        Ok(())
    }

    #[test]
    fn the_client_authenticates_against_the_server_mechanism() {
        run("s3cret").unwrap();
        assert_eq!(run("wrong").unwrap_err(), "DIGEST-MD5: digest response format violation. Mismatched response.");
    }

    #[test]
    fn a_forged_rspauth_or_bad_challenge_fails() {
        let mut c = DigestMd5Client::new("u", "p", "zookeeper-quorum", "zk-quorum-sasl-md5", b"c".to_vec());
        let r = c.evaluate_challenge(b"realm=\"r\",nonce=\"n\",charset=utf-8,algorithm=md5-sess").unwrap().unwrap();
        assert!(String::from_utf8(r).unwrap().starts_with("charset=utf-8,username=\"u\",realm=\"r\",nonce=\"n\",nc=00000001"));
        assert!(c.evaluate_challenge(b"rspauth=00").is_err());
        assert!(c.evaluate_challenge(b"rspauth=00").is_err());
        for bad in [&b"realm=\"r\",algorithm=md5-sess"[..], b"nonce=\"n\"", b"nonce=\"n\",algorithm=md5-sess,qop=auth-conf", b"nonce=\"n"] {
            let mut c = DigestMd5Client::new("u", "p", "a", "b", b"c".to_vec());
            assert!(c.evaluate_challenge(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let mut c = DigestMd5Client::new("u", "p", "a", "b", b"c".to_vec());
        assert!(c.evaluate_challenge(&[b'a'; 3000]).is_err());
    }
}
