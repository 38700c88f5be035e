//! One-call gzip decompression, for the tarballs where that is safe.
//!
//! Streaming inflate (`flate2`) is the general path: it decompresses in bounded memory and the
//! extractor's guard cuts it off the moment a limit is crossed. Decompressing into one buffer
//! with libdeflate is three to four times faster, and lets the extractor check the whole archive
//! before it writes anything. This path is only taken when the archive's own size trailer (ISIZE)
//! promises a result within every limit the guard enforces, and within what this process may
//! hold in memory at once ([`BUDGET`], shared by every extraction in progress); libdeflate then
//! refuses to write a byte past that buffer, and checks the trailer and the CRC. An archive that
//! fits the budget but not what is left of it waits, up to [`WAIT`], for the extractions holding
//! the rest to finish: streaming it would cost more than the wait (a slower inflate, and a staged
//! blob per file). Anything else (a lying trailer, an archive larger than the budget, one still
//! waiting at the deadline, corrupt data) returns `None` and goes down the streaming path, which
//! reports the precise error.

use std::ops::Deref;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::limits::ExtractLimits;

/// Decompressed archives held in memory at once, by all of this process's extractions together,
/// and the buffers kept for the next ones.
const BUDGET: u64 = 64 << 20;

/// How long an archive waits for its share of [`BUDGET`] before it is streamed instead.
const WAIT: Duration = Duration::from_secs(2);

/// How many buffers of finished archives are kept for the next ones.
const SPARE_BUFFERS: usize = 4;

/// This process's [`BUDGET`].
static MEMORY: Budget = Budget::new(BUDGET);

/// Memory for decompressed archives: the buffers in use and the spare ones, together within
/// `total` bytes.
///
/// A finished archive's buffer is kept for the next one (while there is room in the budget for
/// what needs a fresh one): a fresh buffer costs a page fault per 4 KiB written, and glibc gives
/// large ones back to the kernel when they are freed. On alotta-files that was a third of the
/// clean install's page faults.
#[derive(Debug)]
struct Budget {
    total: u64,
    state: Mutex<Buffers>,
    freed: Condvar,
}

#[derive(Debug)]
struct Buffers {
    /// Bytes of the buffers in use.
    held: u64,
    /// Finished archives' buffers, with their contents.
    spare: Vec<Vec<u8>>,
}

impl Buffers {
    fn spare_bytes(&self) -> u64 {
        self.spare.iter().map(|b| b.len() as u64).sum()
    }
}

