//! The abbreviated packument: what a resolver needs to know about every version of a package.
//!
//! The registry's "install-v1" document (`application/vnd.npm.install-v1+json`) carries, per
//! version, only the fields that resolution, platform filtering and the install-script prompt
//! use. We model those fields and ignore everything else, so a registry that sends the full
//! document (some mirrors do) parses just as well.
//!
//! Published metadata is old and messy: `engines` as an array, `bin` as a string, `os` as a
//! single string, dependency maps with non-string values, `deprecated: false`. One odd version
//! must not make a whole package unusable, so the fields known to vary are read leniently
//! (a value of an unexpected shape reads as empty) rather than rejected.
//!
//! A resolution holds hundreds of packuments at once, some with thousands of versions, yet it
//! looks at every version only to pick one (version, deprecation, `engines.node`) and reads
//! the whole manifest of very few. So each version is kept as a [`PackedManifest`]: those three
//! facts, plus the modelled fields re-encoded as compact JSON (fields that are empty left
//! out), decoded into a [`VersionManifest`] only when it is asked for. Fields we do not model
//! (`devDependencies`, `dist.signatures`, …) are dropped while parsing, and only the install
//! scripts of `scripts` are kept. A packument costs a fraction of its document's size this
//! way, instead of several times it as fully parsed maps of strings.
//!
//! This model may move to `sandboxpm-npm`, which owns the npm data model; it lives here while
//! the registry client is its only producer.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use bytes::Bytes;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de, ser};

/// An abbreviated packument.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Packument {
    /// The package name. Required: a JSON object without it is an error page, not a
    /// packument.
    pub name: String,
    /// Tags (`latest`, `next`, …) to versions.
    #[serde(
        rename = "dist-tags",
        default,
        deserialize_with = "lenient::string_map"
    )]
    pub dist_tags: BTreeMap<String, String>,
    /// Every published version, by version string. Required, like `name`.
    #[serde(deserialize_with = "packed_versions")]
    pub versions: BTreeMap<String, PackedManifest>,
    /// When the packument last changed (ISO 8601), if the registry says.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::string"
    )]
    pub modified: Option<String>,
}

impl Packument {
    /// Reads the registry's packument document (abbreviated or full) in one structural pass
    /// (see `scan`): what `serde_json::from_slice` gives, at a fraction of the cost.
    ///
    /// # Errors
    ///
    /// Text that is not UTF-8 or not JSON, a document that is not an object, or one without a
    /// string `name` or an object of `versions`.
    pub fn from_json(body: &[u8]) -> Result<Packument, serde_json::Error> {
        crate::scan::packument(body)
    }
}

