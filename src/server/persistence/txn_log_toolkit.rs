//! TxnLogToolkit (zkTxnLogToolkit.sh): reads one transaction log file and
//!
//! - dumps it, one line per txn, in the very text Java's tool prints
//!   (dates in en_US style, in UTC), flagging entries whose checksum is
//!   wrong with "CRC ERROR";
//! - or recovers it: writes `<file>.fixed` with the broken checksums
//!   recomputed (asking for each one unless told `yes`);
//! - or chops it: copies the txns up to a zxid into `<file>.chopped<zxid>`
//!   (Java's LogChopper), a log a server can be restarted from.
//!
//! Runs on the main thread of `zkserver txn-log-toolkit`. Entries are framed
//! here (checksum, length, bytes, end-of-record byte) because, unlike the
//! server's reader, the tool must walk past a bad checksum; the bytes are
//! decoded by the server's own `TxnLogEntry` reader.

use crate::jute::records::{Acl, FileHeader};
use crate::jute::txn::{CloseSessionTxn, MultiTxn, TxnBody, TxnLogEntry};
use crate::jute::{JuteError, Record};
use crate::server::persistence::file_padding::FilePadding;
use crate::server::persistence::file_txn_log::{checksum, DEFAULT_PRE_ALLOC_SIZE, TXNLOG_MAGIC};
use crate::server::exit_code;
use crate::zoo_defs::op_code;
use byteorder::{BigEndian, ByteOrder};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};


/// What to do with the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Print every txn; with `recover`, also write `<file>.fixed`, asking
    /// about each bad checksum unless `yes`, and printing only the bad
    /// entries unless `verbose`.
    Dump { recover: bool, verbose: bool, yes: bool },
    /// Copy the txns up to and including `zxid` into `<file>.chopped<zxid>`.
    Chop { zxid: i64 },
}

impl Mode {
    /// The mode Java's command line selects: `chop_zxid` is the `-z` value
    /// when `-c` is given too; otherwise it is a dump.
    pub fn from_flags(recover: bool, verbose: bool, yes: bool, chop_zxid: Option<i64>) -> Mode {
        match chop_zxid {
            Some(zxid) => Mode::Chop { zxid },
            None => Mode::Dump { recover, verbose, yes },
        }
    }
}

/// Why the tool stopped early, and the exit status Java uses for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolkitError {
    pub exit_code: u8,
    pub message: String,
}

impl ToolkitError {
    fn new(exit_code: u8, message: impl Into<String>) -> ToolkitError {
        ToolkitError { exit_code, message: message.into() }
    }

    fn unexpected(message: impl Into<String>) -> ToolkitError {
        ToolkitError::new(exit_code::UNEXPECTED_ERROR, message)
    }
}

impl fmt::Display for ToolkitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<io::Error> for ToolkitError {
    fn from(e: io::Error) -> Self {
        ToolkitError::unexpected(e.to_string())
    }
}

/// Java's Long.decode: decimal, `0x`/`0X`/`#` hex or `0` octal, with an
/// optional sign.
pub fn parse_java_long(s: &str) -> Result<i64, String> {
    let bad = || format!("For input string: \"{s}\"");
    let (negative, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(h) = rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X")) {
        (16, h)
    } else if let Some(h) = rest.strip_prefix('#') {
        (16, h)
    } else if rest.len() > 1 && rest.starts_with('0') {
        (8, &rest[1..])
    } else {
        (10, rest)
    };
    if digits.is_empty() || digits.starts_with(['-', '+']) {
        return Err(bad());
    }
    // Parsing with the sign attached lets i64::MIN through, as Java does.
    let signed = if negative { format!("-{digits}") } else { digits.to_string() };
    i64::from_str_radix(&signed, radix).map_err(|_| bad())
}

