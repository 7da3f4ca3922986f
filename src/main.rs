//! The `zkserver` command (QuorumPeerMain): parses the command line and the
//! configuration on the main thread, sets up logging, then runs the
//! standalone server or a quorum peer. Its subcommands run the
//! data-directory tools instead (`snapshot-formatter`, `txn-log-toolkit`),
//! with the exit statuses of their Java twins.
//!
//! Exit status: 0 after a clean shutdown; 2 for an invalid command line or
//! configuration (Java's ExitCode.INVALID_INVOCATION), reported on stderr as
//! one line before anything binds; 3 when the data directories are unusable
//! (ExitCode.UNABLE_TO_ACCESS_DATADIR); 14 when a quorum peer cannot bind its
//! election port (UNABLE_TO_BIND_QUORUM_PORT); 1 when the server fails
//! otherwise.
//! Logs go to stdout (like Java's console appender), or to a rolling file
//! with `-Dzookeeper.log.file` (`common::logging`); errors to stderr.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use zkserver::common::logging::LogSettings;
use zkserver::quorum::quorum_peer_config::system_properties::SystemProperties;
use zkserver::quorum::quorum_peer_config::{parse_override, QuorumPeerConfig};
use zkserver::server::exit_code;
use zkserver::server::zoo_keeper_server_main::{RunError, ServerSettings};


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
        #[arg(short = 'd', conflicts_with = "json")]
        dump_data: bool,
        /// Dump znode info in ncdu's JSON format (also accepted as -json)
        #[arg(long = "json")]
        json: bool,
        /// The snapshot file (dataDir/version-2/snapshot.<zxid>)
        snapshot_file: PathBuf,
    },
    /// Dump, recover or chop a transaction log file as Java's TxnLogToolkit
    /// does (zkTxnLogToolkit.sh); times in UTC.
    #[command(name = "txn-log-toolkit")]
    TxnLogToolkit {
        /// Dump mode. Dump all entries of the log file with printing the
        /// content of a nodepath (default)
        #[arg(short = 'd', long = "dump")]
        dump: bool,
        /// Recovery mode. Re-calculate CRC for broken entries (writes
        /// <txn_log_file>.fixed)
        #[arg(short = 'r', long = "recover")]
        recover: bool,
        /// Be verbose in recovery mode: print all entries, not just fixed ones.
        #[arg(short = 'v', long = "verbose")]
        verbose: bool,
        /// Non-interactive mode: repair all CRC errors without asking
        #[arg(short = 'y', long = "yes")]
        yes: bool,
        /// Chop mode. Chop txn file to a zxid (writes
        /// <txn_log_file>.chopped<zxid>).
        #[arg(short = 'c', long = "chop")]
        chop: bool,
        /// Used with chop. Zxid to which to chop (decimal, 0x hex or 0 octal).
        #[arg(short = 'z', long = "zxid", allow_hyphen_values = true)]
        zxid: Option<String>,
        /// The log file (dataLogDir/version-2/log.<zxid>)
        txn_log_file: PathBuf,
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

/// Java's SnapshotFormatter spells its JSON flag `-json`; clap wants
/// `--json`. Rewrites it after the `snapshot-formatter` subcommand.
fn java_style_args() -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "snapshot-formatter") {
        for a in args.iter_mut().skip(2) {
            if a == "-json" {
                *a = "--json".into();
            }
        }
    }
    args
}

