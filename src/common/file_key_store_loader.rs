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
//! and one private key: unencrypted (PKCS#8, PKCS#1 or SEC1), or, as
//! Java's PemReader reads it, an "ENCRYPTED PRIVATE KEY" (PKCS#8
//! EncryptedPrivateKeyInfo) decrypted with the key store password. Two
//! schemes are read: PBES2 (PBKDF2 or scrypt with AES-CBC or 3DES, what
//! `openssl pkcs8 -topk8` and `openssl genpkey -aes256` write; Java 3.8
//! on JDK 17 fails on these with "PBES2 SecretKeyFactory not available")
//! and PKCS#12's pbeWithSHAAnd3-KeyTripleDES-CBC (`openssl pkcs8 -topk8
//! -v1 PBE-SHA1-3DES`, a scheme Java 3.8 on JDK 17 does read). OpenSSL's
//! legacy encrypted keys (a "Proc-Type: 4,ENCRYPTED" header), which Java
//! cannot read either, are refused with a line saying how to convert them.

use crate::common::der::{element as der, element_whole as der_whole};
use base64::Engine;
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
/// `password_key` names the key the password came from, for the errors.
pub fn load_key_store(path: &Path, password: &str, password_key: &str, kind: KeyStoreFileType) -> Result<KeyMaterial, String> {
    let data = read_file(path)?;
    let kind = dual_format(kind, &data);
    let what = |e: String| format!("key store {}: {e}", path.display());
    let km = match kind {
        KeyStoreFileType::Pem => pem_key_store(&data, password, password_key).map_err(what)?,
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
/// one private key, decrypted with `password` when it is encrypted.
fn pem_key_store(data: &[u8], password: &str, password_key: &str) -> Result<KeyMaterial, String> {
    if contains(data, b"Proc-Type: 4,ENCRYPTED") {
        return Err("its private key is encrypted in OpenSSL's legacy format (Proc-Type: 4,ENCRYPTED), which \
                    neither Java nor zkserver reads: convert it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`"
            .to_string());
    }
    let key = match pem_section(data, "ENCRYPTED PRIVATE KEY")? {
        Some(encrypted) => decrypt_private_key(&encrypted, password, password_key)?,
        None => PrivateKeyDer::from_pem_slice(data).map_err(|e| format!("no usable private key: {e}"))?,
    };
    Ok(KeyMaterial { chain: pem_certificates(data)?, key })
}

fn contains(data: &[u8], what: &[u8]) -> bool {
    data.windows(what.len()).any(|w| w == what)
}

/// The DER of the first PEM section labelled `label`, if there is one.
fn pem_section(data: &[u8], label: &str) -> Result<Option<Vec<u8>>, String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let Some(start) = data.windows(begin.len()).position(|w| w == begin.as_bytes()) else {
        return Ok(None);
    };
    let body = &data[start + begin.len()..];
    let stop = body
        .windows(end.len())
        .position(|w| w == end.as_bytes())
        .ok_or_else(|| format!("bad PEM: no {end} line"))?;
    let b64: Vec<u8> = body[..stop].iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map(Some)
        .map_err(|e| format!("bad PEM ({label}): {e}"))
}

/// EncryptedPrivateKeyInfo ::= SEQUENCE { encryptionAlgorithm
/// AlgorithmIdentifier, encryptedData OCTET STRING }, decrypted to the
/// PKCS#8 PrivateKeyInfo inside.
fn decrypt_private_key(info: &[u8], password: &str, password_key: &str) -> Result<PrivateKeyDer<'static>, String> {
    let malformed = |e: String| format!("its ENCRYPTED PRIVATE KEY is not a PKCS#8 EncryptedPrivateKeyInfo: {e}");
    let (tag, seq, rest) = der(info).map_err(malformed)?;
    if tag != 0x30 || !rest.is_empty() {
        return Err(malformed("not one SEQUENCE".to_string()));
    }
    let (tag, _, algorithm, rest) = der_whole(seq).map_err(malformed)?;
    let (data_tag, data, rest) = der(rest).map_err(malformed)?;
    if tag != 0x30 || data_tag != 0x04 || !rest.is_empty() {
        return Err(malformed("not an AlgorithmIdentifier and an OCTET STRING".to_string()));
    }
    let unknown = |e: String| {
        format!(
            "its private key is encrypted with a scheme zkserver does not read ({e}): use PBES2 \
             (`openssl pkcs8 -topk8 -v2 aes-256-cbc`) or PBE-SHA1-3DES (`-v1 PBE-SHA1-3DES`)"
        )
    };
    let scheme = match pkcs12_pbe_sha1_3des(algorithm).map_err(unknown)? {
        Some(pbe) => Scheme::Pkcs12(pbe),
        None => Scheme::Pbes2(pkcs5::EncryptionScheme::try_from(algorithm).map_err(|e| unknown(e.to_string()))?),
    };
    if password.is_empty() {
        return Err(format!("its private key is encrypted, but {password_key} is not set"));
    }
    let wrong = || format!("its encrypted private key does not decrypt with {password_key} (a wrong password?)");
    let plain = match scheme {
        Scheme::Pbes2(s) => s.decrypt(password.as_bytes(), data).map_err(|_| wrong())?,
        Scheme::Pkcs12(pbe) => pbe.decrypt(password, data).ok_or_else(wrong)?,
    };
    // A wrong password can still leave valid padding; the key must parse.
    match der(&plain) {
        Ok((0x30, _, rest)) if rest.is_empty() => Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(plain))),
        _ => Err(wrong()),
    }
}

