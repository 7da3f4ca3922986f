//! TLS on the client port (secureClientPort, client.portUnification) with
//! Java's ssl.* keys, side by side with Java's server (its Netty factory):
//! zkCli.sh over Netty with a client certificate, kazoo with use_ssl, x509
//! ACL identities, the key store kinds (PEM, PKCS12, JKS; a PEM key
//! encrypted with the key store password), refused clients
//! (bad, expired or foreign certificates, plaintext on the TLS port, TLS on
//! a plain port) that leave other clients unharmed, and a certificate
//! reload. Certificates are made here with openssl and keytool.

mod common;

use common::pki::{openssl, Pki, PASS};
use common::*;
use std::process::Command;
use std::time::Duration;

const PYTHON: &str = "/usr/bin/python3";
const ZKCLI: &str = "/usr/share/zookeeper/bin/zkCli.sh";
const CLIENT_DN: &str = "CN=client1,O=ZK Test,C=US";

/// The server-side properties for TLS with client certificates, with the
/// given key and trust stores (type from the extension).
fn tls_opts(pki: &Pki, keystore: &str, truststore: &str, secure_port: u16) -> ServerOpts {
    let opts = ServerOpts::default()
        .cfg("secureClientPort", &secure_port.to_string())
        .prop("zookeeper.serverCnxnFactory", "org.apache.zookeeper.server.NettyServerCnxnFactory")
        .prop("zookeeper.authProvider.x509", "org.apache.zookeeper.server.auth.X509AuthenticationProvider")
        .prop("zookeeper.ssl.keyStore.location", &pki.path(keystore))
        .prop("zookeeper.ssl.trustStore.location", &pki.path(truststore));
    // A PEM key store takes a password only when its key is encrypted:
    // Java would read any key as encrypted then.
    let opts = if keystore.ends_with(".pem") && !keystore.contains("encrypted") {
        opts
    } else {
        opts.prop("zookeeper.ssl.keyStore.password", PASS)
    };
    if truststore.ends_with(".pem") {
        opts
    } else {
        opts.prop("zookeeper.ssl.trustStore.password", PASS)
    }
}

/// zkCli.sh over the Netty socket with TLS and the client's certificate,
/// once it is connected. Debian's zookeeper.jar manifest leaves netty-codec
/// (which Netty's SslHandler needs) off zkCli.sh's class path, so the
/// test's Java class path is given in CLIENT_JVMFLAGS (the later -cp wins).
fn zkcli_tls(pki: &Pki, port: u16) -> Interactive {
    let flags = [
        format!("-cp {}", java_class_path()),
        "-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty".to_string(),
        "-Dzookeeper.client.secure=true".to_string(),
        format!("-Dzookeeper.ssl.keyStore.location={}", pki.path("client1.p12")),
        format!("-Dzookeeper.ssl.keyStore.password={PASS}"),
        format!("-Dzookeeper.ssl.trustStore.location={}", pki.path("truststore.jks")),
        format!("-Dzookeeper.ssl.trustStore.password={PASS}"),
    ];
    let env = format!("CLIENT_JVMFLAGS={}", flags.join(" "));
    let server = format!("127.0.0.1:{port}");
    let mut cli = Interactive::spawn("/usr/bin/env", &[&env, ZKCLI, "-server", &server], "apt-get install -y zookeeper");
    cli.expect("WatchedEvent state:SyncConnected type:None path:null");
    cli
}

/// One raw client: connects (over TLS with the given certificate, or in
/// plaintext), sends a ConnectRequest and prints "ok <server CN>" if a
/// ConnectResponse comes back, else "refused: why".
const PROBE: &str = r#"
import socket, ssl, struct, sys
mode, port, cert, key, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
body = struct.pack('>iqiqi', 0, 0, 30000, 0, 16) + b'\0' * 17
try:
    s = socket.create_connection(('127.0.0.1', port), timeout=10)
    subject = '-'
    if mode == 'tls':
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.load_verify_locations(ca)
        if cert != '-':
            ctx.load_cert_chain(cert, key)
        s = ctx.wrap_socket(s)
        subject = dict(x[0] for x in s.getpeercert()['subject'])['commonName']
    s.sendall(struct.pack('>i', len(body)) + body)
    data = s.recv(4)
    n = struct.unpack('>i', data)[0] if len(data) == 4 else -1
    print('ok ' + subject if 0 < n < 100 else 'refused: answered %r' % data)
