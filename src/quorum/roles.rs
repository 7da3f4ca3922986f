//! ZabRoles: the role code the QuorumPeer thread runs once an election has
//! decided (see `Roles`): the Leader, the Follower or the Observer, each
//! running until it loses its leader or its quorum.

use crate::quorum::leader;
use crate::quorum::learner;
use crate::quorum::quorum_peer::{QuorumPeer, Roles};
use crate::quorum::quorum_peer_config::LearnerType;
use crate::quorum::vote::Vote;
use std::io;
use std::sync::Arc;

pub struct ZabRoles;

impl Roles for ZabRoles {
    fn lead(&self, peer: &Arc<QuorumPeer>) -> io::Result<()> {
        leader::lead(peer)
    }

    fn follow(&self, peer: &Arc<QuorumPeer>, leader: &Vote) -> io::Result<()> {
        learner::run(peer, leader, LearnerType::Participant)
    }

    fn observe(&self, peer: &Arc<QuorumPeer>, leader: &Vote) -> io::Result<()> {
        learner::run(peer, leader, LearnerType::Observer)
    }
}
