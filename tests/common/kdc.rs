//! An MIT Kerberos KDC of the test's own (Debian's krb5-kdc) for realm
//! KAZOOTEST.ORG in a temp dir, on a free localhost port, with the
//! principals and keytabs a test asks for; and the JAAS Krb5LoginModule
//! sections that log in from those keytabs. Stopped when dropped.

use super::{die_with_parent, free_port, wait_until};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

pub const REALM: &str = "KAZOOTEST.ORG";

pub struct Kdc {
    dir: tempfile::TempDir,
    child: std::process::Child,
}

impl Kdc {
    /// A running KDC; `keytabs` are (file name, principals with random
    /// keys written to it), principals without their realm.
    pub fn start(keytabs: &[(&str, &[&str])]) -> Kdc {
        for tool in ["/usr/sbin/krb5kdc", "/usr/sbin/kdb5_util", "/usr/sbin/kadmin.local", "/usr/bin/kinit"] {
            assert!(Path::new(tool).exists(), "{tool} missing: apt-get install -y krb5-kdc krb5-admin-server krb5-user");
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path().display().to_string();
        let port = free_port();
        std::fs::write(
            dir.path().join("krb5.conf"),
            format!(
                "[libdefaults]\n default_realm = {REALM}\n dns_lookup_kdc = false\n dns_lookup_realm = false\n \
                 dns_canonicalize_hostname = false\n rdns = false\n udp_preference_limit = 1\n\
                 [realms]\n {REALM} = {{\n  kdc = 127.0.0.1:{port}\n }}\n"
            ),
        )
        .expect("krb5.conf");
        std::fs::write(
            dir.path().join("kdc.conf"),
            format!(
                "[kdcdefaults]\n kdc_listen = 127.0.0.1:{port}\n kdc_tcp_listen = 127.0.0.1:{port}\n\
                 [realms]\n {REALM} = {{\n  database_name = {d}/principal\n  key_stash_file = {d}/stash\n  \
                 acl_file = {d}/kadm5.acl\n }}\n"
            ),
        )
        .expect("kdc.conf");
        std::fs::write(dir.path().join("kadm5.acl"), "").expect("kadm5.acl");
        let mut kdc = Kdc { child: Command::new("/bin/true").spawn().expect("spawn"), dir };
        kdc.run("/usr/sbin/kdb5_util", &["-r", REALM, "-P", "master-password", "create", "-s"]);
        for (file, principals) in keytabs {
            for p in *principals {
                kdc.kadmin(&format!("addprinc -randkey {p}"));
                kdc.kadmin(&format!("ktadd -k {d}/{file} {p}"));
            }
        }
        let log = std::fs::File::create(kdc.dir.path().join("kdc.log")).expect("kdc.log");
        let mut cmd = Command::new("/usr/sbin/krb5kdc");
        cmd.args(["-n", "-r", REALM]).stdout(log.try_clone().expect("log")).stderr(log);
        kdc.env(&mut cmd);
        die_with_parent(&mut cmd);
        let _ = kdc.child.wait();
        kdc.child = cmd.spawn().expect("start krb5kdc");
        let up = wait_until(Duration::from_secs(20), || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        assert!(up, "krb5kdc not listening on {port}: {}", kdc.file("kdc.log"));
        kdc
    }

    /// A file in the KDC's directory.
    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    pub fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    /// The Kerberos environment: this realm's krb5.conf and kdc.conf, and a
    /// credentials cache of its own.
    pub fn env(&self, cmd: &mut Command) {
        cmd.env("KRB5_CONFIG", self.path("krb5.conf"))
            .env("KRB5_KDC_PROFILE", self.path("kdc.conf"))
            .env("KRB5CCNAME", format!("FILE:{}", self.path("ccache")));
    }

    /// One kadmin.local query on the database.
    pub fn kadmin(&self, query: &str) {
        self.run("/usr/sbin/kadmin.local", &["-r", REALM, "-q", query]);
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let mut cmd = Command::new(tool);
        cmd.args(args);
        self.env(&mut cmd);
        let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
        assert!(
            out.status.success(),
            "{tool} {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A JAAS section logging in as `principal` (realm added) with the
    /// keys of keytab `keytab` of this KDC, as Java's Kerberos tests write
    /// it.
    pub fn jaas_section(&self, section: &str, keytab: &str, principal: &str) -> String {
        format!(
            "{section} {{\n  com.sun.security.auth.module.Krb5LoginModule required\n  useKeyTab=true\n  \
             keyTab=\"{}\"\n  storeKey=true\n  useTicketCache=false\n  principal=\"{principal}@{REALM}\";\n}};\n",
            self.path(keytab)
        )
    }
}

impl Drop for Kdc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
