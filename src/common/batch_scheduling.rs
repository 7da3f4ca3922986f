//! BatchScheduling: whether the consumer thread of a request-processor
//! queue runs under Linux's SCHED_BATCH policy, decided from the backlog it
//! finds (no Java counterpart: the JVM leaves every thread SCHED_OTHER).
//!
//! Why: when a producer (an NIO worker, say) puts a request on an idle
//! stage's queue, the kernel by default lets the woken consumer preempt
//! the producer if they share a core. On a machine with few cores under
//! load, every hand-off then costs two context switches and splits the
//! producer's batch in pieces. A SCHED_BATCH thread is never woken into
//! preemption: the producer finishes its batch and the consumer drains it
//! in one go. With one request in flight the same policy costs latency,
//! since the woken stage may then wait for the producer's time slice; so a
//! consumer switches to SCHED_BATCH only while it keeps finding a
//! backlog, and back once it has found none for a while.
//!
//! `BatchScheduling` is the decision (a plain value the queue updates
//! under its lock); `apply` is the one system call, made by the consumer
//! thread on itself, and only when the decision changes.

/// A consumer that finds at least this many items queued is backlogged.
const BACKLOG: usize = 4;

/// After this many consecutive takes without a backlog, a batch-scheduled
/// consumer goes back to the default policy.
const QUIET_TAKES: u32 = 64;

#[derive(Debug, Default)]
pub struct BatchScheduling {
    batch: bool,
    quiet: u32,
}

impl BatchScheduling {
    /// The consumer took items while `queued` were waiting (counting what
    /// it took). Returns the policy to switch to, if it changes: true for
    /// SCHED_BATCH, false for the default.
    pub fn took(&mut self, queued: usize) -> Option<bool> {
        if queued >= BACKLOG {
            self.quiet = 0;
            return (!self.batch).then(|| {
                self.batch = true;
                true
            });
        }
        self.quiet = self.quiet.saturating_add(1);
        (self.batch && self.quiet >= QUIET_TAKES).then(|| {
            self.batch = false;
            false
        })
    }

    /// `took`, for a consumer that keeps its decision to itself (not under
    /// a shared lock): switches the calling thread's policy at once.
    pub fn took_here(&mut self, queued: usize) {
        if let Some(batch) = self.took(queued) {
            apply(batch);
        }
    }
}

/// Puts the calling thread under SCHED_BATCH (`true`) or back under the
/// default SCHED_OTHER, keeping its nice value. Neither needs privileges;
/// should the call still fail (a seccomp filter), the thread keeps its
/// policy, which is only slower.
pub fn apply(batch: bool) {
    let policy = if batch { libc::SCHED_BATCH } else { libc::SCHED_OTHER };
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 is the calling thread; `param` is a valid sched_param.
    if unsafe { libc::sched_setscheduler(0, policy, &param) } != 0 {
        tracing::debug!("sched_setscheduler({policy}) failed: {}", std::io::Error::last_os_error());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backlog_switches_to_batch_once_and_a_quiet_spell_switches_back() {
        let mut s = BatchScheduling::default();
        // One request at a time never leaves the default policy.
        for _ in 0..1000 {
            assert_eq!(s.took(1), None);
        }
        assert_eq!(s.took(BACKLOG), Some(true));
        assert_eq!(s.took(BACKLOG + 10), None, "already batch");
        // A backlog now and then keeps it batch.
        for _ in 0..10 {
            for _ in 0..QUIET_TAKES - 1 {
                assert_eq!(s.took(2), None);
            }
            assert_eq!(s.took(BACKLOG), None);
        }
        for _ in 0..QUIET_TAKES - 1 {
            assert_eq!(s.took(1), None);
        }
        assert_eq!(s.took(1), Some(false));
        assert_eq!(s.took(1), None, "already default");
    }

    #[test]
    fn the_calling_thread_switches_policy_and_back() {
        std::thread::spawn(|| {
            let policy = || unsafe { libc::sched_getscheduler(0) };
            assert_eq!(policy(), libc::SCHED_OTHER);
            apply(true);
            assert_eq!(policy(), libc::SCHED_BATCH);
            apply(false);
            assert_eq!(policy(), libc::SCHED_OTHER);
        })
        .join()
        .expect("policy thread");
    }
}
