//! Subresource Integrity (`sha512-<base64>`) strings and a streaming verifier for tarballs.
//!
//! The registry's integrity string is the only thing that ties a tarball to what the lockfile
//! recorded; the store verifies the whole tarball against it before extracting a single entry.
//! An SRI string may list several hashes; like npm's `ssri` we verify against the strongest
//! algorithm present (a match on any hash of that algorithm passes) and ignore algorithms we do
//! not know. Very old packages only have a sha1 `shasum`, and some mirrors serve none: those
//! are not errors but a *weak* verification, reported distinctly so policy (`onWarn`) can decide.
//! The verifier always computes the tarball's sha512 too, since the store is keyed by it.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

/// A hash algorithm SRI strings use, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Algorithm {
    /// sha1: collisions are practical; only ever a weak check.
    Sha1,
    /// sha256
    Sha256,
    /// sha384
    Sha384,
    /// sha512: what the npm registry publishes.
    Sha512,
}

impl Algorithm {
    /// The SRI prefix (`sha512`).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "sha1",
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha384 => "sha384",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn digest_len(self) -> usize {
        match self {
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
            Algorithm::Sha384 => 48,
            Algorithm::Sha512 => 64,
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "sha1" => Some(Algorithm::Sha1),
            "sha256" => Some(Algorithm::Sha256),
            "sha384" => Some(Algorithm::Sha384),
            "sha512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One `algorithm-base64digest` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Hash {
    algorithm: Algorithm,
    digest: Vec<u8>,
}

impl Hash {
    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The raw digest bytes.
    pub fn digest(&self) -> &[u8] {
        &self.digest
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.algorithm, STANDARD.encode(&self.digest))
    }
}

/// An SRI string that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntegrityError {
    /// The string is not SRI, or has no hash we know.
    #[error("invalid integrity {value:?}: {reason}")]
    Invalid {
        /// The string as given.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// The content does not hash to what was expected.
    #[error("integrity mismatch: expected {expected}, got {actual}")]
    Mismatch {
        /// The expected hash(es) of the algorithm that was checked.
        expected: String,
        /// What the content hashed to.
        actual: String,
    },
}

/// A parsed SRI string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Integrity {
    hashes: Vec<Hash>,
}

impl Integrity {
    /// Parses an SRI string: whitespace-separated `alg-base64[?options]` entries. Unknown
    /// algorithms are skipped; it is an error if none is left or a known one is malformed.
    pub fn parse(value: &str) -> Result<Self, IntegrityError> {
        let invalid = |reason: String| IntegrityError::Invalid {
            value: value.to_owned(),
            reason,
        };
        let mut hashes = Vec::new();
        for entry in value.split_whitespace() {
            let Some((name, rest)) = entry.split_once('-') else {
                return Err(invalid(format!("{entry:?} is not algorithm-digest")));
            };
            let Some(algorithm) = Algorithm::from_name(name) else {
                continue;
            };
            let encoded = rest.split('?').next().unwrap_or(rest);
            let digest = STANDARD
                .decode(encoded)
                .map_err(|e| invalid(format!("{name} digest is not base64: {e}")))?;
            if digest.len() != algorithm.digest_len() {
                return Err(invalid(format!(
                    "{name} digest has {} bytes, expected {}",
                    digest.len(),
                    algorithm.digest_len()
                )));
            }
            hashes.push(Hash { algorithm, digest });
        }
        if hashes.is_empty() {
            return Err(invalid("no sha1, sha256, sha384 or sha512 hash".to_owned()));
        }
        Ok(Integrity { hashes })
    }

