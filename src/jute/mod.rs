//! Jute, ZooKeeper's record serialisation: the binary archives
//! (BinaryInputArchive / BinaryOutputArchive) and the records of
//! `zookeeper.jute`.
//!
//! Everything is big-endian. A `buffer` or `ustring` is an `int` length
//! followed by the bytes, `-1` meaning null; a `vector` is an `int` count
//! followed by the elements, `-1` meaning null. Decoding never panics and
//! both readers, [`InputArchive`] over bytes in memory and [`StreamInput`]
//! over an `io::Read`, apply Java's BinaryInputArchive rules: a buffer or
//! ustring length of -1 is null, any other negative length is refused
//! ("Unreasonable length = N"), and so is one above one process-wide
//! bound, [`read_limit`] (jute.maxbuffer plus
//! zookeeper.jute.maxbuffer.extrasize), before anything is allocated; a
//! vector count below -1 reads as empty, as Java's startVector leaves it.
//! Every reader of a record uses them: txns, log entries, snapshot records,
//! the SNAP stream and quorum packets. The election port's messages are
//! read through the same two readers, with that protocol's own length
//! rules and limits (`StreamInput::with_limit`).
//! Client frames are held to [`max_buffer`] alone.

pub mod multi;
pub mod records;
pub mod txn;

use crate::quorum::quorum_peer_config::system_properties::SystemProperties;
use crate::quorum::quorum_peer_config::ConfigError;
use byteorder::{BigEndian, ByteOrder};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Java's default for `jute.maxbuffer` (0xfffff, just under 1 MiB).
pub const DEFAULT_MAX_BUFFER: usize = 0xfffff;

/// The smallest extra size Java allows past jute.maxbuffer.
const MIN_EXTRA_MAX_BUFFER: usize = 1024;

/// The system properties BinaryInputArchive reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JuteSettings {
    /// jute.maxbuffer (default 0xfffff).
    pub max_buffer: i32,
    /// zookeeper.jute.maxbuffer.extrasize (default: jute.maxbuffer).
    pub max_buffer_extra_size: i32,
}

impl JuteSettings {
    pub fn read(props: &SystemProperties) -> Result<JuteSettings, ConfigError> {
        let max_buffer = props.int("jute.maxbuffer", DEFAULT_MAX_BUFFER as i32)?;
        if max_buffer < 0 {
            return Err(props.refused("jute.maxbuffer", "must not be negative"));
        }
        let max_buffer_extra_size = props.int("zookeeper.jute.maxbuffer.extrasize", max_buffer)?;
        Ok(JuteSettings { max_buffer, max_buffer_extra_size })
    }
}

static MAX_BUFFER: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_BUFFER);
static EXTRA_MAX_BUFFER: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_BUFFER);

/// Sets the process-wide bounds from `jute.maxbuffer` and
/// `zookeeper.jute.maxbuffer.extrasize` (raised to 1024 when smaller, as
/// Java does). Called once at start-up, before any record is read; like
/// Java's BinaryInputArchive statics, the bounds hold for the whole process.
pub fn configure(max_buffer: usize, extra_max_buffer: usize) {
    MAX_BUFFER.store(max_buffer, Ordering::Relaxed);
    EXTRA_MAX_BUFFER.store(extra_max_buffer.max(MIN_EXTRA_MAX_BUFFER), Ordering::Relaxed);
}

/// `jute.maxbuffer`: the largest client frame the server accepts.
pub fn max_buffer() -> usize {
    MAX_BUFFER.load(Ordering::Relaxed)
}

/// The largest length field any record may carry (jute.maxbuffer plus
/// its extra size): the bound of every reader, so that whatever one server
/// accepted and logged, every other server and every restart reads back.
pub fn read_limit() -> usize {
    max_buffer().saturating_add(EXTRA_MAX_BUFFER.load(Ordering::Relaxed))
}

/// Why a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JuteError {
    /// The input ended before the record did.
    Eof { wanted: usize, at: usize },
    /// A length field was negative (other than -1) or above the read limit.
    UnreasonableLength(i32),
    /// A ustring held bytes that are not UTF-8.
    BadUtf8,
    /// A txn header named an opcode that has no txn record.
    UnknownTxnType(i32),
    /// A snapshot's ACL table had an entry whose ACL list was null, which
    /// Java refuses when it reads the table.
    MissingAcls,
}