/// Runs the tool on `log_file`: output goes to `out`, answers to the
/// recovery questions come from `answers`.
pub fn run(log_file: &Path, mode: &Mode, out: &mut dyn Write, answers: &mut dyn BufRead) -> Result<(), ToolkitError> {
    if File::open(log_file).is_err() {
        return Err(ToolkitError::unexpected(format!(
            "File doesn't exist or not readable: {}",
            log_file.display()
        )));
    }
    match *mode {
        Mode::Dump { recover, verbose, yes } => {
            let recovery = if recover { Some(Recovery::create(log_file, yes)?) } else { None };
            let mut dump = Dump { out, answers, recovery, verbose };
            let result = dump.run(log_file);
            if let Some(rec) = dump.recovery.as_mut() {
                rec.writer.flush()?;
            }
            result?;
            if let Some(rec) = &dump.recovery {
                writeln!(
                    dump.out,
                    "Recovery file {} has been written with {} fixed CRC error(s)",
                    rec.path.display(),
                    rec.fixed
                )?;
            }
            Ok(())
        }
        // Java's tool takes a negative zxid for dump mode without having
        // opened the log, and fails.
        Mode::Chop { zxid } if zxid < 0 => {
            Err(ToolkitError::unexpected(format!("cannot chop to a negative zxid ({zxid})")))
        }
        Mode::Chop { zxid } => chop(log_file, zxid, out),
    }
}

/// One framed entry as read from the file.
enum Frame {
    /// Checksum as stored and the entry's bytes.
    Entry { crc: i64, bytes: Vec<u8> },
    /// The end of the log: the file ended, or a zero length (the
    /// preallocated zeros).
    End,
}

/// Reads the log file the way Java's tool does, through a BinaryInputArchive.
struct LogReader {
    input: BufReader<File>,
}

impl LogReader {
    fn open(path: &Path) -> io::Result<LogReader> {
        Ok(LogReader { input: BufReader::with_capacity(64 * 1024, File::open(path)?) })
    }

    /// Fills `buf`; `Ok(false)` when the file ended first.
    fn read_fully(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        match self.input.read_exact(buf) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The file header; `None` when the file is shorter than one.
    fn header(&mut self) -> io::Result<Option<FileHeader>> {
        let mut buf = [0u8; 16];
        if !self.read_fully(&mut buf)? {
            return Ok(None);
        }
        FileHeader::from_bytes(&buf).map(Some).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// The next checksum and entry. A length Java's archive refuses is an
    /// error ("Unreasonable length").
    fn frame(&mut self) -> io::Result<Frame> {
        let mut prefix = [0u8; 12];
        if !self.read_fully(&mut prefix)? {
            return Ok(Frame::End);
        }
        let crc = BigEndian::read_i64(&prefix[..8]);
        let len = BigEndian::read_i32(&prefix[8..]);
        let len = match usize::try_from(len) {
            Ok(0) => return Ok(Frame::End),
            Ok(n) if n <= crate::jute::read_limit() => n,
            _ => return Err(io::Error::new(io::ErrorKind::InvalidData, JuteError::UnreasonableLength(len))),
        };
        let mut bytes = vec![0u8; len];
        if !self.read_fully(&mut bytes)? {
            return Ok(Frame::End);
        }
        Ok(Frame::Entry { crc, bytes })
    }

    /// The end-of-record byte; `None` when the file ended first.
    fn end_of_record(&mut self) -> io::Result<Option<u8>> {
        let mut b = [0u8; 1];
        Ok(self.read_fully(&mut b)?.then_some(b[0]))
    }
}


/// The `<file>.fixed` being written in recovery mode.
struct Recovery {
    path: PathBuf,
    writer: BufWriter<File>,
    padding: FilePadding,
    /// Bytes written so far (where the next entry goes).
    position: u64,
    /// Repair without asking.
    yes: bool,
    fixed: u32,
}

impl Recovery {
    fn create(log_file: &Path, yes: bool) -> Result<Recovery, ToolkitError> {
        let mut name = log_file.as_os_str().to_owned();
        name.push(".fixed");
        let path = PathBuf::from(name);
        let exists = || {
            ToolkitError::unexpected(format!("Recovery file {} already exists or not writable", path.display()))
        };
        if path.exists() {
            return Err(exists());
        }
        let file = OpenOptions::new().write(true).create_new(true).open(&path).map_err(|_| exists())?;
        Ok(Recovery {
            writer: BufWriter::with_capacity(64 * 1024, file),
            path,
            padding: FilePadding::new(DEFAULT_PRE_ALLOC_SIZE, 0),
            position: 0,
            yes,
            fixed: 0,
        })
    }

    fn write_header(&mut self, header: &FileHeader) -> io::Result<()> {
        let bytes = header.to_bytes();
        self.writer.write_all(&bytes)?;
        self.position = bytes.len() as u64;
        self.padding = FilePadding::new(DEFAULT_PRE_ALLOC_SIZE, self.position);
        Ok(())
    }

    /// Appends one entry, growing the file ahead of it as the server does.
    fn write_entry(&mut self, crc: i64, bytes: &[u8]) -> io::Result<()> {
        self.padding.pad_file(self.writer.get_ref(), self.position)?;
        self.writer.write_all(&crc.to_be_bytes())?;
        self.writer.write_all(&(bytes.len() as i32).to_be_bytes())?;
        self.writer.write_all(bytes)?;
        self.writer.write_all(b"B")?;
        self.position += 8 + 4 + bytes.len() as u64 + 1;
        Ok(())
    }
}

/// Dump (and recovery) mode.
struct Dump<'a> {
    out: &'a mut dyn Write,
    answers: &'a mut dyn BufRead,
    recovery: Option<Recovery>,
    verbose: bool,
}

impl Dump<'_> {
    fn run(&mut self, log_file: &Path) -> Result<(), ToolkitError> {
        let mut reader = LogReader::open(log_file)?;
        let header = reader
            .header()?
            .ok_or_else(|| ToolkitError::unexpected(format!("{}: shorter than a file header", log_file.display())))?;
        if header.magic != TXNLOG_MAGIC {
            let name = log_file.file_name().unwrap_or(log_file.as_os_str()).to_string_lossy();
            return Err(ToolkitError::new(exit_code::INVALID_INVOCATION, format!("Invalid magic number for {name}")));
        }
        writeln!(self.out, "{}", header_line(&header))?;
        if let Some(rec) = self.recovery.as_mut() {
            rec.write_header(&header)?;
        }
        let mut count = 0u64;
        loop {
            let (mut crc, bytes) = match reader.frame()? {
                Frame::Entry { crc, bytes } => (crc, bytes),
                Frame::End => {
                    writeln!(self.out, "EOF reached after {count} txns.")?;
                    return Ok(());
                }
            };
            let actual = checksum(&bytes);
            if crc != actual {
                match self.recovery.as_ref().map(|r| r.yes) {
                    None => self.print_txn(&bytes, "CRC ERROR")?,
                    Some(false) => {
                        self.print_txn(&bytes, "CRC ERROR")?;
                        if self.ask_for_fix()? {
                            crc = actual;
                            self.count_fix();
                        }
                    }
                    Some(true) => {
                        crc = actual;
                        self.print_txn(&bytes, "CRC FIXED")?;
                        self.count_fix();
                    }
                }
            }
            if self.recovery.is_none() || self.verbose {
                self.print_txn(&bytes, "")?;
            }
            match reader.end_of_record()? {
                Some(b'B') => {}
                Some(_) => return Err(ToolkitError::unexpected("Last transaction was partial.")),
                None => {
                    return Err(ToolkitError::unexpected(format!(
                        "{}: the file ends before the end-of-record byte of txn {}",
                        log_file.display(),
                        count + 1
                    )))
                }
            }
            if let Some(rec) = self.recovery.as_mut() {
                rec.write_entry(crc, &bytes)?;
            }
            count += 1;
        }
    }

