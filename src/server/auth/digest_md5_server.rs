//! The DIGEST-MD5 SASL server mechanism (RFC 2831) as the JDK's
//! DigestMD5Server runs it for ZooKeeper: initial authentication only, qop
//! "auth" only (no integrity or privacy layer), one realm (the server name
//! ZooKeeper passes, "zk-sasl-md5"), charset utf-8, algorithm md5-sess.
//! A sans-I/O core: one per connection, fed each client token by the NIO
//! worker serving that connection's SASL packets.
//!
//! The exchange: the client's first token (normally empty) draws the
//! digest-challenge `realm="zk-sasl-md5",nonce="…",charset=utf-8,algorithm=md5-sess`;
//! its digest-response is checked (username, realm, nonce, cnonce, qop,
//! digest-uri `zookeeper/zk-sasl-md5`, response) against the password the
//! callback handler gives for the user, and answered with `rspauth=…`.
//! Any other token, or any token after that, is an error. Parsing is bounded
//! (4096-byte responses, as the JDK) and never panics on what a client sends.

use crate::server::auth::sasl_server_callback_handler::SaslServerCallbackHandler;
use md5::{Digest, Md5};

/// The JDK's MAX_RESPONSE_LENGTH.
const MAX_RESPONSE_LENGTH: usize = 4096;

/// The only nonce count initial authentication can have.
const NONCE_COUNT: &str = "00000001";

/// The directives of a digest-response the server looks at. The JDK names
/// the nonce count "nonce-count" (RFC 2831 says "nc"), so a client's `nc`
/// goes unchecked there and here.
const DIRECTIVES: &[&str] = &[
    "username",
    "realm",
    "nonce",
    "cnonce",
    "nonce-count",
    "qop",
    "digest-uri",
    "response",
    "maxbuf",
    "charset",
    "cipher",
    "authzid",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Waiting for the client's first token.
    Challenge,
    /// The challenge is out: waiting for the digest-response.
    Response,
    /// Done, successfully or not: any further token is an error.
    Over,
}

/// What the mechanism asks the server about a user (the Name, Password
/// and Authorize callbacks): the client port's handler and the quorum's
/// differ in whom they authorize.
pub trait DigestMd5Callbacks {
    /// The password of a known user.
    fn password(&self, user: &str) -> Option<&str>;
    /// The authorization id the authenticated user gets, or why it is refused.
    fn authorize(&self, authentication_id: &str, authorization_id: &str) -> Result<String, String>;
}

impl DigestMd5Callbacks for SaslServerCallbackHandler {
    fn password(&self, user: &str) -> Option<&str> {
        SaslServerCallbackHandler::password(self, user)
    }
    fn authorize(&self, authentication_id: &str, authorization_id: &str) -> Result<String, String> {
        SaslServerCallbackHandler::authorize(self, authentication_id, authorization_id)
    }
}

/// One connection's DIGEST-MD5 negotiation.
#[derive(Debug)]
pub struct DigestMd5Server {
    step: Step,
    realm: String,
    digest_uri: String,
    nonce: Vec<u8>,
    authorization_id: Option<String>,
}

/// The directives of a digest-response, as raw bytes.
pub(crate) type Directives = Vec<Option<Vec<u8>>>;

impl DigestMd5Server {
    /// `protocol` and `server_name` as given to Sasl.createSaslServer
    /// ("zookeeper", "zk-sasl-md5"); `nonce` is the server's random nonce
    /// (already in its printable form).
    pub fn new(protocol: &str, server_name: &str, nonce: Vec<u8>) -> DigestMd5Server {
        DigestMd5Server {
            step: Step::Challenge,
            realm: server_name.to_string(),
            digest_uri: format!("{protocol}/{server_name}"),
            nonce,
            authorization_id: None,
        }
    }

    /// evaluateResponse: the next token for the client, or why the
    /// negotiation failed (the JDK's SaslException message).
    pub fn evaluate_response(
        &mut self,
        response: &[u8],
        cbh: &dyn DigestMd5Callbacks,
    ) -> Result<Vec<u8>, String> {
        if response.len() > MAX_RESPONSE_LENGTH {
            return Err(format!(
                "DIGEST-MD5: Invalid digest response length. Got:  {} Expected < {MAX_RESPONSE_LENGTH}",
                response.len()
            ));
        }
        match self.step {
            Step::Challenge => {
                // A non-empty first token would be "subsequent
                // authentication", which is not supported: ignored, and
                // the challenge goes out as for an initial one.
                self.step = Step::Response;
                let mut c = Vec::with_capacity(128);
                c.extend_from_slice(b"realm=\"");
                write_quoted(&mut c, self.realm.as_bytes());
                c.extend_from_slice(b"\",nonce=\"");
                write_quoted(&mut c, &self.nonce);
                c.extend_from_slice(b"\",charset=utf-8,algorithm=md5-sess");
                Ok(c)
            }
            Step::Response => {
                self.step = Step::Over;
                let d = parse_directives(response, DIRECTIVES)?;
                self.validate_client_response(&d, cbh)
            }
            Step::Over => Err("DIGEST-MD5: Server at illegal state".to_string()),
        }
    }