enum Scheme<'a> {
    Pbes2(pkcs5::EncryptionScheme<'a>),
    Pkcs12(Pkcs12Pbe<'a>),
}

/// pbeWithSHAAnd3-KeyTripleDES-CBC: 1.2.840.113549.1.12.1.3.
const PBE_SHA1_3DES_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01, 0x03];
/// More PBE iterations than any tool writes: a key asking for more is refused.
const MAX_PBE_ITERATIONS: i32 = 10_000_000;

/// PKCS#12's PBE (RFC 7292 appendix B) with SHA-1 and 3DES-CBC.
struct Pkcs12Pbe<'a> {
    salt: &'a [u8],
    iterations: i32,
}

/// The AlgorithmIdentifier (whole DER) as PKCS#12's PBE with SHA-1 and
/// 3DES, None when it names another algorithm.
fn pkcs12_pbe_sha1_3des(algorithm: &[u8]) -> Result<Option<Pkcs12Pbe<'_>>, String> {
    let (_, alg, _) = der(algorithm)?;
    let (tag, oid, params) = der(alg)?;
    if tag != 0x06 || oid != PBE_SHA1_3DES_OID {
        return Ok(None);
    }
    let bad = || "bad PBE parameters".to_string();
    let (tag, params, _) = der(params)?;
    let (salt_tag, salt, rest) = der(params)?;
    let (count_tag, count, _) = der(rest)?;
    if tag != 0x30 || salt_tag != 0x04 || count_tag != 0x02 || count.is_empty() || count.len() > 4 || count[0] & 0x80 != 0 {
        return Err(bad());
    }
    let iterations = count.iter().fold(0i32, |n, &b| (n << 8) | i32::from(b));
    if !(1..=MAX_PBE_ITERATIONS).contains(&iterations) {
        return Err(format!("{iterations} PBE iterations"));
    }
    Ok(Some(Pkcs12Pbe { salt, iterations }))
}

impl Pkcs12Pbe<'_> {
    fn decrypt(&self, password: &str, data: &[u8]) -> Option<Vec<u8>> {
        use cbc::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
        use pkcs12::kdf::{derive_key_utf8, Pkcs12KeyType};
        let derive = |kind, len| derive_key_utf8::<sha1::Sha1>(password, self.salt, kind, self.iterations, len).ok();
        let key = derive(Pkcs12KeyType::EncryptionKey, 24)?;
        let iv = derive(Pkcs12KeyType::Iv, 8)?;
        let cipher = cbc::Decryptor::<des::TdesEde3>::new_from_slices(&key, &iv).ok()?;
        cipher.decrypt_padded_vec_mut::<Pkcs7>(data).ok()
    }
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

    /// A P-256 key, encrypted by `openssl pkcs8 -topk8 -v2 aes-256-cbc
    /// -passout pass:secret` (PBES2, PBKDF2 with HMAC-SHA256).
    const ENCRYPTED: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----
MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAgOIu4K/oyrzgICCAAw
DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEHjRcHdFjn9RkPcbrSUnG+gEgZAN
LWtlbApygES4wxngi7rwdC/ViJNdck7/apTcQg0Wo8fOkfJ2bLsiUz8bUDLRiZGT
qqciCR5lt2oXwEPBP6b5jKAS8n3AZwYLfcQCNJByxWp6DaJfQXcrdG2cqERYeGng
xoJ9S0IOT8fYR4tymNCHB4jx9xUBcd/gzhf2ROiFC+zs2aSBhwIVNX8rP8bkPzY=
-----END ENCRYPTED PRIVATE KEY-----
";
    /// The same, by `openssl pkcs8 -topk8 -v2 des3 -v2prf hmacWithSHA1`
    /// (what older OpenSSL releases wrote).
    const ENCRYPTED_3DES_SHA1: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----
MIHVMEAGCSqGSIb3DQEFDTAzMBsGCSqGSIb3DQEFDDAOBAjmrVaVbTcRKwICCAAw
FAYIKoZIhvcNAwcECJYKUI3yS6zABIGQefoDZY9c0Z1EBctq5ExS7GyFKhu8BrP1
Hnpma24s/PE1U1Jhi7gaeStcbSY57Iu2o9Cmta9OFFBCESGrFIWVsE/7a48vNWDD
Awrw0UyC7L+r9f6zOxVEygeN3kheTtwhtjm6LoGIeYMJNyCgSIK+y7Z+zWRZW3e1
eJuW2LHUGfjeemreEH2iJTohOcmTDb1p
-----END ENCRYPTED PRIVATE KEY-----
";
    /// The same, by `openssl pkcs8 -topk8 -v1 PBE-SHA1-3DES` (PKCS#12's PBE).
    const ENCRYPTED_PKCS12_PBE: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----
MIGxMBwGCiqGSIb3DQEMAQMwDgQIE71yGfsPDrICAggABIGQZkZVxKskPgiWHVyE
sxyu7nfNXeNcATxzGTvvc56sJIfFfIV+KT/twizIUYMcgMdqHpVhlB07b4iaVkcq
aHKvWLmDcE1HMjeKcqxYGQHOd6ApkbSPWVKCdSr62W0g6Ft6t+0GDMlAKXkdwYE7
X5A0cGO5EQ8EeYhHn66cOrtXqRc0gbkE5uou/JZkz2VyiayL
-----END ENCRYPTED PRIVATE KEY-----
";
    /// The same key, unencrypted.
    const PLAIN: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgeuk5zOr4PpI0RP+8
XdLdQx+M052tfle1M/uiH8xebgmhRANCAARbWD4P9vZoYxWC18GAA3P6WaQ4Z9RK
Yk/aTMCh7sVPSBh4h5a0r+QKXj9DrHjsCEoFbmuuz+bkp3uJGDFszW6R
-----END PRIVATE KEY-----
";

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
    fn an_encrypted_pem_key_decrypts_with_the_password_only() {
        let key = |pem: &str, pw: &str| pem_key_store(pem.as_bytes(), pw, "ssl.keyStore.password").map(|k| k.key);
        let plain = key(PLAIN, "").unwrap();
        assert_eq!(key(ENCRYPTED, "secret").unwrap().secret_der(), plain.secret_der());
        assert_eq!(key(ENCRYPTED_3DES_SHA1, "secret").unwrap().secret_der(), plain.secret_der());
        assert_eq!(key(ENCRYPTED_PKCS12_PBE, "secret").unwrap().secret_der(), plain.secret_der());
        let wrong = key(ENCRYPTED_PKCS12_PBE, "Secret").err().unwrap_or_default();
        assert!(wrong.contains("does not decrypt with ssl.keyStore.password"), "{wrong}");
        let wrong = key(ENCRYPTED, "Secret").err().unwrap_or_default();
        assert!(wrong.contains("does not decrypt with ssl.keyStore.password"), "{wrong}");
        let unset = key(ENCRYPTED, "").err().unwrap_or_default();
        assert!(unset.contains("encrypted, but ssl.keyStore.password is not set"), "{unset}");
    }

    #[test]
    fn bad_pem_keys_are_refused_with_a_reason() {
        let key = |pem: &[u8]| pem_key_store(pem, "secret", "ssl.keyStore.password").err().unwrap_or_default();
        assert!(key(b"nothing here").contains("no usable private key"));
        let junk = b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(key(junk).contains("not a PKCS#8 EncryptedPrivateKeyInfo"), "{}", key(junk));
        let cut = b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n";
        assert!(key(cut).contains("no -----END ENCRYPTED PRIVATE KEY----- line"), "{}", key(cut));
        let legacy = b"-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nAAAA\n-----END EC PRIVATE KEY-----\n";
        assert!(key(legacy).contains("legacy format"), "{}", key(legacy));
    }
}
