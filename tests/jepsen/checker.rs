//! A linearizability checker for a set of versioned registers (one znode
//! each), in the style of Knossos and Porcupine: Wing & Gong's search with
//! Lowe's memoization of (linearized set, register state), run separately
//! for each key (a history of independent objects is linearizable iff each
//! object's sub-history is: P-compositionality).
//!
//! The register is a znode's (data, version). Operations:
//! - `Read`: sync + getData; observes (value, version).
//! - `Cas`: setData with an expected version, or a multi of check(version)
//!   + setData; both apply iff the version matches, and then bump it.
//!
//! Outcomes: `Ok`, `Failed` (definitely did not apply: BADVERSION, which
//! also says the version differed when it was linearized) and `Unknown`
//! (timeout, connection loss: it may take effect at any point after its
//! invocation, or never). An unknown read constrains nothing and is
//! dropped; an unknown CAS is optional. Because versions only grow, an
//! unknown CAS expecting version v can no longer apply once a completed
//! operation has seen a version above v, so its window is closed there;
//! this keeps the search from carrying every unknown write to the end of
//! the history.

use std::collections::HashSet;

/// A znode's state: its data (a number written once) and its version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Reg {
    pub value: u64,
    pub version: i32,
}

/// Every key starts as value 0 at version 0.
pub const INITIAL: Reg = Reg { value: 0, version: 0 };

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Read { seen: Reg },
    Cas { expect: i32, value: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed,
    Unknown,
}

/// One operation of the history. Times are nanoseconds since the start of
/// the run; `complete` is meaningless for `Unknown`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Op {
    pub key: usize,
    pub process: usize,
    pub invoke: u64,
    pub complete: u64,
    pub kind: Kind,
    pub outcome: Outcome,
    /// Where it ran, for diagnosis only (the checker ignores it).
    pub served: Served,
}

/// The node (sid; 0 when unknown) and the session an operation went through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Served {
    pub node: i64,
    pub session: i64,
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let what = match self.kind {
            Kind::Read { seen } => format!("read {:#x}@v{}", seen.value, seen.version),
            Kind::Cas { expect, value } => format!("cas v{expect} -> {value:#x}"),
        };
        write!(
            f,
            "{:10.6}-{:10.6} key {} proc {} node {} session {:#x}: {what} {:?}",
            self.invoke as f64 / 1e9,
            self.complete as f64 / 1e9,
            self.key,
            self.process as isize,
            self.served.node,
            self.served.session,
            self.outcome
        )
    }
}

/// What the checker found for one key.
#[derive(Debug)]
pub struct KeyVerdict {
    pub key: usize,
    pub ops: usize,
    /// `None` when linearizable; otherwise the operation no linearization
    /// could get past, and how many ops the longest one placed.
    pub violation: Option<(Op, usize)>,
}

/// Checks every key's sub-history; the history is linearizable iff every
/// returned verdict has no violation.
pub fn check(history: &[Op]) -> Vec<KeyVerdict> {
    let mut keys: Vec<usize> = history.iter().map(|o| o.key).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .map(|key| {
            let ops: Vec<Op> = history
                .iter()
                .filter(|o| o.key == key && !matches!((o.kind, o.outcome), (Kind::Read { .. }, Outcome::Unknown)))
                .copied()
                .collect();
            KeyVerdict { key, ops: ops.len(), violation: check_key(&ops) }
        })
        .collect()
}

pub fn linearizable(history: &[Op]) -> bool {
    check(history).iter().all(|v| v.violation.is_none())
}

/// The lowest version a completed op proves the register reached.
fn proven_version(op: &Op) -> Option<i32> {
    match (op.kind, op.outcome) {
        (Kind::Read { seen }, Outcome::Ok) => Some(seen.version),
        (Kind::Cas { expect, .. }, Outcome::Ok) => Some(expect + 1),
        _ => None,
    }
}

/// The states `op` may leave behind when linearized in `s` (none: it cannot
/// be linearized there). An unknown CAS may also have had no effect.
fn step(s: Reg, op: &Op) -> [Option<Reg>; 2] {
    match (op.kind, op.outcome) {
        (Kind::Read { seen }, _) => [(seen == s).then_some(s), None],
        (Kind::Cas { expect, value }, Outcome::Ok) => {
            [(s.version == expect).then_some(Reg { value, version: expect + 1 }), None]
        }
        (Kind::Cas { expect, .. }, Outcome::Failed) => [(s.version != expect).then_some(s), None],
        (Kind::Cas { expect, value }, Outcome::Unknown) => {
            [(s.version == expect).then_some(Reg { value, version: expect + 1 }), Some(s)]
        }
    }
}

