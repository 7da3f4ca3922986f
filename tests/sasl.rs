//! SASL on the client port, side by side with Java 3.8 started with the
//! same JAAS file: DIGEST-MD5 (kazoo's own SASL tests from
//! kazoo/tests/test_sasl.py with the users its harness writes, super users,
//! a wrong password, zkCli.sh logging in with a `Client` section,
//! sessionRequireClientSASLAuth), GSSAPI against an MIT KDC the test starts
//! in a temp dir (kazoo's GSSAPI tests, removeRealmFromPrincipal), and the
//! JAAS files start-up refuses.

mod common;

use common::kdc::{Kdc, REALM};
use common::*;
use std::path::Path;
use std::process::Command;
use zkserver::zoo_defs::code;

const PYTHON: &str = "/usr/bin/python3";
const ZKCLI: &str = "/usr/share/zookeeper/bin/zkCli.sh";

/// The Server section kazoo's test harness writes (ZOOKEEPER_JAAS_AUTH=digest),
/// plus a user made super by zookeeper.superUser.
const SERVER_JAAS: &str = r#"
// users for DIGEST-MD5
Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_super="super_secret"
    user_jaasuser="jaas_password"
    user_admin="admin_pw";   /* made super below */
};
"#;

const SASL_PROVIDER: &str = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider";

/// A server of `flavor` with the sasl ACL provider, `SERVER_JAAS` as its
/// JAAS file and `props`. The temp dir holding the file goes with it.
fn start(flavor: Flavor, props: &[(&str, &str)]) -> (tempfile::TempDir, TestServer) {
    let dir = tempfile::tempdir().expect("temp dir");
    let jaas = dir.path().join("jaas.conf");
    std::fs::write(&jaas, SERVER_JAAS).expect("write jaas.conf");
    let mut opts = ServerOpts::default()
        .cfg("authProvider.1", SASL_PROVIDER)
        .prop("java.security.auth.login.config", jaas.to_str().expect("utf-8 path"));
    for (k, v) in props {
        opts = opts.prop(k, v);
    }
    (dir, TestServer::start_with(flavor, opts))
}

fn run_python(script: &str, addr: &str) -> Vec<String> {
    assert!(Path::new(PYTHON).exists(), "{PYTHON} missing: apt-get install -y python3-kazoo python3-pure-sasl");
    let out = Command::new(PYTHON).arg("-c").arg(script).arg(addr).output().expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kazoo script failed ({}):\n{stdout}\n{stderr}", out.status);
    stdout.lines().map(str::to_string).collect()
}

const KAZOO_SCRIPT: &str = r#"
import sys, time
from kazoo.client import KazooClient
from kazoo.security import make_acl
from kazoo.exceptions import NoAuthError, InvalidACLError
h = sys.argv[1]
def sasl(user, password):
    return KazooClient(hosts=h, timeout=10, sasl_options={
        "mechanism": "DIGEST-MD5", "username": user, "password": password})

def refused(client):
    # kazoo reports CONNECTED when the session is set up, then LOST once
    # the server has answered the SASL exchange AUTHFAILED and closed.
    # start() would race the two (it raises a time-out when the failure
    # lands between the connect and its own check): wait for the state.
    client.start_async()
    deadline = time.time() + 15
    while client.client_state != "AUTH_FAILED" and time.time() < deadline:
        time.sleep(0.05)
    state = client.state
    client.stop()
    client.close()
    return state

# test_sasl.py TestSASLDigestAuthentication.test_connect_sasl_auth
client = sasl("jaasuser", "jaas_password")
client.start(timeout=15)
client.create("/1", b"secret", acl=(make_acl("sasl", credential="jaasuser", all=True),))
print("acl", client.get_acls("/1")[0])
plain = KazooClient(hosts=h, timeout=10)
plain.start(timeout=15)
try:
    plain.get("/1")
    print("plain read")
except NoAuthError:
    print("plain NoAuthError")
# another SASL user is denied; the super user is not
for user, password in [("admin", "admin_pw"), ("super", "super_secret")]:
    other = sasl(user, password)
    other.start(timeout=15)
    try:
        print(user, other.get("/1")[0])
    except NoAuthError:
        print(user, "NoAuthError")
    other.stop()
    other.close()
