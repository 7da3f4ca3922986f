//! SnapStream: how a snapshot file's bytes are stored. Java 3.8 writes
//! them as they are (`snapshot.<zxid>`), through gzip (`snapshot.<zxid>.gz`)
//! or through snappy-java's SnappyOutputStream (`snapshot.<zxid>.snappy`),
//! as zookeeper.snapshot.compression.method says; a reader goes by the file
//! name's last extension. The Adler-32 seals are computed over the
//! uncompressed bytes and stored inside the compressed stream.
//!
//! snappy-java's stream is not the snappy framing format: a 16-byte header
//! (the magic `0x82 "SNAPPY" 0x00`, then the big-endian ints version 1 and
//! compatible version 1), then blocks, each a big-endian int length and
//! that many bytes of raw snappy holding at most 32 KiB of input. A reader
//! takes another header where a block length would be (streams written one
//! after another), and stops at a length cut short.
//!
//! Reading never trusts a length with memory: a block is read only as far
//! as the file has bytes, and its announced uncompressed size must be one
//! raw snappy could have produced from it.

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

/// SnapStream.StreamMode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StreamMode {
    /// Uncompressed (Java's CHECKED, the default).
    #[default]
    Checked,
    Gzip,
    Snappy,
}

impl StreamMode {
    /// The property's value for this mode: "", "gz" or "snappy".
    pub fn name(self) -> &'static str {
        match self {
            StreamMode::Checked => "",
            StreamMode::Gzip => "gz",
            StreamMode::Snappy => "snappy",
        }
    }

    /// A property value, compared case-insensitively as Java does. None for
    /// anything else (Java falls back to uncompressed there; zkserver
    /// refuses the value).
    pub fn from_name(name: &str) -> Option<StreamMode> {
        [StreamMode::Checked, StreamMode::Gzip, StreamMode::Snappy]
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(name))
    }

    /// What follows `snapshot.<zxid>` in a file name: "", ".gz", ".snappy".
    pub fn file_extension(self) -> &'static str {
        match self {
            StreamMode::Checked => "",
            StreamMode::Gzip => ".gz",
            StreamMode::Snappy => ".snappy",
        }
    }

    /// SnapStream.getStreamMode(fileName): the last dot-separated part of
    /// the name, if it names a method; uncompressed otherwise.
    pub fn of_file_name(name: &str) -> StreamMode {
        match name.rsplit_once('.') {
            Some((_, ext)) => StreamMode::from_name(ext).unwrap_or(StreamMode::Checked),
            None => StreamMode::Checked,
        }
    }
}

/// snappy-java's SnappyCodec magic header.
const SNAPPY_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const SNAPPY_HEADER_LEN: usize = 16;
/// SnappyCodec.DEFAULT_VERSION and MINIMUM_COMPATIBLE_VERSION.
const SNAPPY_VERSION: i32 = 1;
/// SnappyOutputStream's default block size.
const SNAPPY_BLOCK: usize = 32 * 1024;
/// The GZIP magic, as GZIPInputStream.GZIP_MAGIC is stored.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Fills `buf` as far as the stream goes; the number of bytes read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn invalid(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.into())
}

/// A header is snappy-java's when its magic matches; its version must be
/// one snappy-java 1.x reads.
fn check_snappy_header(h: &[u8; SNAPPY_HEADER_LEN]) -> io::Result<bool> {
    if h[..8] != SNAPPY_MAGIC {
        return Ok(false);
    }
    let version = i32::from_be_bytes([h[8], h[9], h[10], h[11]]);
    if version < SNAPPY_VERSION {
        return Err(invalid(format!(
            "compressed with incompatible codec version {version}. At least version {SNAPPY_VERSION} is required"
        )));
    }
    Ok(true)
}

/// SnappyInputStream over a stream SnappyOutputStream wrote.
pub struct SnappyJavaReader<R: Read> {
    inner: R,
    block: Vec<u8>,
    pos: usize,
    compressed: Vec<u8>,
    done: bool,
    decoder: snap::raw::Decoder,
}

