//! The in-memory network between nodes and clients: every message between
//! two different endpoints is delayed, and by seeded choice lost,
//! duplicated (hence reordered too) or cut by a partition. A message to
//! oneself is never lost and arrives at once (Java's QuorumCnxManager puts
//! it straight on its own receive queue).
//!
//! Election notifications between two peers also go through a model of
//! QuorumCnxManager's per-peer send queue (capacity 1, the oldest dropped)
//! over one ordered connection: only the newest notification sent on a
//! link is delivered, once. Without it, a LOOKING observer in a later round
//! and a LOOKING voter in an older one, which answer every notification of
//! each other (as Java's WorkerReceiver does), would multiply their
//! exchanges with every duplicate.

use super::rng::Rng;
use std::collections::{BTreeMap, BTreeSet};

/// How bad the network is right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weather {
    /// Chance of losing a message, per mille.
    pub loss: u64,
    /// Chance of delivering a message twice, per mille.
    pub duplicate: u64,
    /// Delays are uniform in 1..=`max_delay_ms`; some exceed the election's
    /// finalize wait, so messages overtake each other.
    pub max_delay_ms: u64,
}

impl Weather {
    pub const CALM: Weather = Weather { loss: 0, duplicate: 0, max_delay_ms: 10 };
}

impl Default for Weather {
    fn default() -> Weather {
        Weather::CALM
    }
}

/// Links between endpoints (node sids, client addresses); calm and whole
/// at first.
#[derive(Debug, Clone, Default)]
pub struct Network {
    pub weather: Weather,
    /// Each endpoint's side while partitioned; endpoints on different sides
    /// (or one listed and one not) cannot reach each other.
    sides: Option<BTreeMap<i64, u8>>,
    /// Single links cut both ways, besides the sides (a scenario's).
    cut: BTreeSet<(i64, i64)>,
    /// Per election link (from, to): the newest notification sent and the
    /// newest delivered.
    links: BTreeMap<(i64, i64), (u64, u64)>,
    /// Per connection direction (from, to): when its last packet arrives.
    streams: BTreeMap<(i64, i64), u64>,
}

impl Network {
    /// Cuts the network: `sides` gives every endpoint's side.
    pub fn partition(&mut self, sides: BTreeMap<i64, u8>) {
        self.sides = Some(sides);
    }

    pub fn heal(&mut self) {
        self.sides = None;
        self.cut.clear();
    }

    /// Cuts the link between `a` and `b`, both ways.
    pub fn cut_link(&mut self, a: i64, b: i64) {
        self.cut.insert((a.min(b), a.max(b)));
    }

    pub fn restore_link(&mut self, a: i64, b: i64) {
        self.cut.remove(&(a.min(b), a.max(b)));
    }

    pub fn is_partitioned(&self) -> bool {
        self.sides.is_some()
    }

    pub fn connected(&self, a: i64, b: i64) -> bool {
        if self.cut.contains(&(a.min(b), a.max(b))) {
            return false;
        }
        match &self.sides {
            None => true,
            Some(sides) => a == b || matches!((sides.get(&a), sides.get(&b)), (Some(x), Some(y)) if x == y),
        }
    }

    /// Numbers a notification sent on the link `from` -> `to`; it replaces
    /// any older one still queued.
    pub fn enqueue_notification(&mut self, from: i64, to: i64) -> u64 {
        let link = self.links.entry((from, to)).or_default();
        link.0 += 1;
        link.0
    }

    /// Whether notification `n` of its link is delivered: it is the newest
    /// sent and was not delivered yet.
    pub fn take_notification(&mut self, from: i64, to: i64, n: u64) -> bool {
        let link = self.links.entry((from, to)).or_default();
        let fresh = n == link.0 && n > link.1;
        if fresh {
            link.1 = n;
        }
        fresh
    }

    /// The delay after which a packet sent now on a TCP connection from
    /// `from` to `to` arrives: after every packet sent before it, never
    /// twice; `None` when lost (the receiver sees a gap and a broken
    /// connection).
    pub fn route_stream(&mut self, rng: &mut Rng, from: i64, to: i64, now: u64) -> Option<u64> {
        if from == to {
            return Some(0);
        }
        if !self.connected(from, to) || rng.chance(self.weather.loss / 4) {
            return None;
        }
        let last = self.streams.entry((from, to)).or_default();
        let at = (now + rng.range(1, self.weather.max_delay_ms)).max(*last);
        *last = at;
        Some(at - now)
    }

    /// The delays after which copies of a message sent now from `from` to
    /// `to` arrive: none when it is lost, two when duplicated.
    pub fn route(&self, rng: &mut Rng, from: i64, to: i64) -> Vec<u64> {
        if from == to {
            return vec![0];
        }
        if !self.connected(from, to) || rng.chance(self.weather.loss) {
            return Vec::new();
        }
        let copies = if rng.chance(self.weather.duplicate) { 2 } else { 1 };
        (0..copies).map(|_| rng.range(1, self.weather.max_delay_ms)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_cut_and_heal() {
        let mut net = Network::default();
        let mut rng = Rng::new(1);
        net.partition(BTreeMap::from([(1, 0), (2, 0), (3, 1)]));
        assert!(net.connected(1, 2) && !net.connected(1, 3) && !net.connected(3, 100));
        assert!(net.route(&mut rng, 1, 3).is_empty());
        assert_eq!(net.route(&mut rng, 3, 3), vec![0], "oneself is always reachable");
        net.heal();
        assert_eq!(net.route(&mut rng, 1, 3).len(), 1);
    }

    #[test]
    fn only_the_newest_notification_of_a_link_arrives_once() {
        let mut net = Network::default();
        let (a, b) = (net.enqueue_notification(1, 2), net.enqueue_notification(1, 2));
        let other = net.enqueue_notification(2, 1);
        assert!(!net.take_notification(1, 2, a), "replaced in the send queue");
        assert!(net.take_notification(1, 2, b));
        assert!(!net.take_notification(1, 2, b), "a duplicate");
        assert!(net.take_notification(2, 1, other), "links are independent");
    }
}
