//! JKSFileLoader: reads a Java KeyStore (JKS) file, the format keytool
//! writes with `-storetype JKS`. Called by `file_key_store_loader` (start-up
//! and the FileChangeWatcher thread).
//!
//! The format (Sun's JavaKeyStore): magic 0xFEEDFEED, version 1 or 2, an
//! entry count, the entries, then a SHA-1 over the password (UTF-16BE),
//! the words "Mighty Aphrodite" and every byte before it. An entry is a
//! private key (tag 1: the key protected by Sun's KeyProtector, then its
//! certificate chain) or a trusted certificate (tag 2), each with an alias
//! and a date; version 2 names each certificate's type. The private key is
//! recovered by XOR with a SHA-1 keystream over the password and a salt,
//! and checked against the digest stored with it.
//!
//! The file comes from disk, not a peer, but is still read as untrusted:
//! every length is checked against the bytes left before anything is
//! allocated, and any inconsistency is an error, never a panic.

use rustls::pki_types::CertificateDer;
use crate::common::der::element as der;
use sha1::{Digest, Sha1};

const MAGIC: u32 = 0xFEED_FEED;
const TAG_PRIVATE_KEY: u32 = 1;
const TAG_TRUSTED_CERT: u32 = 2;
/// The OID Sun's KeyProtector names its algorithm with: 1.3.6.1.4.1.42.2.17.1.1.
const KEY_PROTECTOR_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x2a, 0x02, 0x11, 0x01, 0x01];
const SALT_LEN: usize = 20;
const DIGEST_LEN: usize = 20;

/// What the store holds: the first private key entry (chain, PKCS#8 key)
/// and every trusted certificate.
pub struct JksStore {
    pub key: Option<(Vec<CertificateDer<'static>>, Vec<u8>)>,
    pub trusted: Vec<CertificateDer<'static>>,
}

struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.data.len() {
            return Err("truncated JKS file".to_string());
        }
        let (a, b) = self.data.split_at(n);
        self.data = b;
        Ok(a)
    }

    fn u16(&mut self) -> Result<usize, String> {
        let b = self.take(2)?;
        Ok(usize::from(u16::from_be_bytes([b[0], b[1]])))
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A DataOutput UTF string (u16 length, then its bytes), skipped.
    fn skip_utf(&mut self) -> Result<(), String> {
        let n = self.u16()?;
        self.take(n).map(|_| ())
    }

    /// A u32-length-prefixed byte string.
    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    fn certificate(&mut self, version: u32) -> Result<CertificateDer<'static>, String> {
        if version == 2 {
            self.skip_utf()?;
        }
        Ok(CertificateDer::from(self.bytes()?.to_vec()))
    }
}