impl<R: Read> SnappyJavaReader<R> {
    /// Reads and checks the header.
    pub fn new(mut inner: R) -> io::Result<Self> {
        let mut h = [0u8; SNAPPY_HEADER_LEN];
        let n = read_up_to(&mut inner, &mut h)?;
        if n < SNAPPY_HEADER_LEN || !check_snappy_header(&h)? {
            return Err(invalid("not a snappy-java stream (no SNAPPY header)"));
        }
        Ok(SnappyJavaReader {
            inner,
            block: Vec::new(),
            pos: 0,
            compressed: Vec::new(),
            done: false,
            decoder: snap::raw::Decoder::new(),
        })
    }

    /// Reads the next block into `self.block`; false at the end.
    fn next_block(&mut self) -> io::Result<bool> {
        loop {
            if self.done {
                return Ok(false);
            }
            let mut len = [0u8; 4];
            if read_up_to(&mut self.inner, &mut len)? < 4 {
                self.done = true;
                return Ok(false);
            }
            if len == [SNAPPY_MAGIC[0], SNAPPY_MAGIC[1], SNAPPY_MAGIC[2], SNAPPY_MAGIC[3]] {
                // Another stream's header follows the last one's blocks.
                let mut h = [0u8; SNAPPY_HEADER_LEN];
                h[..4].copy_from_slice(&len);
                if read_up_to(&mut self.inner, &mut h[4..])? < SNAPPY_HEADER_LEN - 4 {
                    return Err(invalid("Insufficient header size in a concatenated block"));
                }
                if !check_snappy_header(&h)? {
                    self.done = true;
                    return Ok(false);
                }
                continue;
            }
            let len = i32::from_be_bytes(len);
            let len = usize::try_from(len).map_err(|_| invalid(format!("negative snappy block length {len}")))?;
            self.compressed.clear();
            (&mut self.inner).take(len as u64).read_to_end(&mut self.compressed)?;
            if self.compressed.len() < len {
                return Err(invalid("failed to read chunk"));
            }
            let size = snap::raw::decompress_len(&self.compressed)
                .map_err(|e| invalid(format!("failed to uncompress the chunk: {e}")))?;
            // A snappy copy of at most 64 bytes takes at least 2 bytes.
            if size > self.compressed.len().saturating_mul(32) + 64 {
                return Err(invalid(format!("snappy block of {len} bytes claims {size} uncompressed")));
            }
            self.block.resize(size, 0);
            let n = self
                .decoder
                .decompress(&self.compressed, &mut self.block)
                .map_err(|e| invalid(format!("failed to uncompress the chunk: {e}")))?;
            if n != size {
                return Err(invalid("invalid uncompressed byte size"));
            }
            self.pos = 0;
            return Ok(true);
        }
    }
}

