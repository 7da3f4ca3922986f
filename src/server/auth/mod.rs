//! Authentication providers (ProviderRegistry): the schemes a client can
//! name in an auth packet or an ACL. Built in: world, ip, digest (and the
//! super digest; off with zookeeper.DigestAuthenticationProvider.enabled=false),
//! and "auth" as the ACL shorthand for the caller's ids; sasl and x509
//! (TLS client certificates) when a zookeeper.authProvider.* property names
//! their class. Consulted by the NIO
//! workers (auth and SASL packets), the ProcessThread (fixupACL) and every
//! thread that checks an ACL. The SASL mechanisms themselves (DIGEST-MD5,
//! GSSAPI) and the Kerberos name rules live here too.

pub mod digest_authentication_provider;
pub mod digest_md5_client;
pub mod digest_md5_server;
pub mod gss_api;
pub mod gss_krb5_client;
pub mod gss_krb5_server;
pub mod ip_authentication_provider;
pub mod kerberos_name;
pub mod sasl_authentication_provider;
pub mod sasl_server_callback_handler;
pub mod x509_authentication_provider;

use crate::quorum::quorum_peer_config::system_properties::{normalize, SystemProperties};
use crate::quorum::quorum_peer_config::ConfigError;
use crate::server::server_cnxn::ServerCnxn;
use crate::server::zoo_keeper_sasl_server;
use sasl_authentication_provider::SaslAuthenticationProvider;
use std::sync::Arc;
use zoo_keeper_sasl_server::Login;

/// The fully qualified Java class names of the providers zkserver has, as
/// `zookeeper.authProvider.*` may name them.
pub const IP_PROVIDER_CLASS: &str = "org.apache.zookeeper.server.auth.IPAuthenticationProvider";
pub const DIGEST_PROVIDER_CLASS: &str = "org.apache.zookeeper.server.auth.DigestAuthenticationProvider";
pub const SASL_PROVIDER_CLASS: &str = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider";

/// `zookeeper.authProvider.<anything>` names a provider class to load.
pub fn is_auth_provider_property(name: &str) -> bool {
    normalize(name).starts_with("authProvider.")
}

/// The system properties of the authentication providers (ProviderRegistry,
/// DigestAuthenticationProvider, SASLAuthenticationProvider), of
/// AuthenticationHelper and of SASL on the client port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    /// zookeeper.DigestAuthenticationProvider.superDigest ("super:<digest>").
    pub super_digest: Option<String>,
    /// The providers: digest unless zookeeper.DigestAuthenticationProvider.enabled
    /// is false, or whenever a zookeeper.authProvider.* names its class.
    pub providers: ProviderRegistry,
    /// zookeeper.enforce.auth.schemes when zookeeper.enforce.auth.enabled
    /// (just "sasl" with zookeeper.sessionRequireClientSASLAuth=true):
    /// a connection must hold an id of one of them before any request but
    /// auth and sasl is served.
    pub enforce_auth_schemes: Option<Vec<String>>,
    /// The server's SASL login (from the JAAS file), None when SASL is off.
    pub sasl_login: Option<Arc<Login>>,
    /// zookeeper.allowSaslFailedClients: a failed SASL negotiation leaves
    /// the connection open (unless SASL is required).
    pub allow_sasl_failed_clients: bool,
    /// The values of zookeeper.superUser and zookeeper.superUser.<anything>:
    /// SASL ids that are also granted super.
    pub super_users: Vec<String>,
}