/// The password as JavaKeyStore hashes it: each char as two bytes, big end first.
fn password_bytes(password: &str) -> Vec<u8> {
    password.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// Reads a JKS file, checking its integrity with `password`.
pub fn parse(data: &[u8], password: &str) -> Result<JksStore, String> {
    let pw = password_bytes(password);
    let body_len = data.len().checked_sub(DIGEST_LEN).ok_or("truncated JKS file")?;
    let (body, stored_digest) = data.split_at(body_len);
    let mut r = Reader { data: body };
    if r.u32()? != MAGIC {
        return Err("not a JKS file (bad magic number)".to_string());
    }
    let version = r.u32()?;
    if version != 1 && version != 2 {
        return Err(format!("unsupported JKS version {version}"));
    }
    let mut md = Sha1::new();
    md.update(&pw);
    md.update(b"Mighty Aphrodite");
    md.update(body);
    if md.finalize().as_slice() != stored_digest {
        return Err("Keystore was tampered with, or password was incorrect".to_string());
    }
    let count = r.u32()?;
    let mut store = JksStore { key: None, trusted: Vec::new() };
    for _ in 0..count {
        let tag = r.u32()?;
        r.skip_utf()?; // alias
        r.take(8)?; // date
        match tag {
            TAG_PRIVATE_KEY => {
                let protected = r.bytes()?;
                let n = r.u32()?;
                let mut chain = Vec::new();
                for _ in 0..n {
                    chain.push(r.certificate(version)?);
                }
                if store.key.is_none() {
                    store.key = Some((chain, recover_key(protected, &pw)?));
                }
            }
            TAG_TRUSTED_CERT => store.trusted.push(r.certificate(version)?),
            _ => return Err(format!("unsupported JKS entry type {tag} (only private keys and trusted certificates)")),
        }
    }
    if !r.data.is_empty() {
        return Err("trailing bytes after the JKS entries".to_string());
    }
    Ok(store)
}

/// KeyProtector.recover: the PKCS#8 key inside an EncryptedPrivateKeyInfo
/// protected with Sun's proprietary algorithm.
fn recover_key(epki: &[u8], pw: &[u8]) -> Result<Vec<u8>, String> {
    let (tag, seq, _) = der(epki).map_err(|e| format!("JKS private key entry: {e}"))?;
    let (alg_tag, alg, rest) = der(seq)?;
    let (oid_tag, oid, _) = der(alg)?;
    let (data_tag, protected, _) = der(rest)?;
    if tag != 0x30 || alg_tag != 0x30 || oid_tag != 0x06 || data_tag != 0x04 {
        return Err("bad DER in a JKS private key entry".to_string());
    }
    if oid != KEY_PROTECTOR_OID {
        return Err("the JKS private key is protected with an algorithm other than Sun's KeyProtector".to_string());
    }
    if protected.len() < SALT_LEN + DIGEST_LEN {
        return Err("truncated JKS private key".to_string());
    }
    let (salt, rest) = protected.split_at(SALT_LEN);
    let (encrypted, check) = rest.split_at(rest.len() - DIGEST_LEN);
    let mut key = Vec::with_capacity(encrypted.len());
    let mut digest: [u8; DIGEST_LEN] = salt.try_into().map_err(|_| "bad salt".to_string())?;
    for chunk in encrypted.chunks(DIGEST_LEN) {
        let mut md = Sha1::new();
        md.update(pw);
        md.update(digest);
        digest = md.finalize().into();
        key.extend(chunk.iter().zip(digest.iter()).map(|(c, k)| c ^ k));
    }
    let mut md = Sha1::new();
    md.update(pw);
    md.update(&key);
    if md.finalize().as_slice() != check {
        return Err("Cannot recover key: the key password is not the store password".to_string());
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal(body: &[u8], password: &str) -> Vec<u8> {
        let mut md = Sha1::new();
        md.update(password_bytes(password));
        md.update(b"Mighty Aphrodite");
        md.update(body);
        let mut out = body.to_vec();
        out.extend_from_slice(&md.finalize());
        out
    }

    fn trusted_store(cert: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&MAGIC.to_be_bytes());
        b.extend_from_slice(&2u32.to_be_bytes());
        b.extend_from_slice(&1u32.to_be_bytes());
        b.extend_from_slice(&TAG_TRUSTED_CERT.to_be_bytes());
        b.extend_from_slice(&2u16.to_be_bytes());
        b.extend_from_slice(b"ca");
        b.extend_from_slice(&0u64.to_be_bytes());
        b.extend_from_slice(&5u16.to_be_bytes());
        b.extend_from_slice(b"X.509");
        b.extend_from_slice(&(cert.len() as u32).to_be_bytes());
        b.extend_from_slice(cert);
        b
    }

    #[test]
    fn reads_a_trusted_certificate_and_checks_the_password() {
        let file = seal(&trusted_store(b"\x30\x00"), "changeit");
        let s = parse(&file, "changeit").unwrap();
        assert_eq!(s.trusted.len(), 1);
        assert!(s.key.is_none());
        assert!(parse(&file, "wrong").err().unwrap_or_default().contains("password was incorrect"));
    }

    #[test]
    fn every_truncation_and_bit_flip_is_an_error_not_a_panic() {
        let file = seal(&trusted_store(b"\x30\x03\x02\x01\x00"), "pw");
        for n in 0..file.len() {
            assert!(parse(&file[..n], "pw").is_err());
        }
        for i in 0..file.len() {
            for bit in 0..8 {
                let mut f = file.clone();
                f[i] ^= 1 << bit;
                let _ = parse(&f, "pw");
                // Re-sealed, the flip reaches the entry parser itself.
                let body = &f[..f.len() - DIGEST_LEN];
                let _ = parse(&seal(body, "pw"), "pw");
            }
        }
    }

    #[test]
    fn a_huge_entry_count_or_length_allocates_nothing() {
        let mut b = Vec::new();
        b.extend_from_slice(&MAGIC.to_be_bytes());
        b.extend_from_slice(&2u32.to_be_bytes());
        b.extend_from_slice(&u32::MAX.to_be_bytes());
        b.extend_from_slice(&TAG_TRUSTED_CERT.to_be_bytes());
        b.extend_from_slice(&0u16.to_be_bytes());
        b.extend_from_slice(&0u64.to_be_bytes());
        b.extend_from_slice(&0u16.to_be_bytes());
        b.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(parse(&seal(&b, ""), "").err().as_deref(), Some("truncated JKS file"));
    }

    #[test]
    fn key_protector_round_trip() {
        // Protect a "key" as KeyProtector does, then recover it.
        let pw = password_bytes("secret");
        let plain: Vec<u8> = (0u8..45).collect();
        let salt = [7u8; SALT_LEN];
        let mut digest = salt;
        let mut enc = Vec::new();
        for chunk in plain.chunks(DIGEST_LEN) {
            let mut md = Sha1::new();
            md.update(&pw);
            md.update(digest);
            digest = md.finalize().into();
            enc.extend(chunk.iter().zip(digest.iter()).map(|(c, k)| c ^ k));
        }
        let mut md = Sha1::new();
        md.update(&pw);
        md.update(&plain);
        let mut protected = salt.to_vec();
        protected.extend_from_slice(&enc);
        protected.extend_from_slice(&md.finalize());
        let mut alg = vec![0x06, KEY_PROTECTOR_OID.len() as u8];
        alg.extend_from_slice(KEY_PROTECTOR_OID);
        alg.extend_from_slice(&[0x05, 0x00]);
        let mut inner = vec![0x30, alg.len() as u8];
        inner.extend_from_slice(&alg);
        inner.extend_from_slice(&[0x04, 0x81, protected.len() as u8]);
        inner.extend_from_slice(&protected);
        let mut epki = vec![0x30, 0x81, inner.len() as u8];
        epki.extend_from_slice(&inner);
        assert_eq!(recover_key(&epki, &pw).unwrap(), plain);
        assert!(recover_key(&epki, &password_bytes("other")).is_err());
    }
}
