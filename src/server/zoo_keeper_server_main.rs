//! ZooKeeperServerMain: starts a standalone server from a parsed config and
//! blocks until it shuts down.

use crate::quorum::quorum_peer_config::QuorumPeerConfig;

/// Runs the standalone server; returns when it has shut down.
pub fn run(_config: QuorumPeerConfig) -> Result<(), String> {
    Err("standalone server not wired yet".to_string())
}
