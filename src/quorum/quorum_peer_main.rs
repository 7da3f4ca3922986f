//! QuorumPeerMain's quorum path (runFromConfig): on the `main` thread,
//! starts the PurgeTask and the QuorumPeer, waits for SIGINT/SIGTERM, then
//! shuts the peer down.

use crate::quorum::quorum_peer::{QuorumPeer, StartError};
use crate::quorum::roles::ZabRoles;
use crate::quorum::quorum_peer_config::QuorumPeerConfig;
use crate::server::datadir_cleanup_manager::DatadirCleanupManager;
use crate::server::exit_code;
use crate::server::zoo_keeper_server_main::ServerSettings;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Why the peer stopped with an error, and the exit status Java would use.
#[derive(Debug)]
pub struct RunError {
    pub exit_code: u8,
    pub message: String,
}

impl From<StartError> for RunError {
    fn from(e: StartError) -> RunError {
        let exit_code = match e {
            StartError::Datadir(_) => exit_code::UNABLE_TO_ACCESS_DATADIR,
            StartError::BindElection(_) => exit_code::UNABLE_TO_BIND_QUORUM_PORT,
            StartError::Other(_) => exit_code::UNEXPECTED_ERROR,
        };
        RunError { exit_code, message: e.to_string() }
    }
}

/// Runs this server as a member of the ensemble until SIGINT or SIGTERM.
pub fn run(config: QuorumPeerConfig, settings: ServerSettings) -> Result<(), RunError> {
    // SAFETY: installs handlers that only store to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    let purge = DatadirCleanupManager::start(
        &config.data_log_dir,
        &config.data_dir,
        config.snap_retain_count,
        config.purge_interval,
    )
    .map_err(|e| RunError { exit_code: exit_code::UNEXPECTED_ERROR, message: format!("cannot start the purge task: {e}") })?;
    tracing::info!("Starting quorum peer, myid={}", config.server_id.unwrap_or(-1));
    let peer = match QuorumPeer::start(config, settings, Box::new(ZabRoles)) {
        Ok(p) => p,
        Err(e) => {
            purge.shutdown();
            return Err(e.into());
        }
    };
    let provider = match peer.cnxn_factory() {
        Some(f) => crate::server::zoo_keeper_server_main::start_metrics_provider(peer.settings(), f),
        None => Ok(None),
    };
    let provider = match provider {
        Ok(p) => p,
        Err(message) => {
            peer.shutdown();
            purge.shutdown();
            return Err(RunError { exit_code: exit_code::UNEXPECTED_ERROR, message });
        }
    };
    while !STOP.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
    tracing::info!("shutting down");
    if let Some(p) = provider {
        p.stop();
    }
    peer.shutdown();
    purge.shutdown();
    Ok(())
}