impl AuthSettings {
    /// `secure_client_port`: a secureClientPort is configured, which (as
    /// QuorumPeerConfig.configureSSLAuth) registers the x509 provider when
    /// zookeeper.ssl.authProvider names x509 (its default) and no
    /// zookeeper.authProvider.x509 does, and refuses another scheme that
    /// no zookeeper.authProvider.<scheme> names.
    pub fn read(props: &SystemProperties, secure_client_port: bool) -> Result<AuthSettings, ConfigError> {
        let super_digest = props.string("zookeeper.DigestAuthenticationProvider.superDigest");
        let mut digest_enabled = props.boolean("zookeeper.DigestAuthenticationProvider.enabled", true);
        if let Some((k, v)) = props.lookup("zookeeper.DigestAuthenticationProvider.digestAlg") {
            if !v.eq_ignore_ascii_case("SHA1") && !v.eq_ignore_ascii_case("SHA-1") {
                return Err(ConfigError::bad_value(k, v, "is not supported (only SHA1)"));
            }
        }
        let mut sasl = None;
        let mut x509 = None;
        for (k, v) in props.all_pairs().filter(|(k, _)| is_auth_provider_property(k)) {
            match v {
                IP_PROVIDER_CLASS => {}
                DIGEST_PROVIDER_CLASS => digest_enabled = true,
                SASL_PROVIDER_CLASS => {
                    sasl = Some(SaslAuthenticationProvider {
                        let_any_sasl_user_do_x: props.string("zookeeper.letAnySaslUserDoX"),
                    })
                }
                x509_authentication_provider::X509_PROVIDER_CLASS => {
                    x509 = Some(X509Provider {
                        super_user: props.string("zookeeper.X509AuthenticationProvider.superUser"),
                    })
                }
                _ => {
                    return Err(ConfigError::bad_value(
                        k,
                        v,
                        "is not supported: zkserver's authentication providers are ip, digest, sasl and x509",
                    ))
                }
            }
        }
        if secure_client_port {
            let scheme = props.string_or("zookeeper.ssl.authProvider", "x509");
            if props.string(&format!("zookeeper.authProvider.{scheme}")).is_none() {
                if scheme != x509_authentication_provider::SCHEME {
                    return Err(props.refused(
                        "zookeeper.ssl.authProvider",
                        &format!("No auth provider configured for the SSL authentication scheme '{scheme}'"),
                    ));
                }
                x509 = Some(X509Provider { super_user: props.string("zookeeper.X509AuthenticationProvider.superUser") });
            }
        }
        let session_require_sasl = props.boolean("zookeeper.sessionRequireClientSASLAuth", false);
        let (enforce_auth_enabled, enforce_auth_schemes) =
            if session_require_sasl {
                (true, vec!["sasl".to_string()])
            } else {
                let schemes: Vec<String> = props
                    .string("zookeeper.enforce.auth.schemes")
                    .map(|s| s.split(',').map(|scheme| scheme.trim().to_string()).collect())
                    .unwrap_or_default();
                (props.boolean("zookeeper.enforce.auth.enabled", false), schemes)
            };
        tracing::info!(
            "zookeeper.enforce.auth.enabled = {enforce_auth_enabled}, zookeeper.enforce.auth.schemes = {enforce_auth_schemes:?}"
        );
        let providers = ProviderRegistry { digest_enabled, sasl, x509 };
        if enforce_auth_enabled {
            if enforce_auth_schemes.is_empty() {
                return Err(props.refused(
                    "zookeeper.enforce.auth.enabled",
                    "needs zookeeper.enforce.auth.schemes to be configured",
                ));
            }
            if let Some(missing) = enforce_auth_schemes.iter().find(|s| !providers.is_registered(s)) {
                let key = if session_require_sasl {
                    "zookeeper.sessionRequireClientSASLAuth"
                } else {
                    "zookeeper.enforce.auth.schemes"
                };
                return Err(props.refused(
                    key,
                    &format!("names authentication scheme {missing:?}, which is not available"),
                ));
            }
        }
        if let Some((k, v)) = props.lookup("zookeeper.security.auth_to_local") {
            if v.trim() != "DEFAULT" {
                return Err(ConfigError::bad_value(k, v, "is not supported: zkserver applies only the DEFAULT rule"));
            }
        }
        if props.equals("zookeeper.requireKerberosConfig", "true") == Some(true)
            && kerberos_name::configured_default_realm(props).is_none()
        {
            return Err(props.refused(
                "zookeeper.requireKerberosConfig",
                "Can't get Kerberos configuration: no java.security.krb5.realm, and no default_realm in \
                 java.security.krb5.conf (default /etc/krb5.conf)",
            ));
        }
        let super_users = props
            .all_pairs()
            .filter(|(k, _)| {
                let n = normalize(k);
                n == "superUser" || n.starts_with("superUser.")
            })
            .map(|(_, v)| v.to_string())
            .collect();
        Ok(AuthSettings {
            super_digest,
            providers,
            enforce_auth_schemes: enforce_auth_enabled.then_some(enforce_auth_schemes),
            sasl_login: zoo_keeper_sasl_server::configure_sasl_login(props)?,
            allow_sasl_failed_clients: props.boolean("zookeeper.allowSaslFailedClients", false),
            super_users,
        })
    }

    /// AuthenticationHelper.isSaslAuthRequired: enforcement names sasl.
    pub fn is_sasl_auth_required(&self) -> bool {
        self.enforce_auth_schemes.as_ref().is_some_and(|s| s.iter().any(|x| x == "sasl"))
    }

    /// isSaslSuperUser: a SASL id named by a zookeeper.superUser* property.
    pub fn is_sasl_super_user(&self, id: &str) -> bool {
        !id.is_empty() && self.super_users.iter().any(|u| u == id)
    }
}

