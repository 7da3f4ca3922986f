//! BlueThrottle: the connection throttle (the zookeeper.connection_throttle_*
//! keys). A token bucket of `max_tokens`, refilled by `fill_count` tokens
//! every `fill_time` ms; with a freeze time set, BLUE's random early drop in
//! front of it, whose drop chance rises while the bucket is empty and falls
//! while it is (nearly) full, at most once per freeze time. Each
//! ZooKeeperServer owns one; the NIOWorker thread handling a ConnectRequest
//! asks it for the tokens the connection costs, and a refused connection is
//! closed. `max_tokens` 0 (the default) turns it off.

use crate::quorum::quorum_peer_config::system_properties::SystemProperties;
use crate::quorum::quorum_peer_config::ConfigError;
use parking_lot::Mutex;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The throttle's settings, resolved from the system properties as Java's
/// BlueThrottle resolves them.
#[derive(Debug, Clone, PartialEq)]
pub struct BlueThrottleSettings {
    pub max_tokens: i64,
    pub fill_time_ms: i64,
    pub fill_count: i64,
    /// -1: no random dropping.
    pub freeze_time_ms: i64,
    pub drop_increase: f64,
    pub drop_decrease: f64,
    pub decrease_point: f64,
    pub weight_enabled: bool,
    pub global_weight: i64,
    pub local_weight: i64,
    pub renew_weight: i64,
}

impl BlueThrottleSettings {
    /// Java's rules: weights must be positive (else their defaults) and the
    /// global and renew weights at least the local one; with weights on,
    /// the token and fill counts are in global sessions and are scaled by
    /// the global weight.
    pub fn read(props: &SystemProperties) -> Result<BlueThrottleSettings, ConfigError> {
        let tokens = props.int("zookeeper.connection_throttle_tokens", 0)?;
        let fill_time = props.int("zookeeper.connection_throttle_fill_time", 1)?;
        let fill_count = props.int("zookeeper.connection_throttle_fill_count", 1)?;
        let freeze_time = props.int("zookeeper.connection_throttle_freeze_time", -1)?;
        let drop_increase = props.double("zookeeper.connection_throttle_drop_increase", 0.02)?;
        let drop_decrease = props.double("zookeeper.connection_throttle_drop_decrease", 0.002)?;
        let decrease_point = props.double("zookeeper.connection_throttle_decrease_ratio", 0.0)?;
        let weight_enabled = props.boolean("zookeeper.connection_throttle_weight_enabled", false);
        let global = i64::from(props.int("zookeeper.connection_throttle_global_session_weight", 3)?);
        let local = i64::from(props.int("zookeeper.connection_throttle_local_session_weight", 1)?);
        let renew = i64::from(props.int("zookeeper.connection_throttle_renew_session_weight", 2)?);
        let global_weight = if global <= 0 {
            tracing::warn!("Invalid global session weight {global}. It should be larger than 0");
            3
        } else if global < local {
            tracing::warn!(
                "The global session weight {global} is less than the local session weight {local}. Use the local session weight."
            );
            local
        } else {
            global
        };
        let local_weight = if local <= 0 {
            tracing::warn!("Invalid local session weight {local}. It should be larger than 0");
            1
        } else {
            local
        };
        let renew_weight = if renew <= 0 {
            tracing::warn!("Invalid renew session weight {renew}. It should be larger than 0");
            2
        } else if renew < local {
            tracing::warn!(
                "The renew session weight {renew} is less than the local session weight {local}. Use the local session weight."
            );
            local
        } else {
            renew
        };
        let scale = if weight_enabled { global_weight } else { 1 };
        let mut fill_time_ms = i64::from(fill_time);
        if fill_time_ms <= 0 {
            // Java divides by it at the first refill; refuse to do that.
            tracing::warn!("zookeeper.connection_throttle_fill_time={fill_time_ms} is not positive; using 1 ms");
            fill_time_ms = 1;
        }
        Ok(BlueThrottleSettings {
            max_tokens: scale * i64::from(tokens),
            fill_time_ms,
            fill_count: scale * i64::from(fill_count),
            freeze_time_ms: i64::from(freeze_time),
            drop_increase,
            drop_decrease,
            decrease_point,
            weight_enabled,
            global_weight,
            local_weight,
            renew_weight,
        })
    }
}

