//! X509Util with its two flavours, ClientX509Util (the client port's TLS,
//! Java's `zookeeper.ssl.*` keys) and QuorumX509Util (TLS between servers,
//! `zookeeper.ssl.quorum.*`), each read with or without the `zookeeper.`
//! prefix: the settings, and the rustls ServerConfig (and, for the quorum,
//! ClientConfig) made from them, which every new TLS connection takes.
//! Built at start-up on the main or QuorumPeer thread; with
//! zookeeper.client.certReload (Java 3.9's key) or sslQuorumReloadCertFiles
//! a FileChangeWatcher thread rebuilds them when the key or trust store
//! changes on disk, and the connections made from then on use the new ones.
//! The AdminServer's HTTPS takes the quorum's stores only
//! (`admin_server_config`, built once when the AdminServer starts).
//!
//! Keys (shown with the client's `ssl.`; the quorum's are the same under
//! `ssl.quorum.`): ssl.keyStore.{location,password,passwordPath,type},
//! ssl.trustStore.{location,password,passwordPath,type}, ssl.clientAuth
//! (need, want, none; default need), ssl.protocol (default TLSv1.2),
//! ssl.enabledProtocols (default: ssl.protocol), ssl.ciphersuites (Java's
//! names; default Java's list less the CBC suites rustls does not have),
//! ssl.hostnameVerification (default true: the client port's server does
//! not check client host names, as in Java; between servers both sides
//! check that the peer's certificate names its address, the dialing side
//! against the host in the server line, the accepting side against the
//! peer's IP address; as Java's ZKTrustManager, a certificate that does
//! not name that IP address may name its host name, from a reverse lookup,
//! and dialing a host name a certificate for the address connected to
//! will do too), ssl.handshakeDetectionTimeoutMillis
//! (default 5000: the time a TLS connection has to finish its handshake),
//! ssl.authProvider (default x509). Refused with a line naming the key:
//! ssl.crl / ssl.ocsp = true (no revocation checking: Java fetches CRLs
//! from the certificates' distribution points and asks OCSP responders
//! during the handshake, which rustls cannot),
//! ssl.context.supplier.class (a Java class), protocols other than TLSv1.2
//! and TLSv1.3, cipher suites rustls does not implement.

use crate::common::der::element as der;
use crate::common::file_change_watcher::FileChangeWatcher;
use crate::common::file_key_store_loader::{load_key_store, load_trust_store, KeyMaterial, KeyStoreFileType};
use crate::common::net_utils::{host_name, REVERSE_LOOKUP_TIMEOUT};
use crate::quorum::quorum_peer_config::system_properties::SystemProperties;
use crate::quorum::quorum_peer_config::ConfigError;
use parking_lot::{Mutex, RwLock};
use rustls::crypto::ring as provider;
use rustls::crypto::CryptoProvider;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
    SupportedCipherSuite, SupportedProtocolVersion,
};
use std::path::PathBuf;
use std::sync::{Arc, Weak};

/// X509Util.ClientAuth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    Want,
    Need,
}

/// Which X509Util: the key prefix and whether client host names are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum X509Kind {
    /// ClientX509Util: `zookeeper.ssl.`.
    Client,
    /// QuorumX509Util: `zookeeper.ssl.quorum.`.
    Quorum,
}

impl X509Kind {
    /// getConfigPrefix.
    pub fn prefix(self) -> &'static str {
        match self {
            X509Kind::Client => "zookeeper.ssl.",
            X509Kind::Quorum => "zookeeper.ssl.quorum.",
        }
    }

    fn key(self, name: &str) -> String {
        format!("{}{name}", self.prefix())
    }

    fn name(self) -> &'static str {
        match self {
            X509Kind::Client => "client",
            X509Kind::Quorum => "quorum",
        }
    }
}

