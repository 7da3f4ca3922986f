//! Where the server's log goes: the twin of Java's `conf/logback.xml`, set
//! up by the main thread before zoo.cfg is read. By default every line goes
//! to stdout (logback's CONSOLE appender, filtered at
//! `zookeeper.console.threshold`). With `-Dzookeeper.log.file` or
//! `-Dzookeeper.log.dir` it goes instead to `<log.dir>/<log.file>`, rolled
//! by size as logback's ROLLINGFILE appender rolls it: past
//! `zookeeper.log.maxfilesize` the file becomes `<file>.1`, `<file>.1`
//! becomes `<file>.2`, and so on up to `zookeeper.log.maxbackupindex`,
//! filtered at `zookeeper.log.threshold`. `RUST_LOG`, when set, replaces
//! the threshold with a tracing filter.

use std::fs::{self, File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use crate::quorum::quorum_peer_config::system_properties::SystemProperties;
use std::sync::Mutex;
use tracing_subscriber::EnvFilter;

/// The system properties this module reads, as Java's logback.xml names them.
pub const KEYS: [&str; 6] = [
    "zookeeper.log.dir",
    "zookeeper.log.file",
    "zookeeper.log.threshold",
    "zookeeper.log.maxfilesize",
    "zookeeper.log.maxbackupindex",
    "zookeeper.console.threshold",
];

/// The log set-up the `-D` properties ask for.
#[derive(Debug, Clone, PartialEq)]
pub struct LogSettings {
    /// `<log.dir>/<log.file>` when the log goes to a file.
    pub file: Option<PathBuf>,
    /// The level a line needs to be written (the file's or the console's).
    pub threshold: String,
    /// `zookeeper.log.maxfilesize` in bytes (logback's 256MB by default).
    pub max_file_size: u64,
    /// `zookeeper.log.maxbackupindex` (20 by default): rolled files kept.
    pub max_backup_index: u32,
}

fn invalid(key: &str, value: &str, why: &str) -> String {
    format!("{key}={value}: {why}")
}

/// A logback level name, lower-cased for a tracing filter.
fn level(key: &str, value: &str) -> Result<String, String> {
    match value.trim().to_ascii_uppercase().as_str() {
        "TRACE" | "ALL" => Ok("trace".into()),
        "DEBUG" => Ok("debug".into()),
        "INFO" => Ok("info".into()),
        "WARN" => Ok("warn".into()),
        "ERROR" => Ok("error".into()),
        "OFF" => Ok("off".into()),
        _ => Err(invalid(key, value, "not a level (TRACE, DEBUG, INFO, WARN, ERROR, ALL or OFF)")),
    }
}

/// A logback file size: digits, then optionally KB, MB or GB (any case,
/// an optional trailing `s`, spaces allowed before the unit).
fn file_size(key: &str, value: &str) -> Result<u64, String> {
    let v = value.trim();
    let digits = v.bytes().take_while(u8::is_ascii_digit).count();
    let unit = v[digits..].trim_start().to_ascii_lowercase();
    let unit = unit.strip_suffix('s').unwrap_or(&unit);
    let scale: u64 = match unit {
        "" => 1,
        "kb" => 1 << 10,
        "mb" => 1 << 20,
        "gb" => 1 << 30,
        _ => return Err(invalid(key, value, "not a file size (for example 256MB)")),
    };
    let n: u64 = v[..digits].parse().map_err(|_| invalid(key, value, "not a file size (for example 256MB)"))?;
    n.checked_mul(scale).filter(|s| *s > 0).ok_or_else(|| invalid(key, value, "must be above 0 and fit in 64 bits"))
}

impl LogSettings {
    /// Reads the logging keys among the `-D` properties (the store holds
    /// only those: the log is set up before zoo.cfg is read).
    pub fn read(props: &SystemProperties) -> Result<LogSettings, String> {
        let get = |key: &str| props.string(key);
        let to_file = get("zookeeper.log.file").is_some() || get("zookeeper.log.dir").is_some();
        let file = to_file.then(|| {
            let dir = get("zookeeper.log.dir").unwrap_or_else(|| ".".into());
            Path::new(&dir).join(get("zookeeper.log.file").unwrap_or_else(|| "zookeeper.log".into()))
        });
        let threshold_key = if to_file { "zookeeper.log.threshold" } else { "zookeeper.console.threshold" };
        let threshold = get(threshold_key).map_or(Ok("info".to_string()), |v| level(threshold_key, &v))?;
        let max_file_size =
            get("zookeeper.log.maxfilesize").map_or(Ok(256 << 20), |v| file_size("zookeeper.log.maxfilesize", &v))?;
        let max_backup_index = match get("zookeeper.log.maxbackupindex") {
            None => 20,
            Some(v) => v
                .trim()
                .parse::<u32>()
                .map_err(|_| invalid("zookeeper.log.maxbackupindex", &v, "not a count of files"))?,
        };
        Ok(LogSettings { file, threshold, max_file_size, max_backup_index })
    }

    /// Installs the global subscriber. Fails only when the log file cannot
    /// be created; the error names it.
    pub fn init(&self) -> io::Result<()> {
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&self.threshold));
        let fmt = tracing_subscriber::fmt().with_env_filter(filter).with_thread_names(true).with_target(true);
        match &self.file {
            None => fmt.with_writer(io::stdout).with_ansi(io::stdout().is_terminal()).init(),
            Some(path) => {
                let rolling = RollingFile::open(path, self.max_file_size, self.max_backup_index)
                    .map_err(|e| io::Error::new(e.kind(), format!("log file {}: {e}", path.display())))?;
                fmt.with_writer(Mutex::new(rolling)).with_ansi(false).init()
            }
        }
        Ok(())
    }
}

