//! SASLAuthenticationProvider: the `sasl` ACL scheme, registered when a
//! `zookeeper.authProvider.*` property names its class. Ids come only from a
//! SASL negotiation (an auth packet for "sasl" fails); an id matches an ACL
//! entry of the same name, and so does the id "super" and, with
//! zookeeper.letAnySaslUserDoX set, any sasl id for the entry it names.
//! Consulted by the ProcessThread (fixupACL) and every thread that checks
//! an ACL.

use crate::server::auth::kerberos_name::KerberosName;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SaslAuthenticationProvider {
    /// zookeeper.letAnySaslUserDoX.
    pub let_any_sasl_user_do_x: Option<String>,
}

impl SaslAuthenticationProvider {
    pub fn matches(&self, id: &str, acl_expr: &str) -> bool {
        id == "super" || id == acl_expr || self.let_any_sasl_user_do_x.as_deref() == Some(acl_expr)
    }

    /// A valid sasl ACL id is a well-formed Kerberos name.
    pub fn is_valid(id: &str) -> bool {
        KerberosName::parse(id).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_and_validity() {
        let p = SaslAuthenticationProvider::default();
        assert!(p.matches("bob", "bob") && p.matches("super", "bob") && !p.matches("alice", "bob"));
        let p = SaslAuthenticationProvider { let_any_sasl_user_do_x: Some("shared".into()) };
        assert!(p.matches("alice", "shared") && !p.matches("alice", "bob"));
        assert!(SaslAuthenticationProvider::is_valid("zk/host@EXAMPLE.COM"));
        assert!(SaslAuthenticationProvider::is_valid("bob"));
        assert!(!SaslAuthenticationProvider::is_valid("a@b@c"));
    }
}
