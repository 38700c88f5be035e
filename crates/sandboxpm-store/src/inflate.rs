//! One-call gzip decompression, for the tarballs where that is safe.
//!
//! Streaming inflate (`flate2`) is the general path: it decompresses in bounded memory and the
//! extractor's guard cuts it off the moment a limit is crossed. Most npm tarballs are small, and
//! decompressing those into one buffer with libdeflate is three to four times faster. This path is
//! only taken when the archive's own size trailer (ISIZE) promises a result within every limit the
//! guard enforces; libdeflate then refuses to write a byte past that buffer, and checks the trailer
//! and the CRC. Anything else (a lying trailer, a larger archive, corrupt data) returns `None` and
//! goes down the streaming path, which reports the precise error.

use crate::limits::ExtractLimits;

/// Archives that declare more than this are streamed, so that memory per extraction stays bounded.
const MAX_WHOLE: u64 = 32 << 20;

/// The decompressed bytes of the gzip stream `gz`, or `None` to stream it instead.
pub(crate) fn whole(gz: &[u8], limits: &ExtractLimits) -> Option<Vec<u8>> {
    let size = declared_size(gz, limits)?;
    decompress(gz, size)
}

/// The trailer's size, when it is within the limits and this path's memory bound.
fn declared_size(gz: &[u8], limits: &ExtractLimits) -> Option<usize> {
    // A 10-byte header and an 8-byte trailer (CRC32, then ISIZE: the size modulo 2^32).
    let trailer = gz.len().checked_sub(4).filter(|_| gz.len() >= 18)?;
    let size = u64::from(u32::from_le_bytes(gz[trailer..].try_into().ok()?));
    let compressed = gz.len() as u64;
    let too_big = size == 0 || size > MAX_WHOLE || size > limits.max_stream_bytes();
    let too_dense =
        size > limits.ratio_grace_bytes && size / limits.max_compression_ratio.max(1) > compressed;
    if too_big || too_dense {
        return None;
    }
    usize::try_from(size).ok()
}

#[cfg(target_os = "linux")]
fn decompress(gz: &[u8], size: usize) -> Option<Vec<u8>> {
    let mut out = vec![0u8; size];
    // Fails (and the caller streams) when the data would overflow `out`, or does not fill it, or
    // its CRC is wrong.
    let n = libdeflater::Decompressor::new()
        .gzip_decompress(gz, &mut out)
        .ok()?;
    (n == size).then_some(out)
}

#[cfg(not(target_os = "linux"))]
fn decompress(_gz: &[u8], _size: usize) -> Option<Vec<u8>> {
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::io::Write as _;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn with_isize(mut gz: Vec<u8>, size: u32) -> Vec<u8> {
        let at = gz.len() - 4;
        gz[at..].copy_from_slice(&size.to_le_bytes());
        gz
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn an_honest_archive_is_decompressed_whole() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        assert_eq!(whole(&gzip(&data), &ExtractLimits::default()), Some(data));
    }

    #[test]
    fn a_lying_or_oversized_trailer_is_left_to_the_streaming_path() {
        let data = vec![7u8; 50_000];
        let limits = ExtractLimits::default();
        let gz = gzip(&data);
        // Smaller than the data: libdeflate would overflow the buffer, so it refuses.
        assert_eq!(whole(&with_isize(gz.clone(), 1000), &limits), None);
        // Larger than the data: the buffer is not filled (and the trailer check fails).
        assert_eq!(whole(&with_isize(gz.clone(), 60_000), &limits), None);
        // Above the in-memory bound, or above a limit: never allocated.
        assert_eq!(whole(&with_isize(gz.clone(), u32::MAX), &limits), None);
        let small = ExtractLimits {
            max_total_size: 10_000,
            max_entries: 1,
            ..ExtractLimits::default()
        };
        assert_eq!(whole(&gz, &small), None);
        // Denser than the ratio limit allows once past the grace: streamed (and refused there).
        let dense = ExtractLimits {
            max_compression_ratio: 2,
            ratio_grace_bytes: 0,
            ..ExtractLimits::default()
        };
        assert_eq!(whole(&gz, &dense), None);
        // Not gzip at all, or truncated.
        assert_eq!(whole(b"short", &limits), None);
        assert_eq!(whole(&gz[..gz.len() - 9], &limits), None);
    }
}
