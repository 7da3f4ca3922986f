//! X509AuthenticationProvider (scheme "x509"): a TLS client's certificate
//! is its identity. When a TLS handshake that asked for a client
//! certificate completes (on the NIO worker that drove it), the
//! certificate's subject, written as Java's X500Principal.getName() writes
//! it (RFC 2253, most significant RDN last), becomes the connection's
//! `x509` id; the one named by zookeeper.X509AuthenticationProvider.superUser
//! also gets `super`. The certificate was already verified against the
//! trust store by the handshake itself.
//!
//! Registered, as in Java, by `authProvider.<n>=` naming its class;
//! `ssl.authProvider` names the scheme the handshake uses (default x509).

use crate::common::der::{element, element_whole};
use crate::jute::records::Id;
use crate::server::server_cnxn::ServerCnxn;

pub const X509_PROVIDER_CLASS: &str = "org.apache.zookeeper.server.auth.X509AuthenticationProvider";
pub const SCHEME: &str = "x509";

/// handleAuthentication at the end of a handshake: adds the ids the
/// certificate `cert_der` (the chain's first) grants. Err: it cannot be
/// read.
pub fn handle_authentication(cnxn: &dyn ServerCnxn, cert_der: &[u8], super_user: Option<&str>) -> Result<String, String> {
    let client_id = client_id(cert_der)?;
    if super_user == Some(client_id.as_str()) {
        cnxn.add_auth_info(Id::new("super", &client_id));
        tracing::info!("Authenticated Id '{client_id}' as super user");
    }
    cnxn.add_auth_info(Id::new(SCHEME, &client_id));
    tracing::info!("Authenticated Id '{client_id}' for Scheme '{SCHEME}'");
    Ok(client_id)
}

/// An auth packet naming x509 succeeds only on a connection whose
/// handshake already authenticated it: the packet itself proves nothing.
pub fn handle_auth_packet(cnxn: &dyn ServerCnxn) -> bool {
    cnxn.auth_info().iter().any(|id| id.scheme == SCHEME)
}

/// matches: the id equals the ACL's, or is the super user's.
pub fn matches(super_user: Option<&str>, id: &str, acl_expr: &str) -> bool {
    id == acl_expr || super_user == Some(id)
}

/// isValid: a distinguished name ("CN=x,O=y").
pub fn is_valid(id: &str) -> bool {
    !id.is_empty() && id.split(',').all(|rdn| rdn.contains('='))
}

/// getClientId: the certificate's subject in RFC 2253 form.
pub fn client_id(cert_der: &[u8]) -> Result<String, String> {
    let bad = |e: String| format!("cannot read the client certificate's subject: {e}");
    let (_, cert, _) = element(cert_der).map_err(bad)?;
    let (_, tbs, _) = element(cert).map_err(bad)?;
    let mut rest = tbs;
    let (tag, _, r) = element(rest).map_err(bad)?;
    if tag == 0xa0 {
        rest = r; // [0] version
    }
    // serialNumber, signature, issuer, validity, then subject.
    for _ in 0..4 {
        rest = element(rest).map_err(bad)?.2;
    }
    let (tag, subject, _) = element(rest).map_err(bad)?;
    if tag != 0x30 {
        return Err(bad("not a Name".to_string()));
    }
    rfc2253(subject).map_err(bad)
}

/// The keywords X500Principal's RFC 2253 form uses; other types are
/// written as dotted OIDs with hex values.
fn keyword(oid: &[u8]) -> Option<&'static str> {
    Some(match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x09] => "STREET",
        [0x55, 0x04, 0x0a] => "O",
        [0x55, 0x04, 0x0b] => "OU",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01] => "UID",
        _ => return None,
    })
}

fn dotted_oid(oid: &[u8]) -> String {
    let mut parts = Vec::new();
    let mut v: u64 = 0;
    for (i, &b) in oid.iter().enumerate() {
        v = (v << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if parts.is_empty() && i < oid.len() {
                let first = (v / 40).min(2);
                parts.push(first);
                parts.push(v - first * 40);
            } else {
                parts.push(v);
            }
            v = 0;
        }
    }
    parts.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}

/// A directory string's text, or None when the value is of another type.
fn directory_string(tag: u8, v: &[u8]) -> Option<String> {
    match tag {
        0x0c | 0x13 | 0x16 => std::str::from_utf8(v).ok().map(str::to_string),
        0x14 => Some(v.iter().map(|&b| char::from(b)).collect()),
        0x1e => {
            let units: Vec<u16> = v.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
            String::from_utf16(&units).ok()
        }
        0x1c => v.chunks_exact(4).map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))).collect(),
        _ => None,
    }
}

/// An attribute value escaped as X500Principal's RFC 2253 form escapes it:
/// the special characters anywhere, a space at either end.
fn escape(s: &str) -> String {
    let last = s.chars().count().saturating_sub(1);
    let mut out = String::with_capacity(s.len() + 2);
    for (i, c) in s.chars().enumerate() {
        if ",=+<>#;\"\\".contains(c) || (c == ' ' && (i == 0 || i == last)) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A Name (SEQUENCE OF RDN), most significant RDN last.
fn rfc2253(mut name: &[u8]) -> Result<String, String> {
    let mut rdns = Vec::new();
    while !name.is_empty() {
        let (_, set, rest) = element(name)?;
        name = rest;
        let mut avas = Vec::new();
        let mut set = set;
        while !set.is_empty() {
            let (_, ava, rest) = element(set)?;
            set = rest;
            let (oid_tag, oid, value) = element(ava)?;
            if oid_tag != 0x06 {
                return Err("attribute type is not an OID".to_string());
            }
            let (vtag, v, whole, _) = element_whole(value)?;
            let text = match keyword(oid) {
                Some(k) => match directory_string(vtag, v) {
                    Some(s) => format!("{k}={}", escape(&s)),
                    None => format!("{k}=#{}", hex(whole)),
                },
                None => format!("{}=#{}", dotted_oid(oid), hex(whole)),
            };
            avas.push(text);
        }
        rdns.push(avas.join("+"));
    }
    rdns.reverse();
    Ok(rdns.join(","))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ava(oid: &[u8], tag: u8, v: &[u8]) -> Vec<u8> {
        let mut inner = vec![0x06, oid.len() as u8];
        inner.extend_from_slice(oid);
        inner.extend_from_slice(&[tag, v.len() as u8]);
        inner.extend_from_slice(v);
        let mut seq = vec![0x30, inner.len() as u8];
        seq.extend(inner);
        let mut set = vec![0x31, seq.len() as u8];
        set.extend(seq);
        set
    }

    #[test]
    fn subject_in_java_get_name_form() {
        let mut name = ava(&[0x55, 4, 6], 0x13, b"US");
        name.extend(ava(&[0x55, 4, 10], 0x0c, b"Acme, Inc"));
        name.extend(ava(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01], 0x16, b"a@b"));
        name.extend(ava(&[0x55, 4, 3], 0x0c, b"client one"));
        assert_eq!(
            rfc2253(&name).unwrap(),
            "CN=client one,1.2.840.113549.1.9.1=#1603614062,O=Acme\\, Inc,C=US"
        );
        assert_eq!(escape(" a#b "), "\\ a\\#b\\ ");
        assert_eq!(escape(" "), "\\ ");
        assert_eq!(escape("a b"), "a b");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for data in [&[][..], &[0x30], &[0x30, 0x05, 0x30], &[0x30, 0x02, 0x30, 0x00]] {
            assert!(client_id(data).is_err());
        }
        assert!(is_valid("CN=a,O=b"));
        assert!(!is_valid("nope"));
    }
}
