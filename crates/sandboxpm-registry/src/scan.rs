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
            match memchr::memchr2(b'"', b'\\', &self.data()[at.min(self.data().len())..]) {
                Some(offset) => {
                    at += offset;
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
            Some(b'{' | b'[') => {
                let mut depth = 0usize;
                loop {
                    match self.peek() {
                        Some(b'"') => {
                            self.string()?;
                            continue;
                        }
                        Some(b'{' | b'[') => {
                            depth += 1;
                            if depth > MAX_DEPTH {
                                return Err(invalid("nested too deeply"));
                            }
                        }
                        Some(b'}' | b']') => {
                            depth -= 1;
                            if depth == 0 {
                                self.at += 1;
                                break;
                            }
                        }
                        Some(_) => {}
                        None => return Err(invalid("unterminated object or array")),
                    }
                    self.at += 1;
                }
            }
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
