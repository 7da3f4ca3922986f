//! Dynamic reconfiguration (reconfigEnabled=true), side by side with Java
//! 3.8 where the behaviour is observable: the config version after the
//! first election (the NEWLEADER zxid), the files each node writes
//! (`zoo.cfg.dynamic.<version>` and zoo.cfg rewritten to point at it),
//! `/zookeeper/config`, and the reconfig request's rules and error codes.

mod common;

use common::ensemble::Ensemble;
use common::Flavor;
use std::collections::BTreeSet;
use std::fs;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(40);

const RECONFIG: (&str, &str) = ("reconfigEnabled", "true");

/// The lines of a file as a set (Java writes zoo.cfg in hash order).
fn line_set(text: &str) -> BTreeSet<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string).collect()
}

/// After the first election every node holds the membership with
/// version=100000000 in /zookeeper/config, has written
/// zoo.cfg.dynamic.100000000 (the server lines, no version) and has
/// rewritten zoo.cfg: the server lines moved out (clientPort stays, since
/// no server line names a client address), dynamicConfigFile added,
/// zoo.cfg.bak keeping the original.
fn first_election_versions_the_config(flavor: Flavor) {
    let mut ens = Ensemble::new(&[flavor, flavor, flavor], &[RECONFIG]);
    let originals: Vec<String> = ens.nodes.iter().map(|n| fs::read_to_string(n.cfg_path()).expect("zoo.cfg")).collect();
    ens.start_all();
    ens.settled_leader(&[1, 2, 3]);
    let servers: BTreeSet<String> =
        line_set(&originals[0]).into_iter().filter(|l| l.starts_with("server.")).collect();
    for (i, n) in ens.nodes.iter().enumerate() {
        let c = ens.client(n.sid);
        let mut config = None;
        common::wait_until(DEADLINE, || {
            config = c.get_data("/zookeeper/config", false).ok().and_then(|(d, _)| d);
            config.as_deref().is_some_and(|d| d.ends_with(b"version=100000000"))
        });
        let config = String::from_utf8(config.unwrap_or_default()).expect("utf-8");
        assert!(config.ends_with("\nversion=100000000"), "{flavor:?} node {}: {config:?}\n{}", n.sid, ens.logs());
        let members: BTreeSet<String> = line_set(&config).into_iter().filter(|l| l.starts_with("server.")).collect();
        // The client ports come from each node's static clientPort, which
        // the server lines do not carry.
        let want: BTreeSet<String> = servers.iter().map(|l| format!("{l}:participant")).collect();
        assert_eq!(members, want, "{flavor:?} node {}", n.sid);

        let dynamic = n.cfg_path().with_file_name("zoo.cfg.dynamic.100000000");
        let mut text = String::new();
        common::wait_until(DEADLINE, || {
            text = fs::read_to_string(&dynamic).unwrap_or_default();
            !text.is_empty()
        });
        assert_eq!(line_set(&text), members, "{flavor:?} node {}: {}", n.sid, dynamic.display());

        let cfg = line_set(&fs::read_to_string(n.cfg_path()).expect("zoo.cfg"));
        let mut want_cfg: BTreeSet<String> = line_set(&originals[i])
            .into_iter()
            .filter(|l| !l.starts_with("server."))
            .collect();
        want_cfg.insert(format!("dynamicConfigFile={}", dynamic.canonicalize().expect("canonical").display()));
        assert_eq!(cfg, want_cfg, "{flavor:?} node {}: zoo.cfg", n.sid);
        let bak = n.cfg_path().with_file_name("zoo.cfg.bak");
        assert_eq!(fs::read_to_string(&bak).ok().as_deref(), Some(originals[i].as_str()), "{flavor:?} node {}", n.sid);
        let _ = c.close();
    }
    // A restart reads the rewritten zoo.cfg and the dynamic file.
    ens.kill9(1);
    ens.start(1);
    let ok = common::wait_until(DEADLINE, || matches!(ens.mode(1).as_deref(), Some("leader" | "follower")));
    assert!(ok, "{flavor:?} node 1 does not come back from its rewritten zoo.cfg\n{}", ens.logs());
}

#[test]
fn first_election_versions_the_config_java() {
    first_election_versions_the_config(Flavor::Java);
}

#[test]
fn first_election_versions_the_config_zkserver() {
    first_election_versions_the_config(Flavor::Zkserver);
}

/// kazoo's test harness: the super user "super" with password "test".
const SUPER_DIGEST: &str = "super:D/InIHSb7yEEbrWz8b9l71RjZJU=";

/// A 3-node ensemble as kazoo's harness configures one for ZooKeeper 3.5+:
/// reconfigEnabled=true and the super user's digest.
fn kazoo_ensemble(flavor: Flavor) -> Ensemble {
    let mut ens = Ensemble::new(&[flavor; 3], &[RECONFIG]);
    ens.set_system_property("zookeeper.DigestAuthenticationProvider.superDigest", SUPER_DIGEST);
    ens.start_all();
    ens.settled_leader(&[1, 2, 3]);
    ens
}

/// Runs kazoo's own TestReconfig (kazoo/tests/test_client.py) against
/// `hosts`: its harness is pointed at the running ensemble instead of the
/// Java cluster it would start, and pytest's two helpers it uses (raises,
/// skip) are supplied, as Debian ships kazoo's tests without pytest.
const KAZOO_TEST_RECONFIG: &str = r#"
import sys, types, unittest, unittest.mock, contextlib
sys.modules["mock"] = unittest.mock
pytest = types.ModuleType("pytest")
@contextlib.contextmanager
def raises(exc):
    try:
        yield
    except exc:
        return
    raise AssertionError("did not raise %s" % exc.__name__)
def skip(msg=""):
    raise unittest.SkipTest(msg)
pytest.raises, pytest.skip = raises, skip
sys.modules["pytest"] = pytest
import kazoo.testing.harness as harness
class Server:
    def __init__(self, address):
        self.address, self.running = address, True
servers = [Server(a) for a in sys.argv[1].split(",")]
harness.get_global_cluster = lambda: servers
from kazoo.tests.test_client import TestReconfig
suite = unittest.defaultTestLoader.loadTestsFromTestCase(TestReconfig)
result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
print("ran", result.testsRun, "failures", len(result.failures), "errors", len(result.errors), "skipped", len(result.skipped))
sys.exit(0 if result.wasSuccessful() else 1)
"#;

fn kazoo_test_reconfig(flavor: Flavor) {
    let ens = kazoo_ensemble(flavor);
    let hosts: Vec<String> = ens.nodes.iter().map(|n| n.client_addr()).collect();
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", KAZOO_TEST_RECONFIG, &hosts.join(",")])
        .output()
        .expect("run python3 (apt-get install -y python3-kazoo)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("ran 3 failures 0 errors 0 skipped 0"),
        "{flavor:?}: kazoo's TestReconfig failed:\n{stdout}\n{stderr}\n{}",
        ens.logs()
    );
}

#[test]
fn kazoo_test_reconfig_java() {
    kazoo_test_reconfig(Flavor::Java);
}

#[test]
fn kazoo_test_reconfig_zkserver() {
    kazoo_test_reconfig(Flavor::Zkserver);
}