    /// An integrity from a hex sha1 (a packument's `dist.shasum`).
    pub fn from_sha1_hex(hex: &str) -> Result<Self, IntegrityError> {
        let invalid = |reason: &str| IntegrityError::Invalid {
            value: hex.to_owned(),
            reason: reason.to_owned(),
        };
        if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid("a sha1 shasum has 40 hex digits"));
        }
        let digest = (0..40)
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| invalid("a sha1 shasum has 40 hex digits"))?;
        Ok(Integrity {
            hashes: vec![Hash {
                algorithm: Algorithm::Sha1,
                digest,
            }],
        })
    }

    /// The integrity of content whose sha512 is `digest`.
    pub fn from_sha512(digest: [u8; 64]) -> Self {
        Integrity {
            hashes: vec![Hash {
                algorithm: Algorithm::Sha512,
                digest: digest.to_vec(),
            }],
        }
    }

    /// Every hash, in the order given.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// The strongest algorithm present.
    pub fn strongest_algorithm(&self) -> Algorithm {
        self.hashes
            .iter()
            .map(|h| h.algorithm)
            .max()
            .unwrap_or(Algorithm::Sha1)
    }

    /// The first hash of the strongest algorithm.
    pub fn strongest(&self) -> Option<&Hash> {
        let best = self.strongest_algorithm();
        self.hashes.iter().find(|h| h.algorithm == best)
    }

    /// The sha512 digest, if the string has one.
    pub fn sha512(&self) -> Option<[u8; 64]> {
        self.hashes
            .iter()
            .find(|h| h.algorithm == Algorithm::Sha512)
            .and_then(|h| h.digest.as_slice().try_into().ok())
    }

    /// Whether only sha1 is available (a weak check).
    pub fn is_weak(&self) -> bool {
        self.strongest_algorithm() == Algorithm::Sha1
    }
}

impl fmt::Display for Integrity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, hash) in self.hashes.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            hash.fmt(f)?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Integrity {
    type Err = IntegrityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Integrity::parse(s)
    }
}

impl serde::Serialize for Integrity {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Integrity {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(deserializer)?;
        Integrity::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// How strongly verified content was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strength {
    /// Checked against sha256 or stronger.
    Strong(Algorithm),
    /// Checked against sha1 only.
    WeakSha1,
    /// Nothing to check against.
    Missing,
}

/// Content that passed verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// How strong the check was.
    pub strength: Strength,
    /// The content's sha512, whatever was checked.
    pub sha512: [u8; 64],
}

impl Verified {
    /// The content's sha512 as an SRI integrity (to record in the lockfile).
    pub fn integrity(&self) -> Integrity {
        Integrity::from_sha512(self.sha512)
    }

    /// Whether the check was weak (sha1 only, or nothing to check).
    pub fn is_weak(&self) -> bool {
        !matches!(self.strength, Strength::Strong(_))
    }
}

enum Hasher {
    Sha1(Sha1),
    Sha256(Sha256),
    Sha384(Sha384),
}

/// Hashes content as it streams in, then checks it against the expected integrity.
pub struct Verifier {
    expected: Option<Integrity>,
    sha512: Sha512,
    other: Option<Hasher>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("expected", &self.expected)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier for content expected to match `expected` (`None`: nothing to check).
    pub fn new(expected: Option<&Integrity>) -> Self {
        let other = expected
            .map(Integrity::strongest_algorithm)
            .and_then(|alg| match alg {
                Algorithm::Sha1 => Some(Hasher::Sha1(Sha1::new())),
                Algorithm::Sha256 => Some(Hasher::Sha256(Sha256::new())),
                Algorithm::Sha384 => Some(Hasher::Sha384(Sha384::new())),
                Algorithm::Sha512 => None,
            });
        Verifier {
            expected: expected.cloned(),
            sha512: Sha512::new(),
            other,
        }
    }

    /// Feeds the next bytes of content.
    pub fn update(&mut self, bytes: &[u8]) {
        self.sha512.update(bytes);
        match &mut self.other {
            Some(Hasher::Sha1(h)) => h.update(bytes),
            Some(Hasher::Sha256(h)) => h.update(bytes),
            Some(Hasher::Sha384(h)) => h.update(bytes),
            None => {}
        }
    }