impl fmt::Display for JuteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JuteError::Eof { wanted, at } => {
                write!(f, "record truncated: wanted {wanted} bytes at offset {at}")
            }
            JuteError::UnreasonableLength(n) => write!(f, "Unreasonable length = {n}"),
            JuteError::BadUtf8 => write!(f, "ustring is not valid UTF-8"),
            JuteError::UnknownTxnType(t) => write!(f, "Unsupported Txn with type={t}"),
            JuteError::MissingAcls => f.write_str("bad snapshot: an ACL table entry has a null ACL list"),
        }
    }
}

impl std::error::Error for JuteError {}

/// Reads records from a byte slice (BinaryInputArchive).
pub struct InputArchive<'a> {
    buf: &'a [u8],
    pos: usize,
    max_buffer: usize,
}

impl<'a> InputArchive<'a> {
    /// An archive bounded by [`read_limit`].
    pub fn new(buf: &'a [u8]) -> Self {
        Self::with_max_buffer(buf, read_limit())
    }

    pub fn with_max_buffer(buf: &'a [u8], max_buffer: usize) -> Self {
        InputArchive { buf, pos: 0, max_buffer }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Moves back to an earlier `position()`.
    pub fn reset(&mut self, pos: usize) {
        self.pos = pos.min(self.buf.len());
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], JuteError> {
        if self.remaining() < n {
            return Err(JuteError::Eof { wanted: n, at: self.pos });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// The next `n` bytes as they are (a field of fixed size, or one whose
    /// length the caller has read and checked).
    pub fn read_bytes(&mut self, n: usize) -> Result<&'a [u8], JuteError> {
        self.take(n)
    }

    pub fn read_byte(&mut self) -> Result<u8, JuteError> {
        Ok(self.take(1)?[0])
    }

    pub fn read_bool(&mut self) -> Result<bool, JuteError> {
        Ok(self.read_byte()? != 0)
    }

    pub fn read_int(&mut self) -> Result<i32, JuteError> {
        Ok(BigEndian::read_i32(self.take(4)?))
    }

    pub fn read_long(&mut self) -> Result<i64, JuteError> {
        Ok(BigEndian::read_i64(self.take(8)?))
    }

    /// Reads a length prefix; `None` for -1 (null). Rejects other negative
    /// lengths and lengths above the read limit (see [`check_length`]).
    fn read_len(&mut self) -> Result<Option<usize>, JuteError> {
        check_length(self.read_int()?, self.max_buffer)
    }

    /// A nullable `buffer`.
    pub fn read_nullable_buffer(&mut self) -> Result<Option<Vec<u8>>, JuteError> {
        Ok(self.read_nullable_buffer_ref()?.map(<[u8]>::to_vec))
    }

    /// A nullable `buffer`, borrowed from the input.
    pub fn read_nullable_buffer_ref(&mut self) -> Result<Option<&'a [u8]>, JuteError> {
        match self.read_len()? {
            None => Ok(None),
            Some(n) => Ok(Some(self.take(n)?)),
        }
    }

    /// A `ustring` borrowed from the input; null reads as empty.
    pub fn read_str_ref(&mut self) -> Result<&'a str, JuteError> {
        match self.read_len()? {
            None => Ok(""),
            Some(n) => std::str::from_utf8(self.take(n)?).map_err(|_| JuteError::BadUtf8),
        }
    }

    /// A `buffer` where null reads as empty.
    pub fn read_buffer(&mut self) -> Result<Vec<u8>, JuteError> {
        Ok(self.read_nullable_buffer()?.unwrap_or_default())
    }

    /// A `ustring` where null is kept apart from empty (`None`).
    pub fn read_nullable_string(&mut self) -> Result<Option<String>, JuteError> {
        match self.read_len()? {
            None => Ok(None),
            Some(n) => String::from_utf8(self.take(n)?.to_vec()).map(Some).map_err(|_| JuteError::BadUtf8),
        }
    }

    /// A `ustring`; null reads as empty.
    pub fn read_string(&mut self) -> Result<String, JuteError> {
        match self.read_len()? {
            None => Ok(String::new()),
            Some(n) => {
                let bytes = self.take(n)?;
                String::from_utf8(bytes.to_vec()).map_err(|_| JuteError::BadUtf8)
            }
        }
    }

