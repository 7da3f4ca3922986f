//! ZooKeeperSaslServer: one client connection's SASL negotiation on the
//! client port, and (`configure_sasl_login`, Java's
//! ServerCnxnFactory.configureSaslLogin and its Login) the server's SASL
//! login read at start-up from the JAAS file that
//! `java.security.auth.login.config` names, section
//! `zookeeper.sasl.serverconfig` (default "Server").
//!
//! As in Java the mechanism follows from the section: a Krb5LoginModule
//! entry (keyTab, principal `service/host@REALM`) makes a GSSAPI server
//! accepting for that principal with the keytab's keys; otherwise
//! DigestLoginModule entries make a DIGEST-MD5 server (protocol
//! "zookeeper", server name and realm "zk-sasl-md5") whose users are the
//! section's `user_<name>` options. Each connection gets its negotiation
//! on its first SASL packet; the NIO worker serving that connection feeds
//! it the client's tokens (`ZooKeeperServer::process_sasl`).

use crate::common::jaas_configuration::{AppConfigurationEntry, JaasConfiguration};
use crate::quorum::quorum_peer_config::system_properties::SystemProperties;
use crate::quorum::quorum_peer_config::ConfigError;
use crate::server::auth::digest_md5_server::DigestMd5Server;
use crate::server::auth::gss_api::AcceptorCredential;
use crate::server::auth::gss_krb5_server::GssKrb5Server;
use crate::server::auth::sasl_server_callback_handler::SaslServerCallbackHandler;
use base64::Engine;
use std::path::Path;
use std::sync::Arc;

pub const LOGIN_CONTEXT_NAME_KEY: &str = "zookeeper.sasl.serverconfig";
pub const DEFAULT_LOGIN_CONTEXT_NAME: &str = "Server";
/// Environment.JAAS_CONF_KEY.
pub const JAAS_CONF_KEY: &str = "java.security.auth.login.config";

pub const DIGEST_LOGIN_MODULE: &str = "org.apache.zookeeper.server.auth.DigestLoginModule";
pub const KRB5_LOGIN_MODULE: &str = "com.sun.security.auth.module.Krb5LoginModule";

/// The JDK's KDC list property (instead of a krb5.conf).
const KRB5_KDC_KEY: &str = "java.security.krb5.kdc";

/// The bytes of a DIGEST-MD5 nonce before base64, as the JDK draws them.
const RAW_NONCE_SIZE: usize = 30;

/// The server's SASL login (Java's Login and the factory's callback
/// handler): what every connection's negotiation needs.
#[derive(Debug)]
pub struct Login {
    pub callback_handler: SaslServerCallbackHandler,
    pub mechanism: LoginMechanism,
}

#[derive(Debug)]
pub enum LoginMechanism {
    DigestMd5,
    /// Kerberos: the principal from the JAAS section and the acceptor
    /// credentials for it.
    Gssapi { principal: String, credential: AcceptorCredential },
}

impl PartialEq for Login {
    fn eq(&self, other: &Login) -> bool {
        self.callback_handler == other.callback_handler
            && match (&self.mechanism, &other.mechanism) {
                (LoginMechanism::DigestMd5, LoginMechanism::DigestMd5) => true,
                (LoginMechanism::Gssapi { principal: a, .. }, LoginMechanism::Gssapi { principal: b, .. }) => a == b,
                _ => false,
            }
    }
}

impl Eq for Login {}

/// configureSaslLogin: the server's SASL login, or None when SASL is off
/// (no JAAS file, or no such section in it). A JAAS file that cannot be
/// read or parsed, or a section the server cannot log in with, refuses
/// start-up.
pub fn configure_sasl_login(props: &SystemProperties) -> Result<Option<Arc<Login>>, ConfigError> {
    let section = props.string_or(LOGIN_CONTEXT_NAME_KEY, DEFAULT_LOGIN_CONTEXT_NAME);
    let Some(file) = props.string(JAAS_CONF_KEY) else {
        if props.string(LOGIN_CONTEXT_NAME_KEY).is_some() {
            tracing::warn!("{LOGIN_CONTEXT_NAME_KEY} is set but {JAAS_CONF_KEY} is not: SASL is off");
        }
        return Ok(None);
    };
    let jaas = JaasConfiguration::read(Path::new(&file)).map_err(|e| {
        props.refused(
            JAAS_CONF_KEY,
            &format!("No JAAS configuration section named '{section}' was found in '{file}': {e}"),
        )
    })?;
    let Some(entries) = jaas.entries(&section) else {
        tracing::info!("No JAAS configuration section named '{section}' in '{file}': the client port has no SASL");
        return Ok(None);
    };
    let refuse = |why: String| {
        props.refused(
            JAAS_CONF_KEY,
            &format!(
                "Could not configure server because SASL configuration did not allow the ZooKeeper server to \
                 authenticate itself properly: section '{section}' of '{file}': {why}"
            ),
        )
    };
    let mut kerberos = None;
    for entry in entries {
        match entry.login_module_name.as_str() {
            DIGEST_LOGIN_MODULE => {}
            KRB5_LOGIN_MODULE => kerberos = Some(entry),
            other => {
                return Err(refuse(format!(
                    "login module {other} is not available (zkserver has {DIGEST_LOGIN_MODULE} and {KRB5_LOGIN_MODULE})"
                )))
            }
        }
    }
    let callback_handler = SaslServerCallbackHandler::new(entries, props);
    let mechanism = match kerberos {
        Some(entry) => kerberos_login(entry, props).map_err(refuse)?,
        None => LoginMechanism::DigestMd5,
    };
    match &mechanism {
        LoginMechanism::DigestMd5 => tracing::info!(
            "SASL on the client port: DIGEST-MD5 with {} user(s) from section '{section}' of '{file}'",
            callback_handler.user_count()
        ),
        LoginMechanism::Gssapi { principal, .. } => {
            tracing::info!("SASL on the client port: GSSAPI (Kerberos) as {principal} from section '{section}' of '{file}'")
        }
    }
    Ok(Some(Arc::new(Login { callback_handler, mechanism })))
}