/// One store's location, password and kind.
#[derive(Debug, Clone)]
pub struct StoreSpec {
    pub location: PathBuf,
    pub password: String,
    /// The key the password came from (.password or .passwordPath).
    pub password_key: String,
    pub kind: KeyStoreFileType,
}

/// One X509Util's TLS settings, as read from the properties.
#[derive(Clone)]
pub struct SslSettings {
    pub kind: X509Kind,
    pub key_store: Option<StoreSpec>,
    pub trust_store: Option<StoreSpec>,
    pub client_auth: ClientAuth,
    pub protocols: Vec<&'static SupportedProtocolVersion>,
    pub cipher_suites: Vec<SupportedCipherSuite>,
    /// ssl.handshakeDetectionTimeoutMillis.
    pub handshake_timeout_ms: i32,
    /// ssl.authProvider: the scheme a client certificate authenticates with.
    pub auth_provider: String,
    /// ssl.hostnameVerification.
    pub hostname_verification: bool,
    /// zookeeper.client.certReload, or sslQuorumReloadCertFiles (a zoo.cfg
    /// key, set by the caller) for the quorum.
    pub cert_reload: bool,
}

impl std::fmt::Debug for SslSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SslSettings")
            .field("kind", &self.kind)
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
/// trailing line separator) wins over the property. Also gives the key it
/// came from, as spelt.
fn password(props: &SystemProperties, key: &str, path_key: &str) -> Result<(String, String), ConfigError> {
    match props.lookup(path_key) {
        Some((k, p)) if !p.is_empty() => {
            let s = std::fs::read_to_string(p).map_err(|e| ConfigError::bad_value(k, p, &format!("cannot be read: {e}")))?;
            Ok((s.strip_suffix('\n').unwrap_or(&s).to_string(), k.to_string()))
        }
        _ => match props.lookup(key) {
            Some((k, v)) => Ok((v.to_string(), k.to_string())),
            None => Ok((String::new(), key.to_string())),
        },
    }
}

fn store(props: &SystemProperties, kind: X509Kind, which: &str) -> Result<Option<StoreSpec>, ConfigError> {
    let loc_key = kind.key(&format!("{which}.location"));
    let Some(location) = props.string(&loc_key).filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    let type_key = kind.key(&format!("{which}.type"));
    let type_prop = props.string(&type_key).filter(|t| !t.is_empty());
    let file_type = KeyStoreFileType::from_property_value_or_file_name(type_prop.as_deref(), &location)
        .map_err(|e| props.refused(if type_prop.is_some() { &type_key } else { &loc_key }, &e))?;
    let (password, password_key) =
        password(props, &kind.key(&format!("{which}.password")), &kind.key(&format!("{which}.passwordPath")))?;
    Ok(Some(StoreSpec { location: PathBuf::from(location), password, password_key, kind: file_type }))
}