    /// A `vector<T>`; null, and any other negative count, reads as empty
    /// (Java's startVector). The count is bounded by the bytes left, so a
    /// hostile count cannot make us allocate.
    pub fn read_vector<T: Record>(&mut self) -> Result<Vec<T>, JuteError> {
        Ok(self.read_nullable_vector()?.unwrap_or_default())
    }

    /// A `vector<T>` that may be null: `None` for a count of -1, empty for
    /// any other negative count (Java's startVector).
    pub fn read_nullable_vector<T: Record>(&mut self) -> Result<Option<Vec<T>>, JuteError> {
        let len = self.read_int()?;
        if len < 0 {
            return Ok((len != -1).then(Vec::new));
        }
        if len as usize > self.remaining() {
            return Err(JuteError::UnreasonableLength(len));
        }
        let mut v = Vec::with_capacity(len as usize);
        for _ in 0..len {
            v.push(T::deserialize(self)?);
        }
        Ok(Some(v))
    }

    /// A nested record.
    pub fn read_record<T: Record>(&mut self) -> Result<T, JuteError> {
        T::deserialize(self)
    }
}

/// Java's BinaryInputArchive.checkLength, with -1 for null: `None` for -1,
/// the length for 0..=`limit`, `UnreasonableLength` for anything else (the
/// other negative lengths and those above the limit).
fn check_length(len: i32, limit: usize) -> Result<Option<usize>, JuteError> {
    if len == -1 {
        return Ok(None);
    }
    match usize::try_from(len) {
        Ok(n) if n <= limit => Ok(Some(n)),
        _ => Err(JuteError::UnreasonableLength(len)),
    }
}

/// Reads records field by field from a stream (BinaryInputArchive over an
/// InputStream): quorum packets on the quorum port, the snapshot a leader
/// streams after SNAP, the election port's initial message and frames.
/// Lengths follow the same rules as [`InputArchive`]'s, checked against
/// [`read_limit`] before anything is allocated, and exactly the bytes of
/// each field are consumed, so whatever follows on the stream is left for
/// the caller. A field cut short is the stream's own error
/// (`UnexpectedEof`); a refused length or bad UTF-8 is `InvalidData`
/// carrying the [`JuteError`].
pub struct StreamInput<R> {
    r: R,
    limit: usize,
}

impl<R: std::io::Read> StreamInput<R> {
    /// A stream bounded by [`read_limit`].
    pub fn new(r: R) -> Self {
        Self::with_limit(r, read_limit())
    }

    /// A stream bounded by a protocol's own limit (the election port's
    /// frames and initial message), rather than the jute read limit.
    pub fn with_limit(r: R, limit: usize) -> Self {
        StreamInput { r, limit }
    }