impl Budget {
    const fn new(total: u64) -> Budget {
        Budget {
            total,
            state: Mutex::new(Buffers {
                held: 0,
                spare: Vec::new(),
            }),
            freed: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buffers> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A buffer of at least `size` bytes (its contents are an earlier archive's), counted as held,
    /// waiting up to `wait` for others to release enough; `None` if it cannot be had (never, if
    /// `size` exceeds the whole budget). Spare buffers are freed to make room before waiting.
    fn take(&self, size: u64, wait: Duration) -> Option<Vec<u8>> {
        if size > self.total {
            return None;
        }
        let deadline = Instant::now() + wait;
        let mut state = self.lock();
        loop {
            let fitting = state
                .spare
                .iter()
                .enumerate()
                .filter(|(_, b)| b.len() as u64 >= size)
                .min_by_key(|(_, b)| b.len())
                .map(|(i, _)| i);
            if let Some(i) = fitting {
                let buffer = state.spare.swap_remove(i);
                state.held += buffer.len() as u64;
                return Some(buffer);
            }
            while state.held + state.spare_bytes() + size > self.total && !state.spare.is_empty() {
                state.spare.pop();
            }
            if state.held + state.spare_bytes() + size <= self.total {
                state.held += size;
                drop(state);
                return usize::try_from(size).ok().map(|size| vec![0; size]);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            state = self
                .freed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Gives `buffer` back: kept as a spare if there is a free place, else freed.
    fn give_back(&self, buffer: Vec<u8>) {
        let mut state = self.lock();
        state.held = state.held.saturating_sub(buffer.len() as u64);
        if state.spare.len() < SPARE_BUFFERS {
            state.spare.push(buffer);
        }
        self.freed.notify_all();
    }

    /// Frees the spare buffers.
    fn free_spares(&self) {
        let spare = std::mem::take(&mut self.lock().spare);
        drop(spare);
    }

    #[cfg(all(test, target_os = "linux"))]
    fn held(&self) -> u64 {
        self.lock().held
    }
}

/// Frees the buffers kept for decompressing the next archives: call it once no more are coming.
pub fn free_spare_buffers() {
    MEMORY.free_spares();
}

/// A decompressed archive, counted in its budget until dropped.
#[derive(Debug)]
pub(crate) struct Inflated {
    /// At least `len` bytes: the archive, then what an earlier one left.
    bytes: Vec<u8>,
    len: usize,
    budget: &'static Budget,
}

impl Deref for Inflated {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl Drop for Inflated {
    fn drop(&mut self) {
        self.budget.give_back(std::mem::take(&mut self.bytes));
    }
}

/// The decompressed bytes of the gzip stream `gz`, or `None` to stream it instead.
pub(crate) fn whole(gz: &[u8], limits: &ExtractLimits) -> Option<Inflated> {
    whole_within(gz, limits, &MEMORY, WAIT)
}

/// [`whole`], within `budget`, waiting up to `wait` for it.
fn whole_within(
    gz: &[u8],
    limits: &ExtractLimits,
    budget: &'static Budget,
    wait: Duration,
) -> Option<Inflated> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let size = declared_size(gz, limits)?;
    let mut bytes = budget.take(size as u64, wait)?;
    if decompress(gz, &mut bytes[..size]) {
        Some(Inflated {
            bytes,
            len: size,
            budget,
        })
    } else {
        budget.give_back(bytes);
        None
    }
}

/// The trailer's size, when it is within the limits and this path's memory bound.
fn declared_size(gz: &[u8], limits: &ExtractLimits) -> Option<usize> {
    // A 10-byte header and an 8-byte trailer (CRC32, then ISIZE: the size modulo 2^32).
    let trailer = gz.len().checked_sub(4).filter(|_| gz.len() >= 18)?;
    let size = u64::from(u32::from_le_bytes(gz[trailer..].try_into().ok()?));
    let compressed = gz.len() as u64;
    let too_big = size == 0 || size > BUDGET || size > limits.max_stream_bytes();
    let too_dense =
        size > limits.ratio_grace_bytes && size / limits.max_compression_ratio.max(1) > compressed;
    if too_big || too_dense {
        return None;
    }
    usize::try_from(size).ok()
}

/// Fills `out` with the decompressed `gz`: false when the data would overflow it, or does not
/// fill it, or its CRC is wrong.
#[cfg(target_os = "linux")]
fn decompress(gz: &[u8], out: &mut [u8]) -> bool {
    libdeflater::Decompressor::new()
        .gzip_decompress(gz, out)
        .is_ok_and(|n| n == out.len())
}

#[cfg(not(target_os = "linux"))]
fn decompress(_gz: &[u8], _out: &mut [u8]) -> bool {
    false
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
        assert_eq!(
            whole(&gzip(&data), &ExtractLimits::default()).as_deref(),
            Some(data.as_slice())
        );
    }

    #[test]
    fn a_lying_or_oversized_trailer_is_left_to_the_streaming_path() {
        let data = vec![7u8; 50_000];
        let limits = ExtractLimits::default();
        let gz = gzip(&data);
        // Smaller than the data: libdeflate would overflow the buffer, so it refuses.
        assert!(whole(&with_isize(gz.clone(), 1000), &limits).is_none());
        // Larger than the data: the buffer is not filled (and the trailer check fails).
        assert!(whole(&with_isize(gz.clone(), 60_000), &limits).is_none());
        // Above the in-memory bound, or above a limit: never allocated.
        assert!(whole(&with_isize(gz.clone(), u32::MAX), &limits).is_none());
        let small = ExtractLimits {
            max_total_size: 10_000,
            max_entries: 1,
            ..ExtractLimits::default()
        };
        assert!(whole(&gz, &small).is_none());
        // Denser than the ratio limit allows once past the grace: streamed (and refused there).
        let dense = ExtractLimits {
            max_compression_ratio: 2,
            ratio_grace_bytes: 0,
            ..ExtractLimits::default()
        };
        assert!(whole(&gz, &dense).is_none());
        // Not gzip at all, or truncated.
        assert!(whole(b"short", &limits).is_none());
        assert!(whole(&gz[..gz.len() - 9], &limits).is_none());
    }

    /// [`whole_within`] with the default limits.
    #[cfg(target_os = "linux")]
    fn inflate(gz: &[u8], budget: &'static Budget, wait: Duration) -> Option<Inflated> {
        whole_within(gz, &ExtractLimits::default(), budget, wait)
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn archives_held_at_once_stay_within_the_budget() {
        static BUDGET: Budget = Budget::new(70_000);
        let gz = gzip(&vec![1u8; 30_000]);
        let now = Duration::ZERO;
        let first = inflate(&gz, &BUDGET, now).unwrap();
        let second = inflate(&gz, &BUDGET, now).unwrap();
        assert_eq!(BUDGET.held(), 60_000);
        // A third does not fit in what is left, and cannot wait: streamed.
        assert!(inflate(&gz, &BUDGET, now).is_none());
        drop(first);
        let third = inflate(&gz, &BUDGET, now).unwrap();
        assert_eq!(&*third, vec![1u8; 30_000].as_slice());
        // A failure gives back what it reserved.
        assert!(inflate(&with_isize(gz.clone(), 1000), &BUDGET, now).is_none());
        drop((second, third));
        assert_eq!(BUDGET.held(), 0);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn finished_archives_buffers_serve_the_next_ones_within_the_budget() {
        static BUDGET: Budget = Budget::new(100_000);
        let now = Duration::ZERO;
        let ones = gzip(&vec![1u8; 30_000]);
        let held: Vec<Inflated> = (0..3)
            .map(|_| inflate(&ones, &BUDGET, now).unwrap())
            .collect();
        drop(held);
        assert_eq!(BUDGET.held(), 0);
        assert_eq!(BUDGET.lock().spare_bytes(), 90_000);
        // A smaller archive gets a spare buffer, still holding the last contents past its end,
        // and reads as itself alone.
        let twos = inflate(&gzip(&vec![2u8; 20_000]), &BUDGET, now).unwrap();
        assert_eq!(&*twos, vec![2u8; 20_000].as_slice());
        assert_eq!(twos.bytes.len(), 30_000, "a spare, not a fresh buffer");
        assert_eq!(BUDGET.held(), 30_000);
        drop(twos);
        // A larger one fits only once spares are freed: what is held and kept stays within the
        // budget.
        let big = inflate(&gzip(&vec![3u8; 60_000]), &BUDGET, now).unwrap();
        assert_eq!(&*big, vec![3u8; 60_000].as_slice());
        assert!(BUDGET.held() + BUDGET.lock().spare_bytes() <= 100_000);
        assert_eq!(BUDGET.lock().spare.len(), 1);
        drop(big);
        BUDGET.free_spares();
        assert_eq!(BUDGET.lock().spare_bytes(), 0);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn an_archive_waits_for_its_share_of_the_budget_then_is_streamed() {
        static BUDGET: Budget = Budget::new(50_000);
        let gz = gzip(&vec![2u8; 30_000]);
        let first = inflate(&gz, &BUDGET, Duration::ZERO).unwrap();
        // Released while the second waits: the second gets it.
        let waiting = std::thread::spawn({
            let gz = gz.clone();
            move || {
                let second = inflate(&gz, &BUDGET, Duration::from_secs(30));
                second.map(|s| s.len())
            }
        });
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(BUDGET.held(), 30_000, "the second is waiting, not holding");
        drop(first);
        assert_eq!(waiting.join().unwrap(), Some(30_000));
        assert_eq!(BUDGET.held(), 0);
        // Never released within the wait: streamed, holding nothing.
        let held = inflate(&gz, &BUDGET, Duration::ZERO).unwrap();
        let started = Instant::now();
        assert!(inflate(&gz, &BUDGET, Duration::from_millis(100)).is_none());
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert_eq!(BUDGET.held(), 30_000);
        drop(held);
        // Larger than the whole budget: streamed at once, without waiting.
        let big = gzip(&vec![3u8; 60_000]);
        let started = Instant::now();
        assert!(inflate(&big, &BUDGET, Duration::from_secs(30)).is_none());
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
