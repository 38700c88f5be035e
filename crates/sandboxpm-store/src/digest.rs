//! The store's two digests.
//!
//! - **Tarballs** are named by SHA-512, the digest of the `sha512-…` SRI string in a packument or
//!   lockfile: that is what the registry vouches for, and what a user can compare.
//! - **Blobs** (one per distinct file content) are named by BLAKE3, also a cryptographic hash (so
//!   no one can make two contents share a blob), and about seven times faster than SHA-512 here.
//!   Every byte an install extracts is hashed once more for its blob, and with SHA-512 that was
//!   the largest single cost of a cold install (about a fifth of its CPU time).
//!
//! Digests appear on disk as lowercase hex (path-safe, case-insensitive filesystems included) and
//! a tarball's in messages as its SRI string.

use std::fmt;
use std::io::{self, Read};

use base64::Engine as _;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha512};

/// A SHA-512 digest, shown as hex on disk and as an SRI string (`sha512-<base64>`) to users.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha512Digest(pub [u8; 64]);

impl Sha512Digest {
    /// Hashes `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha512::digest(bytes).into())
    }

    /// Lowercase hex, 128 characters: the form used in store paths and indexes.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// Parses 128 hex digits (either case); `None` for anything else.
    pub fn from_hex(hex: &str) -> Option<Self> {
        from_hex(hex).map(Self)
    }

    /// The Subresource Integrity form, `sha512-<base64>`, as found in packuments and lockfiles.
    pub fn to_sri(&self) -> String {
        format!(
            "sha512-{}",
            base64::engine::general_purpose::STANDARD.encode(self.0)
        )
    }
}

impl From<[u8; 64]> for Sha512Digest {
    fn from(bytes: [u8; 64]) -> Self {
        Self(bytes)
    }
}

impl fmt::Display for Sha512Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Sha512Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha512Digest({})", self.to_hex())
    }
}

impl Serialize for Sha512Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Sha512Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::from_hex(&text)
            .ok_or_else(|| D::Error::custom("expected 128 hex digits of a sha512 digest"))
    }
}

/// The BLAKE3 digest of a file's content: the name of its blob.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobHash(pub [u8; 32]);

impl BlobHash {
    /// Hashes `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// Lowercase hex, 64 characters: the form used in store paths and indexes.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// Parses 64 hex digits (either case); `None` for anything else.
    pub fn from_hex(hex: &str) -> Option<Self> {
        from_hex(hex).map(Self)
    }
}

impl fmt::Display for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobHash({})", self.to_hex())
    }
}

impl Serialize for BlobHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for BlobHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::from_hex(&text)
            .ok_or_else(|| D::Error::custom("expected 64 hex digits of a blake3 digest"))
    }
}

/// Hashes a blob's content as it is written.
#[derive(Default)]
pub(crate) struct BlobHasher(blake3::Hasher);

impl BlobHasher {
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub(crate) fn finish(&self) -> BlobHash {
        BlobHash(*self.0.finalize().as_bytes())
    }
}

fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

/// `N` bytes from exactly `2 * N` hex digits (either case).
fn from_hex<const N: usize>(hex: &str) -> Option<[u8; N]> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let bytes = hex.as_bytes();
    if bytes.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *slot = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// Hashes everything read from `reader` as a blob, returning the digest and the number of bytes
/// read.
pub(crate) fn hash_reader(mut reader: impl Read) -> io::Result<(BlobHash, u64)> {
    let mut hasher = BlobHasher::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hasher.finish(), total))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        let d = Sha512Digest::of(b"hello");
        let hex = d.to_hex();
        assert_eq!(hex.len(), 128);
        assert!(hex.starts_with("9b71d224bd62f378"));
        assert_eq!(Sha512Digest::from_hex(&hex), Some(d));
        assert_eq!(Sha512Digest::from_hex(&hex.to_uppercase()), Some(d));
        assert_eq!(Sha512Digest::from_hex(&hex[..126]), None);
        let mut bad = hex.clone();
        bad.replace_range(0..1, "g");
        assert_eq!(Sha512Digest::from_hex(&bad), None);
    }

    #[test]
    fn blob_hashes_are_blake3_in_64_hex_digits() {
        // The BLAKE3 test vector for the empty input.
        let empty = BlobHash::of(b"");
        assert_eq!(
            empty.to_hex(),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        assert_eq!(
            BlobHash::from_hex(&empty.to_hex().to_uppercase()),
            Some(empty)
        );
        assert_eq!(BlobHash::from_hex(&Sha512Digest::of(b"").to_hex()), None);
        let mut hasher = BlobHasher::default();
        hasher.update(b"hel");
        hasher.update(b"lo");
        assert_eq!(hasher.finish(), BlobHash::of(b"hello"));
        assert_eq!(
            hash_reader(&b"hello"[..]).unwrap(),
            (BlobHash::of(b"hello"), 5)
        );
    }

    #[test]
    fn sri_matches_npm_format() {
        // `printf '' | openssl dgst -sha512 -binary | base64`
        assert_eq!(
            Sha512Digest::of(b"").to_sri(),
            "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg=="
        );
    }
}