impl SslSettings {
    /// Reads (and checks) the keys; nothing is loaded yet.
    pub fn read(props: &SystemProperties, kind: X509Kind) -> Result<SslSettings, ConfigError> {
        let key = |name: &str| kind.key(name);
        if let Some((k, v)) = props.lookup(&key("context.supplier.class")) {
            return Err(ConfigError::bad_value(k, v, "is not supported: zkserver cannot load a Java SSLContext supplier"));
        }
        // Java turns on the JDK's revocation checking, which fetches each
        // certificate's CRL distribution points (and with ocsp asks its
        // OCSP responder) during the handshake. rustls only checks CRLs it
        // is handed beforehand and has no fetching or OCSP client, so
        // zkserver cannot do what these keys ask and refuses them.
        for (name, why) in [
            ("crl", "zkserver cannot fetch CRLs from the certificates' CRL distribution points as Java does"),
            ("ocsp", "zkserver has no OCSP client to ask a certificate's responder as Java does"),
        ] {
            let key = key(name);
            if props.boolean(&key, false) {
                let (k, v) = props.lookup(&key).unwrap_or((&key, "true"));
                return Err(ConfigError::bad_value(
                    k,
                    v,
                    &format!("is not supported: {why}, so it does not check certificate revocation (leave it false)"),
                ));
            }
        }
        let client_auth = match props.lookup(&key("clientAuth")) {
            None | Some((_, "")) => ClientAuth::Need,
            Some((k, v)) => match v.to_ascii_uppercase().as_str() {
                "NEED" => ClientAuth::Need,
                "WANT" => ClientAuth::Want,
                "NONE" => ClientAuth::None,
                _ => return Err(ConfigError::bad_value(k, v, "is not NEED, WANT or NONE")),
            },
        };
        let proto = props.string(&key("protocol")).unwrap_or_else(|| "TLSv1.2".to_string());
        let protocols = match props.lookup(&key("enabledProtocols")) {
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
                props.refused(&key("protocol"), "is not supported: zkserver speaks TLSv1.2 and TLSv1.3 only")
            })?,
        };
        let cipher_suites = match props.lookup(&key("ciphersuites")) {
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
        let handshake_timeout_ms = props.int(&key("handshakeDetectionTimeoutMillis"), 5000)?;
        if handshake_timeout_ms <= 0 {
            return Err(props.refused(&key("handshakeDetectionTimeoutMillis"), "must be positive"));
        }
        Ok(SslSettings {
            kind,
            key_store: store(props, kind, "keyStore")?,
            trust_store: store(props, kind, "trustStore")?,
            client_auth,
            protocols,
            cipher_suites,
            handshake_timeout_ms,
            auth_provider: props.string(&key("authProvider")).unwrap_or_else(|| "x509".to_string()),
            hostname_verification: props.boolean(&key("hostnameVerification"), true),
            cert_reload: kind == X509Kind::Client && props.boolean("zookeeper.client.certReload", false),
        })
    }

    /// The crypto provider with the configured cipher suites.
    fn provider(&self) -> Arc<CryptoProvider> {
        // ring's provider, chosen for a C-toolchain-free build, has no
        // post-quantum key exchange (hence the deprecation); neither has
        // the JDK that Java's ZooKeeper 3.8 runs on.
        #[allow(deprecated)]
        let base = provider::default_provider();
        Arc::new(CryptoProvider { cipher_suites: self.cipher_suites.clone(), ..base })
    }

    fn key_store(&self) -> Result<(&StoreSpec, KeyMaterial), String> {
        let key_store = self.key_store.as_ref().ok_or_else(|| {
            format!(
                "{}keyStore.location is not set: {} TLS needs this server's certificate and key",
                self.kind.prefix(),
                self.kind.name()
            )
        })?;
        Ok((key_store, load_key_store(&key_store.location, &key_store.password, &key_store.password_key, key_store.kind)?))
    }

    fn roots(&self, why: &str) -> Result<Arc<RootCertStore>, String> {
        let trust = self
            .trust_store
            .as_ref()
            .ok_or_else(|| format!("{}trustStore.location is not set: {why}", self.kind.prefix()))?;
        let mut roots = RootCertStore::empty();
        for cert in load_trust_store(&trust.location, &trust.password, trust.kind)? {
            roots.add(cert).map_err(|e| format!("trust store {}: {e}", trust.location.display()))?;
        }
        Ok(Arc::new(roots))
    }

    fn versions_error(&self, e: rustls::Error) -> String {
        format!("{p}enabledProtocols / {p}ciphersuites: {e}", p = self.kind.prefix())
    }

    /// createSSLContextAndOptions (server side): loads the stores and
    /// builds the config an accepted connection takes.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, String> {
        let (key_store, km) = self.key_store()?;
        let provider = self.provider();
        let key = certified_key(&provider, km).map_err(|e| format!("key store {}: {e}", key_store.location.display()))?;
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&self.protocols)
            .map_err(|e| self.versions_error(e))?;
        let builder = match self.client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            ClientAuth::Want | ClientAuth::Need => {
                let roots = self.roots(&format!(
                    "peer certificates cannot be checked (set it, or {}clientAuth=none)",
                    self.kind.prefix()
                ))?;
                let algs = provider.signature_verification_algorithms;
                let b = WebPkiClientVerifier::builder_with_provider(Arc::clone(&roots), provider);
                let b = if self.client_auth == ClientAuth::Want { b.allow_unauthenticated() } else { b };
                let inner = b.build().map_err(|e| format!("trust store: {e}"))?;
                builder.with_client_cert_verifier(Arc::new(ClientVerifier { inner, roots, algs }))
            }
        };
        Ok(Arc::new(builder.with_cert_resolver(key)))
    }

    /// createSSLContextAndOptions (client side, for a server dialing a
    /// peer): presents this server's certificate and checks the peer's
    /// against the trust store (and its host, with hostnameVerification).
    pub fn client_config(&self) -> Result<DialConfig, String> {
        let (key_store, km) = self.key_store()?;
        let provider = self.provider();
        let roots = self.roots("peer certificates cannot be checked")?;
        let chain = WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&provider))
            .build()
            .map_err(|e| format!("trust store: {e}"))?;
        let verifier = Arc::new(PeerVerifier {
            inner: Arc::clone(&chain),
            hostname_verification: self.hostname_verification,
            connected_ip: None,
        });
        let key = certified_key(&provider, km).map_err(|e| format!("key store {}: {e}", key_store.location.display()))?;
        let config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&self.protocols)
            .map_err(|e| self.versions_error(e))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_cert_resolver(key);
        Ok(DialConfig { config: Arc::new(config), chain, hostname_verification: self.hostname_verification })
    }
}

