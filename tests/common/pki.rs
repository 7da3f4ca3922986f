//! A throw-away PKI for the TLS tests and the TLS load bench, made with
//! the openssl CLI and the JRE's keytool: a CA, a server certificate for
//! 127.0.0.1/localhost, client certificates (good, expired, from another
//! CA), and key and trust stores in each format Java reads (PEM, PKCS12,
//! JKS).

use std::path::Path;
use std::process::Command;

/// The password of every store (and of nothing PEM).
pub const PASS: &str = "secret";

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (openssl and keytool must be installed)"));
    assert!(out.status.success(), "{cmd:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
}

pub fn openssl(dir: &Path, args: &[&str]) {
    run(Command::new("openssl").current_dir(dir).args(args));
}

fn keytool(dir: &Path, args: &[&str]) {
    run(Command::new("keytool").current_dir(dir).args(args));
}

/// A throw-away PKI: a CA, a server certificate for 127.0.0.1, client
/// certificates (good, expired, from another CA), and the stores made
/// from them in each format.
pub struct Pki {
    pub dir: tempfile::TempDir,
}

/// A leaf certificate's extensions, after its subjectAltName line.
const EXT: &str = "basicConstraints=CA:FALSE\n\
                   keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n";
/// The names the usual leaf certificates are for.
const SAN: &str = "DNS:localhost,IP:127.0.0.1";

impl Pki {
    pub fn new() -> Pki {
        let pki = Pki { dir: tempfile::Builder::new().prefix("zktls").tempdir().expect("tempdir") };
        let d = pki.dir.path();
        for ca in ["ca", "rogue"] {
            pki.ca(ca);
        }
        pki.leaf("server", "ca", "/CN=localhost");
        pki.leaf("client1", "ca", "/C=US/O=ZK Test/CN=client1");
        pki.leaf("stranger", "rogue", "/CN=stranger");
        pki.expired_leaf("expired", "/CN=expired");
        // Stores: the server's key as PEM (chain + key), PKCS12 and JKS;
        // the CA as PEM, PKCS12 (keytool) and JKS trust stores; the
        // client's key as PKCS12 for the Java client.
        let cat = |parts: &[&str], out: &str| {
            let mut all = String::new();
            for p in parts {
                all.push_str(&std::fs::read_to_string(d.join(p)).unwrap());
            }
            std::fs::write(d.join(out), all).unwrap();
        };
        cat(&["server.pem", "server.key"], "server-keystore.pem");
        for name in ["server", "client1"] {
            pki.pkcs12(name);
        }
        keytool(
            d,
            &[
                "-importkeystore", "-noprompt", "-srckeystore", "server.p12", "-srcstoretype", "PKCS12",
                "-srcstorepass", PASS, "-destkeystore", "server.jks", "-deststoretype", "JKS", "-deststorepass", PASS,
                "-destkeypass", PASS,
            ],
        );
        for (file, kind) in [("truststore.p12", "PKCS12"), ("truststore.jks", "JKS")] {
            pki.trust_store(file, kind, "ca");
        }
        pki
    }

    /// `name`.pem and `name`.key: a self-signed CA.
    pub fn ca(&self, name: &str) {
        openssl(
            self.dir.path(),
            &[
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                &format!("{name}.key"), "-out", &format!("{name}.pem"), "-days", "30", "-subj",
                &format!("/CN=Test {name}"),
            ],
        );
    }

    /// A trust store `file` of `kind` (JKS, PKCS12; password PASS) that
    /// trusts the CA `ca`.
    pub fn trust_store(&self, file: &str, kind: &str, ca: &str) {
        let cert = format!("{ca}.pem");
        keytool(
            self.dir.path(),
            &["-importcert", "-noprompt", "-alias", ca, "-file", &cert, "-keystore", file, "-storetype", kind, "-storepass", PASS],
        );
    }

    /// `name`.p12 (password PASS) from `name`.pem and `name`.key.
    pub fn pkcs12(&self, name: &str) {
        openssl(
            self.dir.path(),
            &[
                "pkcs12", "-export", "-in", &format!("{name}.pem"), "-inkey", &format!("{name}.key"), "-out",
                &format!("{name}.p12"), "-passout", &format!("pass:{PASS}"), "-name", name,
            ],
        );
    }

    /// `name`.pem and `name`.key: a certificate from `ca` for 127.0.0.1
    /// and localhost.
    pub fn leaf(&self, name: &str, ca: &str, subj: &str) {
        self.leaf_for(name, ca, subj, SAN);
    }

    /// Like `leaf`, for the names in `san` (an openssl subjectAltName).
    pub fn leaf_for(&self, name: &str, ca: &str, subj: &str, san: &str) {
        let d = self.dir.path();
        let ext = format!("ext-{name}.cnf");
        std::fs::write(d.join(&ext), format!("subjectAltName={san}\n{EXT}")).unwrap();
        openssl(
            d,
            &[
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                &format!("{name}.key"), "-out", &format!("{name}.csr"), "-subj", subj,
            ],
        );
        openssl(
            d,
            &[
                "x509", "-req", "-in", &format!("{name}.csr"), "-CA", &format!("{ca}.pem"), "-CAkey",
                &format!("{ca}.key"), "-CAcreateserial", "-out", &format!("{name}.pem"), "-days", "30", "-extfile",
                &ext,
            ],
        );
    }

    /// A client certificate from the right CA whose validity ended in 2020.
    fn expired_leaf(&self, name: &str, subj: &str) {
        let d = self.dir.path();
        std::fs::write(
            d.join("ca.cnf"),
            "[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\ndefault_md=sha256\n\
             policy=p\ncopy_extensions=copy\n[p]\ncommonName=supplied\n",
        )
        .unwrap();
        std::fs::write(d.join("index.txt"), "").unwrap();
        std::fs::write(d.join("serial"), "1000\n").unwrap();
        openssl(
            d,
            &[
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                &format!("{name}.key"), "-out", &format!("{name}.csr"), "-subj", subj,
            ],
        );
        openssl(
            d,
            &[
                "ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-in",
                &format!("{name}.csr"), "-out", &format!("{name}.pem"), "-startdate", "20200101000000Z", "-enddate",
                "20200102000000Z", "-notext",
            ],
        );
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}
