//! SHA-512 digests: the one hash the store trusts.
//!
//! The store names everything by SHA-512: tarballs (the same digest as the `sha512-…` SRI string in a
//! packument or lockfile) and blobs (one per distinct file content). Digests appear on disk as
//! lowercase hex (path-safe, case-insensitive filesystems included) and in messages as SRI strings,
//! because that is what a user can compare with their lockfile.

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
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(128);
        for byte in self.0 {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        out
    }

    /// Parses 128 hex digits (either case); `None` for anything else.
    pub fn from_hex(hex: &str) -> Option<Self> {
        fn nibble(c: u8) -> Option<u8> {
            match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                b'A'..=b'F' => Some(c - b'A' + 10),
                _ => None,
            }
        }
        let bytes = hex.as_bytes();
        if bytes.len() != 128 {
            return None;
        }
        let mut out = [0u8; 64];
        for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            *slot = (nibble(pair[0])? << 4) | nibble(pair[1])?;
        }
        Some(Self(out))
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

/// Hashes everything read from `reader`, returning the digest and the number of bytes read.
pub(crate) fn hash_reader(mut reader: impl Read) -> io::Result<(Sha512Digest, u64)> {
    let mut hasher = Sha512::new();
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
    Ok((Sha512Digest(hasher.finalize().into()), total))
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
    fn sri_matches_npm_format() {
        // `printf '' | openssl dgst -sha512 -binary | base64`
        assert_eq!(
            Sha512Digest::of(b"").to_sri(),
            "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg=="
        );
    }
}