const HEAD: usize = usize::MAX;

/// The search for one key. Events are the ops' calls and returns in time
/// order, in a doubly linked list from which linearized ops are lifted.
fn check_key(ops: &[Op]) -> Option<(Op, usize)> {
    let n = ops.len();
    // The end of each op's window: its completion, or for an unknown CAS
    // the first completion proving a higher version than it expects.
    let ends: Vec<u64> = ops
        .iter()
        .map(|op| match (op.kind, op.outcome) {
            (Kind::Cas { expect, .. }, Outcome::Unknown) => ops
                .iter()
                .filter(|o| o.outcome != Outcome::Unknown && proven_version(o).is_some_and(|v| v > expect))
                .map(|o| o.complete.max(op.invoke))
                .min()
                .unwrap_or(u64::MAX),
            _ => op.complete,
        })
        .collect();
    // Event e: op e/2, a call when e is even. Calls sort before returns at
    // equal times (the more permissive order).
    let mut events: Vec<usize> = (0..2 * n).collect();
    events.sort_by_key(|&e| if e % 2 == 0 { (ops[e / 2].invoke, 0) } else { (ends[e / 2], 1) });
    let mut next = vec![HEAD; 2 * n];
    let mut prev = vec![HEAD; 2 * n];
    let mut first = HEAD;
    for w in events.windows(2) {
        next[w[0]] = w[1];
        prev[w[1]] = w[0];
    }
    if let Some(&e) = events.first() {
        first = e;
    }

    fn unlink(e: usize, first: &mut usize, next: &mut [usize], prev: &mut [usize]) {
        let (p, nx) = (prev[e], next[e]);
        if p == HEAD {
            *first = nx;
        } else {
            next[p] = nx;
        }
        if nx != HEAD {
            prev[nx] = p;
        }
    }
    fn relink(e: usize, first: &mut usize, next: &mut [usize], prev: &mut [usize]) {
        let (p, nx) = (prev[e], next[e]);
        if p == HEAD {
            *first = e;
        } else {
            next[p] = e;
        }
        if nx != HEAD {
            prev[nx] = e;
        }
    }

    // The linearized set is memoized by a 128-bit Zobrist hash (the XOR of
    // a random pair per member), kept up to date as ops come and go.
    let mut seed = 0x243F_6A88_85A3_08D3u64;
    let mut splitmix = || {
        seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let zobrist: Vec<u128> = (0..n).map(|_| (splitmix() as u128) << 64 | splitmix() as u128).collect();
    let mut state = INITIAL;
    let mut linearized = 0u128;
    let mut cache: HashSet<(u128, Reg)> = HashSet::new();
    // (op, state before it, alternative taken)
    let mut stack: Vec<(usize, Reg, usize)> = Vec::new();
    let mut entry = first;
    let mut start_alt = 0;
    let mut deepest: (usize, Option<usize>) = (0, None);
    loop {
        if first == HEAD {
            return None;
        }
        if entry != HEAD && entry % 2 == 0 {
            let i = entry / 2;
            let mut placed = false;
            for (alt, next_state) in step(state, &ops[i]).iter().enumerate().skip(start_alt) {
                let Some(ns) = *next_state else { continue };
                if cache.insert((linearized ^ zobrist[i], ns)) {
                    linearized ^= zobrist[i];
                    stack.push((i, state, alt));
                    state = ns;
                    // Lift the return first: the call's neighbours are
                    // restored in the reverse order on backtracking.
                    unlink(2 * i + 1, &mut first, &mut next, &mut prev);
                    unlink(2 * i, &mut first, &mut next, &mut prev);
                    placed = true;
                    break;
                }
            }
            start_alt = 0;
            entry = if placed { first } else { next[entry] };
        } else {
            // A return whose op is not linearized (or the list's end):
            // undo the last choice and try its next alternative.
            if entry != HEAD && stack.len() >= deepest.0 {
                deepest = (stack.len(), Some(entry / 2));
            }
            let Some((i, before, alt)) = stack.pop() else {
                let stuck = deepest.1.unwrap_or(0);
                return Some((ops[stuck], deepest.0));
            };
            state = before;
            linearized ^= zobrist[i];
            relink(2 * i, &mut first, &mut next, &mut prev);
            relink(2 * i + 1, &mut first, &mut next, &mut prev);
            entry = 2 * i;
            start_alt = alt + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: u64 = u64::MAX;

    fn reg(value: u64, version: i32) -> Reg {
        Reg { value, version }
    }

    fn read(p: usize, t0: u64, t1: u64, value: u64, version: i32) -> Op {
        let kind = Kind::Read { seen: reg(value, version) };
        Op { key: 0, process: p, invoke: t0, complete: t1, kind, outcome: Outcome::Ok, served: Served::default() }
    }

    fn cas(p: usize, t0: u64, t1: u64, expect: i32, value: u64, outcome: Outcome) -> Op {
        Op { key: 0, process: p, invoke: t0, complete: t1, kind: Kind::Cas { expect, value }, outcome, served: Served::default() }
    }

    fn on_key(key: usize, ops: Vec<Op>) -> Vec<Op> {
        ops.into_iter().map(|o| Op { key, ..o }).collect()
    }

    #[test]
    fn accepts_sequential_and_concurrent_histories() {
        assert!(linearizable(&[]));
        let h = [
            read(0, 0, 1, 0, 0),
            cas(0, 2, 3, 0, 7, Outcome::Ok),
            read(1, 4, 5, 7, 1),
            cas(1, 6, 7, 0, 8, Outcome::Failed),
            cas(0, 8, 9, 1, 9, Outcome::Ok),
            read(1, 10, 11, 9, 2),
        ];
        assert!(linearizable(&h));
        // Two overlapping CASes on version 0: one wins, the other fails;
        // a read overlapping both may see either state.
        let h = [
            cas(0, 0, 10, 0, 1, Outcome::Failed),
            cas(1, 1, 9, 0, 2, Outcome::Ok),
            read(2, 2, 3, 0, 0),
            read(3, 4, 12, 2, 1),
        ];
        assert!(linearizable(&h));
        // A read may see a write that completes after the read does, as
        // long as they overlap.
        let h = [cas(0, 0, 10, 0, 5, Outcome::Ok), read(1, 1, 2, 5, 1), read(2, 3, 4, 5, 1)];
        assert!(linearizable(&h));
    }

    #[test]
    fn unknown_cas_may_apply_late_or_never() {
        // Seen long after it timed out: it took effect after its invocation.
        let h = [cas(0, 0, U, 0, 5, Outcome::Unknown), read(1, 100, 101, 0, 0), read(1, 200, 201, 5, 1)];
        assert!(linearizable(&h));
        // Never seen and overtaken: it did not happen.
        let h = [cas(0, 0, U, 0, 5, Outcome::Unknown), cas(1, 10, 11, 0, 6, Outcome::Ok), read(1, 12, 13, 6, 1)];
        assert!(linearizable(&h));
        // Unknown reads say nothing, whatever they carry.
        let h = [
            Op { outcome: Outcome::Unknown, ..read(0, 0, 1, 42, 9) },
            cas(1, 2, 3, 0, 1, Outcome::Ok),
        ];
        assert!(linearizable(&h));
        // Several unknown writes in a row, one of which is the one read back.
        let mut h: Vec<Op> = (0..20).map(|i| cas(i, i as u64, U, 0, 100 + i as u64, Outcome::Unknown)).collect();
        h.push(read(99, 50, 51, 113, 1));
        assert!(linearizable(&h));
    }

    #[test]
    fn rejects_a_stale_read() {
        let h = [cas(0, 0, 1, 0, 5, Outcome::Ok), read(1, 2, 3, 0, 0)];
        let v = check(&h);
        let (op, placed) = v[0].violation.expect("stale read accepted");
        assert_eq!(op, h[1]);
        assert_eq!(placed, 1);
    }

    #[test]
    fn rejects_a_lost_write() {
        // Acknowledged at version 1, later the register is back at version
        // 0, and a new write at version 0 succeeds.
        let h = [
            cas(0, 0, 1, 0, 5, Outcome::Ok),
            read(1, 2, 3, 5, 1),
            cas(2, 4, 5, 0, 6, Outcome::Ok),
            read(1, 6, 7, 6, 1),
        ];
        assert!(!linearizable(&h));
    }

    #[test]
    fn rejects_a_cas_applied_twice() {
        // Two sequential CASes expecting the same version both succeed.
        let h = [cas(0, 0, 1, 0, 5, Outcome::Ok), cas(1, 2, 3, 0, 6, Outcome::Ok)];
        assert!(!linearizable(&h));
        // One CAS seen at two versions: it was applied twice.
        let h = [cas(0, 0, 1, 0, 5, Outcome::Ok), read(1, 2, 3, 5, 1), read(1, 4, 5, 5, 2)];
        assert!(!linearizable(&h));
        // The same with an unknown outcome.
        let h = [cas(0, 0, U, 0, 5, Outcome::Unknown), read(1, 2, 3, 5, 1), read(1, 4, 5, 5, 2)];
        assert!(!linearizable(&h));
    }

    #[test]
    fn rejects_a_read_of_a_value_never_written() {
        let h = [cas(0, 0, 1, 0, 5, Outcome::Ok), read(1, 2, 3, 77, 1)];
        assert!(!linearizable(&h));
        // Nor may an unknown write show up before it was invoked.
        let h = [read(1, 0, 1, 5, 1), cas(0, 2, U, 0, 5, Outcome::Unknown)];
        assert!(!linearizable(&h));
    }

    #[test]
    fn rejects_a_failed_cas_that_took_effect() {
        let h = [cas(0, 0, 1, 0, 5, Outcome::Failed), read(1, 2, 3, 5, 1)];
        assert!(!linearizable(&h));
        // And a BADVERSION when the version did match.
        let h = [read(1, 0, 1, 0, 0), cas(0, 2, 3, 0, 5, Outcome::Failed), read(1, 4, 5, 0, 0)];
        assert!(!linearizable(&h));
    }

    #[test]
    fn rejects_reads_going_back_in_time() {
        // Both writes done; two later reads see them in the wrong order.
        let h = [
            cas(0, 0, 1, 0, 5, Outcome::Ok),
            cas(0, 2, 3, 1, 6, Outcome::Ok),
            read(1, 4, 5, 6, 2),
            read(2, 6, 7, 5, 1),
        ];
        assert!(!linearizable(&h));
    }

    #[test]
    fn keys_are_checked_apart() {
        let good = on_key(1, vec![cas(0, 0, 1, 0, 5, Outcome::Ok), read(1, 2, 3, 5, 1)]);
        let bad = on_key(2, vec![cas(0, 0, 1, 0, 6, Outcome::Ok), read(1, 2, 3, 0, 0)]);
        let mut h = good.clone();
        h.extend(bad);
        let v = check(&h);
        assert_eq!(v.len(), 2);
        assert!(v[0].violation.is_none());
        assert_eq!(v[1].key, 2);
        assert!(v[1].violation.is_some());
        // The same value on another key is not a read of this key's write.
        assert!(linearizable(&good));
    }

    #[test]
    fn a_long_concurrent_history_is_checked_quickly() {
        // Five processes in lockstep rounds: each round all read, then one
        // CAS wins and four fail, with unknown ones sprinkled in.
        let mut h = Vec::new();
        let mut version = 0;
        let mut value = 0;
        let mut t = 0;
        for round in 0..2000u64 {
            for p in 0..5 {
                h.push(read(p, t + p as u64, t + 10 + p as u64, value, version));
            }
            t += 20;
            let winner = (round % 5) as usize;
            for p in 0..5 {
                let v = round * 10 + p as u64 + 1;
                let outcome = if p == winner {
                    Outcome::Ok
                } else if round % 7 == 0 && p == (winner + 1) % 5 {
                    Outcome::Unknown
                } else {
                    Outcome::Failed
                };
                h.push(cas(p, t + p as u64, t + 10 + p as u64, version, v, outcome));
                if p == winner {
                    value = v;
                }
            }
            version += 1;
            t += 20;
        }
        let started = std::time::Instant::now();
        assert!(linearizable(&h));
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}", started.elapsed());
        // One stale read near the end spoils it.
        h.push(read(0, t + 1, t + 2, 0, 0));
        assert!(!linearizable(&h));
    }
}