    /// The `InvalidData` error a refused field reads as.
    pub fn invalid(e: JuteError) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }

    pub fn read_byte(&mut self) -> std::io::Result<u8> {
        Ok(self.read_array::<1>()?[0])
    }

    pub fn read_bool(&mut self) -> std::io::Result<bool> {
        Ok(self.read_byte()? != 0)
    }

    pub fn read_int(&mut self) -> std::io::Result<i32> {
        Ok(i32::from_be_bytes(self.read_array()?))
    }

    pub fn read_long(&mut self) -> std::io::Result<i64> {
        Ok(i64::from_be_bytes(self.read_array()?))
    }

    /// The next `n` bytes as they are, for a length the caller has read and
    /// checked by its protocol's rules; refused above this stream's limit
    /// all the same, before anything is allocated.
    pub fn read_bytes(&mut self, n: usize) -> std::io::Result<Vec<u8>> {
        if n > self.limit {
            return Err(Self::invalid(JuteError::UnreasonableLength(i32::try_from(n).unwrap_or(i32::MAX))));
        }
        let mut v = vec![0u8; n];
        self.r.read_exact(&mut v)?;
        Ok(v)
    }

    /// A nullable `buffer`.
    pub fn read_nullable_buffer(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        match check_length(self.read_int()?, self.limit).map_err(Self::invalid)? {
            None => Ok(None),
            Some(n) => self.read_bytes(n).map(Some),
        }
    }

    /// A `buffer` where null reads as empty.
    pub fn read_buffer(&mut self) -> std::io::Result<Vec<u8>> {
        Ok(self.read_nullable_buffer()?.unwrap_or_default())
    }

    /// A `ustring` where null is kept apart from empty (`None`).
    pub fn read_nullable_string(&mut self) -> std::io::Result<Option<String>> {
        self.read_nullable_buffer()?
            .map(|b| String::from_utf8(b).map_err(|_| Self::invalid(JuteError::BadUtf8)))
            .transpose()
    }

    /// A `ustring`; null reads as empty.
    pub fn read_string(&mut self) -> std::io::Result<String> {
        String::from_utf8(self.read_buffer()?).map_err(|_| Self::invalid(JuteError::BadUtf8))
    }

    /// A `vector<T>`; null, and any other negative count, reads as empty
    /// (Java's startVector). The vector grows as elements arrive, and a
    /// count whose elements alone would take more than the read limit in
    /// memory is refused, so the count cannot size an allocation.
    pub fn read_vector<T: Record>(&mut self) -> std::io::Result<Vec<T>> {
        Ok(self.read_nullable_vector()?.unwrap_or_default())
    }

    /// A `vector<T>` that may be null: `None` for a count of -1, empty for
    /// any other negative count (Java's startVector); bounded as
    /// [`read_vector`](Self::read_vector).
    pub fn read_nullable_vector<T: Record>(&mut self) -> std::io::Result<Option<Vec<T>>> {
        let len = self.read_int()?;
        if len < 0 {
            return Ok((len != -1).then(Vec::new));
        }
        if (len as usize).saturating_mul(std::mem::size_of::<T>().max(1)) > self.limit {
            return Err(Self::invalid(JuteError::UnreasonableLength(len)));
        }
        let mut v = Vec::new();
        for _ in 0..len {
            v.push(T::read_from(self)?);
        }
        Ok(Some(v))
    }

    /// A record, field by field.
    pub fn read_record<T: Record>(&mut self) -> std::io::Result<T> {
        T::read_from(self)
    }

    /// The next `N` bytes, to decode with an [`InputArchive`].
    pub fn read_array<const N: usize>(&mut self) -> std::io::Result<[u8; N]> {
        let mut b = [0u8; N];
        self.r.read_exact(&mut b)?;
        Ok(b)
    }
}

/// Writes records into a growing byte vector (BinaryOutputArchive).
#[derive(Default)]
pub struct OutputArchive {
    buf: Vec<u8>,
}

impl OutputArchive {
    pub fn new() -> Self {
        OutputArchive { buf: Vec::new() }
    }

    pub fn with_capacity(n: usize) -> Self {
        OutputArchive { buf: Vec::with_capacity(n) }
    }

