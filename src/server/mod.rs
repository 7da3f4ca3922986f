//! The standalone server and everything the replicated roles share: client
//! connections, request processors, the data tree, sessions, persistence.

pub mod auth;
pub mod blue_throttle;
pub mod command;
pub mod container_manager;
pub mod data_node;
pub mod data_tree;
pub mod digest_calculator;
pub mod datadir_cleanup_manager;
pub mod exit_code;
pub mod expiry_queue;
pub mod final_request_processor;
pub mod jetty_admin_server;
pub mod large_requests;
pub mod nio_server_cnxn;
pub mod nio_server_cnxn_factory;
pub mod persistence;
pub mod prep_request_processor;
pub mod quotas;
pub mod reference_counted_acl_cache;
pub mod request;
pub mod request_processor;
pub mod request_throttler;
pub mod server_cnxn;
pub mod server_cnxn_factory;
pub mod server_stats;
pub mod session_tracker;
pub mod session_tracker_impl;
pub mod snapshot_formatter;
pub mod sync_request_processor;
pub mod watch_manager;
pub mod worker_service;
pub mod zk_database;
pub mod zoo_keeper_server;
pub mod zoo_keeper_critical_thread;
pub mod zoo_keeper_server_main;
