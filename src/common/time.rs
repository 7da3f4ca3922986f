//! Time: the monotonic millisecond clock the expiry drivers read (Java's
//! org.apache.zookeeper.common.Time.currentElapsedTime). Cores never read
//! it: their drivers pass its value in, so a simulator can pass its own.

use std::sync::OnceLock;
use std::time::Instant;

/// Milliseconds since the first call in this process; never goes back.
pub fn current_elapsed_time() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed().as_millis() as u64
}
