//! The data directory: transaction logs and snapshots, in Apache
//! ZooKeeper 3.8's on-disk format.

pub mod file_padding;
pub mod file_snap;
pub mod file_txn_log;
pub mod file_txn_snap_log;
pub mod snap_stream;
pub mod txn_log_toolkit;
pub mod util;
#[cfg(test)]
pub(crate) mod syscall_trace;
