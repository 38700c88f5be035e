//! Reading a packument with one structural pass over the registry's document.
//!
//! Deserializing every version into a [`VersionManifest`] and encoding it again (what
//! `Packument`'s `Deserialize` does) cost most of a cold install's parsing: a package like
//! `typescript` has thousands of versions, and a resolution looks at one or two. This scanner
//! walks the document's structure instead, skips what no install uses (`time`, `readme`, each
//! version's `dist.signatures`, …) without decoding it, and copies the JSON text of the fields
//! that [`VersionManifest`] reads, as they are, into the packed buffer. The text is decoded
//! only when a version is picked ([`PackedManifest::manifest`]), by the same lenient
//! deserializers as before, so both readers give the same manifests (a test compares them).
//!
//! The two differences are deliberate: a version whose kept fields do not decode (a repeated
//! field, a `dist` that is not an object) fails when it is picked rather than failing the whole
//! packument, and the JSON of skipped values is checked only for its structure.
//!
//! The document must be UTF-8 (checked first, in one pass), so any byte range that starts and
//! ends at a token boundary is valid text.

use std::collections::BTreeMap;
use std::ops::Range;

use bytes::Bytes;
use serde::de::Error as _;

use crate::packument::{PackedManifest, Packument, lenient};

/// The fields of a version that [`VersionManifest`] reads, by their JSON names.
///
/// [`VersionManifest`]: crate::VersionManifest
const KEPT: [&str; 18] = [
    "name",
    "version",
    "dependencies",
    "optionalDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "bundleDependencies",
    "bundledDependencies",
    "bin",
    "os",
    "cpu",
    "libc",
    "engines",
    "deprecated",
    "hasInstallScript",
    "scripts",
    "gypfile",
    "dist",
];

/// The fields of `dist` that [`crate::Dist`] reads.
const KEPT_DIST: [&str; 3] = ["tarball", "integrity", "shasum"];

/// The scripts an install runs (the others are dropped, as the deserializer would).
const KEPT_SCRIPTS: [&str; 3] = ["preinstall", "install", "postinstall"];

/// Nesting deeper than this is refused (serde_json's limit is 128).
const MAX_DEPTH: usize = 128;

type Result<T> = std::result::Result<T, serde_json::Error>;

fn invalid(what: &str) -> serde_json::Error {
    serde_json::Error::custom(what)
}

/// Reads `body`, the registry's packument document (abbreviated or full).
///
/// # Errors
///
/// Text that is not UTF-8 or not JSON, a document that is not an object, or one without a
/// string `name` or an object of `versions` (an error page, not a packument).
pub(crate) fn packument(body: &[u8]) -> Result<Packument> {
    let text = std::str::from_utf8(body).map_err(|_| invalid("the document is not UTF-8"))?;
    let mut scan = Scanner { text, at: 0 };
    let mut name = None;
    let mut dist_tags = None;
    let mut versions = None;
    let mut modified = None;
    scan.object(|scan, key| match key {
        "name" => {
            let raw = scan.value()?;
            once(&mut name, "name", decode::<String>(&body[raw])?)
        }
        "dist-tags" => {
            let raw = scan.value()?;
            let tags = lenient::string_map(&mut deserializer(&body[raw]))?;
            once(&mut dist_tags, "dist-tags", tags)
        }
        "modified" => {
            let raw = scan.value()?;
            once(
                &mut modified,
                "modified",
                lenient::string(&mut deserializer(&body[raw]))?,
            )
        }
        "versions" => {
            let read = read_versions(scan)?;
            once(&mut versions, "versions", read)
        }
        _ => scan.value().map(drop),
    })?;
    scan.whitespace();
    if scan.at != body.len() {
        return Err(invalid("trailing characters after the document"));
    }
    Ok(Packument {
        name: name.ok_or_else(|| serde_json::Error::missing_field("name"))?,
        dist_tags: dist_tags.unwrap_or_default(),
        versions: versions.ok_or_else(|| serde_json::Error::missing_field("versions"))?,
        modified: modified.flatten(),
    })
}

/// Sets a field seen for the first time; a repeated field is an error, as with serde.
fn once<T>(slot: &mut Option<T>, field: &'static str, value: T) -> Result<()> {
    if slot.is_some() {
        return Err(serde_json::Error::duplicate_field(field));
    }
    *slot = Some(value);
    Ok(())
}

fn deserializer(raw: &[u8]) -> serde_json::Deserializer<serde_json::de::SliceRead<'_>> {
    serde_json::Deserializer::from_slice(raw)
}

