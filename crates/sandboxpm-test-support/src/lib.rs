//! Helpers for hermetic sandboxpm tests (dev-dependency only).
//!
//! Tests must not depend on a network, a registry's uptime or a package's latest release, and
//! attacks must be reproducible byte for byte. This crate gives them:
//!
//! - [`PackageBuilder`]: deterministic package tarballs built from a manifest and files, plus
//!   [`RawEntry`] for hostile entries (`../` paths, absolute paths, links, devices) that normal
//!   tar writers refuse to produce;
//! - [`FixtureRegistry`]: an npm registry on `127.0.0.1`, serving packuments with correct
//!   integrity and tarballs, with knobs for the failures a client must survive (5xx, delays,
//!   404, auth, tampering) and request counters to prove caching and dedupe.

#![deny(missing_docs)]

mod integrity;
mod package;
mod registry;

pub use integrity::{sha1_hex, sri_sha512};
pub use package::{BuiltPackage, EntryKind, PackageBuilder, RawEntry};
pub use registry::{FixtureRegistry, RecordedRequest};