    fn count_fix(&mut self) {
        if let Some(rec) = self.recovery.as_mut() {
            rec.fixed += 1;
        }
    }

    fn print_txn(&mut self, bytes: &[u8], prefix: &str) -> Result<(), ToolkitError> {
        let entry =
            TxnLogEntry::from_bytes(bytes).map_err(|e| ToolkitError::unexpected(format!("cannot decode a txn: {e}")))?;
        let line = format_txn(&entry);
        if !prefix.trim().is_empty() {
            write!(self.out, "{prefix} - ")?;
        }
        if line.ends_with('\n') {
            write!(self.out, "{line}")?;
        } else {
            writeln!(self.out, "{line}")?;
        }
        Ok(())
    }

    /// Asks until the answer starts with y, n or a (any case); `a` aborts
    /// the recovery (exit status 0, as Java's tool).
    fn ask_for_fix(&mut self) -> Result<bool, ToolkitError> {
        loop {
            write!(self.out, "Would you like to fix it (Yes/No/Abort) ? ")?;
            self.out.flush()?;
            let word = next_word(self.answers)?
                .ok_or_else(|| ToolkitError::unexpected("Recovery aborted: no answer on standard input."))?;
            match word.chars().next().map(|c| c.to_ascii_uppercase()) {
                Some('Y') => return Ok(true),
                Some('N') => return Ok(false),
                Some('A') => return Err(ToolkitError::new(exit_code::EXECUTION_FINISHED, "Recovery aborted.")),
                _ => {}
            }
        }
    }
}