fn decode<T: serde::de::DeserializeOwned>(raw: &[u8]) -> Result<T> {
    serde_json::from_slice(raw)
}

/// One version while its packument is read: deprecated, and where its `engines.node` and its
/// JSON are in the shared buffer.
type Spans = (bool, Option<Range<usize>>, Range<usize>);

/// The `versions` object: each version's kept fields packed into one shared buffer (a repeated
/// version: the last one wins).
fn read_versions(scan: &mut Scanner<'_>) -> Result<BTreeMap<String, PackedManifest>> {
    let body = scan.data();
    let mut buffer = Vec::new();
    let mut spans: BTreeMap<String, Spans> = BTreeMap::new();
    scan.object(|scan, version| {
        scan.whitespace();
        if scan.peek() != Some(b'{') {
            return Err(invalid(&format!("version `{version}` is not an object")));
        }
        let start = buffer.len();
        let mut deprecated = false;
        let mut node = None;
        buffer.push(b'{');
        let mut first = true;
        scan.object_with_raw_keys(|scan, key, raw_key| {
            if !KEPT.contains(&key) {
                return scan.value().map(drop);
            }
            if !first {
                buffer.push(b',');
            }
            first = false;
            buffer.extend_from_slice(&body[raw_key]);
            buffer.push(b':');
            match key {
                "dist" => copy_fields(scan, &mut buffer, &KEPT_DIST),
                "scripts" => copy_fields(scan, &mut buffer, &KEPT_SCRIPTS),
                _ => {
                    let raw = scan.value()?;
                    let text = &body[raw];
                    match key {
                        // `lenient::string`: any string, or `true`, means deprecated.
                        "deprecated" => deprecated = text[0] == b'"' || text == b"true",
                        "engines" => {
                            node = lenient::string_map(&mut deserializer(text))?.remove("node");
                        }
                        _ => {}
                    }
                    buffer.extend_from_slice(text);
                    Ok(())
                }
            }
        })?;
        buffer.push(b'}');
        let json = start..buffer.len();
        let node_engine = node.map(|node| {
            let at = buffer.len();
            buffer.extend_from_slice(node.as_bytes());
            at..buffer.len()
        });
        spans.insert(version.to_owned(), (deprecated, node_engine, json));
        Ok(())
    })?;
    buffer.shrink_to_fit();
    let buffer = Bytes::from(buffer);
    Ok(spans
        .into_iter()
        .map(|(version, (deprecated, node_engine, json))| {
            let packed = PackedManifest::from_parts(
                deprecated,
                node_engine.map(|range| buffer.slice(range)),
                buffer.slice(json),
            );
            (version, packed)
        })
        .collect())
}

/// Copies an object's `kept` fields (the last of a repeated one wins, as the lenient
/// deserializers read them); a value that is not an object is copied whole, for the
/// deserializer to judge when the version is picked.
fn copy_fields(scan: &mut Scanner<'_>, buffer: &mut Vec<u8>, kept: &[&str]) -> Result<()> {
    let body = scan.data();
    scan.whitespace();
    if scan.peek() != Some(b'{') {
        let raw = scan.value()?;
        buffer.extend_from_slice(&body[raw]);
        return Ok(());
    }
    buffer.push(b'{');
    let mut first = true;
    scan.object_with_raw_keys(|scan, key, raw_key| {
        let raw = scan.value()?;
        if kept.contains(&key) {
            if !first {
                buffer.push(b',');
            }
            first = false;
            buffer.extend_from_slice(&body[raw_key]);
            buffer.push(b':');
            buffer.extend_from_slice(&body[raw]);
        }
        Ok(())
    })?;
    buffer.push(b'}');
    Ok(())
}

