//! Request: one client (or internal) request as it travels down the
//! processor chain, gaining a TxnHeader and txn in PrepRequestProcessor.

use crate::jute::records::Id;
use crate::jute::txn::{TxnBody, TxnDigest, TxnHeader, TxnLogEntryRef};
use crate::server::request_throttler::RequestThrottlerSettings;
use crate::server::large_requests::LargeRequestShare;
use crate::server::server_cnxn::{InFlight, ServerCnxn};
use crate::server::session_tracker::SessionOwner;
use crate::zoo_defs::op_code;
use std::sync::Arc;
use std::time::Instant;

/// Who answers a request besides its connection (Java's Request.owner, an
/// Object; here the one case there is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOwner {
    /// Nobody: the request's connection, if any, gets the answer.
    None,
    /// A sync a learner forwarded to the leader: the leader answers it on
    /// that learner's connection (by its LearnerHandler's serial number)
    /// with a SYNC once the writes proposed before it are committed.
    LearnerSync(u64),
}

pub struct Request {
    /// The connection to answer; None for internal requests, for requests
    /// a learner forwarded to the leader and for txns from elsewhere. Not
    /// having one never makes a request internal: see `internal`.
    pub cnxn: Option<Arc<dyn ServerCnxn>>,
    /// Made by the server itself (`Request::internal`): the
    /// ContainerManager's deleteContainer, the SessionTracker's
    /// closeSession. Nothing built from a client's or a peer's bytes is
    /// internal; Prep refuses deleteContainer from anyone else.
    pub internal: bool,
    pub session_id: i64,
    pub cxid: i32,
    pub op_type: i32,
    /// The request body after the RequestHeader.
    pub request: Vec<u8>,
    /// The ids of the connection's authentication when the request came;
    /// shared with the connection until it authenticates again.
    pub auth_info: Arc<[Id]>,
    /// Set by PrepRequestProcessor for requests that change state.
    pub hdr: Option<TxnHeader>,
    pub txn: Option<TxnBody>,
    /// The tree digest the txn will leave behind (Prep's precalculation),
    /// logged with it and checked when it is applied.
    pub txn_digest: Option<TxnDigest>,
    /// The zxid the server had reached when Prep handled the request.
    pub zxid: i64,
    /// A KeeperException code raised while preparing the request.
    pub err: Option<i32>,
    pub create_time: Instant,
    /// When the request entered the queue of the processor holding it
    /// (Java's prepQueueStartTime, syncQueueStartTime,
    /// commitProcQueueStartTime), for the queue-time metrics.
    pub queued_at: Instant,
    /// Who is waiting for the request besides its connection (Java's
    /// Request.owner).
    pub owner: RequestOwner,
    /// The connection the request came through, as session ownership
    /// counts it: `Local` for this server's clients and internal requests,
    /// the LearnerHandler's for a learner's forwarded request.
    pub session_owner: SessionOwner,
    /// The request's share of its connection's in-flight limits, given back
    /// when the request is dropped (a client's requests only).
    pub in_flight: Option<InFlight>,
    /// The request's session lives only on this server and is never logged
    /// (Request.isLocalSession): a local session (localSessionsEnabled) or
    /// a read-only server's. Its createSession and closeSession get no txn
    /// and never reach the leader.
    pub local_session: bool,
    /// A large request's share of zookeeper.largeRequestMaxBytes, given
    /// back when the request is dropped (Java's largeRequestSize).
    pub large_request: Option<LargeRequestShare>,
    /// Waited in the RequestThrottler longer than
    /// zookeeper.throttled_op_wait_time: passed down the chain untouched
    /// and answered THROTTLEDOP (Java's isThrottled).
    pub throttled: bool,
}

impl Request {
    pub fn new(
        cnxn: Option<Arc<dyn ServerCnxn>>,
        session_id: i64,
        cxid: i32,
        op_type: i32,
        request: Vec<u8>,
        auth_info: impl Into<Arc<[Id]>>,
    ) -> Request {
        let now = Instant::now();
        Request {
            cnxn,
            internal: false,
            session_id,
            cxid,
            op_type,
            request,
            auth_info: auth_info.into(),
            hdr: None,
            txn: None,
            txn_digest: None,
            zxid: -1,
            err: None,
            create_time: now,
            queued_at: now,
            owner: RequestOwner::None,
            session_owner: SessionOwner::Local,
            in_flight: None,
            local_session: false,
            large_request: None,
            throttled: false,
        }
    }

    /// Whether zookeeper.throttled_op_wait_time may turn the request away:
    /// anything but a ping or a session's creation or closing.
    pub fn is_throttlable(&self) -> bool {
        !matches!(self.op_type, op_code::PING | op_code::CREATE_SESSION | op_code::CLOSE_SESSION)
    }