/// The Krb5LoginModule entry's keytab login: `keyTab` and `principal`,
/// which must be `service/host[@REALM]` as Java's createSaslServer splits
/// it; the acceptor takes the principal as written (no DNS
/// canonicalization of the host).
fn kerberos_login(entry: &AppConfigurationEntry, props: &SystemProperties) -> Result<LoginMechanism, String> {
    let (keytab, principal) = keytab_login(entry, props)?;
    service_and_host(principal)?;
    let credential = AcceptorCredential::acquire(principal, keytab)?;
    Ok(LoginMechanism::Gssapi { principal: principal.to_string(), credential })
}

/// What a Krb5LoginModule entry logs in with: (keyTab, principal).
/// zkserver logs in only from a keytab (useKeyTab=true); storeKey, which a
/// JDK acceptor needs to keep the keys, makes no difference (the keys are
/// read from the keytab either way). The KDCs come from a krb5.conf
/// (`java.security.krb5.conf`, else MIT's default): the JDK's alternative,
/// `java.security.krb5.kdc` with `java.security.krb5.realm`, is refused.
pub fn keytab_login<'a>(
    entry: &'a AppConfigurationEntry,
    props: &SystemProperties,
) -> Result<(&'a str, &'a str), String> {
    if props.string(KRB5_KDC_KEY).is_some() {
        return Err(format!(
            "{KRB5_KDC_KEY} is not supported: name the KDC in a krb5.conf (given by java.security.krb5.conf)"
        ));
    }
    if entry.option("useKeyTab") != Some("true") {
        return Err(format!("{KRB5_LOGIN_MODULE} needs useKeyTab=true (zkserver logs in only from a keytab)"));
    }
    let keytab = entry.option("keyTab").ok_or_else(|| format!("{KRB5_LOGIN_MODULE} has no keyTab option"))?;
    let principal = entry.option("principal").ok_or_else(|| format!("{KRB5_LOGIN_MODULE} has no principal option"))?;
    Ok((keytab, principal))
}

/// A service principal `service/host[@REALM]` split as Java splits it:
/// (service, host).
pub fn service_and_host(principal: &str) -> Result<(&str, &str), String> {
    let Some((service, rest)) = principal.split_once('/') else {
        return Err(format!("principal {principal:?} is not of the form service/host@REALM"));
    };
    let host = rest.split('@').next().unwrap_or(rest);
    if service.is_empty() || host.is_empty() {
        return Err(format!("principal {principal:?} is not of the form service/host@REALM"));
    }
    Ok((service, host))
}

#[derive(Debug)]
enum Mechanism {
    DigestMd5(DigestMd5Server),
    Gssapi(GssKrb5Server),
}

/// One connection's negotiation.
#[derive(Debug)]
pub struct ZooKeeperSaslServer {
    mechanism: Mechanism,
}

impl ZooKeeperSaslServer {
    /// A new negotiation with the login's mechanism; fails only when the
    /// kernel gives no randomness for a nonce or GSS-API is unavailable.
    pub fn new(login: &Login) -> Result<ZooKeeperSaslServer, String> {
        let mechanism = match login.mechanism {
            LoginMechanism::DigestMd5 => {
                Mechanism::DigestMd5(DigestMd5Server::new("zookeeper", "zk-sasl-md5", digest_nonce()?))
            }
            LoginMechanism::Gssapi { .. } => Mechanism::Gssapi(GssKrb5Server::new()?),
        };
        Ok(ZooKeeperSaslServer { mechanism })
    }

    /// The token for the client (None: SetSASLResponse with no token).
    pub fn evaluate_response(&mut self, token: &[u8], login: &Login) -> Result<Option<Vec<u8>>, String> {
        match (&mut self.mechanism, &login.mechanism) {
            (Mechanism::DigestMd5(m), _) => m.evaluate_response(token, &login.callback_handler).map(Some),
            (Mechanism::Gssapi(m), LoginMechanism::Gssapi { credential, .. }) => {
                m.evaluate_response(token, credential, &|a, b| login.callback_handler.authorize(a, b))
            }
            (Mechanism::Gssapi(_), LoginMechanism::DigestMd5) => Err("GSSAPI without Kerberos credentials".to_string()),
        }
    }