/// The quorum's client side: the config a dial takes, and what checks the
/// peer's chain, for the dials that need a verifier of their own.
#[derive(Clone)]
pub struct DialConfig {
    config: Arc<ClientConfig>,
    chain: Arc<WebPkiServerVerifier>,
    hostname_verification: bool,
}

impl DialConfig {
    /// The config for a dial to `name` that connected to `ip`. Dialing a
    /// host name with hostnameVerification, the certificate may name
    /// either (Java checks the address first, then the name), so that dial
    /// gets a verifier that knows the address.
    pub fn to(&self, name: &ServerName<'_>, ip: std::net::IpAddr) -> Arc<ClientConfig> {
        if !self.hostname_verification || matches!(name, ServerName::IpAddress(_)) {
            return Arc::clone(&self.config);
        }
        let mut config = (*self.config).clone();
        config.dangerous().set_certificate_verifier(Arc::new(PeerVerifier {
            inner: Arc::clone(&self.chain),
            hostname_verification: true,
            connected_ip: Some(ip),
        }));
        Arc::new(config)
    }
}

/// JettyAdminServer's SslContextFactory (admin.forceHttps,
/// admin.portUnification): the key store and trust store named by the
/// QuorumX509Util keys (`ssl.quorum.keyStore.*`, `ssl.quorum.trustStore.*`:
/// location, password or passwordPath, type). Both must load, as in Java,
/// though no client certificate is asked for (Jetty's server factory
/// neither needs nor wants one); the other ssl.quorum keys (clientAuth,
/// protocols, cipher suites, hostname verification) are the quorum's, not
/// Jetty's, whose defaults are TLSv1.2 and TLSv1.3 with the JDK's suites
/// less the weak ones: here rustls's own, which are those.
pub fn admin_server_config(props: &SystemProperties) -> Result<Arc<ServerConfig>, String> {
    let kind = X509Kind::Quorum;
    let spec = |which: &str| -> Result<StoreSpec, String> {
        store(props, kind, which)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{}{which}.location is not set", kind.prefix()))
    };
    let (key_store, trust_store) = (spec("keyStore")?, spec("trustStore")?);
    let km = load_key_store(&key_store.location, &key_store.password, &key_store.password_key, key_store.kind)?;
    load_trust_store(&trust_store.location, &trust_store.password, trust_store.kind)?;
    #[allow(deprecated)] // as in `SslSettings::provider`
    let provider = Arc::new(provider::default_provider());
    let key = certified_key(&provider, km).map_err(|e| format!("key store {}: {e}", key_store.location.display()))?;
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(key);
    Ok(Arc::new(config))
}