    /// A request the server makes of itself, answered to nobody.
    pub fn internal(session_id: i64, op_type: i32, request: Vec<u8>) -> Request {
        Request { internal: true, ..Request::new(None, session_id, 0, op_type, request, Vec::new()) }
    }

    /// Request.isValid: the opcodes a client may send.
    pub fn is_valid(op: i32) -> bool {
        use op_code::*;
        matches!(
            op,
            CHECK | CLOSE_SESSION | CREATE | CREATE2 | CREATE_TTL | CREATE_CONTAINER | CREATE_SESSION
                | DELETE | DELETE_CONTAINER | EXISTS | GET_ACL | GET_CHILDREN | GET_ALL_CHILDREN_NUMBER
                | GET_CHILDREN2 | GET_DATA | GET_EPHEMERALS | MULTI | MULTI_READ | PING | RECONFIG
                | SET_ACL | SET_DATA | SET_WATCHES | SET_WATCHES2 | SYNC | CHECK_WATCHES
                | REMOVE_WATCHES | ADD_WATCH | WHO_AM_I
        )
    }

    /// Request.isQuorum: whether the request goes through the quorum
    /// (changes state, or is the error txn of one that would have).
    pub fn is_quorum(&self) -> bool {
        use op_code::*;
        match self.op_type {
            EXISTS | GET_ACL | GET_CHILDREN | GET_ALL_CHILDREN_NUMBER | GET_CHILDREN2 | GET_DATA
            | GET_EPHEMERALS | MULTI_READ | WHO_AM_I => false,
            CREATE | CREATE2 | CREATE_TTL | CREATE_CONTAINER | ERROR | DELETE | DELETE_CONTAINER
            | SET_ACL | SET_DATA | CHECK | MULTI | RECONFIG => true,
            CREATE_SESSION | CLOSE_SESSION => !self.local_session,
            _ => false,
        }
    }

    /// The log entry for this request's txn, if it has one.
    pub fn log_entry(&self) -> Option<TxnLogEntryRef<'_>> {
        self.hdr.as_ref().map(|hdr| TxnLogEntryRef { hdr, txn: self.txn.as_ref(), digest: self.txn_digest.as_ref() })
    }
}

/// Java's Request.toString: what the trace and debug lines show. The path
/// is read, best effort, from the body's leading string.
impl std::fmt::Display for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sessionid:0x{:x} type:{} cxid:0x{:x} zxid:0x{:x} txntype:",
            self.session_id,
            op_code::name(self.op_type),
            self.cxid,
            self.hdr.as_ref().map_or(-2, |h| h.zxid)
        )?;
        match &self.hdr {
            Some(h) => write!(f, "{}", h.r#type)?,
            None => f.write_str("unknown")?,
        }
        write!(f, " reqpath:{}", self.path_for_display().unwrap_or("n/a"))
    }
}

impl Request {
    /// isStale: nobody will read the answer. With
    /// zookeeper.request_stale_connection_check (on by default) a request
    /// whose connection closed or was invalidated is stale; with
    /// zookeeper.request_stale_latency_check (off by default) so is one
    /// older than its session's timeout. A closeSession never is: it must
    /// clean up after the session whatever became of its connection.
    pub fn is_stale(&self, checks: &RequestThrottlerSettings) -> bool {
        let Some(cnxn) = &self.cnxn else { return false };
        if self.op_type == op_code::CLOSE_SESSION {
            return false;
        }
        if checks.stale_connection_check && (cnxn.is_stale() || cnxn.is_invalid()) {
            return true;
        }
        checks.stale_latency_check
            && self.create_time.elapsed().as_millis() > u128::try_from(cnxn.session_timeout()).unwrap_or(0)
    }

    /// mustDrop: an earlier request of the same connection was dropped, so
    /// this one may not run after the requests between them.
    pub fn must_drop(&self) -> bool {
        self.cnxn.as_ref().is_some_and(|c| c.is_invalid())
    }

    /// The path a request body starts with, when it has one that reads.
    fn path_for_display(&self) -> Option<&str> {
        if matches!(
            self.op_type,
            op_code::CREATE_SESSION | op_code::SET_WATCHES | op_code::SET_WATCHES2 | op_code::CLOSE_SESSION
        ) {
            return None;
        }
        let len = i32::from_be_bytes(self.request.get(..4)?.try_into().ok()?);
        let len = usize::try_from(len).ok().filter(|l| *l < 4096)?;
        std::str::from_utf8(self.request.get(4..4 + len)?).ok()
    }
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}