/// Which schemes have a provider: ip always, digest unless disabled, sasl
/// and x509 when configured. A scheme without one cannot be authenticated
/// with, is refused in new ACLs and matches no ACL entry, as in Java.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRegistry {
    digest_enabled: bool,
    sasl: Option<SaslAuthenticationProvider>,
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
        ProviderRegistry { digest_enabled: true, sasl: None, x509: None }
    }
}

impl ProviderRegistry {
    pub fn new(digest_enabled: bool) -> ProviderRegistry {
        ProviderRegistry { digest_enabled, sasl: None, x509: None }
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
            "sasl" => self.sasl.is_some(),
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
            // sasl ids come only from a SASL negotiation.
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
            "sasl" => self.sasl.as_ref().is_some_and(|p| p.matches(id, acl_expr)),
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
            "sasl" => SaslAuthenticationProvider::is_valid(id),
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
            "ip" | "sasl" | x509_authentication_provider::SCHEME => id,
            _ => "",
        }
    }

    /// Whether ids of this scheme count as authenticated (for "auth" ACLs).
    pub fn is_authenticated(&self, scheme: &str) -> bool {
        matches!(scheme, "digest" | "sasl" | x509_authentication_provider::SCHEME) && self.is_registered(scheme)
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
        let read = |pairs: &[(&str, &str)]| AuthSettings::read(&SystemProperties::of(pairs), false);
        let s = read(&[]).unwrap();
        assert_eq!(
            s,
            AuthSettings {
                super_digest: None,
                providers: ProviderRegistry::default(),
                enforce_auth_schemes: None,
                sasl_login: None,
                allow_sasl_failed_clients: false,
                super_users: Vec::new(),
            }
        );
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
        assert_eq!(AuthSettings::read(&SystemProperties::new(Vec::new(), file), false).unwrap().providers, ProviderRegistry::default());

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
        let e = read(&[("authProvider.x", "org.example.CustomProvider")]);
        let e = e.unwrap_err().to_string();
        assert!(e.starts_with("authProvider.x: ") && e.contains("not supported"), "{e}");
        // A secureClientPort registers x509 by itself (configureSSLAuth),
        // and refuses an ssl.authProvider scheme nothing registers.
        let tls = |pairs: &[(&str, &str)]| AuthSettings::read(&SystemProperties::of(pairs), true);
        assert!(!read(&[]).unwrap().providers.is_registered("x509"));
        assert!(tls(&[]).unwrap().providers.is_registered("x509"));
        let e = tls(&[("ssl.authProvider", "custom")]).unwrap_err().to_string();
        assert!(e.contains("ssl.authProvider") && e.contains("'custom'"), "{e}");
        let s = tls(&[("ssl.authProvider", "digest"), ("authProvider.digest", DIGEST_PROVIDER_CLASS)]).unwrap();
        assert!(!s.providers.is_registered("x509"));
        let s = read(&[("authProvider.sasl", SASL_PROVIDER_CLASS), ("sessionRequireClientSASLAuth", "true")]).unwrap();
        assert!(s.providers.is_registered("sasl") && s.is_sasl_auth_required());
        assert_eq!(s.enforce_auth_schemes, Some(vec!["sasl".to_string()]));
        let e = read(&[("zookeeper.sessionRequireClientSASLAuth", "true")]).unwrap_err().to_string();
        assert!(e.starts_with("zookeeper.sessionRequireClientSASLAuth: ") && e.contains("\"sasl\""), "{e}");
        let s = read(&[("superUser", "admin"), ("zookeeper.superUser.2", "ops"), ("superUserX", "no")]).unwrap();
        assert!(s.is_sasl_super_user("admin") && s.is_sasl_super_user("ops") && !s.is_sasl_super_user("no"));
        assert!(read(&[("security.auth_to_local", " DEFAULT ")]).is_ok());
        let e = read(&[("zookeeper.security.auth_to_local", "RULE:[1:$1]")]).unwrap_err().to_string();
        assert!(e.starts_with("zookeeper.security.auth_to_local: ") && e.contains("DEFAULT"), "{e}");
        let krb_conf = ("java.security.krb5.conf", "/nonexistent/krb5.conf");
        let e = read(&[("requireKerberosConfig", "true"), krb_conf]).unwrap_err().to_string();
        assert!(e.starts_with("requireKerberosConfig: "), "{e}");
        assert!(read(&[("requireKerberosConfig", "true"), krb_conf, ("java.security.krb5.realm", "R")]).is_ok());
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