impl<R: Read> Read for SnappyJavaReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        while self.pos >= self.block.len() {
            if !self.next_block()? {
                return Ok(0);
            }
        }
        let n = out.len().min(self.block.len() - self.pos);
        out[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// SnappyOutputStream: the header, then a block for every 32 KiB written
/// and one for what is left at a flush or at the end.
pub struct SnappyJavaWriter<W: Write> {
    inner: W,
    pending: Vec<u8>,
    header_written: bool,
    encoder: snap::raw::Encoder,
}

impl<W: Write> SnappyJavaWriter<W> {
    pub fn new(inner: W) -> Self {
        SnappyJavaWriter {
            inner,
            pending: Vec::with_capacity(SNAPPY_BLOCK),
            header_written: false,
            encoder: snap::raw::Encoder::new(),
        }
    }

    fn write_header(&mut self) -> io::Result<()> {
        if !self.header_written {
            let mut h = [0u8; SNAPPY_HEADER_LEN];
            h[..8].copy_from_slice(&SNAPPY_MAGIC);
            h[8..12].copy_from_slice(&SNAPPY_VERSION.to_be_bytes());
            h[12..].copy_from_slice(&SNAPPY_VERSION.to_be_bytes());
            self.inner.write_all(&h)?;
            self.header_written = true;
        }
        Ok(())
    }

    fn emit(&mut self) -> io::Result<()> {
        self.write_header()?;
        if self.pending.is_empty() {
            return Ok(());
        }
        let block = self.encoder.compress_vec(&self.pending).map_err(io::Error::other)?;
        let len = i32::try_from(block.len()).map_err(|_| io::Error::other("snappy block too large"))?;
        self.inner.write_all(&len.to_be_bytes())?;
        self.inner.write_all(&block)?;
        self.pending.clear();
        Ok(())
    }

    /// Writes what is pending and gives the stream back.
    pub fn finish(mut self) -> io::Result<W> {
        self.emit()?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for SnappyJavaWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(SNAPPY_BLOCK - self.pending.len());
        self.pending.extend_from_slice(&buf[..n]);
        if self.pending.len() == SNAPPY_BLOCK {
            self.emit()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.emit()?;
        self.inner.flush()
    }
}

/// SnapStream.getOutputStream: what a snapshot's bytes go through.
pub enum SnapOutput<W: Write> {
    Checked(W),
    Gzip(GzEncoder<W>),
    Snappy(SnappyJavaWriter<W>),
}

impl<W: Write> SnapOutput<W> {
    pub fn new(inner: W, mode: StreamMode) -> Self {
        match mode {
            StreamMode::Checked => SnapOutput::Checked(inner),
            // GZIPOutputStream's default level.
            StreamMode::Gzip => SnapOutput::Gzip(GzEncoder::new(inner, flate2::Compression::new(6))),
            StreamMode::Snappy => SnapOutput::Snappy(SnappyJavaWriter::new(inner)),
        }
    }

    /// Ends the compressed stream (the gzip trailer, snappy's last block)
    /// and gives the file back.
    pub fn finish(self) -> io::Result<W> {
        match self {
            SnapOutput::Checked(w) => Ok(w),
            SnapOutput::Gzip(g) => g.finish(),
            SnapOutput::Snappy(s) => s.finish(),
        }
    }
}

impl<W: Write> Write for SnapOutput<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            SnapOutput::Checked(w) => w.write(buf),
            SnapOutput::Gzip(w) => w.write(buf),
            SnapOutput::Snappy(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            SnapOutput::Checked(w) => w.flush(),
            SnapOutput::Gzip(w) => w.flush(),
            SnapOutput::Snappy(w) => w.flush(),
        }
    }
}

/// SnapStream.getInputStream for a compressed snapshot: the uncompressed
/// bytes. (An uncompressed one is read straight from the file.)
pub fn compressed_input(file: File, mode: StreamMode) -> io::Result<Box<dyn Read>> {
    let buffered = io::BufReader::with_capacity(64 * 1024, file);
    Ok(match mode {
        StreamMode::Checked => Box::new(buffered),
        // GZIPInputStream reads members written one after another as one.
        StreamMode::Gzip => Box::new(MultiGzDecoder::new(buffered)),
        StreamMode::Snappy => Box::new(SnappyJavaReader::new(buffered)?),
    })
}

/// A whole snapshot file's uncompressed bytes, read the way its name
/// says (for tools; the server streams snapshots instead).
pub fn read_uncompressed(path: &Path) -> io::Result<Vec<u8>> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let mut out = Vec::new();
    compressed_input(File::open(path)?, StreamMode::of_file_name(name))?.read_to_end(&mut out)?;
    Ok(out)
}

