//! Replication: configuration, election, and the Leader/Follower/Observer
//! roles.

pub mod commit_processor;
pub mod fast_leader_election;
pub mod follower_request_processor;
pub mod learner;
pub mod learner_session_tracker;
pub mod learner_zoo_keeper_server;
pub mod quorum_cnx_manager;
pub mod quorum_maj;
pub mod quorum_peer;
pub mod quorum_peer_config;
pub mod quorum_peer_main;
pub mod roles;
pub mod send_ack_request_processor;
pub mod vote;