# TestLegacySASLDigestAuthentication: the credentials as auth_data
legacy = KazooClient(hosts=h, timeout=10, auth_data=[("sasl", "jaasuser:jaas_password")])
legacy.start(timeout=15)
print("legacy", legacy.get("/1")[0])
legacy.stop()
legacy.close()
try:
    client.create("/2", acl=(make_acl("sasl", credential="a@b@c", all=True),))
except InvalidACLError:
    print("bad sasl id InvalidACLError")

# test_invalid_sasl_auth, and a known user with a wrong password
for user, password in [("baduser", "badpassword"), ("jaasuser", "wrong")]:
    print("bad", user, refused(sasl(user, password)))

# the server goes on serving the others
print("still", client.get("/1")[0], sorted(plain.get_children("/")))
client.delete("/1")
client.stop()
plain.stop()
print("done")
"#;

#[test]
fn kazoo_digest_md5_as_java() {
    for flavor in [Flavor::Zkserver, Flavor::Java] {
        let (_dir, s) = start(flavor, &[("zookeeper.superUser", "admin")]);
        let lines = run_python(KAZOO_SCRIPT, &s.addr());
        assert_eq!(
            lines,
            [
                "acl [ACL(perms=31, acl_list=['ALL'], id=Id(scheme='sasl', id='jaasuser'))]",
                "plain NoAuthError",
                "admin b'secret'",
                "super b'secret'",
                "legacy b'secret'",
                "bad sasl id InvalidACLError",
                "bad baduser LOST",
                "bad jaasuser LOST",
                "still b'secret' ['1', 'zookeeper']",
                "done",
            ],
            "{flavor:?}"
        );
        if flavor == Flavor::Zkserver {
            let log = std::fs::read_to_string(s.log_path()).expect("server log");
            assert!(log.contains("failed to SASL authenticate: DIGEST-MD5: digest response format violation. Mismatched response."), "{log}");
            assert!(log.contains("cannot acquire password for baduser"), "{log}");
            assert!(log.contains("Authenticated Id 'admin' as super user"), "{log}");
        }
    }
}

#[test]
fn zkcli_logs_in_with_a_client_section() {
    let (dir, s) = start(flavor(), &[]);
    let client_jaas = dir.path().join("client.jaas");
    std::fs::write(
        &client_jaas,
        "Client {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  username=\"jaasuser\"\n  password=\"jaas_password\";\n};\n",
    )
    .expect("write client.jaas");
    let flags = format!("CLIENT_JVMFLAGS=-Djava.security.auth.login.config={}", client_jaas.display());
    let addr = s.addr();
    let mut cli = Interactive::spawn("/usr/bin/env", &[&flags, ZKCLI, "-server", &addr], "apt-get install -y zookeeper");
    cli.expect("WatchedEvent state:SaslAuthenticated type:None path:null");
    cli.send("create /z data sasl:jaasuser:cdrwa");
    cli.expect("Created /z");
    cli.send("whoami");
    cli.expect("sasl: jaasuser");
    cli.send("getAcl /z");
    cli.expect("'sasl,'jaasuser");
    cli.send("quit");
    cli.finish();
    assert_code(s.client().get_data("/z", false), code::NO_AUTH);
}

#[test]
fn sessions_that_must_authenticate() {
    for flavor in [Flavor::Zkserver, Flavor::Java] {
        let (_dir, s) = start(flavor, &[("zookeeper.sessionRequireClientSASLAuth", "true")]);
        // A client without SASL: its first request is answered
        // SESSIONCLOSEDREQUIRESASLAUTH and the connection closes.
        let c = s.client();
        assert_code(c.exists("/", false), code::SESSION_CLOSED_REQUIRE_SASL_AUTH);
        let lines = run_python(
            r#"
import sys, time
from kazoo.client import KazooClient
ok = KazooClient(hosts=sys.argv[1], timeout=10, sasl_options={
    "mechanism": "DIGEST-MD5", "username": "jaasuser", "password": "jaas_password"})
ok.start(timeout=15)
print("ok", ok.exists("/") is not None)
bad = KazooClient(hosts=sys.argv[1], timeout=10, sasl_options={
    "mechanism": "DIGEST-MD5", "username": "jaasuser", "password": "wrong"})
# As refused() in KAZOO_SCRIPT: wait for the state, not on start().
bad.start_async()
deadline = time.time() + 15
while bad.client_state != "AUTH_FAILED" and time.time() < deadline:
    time.sleep(0.05)
print("bad", bad.state)
bad.stop()
ok.stop()
"#,
            &s.addr(),
        );
        assert_eq!(lines, ["ok True", "bad LOST"], "{flavor:?}");
    }
}

