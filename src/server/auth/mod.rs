//! Authentication providers (ProviderRegistry): the schemes a client can
//! name in an auth packet or an ACL. Built in: world, ip, digest (and the
//! super digest), and "auth" as the ACL shorthand for the caller's ids.

pub mod digest_authentication_provider;
pub mod ip_authentication_provider;

use crate::server::nio_server_cnxn::NioServerCnxn;
use crate::server::zoo_keeper_server::ZooKeeperServer;
use std::sync::Arc;

/// Handles an auth packet: on success the connection gains the ids the
/// scheme grants. False means AUTHFAILED (unknown scheme or refused).
pub fn handle_authentication(zks: &ZooKeeperServer, cnxn: &Arc<NioServerCnxn>, scheme: &str, auth: &[u8]) -> bool {
    match scheme {
        "digest" => {
            digest_authentication_provider::handle_authentication(zks.settings.super_digest.as_deref(), cnxn, auth)
        }
        "ip" => {
            ip_authentication_provider::handle_authentication(cnxn);
            true
        }
        _ => false,
    }
}

/// Whether a caller's id of `scheme` matches an ACL entry's id.
pub fn matches(scheme: &str, id: &str, acl_expr: &str) -> bool {
    match scheme {
        "digest" => id == acl_expr,
        "ip" => ip_authentication_provider::matches(id, acl_expr),
        _ => false,
    }
}

/// Whether an ACL id is well formed for its scheme (fixupACL's check).
pub fn is_valid(scheme: &str, id: &str) -> bool {
    match scheme {
        "digest" => digest_authentication_provider::is_valid(id),
        "ip" => ip_authentication_provider::is_valid(id),
        _ => false,
    }
}

/// The user an id names, as whoAmI reports it (AuthUtil.getUser): digest
/// ids are `user:hash`, ip ids are the address; a scheme with no provider
/// (such as "super") has no user name.
pub fn user_name(scheme: &str, id: &str) -> String {
    match scheme {
        "digest" => id.split(':').next().unwrap_or("").to_string(),
        "ip" => id.to_string(),
        _ => String::new(),
    }
}

/// Whether ids of this scheme count as authenticated (for "auth" ACLs).
pub fn is_authenticated(scheme: &str) -> bool {
    matches!(scheme, "digest")
}

#[cfg(test)]
mod tests {
    #[test]
    fn user_names_as_whoami_reports_them() {
        assert_eq!(super::user_name("digest", "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E="), "alice");
        assert_eq!(super::user_name("ip", "127.0.0.1"), "127.0.0.1");
        assert_eq!(super::user_name("super", ""), "");
        assert_eq!(super::user_name("sasl", "bob"), "");
    }
}
