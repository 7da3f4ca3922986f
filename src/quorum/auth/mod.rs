//! Quorum authentication (SASL DIGEST-MD5 between peers), for election
//! connections and for learners connecting to their leader.

pub mod quorum_auth;
pub mod sasl_quorum_auth_learner;
pub mod sasl_quorum_auth_server;
pub mod sasl_quorum_server_callback_handler;