#[test]
fn start_up_refuses_what_it_cannot_log_in_with() {
    let dir = tempfile::tempdir().expect("temp dir");
    let krb = dir.path().join("krb.jaas");
    std::fs::write(
        &krb,
        "Server { com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab=\"/x.keytab\" principal=\"zookeeper/localhost@EXAMPLE.COM\"; };",
    )
    .expect("write");
    let other = dir.path().join("other.jaas");
    std::fs::write(&other, "Server { com.example.LdapLoginModule required; };").expect("write");
    for (file, wanted) in [
        (krb.to_str().expect("utf-8"), "/x.keytab"),
        (other.to_str().expect("utf-8"), "login module com.example.LdapLoginModule is not available"),
        ("/nonexistent/jaas.conf", "No JAAS configuration section named 'Server'"),
    ] {
        let mut s =
            TestServer::prepare(Flavor::Zkserver, ServerOpts::default().prop("java.security.auth.login.config", file));
        assert!(s.try_start().is_err(), "started with {file}");
        let log = s.log_tail(20);
        assert!(log.contains("java.security.auth.login.config") && log.contains(wanted), "{log}");
    }
}

/// kazoo/tests/test_sasl.py TestSASLGSSAPIAuthentication, run as the
/// harness would with KRB5_TEST_ENV set: a ticket from the client keytab,
/// mechanism GSSAPI, a sasl ACL for the client's principal.
const KAZOO_GSSAPI_SCRIPT: &str = r#"
import sys, time, subprocess
from kazoo.client import KazooClient
from kazoo.security import make_acl
from kazoo.exceptions import NoAuthError
h, keytab, acl_id = sys.argv[1], sys.argv[2], sys.argv[3]
subprocess.check_call(["kinit", "-kt", keytab, "client"])
client = KazooClient(hosts=h, timeout=10, sasl_options={"mechanism": "GSSAPI"})
client.start(timeout=15)
client.create("/1", b"k", acl=(make_acl("sasl", credential=acl_id, all=True),))
print("acl", client.get_acls("/1")[0][0].id)
plain = KazooClient(hosts=h, timeout=10)
plain.start(timeout=15)
try:
    plain.get("/1")
    print("plain read")
except NoAuthError:
    print("plain NoAuthError")
client.delete("/1")
client.stop()
# test_invalid_gssapi_auth: a postdated ticket is not valid yet. As
# refused() in KAZOO_SCRIPT: wait for the state, not on start().
subprocess.check_call(["kinit", "-kt", keytab, "-s", "30min", "client"])
bad = KazooClient(hosts=h, timeout=10, sasl_options={"mechanism": "GSSAPI"})
bad.start_async()
deadline = time.time() + 15
while bad.client_state != "AUTH_FAILED" and time.time() < deadline:
    time.sleep(0.05)
print("bad", bad.state)
bad.stop()
print("still", sorted(plain.get_children("/")))
plain.stop()
"#;

#[test]
fn kazoo_gssapi_with_a_kdc_of_its_own() {
    let kdc = Kdc::start(&[("zk.keytab", &["zookeeper/localhost"]), ("client.keytab", &["client"])]);
    let jaas_dir = tempfile::tempdir().expect("temp dir");
    let jaas = jaas_dir.path().join("jaas.conf");
    std::fs::write(&jaas, kdc.jaas_section("Server", "zk.keytab", "zookeeper/localhost")).expect("jaas.conf");
    let krb5_conf = kdc.path("krb5.conf");
    // (server, its properties, the sasl id kazoo's client gets)
    type Run<'a> = (Flavor, &'a [(&'a str, &'a str)], &'a str);
    let runs: [Run; 3] = [
        (Flavor::Zkserver, &[], "client@KAZOOTEST.ORG"),
        (Flavor::Zkserver, &[("zookeeper.kerberos.removeRealmFromPrincipal", "true")], "client"),
        (Flavor::Java, &[], "client@KAZOOTEST.ORG"),
    ];
    for (flavor, props, acl_id) in runs {
        let mut opts = ServerOpts::default()
            .cfg("authProvider.1", SASL_PROVIDER)
            .prop("java.security.auth.login.config", jaas.to_str().expect("utf-8"))
            .prop("java.security.krb5.conf", &krb5_conf);
        for (k, v) in props {
            opts = opts.prop(k, v);
        }
        let s = TestServer::start_with(flavor, opts);
        let mut cmd = Command::new(PYTHON);
        cmd.arg("-c").arg(KAZOO_GSSAPI_SCRIPT).arg(format!("localhost:{}", s.port)).arg(kdc.path("client.keytab")).arg(acl_id);
        kdc.env(&mut cmd);
        let out = cmd.output().expect("run python3");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{flavor:?} {props:?}: kazoo failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(
            lines,
            [
                format!("acl Id(scheme='sasl', id='{acl_id}')").as_str(),
                "plain NoAuthError",
                "bad LOST",
                "still ['zookeeper']"
            ],
            "{flavor:?} {props:?}"
        );
        let log = std::fs::read_to_string(s.log_path()).expect("server log");
        let wanted = match flavor {
            Flavor::Zkserver => format!("adding SASL authorization for authorizationID: {acl_id}\n"),
            Flavor::Java => format!("adding SASL authorization for authorizationID: {acl_id}"),
        };
        assert!(log.contains(&wanted), "{flavor:?} {props:?}: no {wanted:?} in\n{log}");
        if flavor == Flavor::Zkserver && props.is_empty() {
            zkcli_logs_in_with_kerberos(&kdc, &s);
        }
    }
}

