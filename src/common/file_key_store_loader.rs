//! FileKeyStoreLoader and its kinds (Java's KeyStoreFileType,
//! PEMFileLoader, PKCS12FileLoader, JKSFileLoader): reads the key store
//! (this server's certificate chain and private key) and the trust store
//! (the certificates client certificates must chain to) named by the
//! `ssl.keyStore.*` / `ssl.trustStore.*` keys. Called by `X509Util` at
//! start-up and by its FileChangeWatcher thread when a file changes.
//!
//! A store's kind comes from its `.type` key (PEM, PKCS12, JKS; any case)
//! or, when that is unset, from the file's extension (.pem, .p12, .jks),
//! as Java decides it. Like Java's own JKS and PKCS12 key stores (JDK 9's
//! keystore.type.compat), either kind reads a file of the other: keytool
//! writes PKCS12 by default, also to a file named `.jks`, so the content
//! (JKS's magic number or not) decides between the two. BCFKS is refused. A PEM key store holds the chain
//! and an unencrypted private key (PKCS#8, PKCS#1 or SEC1); an encrypted
//! PEM key is refused with a line saying so.

use rustls::pki_types::pem::{PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::Path;

/// The largest store file read: key and trust stores are a few KiB; a
/// larger file is a mistake and is refused before it is read whole.
const MAX_STORE_BYTES: u64 = 16 << 20;

/// KeyStoreFileType.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStoreFileType {
    Jks,
    Pem,
    Pkcs12,
}

impl KeyStoreFileType {
    /// fromPropertyValueOrFileName: the `.type` value when set, else the
    /// file's extension. Err says why neither names a kind zkserver reads.
    pub fn from_property_value_or_file_name(prop: Option<&str>, file: &str) -> Result<KeyStoreFileType, String> {
        match prop.filter(|p| !p.is_empty()) {
            Some(p) => match p.to_ascii_uppercase().as_str() {
                "JKS" => Ok(KeyStoreFileType::Jks),
                "PEM" => Ok(KeyStoreFileType::Pem),
                "PKCS12" => Ok(KeyStoreFileType::Pkcs12),
                "BCFKS" => Err("BCFKS stores are not supported by zkserver (use PEM, PKCS12 or JKS)".to_string()),
                _ => Err(format!("{p:?} is not a key store type (JKS, PEM, PKCS12)")),
            },
            None => match file.rfind('.').map(|i| &file[i..]) {
                Some(".jks") => Ok(KeyStoreFileType::Jks),
                Some(".pem") => Ok(KeyStoreFileType::Pem),
                Some(".p12") => Ok(KeyStoreFileType::Pkcs12),
                Some(".bcfks") => {
                    Err("BCFKS stores are not supported by zkserver (use PEM, PKCS12 or JKS)".to_string())
                }
                _ => Err(format!("Unable to auto-detect store file type from file name: {file}")),
            },
        }
    }
}

/// What a key store gives: the certificate chain (leaf first) and its key.
pub struct KeyMaterial {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.len() > MAX_STORE_BYTES {
        return Err(format!("{}: {} bytes is too large for a key or trust store", path.display(), meta.len()));
    }
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The kind a JKS or PKCS12 store is read as: JKS when the file starts
/// with JKS's magic number, else PKCS12, whichever was named, as the JDK's
/// dual-format JKS and PKCS12 key stores read them.
fn dual_format(kind: KeyStoreFileType, data: &[u8]) -> KeyStoreFileType {
    match kind {
        KeyStoreFileType::Pem => KeyStoreFileType::Pem,
        KeyStoreFileType::Jks | KeyStoreFileType::Pkcs12 if data.starts_with(&[0xFE, 0xED, 0xFE, 0xED]) => {
            KeyStoreFileType::Jks
        }
        KeyStoreFileType::Jks | KeyStoreFileType::Pkcs12 => KeyStoreFileType::Pkcs12,
    }
}

/// loadKeyStore: the chain and key of the store's (first) key entry.
pub fn load_key_store(path: &Path, password: &str, kind: KeyStoreFileType) -> Result<KeyMaterial, String> {
    let data = read_file(path)?;
    let kind = dual_format(kind, &data);
    let what = |e: String| format!("key store {}: {e}", path.display());
    let km = match kind {
        KeyStoreFileType::Pem => pem_key_store(&data).map_err(what)?,
        KeyStoreFileType::Pkcs12 => pkcs12_key_store(&data, password).map_err(what)?,
        KeyStoreFileType::Jks => {
            let store = crate::common::jks_file_loader::parse(&data, password).map_err(what)?;
            let (chain, key) = store.key.ok_or_else(|| what("holds no private key entry".to_string()))?;
            KeyMaterial { chain, key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)) }
        }
    };
    if km.chain.is_empty() {
        return Err(what("holds a private key but no certificate".to_string()));
    }
    Ok(km)
}

