//! LinkedBlockingQueue: the unbounded FIFO that links the threads of a
//! request-processor chain (Java's java.util.concurrent class of that name).
//! Producers `put` from any thread; its one consumer thread blocks in
//! `take`/`poll_timeout` or takes everything queued at once with
//! `drain_blocking`/`drain_to` (Java's drainTo), so a busy stage pays one
//! lock and no wake-up per batch rather than per request.
//!
//! A consumer with nothing to do parks on a condition variable straight
//! away: no spinning or yielding first, which on a machine with few cores
//! would take CPU from the very threads that are about to produce work.
//! The queue's storage is a VecDeque that `drain_blocking` swaps with the
//! caller's, so a hand-off allocates nothing once both have grown. The
//! backlog the consumer finds decides whether its thread runs as
//! SCHED_BATCH (see `batch_scheduling`).

use crate::common::batch_scheduling::{self, BatchScheduling};
use parking_lot::{Condvar, Mutex, MutexGuard};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub struct LinkedBlockingQueue<T> {
    items: Mutex<Items<T>>,
    not_empty: Condvar,
}

struct Items<T> {
    queue: VecDeque<T>,
    /// Set by `close`: the consumer is gone, so what is put is dropped.
    closed: bool,
    /// The consumer thread's scheduling policy, from the backlogs it found.
    scheduling: BatchScheduling,
}

impl<T> Default for LinkedBlockingQueue<T> {
    fn default() -> Self {
        LinkedBlockingQueue { items: Mutex::new(Items { queue: VecDeque::new(), closed: false, scheduling: BatchScheduling::default() }), not_empty: Condvar::new() }
    }
}

impl<T> LinkedBlockingQueue<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `item` and wakes the consumer if it is waiting; drops it
    /// when the queue is closed.
    pub fn put(&self, item: T) {
        let mut items = self.items.lock();
        if items.closed {
            drop(items);
            drop(item);
            return;
        }
        items.queue.push_back(item);
        let was_empty = items.queue.len() == 1;
        drop(items);
        // Only a consumer that found the queue empty can be waiting.
        if was_empty {
            self.not_empty.notify_one();
        }
    }

    /// The oldest item, waiting for one as long as it takes.
    pub fn take(&self) -> T {
        loop {
            let mut items = self.items.lock();
            while items.queue.is_empty() {
                self.not_empty.wait(&mut items);
            }
            if let Some(item) = Self::pop(items) {
                return item;
            }
        }
    }

    /// The oldest item if there is one.
    pub fn poll(&self) -> Option<T> {
        Self::pop(self.items.lock())
    }

    /// The oldest item, waiting up to `timeout` for one.
    pub fn poll_timeout(&self, timeout: Duration) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let mut items = self.items.lock();
        loop {
            if !items.queue.is_empty() {
                return Self::pop(items);
            }
            if self.not_empty.wait_until(&mut items, deadline).timed_out() {
                return Self::pop(items);
            }
        }
    }

    /// Moves every queued item, oldest first, to the back of `out` and
    /// returns how many; 0 when the queue was empty (drainTo).
    pub fn drain_to(&self, out: &mut VecDeque<T>) -> usize {
        Self::move_all(self.items.lock(), out)
    }

    /// Waits until something is queued, then moves all of it to `out`
    /// as `drain_to` does; returns how many (at least 1).
    pub fn drain_blocking(&self, out: &mut VecDeque<T>) -> usize {
        let mut items = self.items.lock();
        while items.queue.is_empty() {
            self.not_empty.wait(&mut items);
        }
        Self::move_all(items, out)
    }

    /// The consumer takes the oldest item, if any.
    fn pop(mut items: MutexGuard<'_, Items<T>>) -> Option<T> {
        let queued = items.queue.len();
        let item = items.queue.pop_front()?;
        Self::took(items, queued);
        Some(item)
    }

    /// The consumer moves everything queued to the back of `out`: a swap
    /// when `out` is empty, so the two buffers change hands instead of
    /// being copied.
    fn move_all(mut items: MutexGuard<'_, Items<T>>, out: &mut VecDeque<T>) -> usize {
        let n = items.queue.len();
        if n == 0 {
            return 0;
        }
        if out.is_empty() {
            std::mem::swap(&mut items.queue, out);
        } else {
            out.extend(items.queue.drain(..));
        }
        Self::took(items, n);
        n
    }

    /// Notes the backlog the consumer found, switching its thread's policy
    /// (after the lock is released) when that changes it.
    fn took(mut items: MutexGuard<'_, Items<T>>, queued: usize) {
        let switch = items.scheduling.took(queued);
        drop(items);
        if let Some(batch) = switch {
            batch_scheduling::apply(batch);
        }
    }

    pub fn len(&self) -> usize {
        self.items.lock().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.lock().queue.is_empty()
    }

    /// Called by the consumer as it stops: drops what is queued and,
    /// from now on, whatever is put.
    pub fn close(&self) {
        let left = {
            let mut items = self.items.lock();
            items.closed = true;
            std::mem::take(&mut items.queue)
        };
        drop(left);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn items_come_out_in_order_one_by_one_or_all_at_once() {
        let q = LinkedBlockingQueue::new();
        for i in 0..5 {
            q.put(i);
        }
        assert_eq!(q.len(), 5);
        assert_eq!(q.take(), 0);
        assert_eq!(q.poll(), Some(1));
        let mut out = VecDeque::from([-1]);
        assert_eq!(q.drain_to(&mut out), 3);
        assert_eq!(out, [-1, 2, 3, 4]);
        assert!(q.is_empty());
        assert_eq!(q.drain_to(&mut out), 0);
        assert_eq!(q.poll(), None);
        q.put(5);
        q.close();
        q.put(6);
        assert_eq!(q.poll(), None);
    }

    #[test]
    fn poll_timeout_gives_up_when_nothing_comes() {
        let q: LinkedBlockingQueue<u8> = LinkedBlockingQueue::new();
        assert_eq!(q.poll_timeout(Duration::from_millis(10)), None);
        q.put(7);
        assert_eq!(q.poll_timeout(Duration::from_millis(10)), Some(7));
    }

    #[test]
    fn a_waiting_consumer_gets_what_other_threads_put() {
        let q = Arc::new(LinkedBlockingQueue::new());
        let producers: Vec<_> = (0..3)
            .map(|p| {
                let q = Arc::clone(&q);
                std::thread::spawn(move || (0..1000).for_each(|i| q.put((p, i))))
            })
            .collect();
        let mut seen = [0; 3];
        let mut batch = VecDeque::new();
        let mut got = 0;
        while got < 3000 {
            got += q.drain_blocking(&mut batch);
            for (p, i) in batch.drain(..) {
                // Each producer's items keep their order.
                assert_eq!(seen[p], i);
                seen[p] += 1;
            }
        }
        for h in producers {
            h.join().expect("producer");
        }
        assert_eq!(seen, [1000; 3]);
        let q2 = Arc::clone(&q);
        let consumer = std::thread::spawn(move || q2.take());
        q.put((9, 9));
        assert_eq!(consumer.join().expect("consumer"), (9, 9));
    }
}