/// A cursor over a UTF-8 JSON document.
struct Scanner<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scanner<'a> {
    /// The document's bytes.
    fn data(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.data().get(self.at).copied()
    }

    fn whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<()> {
        self.whitespace();
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(invalid(&format!(
                "expected `{}` at byte {}",
                byte as char, self.at
            )))
        }
    }

    /// An object, calling `field` with each key (decoded); `field` must consume the value.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &str) -> Result<()>) -> Result<()> {
        self.object_with_raw_keys(|scan, key, _| field(scan, key))
    }

    /// An object, calling `field` with each key, decoded and as written (with its quotes).
    fn object_with_raw_keys(
        &mut self,
        mut field: impl FnMut(&mut Self, &str, Range<usize>) -> Result<()>,
    ) -> Result<()> {
        self.expect(b'{')?;
        self.whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.whitespace();
            if self.peek() != Some(b'"') {
                return Err(invalid(&format!("expected a key at byte {}", self.at)));
            }
            let raw = self.string()?;
            let inner = raw.start + 1..raw.end - 1;
            let decoded;
            let key = if self.data()[inner.clone()].contains(&b'\\') {
                decoded = decode::<String>(&self.data()[raw.clone()])?;
                decoded.as_str()
            } else {
                // Quotes are ASCII, so the range falls on character boundaries.
                self.text
                    .get(inner)
                    .ok_or_else(|| invalid("a key is not UTF-8"))?
            };
            self.expect(b':')?;
            field(self, key, raw)?;
            self.whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(());
                }
                _ => {
                    return Err(invalid(&format!(
                        "expected `,` or `}}` at byte {}",
                        self.at
                    )));
                }
            }
        }
    }

    /// A string starting at the cursor; its range includes the quotes.
    fn string(&mut self) -> Result<Range<usize>> {
        let start = self.at;
        let mut at = start + 1;
        loop {
            match quote_or_backslash(self.data(), at) {
                Some(found) => {
                    at = found;
                    if self.data()[at] == b'\\' {
                        at += 2;
                    } else {
                        self.at = at + 1;
                        return Ok(start..self.at);
                    }
                }
                None => return Err(invalid("unterminated string")),
            }
        }
    }

    /// Any value, skipped; its range (without surrounding whitespace).
    fn value(&mut self) -> Result<Range<usize>> {
        self.whitespace();
        let start = self.at;
        match self.peek() {
            Some(b'"') => {
                self.string()?;
            }
            Some(b'{' | b'[') => self.at = container_end(self.data(), start)?,
            Some(_) => {
                while let Some(byte) = self.peek() {
                    if matches!(byte, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.at += 1;
                }
                if self.at == start {
                    return Err(invalid(&format!("expected a value at byte {start}")));
                }
            }
            None => return Err(invalid("the document ends early")),
        }
        Ok(start..self.at)
    }
}

/// Where the object or array that opens at `start` ends (the index after its closing bracket).
///
/// Most of a packument is skipped here (a version's `devDependencies`, `maintainers`, `dist`'s
/// signatures, …), so it reads 64 bytes at a time: a mask of the quotes in the block, turned by a
/// prefix XOR into a mask of the bytes inside strings, leaves the brackets outside them, which
/// are few. A block with a backslash, or after one, is read a byte at a time; that is rare. Like
/// the rest of the scanner it checks structure only: brackets balance (`{` and `[` count alike),
/// strings end, nesting stays within [`MAX_DEPTH`].
fn container_end(data: &[u8], start: usize) -> Result<usize> {
    let mut walk = Walk::default();
    let mut at = start;
    while let Some(block) = data.get(at..).and_then(<[u8]>::first_chunk::<64>) {
        let masks = Masks::of(block);
        let found = if masks.backslash == 0 && !walk.escaped {
            walk.block(&masks)?
        } else {
            walk.bytes(block)?
        };
        if let Some(end) = found {
            return Ok(at + end);
        }
        at += 64;
    }
    let rest = data.get(at..).unwrap_or_default();
    match walk.bytes(rest)? {
        Some(end) => Ok(at + end),
        None if walk.in_string => Err(invalid("unterminated string")),
        None => Err(invalid("unterminated object or array")),
    }
}

/// The bytes of interest in a block of 64, one bit per byte (bit `i` for byte `i`).
#[derive(Default)]
struct Masks {
    quote: u64,
    backslash: u64,
    open: u64,
    close: u64,
}

impl Masks {
    /// `{` and `[` differ only in bit 5, as do `}` and `]`, and no other byte becomes either
    /// once that bit is set: one compare finds both.
    fn of(block: &[u8; 64]) -> Masks {
        let mut masks = Masks::default();
        let (lanes, _) = block.as_chunks::<16>();
        for (lane, bytes) in lanes.iter().enumerate() {
            let bits = |byte, fold| u64::from(matching(bytes, byte, fold)) << (16 * lane);
            masks.quote |= bits(b'"', 0);
            masks.backslash |= bits(b'\\', 0);
            masks.open |= bits(b'{', 0x20);
            masks.close |= bits(b'}', 0x20);
        }
        masks
    }
}