/// SnapStream.isValidSnapshot for a compressed snapshot: its format's
/// magic at the start (the seals inside are checked as it is read).
pub fn compressed_looks_valid(path: &Path, mode: StreamMode) -> bool {
    let magic: &[u8] = match mode {
        StreamMode::Checked => return false,
        StreamMode::Gzip => &GZIP_MAGIC,
        StreamMode::Snappy => &SNAPPY_MAGIC,
    };
    let mut head = [0u8; 8];
    let Ok(mut f) = File::open(path) else { return false };
    matches!(read_up_to(&mut f, &mut head[..magic.len()]), Ok(n) if n == magic.len()) && &head[..magic.len()] == magic
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8 ^ (i / 1000) as u8).collect()
    }

    fn snappy_bytes(data: &[u8]) -> Vec<u8> {
        let mut w = SnappyJavaWriter::new(Vec::new());
        w.write_all(data).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn modes_by_name_and_file_name() {
        assert_eq!(StreamMode::from_name("GZ"), Some(StreamMode::Gzip));
        assert_eq!(StreamMode::from_name("Snappy"), Some(StreamMode::Snappy));
        assert_eq!(StreamMode::from_name(""), Some(StreamMode::Checked));
        assert_eq!(StreamMode::from_name("zip"), None);
        assert_eq!(StreamMode::of_file_name("snapshot.1a.gz"), StreamMode::Gzip);
        assert_eq!(StreamMode::of_file_name("snapshot.1a.snappy"), StreamMode::Snappy);
        assert_eq!(StreamMode::of_file_name("snapshot.1a"), StreamMode::Checked);
        assert_eq!(StreamMode::of_file_name("snapshot.1a.zip"), StreamMode::Checked);
    }

    #[test]
    fn snappy_java_framing() {
        let data = sample(100_000);
        let bytes = snappy_bytes(&data);
        assert_eq!(bytes[..16], [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1]);
        // Four blocks: 3 × 32 KiB and the rest.
        let mut at = 16;
        let mut blocks = 0;
        while at < bytes.len() {
            let len = i32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            at += 4 + len;
            blocks += 1;
        }
        assert_eq!((at, blocks), (bytes.len(), 4));
        let mut back = Vec::new();
        SnappyJavaReader::new(&bytes[..]).unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn snappy_java_concatenated_and_cut_streams() {
        let (a, b) = (sample(5000), sample(7000));
        let mut bytes = snappy_bytes(&a);
        bytes.extend(snappy_bytes(&b));
        let mut back = Vec::new();
        SnappyJavaReader::new(&bytes[..]).unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, [a.clone(), b].concat());
        // A length cut short ends the stream, as in snappy-java.
        let mut cut = snappy_bytes(&a);
        cut.extend([0, 0]);
        let mut back = Vec::new();
        SnappyJavaReader::new(&cut[..]).unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn corrupt_snappy_is_an_error_not_a_panic_or_a_huge_allocation() {
        let good = snappy_bytes(&sample(40_000));
        assert!(SnappyJavaReader::new(&good[..10]).is_err());
        let mut bad_version = good.clone();
        bad_version[11] = 0;
        assert!(SnappyJavaReader::new(&bad_version[..]).is_err());
        let read = |b: &[u8]| -> io::Result<Vec<u8>> {
            let mut v = Vec::new();
            SnappyJavaReader::new(b)?.read_to_end(&mut v)?;
            Ok(v)
        };
        // A huge block length with nothing behind it.
        let mut huge = good[..16].to_vec();
        huge.extend(0x7fff_fff0i32.to_be_bytes());
        assert!(read(&huge).is_err());
        // A block announcing a huge uncompressed size.
        let mut claim = good[..16].to_vec();
        claim.extend(5i32.to_be_bytes());
        claim.extend([0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(read(&claim).is_err());
        let mut negative = good[..16].to_vec();
        negative.extend((-5i32).to_be_bytes());
        assert!(read(&negative).is_err());
        for i in (16..good.len()).step_by(97) {
            let mut flipped = good.clone();
            flipped[i] ^= 0x5a;
            let _ = read(&flipped);
        }
    }

    #[test]
    fn gzip_round_trip_through_snap_output() {
        let data = sample(70_000);
        let mut out = SnapOutput::new(Vec::new(), StreamMode::Gzip);
        out.write_all(&data).unwrap();
        let bytes = out.finish().unwrap();
        assert_eq!(bytes[..2], GZIP_MAGIC);
        let mut back = Vec::new();
        MultiGzDecoder::new(&bytes[..]).read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
    }
}