/// One version's manifest, as far as installing it is concerned.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionManifest {
    /// The package name (as published; the requested name is authoritative).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The version string.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// Dependencies: name to range.
    #[serde(
        default,
        deserialize_with = "lenient::string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub dependencies: BTreeMap<String, String>,
    /// Optional dependencies: name to range.
    #[serde(
        default,
        deserialize_with = "lenient::string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub optional_dependencies: BTreeMap<String, String>,
    /// Peer dependencies: name to range.
    #[serde(
        default,
        deserialize_with = "lenient::string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub peer_dependencies: BTreeMap<String, String>,
    /// Per-peer metadata (`optional`).
    #[serde(
        default,
        deserialize_with = "lenient::peer_meta",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub peer_dependencies_meta: BTreeMap<String, PeerDependencyMeta>,
    /// Bundled dependencies (`bundleDependencies` or the older `bundledDependencies`).
    #[serde(
        default,
        alias = "bundledDependencies",
        skip_serializing_if = "BundleDependencies::is_none",
        deserialize_with = "lenient::bundle"
    )]
    pub bundle_dependencies: BundleDependencies,
    /// Executables the package provides.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::bin"
    )]
    pub bin: Option<Bin>,
    /// Operating systems (`linux`, `!win32`, …).
    #[serde(
        default,
        deserialize_with = "lenient::string_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub os: Vec<String>,
    /// CPU architectures.
    #[serde(
        default,
        deserialize_with = "lenient::string_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub cpu: Vec<String>,
    /// C libraries (`glibc`, `musl`).
    #[serde(
        default,
        deserialize_with = "lenient::string_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub libc: Vec<String>,
    /// Engine requirements (`node` to range).
    #[serde(
        default,
        deserialize_with = "lenient::string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub engines: BTreeMap<String, String>,
    /// The deprecation message, if the version is deprecated.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::string"
    )]
    pub deprecated: Option<String>,
    /// Whether the version has `preinstall`/`install`/`postinstall` scripts (as computed by
    /// the registry at publish time; the tarball is the final word).
    #[serde(
        default,
        deserialize_with = "lenient::boolean",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub has_install_script: bool,
    /// The install scripts (`preinstall`, `install`, `postinstall`), when the registry serves
    /// scripts (full documents, and some mirrors that answer the abbreviated request with the
    /// full document but without `hasInstallScript`). Other scripts are not kept.
    #[serde(
        default,
        deserialize_with = "lenient::install_scripts",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub scripts: BTreeMap<String, String>,
    /// `gypfile: true`: npm builds `binding.gyp` even when it is not named in `scripts`.
    #[serde(
        default,
        deserialize_with = "lenient::boolean",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub gypfile: bool,
    /// Where the tarball is and how to check it.
    #[serde(default)]
    pub dist: Dist,
}

impl VersionManifest {
    /// Whether installing this version runs code: the registry's `hasInstallScript`, or a
    /// `preinstall`/`install`/`postinstall` script, or `gypfile`. (An implicit `binding.gyp`
    /// build is also caught from the tarball's contents.)
    pub fn runs_install_scripts(&self) -> bool {
        self.has_install_script
            || self.gypfile
            || INSTALL_SCRIPTS
                .iter()
                .any(|s| self.scripts.contains_key(*s))
    }
}

/// The scripts that run when a package is installed.
const INSTALL_SCRIPTS: [&str; 3] = ["preinstall", "install", "postinstall"];

/// One version of a packument, kept compact (see the module documentation): what picking a
/// version looks at, and the rest of the manifest encoded, decoded by [`Self::manifest`].
///
/// The versions of one packument share a single buffer, so a packument is a handful of
/// allocations rather than thousands, and freeing it gives the memory back in one piece.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedManifest {
    deprecated: bool,
    /// `engines.node` (UTF-8).
    node_engine: Option<Bytes>,
    /// The [`VersionManifest`] as compact JSON.
    pub(crate) json: Bytes,
}

impl PackedManifest {
    /// Packs `manifest`.
    ///
    /// # Errors
    ///
    /// Never in practice: encoding a [`VersionManifest`] as JSON cannot fail.
    pub fn pack(manifest: &VersionManifest) -> Result<Self, serde_json::Error> {
        let mut packer = Packer::default();
        let spans = packer.add(manifest)?;
        Ok(spans.resolve(&packer.finish()))
    }

    /// A packed manifest from its parts: `json` must be a JSON object that decodes into a
    /// [`VersionManifest`], `node_engine` UTF-8 (see `scan`).
    pub(crate) fn from_parts(deprecated: bool, node_engine: Option<Bytes>, json: Bytes) -> Self {
        PackedManifest {
            deprecated,
            node_engine,
            json,
        }
    }

    /// Whether the version is deprecated.
    pub fn is_deprecated(&self) -> bool {
        self.deprecated
    }

    /// `engines.node`: the node versions the package says it supports.
    pub fn node_engine(&self) -> Option<&str> {
        // Always UTF-8: the bytes were copied from a `String`.
        self.node_engine
            .as_deref()
            .and_then(|range| std::str::from_utf8(range).ok())
    }

    /// The whole manifest, decoded.
    ///
    /// # Errors
    ///
    /// Only if the packed bytes were damaged in memory: they are JSON that [`Self::pack`]
    /// wrote.
    pub fn manifest(&self) -> Result<VersionManifest, serde_json::Error> {
        serde_json::from_slice(&self.json)
    }
}

