//! QuorumPeerConfig: zoo.cfg (to be written).

/// The parsed configuration.
pub struct QuorumPeerConfig {}
