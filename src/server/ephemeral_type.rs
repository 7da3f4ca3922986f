//! EphemeralType: what a node's ephemeralOwner says it is: an ordinary node
//! (VOID), a session's ephemeral (NORMAL), a container, or a TTL node (the
//! extended form, only with zookeeper.extendedTypesEnabled).

use crate::server::zoo_defs::CONTAINER_EPHEMERAL_OWNER;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EphemeralType {
    Void,
    Normal,
    Container,
    Ttl,
}

const EXTENDED_MASK: i64 = 0xff00_0000_0000_0000u64 as i64;
const RESERVED_BITS_MASK: i64 = 0x00ff_ff00_0000_0000;
/// The largest TTL in ms (about 34 years).
pub const TTL_MAX_VALUE: i64 = !(EXTENDED_MASK | RESERVED_BITS_MASK);

impl EphemeralType {
    pub fn get(ephemeral_owner: i64, extended_types_enabled: bool) -> EphemeralType {
        if extended_types_enabled && ephemeral_owner & EXTENDED_MASK == EXTENDED_MASK {
            return EphemeralType::Ttl;
        }
        if ephemeral_owner == CONTAINER_EPHEMERAL_OWNER {
            EphemeralType::Container
        } else if ephemeral_owner == 0 {
            EphemeralType::Void
        } else {
            EphemeralType::Normal
        }
    }

    /// The ephemeralOwner of a TTL node; None when the ttl is out of range.
    pub fn ttl_to_ephemeral_owner(ttl: i64) -> Option<i64> {
        if ttl <= 0 || ttl > TTL_MAX_VALUE {
            return None;
        }
        Some(EXTENDED_MASK | ttl)
    }

    /// The ttl encoded in a TTL node's ephemeralOwner.
    pub fn ttl_value(ephemeral_owner: i64) -> i64 {
        ephemeral_owner & TTL_MAX_VALUE
    }
}