struct Bucket {
    tokens: i64,
    last_fill_ms: i64,
    last_freeze_ms: i64,
    drop_chance: f64,
}

pub struct BlueThrottle {
    s: BlueThrottleSettings,
    bucket: Mutex<Bucket>,
    epoch: Instant,
    /// Random numbers for the drop decision: a keyed hash of a counter.
    seed: RandomState,
    draws: AtomicU64,
}

impl BlueThrottle {
    pub fn new(s: BlueThrottleSettings) -> BlueThrottle {
        if s.max_tokens != 0 {
            tracing::info!(
                "Connection throttle: {} tokens, {} every {} ms, freeze time {} ms, weights {}",
                s.max_tokens,
                s.fill_count,
                s.fill_time_ms,
                s.freeze_time_ms,
                if s.weight_enabled {
                    format!("global {} renew {} local {}", s.global_weight, s.renew_weight, s.local_weight)
                } else {
                    "off".to_string()
                }
            );
        }
        let bucket = Bucket { tokens: s.max_tokens, last_fill_ms: 0, last_freeze_ms: 0, drop_chance: 0.0 };
        BlueThrottle {
            s,
            bucket: Mutex::new(bucket),
            epoch: Instant::now(),
            seed: RandomState::new(),
            draws: AtomicU64::new(0),
        }
    }

    /// The tokens a ConnectRequest costs: one, or with weights on, the
    /// weight of a new global (or local) session or of a renewed one.
    pub fn tokens_needed(&self, session_id: i64, local_sessions: bool) -> i64 {
        if !self.s.weight_enabled {
            1
        } else if session_id != 0 {
            self.s.renew_weight
        } else if local_sessions {
            self.s.local_weight
        } else {
            self.s.global_weight
        }
    }

    /// checkLimit: whether a connection needing `need` tokens may go on
    /// (and if so, takes them).
    pub fn check_limit(&self, need: i64) -> bool {
        let now = i64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.check_limit_at(now, need, self.uniform())
    }

    /// checkLimit at `now` ms, `roll` being a uniform draw in [0, 1).
    fn check_limit_at(&self, now: i64, need: i64, roll: f64) -> bool {
        let s = &self.s;
        if s.max_tokens == 0 {
            return true;
        }
        let mut b = self.bucket.lock();
        let since = now - b.last_fill_ms;
        if since > s.fill_time_ms {
            let refill = since.saturating_mul(s.fill_count) / s.fill_time_ms;
            b.tokens = b.tokens.saturating_add(refill).min(s.max_tokens);
            b.last_fill_ms = now;
        }
        if s.freeze_time_ms != -1 {
            // checkBlue: adjust the drop chance at most once per freeze time.
            if now - b.last_freeze_ms > s.freeze_time_ms {
                let deficit = s.max_tokens - b.tokens;
                let threshold = (s.max_tokens as f64 * s.decrease_point).round() as i64;
                if deficit == s.max_tokens && b.drop_chance < 1.0 {
                    b.drop_chance = (b.drop_chance + s.drop_increase).min(1.0);
                } else if deficit <= threshold && b.drop_chance > 0.0 {
                    b.drop_chance = (b.drop_chance - s.drop_decrease).max(0.0);
                }
                b.last_freeze_ms = now;
            }
            if roll < b.drop_chance {
                return false;
            }
        }
        if b.tokens < need {
            return false;
        }
        b.tokens -= need;
        true
    }