    /// Checks the content: an error names the expected and the actual hash.
    pub fn finish(self) -> Result<Verified, IntegrityError> {
        let sha512: [u8; 64] = self.sha512.finalize().into();
        let Some(expected) = self.expected else {
            return Ok(Verified {
                strength: Strength::Missing,
                sha512,
            });
        };
        let algorithm = expected.strongest_algorithm();
        let actual = match self.other {
            Some(Hasher::Sha1(h)) => h.finalize().to_vec(),
            Some(Hasher::Sha256(h)) => h.finalize().to_vec(),
            Some(Hasher::Sha384(h)) => h.finalize().to_vec(),
            None => sha512.to_vec(),
        };
        let candidates: Vec<&Hash> = expected
            .hashes
            .iter()
            .filter(|h| h.algorithm == algorithm)
            .collect();
        if candidates.iter().any(|h| h.digest == actual) {
            let strength = if algorithm == Algorithm::Sha1 {
                Strength::WeakSha1
            } else {
                Strength::Strong(algorithm)
            };
            return Ok(Verified { strength, sha512 });
        }
        Err(IntegrityError::Mismatch {
            expected: candidates
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" "),
            actual: Hash {
                algorithm,
                digest: actual,
            }
            .to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn sri<D: Digest>(alg: &str, data: &[u8]) -> String {
        format!("{alg}-{}", STANDARD.encode(D::digest(data)))
    }

    #[test]
    fn picks_the_strongest_and_exposes_sha512() {
        let data = b"hello";
        let text = format!(
            "{} {} unknown-abc",
            sri::<Sha1>("sha1", data),
            sri::<Sha512>("sha512", data)
        );
        let integrity = Integrity::parse(&text).unwrap();
        assert_eq!(integrity.strongest_algorithm(), Algorithm::Sha512);
        assert_eq!(
            integrity.sha512().unwrap().to_vec(),
            Sha512::digest(data).to_vec()
        );
        assert_eq!(integrity.hashes().len(), 2);
        assert!(!integrity.is_weak());
    }

    #[test]
    fn streaming_verification_passes_and_fails() {
        let data = b"tarball bytes";
        let integrity = Integrity::parse(&sri::<Sha512>("sha512", data)).unwrap();
        let mut verifier = Verifier::new(Some(&integrity));
        verifier.update(&data[..4]);
        verifier.update(&data[4..]);
        let verified = verifier.finish().unwrap();
        assert_eq!(verified.strength, Strength::Strong(Algorithm::Sha512));
        assert_eq!(verified.integrity(), integrity);

        let mut verifier = Verifier::new(Some(&integrity));
        verifier.update(b"tampered bytes");
        let err = verifier.finish().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "integrity mismatch: expected {}, got {}",
                sri::<Sha512>("sha512", data),
                sri::<Sha512>("sha512", b"tampered bytes")
            )
        );
    }

    #[test]
    fn sha1_only_and_missing_are_weak_not_errors() {
        let data = b"old package";
        let integrity = Integrity::parse(&sri::<Sha1>("sha1", data)).unwrap();
        assert!(integrity.is_weak());
        assert_eq!(integrity.sha512(), None);
        let mut verifier = Verifier::new(Some(&integrity));
        verifier.update(data);
        let verified = verifier.finish().unwrap();
        assert_eq!(verified.strength, Strength::WeakSha1);
        assert!(verified.is_weak());
        assert_eq!(verified.sha512.to_vec(), Sha512::digest(data).to_vec());

        let mut verifier = Verifier::new(None);
        verifier.update(data);
        assert_eq!(verifier.finish().unwrap().strength, Strength::Missing);

        let mut verifier = Verifier::new(Some(&integrity));
        verifier.update(b"other");
        assert!(matches!(
            verifier.finish(),
            Err(IntegrityError::Mismatch { .. })
        ));
    }

    #[test]
    fn sha256_verification() {
        let integrity = Integrity::parse(&sri::<Sha256>("sha256", b"x")).unwrap();
        let mut verifier = Verifier::new(Some(&integrity));
        verifier.update(b"x");
        assert_eq!(
            verifier.finish().unwrap().strength,
            Strength::Strong(Algorithm::Sha256)
        );
    }

    #[test]
    fn shasum_hex() {
        let hex: String = Sha1::digest(b"x")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let integrity = Integrity::from_sha1_hex(&hex).unwrap();
        assert_eq!(integrity.to_string(), sri::<Sha1>("sha1", b"x"));
        assert!(Integrity::from_sha1_hex("zz").is_err());
    }

    #[test]
    fn invalid_strings() {
        assert_eq!(
            Integrity::parse("md5-abc").unwrap_err().to_string(),
            "invalid integrity \"md5-abc\": no sha1, sha256, sha384 or sha512 hash"
        );
        assert!(Integrity::parse("sha512-not*base64").is_err());
        assert_eq!(
            Integrity::parse("sha512-AAAA").unwrap_err().to_string(),
            "invalid integrity \"sha512-AAAA\": sha512 digest has 3 bytes, expected 64"
        );
        assert!(Integrity::parse("").is_err());
    }
}
