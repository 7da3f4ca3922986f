//! QuorumZooKeeperServer: what the leader's and the learners' server roles
//! share about local sessions (localSessionsEnabled). `set_local_session_flag`
//! marks a request whose createSession or closeSession stays on this
//! server (RequestThrottler thread); `check_upgrade_session` spots an
//! ephemeral's creation on a local session and returns the createSession
//! request that makes the session global first, or, with
//! localSessionsUpgradingEnabled off, the EPHEMERALONLOCALSESSION error.
//! It runs on the thread that hands requests to LeaderRequestProcessor or
//! FollowerRequestProcessor (the RequestThrottler thread), one at a time.

use crate::jute::multi::{MultiOperationRecord, Op};
use crate::jute::records::CreateRequest;
use crate::jute::{InputArchive, OutputArchive, Record};
use crate::server::request::Request;
use crate::server::session_tracker::SessionTracker;
use crate::server::zoo_keeper_server::ZooKeeperServer;
use crate::zoo_defs::{code, op_code, CreateMode};

/// setLocalSessionFlag: with local sessions on every new session is local;
/// a closeSession is local when its session is.
pub fn set_local_session_flag(tracker: &dyn SessionTracker, req: &mut Request) {
    match req.op_type {
        op_code::CREATE_SESSION if tracker.is_local_sessions_enabled() => req.local_session = true,
        op_code::CLOSE_SESSION => {
            let local = tracker.is_local_session(req.session_id);
            req.local_session = local;
            tracing::info!(
                "Submitting {} closeSession request for session 0x{:x}",
                if local { "local" } else { "global" },
                req.session_id
            );
        }
        _ => {}
    }
}

/// Whether a create's flags make an ephemeral node (EPHEMERAL or
/// EPHEMERAL_SEQUENTIAL; neither containers nor TTL nodes).
fn is_ephemeral_flag(flags: i32) -> bool {
    CreateMode::from_flag(flags).is_some_and(CreateMode::is_ephemeral)
}

/// Whether `req` creates an ephemeral node: a create or create2, or a multi
/// with one among its ops. Err: the body does not decode (Prep will say so).
fn creates_ephemeral(req: &Request) -> Result<bool, String> {
    match req.op_type {
        op_code::CREATE | op_code::CREATE2 => {
            let create = CreateRequest::from_bytes(&req.request).map_err(|e| format!("{e:?}"))?;
            Ok(is_ephemeral_flag(create.flags))
        }
        op_code::MULTI => {
            let multi = MultiOperationRecord::deserialize(&mut InputArchive::new(&req.request))
                .map_err(|e| format!("{e:?}"))?;
            Ok(multi.ops.iter().any(|op| {
                matches!(op, Op::Create { op_type: op_code::CREATE | op_code::CREATE2, req: c } if is_ephemeral_flag(c.flags))
            }))
        }
        _ => Ok(false),
    }
}

/// checkUpgradeSession: None when `req` needs no upgrade; Some(the
/// createSession to submit before it) when it creates an ephemeral node
/// on a local session; Err(EPHEMERALONLOCALSESSION) when that session may
/// not be upgraded (localSessionsUpgradingEnabled is off).
pub fn check_upgrade_session(zks: &ZooKeeperServer, req: &Request) -> Result<Option<Request>, i32> {
    let tracker = zks.session_tracker();
    if req.throttled
        || !matches!(req.op_type, op_code::CREATE | op_code::CREATE2 | op_code::MULTI)
        || !tracker.is_local_session(req.session_id)
    {
        return Ok(None);
    }
    match creates_ephemeral(req) {
        Ok(true) => {}
        Ok(false) => return Ok(None),
        Err(e) => {
            tracing::error!("Unexpected error in upgrade of session 0x{:x}: {e}", req.session_id);
            return Ok(None);
        }
    }
    if !zks.settings.config.local_sessions_upgrading_enabled {
        return Err(code::EPHEMERAL_ON_LOCAL_SESSION);
    }
    Ok(make_upgrade_request(tracker.as_ref(), req.session_id))
}

/// makeUpgradeRequest: upgrades the session (unless another thread just
/// did) and builds its createSession, carrying the session's timeout.
fn make_upgrade_request(tracker: &dyn SessionTracker, session_id: i64) -> Option<Request> {
    let timeout = tracker.upgrade_session(session_id)?;
    let mut body = OutputArchive::with_capacity(4);
    body.write_int(timeout);
    Some(Request::new(None, session_id, 0, op_code::CREATE_SESSION, body.into_inner(), Vec::new()))
}

/// What LeaderRequestProcessor and FollowerRequestProcessor do with
/// `check_upgrade_session`'s answer: the upgrade request, to be passed on
/// before `req`; an error is recorded on `req` and reported to its client
/// once the request comes back (the leader refuses the ephemeral of a
/// session it does not know as global).
pub fn upgrade_request_for(zks: &ZooKeeperServer, req: &mut Request) -> Option<Request> {
    match check_upgrade_session(zks, req) {
        Ok(upgrade) => upgrade,
        Err(err) => {
            tracing::warn!("Error creating upgrade request for session 0x{:x}: KeeperErrorCode {err}", req.session_id);
            req.err = Some(err);
            None
        }
    }
}