fn run_tool(tool: Tool) -> ExitCode {
    match tool {
        Tool::SnapshotFormatter { dump_data, json, snapshot_file } => {
            let report = if json {
                let now_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                zkserver::server::snapshot_formatter::format_json(&snapshot_file, now_ms)
            } else {
                zkserver::server::snapshot_formatter::format(&snapshot_file, dump_data)
            };
            match report {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("zkserver snapshot-formatter: {e}");
                    ExitCode::from(exit_code::UNEXPECTED_ERROR)
                }
            }
        }
        Tool::TxnLogToolkit { dump: _, recover, verbose, yes, chop, zxid, txn_log_file } => {
            use zkserver::server::persistence::txn_log_toolkit::{self, Mode};
            let chop_zxid = match zxid.filter(|_| chop).map(|z| txn_log_toolkit::parse_java_long(&z)).transpose() {
                Ok(z) => z,
                Err(e) => {
                    eprintln!("zkserver txn-log-toolkit: invalid zxid: {e}");
                    return ExitCode::from(exit_code::UNEXPECTED_ERROR);
                }
            };
            let mode = Mode::from_flags(recover, verbose, yes, chop_zxid);
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let result = txn_log_toolkit::run(&txn_log_file, &mode, &mut out, &mut std::io::stdin().lock());
            let flushed = std::io::Write::flush(&mut out);
            match (result, flushed) {
                (Ok(()), Ok(())) => ExitCode::SUCCESS,
                (Err(e), _) => {
                    eprintln!("{e}");
                    ExitCode::from(e.exit_code)
                }
                (Ok(()), Err(e)) => {
                    eprintln!("zkserver txn-log-toolkit: {e}");
                    ExitCode::from(exit_code::UNEXPECTED_ERROR)
                }
            }
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(java_style_args());
    if let Some(tool) = cli.tool {
        return run_tool(tool);
    }
    let args = cli.server;
    let Some(config_file) = args.config else {
        eprintln!("zkserver: a configuration file (zoo.cfg) is required");
        return ExitCode::from(exit_code::INVALID_INVOCATION);
    };
    let config_path = config_file.display().to_string();

    let overrides: Result<Vec<(String, String)>, _> = args.define.iter().map(|d| parse_override(d)).collect();
    let overrides = match overrides {
        Ok(o) => o,
        Err(e) => {
            eprintln!("zkserver: invalid command line: {e}");
            return ExitCode::from(exit_code::INVALID_INVOCATION);
        }
    };

    // The JDK reads its Kerberos configuration from the file
    // -Djava.security.krb5.conf names; MIT's GSS-API library (Kerberos SASL)
    // reads the file KRB5_CONFIG names when it first initializes. Set here,
    // before any thread runs.
    if let Some((_, path)) = overrides.iter().rev().find(|(k, _)| k == "java.security.krb5.conf") {
        std::env::set_var("KRB5_CONFIG", path);
    }

    let logging = LogSettings::read(&SystemProperties::new(overrides.clone(), Vec::new())).and_then(|l| l.init().map_err(|e| e.to_string()));
    if let Err(e) = logging {
        eprintln!("zkserver: invalid command line: {e}");
        return ExitCode::from(exit_code::INVALID_INVOCATION);
    }

    let parsed = QuorumPeerConfig::parse(&config_file, &overrides)
        .and_then(|config| ServerSettings::read(&config).map(|settings| (config, settings)));
    let (config, settings) = match parsed {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("Invalid config, exiting abnormally: {e}");
            eprintln!("zkserver: invalid config {config_path}: {e}");
            return ExitCode::from(exit_code::INVALID_INVOCATION);
        }
    };
    config.log_config();
    settings.log();
    if let Some(monitor) = zkserver::server::jvm_pause_monitor::JvmPauseMonitor::from_config(&config) {
        if let Err(e) = monitor.start() {
            tracing::error!("cannot start the JvmPauseMonitor: {e}");
            return ExitCode::from(exit_code::UNEXPECTED_ERROR);
        }
    }
    zkserver::jute::configure(settings.jute.max_buffer.max(0) as usize, settings.jute.max_buffer_extra_size.max(0) as usize);

    if !config.is_standalone() {
        return match zkserver::quorum::quorum_peer_main::run(config, settings) {
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

    match zkserver::server::zoo_keeper_server_main::run(config, settings) {
        Ok(()) => {
            tracing::info!("Exiting normally");
            ExitCode::SUCCESS
        }
        Err(RunError::Datadir(e)) => {
            tracing::error!("Unable to access datadir, exiting abnormally: {e}");
            eprintln!("zkserver: {e}");
            ExitCode::from(exit_code::UNABLE_TO_ACCESS_DATADIR)
        }
        Err(RunError::AdminServer(e)) => {
            tracing::error!("Unable to start AdminServer, exiting abnormally: {e}");
            eprintln!("Unable to start AdminServer, exiting abnormally");
            ExitCode::from(exit_code::ERROR_STARTING_ADMIN_SERVER)
        }
        Err(RunError::Other(e)) => {
            tracing::error!("Unexpected exception, exiting abnormally: {e}");
            eprintln!("zkserver: {e}");
            ExitCode::from(exit_code::UNEXPECTED_ERROR)
        }
    }
}
