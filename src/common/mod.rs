//! Helpers shared by client and server code (org.apache.zookeeper.common).

pub mod path_utils;
