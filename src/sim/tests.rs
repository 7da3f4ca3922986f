//! The simulator in the test suite: clean seeds stay clean, each mutation
//! is caught, and a seed replays exactly.

use super::{run, Mutation};

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
        let caught = (0..100).find(|seed| !run(*seed, Some(m), false).violations.is_empty());
        assert!(caught.is_some(), "{} not caught in 100 seeds", m.name());
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
