//! The `zkserver` command (QuorumPeerMain): parses the command line and the
//! configuration on the main thread, sets up logging, then runs the
//! standalone server or a quorum peer.
//!
//! Exit status: 0 after a clean shutdown; 2 for an invalid command line or
//! configuration (Java's ExitCode.INVALID_INVOCATION), reported on stderr as
//! one line before anything binds; 3 when the data directories are unusable
//! (ExitCode.UNABLE_TO_ACCESS_DATADIR); 14 when a quorum peer cannot bind its
//! election port (UNABLE_TO_BIND_QUORUM_PORT); 1 when the server fails
//! otherwise.
//! Logs go to stdout (like Java's console appender); errors to stderr.

use clap::{Args, Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;
use zkserver::quorum::quorum_peer_config::{parse_override, QuorumPeerConfig};
use zkserver::server::zoo_keeper_server_main::RunError;

/// Exit status for a bad command line or configuration.
const EXIT_INVALID_INVOCATION: u8 = 2;
/// Exit status for a failure after start-up began.
const EXIT_UNEXPECTED_ERROR: u8 = 1;
/// Exit status for data directories that cannot be used.
const EXIT_UNABLE_TO_ACCESS_DATADIR: u8 = 3;

/// A ZooKeeper 3.8 compatible server.
#[derive(Debug, Parser)]
#[command(name = "zkserver", version, about, args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct Cli {
    #[command(subcommand)]
    tool: Option<Tool>,
    #[command(flatten)]
    server: ServerArgs,
}

/// Tools that read the data directory (Java's zk*Toolkit.sh scripts).
#[derive(Debug, Subcommand)]
enum Tool {
    /// Print a snapshot file as Java's SnapshotFormatter does
    /// (zkSnapShotToolkit.sh); times in UTC.
    #[command(name = "snapshot-formatter")]
    SnapshotFormatter {
        /// Dump the data of each znode (base64)
        #[arg(short = 'd')]
        dump_data: bool,
        /// The snapshot file (dataDir/version-2/snapshot.<zxid>)
        snapshot_file: PathBuf,
    },
}

/// Running the server.
#[derive(Debug, Args)]
struct ServerArgs {
    /// Set a property, like a Java system property (-Dzookeeper.snapCount=1000)
    /// or a zoo.cfg key (-D clientPort=2182); wins over zoo.cfg. Repeatable.
    #[arg(short = 'D', value_name = "KEY=VALUE", allow_hyphen_values = true)]
    define: Vec<String>,

    /// The configuration file (zoo.cfg, Java properties syntax).
    #[arg(value_name = "ZOO_CFG", required = true)]
    config: Option<PathBuf>,
}

fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .with_ansi(std::io::stdout().is_terminal())
        .with_thread_names(true)
        .with_target(true)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Tool::SnapshotFormatter { dump_data, snapshot_file }) = cli.tool {
        return match zkserver::server::snapshot_formatter::format(&snapshot_file, dump_data) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("zkserver snapshot-formatter: {e}");
                ExitCode::from(EXIT_UNEXPECTED_ERROR)
            }
        };
    }
    let args = cli.server;
    let Some(config_file) = args.config else {
        eprintln!("zkserver: a configuration file (zoo.cfg) is required");
        return ExitCode::from(EXIT_INVALID_INVOCATION);
    };
    let config_path = config_file.display().to_string();

    let overrides: Result<Vec<(String, String)>, _> = args.define.iter().map(|d| parse_override(d)).collect();
    let overrides = match overrides {
        Ok(o) => o,
        Err(e) => {
            eprintln!("zkserver: invalid command line: {e}");
            return ExitCode::from(EXIT_INVALID_INVOCATION);
        }
    };

    init_logging();

    let config = match QuorumPeerConfig::parse(&config_file, &overrides) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("Invalid config, exiting abnormally: {e}");
            eprintln!("zkserver: invalid config {config_path}: {e}");
            return ExitCode::from(EXIT_INVALID_INVOCATION);
        }
    };
    config.log_config();

    if !config.is_standalone() {
        return match zkserver::quorum::quorum_peer_main::run(config) {
            Ok(()) => {
                tracing::info!("Exiting normally");
                ExitCode::SUCCESS
            }
            Err(e) => {
                tracing::error!("Unexpected exception, exiting abnormally: {}", e.message);
                eprintln!("zkserver: {}", e.message);
                ExitCode::from(e.exit_code)
            }
        };
    }

    match zkserver::server::zoo_keeper_server_main::run(config) {
        Ok(()) => {
            tracing::info!("Exiting normally");
            ExitCode::SUCCESS
        }
        Err(RunError::Datadir(e)) => {
            tracing::error!("Unable to access datadir, exiting abnormally: {e}");
            eprintln!("zkserver: {e}");
            ExitCode::from(EXIT_UNABLE_TO_ACCESS_DATADIR)
        }
        Err(RunError::Other(e)) => {
            tracing::error!("Unexpected exception, exiting abnormally: {e}");
            eprintln!("zkserver: {e}");
            ExitCode::from(EXIT_UNEXPECTED_ERROR)
        }
    }
}
