//! FileChangeWatcher: a thread (named "FileChangeWatcher", as Java's) that
//! notices when any of a few files changes on disk and then calls back.
//! Java 3.9 watches the directory with a WatchService; polling each file's
//! modification time and size twice a second is as good for the couple of
//! key and trust store files it is used for (`X509Util` with
//! zookeeper.client.certReload), and needs no inotify descriptor.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

const POLL_INTERVAL: Duration = Duration::from_millis(500);

pub struct FileChangeWatcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// What identifies a version of a file: its modification time and size
/// (None while it cannot be read).
fn stamp(path: &PathBuf) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl FileChangeWatcher {
    /// Starts watching `paths`; `on_change` runs on the watcher thread
    /// after any of them changed (once per poll, however many did).
    pub fn start(paths: Vec<PathBuf>, on_change: impl Fn() + Send + 'static) -> std::io::Result<FileChangeWatcher> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new().name("FileChangeWatcher".into()).spawn(move || {
            let mut last: Vec<_> = paths.iter().map(stamp).collect();
            while !stopped.load(Ordering::Acquire) {
                std::thread::park_timeout(POLL_INTERVAL);
                let now: Vec<_> = paths.iter().map(stamp).collect();
                if now != last {
                    last = now;
                    on_change();
                }
            }
        })?;
        Ok(FileChangeWatcher { stop, thread: Some(thread) })
    }
}

impl Drop for FileChangeWatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}