/// The next whitespace-separated word of `input` (what java.util.Scanner's
/// next() returns); `None` at the end of the input.
fn next_word(input: &mut dyn BufRead) -> io::Result<Option<String>> {
    let mut word = Vec::new();
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let mut used = 0;
        let mut done = false;
        for &b in buf {
            used += 1;
            if b.is_ascii_whitespace() {
                if !word.is_empty() {
                    done = true;
                    break;
                }
            } else {
                word.push(b);
            }
        }
        input.consume(used);
        if done {
            break;
        }
    }
    Ok((!word.is_empty()).then(|| String::from_utf8_lossy(&word).into_owned()))
}

fn header_line(header: &FileHeader) -> String {
    format!("ZooKeeper Transactional Log File with dbid {} txnlog format version {}", header.dbid, header.version)
}

/// What the message of the IOException Java's reader throws says: an
/// EOFException carries none.
fn java_exception_message(e: &JuteError) -> String {
    match e {
        JuteError::Eof { .. } => "null".to_string(),
        JuteError::UnknownTxnType(t) => format!("Unsupported Txn with type=%d{t}"),
        other => other.to_string(),
    }
}

/// Chop mode (Java's LogChopper), reporting failures on `out` the way
/// Java's tool does ("Got exception: ..."), which still exits with 0.
fn chop(log_file: &Path, zxid: i64, out: &mut dyn Write) -> Result<(), ToolkitError> {
    let mut name = log_file.file_name().unwrap_or(log_file.as_os_str()).to_owned();
    name.push(format!(".chopped{zxid}"));
    let target = log_file.with_file_name(name);
    let mut chopped = BufWriter::new(File::create(&target)?);
    let result = chop_into(log_file, zxid, out, &mut chopped);
    chopped.flush()?;
    match result {
        Ok(true) => Ok(()),
        Ok(false) => {
            let name = log_file.file_name().unwrap_or(log_file.as_os_str()).to_string_lossy();
            writeln!(out, "Got exception: Failed to chop {name}")?;
            Ok(())
        }
        Err(ChopError::Io(e)) => Err(e.into()),
        Err(ChopError::Reported(message)) => {
            writeln!(out, "Got exception: {message}")?;
            Ok(())
        }
    }
}

enum ChopError {
    /// Writing the output failed.
    Io(io::Error),
    /// The log is bad; Java's tool prints the message and carries on.
    Reported(String),
}

impl From<io::Error> for ChopError {
    fn from(e: io::Error) -> Self {
        ChopError::Io(e)
    }
}

/// Copies the entries up to `zxid`; `Ok(false)` when nothing was chopped.
fn chop_into(log_file: &Path, zxid: i64, out: &mut dyn Write, chopped: &mut dyn Write) -> Result<bool, ChopError> {
    let eof = || ChopError::Reported("null".to_string());
    let reported = |e: io::Error| match e.kind() {
        io::ErrorKind::InvalidData => ChopError::Reported(e.to_string()),
        _ => ChopError::Io(e),
    };
    let mut reader = LogReader::open(log_file)?;
    let header = reader.header().map_err(reported)?.ok_or_else(eof)?;
    if header.magic != TXNLOG_MAGIC {
        eprintln!("Invalid magic number in txn log file");
        return Ok(false);
    }
    writeln!(out, "{}", header_line(&header))?;
    chopped.write_all(&header.to_bytes())?;
    let mut count = 0u64;
    let mut has_zxid = false;
    let mut previous_zxid = -1i64;
    loop {
        let (crc, bytes) = match reader.frame().map_err(reported)? {
            Frame::Entry { crc, bytes } => (crc, bytes),
            Frame::End => {
                writeln!(out, "EOF reached after {count} txns.")?;
                return Ok(false);
            }
        };
        let actual = checksum(&bytes);
        if crc != actual {
            return Err(ChopError::Reported(format!("CRC doesn't match {crc} vs {actual}")));
        }
        let entry = TxnLogEntry::from_bytes(&bytes).map_err(|e| ChopError::Reported(java_exception_message(&e)))?;
        match reader.end_of_record()? {
            Some(b'B') => {}
            Some(_) => {
                writeln!(out, "Last transaction was partial.")?;
                return Err(ChopError::Reported("Last transaction was partial.".to_string()));
            }
            None => return Err(eof()),
        }
        let txn_zxid = entry.hdr.zxid;
        if txn_zxid == zxid {
            has_zxid = true;
        }
        if previous_zxid != -1 && txn_zxid != previous_zxid.wrapping_add(1) {
            let (epoch, counter) = (txn_zxid >> 32, txn_zxid & 0xffff_ffff);
            if epoch == previous_zxid >> 32 {
                writeln!(out, "There is intra-epoch gap between {:x} and {:x}", previous_zxid, txn_zxid)?;
            } else if counter != 1 {
                writeln!(out, "There is inter-epoch gap between {:x} and {:x}", previous_zxid, txn_zxid)?;
            }
        }
        previous_zxid = txn_zxid;
        if txn_zxid > zxid {
            if count == 0 || !has_zxid {
                writeln!(out, "This log does not contain zxid {zxid:x}")?;
                return Ok(false);
            }
            writeln!(out, "Chopping at {zxid:x} new log has {count} records")?;
            return Ok(true);
        }
        chopped.write_all(&crc.to_be_bytes())?;
        chopped.write_all(&(bytes.len() as i32).to_be_bytes())?;
        chopped.write_all(&bytes)?;
        chopped.write_all(b"B")?;
        count += 1;
    }
}

