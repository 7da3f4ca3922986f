//! `ZkError`: what a client call can fail with — an error code the server
//! answered (KeeperException.Code), a broken connection, or a reply that
//! does not decode. Plain data, used by whichever thread made the call.

use crate::jute::JuteError;
use crate::zoo_defs::code;
use std::fmt;
use std::io;

/// Why a client call failed.
#[derive(Debug)]
pub enum ZkError {
    /// The server answered with a non-zero error code (`code::*`); `path`
    /// is the path of the request, when it had one.
    Keeper { code: i32, path: String },
    /// The connection failed or timed out before a reply arrived.
    Io(io::Error),
    /// The reply arrived but its body is not the record the request expects.
    Decode(JuteError),
}

impl ZkError {
    /// The error as a KeeperException code: the server's code, CONNECTIONLOSS
    /// for an I/O failure, MARSHALLINGERROR for an undecodable reply.
    pub fn code(&self) -> i32 {
        match self {
            ZkError::Keeper { code, .. } => *code,
            ZkError::Io(_) => code::CONNECTION_LOSS,
            ZkError::Decode(_) => code::MARSHALLING_ERROR,
        }
    }
}

/// The short name Java's KeeperException prints for a code
/// ("NoNode", "NodeExists", "Directory not empty", ...).
pub fn code_name(c: i32) -> String {
    let name = match c {
        code::OK => "ok",
        code::SYSTEM_ERROR => "SystemError",
        code::RUNTIME_INCONSISTENCY => "RuntimeInconsistency",
        code::DATA_INCONSISTENCY => "DataInconsistency",
        code::CONNECTION_LOSS => "ConnectionLoss",
        code::MARSHALLING_ERROR => "MarshallingError",
        code::UNIMPLEMENTED => "Unimplemented",
        code::OPERATION_TIMEOUT => "OperationTimeout",
        code::BAD_ARGUMENTS => "BadArguments",
        code::NEW_CONFIG_NO_QUORUM => "NewConfigNoQuorum",
        code::RECONFIG_IN_PROGRESS => "ReconfigInProgress",
        code::API_ERROR => "APIError",
        code::NO_NODE => "NoNode",
        code::NO_AUTH => "NoAuth",
        code::BAD_VERSION => "BadVersion",
        code::NO_CHILDREN_FOR_EPHEMERALS => "NoChildrenForEphemerals",
        code::NODE_EXISTS => "NodeExists",
        code::NOT_EMPTY => "Directory not empty",
        code::SESSION_EXPIRED => "Session expired",
        code::INVALID_CALLBACK => "Invalid callback",
        code::INVALID_ACL => "InvalidACL",
        code::AUTH_FAILED => "AuthFailed",
        code::SESSION_MOVED => "Session moved",
        code::NOT_READONLY => "Not a read-only call",
        code::EPHEMERAL_ON_LOCAL_SESSION => "Ephemeral node on local session",
        code::NO_WATCHER => "No such watcher",
        code::RECONFIG_DISABLED => "Reconfig is disabled",
        code::SESSION_CLOSED_REQUIRE_SASL_AUTH => "Session closed because client failed to authenticate",
        code::QUOTA_EXCEEDED => "Quota has exceeded",
        code::THROTTLED_OP => "Op throttled due to high load",
        other => return format!("Unknown error {other}"),
    };
    name.to_string()
}

impl fmt::Display for ZkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZkError::Keeper { code, path } if path.is_empty() => {
                write!(f, "KeeperErrorCode = {}", code_name(*code))
            }
            ZkError::Keeper { code, path } => {
                write!(f, "KeeperErrorCode = {} for {}", code_name(*code), path)
            }
            ZkError::Io(e) => write!(f, "KeeperErrorCode = ConnectionLoss ({e})"),
            ZkError::Decode(e) => write!(f, "KeeperErrorCode = MarshallingError ({e})"),
        }
    }
}

impl std::error::Error for ZkError {}

impl From<io::Error> for ZkError {
    fn from(e: io::Error) -> ZkError {
        ZkError::Io(e)
    }
}

impl From<JuteError> for ZkError {
    fn from(e: JuteError) -> ZkError {
        ZkError::Decode(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_matches_java_messages() {
        let e = ZkError::Keeper { code: code::NO_NODE, path: "/a".into() };
        assert_eq!(e.to_string(), "KeeperErrorCode = NoNode for /a");
        let e = ZkError::Keeper { code: code::NOT_EMPTY, path: String::new() };
        assert_eq!(e.to_string(), "KeeperErrorCode = Directory not empty");
        assert_eq!(code_name(-9999), "Unknown error -9999");
        let io = ZkError::Io(io::Error::new(io::ErrorKind::TimedOut, "x"));
        assert_eq!(io.code(), code::CONNECTION_LOSS);
    }
}
