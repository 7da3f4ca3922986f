//! JvmPauseMonitor: with `jvm.pause.monitor=true`, the thread
//! (`JvmPauseMonitor`) that sleeps `jvm.pause.sleep.time.ms` at a time and
//! measures how much longer each sleep took. The excess goes into the
//! jvm_pause_time_ms metric, and above `jvm.pause.info-threshold.ms`
//! (info) or `jvm.pause.warn-threshold.ms` (warn) into the log. zkserver
//! has no garbage collector: what it catches are stalls of the process or
//! the host (CPU starvation, swapping, a stopped process). Started by
//! main once the configuration is read; runs until the process ends, as
//! Java's daemon thread does.

use crate::quorum::quorum_peer_config::QuorumPeerConfig;
use std::io;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// The thresholds and the sleep of the monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JvmPauseMonitor {
    pub info_threshold_ms: i64,
    pub warn_threshold_ms: i64,
    pub sleep_time_ms: i64,
}

/// What one sleep's excess calls for.
#[derive(Debug, PartialEq, Eq)]
enum Level {
    Quiet,
    Info,
    Warn,
}

impl JvmPauseMonitor {
    /// The monitor `jvm.pause.monitor=true` asks for.
    pub fn from_config(c: &QuorumPeerConfig) -> Option<JvmPauseMonitor> {
        c.jvm_pause_monitor_to_run.then_some(JvmPauseMonitor {
            info_threshold_ms: c.jvm_pause_info_threshold_ms,
            warn_threshold_ms: c.jvm_pause_warn_threshold_ms,
            sleep_time_ms: c.jvm_pause_sleep_time_ms,
        })
    }

    fn level(&self, extra_ms: i64) -> Level {
        if extra_ms > self.warn_threshold_ms {
            Level::Warn
        } else if extra_ms > self.info_threshold_ms {
            Level::Info
        } else {
            Level::Quiet
        }
    }

    /// Starts the thread.
    pub fn start(self) -> io::Result<()> {
        crate::server::zoo_keeper_critical_thread::spawn("JvmPauseMonitor".to_string(), move || self.run())?;
        Ok(())
    }

    fn run(self) {
        info!(
            "Starting JVM Pause Monitor with infoThresholdMs:{} warnThresholdMs:{} and sleepTimeMs:{}",
            self.info_threshold_ms, self.warn_threshold_ms, self.sleep_time_ms
        );
        let sleep = Duration::from_millis(u64::try_from(self.sleep_time_ms).unwrap_or(0));
        let (mut infos, mut warns) = (0u64, 0u64);
        loop {
            let started = Instant::now();
            std::thread::sleep(sleep);
            let extra = i64::try_from(started.elapsed().saturating_sub(sleep).as_millis()).unwrap_or(i64::MAX);
            crate::server::server_metrics::metrics().jvm_pause_time.add(extra);
            let level = self.level(extra);
            match level {
                Level::Warn => warns += 1,
                Level::Info => infos += 1,
                Level::Quiet => continue,
            }
            let line = format!(
                "Detected pause in JVM or host machine (eg GC): pause of approximately {extra} ms, \
                 total pause: info level: {infos}, warn level: {warns}"
            );
            if level == Level::Warn {
                warn!("{line}");
            } else {
                info!("{line}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_choose_the_level() {
        let m = JvmPauseMonitor { info_threshold_ms: 1000, warn_threshold_ms: 10000, sleep_time_ms: 500 };
        assert_eq!(m.level(1000), Level::Quiet);
        assert_eq!(m.level(1001), Level::Info);
        assert_eq!(m.level(10001), Level::Warn);
    }
}
