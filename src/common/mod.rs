//! Helpers shared by client and server code (Java's org.apache.zookeeper.common).

pub mod batch_scheduling;
/// Days since 1970-01-01 to a civil date (std-only: build.rs includes it too).
pub mod civil_date;
pub mod deadline_reader;
pub mod der;
pub mod file_change_watcher;
pub mod file_key_store_loader;
pub mod jaas_configuration;
pub mod java_hash_order;
pub mod jks_file_loader;
pub mod linked_blocking_queue;
pub mod logging;
pub mod net_utils;
pub mod path_trie;
pub mod path_utils;
pub mod time;
pub mod x509_util;