/// Request.op2String (which has no name for addWatch).
fn op_name(op: i32) -> String {
    match op_code::name(op) {
        "unknown" => format!("unknown {op}"),
        _ if op == op_code::ADD_WATCH => format!("unknown {op}"),
        name => name.to_string(),
    }
}

/// One dump line: "<date> session 0x.. cxid 0x.. zxid 0x.. <op> <txn>". The
/// txn text of some records ends in a newline (see `record_text`).
pub fn format_txn(entry: &TxnLogEntry) -> String {
    let hdr = &entry.hdr;
    format!(
        "{} session 0x{:x} cxid 0x{:x} zxid 0x{:x} {} {}",
        java_short_long_date_utc(hdr.time),
        hdr.client_id as u64,
        i64::from(hdr.cxid) as u64,
        hdr.zxid as u64,
        op_name(hdr.r#type),
        entry.txn.as_ref().map(txn_text).unwrap_or_default()
    )
}

/// Node data as text: decoded as UTF-8 the lenient Java way; null is empty.
fn data_text(data: &Option<Vec<u8>>) -> String {
    data.as_deref().map(java_string_from_utf8).unwrap_or_default()
}

/// A java.util.List<ACL>'s toString: each ACL's record text, comma
/// separated, in brackets.
fn acl_list_text(acl: &[Acl]) -> String {
    let items: Vec<String> = acl.iter().map(|a| record_text(|r| r.acl(a))).collect();
    format!("[{}]", items.join(", "))
}

/// The txn part of a dump line: creates and setData as comma-separated
/// fields, a multi as `op:bytes` items, the rest as their record text.
fn txn_text(txn: &TxnBody) -> String {
    match txn {
        TxnBody::Create(t) => format!(
            "{},{},{},{},{}",
            t.path,
            data_text(&t.data),
            acl_list_text(&t.acl),
            t.ephemeral,
            t.parent_c_version
        ),
        TxnBody::SetData(t) => format!("{},{},{}", t.path, data_text(&t.data), t.version),
        TxnBody::CreateContainer(t) => {
            format!("{},{},{},{}", t.path, data_text(&t.data), acl_list_text(&t.acl), t.parent_c_version)
        }
        TxnBody::CreateTtl(t) => format!(
            "{},{},{},{},{}",
            t.path,
            data_text(&t.data),
            acl_list_text(&t.acl),
            t.parent_c_version,
            t.ttl
        ),
        TxnBody::Multi(MultiTxn { txns }) => {
            let items: Vec<String> =
                txns.iter().map(|t| format!("{}:{}", op_name(t.r#type), java_string_from_utf8(&t.data))).collect();
            items.join(";")
        }
        TxnBody::Delete(t) => record_text(|r| r.string(&t.path)),
        TxnBody::SetAcl(t) => record_text(|r| {
            r.string(&t.path);
            r.vector(&t.acl, |r, a| r.nested(|r| r.acl(a)));
            r.long(t.version.into());
        }),
        TxnBody::Check(t) => record_text(|r| {
            r.string(&t.path);
            r.long(t.version.into());
        }),
        TxnBody::CreateSession(t) => record_text(|r| r.long(t.time_out.into())),
        TxnBody::CloseSession(CloseSessionTxn { paths2_delete }) => {
            record_text(|r| r.vector(paths2_delete, |r, p| r.string(p)))
        }
        TxnBody::Error(t) => record_text(|r| r.long(t.err.into())),
    }
}

/// The text a jute record's toString gives (ToStringOutputArchive): fields
/// separated by commas, strings after a quote with `\0 \n \r , } %`
/// percent-escaped, vectors as `v{..}`, nested records as `s{..}`, and a
/// newline after the outermost record.
fn record_text(fields: impl FnOnce(&mut RecordText)) -> String {
    let mut r = RecordText { out: String::new(), first: true };
    fields(&mut r);
    r.out.push('\n');
    r.out
}

struct RecordText {
    out: String,
    first: bool,
}

impl RecordText {
    fn separator(&mut self) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
    }

    fn long(&mut self, v: i64) {
        self.separator();
        self.out.push_str(&v.to_string());
    }

    fn string(&mut self, s: &str) {
        self.separator();
        self.out.push('\'');
        for c in s.chars() {
            match c {
                '\0' => self.out.push_str("%00"),
                '\n' => self.out.push_str("%0A"),
                '\r' => self.out.push_str("%0D"),
                ',' => self.out.push_str("%2C"),
                '}' => self.out.push_str("%7D"),
                '%' => self.out.push_str("%25"),
                c => self.out.push(c),
            }
        }
    }

    fn vector<T>(&mut self, items: &[T], mut item: impl FnMut(&mut RecordText, &T)) {
        self.separator();
        self.out.push_str("v{");
        self.first = true;
        for i in items {
            item(self, i);
        }
        self.out.push('}');
        self.first = false;
    }

    fn nested(&mut self, fields: impl FnOnce(&mut RecordText)) {
        self.separator();
        self.out.push_str("s{");
        self.first = true;
        fields(self);
        self.out.push('}');
        self.first = false;
    }

    /// An ACL's fields: perms, then its Id as a nested record.
    fn acl(&mut self, a: &Acl) {
        self.long(a.perms.into());
        self.nested(|r| {
            r.string(&a.id.scheme);
            r.string(&a.id.id);
        });
    }
}

/// Bytes as `new String(bytes, UTF_8)` reads them in Java 17: invalid
/// sequences become U+FFFD following Java's own rules, which differ from
/// `String::from_utf8_lossy` (an encoded surrogate is one replacement, not
/// three; an incomplete sequence at the very end is one replacement).
pub fn java_string_from_utf8(bytes: &[u8]) -> String {
    const REPL: char = '\u{fffd}';
    let cont = |b: u8| b & 0xc0 == 0x80;
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b1) = bytes.get(i) {
        i += 1;
        match b1 {
            0x00..=0x7f => out.push(char::from(b1)),
            0xc2..=0xdf => match bytes.get(i) {
                Some(&b2) if cont(b2) => {
                    i += 1;
                    out.push(char::from_u32((u32::from(b1 & 0x1f) << 6) | u32::from(b2 & 0x3f)).unwrap_or(REPL));
                }
                Some(_) => out.push(REPL),
                None => {
                    out.push(REPL);
                    break;
                }
            },
            0xe0..=0xef => {
                // An overlong start (E0 then 80..9F) or a non-continuation.
                let bad_second = |b2: u8| (b1 == 0xe0 && b2 & 0xe0 == 0x80) || !cont(b2);
                match (bytes.get(i), bytes.get(i + 1)) {
                    (Some(&b2), Some(&b3)) => {
                        if bad_second(b2) {
                            out.push(REPL);
                        } else if !cont(b3) {
                            out.push(REPL);
                            i += 1;
                        } else {
                            i += 2;
                            let c = (u32::from(b1 & 0x0f) << 12) | (u32::from(b2 & 0x3f) << 6) | u32::from(b3 & 0x3f);
                            // Surrogates (ED A0..BF ..) have no char.
                            out.push(char::from_u32(c).unwrap_or(REPL));
                        }
                    }
                    (Some(&b2), None) if bad_second(b2) => out.push(REPL),
                    _ => {
                        out.push(REPL);
                        break;
                    }
                }
            }
            0xf0..=0xf7 => {
                let bad_second = |b2: u8| {
                    b1 > 0xf4
                        || (b1 == 0xf0 && !(0x90..=0xbf).contains(&b2))
                        || (b1 == 0xf4 && b2 & 0xf0 != 0x80)
                        || !cont(b2)
                };
                match (bytes.get(i), bytes.get(i + 1), bytes.get(i + 2)) {
                    (Some(&b2), Some(&b3), Some(&b4)) => {
                        let c = (u32::from(b1 & 0x07) << 18)
                            | (u32::from(b2 & 0x3f) << 12)
                            | (u32::from(b3 & 0x3f) << 6)
                            | u32::from(b4 & 0x3f);
                        if cont(b2) && cont(b3) && cont(b4) && (0x10000..=0x10ffff).contains(&c) {
                            i += 3;
                            out.push(char::from_u32(c).unwrap_or(REPL));
                        } else {
                            out.push(REPL);
                            // Skip what Java counts as the malformed part.
                            if !bad_second(b2) {
                                i += if cont(b3) { 2 } else { 1 };
                            }
                        }
                    }
                    (b2, b3, _) => {
                        out.push(REPL);
                        if b1 > 0xf4 || b2.is_some_and(|&b2| bad_second(b2)) {
                            continue;
                        }
                        // A good second byte at the end: it goes with the
                        // replacement; what follows decides whether to go on.
                        i += 1;
                        if b3.is_some_and(|&b3| !cont(b3)) {
                            continue;
                        }
                        break;
                    }
                }
            }
            _ => out.push(REPL),
        }
    }
    out
}

/// A date as Java's DateFormat.getDateTimeInstance(SHORT, LONG) prints it
/// for en_US in UTC (JDK 17, CLDR data): "11/23/26, 4:27:20 PM UTC".
pub fn java_short_long_date_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = crate::common::civil_date::civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    let (h24, min, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let h12 = if h24 % 12 == 0 { 12 } else { h24 % 12 };
    let am_pm = if h24 < 12 { "AM" } else { "PM" };
    format!("{m}/{d}/{:02}, {h12}:{min:02}:{s:02} {am_pm} UTC", y.rem_euclid(100))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::records::Id;
    use crate::jute::txn::*;

    fn entry(ty: i32, txn: Option<TxnBody>) -> TxnLogEntry {
        TxnLogEntry {
            hdr: TxnHeader { client_id: 0x1_0000_0abc, cxid: -1, zxid: 0x1_0000_0002, time: 1_795_449_706_075, r#type: ty },
            txn,
            digest: Some(TxnDigest { version: 2, tree_digest: 7 }),
        }
    }

    fn acl() -> Vec<Acl> {
        vec![
            Acl { perms: 31, id: Id::new("world", "anyone") },
            Acl { perms: 1, id: Id::new("digest", "u:a,b}%") },
        ]
    }

    #[test]
    fn dates_read_like_java_en_us() {
        assert_eq!(java_short_long_date_utc(1_795_449_706_075), "11/23/26, 4:01:46 PM UTC");
        assert_eq!(java_short_long_date_utc(0), "1/1/70, 12:00:00 AM UTC");
        // (Expected strings as Java 17 prints them with -Duser.timezone=UTC
        // -Duser.language=en -Duser.country=US.)
        assert_eq!(java_short_long_date_utc(1_000_000_000_000 + 43_200_000), "9/9/01, 1:46:40 PM UTC");
        assert_eq!(java_short_long_date_utc(946_728_000_000), "1/1/00, 12:00:00 PM UTC");
        assert_eq!(java_short_long_date_utc(-1000), "12/31/69, 11:59:59 PM UTC");
        assert_eq!(java_short_long_date_utc(253_402_300_799_000), "12/31/99, 11:59:59 PM UTC");
    }

    #[test]
    fn lines_read_like_java() {
        let create = entry(
            op_code::CREATE2,
            Some(TxnBody::Create(CreateTxn {
                path: "/a,b".into(),
                data: Some(b"x".to_vec()),
                acl: acl(),
                ephemeral: true,
                parent_c_version: 3,
            })),
        );
        assert_eq!(
            format_txn(&create),
            "11/23/26, 4:01:46 PM UTC session 0x100000abc cxid 0xffffffffffffffff zxid 0x100000002 create2 \
             /a,b,x,[31,s{'world,'anyone}\n, 1,s{'digest,'u:a%2Cb%7D%25}\n],true,3"
        );
        let set_acl = entry(
            op_code::SET_ACL,
            Some(TxnBody::SetAcl(SetAclTxn { path: "/p\n".into(), acl: acl(), version: 2 })),
        );
        assert!(format_txn(&set_acl).ends_with(" setACL '/p%0A,v{s{31,s{'world,'anyone}},s{1,s{'digest,'u:a%2Cb%7D%25}}},2\n"));
        let close = entry(
            op_code::CLOSE_SESSION,
            Some(TxnBody::CloseSession(CloseSessionTxn { paths2_delete: vec!["/e1".into(), "/e2".into()] })),
        );
        assert!(format_txn(&close).ends_with(" closeSession v{'/e1,'/e2}\n"));
        let old_close = entry(op_code::CLOSE_SESSION, None);
        assert!(format_txn(&old_close).ends_with(" closeSession "));
        let multi = entry(
            op_code::MULTI,
            Some(TxnBody::Multi(MultiTxn {
                txns: vec![
                    Txn { r#type: op_code::DELETE, data: DeleteTxn { path: "/d".into() }.to_bytes() },
                    Txn { r#type: op_code::ERROR, data: ErrorTxn { err: -2 }.to_bytes() },
                    Txn { r#type: op_code::ADD_WATCH, data: vec![] },
                ],
            })),
        );
        assert!(format_txn(&multi)
            .ends_with(" multi delete:\0\0\0\u{2}/d;error:\u{fffd}\u{fffd}\u{fffd}\u{fffd};unknown 106:"));
        let ttl = entry(
            op_code::CREATE_TTL,
            Some(TxnBody::CreateTtl(CreateTtlTxn {
                path: "/t".into(),
                data: None,
                acl: vec![],
                parent_c_version: 1,
                ttl: 500,
            })),
        );
        assert!(format_txn(&ttl).ends_with(" createTtl /t,,[],1,500"));
        assert!(format_txn(&entry(op_code::ERROR, Some(TxnBody::Error(ErrorTxn { err: -101 })))).ends_with(" error -101\n"));
    }

    #[test]
    fn utf8_decodes_like_java() {
        // Expected strings as Java 17's new String(bytes, UTF_8) gives them
        // (the decoder also matched Java on 50,000 random byte strings).
        let r = '\u{fffd}';
        let cases: [(&[u8], String); 9] = [
            (b"plain \xc3\xa9", "plain \u{e9}".into()),
            (b"\xed\xa0\x80A", format!("{r}A")),
            (b"\xf0\x9f\x98A", format!("{r}A")),
            (b"\xe2\x82", format!("{r}")),
            (b"\xf0\x90A", format!("{r}A")),
            (b"\xf0\x80\x80\x80", format!("{r}{r}{r}{r}")),
            (b"\xc0\x80A", format!("{r}{r}A")),
            (b"\xf4\x90\x80\x80A", format!("{r}{r}{r}{r}A")),
            (b"\xe0\x80\x80A\xf0\x9f\x98\x80", format!("{r}{r}{r}A\u{1f600}")),
        ];
        for (bytes, want) in cases {
            assert_eq!(java_string_from_utf8(bytes), want, "{bytes:x?}");
        }
    }

    #[test]
    fn java_long_decode() {
        assert_eq!(parse_java_long("42"), Ok(42));
        assert_eq!(parse_java_long("0x1f"), Ok(31));
        assert_eq!(parse_java_long("#1F"), Ok(31));
        assert_eq!(parse_java_long("010"), Ok(8));
        assert_eq!(parse_java_long("0"), Ok(0));
        assert_eq!(parse_java_long("-0x10"), Ok(-16));
        assert_eq!(parse_java_long("-9223372036854775808"), Ok(i64::MIN));
        for bad in ["", "0x", "--1", "0x-1", "1z", "08"] {
            assert!(parse_java_long(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mode_follows_javas_flags() {
        assert_eq!(Mode::from_flags(false, false, false, Some(5)), Mode::Chop { zxid: 5 });
        assert_eq!(Mode::from_flags(true, false, true, None), Mode::Dump { recover: true, verbose: false, yes: true });
    }

    #[test]
    fn scanner_words() {
        let mut input: &[u8] = b"  yes\n\n no  abort";
        assert_eq!(next_word(&mut input).unwrap().as_deref(), Some("yes"));
        assert_eq!(next_word(&mut input).unwrap().as_deref(), Some("no"));
        assert_eq!(next_word(&mut input).unwrap().as_deref(), Some("abort"));
        assert_eq!(next_word(&mut input).unwrap(), None);
    }
}