/// A key store's chain and key as rustls presents them, the key checked
/// against the certificate. Like Java's key managers, and unlike rustls's
/// own check (webpki reads only X.509 v3), it takes a v1 certificate, which
/// openssl makes when given no extensions (the C client's own tests do).
fn certified_key(provider: &CryptoProvider, km: KeyMaterial) -> Result<Arc<SingleCertAndKey>, String> {
    let key = provider.key_provider.load_private_key(km.key).map_err(|e| e.to_string())?;
    let certified = CertifiedKey::new(km.chain, key);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InvalidCertificate(why)) => {
            let cert = certified.end_entity_cert().map_err(|e| e.to_string())?;
            let spki = subject_public_key_info(cert).map_err(|e| format!("{e} ({why:?})"))?;
            if certified.key.public_key().is_some_and(|k| k.as_ref() != spki) {
                return Err("the private key does not match the certificate".to_string());
            }
        }
        Err(e) => return Err(e.to_string()),
    }
    Ok(Arc::new(SingleCertAndKey::from(certified)))
}

/// The SubjectPublicKeyInfo of a certificate (any version), whole.
fn subject_public_key_info(cert: &[u8]) -> Result<&[u8], String> {
    let (_, certificate, _) = der(cert)?;
    let (_, tbs, _) = der(certificate)?;
    // An explicit version ([0]) is absent from a v1 certificate.
    let (tag, _, after_version) = der(tbs)?;
    let mut rest = if tag == 0xA0 { after_version } else { tbs };
    // serialNumber, signature, issuer, validity, subject.
    for _ in 0..5 {
        rest = der(rest)?.2;
    }
    Ok(crate::common::der::element_whole(rest)?.2)
}

