//! ExpiryQueue: elements grouped into buckets by the tick at which they
//! expire. The SessionTracker and the connection expirer each own one; any
//! thread may touch an element, one thread polls the expired buckets.

use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::time::{Duration, Instant};

struct Inner<E> {
    /// element -> the bucket (ms since `origin`) it expires in
    elem_map: HashMap<E, u64>,
    /// bucket -> elements expiring then
    expiry_map: HashMap<u64, HashSet<E>>,
    next_expiration_time: u64,
}

pub struct ExpiryQueue<E> {
    inner: Mutex<Inner<E>>,
    expiration_interval: u64,
    origin: Instant,
}

impl<E: Hash + Eq + Clone> ExpiryQueue<E> {
    /// `expiration_interval_ms` is the bucket width (tickTime for sessions).
    pub fn new(expiration_interval_ms: u64) -> Self {
        let interval = expiration_interval_ms.max(1);
        let q = ExpiryQueue {
            inner: Mutex::new(Inner {
                elem_map: HashMap::new(),
                expiry_map: HashMap::new(),
                next_expiration_time: 0,
            }),
            expiration_interval: interval,
            origin: Instant::now(),
        };
        let now = q.now();
        q.inner.lock().next_expiration_time = q.round_to_next_interval(now);
        q
    }

    fn now(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    fn round_to_next_interval(&self, time: u64) -> u64 {
        (time / self.expiration_interval + 1) * self.expiration_interval
    }

    /// Moves `elem` to the bucket `timeout_ms` from now. Returns the new
    /// expiry time, or None when it was already in that bucket.
    pub fn update(&self, elem: E, timeout_ms: u64) -> Option<u64> {
        let new_expiry = self.round_to_next_interval(self.now() + timeout_ms);
        let mut inner = self.inner.lock();
        let prev = inner.elem_map.get(&elem).copied();
        if prev == Some(new_expiry) {
            return None;
        }
        inner.expiry_map.entry(new_expiry).or_default().insert(elem.clone());
        inner.elem_map.insert(elem.clone(), new_expiry);
        if let Some(p) = prev {
            if let Some(set) = inner.expiry_map.get_mut(&p) {
                set.remove(&elem);
                if set.is_empty() {
                    inner.expiry_map.remove(&p);
                }
            }
        }
        Some(new_expiry)
    }

    /// Forgets `elem`; returns its expiry time if it was queued.
    pub fn remove(&self, elem: &E) -> Option<u64> {
        let mut inner = self.inner.lock();
        let t = inner.elem_map.remove(elem)?;
        if let Some(set) = inner.expiry_map.get_mut(&t) {
            set.remove(elem);
            if set.is_empty() {
                inner.expiry_map.remove(&t);
            }
        }
        Some(t)
    }

    /// Removes and returns the bucket that is due, or an empty set when the
    /// next bucket is still in the future.
    pub fn poll(&self) -> Vec<E> {
        let now = self.now();
        let mut inner = self.inner.lock();
        let t = inner.next_expiration_time;
        if now < t {
            return Vec::new();
        }
        inner.next_expiration_time = t + self.expiration_interval;
        match inner.expiry_map.remove(&t) {
            Some(set) => {
                for e in &set {
                    inner.elem_map.remove(e);
                }
                set.into_iter().collect()
            }
            None => Vec::new(),
        }
    }

    /// How long until the next bucket is due.
    pub fn wait_time(&self) -> Duration {
        let now = self.now();
        let t = self.inner.lock().next_expiration_time;
        Duration::from_millis(t.saturating_sub(now))
    }

    pub fn len(&self) -> usize {
        self.inner.lock().elem_map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Buckets and their elements, soonest first, as ms from now (for the
    /// `dump` four-letter word).
    pub fn buckets(&self) -> Vec<(u64, Vec<E>)> {
        let now = self.now();
        let inner = self.inner.lock();
        let mut v: Vec<(u64, Vec<E>)> = inner
            .expiry_map
            .iter()
            .map(|(t, s)| (t.saturating_sub(now), s.iter().cloned().collect()))
            .collect();
        v.sort_by_key(|(t, _)| *t);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_up_and_expire_in_order() {
        let q = ExpiryQueue::new(10);
        q.update(1, 5);
        q.update(2, 50);
        assert_eq!(q.len(), 2);
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut got = Vec::new();
        while got.len() < 2 && Instant::now() < deadline {
            std::thread::sleep(q.wait_time().max(Duration::from_millis(1)));
            got.extend(q.poll());
        }
        assert_eq!(got, vec![1, 2]);
        assert!(q.is_empty());
    }

    #[test]
    fn touching_moves_and_remove_forgets() {
        let q = ExpiryQueue::new(1000);
        assert!(q.update("a", 10).is_some());
        assert!(q.update("a", 10).is_none());
        assert!(q.update("a", 5000).is_some());
        assert_eq!(q.buckets().len(), 1);
        assert!(q.remove(&"a").is_some());
        assert!(q.is_empty());
    }
}
