//! Replication: configuration, election, and the Leader/Follower/Observer
//! roles.

pub mod quorum_peer_config;
