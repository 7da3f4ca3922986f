//! Time: the monotonic millisecond clock the expiry drivers read (Java's
//! org.apache.zookeeper.common.Time.currentElapsedTime), and the wall clock
//! txn headers carry (Time.currentWallTime). Cores never read either: their
//! drivers pass the value in, so a simulator can pass its own.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the first call in this process; never goes back.
pub fn current_elapsed_time() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn current_wall_time() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
