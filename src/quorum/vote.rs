//! Vote (Java's Vote) and the peer states it carries: what a peer proposes
//! or has decided, exchanged in election notifications. Plain data, used by
//! the QuorumPeer thread and the election's messenger threads.

use std::fmt;

/// A peer's state (QuorumPeer.ServerState), numbered as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerState {
    Looking = 0,
    Following = 1,
    Leading = 2,
    Observing = 3,
}

impl ServerState {
    /// The state for a notification's state field; `None` for a value no
    /// server sends (Java skips such a notification).
    pub fn from_wire(v: i32) -> Option<ServerState> {
        match v {
            0 => Some(ServerState::Looking),
            1 => Some(ServerState::Following),
            2 => Some(ServerState::Leading),
            3 => Some(ServerState::Observing),
            _ => None,
        }
    }

    /// The name Java's enum prints (LOOKING, FOLLOWING, ...).
    pub fn name(self) -> &'static str {
        match self {
            ServerState::Looking => "LOOKING",
            ServerState::Following => "FOLLOWING",
            ServerState::Leading => "LEADING",
            ServerState::Observing => "OBSERVING",
        }
    }
}

impl fmt::Display for ServerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A proposal or a decision: the leader's sid with its last zxid and epoch,
/// the election round it belongs to, and the voter's state.
#[derive(Debug, Clone, Copy)]
pub struct Vote {
    /// Notification format version the vote arrived in (0 for our own).
    pub version: i32,
    /// The proposed or elected leader.
    pub id: i64,
    pub zxid: i64,
    pub election_epoch: i64,
    pub peer_epoch: i64,
    pub state: ServerState,
}

impl Vote {
    /// A LOOKING vote of format version 0.
    pub fn new(id: i64, zxid: i64, election_epoch: i64, peer_epoch: i64) -> Vote {
        Vote { version: 0, id, zxid, election_epoch, peer_epoch, state: ServerState::Looking }
    }

    /// The vote a peer starts with: itself, its last zxid and current epoch,
    /// no election round yet.
    pub fn initial(id: i64, zxid: i64, peer_epoch: i64) -> Vote {
        Vote::new(id, zxid, -1, peer_epoch)
    }
}

/// Java's Vote.equals. While either side is LOOKING, the whole proposal
/// must match. Between decided votes only the leader (and its epoch) is
/// compared: zxids and rounds of peers that joined an established ensemble
/// differ legitimately, and peers that predate the version field carry no
/// meaningful epoch.
impl PartialEq for Vote {
    fn eq(&self, other: &Vote) -> bool {
        if self.state == ServerState::Looking || other.state == ServerState::Looking {
            self.id == other.id
                && self.zxid == other.zxid
                && self.election_epoch == other.election_epoch
                && self.peer_epoch == other.peer_epoch
        } else if (self.version > 0) != (other.version > 0) {
            self.id == other.id
        } else {
            self.id == other.id && self.peer_epoch == other.peer_epoch
        }
    }
}

impl fmt::Display for Vote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "(leader {}, zxid 0x{:x}, election epoch 0x{:x}, peer epoch 0x{:x}, {})",
            self.id, self.zxid, self.election_epoch, self.peer_epoch, self.state
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looking_votes_compare_everything() {
        let a = Vote::new(3, 0x100, 1, 1);
        assert_eq!(a, Vote::new(3, 0x100, 1, 1));
        assert_ne!(a, Vote::new(3, 0x100, 2, 1));
        assert_ne!(a, Vote::new(3, 0x101, 1, 1));
    }

    #[test]
    fn decided_votes_compare_leader_and_epoch() {
        let f = |version, zxid, round, epoch| Vote {
            version,
            id: 3,
            zxid,
            election_epoch: round,
            peer_epoch: epoch,
            state: ServerState::Following,
        };
        assert_eq!(f(2, 1, 1, 5), f(2, 9, 7, 5));
        assert_ne!(f(2, 1, 1, 5), f(2, 1, 1, 6));
        assert_eq!(f(0, 1, 1, 5), f(2, 1, 1, 6), "mixed versions compare the leader only");
    }

    #[test]
    fn wire_states() {
        for s in [ServerState::Looking, ServerState::Following, ServerState::Leading, ServerState::Observing] {
            assert_eq!(ServerState::from_wire(s as i32), Some(s));
        }
        assert_eq!(ServerState::from_wire(4), None);
    }
}
