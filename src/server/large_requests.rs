//! ZooKeeperServer's large-request limit (zookeeper.largeRequestThreshold,
//! zookeeper.largeRequestMaxBytes): requests bigger than the threshold may
//! hold at most the max bytes between them, from when they are read until
//! they are answered. A NIO worker checks a frame's length before reading
//! its body (checkRequestSizeWhenReceivingMessage) and takes a share when
//! it submits the request (checkRequestSizeWhenMessageReceived); the share
//! travels in the Request and is given back when the request is dropped
//! (requestFinished). A request over the limit closes its connection, as
//! Java's IOException("Rejecting large request") does.

use crate::quorum::quorum_peer_config::system_properties::SystemProperties;
use crate::quorum::quorum_peer_config::ConfigError;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// The two properties, checked as Java's setters check them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LargeRequestSettings {
    /// Bytes above which a request is large; -1 turns the limit off.
    pub threshold: i32,
    /// Bytes all large requests in flight may hold together.
    pub max_bytes: i32,
}

impl LargeRequestSettings {
    pub fn read(props: &SystemProperties) -> Result<LargeRequestSettings, ConfigError> {
        const DEFAULT_MAX: i32 = 100 * 1024 * 1024;
        let mut max_bytes = props.int("zookeeper.largeRequestMaxBytes", DEFAULT_MAX)?;
        if max_bytes <= 0 {
            tracing::warn!("Invalid max bytes for all large requests {max_bytes}. It should be a positive number.");
            tracing::warn!("Will not change the setting. The max bytes stay at {DEFAULT_MAX}");
            max_bytes = DEFAULT_MAX;
        }
        let mut threshold = props.int("zookeeper.largeRequestThreshold", -1)?;
        if threshold == 0 || threshold < -1 {
            tracing::warn!("Invalid large request threshold {threshold}. It should be -1 or positive. Setting to -1 ");
            threshold = -1;
        }
        Ok(LargeRequestSettings { threshold, max_bytes })
    }
}

/// The bytes large requests hold now, against the settings.
pub struct LargeRequests {
    settings: LargeRequestSettings,
    in_use: Arc<AtomicI64>,
}

/// A large request's share, given back when dropped.
pub struct LargeRequestShare {
    in_use: Arc<AtomicI64>,
    bytes: i64,
}

impl Drop for LargeRequestShare {
    fn drop(&mut self) {
        self.in_use.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

const REJECTED: &str = "Rejecting large request";

impl LargeRequests {
    pub fn new(settings: LargeRequestSettings) -> LargeRequests {
        LargeRequests { settings, in_use: Arc::new(AtomicI64::new(0)) }
    }

    fn is_large(&self, len: usize) -> bool {
        self.settings.threshold != -1 && len > self.settings.threshold as usize
    }

    /// Bytes large requests hold now (getLargeRequestBytes).
    pub fn bytes_in_use(&self) -> i64 {
        self.in_use.load(Ordering::Acquire)
    }

    /// A frame of `len` bytes is about to be read: refused if it is large
    /// and would not fit beside the large requests in flight.
    pub fn check_receiving(&self, len: usize) -> Result<(), String> {
        if self.is_large(len) && self.bytes_in_use() + len as i64 > i64::from(self.settings.max_bytes) {
            crate::server::server_metrics::metrics().large_requests_rejected.inc();
            return Err(REJECTED.into());
        }
        Ok(())
    }

    /// A request of `len` bytes is submitted: a large one takes its share
    /// or, if that would pass the limit, is refused.
    pub fn admit(&self, len: usize) -> Result<Option<LargeRequestShare>, String> {
        if !self.is_large(len) {
            return Ok(None);
        }
        let bytes = len as i64;
        if self.in_use.fetch_add(bytes, Ordering::AcqRel) + bytes > i64::from(self.settings.max_bytes) {
            self.in_use.fetch_sub(bytes, Ordering::AcqRel);
            crate::server::server_metrics::metrics().large_requests_rejected.inc();
            return Err(REJECTED.into());
        }
        Ok(Some(LargeRequestShare { in_use: Arc::clone(&self.in_use), bytes }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_as_java_checks_them() {
        let read = |pairs: &[(&str, &str)]| LargeRequestSettings::read(&SystemProperties::of(pairs)).unwrap();
        assert_eq!(read(&[]), LargeRequestSettings { threshold: -1, max_bytes: 100 << 20 });
        assert_eq!(read(&[("zookeeper.largeRequestThreshold", "0")]).threshold, -1);
        assert_eq!(read(&[("zookeeper.largeRequestThreshold", "-5")]).threshold, -1);
        assert_eq!(read(&[("zookeeper.largeRequestThreshold", "1024")]).threshold, 1024);
        assert_eq!(read(&[("zookeeper.largeRequestMaxBytes", "-1")]).max_bytes, 100 << 20);
        assert!(LargeRequestSettings::read(&SystemProperties::of(&[("zookeeper.largeRequestMaxBytes", "x")])).is_err());
    }

    #[test]
    fn large_requests_share_the_limit_until_answered() {
        let l = LargeRequests::new(LargeRequestSettings { threshold: 100, max_bytes: 250 });
        // Small requests never count.
        assert!(l.check_receiving(100).is_ok());
        assert!(l.admit(100).unwrap().is_none());
        let a = l.admit(120).unwrap().expect("large");
        assert_eq!(l.bytes_in_use(), 120);
        assert!(l.check_receiving(130).is_ok());
        assert!(l.check_receiving(131).is_err());
        let b = l.admit(130).unwrap().expect("large");
        assert!(l.admit(101).is_err());
        assert_eq!(l.bytes_in_use(), 250, "a refused request leaves nothing behind");
        drop(a);
        assert!(l.admit(101).unwrap().is_some());
        drop(b);
        assert_eq!(l.bytes_in_use(), 0);
        // One request bigger than the whole limit is refused on its length.
        assert!(l.check_receiving(251).is_err());
        // Off: nothing is large.
        let off = LargeRequests::new(LargeRequestSettings { threshold: -1, max_bytes: 1 });
        assert!(off.check_receiving(1 << 30).is_ok() && off.admit(1 << 30).unwrap().is_none());
    }
}
