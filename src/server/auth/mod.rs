//! Authentication providers (ProviderRegistry): the schemes a client can
//! name in an auth packet or an ACL. Built in: world, ip, digest (and the
//! super digest; off with zookeeper.DigestAuthenticationProvider.enabled=false),
//! and "auth" as the ACL shorthand for the caller's ids; x509 (TLS client
//! certificates) when an authProvider.* names its class. Consulted by the NIO
//! workers (auth packets), the ProcessThread (fixupACL) and every thread that
//! checks an ACL.

pub mod digest_authentication_provider;
pub mod ip_authentication_provider;
pub mod x509_authentication_provider;

use crate::quorum::quorum_peer_config::system_properties::{normalize, SystemProperties};
use crate::quorum::quorum_peer_config::ConfigError;
use crate::server::server_cnxn::ServerCnxn;

/// The fully qualified Java class names of the providers zkserver has, as
/// `zookeeper.authProvider.*` may name them.
pub const IP_PROVIDER_CLASS: &str = "org.apache.zookeeper.server.auth.IPAuthenticationProvider";
pub const DIGEST_PROVIDER_CLASS: &str = "org.apache.zookeeper.server.auth.DigestAuthenticationProvider";

/// `zookeeper.authProvider.<anything>` names a provider class to load.
pub fn is_auth_provider_property(name: &str) -> bool {
    normalize(name).starts_with("authProvider.")
}

/// The system properties of the authentication providers (ProviderRegistry,
/// DigestAuthenticationProvider) and of AuthenticationHelper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    /// zookeeper.DigestAuthenticationProvider.superDigest ("super:<digest>").
    pub super_digest: Option<String>,
    /// The providers: digest unless zookeeper.DigestAuthenticationProvider.enabled
    /// is false, or whenever a zookeeper.authProvider.* names its class.
    pub providers: ProviderRegistry,
    /// zookeeper.enforce.auth.schemes when zookeeper.enforce.auth.enabled:
    /// a connection must hold an id of one of them before any request but
    /// auth and sasl is served.
    pub enforce_auth_schemes: Option<Vec<String>>,
}

impl AuthSettings {
    pub fn read(props: &SystemProperties) -> Result<AuthSettings, ConfigError> {
        let super_digest = props.string("zookeeper.DigestAuthenticationProvider.superDigest");
        let mut digest_enabled = props.boolean("zookeeper.DigestAuthenticationProvider.enabled", true);
        let mut x509_enabled = false;
        if let Some((k, v)) = props.lookup("zookeeper.DigestAuthenticationProvider.digestAlg") {
            if !v.eq_ignore_ascii_case("SHA1") && !v.eq_ignore_ascii_case("SHA-1") {
                return Err(ConfigError::bad_value(k, v, "is not supported (only SHA1)"));
            }
        }
        for (k, v) in props.all_pairs().filter(|(k, _)| is_auth_provider_property(k)) {
            match v {
                IP_PROVIDER_CLASS => {}
                DIGEST_PROVIDER_CLASS => digest_enabled = true,
                x509_authentication_provider::X509_PROVIDER_CLASS => x509_enabled = true,
                _ => {
                    return Err(ConfigError::bad_value(
                        k,
                        v,
                        "is not supported: zkserver's authentication providers are ip, digest and x509",
                    ))
                }
            }
        }
        let enforce_auth_enabled = props.boolean("zookeeper.enforce.auth.enabled", false);
        let enforce_auth_schemes: Vec<String> = props
            .string("zookeeper.enforce.auth.schemes")
            .map(|s| s.split(',').map(|scheme| scheme.trim().to_string()).collect())
            .unwrap_or_default();
        tracing::info!(
            "zookeeper.enforce.auth.enabled = {enforce_auth_enabled}, zookeeper.enforce.auth.schemes = {enforce_auth_schemes:?}"
        );
        let mut providers = ProviderRegistry::new(digest_enabled);
        if x509_enabled {
            providers.x509 = Some(X509Provider {
                super_user: props.string("zookeeper.X509AuthenticationProvider.superUser"),
            });
        }
        if enforce_auth_enabled {
            if enforce_auth_schemes.is_empty() {
                return Err(props.refused(
                    "zookeeper.enforce.auth.enabled",
                    "needs zookeeper.enforce.auth.schemes to be configured",
                ));
            }
            if let Some(missing) = enforce_auth_schemes.iter().find(|s| !providers.is_registered(s)) {
                return Err(props.refused(
                    "zookeeper.enforce.auth.schemes",
                    &format!("names authentication scheme {missing:?}, which is not available"),
                ));
            }
        }
        Ok(AuthSettings { super_digest, providers, enforce_auth_schemes: enforce_auth_enabled.then_some(enforce_auth_schemes) })
    }
}

