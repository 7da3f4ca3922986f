//! SaslQuorumServerCallbackHandler: what the quorum's DIGEST-MD5 server
//! asks about a learner. The users and passwords are the `user_<name>`
//! options of the JAAS QuorumServer section; a learner is authorized when
//! its authorization id is its authentication id and, for a
//! `service/host@REALM` name, the host is one of the members' host names.
//! Built once by QuorumPeer.initialize, shared read-only by the threads
//! that accept quorum connections.

use crate::common::jaas_configuration::AppConfigurationEntry;
use crate::server::auth::digest_md5_server::DigestMd5Callbacks;
use std::collections::BTreeSet;

const USER_PREFIX: &str = "user_";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslQuorumServerCallbackHandler {
    /// user -> password, a later option replacing an earlier one.
    credentials: Vec<(String, String)>,
    /// The members' host names (Java's authzHosts).
    authz_hosts: BTreeSet<String>,
}

impl SaslQuorumServerCallbackHandler {
    pub fn new(entries: &[AppConfigurationEntry], authz_hosts: BTreeSet<String>) -> SaslQuorumServerCallbackHandler {
        let mut credentials: Vec<(String, String)> = Vec::new();
        for (k, v) in entries.iter().flat_map(|e| &e.options) {
            if let Some(user) = k.strip_prefix(USER_PREFIX) {
                credentials.retain(|(u, _)| u != user);
                credentials.push((user.to_string(), v.clone()));
            }
        }
        SaslQuorumServerCallbackHandler { credentials, authz_hosts }
    }

    pub fn user_count(&self) -> usize {
        self.credentials.len()
    }
}

impl DigestMd5Callbacks for SaslQuorumServerCallbackHandler {
    fn password(&self, user: &str) -> Option<&str> {
        let found = self.credentials.iter().find(|(u, _)| u == user).map(|(_, p)| p.as_str());
        if found.is_none() {
            tracing::warn!("User '{user}' not found in list of DIGEST-MD5 authenticateable users.");
        }
        found
    }

    fn authorize(&self, authentication_id: &str, authorization_id: &str) -> Result<String, String> {
        let mut authorized = authentication_id == authorization_id;
        if authorized {
            let components: Vec<&str> = authorization_id.split(['/', '@']).collect();
            if components.len() == 3 {
                authorized = self.authz_hosts.contains(components[1]);
            }
            if !authorized {
                tracing::error!(
                    "SASL authorization completed, {} is not authorized to connect",
                    components.get(1).unwrap_or(&"")
                );
            }
        }
        if !authorized {
            return Err(format!("DIGEST-MD5: {authentication_id} is not authorized to act as {authorization_id}"));
        }
        tracing::info!(
            "Successfully authenticated learner: authenticationID={authentication_id};  authorizationID={authorization_id}."
        );
        Ok(authorization_id.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_authorization_as_java() {
        let entry = AppConfigurationEntry {
            login_module_name: "m".into(),
            control_flag: "required".into(),
            options: vec![("user_a".into(), "1".into()), ("username".into(), "x".into()), ("user_a".into(), "2".into())],
        };
        let h = SaslQuorumServerCallbackHandler::new(&[entry], BTreeSet::from(["h1".to_string()]));
        assert_eq!(h.user_count(), 1);
        assert_eq!(h.password("a"), Some("2"));
        assert_eq!(h.password("username"), None);
        assert!(h.authorize("a", "a").is_ok());
        assert!(h.authorize("a", "b").is_err());
        assert!(h.authorize("zk/h1@R", "zk/h1@R").is_ok());
        assert!(h.authorize("zk/h2@R", "zk/h2@R").is_err());
    }
}