/// Bit `i` is set where `bytes[i] | fold == byte`.
#[cfg(target_arch = "x86_64")]
#[inline]
fn matching(bytes: &[u8; 16], byte: u8, fold: u8) -> u16 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    // SAFETY: SSE2 is part of every x86_64 CPU, so these intrinsics are always available; the
    // load reads the 16 bytes of `bytes` (unaligned loads are allowed), and the rest only
    // compute on registers.
    let found = unsafe {
        let v = _mm_or_si128(
            _mm_loadu_si128(bytes.as_ptr().cast::<__m128i>()),
            _mm_set1_epi8(fold as i8),
        );
        _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(byte as i8)))
    };
    // `movemask` sets only the low 16 bits.
    found as u16
}

/// Bit `i` is set where `bytes[i] | fold == byte`.
#[cfg(not(target_arch = "x86_64"))]
fn matching(bytes: &[u8; 16], byte: u8, fold: u8) -> u16 {
    bytes
        .iter()
        .enumerate()
        .fold(0, |bits, (i, &b)| bits | u16::from(b | fold == byte) << i)
}

/// Where a skip is, carried from block to block.
#[derive(Default)]
struct Walk {
    depth: usize,
    /// The last byte read was inside a string (or was its opening quote).
    in_string: bool,
    /// The next byte is escaped (the last one was an escaping backslash in a string).
    escaped: bool,
}

impl Walk {
    fn open(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(invalid("nested too deeply"));
        }
        Ok(())
    }

    /// Closes a bracket; true when that ends the container.
    fn close(&mut self) -> bool {
        self.depth = self.depth.saturating_sub(1);
        self.depth == 0
    }

    /// A block without backslashes, after an unescaped byte: the offset after the closing
    /// bracket, if the container ends in it.
    fn block(&mut self, masks: &Masks) -> Result<Option<usize>> {
        let carried = if self.in_string { u64::MAX } else { 0 };
        let inside = prefix_xor(masks.quote) ^ carried;
        let mut brackets = (masks.open | masks.close) & !inside;
        while brackets != 0 {
            let i = brackets.trailing_zeros();
            if masks.open >> i & 1 == 1 {
                self.open()?;
            } else if self.close() {
                return Ok(Some(i as usize + 1));
            }
            brackets &= brackets - 1;
        }
        self.in_string = inside >> 63 == 1;
        Ok(None)
    }

    /// Any bytes, one at a time: the offset after the closing bracket, if the container ends in
    /// them.
    fn bytes(&mut self, bytes: &[u8]) -> Result<Option<usize>> {
        for (i, &byte) in bytes.iter().enumerate() {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if byte == b'\\' {
                    self.escaped = true;
                } else if byte == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            let ended = match byte {
                b'"' => {
                    self.in_string = true;
                    false
                }
                b'{' | b'[' => {
                    self.open()?;
                    false
                }
                b'}' | b']' => self.close(),
                _ => false,
            };
            if ended {
                return Ok(Some(i + 1));
            }
        }
        Ok(None)
    }
}

/// The first `"` or `\\` in `data` at or after `from`. Strings in a packument are mostly short,
/// so this looks at 16 bytes at a time inline, where a call to `memchr2` costs more than the
/// search.
fn quote_or_backslash(data: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(bytes) = data.get(at..).and_then(<[u8]>::first_chunk::<16>) {
        let found = matching(bytes, b'"', 0) | matching(bytes, b'\\', 0);
        if found != 0 {
            return Some(at + found.trailing_zeros() as usize);
        }
        at += 16;
    }
    let rest = data.get(at..)?;
    memchr::memchr2(b'"', b'\\', rest).map(|offset| at + offset)
}

