//! Helpers shared by client and server code (Java's org.apache.zookeeper.common).

pub mod path_trie;
pub mod path_utils;