/// Packs manifests one after another into one buffer.
#[derive(Default)]
struct Packer {
    buffer: Vec<u8>,
}

/// Where [`Packer::add`] put one manifest.
struct Spans {
    deprecated: bool,
    node_engine: Option<Range<usize>>,
    json: Range<usize>,
}

impl Packer {
    fn add(&mut self, manifest: &VersionManifest) -> Result<Spans, serde_json::Error> {
        let node_engine = manifest.engines.get("node").map(|range| {
            let start = self.buffer.len();
            self.buffer.extend_from_slice(range.as_bytes());
            start..self.buffer.len()
        });
        let start = self.buffer.len();
        serde_json::to_writer(&mut self.buffer, manifest)?;
        Ok(Spans {
            deprecated: manifest.deprecated.is_some(),
            node_engine,
            json: start..self.buffer.len(),
        })
    }

    fn finish(mut self) -> Bytes {
        self.buffer.shrink_to_fit();
        Bytes::from(self.buffer)
    }
}

impl Spans {
    fn resolve(self, buffer: &Bytes) -> PackedManifest {
        PackedManifest {
            deprecated: self.deprecated,
            node_engine: self.node_engine.map(|range| buffer.slice(range)),
            json: buffer.slice(self.json),
        }
    }
}

/// The `versions` object, packed into one buffer (a repeated version: the last one wins).
fn packed_versions<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, PackedManifest>, D::Error> {
    struct Versions;

    impl<'de> Visitor<'de> for Versions {
        type Value = BTreeMap<String, PackedManifest>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object of versions")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut packer = Packer::default();
            let mut spans = BTreeMap::new();
            while let Some(version) = map.next_key::<String>()? {
                let manifest: VersionManifest = map.next_value()?;
                let packed = packer.add(&manifest).map_err(de::Error::custom)?;
                spans.insert(version, packed);
            }
            let buffer = packer.finish();
            Ok(spans
                .into_iter()
                .map(|(version, spans)| (version, spans.resolve(&buffer)))
                .collect())
        }
    }

    d.deserialize_map(Versions)
}

impl<'de> Deserialize<'de> for PackedManifest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::pack(&VersionManifest::deserialize(d)?).map_err(de::Error::custom)
    }
}

impl Serialize for PackedManifest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.manifest().map_err(ser::Error::custom)?.serialize(s)
    }
}

/// The compact encoding of a packument that the metadata cache keeps (see `cache`): what
/// [`Packument`] holds, length-prefixed, so reading it back is slicing one buffer rather than
/// parsing the registry's document again. Every version's manifest stays the compact JSON that
/// [`PackedManifest::manifest`] decodes.
///
/// ```text
/// tags:     u32 count, then per tag: bytes(tag) bytes(version)
/// modified: u8 present, then bytes(modified) if present
/// versions: u32 count, then per version: bytes(version) u8 flags (1 deprecated, 2 node engine)
///           [bytes(node engine)] bytes(manifest JSON)
/// bytes(x): u32 length, little-endian, then the bytes
/// ```
impl Packument {
    /// This packument in the compact encoding.
    pub(crate) fn encode(&self) -> Vec<u8> {
        fn bytes(out: &mut Vec<u8>, data: &[u8]) {
            // A packument is limited far below 4 GiB by the client's body-size limit.
            out.extend_from_slice(&u32::try_from(data.len()).unwrap_or(u32::MAX).to_le_bytes());
            out.extend_from_slice(data);
        }
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
        let size: usize = self
            .versions
            .iter()
            .map(|(v, m)| {
                v.len() + m.json.len() + m.node_engine.as_ref().map_or(0, Bytes::len) + 13
            })
            .sum();
        let mut out = Vec::with_capacity(size + 64);
        out.extend_from_slice(&count(self.dist_tags.len()));
        for (tag, version) in &self.dist_tags {
            bytes(&mut out, tag.as_bytes());
            bytes(&mut out, version.as_bytes());
        }
        match &self.modified {
            Some(modified) => {
                out.push(1);
                bytes(&mut out, modified.as_bytes());
            }
            None => out.push(0),
        }
        out.extend_from_slice(&count(self.versions.len()));
        for (version, packed) in &self.versions {
            bytes(&mut out, version.as_bytes());
            let flags = u8::from(packed.deprecated) | (u8::from(packed.node_engine.is_some()) << 1);
            out.push(flags);
            if let Some(range) = &packed.node_engine {
                bytes(&mut out, range);
            }
            bytes(&mut out, &packed.json);
        }
        out
    }

