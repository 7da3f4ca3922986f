//! SaslServerCallbackHandler: what the SASL mechanisms ask the server
//! about a client. The DIGEST-MD5 users and passwords (the `user_<name>`
//! options of the JAAS `Server` section; `super`'s password may come from
//! zookeeper.SASLAuthenticationProvider.superPassword instead), and the
//! authorization id an authenticated client gets: its principal shortened
//! by the DEFAULT auth_to_local rule, with the host and realm put back
//! unless zookeeper.kerberos.removeHostFromPrincipal /
//! removeRealmFromPrincipal are "true". Built once at start-up, shared
//! read-only by the NIO workers.

use crate::common::jaas_configuration::AppConfigurationEntry;
use crate::quorum::quorum_peer_config::system_properties::SystemProperties;
use crate::server::auth::kerberos_name::{self, KerberosName};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslServerCallbackHandler {
    /// user -> password, from the `user_<name>` options.
    credentials: Vec<(String, String)>,
    super_password: Option<String>,
    remove_host: bool,
    remove_realm: bool,
    default_realm: String,
}

const USER_PREFIX: &str = "user_";

impl SaslServerCallbackHandler {
    pub fn new(entries: &[AppConfigurationEntry], props: &SystemProperties) -> SaslServerCallbackHandler {
        let mut credentials: Vec<(String, String)> = Vec::new();
        for entry in entries {
            for (k, v) in &entry.options {
                if let Some(user) = k.strip_prefix(USER_PREFIX) {
                    credentials.retain(|(u, _)| u != user);
                    credentials.push((user.to_string(), v.clone()));
                }
            }
        }
        SaslServerCallbackHandler {
            credentials,
            super_password: props.string("zookeeper.SASLAuthenticationProvider.superPassword"),
            remove_host: props.equals("zookeeper.kerberos.removeHostFromPrincipal", "true") == Some(true),
            remove_realm: props.equals("zookeeper.kerberos.removeRealmFromPrincipal", "true") == Some(true),
            default_realm: kerberos_name::default_realm(props),
        }
    }

    #[cfg(test)]
    pub fn for_tests(users: &[(&str, &str)]) -> SaslServerCallbackHandler {
        SaslServerCallbackHandler {
            credentials: users.iter().map(|(u, p)| (u.to_string(), p.to_string())).collect(),
            super_password: None,
            remove_host: false,
            remove_realm: false,
            default_realm: String::new(),
        }
    }

    /// How many DIGEST-MD5 users the section names.
    pub fn user_count(&self) -> usize {
        self.credentials.len()
    }

    /// The Name and Password callbacks: the password of a known user.
    pub fn password(&self, user: &str) -> Option<&str> {
        let Some((_, password)) = self.credentials.iter().find(|(u, _)| u == user) else {
            tracing::warn!("User '{user}' not found in list of DIGEST-MD5 authenticateable users.");
            return None;
        };
        match &self.super_password {
            Some(p) if user == "super" => Some(p),
            _ => Some(password),
        }
    }

    /// The Authorize callback: every authenticated client is authorized; its
    /// id is the authentication id after the Kerberos name rules (the
    /// client's authorization id when no rule applies). A malformed
    /// Kerberos name fails the negotiation.
    pub fn authorize(&self, authentication_id: &str, authorization_id: &str) -> Result<String, String> {
        tracing::info!(
            "Successfully authenticated client: authenticationID={authentication_id};  authorizationID={authorization_id}."
        );
        let name = KerberosName::parse(authentication_id)
            .ok_or_else(|| format!("Malformed Kerberos name: {authentication_id}"))?;
        let Some(short) = name.short_name(&self.default_realm) else {
            tracing::error!("Failed to set name based on Kerberos authentication rules: no rules applied to {name}");
            return Ok(authorization_id.to_string());
        };
        let mut id = short;
        if let (false, Some(h)) = (self.remove_host, &name.host_name) {
            id.push('/');
            id.push_str(h);
        }
        if let (false, Some(r)) = (self.remove_realm, &name.realm) {
            id.push('@');
            id.push_str(r);
        }
        tracing::info!("Setting authorizedID: {id}");
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(options: &[(&str, &str)]) -> AppConfigurationEntry {
        AppConfigurationEntry {
            login_module_name: "org.apache.zookeeper.server.auth.DigestLoginModule".into(),
            control_flag: "REQUIRED".into(),
            options: options.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn users_come_from_user_options() {
        let e = [entry(&[("user_bob", "b1"), ("debug", "true"), ("user_super", "s")]), entry(&[("user_bob", "b2")])];
        let h = SaslServerCallbackHandler::new(&e, &SystemProperties::of(&[]));
        assert_eq!(h.user_count(), 2);
        assert_eq!(h.password("bob"), Some("b2"));
        assert_eq!(h.password("super"), Some("s"));
        assert_eq!(h.password("debug"), None);
        let p = SystemProperties::of(&[("zookeeper.SASLAuthenticationProvider.superPassword", "S2")]);
        let h = SaslServerCallbackHandler::new(&e, &p);
        assert_eq!(h.password("super"), Some("S2"));
    }

    #[test]
    fn authorization_ids_follow_the_remove_rules() {
        let with = |pairs: &[(&str, &str)]| {
            let mut all = vec![("java.security.krb5.realm", "EXAMPLE.COM")];
            all.extend_from_slice(pairs);
            SaslServerCallbackHandler::new(&[], &SystemProperties::of(&all))
        };
        let h = with(&[]);
        assert_eq!(h.authorize("bob", "bob").unwrap(), "bob");
        assert_eq!(h.authorize("zk/host@EXAMPLE.COM", "x").unwrap(), "zk/host@EXAMPLE.COM");
        assert_eq!(h.authorize("bob@OTHER.ORG", "bob@OTHER.ORG").unwrap(), "bob@OTHER.ORG");
        assert!(h.authorize("a@b@c", "a@b@c").is_err());
        let h = with(&[("zookeeper.kerberos.removeHostFromPrincipal", "true")]);
        assert_eq!(h.authorize("zk/host@EXAMPLE.COM", "x").unwrap(), "zk@EXAMPLE.COM");
        let h = with(&[("kerberos.removeHostFromPrincipal", "true"), ("kerberos.removeRealmFromPrincipal", "true")]);
        assert_eq!(h.authorize("zk/host@EXAMPLE.COM", "x").unwrap(), "zk");
        // Java compares with "true" exactly.
        let h = with(&[("zookeeper.kerberos.removeRealmFromPrincipal", "TRUE")]);
        assert_eq!(h.authorize("bob@EXAMPLE.COM", "x").unwrap(), "bob@EXAMPLE.COM");
    }
}
