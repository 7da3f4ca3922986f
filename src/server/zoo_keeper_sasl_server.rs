//! ZooKeeperSaslServer: one client connection's SASL negotiation on the
//! client port, and (`configure_sasl_login`, Java's
//! ServerCnxnFactory.configureSaslLogin) the server's SASL login read at
//! start-up from the JAAS file that `java.security.auth.login.config`
//! names, section `zookeeper.sasl.serverconfig` (default "Server").
//!
//! As in Java the mechanism follows from the section: DigestLoginModule
//! entries make a DIGEST-MD5 server (protocol "zookeeper", server name and
//! realm "zk-sasl-md5") whose users are the section's `user_<name>` options.
//! A Kerberos (GSSAPI) section is refused at start-up. Each connection gets
//! its negotiation on its first SASL packet; the NIO worker serving that
//! connection feeds it the client's tokens (`ZooKeeperServer::process_sasl`).

use crate::common::jaas_configuration::JaasConfiguration;
use crate::quorum::quorum_peer_config::system_properties::SystemProperties;
use crate::quorum::quorum_peer_config::ConfigError;
use crate::server::auth::digest_md5_server::DigestMd5Server;
use crate::server::auth::sasl_server_callback_handler::SaslServerCallbackHandler;
use base64::Engine;
use std::path::Path;
use std::sync::Arc;

pub const LOGIN_CONTEXT_NAME_KEY: &str = "zookeeper.sasl.serverconfig";
pub const DEFAULT_LOGIN_CONTEXT_NAME: &str = "Server";
/// Environment.JAAS_CONF_KEY.
pub const JAAS_CONF_KEY: &str = "java.security.auth.login.config";

const DIGEST_LOGIN_MODULE: &str = "org.apache.zookeeper.server.auth.DigestLoginModule";
const KRB5_LOGIN_MODULE: &str = "com.sun.security.auth.module.Krb5LoginModule";

/// The bytes of a DIGEST-MD5 nonce before base64, as the JDK draws them.
const RAW_NONCE_SIZE: usize = 30;

/// configureSaslLogin: the callback handler of the server's SASL login, or
/// None when SASL is off (no JAAS file, or no such section in it). A JAAS
/// file that cannot be read or parsed, or a section the server cannot log
/// in with, refuses start-up.
pub fn configure_sasl_login(props: &SystemProperties) -> Result<Option<Arc<SaslServerCallbackHandler>>, ConfigError> {
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
    for entry in entries {
        match entry.login_module_name.as_str() {
            DIGEST_LOGIN_MODULE => {}
            KRB5_LOGIN_MODULE => {
                return Err(props.refused(
                    JAAS_CONF_KEY,
                    &format!(
                        "section '{section}' of '{file}' names {KRB5_LOGIN_MODULE}: Kerberos (GSSAPI) is not \
                         supported by zkserver, only DIGEST-MD5 ({DIGEST_LOGIN_MODULE})"
                    ),
                ))
            }
            other => {
                return Err(props.refused(
                    JAAS_CONF_KEY,
                    &format!(
                        "section '{section}' of '{file}' names login module {other}, which zkserver does not have \
                         (only {DIGEST_LOGIN_MODULE}): the server cannot authenticate itself"
                    ),
                ))
            }
        }
    }
    let handler = SaslServerCallbackHandler::new(entries, props);
    tracing::info!(
        "SASL on the client port: DIGEST-MD5 with {} user(s) from section '{section}' of '{file}'",
        handler.user_count()
    );
    Ok(Some(Arc::new(handler)))
}

/// One connection's negotiation.
#[derive(Debug)]
pub struct ZooKeeperSaslServer {
    mechanism: DigestMd5Server,
}

impl ZooKeeperSaslServer {
    /// A new negotiation; fails only when the kernel gives no randomness
    /// for the nonce.
    pub fn new() -> Result<ZooKeeperSaslServer, String> {
        let mut raw = [0u8; RAW_NONCE_SIZE];
        fill_random(&mut raw)?;
        let nonce = base64::engine::general_purpose::STANDARD.encode(raw).into_bytes();
        Ok(ZooKeeperSaslServer { mechanism: DigestMd5Server::new("zookeeper", "zk-sasl-md5", nonce) })
    }

    pub fn evaluate_response(&mut self, token: &[u8], handler: &SaslServerCallbackHandler) -> Result<Vec<u8>, String> {
        self.mechanism.evaluate_response(token, handler)
    }

    /// The authorization id, once the negotiation has succeeded.
    pub fn authorization_id(&self) -> Option<&str> {
        self.mechanism.authorization_id()
    }
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
        let h = configure_sasl_login(&p).unwrap().unwrap();
        assert_eq!(h.password("bob"), Some("pw"));
        // Another section name: this file has none, so SASL is off.
        let (_f, p) = props_with_file(digest, &[(LOGIN_CONTEXT_NAME_KEY, "ZkServer")]);
        assert!(configure_sasl_login(&p).unwrap().is_none());

        let krb = "Server { com.sun.security.auth.module.Krb5LoginModule required keyTab=\"/k\" principal=\"zk/h@R\"; };";
        let (_f, p) = props_with_file(krb, &[]);
        let e = configure_sasl_login(&p).unwrap_err().to_string();
        assert!(e.contains(JAAS_CONF_KEY) && e.contains(KRB5_LOGIN_MODULE), "{e}");
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
        let mut a = ZooKeeperSaslServer::new().unwrap();
        let mut b = ZooKeeperSaslServer::new().unwrap();
        let h = SaslServerCallbackHandler::for_tests(&[]);
        let ca = a.evaluate_response(b"", &h).unwrap();
        let cb = b.evaluate_response(b"", &h).unwrap();
        assert_ne!(ca, cb);
        assert_eq!(ca.len(), cb.len());
    }
}
