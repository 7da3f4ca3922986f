//! X509Util / ClientX509Util: the client port's TLS settings (Java's
//! `zookeeper.ssl.*` keys, read with or without the `zookeeper.` prefix)
//! and the rustls ServerConfig made from them, which every new TLS
//! connection on the secure client port (or on the plain port with
//! client.portUnification) takes. Built at start-up on the main or
//! QuorumPeer thread; with zookeeper.client.certReload (Java 3.9's key) a
//! FileChangeWatcher thread rebuilds it when the key or trust store
//! changes on disk, and the connections made from then on use the new one.
//!
//! Keys: ssl.keyStore.{location,password,passwordPath,type},
//! ssl.trustStore.{location,password,passwordPath,type}, ssl.clientAuth
//! (need, want, none; default need), ssl.protocol (default TLSv1.2),
//! ssl.enabledProtocols (default: ssl.protocol), ssl.ciphersuites (Java's
//! names; default Java's list less the CBC suites rustls does not have),
//! ssl.hostnameVerification (only Java's client acts on it: a server does
//! not check client host names), ssl.handshakeDetectionTimeoutMillis
//! (default 5000: the time a TLS connection has to finish its handshake),
//! ssl.authProvider (default x509). Refused with a line naming the key:
//! ssl.crl / ssl.ocsp = true (no revocation checking),
//! ssl.context.supplier.class (a Java class), protocols other than TLSv1.2
//! and TLSv1.3, cipher suites rustls does not implement.

use crate::common::file_change_watcher::FileChangeWatcher;
use crate::common::file_key_store_loader::{load_key_store, load_trust_store, KeyStoreFileType};
use crate::quorum::quorum_peer_config::system_properties::SystemProperties;
use crate::quorum::quorum_peer_config::ConfigError;
use parking_lot::{Mutex, RwLock};
use rustls::crypto::ring as provider;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedCipherSuite, SupportedProtocolVersion};
use std::path::PathBuf;
use std::sync::{Arc, Weak};

/// X509Util.ClientAuth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    Want,
    Need,
}

/// One store's location, password and kind.
#[derive(Debug, Clone)]
pub struct StoreSpec {
    pub location: PathBuf,
    pub password: String,
    pub kind: KeyStoreFileType,
}

/// The client port's TLS settings, as read from the properties.
#[derive(Clone)]
pub struct SslSettings {
    pub key_store: Option<StoreSpec>,
    pub trust_store: Option<StoreSpec>,
    pub client_auth: ClientAuth,
    pub protocols: Vec<&'static SupportedProtocolVersion>,
    pub cipher_suites: Vec<SupportedCipherSuite>,
    /// ssl.handshakeDetectionTimeoutMillis.
    pub handshake_timeout_ms: i32,
    /// ssl.authProvider: the scheme a client certificate authenticates with.
    pub auth_provider: String,
    /// zookeeper.client.certReload.
    pub cert_reload: bool,
}

impl std::fmt::Debug for SslSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SslSettings")
            .field("key_store", &self.key_store.as_ref().map(|s| &s.location))
            .field("trust_store", &self.trust_store.as_ref().map(|s| &s.location))
            .field("client_auth", &self.client_auth)
            .field("protocols", &self.protocols)
            .field("cipher_suites", &self.cipher_suites)
            .field("handshake_timeout_ms", &self.handshake_timeout_ms)
            .finish()
    }
}

/// Java's DEFAULT_CIPHERS_JAVA9 (GCM first, then CBC); the CBC ones are
/// left out by default since rustls has none.
const JAVA_DEFAULT_CIPHERS: &[&str] = &[
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
];

/// The rustls suite a Java cipher suite name stands for.
fn cipher_suite(java_name: &str) -> Option<SupportedCipherSuite> {
    let name = java_name.trim();
    let rustls_name = match name.strip_prefix("TLS_") {
        Some(rest) if rest.starts_with("AES_") || rest.starts_with("CHACHA20_") => format!("TLS13_{rest}"),
        _ => name.to_string(),
    };
    provider::ALL_CIPHER_SUITES.iter().copied().find(|s| s.suite().as_str() == Some(rustls_name.as_str()))
}

