//! What the fuzz targets share: an allocator that turns any single
//! allocation above the target's bound into a crash, and the scratch
//! directory and server a target runs the real code against.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use zkserver::quorum::quorum_peer_config::QuorumPeerConfig;
use zkserver::server::persistence::file_txn_snap_log::FileTxnSnapLog;
use zkserver::server::zk_database::ZkDatabase;
use zkserver::server::zoo_keeper_server::ZooKeeperServer;
use zkserver::server::zoo_keeper_server_main::ServerSettings;

/// The system allocator, refusing (by aborting, which libFuzzer reports as
/// a crash with the input) any one allocation larger than `LIMIT`.
struct BoundedAlloc;

static LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);

fn check(size: usize) {
    if size > LIMIT.load(Ordering::Relaxed) {
        // No allocation may happen here: report with a raw write.
        let msg = b"zkserver-fuzz: one allocation exceeds the configured bound\n";
        unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
        std::process::abort();
    }
}

unsafe impl GlobalAlloc for BoundedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOC: BoundedAlloc = BoundedAlloc;

/// Sets the largest single allocation the target's input may cause.
pub fn set_alloc_limit(bytes: usize) {
    LIMIT.store(bytes, Ordering::Relaxed);
}

/// The directory the file targets write to: $ZKSERVER_FUZZ_DIR
/// (scripts/fuzz.sh puts it on /dev/shm), else one of this process's own
/// under the temp dir.
pub fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = match std::env::var_os("ZKSERVER_FUZZ_DIR") {
            Some(d) => PathBuf::from(d),
            None => std::env::temp_dir().join(format!("zkserver-fuzz-{}", std::process::id())),
        };
        std::fs::create_dir_all(&dir).expect("cannot create the fuzz scratch directory");
        dir
    })
}

/// The configuration of a standalone server on `scratch_dir()`, parsed
/// once from a zoo.cfg as the server parses it.
pub fn config() -> &'static QuorumPeerConfig {
    static CONFIG: OnceLock<QuorumPeerConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let dir = scratch_dir();
        let cfg = dir.join("zoo.cfg");
        // SASL on, so that client frames reach the DIGEST-MD5 negotiation.
        let jaas = dir.join("jaas.conf");
        let users = "Server { org.apache.zookeeper.server.auth.DigestLoginModule required user_u=\"p\"; };\n";
        std::fs::write(&jaas, users).expect("cannot write the fuzz jaas.conf");
        let text = format!(
            "tickTime=2000\ndataDir={}\nclientPort=2181\n\
             authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\n",
            dir.join("data").display()
        );
        std::fs::write(&cfg, text).expect("cannot write the fuzz zoo.cfg");
        let jaas_key = ("java.security.auth.login.config".to_string(), jaas.display().to_string());
        QuorumPeerConfig::parse(&cfg, &[jaas_key]).expect("the fuzz zoo.cfg does not parse")
    })
}

/// The components' settings that configuration gives, read once.
pub fn server_settings() -> &'static ServerSettings {
    static SETTINGS: OnceLock<ServerSettings> = OnceLock::new();
    SETTINGS.get_or_init(|| ServerSettings::read(config()).expect("the fuzz settings do not read"))
}

/// An empty database over the scratch data directory.
pub fn empty_database() -> Arc<ZkDatabase> {
    let data = scratch_dir().join("data");
    let snap_log = FileTxnSnapLog::new(&data, &data).expect("cannot open the fuzz data directory");
    let zks = &server_settings().zks;
    Arc::new(ZkDatabase::new(snap_log, zks.ephemeral_types.extended_types_enabled, zks.digest_enabled))
}

/// A fresh standalone server (not started: no threads) over an empty
/// database, so every input starts from the same state.
pub fn fresh_server() -> Arc<ZooKeeperServer> {
    ZooKeeperServer::new(server_settings().zks.clone(), empty_database(), Default::default())
}