/// ZKTrustManager on the accepting side, for client certificates: webpki's
/// checks, except for an X.509 v1 certificate, which webpki cannot read
/// and Java's PKIX validator takes (openssl makes one when given no
/// extensions; the C client's own tests use them): that one must be
/// issued and signed by a trust anchor directly and be within its
/// validity period, and its key signs the handshake.
#[derive(Debug)]
struct ClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    roots: Arc<RootCertStore>,
    algs: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match V1Cert::parse(end_entity) {
            Some(cert) => cert.verify(&self.roots, &self.algs, now).map(|()| ClientCertVerified::assertion()),
            None => self.inner.verify_client_cert(end_entity, intermediates, now),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        match V1Cert::parse(cert) {
            Some(cert) => cert.verify_handshake(message, dss, &self.algs),
            None => self.inner.verify_tls12_signature(message, cert, dss),
        }
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        match V1Cert::parse(cert) {
            Some(_) if !signs_tls13(dss.scheme) => {
                Err(rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme.into())
            }
            Some(cert) => cert.verify_handshake(message, dss, &self.algs),
            None => self.inner.verify_tls13_signature(message, cert, dss),
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The schemes TLS 1.3 allows a handshake signature with (RFC 8446 4.2.3).
fn signs_tls13(scheme: SignatureScheme) -> bool {
    use SignatureScheme as S;
    matches!(
        scheme,
        S::ECDSA_NISTP256_SHA256
            | S::ECDSA_NISTP384_SHA384
            | S::ECDSA_NISTP521_SHA512
            | S::RSA_PSS_SHA256
            | S::RSA_PSS_SHA384
            | S::RSA_PSS_SHA512
            | S::ED25519
            | S::ED448
    )
}

/// The parts of an X.509 v1 certificate (no version field) that verifying
/// it needs; DER contents unless named whole.
struct V1Cert<'a> {
    tbs_whole: &'a [u8],
    signature_alg: &'a [u8],
    signature: &'a [u8],
    issuer: &'a [u8],
    not_before: u64,
    not_after: u64,
    key_alg: &'a [u8],
    key: &'a [u8],
}

impl<'a> V1Cert<'a> {
    /// Some for a well-formed v1 certificate, None for anything else
    /// (webpki judges those).
    fn parse(cert: &'a [u8]) -> Option<V1Cert<'a>> {
        let seq = |data: &'a [u8]| match der(data) {
            Ok((0x30, contents, rest)) => Some((contents, rest)),
            _ => None,
        };
        let (certificate, _) = seq(cert)?;
        let (_, tbs, tbs_whole, rest) = crate::common::der::element_whole(certificate).ok()?;
        let (signature_alg, rest) = seq(rest)?;
        let signature = match der(rest).ok()? {
            (0x03, [0, bits @ ..], _) => bits,
            _ => return None,
        };
        let (tag, _, after_serial) = der(tbs).ok()?;
        if tag != 0x02 {
            return None; // a version field: v2 or v3
        }
        let (inner_alg, rest) = seq(after_serial)?;
        let (issuer, rest) = seq(rest)?;
        let (validity, rest) = seq(rest)?;
        let (_subject, rest) = seq(rest)?;
        let (spki, _) = seq(rest)?;
        let (not_before, after) = asn1_time(validity)?;
        let (not_after, _) = asn1_time(after)?;
        let (key_alg, spki_rest) = seq(spki)?;
        let key = match der(spki_rest).ok()? {
            (0x03, [0, bits @ ..], _) => bits,
            _ => return None,
        };
        if inner_alg != signature_alg {
            return None;
        }
        Some(V1Cert { tbs_whole, signature_alg, signature, issuer, not_before, not_after, key_alg, key })
    }

    /// Within its validity and signed by a trust anchor named its issuer.
    fn verify(&self, roots: &RootCertStore, algs: &WebPkiSupportedAlgorithms, now: UnixTime) -> Result<(), rustls::Error> {
        let now = now.as_secs();
        if now < self.not_before {
            return Err(CertificateError::NotValidYet.into());
        }
        if now > self.not_after {
            return Err(CertificateError::Expired.into());
        }
        for anchor in roots.roots.iter().filter(|a| a.subject.as_ref() == self.issuer) {
            let Some((anchor_alg, anchor_key)) = spki_parts(anchor.subject_public_key_info.as_ref()) else { continue };
            let signed = algs.all.iter().any(|alg| {
                alg.signature_alg_id().as_ref() == self.signature_alg
                    && alg.public_key_alg_id().as_ref() == anchor_alg
                    && alg.verify_signature(anchor_key, self.tbs_whole, self.signature).is_ok()
            });
            if signed {
                return Ok(());
            }
        }
        Err(CertificateError::UnknownIssuer.into())
    }

    /// The handshake signature, made with this certificate's key.
    fn verify_handshake(
        &self,
        message: &[u8],
        dss: &DigitallySignedStruct,
        algs: &WebPkiSupportedAlgorithms,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let candidates = algs.mapping.iter().filter(|(scheme, _)| *scheme == dss.scheme).flat_map(|(_, a)| a.iter());
        let mut matching = candidates.filter(|alg| alg.public_key_alg_id().as_ref() == self.key_alg).peekable();
        if matching.peek().is_none() {
            return Err(rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme.into());
        }
        if matching.any(|alg| alg.verify_signature(self.key, message, dss.signature()).is_ok()) {
            Ok(HandshakeSignatureValid::assertion())
        } else {
            Err(CertificateError::BadSignature.into())
        }
    }
}

/// A SubjectPublicKeyInfo's (contents) algorithm identifier (contents) and
/// key bits.
fn spki_parts(spki: &[u8]) -> Option<(&[u8], &[u8])> {
    let (tag, alg, rest) = der(spki).ok()?;
    match (tag, der(rest).ok()?) {
        (0x30, (0x03, [0, bits @ ..], _)) => Some((alg, bits)),
        _ => None,
    }
}

/// A certificate time (UTCTime YYMMDDHHMMSSZ, years 1950-2049, or
/// GeneralizedTime YYYYMMDDHHMMSSZ) as seconds since 1970, and what
/// follows it.
fn asn1_time(data: &[u8]) -> Option<(u64, &[u8])> {
    let (tag, text, rest) = der(data).ok()?;
    let (year, text) = match (tag, text.len()) {
        (0x17, 13) => {
            let yy = i64::from(two_digits(&text[..2])?);
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        (0x18, 15) => (i64::from(two_digits(&text[..2])?) * 100 + i64::from(two_digits(&text[2..4])?), &text[4..]),
        _ => return None,
    };
    if text[10] != b'Z' {
        return None;
    }
    let field = |i: usize| two_digits(&text[i..i + 2]);
    let (month, day, hour, minute, second) = (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = crate::common::civil_date::days_from_civil(year, month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Some((u64::try_from(secs).ok()?, rest))
}

fn two_digits(b: &[u8]) -> Option<u32> {
    match b {
        [a @ b'0'..=b'9', c @ b'0'..=b'9'] => Some(u32::from(a - b'0') * 10 + u32::from(c - b'0')),
        _ => None,
    }
}

/// ZKTrustManager on the dialing side: the chain must lead to the trust
/// store; a certificate for another host is accepted only with
/// hostnameVerification=false. As Java's performHostVerification, a
/// certificate that does not name the host dialed may still name the
/// address: dialing an IP address, its host name (reverse lookup) is
/// tried; dialing a host name, the address it connected to.
#[derive(Debug)]
struct PeerVerifier {
    inner: Arc<WebPkiServerVerifier>,
    hostname_verification: bool,
    /// The address a dial to a host name connected to.
    connected_ip: Option<std::net::IpAddr>,
}

impl ServerCertVerifier for PeerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            // The chain is good (it is checked first); only the name is not.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.hostname_verification => Ok(ServerCertVerified::assertion()),
            Err(e @ rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => {
                let parsed = ParsedCertificate::try_from(end_entity)?;
                let second_try = match (server_name, self.connected_ip) {
                    (ServerName::IpAddress(ip), _) => verify_host_name(&parsed, std::net::IpAddr::from(*ip)),
                    (_, Some(ip)) => {
                        rustls::client::verify_server_name(&parsed, &ServerName::IpAddress(ip.into())).map_err(|e| e.to_string())
                    }
                    _ => Err(String::new()),
                };
                match second_try {
                    Ok(()) => Ok(ServerCertVerified::assertion()),
                    Err(_) => Err(e),
                }
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// ZKTrustManager on the accepting side (QuorumX509Util only, with
/// hostnameVerification): the peer's certificate must name the address it
/// connected from, or else the host name a reverse lookup gives that
/// address.
pub fn verify_peer_address(cert: &CertificateDer<'_>, ip: std::net::IpAddr) -> Result<(), String> {
    let parsed = ParsedCertificate::try_from(cert).map_err(|e| format!("bad peer certificate: {e}"))?;
    if rustls::client::verify_server_name(&parsed, &ServerName::IpAddress(ip.into())).is_ok() {
        return Ok(());
    }
    verify_host_name(&parsed, ip).map_err(|e| format!("the peer's certificate is not for its address {ip}: {e}"))
}

/// performHostVerification's second try: the certificate names the host
/// name of `ip` (a reverse lookup, bounded by REVERSE_LOOKUP_TIMEOUT).
fn verify_host_name(cert: &ParsedCertificate<'_>, ip: std::net::IpAddr) -> Result<(), String> {
    let name = host_name(ip, REVERSE_LOOKUP_TIMEOUT).ok_or("nor has the address a host name (reverse lookup)")?;
    let server_name = ServerName::try_from(name.as_str()).map_err(|e| format!("nor is its host name {name:?} valid: {e}"))?;
    rustls::client::verify_server_name(cert, &server_name).map_err(|e| format!("nor for its host name {name}: {e}"))
}

/// The TLS settings in force for one X509Util, and the configs new
/// connections take (replaced when the stores change, with certReload).
pub struct X509Util {
    pub settings: SslSettings,
    config: RwLock<Arc<ServerConfig>>,
    client_config: RwLock<Option<DialConfig>>,
    watcher: Mutex<Option<FileChangeWatcher>>,
}

impl X509Util {
    /// Loads the stores (Err names what is wrong) and, with certReload,
    /// starts watching them. The quorum's also has a client config.
    pub fn start(settings: SslSettings) -> Result<Arc<X509Util>, String> {
        let config = settings.server_config()?;
        let client_config = match settings.kind {
            X509Kind::Quorum => Some(settings.client_config()?),
            X509Kind::Client => None,
        };
        tracing::info!(
            "{} TLS: protocols {:?}, cipher suites {:?}, client auth {:?}",
            settings.kind.name(),
            settings.protocols.iter().map(|p| p.version).collect::<Vec<_>>(),
            settings.cipher_suites.iter().map(|s| s.suite()).collect::<Vec<_>>(),
            settings.client_auth
        );
        let util = Arc::new(X509Util {
            settings,
            config: RwLock::new(config),
            client_config: RwLock::new(client_config),
            watcher: Mutex::new(None),
        });
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
            tracing::info!("{} TLS: watching the key and trust stores for changes", util.settings.kind.name());
        }
        Ok(util)
    }

    /// The config a new accepted connection takes.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.config.read())
    }

    /// What a new dialed connection takes its config from (the quorum's only).
    pub fn client_config(&self) -> Option<DialConfig> {
        self.client_config.read().clone()
    }

    /// Rebuilds the configs from the stores; on failure the old ones stay.
    fn reload(&self) {
        let client = match self.settings.kind {
            X509Kind::Quorum => self.settings.client_config().map(Some),
            X509Kind::Client => Ok(None),
        };
        match (self.settings.server_config(), client) {
            (Ok(c), Ok(cc)) => {
                *self.config.write() = c;
                *self.client_config.write() = cc;
                tracing::info!("Reloaded the {} TLS key and trust stores", self.settings.kind.name());
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!("Keeping the previous {} TLS stores: cannot reload them: {e}", self.settings.kind.name())
            }
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
        SslSettings::read(&SystemProperties::of(pairs), X509Kind::Client).map_err(|e| e.to_string())
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
    fn the_quorum_reads_its_own_prefix() {
        let props = SystemProperties::of(&[
            ("ssl.clientAuth", "none"),
            ("ssl.protocol", "TLSv1.3"),
            ("zookeeper.ssl.quorum.clientAuth", "want"),
            ("ssl.quorum.hostnameVerification", "false"),
            ("zookeeper.client.certReload", "true"),
        ]);
        let q = SslSettings::read(&props, X509Kind::Quorum).unwrap();
        assert_eq!((q.client_auth, q.protocols.clone()), (ClientAuth::Want, vec![&rustls::version::TLS12]));
        assert!(!q.hostname_verification && !q.cert_reload, "certReload is the client's; the quorum's is in zoo.cfg");
        let c = SslSettings::read(&props, X509Kind::Client).unwrap();
        assert!(c.client_auth == ClientAuth::None && c.hostname_verification && c.cert_reload);
        let e = SslSettings::read(&SystemProperties::of(&[("ssl.quorum.crl", "true")]), X509Kind::Quorum).unwrap_err();
        assert!(e.to_string().starts_with("ssl.quorum.crl:"), "{e}");
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