/// loadTrustStore: every certificate in the store.
pub fn load_trust_store(path: &Path, password: &str, kind: KeyStoreFileType) -> Result<Vec<CertificateDer<'static>>, String> {
    let data = read_file(path)?;
    let kind = dual_format(kind, &data);
    let what = |e: String| format!("trust store {}: {e}", path.display());
    let certs = match kind {
        KeyStoreFileType::Pem => pem_certificates(&data).map_err(what)?,
        KeyStoreFileType::Pkcs12 => {
            let ks = p12_keystore::KeyStore::from_pkcs12(&data, password).map_err(|e| what(e.to_string()))?;
            let mut certs = Vec::new();
            for (_, entry) in ks.entries() {
                match entry {
                    p12_keystore::KeyStoreEntry::Certificate(c) => certs.push(CertificateDer::from(c.as_der().to_vec())),
                    p12_keystore::KeyStoreEntry::PrivateKeyChain(kc) => {
                        certs.extend(kc.chain().iter().map(|c| CertificateDer::from(c.as_der().to_vec())))
                    }
                    p12_keystore::KeyStoreEntry::Secret(_) => {}
                }
            }
            certs
        }
        KeyStoreFileType::Jks => {
            let store = crate::common::jks_file_loader::parse(&data, password).map_err(what)?;
            let mut certs = store.trusted;
            if let Some((chain, _)) = store.key {
                certs.extend(chain);
            }
            certs
        }
    };
    if certs.is_empty() {
        return Err(what("holds no certificate".to_string()));
    }
    Ok(certs)
}

fn pem_certificates(data: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut certs = Vec::new();
    for item in <(SectionKind, Vec<u8>)>::pem_slice_iter(data) {
        let (kind, der) = item.map_err(|e| format!("bad PEM: {e}"))?;
        if kind == SectionKind::Certificate {
            certs.push(CertificateDer::from(der));
        }
    }
    Ok(certs)
}

/// PEMFileLoader's key store: the file's certificates (leaf first) and its
/// one private key.
fn pem_key_store(data: &[u8]) -> Result<KeyMaterial, String> {
    if data.windows(29).any(|w| w == b"BEGIN ENCRYPTED PRIVATE KEY--") {
        return Err("an encrypted PEM private key is not supported by zkserver: store the key unencrypted \
                    (PKCS#8) or use a PKCS12 or JKS key store"
            .to_string());
    }
    let key = PrivateKeyDer::from_pem_slice(data).map_err(|e| format!("no usable private key: {e}"))?;
    Ok(KeyMaterial { chain: pem_certificates(data)?, key })
}

/// PKCS12FileLoader's key store: the first entry with a private key.
fn pkcs12_key_store(data: &[u8], password: &str) -> Result<KeyMaterial, String> {
    let ks = p12_keystore::KeyStore::from_pkcs12(data, password).map_err(|e| e.to_string())?;
    let (_, kc) = ks.private_key_chain().ok_or("holds no private key entry")?;
    Ok(KeyMaterial {
        chain: kc.chain().iter().map(|c| CertificateDer::from(c.as_der().to_vec())).collect(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(kc.key().to_vec())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_type_from_property_or_extension_as_java() {
        let f = KeyStoreFileType::from_property_value_or_file_name;
        assert_eq!(f(Some("pkcs12"), "x.jks"), Ok(KeyStoreFileType::Pkcs12));
        assert_eq!(f(Some(""), "x.jks"), Ok(KeyStoreFileType::Jks));
        assert_eq!(f(None, "/a.b/x.pem"), Ok(KeyStoreFileType::Pem));
        assert_eq!(f(None, "x.p12"), Ok(KeyStoreFileType::Pkcs12));
        assert!(f(None, "x.PEM").is_err(), "Java compares the extension case-sensitively");
        assert!(f(None, "x").unwrap_err().contains("Unable to auto-detect"));
        assert!(f(Some("BCFKS"), "x").unwrap_err().contains("not supported"));
        assert!(f(Some("p11"), "x").is_err());
    }

    #[test]
    fn jks_and_pkcs12_each_read_the_other_by_content_as_the_jdk_does() {
        let jks = [0xFE, 0xED, 0xFE, 0xED, 0, 0, 0, 2];
        let p12 = [0x30, 0x82, 0x0e, 0x5a, 0x02, 0x01, 0x03];
        for named in [KeyStoreFileType::Jks, KeyStoreFileType::Pkcs12] {
            assert_eq!(dual_format(named, &jks), KeyStoreFileType::Jks);
            assert_eq!(dual_format(named, &p12), KeyStoreFileType::Pkcs12);
        }
        assert_eq!(dual_format(KeyStoreFileType::Pem, &jks), KeyStoreFileType::Pem);
    }

    #[test]
    fn pem_without_key_or_with_encrypted_key_is_refused() {
        assert!(pem_key_store(b"nothing here").is_err());
        let enc = b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(pem_key_store(enc).err().unwrap_or_default().contains("encrypted PEM private key"));
    }
}
