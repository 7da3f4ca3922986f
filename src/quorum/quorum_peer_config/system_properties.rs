//! The system properties: the `-D` pairs of the command line and the zoo.cfg
//! keys QuorumPeerConfig does not know (Java turns an unknown zoo.cfg key `k`
//! into the system property `zookeeper.k`). Each component reads its own
//! settings from this store at start-up, as Java's components call
//! System.getProperty, through the typed getters below.
//!
//! A name is found with or without its `zookeeper.` prefix (so
//! `jute.maxbuffer`, `zookeeper.jute.maxbuffer`, `nio.numSelectorThreads` and
//! `zookeeper.nio.numSelectorThreads` all work, in zoo.cfg and as `-D`); a
//! `-D` value wins over zoo.cfg.
//!
//! Where Java silently falls back to a default for an unparsable number in a
//! system property, the getters refuse it: a typo should not go unnoticed.

use super::{parse_number, ConfigError};
use tracing::warn;

/// The `-D` pairs and the zoo.cfg keys QuorumPeerConfig does not know.
#[derive(Debug, Clone, Default)]
pub struct SystemProperties {
    /// `-D` pairs in command-line order (a later one wins).
    overrides: Vec<(String, String)>,
    /// Unknown zoo.cfg keys as written (Java prefixes them with `zookeeper.`).
    file: Vec<(String, String)>,
}

/// Runtime.availableProcessors: the default of several thread counts.
pub fn available_cpus() -> i32 {
    std::thread::available_parallelism().map(|n| i32::try_from(n.get()).unwrap_or(i32::MAX)).unwrap_or(1)
}

/// A property name without its `zookeeper.` prefix.
pub fn normalize(name: &str) -> &str {
    name.strip_prefix("zookeeper.").unwrap_or(name)
}

