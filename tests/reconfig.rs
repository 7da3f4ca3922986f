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
