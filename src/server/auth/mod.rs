//! Authentication providers (ProviderRegistry): the schemes a client can
//! name in an auth packet or an ACL. Built in: world, ip, digest (and the
//! super digest; off with zookeeper.DigestAuthenticationProvider.enabled=false),
//! and "auth" as the ACL shorthand for the caller's ids. Consulted by the NIO
//! workers (auth packets), the ProcessThread (fixupACL) and every thread that
//! checks an ACL.

pub mod digest_authentication_provider;
pub mod ip_authentication_provider;

use crate::server::server_cnxn::ServerCnxn;

/// The fully qualified Java class names of the providers zkserver has, as
/// `zookeeper.authProvider.*` may name them.
pub const IP_PROVIDER_CLASS: &str = "org.apache.zookeeper.server.auth.IPAuthenticationProvider";
pub const DIGEST_PROVIDER_CLASS: &str = "org.apache.zookeeper.server.auth.DigestAuthenticationProvider";

/// Which schemes have a provider: ip always, digest unless disabled. A
/// scheme without one cannot be authenticated with, is refused in new ACLs
/// and matches no ACL entry, as in Java.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderRegistry {
    digest_enabled: bool,
}

impl Default for ProviderRegistry {
    fn default() -> ProviderRegistry {
        ProviderRegistry { digest_enabled: true }
    }
}

impl ProviderRegistry {
    pub fn new(digest_enabled: bool) -> ProviderRegistry {
        ProviderRegistry { digest_enabled }
    }

    /// getProvider(scheme) != null.
    pub fn is_registered(&self, scheme: &str) -> bool {
        match scheme {
            "ip" => true,
            "digest" => self.digest_enabled,
            _ => false,
        }
    }

    /// Handles an auth packet: on success the connection gains the ids the
    /// scheme grants (`super_digest` is the server's
    /// zookeeper.DigestAuthenticationProvider.superDigest). False means
    /// AUTHFAILED (unknown scheme or refused).
    pub fn handle_authentication(
        &self,
        super_digest: Option<&str>,
        cnxn: &dyn ServerCnxn,
        scheme: &str,
        auth: &[u8],
    ) -> bool {
        if !self.is_registered(scheme) {
            return false;
        }
        match scheme {
            "digest" => {
                digest_authentication_provider::handle_authentication(super_digest, cnxn, auth)
            }
            "ip" => {
                ip_authentication_provider::handle_authentication(cnxn);
                true
            }
            _ => false,
        }
    }

    /// Whether a caller's id of `scheme` matches an ACL entry's id.
    pub fn matches(&self, scheme: &str, id: &str, acl_expr: &str) -> bool {
        if !self.is_registered(scheme) {
            return false;
        }
        match scheme {
            "digest" => id == acl_expr,
            "ip" => ip_authentication_provider::matches(id, acl_expr),
            _ => false,
        }
    }

    /// Whether an ACL id is well formed for its scheme (fixupACL's check).
    pub fn is_valid(&self, scheme: &str, id: &str) -> bool {
        if !self.is_registered(scheme) {
            return false;
        }
        match scheme {
            "digest" => digest_authentication_provider::is_valid(id),
            "ip" => ip_authentication_provider::is_valid(id),
            _ => false,
        }
    }

    /// The user name whoAmI reports for a caller's id (AuthUtil.getUser): the
    /// digest id up to its first ':', the ip id as it is, and "" for a scheme
    /// no provider is registered for (such as "super").
    pub fn user_name<'a>(&self, scheme: &str, id: &'a str) -> &'a str {
        if !self.is_registered(scheme) {
            return "";
        }
        match scheme {
            "digest" => id.split(':').next().unwrap_or(""),
            "ip" => id,
            _ => "",
        }
    }

    /// Whether ids of this scheme count as authenticated (for "auth" ACLs).
    pub fn is_authenticated(&self, scheme: &str) -> bool {
        scheme == "digest" && self.is_registered(scheme)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_as_who_am_i_shows_them() {
        let r = ProviderRegistry::default();
        assert_eq!(r.user_name("digest", "u1:iMa4jTJUXtsOZxv2bTb8Lfyby5M="), "u1");
        assert_eq!(r.user_name("digest", ":abc"), "");
        assert_eq!(r.user_name("digest", "nocolon"), "nocolon");
        assert_eq!(r.user_name("ip", "127.0.0.1"), "127.0.0.1");
        assert_eq!(r.user_name("super", ""), "");
    }

    #[test]
    fn a_disabled_digest_provider_knows_nothing_of_digest() {
        let on = ProviderRegistry::default();
        let off = ProviderRegistry::new(false);
        assert!(on.matches("digest", "u:x", "u:x") && !off.matches("digest", "u:x", "u:x"));
        assert!(on.is_valid("digest", "u:x") && !off.is_valid("digest", "u:x"));
        assert!(on.is_authenticated("digest") && !off.is_authenticated("digest"));
        assert!(off.matches("ip", "127.0.0.1", "127.0.0.0/8"));
        assert!(!on.is_registered("sasl") && !on.is_registered("super"));
    }
}
