//! ExpiryQueue: elements grouped into buckets by the time at which they
//! expire, each bucket a multiple of the expiration interval. A plain
//! struct with the current time (milliseconds of `common::time`, or a
//! simulator's) passed in: the SessionTracker core owns one for sessions,
//! the NIO factory one for connections (polled by the `CnxnExpirer`
//! thread); their owners lock it.
//!
//! An element updated at `now` with `timeout` lands in the bucket
//! `(⌊(now + timeout) / interval⌋ + 1) × interval`, strictly after
//! `now + timeout` and at most one interval later, and is polled once the
//! clock reaches that bucket, never before.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::Hash;

pub struct ExpiryQueue<E> {
    /// element -> the bucket it expires in
    elem_map: HashMap<E, u64>,
    /// bucket -> elements expiring then
    expiry_map: BTreeMap<u64, HashSet<E>>,
    /// The next bucket `poll` hands out.
    next_expiration_time: u64,
    expiration_interval: u64,
    /// The simulator's deliberate mistake: buckets one interval early.
    #[cfg(any(test, feature = "simulation"))]
    expire_a_tick_early: bool,
}

impl<E: Hash + Eq + Clone> ExpiryQueue<E> {
    /// `expiration_interval_ms` is the bucket width (tickTime for
    /// sessions); `now` the current time, whose next bucket is polled first.
    pub fn new(expiration_interval_ms: u64, now: u64) -> Self {
        let expiration_interval = expiration_interval_ms.max(1);
        let mut q = ExpiryQueue {
            elem_map: HashMap::new(),
            expiry_map: BTreeMap::new(),
            next_expiration_time: 0,
            expiration_interval,
            #[cfg(any(test, feature = "simulation"))]
            expire_a_tick_early: false,
        };
        q.next_expiration_time = q.round_to_next_interval(now);
        q
    }

    fn round_to_next_interval(&self, time: u64) -> u64 {
        (time / self.expiration_interval).saturating_add(1).saturating_mul(self.expiration_interval)
    }

    /// Simulator mutation: every element is put in the bucket one interval
    /// before its own, so it can expire before its timeout has passed.
    #[cfg(any(test, feature = "simulation"))]
    pub fn mutate_expire_a_tick_early(&mut self) {
        self.expire_a_tick_early = true;
    }

    /// The bucket of an element updated at `now` with `timeout`.
    fn bucket_of(&self, now: u64, timeout: u64) -> u64 {
        let bucket = self.round_to_next_interval(now.saturating_add(timeout));
        #[cfg(any(test, feature = "simulation"))]
        if self.expire_a_tick_early {
            return bucket.saturating_sub(self.expiration_interval);
        }
        bucket
    }

    /// Moves `elem` to the bucket `timeout_ms` after `now`. Returns the new
    /// expiry time, or None when it was already in that bucket.
    pub fn update(&mut self, elem: E, timeout_ms: u64, now: u64) -> Option<u64> {
        let new_expiry = self.bucket_of(now, timeout_ms);
        let prev = self.elem_map.insert(elem.clone(), new_expiry);
        if prev == Some(new_expiry) {
            return None;
        }
        if let Some(p) = prev {
            self.take_from_bucket(p, &elem);
        }
        self.expiry_map.entry(new_expiry).or_default().insert(elem);
        Some(new_expiry)
    }

    /// Forgets `elem`; returns its expiry time if it was queued.
    pub fn remove(&mut self, elem: &E) -> Option<u64> {
        let t = self.elem_map.remove(elem)?;
        self.take_from_bucket(t, elem);
        Some(t)
    }

    /// An emptied bucket stays until `poll` reaches it, as in Java (whose
    /// `dump` and getExpiryMap show such empty sets).
    fn take_from_bucket(&mut self, bucket: u64, elem: &E) {
        if let Some(set) = self.expiry_map.get_mut(&bucket) {
            set.remove(elem);
        }
    }

    /// At `now`, removes and returns the next bucket if it is due (its
    /// time has been reached) and moves on to the one after, or returns
    /// nothing while it is still in the future. One bucket per call, as
    /// Java: a late caller catches up by polling again while
    /// `wait_time` is 0.
    pub fn poll(&mut self, now: u64) -> Vec<E> {
        let t = self.next_expiration_time;
        if now < t {
            return Vec::new();
        }
        self.next_expiration_time = t.saturating_add(self.expiration_interval);
        let set = self.expiry_map.remove(&t).unwrap_or_default();
        for e in &set {
            self.elem_map.remove(e);
        }
        set.into_iter().collect()
    }

    /// Milliseconds from `now` until the next bucket is due (0: poll now).
    pub fn wait_time(&self, now: u64) -> u64 {
        self.next_expiration_time.saturating_sub(now)
    }