fn protocol(name: &str) -> Option<Vec<&'static SupportedProtocolVersion>> {
    match name.trim() {
        "TLSv1.2" => Some(vec![&rustls::version::TLS12]),
        "TLSv1.3" => Some(vec![&rustls::version::TLS13]),
        "TLS" => Some(vec![&rustls::version::TLS12, &rustls::version::TLS13]),
        _ => None,
    }
}

/// getPasswordFromConfigPropertyOrFile: the file's content (less one
/// trailing line separator) wins over the property.
fn password(props: &SystemProperties, key: &str, path_key: &str) -> Result<String, ConfigError> {
    match props.lookup(path_key) {
        Some((k, p)) if !p.is_empty() => {
            let s = std::fs::read_to_string(p).map_err(|e| ConfigError::bad_value(k, p, &format!("cannot be read: {e}")))?;
            Ok(s.strip_suffix('\n').unwrap_or(&s).to_string())
        }
        _ => Ok(props.string(key).unwrap_or_default()),
    }
}

fn store(props: &SystemProperties, which: &str) -> Result<Option<StoreSpec>, ConfigError> {
    let loc_key = format!("zookeeper.ssl.{which}.location");
    let Some(location) = props.string(&loc_key).filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    let type_key = format!("zookeeper.ssl.{which}.type");
    let type_prop = props.string(&type_key).filter(|t| !t.is_empty());
    let kind = KeyStoreFileType::from_property_value_or_file_name(type_prop.as_deref(), &location)
        .map_err(|e| props.refused(if type_prop.is_some() { &type_key } else { &loc_key }, &e))?;
    let password = password(props, &format!("zookeeper.ssl.{which}.password"), &format!("zookeeper.ssl.{which}.passwordPath"))?;
    Ok(Some(StoreSpec { location: PathBuf::from(location), password, kind }))
}

