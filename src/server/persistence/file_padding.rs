//! Preallocation of transaction log files (Java's `FilePadding`): the file is
//! grown in `preAllocSize` steps ahead of the writer, so that appends rarely
//! change the file size and an fdatasync rarely has metadata to write. The
//! grown region reads as zeros, which the log reader takes as end of log.
//!
//! Owned by the `FileTxnLog` of the SyncRequestProcessor thread.

use std::fs::File;
use std::io;

/// How close (in bytes) the write position may come to the end of the file
/// before the file is grown again.
const PAD_SLACK: u64 = 4096;

/// Tracks the preallocated size of one log file.
#[derive(Debug)]
pub struct FilePadding {
    pre_alloc_size: u64,
    current_size: u64,
}

impl FilePadding {
    /// `current_size` is the file's size when padding starts (the header);
    /// a `pre_alloc_size` of 0 disables preallocation.
    pub fn new(pre_alloc_size: u64, current_size: u64) -> FilePadding {
        FilePadding { pre_alloc_size, current_size }
    }

    /// The size the file has been grown to (0 padding → the initial size).
    pub fn current_size(&self) -> u64 {
        self.current_size
    }

    /// Grows `file` when `position` (the logical end of what was written) is
    /// within 4 KiB of the preallocated end. Returns the resulting size.
    pub fn pad_file(&mut self, file: &File, position: u64) -> io::Result<u64> {
        let new_size = calculate_file_size_with_padding(position, self.current_size, self.pre_alloc_size);
        if new_size != self.current_size {
            // Extending with set_len leaves a hole that reads as zeros, the
            // same result as Java's one-byte write at the new end.
            file.set_len(new_size)?;
            self.current_size = new_size;
        }
        Ok(self.current_size)
    }
}

/// The file size after padding: unchanged while `position` is more than 4 KiB
/// short of `file_size`; otherwise one more `pre_alloc_size` chunk, or, when
/// the writer already ran past the end, the first chunk boundary beyond
/// `position + pre_alloc_size` rounded down to a multiple of the chunk.
pub fn calculate_file_size_with_padding(position: u64, file_size: u64, pre_alloc_size: u64) -> u64 {
    if pre_alloc_size == 0 || position.saturating_add(PAD_SLACK) < file_size {
        return file_size;
    }
    if position > file_size {
        let grown = position.saturating_add(pre_alloc_size);
        grown - grown % pre_alloc_size
    } else {
        file_size.saturating_add(pre_alloc_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_arithmetic_matches_java() {
        // Far from the end: unchanged.
        assert_eq!(calculate_file_size_with_padding(10, 10_000, 1000), 10_000);
        // Within 4 KiB of the end: one more chunk.
        assert_eq!(calculate_file_size_with_padding(16, 16, 65536), 16 + 65536);
        assert_eq!(calculate_file_size_with_padding(6000, 10_000, 1000), 11_000);
        // Past the end: next multiple above position + chunk, rounded down.
        assert_eq!(calculate_file_size_with_padding(12_345, 10_000, 1000), 13_000);
        // Disabled.
        assert_eq!(calculate_file_size_with_padding(12_345, 10_000, 0), 10_000);
    }

    #[test]
    fn pad_file_grows_with_zeros() {
        let f = tempfile::tempfile().unwrap();
        let mut p = FilePadding::new(8192, 0);
        assert_eq!(p.pad_file(&f, 0).unwrap(), 8192);
        assert_eq!(f.metadata().unwrap().len(), 8192);
        // Still more than 4 KiB away: no change.
        assert_eq!(p.pad_file(&f, 4000).unwrap(), 8192);
        assert_eq!(p.pad_file(&f, 4096).unwrap(), 16384);
        assert_eq!(f.metadata().unwrap().len(), 16384);
    }
}
