//! Jute, ZooKeeper's record serialisation: the binary archives
//! (BinaryInputArchive / BinaryOutputArchive) and the records of
//! `zookeeper.jute`.
//!
//! Everything is big-endian. A `buffer` or `ustring` is an `int` length
//! followed by the bytes, `-1` meaning null; a `vector` is an `int` count
//! followed by the elements. Decoding never panics: every length is checked
//! against the bytes actually present and against one process-wide bound,
//! [`read_limit`] (jute.maxbuffer plus zookeeper.jute.maxbuffer.extrasize,
//! as Java's BinaryInputArchive checks every length), which every reader of
//! a record uses: txns, log entries, snapshot records and quorum packets.
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
    /// lengths, lengths above jute.maxbuffer, and lengths the input cannot hold.
    fn read_len(&mut self) -> Result<Option<usize>, JuteError> {
        let len = self.read_int()?;
        if len == -1 {
            return Ok(None);
        }
        if len < 0 || len as usize > self.max_buffer {
            return Err(JuteError::UnreasonableLength(len));
        }
        Ok(Some(len as usize))
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

    /// A `vector<T>`; null reads as empty. The count is bounded by the bytes
    /// left, so a hostile count cannot make us allocate.
    pub fn read_vector<T: Record>(&mut self) -> Result<Vec<T>, JuteError> {
        let len = self.read_int()?;
        if len == -1 {
            return Ok(Vec::new());
        }
        if len < 0 || len as usize > self.remaining() {
            return Err(JuteError::UnreasonableLength(len));
        }
        let mut v = Vec::with_capacity(len as usize);
        for _ in 0..len {
            v.push(T::deserialize(self)?);
        }
        Ok(v)
    }
}

/// Reads records field by field from a stream (BinaryInputArchive over an
/// InputStream), for input too large to hold whole, such as the snapshot
/// a leader streams after SNAP. Every length is checked against
/// [`read_limit`] before anything is allocated, and exactly the bytes of
/// each field are consumed, so whatever follows on the stream is left for
/// the caller.
pub struct StreamInput<R> {
    r: R,
    limit: usize,
}

impl<R: std::io::Read> StreamInput<R> {
    pub fn new(r: R) -> Self {
        StreamInput { r, limit: read_limit() }
    }

    fn bad(e: JuteError) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }

    pub fn read_int(&mut self) -> std::io::Result<i32> {
        let mut b = [0u8; 4];
        self.r.read_exact(&mut b)?;
        Ok(BigEndian::read_i32(&b))
    }

    pub fn read_long(&mut self) -> std::io::Result<i64> {
        let mut b = [0u8; 8];
        self.r.read_exact(&mut b)?;
        Ok(BigEndian::read_i64(&b))
    }

    /// A nullable `buffer`.
    pub fn read_nullable_buffer(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let len = self.read_int()?;
        if len == -1 {
            return Ok(None);
        }
        let n = match usize::try_from(len) {
            Ok(n) if n <= self.limit => n,
            _ => return Err(Self::bad(JuteError::UnreasonableLength(len))),
        };
        let mut v = vec![0u8; n];
        self.r.read_exact(&mut v)?;
        Ok(Some(v))
    }

    /// A `ustring`; null reads as empty.
    pub fn read_string(&mut self) -> std::io::Result<String> {
        let bytes = self.read_nullable_buffer()?.unwrap_or_default();
        String::from_utf8(bytes).map_err(|_| Self::bad(JuteError::BadUtf8))
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

    /// Overwrites four bytes already written (used to patch a length prefix).
    pub fn patch_int(&mut self, at: usize, v: i32) {
        BigEndian::write_i32(&mut self.buf[at..at + 4], v);
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
    fn deserialize(ia: &mut InputArchive<'_>) -> Result<Self, JuteError> {
        ia.read_string()
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
            #[allow(unused_variables)]
            fn deserialize(
                ia: &mut $crate::jute::InputArchive<'_>,
            ) -> Result<Self, $crate::jute::JuteError> {
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
    (@type buffer) => { Vec<u8> };
    (@type nbuffer) => { Option<Vec<u8>> };
    (@type vector($t:ty)) => { Vec<$t> };
    (@type record($t:ty)) => { $t };
    (@write $oa:ident, $v:expr, int) => { $oa.write_int($v) };
    (@write $oa:ident, $v:expr, long) => { $oa.write_long($v) };
    (@write $oa:ident, $v:expr, boolean) => { $oa.write_bool($v) };
    (@write $oa:ident, $v:expr, ustring) => { $oa.write_string(&$v) };
    (@write $oa:ident, $v:expr, buffer) => { $oa.write_buffer(&$v) };
    (@write $oa:ident, $v:expr, nbuffer) => { $oa.write_nullable_buffer(&$v) };
    (@write $oa:ident, $v:expr, vector) => { $oa.write_vector(&$v) };
    (@write $oa:ident, $v:expr, record) => { $crate::jute::Record::serialize(&$v, $oa) };
    (@read $ia:ident, int) => { $ia.read_int()? };
    (@read $ia:ident, long) => { $ia.read_long()? };
    (@read $ia:ident, boolean) => { $ia.read_bool()? };
    (@read $ia:ident, ustring) => { $ia.read_string()? };
    (@read $ia:ident, buffer) => { $ia.read_buffer()? };
    (@read $ia:ident, nbuffer) => { $ia.read_nullable_buffer()? };
    (@read $ia:ident, vector($t:ty)) => { $ia.read_vector::<$t>()? };
    (@read $ia:ident, record($t:ty)) => { <$t as $crate::jute::Record>::deserialize($ia)? };
}
pub(crate) use jute_record;

#[cfg(test)]
mod tests {
    use super::records::*;
    use super::*;

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