/// zkCli.sh (the Java client) with a Krb5LoginModule `Client` section and
/// the client's keytab.
fn zkcli_logs_in_with_kerberos(kdc: &Kdc, s: &TestServer) {
    let client_jaas = kdc.path("client.jaas");
    std::fs::write(&client_jaas, kdc.jaas_section("Client", "client.keytab", "client")).expect("client.jaas");
    let flags = format!(
        "CLIENT_JVMFLAGS=-Djava.security.auth.login.config={client_jaas} -Djava.security.krb5.conf={}",
        kdc.path("krb5.conf")
    );
    let server = format!("localhost:{}", s.port);
    let mut cli =
        Interactive::spawn("/usr/bin/env", &[&flags, ZKCLI, "-server", &server], "apt-get install -y zookeeper");
    cli.expect("WatchedEvent state:SaslAuthenticated type:None path:null");
    cli.send("whoami");
    cli.expect(&format!("sasl: client@{REALM}"));
    cli.send("quit");
    cli.finish();
}

/// The DIGEST-MD5 exchange on the wire: the challenge Java sends (its
/// nonce aside), and what a failed negotiation does to the connection with
/// and without zookeeper.allowSaslFailedClients.
#[test]
fn failed_negotiations_close_unless_allowed() {
    use zkserver::jute::records::{GetSaslRequest, SetSaslResponse};
    use zkserver::jute::Record;
    use zkserver::zoo_defs::op_code;
    let sasl = |c: &zkserver::client::ZkClient, token: &[u8]| {
        let reply = c.submit(op_code::SASL, &GetSaslRequest { token: token.to_vec() }).expect("sasl reply");
        let token = SetSaslResponse::from_bytes(&reply.body).expect("SetSASLResponse").token;
        (reply.header.err, token)
    };
    for flavor in [Flavor::Zkserver, Flavor::Java] {
        for allow in [false, true] {
            let (_dir, s) = start(flavor, &[("zookeeper.allowSaslFailedClients", if allow { "true" } else { "false" })]);
            let c = s.client();
            let (err, challenge) = sasl(&c, b"");
            assert_eq!(err, code::OK, "{flavor:?}");
            let challenge = String::from_utf8(challenge).expect("utf-8 challenge");
            let nonce = challenge
                .strip_prefix("realm=\"zk-sasl-md5\",nonce=\"")
                .and_then(|rest| rest.strip_suffix("\",charset=utf-8,algorithm=md5-sess"))
                .unwrap_or_else(|| panic!("{flavor:?}: challenge {challenge:?}"));
            assert_eq!(nonce.len(), 40, "{flavor:?}: 30 random bytes in base64: {nonce:?}");
            let (err, token) = sasl(&c, b"username=\"jaasuser\",nonce=\"wrong\"");
            if allow {
                assert_eq!((err, token), (code::OK, Vec::new()), "{flavor:?}: answered with no token");
                assert!(c.exists("/", false).expect("the connection stays").is_some());
            } else {
                assert_eq!((err, token), (code::AUTH_FAILED, Vec::new()), "{flavor:?}");
                assert!(c.exists("/", false).is_err(), "{flavor:?}: the connection was closed");
            }
        }
    }
}