    /// Buckets and their elements, soonest first, as ms from `now` (for
    /// the `dump` four-letter word).
    pub fn buckets(&self, now: u64) -> Vec<(u64, Vec<E>)> {
        self.expiry_times().into_iter().map(|(t, s)| (t.saturating_sub(now), s)).collect()
    }

    /// ExpiryQueue.getExpiryMap: each bucket's expiration time (on the
    /// elapsed clock) with its elements, soonest first.
    pub fn expiry_times(&self) -> Vec<(u64, Vec<E>)> {
        self.expiry_map.iter().map(|(t, s)| (*t, s.iter().cloned().collect())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Polls every bucket due up to `now`, as the expiry threads do.
    fn poll_until(q: &mut ExpiryQueue<i64>, now: u64) -> Vec<i64> {
        let mut out = Vec::new();
        while q.wait_time(now) == 0 {
            let mut due = q.poll(now);
            due.sort_unstable();
            out.extend(due);
        }
        out
    }

    #[test]
    fn an_element_expires_in_the_bucket_after_its_deadline_never_sooner() {
        // Every update time and timeout, against a 10 ms interval: the
        // bucket is the first multiple of the interval past now + timeout,
        // and polling one millisecond before it yields nothing.
        for start in 0..25u64 {
            for now in start..start + 25 {
                for timeout in 0..35u64 {
                    let mut q = ExpiryQueue::new(10, start);
                    let bucket = q.update(7, timeout, now).expect("new element");
                    assert!(bucket > now + timeout && bucket <= now + timeout + 10, "{now}+{timeout} -> {bucket}");
                    assert_eq!(bucket % 10, 0);
                    assert_eq!(poll_until(&mut q, bucket - 1), Vec::<i64>::new());
                    assert_eq!(q.wait_time(bucket - 1), 1);
                    assert_eq!(poll_until(&mut q, bucket), vec![7]);
                    assert!(q.elem_map.is_empty() && q.expiry_map.is_empty());
                }
            }
        }
    }

    #[test]
    fn buckets_round_up_and_expire_in_order() {
        let mut q = ExpiryQueue::new(10, 0);
        assert_eq!(q.update(1, 5, 0), Some(10));
        assert_eq!(q.update(2, 50, 0), Some(60));
        assert_eq!(q.elem_map.len(), 2);
        assert_eq!(q.wait_time(0), 10);
        assert_eq!(poll_until(&mut q, 10), vec![1]);
        assert_eq!(poll_until(&mut q, 59), Vec::<i64>::new());
        assert_eq!(poll_until(&mut q, 60), vec![2]);
        assert!(q.elem_map.is_empty() && q.expiry_map.is_empty());
    }

    #[test]
    fn a_late_poller_catches_up_one_bucket_at_a_time() {
        let mut q = ExpiryQueue::new(10, 0);
        q.update(1, 5, 0);
        q.update(2, 25, 0);
        // Woken at 100: the first poll returns the 10 ms bucket, the next
        // the 20 ms one (empty), then 30 ms, and so on until caught up.
        assert_eq!(q.poll(100), vec![1]);
        assert_eq!(q.wait_time(100), 0);
        assert_eq!(q.poll(100), Vec::<i64>::new());
        assert_eq!(q.poll(100), vec![2]);
        assert_eq!(poll_until(&mut q, 100), Vec::<i64>::new());
        assert_eq!(q.wait_time(100), 10);
    }

    #[test]
    fn touching_moves_and_remove_forgets() {
        let mut q = ExpiryQueue::new(1000, 0);
        assert_eq!(q.update(1, 10, 0), Some(1000));
        // Same bucket: nothing to move.
        assert_eq!(q.update(1, 10, 500), None);
        assert_eq!(q.update(1, 5000, 500), Some(6000));
        // The old bucket no longer holds it, and stays until polled.
        assert_eq!(q.buckets(500), vec![(500, vec![]), (5500, vec![1])]);
        assert_eq!(poll_until(&mut q, 5999), Vec::<i64>::new());
        assert_eq!(q.buckets(5999), vec![(1, vec![1])]);
        assert_eq!(q.remove(&1), Some(6000));
        assert_eq!(q.remove(&1), None);
        assert!(q.elem_map.is_empty());
        assert_eq!(q.buckets(5999), vec![(1, vec![])]);
        assert_eq!(poll_until(&mut q, 10_000), Vec::<i64>::new());
    }

    #[test]
    fn huge_times_and_timeouts_saturate_instead_of_overflowing() {
        let mut q = ExpiryQueue::new(1000, u64::MAX - 10);
        assert!(q.update(1, u64::MAX, u64::MAX).is_some());
        assert_eq!(q.wait_time(u64::MAX), 0);
        let _ = q.poll(u64::MAX);
    }
}
