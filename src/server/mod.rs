//! The standalone server and everything the replicated roles share: client
//! connections, request processors, the data tree, sessions, persistence.

pub mod data_node;
pub mod data_tree;
pub mod persistence;
pub mod quotas;
pub mod reference_counted_acl_cache;
pub mod watch_manager;
pub mod watcher;
pub mod zoo_defs;
pub mod zoo_keeper_server_main;