    pub fn is_complete(&self) -> bool {
        self.authorization_id.is_some()
    }

    /// getAuthorizationID once complete.
    pub fn authorization_id(&self) -> Option<&str> {
        self.authorization_id.as_deref()
    }

    fn validate_client_response(&mut self, d: &Directives, cbh: &dyn DigestMd5Callbacks) -> Result<Vec<u8>, String> {
        let get = |name: &str| DIRECTIVES.iter().position(|k| *k == name).and_then(|i| d[i].as_deref());
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let violation = |what: String| Err(format!("DIGEST-MD5: digest response format violation. {what}"));

        if let Some(cs) = get("charset") {
            if cs != b"utf-8" {
                return violation(format!("Incompatible charset value: {}", text(cs)));
            }
        }
        if let Some(mb) = get("maxbuf") {
            if text(mb).trim().parse::<i32>().is_err() {
                return violation(format!("Invalid maxbuf value: {}", text(mb)));
            }
        }
        let Some(username) = get("username").map(text) else { return violation("Missing username.".into()) };
        let realm = get("realm").map(text).unwrap_or_default();
        if realm != self.realm {
            return violation(format!("Nonexistent realm: {realm}"));
        }
        match get("nonce") {
            None => return violation("Missing nonce.".into()),
            Some(n) if n != self.nonce.as_slice() => return violation("Mismatched nonce.".into()),
            Some(_) => {}
        }
        let Some(cnonce) = get("cnonce") else { return violation("Missing cnonce.".into()) };
        if let Some(nc) = get("nonce-count") {
            if i64::from_str_radix(&text(nc), 16).ok() != Some(1) {
                return violation(format!("Nonce count does not match: {}", text(nc)));
            }
        }
        let qop = get("qop").map(text).unwrap_or_else(|| "auth".to_string());
        match qop.as_str() {
            "auth" => {}
            "auth-int" | "auth-conf" => return Err(format!("DIGEST-MD5: server does not support  qop: {qop}")),
            _ => return violation(format!("Invalid QOP: {qop}")),
        }
        let uri = get("digest-uri").map(text);
        match &uri {
            Some(u) if u.eq_ignore_ascii_case(&self.digest_uri) => {}
            _ => {
                let shown = uri.as_deref().unwrap_or("null");
                return violation(format!("Mismatched URI: {shown}; expecting: {}", self.digest_uri));
            }
        }
        let uri = uri.unwrap_or_default();
        let Some(client_response) = get("response") else {
            return Err("DIGEST-MD5: digest response format  violation. Missing response.".to_string());
        };
        let authzid = get("authzid");
        let Some(password) = cbh.password(&username) else {
            return Err(format!("DIGEST-MD5: cannot acquire password for {username} in realm : {realm}"));
        };
        let value = |method: &str| {
            response_value(method, &uri, &qop, &username, &realm, password, &self.nonce, cnonce, authzid)
        };
        if value("AUTHENTICATE").as_bytes() != client_response {
            return violation("Mismatched response.".into());
        }
        let authzid_from_client = authzid.map(text).unwrap_or_else(|| username.clone());
        self.authorization_id = Some(cbh.authorize(&username, &authzid_from_client)?);
        Ok(format!("rspauth={}", value("")).into_bytes())
    }
}

/// A string for the A1 digest: ISO-8859-1 when every character fits,
/// UTF-8 otherwise (RFC 2831 with charset=utf-8).
fn latin1_or_utf8(s: &str) -> Vec<u8> {
    if s.chars().all(|c| (c as u32) < 0x100) {
        s.chars().map(|c| c as u8).collect()
    } else {
        s.as_bytes().to_vec()
    }
}

