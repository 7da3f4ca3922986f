//! IPAuthenticationProvider: every connection carries `ip:<its address>`;
//! ACL entries name an address or a CIDR block.

use crate::jute::records::Id;
use crate::server::server_cnxn::ServerCnxn;

pub fn handle_authentication(cnxn: &dyn ServerCnxn) {
    cnxn.add_auth_info(Id::new("ip", &crate::common::net_utils::host_address(cnxn.remote_address().ip())));
}

/// A dotted IPv4 address as 4 bytes. Like Java 3.8's provider this knows
/// only IPv4: an IPv6 address is not a valid ACL id and never matches. Each
/// part is a decimal integer in 0..=255 (a sign or leading zeros allowed,
/// as Integer.parseInt takes them).
fn addr_bytes(s: &str) -> Option<Vec<u8>> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    parts.iter().map(|p| p.parse::<i32>().ok().and_then(|v| u8::try_from(v).ok())).collect()
}

fn parse_expr(acl_expr: &str) -> Option<(Vec<u8>, usize)> {
    let mut parts = acl_expr.splitn(2, '/');
    let addr = addr_bytes(parts.next()?)?;
    let max = addr.len() * 8;
    let bits = match parts.next() {
        Some(b) => b.parse::<i32>().ok().and_then(|b| usize::try_from(b).ok()).filter(|b| *b <= max)?,
        None => max,
    };
    Some((addr, bits))
}

fn mask(bytes: &mut [u8], bits: usize) {
    for (i, b) in bytes.iter_mut().enumerate() {
        let start = i * 8;
        if start >= bits {
            *b = 0;
        } else if bits - start < 8 {
            *b &= 0xffu8 << (8 - (bits - start));
        }
    }
}

pub fn matches(id: &str, acl_expr: &str) -> bool {
    let Some((mut acl, bits)) = parse_expr(acl_expr) else { return false };
    let Some(mut remote) = addr_bytes(id) else { return false };
    if remote.len() != acl.len() {
        return false;
    }
    mask(&mut acl, bits);
    mask(&mut remote, bits);
    acl == remote
}

pub fn is_valid(id: &str) -> bool {
    parse_expr(id).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_matching() {
        assert!(matches("127.0.0.1", "127.0.0.1"));
        assert!(matches("10.1.2.3", "10.0.0.0/8"));
        assert!(!matches("11.1.2.3", "10.0.0.0/8"));
        assert!(!matches("127.0.0.1", "127.0.0.1/33"));
        assert!(is_valid("192.168.0.0/16"));
        assert!(!is_valid("nonsense"));
        // Java 3.8 parses IPv4 only, with Integer.parseInt per part.
        assert!(!is_valid("::1"));
        assert!(!is_valid("::1/128"));
        assert!(!matches("::1", "::1"));
        assert!(is_valid("010.0.0.1/+8"));
        assert!(matches("10.1.2.3", "010.0.0.0/8"));
        assert!(!is_valid("1.2.3"));
        assert!(!is_valid("1.2.3.4.5"));
        assert!(!is_valid("1.2.3.256"));
        assert!(!is_valid("1.2.3.4/-1"));
    }
}