impl SslSettings {
    /// Reads (and checks) the keys; nothing is loaded yet.
    pub fn read(props: &SystemProperties) -> Result<SslSettings, ConfigError> {
        if let Some((k, v)) = props.lookup("zookeeper.ssl.context.supplier.class") {
            return Err(ConfigError::bad_value(k, v, "is not supported: zkserver cannot load a Java SSLContext supplier"));
        }
        for key in ["zookeeper.ssl.crl", "zookeeper.ssl.ocsp"] {
            if props.boolean(key, false) {
                let (k, v) = props.lookup(key).unwrap_or((key, "true"));
                return Err(ConfigError::bad_value(
                    k,
                    v,
                    "is not supported: zkserver does not check certificate revocation (CRL/OCSP)",
                ));
            }
        }
        let client_auth = match props.lookup("zookeeper.ssl.clientAuth") {
            None | Some((_, "")) => ClientAuth::Need,
            Some((k, v)) => match v.to_ascii_uppercase().as_str() {
                "NEED" => ClientAuth::Need,
                "WANT" => ClientAuth::Want,
                "NONE" => ClientAuth::None,
                _ => return Err(ConfigError::bad_value(k, v, "is not NEED, WANT or NONE")),
            },
        };
        let proto = props.string("zookeeper.ssl.protocol").unwrap_or_else(|| "TLSv1.2".to_string());
        let protocols = match props.lookup("zookeeper.ssl.enabledProtocols") {
            Some((k, v)) => {
                let mut all = Vec::new();
                for p in v.split(',') {
                    let versions = protocol(p).ok_or_else(|| {
                        ConfigError::bad_value(k, v, &format!("names {p:?}: zkserver speaks TLSv1.2 and TLSv1.3 only"))
                    })?;
                    all.extend(versions);
                }
                all
            }
            None => protocol(&proto).ok_or_else(|| {
                props.refused("zookeeper.ssl.protocol", "is not supported: zkserver speaks TLSv1.2 and TLSv1.3 only")
            })?,
        };
        let cipher_suites = match props.lookup("zookeeper.ssl.ciphersuites") {
            Some((k, v)) => {
                let mut suites = Vec::new();
                for name in v.split(',').filter(|n| !n.trim().is_empty()) {
                    suites.push(cipher_suite(name).ok_or_else(|| {
                        ConfigError::bad_value(k, v, &format!("names {:?}, a cipher suite zkserver does not have", name.trim()))
                    })?);
                }
                suites
            }
            None => {
                let mut suites: Vec<_> = JAVA_DEFAULT_CIPHERS.iter().filter_map(|n| cipher_suite(n)).collect();
                // Java's list has no TLSv1.3 suite; when TLSv1.3 is on, its own are added.
                if protocols.iter().any(|p| p.version == rustls::ProtocolVersion::TLSv1_3) {
                    suites.extend(provider::ALL_CIPHER_SUITES.iter().copied().filter(|s| s.tls13().is_some()));
                }
                suites
            }
        };
        let handshake_timeout_ms = props.int("zookeeper.ssl.handshakeDetectionTimeoutMillis", 5000)?;
        if handshake_timeout_ms <= 0 {
            return Err(props.refused("zookeeper.ssl.handshakeDetectionTimeoutMillis", "must be positive"));
        }
        // Only Java's client verifies host names; accepted and read as Java reads it.
        let _ = props.boolean("zookeeper.ssl.hostnameVerification", true);
        Ok(SslSettings {
            key_store: store(props, "keyStore")?,
            trust_store: store(props, "trustStore")?,
            client_auth,
            protocols,
            cipher_suites,
            handshake_timeout_ms,
            auth_provider: props.string("zookeeper.ssl.authProvider").unwrap_or_else(|| "x509".to_string()),
            cert_reload: props.boolean("zookeeper.client.certReload", false),
        })
    }