fn hex_md5(parts: &[&[u8]]) -> String {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The response-value of RFC 2831 §2.1.2.1: `method` is "AUTHENTICATE" for
/// the client's response and "" for the server's rspauth.
#[allow(clippy::too_many_arguments)]
pub(crate) fn response_value(
    method: &str,
    digest_uri: &str,
    qop: &str,
    username: &str,
    realm: &str,
    password: &str,
    nonce: &[u8],
    cnonce: &[u8],
    authzid: Option<&[u8]>,
) -> String {
    let a2 = hex_md5(&[method.as_bytes(), b":", digest_uri.as_bytes()]);
    let mut secret = Md5::new();
    secret.update(latin1_or_utf8(username));
    secret.update(b":");
    secret.update(latin1_or_utf8(realm));
    secret.update(b":");
    secret.update(latin1_or_utf8(password));
    let secret = secret.finalize();
    let mut a1: Vec<&[u8]> = vec![&secret, b":", nonce, b":", cnonce];
    if let Some(z) = authzid {
        a1.push(b":");
        a1.push(z);
    }
    let a1 = hex_md5(&a1);
    hex_md5(&[
        a1.as_bytes(),
        b":",
        nonce,
        b":",
        NONCE_COUNT.as_bytes(),
        b":",
        cnonce,
        b":",
        qop.as_bytes(),
        b":",
        a2.as_bytes(),
    ])
}

/// A quoted-string value: '"' and '\' escaped.
pub(crate) fn write_quoted(out: &mut Vec<u8>, value: &[u8]) {
    for &b in value {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
}

fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Splits a digest-challenge or digest-response into the directives
/// `names` lists (values in that order): `key=value` or
/// `key="quoted value"` separated by commas, linear white space allowed
/// around them. A directive we know given twice, a key without '=' or an
/// unclosed quote is an error; unknown keys (auth-param) are ignored.
pub(crate) fn parse_directives(buf: &[u8], names: &[&str]) -> Result<Directives, String> {
    let mut out: Directives = vec![None; names.len()];
    let mut i = 0;
    let n = buf.len();
    loop {
        while i < n && (is_lws(buf[i]) || buf[i] == b',') {
            i += 1;
        }
        if i >= n {
            return Ok(out);
        }
        let key_start = i;
        while i < n && buf[i] != b'=' && buf[i] != b',' {
            i += 1;
        }
        if i >= n || buf[i] != b'=' {
            return Err(format!(
                "DIGEST-MD5: Directive key contains no value: {}",
                String::from_utf8_lossy(&buf[key_start..i])
            ));
        }
        let key = String::from_utf8_lossy(&buf[key_start..i]).trim().to_ascii_lowercase();
        i += 1;
        while i < n && is_lws(buf[i]) {
            i += 1;
        }
        let mut value = Vec::new();
        if i < n && buf[i] == b'"' {
            i += 1;
            loop {
                match buf.get(i) {
                    None => return Err(format!("DIGEST-MD5: Unmatched quote found for directive: {key}")),
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        i += 1;
                        match buf.get(i) {
                            Some(&b) => value.push(b),
                            None => {
                                return Err(format!("DIGEST-MD5: Unmatched quote found for directive: {key}"))
                            }
                        }
                        i += 1;
                    }
                    Some(&b) => {
                        value.push(b);
                        i += 1;
                    }
                }
            }
            while i < n && is_lws(buf[i]) {
                i += 1;
            }
            if i < n && buf[i] != b',' {
                return Err(format!("DIGEST-MD5: Expecting comma or linear whitespace after quoted string: {key}"));
            }
        } else {
            while i < n && buf[i] != b',' {
                value.push(buf[i]);
                i += 1;
            }
            while value.last().is_some_and(|&b| is_lws(b)) {
                value.pop();
            }
        }
        if let Some(k) = names.iter().position(|d| *d == key) {
            if out[k].is_some() {
                return Err(format!("DIGEST-MD5: Peer sent more than one {key} directive"));
            }
            out[k] = Some(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handler() -> SaslServerCallbackHandler {
        SaslServerCallbackHandler::for_tests(&[("bob", "bobsecret"), ("super", "su")])
    }

    /// What a client computes: the digest-response for `password`.
    fn client_response(nonce: &str, user: &str, password: &str, authzid: Option<&str>) -> Vec<u8> {
        let cnonce = "OA6MHXh6VqTrRk";
        let uri = "zookeeper/zk-sasl-md5";
        let r = response_value(
            "AUTHENTICATE",
            uri,
            "auth",
            user,
            "zk-sasl-md5",
            password,
            nonce.as_bytes(),
            cnonce.as_bytes(),
            authzid.map(str::as_bytes),
        );
        let mut s = format!(
            "charset=utf-8,username=\"{user}\",realm=\"zk-sasl-md5\",nonce=\"{nonce}\",nc=00000001,cnonce=\"{cnonce}\",digest-uri=\"{uri}\",maxbuf=65536,response={r},qop=auth"
        );
        if let Some(z) = authzid {
            s.push_str(&format!(",authzid=\"{z}\""));
        }
        s.into_bytes()
    }

    #[test]
    fn rfc_2831_example_values() {
        // RFC 2831 §4's IMAP example (qop auth, no authzid).
        let r = response_value(
            "AUTHENTICATE",
            "imap/elwood.innosoft.com",
            "auth",
            "chris",
            "elwood.innosoft.com",
            "secret",
            b"OA6MG9tEQGm2hh",
            b"OA6MHXh6VqTrRk",
            None,
        );
        assert_eq!(r, "d388dad90d4bbd760a152321f2143af7");
        let rspauth = response_value(
            "",
            "imap/elwood.innosoft.com",
            "auth",
            "chris",
            "elwood.innosoft.com",
            "secret",
            b"OA6MG9tEQGm2hh",
            b"OA6MHXh6VqTrRk",
            None,
        );
        assert_eq!(rspauth, "ea40f60335c427b5527b84dbabcdfffd");
    }

    #[test]
    fn a_client_with_the_right_password_is_authenticated() {
        let h = handler();
        let mut s = DigestMd5Server::new("zookeeper", "zk-sasl-md5", b"NONCE123".to_vec());
        let challenge = s.evaluate_response(b"", &h).unwrap();
        assert_eq!(challenge, b"realm=\"zk-sasl-md5\",nonce=\"NONCE123\",charset=utf-8,algorithm=md5-sess");
        assert!(!s.is_complete());
        let rsp = s.evaluate_response(&client_response("NONCE123", "bob", "bobsecret", None), &h).unwrap();
        assert!(rsp.starts_with(b"rspauth=") && rsp.len() == 8 + 32, "{rsp:?}");
        assert_eq!(s.authorization_id(), Some("bob"));
        assert!(s.evaluate_response(b"", &h).unwrap_err().contains("illegal state"));
    }

    #[test]
    fn the_authorization_id_comes_from_the_authenticated_user() {
        let h = handler();
        let mut s = DigestMd5Server::new("zookeeper", "zk-sasl-md5", b"N".to_vec());
        s.evaluate_response(b"", &h).unwrap();
        s.evaluate_response(&client_response("N", "bob", "bobsecret", Some("alice")), &h).unwrap();
        assert_eq!(s.authorization_id(), Some("bob"));
    }

    #[test]
    fn wrong_answers_fail_with_the_jdks_reasons() {
        let h = handler();
        let run = |resp: Vec<u8>| {
            let mut s = DigestMd5Server::new("zookeeper", "zk-sasl-md5", b"N".to_vec());
            s.evaluate_response(b"", &h).unwrap();
            let e = s.evaluate_response(&resp, &h).unwrap_err();
            assert!(!s.is_complete());
            e
        };
        let good = String::from_utf8(client_response("N", "bob", "bobsecret", None)).unwrap();
        assert!(run(client_response("N", "bob", "wrong", None)).contains("Mismatched response"));
        assert!(run(client_response("N", "nobody", "x", None)).contains("cannot acquire password for nobody"));
        assert!(run(client_response("M", "bob", "bobsecret", None)).contains("Mismatched nonce"));
        let cases = [
            (good.replace("zookeeper/zk-sasl-md5", "zookeeper/localhost"), "Mismatched URI"),
            (good.replace("realm=\"zk-sasl-md5\"", "realm=\"other\""), "Nonexistent realm"),
            (good.replace("qop=auth", "qop=auth-conf"), "does not support"),
            (good.replace("qop=auth", "qop=bogus"), "Invalid QOP"),
            (good.replace("charset=utf-8", "charset=latin1"), "charset"),
            (good.replace("maxbuf=65536", "maxbuf=lots"), "maxbuf"),
            (good.replace("username=", "user="), "Missing username"),
            (good.replace("cnonce=", "xnonce="), "Missing cnonce"),
            (good.replace("response=", "resp="), "Missing response"),
            (format!("{good},username=\"bob\""), "more than one username"),
            (good.replace("digest-uri=\"", "digest-uri=\"x"), "Mismatched URI"),
            ("username=\"bob".to_string(), "Unmatched quote"),
            ("username".to_string(), "no value"),
            ("username=\"bob\"x,".to_string(), "Expecting comma"),
            (String::new(), "Missing username"),
            ("nonce-count=zz".to_string(), "Missing username"),
        ];
        for (resp, wanted) in cases {
            let e = run(resp.clone().into_bytes());
            assert!(e.contains(wanted), "{resp}: {e}");
        }
        let huge = vec![b'a'; MAX_RESPONSE_LENGTH + 1];
        let mut s = DigestMd5Server::new("zookeeper", "zk-sasl-md5", b"N".to_vec());
        assert!(s.evaluate_response(&huge, &h).unwrap_err().contains("length"));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let h = handler();
        let mut seed = 0x2545F4914F6CDD1Du64;
        for len in 0..300 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    b"=,\"\\ aqzn-"[(seed % 10) as usize]
                })
                .collect();
            let mut s = DigestMd5Server::new("zookeeper", "zk-sasl-md5", b"N".to_vec());
            s.evaluate_response(b"", &h).unwrap();
            let _ = s.evaluate_response(&bytes, &h);
        }
    }
}
