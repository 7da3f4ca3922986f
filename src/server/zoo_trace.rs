//! ZooTrace: the text trace mask that the `stmk` and `gtmk` words and the
//! admin commands set_trace_mask/get_trace_mask set and show, and the trace
//! lines it gates. As in Java, a line is written only when its category's
//! bit is in the mask and TRACE is enabled for the `zookeeper.trace` log
//! target (`-Dzookeeper.console.threshold=TRACE`, or
//! `RUST_LOG=zookeeper.trace=trace`). Called from the request-processor
//! threads, the SessionTracker and the WatchManager; the mask is one atomic.

use crate::server::request::Request;
use std::sync::atomic::{AtomicI64, Ordering};

/// A client's request entering a processor.
pub const CLIENT_REQUEST_TRACE_MASK: i64 = 1 << 1;
/// A client's ping entering PrepRequestProcessor, and session touches.
pub const CLIENT_PING_TRACE_MASK: i64 = 1 << 3;
/// Quorum packets a learner or LearnerHandler reads and writes.
pub const SERVER_PACKET_TRACE_MASK: i64 = 1 << 4;
/// Sessions created, expired and closed.
pub const SESSION_TRACE_MASK: i64 = 1 << 5;
/// Watch events delivered (or found with no watcher).
pub const EVENT_DELIVERY_TRACE_MASK: i64 = 1 << 6;
/// A ping reaching FinalRequestProcessor.
pub const SERVER_PING_TRACE_MASK: i64 = 1 << 7;
/// Warnings worth tracing.
pub const WARNING_TRACE_MASK: i64 = 1 << 8;

/// The log target of every trace line.
pub const TARGET: &str = "zookeeper.trace";

/// Java's default: client requests, server packets, sessions and warnings.
static TRACE_MASK: AtomicI64 = AtomicI64::new(
    CLIENT_REQUEST_TRACE_MASK | SERVER_PACKET_TRACE_MASK | SESSION_TRACE_MASK | WARNING_TRACE_MASK,
);

/// ZooTrace.getTextTraceLevel.
pub fn trace_mask() -> i64 {
    TRACE_MASK.load(Ordering::Relaxed)
}

/// ZooTrace.setTextTraceLevel.
pub fn set_trace_mask(mask: i64) {
    TRACE_MASK.store(mask, Ordering::Relaxed);
    tracing::info!("Set text trace mask to 0x{mask:x}");
}

/// Whether a line of category `mask` would be written.
pub fn is_trace_enabled(mask: i64) -> bool {
    trace_mask() & mask != 0 && tracing::enabled!(target: TARGET, tracing::Level::TRACE)
}

/// ZooTrace.logTraceMessage: `msg` is built only when the line is written.
pub fn log_trace_message(mask: i64, msg: impl FnOnce() -> String) {
    if is_trace_enabled(mask) {
        tracing::trace!(target: TARGET, "{}", msg());
    }
}

/// ZooTrace.logRequest: `processor` is the letter Java uses for the
/// processor the request is entering ('P' Prep, 'F' a learner's first
/// processor, 'R' read-only, 'E' Final).
pub fn log_request(mask: i64, processor: char, request: &Request) {
    log_trace_message(mask, || format!(":{processor}{request}"));
}

/// The category of a request entering PrepRequestProcessor or a learner's
/// first processor: pings are the client's.
pub fn client_request_mask(op_type: i32) -> i64 {
    if op_type == crate::zoo_defs::op_code::PING {
        CLIENT_PING_TRACE_MASK
    } else {
        CLIENT_REQUEST_TRACE_MASK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_mask_is_javas() {
        assert_eq!(
            CLIENT_REQUEST_TRACE_MASK | SERVER_PACKET_TRACE_MASK | SESSION_TRACE_MASK | WARNING_TRACE_MASK,
            306
        );
        assert_eq!(client_request_mask(crate::zoo_defs::op_code::PING), CLIENT_PING_TRACE_MASK);
        assert_eq!(client_request_mask(crate::zoo_defs::op_code::CREATE), CLIENT_REQUEST_TRACE_MASK);
    }
}