    /// createSSLContextAndOptions: loads the stores and builds the config.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, String> {
        let key_store = self.key_store.as_ref().ok_or(
            "zookeeper.ssl.keyStore.location is not set: the secure client port needs this server's certificate and key",
        )?;
        let km = load_key_store(&key_store.location, &key_store.password, key_store.kind)?;
        // ring's provider, chosen for a C-toolchain-free build, has no
        // post-quantum key exchange (hence the deprecation); neither has
        // the JDK that Java's ZooKeeper 3.8 runs on.
        #[allow(deprecated)]
        let base = provider::default_provider();
        let provider = Arc::new(CryptoProvider { cipher_suites: self.cipher_suites.clone(), ..base });
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&self.protocols)
            .map_err(|e| format!("zookeeper.ssl.enabledProtocols / zookeeper.ssl.ciphersuites: {e}"))?;
        let builder = match self.client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            ClientAuth::Want | ClientAuth::Need => {
                let trust = self.trust_store.as_ref().ok_or(
                    "zookeeper.ssl.trustStore.location is not set: client certificates cannot be checked \
                     (set it, or zookeeper.ssl.clientAuth=none)",
                )?;
                let mut roots = RootCertStore::empty();
                for cert in load_trust_store(&trust.location, &trust.password, trust.kind)? {
                    roots.add(cert).map_err(|e| format!("trust store {}: {e}", trust.location.display()))?;
                }
                let b = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let b = if self.client_auth == ClientAuth::Want { b.allow_unauthenticated() } else { b };
                let verifier = b.build().map_err(|e| format!("trust store {}: {e}", trust.location.display()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder
            .with_single_cert(km.chain, km.key)
            .map_err(|e| format!("key store {}: {e}", key_store.location.display()))?;
        Ok(Arc::new(config))
    }
}

/// The TLS settings in force for the client port, and the config new
/// connections take (replaced when the stores change, with certReload).
pub struct X509Util {
    pub settings: SslSettings,
    config: RwLock<Arc<ServerConfig>>,
    watcher: Mutex<Option<FileChangeWatcher>>,
}

impl X509Util {
    /// Loads the stores (Err names what is wrong) and, with certReload,
    /// starts watching them.
    pub fn start(settings: SslSettings) -> Result<Arc<X509Util>, String> {
        let config = settings.server_config()?;
        tracing::info!(
            "client TLS: protocols {:?}, cipher suites {:?}, client auth {:?}",
            settings.protocols.iter().map(|p| p.version).collect::<Vec<_>>(),
            settings.cipher_suites.iter().map(|s| s.suite()).collect::<Vec<_>>(),
            settings.client_auth
        );
        let util = Arc::new(X509Util { settings, config: RwLock::new(config), watcher: Mutex::new(None) });
        if util.settings.cert_reload {
            let paths: Vec<PathBuf> =
                [&util.settings.key_store, &util.settings.trust_store].into_iter().flatten().map(|s| s.location.clone()).collect();
            let weak: Weak<X509Util> = Arc::downgrade(&util);
            let w = FileChangeWatcher::start(paths, move || {
                if let Some(u) = weak.upgrade() {
                    u.reload();
                }
            })
            .map_err(|e| format!("cannot start the FileChangeWatcher thread: {e}"))?;
            *util.watcher.lock() = Some(w);
            tracing::info!("zookeeper.client.certReload=true: watching the key and trust stores");
        }
        Ok(util)
    }

    /// The config a new connection takes.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.config.read())
    }

    /// Rebuilds the config from the stores; on failure the old one stays.
    fn reload(&self) {
        match self.settings.server_config() {
            Ok(c) => {
                *self.config.write() = c;
                tracing::info!("Reloaded the client TLS key and trust stores");
            }
            Err(e) => tracing::warn!("Keeping the previous client TLS stores: cannot reload them: {e}"),
        }
    }

    /// Stops the watcher thread.
    pub fn shutdown(&self) {
        drop(self.watcher.lock().take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<SslSettings, String> {
        SslSettings::read(&SystemProperties::of(pairs)).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_as_java() {
        let s = read(&[]).unwrap();
        assert_eq!(s.client_auth, ClientAuth::Need);
        assert_eq!(s.protocols, vec![&rustls::version::TLS12]);
        assert_eq!(s.cipher_suites.len(), 4, "Java's GCM suites");
        assert_eq!(s.handshake_timeout_ms, 5000);
        assert_eq!(s.auth_provider, "x509");
        assert!(s.key_store.is_none());
    }

    #[test]
    fn java_names_map_to_rustls_suites() {
        let s = read(&[
            ("zookeeper.ssl.ciphersuites", "TLS_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
            ("ssl.enabledProtocols", "TLSv1.3,TLSv1.2"),
            ("ssl.clientAuth", "want"),
        ])
        .unwrap();
        assert_eq!(s.cipher_suites.len(), 2);
        assert_eq!(s.protocols.len(), 2);
        assert_eq!(s.client_auth, ClientAuth::Want);
        assert_eq!(read(&[("ssl.protocol", "TLSv1.3")]).unwrap().cipher_suites.len(), 7);
    }

    #[test]
    fn what_zkserver_lacks_is_refused_naming_the_key() {
        for (k, v) in [
            ("zookeeper.ssl.ciphersuites", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"),
            ("ssl.enabledProtocols", "TLSv1.1"),
            ("ssl.protocol", "SSLv3"),
            ("ssl.crl", "true"),
            ("zookeeper.ssl.ocsp", "true"),
            ("ssl.clientAuth", "maybe"),
            ("ssl.context.supplier.class", "a.B"),
            ("ssl.handshakeDetectionTimeoutMillis", "0"),
            ("ssl.keyStore.location", "x.bcfks"),
            ("ssl.trustStore.location", "x.txt"),
        ] {
            let e = read(&[(k, v)]).unwrap_err();
            assert!(e.starts_with(&format!("{k}:")), "{e}");
        }
    }
}
