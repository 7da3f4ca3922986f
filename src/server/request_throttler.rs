//! RequestThrottler: the `ReqThrottler` thread (Java: "RequestThrottler").
//! Every request a connection decodes lands on its queue; it passes them to
//! the first processor, holding back while more than
//! zookeeper.request_throttle_max_requests are in process, and dropping
//! stale requests (Request::is_stale) when drop_stale is set, closing their
//! connection.

use crate::quorum::quorum_peer_config::system_properties::SystemProperties;
use crate::quorum::quorum_peer_config::ConfigError;
use crate::server::request::Request;
use crate::server::request_processor::RequestProcessor;
use crate::server::zoo_keeper_server::ZooKeeperServer;
use crate::common::linked_blocking_queue::LinkedBlockingQueue;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

/// The system properties RequestThrottler reads (and Request's staleness
/// checks, which it applies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestThrottlerSettings {
    /// zookeeper.request_throttle_max_requests (default 0 = off).
    pub max_requests: i32,
    /// zookeeper.request_throttle_stall_time (ms, default 100).
    pub stall_time_ms: u64,
    /// zookeeper.request_throttle_drop_stale (default true).
    pub drop_stale: bool,
    /// zookeeper.request_throttler.shutdownTimeout (ms, default 10000).
    pub shutdown_timeout_ms: i32,
    /// zookeeper.request_stale_connection_check (default true).
    pub stale_connection_check: bool,
    /// zookeeper.request_stale_latency_check (default false).
    pub stale_latency_check: bool,
}

impl RequestThrottlerSettings {
    pub fn read(props: &SystemProperties) -> Result<RequestThrottlerSettings, ConfigError> {
        Ok(RequestThrottlerSettings {
            max_requests: props.int("zookeeper.request_throttle_max_requests", 0)?,
            stall_time_ms: props.int("zookeeper.request_throttle_stall_time", 100)?.max(0) as u64,
            drop_stale: props.boolean("zookeeper.request_throttle_drop_stale", true),
            shutdown_timeout_ms: props.int("zookeeper.request_throttler.shutdownTimeout", 10000)?,
            stale_connection_check: props.boolean("zookeeper.request_stale_connection_check", true),
            stale_latency_check: props.boolean("zookeeper.request_stale_latency_check", false),
        })
    }
}

pub struct RequestThrottler {
    /// submittedRequests; `None` stops the thread.
    submitted: Arc<LinkedBlockingQueue<Option<Request>>>,
    killed: AtomicBool,
    thread: Mutex<Option<JoinHandle<()>>>,
    next: Arc<dyn RequestProcessor>,
}

impl RequestThrottler {
    pub fn start(zks: Arc<ZooKeeperServer>, next: Arc<dyn RequestProcessor>) -> std::io::Result<Arc<Self>> {
        let submitted = Arc::new(LinkedBlockingQueue::new());
        let queue = Arc::clone(&submitted);
        let t = Arc::new(RequestThrottler {
            submitted,
            killed: AtomicBool::new(false),
            thread: Mutex::new(None),
            next,
        });
        let weak = Arc::downgrade(&t);
        let h = crate::server::zoo_keeper_critical_thread::spawn("ReqThrottler".into(), move || {
            run(weak, zks, &queue);
            queue.close();
        })?;
        *t.thread.lock() = Some(h);
        Ok(t)
    }

    pub fn submit_request(&self, mut req: Request) {
        if self.killed.load(Ordering::Acquire) {
            return;
        }
        req.queued_at = std::time::Instant::now();
        self.submitted.put(Some(req));
    }

    /// Requests waiting in the queue (getInflight).
    pub fn inflight(&self) -> usize {
        self.submitted.len()
    }

    pub fn queued(&self) -> usize {
        self.submitted.len()
    }

    pub fn shutdown(&self) {
        self.killed.store(true, Ordering::Release);
        self.submitted.put(None);
        if let Some(h) = self.thread.lock().take() {
            let _ = h.join();
        }
        self.next.shutdown();
    }
}

/// dropRequest: a stale request is dropped, and with it every later request
/// of its connection, which is closed (`ServerCnxn::set_invalid`); its
/// in-flight share goes back as it is dropped.
fn drop_request(req: Request) {
    tracing::debug!("Dropping stale request {req}");
    if let Some(c) = &req.cnxn {
        c.set_invalid();
    }
    crate::server::server_metrics::metrics().stale_requests_dropped.inc();
}

fn run(me: Weak<RequestThrottler>, zks: Arc<ZooKeeperServer>, queue: &LinkedBlockingQueue<Option<Request>>) {
    let max = i64::from(zks.settings.request_throttler.max_requests);
    let stall = Duration::from_millis(zks.settings.request_throttler.stall_time_ms.max(1));
    let checks = &zks.settings.request_throttler;
    let throttled_op_wait = u128::try_from(zks.settings.throttled_op_wait_time_ms).unwrap_or(0);
    while let Some(req) = queue.take() {
        let Some(me) = me.upgrade() else { break };
        if me.killed.load(Ordering::Acquire) {
            break;
        }
        if req.must_drop() {
            continue;
        }
        let mut req = Some(req);
        if max > 0 {
            while !me.killed.load(Ordering::Acquire) {
                if checks.drop_stale && req.as_ref().is_some_and(|r| r.is_stale(checks)) {
                    if let Some(r) = req.take() {
                        drop_request(r);
                    }
                    break;
                }
                if zks.in_process() < max {
                    break;
                }
                crate::server::server_metrics::metrics().request_throttle_wait_count.inc();
                std::thread::sleep(stall);
            }
        }
        if let Some(mut r) = req {
            let m = crate::server::server_metrics::metrics();
            m.request_throttle_queue_time.add(r.queued_at.elapsed().as_millis() as i64);
            if r.is_stale(checks) {
                m.stale_requests.inc();
            }
            if throttled_op_wait > 0 && r.is_throttlable() && r.create_time.elapsed().as_millis() > throttled_op_wait {
                r.throttled = true;
                crate::server::server_metrics::metrics().throttled_ops.inc();
            }
            zks.submit_request_now(&me.next, r);
        }
    }
    tracing::info!("RequestThrottler shutdown");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_as_java_and_name_a_bad_key() {
        let s = RequestThrottlerSettings::read(&SystemProperties::of(&[])).unwrap();
        assert_eq!((s.max_requests, s.stall_time_ms, s.drop_stale, s.shutdown_timeout_ms), (0, 100, true, 10000));
        assert!(s.stale_connection_check && !s.stale_latency_check);
        let s = RequestThrottlerSettings::read(&SystemProperties::of(&[("request_throttle_max_requests", "50")])).unwrap();
        assert_eq!(s.max_requests, 50);
        let e = RequestThrottlerSettings::read(&SystemProperties::of(&[("zookeeper.request_throttle_stall_time", "x")]));
        assert_eq!(e.unwrap_err().to_string(), "zookeeper.request_throttle_stall_time: \"x\" is not a number");
    }
}