    /// The authorization id, once the negotiation has succeeded.
    pub fn authorization_id(&self) -> Option<&str> {
        match &self.mechanism {
            Mechanism::DigestMd5(m) => m.authorization_id(),
            Mechanism::Gssapi(m) => m.authorization_id(),
        }
    }
}

/// A fresh DIGEST-MD5 nonce (or cnonce) as the JDK draws them: random
/// bytes, base64; fails only when the kernel gives no randomness.
pub(crate) fn digest_nonce() -> Result<Vec<u8>, String> {
    let mut raw = [0u8; RAW_NONCE_SIZE];
    fill_random(&mut raw)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(raw).into_bytes())
}

/// Fills `buf` from the kernel's random source (getrandom(2)); a nonce
/// must not be guessable.
fn fill_random(buf: &mut [u8]) -> Result<(), String> {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: the pointer and length describe `rest`, which lives
        // across the call.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n > 0 {
            filled += n as usize;
        } else {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(format!("no random bytes for a DIGEST-MD5 nonce: {e}"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn props_with_file(text: &str, extra: &[(&str, &str)]) -> (tempfile::NamedTempFile, SystemProperties) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        let path = f.path().to_str().unwrap().to_string();
        let mut pairs: Vec<(String, String)> = vec![(JAAS_CONF_KEY.to_string(), path)];
        pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        (f, SystemProperties::new(pairs, Vec::new()))
    }

    #[test]
    fn the_login_follows_the_jaas_file() {
        assert!(configure_sasl_login(&SystemProperties::of(&[])).unwrap().is_none());
        let digest = "Server { org.apache.zookeeper.server.auth.DigestLoginModule required user_bob=\"pw\"; };";
        let (_f, p) = props_with_file(digest, &[]);
        let login = configure_sasl_login(&p).unwrap().unwrap();
        assert_eq!(login.callback_handler.password("bob"), Some("pw"));
        assert!(matches!(login.mechanism, LoginMechanism::DigestMd5));
        // Another section name: this file has none, so SASL is off.
        let (_f, p) = props_with_file(digest, &[(LOGIN_CONTEXT_NAME_KEY, "ZkServer")]);
        assert!(configure_sasl_login(&p).unwrap().is_none());

        for (options, wanted) in [
            ("keyTab=\"/k\" principal=\"zk/h@R\"", "useKeyTab=true"),
            ("useKeyTab=true principal=\"zk/h@R\"", "no keyTab"),
            ("useKeyTab=true keyTab=\"/k\"", "no principal"),
            ("useKeyTab=true keyTab=\"/k\" principal=\"zk@R\"", "service/host@REALM"),
            ("useKeyTab=true keyTab=\"/nonexistent.keytab\" principal=\"zk/h@R\"", "/nonexistent.keytab"),
        ] {
            let krb = format!("Server {{ {KRB5_LOGIN_MODULE} required {options}; }};");
            let (_f, p) = props_with_file(&krb, &[]);
            let e = configure_sasl_login(&p).unwrap_err().to_string();
            assert!(e.contains(JAAS_CONF_KEY) && e.contains(wanted), "{e}");
        }
        let krb = format!("Server {{ {KRB5_LOGIN_MODULE} required useKeyTab=true keyTab=\"/k\" principal=\"zk/h@R\"; }};");
        let (_f, p) = props_with_file(&krb, &[(KRB5_KDC_KEY, "kdc.example.com")]);
        let e = configure_sasl_login(&p).unwrap_err().to_string();
        assert!(e.contains("java.security.krb5.kdc is not supported"), "{e}");
        let (_f, p) = props_with_file("Server { com.example.Other required; };", &[]);
        let e = configure_sasl_login(&p).unwrap_err().to_string();
        assert!(e.contains("com.example.Other"), "{e}");
        let (_f, p) = props_with_file("Server { oops", &[]);
        let e = configure_sasl_login(&p).unwrap_err().to_string();
        assert!(e.contains("No JAAS configuration section named 'Server'"), "{e}");
        let p = SystemProperties::of(&[(JAAS_CONF_KEY, "/nonexistent/jaas.conf")]);
        let e = configure_sasl_login(&p).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/jaas.conf"), "{e}");
    }

    #[test]
    fn nonces_differ_between_connections() {
        let login = Login {
            callback_handler: SaslServerCallbackHandler::for_tests(&[]),
            mechanism: LoginMechanism::DigestMd5,
        };
        let mut a = ZooKeeperSaslServer::new(&login).unwrap();
        let mut b = ZooKeeperSaslServer::new(&login).unwrap();
        let ca = a.evaluate_response(b"", &login).unwrap().unwrap();
        let cb = b.evaluate_response(b"", &login).unwrap().unwrap();
        assert_ne!(ca, cb);
        assert_eq!(ca.len(), cb.len());
    }
}