except Exception as e:
    print('refused: %s %s' % (type(e).__name__, e))
"#;

fn probe(pki: &Pki, mode: &str, port: u16, who: Option<&str>) -> String {
    let (cert, key) = match who {
        Some(w) => (pki.path(&format!("{w}.pem")), pki.path(&format!("{w}.key"))),
        None => ("-".to_string(), "-".to_string()),
    };
    let out = Command::new(PYTHON)
        .args(["-c", PROBE, mode, &port.to_string(), &cert, &key, &pki.path("ca.pem")])
        .output()
        .expect("run python3");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// kazoo with use_ssl (client1's certificate) and without, on the given
/// ports: creates a node only client1's x509 id may read, then reads it
/// as each client.
const KAZOO: &str = r#"
import sys
from kazoo.client import KazooClient
from kazoo.security import make_acl
from kazoo.exceptions import NoAuthError
tls_port, plain_port, d = sys.argv[1], sys.argv[2], sys.argv[3]
def tls(port):
    c = KazooClient(hosts='127.0.0.1:' + port, use_ssl=True, certfile=d + '/client1.pem',
                    keyfile=d + '/client1.key', ca=d + '/ca.pem', verify_certs=True)
    c.start(timeout=15)
    return c
t = tls(tls_port)
t.create('/x509only', b'for client1', acl=[make_acl('x509', 'CN=client1,O=ZK Test,C=US', all=True)])
print('tls read:', t.get('/x509only')[0].decode())
print('acl:', t.get_acls('/x509only')[0][0].id.scheme, t.get_acls('/x509only')[0][0].id.id)
p = KazooClient(hosts='127.0.0.1:' + plain_port)
p.start(timeout=15)
try:
    p.get('/x509only')
    print('plain read: allowed')
except NoAuthError:
    print('plain read: NoAuth')
p.create('/plain', b'p')
u = tls(plain_port)
print('tls on the plain port read:', u.get('/x509only')[0].decode(), u.get('/plain')[0].decode())
for c in (t, p, u):
    c.stop()
"#;

#[test]
fn zkcli_over_netty_tls_sees_the_same_x509_identity_as_on_java() {
    let pki = Pki::new();
    let mut seen = Vec::new();
    for flavor in [Flavor::Zkserver, Flavor::Java] {
        let secure = free_port();
        // zkserver reads the JKS key store and PKCS12 trust store keytool made.
        let s = TestServer::start_with(flavor, tls_opts(&pki, "server.jks", "truststore.p12", secure));
        let mut cli = zkcli_tls(&pki, secure);
        cli.send("whoami");
        cli.send("create /viaTls hello");
        let out = cli.expect("Created /viaTls");
        assert!(out.contains(&format!("x509: {CLIENT_DN}")), "{flavor:?}: zkCli whoami over TLS:\n{out}");
        cli.send("quit");
        cli.finish();
        let c = s.client();
        assert_eq!(c.get_data("/viaTls", false).expect("read on the plain port").0.as_deref(), Some(&b"hello"[..]));
        let who: Vec<String> = out.lines().filter(|l| l.contains("x509:") || l.contains("ip:")).map(str::to_string).collect();
        seen.push(who);
        drop(s);
    }
    assert_eq!(seen[0], seen[1], "zkserver and Java name the certificate alike");
}

#[test]
fn kazoo_use_ssl_x509_acl_and_port_unification_as_on_java() {
    let pki = Pki::new();
    let mut outputs = Vec::new();
    for flavor in [Flavor::Zkserver, Flavor::Java] {
        let secure = free_port();
        // zkserver: a PEM key store (chain and key in one file) and PEM trust store.
        let opts = tls_opts(&pki, "server-keystore.pem", "ca.pem", secure).prop("zookeeper.client.portUnification", "true");
        let s = TestServer::start_with(flavor, opts);
        let out = Command::new(PYTHON)
            .args(["-c", KAZOO, &secure.to_string(), &s.port.to_string(), &pki.path("")])
            .output()
            .expect("run python3 (apt-get install -y python3-kazoo)");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{flavor:?}: kazoo failed:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(
            text,
            format!(
                "tls read: for client1\nacl: x509 {CLIENT_DN}\nplain read: NoAuth\ntls on the plain port read: for client1 p\n"
            ),
            "{flavor:?}"
        );
        outputs.push(text);
    }
    assert_eq!(outputs[0], outputs[1]);
}

/// The server's key store as PEM with its key encrypted under PASS by
/// `openssl pkcs8 -topk8` with `scheme` (e.g. -v2 aes-256-cbc); its name.
fn encrypted_key_store(pki: &Pki, scheme: &[&str], name: &str) -> String {
    let d = pki.dir.path();
    let key = format!("{name}.key");
    let pass = format!("pass:{PASS}");
    let mut args = vec!["pkcs8", "-topk8", "-in", "server.key", "-out", &key, "-passout", &pass];
    args.extend_from_slice(scheme);
    openssl(d, &args);
    let pem = std::fs::read_to_string(d.join("server.pem")).unwrap() + &std::fs::read_to_string(d.join(&key)).unwrap();
    let store = format!("{name}.pem");
    std::fs::write(d.join(&store), pem).unwrap();
    store
}

/// kazoo over TLS with client1's certificate: creates a node and reads it.
const KAZOO_TLS: &str = r#"
import sys
from kazoo.client import KazooClient
port, d = sys.argv[1], sys.argv[2]
c = KazooClient(hosts='127.0.0.1:' + port, use_ssl=True, certfile=d + '/client1.pem',
                keyfile=d + '/client1.key', ca=d + '/ca.pem', verify_certs=True)
c.start(timeout=15)
c.create('/enc', b'via an encrypted key', makepath=True)
print(c.get('/enc')[0].decode())
c.stop()
"#;

fn kazoo_tls(pki: &Pki, flavor: Flavor, keystore: &str) -> String {
    let secure = free_port();
    let s = TestServer::start_with(flavor, tls_opts(pki, keystore, "ca.pem", secure));
    let out = Command::new(PYTHON)
        .args(["-c", KAZOO_TLS, &secure.to_string(), &pki.path("")])
        .output()
        .expect("run python3 (apt-get install -y python3-kazoo)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{flavor:?} with {keystore}: kazoo failed:\n{text}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.log_tail(30)
    );
    text
}

#[test]
fn an_encrypted_pem_key_is_read_with_the_key_store_password_as_on_java() {
    let pki = Pki::new();
    // PKCS#12's PBE with SHA-1 and 3DES: the scheme Java 3.8 reads (on
    // JDK 17 it has no PBES2 SecretKeyFactory), side by side.
    let pbe = encrypted_key_store(&pki, &["-v1", "PBE-SHA1-3DES"], "server-encrypted-pbe");
    let outputs: Vec<String> = [Flavor::Zkserver, Flavor::Java].into_iter().map(|f| kazoo_tls(&pki, f, &pbe)).collect();
    assert_eq!(outputs, ["via an encrypted key\n", "via an encrypted key\n"]);
    // PBES2 with AES-256-CBC, what openssl writes by default: zkserver.
    let pbes2 = encrypted_key_store(&pki, &["-v2", "aes-256-cbc"], "server-encrypted");
    assert_eq!(kazoo_tls(&pki, Flavor::Zkserver, &pbes2), "via an encrypted key\n");
    // The wrong password (here from a passwordPath file) refuses start,
    // naming the key store and the key the password came from.
    let wrong = pki.dir.path().join("wrong-password");
    std::fs::write(&wrong, "not the password\n").unwrap();
    for keystore in [&pbe, &pbes2] {
        let opts = tls_opts(&pki, keystore, "ca.pem", free_port())
            .prop("zookeeper.ssl.keyStore.passwordPath", wrong.to_str().expect("utf-8 path"));
        let mut s = TestServer::prepare(Flavor::Zkserver, opts);
        assert!(s.try_start().is_err(), "started with the wrong key password");
        let want = format!(
            "key store {}: its encrypted private key does not decrypt with zookeeper.ssl.keyStore.passwordPath",
            pki.path(keystore)
        );
        assert!(s.log_tail(20).contains(&want), "{}", s.log_tail(20));
    }
}

#[test]
fn a_pkcs12_store_named_jks_and_a_jks_store_named_p12_are_read_as_on_java() {
    // keytool writes PKCS12 unless told otherwise, also to a file named
    // .jks (the C client's own tests make their stores so), and the JDK's
    // JKS and PKCS12 key stores each read the other format.
    let pki = Pki::new();
    for (from, to) in [
        ("server.p12", "server-p12.jks"),
        ("truststore.p12", "truststore-p12.jks"),
        ("server.jks", "server-jks.p12"),
        ("truststore.jks", "truststore-jks.p12"),
    ] {
        std::fs::copy(pki.path(from), pki.path(to)).unwrap();
    }
    for flavor in [Flavor::Zkserver, Flavor::Java] {
        for (keystore, truststore) in [("server-p12.jks", "truststore-p12.jks"), ("server-jks.p12", "truststore-jks.p12")] {
            let secure = free_port();
            let s = TestServer::start_with(flavor, tls_opts(&pki, keystore, truststore, secure));
            assert_eq!(probe(&pki, "tls", secure, Some("client1")), "ok localhost", "{flavor:?}: {keystore}, {truststore}");
            drop(s);
        }
    }
}

#[test]
fn an_x509_v1_client_certificate_from_the_trusted_ca_is_taken_as_on_java() {
    // openssl x509 -req without extensions makes X.509 v1 certificates (the
    // C client's own tests use them); Java's PKIX validator takes one that
    // the trust store's CA signed.
    let pki = Pki::new();
    let d = pki.dir.path();
    for (name, ca) in [("v1client", "ca"), ("v1stranger", "rogue")] {
        openssl(
            d,
            &[
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                &format!("{name}.key"), "-out", &format!("{name}.csr"), "-subj", &format!("/CN={name}"),
            ],
        );
        openssl(
            d,
            &[
                "x509", "-req", "-in", &format!("{name}.csr"), "-CA", &format!("{ca}.pem"), "-CAkey", &format!("{ca}.key"),
                "-CAcreateserial", "-out", &format!("{name}.pem"), "-days", "30",
            ],
        );
        let text = Command::new("openssl").args(["x509", "-noout", "-text", "-in", &pki.path(&format!("{name}.pem"))]).output().unwrap();
        assert!(String::from_utf8_lossy(&text.stdout).contains("Version: 1 (0x0)"), "{name} is not v1");
    }
    for flavor in [Flavor::Zkserver, Flavor::Java] {
        let secure = free_port();
        let s = TestServer::start_with(flavor, tls_opts(&pki, "server.p12", "truststore.p12", secure));
        assert_eq!(probe(&pki, "tls", secure, Some("v1client")), "ok localhost", "{flavor:?}: v1 from the CA");
        let stranger = probe(&pki, "tls", secure, Some("v1stranger"));
        assert!(stranger.starts_with("refused"), "{flavor:?}: v1 from another CA: {stranger}");
        assert_eq!(probe(&pki, "tls", secure, Some("client1")), "ok localhost", "{flavor:?}: v3 from the CA");
        drop(s);
    }
}

#[test]
fn bad_clients_are_refused_with_a_log_line_and_others_keep_their_session() {
    let pki = Pki::new();
    let secure = free_port();
    let s = TestServer::start(
        tls_opts(&pki, "server.p12", "truststore.jks", secure)
            .prop("zookeeper.netty.server.outstandingHandshake.limit", "2"),
    );
    let healthy = s.client();
    healthy
        .create("/alive", Some(b"1"), &zkserver::zoo_defs::ids::open_acl_unsafe(), zkserver::zoo_defs::CreateMode::Persistent)
        .unwrap();
    assert_eq!(probe(&pki, "tls", secure, Some("client1")), "ok localhost");
    for (who, what) in [(Some("expired"), "expired certificate"), (Some("stranger"), "certificate from another CA"), (None, "no certificate")] {
        let got = probe(&pki, "tls", secure, who);
        assert!(got.starts_with("refused"), "{what}: {got}");
    }
    assert!(wait_until(Duration::from_secs(10), || s.log_tail(400).matches("Unsuccessful TLS handshake").count() >= 3), "{}", s.log_tail(40));
    assert!(probe(&pki, "plain", secure, None).starts_with("refused"), "plaintext on the TLS port");
    assert!(probe(&pki, "tls", s.port, Some("client1")).starts_with("refused"), "TLS on the plain port");
    assert!(
        wait_until(Duration::from_secs(10), || s.log_tail(400).contains("looks like a TLS handshake")),
        "{}",
        s.log_tail(40)
    );
    // Nobody else noticed.
    assert_eq!(healthy.get_data("/alive", false).unwrap().0.as_deref(), Some(&b"1"[..]));
    assert_eq!(probe(&pki, "tls", secure, Some("client1")), "ok localhost");
    // Two clients that never start their handshake use up the limit; a
    // third is turned away until they go.
    let idle: Vec<_> = (0..2).map(|_| raw_connect(&format!("127.0.0.1:{secure}"))).collect();
    let mntr = || four_letter(&s.addr(), "mntr").unwrap_or_default();
    assert!(wait_until(Duration::from_secs(10), || mntr().contains("zk_outstanding_tls_handshake\t2")), "{}", mntr());
    assert!(probe(&pki, "tls", secure, Some("client1")).starts_with("refused"));
    assert!(s.log_tail(50).contains("zookeeper.netty.server.outstandingHandshake.limit=2"), "{}", s.log_tail(20));
    drop(idle);
    assert!(wait_until(Duration::from_secs(10), || probe(&pki, "tls", secure, Some("client1")) == "ok localhost"));
    assert!(wait_until(Duration::from_secs(10), || mntr().contains("zk_outstanding_tls_handshake\t0")), "{}", mntr());
}

#[test]
fn a_changed_key_store_is_used_for_new_connections_over_tls_1_3() {
    let pki = Pki::new();
    let secure = free_port();
    // TLS 1.3 too here (the client picks it), where a client certificate
    // is judged after the client thinks the handshake is over.
    let s = TestServer::start(
        tls_opts(&pki, "server-keystore.pem", "ca.pem", secure)
            .prop("zookeeper.client.certReload", "true")
            .prop("zookeeper.ssl.protocol", "TLS"),
    );
    assert_eq!(probe(&pki, "tls", secure, Some("client1")), "ok localhost");
    assert!(probe(&pki, "tls", secure, Some("stranger")).starts_with("refused"));
    pki.leaf("server2", "ca", "/CN=renewed");
    let renewed = std::fs::read_to_string(pki.dir.path().join("server2.pem")).unwrap()
        + &std::fs::read_to_string(pki.dir.path().join("server2.key")).unwrap();
    let tmp = pki.dir.path().join("server-keystore.pem.new");
    std::fs::write(&tmp, renewed).unwrap();
    std::fs::rename(&tmp, pki.dir.path().join("server-keystore.pem")).unwrap();
    assert!(
        wait_until(Duration::from_secs(15), || probe(&pki, "tls", secure, Some("client1")) == "ok renewed"),
        "{}",
        s.log_tail(30)
    );
    assert!(s.log_tail(200).contains("Reloaded the client TLS key and trust stores"));
}

#[test]
fn what_zkserver_cannot_do_is_refused_naming_the_key() {
    let pki = Pki::new();
    let encrypted = encrypted_key_store(&pki, &["-v2", "aes-256-cbc"], "server-encrypted");
    for (opts, line) in [
        (
            ServerOpts::default()
                .prop("zookeeper.admin.forceHttps", "true")
                .prop("zookeeper.ssl.quorum.handshakeDetectionTimeoutMillis", "0"),
            "zookeeper.ssl.quorum.handshakeDetectionTimeoutMillis",
        ),
        (
            tls_opts(&pki, "server.p12", "ca.pem", free_port()).prop("zookeeper.ssl.crl", "true"),
            "zookeeper.ssl.crl: \"true\" is not supported: zkserver cannot fetch CRLs from the certificates' CRL distribution points",
        ),
        (
            tls_opts(&pki, "server.p12", "ca.pem", free_port()).prop("zookeeper.ssl.ocsp", "true"),
            "zookeeper.ssl.ocsp: \"true\" is not supported: zkserver has no OCSP client",
        ),
        (
            tls_opts(&pki, "server.p12", "ca.pem", free_port())
                .prop("zookeeper.ssl.ciphersuites", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
            "zookeeper.ssl.ciphersuites",
        ),
        (
            tls_opts(&pki, &encrypted, "ca.pem", free_port()).prop("zookeeper.ssl.keyStore.password", ""),
            "its private key is encrypted, but zookeeper.ssl.keyStore.password is not set",
        ),
        (tls_opts(&pki, "server.p12", "ca.pem", free_port()).prop("zookeeper.ssl.keyStore.password", "wrong"), "server.p12"),
    ] {
        let mut s = TestServer::prepare(Flavor::Zkserver, opts);
        assert!(s.try_start().is_err(), "{line}: started");
        assert!(s.log_tail(20).contains(line), "{line}:\n{}", s.log_tail(20));
    }
}
