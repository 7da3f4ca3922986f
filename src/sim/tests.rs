//! The simulator in the test suite: clean seeds stay clean, each mutation
//! is caught, and a seed replays exactly.

use super::{run, run_scenario, Mutation, Scenario, WEDGE_ISOLATE_AT_MS};

#[test]
fn clean_seeds_have_no_violations() {
    for seed in 0..50 {
        let r = run(seed, None, false);
        assert!(r.violations.is_empty(), "seed {seed}: {:?}", r.violations);
        assert!(r.recovered_after_ms.is_some(), "seed {seed}");
        assert!(r.writes_acked_after_heal > 0 && r.committed >= r.writes_acked, "seed {seed}: {r:?}");
    }
}

#[test]
fn every_mutation_is_caught() {
    for m in Mutation::ALL {
        let caught = (0..300).find(|seed| !run(*seed, Some(m), false).violations.is_empty());
        assert!(caught.is_some(), "{} not caught in 300 seeds", m.name());
    }
}

#[test]
fn a_seed_replays_exactly() {
    let a = run(7, None, true);
    let b = run(7, None, true);
    assert!(!a.trace.is_empty());
    assert_eq!(a.trace, b.trace);
    assert_eq!((a.messages, a.simulated_ms), (b.messages, b.simulated_ms));
}

/// Within this long after the wedge's heal the followers have rejoined
/// and a client write is acknowledged again.
const WEDGE_RECOVERY_BOUND_MS: u64 = 10_000;

#[test]
fn the_wedge_of_issue_10_commits_again_after_the_heal() {
    let r = run_scenario(Scenario::Wedge, None, true);
    assert!(r.violations.is_empty(), "{:?}\n{}", r.violations, r.trace.join("\n"));
    // Cut off, the leader kept leading; both followers decided again, for
    // it, and nobody else decided anything.
    let leader = r.decided.iter().filter(|(at, sid, l)| *at < WEDGE_ISOLATE_AT_MS && sid == l).map(|(_, _, l)| *l).last();
    let after: Vec<(i64, i64)> =
        r.decided.iter().filter(|(at, _, _)| *at >= WEDGE_ISOLATE_AT_MS).map(|(_, sid, l)| (*sid, *l)).collect();
    let rejoined = after.len() == 2 && after[0].0 != after[1].0 && after.iter().all(|(sid, l)| Some(*l) == leader && Some(*sid) != leader);
    assert!(rejoined, "{:?}\n{}", r.decided, r.trace.join("\n"));
    let after = r.write_after_heal_ms.expect("a write after the heal");
    assert!(after <= WEDGE_RECOVERY_BOUND_MS, "first write {after}ms after the heal\n{}", r.trace.join("\n"));
}

#[test]
fn the_wedge_is_caught_when_the_proposals_logged_at_newleader_are_not_acked() {
    let r = run_scenario(Scenario::Wedge, Some(Mutation::ForgetToAckTheProposalsLoggedAtNewleader), false);
    assert!(r.violations.iter().any(|v| v.contains("no client write committed")), "{:?}", r.violations);
}