    /// Reads what [`Self::encode`] wrote; `None` if `data` is not such an encoding (truncated,
    /// damaged, or text that is not UTF-8). The manifests share `data`'s buffer.
    pub(crate) fn decode(name: &str, data: Bytes) -> Option<Packument> {
        let mut reader = Reader { data: &data, at: 0 };
        let mut dist_tags = BTreeMap::new();
        for _ in 0..reader.u32()? {
            let tag = reader.text()?;
            let version = reader.text()?;
            dist_tags.insert(tag, version);
        }
        let modified = match reader.u8()? {
            0 => None,
            1 => Some(reader.text()?),
            _ => return None,
        };
        let mut versions = BTreeMap::new();
        for _ in 0..reader.u32()? {
            let version = reader.text()?;
            let flags = reader.u8()?;
            if flags > 3 {
                return None;
            }
            let node_engine = if flags & 2 == 0 {
                None
            } else {
                let range = reader.range()?;
                std::str::from_utf8(&data[range.clone()]).ok()?;
                Some(data.slice(range))
            };
            let json = data.slice(reader.range()?);
            let packed = PackedManifest {
                deprecated: flags & 1 != 0,
                node_engine,
                json,
            };
            versions.insert(version, packed);
        }
        (reader.at == data.len()).then(|| Packument {
            name: name.to_owned(),
            dist_tags,
            versions,
            modified,
        })
    }
}

/// A cursor over the compact encoding; every read is bounds-checked.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let end = self.at.checked_add(n)?;
        let taken = self.data.get(self.at..end)?;
        self.at = end;
        Some(taken)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    /// The position of a length-prefixed field.
    fn range(&mut self) -> Option<Range<usize>> {
        let len = usize::try_from(self.u32()?).ok()?;
        let start = self.at;
        self.take(len)?;
        Some(start..self.at)
    }

    fn text(&mut self) -> Option<String> {
        let range = self.range()?;
        String::from_utf8(self.data[range].to_vec()).ok()
    }
}

/// A version's tarball location and checksums.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Dist {
    /// The tarball URL (empty if the registry gave none).
    #[serde(default)]
    pub tarball: String,
    /// Subresource-integrity string (`sha512-…`), absent for very old versions.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::string"
    )]
    pub integrity: Option<String>,
    /// Hex SHA-1 of the tarball (legacy).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::string"
    )]
    pub shasum: Option<String>,
}

/// Metadata about one peer dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PeerDependencyMeta {
    /// A missing optional peer is not a warning.
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub optional: bool,
}

/// `bin`: one executable named after the package, or a map of command to path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Bin {
    /// A single path; the command is the package name (without scope).
    Single(String),
    /// Command to path.
    Map(BTreeMap<String, String>),
}

/// `bundleDependencies`: all dependencies (`true`), or a list of names.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BundleDependencies {
    /// Not given, or `false`.
    #[default]
    None,
    /// `true`: every dependency is bundled.
    All(bool),
    /// These names are bundled.
    Names(Vec<String>),
}

impl BundleDependencies {
    /// Whether nothing is bundled.
    pub fn is_none(&self) -> bool {
        matches!(self, Self::None | Self::All(false))
            || matches!(self, Self::Names(names) if names.is_empty())
    }
}

/// Deserializers that read a value of an unexpected shape as "nothing" instead of failing.
pub(crate) mod lenient {
    use std::collections::BTreeMap;
    use std::fmt;

    use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