/// A log file rolled by size into a fixed window of numbered backups.
/// The subscriber writes each line with one `write_all`, under its mutex.
struct RollingFile {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
    max_index: u32,
}

impl RollingFile {
    fn open(path: &Path, max_size: u64, max_index: u32) -> io::Result<RollingFile> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(RollingFile { path: path.to_path_buf(), file, size, max_size, max_index })
    }

    fn backup(&self, i: u32) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{i}"));
        PathBuf::from(name)
    }

    /// Shifts the backups up one (dropping the oldest), makes the current
    /// file `.1` and starts an empty one. Without backups it starts over.
    fn roll(&mut self) -> io::Result<()> {
        if self.max_index > 0 {
            let _ = fs::remove_file(self.backup(self.max_index));
            for i in (1..self.max_index).rev() {
                let from = self.backup(i);
                if from.exists() {
                    fs::rename(&from, self.backup(i + 1))?;
                }
            }
            fs::rename(&self.path, self.backup(1))?;
        }
        self.file = OpenOptions::new().create(true).write(true).truncate(true).open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

impl Write for RollingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.size > 0 && self.size.saturating_add(buf.len() as u64) > self.max_size {
            // A failed roll keeps writing to the current file: losing the
            // log's limit is better than losing its lines.
            if let Err(e) = self.roll() {
                let _ = writeln!(io::stderr(), "zkserver: cannot roll log file {}: {e}", self.path.display());
            }
        }
        let n = self.file.write(buf)?;
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(kv: &[(&str, &str)]) -> Result<LogSettings, String> {
        LogSettings::read(&SystemProperties::of(kv))
    }

    #[test]
    fn console_by_default_and_a_file_when_asked() {
        let s = read(&[]).unwrap();
        assert_eq!(s, LogSettings { file: None, threshold: "info".into(), max_file_size: 256 << 20, max_backup_index: 20 });
        let s = read(&[("zookeeper.log.dir", "/var/log/zk")]).unwrap();
        assert_eq!(s.file, Some(PathBuf::from("/var/log/zk/zookeeper.log")));
        let s = read(&[
            ("zookeeper.log.file", "zk.log"),
            ("zookeeper.console.threshold", "ERROR"),
            ("zookeeper.log.threshold", "warn"),
        ])
        .unwrap();
        assert_eq!((s.file, s.threshold.as_str()), (Some(PathBuf::from("./zk.log")), "warn"));
        let s = read(&[("zookeeper.console.threshold", "DEBUG")]).unwrap();
        assert_eq!(s.threshold, "debug");
    }

    #[test]
    fn sizes_and_levels_as_logback_reads_them() {
        for (v, n) in [("256MB", 256 << 20), ("10 kb", 10 << 10), ("1GBs", 1 << 30), ("4096", 4096)] {
            assert_eq!(file_size("k", v), Ok(n), "{v}");
        }
        for v in ["", "MB", "10 TB", "-5MB", "0", "99999999999999999999"] {
            assert!(file_size("k", v).is_err(), "{v}");
        }
        let e = read(&[("zookeeper.console.threshold", "LOUD")]).unwrap_err();
        assert!(e.starts_with("zookeeper.console.threshold=LOUD"), "{e}");
        assert!(read(&[("zookeeper.log.maxbackupindex", "-1")]).is_err());
    }

    #[test]
    fn the_file_rolls_into_a_fixed_window() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs").join("zk.log");
        let mut f = RollingFile::open(&path, 100, 2).unwrap();
        for i in 0..10 {
            f.write_all(format!("line {i:02} {}\n", "x".repeat(40)).as_bytes()).unwrap();
        }
        let read = |p: PathBuf| fs::read_to_string(p).unwrap();
        // 50 bytes a line, two a file: lines 8-9 current, 6-7 in .1, 4-5 in .2.
        assert!(read(path.clone()).starts_with("line 08"));
        assert!(read(f.backup(1)).starts_with("line 06"));
        assert!(read(f.backup(2)).starts_with("line 04"));
        assert!(!f.backup(3).exists());
        // Reopening appends, and a line longer than the limit still lands.
        let mut f = RollingFile::open(&path, 100, 0).unwrap();
        f.write_all(&[b'y'; 300]).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().len(), 300);
        assert!(!f.backup(3).exists());
    }
}
