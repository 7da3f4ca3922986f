//! ExitCode: the process exit statuses that ZooKeeper's scripts and
//! supervisors know (Java's org.apache.zookeeper.server.ExitCode), in one
//! place for the server, the quorum peer, the critical threads and the
//! tools. Only the statuses zkserver uses are here.

/// The run (or a tool) ended as asked.
pub const EXECUTION_FINISHED: u8 = 0;
/// A failure after start-up began, a critical thread's included.
pub const UNEXPECTED_ERROR: u8 = 1;
/// A bad command line or configuration.
pub const INVALID_INVOCATION: u8 = 2;
/// Data directories that cannot be used.
pub const UNABLE_TO_ACCESS_DATADIR: u8 = 3;
/// A standalone server whose AdminServer cannot start
/// (ERROR_STARTING_ADMIN_SERVER).
pub const ERROR_STARTING_ADMIN_SERVER: u8 = 4;
/// A quorum peer that cannot bind its election port.
pub const UNABLE_TO_BIND_QUORUM_PORT: u8 = 14;

/// Ends the process with `code` (std::process::exit takes an i32).
pub fn exit(code: u8) -> ! {
    std::process::exit(i32::from(code))
}