    /// A uniform draw in [0, 1).
    fn uniform(&self) -> f64 {
        let mut h = self.seed.build_hasher();
        h.write_u64(self.draws.fetch_add(1, Ordering::Relaxed));
        (h.finish() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// getDeficit: the tokens missing from a full bucket.
    pub fn deficit(&self) -> i64 {
        self.s.max_tokens - self.bucket.lock().tokens
    }

    /// The current drop chance (getDropChance).
    pub fn drop_chance(&self) -> f64 {
        self.bucket.lock().drop_chance
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(max_tokens: i64, fill_time_ms: i64, fill_count: i64, freeze_time_ms: i64) -> BlueThrottleSettings {
        BlueThrottleSettings {
            max_tokens,
            fill_time_ms,
            fill_count,
            freeze_time_ms,
            drop_increase: 0.02,
            drop_decrease: 0.002,
            decrease_point: 0.0,
            weight_enabled: false,
            global_weight: 3,
            local_weight: 1,
            renew_weight: 2,
        }
    }

    #[test]
    fn settings_read_as_java_resolves_them() {
        assert_eq!(BlueThrottleSettings::read(&SystemProperties::of(&[])), Ok(settings(0, 1, 1, -1)));
        let s = BlueThrottleSettings::read(&SystemProperties::of(&[
            ("zookeeper.connection_throttle_tokens", "2"),
            ("connection_throttle_weight_enabled", "true"),
            ("zookeeper.connection_throttle_global_session_weight", "4"),
            ("zookeeper.connection_throttle_renew_session_weight", "0"),
            ("zookeeper.connection_throttle_fill_time", "-5"),
        ]))
        .unwrap();
        assert_eq!((s.max_tokens, s.fill_count, s.global_weight, s.renew_weight), (8, 4, 4, 2));
        assert_eq!(s.fill_time_ms, 1, "a fill time that is not positive becomes 1 ms");
        let e = BlueThrottleSettings::read(&SystemProperties::of(&[("connection_throttle_drop_increase", "x")]));
        assert_eq!(e.unwrap_err().to_string(), "connection_throttle_drop_increase: \"x\" is not a number");
    }

    #[test]
    fn zero_tokens_means_off() {
        let t = BlueThrottle::new(settings(0, 1, 1, -1));
        assert!((0..1000).all(|_| t.check_limit_at(0, 1, 0.0)));
    }

    #[test]
    fn the_bucket_empties_and_refills_at_its_rate() {
        let t = BlueThrottle::new(settings(3, 100, 1, -1));
        assert!((0..3).all(|_| t.check_limit_at(10, 1, 0.9)));
        assert!(!t.check_limit_at(10, 1, 0.9), "a fourth connection in the same instant");
        // Refills only once more than fill_time has passed: 1 token per 100 ms.
        assert!(!t.check_limit_at(100, 1, 0.9));
        assert!(t.check_limit_at(101, 1, 0.9));
        assert!(!t.check_limit_at(102, 1, 0.9));
        // Never beyond max_tokens.
        assert!((0..3).all(|_| t.check_limit_at(10_000, 1, 0.9)));
        assert!(!t.check_limit_at(10_000, 1, 0.9));
        // A request needing more than what is left is refused and takes nothing.
        assert!(t.check_limit_at(10_201, 1, 0.9));
        assert!(!t.check_limit_at(10_201, 2, 0.9));
    }

    #[test]
    fn the_drop_chance_rises_while_empty_and_falls_once_refilled() {
        let t = BlueThrottle::new(settings(2, 1_000_000, 1, 10));
        assert!(t.check_limit_at(1, 1, 0.99));
        assert!(t.check_limit_at(2, 1, 0.99));
        // Empty bucket: each freeze period that passes raises the chance by
        // drop_increase (the connections fail on tokens anyway).
        for i in 1..=5 {
            assert!(!t.check_limit_at(2 + i * 11, 1, 0.99));
        }
        assert!((t.drop_chance() - 0.10).abs() < 1e-9, "{}", t.drop_chance());
        // Once refilled, a roll under the chance is still dropped...
        assert!(!t.check_limit_at(3_000_000, 1, 0.05));
        // ...and the chance comes down by drop_decrease per freeze period
        // while the deficit is at most decrease_point * max_tokens.
        assert!((t.drop_chance() - 0.098).abs() < 1e-9, "{}", t.drop_chance());
        assert!(t.check_limit_at(3_000_001, 1, 0.99));
    }

    #[test]
    fn each_kind_of_session_costs_its_weight() {
        let mut s = settings(2, 1000, 1, -1);
        s.weight_enabled = true;
        let t = BlueThrottle::new(s);
        assert_eq!(t.tokens_needed(0, false), 3);
        assert_eq!(t.tokens_needed(0, true), 1);
        assert_eq!(t.tokens_needed(42, false), 2);
        let plain = BlueThrottle::new(settings(2, 1000, 1, -1));
        assert_eq!(plain.tokens_needed(42, false), 1);
        assert_eq!(plain.tokens_needed(0, false), 1);
    }
}
