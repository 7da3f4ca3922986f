//! The RequestProcessor interface every stage of a processor chain
//! implements. Threaded stages queue the request and return; the others
//! handle it on the caller's thread.

use crate::server::request::Request;

pub trait RequestProcessor: Send + Sync {
    fn process_request(&self, request: Request);
    /// Stops this stage (and its thread, if any) and then the next stage.
    fn shutdown(&self);
}
