//! Extraction limits: what a tarball may cost us before we give up on it.
//!
//! A tarball is attacker-controlled input. SHA-512 only proves it is the tarball the registry
//! published, not that it is harmless, so extraction is bounded in every dimension an archive can
//! blow up: bytes written, number of entries, size of one file, and how much output a few compressed
//! bytes may produce (a gzip bomb reaches ~1000:1). Defaults are far above any real npm package.

use std::fmt;

/// Bounds applied while extracting one tarball. Exceeding any of them fails the whole tarball
/// with [`crate::StoreError::LimitExceeded`] and leaves nothing in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractLimits {
    /// Maximum sum of the sizes of the files kept, in bytes (default 1 GiB). The decompressed tar
    /// stream as a whole (headers and skipped entries included) is bounded by this plus 2 KiB per
    /// allowed entry.
    pub max_total_size: u64,
    /// Maximum number of archive members, whatever their type (default 200,000).
    pub max_entries: u64,
    /// Maximum size of a single file, in bytes (default 512 MiB).
    pub max_file_size: u64,
    /// Maximum ratio of decompressed to compressed bytes (default 200).
    pub max_compression_ratio: u64,
    /// The ratio guard only applies once this many bytes have been decompressed (default 16 MiB), so
    /// that small, very regular packages are not refused.
    pub ratio_grace_bytes: u64,
}

impl Default for ExtractLimits {
    fn default() -> Self {
        Self {
            max_total_size: 1 << 30,
            max_entries: 200_000,
            max_file_size: 512 << 20,
            max_compression_ratio: 200,
            ratio_grace_bytes: 16 << 20,
        }
    }
}

impl ExtractLimits {
    /// The bound on the raw decompressed stream: content plus room for headers, extension headers
    /// and padding of every allowed entry.
    pub(crate) fn max_stream_bytes(&self) -> u64 {
        self.max_total_size
            .saturating_add(self.max_entries.saturating_mul(2048))
    }
}

/// Which limit an archive exceeded; named in the error so a user knows which knob to turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// [`ExtractLimits::max_total_size`].
    TotalSize,
    /// [`ExtractLimits::max_entries`].
    Entries,
    /// [`ExtractLimits::max_file_size`].
    FileSize,
    /// [`ExtractLimits::max_compression_ratio`].
    CompressionRatio,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::TotalSize => "max_total_size",
            Limit::Entries => "max_entries",
            Limit::FileSize => "max_file_size",
            Limit::CompressionRatio => "max_compression_ratio",
        })
    }
}