/// Java's Integer.decode / Long.decode: optional sign, then `0x`, `0X` or
/// `#` for hex, a leading `0` for octal, else decimal.
fn java_decode(s: &str) -> Option<i64> {
    let (negative, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (radix, digits) = if let Some(d) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        (16, d)
    } else if let Some(d) = body.strip_prefix('#') {
        (16, d)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || digits.starts_with(['-', '+']) {
        return None;
    }
    let magnitude = i128::from_str_radix(digits, radix).ok()?;
    let value = if negative { -magnitude } else { magnitude };
    i64::try_from(value).ok()
}

impl SystemProperties {
    /// A store of `-D` pairs (command-line order) and unknown zoo.cfg keys.
    pub fn new(overrides: Vec<(String, String)>, file: Vec<(String, String)>) -> SystemProperties {
        SystemProperties { overrides, file }
    }

    /// A store of these `-D` pairs, for the components' tests.
    #[cfg(test)]
    pub fn of(pairs: &[(&str, &str)]) -> SystemProperties {
        SystemProperties::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), Vec::new())
    }

    /// Finds a property: `-D` before zoo.cfg; within each, the exact name
    /// before the other form (with/without `zookeeper.`). Returns the name
    /// as the user wrote it and the value.
    pub fn lookup(&self, name: &str) -> Option<(&str, &str)> {
        for list in [&self.overrides, &self.file] {
            let exact = list.iter().rev().find(|(k, _)| k == name);
            let other = || list.iter().rev().find(|(k, _)| normalize(k) == normalize(name));
            if let Some((k, v)) = exact.or_else(other) {
                return Some((k.as_str(), v.as_str()));
            }
        }
        None
    }

    /// Every (key, value), `-D` pairs first.
    pub fn all_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.overrides.iter().chain(self.file.iter()).map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The `-D` pairs, in command-line order.
    pub fn override_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.overrides.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The zoo.cfg keys that are system properties, in file order.
    pub fn file_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.file.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Every key, and whether it came from the command line.
    pub(super) fn all_keys(&self) -> impl Iterator<Item = (&str, bool)> {
        self.overrides.iter().map(|(k, _)| (k.as_str(), true)).chain(self.file.iter().map(|(k, _)| (k.as_str(), false)))
    }

    pub fn string(&self, name: &str) -> Option<String> {
        self.lookup(name).map(|(_, v)| v.to_string())
    }

    pub fn string_or(&self, name: &str, default: &str) -> String {
        self.string(name).unwrap_or_else(|| default.to_string())
    }

    /// Long.getLong: Java's decode syntax.
    pub fn long(&self, name: &str, default: i64) -> Result<i64, ConfigError> {
        match self.lookup(name) {
            None => Ok(default),
            Some((k, v)) => java_decode(v).ok_or_else(|| ConfigError::bad_value(k, v, "is not a number")),
        }
    }

    /// Integer.getInteger: Java's decode syntax, 32-bit range.
    pub fn int(&self, name: &str, default: i32) -> Result<i32, ConfigError> {
        match self.lookup(name) {
            None => Ok(default),
            Some((k, v)) => {
                let n = java_decode(v).ok_or_else(|| ConfigError::bad_value(k, v, "is not a number"))?;
                i32::try_from(n).map_err(|_| ConfigError::bad_value(k, v, "is out of range for a 32-bit integer"))
            }
        }
    }

    /// Integer.parseInt on the raw value (decimal only).
    pub fn decimal_int(&self, name: &str, default: i32) -> Result<i32, ConfigError> {
        match self.lookup(name) {
            None => Ok(default),
            Some((k, v)) => parse_number::<i32>(k, v),
        }
    }

    /// Long.parseLong on the raw value (decimal only).
    pub fn decimal_long(&self, name: &str, default: i64) -> Result<i64, ConfigError> {
        match self.lookup(name) {
            None => Ok(default),
            Some((k, v)) => parse_number::<i64>(k, v),
        }
    }

    pub fn double(&self, name: &str, default: f64) -> Result<f64, ConfigError> {
        match self.lookup(name) {
            None => Ok(default),
            Some((k, v)) => v
                .parse::<f64>()
                .ok()
                .filter(|d| d.is_finite())
                .ok_or_else(|| ConfigError::bad_value(k, v, "is not a number")),
        }
    }

    /// Boolean.parseBoolean(getProperty(name, default)): "true" in any case
    /// is true, anything else false (we warn about values that are neither).
    pub fn boolean(&self, name: &str, default: bool) -> bool {
        match self.lookup(name) {
            None => default,
            Some((k, v)) => {
                if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") {
                    warn!("{k}={v:?} is neither true nor false; taken as false");
                }
                v.eq_ignore_ascii_case("true")
            }
        }
    }

    /// Properties Java compares with one literal: `equals(literal)` when set.
    pub fn equals(&self, name: &str, literal: &str) -> Option<bool> {
        self.lookup(name).map(|(_, v)| v == literal)
    }

    /// A refused property, named as the user wrote it.
    pub fn refused(&self, name: &str, reason: &str) -> ConfigError {
        match self.lookup(name) {
            Some((k, v)) => ConfigError::bad_value(k, v, reason),
            None => ConfigError::Invalid(format!("{name}: {reason}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_decode_syntax() {
        assert_eq!(java_decode("42"), Some(42));
        assert_eq!(java_decode("-42"), Some(-42));
        assert_eq!(java_decode("+7"), Some(7));
        assert_eq!(java_decode("0x1F"), Some(31));
        assert_eq!(java_decode("0X1f"), Some(31));
        assert_eq!(java_decode("#ff"), Some(255));
        assert_eq!(java_decode("-0x10"), Some(-16));
        assert_eq!(java_decode("010"), Some(8));
        assert_eq!(java_decode("0"), Some(0));
        assert_eq!(java_decode("09"), None);
        assert_eq!(java_decode(""), None);
        assert_eq!(java_decode("0x"), None);
        assert_eq!(java_decode("--1"), None);
        assert_eq!(java_decode("0x-1"), None);
        assert_eq!(java_decode("1 "), None);
        assert_eq!(java_decode("9223372036854775808"), None);
        assert_eq!(java_decode("-9223372036854775808"), Some(i64::MIN));
    }

    #[test]
    fn lookup_prefers_the_command_line_and_the_exact_name() {
        let p = SystemProperties::new(
            vec![("a".into(), "1".into()), ("zookeeper.a".into(), "2".into())],
            vec![("zookeeper.a".into(), "3".into()), ("b".into(), "4".into())],
        );
        assert_eq!(p.lookup("a"), Some(("a", "1")));
        assert_eq!(p.lookup("zookeeper.a"), Some(("zookeeper.a", "2")));
        assert_eq!(p.lookup("zookeeper.b"), Some(("b", "4")));
        assert_eq!(p.lookup("c"), None);
    }

    #[test]
    fn typed_getters_name_the_key_they_refuse() {
        let p = SystemProperties::of(&[("n", "9999999999"), ("x", "0x10"), ("d", "abc"), ("t", "TRUE"), ("f", "yes")]);
        assert_eq!(p.int("n", 0).unwrap_err().to_string(), "n: \"9999999999\" is out of range for a 32-bit integer");
        assert_eq!(p.long("n", 0), Ok(9_999_999_999));
        assert_eq!(p.int("x", 0), Ok(16));
        assert_eq!(p.decimal_long("x", 0).unwrap_err().to_string(), "x: \"0x10\" is not a number");
        assert_eq!(p.decimal_int("absent", 5), Ok(5));
        assert_eq!(p.double("d", 0.0).unwrap_err().to_string(), "d: \"abc\" is not a number");
        assert!(p.boolean("t", false) && !p.boolean("f", true) && p.boolean("absent", true));
        assert_eq!(p.refused("x", "is bad").to_string(), "x: \"0x10\" is bad");
        assert_eq!(p.refused("absent", "is bad").to_string(), "absent: is bad");
    }
}
