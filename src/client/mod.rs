//! A small blocking ZooKeeper client used by the tests, benchmarks and tools.
//! It is not a product: applications should use a real client library.
//!
//! `ZkClient` (module `client_cnxn`) holds one session over one connection,
//! with typed calls for the common operations and raw frame access for
//! everything else; `ZkError` (module `keeper_exception`) is what its calls
//! fail with.

pub mod client_cnxn;
pub mod keeper_exception;

pub use client_cnxn::{ConnectOptions, Handshake, Reply, ZkClient};
pub use keeper_exception::{code_name, ZkError};