/// Bit `i` of the result is the XOR of bits `0..=i` of `x`: over a mask of quotes, the bytes
/// from an opening quote up to (not including) its closing one.
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// Both readers, compared field by field (the packed JSON differs: the scanner keeps the
    /// registry's text, the deserializer re-encodes).
    fn assert_same(document: &str) {
        let expected: Packument = serde_json::from_str(document).unwrap();
        let scanned = packument(document.as_bytes()).unwrap();
        assert_eq!(scanned.name, expected.name);
        assert_eq!(scanned.dist_tags, expected.dist_tags);
        assert_eq!(scanned.modified, expected.modified);
        let versions = |p: &Packument| p.versions.keys().cloned().collect::<Vec<_>>();
        assert_eq!(versions(&scanned), versions(&expected), "{document}");
        for (version, packed) in &scanned.versions {
            let other = &expected.versions[version];
            assert_eq!(packed.is_deprecated(), other.is_deprecated(), "{version}");
            assert_eq!(packed.node_engine(), other.node_engine(), "{version}");
            assert_eq!(
                packed.manifest().unwrap(),
                other.manifest().unwrap(),
                "{version}"
            );
        }
    }

    #[test]
    fn reads_what_the_deserializer_reads() {
        assert_same(
            r##"{
          "_id": "@s/pkg", "name": "@s/pkg",
          "dist-tags": {"latest": "1.1.0", "next": "2.0.0-rc.1", "odd": 3},
          "modified": "2024-01-01T00:00:00.000Z",
          "time": {"1.1.0": "2023-01-01"}, "readme": "# \"quoted\" \\ text {not [structure",
          "unknownTopLevel": {"x": [1, 2.5e3, -3, true, false, null, {"y": []}]},
          "versions": {
            "1.1.0": {
              "name": "@s/pkg", "version": "1.1.0",
              "dependencies": {"a": "^1.0.0", "b": 2},
              "optionalDependencies": {"fsevents": "*"},
              "peerDependencies": {"react": ">=17"},
              "peerDependenciesMeta": {"react": {"optional": true}},
              "bundleDependencies": ["a"],
              "bin": {"pkg": "cli.js"},
              "os": ["linux", "darwin"], "cpu": ["x64"], "libc": ["glibc"],
              "engines": {"node": ">=18", "npm": ">=9", "node": ">=20"},
              "deprecated": "use 2.x",
              "hasInstallScript": true, "gypfile": true,
              "scripts": {"test": "jest", "postinstall": "node \"setup\".js", "install": 1},
              "devDependencies": {"jest": "^29"},
              "dist": {"tarball": "http://127.0.0.1/x.tgz", "integrity": "sha512-abc",
                       "shasum": "def", "fileCount": 3,
                       "signatures": [{"keyid": "k", "sig": "s"}]},
              "_npmUser": {"name": "someone"}
            },
            "1.0.0": {"deprecated": true, "engines": ["node >= 0.4"], "bin": "./cli.js",
                      "os": "linux", "bundledDependencies": true, "dist": {}},
            "0.9.0": {"deprecated": false, "engines": {"node": 8}, "scripts": "none"},
            "0.8.0": {"deprecated": "", "\u0064ist": {"tarball": "http://127.0.0.1/\u00e9.tgz"}},
            "0.1.0": {},
            "1.0.0": {"version": "1.0.0", "dependencies": {"last": "wins"}}
          }
        }"##,
        );
        assert_same(r#"{"name": "bare", "versions": {}}"#);
        assert_same("  {\"versions\":{\"1.0.0\":{\"dist\":{\"tarball\":\"t\"}}},\"name\":\"x\"}\n");
    }

    #[test]
    fn keeps_only_what_an_install_uses() {
        let p = packument(
            br#"{"name": "a", "versions": {"1.0.0": {"name": "a", "readme": "long",
            "scripts": {"test": "jest", "postinstall": "node setup.js"},
            "dist": {"tarball": "t", "signatures": [{"sig": "s"}], "unpackedSize": 9}}}}"#,
        )
        .unwrap();
        let json = std::str::from_utf8(&p.versions["1.0.0"].json).unwrap();
        assert_eq!(
            json,
            r#"{"name":"a","scripts":{"postinstall":"node setup.js"},"dist":{"tarball":"t"}}"#
        );
    }

    #[test]
    fn refuses_what_is_not_a_packument() {
        let refused: [&[u8]; 14] = [
            b"",
            b"[1, 2]",
            b"{\"name\": \"x\"}",
            b"{\"versions\": {}}",
            b"{\"name\": 3, \"versions\": {}}",
            b"{\"name\": \"x\", \"versions\": 3}",
            b"{\"name\": \"x\", \"versions\": {\"1.0.0\": 3}}",
            b"{\"name\": \"x\", \"name\": \"y\", \"versions\": {}}",
            b"{\"name\": \"x\", \"versions\": {}} trailing",
            b"{\"name\": \"x\", \"versions\": {\"1.0.0\": {\"a\": \"unterminated}}}",
            b"{\"name\": \"x\", \"versions\": {}, \"t\": [[[",
            b"{\"name\": \"x\" \"versions\": {}}",
            b"{\"name\": \"\xff\", \"versions\": {}}",
            b"{\"name\": \"x\", \"versions\": {\"1.0.0\": {\"engines\": }}}",
        ];
        for document in refused {
            assert!(
                packument(document).is_err(),
                "{}",
                String::from_utf8_lossy(document)
            );
        }
        let deep = format!(
            "{{\"name\": \"x\", \"versions\": {{}}, \"t\": {}{}}}",
            "[".repeat(200),
            "]".repeat(200)
        );
        assert!(packument(deep.as_bytes()).is_err());
        let fine = format!(
            "{{\"name\": \"x\", \"versions\": {{}}, \"t\": {}{}}}",
            "[".repeat(100),
            "]".repeat(100)
        );
        assert!(packument(fine.as_bytes()).is_ok());
    }

    /// The container skip as it was before it read blocks: a byte at a time, a string at a time.
    fn container_end_bytewise(data: &[u8], start: usize) -> Option<usize> {
        let mut at = start;
        let mut depth = 0usize;
        loop {
            match data.get(at)? {
                b'"' => {
                    at += 1;
                    loop {
                        match data.get(at)? {
                            b'\\' => at += 2,
                            b'"' => break,
                            _ => at += 1,
                        }
                    }
                }
                b'{' | b'[' => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return None;
                    }
                }
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(at + 1);
                    }
                }
                _ => {}
            }
            at += 1;
        }
    }

    /// Documents made of the bytes that matter to a skip (and some that do not), so that
    /// strings, escapes and brackets fall on every position of a block and across blocks.
    fn random_container(seed: &mut u64, len: usize) -> Vec<u8> {
        const ALPHABET: &[u8] = b"{}[]\"\\\"aa :,0";
        let mut next = || {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed
        };
        let mut doc = vec![if next() % 2 == 0 { b'{' } else { b'[' }];
        doc.extend((1..len).map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize]));
        doc
    }

    #[test]
    fn the_block_skip_ends_where_the_bytewise_one_does() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let (mut ended, mut failed) = (0, 0);
        for round in 0..20_000 {
            let len = 1 + round % 300;
            let doc = random_container(&mut seed, len);
            let expected = container_end_bytewise(&doc, 0);
            let got = container_end(&doc, 0).ok();
            assert_eq!(got, expected, "{}", String::from_utf8_lossy(&doc));
            if expected.is_some() {
                ended += 1;
            } else {
                failed += 1;
            }
        }
        // Both outcomes were exercised, many times.
        assert!(
            ended > 1_000 && failed > 1_000,
            "{ended} ended, {failed} failed"
        );
    }

    #[test]
    fn the_block_skip_handles_what_straddles_blocks() {
        for pad in 0..130 {
            let filler = "x".repeat(pad);
            for doc in [
                format!(r#"{{"{filler}": "a\"}}\\", "b": [1, {{}}]}} tail"#),
                format!(r#"["{filler}\\", "]", "\\\"[", {{"k": "{filler}"}}] tail"#),
                format!(r#"{{"a": "{filler}{{[}}]", "b": "\u005d"}} tail"#),
            ] {
                let bytes = doc.as_bytes();
                let end = container_end(bytes, 0).unwrap();
                assert_eq!(&doc[end..], " tail", "{doc}");
                assert_eq!(Some(end), container_end_bytewise(bytes, 0));
            }
            let open = format!(r#"{{"a": "{filler}}}"#);
            assert!(container_end(open.as_bytes(), 0).is_err(), "{open}");
        }
    }

    #[test]
    fn the_string_search_finds_what_memchr_finds() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for round in 0..5_000 {
            let doc = random_container(&mut seed, 1 + round % 100);
            for from in 0..=doc.len() {
                assert_eq!(
                    quote_or_backslash(&doc, from),
                    memchr::memchr2(b'"', b'\\', &doc[from..]).map(|i| from + i)
                );
            }
        }
    }

    /// A version whose kept fields cannot be decoded fails when it is picked, not before.
    #[test]
    fn an_undecodable_version_fails_alone() {
        let p = packument(
            br#"{"name": "x", "versions": {"1.0.0": {"dist": 3}, "2.0.0": {"name": "x", "name": "y"},
                "3.0.0": {"version": "3.0.0"}}}"#,
        )
        .unwrap();
        assert!(p.versions["1.0.0"].manifest().is_err());
        assert!(p.versions["2.0.0"].manifest().is_err());
        assert_eq!(p.versions["3.0.0"].manifest().unwrap().version, "3.0.0");
    }
}