    pub fn into_inner(self) -> Vec<u8> {
        self.buf
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Forgets what was written, keeping the buffer for reuse.
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// Forgets everything written after the first `len` bytes.
    pub fn truncate(&mut self, len: usize) {
        self.buf.truncate(len);
    }

    /// Overwrites four bytes already written (used to patch a length prefix).
    pub fn patch_int(&mut self, at: usize, v: i32) {
        BigEndian::write_i32(&mut self.buf[at..at + 4], v);
    }

    /// Overwrites eight bytes already written.
    pub fn patch_long(&mut self, at: usize, v: i64) {
        BigEndian::write_i64(&mut self.buf[at..at + 8], v);
    }

    pub fn write_byte(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn write_bool(&mut self, v: bool) {
        self.buf.push(v as u8);
    }

    pub fn write_int(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn write_long(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn write_raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    pub fn write_buffer(&mut self, v: &[u8]) {
        self.write_int(v.len() as i32);
        self.buf.extend_from_slice(v);
    }

    pub fn write_nullable_buffer(&mut self, v: &Option<Vec<u8>>) {
        match v {
            None => self.write_int(-1),
            Some(b) => self.write_buffer(b),
        }
    }

    pub fn write_string(&mut self, v: &str) {
        self.write_buffer(v.as_bytes());
    }

    /// A `ustring` that may be null (`None`, length -1).
    pub fn write_nullable_string(&mut self, v: &Option<String>) {
        match v {
            None => self.write_int(-1),
            Some(s) => self.write_string(s),
        }
    }

    /// A `vector<ustring>` of strings whose number is not known ahead.
    pub fn write_string_vector<'a>(&mut self, items: impl IntoIterator<Item = &'a str>) {
        let at = self.buf.len();
        self.write_int(0);
        let mut n = 0i32;
        for item in items {
            self.write_string(item);
            n += 1;
        }
        self.patch_int(at, n);
    }

    pub fn write_vector<T: Record>(&mut self, v: &[T]) {
        self.write_int(v.len() as i32);
        for e in v {
            e.serialize(self);
        }
    }
}

/// A jute record: serialises itself field by field.
pub trait Record: Sized {
    fn serialize(&self, oa: &mut OutputArchive);
    fn deserialize(ia: &mut InputArchive<'_>) -> Result<Self, JuteError>;
    /// Reads the record field by field off a stream, with the same rules.
    fn read_from<R: std::io::Read>(si: &mut StreamInput<R>) -> std::io::Result<Self>;

    /// How many bytes `serialize` writes, worked out without writing them.
    fn serialized_len(&self) -> usize {
        let mut oa = OutputArchive::new();
        self.serialize(&mut oa);
        oa.len()
    }

    /// The record alone, as bytes.
    fn to_bytes(&self) -> Vec<u8> {
        let mut oa = OutputArchive::new();
        self.serialize(&mut oa);
        oa.into_inner()
    }

    /// Decodes one record from the start of `buf`, ignoring any trailing bytes.
    fn from_bytes(buf: &[u8]) -> Result<Self, JuteError> {
        Self::deserialize(&mut InputArchive::new(buf))
    }
}

/// `vector<ustring>` elements.
impl Record for String {
    fn serialize(&self, oa: &mut OutputArchive) {
        oa.write_string(self)
    }
    fn serialized_len(&self) -> usize {
        4 + self.len()
    }
    fn deserialize(ia: &mut InputArchive<'_>) -> Result<Self, JuteError> {
        ia.read_string()
    }
    fn read_from<R: std::io::Read>(si: &mut StreamInput<R>) -> std::io::Result<Self> {
        si.read_string()
    }
}

/// Declares a jute record: a struct whose fields are written in order, each
/// with its jute kind (`int`, `long`, `boolean`, `ustring`, `buffer`,
/// `nbuffer` for a nullable buffer, `vector(T)`, `record(T)`).
macro_rules! jute_record {
    ($(#[$meta:meta])* $name:ident { $($field:ident : $kind:ident $(($inner:ty))?),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct $name {
            $(pub $field: jute_record!(@type $kind $(($inner))?),)*
        }

        impl $crate::jute::Record for $name {
            #[allow(unused_variables)]
            fn serialize(&self, oa: &mut $crate::jute::OutputArchive) {
                $(jute_record!(@write oa, self.$field, $kind);)*
            }
            fn serialized_len(&self) -> usize {
                0 $(+ jute_record!(@len self.$field, $kind))*
            }
            #[allow(unused_variables)]
            fn deserialize(
                ia: &mut $crate::jute::InputArchive<'_>,
            ) -> Result<Self, $crate::jute::JuteError> {
                Ok($name {
                    $($field: jute_record!(@read ia, $kind $(($inner))?),)*
                })
            }
            #[allow(unused_variables)]
            fn read_from<R: std::io::Read>(
                ia: &mut $crate::jute::StreamInput<R>,
            ) -> std::io::Result<Self> {
                Ok($name {
                    $($field: jute_record!(@read ia, $kind $(($inner))?),)*
                })
            }
        }
    };
    (@type int) => { i32 };
    (@type long) => { i64 };
    (@type boolean) => { bool };
    (@type ustring) => { String };
    (@type nstring) => { Option<String> };
    (@type buffer) => { Vec<u8> };
    (@type nbuffer) => { Option<Vec<u8>> };
    (@type vector($t:ty)) => { Vec<$t> };
    (@type record($t:ty)) => { $t };
    (@write $oa:ident, $v:expr, int) => { $oa.write_int($v) };
    (@write $oa:ident, $v:expr, long) => { $oa.write_long($v) };
    (@write $oa:ident, $v:expr, boolean) => { $oa.write_bool($v) };
    (@write $oa:ident, $v:expr, ustring) => { $oa.write_string(&$v) };
    (@write $oa:ident, $v:expr, nstring) => { $oa.write_nullable_string(&$v) };
    (@write $oa:ident, $v:expr, buffer) => { $oa.write_buffer(&$v) };
    (@write $oa:ident, $v:expr, nbuffer) => { $oa.write_nullable_buffer(&$v) };
    (@write $oa:ident, $v:expr, vector) => { $oa.write_vector(&$v) };
    (@write $oa:ident, $v:expr, record) => { $crate::jute::Record::serialize(&$v, $oa) };
    (@len $v:expr, int) => { 4 };
    (@len $v:expr, long) => { 8 };
    (@len $v:expr, boolean) => { 1 };
    (@len $v:expr, ustring) => { 4 + $v.len() };
    (@len $v:expr, nstring) => { 4 + $v.as_ref().map_or(0, String::len) };
    (@len $v:expr, buffer) => { 4 + $v.len() };
    (@len $v:expr, nbuffer) => { 4 + $v.as_ref().map_or(0, Vec::len) };
    (@len $v:expr, vector) => { 4 + $v.iter().map($crate::jute::Record::serialized_len).sum::<usize>() };
    (@len $v:expr, record) => { $crate::jute::Record::serialized_len(&$v) };
    (@read $ia:ident, int) => { $ia.read_int()? };
    (@read $ia:ident, long) => { $ia.read_long()? };
    (@read $ia:ident, boolean) => { $ia.read_bool()? };
    (@read $ia:ident, ustring) => { $ia.read_string()? };
    (@read $ia:ident, nstring) => { $ia.read_nullable_string()? };
    (@read $ia:ident, buffer) => { $ia.read_buffer()? };
    (@read $ia:ident, nbuffer) => { $ia.read_nullable_buffer()? };
    (@read $ia:ident, vector($t:ty)) => { $ia.read_vector::<$t>()? };
    (@read $ia:ident, record($t:ty)) => { $ia.read_record::<$t>()? };
}
pub(crate) use jute_record;

#[cfg(test)]
mod tests {
    use super::records::*;
    use super::*;

    #[test]
    fn string_vector_matches_a_vector_of_strings() {
        let names = vec!["a".to_string(), String::new(), "\u{e9}".to_string()];
        let mut expected = OutputArchive::new();
        expected.write_vector(&names);
        let mut got = OutputArchive::new();
        got.write_string_vector(names.iter().map(String::as_str));
        assert_eq!(got.as_slice(), expected.as_slice());
    }

    #[test]
    fn settings_read_jute_maxbuffer_in_both_forms() {
        let read = |pairs: &[(&str, &str)]| JuteSettings::read(&SystemProperties::of(pairs));
        assert_eq!(read(&[]), Ok(JuteSettings { max_buffer: 0xfffff, max_buffer_extra_size: 0xfffff }));
        assert_eq!(read(&[("zookeeper.jute.maxbuffer", "0x100")]), Ok(JuteSettings { max_buffer: 256, max_buffer_extra_size: 256 }));
        assert_eq!(read(&[("jute.maxbuffer", "2000")]).map(|s| s.max_buffer), Ok(2000));
        assert_eq!(read(&[("jute.maxbuffer", "-1")]).unwrap_err().to_string(), "jute.maxbuffer: \"-1\" must not be negative");
    }

    #[test]
    fn round_trip_and_layout() {
        let r = CreateRequest {
            path: "/a".into(),
            data: Some(b"x".to_vec()),
            acl: vec![Acl { perms: 31, id: Id { scheme: "world".into(), id: "anyone".into() } }],
            flags: 1,
        };
        let b = r.to_bytes();
        assert_eq!(&b[..6], &[0, 0, 0, 2, b'/', b'a']);
        assert_eq!(CreateRequest::from_bytes(&b).unwrap(), r);
    }

    #[test]
    fn null_buffer_round_trips() {
        let r = SetDataRequest { path: "/a".into(), data: None, version: -1 };
        let b = r.to_bytes();
        assert_eq!(&b[6..10], &[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(SetDataRequest::from_bytes(&b).unwrap().data, None);
    }

    /// The in-memory and the stream reader take the same lengths the same
    /// way, as Java's BinaryInputArchive: -1 is null, other negative
    /// lengths and those above the limit are refused, a vector count
    /// below -1 is empty.
    #[test]
    fn both_readers_follow_one_set_of_length_rules() {
        let int = |n: i32| n.to_be_bytes().to_vec();
        let stream_buffer = |b: &[u8]| StreamInput::with_limit(b, 16).read_nullable_buffer();
        let mem_buffer = |b: &[u8]| InputArchive::with_max_buffer(b, 16).read_nullable_buffer();
        for (len, ok) in [(-1, Some(None)), (0, Some(Some(vec![]))), (-2, None), (i32::MIN, None), (17, None)] {
            let mut b = int(len);
            b.resize(b.len() + 20, 7);
            match ok {
                Some(v) => {
                    assert_eq!(mem_buffer(&b).unwrap(), v, "len {len}");
                    assert_eq!(stream_buffer(&b).unwrap(), v, "len {len}");
                }
                None => {
                    assert_eq!(mem_buffer(&b), Err(JuteError::UnreasonableLength(len)));
                    let e = stream_buffer(&b).unwrap_err();
                    assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
                    assert_eq!(e.to_string(), format!("Unreasonable length = {len}"));
                }
            }
        }
        // A string: -1 reads as empty, -2 is refused.
        assert_eq!(InputArchive::new(&int(-1)).read_string().unwrap(), "");
        assert_eq!(StreamInput::new(&int(-1)[..]).read_string().unwrap(), "");
        assert!(InputArchive::new(&int(-2)).read_string().is_err());
        assert!(StreamInput::new(&int(-2)[..]).read_string().is_err());
        // A vector: every negative count is empty.
        for n in [-1, -5, i32::MIN] {
            assert!(InputArchive::new(&int(n)).read_vector::<Id>().unwrap().is_empty());
            assert!(StreamInput::new(&int(n)[..]).read_vector::<Id>().unwrap().is_empty());
        }
        // A count no input could back is refused before any element is read.
        assert!(StreamInput::new(&int(i32::MAX)[..]).read_vector::<Id>().unwrap_err().to_string().contains("Unreasonable"));
        // Raw bytes above the stream's limit are refused, not allocated.
        assert_eq!(StreamInput::with_limit(&[0u8; 8][..], 4).read_bytes(5).unwrap_err().kind(), std::io::ErrorKind::InvalidData);
        // Cut short: the stream's own error.
        assert_eq!(StreamInput::new(&[0, 0, 0, 4, 1][..]).read_buffer().unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn a_record_reads_the_same_from_a_stream() {
        let r = CreateRequest {
            path: "/a".into(),
            data: None,
            acl: vec![Acl { perms: 31, id: Id { scheme: "world".into(), id: "anyone".into() } }],
            flags: 1,
        };
        let mut b = r.to_bytes();
        b.push(42);
        let mut rest = &b[..];
        assert_eq!(CreateRequest::read_from(&mut StreamInput::new(&mut rest)).unwrap(), r);
        // Exactly the record's bytes are consumed.
        assert_eq!(rest, &[42]);
    }

    #[test]
    fn hostile_lengths_are_errors_not_panics() {
        // negative length
        assert!(GetDataRequest::from_bytes(&[0xff, 0xff, 0xff, 0xfe]).is_err());
        // length beyond the buffer
        assert!(GetDataRequest::from_bytes(&[0, 0, 0, 100, b'/']).is_err());
        // length beyond jute.maxbuffer
        let mut ia = InputArchive::with_max_buffer(&[0, 0, 1, 0], 16);
        assert_eq!(ia.read_buffer(), Err(JuteError::UnreasonableLength(256)));
        // huge vector count with no bytes behind it
        assert!(GetChildrenResponse::from_bytes(&[0x7f, 0xff, 0xff, 0xff]).is_err());
        // truncated
        assert!(Stat::from_bytes(&[0; 20]).is_err());
        // bad utf-8
        assert_eq!(
            GetDataRequest::from_bytes(&[0, 0, 0, 1, 0xff, 0]),
            Err(JuteError::BadUtf8)
        );
    }
}
