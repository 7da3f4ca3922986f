//! Replication: configuration, election, and the Leader/Follower/Observer
//! roles.

pub mod ack_request_processor;
pub mod auth;
pub mod commit_processor;
pub mod fast_leader_election;
pub mod follower_request_processor;
pub mod leader;
pub mod leader_request_processor;
pub mod leader_session_tracker;
pub mod leader_zoo_keeper_server;
pub mod learner;
pub mod learner_handler;
pub mod learner_master;
pub mod learner_sender;
pub mod learner_session_tracker;
pub mod learner_zoo_keeper_server;
pub mod local_session_tracker;
pub mod proposal_request_processor;
pub mod quorum_cnx_manager;
pub mod quorum_hierarchical;
pub mod quorum_maj;
pub mod quorum_oracle_maj;
pub mod quorum_packet;
pub mod quorum_peer;
pub mod quorum_peer_config;
pub mod quorum_peer_main;
pub mod quorum_zoo_keeper_server;
pub mod quorum_verifier;
pub mod read_only_request_processor;
pub mod read_only_zoo_keeper_server;
pub mod roles;
pub mod synced_learner_tracker;
pub mod send_ack_request_processor;
pub mod to_be_applied_request_processor;
pub mod upgradeable_session_tracker;
pub mod vote;
