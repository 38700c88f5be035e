//! The npm data model, free of I/O policy and platform code: `package.json` (reading and
//! format-preserving editing), package names and specs, node-semver-compatible versions and
//! ranges, SRI integrity, the `sandboxpm-lock.json` format and platform (`os`/`cpu`/`libc`)
//! filtering.
//!
//! Everything that comes from a manifest or registry is treated as untrusted input: paths are
//! normalised and confined ([`normalize_manifest_path`]), names validated ([`PackageName`]), and
//! integrity checked over whole tarballs ([`Verifier`]).
#![deny(missing_docs)]

mod atomic;
mod graph;
mod integrity;
mod lockfile;
mod manifest_edit;
mod manifest_path;
mod package_json;
mod platform;
mod semver;
mod spec;

pub use graph::strongly_connected_components;
pub use integrity::{Algorithm, Hash, Integrity, IntegrityError, Strength, Verified, Verifier};
pub use lockfile::{
    FrozenLockfileError, Importer, ImporterDependency, ImporterMismatch, LOCKFILE_NAME,
    LOCKFILE_VERSION, LockedPackage, LockedPeerMeta, Lockfile, LockfileError, PreparedLockfile,
    ROOT_IMPORTER, absolute_tarball_url, check_importer, package_key, relative_tarball_url,
    split_package_key,
};
pub use manifest_edit::ManifestEditor;
pub use manifest_path::{ManifestPath, ManifestPathError, normalize_manifest_path};
pub use package_json::{
    BundledDependencies, DependencySection, IMPLICIT_GYP_SCRIPT, InstallEvent, ManifestError,
    PackageJson, PeerDependencyMeta,
};
pub use platform::{
    Libc, Platform, PlatformMismatch, detect_libc, list_accepts, node_arch, node_os,
};
pub use semver::{Range, SemverError, Version};
pub use spec::{PackageName, PackageSpec, SpecError, SpecSource, UnsupportedKind, VersionRequest};
