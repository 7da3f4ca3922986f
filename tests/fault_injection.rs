//! The fault-injection suite (see tests/jepsen/): the checker's own tests,
//! a short zkserver run under faults, and the long, configurable run that
//! scripts/jepsen.sh drives.
//!
//! Partitions need root (iptables) and the nodes run as their own uids.

mod common;
mod jepsen;

use common::Flavor;
use jepsen::nemesis::Fault;
use jepsen::run::{run, Config, Report};
use std::time::Duration;

/// How long after a heal writes may stay impossible before the run counts
/// as a liveness failure. Java needs a few seconds (an election of ~1 s,
/// initLimit × tickTime = 5 s at most for the sync, sessions re-established
/// within their 4 s timeout); 60 s is an order of magnitude beyond that on a
/// loaded 2-core machine, and still catches an ensemble that no longer
/// commits at all until the next fault.
const LIVENESS_BOUND: Duration = Duration::from_secs(60);

#[track_caller]
fn assert_sound(report: &Report, label: &str) {
    let summary = report.summary(label);
    println!("{summary}");
    for line in &report.log {
        println!("  {line}");
    }
    assert!(report.ops > 100, "too few operations to say anything\n{summary}");
    assert!(report.linearizable, "{summary}");
    assert!(report.lost.is_empty(), "{summary}");
    assert_eq!(report.unverified_keys, 0, "no final read within {LIVENESS_BOUND:?}\n{summary}");
    for (fault, (_, worst)) in &report.outages {
        assert!(*worst <= LIVENESS_BOUND, "no write for {worst:?} after a {} healed\n{summary}", fault.name());
    }
}

/// Thirty seconds of leader isolation (about syncLimit × tickTime, the
/// schedule that once left followers resynced onto proposals they never
/// acknowledged, and nothing committing) and kill -9, on three zkserver
/// nodes (Java with ZK_TEST_SERVER=java).
#[test]
fn stays_linearizable_and_writable_under_faults() {
    let cfg = Config {
        flavors: vec![common::flavor(); 3],
        faults: vec![Fault::IsolateLeader, Fault::Kill],
        duration: Duration::from_secs(30),
        quiet: Duration::from_secs(4),
        clients: 5,
        keys: 3,
        seed: 1,
        liveness_bound: LIVENESS_BOUND,
    };
    let report = run(&cfg);
    assert_sound(&report, &format!("{:?}", common::flavor()));
    assert!(report.outages.len() == 2, "both faults injected: {:?}", report.log);
}

fn flavors_from_env() -> Vec<Flavor> {
    let spec = std::env::var("JEPSEN_FLAVORS").unwrap_or_else(|_| "zkserver,zkserver,zkserver".into());
    spec.split(',')
        .map(|f| match f.trim() {
            "zkserver" | "zk" => Flavor::Zkserver,
            "java" => Flavor::Java,
            other => panic!("JEPSEN_FLAVORS: unknown flavour {other}"),
        })
        .collect()
}

/// The long run: JEPSEN_FLAVORS (e.g. java,java,zkserver), JEPSEN_FAULTS
/// (comma-separated: kill, stop, isolate-leader, split, bridge),
/// JEPSEN_SECS, JEPSEN_SEED, JEPSEN_LABEL.
#[test]
#[ignore = "long; run by scripts/jepsen.sh"]
fn configured_run() {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let faults = env("JEPSEN_FAULTS", "kill,stop,isolate-leader,split,bridge")
        .split(',')
        .map(|f| Fault::parse(f.trim()).unwrap_or_else(|| panic!("JEPSEN_FAULTS: unknown fault {f}")))
        .collect();
    let cfg = Config {
        flavors: flavors_from_env(),
        faults,
        duration: Duration::from_secs(env("JEPSEN_SECS", "180").parse().expect("JEPSEN_SECS")),
        quiet: Duration::from_secs(5),
        clients: 5,
        keys: 3,
        seed: env("JEPSEN_SEED", "1").parse().expect("JEPSEN_SEED"),
        liveness_bound: LIVENESS_BOUND,
    };
    let report = run(&cfg);
    assert_sound(&report, &env("JEPSEN_LABEL", "run"));
}
