//! ServerMetrics: every metric Java 3.8's ServerMetrics defines, under
//! Java's names, in Java's order (the order of registration decides
//! where mntr prints each one). One process-wide instance, `metrics()`,
//! as Java's static ServerMetrics.getMetrics().
//!
//! The field names are Java's constants in snake case. What records each
//! one is noted where zkserver records it; the metrics that describe
//! something zkserver never does keep their Java name and report 0 (or an
//! empty summary), which is the truth for this server:
//! - `netty_queued_buffer_capacity` (NettyServerCnxn: zkserver has only the
//!   NIO transport);
//! - `ensemble_auth_success`, `ensemble_auth_fail`, `ensemble_auth_skip`
//!   (the ensembleAuthName check, refused at start-up);
//! - `response_packet_cache_hits`/`misses` and the get_children ones
//!   (Java's response cache: zkserver serializes each reply);
//! - `dead_watchers_queued`, `dead_watchers_cleared`,
//!   `dead_watchers_cleaner_latency`, `add_dead_watcher_stall_time`
//!   (WatchManagerOptimized's lazy cleaner: a closed connection's watches
//!   are removed at once);
//! - `connection_drop_count`, `cnxn_closed_without_zk_server_running`
//!   (recorded only by Java's Netty transport).

use crate::server::metrics::{Counter, CounterSet, Summary, SummarySet};
use std::sync::LazyLock;

macro_rules! server_metrics {
    ($($field:ident : $ty:ident = $ctor:ident :: $make:ident ($name:literal)),* $(,)?) => {
        /// The metrics, one field per Java constant.
        pub struct ServerMetrics {
            $(pub $field: $ty,)*
        }

        impl ServerMetrics {
            fn new() -> ServerMetrics {
                ServerMetrics { $($field: $ctor::$make($name),)* }
            }

            /// Every metric, in Java's order of registration.
            pub fn all(&self) -> Vec<MetricRef<'_>> {
                vec![$(MetricRef::from(&self.$field),)*]
            }
        }
    };
}

/// One registered metric.
#[derive(Clone, Copy)]
pub enum MetricRef<'a> {
    Counter(&'a Counter),
    CounterSet(&'a CounterSet),
    Summary(&'a Summary),
    SummarySet(&'a SummarySet),
}

impl<'a> From<&'a Counter> for MetricRef<'a> {
    fn from(m: &'a Counter) -> Self {
        MetricRef::Counter(m)
    }
}
impl<'a> From<&'a CounterSet> for MetricRef<'a> {
    fn from(m: &'a CounterSet) -> Self {
        MetricRef::CounterSet(m)
    }
}
impl<'a> From<&'a Summary> for MetricRef<'a> {
    fn from(m: &'a Summary) -> Self {
        MetricRef::Summary(m)
    }
}
impl<'a> From<&'a SummarySet> for MetricRef<'a> {
    fn from(m: &'a SummarySet) -> Self {
        MetricRef::SummarySet(m)
    }
}

