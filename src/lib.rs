//! zkserver: a ZooKeeper 3.8 compatible server whose threads and queues
//! mirror the Java server's one for one (see docs/architecture.md).

pub mod client;
pub mod common;
pub mod environment;
pub mod jute;
pub mod quorum;
pub mod server;
#[cfg(any(test, feature = "simulation"))]
pub mod sim;
pub mod watcher;
pub mod zoo_defs;