    use super::{Bin, BundleDependencies, PeerDependencyMeta};

    /// Any JSON value, kept only if it is one of the shapes we understand.
    enum Loose {
        Null,
        Bool(bool),
        Str(String),
        List(Vec<Option<String>>),
        Map(Vec<(String, Loose)>),
        Other,
    }

    /// Reads strings, booleans, lists of strings and maps of those; skips everything else
    /// (numbers, deeper nesting) without failing.
    struct LooseVisitor {
        depth: u8,
    }

    impl<'de> Visitor<'de> for LooseVisitor {
        type Value = Loose;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Loose, E> {
            Ok(Loose::Bool(v))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Loose, E> {
            Ok(Loose::Other)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Loose, E> {
            Ok(Loose::Other)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Loose, E> {
            Ok(Loose::Other)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Loose, E> {
            Ok(Loose::Str(v.to_owned()))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Loose, E> {
            Ok(Loose::Str(v))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Loose, E> {
            Ok(Loose::Null)
        }
        fn visit_none<E: de::Error>(self) -> Result<Loose, E> {
            Ok(Loose::Null)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Loose, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Loose, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element_seed(Seed {
                depth: self.depth + 1,
            })? {
                items.push(match item {
                    Loose::Str(s) => Some(s),
                    _ => None,
                });
            }
            Ok(Loose::List(items))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Loose, A::Error> {
            let mut entries = Vec::new();
            if self.depth >= 2 {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                return Ok(Loose::Other);
            }
            while let Some(key) = map.next_key::<String>()? {
                let value = map.next_value_seed(Seed {
                    depth: self.depth + 1,
                })?;
                entries.push((key, value));
            }
            Ok(Loose::Map(entries))
        }
    }

    struct Seed {
        depth: u8,
    }

    impl<'de> de::DeserializeSeed<'de> for Seed {
        type Value = Loose;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Loose, D::Error> {
            d.deserialize_any(LooseVisitor { depth: self.depth })
        }
    }

    fn loose<'de, D: Deserializer<'de>>(d: D) -> Result<Loose, D::Error> {
        d.deserialize_any(LooseVisitor { depth: 0 })
    }

    fn into_string_map(entries: Vec<(String, Loose)>) -> BTreeMap<String, String> {
        entries
            .into_iter()
            .filter_map(|(k, v)| match v {
                Loose::Str(s) => Some((k, s)),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn string_map<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, String>, D::Error> {
        Ok(match loose(d)? {
            Loose::Map(entries) => into_string_map(entries),
            _ => BTreeMap::new(),
        })
    }

    pub(super) fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        Ok(match loose(d)? {
            Loose::Str(s) => vec![s],
            Loose::List(items) => items.into_iter().flatten().collect(),
            _ => Vec::new(),
        })
    }

    pub(crate) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(match loose(d)? {
            Loose::Str(s) => Some(s),
            // `deprecated: true` has been seen in the wild; it still means deprecated.
            Loose::Bool(true) => Some(String::new()),
            _ => None,
        })
    }

    pub(super) fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        Ok(matches!(loose(d)?, Loose::Bool(true)))
    }

    pub(super) fn bin<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Bin>, D::Error> {
        Ok(match loose(d)? {
            Loose::Str(s) => Some(Bin::Single(s)),
            Loose::Map(entries) => Some(Bin::Map(into_string_map(entries))),
            _ => None,
        })
    }

    /// `false` and `[]` read as [`BundleDependencies::None`], which is what they mean (and
    /// what a packed manifest, which leaves out "nothing bundled", decodes to).
    pub(super) fn bundle<'de, D: Deserializer<'de>>(d: D) -> Result<BundleDependencies, D::Error> {
        let bundle = match loose(d)? {
            Loose::Bool(all) => BundleDependencies::All(all),
            Loose::List(items) => BundleDependencies::Names(items.into_iter().flatten().collect()),
            _ => BundleDependencies::None,
        };
        Ok(if bundle.is_none() {
            BundleDependencies::None
        } else {
            bundle
        })
    }

    /// The install scripts of a `scripts` map; the others are of no use to an install.
    pub(super) fn install_scripts<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, String>, D::Error> {
        let mut scripts = string_map(d)?;
        scripts.retain(|name, _| super::INSTALL_SCRIPTS.contains(&name.as_str()));
        Ok(scripts)
    }

    pub(super) fn peer_meta<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, PeerDependencyMeta>, D::Error> {
        let Loose::Map(entries) = loose(d)? else {
            return Ok(BTreeMap::new());
        };
        Ok(entries
            .into_iter()
            .filter_map(|(name, meta)| match meta {
                Loose::Map(fields) => {
                    let optional = fields
                        .iter()
                        .any(|(k, v)| k == "optional" && matches!(v, Loose::Bool(true)));
                    Some((name, PeerDependencyMeta { optional }))
                }
                _ => None,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn parses_an_abbreviated_packument() {
        let json = r#"{
          "name": "@s/pkg",
          "dist-tags": {"latest": "1.1.0", "next": "2.0.0-rc.1"},
          "modified": "2024-01-01T00:00:00.000Z",
          "unknownTopLevel": {"x": [1, 2, 3]},
          "versions": {
            "1.1.0": {
              "name": "@s/pkg", "version": "1.1.0",
              "dependencies": {"a": "^1.0.0"},
              "optionalDependencies": {"fsevents": "*"},
              "peerDependencies": {"react": ">=17"},
              "peerDependenciesMeta": {"react": {"optional": true}},
              "bundleDependencies": ["a"],
              "bin": {"pkg": "cli.js"},
              "os": ["linux", "darwin"], "cpu": ["x64"], "libc": ["glibc"],
              "engines": {"node": ">=18"},
              "deprecated": "use 2.x",
              "hasInstallScript": true,
              "dist": {"tarball": "http://127.0.0.1/x.tgz", "integrity": "sha512-abc", "shasum": "def",
                       "fileCount": 3, "signatures": [{"keyid": "k", "sig": "s"}]},
              "_npmUser": {"name": "someone"}
            }
          }
        }"#;
        let p: Packument = serde_json::from_str(json).unwrap();
        assert_eq!(p.name, "@s/pkg");
        assert_eq!(p.dist_tags["latest"], "1.1.0");
        assert_eq!(p.modified.as_deref(), Some("2024-01-01T00:00:00.000Z"));
        let v = &p.versions["1.1.0"].manifest().unwrap();
        assert_eq!(v.dependencies["a"], "^1.0.0");
        assert_eq!(v.optional_dependencies["fsevents"], "*");
        assert_eq!(v.peer_dependencies["react"], ">=17");
        assert!(v.peer_dependencies_meta["react"].optional);
        assert_eq!(
            v.bundle_dependencies,
            BundleDependencies::Names(vec!["a".into()])
        );
        assert_eq!(
            v.bin,
            Some(Bin::Map([("pkg".into(), "cli.js".into())].into()))
        );
        assert_eq!(v.os, ["linux", "darwin"]);
        assert_eq!(v.cpu, ["x64"]);
        assert_eq!(v.libc, ["glibc"]);
        assert_eq!(v.engines["node"], ">=18");
        assert_eq!(v.deprecated.as_deref(), Some("use 2.x"));
        assert!(v.has_install_script);
        assert_eq!(v.dist.tarball, "http://127.0.0.1/x.tgz");
        assert_eq!(v.dist.integrity.as_deref(), Some("sha512-abc"));
        assert_eq!(v.dist.shasum.as_deref(), Some("def"));
    }

    #[test]
    fn odd_legacy_shapes_read_as_empty_instead_of_failing() {
        let json = r#"{
          "name": "old",
          "versions": {
            "0.0.1": {
              "name": "old", "version": "0.0.1",
              "engines": ["node >= 0.4"],
              "dependencies": {"a": "1", "b": 2, "c": ["x"], "d": null},
              "bin": "./cli.js",
              "os": "linux",
              "bundledDependencies": true,
              "deprecated": false,
              "hasInstallScript": "yes",
              "peerDependenciesMeta": {"x": true, "y": {"optional": "true"}},
              "dist": {"tarball": "http://127.0.0.1/old.tgz"}
            }
          }
        }"#;
        let p: Packument = serde_json::from_str(json).unwrap();
        let v = &p.versions["0.0.1"].manifest().unwrap();
        assert!(v.engines.is_empty());
        assert_eq!(v.dependencies.len(), 1);
        assert_eq!(v.bin, Some(Bin::Single("./cli.js".into())));
        assert_eq!(v.os, ["linux"]);
        assert_eq!(v.bundle_dependencies, BundleDependencies::All(true));
        assert_eq!(v.deprecated, None);
        assert!(!v.has_install_script);
        assert_eq!(v.peer_dependencies_meta.len(), 1);
        assert!(!v.peer_dependencies_meta["y"].optional);
        assert_eq!(v.dist.integrity, None);
        assert!(p.dist_tags.is_empty());
    }

    /// A packed version decodes to exactly what parsing its entry directly gives.
    #[test]
    fn a_packed_version_decodes_to_the_parsed_manifest() {
        let entries = [
            r#"{"name": "a", "version": "1.0.0", "dependencies": {"b": "^1"},
                "optionalDependencies": {"c": "2"}, "peerDependencies": {"d": "*"},
                "peerDependenciesMeta": {"d": {"optional": true}, "e": {"optional": false}},
                "bundleDependencies": ["b"], "bin": "cli.js", "os": ["linux"], "cpu": ["x64"],
                "libc": ["musl"], "engines": {"node": ">=18", "npm": ">=9"},
                "deprecated": true, "hasInstallScript": true, "gypfile": true,
                "scripts": {"install": "node-gyp rebuild"},
                "dist": {"tarball": "http://127.0.0.1/a.tgz", "integrity": "sha512-x",
                         "shasum": "y"}}"#,
            r#"{"bundledDependencies": true, "bin": {"a": "a.js", "b": ""}, "deprecated": "old"}"#,
            r#"{"bundleDependencies": false, "dependencies": {}, "engines": ["node"]}"#,
            r#"{"bundleDependencies": [], "bin": {}, "deprecated": ""}"#,
            r#"{}"#,
        ];
        for entry in entries {
            let parsed: VersionManifest = serde_json::from_str(entry).unwrap();
            let packed: PackedManifest = serde_json::from_str(entry).unwrap();
            assert_eq!(packed.manifest().unwrap(), parsed, "{entry}");
            assert_eq!(PackedManifest::pack(&parsed).unwrap(), packed);
            assert_eq!(packed.is_deprecated(), parsed.deprecated.is_some());
            assert_eq!(
                packed.node_engine(),
                parsed.engines.get("node").map(String::as_str)
            );
        }
        let deprecated: PackedManifest =
            serde_json::from_str(r#"{"deprecated": "", "engines": {"node": "^20"}}"#).unwrap();
        assert!(deprecated.is_deprecated());
        assert_eq!(deprecated.node_engine(), Some("^20"));
    }

    #[test]
    fn every_version_decodes_from_the_shared_buffer_and_a_repeated_one_keeps_the_last() {
        let json = r#"{"name": "x", "versions": {
            "1.0.0": {"version": "1.0.0", "engines": {"node": ">=8"}},
            "2.0.0": {"version": "2.0.0", "deprecated": "no", "engines": {"node": "^20"}},
            "1.0.0": {"version": "1.0.0", "dependencies": {"a": "1"}}}}"#;
        let p: Packument = serde_json::from_str(json).unwrap();
        assert_eq!(p.versions.len(), 2);
        let one = &p.versions["1.0.0"];
        assert_eq!(one.manifest().unwrap().dependencies["a"], "1");
        assert_eq!(one.node_engine(), None);
        assert!(!one.is_deprecated());
        let two = &p.versions["2.0.0"];
        assert!(two.is_deprecated());
        assert_eq!(two.node_engine(), Some("^20"));
        assert_eq!(two.manifest().unwrap().version, "2.0.0");
    }

    /// Only modelled fields are kept, so a version costs a fraction of its entry.
    #[test]
    fn packing_keeps_only_what_an_install_uses() {
        let entry = r#"{"name": "a", "version": "1.0.0",
            "devDependencies": {"jest": "^29", "typescript": "^5"},
            "scripts": {"test": "jest", "build": "tsc", "postinstall": "node setup.js"},
            "dist": {"tarball": "http://127.0.0.1/a.tgz", "fileCount": 3, "unpackedSize": 9,
                     "signatures": [{"keyid": "SHA256:k", "sig": "MEUCIQ"}]},
            "_npmUser": {"name": "someone"}, "readme": "a long text"}"#;
        let packed: PackedManifest = serde_json::from_str(entry).unwrap();
        let manifest = packed.manifest().unwrap();
        assert_eq!(
            manifest.scripts,
            BTreeMap::from([("postinstall".to_owned(), "node setup.js".to_owned())])
        );
        assert!(manifest.runs_install_scripts());
        let json = std::str::from_utf8(&packed.json).unwrap();
        assert_eq!(
            json,
            r#"{"name":"a","version":"1.0.0","scripts":{"postinstall":"node setup.js"},"dist":{"tarball":"http://127.0.0.1/a.tgz"}}"#
        );
    }

    /// The cache's encoding gives back the same packument, and refuses anything damaged.
    #[test]
    fn the_compact_encoding_round_trips_and_refuses_damage() {
        let json = r#"{"name": "@s/x", "dist-tags": {"latest": "2.0.0", "next": "3.0.0-rc.1"},
          "modified": "2024-01-01T00:00:00.000Z", "versions": {
            "1.0.0": {"version": "1.0.0", "engines": {"node": ">=8"}, "dependencies": {"a": "1"}},
            "2.0.0": {"version": "2.0.0", "deprecated": "no", "bin": "cli.js",
                      "dist": {"tarball": "http://127.0.0.1/x-2.0.0.tgz", "integrity": "sha512-q"}},
            "3.0.0-rc.1": {}}}"#;
        let p: Packument = serde_json::from_str(json).unwrap();
        let encoded = p.encode();
        let back = Packument::decode("@s/x", Bytes::from(encoded.clone())).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.versions["1.0.0"].node_engine(), Some(">=8"));
        assert!(back.versions["2.0.0"].is_deprecated());
        assert_eq!(
            back.versions["2.0.0"].manifest().unwrap(),
            p.versions["2.0.0"].manifest().unwrap()
        );
        let bare = Packument {
            name: "y".into(),
            ..Packument::default()
        };
        assert_eq!(
            Packument::decode("y", Bytes::from(bare.encode())).unwrap(),
            bare
        );

        // Every truncation, and trailing bytes, read as "not an encoding".
        for len in 0..encoded.len() {
            assert!(Packument::decode("@s/x", Bytes::from(encoded[..len].to_vec())).is_none());
        }
        let mut longer = encoded.clone();
        longer.push(0);
        assert!(Packument::decode("@s/x", Bytes::from(longer)).is_none());
        // A length that runs past the end, and text that is not UTF-8.
        let mut huge = encoded.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Packument::decode("@s/x", Bytes::from(huge)).is_none());
        let mut invalid = encoded;
        let tag = invalid.iter().position(|&b| b == b'l').unwrap();
        invalid[tag] = 0xff;
        assert!(Packument::decode("@s/x", Bytes::from(invalid)).is_none());
    }

    #[test]
    fn rejects_a_document_that_is_not_an_object() {
        assert!(serde_json::from_str::<Packument>("[1,2]").is_err());
        assert!(serde_json::from_str::<Packument>(r#"{"name": "x", "versions": 3}"#).is_err());
        assert!(serde_json::from_str::<Packument>(r#"{"error": "not found"}"#).is_err());
        assert!(serde_json::from_str::<Packument>(r#"{"name": "x"}"#).is_err());
    }
}