/// Which schemes have a provider: ip always, digest unless disabled, x509
/// when configured. A scheme without one cannot be authenticated with, is
/// refused in new ACLs and matches no ACL entry, as in Java.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRegistry {
    digest_enabled: bool,
    x509: Option<X509Provider>,
}

/// The X509AuthenticationProvider's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X509Provider {
    /// zookeeper.X509AuthenticationProvider.superUser: the client id that is
    /// also super.
    pub super_user: Option<String>,
}

impl Default for ProviderRegistry {
    fn default() -> ProviderRegistry {
        ProviderRegistry { digest_enabled: true, x509: None }
    }
}

impl ProviderRegistry {
    pub fn new(digest_enabled: bool) -> ProviderRegistry {
        ProviderRegistry { digest_enabled, x509: None }
    }

    /// The x509 provider, when registered.
    pub fn x509(&self) -> Option<&X509Provider> {
        self.x509.as_ref()
    }

    /// getProvider(scheme) != null.
    pub fn is_registered(&self, scheme: &str) -> bool {
        match scheme {
            "ip" => true,
            "digest" => self.digest_enabled,
            x509_authentication_provider::SCHEME => self.x509.is_some(),
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
            x509_authentication_provider::SCHEME => x509_authentication_provider::handle_auth_packet(cnxn),
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
            x509_authentication_provider::SCHEME => x509_authentication_provider::matches(
                self.x509.as_ref().and_then(|x| x.super_user.as_deref()),
                id,
                acl_expr,
            ),
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
            x509_authentication_provider::SCHEME => x509_authentication_provider::is_valid(id),
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
            "ip" | x509_authentication_provider::SCHEME => id,
            _ => "",
        }
    }

    /// Whether ids of this scheme count as authenticated (for "auth" ACLs).
    pub fn is_authenticated(&self, scheme: &str) -> bool {
        (scheme == "digest" || scheme == x509_authentication_provider::SCHEME) && self.is_registered(scheme)
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
    fn settings_resolve_as_java_reads_them() {
        let read = |pairs: &[(&str, &str)]| AuthSettings::read(&SystemProperties::of(pairs));
        let s = read(&[]).unwrap();
        assert_eq!(s, AuthSettings { super_digest: None, providers: ProviderRegistry::default(), enforce_auth_schemes: None });
        let s = read(&[("enforce.auth.enabled", "true"), ("enforce.auth.schemes", " digest , ip")]).unwrap();
        assert_eq!(s.enforce_auth_schemes, Some(vec!["digest".to_string(), "ip".to_string()]));
        let s = read(&[("DigestAuthenticationProvider.superDigest", "super:abc=")]).unwrap();
        assert_eq!(s.super_digest.as_deref(), Some("super:abc="));
        let s = read(&[("zookeeper.DigestAuthenticationProvider.enabled", "false")]).unwrap();
        assert_eq!(s.providers, ProviderRegistry::new(false));
        // Naming the digest provider's class registers it all the same, in
        // zoo.cfg as on the command line.
        let file = vec![
            ("DigestAuthenticationProvider.enabled".to_string(), "false".to_string()),
            ("authProvider.1".to_string(), DIGEST_PROVIDER_CLASS.to_string()),
            ("authProvider.2".to_string(), IP_PROVIDER_CLASS.to_string()),
        ];
        assert_eq!(AuthSettings::read(&SystemProperties::new(Vec::new(), file)).unwrap().providers, ProviderRegistry::default());

        assert!(read(&[("enforce.auth.enabled", "true")]).unwrap_err().to_string().contains("zookeeper.enforce.auth.schemes"));
        let e = read(&[("enforce.auth.enabled", "true"), ("enforce.auth.schemes", "digest,sasl")]).unwrap_err().to_string();
        assert!(e.contains("enforce.auth.schemes") && e.contains("\"sasl\""), "{e}");
        let e = read(&[
            ("enforce.auth.enabled", "true"),
            ("enforce.auth.schemes", "digest"),
            ("zookeeper.DigestAuthenticationProvider.enabled", "false"),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("\"digest\""), "{e}");
        let e = read(&[("authProvider.sasl", "org.apache.zookeeper.server.auth.SASLAuthenticationProvider")]);
        let e = e.unwrap_err().to_string();
        assert!(e.starts_with("authProvider.sasl: ") && e.contains("not supported"), "{e}");
        let e = read(&[("zookeeper.DigestAuthenticationProvider.digestAlg", "SHA-256")]).unwrap_err().to_string();
        assert!(e.contains("only SHA1"), "{e}");
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