server_metrics! {
    fsync_time: Summary = Summary::basic("fsynctime"),
    snapshot_time: Summary = Summary::basic("snapshottime"),
    db_init_time: Summary = Summary::basic("dbinittime"),
    read_latency: Summary = Summary::advanced("readlatency"),
    update_latency: Summary = Summary::advanced("updatelatency"),
    propagation_latency: Summary = Summary::advanced("propagation_latency"),
    follower_sync_time: Summary = Summary::basic("follower_sync_time"),
    observer_sync_time: Summary = Summary::basic("observer_sync_time"),
    election_time: Summary = Summary::basic("election_time"),
    looking_count: Counter = Counter::new("looking_count"),
    diff_count: Counter = Counter::new("diff_count"),
    snap_count: Counter = Counter::new("snap_count"),
    commit_count: Counter = Counter::new("commit_count"),
    connection_request_count: Counter = Counter::new("connection_request_count"),
    connection_token_deficit: Summary = Summary::basic("connection_token_deficit"),
    connection_rejected: Counter = Counter::new("connection_rejected"),
    inflight_snap_count: Summary = Summary::basic("inflight_snap_count"),
    inflight_diff_count: Summary = Summary::basic("inflight_diff_count"),
    write_per_namespace: SummarySet = SummarySet::basic("write_per_namespace"),
    read_per_namespace: SummarySet = SummarySet::basic("read_per_namespace"),
    bytes_received_count: Counter = Counter::new("bytes_received_count"),
    unrecoverable_error_count: Counter = Counter::new("unrecoverable_error_count"),
    node_created_watcher: Summary = Summary::basic("node_created_watch_count"),
    node_deleted_watcher: Summary = Summary::basic("node_deleted_watch_count"),
    node_changed_watcher: Summary = Summary::basic("node_changed_watch_count"),
    node_children_watcher: Summary = Summary::basic("node_children_watch_count"),
    add_dead_watcher_stall_time: Counter = Counter::new("add_dead_watcher_stall_time"),
    dead_watchers_queued: Counter = Counter::new("dead_watchers_queued"),
    dead_watchers_cleared: Counter = Counter::new("dead_watchers_cleared"),
    dead_watchers_cleaner_latency: Summary = Summary::advanced("dead_watchers_cleaner_latency"),
    response_packet_cache_hits: Counter = Counter::new("response_packet_cache_hits"),
    response_packet_cache_missing: Counter = Counter::new("response_packet_cache_misses"),
    response_packet_get_children_cache_hits: Counter = Counter::new("response_packet_get_children_cache_hits"),
    response_packet_get_children_cache_missing: Counter = Counter::new("response_packet_get_children_cache_misses"),
    ensemble_auth_success: Counter = Counter::new("ensemble_auth_success"),
    ensemble_auth_fail: Counter = Counter::new("ensemble_auth_fail"),
    ensemble_auth_skip: Counter = Counter::new("ensemble_auth_skip"),
    prep_processor_queue_time: Summary = Summary::advanced("prep_processor_queue_time_ms"),
    prep_processor_queue_size: Summary = Summary::basic("prep_processor_queue_size"),
    prep_processor_queued: Counter = Counter::new("prep_processor_request_queued"),
    outstanding_changes_queued: Counter = Counter::new("outstanding_changes_queued"),
    outstanding_changes_removed: Counter = Counter::new("outstanding_changes_removed"),
    prep_process_time: Summary = Summary::basic("prep_process_time"),
    proposal_process_time: Summary = Summary::basic("proposal_process_time"),
    close_session_prep_time: Summary = Summary::advanced("close_session_prep_time"),
    revalidate_count: Counter = Counter::new("revalidate_count"),
    connection_drop_count: Counter = Counter::new("connection_drop_count"),
    connection_revalidate_count: Counter = Counter::new("connection_revalidate_count"),
    sessionless_connections_expired: Counter = Counter::new("sessionless_connections_expired"),
    stale_sessions_expired: Counter = Counter::new("stale_sessions_expired"),
    unavailable_time: Summary = Summary::basic("unavailable_time"),
    leader_unavailable_time: Summary = Summary::basic("leader_unavailable_time"),
    requests_in_session_queue: Summary = Summary::basic("requests_in_session_queue"),
    pending_session_queue_size: Summary = Summary::basic("pending_session_queue_size"),
    reads_after_write_in_session_queue: Summary = Summary::basic("reads_after_write_in_session_queue"),
    read_issued_from_session_queue: Summary = Summary::basic("reads_issued_from_session_queue"),
    session_queues_drained: Summary = Summary::basic("session_queues_drained"),
    time_waiting_empty_pool_in_commit_processor_read: Summary = Summary::basic("time_waiting_empty_pool_in_commit_processor_read_ms"),
    write_batch_time_in_commit_processor: Summary = Summary::basic("write_batch_time_in_commit_processor"),
    concurrent_request_processing_in_commit_processor: Summary = Summary::basic("concurrent_request_processing_in_commit_processor"),
    reads_queued_in_commit_processor: Summary = Summary::basic("read_commit_proc_req_queued"),
    writes_queued_in_commit_processor: Summary = Summary::basic("write_commit_proc_req_queued"),
    commits_queued_in_commit_processor: Summary = Summary::basic("commit_commit_proc_req_queued"),
    commits_queued: Counter = Counter::new("request_commit_queued"),
    reads_issued_in_commit_proc: Summary = Summary::basic("read_commit_proc_issued"),
    writes_issued_in_commit_proc: Summary = Summary::basic("write_commit_proc_issued"),
    throttled_ops: Counter = Counter::new("throttled_ops"),
    read_commitproc_time: Summary = Summary::advanced("read_commitproc_time_ms"),
    write_commitproc_time: Summary = Summary::advanced("write_commitproc_time_ms"),
    local_write_committed_time: Summary = Summary::advanced("local_write_committed_time_ms"),
    server_write_committed_time: Summary = Summary::advanced("server_write_committed_time_ms"),
    commit_process_time: Summary = Summary::basic("commit_process_time"),
    om_proposal_process_time: Summary = Summary::advanced("om_proposal_process_time_ms"),
    om_commit_process_time: Summary = Summary::advanced("om_commit_process_time_ms"),
    read_final_proc_time: Summary = Summary::advanced("read_final_proc_time_ms"),
    write_final_proc_time: Summary = Summary::advanced("write_final_proc_time_ms"),
    proposal_latency: Summary = Summary::advanced("proposal_latency"),
    proposal_ack_creation_latency: Summary = Summary::advanced("proposal_ack_creation_latency"),
    commit_propagation_latency: Summary = Summary::advanced("commit_propagation_latency"),
    learner_proposal_received_count: Counter = Counter::new("learner_proposal_received_count"),
    learner_commit_received_count: Counter = Counter::new("learner_commit_received_count"),
    learner_handler_qp_size: SummarySet = SummarySet::basic("learner_handler_qp_size"),
    learner_handler_qp_time: SummarySet = SummarySet::advanced("learner_handler_qp_time_ms"),
    startup_txns_loaded: Summary = Summary::basic("startup_txns_loaded"),
    startup_txns_load_time: Summary = Summary::basic("startup_txns_load_time"),
    startup_snap_load_time: Summary = Summary::basic("startup_snap_load_time"),
    sync_processor_queue_and_flush_time: Summary = Summary::advanced("sync_processor_queue_and_flush_time_ms"),
    sync_processor_queue_size: Summary = Summary::basic("sync_processor_queue_size"),
    sync_processor_queued: Counter = Counter::new("sync_processor_request_queued"),
    sync_processor_queue_time: Summary = Summary::advanced("sync_processor_queue_time_ms"),
    sync_processor_flush_time: Summary = Summary::advanced("sync_processor_queue_flush_time_ms"),
    sync_process_time: Summary = Summary::basic("sync_process_time"),
    batch_size: Summary = Summary::basic("sync_processor_batch_size"),
    quorum_ack_latency: Summary = Summary::advanced("quorum_ack_latency"),
    ack_latency: SummarySet = SummarySet::advanced("ack_latency"),
    proposal_count: Counter = Counter::new("proposal_count"),
    // Leader.report_looking_sid, when zookeeper.leader.maxTimeToWaitForEpoch
    // makes a leader give up waiting for its epoch.
    quit_leading_due_to_disloyal_voter: Counter = Counter::new("quit_leading_due_to_disloyal_voter"),
    stale_requests: Counter = Counter::new("stale_requests"),
    stale_requests_dropped: Counter = Counter::new("stale_requests_dropped"),
    stale_replies: Counter = Counter::new("stale_replies"),
    request_throttle_queue_time: Summary = Summary::advanced("request_throttle_queue_time_ms"),
    request_throttle_wait_count: Counter = Counter::new("request_throttle_wait_count"),
    large_requests_rejected: Counter = Counter::new("large_requests_rejected"),
    netty_queued_buffer: Summary = Summary::basic("netty_queued_buffer_capacity"),
    digest_mismatches_count: Counter = Counter::new("digest_mismatches_count"),
    learner_request_processor_queue_size: Summary = Summary::basic("learner_request_processor_queue_size"),
    unsuccessful_handshake: Counter = Counter::new("unsuccessful_handshake"),
    // The AdminServer's plain HTTP connections on a port-unification port
    // (UnifiedConnectionFactory; counted by server::http_server).
    insecure_admin: Counter = Counter::new("insecure_admin_count"),
    tls_handshake_exceeded: Counter = Counter::new("tls_handshake_exceeded"),
    cnxn_closed_without_zk_server_running: Counter = Counter::new("cnxn_closed_without_zk_server_running"),
    skip_learner_request_to_next_processor_count: Counter = Counter::new("skip_learner_request_to_next_processor_count"),
    socket_closing_time: Summary = Summary::basic("socket_closing_time"),
    // ProposalRequestProcessor, with
    // zookeeper.forward_learner_requests_to_commit_processor_disabled.
    requests_not_forwarded_to_commit_processor: Counter = Counter::new("requests_not_forwarded_to_commit_processor"),
    response_bytes: Counter = Counter::new("response_bytes"),
    watch_bytes: Counter = Counter::new("watch_bytes"),
    // Recorded by the JvmPauseMonitor (jvm.pause.monitor=true).
    jvm_pause_time: Summary = Summary::advanced("jvm_pause_time_ms"),
    quota_exceeded_error_per_namespace: CounterSet = CounterSet::new("quota_exceeded_error_per_namespace"),
}

static METRICS: LazyLock<ServerMetrics> = LazyLock::new(ServerMetrics::new);

/// ServerMetrics.getMetrics().
#[inline]
pub fn metrics() -> &'static ServerMetrics {
    &METRICS
}

impl ServerMetrics {
    /// resetAll (srst, the admin reset): counters and summaries to zero.
    pub fn reset_all(&self) {
        for m in self.all() {
            match m {
                MetricRef::Counter(c) => c.reset(),
                MetricRef::CounterSet(c) => c.reset(),
                MetricRef::Summary(s) => s.reset(),
                MetricRef::SummarySet(s) => s.reset(),
            }
        }
    }
}

/// Milliseconds since `start` (for the latency summaries).
#[inline]
pub fn elapsed_ms(start: std::time::Instant) -> i64 {
    start.elapsed().as_millis() as i64
}
